#!/usr/bin/env bash
# The load generator (tests/e2e/benches/load.rs): builds the release service binaries, then
# measures Wire enrollments and standard http-01 issuances per second against them, and the same
# http-01 load against pebble. Settings pass through the environment (E2EI_LOAD_CONCURRENCY,
# E2EI_LOAD_ENROLLMENTS, E2EI_LOAD_ISSUANCES, E2EI_LOAD_RUNS, E2EI_LOAD_DATABASES,
# E2EI_LOAD_PARTS; see the bench's header). Needs node with tests/idp/node_modules, openssl,
# pebble (Debian package) and, for the PostgreSQL figures, the local test database.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/e2ei-target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

if [[ ! -d tests/idp/node_modules/oidc-provider ]]; then
  (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo build --release --quiet -p e2ei-acme-server -p e2ei-backend
# The bench profile inherits release, so the clients are optimised as the services are.
E2EI_SERVICE_BIN_DIR="$CARGO_TARGET_DIR/release" cargo bench --quiet -p e2ei-e2e-tests --bench load
