# Shared set-up for .dev/run and .dev/test: installs what is missing, nothing else.
# Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root for: $*" >&2; return 1
  fi
}

# The version of a crate as locked in Cargo.lock.
locked_version() {
  awk -v want="name = \"$1\"" '$0 == want { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# The server links OpenSSL (josekit, the JWE crate of the Store API's PINs): its headers
# and pkg-config, from Debian's packages.
need_openssl_dev() {
  if ! pkg-config --exists openssl 2>/dev/null; then
    say "installing Debian's libssl-dev and pkg-config (the server links OpenSSL)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libssl-dev pkg-config >/dev/null
  fi
}

need_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

# .dev/build (and cargo-leptos, if used) runs the wasm-bindgen CLI from PATH; it must match
# the crate exactly.
wasm_bindgen_wanted() { locked_version wasm-bindgen; }
wasm_bindgen_present() {
  [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)" = "$(wasm_bindgen_wanted)" ]
}

# Installs it in the background when missing: .dev/build compiles meanwhile (on 2 cores a
# build leaves a core idle often enough) and waits for it only where the CLI is run.
start_wasm_bindgen() {
  WASM_BINDGEN_PID=
  if ! wasm_bindgen_present; then
    say "installing wasm-bindgen-cli $(wasm_bindgen_wanted) (about 3 minutes, once)"
    cargo install --quiet --locked "wasm-bindgen-cli@$(wasm_bindgen_wanted)" &
    WASM_BINDGEN_PID=$!
  fi
}

wait_wasm_bindgen() {
  if [ -n "${WASM_BINDGEN_PID:-}" ]; then
    wait "$WASM_BINDGEN_PID" || { echo "installing wasm-bindgen-cli failed" >&2; return 1; }
    WASM_BINDGEN_PID=
  fi
}

need_wasm_bindgen() {
  start_wasm_bindgen
  wait_wasm_bindgen
}

# The pinned npm build tools of .dev/tools: binaryen's wasm-opt (the release bundle, by
# .dev/build, and the storefront button, by server/build.rs; Debian's binaryen 108 breaks
# wasm-bindgen's output: a release bundle built with it fails to start in the browser),
# Lightning CSS for style/main.css and terser for the release bundle's JS — what
# cargo-leptos does in-process, so that cargo-leptos need not be compiled.
need_build_tools() {
  if [ ! -f .dev/tools/node_modules/.package-lock.json ] || [ .dev/tools/package-lock.json -nt .dev/tools/node_modules/.package-lock.json ]; then
    say "installing the pinned build tools (wasm-opt, lightningcss, terser from npm, in .dev/tools)"
    (cd .dev/tools && npm ci --no-audit --no-fund)
  fi
  export PATH="$ROOT/.dev/tools/node_modules/.bin:$PATH"
}

need_chromium() {
  if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    say "installing Debian's chromium for the browser tests"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
  fi
}

need_node_modules() {
  if [ ! -f end2end/node_modules/.package-lock.json ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "installing the browser-test packages (npm ci)"
    (cd end2end && npm ci --no-audit --no-fund)
  fi
}

postgres_url() {
  echo "${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
}

need_postgres() {
  if ! pg_isready -q -d "$(postgres_url)" 2>/dev/null; then
    say "PostgreSQL is not answering; trying to start the local cluster"
    if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
      as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
      sleep 2
    fi
    pg_isready -q -d "$(postgres_url)" || {
      echo "PostgreSQL is required for the tests: set TEST_POSTGRES_URL or start it on 127.0.0.1:5432" >&2
      return 1
    }
  fi
}

# The Stripe contract tests' Python tools (server/tests/api/stripe/): localstripe, a fake
# Stripe server, and Stripe's official SDK, pinned in .dev/contract/requirements.txt, in a
# virtualenv of their own beside the build (never vendored, never used at run time).
need_contract_venv() {
  local venv="${CARGO_TARGET_DIR:-$ROOT/target}/contract-venv"
  local stamp="$venv/.requirements.txt"
  if [ ! -x "$venv/bin/python" ] || ! cmp -s .dev/contract/requirements.txt "$stamp"; then
    say "installing the Stripe contract-test tools (localstripe, stripe) from PyPI into $venv"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r .dev/contract/requirements.txt
    cp .dev/contract/requirements.txt "$stamp"
  fi
  export PAYBRIDGE_CONTRACT_PYTHON="$venv/bin/python"
}
