//! New-order identifier rules (protocol doc §4 step 4, ARCHITECTURE.md "Wire challenges"): a Wire
//! order carries exactly one `wireapp-user` and one `wireapp-device` identifier that agree on
//! handle, name and domain, and is never mixed with DNS identifiers; a standard order carries
//! only distinct, well-formed DNS names.

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
/// trailing dot, at least two labels, at most 253 characters.
pub fn is_dns_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}
