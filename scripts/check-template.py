"""Expands template.yaml with the SAM translator (what CloudFormation's transform does, run
here without an AWS account) and checks what the expansion must hold: no Lambda authorizer
(each function checks the token itself, so a request costs one invocation) and the key and
issuer in every function that serves a route, the CORS headers docs/api.md promises, the
schedule, and who may read the secret or start a sync.

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
    # No authorizer: API Gateway would invoke it before every function (or answer 401 to
    # anonymous requests itself, with an identity source); the functions check tokens.
    schemes = body.get("components", {}).get("securitySchemes", {})
    if schemes:
        problems.append(f"security schemes (an authorizer?): {list(schemes)}")

    routes = 0
    serving = set()
    for path, item in body["paths"].items():
        for method, operation in item.items():
            routes += 1
            if operation.get("security"):
                problems.append(f"{method.upper()} {path}: behind an authorizer {operation['security']}")
            integration = operation.get("x-amazon-apigateway-integration", {})
            if integration.get("payloadFormatVersion") != "2.0":
                problems.append(f"{method.upper()} {path}: payload format {integration.get('payloadFormatVersion')}")
            uri = json.dumps(integration.get("uri", ""))
            # The integration names the function's live alias (canary deploys) or its ARN.
            serving.update(
                logical_id for logical_id, r in resources.items()
                if r["Type"] == "AWS::Lambda::Function"
                and ("${" + logical_id + "Alias" in uri or "${" + logical_id + ".Arn}" in uri)
            )
    if routes < 25:
        problems.append(f"only {routes} routes")
    if len(serving) < 7:
        problems.append(f"only {len(serving)} functions serve routes: {sorted(serving)}")
    for logical_id in sorted(serving):
        variables = resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        for name, parameter in [("WAFFLE_JWT_PUBLIC_KEY", "JwtPublicKey"), ("WAFFLE_JWT_ISSUER", "JwtIssuer")]:
            if variables.get(name) != {"Ref": parameter}:
                problems.append(f"{logical_id}: {name} is {variables.get(name)!r}, want !Ref {parameter}")
    if any(r["Type"] == "AWS::ApiGatewayV2::Authorizer" for r in resources.values()):
        problems.append("an AWS::ApiGatewayV2::Authorizer resource")

    cors = json.dumps(body.get("x-amazon-apigateway-cors"))
    cors_config = body.get("x-amazon-apigateway-cors", {}).get("Fn::If", [None, {}])[1]
    if set(cors_config.get("exposeHeaders", [])) != EXPOSED:
        problems.append(f"CORS expose headers: {cors}")
    if cors_config.get("allowOrigins") != {"Ref": "AllowedOrigins"}:
        problems.append(f"CORS origins: {cors}")

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
        print(f"template: SAM expansion checked ({routes} routes, no authorizer, "
              f"{len(serving)} functions with the token key, {len(SECRET_READERS)} secret readers, 1 schedule)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
