//! New-order identifier rules (protocol doc §4 step 4, ARCHITECTURE.md "Wire challenges"): a Wire
//! order carries exactly one `wireapp-user` and one `wireapp-device` identifier that agree on
//! handle, name and domain, and is never mixed with DNS identifiers; a standard order carries
//! only distinct, well-formed DNS names (RFC 8555 §7.1.3, §7.4), lower-cased, at most
//! [`MAX_DNS_IDENTIFIERS`] of them, a wildcard only as a whole leftmost `*.` label. Which names a
//! standard provisioner certifies is its [`DnsPolicy`].

use e2ei_core::identifier::{
    WIREAPP_DEVICE, WIREAPP_USER, WireDeviceIdentifier, WireIdentifiers, WireUserIdentifier,
};

use crate::messages::Identifier;
use crate::problem::{Problem, ProblemType};

/// Most identifiers in one standard order.
pub const MAX_DNS_IDENTIFIERS: usize = 100;

/// What a new-order request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderIdentifiers {
    /// A Wire device certificate.
    Wire(Box<WireIdentifiers>),
    /// A standard certificate for DNS names (lower-cased).
    Dns(Vec<String>),
}

/// Classifies and validates the identifiers of a new order.
pub fn validate_identifiers(identifiers: &[Identifier]) -> Result<OrderIdentifiers, Problem> {
    if identifiers.is_empty() {
        return Err(Problem::malformed("an order needs identifiers"));
    }
    let wire = identifiers
        .iter()
        .filter(|i| i.kind == WIREAPP_USER || i.kind == WIREAPP_DEVICE)
        .count();
    if wire > 0 {
        if wire != identifiers.len() {
            return Err(Problem::malformed(
                "Wire identifiers cannot be mixed with other identifiers",
            ));
        }
        return wire_pair(identifiers).map(|pair| OrderIdentifiers::Wire(Box::new(pair)));
    }
    let mut names = Vec::new();
    let mut problem = Problem::new(
        ProblemType::RejectedIdentifier,
        "unsupported or malformed identifiers",
    );
    for identifier in identifiers {
        if identifier.kind != "dns" {
            problem = problem.with_subproblem(
                ProblemType::UnsupportedIdentifier,
                format!("identifier type `{}` is not supported", identifier.kind),
                Some(identifier.clone()),
            );
            continue;
        }
        let name = identifier.value.to_ascii_lowercase();
        if !is_dns_name(&name) {
            problem = problem.with_subproblem(
                ProblemType::RejectedIdentifier,
                format!("`{}` is not a valid DNS name", identifier.value),
                Some(identifier.clone()),
            );
            continue;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if !problem.subproblems.is_empty() {
        if problem
            .subproblems
            .iter()
            .all(|s| s.kind == ProblemType::UnsupportedIdentifier)
        {
            problem.kind = ProblemType::UnsupportedIdentifier;
        }
        return Err(problem);
    }
    if names.len() > MAX_DNS_IDENTIFIERS {
        return Err(Problem::new(
            ProblemType::RejectedIdentifier,
            format!("at most {MAX_DNS_IDENTIFIERS} identifiers per order"),
        ));
    }
    Ok(OrderIdentifiers::Dns(names))
}

fn wire_pair(identifiers: &[Identifier]) -> Result<WireIdentifiers, Problem> {
    let users: Vec<&Identifier> = identifiers
        .iter()
        .filter(|i| i.kind == WIREAPP_USER)
        .collect();
    let devices: Vec<&Identifier> = identifiers
        .iter()
        .filter(|i| i.kind == WIREAPP_DEVICE)
        .collect();
    let ([user], [device]) = (users.as_slice(), devices.as_slice()) else {
        return Err(Problem::malformed(format!(
            "a Wire order has exactly one {WIREAPP_USER} and one {WIREAPP_DEVICE} identifier (got {} and {})",
            users.len(),
            devices.len()
        )));
    };
    let user = WireUserIdentifier::from_value_str(&user.value)
        .map_err(|e| Problem::malformed(e.to_string()))?;
    let device = WireDeviceIdentifier::from_value_str(&device.value)
        .map_err(|e| Problem::malformed(e.to_string()))?;
    WireIdentifiers::new(user, device).map_err(|e| Problem::malformed(e.to_string()))
}

/// A DNS name as RFC 8555 orders carry it: LDH labels, optional leading `*.` wildcard, no
/// trailing dot, at least two labels (after the wildcard), at most 253 characters. Labels with
/// `--` in the third and fourth positions are reserved (RFC 5891 §4.2.3.1) unless they are IDNA
/// A-labels (`xn--…`) that decode to a valid U-label and encode back to themselves.
pub fn is_dns_name(name: &str) -> bool {
    let base = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = base.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| is_ldh_label(l))
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}

/// One lowercase LDH label (RFC 1123 §2.1, RFC 5890 §2.3.1), 1–63 characters, with the
/// reserved-hyphen rule of RFC 5891 §4.2.3.1 and A-label validity.
fn is_ldh_label(label: &str) -> bool {
    let ldh = !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ldh {
        return false;
    }
    if label.get(2..4) != Some("--") {
        return true;
    }
    label.starts_with("xn--") && is_a_label(label)
}

/// An IDNA A-label that decodes (Punycode, UTS #46 without transitional processing) and whose
/// strict re-encoding is the same label, so one name has one spelling.
fn is_a_label(label: &str) -> bool {
    let (unicode, decoded) = idna::domain_to_unicode(label);
    decoded.is_ok()
        && unicode != label
        && idna::domain_to_ascii_strict(&unicode).is_ok_and(|again| again == label)
}

/// The name an authorization for `name` validates: a wildcard order name `*.example.com` is
/// authorized through `example.com` (RFC 8555 §7.1.3, §7.1.4).
pub fn authorization_name(name: &str) -> (&str, bool) {
    match name.strip_prefix("*.") {
        Some(base) => (base, true),
        None => (name, false),
    }
}

/// One rule of a standard provisioner's name policy (see [`DnsPolicy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRule {
    /// `example.com`: exactly that name.
    Exact(String),
    /// `*.example.com`: every name strictly below `example.com` (any depth), wildcard names
    /// below it included, but not `example.com` itself.
    Below(String),
    /// `.example.com`: `example.com` and every name below it.
    AtOrBelow(String),
}

impl DomainRule {
    /// Whether `name` (lowercase, possibly `*.`-prefixed) is allowed by this rule.
    pub fn allows(&self, name: &str) -> bool {
        let below = |suffix: &str| {
            name.len() > suffix.len() + 1
                && name.ends_with(suffix)
                && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
        };
        match self {
            Self::Exact(exact) => name == exact,
            Self::Below(suffix) => below(suffix),
            Self::AtOrBelow(suffix) => name == suffix || below(suffix),
        }
    }
}

impl std::fmt::Display for DomainRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(n) => f.write_str(n),
            Self::Below(n) => write!(f, "*.{n}"),
            Self::AtOrBelow(n) => write!(f, ".{n}"),
        }
    }
}

/// A rule that is not a lowercase LDH name with an optional `*.` or `.` prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a domain rule (`name`, `*.suffix` or `.suffix`, lowercase LDH labels)")]
pub struct BadDomainRule(pub String);

impl std::str::FromStr for DomainRule {
    type Err = BadDomainRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadDomainRule(s.to_owned());
        let (rule, suffix): (fn(String) -> Self, &str) = if let Some(rest) = s.strip_prefix("*.") {
            (Self::Below, rest)
        } else if let Some(rest) = s.strip_prefix('.') {
            (Self::AtOrBelow, rest)
        } else {
            if !is_dns_name(s) {
                return Err(bad());
            }
            return Ok(Self::Exact(s.to_owned()));
        };
        // A suffix may be a single label (`*.internal`); names below it still have two.
        if suffix.len() > 253
            || !suffix.split('.').all(is_ldh_label)
            || suffix
                .split('.')
                .all(|l| l.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(rule(suffix.to_owned()))
    }
}

/// Which DNS names a standard provisioner certifies: a name is allowed when any rule allows
/// it. Names outside the policy are refused at new-order with `rejectedIdentifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPolicy {
    rules: Vec<DomainRule>,
}

impl DnsPolicy {
    /// A policy of `rules`; an empty list allows nothing.
    pub fn new(rules: Vec<DomainRule>) -> Self {
        Self { rules }
    }

    /// Parses rule strings (`example.com`, `*.example.com`, `.example.com`).
    pub fn parse<S: AsRef<str>>(rules: &[S]) -> Result<Self, BadDomainRule> {
        rules
            .iter()
            .map(|r| r.as_ref().parse())
            .collect::<Result<_, _>>()
            .map(Self::new)
    }

    /// The rules.
    pub fn rules(&self) -> &[DomainRule] {
        &self.rules
    }

    /// Whether `name` (lowercase, possibly `*.`-prefixed) may be certified.
    pub fn allows(&self, name: &str) -> bool {
        self.rules.iter().any(|r| r.allows(name))
    }

    /// Every name of a standard order must be allowed; the problem names each refused one.
    pub fn check(&self, names: &[String]) -> Result<(), Problem> {
        let mut problem = Problem::new(
            ProblemType::RejectedIdentifier,
            "this provisioner does not issue for some of the names",
        );
        for name in names.iter().filter(|n| !self.allows(n)) {
            problem = problem.with_subproblem(
                ProblemType::RejectedIdentifier,
                format!("`{name}` is outside the names this provisioner issues for"),
                Some(Identifier::dns(name.clone())),
            );
        }
        if problem.subproblems.is_empty() {
            Ok(())
        } else {
            Err(problem)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ldh_names_wildcards_and_valid_a_labels() {
        for good in [
            "example.com",
            "a-b.example.com",
            "*.example.com",
            "xn--bcher-kva.example",
            "a.xn--bcher-kva.example",
            "1.example.com",
        ] {
            assert!(is_dns_name(good), "{good}");
        }
    }

    #[test]
    fn rejects_reserved_hyphens_bad_a_labels_and_misplaced_wildcards() {
        let long_label = format!("{}.example.com", "a".repeat(64));
        let long_name = format!("{}com", "a.".repeat(127));
        for bad in [
            "ab--cd.example.com",
            "xn--.example.com",
            "xn--zz-zzzzzzzz.example.com",
            // Uppercase A-label: orders are lower-cased before this check.
            "XN--bcher-kva.example",
            "*.*.example.com",
            "a.*.example.com",
            "*example.com",
            "*.com",
            "b\u{fc}cher.example",
            "a_b.example.com",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn wildcard_names_are_authorized_through_their_base() {
        assert_eq!(authorization_name("*.example.com"), ("example.com", true));
        assert_eq!(
            authorization_name("a.example.com"),
            ("a.example.com", false)
        );
    }

    #[test]
    fn domain_rules_allow_exact_names_below_and_at_or_below() {
        let policy =
            DnsPolicy::parse(&["www.example.org", "*.wire.example.com", ".corp.example"]).unwrap();
        for allowed in [
            "www.example.org",
            "a.wire.example.com",
            "a.b.wire.example.com",
            "*.wire.example.com",
            "corp.example",
            "x.corp.example",
            "*.corp.example",
        ] {
            assert!(policy.allows(allowed), "{allowed}");
        }
        for refused in [
            "example.org",
            "a.www.example.org",
            "wire.example.com",
            "awire.example.com",
            "a.wire.example.com.evil",
            "xcorp.example",
        ] {
            assert!(!policy.allows(refused), "{refused}");
        }
        let p = policy
            .check(&["a.wire.example.com".into(), "evil.example".into()])
            .unwrap_err();
        assert_eq!(p.kind, ProblemType::RejectedIdentifier);
        assert_eq!(p.subproblems.len(), 1);
        assert_eq!(
            p.subproblems[0].identifier,
            Some(Identifier::dns("evil.example"))
        );
        assert!(
            DnsPolicy::new(Vec::new())
                .check(&["a.example".into()])
                .is_err()
        );
    }

    #[test]
    fn domain_rules_must_be_lowercase_ldh() {
        for bad in [
            "",
            "*.",
            ".",
            "Example.com",
            "*.*.a.com",
            "a..b",
            "*.a_b.com",
            "1.2.3.4",
            ".1.2",
        ] {
            assert!(bad.parse::<DomainRule>().is_err(), "{bad}");
        }
        assert_eq!(
            "*.internal".parse::<DomainRule>().unwrap(),
            DomainRule::Below("internal".into())
        );
        assert_eq!(
            ".example.com".parse::<DomainRule>().unwrap().to_string(),
            ".example.com"
        );
    }
}
