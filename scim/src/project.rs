//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) and sorting (§3.4.2.3).

use std::cmp::Ordering;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ScimError;
use crate::filter::{AttrPath, get_ci};
use crate::schema::{AttrType, AttributeDef, ResourceSchema, Returned, SchemaDef};

/// The `sortOrder` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// `ascending` (the default).
    #[default]
    Ascending,
    /// `descending`.
    Descending,
}

impl SortOrder {
    /// Parse `ascending` / `descending` (case-insensitive); else 400 `invalidValue`.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        if s.eq_ignore_ascii_case("ascending") {
            Ok(Self::Ascending)
        } else if s.eq_ignore_ascii_case("descending") {
            Ok(Self::Descending)
        } else {
            Err(ScimError::invalid_value(format!(
                "sortOrder must be ascending or descending, got {s:?}"
            )))
        }
    }
}

/// Parse a comma-separated attribute list (`attributes=userName,name.givenName,urn:…:department`).
pub fn parse_attribute_list(s: &str) -> Result<Vec<AttrPath>, ScimError> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(AttrPath::parse)
        .collect()
}

/// Which attributes to return.
#[derive(Debug, Clone, Copy)]
pub enum Projection<'a> {
    /// Neither parameter given: every attribute returned by default.
    Default,
    /// `attributes`: only these (plus those returned always).
    Only(&'a [AttrPath]),
    /// `excludedAttributes`: all default attributes but these.
    Excluding(&'a [AttrPath]),
}

fn names(
    paths: &[AttrPath],
    schema: &ResourceSchema,
) -> Vec<(Option<&'static str>, &'static str, Option<&'static str>)> {
    let mut out = Vec::new();
    for p in paths {
        if let Some(r) = schema.resolve(p) {
            out.push((
                r.extension.map(|e| e.id),
                r.attr.name,
                r.sub.map(|s| s.name),
            ));
            continue;
        }
        // A bare extension URN names all of its attributes.
        let urn = match &p.schema {
            Some(prefix) if p.sub_attr.is_none() => format!("{prefix}:{}", p.attr),
            _ => continue,
        };
        if let Some(ext) = schema.extension(&urn) {
            out.extend(ext.attributes.iter().map(|a| (Some(ext.id), a.name, None)));
        }
    }
    out
}

/// Apply a projection to a rendered resource. `schemas` and attributes returned `always`
/// (`id`) always appear; `never` attributes never do; `request` ones only when named.
pub fn project(resource: &Value, schema: &ResourceSchema, projection: Projection<'_>) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let (wanted, excluded) = match projection {
        Projection::Default => (None, Vec::new()),
        Projection::Only(p) => (Some(names(p, schema)), Vec::new()),
        Projection::Excluding(p) => (None, names(p, schema)),
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if k == "schemas" {
            out.insert(k.clone(), v.clone());
            continue;
        }
        if let Some(ext) = schema.extension(k) {
            let Some(inner) = v.as_object() else { continue };
            let projected = project_attrs(inner, schema, Some(ext), wanted.as_deref(), &excluded);
            if !projected.is_empty() {
                out.insert(k.clone(), Value::Object(projected));
            }
            continue;
        }
        let mut single = Map::new();
        single.insert(k.clone(), v.clone());
        out.extend(project_attrs(
            &single,
            schema,
            None,
            wanted.as_deref(),
            &excluded,
        ));
    }
    Value::Object(out)
}

type Name = (Option<&'static str>, &'static str, Option<&'static str>);

fn project_attrs(
    obj: &Map<String, Value>,
    schema: &ResourceSchema,
    ext: Option<&'static SchemaDef>,
    wanted: Option<&[Name]>,
    excluded: &[Name],
) -> Map<String, Value> {
    let mut out = Map::new();
    let ext_id = ext.map(|e| e.id);
    for (k, v) in obj {
        let def = match ext {
            Some(e) => e.attribute(k),
            None => schema.top_level(Some(schema.core.id), k).map(|(_, a)| a),
        };
        let Some(def) = def else { continue };
        let is_this = |n: &&Name| n.0 == ext_id && n.1 == def.name;
        match def.returned {
            Returned::Always => {
                out.insert(k.clone(), v.clone());
                continue;
            }
            Returned::Never => continue,
            _ => {}
        }
        match wanted {
            Some(w) => {
                let hits: Vec<&Name> = w.iter().filter(is_this).collect();
                if hits.is_empty() {
                    continue;
                }
                if hits.iter().any(|n| n.2.is_none()) {
                    out.insert(
                        k.clone(),
                        filter_subs(def, v, |s| {
                            s.returned != Returned::Never && s.returned != Returned::Request
                        }),
                    );
                } else {
                    let subs: Vec<&str> = hits.iter().filter_map(|n| n.2).collect();
                    let kept = filter_subs(def, v, |s| {
                        s.returned == Returned::Always || subs.contains(&s.name)
                    });
                    if crate::filter::is_present(&kept) {
                        out.insert(k.clone(), kept);
                    }
                }
            }
            None => {
                if def.returned == Returned::Request {
                    continue;
                }
                let hits: Vec<&Name> = excluded.iter().filter(is_this).collect();
                if hits.iter().any(|n| n.2.is_none()) {
                    continue;
                }
                let subs: Vec<&str> = hits.iter().filter_map(|n| n.2).collect();
                let kept = filter_subs(def, v, |s| {
                    s.returned == Returned::Always
                        || (s.returned == Returned::Default && !subs.contains(&s.name))
                });
                if crate::filter::is_present(&kept) {
                    out.insert(k.clone(), kept);
                }
            }
        }
    }
    out
}

/// Keep the sub-attributes of a complex value (or of each value of a multi-valued one) that
/// `keep` accepts.
fn filter_subs(
    def: &AttributeDef,
    v: &Value,
    keep: impl Fn(&AttributeDef) -> bool + Copy,
) -> Value {
    if def.ty != AttrType::Complex {
        return v.clone();
    }
    let one = |e: &Value| match e.as_object() {
        Some(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| def.sub_attribute(k).is_some_and(keep))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => e.clone(),
    };
    match v {
        Value::Array(a) => Value::Array(
            a.iter()
                .map(one)
                .filter(crate::filter::is_present)
                .collect(),
        ),
        other => one(other),
    }
}

#[derive(Debug, PartialEq, PartialOrd)]
enum SortKey {
    Bool(bool),
    Num(f64),
    Time(OffsetDateTime),
    Str(String),
}

fn sort_key(resource: &Value, path: &AttrPath, schema: &ResourceSchema) -> Option<SortKey> {
    let r = schema.resolve(path)?;
    let container = match r.extension {
        None => Some(resource),
        Some(e) => get_ci(resource, e.id),
    }?;
    let mut v = get_ci(container, r.attr.name)?;
    if let Value::Array(a) = v {
        v = a
            .iter()
            .find(|e| get_ci(e, "primary") == Some(&Value::Bool(true)))
            .or_else(|| a.first())?;
    }
    let def = match (r.attr.ty, r.sub) {
        (AttrType::Complex, sub) => {
            let sd = sub.or_else(|| r.attr.sub_attribute("value"))?;
            v = get_ci(v, sd.name)?;
            sd
        }
        _ => r.attr,
    };
    match (def.ty, v) {
        (AttrType::Boolean, Value::Bool(b)) => Some(SortKey::Bool(*b)),
        (AttrType::Integer | AttrType::Decimal, Value::Number(n)) => n.as_f64().map(SortKey::Num),
        (AttrType::DateTime, Value::String(s)) => {
            OffsetDateTime::parse(s, &Rfc3339).ok().map(SortKey::Time)
        }
        (_, Value::String(s)) => Some(SortKey::Str(if def.case_exact {
            s.clone()
        } else {
            s.to_lowercase()
        })),
        _ => None,
    }
}

/// Sort rendered resources by an attribute (RFC 7644 §3.4.2.3): a multi-valued attribute
/// sorts by its primary value (else its first), a complex one by its `value`; string
/// comparison honours `caseExact`; resources without a value sort last when ascending (first
/// when descending). The sort is stable; an unknown attribute leaves the order unchanged.
pub fn sort_resources(
    resources: &mut [Value],
    by: &AttrPath,
    order: SortOrder,
    schema: &ResourceSchema,
) {
    if schema.resolve(by).is_none() {
        return;
    }
    let mut keyed: Vec<(Option<SortKey>, Value)> = resources
        .iter()
        .map(|r| (sort_key(r, by, schema), r.clone()))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        let ord = match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        };
        if order == SortOrder::Descending {
            ord.reverse()
        } else {
            ord
        }
    });
    for (slot, (_, v)) in resources.iter_mut().zip(keyed) {
        *slot = v;
    }
}
