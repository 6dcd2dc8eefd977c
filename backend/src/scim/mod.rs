//! SCIM 2.0 provisioning (RFC 7643, RFC 7644) into the backend: e2ei-scim's request handling
//! over [`directory::SqlDirectory`], per-team bearer tokens ([`tokens`]), and deprovisioning
//! that ends a user's devices and revokes their certificates ([`crate::revocations`]).

pub mod directory;
pub mod tokens;

/// `[scim]` as the service uses it.
#[derive(Debug, Clone)]
pub struct ScimSettings {
    /// The base URL of `/scim/v2` as IdPs reach it (`meta.location`, member `$ref`s).
    pub public_url: String,
    /// Largest page of a query.
    pub max_results: u64,
}

impl ScimSettings {
    /// The default largest page.
    pub const DEFAULT_MAX_RESULTS: u64 = 1000;

    /// Settings for a backend whose federation domain is `domain`.
    pub fn for_domain(domain: &str) -> Self {
        Self {
            public_url: format!("https://{domain}/scim/v2"),
            max_results: Self::DEFAULT_MAX_RESULTS,
        }
    }
}
