#!/usr/bin/env python3
"""Every parameter of template.yaml is satisfied for dev and prod by samconfig.toml or a
default, every samconfig override names a real parameter, and every SSM-typed parameter
points at a /waffledotcom/<env>/ path that deploy/bootstrap.yaml creates."""
import sys
import tomllib

import yaml


class Loader(yaml.SafeLoader):
    pass


# CloudFormation's short intrinsics (!Ref, !Sub, ...): kept as plain values.
def _any(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


Loader.add_multi_constructor("!", _any)


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


template = load("template.yaml")
bootstrap = load("deploy/bootstrap.yaml")
with open("samconfig.toml", "rb") as f:
    samconfig = tomllib.load(f)

created = {
    r["Properties"]["Name"]
    for r in bootstrap["Resources"].values()
    if r["Type"] == "AWS::SSM::Parameter"
}
params = template["Parameters"]
errors = []
for env in ("dev", "prod"):
    pairs = dict(
        item.split("=", 1)
        for item in samconfig[env]["deploy"]["parameters"]["parameter_overrides"]
    )
    for key in pairs:
        if key not in params:
            errors.append(f"{env}: samconfig sets {key}, which template.yaml lacks")
    for name, spec in params.items():
        value = pairs.get(name, spec.get("Default"))
        if value is None:
            errors.append(f"{env}: {name} has no default and no value in samconfig.toml")
            continue
        allowed = spec.get("AllowedValues")
        if allowed and str(value) not in [str(a) for a in allowed]:
            errors.append(f"{env}: {name}={value} is not one of {allowed}")
        if spec["Type"].startswith("AWS::SSM::Parameter::Value"):
            if not str(value).startswith(f"/waffledotcom/{env}/"):
                errors.append(f"{env}: {name} reads {value}, not under /waffledotcom/{env}/")
            # bootstrap names them with ${AppEnv}.
            if str(value).replace(f"/{env}/", "/${AppEnv}/", 1) not in created:
                errors.append(f"{env}: {name} reads {value}, which deploy/bootstrap.yaml does not create")
    if pairs.get("DomainName") and "CertificateArn" not in pairs:
        errors.append(f"{env}: DomainName without CertificateArn")
if errors:
    sys.exit("\n".join(errors))
print(f"{len(params)} parameters satisfied for dev and prod")
