"""Registers a certbot account whose key is ECDSA P-256, with certbot's own code.

certbot 2.1 (Debian 12) creates every new account with an RSA key (JWS RS256). e2ei's JWS layer
verifies the workspace's key types only (Ed25519, ECDSA P-256/P-384/P-521), so certbot cannot
register by itself. certbot does sign with an EC account key it finds in its account store
(`acme_from_config_key` then picks ES256), so this script runs certbot's registration steps —
`acme_from_config_key`, `perform_registration`, `AccountFileStorage.save` — with an EC key; the
`certbot certonly` and `certbot revoke` that follow use that account unchanged.

Usage: REQUESTS_CA_BUNDLE=tls.pem python3 ec_account.py --server URL --config-dir D \
           --work-dir W --logs-dir L
"""

import sys

import josepy as jose
from certbot import configuration
from certbot._internal import account, cli, main
from certbot._internal.client import acme_from_config_key, perform_registration
from certbot._internal.plugins import disco
from cryptography.hazmat.primitives.asymmetric import ec


def register(argv):
    plugins = disco.PluginsRegistry.find_all()
    args = cli.prepare_and_parse_args(
        plugins,
        ["register", "--non-interactive", "--agree-tos", "--register-unsafely-without-email"]
        + argv,
    )
    config = configuration.NamespaceConfig(args)
    main.make_or_verify_needed_dirs(config)
    key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    acme = acme_from_config_key(config, key)
    regr = perform_registration(acme, config, None)
    registered = account.Account(regr, key)
    account.AccountFileStorage(config).save(registered, acme)
    print(registered.id)


if __name__ == "__main__":
    register(sys.argv[1:])
