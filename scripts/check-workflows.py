#!/usr/bin/env python3
"""The workflows' supply-chain rules (docs/deploy.md, "How a deploy runs"):
- every remote action is pinned to a full 40-hex commit SHA;
- a job holding `id-token: write` builds nothing: before its credentials step it runs
  only checkout, download-artifact and hash-locked pip installs, and after it exactly
  one step, which runs the deploy;
- every workflow sets `permissions:` at the top;
- a job that builds or uploads an artifact (scripts/package, cargo build,
  upload-artifact) restores no cache: no cache action, no `cache:` input of a setup
  action (a cache is written by less trusted runs);
- every tool is hash-locked: `pip install` only `--require-hashes -r <lock>`, `cargo
  install` only `--locked --version`, no `npm install`/`npx`, no `curl`/`wget` download
  without a `sha256sum -c` in the same step; scripts/lib.sh's pip installs likewise;
- `sudo` only for `apt-get`: nothing else runs as root.

`--self-test` feeds it a workflow breaking each rule in turn and fails unless each is
rejected (and the real workflows accepted)."""
import glob
import re
import sys

import yaml

SHA = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
SAFE_BEFORE = ("actions/checkout@", "actions/download-artifact@")
CACHE_ACTIONS = ("actions/cache@", "actions/cache/restore@", "Swatinem/rust-cache@",
                 "mozilla-actions/sccache-action@")
BUILDS = re.compile(r"\bcargo\s+(build|lambda)\b|scripts/package")


def on_of(wf):
    # PyYAML reads the key `on` as True.
    return wf.get("on", wf.get(True))


def check_run(where, run):
    errors = []
    for line in re.split(r"\n|&&|;|\|\|", run):
        line = line.strip()
        if re.search(r"\bpip3?\"?\s+install\b|-m\s+pip\s+install\b", line):
            if "--require-hashes" not in line or not re.search(r"\s-r\s", line):
                errors.append(f"{where}: pip install without --require-hashes -r <lock>: {line!r}")
        if re.search(r"\bcargo\s+install\b", line) and not ("--locked" in line and "--version" in line):
            errors.append(f"{where}: cargo install without --locked --version: {line!r}")
        if re.search(r"\bnpm\s+(install|i)\b|\bnpx\b", line):
            errors.append(f"{where}: npm install/npx is not hash-locked (npm ci with a lock file): {line!r}")
        if re.search(r"(^|\s)sudo\s", line) and not re.search(r"(^|\s)sudo\s+(DEBIAN_FRONTEND=\S+\s+)?apt-get\s", line):
            errors.append(f"{where}: sudo for something other than apt-get: {line!r}")
    if re.search(r"\b(curl|wget)\b", run) and "sha256sum -c" not in run and "sha256sum --check" not in run:
        errors.append(f"{where}: downloads with curl/wget without checking a pinned sha256 in the same step")
    return errors


def check_workflow(path, wf):
    errors = []
    if "permissions" not in wf:
        errors.append(f"{path}: no top-level permissions")
    for name, job in (wf.get("jobs") or {}).items():
        where = f"{path}: job {name}"
        uses = job.get("uses")
        if uses and not uses.startswith("./") and not SHA.match(uses):
            errors.append(f"{where}: {uses} is not pinned to a commit SHA")
        steps = job.get("steps", [])
        builds = any(BUILDS.search(str(s.get("run", ""))) or
                     str(s.get("uses", "")).startswith("actions/upload-artifact@") for s in steps)
        for i, step in enumerate(steps):
            u = step.get("uses")
            at = f"{where} step {step.get('name', u or i)}"
            if u and not u.startswith("./") and not SHA.match(u):
                errors.append(f"{where}: {u} is not pinned to a commit SHA")
            if builds and u and (u.startswith(CACHE_ACTIONS) or "cache" in (step.get("with") or {})):
                errors.append(f"{where}: restores a cache in a job that builds or uploads an artifact ({u})")
            errors += check_run(at, str(step.get("run", "")))
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
        after = steps[creds[0] + 1:]
        if len(after) != 1 or "SKIP_PACKAGE" not in str(after[0].get("env", {})) and "sam deploy" not in after[0].get("run", ""):
            errors.append(f"{where}: the credentials must serve exactly one deploy step")
    return errors


def check_lib(path, text):
    """The install commands of the scripts CI runs (scripts/lib.sh)."""
    errors = []
    for n, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        if re.search(r"pip\"?\s+install\b", code):
            # The arguments may continue on the next line.
            rest = code + " " + (text.splitlines()[n] if n < len(text.splitlines()) else "")
            if "--require-hashes" not in rest:
                errors.append(f"{path}:{n}: pip install without --require-hashes: {line.strip()!r}")
        if re.search(r"\bcargo\s+install\b", code) and "--locked" not in code:
            errors.append(f"{path}:{n}: cargo install without --locked: {line.strip()!r}")
    return errors


def check_all(workflows, libs):
    errors = []
    for path, wf in workflows.items():
        errors += check_workflow(path, wf)
    for path, text in libs.items():
        errors += check_lib(path, text)
    return errors


def load_repo():
    workflows = {}
    for path in sorted(glob.glob(".github/workflows/*.y*ml")):
        with open(path) as f:
            workflows[path] = yaml.safe_load(f)
    with open("scripts/lib.sh") as f:
        return workflows, {"scripts/lib.sh": f.read()}


SHA1 = "0123456789abcdef0123456789abcdef01234567"
GOOD = {
    "on": {"push": {"tags": ["v*"]}},
    "permissions": {},
    "jobs": {
        "build": {
            "runs-on": "ubuntu-latest", "permissions": {"contents": "read"},
            "steps": [
                {"uses": f"actions/checkout@{SHA1}"},
                {"run": "sudo apt-get install -y qemu-user"},
                {"run": "python3 -m venv v && v/bin/pip install --no-deps --require-hashes -r deploy/x.txt"},
                {"run": "scripts/package"},
                {"uses": f"actions/upload-artifact@{SHA1}", "with": {"name": "a", "path": "p"}},
            ],
        },
        "deploy": {
            "runs-on": "ubuntu-latest", "permissions": {"id-token": "write"},
            "steps": [
                {"uses": f"actions/download-artifact@{SHA1}"},
                {"uses": f"aws-actions/configure-aws-credentials@{SHA1}"},
                {"env": {"SKIP_PACKAGE": "1"}, "run": "scripts/deploy prod"},
            ],
        },
    },
}


def self_test():
    import copy

    def variant(change):
        wf = copy.deepcopy(GOOD)
        change(wf)
        return wf

    build = lambda wf: wf["jobs"]["build"]["steps"]  # noqa: E731
    cases = {
        "unpinned action": lambda wf: build(wf).insert(0, {"uses": "actions/checkout@v5"}),
        "no top-level permissions": lambda wf: wf.pop("permissions"),
        "rust cache in the release build": lambda wf: build(wf).insert(1, {"uses": f"Swatinem/rust-cache@{SHA1}"}),
        "actions/cache in the release build": lambda wf: build(wf).insert(1, {"uses": f"actions/cache@{SHA1}", "with": {"path": "target", "key": "k"}}),
        "setup action with cache in the release build": lambda wf: build(wf).insert(1, {"uses": f"actions/setup-python@{SHA1}", "with": {"cache": "pip"}}),
        "pip without hashes": lambda wf: build(wf).insert(1, {"run": "pip install 'cfn-lint>=1,<2'"}),
        "pip -r without --require-hashes": lambda wf: build(wf).insert(1, {"run": "python3 -m pip install -r deploy/x.txt"}),
        "cargo install unlocked": lambda wf: build(wf).insert(1, {"run": "cargo install cargo-deny"}),
        "npm install": lambda wf: build(wf).insert(1, {"run": "npm install -g something"}),
        "curl without a checksum": lambda wf: build(wf).insert(1, {"run": "curl -sSfL https://example.invalid/tool -o tool && chmod +x tool"}),
        "sudo for the build": lambda wf: build(wf).insert(1, {"run": 'sudo -E env "PATH=$PATH" bash .ci/run'}),
        "build while holding credentials": lambda wf: wf["jobs"]["deploy"]["steps"].insert(0, {"run": "cargo build"}),
        "two steps after the credentials": lambda wf: wf["jobs"]["deploy"]["steps"].append({"run": "echo hi"}),
    }
    failures = []
    if check_all({"good.yaml": GOOD}, {}):
        failures.append(f"the good workflow is rejected: {check_all({'good.yaml': GOOD}, {})}")
    for what, change in cases.items():
        if not check_all({"bad.yaml": variant(change)}, {}):
            failures.append(f"not rejected: {what}")
    lib_cases = {
        "lib.sh pip without hashes": '"$venv/bin/pip" install -q \'moto[server]>=5,<6\' >&2\n',
        "lib.sh cargo install unlocked": "cargo install --root x cargo-deny\n",
    }
    for what, text in lib_cases.items():
        if not check_all({}, {"lib.sh": text}):
            failures.append(f"not rejected: {what}")
    good_lib = '"$venv/bin/pip" install -q --no-deps --require-hashes \\\n  -r "$lock" >&2\n'
    if check_all({}, {"lib.sh": good_lib}):
        failures.append("a hash-locked lib.sh install is rejected")
    total = len(cases) + len(lib_cases) + 2
    for f in failures:
        print(f"check-workflows self-test: {f}", file=sys.stderr)
    print(f"check-workflows self-test: {total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def main():
    if "--self-test" in sys.argv:
        return self_test()
    errors = check_all(*load_repo())
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print("workflows: actions pinned to SHAs; no credentials while building; no cache in a "
          "release build; every tool hash-locked; root only for apt-get")
    return 0


if __name__ == "__main__":
    sys.exit(main())
