//! `DIR/stack.json`: what a running stack tells scripts and tests (documented in the crate's
//! README). Paths are absolute. The file holds the dev admin's password, so it is written with
//! mode 0600.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StackJson {
    /// The identity authority.
    pub acme: AcmeJson,
    /// The messaging backend.
    pub backend: BackendJson,
    /// SCIM 2.0 at the backend, with the dev team's token.
    pub scim: Option<ScimJson>,
    /// The development-only IdP.
    pub idp: IdpJson,
    /// PEM of the TLS CA every HTTPS listener's certificate comes from.
    pub tls_ca_pem: PathBuf,
    /// The data directory.
    pub data_dir: PathBuf,
}

/// The authority.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AcmeJson {
    /// The authority's base URL.
    pub url: String,
    /// Directory of the Wire provisioner (the team's `acmeDiscoveryUrl`).
    pub wire_directory: String,
    /// Directory of the standard provisioner (certbot, lego: DNS names under the dev domain).
    pub standard_directory: String,
    /// PEM of the authority's root.
    pub roots_pem: PathBuf,
    /// Port the standard provisioner's `http-01` validation connects to.
    pub http01_port: u16,
    /// Port of `tls-alpn-01` validation.
    pub tlsalpn01_port: u16,
    /// `IP:PORT` (UDP) of the dev DNS responder the standard provisioner asks.
    pub dns_resolver: String,
    /// Base URL of the dev DNS responder's control endpoint (`POST /set-txt`, `/clear-txt`).
    pub dns_control_url: String,
    /// File holding the admin API's bearer token (`POST /admin/revocations`).
    pub admin_token_file: PathBuf,
}

/// The backend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackendJson {
    /// Base URL.
    pub url: String,
    /// Federation domain.
    pub domain: String,
    /// The dev team.
    pub team_id: String,
    /// Its owner.
    pub admin: AdminJson,
}

/// The dev team's owner.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdminJson {
    /// Login e-mail.
    pub email: String,
    /// Handle (also the dev IdP's login).
    pub handle: String,
    /// Password (generated on first run).
    pub password: String,
}

/// The dev IdP.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdpJson {
    /// Issuer URL (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// The OAuth client id (`wireapp`).
    pub client_id: String,
    /// A redirect URI for non-interactive logins (`login_hint`); any loopback URI works.
    pub redirect_uri: String,
}

impl StackJson {
    /// Reads `DIR/stack.json`.
    pub fn read(data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join("stack.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// SCIM at the backend: point an IdP's provisioning (or scim2-cli) here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScimJson {
    /// The SCIM base URL (`…/scim/v2`).
    pub url: String,
    /// The dev team's SCIM bearer token.
    pub token: String,
}
