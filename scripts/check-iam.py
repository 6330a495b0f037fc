#!/usr/bin/env python3
"""Isolation of dev and prod in one AWS account, proven offline (docs/deploy.md,
"Isolation").

Renders the IAM policies of deploy/bootstrap.yaml and of template.yaml (expanded by the
SAM translator) for a dev and a prod environment in one account, resolving the
intrinsics (!Ref, !Sub, !GetAtt, !If, ...) with each environment's parameters, then asks
a table of questions of a small IAM evaluator: "can the dev deploy role delete prod's
API?" and so on. Each answer must be the expected one. Then parliament (the IAM linter,
deploy/requirements-iam-lint.txt) reads every rendered policy; each finding must be
listed, with its reason, in deploy/iam-lint-allowlist.txt.

The evaluator follows the IAM policy evaluation logic as AWS documents it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny in any policy wins; otherwise an identity-based Allow is needed, and a
permissions boundary, when the role has one, must allow it too; a resource-based policy
(the SQS queue policies) may add an Allow for a principal it names, and its Deny applies
to every principal it matches. Conditions
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
keys of one operator AND, values of one key OR, a key absent from the request makes a
positive operator false and a negated one (StringNotEquals, ArnNotEquals, ...) true;
ForAnyValue is false on an absent key, ForAllValues true; Null "true" means absent.
Only the operators these policies use are implemented; an unknown one fails the check.

Run by scripts/check-deploy with target/deploy-venv's python. `--self-test` runs the
evaluator's own tests (a policy per rule, and one that must fail each question).
`--hook-inputs DIR` writes every role as the role-trust Guard hook would see it; with
CFN_GUARD=<cfn-guard binary> the check also runs the hook's rules on them."""

import copy
import fnmatch
import json
import os
import re
import sys

import yaml

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
REGION = "ap-northeast-2"
PARTITION = "aws"
DB = {"dev": "db-DEVINSTANCE", "prod": "db-PRODINSTANCE"}
PROXY = {"dev": "prx-devproxy", "prod": "prx-prodproxy"}
ALLOWLIST = "deploy/iam-lint-allowlist.txt"


# --------------------------------------------------------------------------------------
# Loading CloudFormation YAML: short intrinsics become their long forms.
class Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Fn::GetAtt" if suffix == "GetAtt" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
        return {name: value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


Loader.add_multi_constructor("!", _intrinsic)


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


# --------------------------------------------------------------------------------------
# Resolving intrinsics for one stack.
NO_VALUE = object()


class Stack:
    def __init__(self, template, name, params, arns):
        self.t = template
        self.name = name
        self.params = {}
        for key, spec in template.get("Parameters", {}).items():
            value = params.get(key, spec.get("Default"))
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.params[key] = value
        self.pseudo = {
            "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
            "AWS::StackName": name, "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE,
        }
        self.arns = arns  # logical id -> {"Ref": ..., "Arn": ..., other attributes}
        self.conditions = {}
        for key in template.get("Conditions", {}):
            self.condition(key)

    def condition(self, key):
        if key not in self.conditions:
            self.conditions[key] = bool(self.resolve(self.t["Conditions"][key]))
        return self.conditions[key]

    def resources(self):
        for logical, r in self.t["Resources"].items():
            if "Condition" in r and not self.condition(r["Condition"]):
                continue
            yield logical, r

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.arns:
            return self.arns[name]["Ref"]
        raise KeyError(f"{self.name}: Ref {name}")

    def getatt(self, logical, attr):
        try:
            return self.arns[logical][attr]
        except KeyError:
            raise KeyError(f"{self.name}: GetAtt {logical}.{attr}") from None

    def sub(self, text, extra):
        def one(m):
            key = m.group(1)
            if key in extra:
                return str(extra[key])
            if "." in key and key.split(".")[0] in self.arns:
                return str(self.getatt(*key.split(".", 1)))
            return str(self.ref(key))
        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resolve(self, node):
        if isinstance(node, list):
            out = [self.resolve(v) for v in node]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(logical, attr)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
                return self.sub(arg, {})
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::FindInMap":
                m, k1, k2 = (self.resolve(v) for v in arg)
                return self.t["Mappings"][m][str(k1)][k2]
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}


# --------------------------------------------------------------------------------------
# The two environments in one account.
def bootstrap_stack(env, watch_ecr):
    t = load("deploy/bootstrap.yaml")
    name = f"waffledotcom-bootstrap-{env}"
    bucket = f"wafflestudio-waffledotcom-{env}-artifacts"
    arns = {
        "GitHubOidcProvider": {"Ref": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
        "ArtifactsBucket": {"Ref": bucket, "Arn": f"arn:aws:s3:::{bucket}"},
        "FunctionPermissionsBoundary": {"Ref": f"arn:aws:iam::{ACCOUNT}:policy/waffledotcom-{env}-function-boundary"},
        "DeployRole": {"Ref": f"waffledotcom-{env}-deploy", "Arn": f"arn:aws:iam::{ACCOUNT}:role/waffledotcom-{env}-deploy"},
        "RoleTrustHookRole": {"Ref": f"{name}-RoleTrustHookRole-X", "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}-RoleTrustHookRole-X"},
    }
    params = {
        "AppEnv": env, "SubnetIds": "subnet-a,subnet-b", "SecurityGroupIds": "sg-a",
        "JwtPublicKey": "x" * 120, "DbResourceId": DB[env], "DbProxyResourceId": PROXY[env],
        "WatchEcrPushes": "true" if watch_ecr else "false",
        "ExistingOidcProviderArn": "" if env == "dev" else arns["GitHubOidcProvider"]["Ref"],
    }
    return Stack(t, name, params, arns)


def template_stack(env, watch_ecr):
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self):
            return {}

    with open("template.yaml") as f:
        raw = yaml_parse(f.read())
    for resource in raw["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/" + resource["Properties"]["CodeUri"]
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    expanded = transform(raw, {}, NoManagedPolicies())
    name = f"waffledotcom-{env}"
    params = {
        "AppEnv": env, "JwtIssuer": "https://issuer", "AllowedOrigins": "https://x",
        "WatchEcrPushes": "true" if watch_ecr else "false", "DbIamAuth": "true",
        "DbResourceId": DB[env], "DbProxyEndpoint": "proxy.example", "DbProxyResourceId": PROXY[env],
        "SubnetIds": "subnet-a", "SecurityGroupIds": "sg-a",
    }
    arns = {}
    for logical, r in expanded["Resources"].items():
        props = r.get("Properties", {})
        typ = r["Type"]
        if typ == "AWS::IAM::Role":
            path = f"/waffledotcom/{env}/"
            arns[logical] = {"Ref": f"{name}-{logical}-X", "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{name}-{logical}-X"}
        elif typ == "AWS::Lambda::Function":
            fname = props.get("FunctionName", {"Fn::Sub": f"{name}-{logical}"})
            arns[logical] = {"FunctionName": fname}
        elif typ == "AWS::SQS::Queue":
            arns[logical] = {"QueueName": props["QueueName"]}
        elif typ == "AWS::SNS::Topic":
            arns[logical] = {"TopicName": props["TopicName"]}
        elif typ == "AWS::Events::Rule":
            rule = f"{name}-{logical}-X"
            arns[logical] = {"Ref": rule, "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"}
        else:
            arns[logical] = {"Ref": f"{name}-{logical}-X", "Arn": f"arn:aws:x:{REGION}:{ACCOUNT}:{logical}"}
    stack = Stack(expanded, name, params, arns)
    # Names first (they hold !Sub), then the ARNs built from them.
    for logical, a in arns.items():
        if "FunctionName" in a:
            fname = stack.resolve(a["FunctionName"])
            a.update({"Ref": fname, "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fname}"})
        if "QueueName" in a:
            qname = stack.resolve(a["QueueName"])
            a.update({"QueueName": qname, "Ref": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{qname}",
                      "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{qname}"})
        if "TopicName" in a:
            # A topic's Ref is its ARN.
            tname = stack.resolve(a["TopicName"])
            a.update({"TopicName": tname, "Ref": f"arn:aws:sns:{REGION}:{ACCOUNT}:{tname}"})
    stack.conditions = {}
    for key in expanded.get("Conditions", {}):
        stack.condition(key)
    return stack


def as_list(v):
    return v if isinstance(v, list) else [v]


class Principal:
    """An IAM role: its identity policies, its boundary (or None), and its ARN."""

    def __init__(self, arn, policies, boundary=None, service=None):
        self.arn = arn
        self.policies = policies
        self.boundary = boundary
        self.service = service  # a service principal (events.amazonaws.com) instead of a role


def role_policies(stack, logical):
    props = stack.resolve(stack.t["Resources"][logical]["Properties"])
    return {p["PolicyName"]: p["PolicyDocument"] for p in props.get("Policies", [])}, props


def render(watch_ecr_env="prod"):
    """Both environments: principals, queue policies, the roles' trust documents."""
    world = {"principals": {}, "queue_policies": {}, "roles": {}, "policies": {}}
    for env in ("dev", "prod"):
        b = bootstrap_stack(env, watch_ecr=env == watch_ecr_env)
        t = template_stack(env, watch_ecr=env == watch_ecr_env)
        boundary = b.resolve(b.t["Resources"]["FunctionPermissionsBoundary"]["Properties"]["PolicyDocument"])
        world["policies"][f"{env}/FunctionPermissionsBoundary"] = boundary
        deploy_policies, _ = role_policies(b, "DeployRole")
        world["principals"][f"{env}/deploy"] = Principal(b.arns["DeployRole"]["Arn"], list(deploy_policies.values()))
        for name, p in deploy_policies.items():
            world["policies"][f"{env}/DeployRole/{name}"] = p
        hook = b.resolve(b.t["Resources"]["RoleTrustHookRole"]["Properties"])
        world["policies"][f"{env}/RoleTrustHookRole"] = hook["Policies"][0]["PolicyDocument"]
        # A role the deploy role could create: anything at all, under the boundary.
        world["principals"][f"{env}/any-created-role"] = Principal(
            f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/{env}/anything",
            [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}], boundary)
        for logical, r in t.resources():
            if r["Type"] == "AWS::IAM::Role":
                policies, props = role_policies(t, logical)
                if props.get("PermissionsBoundary") != b.arns["FunctionPermissionsBoundary"]["Ref"]:
                    raise SystemExit(f"{env}: {logical} lacks the environment's boundary")
                world["principals"][f"{env}/{logical}"] = Principal(t.arns[logical]["Arn"], list(policies.values()), boundary)
                world["roles"][f"{env}/{logical}"] = props
                for name, p in policies.items():
                    world["policies"][f"{env}/{logical}/{name}"] = p
            if r["Type"] == "AWS::SQS::QueuePolicy":
                props = t.resolve(r["Properties"])
                for q in props["Queues"]:
                    arn = q.replace(f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/", f"arn:aws:sqs:{REGION}:{ACCOUNT}:")
                    world["queue_policies"][arn] = props["PolicyDocument"]
                world["policies"][f"{env}/{logical}"] = props["PolicyDocument"]
        world[f"{env}/rule"] = t.arns.get("EcrPushRule", {}).get("Arn")
        world[f"{env}/stack"] = t
    return world


# --------------------------------------------------------------------------------------
# The evaluator.
def wildcard(pattern, value, case=True):
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def string_match(op, policy_value, value):
    if op in ("StringEquals", "ArnEquals"):
        return policy_value == value
    if op == "StringEqualsIgnoreCase":
        return policy_value.lower() == value.lower()
    if op in ("StringLike", "ArnLike"):
        return wildcard(policy_value, value)
    if op == "Bool":
        return str(policy_value).lower() == str(value).lower()
    raise ValueError(f"operator {op} is not implemented")


KNOWN = {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool"}
NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike",
           "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def condition_holds(block, context):
    for op_full, keys in block.items():
        qualifier, _, op = op_full.rpartition(":")
        for key, policy_values in keys.items():
            policy_values = [str(v) for v in as_list(policy_values)]
            present = key in context
            values = [str(v) for v in as_list(context.get(key, []))]
            if op == "Null":
                want_absent = policy_values[0].lower() == "true"
                if want_absent == present:
                    return False
                continue
            negated = op in NEGATED
            base = NEGATED.get(op, op)
            if base not in KNOWN:
                raise ValueError(f"operator {op_full} is not implemented")

            def matches(v):
                return any(string_match(base, p, v) for p in policy_values)

            if qualifier == "ForAnyValue":
                ok = present and any((not matches(v)) if negated else matches(v) for v in values)
            elif qualifier == "ForAllValues":
                ok = (not present) or all((not matches(v)) if negated else matches(v) for v in values)
            elif qualifier:
                raise ValueError(f"qualifier {qualifier} is not implemented")
            else:
                if not present:
                    ok = negated
                else:
                    if len(values) != 1:
                        raise ValueError(f"{key} is multivalued: use ForAnyValue/ForAllValues")
                    ok = (not matches(values[0])) if negated else matches(values[0])
            if not ok:
                return False
    return True


def principal_matches(stmt_principal, who):
    if stmt_principal is None:
        return True  # identity policies
    if stmt_principal == "*" or stmt_principal == {"AWS": "*"}:
        return True
    if who.service:
        return who.service in as_list(stmt_principal.get("Service", []))
    return who.arn in as_list(stmt_principal.get("AWS", []))


def statement_matches(stmt, action, resource, context, who=None, resource_policy=False):
    if resource_policy and not principal_matches(stmt.get("Principal"), who):
        return False
    if "Action" in stmt:
        if not any(wildcard(a, action, case=False) for a in as_list(stmt["Action"])):
            return False
    elif any(wildcard(a, action, case=False) for a in as_list(stmt["NotAction"])):
        return False
    if "Resource" in stmt:
        if not any(wildcard(r, resource) for r in as_list(stmt["Resource"])):
            return False
    elif "NotResource" in stmt and any(wildcard(r, resource) for r in as_list(stmt["NotResource"])):
        return False
    return condition_holds(stmt.get("Condition", {}), context)


def decide(policies, action, resource, context, **kw):
    """'deny' (explicit), 'allow', or None (nothing matched)."""
    allowed = False
    for policy in policies:
        for stmt in as_list(policy.get("Statement", [])):
            if statement_matches(stmt, action, resource, context, **kw):
                if stmt["Effect"] == "Deny":
                    return "deny"
                allowed = True
    return "allow" if allowed else None


def evaluate(who, action, resource, context=None, resource_policy=None):
    """True when AWS would allow `who` to do `action` on `resource` in `context`."""
    context = dict(context or {})
    if not who.service:
        context.setdefault("aws:PrincipalArn", who.arn)
        context.setdefault("aws:PrincipalAccount", ACCOUNT)
    rp = decide([resource_policy], action, resource, context, who=who, resource_policy=True) \
        if resource_policy else None
    if rp == "deny":
        return False
    if who.service:
        return rp == "allow"
    identity = decide(who.policies, action, resource, context)
    boundary = decide([who.boundary], action, resource, context) if who.boundary else "allow"
    if identity == "deny" or boundary == "deny":
        return False
    # A same-account resource policy naming the role allows on its own (boundaries limit
    # identity-based grants); our queue policies name no role, so this is only the rule's.
    if rp == "allow" and boundary == "allow":
        return True
    return identity == "allow" and boundary == "allow"


# --------------------------------------------------------------------------------------
# What CloudFormation's role-trust hook (deploy/hooks/role-trust.guard) lets through.
TRUSTED_SERVICES = {"lambda.amazonaws.com", "scheduler.amazonaws.com"}
CODEDEPLOY = "codedeploy.amazonaws.com"


def trust_ok(role_props):
    """Lambda or Scheduler, or CodeDeploy alone (the one service of every statement,
    never in a list), and always the boundary."""
    if "PermissionsBoundary" not in role_props:
        return False
    services = set()
    for stmt in as_list(role_props["AssumeRolePolicyDocument"]["Statement"]):
        principal = stmt.get("Principal")
        if stmt.get("Effect") != "Allow" or not isinstance(principal, dict) or set(principal) != {"Service"}:
            return False
        service = principal["Service"]
        allowed = TRUSTED_SERVICES | ({CODEDEPLOY} if isinstance(service, str) else set())
        if not set(as_list(service)) <= allowed:
            return False
        services.update(as_list(service))
    return CODEDEPLOY not in services or services == {CODEDEPLOY}


def forged_roles(w):
    """Roles the hook must refuse, each a real one of the dev expansion changed in one way."""
    users, codedeploy = w["roles"]["dev/UsersFunctionRole"], w["roles"]["dev/CodeDeployServiceRole"]
    cases = {}

    def forge(name, base, change):
        role = copy.deepcopy(base)
        change(role, role["AssumeRolePolicyDocument"]["Statement"])
        cases[f"forged/{name}"] = role

    forge("TrustsAnotherAccount", users, lambda r, s: s.append(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, "Action": "sts:AssumeRole"}))
    forge("NoBoundary", users, lambda r, s: r.pop("PermissionsBoundary"))
    forge("TrustsEc2", users, lambda r, s: s[0]["Principal"].update(
        Service=["lambda.amazonaws.com", "ec2.amazonaws.com"]))
    forge("TrustsAnyone", users, lambda r, s: s[0].update(Principal="*"))
    forge("CodeDeployNoBoundary", codedeploy, lambda r, s: r.pop("PermissionsBoundary"))
    forge("CodeDeployAndLambdaInList", codedeploy, lambda r, s: s[0]["Principal"].update(
        Service=[CODEDEPLOY, "lambda.amazonaws.com"]))
    forge("CodeDeployAndLambdaStatements", codedeploy, lambda r, s: s.append(
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    forge("LambdaRoleAlsoCodeDeploy", users, lambda r, s: s.append(
        {"Effect": "Allow", "Principal": {"Service": CODEDEPLOY}, "Action": "sts:AssumeRole"}))
    forge("CodeDeployAndAnotherAccount", codedeploy, lambda r, s: s.append(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, "Action": "sts:AssumeRole"}))
    return cases


# --------------------------------------------------------------------------------------
# The questions.
def tags(env):
    return {"aws:ResourceTag/project": "waffledotcom", "aws:ResourceTag/env": env}


def request_tags(env):
    return {"aws:RequestTag/project": "waffledotcom", "aws:RequestTag/env": env,
            "aws:TagKeys": ["project", "env"]}


def arn(service, rest):
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


VIA_CFN = {"aws:CalledVia": ["cloudformation.amazonaws.com"]}


def codedeploy_names(w, env):
    """SAM's CodeDeploy application and the users function's deployment group, named as
    CloudFormation names them (stack-logical id-suffix)."""
    t = w[f"{env}/stack"]
    application = t.arns["ServerlessDeploymentApplication"]["Ref"]
    group = t.arns["UsersFunctionDeploymentGroup"]["Ref"]
    return {"application_name": application, "application": arn("codedeploy", f"application:{application}"),
            "group": arn("codedeploy", f"deploymentgroup:{application}/{group}")}


def questions(w):
    p = w["principals"]
    dev, prod = p["dev/deploy"], p["prod/deploy"]
    boundary = {e: f"arn:aws:iam::{ACCOUNT}:policy/waffledotcom-{e}-function-boundary" for e in ("dev", "prod")}
    prod_dlq = arn("sqs", "waffledotcom-prod-image-tag-updater-failures")
    dev_slack_dlq = arn("sqs", "waffledotcom-dev-slack-sync-failures")
    prod_api = f"arn:aws:apigateway:{REGION}::/apis/prodapi1"
    gitops = arn("secretsmanager", "secret:ecr-image-tag-updater-AbCdEf")
    q = []

    def ask(text, who, action, resource, context=None, expect=False, queue=None):
        q.append((text, who, action, resource, context or {}, expect,
                  w["queue_policies"].get(queue or resource)))

    # --- The dev deploy role cannot reach prod.
    ask("dev deploy role deletes prod's API", dev, "apigateway:DELETE", prod_api, tags("prod"))
    ask("dev deploy role changes prod's API", dev, "apigateway:PATCH", prod_api, tags("prod"))
    ask("dev deploy role deletes prod's stack", dev, "cloudformation:DeleteStack",
        arn("cloudformation", "stack/waffledotcom-prod/1"))
    ask("dev deploy role runs a change set on prod's stack", dev, "cloudformation:ExecuteChangeSet",
        arn("cloudformation", "stack/waffledotcom-prod/1"))
    ask("dev deploy role replaces prod's image-tag-updater code", dev, "lambda:UpdateFunctionCode",
        arn("lambda", "function:waffledotcom-prod-image-tag-updater"))
    ask("dev deploy role invokes prod's image-tag-updater", dev, "lambda:InvokeFunction",
        arn("lambda", "function:waffledotcom-prod-image-tag-updater"))
    ask("dev deploy role deletes prod's queue", dev, "sqs:DeleteQueue", prod_dlq, tags("prod"))
    ask("dev deploy role deletes prod's log group", dev, "logs:DeleteLogGroup",
        arn("logs", "log-group:/aws/lambda/waffledotcom-prod-users"), tags("prod"))
    ask("dev deploy role deletes prod's ECR rule", dev, "events:DeleteRule",
        arn("events", "rule/waffledotcom-prod-EcrPushRule-X"), tags("prod"))
    ask("dev deploy role deletes prod's alarms", dev, "cloudwatch:DeleteAlarms",
        arn("cloudwatch", "alarm:waffledotcom-prod-Users-errors"), tags("prod"))
    ask("dev deploy role writes prod's artifacts", dev, "s3:PutObject",
        "arn:aws:s3:::wafflestudio-waffledotcom-prod-artifacts/waffledotcom-prod/x")
    ask("dev deploy role reads prod's GitOps token", dev, "secretsmanager:GetSecretValue", gitops)
    ask("dev deploy role reads prod's app secret", dev, "secretsmanager:GetSecretValue",
        arn("secretsmanager", "secret:prod/waffledotcom-AbCdEf"))
    ask("a role dev's deploy role creates reads prod's GitOps token", p["dev/any-created-role"],
        "secretsmanager:GetSecretValue", gitops)
    ask("a role dev's deploy role creates reads prod's secret", p["dev/any-created-role"],
        "secretsmanager:GetSecretValue", arn("secretsmanager", "secret:prod/waffledotcom-slack-AbCdEf"))
    ask("dev deploy role connects to prod's database", dev, "rds-db:connect",
        arn("rds-db", f"dbuser:{DB['prod']}/waffledotcom"))
    ask("a role dev's deploy role creates connects to prod's database", p["dev/any-created-role"],
        "rds-db:connect", arn("rds-db", f"dbuser:{DB['prod']}/waffledotcom"))
    ask("a role dev's deploy role creates connects to prod's proxy", p["dev/any-created-role"],
        "rds-db:connect", arn("rds-db", f"dbuser:{PROXY['prod']}/waffledotcom"))
    ask("a role dev's deploy role creates connects to dev's database as another user",
        p["dev/any-created-role"], "rds-db:connect", arn("rds-db", f"dbuser:{DB['dev']}/admin"))
    ask("a role dev's deploy role creates invokes prod's functions", p["dev/any-created-role"],
        "lambda:InvokeFunction", arn("lambda", "function:waffledotcom-prod-image-tag-updater"))
    ask("a role dev's deploy role creates reads prod's failure queue (an event source mapping's poller)",
        p["dev/any-created-role"], "sqs:ReceiveMessage", prod_dlq)
    ask("a role dev's deploy role creates writes into prod's log groups", p["dev/any-created-role"], "logs:PutLogEvents",
        arn("logs", "log-group:/aws/lambda/waffledotcom-prod-users:log-stream:x"))
    ask("a role dev's deploy role creates describes ECR images", p["dev/any-created-role"],
        "ecr:DescribeImages", arn("ecr", "repository/team/app"))
    ask("dev deploy role creates a role directly (trust of its choosing)", dev, "iam:CreateRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/evil", {"iam:PermissionsBoundary": boundary["dev"]})
    ask("dev deploy role rewrites a role's trust directly", dev, "iam:UpdateAssumeRolePolicy",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/evil", {"iam:PermissionsBoundary": boundary["dev"]})
    ask("dev deploy role creates a role with prod's boundary", dev, "iam:CreateRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/evil", {"iam:PermissionsBoundary": boundary["prod"], **VIA_CFN})
    ask("dev deploy role creates a role without a boundary", dev, "iam:CreateRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/evil", VIA_CFN)
    ask("dev deploy role creates a role under prod's path", dev, "iam:CreateRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/prod/evil", {"iam:PermissionsBoundary": boundary["dev"], **VIA_CFN})
    ask("dev deploy role removes a role's boundary", dev, "iam:DeleteRolePermissionsBoundary",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/x")
    ask("dev deploy role passes a role to EC2", dev, "iam:PassRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/x", {"iam:PassedToService": "ec2.amazonaws.com"})
    ask("dev deploy role changes the env tag of its own queue", dev, "sqs:TagQueue",
        arn("sqs", "waffledotcom-dev-slack-sync-failures"),
        {**tags("dev"), "aws:RequestTag/env": "prod", "aws:TagKeys": ["env"]})
    ask("dev deploy role tags prod's queue env=dev", dev, "sqs:TagQueue", prod_dlq,
        {**tags("prod"), "aws:RequestTag/env": "dev", "aws:TagKeys": ["env"]})
    ask("dev deploy role removes the env tag of its own log group", dev, "logs:UntagResource",
        arn("logs", "log-group:/aws/lambda/waffledotcom-dev-users"), {**tags("dev"), "aws:TagKeys": ["env"]})
    ask("dev deploy role removes the project tag of its own function", dev, "lambda:UntagResource",
        arn("lambda", "function:waffledotcom-dev-users"), {**tags("dev"), "aws:TagKeys": ["project"]})
    ask("dev deploy role re-tags prod's API env=dev", dev, "apigateway:POST",
        f"arn:aws:apigateway:{REGION}::/tags/{prod_api.replace(':', '%3A')}",
        {**tags("prod"), "aws:RequestTag/env": "dev", "aws:RequestTag/project": "waffledotcom", "aws:TagKeys": ["env"]})
    ask("dev deploy role re-tags its own API env=dev (still an env change)", dev, "apigateway:POST",
        f"arn:aws:apigateway:{REGION}::/tags/devapi", {**tags("dev"), **request_tags("dev")})
    ask("dev deploy role re-tags its own role", dev, "iam:TagRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/x", {**tags("dev"), "aws:TagKeys": ["env"], "aws:RequestTag/env": "dev"})
    ask("dev deploy role creates a queue tagged env=prod", dev, "sqs:CreateQueue",
        arn("sqs", "waffledotcom-dev-x"), request_tags("prod"))
    ask("dev deploy role claims an untagged log group by tagging it", dev, "logs:TagResource",
        arn("logs", "log-group:someone-elses"), request_tags("dev"))
    ask("dev deploy role sends to prod's image-tag-updater failure queue", dev, "sqs:SendMessage", prod_dlq)
    ask("dev deploy role sends to its own slack-sync failure queue", dev, "sqs:SendMessage",
        dev_slack_dlq, tags("dev"))
    ask("prod deploy role sends to prod's image-tag-updater failure queue (forged event)", prod,
        "sqs:SendMessage", prod_dlq, tags("prod"))
    ask("prod users function sends to the image-tag-updater failure queue", p["prod/UsersFunctionRole"],
        "sqs:SendMessage", prod_dlq)
    ask("another EventBridge rule sends to the image-tag-updater failure queue",
        Principal(None, [], service="events.amazonaws.com"), "sqs:SendMessage", prod_dlq,
        {"aws:SourceArn": arn("events", "rule/evil")})
    ask("dev deploy role passes prod's role to Lambda", dev, "iam:PassRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/prod/waffledotcom-prod-ImageTagUpdaterFunctionRole-X",
        {"iam:PassedToService": "lambda.amazonaws.com"})
    ask("dev deploy role deletes prod's CloudFront distribution", dev, "cloudfront:DeleteDistribution",
        f"arn:aws:cloudfront::{ACCOUNT}:distribution/EPROD", tags("prod"))
    ask("dev deploy role attaches a policy to prod's function role", dev, "iam:PutRolePolicy",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/prod/waffledotcom-prod-UsersFunctionRole-X",
        {"iam:PermissionsBoundary": boundary["prod"], **VIA_CFN})
    ask("dev deploy role reads prod's SSM parameters", dev, "ssm:GetParameters",
        arn("ssm", "parameter/waffledotcom/prod/jwt-public-key"))

    # --- Canary deploys: dev never touches prod's CodeDeploy, nor passes a role to it but its own.
    cd = {e: codedeploy_names(w, e) for e in ("dev", "prod")}
    for action in ("codedeploy:CreateApplication", "codedeploy:UpdateApplication", "codedeploy:DeleteApplication",
                   "codedeploy:RegisterApplicationRevision"):
        ask(f"dev deploy role {action.split(':')[1]} on prod's CodeDeploy application", dev, action,
            cd["prod"]["application"], tags("prod"))
    for action in ("codedeploy:CreateDeploymentGroup", "codedeploy:UpdateDeploymentGroup",
                   "codedeploy:DeleteDeploymentGroup", "codedeploy:CreateDeployment", "codedeploy:GetDeployment"):
        ask(f"dev deploy role {action.split(':')[1]} on prod's deployment group", dev, action,
            cd["prod"]["group"], tags("prod"))
    ask("dev deploy role creates a deployment group in prod's application named like dev's", dev,
        "codedeploy:CreateDeploymentGroup",
        arn("codedeploy", f"deploymentgroup:{cd['prod']['application_name']}/waffledotcom-dev-x"), request_tags("dev"))
    ask("dev deploy role re-tags prod's CodeDeploy application env=dev", dev, "codedeploy:TagResource",
        cd["prod"]["application"], {**tags("prod"), **request_tags("dev")})
    ask("dev deploy role removes the env tag of its own deployment group", dev, "codedeploy:UntagResource",
        cd["dev"]["group"], {**tags("dev"), "aws:TagKeys": ["env"]})
    ask("dev deploy role passes prod's CodeDeployServiceRole to CodeDeploy", dev, "iam:PassRole",
        p["prod/CodeDeployServiceRole"].arn, {"iam:PassedToService": CODEDEPLOY})
    ask("dev deploy role passes its own users function role to CodeDeploy", dev, "iam:PassRole",
        p["dev/UsersFunctionRole"].arn, {"iam:PassedToService": CODEDEPLOY})
    ask("dev deploy role passes another role of its path to CodeDeploy", dev, "iam:PassRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/anything", {"iam:PassedToService": CODEDEPLOY})
    ask("dev deploy role passes its CodeDeployServiceRole to EC2", dev, "iam:PassRole",
        p["dev/CodeDeployServiceRole"].arn, {"iam:PassedToService": "ec2.amazonaws.com"})
    ask("dev pre-traffic hook reports a status to prod's deployment", p["dev/DeployCheckFunctionRole"],
        "codedeploy:PutLifecycleEventHookExecutionStatus", cd["prod"]["group"])
    ask("a role dev's deploy role creates reports a status to prod's deployment", p["dev/any-created-role"],
        "codedeploy:PutLifecycleEventHookExecutionStatus", cd["prod"]["group"])
    ask("dev's CodeDeploy role moves prod's live alias", p["dev/CodeDeployServiceRole"], "lambda:UpdateAlias",
        arn("lambda", "function:waffledotcom-prod-users:live"))
    ask("a role dev's deploy role creates moves prod's live alias", p["dev/any-created-role"], "lambda:UpdateAlias",
        arn("lambda", "function:waffledotcom-prod-users:live"))
    ask("dev's CodeDeploy role reads prod's alarms", p["dev/CodeDeployServiceRole"], "cloudwatch:DescribeAlarms",
        arn("cloudwatch", "alarm:waffledotcom-prod-Users-errors"))
    ask("dev's CodeDeploy role sends to prod's alarm topic", p["dev/CodeDeployServiceRole"], "sns:Publish",
        arn("sns", "waffledotcom-prod-alarms"))
    ask("dev's CodeDeploy role deploys code", p["dev/CodeDeployServiceRole"], "lambda:UpdateFunctionCode",
        arn("lambda", "function:waffledotcom-dev-users"))
    ask("dev's CodeDeploy role creates a role", p["dev/CodeDeployServiceRole"], "iam:CreateRole",
        f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/dev/x")

    # --- Every dev function role: nothing of prod's.
    for key, who in p.items():
        if key.startswith("dev/") and key.endswith("Role"):
            ask(f"{key} reads prod's GitOps token", who, "secretsmanager:GetSecretValue", gitops)
            ask(f"{key} connects to prod's database", who, "rds-db:connect",
                arn("rds-db", f"dbuser:{DB['prod']}/waffledotcom"))

    # --- Secrets within prod: each function only its own.
    for key, who in p.items():
        if key.startswith("prod/") and key.endswith("FunctionRole"):
            fn = key.split("/")[1]
            ask(f"{key} reads the GitOps token", who, "secretsmanager:GetSecretValue", gitops,
                expect=fn == "ImageTagUpdaterFunctionRole")
            ask(f"{key} reads the Slack token", who, "secretsmanager:GetSecretValue",
                arn("secretsmanager", "secret:prod/waffledotcom-slack-AbCdEf"),
                expect=fn == "SlackSyncFunctionRole")
            ask(f"{key} describes ECR images", who, "ecr:DescribeImages", arn("ecr", "repository/team/app"),
                expect=fn == "ImageTagUpdaterFunctionRole")
    ask("prod image-tag-updater pushes an image", p["prod/ImageTagUpdaterFunctionRole"], "ecr:PutImage",
        arn("ecr", "repository/team/app"))

    # --- What each deploy needs: yes.
    for env, who in (("dev", dev), ("prod", prod)):
        stack = arn("cloudformation", f"stack/waffledotcom-{env}/1")
        yes = dict(expect=True)
        ask(f"{env} deploy role creates a change set of its stack", who, "cloudformation:CreateChangeSet", stack, **yes)
        ask(f"{env} deploy role uses the SAM transform", who, "cloudformation:CreateChangeSet",
            f"arn:aws:cloudformation:{REGION}:aws:transform/Serverless-2016-10-31", **yes)
        ask(f"{env} deploy role executes the change set", who, "cloudformation:ExecuteChangeSet", stack, **yes)
        ask(f"{env} deploy role uploads its artifacts", who, "s3:PutObject",
            f"arn:aws:s3:::wafflestudio-waffledotcom-{env}-artifacts/waffledotcom-{env}/abc", **yes)
        ask(f"{env} deploy role reads its SSM parameters", who, "ssm:GetParameters",
            arn("ssm", f"parameter/waffledotcom/{env}/subnet-ids"), **yes)
        ask(f"{env} deploy role updates its functions", who, "lambda:UpdateFunctionCode",
            arn("lambda", f"function:waffledotcom-{env}-users"), **yes)
        ask(f"{env} deploy role creates its functions' roles through CloudFormation", who, "iam:CreateRole",
            f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/{env}/waffledotcom-{env}-UsersFunctionRole-X",
            {"iam:PermissionsBoundary": boundary[env], **VIA_CFN, **request_tags(env)}, **yes)
        ask(f"{env} deploy role changes those roles' trust through CloudFormation", who, "iam:UpdateAssumeRolePolicy",
            f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/{env}/waffledotcom-{env}-UsersFunctionRole-X", VIA_CFN, **yes)
        ask(f"{env} deploy role tags those roles at creation", who, "iam:TagRole",
            f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/{env}/waffledotcom-{env}-UsersFunctionRole-X",
            request_tags(env), **yes)
        ask(f"{env} deploy role passes them to Lambda", who, "iam:PassRole",
            f"arn:aws:iam::{ACCOUNT}:role/waffledotcom/{env}/x", {"iam:PassedToService": "lambda.amazonaws.com"}, **yes)
        ask(f"{env} deploy role creates a tagged queue", who, "sqs:CreateQueue",
            arn("sqs", f"waffledotcom-{env}-slack-sync-failures"), request_tags(env), **yes)
        ask(f"{env} deploy role tags the queue at creation", who, "sqs:TagQueue",
            arn("sqs", f"waffledotcom-{env}-slack-sync-failures"), request_tags(env), **yes)
        ask(f"{env} deploy role creates a tagged log group", who, "logs:CreateLogGroup",
            arn("logs", f"log-group:/aws/lambda/waffledotcom-{env}-users"), request_tags(env), **yes)
        ask(f"{env} deploy role tags the log group at creation", who, "logs:TagResource",
            arn("logs", f"log-group:/aws/lambda/waffledotcom-{env}-users"), request_tags(env), **yes)
        ask(f"{env} deploy role updates its API", who, "apigateway:PATCH",
            f"arn:aws:apigateway:{REGION}::/apis/{env}api", tags(env), **yes)
        ask(f"{env} deploy role deletes a route of its API", who, "apigateway:DELETE",
            f"arn:aws:apigateway:{REGION}::/apis/{env}api/routes/r1", tags(env), **yes)
        ask(f"{env} deploy role sets its queue's policy", who, "sqs:SetQueueAttributes",
            arn("sqs", f"waffledotcom-{env}-slack-sync-failures"), tags(env), **yes)
        ask(f"{env} deploy role updates its alarms", who, "cloudwatch:PutMetricAlarm",
            arn("cloudwatch", f"alarm:waffledotcom-{env}-Users-errors"), tags(env), **yes)
        # Canary deploys (template.yaml's DeploymentPreference).
        names = codedeploy_names(w, env)
        for action in ("codedeploy:CreateApplication", "codedeploy:GetApplication", "codedeploy:DeleteApplication",
                       "codedeploy:RegisterApplicationRevision"):
            ask(f"{env} deploy role {action.split(':')[1]} on its CodeDeploy application", who, action,
                names["application"], request_tags(env), **yes)
        ask(f"{env} deploy role tags its CodeDeploy application at creation", who, "codedeploy:TagResource",
            names["application"], request_tags(env), **yes)
        for action in ("codedeploy:CreateDeploymentGroup", "codedeploy:UpdateDeploymentGroup",
                       "codedeploy:GetDeploymentGroup", "codedeploy:DeleteDeploymentGroup",
                       "codedeploy:CreateDeployment", "codedeploy:GetDeployment"):
            ask(f"{env} deploy role {action.split(':')[1]} on its deployment group", who, action,
                names["group"], tags(env), **yes)
        for config in ("CodeDeployDefault.LambdaAllAtOnce", "CodeDeployDefault.LambdaCanary10Percent5Minutes"):
            ask(f"{env} deploy role reads deployment config {config}", who, "codedeploy:GetDeploymentConfig",
                arn("codedeploy", f"deploymentconfig:{config}"), **yes)
        ask(f"{env} deploy role passes its CodeDeployServiceRole to CodeDeploy", who, "iam:PassRole",
            p[f"{env}/CodeDeployServiceRole"].arn, {"iam:PassedToService": CODEDEPLOY}, **yes)
        hook, codedeploy = p[f"{env}/DeployCheckFunctionRole"], p[f"{env}/CodeDeployServiceRole"]
        ask(f"{env} pre-traffic hook reports its status", hook, "codedeploy:PutLifecycleEventHookExecutionStatus",
            names["group"], **yes)
        ask(f"{env} pre-traffic hook invokes a new version", hook, "lambda:InvokeFunction",
            arn("lambda", f"function:waffledotcom-{env}-users:7"), **yes)
        ask(f"{env} CodeDeploy role moves a live alias", codedeploy, "lambda:UpdateAlias",
            arn("lambda", f"function:waffledotcom-{env}-users:live"), **yes)
        ask(f"{env} CodeDeploy role reads a live alias", codedeploy, "lambda:GetAlias",
            arn("lambda", f"function:waffledotcom-{env}-users:live"), **yes)
        ask(f"{env} CodeDeploy role invokes the pre-traffic hook", codedeploy, "lambda:InvokeFunction",
            arn("lambda", f"function:waffledotcom-{env}-deploy-check"), **yes)
        ask(f"{env} CodeDeploy role reads the rollback alarms", codedeploy, "cloudwatch:DescribeAlarms",
            arn("cloudwatch", f"alarm:waffledotcom-{env}-api-5xx-rate"), **yes)
        ask(f"{env} CodeDeploy role sends to the alarm topic", codedeploy, "sns:Publish",
            arn("sns", f"waffledotcom-{env}-alarms"), **yes)
    ask("prod deploy role creates the ECR rule", prod, "events:PutRule",
        arn("events", "rule/waffledotcom-prod-EcrPushRule-X"), request_tags("prod"), expect=True)
    # --- The runtime paths that must keep working.
    ask("prod image-tag-updater reads the GitOps token", p["prod/ImageTagUpdaterFunctionRole"],
        "secretsmanager:GetSecretValue", gitops, expect=True)
    ask("prod image-tag-updater checks a pushed image", p["prod/ImageTagUpdaterFunctionRole"],
        "ecr:DescribeImages", arn("ecr", "repository/team/app"), expect=True)
    ask("prod image-tag-updater's destination sends to its failure queue", p["prod/ImageTagUpdaterFunctionRole"],
        "sqs:SendMessage", prod_dlq, {"aws:SourceArn": arn("lambda", "function:waffledotcom-prod-image-tag-updater")},
        expect=True)
    ask("prod's ECR rule sends a dead letter to the failure queue", Principal(None, [], service="events.amazonaws.com"),
        "sqs:SendMessage", prod_dlq, {"aws:SourceArn": w["prod/rule"]}, expect=True)
    ask("dev slack-sync's destination sends to its failure queue", p["dev/SlackSyncFunctionRole"],
        "sqs:SendMessage", dev_slack_dlq, expect=True)
    ask("dev slack-sync reads its Slack token", p["dev/SlackSyncFunctionRole"], "secretsmanager:GetSecretValue",
        arn("secretsmanager", "secret:dev/waffledotcom-slack-AbCdEf"), expect=True)
    ask("prod users connects to prod's database as its user", p["prod/UsersFunctionRole"], "rds-db:connect",
        arn("rds-db", f"dbuser:{DB['prod']}/waffledotcom"), expect=True)
    ask("prod users connects through prod's proxy", p["prod/UsersFunctionRole"], "rds-db:connect",
        arn("rds-db", f"dbuser:{PROXY['prod']}/waffledotcom"), expect=True)
    return q


def check_stacks(w):
    """Facts of the rendered stacks the questions rest on."""
    problems = []
    for env, watches in (("dev", False), ("prod", True)):
        t = w[f"{env}/stack"]
        names = {logical for logical, _ in t.resources()}
        for logical in ("ImageTagUpdaterFunction", "ImageTagUpdaterFunctionRole", "EcrPushRule",
                        "ImageTagUpdaterFailures", "ImageTagUpdaterFailuresPolicy"):
            if (logical in names) != watches:
                problems.append(f"{env}: {logical} {'missing' if watches else 'deployed'} (WatchEcrPushes={str(watches).lower()})")
        for key, props in w["roles"].items():
            if key.startswith(env + "/") and not trust_ok(props):
                problems.append(f"{key}: trusted by more than Lambda and Scheduler, or CodeDeploy alone "
                                "(the hook would refuse it)")
    for key, props in forged_roles(w).items():
        if trust_ok(props):
            problems.append(f"{key} passes the role-trust rule")
    return problems


def hook_inputs(w, directory):
    """Each role of both expansions, and the forged ones (forged_roles), as the
    Guard hook receives them (Resources: {id: {ResourceType, ResourceProperties}}), for
    `cfn-guard validate -r deploy/hooks/role-trust.guard -d <directory>`."""
    os.makedirs(directory, exist_ok=True)
    cases = {**w["roles"], **forged_roles(w)}
    for key, props in cases.items():
        env, logical = key.split("/")
        doc = {"HookContext": {"AWSAccountID": ACCOUNT, "TargetType": "RESOURCE", "TargetName": "AWS::IAM::Role",
                               "TargetLogicalId": logical, "InvocationPoint": "CREATE_PRE_PROVISION"},
               "Resources": {logical: {"ResourceType": "AWS::IAM::Role", "ResourceProperties": props}}}
        with open(os.path.join(directory, f"{env}-{logical}.json"), "w") as f:
            json.dump(doc, f, indent=1)
    return sorted(cases)


def run_guard(w, binary):
    """The hook's rules themselves, through cfn-guard, when a binary is at hand
    (CFN_GUARD=path): every real role passes, each forged one fails (exit 19)."""
    import subprocess
    import tempfile

    problems = []
    with tempfile.TemporaryDirectory() as d:
        for name in hook_inputs(w, d):
            path = os.path.join(d, name.replace("/", "-") + ".json")
            # Structured output: cfn-guard 3.2.1's default reporter takes `Resources` for a
            # template and panics on a failure in the hook's input shape.
            r = subprocess.run([binary, "validate", "-r", "deploy/hooks/role-trust.guard", "-d", path,
                                "--structured", "-o", "json", "-S", "none"], capture_output=True, text=True)
            want_pass = not name.startswith("forged/")
            if r.returncode not in (0, 19) or (r.returncode == 0) != want_pass:
                problems.append(f"cfn-guard: {name}: exit {r.returncode}, want {'pass' if want_pass else 'fail'} "
                                f"{(r.stdout + r.stderr).strip()[:300]}")
    return problems


# --------------------------------------------------------------------------------------
# parliament over every rendered policy.
def lint(w):
    from parliament import analyze_policy_string

    allow = {}
    with open(ALLOWLIST) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, reason = line.partition(" # ")
            if not sep or not reason.strip():
                return [f"{ALLOWLIST}: no reason on: {line}"], 0
            allow[key.strip()] = reason
    problems, seen, count = [], set(), 0
    for name, doc in sorted(w["policies"].items()):
        # One line for both environments (their policies differ only in names), and each
        # statement on its own, named by its Sid, so a line says what it excuses.
        generic = re.sub(r"^(dev|prod)/", "", name)
        for i, stmt in enumerate(as_list(doc["Statement"])):
            where = f"{generic}/{stmt.get('Sid', i)}"
            one = {"Version": "2012-10-17", "Statement": [stmt]}
            policy = analyze_policy_string(json.dumps(one), include_community_auditors=True,
                                           ignore_private_auditors=True)
            for finding in policy.findings:
                count += 1
                key = f"{finding.issue} {where}"
                matched = [pattern for pattern in allow if fnmatch.fnmatchcase(key, pattern)]
                seen.update(matched)
                if not matched:
                    detail = {k: v for k, v in finding.location.items() if k not in ("line", "column", "filepath")}
                    problems.append(f"parliament: {key} -- {finding.title or finding.detail} {json.dumps(detail)[:200]}")
    for key in allow:
        if key not in seen:
            problems.append(f"{ALLOWLIST}: {key} no longer found: remove its line")
    return problems, count


# --------------------------------------------------------------------------------------
def self_test():
    """The evaluator's rules, each against a policy that would fail without it."""
    role = Principal("arn:aws:iam::1:role/r", [{"Statement": [
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret"},
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceTag/env": "dev"}}},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:ResourceTag/env": "prod"}}},
        {"Effect": "Allow", "Action": "iam:CreateRole", "Resource": "*",
         "Condition": {"ForAnyValue:StringEquals": {"aws:CalledVia": "cloudformation.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"Null": {"aws:RequestTag/env": "true"}}},
        {"Effect": "Allow", "Action": "lambda:*", "Resource": "*",
         "Condition": {"ArnLike": {"lambda:FunctionArn": "arn:aws:lambda:*:1:function:dev-*"}}},
    ]}])
    cases = [
        (role, "s3:GetObject", "arn:aws:s3:::b/x", {}, True),
        (role, "S3:getobject", "arn:aws:s3:::b/x", {}, True),  # actions ignore case
        (role, "s3:GetObject", "arn:aws:s3:::b/secret", {}, False),  # explicit deny wins
        (role, "s3:PutObject", "arn:aws:s3:::b/x", {}, False),  # implicit deny
        (role, "s3:GetObject", "arn:aws:s3:::B/x", {}, False),  # resources keep case
        (role, "sqs:DeleteQueue", "q", {"aws:ResourceTag/env": "dev"}, True),
        (role, "sqs:DeleteQueue", "q", {"aws:ResourceTag/env": "prod"}, False),
        (role, "sqs:DeleteQueue", "q", {}, False),  # absent key: positive operator false
        (role, "sns:Publish", "t", {}, True),  # absent key: negated operator true
        (role, "sns:Publish", "t", {"aws:ResourceTag/env": "prod"}, False),
        (role, "iam:CreateRole", "r", {}, False),  # ForAnyValue on an absent key
        (role, "iam:CreateRole", "r", {"aws:CalledVia": ["athena.amazonaws.com", "cloudformation.amazonaws.com"]}, True),
        (role, "kms:Decrypt", "k", {}, True),
        (role, "kms:Decrypt", "k", {"aws:RequestTag/env": "dev"}, False),
        (role, "lambda:GetFunction", "*", {"lambda:FunctionArn": "arn:aws:lambda:x:1:function:dev-a"}, True),
        (role, "lambda:GetFunction", "*", {"lambda:FunctionArn": "arn:aws:lambda:x:1:function:prod-a"}, False),
    ]
    bounded = Principal(role.arn, role.policies, {"Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    cases += [
        (bounded, "s3:GetObject", "arn:aws:s3:::b/x", {}, True),
        (bounded, "sqs:DeleteQueue", "q", {"aws:ResourceTag/env": "dev"}, False),  # outside the boundary
    ]
    failures = [c for c in cases if evaluate(*c[:4]) != c[4]]
    queue_policy = {"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
         "Resource": "q", "Condition": {"ArnEquals": {"aws:SourceArn": "rule"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "q",
         "Condition": {"ArnNotEquals": {"aws:SourceArn": "rule", "aws:PrincipalArn": "arn:aws:iam::1:role/f"}}}]}
    events = Principal(None, [], service="events.amazonaws.com")
    sender = Principal("arn:aws:iam::1:role/f", [{"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}])
    other = Principal("arn:aws:iam::1:role/g", sender.policies)
    for who, ctx, want in ((events, {"aws:SourceArn": "rule"}, True), (events, {"aws:SourceArn": "x"}, False),
                           (sender, {}, True), (other, {}, False)):
        if evaluate(who, "sqs:SendMessage", "q", ctx, queue_policy) != want:
            failures.append((who.arn or who.service, ctx, want))
    try:
        evaluate(role, "s3:GetObject", "x", {}, {"Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
             "Condition": {"NumericLessThan": {"a": "1"}}}]})
        failures.append("an unknown operator was accepted")
    except ValueError:
        pass
    # A bootstrap without the environment conditions must fail the questions: the
    # project-tag-only statement of before lets dev delete prod's API.
    old = {"Statement": [{"Effect": "Allow", "Action": "apigateway:*", "Resource": "*",
                          "Condition": {"StringEquals": {"aws:ResourceTag/project": "waffledotcom"}}}]}
    if not evaluate(Principal("arn:aws:iam::1:role/d", [old]), "apigateway:DELETE", "api", tags("prod")):
        failures.append("the old project-only statement should let dev delete prod's API")
    # The role-trust rule: CodeDeploy only alone, every role with the boundary.
    def role(*services, boundary=True):
        props = {"AssumeRolePolicyDocument": {"Statement": [
            {"Effect": "Allow", "Principal": {"Service": svc}, "Action": "sts:AssumeRole"} for svc in services]}}
        if boundary:
            props["PermissionsBoundary"] = "arn:aws:iam::1:policy/b"
        return props
    trust_cases = [
        (role("lambda.amazonaws.com"), True), (role(["lambda.amazonaws.com", "scheduler.amazonaws.com"]), True),
        (role(CODEDEPLOY), True), (role(CODEDEPLOY, CODEDEPLOY), True),
        (role(CODEDEPLOY, boundary=False), False), (role("lambda.amazonaws.com", boundary=False), False),
        (role([CODEDEPLOY]), False), (role([CODEDEPLOY, "lambda.amazonaws.com"]), False),
        (role(CODEDEPLOY, "lambda.amazonaws.com"), False), (role("lambda.amazonaws.com", CODEDEPLOY), False),
        (role("ec2.amazonaws.com"), False),
    ]
    failures += [("trust_ok", props, want) for props, want in trust_cases if trust_ok(props) != want]
    for f in failures:
        print(f"self-test: wrong answer: {f}", file=sys.stderr)
    total = len(cases) + 5 + len(trust_cases)
    print(f"check-iam self-test: {total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def main():
    if "--self-test" in sys.argv:
        return self_test()
    w = render()
    problems = check_stacks(w)
    answered = 0
    for text, who, action, resource, context, expect, queue_policy in questions(w):
        got = evaluate(who, action, resource, context, queue_policy)
        answered += 1
        if got != expect:
            problems.append(f"{text}: {'yes' if got else 'no'}, want {'yes' if expect else 'no'} "
                            f"({action} on {resource})")
    if "--hook-inputs" in sys.argv:
        hook_inputs(w, sys.argv[sys.argv.index("--hook-inputs") + 1])
    if os.environ.get("CFN_GUARD"):
        problems += run_guard(w, os.environ["CFN_GUARD"])
    if "--no-lint" not in sys.argv:
        lint_problems, findings = lint(w)
        problems += lint_problems
    for line in problems:
        print(f"iam: {line}", file=sys.stderr)
    if not problems:
        linted = ("lint skipped" if "--no-lint" in sys.argv else
                  f"{len(w['policies'])} rendered policies linted by parliament, {findings} findings, "
                  "each allowlisted with its reason")
        guard = "; the hook's rules checked by cfn-guard" if os.environ.get("CFN_GUARD") else ""
        print(f"iam: {answered} questions answered as expected for dev and prod in one account; {linted}{guard}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
