//! Names: distinguished-name comparison (RFC 5280 §7.1), URI host extraction, and name
//! constraints (RFC 5280 §4.2.1.10, §6.1.3 (b)–(c), §6.1.4 (g)).
//!
//! Instead of computing the intersection of permitted subtrees symbolically, every CA's
//! constraints are kept and a name must satisfy each of them: a name is inside the intersection
//! of the permitted subtrees exactly when it is inside every CA's permitted subtrees of its type,
//! and inside the union of the excluded subtrees exactly when some CA excludes it.
//!
//! Names checked: the subject DN (when non-empty) as a directoryName, every subjectAltName
//! entry, and — only when there is no subjectAltName — the subject's emailAddress attributes as
//! rfc822Names. A constraint of one form says nothing about names of another form. Matching
//! (hosts and domains case-insensitively):
//!
//! - dNSName `example.com`: `example.com` and every subdomain; `.example.com`: subdomains only;
//!   empty: every name. A SAN wildcard `*.example.com` must lie wholly inside a permitted
//!   subtree and wholly outside every excluded one (CVE-2025-61727).
//! - uniformResourceIdentifier: applies to the URI's host ([`uri_host`]): `host` matches that
//!   host exactly, `.example.com` any subdomain host. A URI without a host authority violates
//!   the constraint; a host with characters other than letters, digits, `-`, `_`, `.` (e.g.
//!   percent-encoding) cannot be compared and is rejected.
//! - rfc822Name: `local@host` that mailbox (local part case-sensitive), `host` any mailbox at
//!   that host, `.example.com` any mailbox at a subdomain.
//! - iPAddress: address/mask of the same family (the mask must be a CIDR prefix).
//! - directoryName: the constraint's RDNs are a prefix of the name's.
//! - registeredID: equality.
//! - otherName, ediPartyName (and x400Address, which x509-cert cannot decode): no matching
//!   rule, so such a name under a constraint of its form is rejected.
//!
//! Malformed subtrees and names of a constrained form that do not parse fail closed.

use std::collections::HashMap;
use std::fmt;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc3280::EMAIL_ADDRESS;
use der::asn1::{Any, Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::constraints::name::{GeneralSubtree, NameConstraints};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::{Name, RelativeDistinguishedName};

use super::PathError;

/// How many (name, subtree) comparisons one path may cost before validation gives up; bounds
/// the work a hostile certificate with thousands of names and subtrees can cause.
pub(super) const NAME_CONSTRAINT_BUDGET: usize = 1 << 16;

// ---------------------------------------------------------------------------------------------
// Public helpers
// ---------------------------------------------------------------------------------------------

/// The `uniformResourceIdentifier` entries of the certificate's subjectAltName, as written
/// (percent-encoding kept). Empty when there is no (decodable) subjectAltName.
pub fn certificate_uris(cert: &Certificate) -> Vec<String> {
    cert.tbs_certificate()
        .filter_extensions::<SubjectAltName>()
        .filter_map(Result::ok)
        .flat_map(|(_, san)| san.0)
        .filter_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// The host of an absolute URI with an authority (`scheme://[userinfo@]host[:port][/…]`), as
/// RFC 5280 §4.2.1.10 uses it for URI name constraints: the part of the authority after the
/// **last** `@`, without a `:port`. IPv6 literals keep their brackets (`[::1]`).
///
/// `wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.com` → `wire.com`. URIs without
/// `//` (`mailto:`, `urn:`), with an empty host or a malformed scheme or port give `None`.
pub fn uri_host(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once(':')?;
    let mut scheme_chars = scheme.chars();
    if !scheme_chars.next()?.is_ascii_alphabetic()
        || !scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let rest = rest.strip_prefix("//")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']')?;
        let after = &host_port[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => port,
            None if after.is_empty() => "",
            None => return None,
        };
        (&host_port[..=close], port)
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (host_port, ""),
        }
    };
    if host.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(host)
}

// ---------------------------------------------------------------------------------------------
// Distinguished names
// ---------------------------------------------------------------------------------------------

/// RFC 5280 §7.1 name matching: binary equality, or the same RDN structure whose string
/// values are equal after case folding and whitespace normalisation (a practical subset of
/// RFC 4518 `caseIgnoreMatch`); non-string values must be binary equal.
pub fn names_equal(a: &Name, b: &Name) -> bool {
    a == b || (a.len() == b.len() && a.iter_rdn().zip(b.iter_rdn()).all(|(x, y)| rdn_equal(x, y)))
}

fn rdn_equal(a: &RelativeDistinguishedName, b: &RelativeDistinguishedName) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| atv_equal(x, y)))
}

fn atv_equal(a: &AttributeTypeAndValue, b: &AttributeTypeAndValue) -> bool {
    if a.oid != b.oid {
        return false;
    }
    if a.value == b.value {
        return true;
    }
    match (directory_string(&a.value), directory_string(&b.value)) {
        (Some(x), Some(y)) => normalise(x) == normalise(y),
        _ => false,
    }
}

fn directory_string(value: &Any) -> Option<&str> {
    if let Ok(s) = value.decode_as::<Utf8StringRef<'_>>() {
        return Some(s.as_str());
    }
    if let Ok(s) = value.decode_as::<PrintableStringRef<'_>>() {
        return Some(s.as_str());
    }
    if let Ok(s) = value.decode_as::<Ia5StringRef<'_>>() {
        return Some(s.as_str());
    }
    if let Ok(s) = value.decode_as::<TeletexStringRef<'_>>() {
        return Some(s.as_str());
    }
    None
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `prefix` is an initial sequence of RDNs of `name` (directoryName constraint matching).
fn dn_has_prefix(name: &Name, prefix: &Name) -> bool {
    prefix.len() <= name.len()
        && prefix
            .iter_rdn()
            .zip(name.iter_rdn())
            .all(|(p, n)| rdn_equal(p, n))
}

// ---------------------------------------------------------------------------------------------
// Constraints
// ---------------------------------------------------------------------------------------------

/// The name forms of RFC 5280 §4.2.1.6, as name constraints distinguish them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Other,
    Email,
    Dns,
    Directory,
    EdiParty,
    Uri,
    Ip,
    RegisteredId,
}

impl Kind {
    fn of(name: &GeneralName) -> Self {
        match name {
            GeneralName::OtherName(_) => Self::Other,
            GeneralName::Rfc822Name(_) => Self::Email,
            GeneralName::DnsName(_) => Self::Dns,
            GeneralName::DirectoryName(_) => Self::Directory,
            GeneralName::EdiPartyName(_) => Self::EdiParty,
            GeneralName::UniformResourceIdentifier(_) => Self::Uri,
            GeneralName::IpAddress(_) => Self::Ip,
            GeneralName::RegisteredId(_) => Self::RegisteredId,
        }
    }
}

/// One validated subtree base.
#[derive(Clone, Debug)]
enum Base {
    /// Lowercase; a leading `.` means "subdomains only"; empty means every DNS name.
    Dns(String),
    /// Lowercase host; a leading `.` means "any subdomain host".
    Uri(String),
    /// A mailbox (`local@host`), a host, or `.domain` (subdomains of domain).
    Email(EmailBase),
    /// Address and mask, both 4 or both 16 bytes, mask contiguous.
    Ip {
        address: Vec<u8>,
        mask: Vec<u8>,
    },
    Directory(Name),
    RegisteredId(ObjectIdentifier),
    /// otherName, x400Address, ediPartyName: no matching rule the validator implements.
    Uncheckable(Kind),
}

#[derive(Clone, Debug)]
enum EmailBase {
    Mailbox { local: String, host: String },
    Host(String),
    Domain(String),
}

impl Base {
    fn kind(&self) -> Kind {
        match self {
            Self::Dns(_) => Kind::Dns,
            Self::Uri(_) => Kind::Uri,
            Self::Email(_) => Kind::Email,
            Self::Ip { .. } => Kind::Ip,
            Self::Directory(_) => Kind::Directory,
            Self::RegisteredId(_) => Kind::RegisteredId,
            Self::Uncheckable(kind) => *kind,
        }
    }
}

impl fmt::Display for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(d) => write!(f, "DNS:{d}"),
            Self::Uri(u) => write!(f, "URI:{u}"),
            Self::Email(EmailBase::Mailbox { local, host }) => write!(f, "email:{local}@{host}"),
            Self::Email(EmailBase::Host(h) | EmailBase::Domain(h)) => write!(f, "email:{h}"),
            Self::Ip { address, mask } => {
                write!(f, "IP:{}/{}", ip_to_string(address), prefix_len(mask))
            }
            Self::Directory(n) => write!(f, "DirName:{n}"),
            Self::RegisteredId(oid) => write!(f, "RID:{oid}"),
            Self::Uncheckable(kind) => write!(f, "{kind:?} subtree"),
        }
    }
}

/// The name constraints one CA imposes on everything below it.
///
/// Subtrees are kept by name form: a name is only ever compared with subtrees of its own form,
/// and finding those must not mean scanning every subtree. Otherwise a CA with thousands of
/// subtrees of one form over a leaf with thousands of names of another costs names × subtrees
/// steps that the comparison budget never sees (x509-limbo pathological::nc-dos-3).
#[derive(Clone, Debug)]
pub(super) struct Constraints {
    /// Subject of the CA whose extension this is (for error messages).
    ca: String,
    permitted: HashMap<Kind, Vec<Base>>,
    excluded: HashMap<Kind, Vec<Base>>,
}

impl Constraints {
    /// Validates a nameConstraints extension of the CA `ca`. Malformed subtrees (wildcards,
    /// non-CIDR masks, two `@` in a mailbox, minimum/maximum other than the RFC's fixed values,
    /// an empty extension) are errors: a constraint the validator cannot read fails closed.
    pub(super) fn parse(ca: &str, nc: &NameConstraints) -> Result<Self, PathError> {
        let permitted = nc.permitted_subtrees.as_deref().unwrap_or_default();
        let excluded = nc.excluded_subtrees.as_deref().unwrap_or_default();
        if permitted.is_empty() && excluded.is_empty() {
            return Err(malformed(
                ca,
                "(empty)",
                "no permitted or excluded subtrees",
            ));
        }
        let parse_all = |subtrees: &[GeneralSubtree]| {
            let mut by_kind: HashMap<Kind, Vec<Base>> = HashMap::new();
            for subtree in subtrees {
                let base = parse_subtree(ca, subtree)?;
                by_kind.entry(base.kind()).or_default().push(base);
            }
            Ok::<_, PathError>(by_kind)
        };
        Ok(Self {
            ca: ca.to_owned(),
            permitted: parse_all(permitted)?,
            excluded: parse_all(excluded)?,
        })
    }

    /// The excluded and the permitted subtrees of one name form.
    fn of_kind(&self, kind: Kind) -> (&[Base], &[Base]) {
        let excluded = self.excluded.get(&kind).map(Vec::as_slice);
        let permitted = self.permitted.get(&kind).map(Vec::as_slice);
        (excluded.unwrap_or_default(), permitted.unwrap_or_default())
    }
}

fn malformed(ca: &str, constraint: &str, reason: &str) -> PathError {
    PathError::MalformedNameConstraint {
        subject: ca.to_owned(),
        constraint: constraint.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_subtree(ca: &str, subtree: &GeneralSubtree) -> Result<Base, PathError> {
    let shown = general_name_to_string(&subtree.base);
    if subtree.minimum != 0 || subtree.maximum.is_some() {
        return Err(malformed(
            ca,
            &shown,
            "minimum must be 0 and maximum absent (RFC 5280 §4.2.1.10)",
        ));
    }
    match &subtree.base {
        GeneralName::DnsName(d) => {
            let d = d.as_str().to_ascii_lowercase();
            let body = d.strip_prefix('.').unwrap_or(&d);
            if !(d.is_empty() || is_hostname(body)) {
                return Err(malformed(ca, &shown, "not a DNS name or .domain"));
            }
            Ok(Base::Dns(d))
        }
        GeneralName::UniformResourceIdentifier(u) => {
            let u = u.as_str().to_ascii_lowercase();
            let body = u.strip_prefix('.').unwrap_or(&u);
            if !is_hostname(body) {
                return Err(malformed(ca, &shown, "not a host or .domain"));
            }
            Ok(Base::Uri(u))
        }
        GeneralName::Rfc822Name(e) => {
            let e = e.as_str();
            let base = match e.split('@').collect::<Vec<_>>().as_slice() {
                [local, host] if !local.is_empty() && is_hostname(host) => EmailBase::Mailbox {
                    local: (*local).to_owned(),
                    host: host.to_ascii_lowercase(),
                },
                [domain] if domain.starts_with('.') && is_hostname(&domain[1..]) => {
                    EmailBase::Domain(domain.to_ascii_lowercase())
                }
                [host] if is_hostname(host) => EmailBase::Host(host.to_ascii_lowercase()),
                _ => return Err(malformed(ca, &shown, "not a mailbox, host or .domain")),
            };
            Ok(Base::Email(base))
        }
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            if bytes.len() != 8 && bytes.len() != 32 {
                return Err(malformed(
                    ca,
                    &shown,
                    "iPAddress subtrees are 8 (IPv4) or 32 (IPv6) octets",
                ));
            }
            let (address, mask) = bytes.split_at(bytes.len() / 2);
            if !is_contiguous_mask(mask) {
                return Err(malformed(ca, &shown, "mask is not a CIDR prefix"));
            }
            Ok(Base::Ip {
                address: address.to_vec(),
                mask: mask.to_vec(),
            })
        }
        GeneralName::DirectoryName(n) => Ok(Base::Directory(n.clone())),
        GeneralName::RegisteredId(oid) => Ok(Base::RegisteredId(*oid)),
        other => Ok(Base::Uncheckable(Kind::of(other))),
    }
}

fn is_contiguous_mask(mask: &[u8]) -> bool {
    let bits: Vec<bool> = mask
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| b & (1 << i) != 0))
        .collect();
    let ones = bits.iter().take_while(|b| **b).count();
    bits[ones..].iter().all(|b| !b)
}

fn prefix_len(mask: &[u8]) -> u32 {
    mask.iter().map(|b| b.count_ones()).sum()
}

fn ip_to_string(address: &[u8]) -> String {
    match address.len() {
        4 => std::net::Ipv4Addr::new(address[0], address[1], address[2], address[3]).to_string(),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(address);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        _ => format!("#{}", hex::encode(address)),
    }
}

/// LDH-ish host name: non-empty labels of ASCII letters, digits, `-` and `_`, at most 63
/// octets each. Underscores are tolerated (they appear in real names and do not make matching
/// ambiguous).
fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `name` (lowercase, no wildcard) lies in the subtree of DNS base `base` (lowercase).
fn dns_in_subtree(base: &str, name: &str) -> bool {
    if base.is_empty() {
        return true;
    }
    if base.starts_with('.') {
        return name.len() > base.len() && name.ends_with(base);
    }
    name == base
        || (name.len() > base.len()
            && name.ends_with(base)
            && name.as_bytes()[name.len() - base.len() - 1] == b'.')
}

/// A DNS name from a certificate, checked for syntax; `*.rest` wildcards are kept as a set.
struct DnsName {
    /// For `*.example.com`: `example.com`; otherwise the whole name.
    base: String,
    wildcard: bool,
}

impl DnsName {
    fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower).to_owned();
        if let Some(rest) = lower.strip_prefix("*.") {
            return is_hostname(rest).then(|| Self {
                base: rest.to_owned(),
                wildcard: true,
            });
        }
        is_hostname(&lower).then_some(Self {
            base: lower,
            wildcard: false,
        })
    }

    /// Every name this denotes is inside the subtree (permitted check).
    fn within(&self, base: &str) -> bool {
        if !self.wildcard {
            return dns_in_subtree(base, &self.base);
        }
        // `label.self.base` for every label: inside iff `self.base` is in the subtree of the
        // constraint with its leading dot removed.
        dns_in_subtree(base.strip_prefix('.').unwrap_or(base), &self.base)
    }

    /// Some name this denotes is inside the subtree (excluded check).
    fn overlaps(&self, base: &str) -> bool {
        if !self.wildcard {
            return dns_in_subtree(base, &self.base);
        }
        let plain = base.strip_prefix('.').unwrap_or(base);
        dns_in_subtree(plain, &self.base)
            || (!base.starts_with('.')
                && base
                    .split_once('.')
                    .is_some_and(|(_, parent)| parent == self.base))
    }
}

/// The outcome of comparing one name with one subtree.
enum Match {
    Yes,
    No,
}

/// One name to be checked, in the form the comparisons need.
enum Subject<'a> {
    Dns(DnsName),
    /// The lowercase host; `None` when the URI has no host authority.
    Uri(Option<String>),
    Email {
        local: &'a str,
        host: String,
    },
    Ip(&'a [u8]),
    Directory(&'a Name),
    RegisteredId(ObjectIdentifier),
    Uncheckable,
}

/// Checks every name of a certificate (`cert_subject` describes it) against one CA's
/// constraints.
pub(super) fn check_names(
    cert_subject: &str,
    subject: &Name,
    san: Option<&[GeneralName]>,
    constraints: &Constraints,
    budget: &mut usize,
) -> Result<(), PathError> {
    // Subject DN as a directoryName (when non-empty); SAN entries; without a SAN, the subject's
    // emailAddress attributes are rfc822Names (RFC 5280 §4.2.1.10).
    let mut names: Vec<GeneralName> = Vec::new();
    if !subject.is_empty() {
        names.push(GeneralName::DirectoryName(subject.clone()));
    }
    match san {
        Some(san) => names.extend(san.iter().cloned()),
        None => {
            for atv in subject.iter().filter(|atv| atv.oid == EMAIL_ADDRESS) {
                let Some(text) = directory_string(&atv.value) else {
                    return Err(PathError::UncheckableName {
                        subject: cert_subject.to_owned(),
                        name: "emailAddress attribute".into(),
                        reason: "not a string".into(),
                    });
                };
                let ia5 =
                    der::asn1::Ia5String::new(text).map_err(|_| PathError::UncheckableName {
                        subject: cert_subject.to_owned(),
                        name: format!("emailAddress {text}"),
                        reason: "not IA5".into(),
                    })?;
                names.push(GeneralName::Rfc822Name(ia5));
            }
        }
    }
    for name in &names {
        check_name(cert_subject, name, constraints, budget)?;
    }
    Ok(())
}

fn check_name(
    cert_subject: &str,
    name: &GeneralName,
    constraints: &Constraints,
    budget: &mut usize,
) -> Result<(), PathError> {
    let kind = Kind::of(name);
    let (excluded, permitted) = constraints.of_kind(kind);
    if excluded.is_empty() && permitted.is_empty() {
        return Ok(());
    }
    let shown = general_name_to_string(name);
    let uncheckable = |reason: &str| PathError::UncheckableName {
        subject: cert_subject.to_owned(),
        name: shown.clone(),
        reason: reason.to_owned(),
    };
    let parsed = match name {
        GeneralName::DnsName(d) => Subject::Dns(
            DnsName::parse(d.as_str()).ok_or_else(|| uncheckable("malformed DNS name"))?,
        ),
        GeneralName::UniformResourceIdentifier(u) => match uri_host(u.as_str()) {
            None => Subject::Uri(None),
            Some(host) if host.starts_with('[') => Subject::Uri(Some(host.to_owned())),
            Some(host) => {
                let host = host.to_ascii_lowercase();
                let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
                if !is_hostname(&host) {
                    return Err(uncheckable("URI host is not a plain host name"));
                }
                Subject::Uri(Some(host))
            }
        },
        GeneralName::Rfc822Name(e) => match e.as_str().split('@').collect::<Vec<_>>().as_slice() {
            [local, host] if !local.is_empty() && is_hostname(host) => Subject::Email {
                local,
                host: host.to_ascii_lowercase(),
            },
            _ => return Err(uncheckable("not a single local@host mailbox")),
        },
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            if bytes.len() != 4 && bytes.len() != 16 {
                return Err(uncheckable("iPAddress is not 4 or 16 octets"));
            }
            Subject::Ip(bytes)
        }
        GeneralName::DirectoryName(n) => Subject::Directory(n),
        GeneralName::RegisteredId(oid) => Subject::RegisteredId(*oid),
        _ => Subject::Uncheckable,
    };
    if matches!(parsed, Subject::Uncheckable) {
        return Err(uncheckable(
            "no matching rule for this name form under a constraint of its type",
        ));
    }
    if let Subject::Uri(None) = parsed {
        let subtree = permitted
            .first()
            .or(excluded.first())
            .map(|b| b.to_string())
            .unwrap_or_default();
        return Err(PathError::NameConstraintViolation {
            subject: cert_subject.to_owned(),
            name: shown,
            subtree: format!("{subtree} of {} (URI has no host)", constraints.ca),
        });
    }
    for base in excluded {
        spend(budget)?;
        if let Match::Yes = compare(&parsed, base, true) {
            return Err(PathError::NameConstraintViolation {
                subject: cert_subject.to_owned(),
                name: shown,
                subtree: format!("excluded {base} of {}", constraints.ca),
            });
        }
    }
    if permitted.is_empty() {
        return Ok(());
    }
    for base in permitted {
        spend(budget)?;
        if let Match::Yes = compare(&parsed, base, false) {
            return Ok(());
        }
    }
    Err(PathError::NameConstraintViolation {
        subject: cert_subject.to_owned(),
        name: shown,
        subtree: format!(
            "permitted {} of {}",
            permitted
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            constraints.ca
        ),
    })
}

fn spend(budget: &mut usize) -> Result<(), PathError> {
    if *budget == 0 {
        return Err(PathError::NameConstraintBudgetExceeded {
            limit: NAME_CONSTRAINT_BUDGET,
        });
    }
    *budget -= 1;
    Ok(())
}

/// Compares a name with a subtree of the same kind. `excluded` selects overlap semantics for
/// wildcard DNS names (a wildcard is excluded when any name it covers is) instead of subset
/// semantics (a wildcard is permitted only when every name it covers is).
fn compare(name: &Subject<'_>, base: &Base, excluded: bool) -> Match {
    let yes = match (name, base) {
        (Subject::Dns(n), Base::Dns(b)) => {
            if excluded {
                n.overlaps(b)
            } else {
                n.within(b)
            }
        }
        (Subject::Uri(Some(host)), Base::Uri(b)) => match b.strip_prefix('.') {
            Some(_) => host.len() > b.len() && host.ends_with(b.as_str()),
            None => host == b,
        },
        (Subject::Email { local, host }, Base::Email(b)) => match b {
            EmailBase::Mailbox { local: l, host: h } => local == l && host == h,
            EmailBase::Host(h) => host == h,
            EmailBase::Domain(d) => host.len() > d.len() && host.ends_with(d.as_str()),
        },
        (Subject::Ip(addr), Base::Ip { address, mask }) => {
            addr.len() == address.len()
                && addr
                    .iter()
                    .zip(address)
                    .zip(mask)
                    .all(|((a, b), m)| a & m == b & m)
        }
        (Subject::Directory(n), Base::Directory(b)) => dn_has_prefix(n, b),
        (Subject::RegisteredId(n), Base::RegisteredId(b)) => n == b,
        _ => false,
    };
    if yes { Match::Yes } else { Match::No }
}

/// A general name in openssl-like `TYPE:value` form, for error messages.
pub(super) fn general_name_to_string(name: &GeneralName) -> String {
    match name {
        GeneralName::OtherName(o) => format!("othername:{}", o.type_id),
        GeneralName::Rfc822Name(e) => format!("email:{}", e.as_str()),
        GeneralName::DnsName(d) => format!("DNS:{}", d.as_str()),
        GeneralName::DirectoryName(n) => format!("DirName:{n}"),
        GeneralName::EdiPartyName(_) => "EdiPartyName".to_owned(),
        GeneralName::UniformResourceIdentifier(u) => format!("URI:{}", u.as_str()),
        GeneralName::IpAddress(ip) => format!("IP:{}", ip_to_string(ip.as_bytes())),
        GeneralName::RegisteredId(oid) => format!("RID:{oid}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::str::FromStr;

    use der::asn1::{Ia5String, OctetString};

    use super::*;

    #[test]
    fn uri_host_takes_the_part_after_the_last_at() {
        for (uri, host) in [
            (
                "wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.com",
                Some("wire.com"),
            ),
            (
                "wireapp://%40alice_wire@wire.example.com",
                Some("wire.example.com"),
            ),
            (
                "wireapp://abc%21def@wire.example.com",
                Some("wire.example.com"),
            ),
            ("wireapp://a@evil.com@wire.com", Some("wire.com")),
            ("https://host.example:8443/path?q=1", Some("host.example")),
            ("https://user:pw@host.example/", Some("host.example")),
            ("https://[::1]:443/", Some("[::1]")),
            ("https://host.example/a@b", Some("host.example")),
            ("https://host.example:", Some("host.example")),
            ("mailto:alice@example.com", None),
            ("urn:example:x", None),
            ("wireapp://%40alice@", None),
            ("https://host:port/", None),
            ("1abc://host/", None),
            ("no-scheme", None),
        ] {
            assert_eq!(uri_host(uri), host, "{uri}");
        }
    }

    #[test]
    fn dns_subtrees_follow_rfc_5280_and_the_leading_dot_form() {
        assert!(dns_in_subtree("example.com", "example.com"));
        assert!(dns_in_subtree("example.com", "a.b.example.com"));
        assert!(!dns_in_subtree("example.com", "notexample.com"));
        assert!(dns_in_subtree(".example.com", "a.example.com"));
        assert!(!dns_in_subtree(".example.com", "example.com"));
        assert!(dns_in_subtree("", "anything.example"));

        let wildcard = DnsName::parse("*.Example.com").unwrap();
        assert!(wildcard.within("example.com"));
        assert!(wildcard.within(".example.com"));
        assert!(!wildcard.within("foo.example.com"));
        assert!(wildcard.overlaps("bar.example.com"));
        assert!(wildcard.overlaps("com"));
        assert!(!wildcard.overlaps("a.bar.example.com"));
        assert!(DnsName::parse(".example.com").is_none());
        assert!(DnsName::parse("foo.*.example.com").is_none());
    }

    #[test]
    fn names_compare_case_and_space_insensitively() {
        let a = Name::from_str("CN=Wire  Intermediate CA,O=Wire").unwrap();
        let b = Name::from_str("CN=wire intermediate ca,O=WIRE").unwrap();
        let c = Name::from_str("CN=Wire Intermediate CA").unwrap();
        assert!(names_equal(&a, &b));
        assert!(!names_equal(&a, &c));
        assert!(dn_has_prefix(&a, &Name::from_str("O=wire").unwrap()));
        assert!(!dn_has_prefix(&a, &c));
    }

    fn constraints(permitted: Vec<GeneralName>, excluded: Vec<GeneralName>) -> Constraints {
        let subtrees = |names: Vec<GeneralName>| {
            (!names.is_empty()).then(|| {
                names
                    .into_iter()
                    .map(|base| GeneralSubtree {
                        base,
                        minimum: 0,
                        maximum: None,
                    })
                    .collect()
            })
        };
        Constraints::parse(
            "CN=CA",
            &NameConstraints {
                permitted_subtrees: subtrees(permitted),
                excluded_subtrees: subtrees(excluded),
            },
        )
        .unwrap()
    }

    fn check(c: &Constraints, san: Vec<GeneralName>) -> Result<(), PathError> {
        let mut budget = NAME_CONSTRAINT_BUDGET;
        check_names("CN=leaf", &Name::default(), Some(&san), c, &mut budget)
    }

    fn uri(s: &str) -> GeneralName {
        GeneralName::UniformResourceIdentifier(Ia5String::new(s).unwrap())
    }
    fn dns(s: &str) -> GeneralName {
        GeneralName::DnsName(Ia5String::new(s).unwrap())
    }
    fn email(s: &str) -> GeneralName {
        GeneralName::Rfc822Name(Ia5String::new(s).unwrap())
    }
    fn ip(bytes: &[u8]) -> GeneralName {
        GeneralName::IpAddress(OctetString::new(bytes).unwrap())
    }

    #[test]
    fn uri_constraints_match_the_host_exactly_or_as_subdomain() {
        let exact = constraints(vec![uri("wire.example.com")], vec![]);
        assert!(check(&exact, vec![uri("wireapp://%40alice@wire.example.com")]).is_ok());
        assert!(check(&exact, vec![uri("wireapp://abc%21def@WIRE.example.com")]).is_ok());
        for bad in [
            "wireapp://%40alice@evil.example.com",
            "wireapp://%40alice@sub.wire.example.com",
            "urn:wire.example.com",
        ] {
            assert!(
                matches!(
                    check(&exact, vec![uri(bad)]),
                    Err(PathError::NameConstraintViolation { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            check(&exact, vec![uri("wireapp://x@wire%2eexample.com")]),
            Err(PathError::UncheckableName { .. })
        ));
        let subdomains = constraints(vec![uri(".example.com")], vec![]);
        assert!(check(&subdomains, vec![uri("https://a.example.com/")]).is_ok());
        assert!(check(&subdomains, vec![uri("https://example.com/")]).is_err());
        let excluded = constraints(vec![], vec![uri(".evil.com")]);
        assert!(check(&excluded, vec![uri("https://good.com/")]).is_ok());
        assert!(check(&excluded, vec![uri("https://x@a.evil.com/")]).is_err());
    }

    #[test]
    fn names_are_compared_only_with_subtrees_of_their_own_form() {
        // x509-limbo pathological::nc-dos-3, scaled up: 20 000 e-mail names under 40 000
        // dNSName subtrees. Finding a name's subtrees by form must not scan the others: that
        // scan would be 8·10⁸ steps the comparison budget never counts (seconds, not the
        // milliseconds this takes).
        let subtrees = |n: usize| (0..n).map(|i| dns(&format!("t{i}.test"))).collect();
        let c = constraints(subtrees(20_000), subtrees(20_000));
        let names: Vec<GeneralName> = (0..20_000).map(|i| email(&format!("t{i}@test"))).collect();
        let started = std::time::Instant::now();
        let mut budget = NAME_CONSTRAINT_BUDGET;
        check_names("CN=leaf", &Name::default(), Some(&names), &c, &mut budget).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(budget, NAME_CONSTRAINT_BUDGET, "no comparison was needed");
        assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
        // The same subtrees do apply to a DNS name.
        assert!(check(&c, vec![dns("t7.test")]).is_err());
    }

    #[test]
    fn email_and_ip_constraints() {
        let mailbox = constraints(vec![email("*@example.com")], vec![]);
        assert!(check(&mailbox, vec![email("*@example.com")]).is_ok());
        assert!(check(&mailbox, vec![email("user@example.com")]).is_err());
        let host = constraints(vec![email("example.com")], vec![]);
        assert!(check(&host, vec![email("foo@EXAMPLE.com")]).is_ok());
        assert!(check(&host, vec![email("foo@sub.example.com")]).is_err());
        assert!(matches!(
            check(&host, vec![email("a@b@example.com")]),
            Err(PathError::UncheckableName { .. })
        ));
        let domain = constraints(vec![email(".example.com")], vec![]);
        assert!(check(&domain, vec![email("foo@sub.example.com")]).is_ok());
        assert!(check(&domain, vec![email("foo@example.com")]).is_err());

        let net = constraints(vec![ip(&[192, 0, 2, 0, 255, 255, 255, 0])], vec![]);
        assert!(check(&net, vec![ip(&[192, 0, 2, 7])]).is_ok());
        assert!(check(&net, vec![ip(&[192, 0, 3, 7])]).is_err());
        assert!(check(&net, vec![ip(&[0u8; 16])]).is_err());
        assert!(matches!(
            check(&net, vec![ip(&[192, 0, 2, 0, 255, 255, 255, 0])]),
            Err(PathError::UncheckableName { .. })
        ));
        // A different name type is not constrained by an iPAddress subtree.
        assert!(check(&net, vec![dns("example.com")]).is_ok());
    }

    #[test]
    fn rejects_malformed_subtrees() {
        let parse = |base: GeneralName| {
            Constraints::parse(
                "CN=CA",
                &NameConstraints {
                    permitted_subtrees: Some(vec![GeneralSubtree {
                        base,
                        minimum: 0,
                        maximum: None,
                    }]),
                    excluded_subtrees: None,
                },
            )
        };
        for base in [
            dns("*.example.com"),
            uri("https://example.com/"),
            email("a@b@example.com"),
            ip(&[192, 0, 2, 0, 255, 0, 255, 0]),
            ip(&[192, 0, 2, 0]),
        ] {
            assert!(
                matches!(
                    parse(base.clone()),
                    Err(PathError::MalformedNameConstraint { .. })
                ),
                "{base:?}"
            );
        }
        assert!(
            Constraints::parse(
                "CN=CA",
                &NameConstraints {
                    permitted_subtrees: Some(vec![]),
                    excluded_subtrees: None,
                }
            )
            .is_err()
        );
    }

    #[test]
    fn wildcard_dns_names_must_fit_permitted_and_avoid_excluded() {
        let permitted = constraints(vec![dns("foo.com")], vec![]);
        assert!(check(&permitted, vec![dns("*.foo.com")]).is_ok());
        let narrow = constraints(vec![dns("foo.example.com")], vec![]);
        assert!(check(&narrow, vec![dns("*.example.com")]).is_err());
        let excluded = constraints(vec![], vec![dns("bar.example.com")]);
        assert!(check(&excluded, vec![dns("*.example.com")]).is_err());
        assert!(matches!(
            check(&permitted, vec![dns(".foo.com")]),
            Err(PathError::UncheckableName { .. })
        ));
    }
}
