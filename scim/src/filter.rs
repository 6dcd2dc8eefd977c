//! SCIM filters (RFC 7644 §3.4.2.2): parsing into a public AST, printing, and evaluation over
//! rendered resources.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! ```
//!
//! Operators and attribute names are case-insensitive; `and` binds tighter than `or`. Input is
//! capped at [`MAX_FILTER_LEN`] bytes and [`MAX_FILTER_DEPTH`] levels of nesting.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ScimError;
use crate::schema::{AttrType, AttributeDef, ResourceSchema};

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// The deepest nesting of parentheses, `not` and value filters accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

/// A parsed filter (RFC 7644 §3.4.2.2).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// The inner filter does not hold.
    Not(Box<Filter>),
    /// `attrPath op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal compared against.
        value: CompValue,
    },
    /// `attrPath pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `attrPath[valFilter]`: some value of a complex attribute matches the inner filter, whose
    /// paths name sub-attributes (`emails[type eq "work" and value co "@x"]`).
    ValuePath {
        /// The complex attribute.
        attr: AttrPath,
        /// The filter over its values.
        filter: Box<Filter>,
    },
}

/// An attribute path: `[schemaURN ":"] attrName ["." subAttr]` (RFC 7644 §3.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, if written.
    pub schema: Option<String>,
    /// The attribute name, as written.
    pub attr: String,
    /// The sub-attribute name, if written.
    pub sub_attr: Option<String>,
}

/// A comparison operator (RFC 7644 §3.4.2.2, Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal to
    Ge,
    /// less than
    Lt,
    /// less than or equal to
    Le,
}

impl CompareOp {
    /// The operator keyword, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    fn from_keyword(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }
}

/// A comparison literal: a JSON string, number, boolean or `null`.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A JSON string (escapes decoded).
    Str(String),
    /// A JSON number.
    Num(Number),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// Parse a filter. Errors are 400 `invalidFilter`, naming the byte offset of the problem.
pub fn parse_filter(s: &str) -> Result<Filter, ScimError> {
    if s.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let mut p = Parser {
        s,
        b: s.as_bytes(),
        pos: 0,
        depth: 0,
        in_value_filter: false,
    };
    let f = p.or_expr()?;
    p.skip_ws();
    if p.pos < p.b.len() {
        return Err(p.err("unexpected trailing input"));
    }
    Ok(f)
}

impl std::str::FromStr for Filter {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, ScimError> {
        parse_filter(s)
    }
}

fn is_path_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'-' | b'_' | b'$')
}

fn valid_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic())
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

pub(crate) fn parse_attr_path(s: &str) -> Result<AttrPath, &'static str> {
    if s.is_empty() {
        return Err("missing attribute path");
    }
    let (schema, rest) = if s.len() > 4 && s.as_bytes()[..4].eq_ignore_ascii_case(b"urn:") {
        let idx = s.rfind(':').ok_or("bad schema URN")?;
        (Some(&s[..idx]), &s[idx + 1..])
    } else {
        (None, s)
    };
    if let Some(urn) = schema {
        if urn.len() <= 4
            || !urn
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b":.-_".contains(&c))
        {
            return Err("bad schema URN");
        }
    }
    let (attr, sub) = match rest.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    if !valid_attr_name(attr) || sub.is_some_and(|b| !valid_attr_name(b)) {
        return Err("bad attribute name");
    }
    Ok(AttrPath {
        schema: schema.map(str::to_owned),
        attr: attr.to_owned(),
        sub_attr: sub.map(str::to_owned),
    })
}

impl AttrPath {
    /// A path without schema or sub-attribute.
    pub fn attr(name: impl Into<String>) -> Self {
        Self {
            schema: None,
            attr: name.into(),
            sub_attr: None,
        }
    }

    /// Parse `[URN:]attr[.sub]`; errors are 400 `invalidPath`.
    pub fn parse(s: &str) -> Result<Self, ScimError> {
        parse_attr_path(s).map_err(|e| ScimError::invalid_path(format!("{e}: {s:?}")))
    }
}

impl std::str::FromStr for AttrPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, ScimError> {
        Self::parse(s)
    }
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
    in_value_filter: bool,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> ScimError {
        ScimError::invalid_filter(format!("{msg} at position {}", self.pos))
    }

    fn skip_ws(&mut self) -> usize {
        let start = self.pos;
        while self
            .b
            .get(self.pos)
            .is_some_and(|c| *c == b' ' || *c == b'\t' || *c == b'\n' || *c == b'\r')
        {
            self.pos += 1;
        }
        self.pos - start
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Whether the keyword `w` starts at the current position, as a whole word.
    fn at_keyword(&self, w: &str) -> bool {
        let end = self.pos + w.len();
        self.b
            .get(self.pos..end)
            .is_some_and(|s| s.eq_ignore_ascii_case(w.as_bytes()))
            && !self.b.get(end).is_some_and(|c| is_path_byte(*c))
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.err("filter nested too deeply"));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Filter, ScimError> {
        self.enter()?;
        let mut left = self.and_expr()?;
        loop {
            let save = self.pos;
            if self.skip_ws() > 0 && self.at_keyword("or") {
                self.pos += 2;
                if self.skip_ws() == 0 && self.peek() != Some(b'(') {
                    return Err(self.err("expected a space after 'or'"));
                }
                let right = self.and_expr()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                break;
            }
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        loop {
            let save = self.pos;
            if self.skip_ws() > 0 && self.at_keyword("and") {
                self.pos += 3;
                if self.skip_ws() == 0 && self.peek() != Some(b'(') {
                    return Err(self.err("expected a space after 'and'"));
                }
                let right = self.unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                break;
            }
        }
        Ok(left)
    }

    fn parenthesised(&mut self) -> Result<Filter, ScimError> {
        // at '('
        self.pos += 1;
        self.skip_ws();
        let inner = self.or_expr()?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(self.err("expected ')'"));
        }
        self.pos += 1;
        Ok(inner)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        self.skip_ws();
        if self.at_keyword("not") {
            let save = self.pos;
            self.pos += 3;
            self.skip_ws();
            if self.peek() == Some(b'(') {
                return Ok(Filter::Not(Box::new(self.parenthesised()?)));
            }
            // An attribute that happens to be called "not".
            self.pos = save;
        }
        if self.peek() == Some(b'(') {
            return self.parenthesised();
        }
        self.attr_expr()
    }

    fn attr_expr(&mut self) -> Result<Filter, ScimError> {
        let start = self.pos;
        while self.peek().is_some_and(is_path_byte) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("expected an attribute path"));
        }
        let path = parse_attr_path(&self.s[start..self.pos]).map_err(|e| {
            let mut p = ScimError::invalid_filter(format!("{e} at position {start}"));
            p.detail = format!("{} ({:?})", p.detail, &self.s[start..self.pos]);
            p
        })?;
        if self.peek() == Some(b'[') {
            if self.in_value_filter {
                return Err(self.err("value filters cannot be nested"));
            }
            if path.sub_attr.is_some() {
                return Err(self.err("a value filter applies to an attribute, not a sub-attribute"));
            }
            self.pos += 1;
            self.in_value_filter = true;
            self.skip_ws();
            let inner = self.or_expr()?;
            self.in_value_filter = false;
            self.skip_ws();
            if self.peek() != Some(b']') {
                return Err(self.err("expected ']'"));
            }
            self.pos += 1;
            if self.peek() == Some(b'.') {
                return Err(
                    self.err("a sub-attribute after a value filter is not allowed in a filter")
                );
            }
            return Ok(Filter::ValuePath {
                attr: path,
                filter: Box::new(inner),
            });
        }
        if self.skip_ws() == 0 {
            return Err(self.err("expected an operator"));
        }
        let op_start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word = &self.s[op_start..self.pos];
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            self.pos = op_start;
            return Err(self.err(&format!("unknown operator {word:?}")));
        };
        if self.skip_ws() == 0 {
            return Err(self.err("expected a space and a value after the operator"));
        }
        let value = self.comp_value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn comp_value(&mut self) -> Result<CompValue, ScimError> {
        if self.peek() == Some(b'"') {
            let start = self.pos;
            let mut i = self.pos + 1;
            loop {
                match self.b.get(i) {
                    None => return Err(self.err("unterminated string")),
                    Some(b'"') => break,
                    Some(b'\\') => i += 2,
                    Some(_) => i += 1,
                }
            }
            let raw = &self.s[start..=i];
            let value: String =
                serde_json::from_str(raw).map_err(|_| self.err("invalid string literal"))?;
            self.pos = i + 1;
            return Ok(CompValue::Str(value));
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            self.pos += 1;
        }
        let tok = &self.s[start..self.pos];
        if tok.is_empty() {
            return Err(self.err("missing comparison value"));
        }
        match tok.to_ascii_lowercase().as_str() {
            "true" => Ok(CompValue::Bool(true)),
            "false" => Ok(CompValue::Bool(false)),
            "null" => Ok(CompValue::Null),
            _ => match serde_json::from_str::<Number>(tok) {
                Ok(n) => Ok(CompValue::Num(n)),
                Err(_) => {
                    self.pos = start;
                    Err(self.err(&format!("invalid comparison value {tok:?}")))
                }
            },
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.schema {
            write!(f, "{s}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(s) = &self.sub_attr {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{}", Value::String(s.clone())),
            Self::Num(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Null => f.write_str("null"),
        }
    }
}

struct Grouped<'a>(&'a Filter);

impl fmt::Display for Grouped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Filter::And(..) | Filter::Or(..) => write!(f, "({})", self.0),
            other => write!(f, "{other}"),
        }
    }
}

/// Prints the filter in a form [`parse_filter`] reads back to the same AST (binary operands
/// that are themselves `and`/`or` are parenthesised).
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::And(l, r) => write!(f, "{} and {}", Grouped(l), Grouped(r)),
            Self::Or(l, r) => write!(f, "{} or {}", Grouped(l), Grouped(r)),
            Self::Not(inner) => write!(f, "not ({inner})"),
            Self::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Self::Present(path) => write!(f, "{path} pr"),
            Self::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

/// Look up an object member by name, case-insensitively (exact match first).
pub(crate) fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Whether a value counts as present for `pr` (RFC 7644 §3.4.2.2): not null, not an empty
/// string, array or object.
pub(crate) fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

#[derive(Clone, Copy)]
enum Ctx<'a> {
    Root(&'a Value),
    Element {
        parent: &'static AttributeDef,
        elem: &'a Value,
    },
}

/// The values a path designates in a context: `(values, definition of each value)`.
/// `raw` keeps complex values whole instead of descending into their `value` sub-attribute.
fn values_at<'a>(
    ctx: Ctx<'a>,
    path: &AttrPath,
    schema: &ResourceSchema,
    raw: bool,
) -> Option<(Vec<&'a Value>, Option<&'static AttributeDef>)> {
    match ctx {
        Ctx::Element { parent, elem } => {
            if path.sub_attr.is_some() || path.schema.is_some() {
                return None;
            }
            let sub = parent.sub_attribute(&path.attr)?;
            let vals = get_ci(elem, sub.name)
                .filter(|v| !v.is_null())
                .into_iter()
                .collect();
            Some((vals, Some(sub)))
        }
        Ctx::Root(root) => {
            let r = schema.resolve(path)?;
            let container = match r.extension {
                None => Some(root),
                Some(e) => get_ci(root, e.id),
            };
            let Some(v) = container.and_then(|c| get_ci(c, r.attr.name)) else {
                return Some((Vec::new(), leaf_def(r.attr, r.sub)));
            };
            let items: Vec<&Value> = match v {
                Value::Array(a) if r.attr.multi_valued => a.iter().collect(),
                other => vec![other],
            };
            if r.attr.ty != AttrType::Complex || (raw && r.sub.is_none()) {
                let def = if r.attr.ty == AttrType::Complex {
                    None
                } else {
                    Some(r.attr)
                };
                return Some((items.into_iter().filter(|v| !v.is_null()).collect(), def));
            }
            let sub_name = r.sub.map_or("value", |s| s.name);
            let vals = items
                .into_iter()
                .filter_map(|i| get_ci(i, sub_name))
                .filter(|v| !v.is_null())
                .collect();
            Some((vals, leaf_def(r.attr, r.sub)))
        }
    }
}

fn leaf_def(
    attr: &'static AttributeDef,
    sub: Option<&'static AttributeDef>,
) -> Option<&'static AttributeDef> {
    match sub {
        Some(s) => Some(s),
        None if attr.ty == AttrType::Complex => attr.sub_attribute("value"),
        None => Some(attr),
    }
}

fn parse_instant(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn ordering_holds(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn compare_one(def: &AttributeDef, actual: &Value, op: CompareOp, expected: &CompValue) -> bool {
    match (def.ty, expected) {
        (_, CompValue::Null) => false,
        (AttrType::Boolean, CompValue::Bool(b)) => {
            as_bool(actual).is_some_and(|a| matches!(op, CompareOp::Eq) == (a == *b))
        }
        (AttrType::Boolean, CompValue::Str(s)) => match as_bool(&Value::String(s.clone())) {
            Some(b) => as_bool(actual).is_some_and(|a| matches!(op, CompareOp::Eq) == (a == b)),
            None => false,
        },
        (AttrType::Integer | AttrType::Decimal, CompValue::Num(n)) => {
            let (Some(a), Some(e)) = (actual.as_f64(), n.as_f64()) else {
                return false;
            };
            a.partial_cmp(&e).is_some_and(|ord| ordering_holds(op, ord))
        }
        (AttrType::DateTime, CompValue::Str(s)) => {
            let Some(a) = actual.as_str() else {
                return false;
            };
            match (op, parse_instant(a), parse_instant(s)) {
                (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, ..) => compare_str(a, s, op, true),
                (_, Some(a), Some(e)) => ordering_holds(op, a.cmp(&e)),
                _ => compare_str(a, s, op, true),
            }
        }
        (AttrType::String | AttrType::Reference | AttrType::Binary, CompValue::Str(s)) => actual
            .as_str()
            .is_some_and(|a| compare_str(a, s, op, def.case_exact)),
        _ => false,
    }
}

fn compare_str(a: &str, e: &str, op: CompareOp, case_exact: bool) -> bool {
    let (a, e) = if case_exact {
        (a.to_owned(), e.to_owned())
    } else {
        (a.to_lowercase(), e.to_lowercase())
    };
    match op {
        CompareOp::Co => a.contains(&e),
        CompareOp::Sw => a.starts_with(&e),
        CompareOp::Ew => a.ends_with(&e),
        other => ordering_holds(other, a.cmp(&e)),
    }
}

impl Filter {
    /// Whether a rendered resource (with `id` and `meta`) matches. Unknown attributes never
    /// match; multi-valued attributes match if any value does; a complex attribute compared
    /// without a sub-attribute stands for its `value` sub-attribute; `ne` holds when no value is
    /// equal; `eq null` holds when the attribute is absent and `ne null` when present.
    pub fn matches(&self, resource: &Value, schema: &ResourceSchema) -> bool {
        self.eval(Ctx::Root(resource), schema)
    }

    /// Whether one value of the complex attribute `parent` matches (a PATCH value filter).
    pub(crate) fn matches_element(
        &self,
        parent: &'static AttributeDef,
        elem: &Value,
        schema: &ResourceSchema,
    ) -> bool {
        self.eval(Ctx::Element { parent, elem }, schema)
    }

    fn eval(&self, ctx: Ctx<'_>, schema: &ResourceSchema) -> bool {
        match self {
            Self::And(l, r) => l.eval(ctx, schema) && r.eval(ctx, schema),
            Self::Or(l, r) => l.eval(ctx, schema) || r.eval(ctx, schema),
            Self::Not(inner) => !inner.eval(ctx, schema),
            Self::Present(path) => values_at(ctx, path, schema, true)
                .is_some_and(|(vals, _)| vals.into_iter().any(is_present)),
            Self::Compare { path, op, value } => {
                let Some((vals, def)) =
                    values_at(ctx, path, schema, matches!(value, CompValue::Null))
                else {
                    return false;
                };
                if let CompValue::Null = value {
                    let present = vals.into_iter().any(is_present);
                    return match op {
                        CompareOp::Eq => !present,
                        CompareOp::Ne => present,
                        _ => false,
                    };
                }
                let Some(def) = def else { return false };
                match op {
                    CompareOp::Ne => !vals
                        .iter()
                        .any(|v| compare_one(def, v, CompareOp::Eq, value)),
                    _ => vals.iter().any(|v| compare_one(def, v, *op, value)),
                }
            }
            Self::ValuePath { attr, filter } => {
                let Ctx::Root(root) = ctx else { return false };
                let Some(r) = schema.resolve(attr) else {
                    return false;
                };
                if r.attr.ty != AttrType::Complex || r.sub.is_some() {
                    return false;
                }
                let container = match r.extension {
                    None => Some(root),
                    Some(e) => get_ci(root, e.id),
                };
                let Some(v) = container.and_then(|c| get_ci(c, r.attr.name)) else {
                    return false;
                };
                let elems: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                elems.into_iter().any(|elem| {
                    filter.eval(
                        Ctx::Element {
                            parent: r.attr,
                            elem,
                        },
                        schema,
                    )
                })
            }
        }
    }

    /// Check the filter against a schema where RFC 7644 requires a failure rather than a
    /// non-match: ordering operators (`gt`, `ge`, `lt`, `le`) on boolean or binary attributes,
    /// and ordering or substring operators with a boolean or `null` literal → `invalidFilter`.
    pub fn validate(&self, schema: &ResourceSchema) -> Result<(), ScimError> {
        self.validate_in(schema, None)
    }

    /// Check a filter applied to the values of a complex attribute (a PATCH value filter).
    pub(crate) fn validate_in(
        &self,
        schema: &ResourceSchema,
        parent: Option<&'static AttributeDef>,
    ) -> Result<(), ScimError> {
        match self {
            Self::And(l, r) | Self::Or(l, r) => {
                l.validate_in(schema, parent)?;
                r.validate_in(schema, parent)
            }
            Self::Not(inner) => inner.validate_in(schema, parent),
            Self::Present(_) => Ok(()),
            Self::ValuePath { attr, filter } => match schema.resolve(attr) {
                Some(r) if r.attr.ty == AttrType::Complex => {
                    filter.validate_in(schema, Some(r.attr))
                }
                _ => Ok(()),
            },
            Self::Compare { path, op, value } => {
                if *op != CompareOp::Eq
                    && *op != CompareOp::Ne
                    && matches!(value, CompValue::Bool(_) | CompValue::Null)
                {
                    return Err(ScimError::invalid_filter(format!(
                        "operator {op} cannot take {value} ({path})"
                    )));
                }
                let def = match parent {
                    Some(p) => p.sub_attribute(&path.attr),
                    None => schema.resolve(path).and_then(|r| leaf_def(r.attr, r.sub)),
                };
                if let Some(def) = def {
                    if op.is_ordering() && matches!(def.ty, AttrType::Boolean | AttrType::Binary) {
                        return Err(ScimError::invalid_filter(format!(
                            "operator {op} cannot compare {} attribute {path}",
                            def.ty.as_str()
                        )));
                    }
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

    fn cmp(attr: &str, op: CompareOp, v: CompValue) -> Filter {
        Filter::Compare {
            path: AttrPath::parse(attr).unwrap(),
            op,
            value: v,
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = parse_filter(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
        let n = |x: u64| CompValue::Num(x.into());
        assert_eq!(
            f,
            Filter::Or(
                Box::new(cmp("a", CompareOp::Eq, n(1))),
                Box::new(Filter::And(
                    Box::new(cmp("b", CompareOp::Eq, n(2))),
                    Box::new(cmp("c", CompareOp::Eq, n(3)))
                ))
            )
        );
    }

    #[test]
    fn operators_and_keywords_are_case_insensitive() {
        let f = parse_filter(r#"userName EQ "x" AND NOT (title Pr)"#).unwrap();
        assert_eq!(f.to_string(), r#"userName eq "x" and not (title pr)"#);
    }

    #[test]
    fn urn_prefixed_paths_split_at_the_last_colon() {
        let f = parse_filter(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "1""#,
        )
        .unwrap();
        let Filter::Compare { path, .. } = f else {
            panic!()
        };
        assert_eq!(
            path.schema.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(path.attr, "manager");
        assert_eq!(path.sub_attr.as_deref(), Some("value"));
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse_filter(r#"userName xx "a""#).unwrap_err();
        assert!(e.detail.contains("position 9"), "{}", e.detail);
    }
}
