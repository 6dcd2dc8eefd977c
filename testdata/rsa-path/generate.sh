#!/bin/sh
# Regenerates the RSA path-validation fixtures of core/src/path/tests.rs with the openssl CLI
# (OpenSSL 3.0 or later). Fixed subjects, serials, extensions and lifetimes; keys are fresh on
# each run and not kept (only the certificates are committed). The tests validate at one hour
# after each fixture leaf's notBefore, so regenerating needs no test change.
#
#   root.pem            RSA-2048 root, sha256WithRSAEncryption, self-signed
#   leaf-sha256.pem     RSA-2048 leaf under root.pem, sha256WithRSAEncryption (PKCS#1 v1.5)
#   leaf-pss.pem        RSA-2048 leaf under root.pem, RSASSA-PSS SHA-256 / MGF1-SHA-256 / salt 32
#   leaf-sha1.pem       RSA-2048 leaf under root.pem, sha1WithRSAEncryption (must be refused)
#   root-1024.pem       RSA-1024 root, self-signed
#   leaf-under-1024.pem RSA-2048 leaf under root-1024.pem, sha256 (must be refused: weak key)
#   root-2052.pem       RSA-2052 root, self-signed (must be refused: not a multiple of 8 bits)
set -eu
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > ca.ext <<'EXT'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EXT
cat > leaf.ext <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:leaf.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT

root() { # <name> <bits> <serial>
    openssl req -new -newkey "rsa:$2" -nodes -keyout "$1.key" -subj "/O=e2ei test/CN=RSA Root $2" \
        -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -signkey "$1.key" -set_serial "$3" -days 7300 -sha256 \
        -extfile ca.ext -out "$out/$1.pem" 2>/dev/null
}
leaf() { # <name> <issuer> <serial> <openssl signing options...>
    name=$1 issuer=$2 serial=$3
    shift 3
    openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -subj "/CN=leaf.example.com" \
        -out "$name.csr" 2>/dev/null
    openssl x509 -req -in "$name.csr" -CA "$out/$issuer.pem" -CAkey "$issuer.key" \
        -set_serial "$serial" -days 3650 -extfile leaf.ext "$@" -out "$out/$name.pem" 2>/dev/null
}

root root 2048 1
root root-1024 1024 2
root root-2052 2052 3
leaf leaf-sha256 root 10 -sha256
leaf leaf-pss root 11 -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
    -sigopt rsa_mgf1_md:sha256
leaf leaf-sha1 root 12 -sha1
leaf leaf-under-1024 root-1024 13 -sha256
