//! e2ei-dpop: Wire's DPoP proofs and access tokens (protocol doc §5.2, §5.3, §6.1, §6.2, §6.4).
//!
//! Three parties use this crate:
//!
//! - the **client** builds a proof with its ACME account key: [`build_proof`];
//! - the **backend** verifies the proof and mints an access token with its key of the proof's
//!   algorithm: [`ProofVerifier`] → [`ProofAwaitingNonce`] → [`VerifiedProof::mint`], or
//!   [`mint_access_token`] in one call; errors carry their Wire label ([`MintError::wire_label`]);
//! - the **ACME server** verifies the access token and the proof inside it for a
//!   `wire-dpop-01` challenge: [`AccessTokenVerifier`] (optionally strict, §6.4).
//!
//! Underneath is a strict compact JWS layer ([`jws`]) where `alg` comes from the key type.
//! The crate is pure: no I/O, no async; time comes from an injected [`Clock`](e2ei_core::clock::Clock).

pub mod acme;
pub mod backend;
mod claims;
pub mod jws;
pub mod nonce;
pub mod proof;
pub mod replay;
mod url;

pub use acme::{
    AccessTokenError, AccessTokenVerifier, AcmePolicy, BackendPublicKeys, ChallengeExpectations,
    StrictChecks, VerifiedAccessToken,
};
pub use backend::{
    AccessToken, BackendExpectations, BackendKeys, BackendPolicy, MintError, ProofAwaitingNonce,
    ProofVerifier, VerifiedProof, mint_access_token,
};
pub use nonce::{MemoryNonceStore, NonceStore, new_backend_nonce};
pub use proof::{BuildError, ProofOptions, ProofRequest, build_proof};
pub use replay::{JtiReplayCache, MemoryReplayCache, ReplayKey, ReplayOutcome};

/// Proofs longer than this are refused unread. Real proofs are under 2 KiB.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Access tokens (which embed the proof) longer than this are refused unread.
pub const MAX_ACCESS_TOKEN_LEN: usize = 16 * 1024;

/// `typ` of an access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The access token's `scope`.
pub const ACCESS_TOKEN_SCOPE: &str = "wire_client_id";

/// The access token's `api_version` (wire-server constant).
pub const ACCESS_TOKEN_API_VERSION: u64 = 5;

/// A random (version 4) UUID from the crypto backend's generator.
pub(crate) fn random_uuid() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    // aws-lc's generator does not fail in practice; a zero UUID would still be unique enough
    // for `jti`, whose uniqueness nobody relies on for security (§10.14).
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
