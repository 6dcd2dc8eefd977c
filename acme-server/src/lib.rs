//! e2ei-acme-server: the identity authority — RFC 8555 ACME with provisioners (Wire and
//! standard), over e2ei-acme's protocol rules and e2ei-sqlstore's storage.
//!
//! Built so far: directories per provisioner, nonces, accounts (create, find, update,
//! deactivate, key rollover, external account binding), Wire orders with `wire-dpop-01`,
//! finalize and issuance, certificate download, `/roots.pem`; the `e2ei-acme-server` binary.
//! `wire-oidc-01`, standard challenges and revocation follow.

pub mod api;
pub mod app;
pub mod config;
pub mod issuer;
pub mod oidc;
pub mod store;

pub use app::{AppState, Provisioner, ProvisionerKind, Settings, SharedState};
