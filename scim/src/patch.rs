//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations applied to a stored
//! resource document, with the schema's mutability and type rules.
//!
//! Accepted beyond the letter of the RFC, because identity providers send it:
//! - operation names in any case (Entra ID: `"Replace"`, `"Add"`, `"Remove"`);
//! - booleans as strings (`"True"`, `"False"`), coerced wherever the schema says boolean;
//! - path-less `add`/`replace` whose value keys are paths (`"name.givenName"`, URN-prefixed
//!   extension attributes, `emails[type eq "work"].value`); such a key whose value filter
//!   matches nothing adds a value built from the filter's `eq` terms, as `add` would;
//! - `remove` on a multi-valued attribute with a `value` (`{"op":"Remove","path":"members",
//!   "value":[{"value":"<id>"}]}`): the values whose given sub-attributes all match go;
//! - a scalar for a single complex attribute sets its `value` (Entra ID's `manager`);
//! - `id`, `meta` and `schemas` keys in a path-less value are ignored (Okta repeats `id`).
//!
//! A value filter that matches nothing fails `replace` with `noTarget`, creates a value on
//! `add` (from the filter's `eq` terms) and is a no-op on `remove`.

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{AttrPath, CompValue, CompareOp, Filter, get_ci};
use crate::path::{PatchPath, parse_patch_path};
use crate::resource::{
    check_one_primary, check_required, coerce_scalar, ensure_schema_listed, normalise_attr,
    normalise_complex, prune_extensions,
};
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceSchema, SchemaDef};

/// The PATCH request message schema URN (RFC 7644 §3.5.2).
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Most operations accepted in one PATCH request.
pub const MAX_OPERATIONS: usize = 1000;

/// A PATCH operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `remove`
    Remove,
}

/// One parsed PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// The operation.
    pub op: PatchOpKind,
    /// Its target, when given.
    pub path: Option<PatchPath>,
    /// Its value, when given.
    pub value: Option<Value>,
}

/// Parse a PATCH request body (`schemas` with the PatchOp URN, `Operations`).
pub fn parse_patch_request(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    if !body.is_object() {
        return Err(ScimError::invalid_syntax(
            "the PATCH body must be a JSON object",
        ));
    }
    let listed = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
            })
        });
    if !listed {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must contain {PATCH_OP_SCHEMA}"
        )));
    }
    let Some(ops) = get_ci(body, "Operations").and_then(Value::as_array) else {
        return Err(ScimError::invalid_syntax(
            "Operations: missing or not an array",
        ));
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!(
            "more than {MAX_OPERATIONS} operations"
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            let op = match get_ci(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => PatchOpKind::Add,
                Some("replace") => PatchOpKind::Replace,
                Some("remove") => PatchOpKind::Remove,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "Operations[{i}]: op must be add, replace or remove"
                    )));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(parse_patch_path(s)?),
                Some(_) => {
                    return Err(ScimError::invalid_path(format!(
                        "Operations[{i}]: path must be a string"
                    )));
                }
            };
            let value = get_ci(o, "value").cloned();
            Ok(PatchOperation { op, path, value })
        })
        .collect()
}

/// Apply a PATCH request body to a stored document (no `id`, no `meta`), returning the new
/// document. The operations apply in order and all-or-nothing (RFC 7644 §3.5.2).
pub fn apply_patch(
    schema: &ResourceSchema,
    document: &Value,
    body: &Value,
) -> Result<Value, ScimError> {
    let ops = parse_patch_request(body)?;
    apply_operations(schema, document, &ops)
}

/// Apply parsed operations to a stored document.
pub fn apply_operations(
    schema: &ResourceSchema,
    document: &Value,
    ops: &[PatchOperation],
) -> Result<Value, ScimError> {
    let mut doc = document.clone();
    if !doc.is_object() {
        return Err(ScimError::internal());
    }
    for op in ops {
        apply_op(schema, &mut doc, op)?;
    }
    prune_extensions(schema, &mut doc);
    check_required(schema, &doc)?;
    Ok(doc)
}

fn whole_extension(schema: &ResourceSchema, path: &PatchPath) -> Option<&'static SchemaDef> {
    match path {
        PatchPath::Attr(AttrPath {
            schema: Some(s),
            attr,
            sub_attr: None,
        }) => schema.extension(&format!("{s}:{attr}")),
        _ => None,
    }
}

fn apply_op(
    schema: &ResourceSchema,
    doc: &mut Value,
    op: &PatchOperation,
) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        if op.op == PatchOpKind::Remove {
            return Err(ScimError::no_target("remove requires a path"));
        }
        let value = op
            .value
            .as_ref()
            .ok_or_else(|| ScimError::invalid_value("missing value"))?;
        let obj = value.as_object().ok_or_else(|| {
            ScimError::invalid_value("an operation without path takes an object value")
        })?;
        return apply_object(schema, doc, op.op, None, obj);
    };
    if let Some(ext) = whole_extension(schema, path) {
        return match op.op {
            PatchOpKind::Remove => {
                remove_extension(doc, ext);
                Ok(())
            }
            _ => {
                let value = op
                    .value
                    .as_ref()
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        ScimError::invalid_value(format!("{}: expected an object", ext.id))
                    })?;
                apply_object(schema, doc, op.op, Some(ext), value)
            }
        };
    }
    apply_at(schema, doc, op.op, path, op.value.as_ref(), false)
}

/// Removing a whole extension removes what clients may write in it; read-only attributes
/// (set by the service provider) stay.
fn remove_extension(doc: &mut Value, ext: &SchemaDef) {
    let Some(o) = doc.as_object_mut() else {
        return;
    };
    let Some(key) = o.keys().find(|k| k.eq_ignore_ascii_case(ext.id)).cloned() else {
        return;
    };
    if let Some(inner) = o.get_mut(&key).and_then(Value::as_object_mut) {
        inner.retain(|name, _| {
            ext.attribute(name)
                .is_some_and(|a| a.mutability == Mutability::ReadOnly)
        });
        if !inner.is_empty() {
            return;
        }
    }
    o.remove(&key);
}

/// A path-less `add`/`replace`: each key is a path (or an extension URN holding an object).
fn apply_object(
    schema: &ResourceSchema,
    doc: &mut Value,
    op: PatchOpKind,
    within: Option<&'static SchemaDef>,
    obj: &Map<String, Value>,
) -> Result<(), ScimError> {
    for (k, v) in obj {
        // Clients repeat `id`, `meta` and `schemas` (also inside an extension's object).
        if (within.is_none()
            && ["schemas", "id", "meta"]
                .iter()
                .any(|i| i.eq_ignore_ascii_case(k)))
            || (within.is_some() && k.eq_ignore_ascii_case("schemas"))
        {
            continue;
        }
        if within.is_none() {
            if let Some(ext) = schema.extension(k) {
                let inner = v.as_object().ok_or_else(|| {
                    ScimError::invalid_value(format!("{}: expected an object", ext.id))
                })?;
                apply_object(schema, doc, op, Some(ext), inner)?;
                continue;
            }
        }
        let mut path = parse_patch_path(k)?;
        if let Some(ext) = within {
            match &mut path {
                PatchPath::Attr(p) | PatchPath::Filtered { attr: p, .. } if p.schema.is_none() => {
                    p.schema = Some(ext.id.to_owned())
                }
                _ => return Err(ScimError::invalid_path(format!("{k:?} inside {}", ext.id))),
            }
        }
        apply_at(schema, doc, op, &path, Some(v), true)?;
    }
    Ok(())
}

fn container<'a>(
    doc: &'a mut Value,
    ext: Option<&SchemaDef>,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    if let Some(e) = ext {
        ensure_schema_listed(doc, e.id);
    }
    let obj = doc.as_object_mut().ok_or_else(ScimError::internal)?;
    match ext {
        None => Ok(obj),
        Some(e) => {
            let key = obj
                .keys()
                .find(|k| k.eq_ignore_ascii_case(e.id))
                .cloned()
                .unwrap_or_else(|| e.id.to_owned());
            let slot = obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut().ok_or_else(ScimError::internal)
        }
    }
}

fn apply_at(
    schema: &ResourceSchema,
    doc: &mut Value,
    op: PatchOpKind,
    path: &PatchPath,
    value: Option<&Value>,
    pathless: bool,
) -> Result<(), ScimError> {
    let ap = path.attr_path();
    let top = AttrPath {
        schema: ap.schema.clone(),
        attr: ap.attr.clone(),
        sub_attr: None,
    };
    let Some(r) = schema.resolve(&top) else {
        return Err(ScimError::invalid_path(format!("unknown attribute {path}")));
    };
    let attr = r.attr;
    if attr.mutability == Mutability::ReadOnly {
        return Err(ScimError::mutability(format!("{} is read-only", attr.name)));
    }
    let sub_name = match path {
        PatchPath::Attr(p) => p.sub_attr.as_deref(),
        PatchPath::Filtered { sub_attr, .. } => sub_attr.as_deref(),
    };
    let sub = match sub_name {
        None => None,
        Some(s) => {
            let sd = (attr.ty == AttrType::Complex)
                .then(|| attr.sub_attribute(s))
                .flatten();
            let sd =
                sd.ok_or_else(|| ScimError::invalid_path(format!("unknown sub-attribute {path}")))?;
            if sd.mutability == Mutability::ReadOnly {
                return Err(ScimError::mutability(format!(
                    "{}.{} is read-only",
                    attr.name, sd.name
                )));
            }
            Some(sd)
        }
    };
    let value = match (op, value) {
        (PatchOpKind::Remove, v) => v,
        (_, Some(v)) => Some(v),
        (_, None) => return Err(ScimError::invalid_value(format!("{path}: missing value"))),
    };
    let c = container(doc, r.extension)?;
    match path {
        PatchPath::Attr(_) => match sub {
            None => op_attr(c, attr, op, value),
            Some(sd) => op_sub_all(c, attr, sd, op, value),
        },
        PatchPath::Filtered { filter, .. } => {
            if attr.ty != AttrType::Complex || !attr.multi_valued {
                return Err(ScimError::invalid_path(format!(
                    "{path}: value filters apply to multi-valued complex attributes"
                )));
            }
            filter.validate_in(schema, Some(attr))?;
            op_filtered(schema, c, attr, filter, sub, op, value, pathless)
        }
    }
}

fn key_of(c: &Map<String, Value>, name: &str) -> String {
    c.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

fn values_equal(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) if !def.case_exact => x.to_lowercase() == y.to_lowercase(),
        _ => a == b,
    }
}

/// Whether two values of a multi-valued complex attribute are the same value (same `value`,
/// and the same `type` where both have one).
fn same_element(attr: &AttributeDef, a: &Value, b: &Value) -> bool {
    let (Some(vd), Some(av), Some(bv)) =
        (attr.sub_attribute("value"), a.get("value"), b.get("value"))
    else {
        return a == b;
    };
    let types_agree = match (a.get("type"), b.get("type"), attr.sub_attribute("type")) {
        (Some(x), Some(y), Some(td)) => values_equal(td, x, y),
        _ => true,
    };
    values_equal(vd, av, bv) && types_agree
}

/// After values at `touched` changed: if one of them became primary, the others stop being
/// primary (RFC 7643 §2.4); two new primaries → 400 `invalidValue`.
fn enforce_primary(arr: &mut [Value], touched: &[usize], name: &str) -> Result<(), ScimError> {
    let winners: Vec<usize> = touched
        .iter()
        .copied()
        .filter(|i| arr.get(*i).and_then(|v| v.get("primary")) == Some(&Value::Bool(true)))
        .collect();
    if winners.len() > 1 {
        return Err(ScimError::invalid_value(format!(
            "{name}: more than one primary value"
        )));
    }
    if let Some(w) = winners.first() {
        for (i, v) in arr.iter_mut().enumerate() {
            if i != *w && v.get("primary") == Some(&Value::Bool(true)) {
                if let Some(o) = v.as_object_mut() {
                    o.insert("primary".into(), Value::Bool(false));
                }
            }
        }
    }
    check_one_primary(arr, name)
}

fn merge_into(target: &mut Value, new: &Value, attr: &AttributeDef) -> Result<(), ScimError> {
    let (Some(t), Some(n)) = (target.as_object_mut(), new.as_object()) else {
        *target = new.clone();
        return Ok(());
    };
    for (k, v) in n {
        if let (Some(sd), Some(old)) = (attr.sub_attribute(k), t.get(k)) {
            if sd.mutability == Mutability::Immutable && !values_equal(sd, old, v) {
                return Err(ScimError::mutability(format!(
                    "{}.{} is immutable",
                    attr.name, sd.name
                )));
            }
        }
        t.insert(k.clone(), v.clone());
    }
    Ok(())
}

fn op_attr(
    c: &mut Map<String, Value>,
    attr: &'static AttributeDef,
    op: PatchOpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let key = key_of(c, attr.name);
    if op == PatchOpKind::Remove {
        if let (true, Some(v)) = (
            attr.multi_valued && attr.ty == AttrType::Complex,
            value.filter(|v| !v.is_null()),
        ) {
            let selectors: Vec<Value> = match normalise_attr(attr, v, attr.name, true)? {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            if let Some(Value::Array(arr)) = c.get_mut(&key) {
                arr.retain(|e| !selectors.iter().any(|s| selector_matches(attr, s, e)));
                if arr.is_empty() {
                    c.remove(&key);
                }
            }
            return Ok(());
        }
        if attr.required {
            return Err(ScimError::mutability(format!(
                "{} is required and cannot be removed",
                attr.name
            )));
        }
        if attr.mutability == Mutability::Immutable && c.contains_key(&key) {
            return Err(ScimError::mutability(format!("{} is immutable", attr.name)));
        }
        c.remove(&key);
        return Ok(());
    }
    let Some(value) = value.filter(|v| !v.is_null()) else {
        if op == PatchOpKind::Replace {
            return op_attr(c, attr, PatchOpKind::Remove, None);
        }
        return Ok(());
    };
    if attr.multi_valued {
        let new = match normalise_attr(attr, value, attr.name, true)? {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        if op == PatchOpKind::Replace {
            if new.is_empty() {
                c.remove(&key);
            } else {
                c.insert(key, Value::Array(new));
            }
            return Ok(());
        }
        let mut arr = match c.remove(&key) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let mut touched = Vec::new();
        for n in new {
            match arr.iter().position(|e| same_element(attr, e, &n)) {
                Some(i) => {
                    if let Some(e) = arr.get_mut(i) {
                        merge_into(e, &n, attr)?;
                    }
                    touched.push(i);
                }
                None => {
                    arr.push(n);
                    touched.push(arr.len() - 1);
                }
            }
        }
        enforce_primary(&mut arr, &touched, attr.name)?;
        if !arr.is_empty() {
            c.insert(key, Value::Array(arr));
        }
        return Ok(());
    }
    if attr.ty == AttrType::Complex {
        // Entra ID sets `manager` with a bare id: a scalar stands for the `value` sub-attribute.
        let wrapped;
        let value = match (value.is_object(), attr.sub_attribute("value")) {
            (false, Some(sd)) => {
                wrapped = serde_json::json!({ sd.name: value });
                &wrapped
            }
            _ => value,
        };
        let Some(new) = normalise_complex(attr, value, attr.name)? else {
            return Ok(());
        };
        match c.get_mut(&key) {
            Some(existing) if existing.is_object() => merge_into(existing, &new, attr)?,
            _ => {
                c.insert(key, new);
            }
        }
        return Ok(());
    }
    let new = coerce_scalar(attr, value, attr.name)?;
    if attr.mutability == Mutability::Immutable {
        if let Some(old) = c.get(&key) {
            if !values_equal(attr, old, &new) {
                return Err(ScimError::mutability(format!("{} is immutable", attr.name)));
            }
        }
    }
    c.insert(key, new);
    Ok(())
}

/// Entra's removal by value: every sub-attribute the selector gives matches the value's.
fn selector_matches(attr: &AttributeDef, selector: &Value, elem: &Value) -> bool {
    let Some(sel) = selector.as_object() else {
        return false;
    };
    !sel.is_empty()
        && sel
            .iter()
            .all(|(k, v)| match (attr.sub_attribute(k), get_ci(elem, k)) {
                (Some(sd), Some(e)) => values_equal(sd, e, v),
                _ => false,
            })
}

fn set_sub(
    elem: &mut Value,
    attr: &AttributeDef,
    sd: &AttributeDef,
    op: PatchOpKind,
    new: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(o) = elem.as_object_mut() else {
        return Ok(());
    };
    let key = key_of(o, sd.name);
    let old = o.get(&key);
    if sd.mutability == Mutability::Immutable {
        if let Some(old) = old {
            if new.is_none_or(|n| !values_equal(sd, old, n)) {
                return Err(ScimError::mutability(format!(
                    "{}.{} is immutable",
                    attr.name, sd.name
                )));
            }
        }
    }
    match (op, new) {
        (PatchOpKind::Remove, _) | (_, None) => {
            o.remove(&key);
        }
        (_, Some(n)) => {
            o.insert(key, n.clone());
        }
    }
    Ok(())
}

fn coerce_sub(
    sd: &AttributeDef,
    attr: &AttributeDef,
    op: PatchOpKind,
    value: Option<&Value>,
) -> Result<Option<Value>, ScimError> {
    match (op, value) {
        (PatchOpKind::Remove, _) | (_, None | Some(Value::Null)) => Ok(None),
        (_, Some(v)) => coerce_scalar(sd, v, &format!("{}.{}", attr.name, sd.name)).map(Some),
    }
}

fn op_sub_all(
    c: &mut Map<String, Value>,
    attr: &'static AttributeDef,
    sd: &'static AttributeDef,
    op: PatchOpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let key = key_of(c, attr.name);
    let new = coerce_sub(sd, attr, op, value)?;
    if attr.multi_valued {
        let mut arr = match c.remove(&key) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        if arr.is_empty() {
            if let Some(n) = &new {
                let mut o = Map::new();
                o.insert(sd.name.to_owned(), n.clone());
                arr.push(Value::Object(o));
            }
        } else {
            for e in arr.iter_mut() {
                set_sub(e, attr, sd, op, new.as_ref())?;
            }
        }
        arr.retain(|e| e.as_object().is_some_and(|o| !o.is_empty()));
        check_one_primary(&arr, attr.name)?;
        if !arr.is_empty() {
            c.insert(key, Value::Array(arr));
        }
        return Ok(());
    }
    match c.get_mut(&key) {
        Some(obj) if obj.is_object() => set_sub(obj, attr, sd, op, new.as_ref())?,
        _ => {
            if let Some(n) = new {
                let mut o = Map::new();
                o.insert(sd.name.to_owned(), n);
                c.insert(key.clone(), Value::Object(o));
            }
        }
    }
    if c.get(&key)
        .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        c.remove(&key);
    }
    Ok(())
}

/// The `eq` terms of a conjunction over sub-attributes, to build the value an `add` through
/// a value filter creates; `None` if the filter is anything else.
fn eq_terms(filter: &Filter, attr: &AttributeDef, out: &mut Map<String, Value>) -> Option<()> {
    match filter {
        Filter::And(l, r) => {
            eq_terms(l, attr, out)?;
            eq_terms(r, attr, out)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.schema.is_none() && path.sub_attr.is_none() => {
            let sd = attr.sub_attribute(&path.attr)?;
            let v = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return None,
            };
            out.insert(sd.name.to_owned(), coerce_scalar(sd, &v, sd.name).ok()?);
            Some(())
        }
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn op_filtered(
    schema: &ResourceSchema,
    c: &mut Map<String, Value>,
    attr: &'static AttributeDef,
    filter: &Filter,
    sub: Option<&'static AttributeDef>,
    op: PatchOpKind,
    value: Option<&Value>,
    pathless: bool,
) -> Result<(), ScimError> {
    let key = key_of(c, attr.name);
    let mut arr = match c.remove(&key) {
        Some(Value::Array(a)) => a,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let matched: Vec<usize> = arr
        .iter()
        .enumerate()
        .filter(|(_, e)| filter.matches_element(attr, e, schema))
        .map(|(i, _)| i)
        .collect();
    let result = (|| {
        // The value written to each matched element: one sub-attribute, or a set of them.
        let new_sub = match sub {
            Some(sd) => coerce_sub(sd, attr, op, value)?,
            None => None,
        };
        let new_obj = match (sub, op, value) {
            (None, PatchOpKind::Add | PatchOpKind::Replace, Some(v)) => {
                normalise_complex(attr, v, attr.name)?
            }
            _ => None,
        };
        if op == PatchOpKind::Remove {
            match sub {
                None => {
                    for i in matched.iter().rev() {
                        arr.remove(*i);
                    }
                }
                Some(sd) => {
                    for i in &matched {
                        if let Some(e) = arr.get_mut(*i) {
                            set_sub(e, attr, sd, op, None)?;
                        }
                    }
                }
            }
            return Ok(Vec::new());
        }
        if matched.is_empty() {
            if op == PatchOpKind::Replace && !pathless {
                return Err(ScimError::no_target(format!(
                    "no value of {} matches the filter {filter}",
                    attr.name
                )));
            }
            let mut elem = Map::new();
            if eq_terms(filter, attr, &mut elem).is_none() {
                return Err(ScimError::no_target(format!(
                    "no value of {} matches the filter {filter}",
                    attr.name
                )));
            }
            let mut elem = Value::Object(elem);
            match (sub, &new_sub, &new_obj) {
                (Some(sd), Some(n), _) => set_sub(&mut elem, attr, sd, op, Some(n))?,
                (None, _, Some(o)) => merge_into(&mut elem, o, attr)?,
                _ => return Ok(Vec::new()),
            }
            arr.push(elem);
            return Ok(vec![arr.len() - 1]);
        }
        for i in &matched {
            let Some(e) = arr.get_mut(*i) else { continue };
            match (sub, &new_obj) {
                (Some(sd), _) => set_sub(e, attr, sd, op, new_sub.as_ref())?,
                (None, Some(o)) => merge_into(e, o, attr)?,
                (None, None) => {}
            }
        }
        Ok(matched.clone())
    })();
    let touched = result?;
    arr.retain(|e| e.as_object().is_some_and(|o| !o.is_empty()));
    enforce_primary(&mut arr, &touched, attr.name)?;
    if !arr.is_empty() {
        c.insert(key, Value::Array(arr));
    }
    Ok(())
}
