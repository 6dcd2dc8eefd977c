#!/usr/bin/env bash
# The test command: installs what the tests need (idempotently), then runs formatting, lints
# and the whole test suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/e2ei-target}
export E2EI_CHECKS_VENV=${E2EI_CHECKS_VENV:-$HOME/.cache/e2ei-checks-venv}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# System packages: SoftHSM2 + OpenSC (PKCS#11), OpenSSL (independent verifier), PC/SC headers
# (the YubiKey backend builds under its feature), venv for pkilint, curl (HTTPS client in tests),
# Node.js + npm for the test IdP, certbot + lego (external ACME clients) and pebble (its
# pebble-challtestsrv is the DNS server those tests validate through).
apt_packages=(softhsm2 opensc openssl libengine-pkcs11-openssl libpcsclite-dev pkg-config python3-venv curl certbot lego pebble)
command -v npm > /dev/null || apt_packages+=(nodejs npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" > /dev/null
fi

# pkilint and scim2-tester in their own venv outside the clone (kept warm between runs).
if [[ ! -x "$E2EI_CHECKS_VENV/bin/lint_pkix_cert" || ! -x "$E2EI_CHECKS_VENV/bin/scim2" ]]; then
  [[ -x "$E2EI_CHECKS_VENV/bin/pip" ]] || python3 -m venv "$E2EI_CHECKS_VENV"
  "$E2EI_CHECKS_VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/checks-requirements.txt
fi

# The test IdP (oidc-provider) from its committed lockfile.
if [[ ! -d tests/idp/node_modules/oidc-provider ]] || [[ tests/idp/package-lock.json -nt tests/idp/node_modules/.package-lock.json ]]; then
  (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error)
fi

# Every PostgreSQL test makes a fresh schema `e2ei_…` in the test database; drop what earlier
# runs left so they do not pile up (this script is the only test run at a time).
PG_TEST_URL=${E2EI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
if command -v psql > /dev/null; then
  # One statement each (autocommit): a single transaction over hundreds of schemas runs out of
  # lock slots.
  psql "$PG_TEST_URL" -qAt -c "SELECT format('DROP SCHEMA %I CASCADE;', nspname) FROM pg_namespace WHERE nspname ~ '^e2ei_(t|e2e|migrate)_'" 2> /dev/null \
    | psql "$PG_TEST_URL" -q > /dev/null 2>&1 || true
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p e2ei-signer --features yubikey --all-targets --quiet -- -D warnings
cargo test --workspace 2>&1 | tee "$CARGO_TARGET_DIR/test-output.txt"

# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$CARGO_TARGET_DIR/test-output.txt"
