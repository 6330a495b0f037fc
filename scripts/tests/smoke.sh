#!/usr/bin/env bash
# scripts/smoke against the merged local server (target/debug/local, built beforehand:
# cargo build --workspace --bins; SMOKE_LOCAL_ARGS=--lambdas for the deployed shape,
# where every function's own binary answers behind the API Gateway stand-in) on a fresh
# database with the demo directory: it passes;
# asked for another schema version it fails naming readiness; against a port where
# nothing listens it fails every check. DATABASE_URL: an admin account on a server.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${SMOKE_BIN_DIR:-$root/target/debug}"
[ -x "$bin/local" ] && [ -x "$bin/dev" ] || { echo "build first: cargo build --workspace --bins" >&2; exit 2; }
server="${DATABASE_URL:-mysql://root@127.0.0.1:${WADOT_DB_PORT:-3407}/mysql}"
name="smoke_$$_$RANDOM"
url="${server%/*}/$name"
python3 - "$server" "$name" create <<'PY'
import subprocess, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
sql = f"CREATE DATABASE `{sys.argv[2]}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" if sys.argv[3] == "create" else f"DROP DATABASE IF EXISTS `{sys.argv[2]}`"
args = ["mariadb", "--protocol=tcp", "-h", u.hostname, "-P", str(u.port or 3306), "-u", u.username or "root", "-e", sql]
if u.password:
    args.insert(1, f"-p{urllib.parse.unquote(u.password)}")
subprocess.run(args, check=True)
PY
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DATABASE_URL="$url" BIND_ADDR="127.0.0.1:$port" RUST_LOG=warn
WADOT_DEV_DIR="$(mktemp -d)"
export WADOT_DEV_DIR
WAFFLE_JWT_PUBLIC_KEY="$("$bin/dev" key)"
export WAFFLE_JWT_PUBLIC_KEY WAFFLE_JWT_ISSUER=https://account-api-dev.wafflestudio.com
# shellcheck disable=SC2086 # SMOKE_LOCAL_ARGS: words
"$bin/local" ${SMOKE_LOCAL_ARGS:-} >"$WADOT_DEV_DIR/local.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$server" "$name" drop <<'PY' || true
import subprocess, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
args = ["mariadb", "--protocol=tcp", "-h", u.hostname, "-P", str(u.port or 3306), "-u", u.username or "root", "-e", f"DROP DATABASE IF EXISTS `{sys.argv[2]}`"]
if u.password:
    args.insert(1, f"-p{urllib.parse.unquote(u.password)}")
subprocess.run(args, check=True)
PY
  rm -rf "$WADOT_DEV_DIR"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$WADOT_DEV_DIR/local.log" >&2; exit 1; }
  sleep 0.2
done
"$bin/dev" demo >/dev/null
head="$(ls "$root"/migrations/*.up.sql | wc -l)"
fails=0
expect() { # expect <exit code> <text> <args...>
  local want="$1" text="$2"; shift 2
  set +e; out="$(SMOKE_TRIES="${TRIES:-5}" SMOKE_PAUSE_SECS=0.2 "$root/scripts/smoke" "$@" 2>&1)"; got=$?; set -e
  if [ "$got" != "$want" ] || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL: smoke $* exited $got (want $want), output lacks '$text':"; echo "$out"; fails=$((fails + 1))
  else
    echo "ok: smoke $* → $got ($text)"
  fi
}
expect 0 "answers as it should (5 checks)" "http://127.0.0.1:$port" --expect-schema "$head"
expect 1 "FAILED against http://127.0.0.1:$port: readiness" "http://127.0.0.1:$port" --expect-schema 999
free="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TRIES=1 expect 1 "readiness, member list, docs page, refused token" "http://127.0.0.1:$free"
echo "smoke: $fails failed"
[ "$fails" = 0 ]
