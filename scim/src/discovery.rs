//! Service discovery (RFC 7644 §4; RFC 7643 §5, §6, §7): `GET /ServiceProviderConfig`,
//! `GET /ResourceTypes[/{name}]`, `GET /Schemas[/{urn}]`. Schema documents are generated from
//! [`crate::schema`], so what is advertised is what is enforced.

use serde_json::{Map, Value, json};

use crate::schema::{ALL_SCHEMAS, AttrType, AttributeDef, ResourceKind, SchemaDef};

/// The ServiceProviderConfig schema URN.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// The ResourceType schema URN.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The Schema schema URN.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// The ListResponse message URN.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Where the crate's documentation lives, advertised as `documentationUri`.
pub const DOCUMENTATION_URI: &str = "https://datatracker.ietf.org/doc/html/rfc7644";

fn trim(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

/// The `/ServiceProviderConfig` document (RFC 7643 §5): PATCH, filtering (up to
/// `max_results`), sorting, ETags and password change supported; bulk not.
pub fn service_provider_config(base_url: &str, max_results: u64) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": DOCUMENTATION_URI,
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", trim(base_url))
        }
    })
}

/// One `/ResourceTypes/{name}` document (RFC 7643 §6).
pub fn resource_type(kind: ResourceKind, base_url: &str) -> Value {
    let schema = kind.schema();
    let mut doc = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": match kind { ResourceKind::User => "User Account", ResourceKind::Group => "Group" },
        "schema": schema.core.id,
    });
    if !schema.extensions.is_empty() {
        let exts: Vec<Value> = schema
            .extensions
            .iter()
            .map(|e| json!({"schema": e.id, "required": false}))
            .collect();
        if let Some(o) = doc.as_object_mut() {
            o.insert("schemaExtensions".into(), Value::Array(exts));
        }
    }
    if let Some(o) = doc.as_object_mut() {
        o.insert(
            "meta".into(),
            json!({"resourceType": "ResourceType", "location": format!("{}/ResourceTypes/{}", trim(base_url), kind.name())}),
        );
    }
    doc
}

/// Every resource type document.
pub fn resource_types(base_url: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|k| resource_type(k, base_url))
        .collect()
}

/// The resource type called `name` (case-insensitive).
pub fn find_resource_type(name: &str, base_url: &str) -> Option<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(name))
        .map(|k| resource_type(k, base_url))
}

fn attribute_json(a: &AttributeDef) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), a.name.into());
    o.insert("type".into(), a.ty.as_str().into());
    o.insert("multiValued".into(), a.multi_valued.into());
    o.insert("description".into(), a.description.into());
    o.insert("required".into(), a.required.into());
    if matches!(
        a.ty,
        AttrType::String | AttrType::Reference | AttrType::Binary
    ) {
        o.insert("caseExact".into(), a.case_exact.into());
    }
    if !a.canonical_values.is_empty() {
        o.insert(
            "canonicalValues".into(),
            a.canonical_values.iter().map(|v| Value::from(*v)).collect(),
        );
    }
    o.insert("mutability".into(), a.mutability.as_str().into());
    o.insert("returned".into(), a.returned.as_str().into());
    if a.ty != AttrType::Complex {
        o.insert("uniqueness".into(), a.uniqueness.as_str().into());
    }
    if a.ty == AttrType::Reference {
        o.insert(
            "referenceTypes".into(),
            a.reference_types.iter().map(|v| Value::from(*v)).collect(),
        );
    }
    if a.ty == AttrType::Complex {
        o.insert(
            "subAttributes".into(),
            a.sub_attributes.iter().map(attribute_json).collect(),
        );
    }
    Value::Object(o)
}

/// One `/Schemas/{urn}` document (RFC 7643 §7). Common attributes (`id`, `externalId`,
/// `meta`) are not repeated in each schema, as in RFC 7643 §8.7.1.
pub fn schema_json(schema: &SchemaDef, base_url: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{}/Schemas/{}", trim(base_url), schema.id)}
    })
}

/// Every schema document.
pub fn schemas(base_url: &str) -> Vec<Value> {
    ALL_SCHEMAS
        .iter()
        .map(|s| schema_json(s, base_url))
        .collect()
}

/// The schema with this URN (case-insensitive).
pub fn find_schema(urn: &str, base_url: &str) -> Option<Value> {
    ALL_SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(urn))
        .map(|s| schema_json(s, base_url))
}

/// A ListResponse (RFC 7644 §3.4.2) holding every item of a discovery collection.
pub fn list_response(items: Vec<Value>) -> Value {
    let n = items.len();
    json!({"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": n, "itemsPerPage": n, "startIndex": 1, "Resources": items})
}
