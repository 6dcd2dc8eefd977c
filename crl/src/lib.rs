//! e2ei-crl: certificate revocation lists for the identity authority and for the clients that
//! check them (RFC 5280 §5; wire-e2ei-protocol.md §2.5, §8.3). Pure: bytes and typed values
//! in, typed results out; no I/O, and the time is always an input.
//!
//! - [`build`]: assemble a v2 CRL with e2ei-core, check it against the CRL profile, sign it
//!   through e2ei-signer (file, PKCS#11 and YubiKey keys alike).
//! - [`decode`]: untrusted bytes (DER or PEM) into a [`CrlIn`], walking the revoked list
//!   without allocating per entry.
//! - [`verify`]: a [`CrlIn`] checked against its issuer certificate at a given time becomes a
//!   [`VerifiedCrl`], the only way to obtain one.
//! - [`index`]: the revoked serial numbers of a verified CRL, for membership checks.
//! - [`shard`]: partitioning the revoked certificates of a large deployment over several CRLs,
//!   each at its own distribution point, and dropping entries after expiry.
#![forbid(unsafe_code)]

pub mod build;
pub mod decode;
pub mod index;
pub mod shard;
pub mod verify;

pub use build::{BuildError, PreparedCrl, SignedCrl, sign_crl};
pub use decode::CrlIn;
pub use e2ei_core::x509::{CrlParts, CrlReason, CrlScope, RevokedEntry};
pub use index::{RevocationIndex, Revoked};
pub use shard::{RevokedCertificate, ShardCrl, ShardId, Sharding};
pub use verify::{CrlNumber, VerifiedCrl, VerifyError, verify_crl};
