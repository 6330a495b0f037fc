#!/usr/bin/env bash
# scripts/check-schema-compat against a synthetic release: a temporary clone of this
# repository, tagged v1.0.0 at its HEAD; then two revisions added on top, the first
# harmless (a nullable column: expand), the second one that breaks v1.0.0's teams code
# (a column it reads renamed: a contract too early). The check must fail and name the
# second. Also: with no tag it says it skipped. Expensive (it builds the tag twice):
# run it by hand or in CI's schema-compat job, not in .ci/run.
#
# Measured: 15 min on the shared 2-core machine with SCHEMA_COMPAT_TARGET=target/
# (dependencies already compiled; the tag built three times: revisions 9, 8, and the
# api tests of six crates each time).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# SCHEMA_COMPAT_TARGET: the script's default (target/schema-compat) unless set; pointing it at
# target/ reuses the compiled dependencies but overwrites target/debug's binaries with the
# tag's until the next cargo build.
git clone -q --no-local "$root" "$work/repo"
cd "$work/repo"
cp "$root/scripts/check-schema-compat" "$root/scripts/lib.sh" scripts/
# The test tools (moto) of this tree, when it has them, rather than a second install.
if [ -d "$root/target/venv" ]; then mkdir -p target && ln -s "$root/target/venv" target/venv; fi
g() { git -c user.name=t -c user.email=t@example.com "$@"; }
g commit -qam "tree under test" --allow-empty
fails=0
check() { # check <exit code> <text> <args...>
  local want="$1" text="$2"; shift 2
  set +e; out="$(scripts/check-schema-compat "$@" 2>&1)"; got=$?; set -e
  if [ "$got" != "$want" ] || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL: check-schema-compat $* exited $got (want $want), output lacks '$text':"
    echo "$out" | tail -n 60
    fails=$((fails + 1))
  else
    echo "ok: check-schema-compat $* → $got ($text)"
  fi
}

check 0 "SKIPPED: no release tag" -- --workspace --test api
g tag v1.0.0
check 0 "no revision since v1.0.0" -- --workspace --test api
head="$(ls migrations/*.up.sql | sed 's|.*/0*\([0-9]*\)_.*|\1|' | sort -n | tail -n 1)"
a="$(printf '%04d' $((head + 1)))" b="$(printf '%04d' $((head + 2)))"
echo 'ALTER TABLE `team` ADD COLUMN `motto` VARCHAR(100) NULL;' >"migrations/${a}_team_motto.up.sql"
echo 'ALTER TABLE `team` DROP COLUMN `motto`;' >"migrations/${a}_team_motto.down.sql"
echo 'ALTER TABLE `team` RENAME COLUMN `introduction` TO `about`;' >"migrations/${b}_rename_team_introduction.up.sql"
echo 'ALTER TABLE `team` RENAME COLUMN `about` TO `introduction`;' >"migrations/${b}_rename_team_introduction.down.sql"
g add migrations && g commit -qm "two revisions"
check 1 "revision $((10#$b)) (migrations/${b}_rename_team_introduction.up.sql) breaks v1.0.0's code" \
  -- --workspace --exclude migrate --test api
echo "check-schema-compat: $fails failed"
[ "$fails" = 0 ]
