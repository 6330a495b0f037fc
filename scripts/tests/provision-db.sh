#!/usr/bin/env bash
# provision_db and ensure_mariadb_server (scripts/lib.sh) on a PATH without MariaDB, with
# stand-ins for apt-get, brew, id and uname that record how they were called: with
# DATABASE_URL nothing is installed or looked for; without it, Debian as root installs
# mariadb-server, Debian as a user and macOS without Homebrew print the one command to
# run, macOS with Homebrew runs `brew install mariadb` and finds its binaries.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/brew/bin"
for tool in bash cat dirname mkdir rm touch; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
calls="$work/calls"
# Each stand-in logs its arguments; FAKE_UID, FAKE_OS and FAKE_BREW choose the machine.
cat >"$work/bin/id" <<'SH'
#!/bin/bash
[ "$1" = -u ] && { echo "${FAKE_UID:-0}"; exit; }; echo tester
SH
cat >"$work/bin/uname" <<'SH'
#!/bin/bash
echo "${FAKE_OS:-Linux}"
SH
cat >"$work/bin/apt-get" <<'SH'
#!/bin/bash
echo "apt-get $*" >>"$CALLS"
SH
cat >"$work/brew/brew" <<'SH'
#!/bin/bash
echo "brew $*" >>"$CALLS"
case "$1" in
  --prefix) echo "$FAKE_BREW" ;;
  install) for b in mariadbd mariadb-install-db mariadb; do
      printf '#!/bin/bash\n' >"$FAKE_BREW/bin/$b"; chmod +x "$FAKE_BREW/bin/$b"; done ;;
esac
SH
chmod +x "$work/bin/"* "$work/brew/brew"

fails=0
run() { # run <name> <expected exit> <text in output, or -> <calls expected, or -> <env...> -- <shell code>
  local name="$1" want="$2" text="$3" want_calls="$4"; shift 4
  local envs=(); while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  : >"$calls"
  set +e
  out="$(env -i PATH="$work/bin" CALLS="$calls" FAKE_BREW="$work/brew" SBIN_DIRS= HOME="$work" \
    ${envs[@]+"${envs[@]}"} bash -c "source '$root/scripts/lib.sh'; $1" 2>&1)"
  got=$?
  set -e
  local made; made="$(cat "$calls")"
  if [ "$got" != "$want" ] || { [ "$text" != - ] && ! grep -qF -- "$text" <<<"$out"; } \
    || { [ "$want_calls" = - ] && [ -n "$made" ]; } \
    || { [ "$want_calls" != - ] && ! grep -qF -- "$want_calls" <<<"$made"; }; then
    echo "FAIL: $name: exit $got (want $want); output: $out; calls: ${made:-none}"
    fails=$((fails + 1))
  else
    echo "ok: $name"
  fi
}

run "DATABASE_URL set: nothing installed, nothing looked for" 0 "using DATABASE_URL" - \
  DATABASE_URL=mysql://root@db.example:3306/x -- 'provision_db; echo "$DATABASE_URL"'
run "Debian as root: apt-get installs mariadb-server" 0 - "apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client" \
  -- ensure_mariadb_server
run "Debian as a user: the command to run" 1 "Install it (as root): apt-get install mariadb-server mariadb-client" - \
  FAKE_UID=1000 -- ensure_mariadb_server
run "macOS without Homebrew: the command to run" 1 "brew install mariadb" - \
  FAKE_OS=Darwin -- ensure_mariadb_server
run "macOS with Homebrew: brew install mariadb, then its binaries are found" 0 "$work/brew/bin/mariadbd" "brew install mariadb" \
  FAKE_OS=Darwin FAKE_UID=501 -- 'PATH="$PATH:$FAKE_BREW"; ensure_mariadb_server; find_bin mariadbd'
echo "provision-db: $fails failed"
[ "$fails" = 0 ]
