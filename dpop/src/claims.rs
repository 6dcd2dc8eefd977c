//! Typed reads of JWT claims; a claim of the wrong JSON type is an error, never a silent absence.

use serde_json::{Map, Value};

/// A claim is present with the wrong JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WrongType(pub(crate) &'static str);

/// Read access to a claim set.
#[derive(Clone, Copy)]
pub(crate) struct Claims<'a>(pub(crate) &'a Map<String, Value>);

impl<'a> Claims<'a> {
    /// A string claim.
    pub(crate) fn string(&self, name: &'static str) -> Result<Option<&'a str>, WrongType> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(WrongType(name)),
        }
    }

    /// A NumericDate claim in whole seconds (RFC 7519 §2; Wire never sends fractions).
    pub(crate) fn seconds(&self, name: &'static str) -> Result<Option<i64>, WrongType> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or(WrongType(name)),
        }
    }

    /// Whether `aud` (a string or an array of strings) contains `expected`.
    pub(crate) fn audience_contains(&self, expected: &str) -> Result<bool, WrongType> {
        match self.0.get("aud") {
            None => Ok(false),
            Some(Value::String(s)) => Ok(s == expected),
            Some(Value::Array(items)) => {
                let mut found = false;
                for item in items {
                    match item {
                        Value::String(s) => found |= s == expected,
                        _ => return Err(WrongType("aud")),
                    }
                }
                Ok(found)
            }
            Some(_) => Err(WrongType("aud")),
        }
    }
}
