//! Typed Wire identifiers (protocol doc §1): federation domains, user, device and team ids,
//! handles, display names, and the `wireapp://` URIs built from them.
//!
//! Every type here validates on construction and renders one canonical text form, because
//! step-ca compares client ids as raw strings (protocol doc §10 item 5): two spellings of the
//! same client must never both leave this crate.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The scheme of client-id and handle URIs; anything else is [`IdError::InvalidScheme`].
pub const WIREAPP_SCHEME: &str = "wireapp://";

/// Why a Wire identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not a lowercase DNS name (protocol doc §1.1 `domain`).
    #[error("invalid domain {input:?}: {reason}")]
    InvalidDomain {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a user id: neither a lowercase hyphenated UUID nor 22 characters of unpadded
    /// base64url encoding 16 bytes.
    #[error("invalid user id {input:?}: {reason}")]
    InvalidUserId {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a device id: 1 to 16 lowercase hex digits without leading zeros.
    #[error("invalid device id {input:?}: {reason}")]
    InvalidDeviceId {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a team id (lowercase hyphenated UUID).
    #[error("invalid team id {input:?}: {reason}")]
    InvalidTeamId {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a Wire handle: 2 to 256 characters of `[a-z0-9_.-]`.
    #[error("invalid handle {input:?}: {reason}")]
    InvalidHandle {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a display name: 1 to 128 characters, none of them a control character.
    #[error("invalid display name {input:?}: {reason}")]
    InvalidDisplayName {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A URI whose scheme is not exactly `wireapp://`.
    #[error("expected a `wireapp://` URI, got {input:?}")]
    InvalidScheme {
        /// The rejected text.
        input: String,
    },
    /// A `%` not followed by two hex digits, or percent-decoding that is not UTF-8.
    #[error("invalid percent-encoding in {input:?}")]
    InvalidPercentEncoding {
        /// The rejected text (the undecoded userinfo).
        input: String,
    },
    /// A client id whose overall shape is wrong (separators, user-id encoding length).
    #[error("malformed client id {input:?}: {reason}")]
    MalformedClientId {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A handle URI whose overall shape is wrong (no `@` before the domain).
    #[error("malformed handle URI {input:?}: {reason}")]
    MalformedHandleUri {
        /// The rejected text.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A handle URI whose decoded userinfo does not start with `@` (`%40`).
    #[error("handle URI {input:?} does not start its userinfo with `@` (`%40`)")]
    MissingHandlePrefix {
        /// The rejected text.
        input: String,
    },
}

/// Serde as the `Display` text; deserialisation goes through `FromStr`, so it validates.
macro_rules! serde_via_str {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(D::Error::custom)
            }
        }
    };
}

/// A Wire federation domain, e.g. `wire.com` (protocol doc §1.1 `domain`; also the
/// certificate `O`).
///
/// A lowercase DNS name: labels of 1 to 63 characters from `[a-z0-9-]`, not starting or
/// ending with `-`, at most 253 characters in all, no trailing dot and no port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Validates `domain`.
    pub fn new(domain: impl Into<String>) -> Result<Self, IdError> {
        let domain = domain.into();
        match check_domain(&domain) {
            Ok(()) => Ok(Self(domain)),
            Err(reason) => Err(IdError::InvalidDomain {
                input: domain,
                reason,
            }),
        }
    }

    /// The domain text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_domain(domain: &str) -> Result<(), &'static str> {
    if domain.is_empty() {
        return Err("empty");
    }
    if domain.len() > 253 {
        return Err("longer than 253 characters");
    }
    if domain.ends_with('.') {
        return Err("trailing dot");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > 63 {
            return Err("label longer than 63 characters");
        }
        for c in label.chars() {
            match c {
                'a'..='z' | '0'..='9' | '-' => {}
                'A'..='Z' => return Err("uppercase letter (domains are lowercase)"),
                ':' => return Err("port not allowed"),
                c if c.is_whitespace() => return Err("whitespace"),
                _ => return Err("character outside [a-z0-9.-]"),
            }
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("label starts or ends with '-'");
        }
    }
    Ok(())
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Domain {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

serde_via_str!(Domain);

/// Parses the canonical UUID text (hyphenated lowercase); `error` builds the caller's variant.
fn parse_canonical_uuid(
    input: &str,
    error: fn(String, &'static str) -> IdError,
) -> Result<Uuid, IdError> {
    let uuid = Uuid::try_parse(input).map_err(|_| error(input.to_owned(), "not a UUID"))?;
    // `try_parse` also takes uppercase, braced, URN and simple forms; only one spelling is
    // allowed so that equal ids are equal strings.
    if uuid.hyphenated().to_string() != input {
        return Err(error(input.to_owned(), "not a lowercase hyphenated UUID"));
    }
    Ok(uuid)
}

/// A Wire user id (protocol doc §1.1 `user-uuid`): a UUID, written hyphenated lowercase, or as
/// its 16 raw bytes in unpadded base64url inside client ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    /// Length of [`UserId::to_base64url`]'s output.
    pub const BASE64URL_LEN: usize = 22;

    /// The user id of a UUID.
    pub fn new(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The 16 raw bytes in unpadded base64url (always 22 characters), as in client ids.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// Parses exactly 22 characters of unpadded base64url that decode to 16 bytes (the unused
    /// low bits of the last character must be zero, so the encoding is unique).
    pub fn from_base64url(input: &str) -> Result<Self, IdError> {
        let error = |reason| IdError::InvalidUserId {
            input: input.to_owned(),
            reason,
        };
        if input.contains('=') {
            return Err(error("base64url user id must not be padded"));
        }
        if input.len() != Self::BASE64URL_LEN {
            return Err(error("base64url user id must be exactly 22 characters"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(input)
            .map_err(|_| error("not canonical unpadded base64url"))?;
        let bytes: [u8; 16] = bytes
            .try_into()
            .map_err(|_| error("does not decode to 16 bytes"))?;
        Ok(Self(Uuid::from_bytes(bytes)))
    }
}

impl From<Uuid> for UserId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for UserId {
    type Err = IdError;
    /// Parses the hyphenated lowercase UUID form only.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_canonical_uuid(s, |input, reason| IdError::InvalidUserId { input, reason }).map(Self)
    }
}

serde_via_str!(UserId);

/// A Wire device (client) id (protocol doc §1.1 `device-id-hex`): 64 bits, written in
/// lowercase hex without leading zeros and without `0x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(u64);

impl DeviceId {
    /// The device id with this numeric value.
    pub fn new(id: u64) -> Self {
        Self(id)
    }

    /// The numeric value.
    pub fn value(self) -> u64 {
        self.0
    }
}

impl From<u64> for DeviceId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

impl FromStr for DeviceId {
    type Err = IdError;
    /// Strict: 1 to 16 lowercase hex digits, no leading zero except `0` itself, no `0x`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |reason| IdError::InvalidDeviceId {
            input: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(error("empty"));
        }
        if s.len() > 16 {
            return Err(error("more than 16 hex digits"));
        }
        for c in s.chars() {
            match c {
                '0'..='9' | 'a'..='f' => {}
                'A'..='F' => return Err(error("uppercase hex digit")),
                _ => return Err(error("not a hex digit")),
            }
        }
        if s.len() > 1 && s.starts_with('0') {
            return Err(error("leading zero"));
        }
        u64::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| error("not a 64-bit hex number"))
    }
}

serde_via_str!(DeviceId);

/// A Wire team id (protocol doc §1.3, the DPoP `team` claim): a UUID, hyphenated lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TeamId(Uuid);

impl TeamId {
    /// The team id of a UUID.
    pub fn new(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for TeamId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for TeamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for TeamId {
    type Err = IdError;
    /// Parses the hyphenated lowercase UUID form only.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_canonical_uuid(s, |input, reason| IdError::InvalidTeamId { input, reason }).map(Self)
    }
}

serde_via_str!(TeamId);

/// A Wire user handle, e.g. `alice_wire` (protocol doc §1.2): 2 to 256 characters of
/// `[a-z0-9_.-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(String);

impl Handle {
    /// Validates `handle` (without the `@`).
    pub fn new(handle: impl Into<String>) -> Result<Self, IdError> {
        let handle = handle.into();
        match check_handle(&handle) {
            Ok(()) => Ok(Self(handle)),
            Err(reason) => Err(IdError::InvalidHandle {
                input: handle,
                reason,
            }),
        }
    }

    /// The handle text (without the `@`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_handle(handle: &str) -> Result<(), &'static str> {
    for c in handle.chars() {
        match c {
            'a'..='z' | '0'..='9' | '_' | '.' | '-' => {}
            'A'..='Z' => return Err("uppercase letter (handles are lowercase)"),
            _ => return Err("character outside [a-z0-9_.-]"),
        }
    }
    // Only ASCII remains, so the byte length is the character count.
    match handle.len() {
        0..=1 => Err("shorter than 2 characters"),
        2..=256 => Ok(()),
        _ => Err("longer than 256 characters"),
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Handle {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for Handle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

serde_via_str!(Handle);

/// A user's display name (protocol doc §1.4): arbitrary UTF-8 of 1 to 128 characters
/// (Unicode scalar values), no control characters.
///
/// Never trimmed or normalised: it must be byte-identical in the profile, the DPoP proof, both
/// ACME identifiers, the ID token and the CSR.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// Maximum length in Unicode scalar values.
    pub const MAX_CHARS: usize = 128;

    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
        let name = name.into();
        let error = |input, reason| IdError::InvalidDisplayName { input, reason };
        if name.is_empty() {
            return Err(error(name, "empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(error(name, "longer than 128 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(error(name, "contains a control character"));
        }
        Ok(Self(name))
    }

    /// The name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DisplayName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

serde_via_str!(DisplayName);

/// Decodes `%XX` escapes (either hex case); the result must be UTF-8.
fn percent_decode(input: &str) -> Result<String, IdError> {
    let error = || IdError::InvalidPercentEncoding {
        input: input.to_owned(),
    };
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let mut hex_digit = || {
                bytes
                    .next()
                    .and_then(|d| char::from(d).to_digit(16))
                    .ok_or_else(error)
            };
            let hi = hex_digit()?;
            let lo = hex_digit()?;
            // Two hex digits are at most 0xff.
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| error())
}

/// Splits `wireapp://{userinfo}@{host}` at the last `@`; returns the percent-decoded userinfo
/// and the raw host, or `None` when there is no `@`.
fn split_wireapp_uri(input: &str) -> Result<Option<(String, &str)>, IdError> {
    let rest = input
        .strip_prefix(WIREAPP_SCHEME)
        .ok_or_else(|| IdError::InvalidScheme {
            input: input.to_owned(),
        })?;
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => Ok(Some((percent_decode(userinfo)?, host))),
        None => Ok(None),
    }
}

/// A Wire client: user, device and domain (protocol doc §1.1).
///
/// Text forms (all accepted by `FromStr`):
///
/// | form | example |
/// |---|---|
/// | URI, `Display`, serde, tokens, ACME identifier ([`ClientId::to_uri`]) | `wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com` |
/// | certificate SAN ([`ClientId::to_certificate_uri`]) | `wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.com` |
/// | qualified E2EI form ([`ClientId::to_qualified`]) | `yRbSiljXSnCl77-QkM634g:9ff0457928ebe5f4@wire.com` |
/// | MLS client identity ([`ClientId::to_mls_identity`]) | `c916d28a-58d7-4a70-a5ef-bf9090ceb7e2:9ff0457928ebe5f4@wire.com` |
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    user: UserId,
    device: DeviceId,
    domain: Domain,
}

impl ClientId {
    /// The client `device` of `user` on `domain`.
    pub fn new(user: UserId, device: DeviceId, domain: Domain) -> Self {
        Self {
            user,
            device,
            domain,
        }
    }

    /// The user.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The device.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The federation domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// `wireapp://{b64u(user)}!{device hex}@{domain}`, with a literal `!`: the DPoP `sub`, the
    /// access-token `client_id` and the ACME `client-id` (protocol doc §1.1, §10 item 5).
    pub fn to_uri(&self) -> String {
        self.to_string()
    }

    /// `wireapp://{b64u(user)}%21{device hex}@{domain}`: the certificate SAN form, which
    /// wire-server's key-package parser requires (protocol doc §1.1, §10 item 6).
    pub fn to_certificate_uri(&self) -> String {
        format!(
            "{WIREAPP_SCHEME}{}%21{}@{}",
            self.user.to_base64url(),
            self.device,
            self.domain
        )
    }

    /// `{b64u(user)}:{device hex}@{domain}`: the "qualified" E2EI form.
    pub fn to_qualified(&self) -> String {
        format!(
            "{}:{}@{}",
            self.user.to_base64url(),
            self.device,
            self.domain
        )
    }

    /// `{uuid}:{device hex}@{domain}`: the MLS client identity (wire-server `ClientIdentity`).
    pub fn to_mls_identity(&self) -> String {
        format!("{}:{}@{}", self.user, self.device, self.domain)
    }

    /// Parses only the URI forms: `wireapp://{22-char b64u}!{hex}@{domain}`, with `!` literal
    /// or percent-encoded. The userinfo (before the last `@`) is percent-decoded before it is
    /// split on `!`.
    pub fn from_uri(input: &str) -> Result<Self, IdError> {
        let malformed = |reason| IdError::MalformedClientId {
            input: input.to_owned(),
            reason,
        };
        let (userinfo, host) =
            split_wireapp_uri(input)?.ok_or_else(|| malformed("missing '@' before the domain"))?;
        let (user, device) = userinfo
            .split_once('!')
            .ok_or_else(|| malformed("missing '!' between user and device"))?;
        Ok(Self {
            user: UserId::from_base64url(user)?,
            device: device.parse()?,
            domain: host.parse()?,
        })
    }

    /// Parses the scheme-less forms `{22-char b64u}:{hex}@{domain}` (qualified) and
    /// `{uuid}:{hex}@{domain}` (MLS client identity).
    fn from_scheme_less(input: &str) -> Result<Self, IdError> {
        let malformed = |reason| IdError::MalformedClientId {
            input: input.to_owned(),
            reason,
        };
        let (ids, host) = input
            .rsplit_once('@')
            .ok_or_else(|| malformed("missing '@' before the domain"))?;
        let (user, device) = ids
            .split_once(':')
            .ok_or_else(|| malformed("missing ':' between user and device"))?;
        let user = match user.len() {
            UserId::BASE64URL_LEN => UserId::from_base64url(user)?,
            36 => user.parse()?,
            _ => {
                return Err(malformed(
                    "user must be 22 characters of base64url or a 36-character UUID",
                ));
            }
        };
        Ok(Self {
            user,
            device: device.parse()?,
            domain: host.parse()?,
        })
    }
}

impl fmt::Display for ClientId {
    /// The URI form with a literal `!` ([`ClientId::to_uri`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{WIREAPP_SCHEME}{}!{}@{}",
            self.user.to_base64url(),
            self.device,
            self.domain
        )
    }
}

impl FromStr for ClientId {
    type Err = IdError;
    /// Parses any of the four text forms (see [`ClientId`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // None of the scheme-less forms can contain '/', so "://" means a scheme was given.
        if s.starts_with(WIREAPP_SCHEME) || s.contains("://") {
            Self::from_uri(s)
        } else {
            Self::from_scheme_less(s)
        }
    }
}

serde_via_str!(ClientId);

/// A handle on a domain as a URI, `wireapp://%40{handle}@{domain}` (protocol doc §1.2): the
/// ACME `handle` member and the certificate's second URI SAN.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedHandle {
    handle: Handle,
    domain: Domain,
}

impl QualifiedHandle {
    /// `handle` on `domain`.
    pub fn new(handle: Handle, domain: Domain) -> Self {
        Self { handle, domain }
    }

    /// The handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The federation domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// `wireapp://%40{handle}@{domain}` (same as `Display`).
    pub fn to_uri(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for QualifiedHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Handle characters are all URI-unreserved, so only the '@' needs encoding.
        write!(f, "{WIREAPP_SCHEME}%40{}@{}", self.handle, self.domain)
    }
}

impl FromStr for QualifiedHandle {
    type Err = IdError;
    /// Requires scheme `wireapp://`; percent-decodes the userinfo (before the last `@`), which
    /// must then start with `@`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (userinfo, host) =
            split_wireapp_uri(s)?.ok_or_else(|| IdError::MalformedHandleUri {
                input: s.to_owned(),
                reason: "missing '@' before the domain",
            })?;
        let handle = userinfo
            .strip_prefix('@')
            .ok_or_else(|| IdError::MissingHandlePrefix {
                input: s.to_owned(),
            })?;
        Ok(Self {
            handle: handle.parse()?,
            domain: host.parse()?,
        })
    }
}

serde_via_str!(QualifiedHandle);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALICE_USER: &str = "c916d28a-58d7-4a70-a5ef-bf9090ceb7e2";
    const ALICE_USER_B64: &str = "yRbSiljXSnCl77-QkM634g";
    const ALICE_URI: &str = "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com";
    const ALICE_CERT_URI: &str = "wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.com";
    const ALICE_QUALIFIED: &str = "yRbSiljXSnCl77-QkM634g:9ff0457928ebe5f4@wire.com";
    const ALICE_MLS: &str = "c916d28a-58d7-4a70-a5ef-bf9090ceb7e2:9ff0457928ebe5f4@wire.com";

    fn alice() -> ClientId {
        ClientId::new(
            ALICE_USER.parse().unwrap(),
            DeviceId::new(0x9ff0457928ebe5f4),
            Domain::new("wire.com").unwrap(),
        )
    }

    #[test]
    fn client_id_renders_protocol_section_1_1_vectors() {
        let alice = alice();
        assert_eq!(alice.user().to_base64url(), ALICE_USER_B64);
        assert_eq!(alice.to_uri(), ALICE_URI);
        assert_eq!(alice.to_string(), ALICE_URI);
        assert_eq!(alice.to_certificate_uri(), ALICE_CERT_URI);
        assert_eq!(alice.to_qualified(), ALICE_QUALIFIED);
        assert_eq!(alice.to_mls_identity(), ALICE_MLS);
    }

    #[test]
    fn client_id_parses_all_four_forms() {
        for form in [ALICE_URI, ALICE_CERT_URI, ALICE_QUALIFIED, ALICE_MLS] {
            assert_eq!(form.parse::<ClientId>().unwrap(), alice(), "{form}");
        }
        assert_eq!(ClientId::from_uri(ALICE_URI).unwrap(), alice());
        assert_eq!(ClientId::from_uri(ALICE_CERT_URI).unwrap(), alice());
    }

    #[test]
    fn client_id_uri_userinfo_is_percent_decoded_before_splitting() {
        // `%79` is 'y': the userinfo is decoded as a whole, as rusty-jwt-tools does.
        let uri = "wireapp://%79RbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.com";
        assert_eq!(uri.parse::<ClientId>().unwrap(), alice());
    }

    #[test]
    fn wire_server_certificate_san_vector() {
        let id: ClientId = "wireapp://qHiDLsbkT2-p9uSJsmrZ_A%217f39900830740008@wire.com"
            .parse()
            .unwrap();
        assert_eq!(
            id.to_mls_identity(),
            "a878832e-c6e4-4f6f-a9f6-e489b26ad9fc:7f39900830740008@wire.com"
        );
        assert_eq!(
            id.to_certificate_uri(),
            "wireapp://qHiDLsbkT2-p9uSJsmrZ_A%217f39900830740008@wire.com"
        );
    }

    #[test]
    fn wire_server_jwt_tools_vector() {
        let id: ClientId = "wireapp://SvPfLlwBQi-6oddVRrkqpw!4c7@example.com"
            .parse()
            .unwrap();
        assert_eq!(
            id.user().to_string(),
            "4af3df2e-5c01-422f-baa1-d75546b92aa7"
        );
        assert_eq!(id.device().value(), 1223);
        assert_eq!(id.device().to_string(), "4c7");
        assert_eq!(id.domain().as_str(), "example.com");
    }

    #[test]
    fn client_id_serde_is_the_uri_with_literal_bang() {
        let json = serde_json::to_string(&alice()).unwrap();
        assert_eq!(json, format!("\"{ALICE_URI}\""));
        let back: ClientId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, alice());
        let err = serde_json::from_str::<ClientId>("\"https://x!1@wire.com\"").unwrap_err();
        assert!(err.to_string().contains("wireapp://"), "{err}");
    }

    #[test]
    fn rejects_client_id_with_other_scheme() {
        for input in [
            "https://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
            "WIREAPP://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
            "wire://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
        ] {
            assert!(
                matches!(
                    input.parse::<ClientId>(),
                    Err(IdError::InvalidScheme { input: ref got }) if got == input
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn from_uri_rejects_scheme_less_forms() {
        for input in [ALICE_QUALIFIED, ALICE_MLS] {
            assert!(matches!(
                ClientId::from_uri(input),
                Err(IdError::InvalidScheme { .. })
            ));
        }
    }

    #[test]
    fn rejects_client_id_uri_without_bang() {
        let err = "wireapp://yRbSiljXSnCl77-QkM634g:9ff0457928ebe5f4@wire.com"
            .parse::<ClientId>()
            .unwrap_err();
        assert!(matches!(err, IdError::MalformedClientId { .. }), "{err}");
    }

    #[test]
    fn rejects_client_id_without_domain() {
        for input in [
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4",
            "yRbSiljXSnCl77-QkM634g:9ff0457928ebe5f4",
        ] {
            assert!(matches!(
                input.parse::<ClientId>(),
                Err(IdError::MalformedClientId { .. })
            ));
        }
    }

    #[test]
    fn rejects_padded_base64_user_id() {
        let err = "wireapp://yRbSiljXSnCl77-QkM634g==!9ff0457928ebe5f4@wire.com"
            .parse::<ClientId>()
            .unwrap_err();
        assert!(
            matches!(err, IdError::InvalidUserId { ref input, .. } if input == "yRbSiljXSnCl77-QkM634g=="),
            "{err}"
        );
        assert!(UserId::from_base64url("yRbSiljXSnCl77-QkM634g==").is_err());
    }

    #[test]
    fn rejects_standard_base64_user_id() {
        // '+' and '/' belong to the standard alphabet, not base64url.
        assert!(matches!(
            UserId::from_base64url("yRbSiljXSnCl77+QkM634g"),
            Err(IdError::InvalidUserId { .. })
        ));
    }

    #[test]
    fn rejects_non_canonical_base64_user_id() {
        // Last character 'h' sets unused low bits; `g` is the canonical spelling.
        assert!(UserId::from_base64url("yRbSiljXSnCl77-QkM634h").is_err());
        assert!(UserId::from_base64url(ALICE_USER_B64).is_ok());
    }

    #[test]
    fn rejects_short_or_long_base64_user_id() {
        assert!(UserId::from_base64url("yRbSiljXSnCl77-QkM634").is_err());
        assert!(UserId::from_base64url("yRbSiljXSnCl77-QkM634gA").is_err());
        assert!(
            "yRbSiljXSnCl77-QkM634:9ff0457928ebe5f4@wire.com"
                .parse::<ClientId>()
                .is_err()
        );
    }

    #[test]
    fn rejects_uuid_user_in_client_id_uri() {
        let input = format!("wireapp://{ALICE_USER}!9ff0457928ebe5f4@wire.com");
        assert!(matches!(
            input.parse::<ClientId>(),
            Err(IdError::InvalidUserId { .. })
        ));
    }

    #[test]
    fn rejects_uppercase_device_hex() {
        let err = "wireapp://yRbSiljXSnCl77-QkM634g!9FF0457928EBE5F4@wire.com"
            .parse::<ClientId>()
            .unwrap_err();
        assert!(matches!(err, IdError::InvalidDeviceId { .. }), "{err}");
        assert!("4C7".parse::<DeviceId>().is_err());
    }

    #[test]
    fn rejects_device_id_with_leading_zeros_or_prefix() {
        for input in ["04c7", "00", "0x4c7", "", "1ffffffffffffffff", "4c7 ", "-1"] {
            assert!(
                matches!(
                    input.parse::<DeviceId>(),
                    Err(IdError::InvalidDeviceId { .. })
                ),
                "{input:?}"
            );
        }
    }

    #[test]
    fn device_id_text_form() {
        assert_eq!("0".parse::<DeviceId>().unwrap(), DeviceId::new(0));
        assert_eq!(DeviceId::new(0).to_string(), "0");
        assert_eq!(
            "ffffffffffffffff".parse::<DeviceId>().unwrap(),
            DeviceId::new(u64::MAX)
        );
        assert_eq!(DeviceId::new(1223).to_string(), "4c7");
    }

    #[test]
    fn rejects_invalid_percent_encoding() {
        for input in [
            "wireapp://yRbSiljXSnCl77-QkM634g%2!9ff0457928ebe5f4@wire.com",
            "wireapp://yRbSiljXSnCl77-QkM634g%zz9ff0457928ebe5f4@wire.com",
            "wireapp://yRbSiljXSnCl77-QkM634g%ff!9ff0457928ebe5f4@wire.com",
        ] {
            assert!(
                matches!(
                    input.parse::<ClientId>(),
                    Err(IdError::InvalidPercentEncoding { .. })
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_client_id_with_port_or_path() {
        for input in [
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com:443",
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com/x",
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@Wire.com",
        ] {
            assert!(
                matches!(
                    input.parse::<ClientId>(),
                    Err(IdError::InvalidDomain { .. })
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_client_id_with_unknown_user_form() {
        let err = "alice:4c7@wire.com".parse::<ClientId>().unwrap_err();
        assert!(matches!(err, IdError::MalformedClientId { .. }), "{err}");
    }

    #[test]
    fn domain_accepts_lowercase_dns_names() {
        for input in [
            "wire.com",
            "localhost",
            "wire.localhost",
            "a-b.c0.example",
            "1.2",
        ] {
            assert_eq!(Domain::new(input).unwrap().as_str(), input);
        }
        let longest_label = "a".repeat(63);
        assert!(Domain::new(format!("{longest_label}.com")).is_ok());
        // Four 61-character labels, a 5-character one and four dots: exactly 253.
        let longest = [&"b".repeat(61)[..]; 4].join(".");
        assert_eq!(longest.len(), 247);
        let longest = format!("{longest}.abcde");
        assert_eq!(longest.len(), 253);
        assert!(Domain::new(longest).is_ok());
    }

    #[test]
    fn rejects_invalid_domains() {
        let cases = [
            ("", "empty"),
            ("Wire.com", "uppercase"),
            ("wire.com.", "trailing dot"),
            ("wire .com", "whitespace"),
            (" wire.com", "whitespace"),
            ("wire.com:443", "port"),
            ("wire..com", "empty label"),
            (".wire.com", "empty label"),
            ("-wire.com", "'-'"),
            ("wire-.com", "'-'"),
            ("wire_com", "character"),
            ("wïre.com", "character"),
        ];
        for (input, expected) in cases {
            match Domain::new(input) {
                Err(IdError::InvalidDomain { input: got, reason }) => {
                    assert_eq!(got, input);
                    assert!(reason.contains(expected), "{input:?}: {reason}");
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
        assert!(Domain::new(format!("{}.com", "a".repeat(64))).is_err());
        assert!(Domain::new(format!("{}.abcdef", [&"b".repeat(61)[..]; 4].join("."))).is_err());
    }

    #[test]
    fn user_id_text_forms() {
        let user: UserId = ALICE_USER.parse().unwrap();
        assert_eq!(user.to_string(), ALICE_USER);
        assert_eq!(UserId::from_base64url(ALICE_USER_B64).unwrap(), user);
        assert_eq!(
            serde_json::to_string(&user).unwrap(),
            format!("\"{ALICE_USER}\"")
        );
    }

    #[test]
    fn rejects_non_canonical_uuid_text() {
        for input in [
            "C916D28A-58D7-4A70-A5EF-BF9090CEB7E2",
            "c916d28a58d74a70a5efbf9090ceb7e2",
            "{c916d28a-58d7-4a70-a5ef-bf9090ceb7e2}",
            "urn:uuid:c916d28a-58d7-4a70-a5ef-bf9090ceb7e2",
            "not-a-uuid",
        ] {
            assert!(
                matches!(input.parse::<UserId>(), Err(IdError::InvalidUserId { .. })),
                "{input}"
            );
            assert!(
                matches!(input.parse::<TeamId>(), Err(IdError::InvalidTeamId { .. })),
                "{input}"
            );
        }
    }

    #[test]
    fn team_id_is_hyphenated_lowercase() {
        let team: TeamId = "6e85e053-536f-4585-8fc8-cada876e5ec7".parse().unwrap();
        assert_eq!(team.to_string(), "6e85e053-536f-4585-8fc8-cada876e5ec7");
        let back: TeamId =
            serde_json::from_str("\"6e85e053-536f-4585-8fc8-cada876e5ec7\"").unwrap();
        assert_eq!(back, team);
    }

    #[test]
    fn handle_validation() {
        for ok in ["alice_wire", "john_doe", "a.b-c_d", "ab", &"x".repeat(256)] {
            assert!(Handle::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "",
            "Alice",
            "alice wire",
            "al@ce",
            "ålice",
            &"x".repeat(257),
        ] {
            assert!(
                matches!(Handle::new(bad), Err(IdError::InvalidHandle { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn display_name_validation() {
        for ok in [
            "Alice Smith",
            "Smith, Alice M (QA)",
            " padded ",
            "Zoë 👩‍💻",
            "x",
        ] {
            assert_eq!(DisplayName::new(ok).unwrap().as_str(), ok);
        }
        assert!(DisplayName::new("é".repeat(128)).is_ok());
        for bad in ["", "line\nbreak", "tab\there", "nul\0", "del\u{7f}"] {
            assert!(
                matches!(
                    DisplayName::new(bad),
                    Err(IdError::InvalidDisplayName { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(DisplayName::new("é".repeat(129)).is_err());
    }

    #[test]
    fn qualified_handle_vectors() {
        let domain = Domain::new("wire.com").unwrap();
        for (handle, uri) in [
            ("alice_wire", "wireapp://%40alice_wire@wire.com"),
            ("beltram_wire", "wireapp://%40beltram_wire@wire.com"),
        ] {
            let qh = QualifiedHandle::new(Handle::new(handle).unwrap(), domain.clone());
            assert_eq!(qh.to_uri(), uri);
            assert_eq!(uri.parse::<QualifiedHandle>().unwrap(), qh);
            assert_eq!(qh.handle().as_str(), handle);
            assert_eq!(qh.domain(), &domain);
            assert_eq!(serde_json::to_string(&qh).unwrap(), format!("\"{uri}\""));
        }
        // A literal '@' is the same userinfo once decoded.
        assert_eq!(
            "wireapp://@alice_wire@wire.com"
                .parse::<QualifiedHandle>()
                .unwrap()
                .to_uri(),
            "wireapp://%40alice_wire@wire.com"
        );
    }

    #[test]
    fn rejects_handle_uri_without_at_prefix() {
        let err = "wireapp://beltram_wire@wire.com"
            .parse::<QualifiedHandle>()
            .unwrap_err();
        assert!(matches!(err, IdError::MissingHandlePrefix { .. }), "{err}");
    }

    #[test]
    fn rejects_handle_uri_with_other_scheme() {
        let err = "http://%40beltram_wire@wire.com"
            .parse::<QualifiedHandle>()
            .unwrap_err();
        assert!(matches!(err, IdError::InvalidScheme { .. }), "{err}");
    }

    #[test]
    fn rejects_handle_uri_without_domain() {
        let err = "wireapp://%40beltram_wire"
            .parse::<QualifiedHandle>()
            .unwrap_err();
        assert!(matches!(err, IdError::MalformedHandleUri { .. }), "{err}");
    }

    #[test]
    fn rejects_handle_uri_with_invalid_handle() {
        let err = "wireapp://%40Beltram@wire.com"
            .parse::<QualifiedHandle>()
            .unwrap_err();
        assert!(matches!(err, IdError::InvalidHandle { .. }), "{err}");
    }

    #[test]
    fn errors_name_the_offending_input() {
        let err = "wireapp://yRbSiljXSnCl77-QkM634g!0x4c7@wire.com"
            .parse::<ClientId>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid device id \"0x4c7\": not a hex digit"
        );
    }

    const DOMAIN_RE: &str =
        "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?){0,2}";

    proptest! {
        #[test]
        fn client_id_round_trips_through_all_text_forms(
            user in any::<u128>(),
            device in any::<u64>(),
            domain in DOMAIN_RE,
        ) {
            let id = ClientId::new(
                UserId::new(Uuid::from_u128(user)),
                DeviceId::new(device),
                Domain::new(domain).unwrap(),
            );
            for form in [id.to_uri(), id.to_certificate_uri(), id.to_qualified(), id.to_mls_identity()] {
                prop_assert_eq!(form.parse::<ClientId>().unwrap(), id.clone());
            }
            prop_assert_eq!(ClientId::from_uri(&id.to_certificate_uri()).unwrap(), id.clone());
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(&json, &format!("\"{}\"", id.to_uri()));
            prop_assert_eq!(serde_json::from_str::<ClientId>(&json).unwrap(), id);
        }

        #[test]
        fn device_id_text_is_canonical(device in any::<u64>()) {
            let text = DeviceId::new(device).to_string();
            prop_assert_eq!(text.parse::<DeviceId>().unwrap(), DeviceId::new(device));
            prop_assert_eq!(text, format!("{device:x}"));
        }

        #[test]
        fn parsers_never_panic(input in "\\PC{0,80}") {
            let _ = input.parse::<ClientId>();
            let _ = input.parse::<QualifiedHandle>();
            let _ = input.parse::<Domain>();
            let _ = input.parse::<DeviceId>();
            let _ = UserId::from_base64url(&input);
        }
    }
}
