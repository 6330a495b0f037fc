#!/usr/bin/env python3
"""The workflows' supply-chain rules (docs/deploy.md, "How a deploy runs"):
- every remote action is pinned to a full 40-hex commit SHA;
- a job holding `id-token: write` builds nothing: before its credentials step it runs
  only checkout, download-artifact and hash-locked pip installs, and after it exactly
  one step, which runs the deploy;
- every workflow sets `permissions:` at the top."""
import glob
import re
import sys

import yaml

SHA = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
SAFE_BEFORE = ("actions/checkout@", "actions/download-artifact@")
errors = []
for path in sorted(glob.glob(".github/workflows/*.y*ml")):
    with open(path) as f:
        wf = yaml.safe_load(f)
    if "permissions" not in wf:
        errors.append(f"{path}: no top-level permissions")
    for name, job in wf.get("jobs", {}).items():
        where = f"{path}: job {name}"
        uses = job.get("uses")
        if uses and not uses.startswith("./") and not SHA.match(uses):
            errors.append(f"{where}: {uses} is not pinned to a commit SHA")
        steps = job.get("steps", [])
        for step in steps:
            u = step.get("uses")
            if u and not u.startswith("./") and not SHA.match(u):
                errors.append(f"{where}: {u} is not pinned to a commit SHA")
        perms = job.get("permissions") or wf.get("permissions") or {}
        if not (isinstance(perms, dict) and perms.get("id-token") == "write"):
            continue
        creds = [i for i, s in enumerate(steps)
                 if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")]
        if len(creds) != 1:
            errors.append(f"{where}: id-token without exactly one credentials step")
            continue
        for step in steps[: creds[0]]:
            u, run = step.get("uses"), step.get("run", "")
            if u and not u.startswith(SAFE_BEFORE):
                errors.append(f"{where}: runs {u} in a job that will hold credentials")
            if re.search(r"\bcargo\b|scripts/package|\bnpm\b|\bmake\b", run):
                errors.append(f"{where}: builds in a job that will hold credentials: {run!r}")
            if "pip" in run and "--require-hashes" not in run:
                errors.append(f"{where}: pip without --require-hashes: {run!r}")
        after = steps[creds[0] + 1:]
        if len(after) != 1 or "SKIP_PACKAGE" not in str(after[0].get("env", {})) and "sam deploy" not in after[0].get("run", ""):
            errors.append(f"{where}: the credentials must serve exactly one deploy step")
if errors:
    sys.exit("\n".join(errors))
print("workflows: actions pinned to SHAs; no credentials while building")
