//! Incoming resources (POST and PUT bodies, RFC 7644 §3.3 and §3.5.1) checked against the
//! schema and normalised: canonical attribute names, Entra ID's string booleans coerced,
//! `null`s and empty arrays dropped, read-only attributes ignored.
//!
//! Deliberate choices:
//! - A URN key whose schema is not listed in the body's `schemas`, an unknown schema in
//!   `schemas`, or an unknown attribute → 400 `invalidValue`. The exceptions are the User
//!   attributes `password` and `groups` (RFC 7643 §4.1): this service stores no passwords and
//!   derives no group membership on users, and Okta sends both (`"groups": []`,
//!   `"password"`) on create, so they are ignored, like other read-only input.
//! - [`merge_put`] keeps the existing `active` when a PUT omits it: Okta's PUT bodies leave it
//!   out, and reading the omission as "unset" would deactivate users behind the IdP's back.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ScimError;
use crate::filter::get_ci;
use crate::schema::{
    AttrType, AttributeDef, E2EI_USER_SCHEMA, Mutability, ResourceKind, ResourceSchema, SchemaDef,
};

/// User attributes accepted in input but ignored (see the module documentation).
const IGNORED_USER_ATTRIBUTES: [&str; 1] = ["groups"];

/// Coerce a single scalar to the attribute's type.
pub(crate) fn coerce_scalar(def: &AttributeDef, v: &Value, name: &str) -> Result<Value, ScimError> {
    let wrong =
        || ScimError::invalid_value(format!("{name}: expected {}, got {v}", def.ty.as_str()));
    match def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            v.is_string().then(|| v.clone()).ok_or_else(wrong)
        }
        AttrType::Boolean => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong()),
        },
        AttrType::Integer => (v.is_i64() || v.is_u64())
            .then(|| v.clone())
            .ok_or_else(wrong),
        AttrType::Decimal => v.is_number().then(|| v.clone()).ok_or_else(wrong),
        AttrType::DateTime => match v.as_str().map(|s| OffsetDateTime::parse(s, &Rfc3339)) {
            Some(Ok(_)) => Ok(v.clone()),
            _ => Err(wrong()),
        },
        AttrType::Complex => Err(wrong()),
    }
}

/// Normalise one value of a complex attribute: canonical sub-attribute names, read-only
/// sub-attributes dropped (they are the server's to set), `null`s dropped. `None` if empty.
pub(crate) fn normalise_complex(
    def: &AttributeDef,
    v: &Value,
    name: &str,
) -> Result<Option<Value>, ScimError> {
    let Some(obj) = v.as_object() else {
        return Err(ScimError::invalid_value(format!(
            "{name}: expected a complex value, got {v}"
        )));
    };
    let mut out = Map::new();
    for (k, sv) in obj {
        let Some(sub) = def.sub_attribute(k) else {
            return Err(ScimError::invalid_value(format!(
                "{name}: unknown sub-attribute {k:?}"
            )));
        };
        if sv.is_null() || sub.mutability == Mutability::ReadOnly {
            continue;
        }
        out.insert(
            sub.name.to_owned(),
            coerce_scalar(sub, sv, &format!("{name}.{}", sub.name))?,
        );
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Normalise one value (not an array) of an attribute.
pub(crate) fn normalise_single(
    def: &AttributeDef,
    v: &Value,
    name: &str,
) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if def.ty == AttrType::Complex {
        normalise_complex(def, v, name)
    } else {
        coerce_scalar(def, v, name).map(Some)
    }
}

/// Normalise an attribute's whole value. `wrap_single` accepts a lone value for a
/// multi-valued attribute (PATCH `add`), which resources must send as an array.
pub(crate) fn normalise_attr(
    def: &AttributeDef,
    v: &Value,
    name: &str,
    wrap_single: bool,
) -> Result<Option<Value>, ScimError> {
    if !def.multi_valued {
        if v.is_array() {
            return Err(ScimError::invalid_value(format!(
                "{name}: single-valued, got an array"
            )));
        }
        return normalise_single(def, v, name);
    }
    let items: Vec<&Value> = match v {
        Value::Null => return Ok(None),
        Value::Array(a) => a.iter().collect(),
        other if wrap_single => vec![other],
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{name}: multi-valued, expected an array"
            )));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(n) = normalise_single(def, item, name)? {
            out.push(n);
        }
    }
    check_one_primary(&out, name)?;
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// RFC 7643 §2.4: the primary value `true` appears no more than once.
pub(crate) fn check_one_primary(values: &[Value], name: &str) -> Result<(), ScimError> {
    let n = values
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if n > 1 {
        return Err(ScimError::invalid_value(format!(
            "{name}: more than one primary value"
        )));
    }
    Ok(())
}

fn normalise_attrs(
    schema: &ResourceSchema,
    ext: Option<&'static SchemaDef>,
    obj: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    for (k, v) in obj {
        let found = match ext {
            Some(e) => e.attribute(k).map(|a| (Some(e), a)),
            None => schema.top_level(Some(schema.core.id), k),
        };
        let Some((_, def)) = found else {
            if ext.is_none()
                && schema.kind == ResourceKind::User
                && IGNORED_USER_ATTRIBUTES
                    .iter()
                    .any(|i| i.eq_ignore_ascii_case(k))
            {
                continue;
            }
            let within = ext.map_or(schema.core.id, |e| e.id);
            return Err(ScimError::invalid_value(format!(
                "unknown attribute {k:?} in {within}"
            )));
        };
        if def.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(n) = normalise_attr(def, v, def.name, false)? {
            out.insert(def.name.to_owned(), n);
        }
    }
    Ok(())
}

/// Check and normalise a full resource body (POST or PUT). The result is a stored document:
/// `schemas` first (canonical URNs, core first), no `id`, no `meta`, no read-only attributes.
pub fn normalise_resource(schema: &ResourceSchema, body: &Value) -> Result<Value, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "the resource must be a JSON object",
        ));
    };
    let listed = match get_ci(body, "schemas") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .ok_or_else(|| ScimError::invalid_value("schemas: expected strings"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(ScimError::invalid_value("schemas: missing or not an array")),
    };
    if !listed
        .iter()
        .any(|s| s.eq_ignore_ascii_case(schema.core.id))
    {
        return Err(ScimError::invalid_value(format!(
            "schemas must contain {}",
            schema.core.id
        )));
    }
    let mut schemas = vec![Value::String(schema.core.id.to_owned())];
    for s in &listed {
        if s.eq_ignore_ascii_case(schema.core.id) {
            continue;
        }
        let Some(ext) = schema.extension(s) else {
            return Err(ScimError::invalid_value(format!(
                "schemas: unknown schema {s:?}"
            )));
        };
        let v = Value::String(ext.id.to_owned());
        if !schemas.contains(&v) {
            schemas.push(v);
        }
    }
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas));
    let mut core = Map::new();
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema.extension(k) {
            if !listed.iter().any(|s| s.eq_ignore_ascii_case(ext.id)) {
                return Err(ScimError::invalid_value(format!(
                    "{} is not listed in schemas",
                    ext.id
                )));
            }
            if v.is_null() {
                continue;
            }
            let Some(inner) = v.as_object() else {
                return Err(ScimError::invalid_value(format!(
                    "{}: expected an object",
                    ext.id
                )));
            };
            let mut ext_out = Map::new();
            normalise_attrs(schema, Some(ext), inner, &mut ext_out)?;
            if !ext_out.is_empty() {
                out.insert(ext.id.to_owned(), Value::Object(ext_out));
            }
            continue;
        }
        if k.as_bytes()
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"urn:"))
        {
            return Err(ScimError::invalid_value(format!(
                "unknown schema extension {k:?}"
            )));
        }
        core.insert(k.clone(), v.clone());
    }
    let mut attrs = Map::new();
    normalise_attrs(schema, None, &core, &mut attrs)?;
    // Keep `schemas` first, then the core attributes, then the extensions.
    let mut doc = Map::new();
    if let Some(s) = out.remove("schemas") {
        doc.insert("schemas".into(), s);
    }
    doc.extend(attrs);
    doc.extend(out);
    let doc = Value::Object(doc);
    check_required(schema, &doc)?;
    Ok(doc)
}

/// Every required, writable attribute is present (RFC 7643 §2.2: `userName`, Group
/// `displayName`) → else 400 `invalidValue`.
pub fn check_required(schema: &ResourceSchema, doc: &Value) -> Result<(), ScimError> {
    let core = schema.core.attributes.iter().map(|a| (None, a));
    let ext = schema
        .extensions
        .iter()
        .flat_map(|e| e.attributes.iter().map(move |a| (Some(*e), a)));
    for (e, def) in core.chain(ext) {
        if !def.required || def.mutability == Mutability::ReadOnly {
            continue;
        }
        let container = match e {
            None => Some(doc),
            Some(e) => get_ci(doc, e.id),
        };
        let present = container
            .and_then(|c| get_ci(c, def.name))
            .is_some_and(crate::filter::is_present);
        if !present && (e.is_none() || container.is_some()) {
            return Err(ScimError::invalid_value(format!(
                "required attribute {} is missing",
                def.name
            )));
        }
    }
    Ok(())
}

fn container_mut<'a>(
    doc: &'a mut Value,
    ext: Option<&SchemaDef>,
) -> Option<&'a mut Map<String, Value>> {
    match ext {
        None => doc.as_object_mut(),
        Some(e) => {
            let obj = doc.as_object_mut()?;
            if !obj.contains_key(e.id) {
                obj.insert(e.id.to_owned(), Value::Object(Map::new()));
            }
            obj.get_mut(e.id)?.as_object_mut()
        }
    }
}

/// Add `urn` to the document's `schemas` if missing.
pub(crate) fn ensure_schema_listed(doc: &mut Value, urn: &str) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let entry = obj
        .entry("schemas")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(a) = entry {
        if !a
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
        {
            a.push(Value::String(urn.to_owned()));
        }
    }
}

/// Drop extension objects that ended up empty, and their URNs from `schemas`.
pub(crate) fn prune_extensions(schema: &ResourceSchema, doc: &mut Value) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    for e in schema.extensions {
        if obj
            .get(e.id)
            .is_some_and(|v| v.as_object().is_some_and(Map::is_empty) || v.is_null())
        {
            obj.remove(e.id);
            if let Some(Value::Array(a)) = obj.get_mut("schemas") {
                a.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(e.id)));
            }
        }
    }
}

/// PUT (RFC 7644 §3.5.1): the incoming normalised document replaces the writable attributes;
/// read-only attributes keep their existing values; an immutable attribute that is set may
/// not change (400 `mutability`) and is kept when omitted; an omitted `active` keeps its
/// existing value (Okta's PUT omits it; see the module documentation).
pub fn merge_put(
    schema: &ResourceSchema,
    existing: &Value,
    incoming: &Value,
) -> Result<Value, ScimError> {
    let mut out = incoming.clone();
    let core = schema.core.attributes.iter().map(|a| (None, a));
    let ext = schema
        .extensions
        .iter()
        .flat_map(|e| e.attributes.iter().map(move |a| (Some(*e), a)));
    for (e, def) in core.chain(ext) {
        let old = match e {
            None => Some(existing),
            Some(e) => get_ci(existing, e.id),
        }
        .and_then(|c| get_ci(c, def.name))
        .cloned();
        let new = match e {
            None => Some(incoming),
            Some(e) => get_ci(incoming, e.id),
        }
        .and_then(|c| get_ci(c, def.name));
        let keep = match def.mutability {
            Mutability::ReadOnly => true,
            Mutability::Immutable => match (&old, new) {
                (Some(o), Some(n)) if o != n => {
                    return Err(ScimError::mutability(format!("{} is immutable", def.name)));
                }
                (_, None) => true,
                _ => false,
            },
            _ => schema.kind == ResourceKind::User && def.name == "active" && new.is_none(),
        };
        if let (true, Some(old)) = (keep, old) {
            if let Some(c) = container_mut(&mut out, e) {
                c.insert(def.name.to_owned(), old);
            }
            if let Some(e) = e {
                ensure_schema_listed(&mut out, e.id);
            }
        }
    }
    prune_extensions(schema, &mut out);
    Ok(out)
}

/// Set the e2ei extension's `team` (the tenant) on a User document: read-only to clients, the
/// service stamps it on every write. `handle` is the client's (or absent).
pub fn stamp_e2ei_user(doc: &mut Value, team: &str) {
    let Some(obj) = doc.as_object_mut() else {
        return;
    };
    let key = obj
        .keys()
        .find(|k| k.eq_ignore_ascii_case(E2EI_USER_SCHEMA))
        .cloned()
        .unwrap_or_else(|| E2EI_USER_SCHEMA.to_owned());
    let slot = obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Some(ext) = slot.as_object_mut() {
        ext.insert("team".into(), Value::String(team.to_owned()));
    }
    ensure_schema_listed(doc, E2EI_USER_SCHEMA);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, USER, USER_SCHEMA};
    use serde_json::json;

    #[test]
    fn coerces_entra_string_booleans_and_canonicalises_names() {
        let doc = normalise_resource(
            &USER,
            &json!({"schemas": [USER_SCHEMA], "USERNAME": "a", "active": "False", "emails": [{"Value": "a@b", "primary": "True"}]}),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"schemas": [USER_SCHEMA], "userName": "a", "active": false, "emails": [{"value": "a@b", "primary": true}]})
        );
    }

    #[test]
    fn rejects_extension_not_listed_in_schemas() {
        let e = normalise_resource(&USER, &json!({"schemas": [USER_SCHEMA], "userName": "a", ENTERPRISE_USER_SCHEMA: {"department": "x"}})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn put_without_active_keeps_existing_active() {
        let existing = json!({"schemas": [USER_SCHEMA], "userName": "a", "active": false});
        let incoming = json!({"schemas": [USER_SCHEMA], "userName": "b"});
        let merged = merge_put(&USER, &existing, &incoming).unwrap();
        assert_eq!(merged["active"], json!(false));
        assert_eq!(merged["userName"], json!("b"));
    }
}
