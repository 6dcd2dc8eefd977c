//! e2ei-scim: SCIM 2.0 (RFC 7643, RFC 7644) as data, for the identity providers (Entra ID,
//! Okta, Keycloak, …) that provision Wire users and groups into e2ei. Pure: no I/O, no clock,
//! no randomness; identifiers and times come from the [`Directory`] behind the service.
//!
//! - [`schema`]: the User (core, Enterprise and e2ei extensions) and Group attribute definitions.
//! - [`filter`]: the filter grammar into a public AST, printing and evaluation.
//! - [`path`] and [`patch`]: PATCH paths and operations, with the shapes real IdPs send.
//! - [`resource`]: validation and normalisation of POST/PUT bodies, PUT merging.
//! - [`project`]: `attributes` / `excludedAttributes` and sorting.
//! - [`discovery`]: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.
//! - [`service`]: a framework-free request handler over the [`Directory`] storage trait.
//! - [`memory`]: an in-memory [`Directory`], the test twin of the SQL one.
#![forbid(unsafe_code)]

pub mod discovery;
pub mod error;
pub mod filter;
pub mod memory;
pub mod patch;
pub mod path;
pub mod project;
pub mod resource;
pub mod schema;
pub mod service;

pub use error::{ScimError, ScimType};
pub use filter::{AttrPath, CompValue, CompareOp, Filter, parse_filter};
pub use memory::MemoryDirectory;
pub use patch::apply_patch;
pub use path::{PatchPath, parse_patch_path};
pub use project::{SortOrder, sort_resources};
pub use resource::{merge_put, normalise_resource};
pub use schema::{ResourceKind, ResourceSchema};
pub use service::{
    Directory, DirectoryError, Page, Query, ScimRequest, ScimResponse, ScimService, ServiceConfig,
    Stored, render,
};
