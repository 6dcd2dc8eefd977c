#!/usr/bin/env bash
# The example ceremony of run.sh with every CA key generated inside fresh SoftHSM2 tokens
# (one per domain) created under OUTDIR. Needs softhsm2 (module /usr/lib/softhsm/libsofthsm2.so,
# or set E2EI_PKCS11_MODULE).
set -euo pipefail
E2EI_PKI_BACKEND=softhsm exec "$(dirname "$0")/run.sh" "$@"
