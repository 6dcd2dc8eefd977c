//! The standard challenge types and what each one asks the validated host to show (RFC 8555
//! §8.1 key authorization, §8.3 `http-01`, §8.4 `dns-01`; RFC 8737 `tls-alpn-01`).
//!
//! Only the values live here; fetching and comparing them over the network is the server's job.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_core::ciphersuite::HashAlgorithm;
use e2ei_core::jwk::Jwk;

/// `http-01` (RFC 8555 §8.3).
pub const HTTP_01: &str = "http-01";
/// `dns-01` (RFC 8555 §8.4).
pub const DNS_01: &str = "dns-01";
/// `tls-alpn-01` (RFC 8737).
pub const TLS_ALPN_01: &str = "tls-alpn-01";

/// The ALPN protocol a `tls-alpn-01` responder negotiates (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The path prefix of the `http-01` resource (RFC 8555 §8.3).
pub const HTTP_01_PATH: &str = "/.well-known/acme-challenge/";

/// The label prepended to the validated name for the `dns-01` TXT record (RFC 8555 §8.4).
pub const DNS_01_LABEL: &str = "_acme-challenge";

/// A standard challenge type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StandardChallenge {
    /// `http-01`.
    Http01,
    /// `dns-01`.
    Dns01,
    /// `tls-alpn-01`.
    TlsAlpn01,
}

impl StandardChallenge {
    /// Every standard challenge, in the order authorizations list them.
    pub const ALL: [Self; 3] = [Self::Http01, Self::Dns01, Self::TlsAlpn01];

    /// The type name used in challenge objects.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http01 => HTTP_01,
            Self::Dns01 => DNS_01,
            Self::TlsAlpn01 => TLS_ALPN_01,
        }
    }

    /// Whether this challenge can prove control of a wildcard name: only `dns-01` can (RFC 8555
    /// §7.1.3, §8.3 and RFC 8737 §3 leave wildcards to DNS).
    pub fn proves_wildcards(self) -> bool {
        self == Self::Dns01
    }
}

impl fmt::Display for StandardChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown challenge type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a standard challenge type (http-01, dns-01, tls-alpn-01)")]
pub struct UnknownChallenge(pub String);

impl FromStr for StandardChallenge {
    type Err = UnknownChallenge;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownChallenge(s.to_owned()))
    }
}

/// The key authorization `token "." base64url(SHA-256 JWK thumbprint)` (RFC 8555 §8.1).
pub fn key_authorization(token: &str, account_key: &Jwk) -> String {
    e2ei_core::jwk::key_authorization(token, account_key)
}

/// The `dns-01` TXT value: base64url (unpadded) of SHA-256 of the key authorization (§8.4).
pub fn dns01_txt_value(key_authorization: &str) -> String {
    URL_SAFE_NO_PAD.encode(HashAlgorithm::Sha256.digest(key_authorization.as_bytes()))
}

/// The `tls-alpn-01` digest: SHA-256 of the key authorization (RFC 8737 §3).
pub fn tls_alpn01_digest(key_authorization: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&HashAlgorithm::Sha256.digest(key_authorization.as_bytes()));
    out
}

/// The DER `extnValue` content of the `id-pe-acmeIdentifier` extension: an OCTET STRING of
/// the 32-byte digest (RFC 8737 §3, `Authorization ::= OCTET STRING (SIZE (32))`).
pub fn tls_alpn01_extension_value(key_authorization: &str) -> Vec<u8> {
    let mut out = vec![0x04, 0x20];
    out.extend_from_slice(&tls_alpn01_digest(key_authorization));
    out
}

/// The `http-01` body check: equal to the key authorization once trailing whitespace is
/// dropped (RFC 8555 §8.3 lets servers ignore it).
pub fn http01_body_matches(body: &[u8], key_authorization: &str) -> bool {
    body.trim_ascii_end() == key_authorization.as_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn challenge_names_round_trip_and_only_dns_01_proves_wildcards() {
        for c in StandardChallenge::ALL {
            assert_eq!(c.name().parse::<StandardChallenge>().unwrap(), c);
        }
        assert!("wire-dpop-01".parse::<StandardChallenge>().is_err());
        assert!(StandardChallenge::Dns01.proves_wildcards());
        assert!(!StandardChallenge::Http01.proves_wildcards());
        assert!(!StandardChallenge::TlsAlpn01.proves_wildcards());
    }

    #[test]
    fn derived_values_follow_rfc_8555_and_rfc_8737() {
        // SHA-256("token.thumb") computed independently:
        // printf token.thumb | openssl dgst -sha256 -binary | basenc --base64url, unpadded
        let keyauth = "token.thumb";
        assert_eq!(
            dns01_txt_value(keyauth),
            "lCdftpJCXapaZHkBGIZbcubeKW8RmA0jSG_aZN01zbU"
        );
        let value = tls_alpn01_extension_value(keyauth);
        assert_eq!(&value[..2], &[0x04, 0x20]);
        assert_eq!(&value[2..], &tls_alpn01_digest(keyauth));
        assert_eq!(
            URL_SAFE_NO_PAD.encode(tls_alpn01_digest(keyauth)),
            dns01_txt_value(keyauth)
        );
    }

    #[test]
    fn http01_body_ignores_only_trailing_whitespace() {
        assert!(http01_body_matches(b"tok.thumb\r\n \t", "tok.thumb"));
        assert!(!http01_body_matches(b" tok.thumb", "tok.thumb"));
        assert!(!http01_body_matches(b"tok.thumbx", "tok.thumb"));
        assert!(!http01_body_matches(b"", "tok.thumb"));
    }
}
