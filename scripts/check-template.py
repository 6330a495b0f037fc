"""Expands template.yaml with the SAM translator (what CloudFormation's transform does, run
here without an AWS account) and checks what the expansion must hold: the authorizer's
settings that keep anonymous requests flowing, every route behind it, the CORS headers
docs/api.md promises, the schedule, and who may read the secret or start a sync.

Run by scripts/check-deploy with target/deploy-venv's python (aws-sam-cli brings
samtranslator). Exits non-zero with one line per problem."""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

os.environ.setdefault("AWS_DEFAULT_REGION", "ap-northeast-2")

# Functions that read <env>/waffledotcom (database or Slack token).
SECRET_READERS = {"Health", "Users", "Positions", "Teams", "Audit", "Batch", "Migrate", "SlackSync"}
EXPOSED = {"link", "x-total-count", "etag", "x-request-id"}


class NoManagedPolicies:
    def load(self):
        return {}


def main() -> int:
    with open("template.yaml") as f:
        template = yaml_parse(f.read())
    for resource in template["Resources"].values():
        # The translator wants S3 URIs; `sam deploy` uploads the folders and puts them in.
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/" + resource["Properties"]["CodeUri"]
    resources = transform(template, {}, NoManagedPolicies())["Resources"]
    problems = []

    body = resources["HttpApi"]["Properties"]["Body"]
    schemes = body["components"]["securitySchemes"]
    if list(schemes) != ["WaffleSso"]:
        problems.append(f"security schemes: {list(schemes)}")
    authorizer = schemes.get("WaffleSso", {}).get("x-amazon-apigateway-authorizer", {})
    want = {
        "type": "request",
        "identitySource": [],  # else API Gateway answers 401 to anonymous requests itself
        "authorizerResultTtlInSeconds": 0,
        "authorizerPayloadFormatVersion": "2.0",
        "enableSimpleResponses": True,
    }
    for key, value in want.items():
        if authorizer.get(key) != value:
            problems.append(f"authorizer {key}: {authorizer.get(key)!r}, want {value!r}")

    routes = 0
    for path, item in body["paths"].items():
        for method, operation in item.items():
            routes += 1
            if operation.get("security") != [{"WaffleSso": []}]:
                problems.append(f"{method.upper()} {path}: not behind the authorizer")
            integration = operation.get("x-amazon-apigateway-integration", {})
            if integration.get("payloadFormatVersion") != "2.0":
                problems.append(f"{method.upper()} {path}: payload format {integration.get('payloadFormatVersion')}")
    if routes < 25:
        problems.append(f"only {routes} routes")

    cors = json.dumps(body.get("x-amazon-apigateway-cors"))
    cors_config = body.get("x-amazon-apigateway-cors", {}).get("Fn::If", [None, {}])[1]
    if set(cors_config.get("exposeHeaders", [])) != EXPOSED:
        problems.append(f"CORS expose headers: {cors}")
    if cors_config.get("allowOrigins") != {"Ref": "AllowedOrigins"}:
        problems.append(f"CORS origins: {cors}")

    permissions = [
        r for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"].get("FunctionName") == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
        and r["Properties"].get("Principal") == "apigateway.amazonaws.com"
    ]
    if len(permissions) != 1:
        problems.append(f"API Gateway may invoke the authorizer through {len(permissions)} permissions, want 1")

    schedules = [r for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    if len(schedules) != 1:
        problems.append(f"{len(schedules)} schedules, want 1")
    for schedule in schedules:
        props = schedule["Properties"]
        if props.get("ScheduleExpressionTimezone") != "Asia/Seoul":
            problems.append(f"schedule timezone {props.get('ScheduleExpressionTimezone')}")
        if props["Target"]["Arn"] != {"Fn::GetAtt": ["SlackSyncFunction", "Arn"]}:
            problems.append(f"schedule target {props['Target']['Arn']}")
        if json.loads(props["Target"]["Input"]).get("source") != "aws.scheduler":
            problems.append("schedule input is not a scheduler event")

    # Least privilege, from the generated roles.
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role" or not logical_id.endswith("FunctionRole"):
            continue
        function = logical_id[: -len("FunctionRole")]
        text = json.dumps(resource["Properties"].get("Policies", []))
        reads_secret = "secretsmanager:GetSecretValue" in text
        app_secret = "waffledotcom-??????" in text
        if app_secret != (function in SECRET_READERS):
            problems.append(f"{function}: reads <env>/waffledotcom: {app_secret}")
        if reads_secret and not app_secret and function != "ImageTagUpdater":
            problems.append(f"{function}: reads a secret it does not need")
        if ("waffledotcom-slack-" in text) != (function == "SlackSync"):
            problems.append(f"{function}: <env>/waffledotcom-slack access is wrong (slack-sync only)")
        if ("ecr-image-tag-updater" in text) != (function == "ImageTagUpdater"):
            problems.append(f"{function}: ecr-image-tag-updater secret access is wrong")
        # Batch starts slack-sync; DeployCheck (the canary's pre-traffic hook) invokes
        # the new versions of the API functions, and only versions (`:*`).
        if ("lambda:InvokeFunction" in text) != (function in ("Batch", "DeployCheck")):
            problems.append(f"{function}: lambda:InvokeFunction only for Batch and DeployCheck")
        if function == "DeployCheck" and not text.count("-*:*"):
            problems.append(f"{function}: may invoke function versions only")
        if '"Action": "*"' in text or '"Action": ["*"]' in text:
            problems.append(f"{function}: wildcard action")

    for line in problems:
        print(f"template: {line}", file=sys.stderr)
    if not problems:
        print(f"template: SAM expansion checked ({routes} routes behind the authorizer, "
              f"{len(SECRET_READERS)} secret readers, 1 schedule)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
