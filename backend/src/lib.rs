//! e2ei-backend: the messaging backend's side of E2EI — teams and users, Wire's access and user
//! tokens, clients, the DPoP nonce and access-token endpoints (protocol doc §2.3, §6.2), the
//! `mlsE2EId` team feature, the CRL proxy (§2.5), and SCIM 2.0 provisioning with deprovisioning
//! that revokes certificates. axum over sqlx (SQLite embedded,
//! PostgreSQL by URL).

pub mod api;
pub mod app;
pub mod config;
pub mod crl_proxy;
pub mod db;
pub mod error;
pub mod metrics;
pub mod notifications;
pub mod password;
pub mod revocations;
pub mod scim;
pub mod users;
pub mod zauth;

pub use app::{AppState, Settings, SharedState};
