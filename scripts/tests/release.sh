#!/usr/bin/env bash
# scripts/release-assets and scripts/rollback on synthetic releases, in a temporary clone
# of this repository (the real one has no release yet): the assets of a first release and
# of a second, then a rollback to the first that deploys its stored build (DRY_RUN: the
# sam deploy it would run), says what happens to the schema, and refuses a tampered build.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q --no-local "$root" "$work/repo"
cd "$work/repo"
# The tree under test, uncommitted changes included.
for f in scripts/release-assets scripts/rollback scripts/openapi-diff.py scripts/check-api-types scripts/deploy; do cp "$root/$f" "$f"; done
# -p keeps the installed node_modules older than the lockfile's copy, so
# scripts/check-api-types reuses it instead of running `npm ci` again in the clone.
mkdir -p tools && rm -rf tools/api-types && cp -rp "$root/tools/api-types" tools/api-types
g() { git -c user.name=t -c user.email=t@example.com "$@"; }
g add -A && g commit -qm "tree under test" --allow-empty
fails=0
check() { # check <exit code> <text> <command...>
  local want="$1" text="$2"; shift 2
  set +e; out="$("$@" 2>&1)"; got=$?; set -e
  if [ "$got" != "$want" ] || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL: $* exited $got (want $want), output lacks '$text':"; echo "$out" | tail -n 30; fails=$((fails + 1))
  else
    echo "ok: $* → $got ($text)"
  fi
}
# A build as scripts/package leaves it (the binaries' contents do not matter here).
lambda="$work/lambda"
for f in health users migrate; do mkdir -p "$lambda/$f" && echo "binary of $f" >"$lambda/$f/bootstrap"; done
(cd "$lambda" && sha256sum */bootstrap) >"$lambda/migrate/code.sha256"

check 1 "CHANGELOG.md has no section \`## 1.0.0\`" scripts/release-assets v1.0.0 "$work/out1" "$lambda"
python3 - <<'PY'
text = open("CHANGELOG.md").read()
open("CHANGELOG.md", "w").write(text.replace("## Unreleased\n", "## Unreleased\n\n## 1.0.0 (2026-12-08)\n\n- The first release.\n", 1))
PY
g commit -qam "release 1.0.0" && g tag v1.0.0
check 0 "lambda-v1.0.0.tar.gz" scripts/release-assets v1.0.0 "$work/out1" "$lambda"
check 0 "The first release." cat "$work/out1/notes.md"
check 0 "there is no previous release to compare with" cat "$work/out1/api-diff.md"
check 0 "package/index.d.ts" tar -tzf "$work/out1/waffledotcom-api-1.0.0.tgz"
check 0 '"version": "1.0.0"' tar -xzOf "$work/out1/waffledotcom-api-1.0.0.tgz" package/package.json
check 0 "lambda-v1.0.0.tar.gz: OK" bash -c "cd '$work/out1' && sha256sum --check SHA256SUMS"

# A second release: a new route (MINOR) and a new revision.
python3 - <<'PY'
import json
d = json.load(open("docs/openapi.json"))
d["paths"]["/api/v1/new-thing"] = json.loads(json.dumps(d["paths"]["/api/v1/batch/schedule"]))
d["paths"]["/api/v1/new-thing"]["get"]["operationId"] = "new_thing"
json.dump(d, open("docs/openapi.json", "w"), indent=2)
text = open("CHANGELOG.md").read()
open("CHANGELOG.md", "w").write(text.replace("## Unreleased\n", "## Unreleased\n\n## 1.1.0\n\n- A new thing.\n", 1))
PY
head="$(ls migrations/*.up.sql | wc -l)"; next="$(printf '%04d' $((head + 1)))"
echo 'ALTER TABLE `team` ADD COLUMN `motto` VARCHAR(100) NULL;' >"migrations/${next}_team_motto.up.sql"
echo 'ALTER TABLE `team` DROP COLUMN `motto`;' >"migrations/${next}_team_motto.down.sql"
g add -A && g commit -qm "release 1.1.0" && g tag v1.1.0
check 0 "release-assets:" scripts/release-assets v1.1.0 "$work/out2"
check 0 "| MINOR | \`/api/v1/new-thing\` | new route |" cat "$work/out2/notes.md"

# Roll back to v1.0.0 from here (revision $next applied by v1.1.0): its stored build.
mkdir -p "$work/bin" && printf '#!/bin/sh\necho "sam must not run in this test" >&2; exit 1\n' >"$work/bin/sam" && chmod +x "$work/bin/sam"
export PATH="$work/bin:$PATH"
sha="$(git rev-list -n 1 v1.0.0)"
check 0 "ReleaseId=\\\"v1.0.0@$sha+rollback\\\"" env ROLLBACK_ARTIFACTS="$work/out1" DRY_RUN=1 scripts/rollback v1.0.0
check 0 "revisions $((head + 1))..$((head + 1)) (this checkout's) remain applied" env ROLLBACK_ARTIFACTS="$work/out1" DRY_RUN=1 scripts/rollback v1.0.0
check 0 "sam deploy --config-env prod --template-file template.yaml" env ROLLBACK_ARTIFACTS="$work/out1" DRY_RUN=1 scripts/rollback v1.0.0
cp -r "$work/out1" "$work/tampered" && echo extra >>"$work/tampered/lambda-v1.0.0.tar.gz"
check 1 "does not match the release's SHA256SUMS; nothing deployed" env ROLLBACK_ARTIFACTS="$work/tampered" DRY_RUN=1 scripts/rollback v1.0.0
check 1 "the release has no stored build" env ROLLBACK_ARTIFACTS="$work/out2" DRY_RUN=1 scripts/rollback v1.1.0
check 2 "no tag v9.9.9" scripts/rollback v9.9.9
echo "release: $fails failed"
[ "$fails" = 0 ]
