//! e2ei-stack: the one-command development stack. `e2ei-stack up --data-dir DIR` runs, in one
//! process, the identity authority (a Wire provisioner and a standard one), the messaging
//! backend, a development-only OIDC IdP ([`idp`]) and a development DNS responder ([`dns`]);
//! on first run it makes the PKI, the TLS certificates, the keys, the databases and a dev team,
//! and it describes itself in `DIR/stack.json` ([`contract`]).
//!
//! Entry points: [`start`] with [`Options`] returns a [`Running`] stack (tests run it in
//! process); [`demo::run`] drives two users through enrollment and revocation against a
//! running one (`e2ei-stack demo --data-dir DIR`).
//!
//! The IdP and the DNS responder are for development only: they authenticate nobody.

pub mod contract;
pub mod demo;
pub mod dns;
pub mod idp;
pub mod pki;
mod up;

pub use contract::StackJson;
pub use up::{ADMIN_HANDLE, DEFAULT_DOMAIN, Options, Running, start};
