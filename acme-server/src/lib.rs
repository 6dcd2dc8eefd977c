//! e2ei-acme-server: the identity authority — RFC 8555 ACME with provisioners (Wire and
//! standard), over e2ei-acme's protocol rules and e2ei-sqlstore's storage.
//!
//! Built so far: directories per provisioner, nonces, accounts (create, find, update,
//! deactivate, key rollover, external account binding), Wire orders with `wire-dpop-01` and
//! `wire-oidc-01`, standard orders for DNS names with `http-01`, `dns-01` and `tls-alpn-01`
//! ([`standard`], [`validation`]), finalize and issuance, certificate download, revocation
//! through one path ([`revocation`]: ACME revokeCert and the admin API), CRL publishing
//! ([`publisher`]), `/roots.pem`, `/federation`; the `e2ei-acme-server` binary.

pub mod api;
pub mod app;
pub mod config;
pub mod issuer;
pub mod oidc;
pub mod publisher;
pub mod revocation;
pub mod standard;
pub mod store;
pub mod validation;

pub use app::{AppState, Provisioner, ProvisionerKind, Settings, SharedState};
