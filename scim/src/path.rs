//! PATCH paths (RFC 7644 §3.5.2, Figure 1):
//!
//! ```text
//! PATH = attrPath / valuePath [subAttr]
//! ```
//!
//! e.g. `name.givenName`, `emails[type eq "work"].value`, `members[value eq "2819c223"]`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`. Errors are 400
//! `invalidPath`.

use std::fmt;

use crate::error::ScimError;
use crate::filter::{AttrPath, Filter, MAX_FILTER_LEN, parse_attr_path, parse_filter};

/// A parsed PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    /// `[URN:]attr[.sub]`
    Attr(AttrPath),
    /// `[URN:]attr[filter][.sub]`: the values of a multi-valued complex attribute that match
    /// `filter` (whose paths name sub-attributes), or one sub-attribute of each.
    Filtered {
        /// The complex attribute (no sub-attribute).
        attr: AttrPath,
        /// The value selection filter.
        filter: Filter,
        /// The sub-attribute of the selected values, if any.
        sub_attr: Option<String>,
    },
}

impl PatchPath {
    /// The attribute the path starts from.
    pub fn attr_path(&self) -> &AttrPath {
        match self {
            Self::Attr(p) | Self::Filtered { attr: p, .. } => p,
        }
    }
}

/// Parse a PATCH `path`.
pub fn parse_patch_path(s: &str) -> Result<PatchPath, ScimError> {
    let bad = |msg: &str| ScimError::invalid_path(format!("{msg}: {s:?}"));
    if s.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path(format!(
            "path longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let s_trim = s.trim();
    let Some(open) = s_trim.find('[') else {
        return parse_attr_path(s_trim).map(PatchPath::Attr).map_err(bad);
    };
    let attr = parse_attr_path(&s_trim[..open]).map_err(bad)?;
    if attr.sub_attr.is_some() {
        return Err(bad(
            "a value filter applies to an attribute, not a sub-attribute",
        ));
    }
    // The filter ends at the last ']' (string literals may contain ']').
    let close = s_trim
        .rfind(']')
        .filter(|c| *c > open)
        .ok_or_else(|| bad("missing ']'"))?;
    let inner = &s_trim[open + 1..close];
    let filter = parse_filter(inner)
        .map_err(|e| ScimError::invalid_path(format!("in the value filter: {}", e.detail)))?;
    if matches!(filter, Filter::ValuePath { .. }) || contains_value_path(&filter) {
        return Err(bad("value filters cannot be nested"));
    }
    let rest = &s_trim[close + 1..];
    let sub_attr = match rest.strip_prefix('.') {
        None if rest.is_empty() => None,
        None => return Err(bad("unexpected text after ']'")),
        Some(sub) => {
            let p = parse_attr_path(sub).map_err(bad)?;
            if p.schema.is_some() || p.sub_attr.is_some() {
                return Err(bad("bad sub-attribute after ']'"));
            }
            Some(p.attr)
        }
    };
    Ok(PatchPath::Filtered {
        attr,
        filter,
        sub_attr,
    })
}

fn contains_value_path(f: &Filter) -> bool {
    match f {
        Filter::ValuePath { .. } => true,
        Filter::And(l, r) | Filter::Or(l, r) => contains_value_path(l) || contains_value_path(r),
        Filter::Not(i) => contains_value_path(i),
        Filter::Compare { .. } | Filter::Present(_) => false,
    }
}

impl std::str::FromStr for PatchPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, ScimError> {
        parse_patch_path(s)
    }
}

/// Prints a path [`parse_patch_path`] reads back to the same value.
impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attr(p) => write!(f, "{p}"),
            Self::Filtered {
                attr,
                filter,
                sub_attr,
            } => {
                write!(f, "{attr}[{filter}]")?;
                if let Some(s) = sub_attr {
                    write!(f, ".{s}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ScimType;

    #[test]
    fn parses_value_filter_with_sub_attribute() {
        let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        let PatchPath::Filtered { attr, sub_attr, .. } = &p else {
            panic!()
        };
        assert_eq!(attr.attr, "emails");
        assert_eq!(sub_attr.as_deref(), Some("value"));
        assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
    }

    #[test]
    fn parses_urn_prefixed_extension_attribute() {
        let p =
            parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
                .unwrap();
        assert_eq!(p.attr_path().attr, "manager");
    }

    #[test]
    fn rejects_malformed_paths_with_invalid_path() {
        for bad in [
            "",
            "emails[type eq \"work\"",
            "emails[type eq]",
            "emails[type eq \"w\"]x",
            "name.given.x",
            "1abc",
            "members[value eq \"a\"].b.c",
        ] {
            let e = parse_patch_path(bad).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
        }
    }
}
