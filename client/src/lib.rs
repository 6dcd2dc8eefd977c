//! e2ei-client: a Wire end-to-end-identity client — device enrollment exactly as Wire's
//! clients do it (wire-e2ei-protocol.md §4, §8.1, §9.3, §15).
//!
//! Entry point: [`enroll`] with [`EnrollmentSettings`] and an [`IdpLogin`] strategy
//! ([`LoginHintLogin`] for non-interactive logins, [`LoopbackLogin`] for a person with a
//! browser). It returns an [`Enrollment`]: the verified certificate chain, the MLS signing key
//! it certifies, the ACME account key and the identity.
//!
//! The protocol logic is pure where it can be: [`acme`] builds the ACME payloads and checks
//! every answer, [`backend`] and [`oidc`] parse theirs, [`csr`] builds the §7.1 CSR and
//! [`verify`] runs the §8.1 checks — all over plain values ([`HttpResponse`], certificates),
//! so each check is tested with crafted answers. The I/O (reqwest over rustls on aws-lc-rs) is
//! a thin layer in `session`, [`backend::BackendSession`], [`oidc::obtain_id_token`] and
//! [`enroll`].
#![forbid(unsafe_code)]

pub mod acme;
pub mod backend;
pub mod csr;
mod enroll;
mod error;
pub mod http;
pub mod oidc;
mod session;
pub mod status;
pub mod verify;

pub use backend::{Credentials, Login};
pub use enroll::{
    BackendAuth, DEFAULT_VALIDITY, Device, Enrollment, EnrollmentSettings, TrustAnchors, enroll,
    roots_url,
};
pub use error::{EnrollError, SettingsError};
pub use http::{HttpConfig, HttpResponse};
pub use oidc::{IdpLogin, LoginHintLogin, LoopbackLogin};
