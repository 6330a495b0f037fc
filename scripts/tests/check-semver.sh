#!/usr/bin/env bash
# scripts/check-semver against synthetic release tags, in a temporary clone of this
# repository (the real one has no release tag yet, and its tags are left alone).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q --no-local "$root" "$work/repo"
cd "$work/repo"
# The tree under test, uncommitted changes included, on top of the clone's HEAD.
cp "$root/scripts/check-semver" "$root/scripts/openapi-diff.py" scripts/
cp "$root/docs/openapi.json" docs/openapi.json
git -c user.name=t -c user.email=t@example.com commit -qam "tree under test" --allow-empty
g() { git -c user.name=t -c user.email=t@example.com "$@"; }
fails=0
expect() { # expect <exit code> <text in output> <args...>
  local want="$1" text="$2"; shift 2
  set +e; out="$(scripts/check-semver "$@" 2>&1)"; got=$?; set -e
  if [ "$got" != "$want" ] || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL: check-semver $* exited $got (want $want), output lacks '$text':"; echo "$out"
    fails=$((fails + 1))
  else
    echo "ok: check-semver $* → $got ($text)"
  fi
}
edit() { # edit <python statements on d, the document>
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open("docs/openapi.json"))
exec(sys.argv[1])
json.dump(d, open("docs/openapi.json", "w"), indent=2)
PY
  g commit -qam "edit"
}

# No release yet: a loud skip, not a pass.
expect 0 "SKIPPED, no earlier release tag" v1.0.0
expect 0 "SKIPPED" --implied
expect 2 "not a release tag" 1.0
g tag v1.0.0

# A breaking change (a route removed) with a minor bump: refused, the change printed.
edit 'del d["paths"]["/api/v1/batch/schedule"]'
expect 1 "REFUSED: v1.1.0 is a MINOR bump over v1.0.0, but the API change needs MAJOR" v1.1.0
expect 1 "/api/v1/batch/schedule: route removed" v1.0.1
expect 0 "ok: v2.0.0 is a MAJOR bump" v2.0.0
expect 0 "implied bump: MAJOR (next release at least v2.0.0)" --implied
g tag v2.0.0

# An optional request field: MINOR; a patch bump is refused; read from the tag once it exists.
edit 'd["components"]["schemas"]["UserPatchBody"]["properties"]["nickname"] = {"type": "string"}'
expect 1 "needs MINOR" v2.0.1
g tag v2.1.0
expect 0 "ok: v2.1.0 is a MINOR bump over v2.0.0" v2.1.0

# A narrowed request enum and a new required field are breaking; a response field removed too.
edit 'd["components"]["schemas"]["UserPatchBody"]["properties"]["nickname"]["enum"] = ["a", "b"]'
expect 1 "enum added" v2.2.0
edit 'd["components"]["schemas"]["UserCreateBody"].setdefault("required", []).append("nickname"); d["components"]["schemas"]["UserCreateBody"]["properties"]["nickname"] = {"type": "string"}'
expect 1 "new required field" v2.2.0
edit 'u = d["components"]["schemas"]["UserView"]; u["properties"].pop("github_id"); u["required"].remove("github_id")'
expect 1 "github_id: field removed" v2.2.0

# A hotfix of the v1 line compares with v1.0.0, not with the newest tag.
g checkout -q v1.0.0
g checkout -q -b hotfix
cp "$root/scripts/check-semver" "$root/scripts/openapi-diff.py" scripts/
expect 0 "API changes from v1.0.0" v1.0.1

echo "check-semver: $fails failed"
[ "$fails" = 0 ]
