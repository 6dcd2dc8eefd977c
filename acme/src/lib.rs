//! e2ei-acme: the ACME protocol as data, shared by the server and the client (RFC 8555, RFC 9773
//! renewal info, Wire's additions of protocol doc §4 and §15). Pure: no I/O.
//!
//! - [`jws`]: the request JWS — parse with every envelope rule, verify, sign; key rollover.
//! - [`messages`]: resources and request bodies.
//! - [`order`]: new-order identifier rules (Wire pair, DNS names) and the DNS name policy.
//! - [`challenge`]: the standard challenge types and their key-authorization values.
//! - [`problem`]: RFC 7807 problem documents with ACME error types.
//! - [`eab`]: external account binding (RFC 8555 §7.3.4).
//! - [`oidc`]: `wire-oidc-01` — ID-token verification over aws-lc-rs and the Wire claim checks.

pub mod challenge;
pub mod eab;
pub mod jws;
pub mod messages;
pub mod oidc;
pub mod order;
pub mod problem;

pub use problem::{Problem, ProblemType};
