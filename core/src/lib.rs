//! e2ei-core: the shared vocabulary of e2ei — typed Wire identifiers and `wireapp://` URIs,
//! the ACME identifier kinds, ciphersuites, public keys and JWK thumbprints, OIDs, certificate
//! profiles, path validation and the clock. No I/O.
#![forbid(unsafe_code)]

pub mod ciphersuite;
pub mod clock;
pub mod id;
pub mod identifier;
pub mod json;
pub mod jwk;
pub mod key;
pub mod oid;
pub mod path;
pub mod profile;
pub mod x509;
