//! The SCIM request handler (RFC 7644 §3): routes, content types, ETags and preconditions,
//! paging, and the one place where [`ScimError`] and [`DirectoryError`] become responses.
//! Framework-free: the HTTP edge builds a [`ScimRequest`] and writes out the [`ScimResponse`].
//!
//! | method | path | RFC 7644 |
//! |---|---|---|
//! | GET, POST | `/Users`, `/Groups` | §3.4.2, §3.3 |
//! | GET, PUT, PATCH, DELETE | `/Users/{id}`, `/Groups/{id}` | §3.4.1, §3.5.1, §3.5.2, §3.6 |
//! | POST | `/Users/.search`, `/Groups/.search` | §3.4.3 |
//! | GET | `/ServiceProviderConfig`, `/ResourceTypes[/{name}]`, `/Schemas[/{urn}]` | §4 |
//!
//! `POST /.search` searches Users then Groups as one list; `/Bulk` answers 501; unknown paths 404; known paths with
//! another method 405.

use std::future::Future;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::discovery::{self, LIST_RESPONSE_SCHEMA};
use crate::error::ScimError;
use crate::filter::{AttrPath, Filter, get_ci, parse_filter};
use crate::patch::{PatchOperation, apply_operations, parse_patch_request};
use crate::project::{Projection, SortOrder, parse_attribute_list, project};
use crate::resource::{merge_put, normalise_resource, stamp_e2ei_user};
pub use crate::schema::ResourceKind;

/// The SearchRequest message URN (RFC 7644 §3.4.3).
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// The media type of every response (RFC 7644 §3.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// A stored resource as the [`Directory`] keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The server-assigned id.
    pub id: String,
    /// Incremented on every write; the ETag is `W/"<version>"`.
    pub version: u64,
    /// When it was created.
    pub created: OffsetDateTime,
    /// When it last changed.
    pub last_modified: OffsetDateTime,
    /// The normalised resource WITHOUT `id` and `meta` (`schemas`, `userName`, …, extensions).
    pub document: Value,
}

/// A list query: filter, sort, and a 1-based page.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Only resources matching this (see [`Filter::matches`]).
    pub filter: Option<Filter>,
    /// Sort by this attribute (see [`crate::sort_resources`]); else a stable order of the
    /// directory's choosing (creation order is a good one).
    pub sort: Option<(AttrPath, SortOrder)>,
    /// 1-based index of the first result returned.
    pub start_index: u64,
    /// How many results at most (0: none, only the total).
    pub count: u64,
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// How many resources match the filter in all.
    pub total_results: u64,
    /// The page's resources, in order.
    pub resources: Vec<Stored>,
}

/// What a [`Directory`] reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// No such resource in this tenant → 404.
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint (userName, case-insensitive) → 409 `uniqueness`.
    #[error("uniqueness conflict: {0}")]
    Conflict(String),
    /// A value the directory refuses (e.g. a group member that does not exist) → 400
    /// `invalidValue`; the message goes to the client.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The stored version is not the expected one → 412 (or a retry).
    #[error("version mismatch")]
    VersionMismatch,
    /// Anything else → 500; the message stays on the server.
    #[error("internal: {0}")]
    Internal(String),
}

/// Storage for SCIM resources, per tenant. Implemented over SQL by the backend and in memory
/// by [`crate::MemoryDirectory`]. Documents come in normalised and must come back unchanged;
/// ids, versions and times are the directory's.
///
/// Contract: `userName` is unique per tenant, case-insensitively (→ `Conflict`); group
/// members' `value`s name existing resources of the tenant (→ `InvalidValue`); `query`
/// honours filter, sort and paging exactly, evaluating whatever it cannot translate with
/// [`Filter::matches`] and [`crate::sort_resources`] over [`render`]ed resources.
pub trait Directory: Send + Sync {
    /// Store a new resource; assign its id, version 1 and times.
    fn create(
        &self,
        tenant: &str,
        kind: ResourceKind,
        document: Value,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send;
    /// Fetch one resource.
    fn get(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send;
    /// List resources.
    fn query(
        &self,
        tenant: &str,
        kind: ResourceKind,
        query: &Query,
    ) -> impl Future<Output = Result<Page, DirectoryError>> + Send;
    /// Replace the document if the stored version is still `expected_version` (else VersionMismatch).
    fn replace(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        expected_version: u64,
        document: Value,
    ) -> impl Future<Output = Result<Stored, DirectoryError>> + Send;
    /// Delete a resource, if its version is `expected_version` when given (else VersionMismatch).
    fn delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;
}

/// The ETag of a version: `W/"<version>"`.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The URL of a resource.
pub fn location(kind: ResourceKind, id: &str, base_url: &str) -> String {
    format!(
        "{}{}/{}",
        base_url.trim_end_matches('/'),
        kind.endpoint(),
        id
    )
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A stored resource as clients see it: `schemas`, `id`, the document, then `meta`
/// (`resourceType`, `created`, `lastModified`, `location`, `version` = the ETag).
pub fn render(kind: ResourceKind, stored: &Stored, base_url: &str) -> Value {
    let mut out = Map::new();
    if let Some(s) = get_ci(&stored.document, "schemas") {
        out.insert("schemas".into(), s.clone());
    }
    out.insert("id".into(), Value::String(stored.id.clone()));
    if let Some(doc) = stored.document.as_object() {
        for (k, v) in doc {
            if !["schemas", "id", "meta"]
                .iter()
                .any(|r| r.eq_ignore_ascii_case(k))
            {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": rfc3339(stored.created),
            "lastModified": rfc3339(stored.last_modified),
            "location": location(kind, &stored.id, base_url),
            "version": etag(stored.version),
        }),
    );
    Value::Object(out)
}

/// Limits of a [`ScimService`].
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Most resources per page (`count` is capped to it; it is also the default page size),
    /// advertised as `filter.maxResults`.
    pub max_results: u64,
    /// Largest request body accepted (else 413).
    pub max_body_bytes: usize,
    /// How many times a PUT or PATCH without `If-Match` is retried when the resource changes
    /// between read and write.
    pub write_retries: u32,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            max_results: 200,
            max_body_bytes: 1 << 20,
            write_retries: 3,
        }
    }
}

/// A request, as the HTTP edge hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ScimRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path after the SCIM base (`/scim/v2`), e.g. `/Users/abc`.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// The `If-Match` header.
    pub if_match: Option<&'a str>,
    /// The `If-None-Match` header.
    pub if_none_match: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// A response for the HTTP edge to write.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers (`Content-Type`, `Location`, `ETag`, `Allow`).
    pub headers: Vec<(&'static str, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl ScimResponse {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type", SCIM_CONTENT_TYPE.to_owned())],
            body: Some(body.to_string().into_bytes()),
        }
    }

    /// The response for an error (RFC 7644 §3.12).
    pub fn error(e: &ScimError) -> Self {
        Self::json(e.status, &e.to_json())
    }

    /// The value of a header, by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Value::Null` when there is none or it is not JSON).
    pub fn json_body(&self) -> Value {
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null)
    }
}

fn directory_error(e: DirectoryError) -> ScimError {
    match e {
        DirectoryError::NotFound => ScimError::not_found("resource not found"),
        DirectoryError::Conflict(m) => ScimError::uniqueness(m),
        DirectoryError::InvalidValue(m) => ScimError::invalid_value(m),
        DirectoryError::VersionMismatch => ScimError::precondition_failed(),
        DirectoryError::Internal(_) => ScimError::internal(),
    }
}

/// Whether an `If-Match` / `If-None-Match` header names this version (`*` names any).
pub fn etag_matches(header: &str, version: u64) -> bool {
    let v = version.to_string();
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).trim_matches('"') == v)
}

fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, ScimError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = hex else {
                    return Err(ScimError::invalid_value("bad percent-encoding in the URL"));
                };
                out.push(byte);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ScimError::invalid_value("the URL does not decode to UTF-8"))
}

/// The list parameters of a GET query or a SearchRequest body.
#[derive(Debug, Default)]
struct ListParams {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Option<String>,
    excluded: Option<String>,
}

/// A ListResponse (RFC 7644 §3.4.2).
fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> ScimResponse {
    ScimResponse::json(
        200,
        &json!({
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": total,
            "itemsPerPage": resources.len(),
            "startIndex": start_index,
            "Resources": resources,
        }),
    )
}

/// List parameters, parsed: what `list` and `search_all` share.
struct PageRequest {
    filter: Option<Filter>,
    sort_by: Option<AttrPath>,
    order: SortOrder,
    start_index: u64,
    count: u64,
    attrs: Attrs,
}

impl PageRequest {
    /// Parses `p`; `count` is capped at `max_results`, `startIndex` below 1 is 1 (§3.4.2.4).
    fn parse(p: &ListParams, max_results: u64) -> Result<Self, ScimError> {
        let filter = match p.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(parse_filter(f)?),
            None => None,
        };
        let order = p
            .sort_order
            .as_deref()
            .map(SortOrder::parse)
            .transpose()?
            .unwrap_or_default();
        let sort_by = match p
            .sort_by
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(s) => Some(AttrPath::parse(s)?),
            None => None,
        };
        let count = match p.count {
            None => max_results,
            Some(c) => u64::try_from(c.max(0)).unwrap_or(0).min(max_results),
        };
        Ok(Self {
            filter,
            sort_by,
            order,
            start_index: u64::try_from(p.start_index.unwrap_or(1).max(1)).unwrap_or(1),
            count,
            attrs: Attrs::parse(p.attributes.as_deref(), p.excluded.as_deref())?,
        })
    }
}

fn parse_int(name: &str, s: &str) -> Result<i64, ScimError> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
}

impl ListParams {
    fn from_query(query: Option<&str>) -> Result<Self, ScimError> {
        let mut p = Self::default();
        for pair in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k, true)?;
            let v = percent_decode(v, true)?;
            match k.to_ascii_lowercase().as_str() {
                "filter" => p.filter = Some(v),
                "sortby" => p.sort_by = Some(v),
                "sortorder" => p.sort_order = Some(v),
                "startindex" => p.start_index = Some(parse_int("startIndex", &v)?),
                "count" => p.count = Some(parse_int("count", &v)?),
                "attributes" => p.attributes = Some(v),
                "excludedattributes" => p.excluded = Some(v),
                _ => {}
            }
        }
        Ok(p)
    }

    fn from_search(body: &Value) -> Result<Self, ScimError> {
        if !body.is_object() {
            return Err(ScimError::invalid_syntax(
                "the SearchRequest must be a JSON object",
            ));
        }
        let listed = get_ci(body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
                })
            });
        if !listed {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {SEARCH_REQUEST_SCHEMA}"
            )));
        }
        let string = |name: &str| -> Result<Option<String>, ScimError> {
            match get_ci(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str().ok_or_else(|| {
                            ScimError::invalid_syntax(format!("{name}: expected strings"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| Some(v.join(","))),
                Some(_) => Err(ScimError::invalid_syntax(format!(
                    "{name}: expected a string"
                ))),
            }
        };
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            match get_ci(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    ScimError::invalid_syntax(format!("{name}: expected an integer"))
                }),
            }
        };
        Ok(Self {
            filter: string("filter")?,
            sort_by: string("sortBy")?,
            sort_order: string("sortOrder")?,
            start_index: int("startIndex")?,
            count: int("count")?,
            attributes: string("attributes")?,
            excluded: string("excludedAttributes")?,
        })
    }
}

struct Attrs {
    only: Option<Vec<AttrPath>>,
    excluded: Option<Vec<AttrPath>>,
}

impl Attrs {
    fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        Ok(Self {
            only: attributes
                .map(parse_attribute_list)
                .transpose()?
                .filter(|v| !v.is_empty()),
            excluded: excluded
                .map(parse_attribute_list)
                .transpose()?
                .filter(|v| !v.is_empty()),
        })
    }

    fn from_query(query: Option<&str>) -> Result<Self, ScimError> {
        let p = ListParams::from_query(query)?;
        Self::parse(p.attributes.as_deref(), p.excluded.as_deref())
    }

    fn projection(&self) -> Projection<'_> {
        match (&self.only, &self.excluded) {
            (Some(o), _) => Projection::Only(o),
            (None, Some(e)) => Projection::Excluding(e),
            (None, None) => Projection::Default,
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("malformed JSON: {e}")))
}

/// A SCIM service over a [`Directory`].
#[derive(Debug)]
pub struct ScimService<D> {
    directory: D,
    base_url: String,
    config: ServiceConfig,
}

enum Route<'a> {
    Collection(ResourceKind),
    Search(Option<ResourceKind>),
    Item(ResourceKind, &'a str),
    ServiceProviderConfig,
    ResourceTypes(Option<&'a str>),
    Schemas(Option<&'a str>),
    Bulk,
}

fn route(path: &str) -> Option<Route<'_>> {
    let path = path.trim_end_matches('/');
    let segs: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let kind = |s: &str| match s {
        "Users" => Some(ResourceKind::User),
        "Groups" => Some(ResourceKind::Group),
        _ => None,
    };
    Some(match segs.as_slice() {
        [".search"] => Route::Search(None),
        ["Bulk"] => Route::Bulk,
        ["ServiceProviderConfig"] => Route::ServiceProviderConfig,
        ["ResourceTypes"] => Route::ResourceTypes(None),
        ["ResourceTypes", n] => Route::ResourceTypes(Some(n)),
        ["Schemas"] => Route::Schemas(None),
        ["Schemas", n] => Route::Schemas(Some(n)),
        [k] => Route::Collection(kind(k)?),
        [k, ".search"] => Route::Search(Some(kind(k)?)),
        [k, id] if !id.is_empty() => Route::Item(kind(k)?, id),
        _ => return None,
    })
}

fn method_not_allowed(allow: &str) -> ScimResponse {
    let mut r = ScimResponse::error(&ScimError::new(
        405,
        None,
        format!("method not allowed; allowed: {allow}"),
    ));
    r.headers.push(("Allow", allow.to_owned()));
    r
}

fn check_content_type(ct: Option<&str>) -> Result<(), ScimError> {
    let ok = ct
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .is_some_and(|m| {
            m.eq_ignore_ascii_case(SCIM_CONTENT_TYPE) || m.eq_ignore_ascii_case("application/json")
        });
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            415,
            None,
            "Content-Type must be application/scim+json or application/json",
        ))
    }
}

impl<D: Directory> ScimService<D> {
    /// A service answering for resources under `base_url` (e.g. `https://host/scim/v2`).
    pub fn new(directory: D, base_url: String, config: ServiceConfig) -> Self {
        Self {
            directory,
            base_url: base_url.trim_end_matches('/').to_owned(),
            config,
        }
    }

    /// The directory behind the service.
    pub fn directory(&self) -> &D {
        &self.directory
    }

    /// Handle one request for a tenant. Never fails: every error becomes a SCIM error response.
    pub async fn handle(&self, tenant: &str, req: ScimRequest<'_>) -> ScimResponse {
        match self.dispatch(tenant, req).await {
            Ok(r) => r,
            Err(e) => ScimResponse::error(&e),
        }
    }

    async fn dispatch(
        &self,
        tenant: &str,
        req: ScimRequest<'_>,
    ) -> Result<ScimResponse, ScimError> {
        if req.body.len() > self.config.max_body_bytes {
            return Err(ScimError::new(
                413,
                None,
                format!(
                    "request body larger than {} bytes",
                    self.config.max_body_bytes
                ),
            ));
        }
        let Some(route) = route(req.path) else {
            return Err(ScimError::not_found(format!(
                "no SCIM endpoint at {}",
                req.path
            )));
        };
        let m = req.method.to_ascii_uppercase();
        let m = m.as_str();
        let has_body = matches!(
            (&route, m),
            (Route::Collection(_) | Route::Search(Some(_)), "POST")
                | (Route::Item(..), "PUT" | "PATCH")
        );
        if has_body {
            check_content_type(req.content_type)?;
        }
        match (route, m) {
            (Route::Collection(kind), "GET") => {
                let p = ListParams::from_query(req.query)?;
                self.list(tenant, kind, p).await
            }
            (Route::Collection(kind), "POST") => self.create(tenant, kind, req).await,
            (Route::Collection(_), _) => Ok(method_not_allowed("GET, POST")),
            (Route::Search(Some(kind)), "POST") => {
                let p = ListParams::from_search(&parse_json(req.body)?)?;
                self.list(tenant, kind, p).await
            }
            (Route::Search(None), "POST") => {
                let p = ListParams::from_search(&parse_json(req.body)?)?;
                self.search_all(tenant, p).await
            }
            (Route::Search(_), _) => Ok(method_not_allowed("POST")),
            (Route::Item(kind, id), "GET") => self.get(tenant, kind, id, req).await,
            (Route::Item(kind, id), "PUT") => self.put(tenant, kind, id, req).await,
            (Route::Item(kind, id), "PATCH") => self.patch(tenant, kind, id, req).await,
            (Route::Item(kind, id), "DELETE") => self.delete(tenant, kind, id, req).await,
            (Route::Item(..), _) => Ok(method_not_allowed("GET, PUT, PATCH, DELETE")),
            (Route::Bulk, "POST") => Err(ScimError::new(
                501,
                None,
                "bulk operations are not supported",
            )),
            (Route::Bulk, _) => Ok(method_not_allowed("POST")),
            (Route::ServiceProviderConfig, "GET") => Ok(ScimResponse::json(
                200,
                &discovery::service_provider_config(&self.base_url, self.config.max_results),
            )),
            (Route::ResourceTypes(None), "GET") => Ok(ScimResponse::json(
                200,
                &discovery::list_response(discovery::resource_types(&self.base_url)),
            )),
            (Route::ResourceTypes(Some(n)), "GET") => {
                let n = percent_decode(n, false)?;
                discovery::find_resource_type(&n, &self.base_url)
                    .map(|d| ScimResponse::json(200, &d))
                    .ok_or_else(|| ScimError::not_found(format!("no resource type {n:?}")))
            }
            (Route::Schemas(None), "GET") => Ok(ScimResponse::json(
                200,
                &discovery::list_response(discovery::schemas(&self.base_url)),
            )),
            (Route::Schemas(Some(n)), "GET") => {
                let n = percent_decode(n, false)?;
                discovery::find_schema(&n, &self.base_url)
                    .map(|d| ScimResponse::json(200, &d))
                    .ok_or_else(|| ScimError::not_found(format!("no schema {n:?}")))
            }
            (Route::ServiceProviderConfig | Route::ResourceTypes(_) | Route::Schemas(_), _) => {
                Ok(method_not_allowed("GET"))
            }
        }
    }

    fn resource_response(
        &self,
        status: u16,
        kind: ResourceKind,
        stored: &Stored,
        attrs: &Attrs,
    ) -> ScimResponse {
        let rendered = render(kind, stored, &self.base_url);
        let body = project(&rendered, kind.schema(), attrs.projection());
        let mut r = ScimResponse::json(status, &body);
        r.headers
            .push(("Location", location(kind, &stored.id, &self.base_url)));
        r.headers.push(("ETag", etag(stored.version)));
        r
    }

    async fn list(
        &self,
        tenant: &str,
        kind: ResourceKind,
        p: ListParams,
    ) -> Result<ScimResponse, ScimError> {
        let schema = kind.schema();
        let page = PageRequest::parse(&p, self.config.max_results)?;
        if let Some(f) = &page.filter {
            f.validate(schema)?;
        }
        let query = Query {
            filter: page.filter,
            sort: page.sort_by.map(|by| (by, page.order)),
            start_index: page.start_index,
            count: page.count,
        };
        let found = self
            .directory
            .query(tenant, kind, &query)
            .await
            .map_err(directory_error)?;
        let resources: Vec<Value> = found
            .resources
            .iter()
            .take(usize::try_from(page.count).unwrap_or(usize::MAX))
            .map(|s| {
                project(
                    &render(kind, s, &self.base_url),
                    schema,
                    page.attrs.projection(),
                )
            })
            .collect();
        Ok(list_response(
            found.total_results,
            page.start_index,
            resources,
        ))
    }

    /// `POST /.search` (RFC 7644 §3.4.3): Users, then Groups, paged as one list. A filter
    /// naming an attribute one type lacks selects none of that type; `sortBy` orders within
    /// each type.
    async fn search_all(&self, tenant: &str, p: ListParams) -> Result<ScimResponse, ScimError> {
        let page = PageRequest::parse(&p, self.config.max_results)?;
        let mut total = 0u64;
        let mut resources = Vec::new();
        // Where the requested window starts, counted within the types not yet listed.
        let mut skip = page.start_index - 1;
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let schema = kind.schema();
            if page
                .filter
                .as_ref()
                .is_some_and(|f| f.validate(schema).is_err())
            {
                continue;
            }
            let sort = page
                .sort_by
                .as_ref()
                .filter(|by| schema.resolve(by).is_some())
                .map(|by| (by.clone(), page.order));
            let wanted = page.count.saturating_sub(resources.len() as u64);
            let query = Query {
                filter: page.filter.clone(),
                sort,
                start_index: skip + 1,
                count: wanted,
            };
            let found = self
                .directory
                .query(tenant, kind, &query)
                .await
                .map_err(directory_error)?;
            total += found.total_results;
            skip = skip.saturating_sub(found.total_results);
            resources.extend(
                found
                    .resources
                    .iter()
                    .take(usize::try_from(wanted).unwrap_or(usize::MAX))
                    .map(|s| {
                        project(
                            &render(kind, s, &self.base_url),
                            schema,
                            page.attrs.projection(),
                        )
                    }),
            );
        }
        Ok(list_response(total, page.start_index, resources))
    }

    fn prepare(&self, tenant: &str, kind: ResourceKind, mut doc: Value) -> Value {
        if kind == ResourceKind::User {
            stamp_e2ei_user(&mut doc, tenant);
        }
        doc
    }

    async fn create(
        &self,
        tenant: &str,
        kind: ResourceKind,
        req: ScimRequest<'_>,
    ) -> Result<ScimResponse, ScimError> {
        let attrs = Attrs::from_query(req.query)?;
        let doc = normalise_resource(kind.schema(), &parse_json(req.body)?)?;
        let doc = self.prepare(tenant, kind, doc);
        let stored = self
            .directory
            .create(tenant, kind, doc)
            .await
            .map_err(directory_error)?;
        Ok(self.resource_response(201, kind, &stored, &attrs))
    }

    async fn get(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        req: ScimRequest<'_>,
    ) -> Result<ScimResponse, ScimError> {
        let attrs = Attrs::from_query(req.query)?;
        let id = percent_decode(id, false)?;
        let stored = self
            .directory
            .get(tenant, kind, &id)
            .await
            .map_err(directory_error)?;
        if req
            .if_none_match
            .is_some_and(|h| etag_matches(h, stored.version))
        {
            return Ok(ScimResponse {
                status: 304,
                headers: vec![("ETag", etag(stored.version))],
                body: None,
            });
        }
        Ok(self.resource_response(200, kind, &stored, &attrs))
    }

    /// Read, transform and conditionally write a resource, retrying on a concurrent change
    /// unless the client pinned the version with `If-Match`.
    async fn read_modify_write(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        change: impl Fn(&Stored) -> Result<Value, ScimError>,
    ) -> Result<Stored, ScimError> {
        let mut attempts = 0;
        loop {
            let stored = self
                .directory
                .get(tenant, kind, id)
                .await
                .map_err(directory_error)?;
            if if_match.is_some_and(|h| !etag_matches(h, stored.version)) {
                return Err(ScimError::precondition_failed());
            }
            let doc = self.prepare(tenant, kind, change(&stored)?);
            if doc == stored.document {
                return Ok(stored);
            }
            match self
                .directory
                .replace(tenant, kind, id, stored.version, doc)
                .await
            {
                Ok(s) => return Ok(s),
                Err(DirectoryError::VersionMismatch)
                    if if_match.is_none() && attempts < self.config.write_retries =>
                {
                    attempts += 1
                }
                Err(DirectoryError::VersionMismatch) if if_match.is_some() => {
                    return Err(ScimError::precondition_failed());
                }
                Err(DirectoryError::VersionMismatch) => {
                    return Err(ScimError::new(
                        409,
                        None,
                        "the resource kept changing concurrently; retry",
                    ));
                }
                Err(e) => return Err(directory_error(e)),
            }
        }
    }

    async fn put(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        req: ScimRequest<'_>,
    ) -> Result<ScimResponse, ScimError> {
        let attrs = Attrs::from_query(req.query)?;
        let id = percent_decode(id, false)?;
        let incoming = normalise_resource(kind.schema(), &parse_json(req.body)?)?;
        let stored = self
            .read_modify_write(tenant, kind, &id, req.if_match, |s| {
                merge_put(kind.schema(), &s.document, &incoming)
            })
            .await?;
        Ok(self.resource_response(200, kind, &stored, &attrs))
    }

    async fn patch(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        req: ScimRequest<'_>,
    ) -> Result<ScimResponse, ScimError> {
        let attrs = Attrs::from_query(req.query)?;
        let id = percent_decode(id, false)?;
        let ops: Vec<PatchOperation> = parse_patch_request(&parse_json(req.body)?)?;
        let stored = self
            .read_modify_write(tenant, kind, &id, req.if_match, |s| {
                apply_operations(kind.schema(), &s.document, &ops)
            })
            .await?;
        Ok(self.resource_response(200, kind, &stored, &attrs))
    }

    async fn delete(
        &self,
        tenant: &str,
        kind: ResourceKind,
        id: &str,
        req: ScimRequest<'_>,
    ) -> Result<ScimResponse, ScimError> {
        let id = percent_decode(id, false)?;
        let expected = match req.if_match {
            None => None,
            Some(h) => {
                let stored = self
                    .directory
                    .get(tenant, kind, &id)
                    .await
                    .map_err(directory_error)?;
                if !etag_matches(h, stored.version) {
                    return Err(ScimError::precondition_failed());
                }
                Some(stored.version)
            }
        };
        self.directory
            .delete(tenant, kind, &id, expected)
            .await
            .map_err(directory_error)?;
        Ok(ScimResponse {
            status: 204,
            headers: Vec::new(),
            body: None,
        })
    }
}
