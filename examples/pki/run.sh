#!/usr/bin/env bash
# Runs the example key ceremony for wire.example.com and its federation partner
# partner.example.org into OUTDIR, with keys in files (default) or, when
# E2EI_PKI_BACKEND=softhsm (see run-softhsm.sh), inside fresh SoftHSM2 tokens under OUTDIR.
#
# Prints the artefacts as name=path lines: root, intermediate, partner_root,
# partner_intermediate, cross_signed_intermediate, root_crl (and retired_intermediate).
# The e2ei-ca binary is taken from $E2EI_CA, or built with cargo.
set -euo pipefail

OUT=${1:?usage: run.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BACKEND=${E2EI_PKI_BACKEND:-file}

if [[ -z "${E2EI_CA:-}" ]]; then
  cargo build --quiet --manifest-path "$REPO/Cargo.toml" -p e2ei-ca
  E2EI_CA="${CARGO_TARGET_DIR:-$REPO/target}/debug/e2ei-ca"
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
for domain in wire.example.com partner.example.org; do
  if [[ -e "$OUT/$domain" ]]; then
    echo "run.sh: $OUT/$domain exists; refusing to overwrite a PKI" >&2
    exit 1
  fi
  mkdir -p "$OUT/$domain"
  (umask 077 && mkdir -p "$OUT/$domain/keys")
  cp "$HERE/$domain"/*.toml "$OUT/$domain/"
done

if [[ "$BACKEND" == softhsm ]]; then
  MODULE=${E2EI_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
  HSM="$OUT/softhsm"
  (umask 077 && mkdir -p "$HSM/tokens")
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$HSM" > "$HSM/softhsm2.conf"
  export SOFTHSM2_CONF="$HSM/softhsm2.conf"
  # Fresh random PINs in 0600 files; e2ei-ca reads them through pin-source, never argv.
  (umask 077
   od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$HSM/user.pin"
   od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$HSM/so.pin")
  for domain in wire.example.com partner.example.org; do
    # softhsm2-util only takes PINs as arguments; these are throwaway development tokens.
    softhsm2-util --init-token --free --label "$domain" \
      --so-pin "$(cat "$HSM/so.pin")" --pin "$(cat "$HSM/user.pin")" > /dev/null
    # Every file key becomes an object on the domain's token.
    sed -i -E "s#\"file:keys/([a-z-]+)\\.key\"#\"pkcs11:token=$domain;object=\\1?module-path=$MODULE\\&pin-source=file:$HSM/user.pin\"#" \
      "$OUT/$domain"/*.toml
  done
elif [[ "$BACKEND" != file ]]; then
  echo "run.sh: unknown E2EI_PKI_BACKEND=$BACKEND (file or softhsm)" >&2
  exit 2
fi

LOG="$OUT/ceremony.log"
: > "$LOG"
ceremony() { # ceremony DOMAIN NAME FILE
  echo "== $1: e2ei-ca $2 $3" >> "$LOG"
  "$E2EI_CA" "$2" "$OUT/$1/$3" >> "$LOG"
}

W=wire.example.com
P=partner.example.org
ceremony $W key root-key.toml
ceremony $W root root.toml
ceremony $W key intermediate-key.toml
ceremony $W intermediate intermediate.toml
ceremony $W key retired-intermediate-key.toml
ceremony $W intermediate retired-intermediate.toml
ceremony $P key root-key.toml
ceremony $P root root.toml
ceremony $P key intermediate-key.toml
ceremony $P intermediate intermediate.toml
ceremony $P cross-csr cross-csr.toml
ceremony $W cross-sign cross-sign.toml
ceremony $W crl crl.toml

echo "root=$OUT/$W/root.pem"
echo "intermediate=$OUT/$W/intermediate.pem"
echo "partner_root=$OUT/$P/root.pem"
echo "partner_intermediate=$OUT/$P/intermediate.pem"
echo "cross_signed_intermediate=$OUT/$W/cross-signed-partner-intermediate.pem"
echo "root_crl=$OUT/$W/root.crl"
echo "retired_intermediate=$OUT/$W/retired-intermediate.pem"
