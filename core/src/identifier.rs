//! The ACME identifier kinds `wireapp-user` and `wireapp-device` (protocol doc §4 step 4).
//!
//! Their `value` is a JSON document serialised into a string:
//!
//! ```text
//! wireapp-device: {"client-id":"wireapp://…!…@wire.com","handle":"wireapp://%40alice_wire@wire.com","name":"Alice Smith","domain":"wire.com"}
//! wireapp-user:   {"handle":"wireapp://%40alice_wire@wire.com","name":"Alice Smith","domain":"wire.com"}
//! ```
//!
//! Members are emitted in that order (as the reference client does) and parsed by name, as
//! step-ca does; unknown members are ignored, duplicated ones rejected.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::{ClientId, DisplayName, Domain, Handle, IdError, QualifiedHandle};

/// ACME identifier type of the user identifier.
pub const WIREAPP_USER: &str = "wireapp-user";
/// ACME identifier type of the device identifier.
pub const WIREAPP_DEVICE: &str = "wireapp-device";

/// The `type` of an ACME identifier (RFC 8555 §9.7.7; Wire kinds: protocol doc §4 step 4).
///
/// Historical kinds such as `wireapp-id` (protocol doc §10 item 15) are rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AcmeIdentifierKind {
    /// `wireapp-user`: handle, display name and domain, proven by `wire-oidc-01`.
    #[serde(rename = "wireapp-user")]
    WireappUser,
    /// `wireapp-device`: the client id as well, proven by `wire-dpop-01`.
    #[serde(rename = "wireapp-device")]
    WireappDevice,
    /// `dns` (RFC 8555 §9.7.7).
    #[serde(rename = "dns")]
    Dns,
}

impl AcmeIdentifierKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::WireappUser, Self::WireappDevice, Self::Dns];

    /// The identifier `type` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WireappUser => WIREAPP_USER,
            Self::WireappDevice => WIREAPP_DEVICE,
            Self::Dns => "dns",
        }
    }
}

impl fmt::Display for AcmeIdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ACME identifier `type` that is not one of [`AcmeIdentifierKind`] (step-ca answers
/// `malformed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ACME identifier type {kind:?} (supported: wireapp-user, wireapp-device, dns)")]
pub struct UnknownIdentifierKind {
    /// The rejected type.
    pub kind: String,
}

impl FromStr for AcmeIdentifierKind {
    type Err = UnknownIdentifierKind;
    /// Exact, case-sensitive match.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownIdentifierKind { kind: s.to_owned() })
    }
}

/// Why a `wireapp-user` or `wireapp-device` identifier value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifierError {
    /// The value is not a JSON object whose members are strings, or repeats a member.
    #[error("{kind} identifier value is not a JSON object of strings: {detail}")]
    MalformedValue {
        /// Which identifier.
        kind: AcmeIdentifierKind,
        /// The JSON parser's message.
        detail: String,
    },
    /// A required member is absent (or `null`).
    #[error("{kind} identifier value lacks `{member}`")]
    MissingMember {
        /// Which identifier.
        kind: AcmeIdentifierKind,
        /// The member name.
        member: &'static str,
    },
    /// A required member is the empty string.
    #[error("{kind} identifier member `{member}` is empty")]
    EmptyMember {
        /// Which identifier.
        kind: AcmeIdentifierKind,
        /// The member name.
        member: &'static str,
    },
    /// A member does not parse as its type.
    #[error("{kind} identifier member `{member}` is invalid: {source}")]
    InvalidMember {
        /// Which identifier.
        kind: AcmeIdentifierKind,
        /// The member name.
        member: &'static str,
        /// Why it does not parse.
        #[source]
        source: IdError,
    },
    /// The domain inside `client-id` or `handle` differs from the `domain` member.
    #[error("{kind} identifier: `{member}` is on domain `{found}` but `domain` is `{expected}`")]
    DomainMismatch {
        /// Which identifier.
        kind: AcmeIdentifierKind,
        /// `client-id` or `handle`.
        member: &'static str,
        /// The `domain` member.
        expected: Domain,
        /// The domain inside `member`.
        found: Domain,
    },
}

/// Why a `wireapp-user` and a `wireapp-device` identifier cannot form one order: they must
/// agree on handle, name and domain (protocol doc §4 step 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifierMismatch {
    /// Different `handle`s.
    #[error("user identifier handle `{user}` differs from device identifier handle `{device}`")]
    Handle {
        /// The user identifier's.
        user: QualifiedHandle,
        /// The device identifier's.
        device: QualifiedHandle,
    },
    /// Different display names.
    #[error("user identifier name {user:?} differs from device identifier name {device:?}")]
    Name {
        /// The user identifier's.
        user: DisplayName,
        /// The device identifier's.
        device: DisplayName,
    },
    /// Different domains.
    #[error("user identifier domain `{user}` differs from device identifier domain `{device}`")]
    Domain {
        /// The user identifier's.
        user: Domain,
        /// The device identifier's.
        device: Domain,
    },
}

const CLIENT_ID: &str = "client-id";
const HANDLE: &str = "handle";
const NAME: &str = "name";
const DOMAIN: &str = "domain";

/// The value members as received; only the typed identifiers below are trusted.
#[derive(Deserialize)]
struct ValueIn {
    #[serde(rename = "client-id")]
    client_id: Option<String>,
    handle: Option<String>,
    name: Option<String>,
    domain: Option<String>,
}

impl ValueIn {
    fn parse(kind: AcmeIdentifierKind, value: &str) -> Result<Self, IdentifierError> {
        serde_json::from_str(value).map_err(|e| IdentifierError::MalformedValue {
            kind,
            detail: e.to_string(),
        })
    }
}

/// The non-empty text of a required member.
fn required<'a>(
    kind: AcmeIdentifierKind,
    member: &'static str,
    text: &'a Option<String>,
) -> Result<&'a str, IdentifierError> {
    match text.as_deref() {
        None => Err(IdentifierError::MissingMember { kind, member }),
        Some("") => Err(IdentifierError::EmptyMember { kind, member }),
        Some(text) => Ok(text),
    }
}

/// Parses a required member as `T`.
fn member<T: FromStr<Err = IdError>>(
    kind: AcmeIdentifierKind,
    member: &'static str,
    text: &Option<String>,
) -> Result<T, IdentifierError> {
    required(kind, member, text)?
        .parse()
        .map_err(|source| IdentifierError::InvalidMember {
            kind,
            member,
            source,
        })
}

fn check_domain(
    kind: AcmeIdentifierKind,
    member: &'static str,
    found: &Domain,
    expected: &Domain,
) -> Result<(), IdentifierError> {
    if found == expected {
        Ok(())
    } else {
        Err(IdentifierError::DomainMismatch {
            kind,
            member,
            expected: expected.clone(),
            found: found.clone(),
        })
    }
}

/// `s` as a JSON string literal, with serde_json's escaping.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The `wireapp-user` identifier: who the user is (protocol doc §4 step 4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WireUserIdentifier {
    handle: QualifiedHandle,
    name: DisplayName,
    domain: Domain,
}

impl WireUserIdentifier {
    const KIND: AcmeIdentifierKind = AcmeIdentifierKind::WireappUser;

    /// The identifier, provided the handle is on `domain`.
    pub fn new(
        handle: QualifiedHandle,
        name: DisplayName,
        domain: Domain,
    ) -> Result<Self, IdentifierError> {
        check_domain(Self::KIND, HANDLE, handle.domain(), &domain)?;
        Ok(Self {
            handle,
            name,
            domain,
        })
    }

    /// The handle URI.
    pub fn handle(&self) -> &QualifiedHandle {
        &self.handle
    }

    /// The display name.
    pub fn name(&self) -> &DisplayName {
        &self.name
    }

    /// The federation domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// `{"handle":…,"name":…,"domain":…}`, the identifier `value`.
    pub fn to_value_string(&self) -> String {
        format!(
            r#"{{"{HANDLE}":{},"{NAME}":{},"{DOMAIN}":{}}}"#,
            json_string(&self.handle.to_uri()),
            json_string(self.name.as_str()),
            json_string(self.domain.as_str()),
        )
    }

    /// Parses an identifier `value`: `handle`, `name`, `domain` present, non-empty and
    /// consistent; other members ignored.
    pub fn from_value_str(value: &str) -> Result<Self, IdentifierError> {
        let v = ValueIn::parse(Self::KIND, value)?;
        let handle = member(Self::KIND, HANDLE, &v.handle)?;
        let name = member(Self::KIND, NAME, &v.name)?;
        let domain = member(Self::KIND, DOMAIN, &v.domain)?;
        Self::new(handle, name, domain)
    }
}

impl Serialize for WireUserIdentifier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_value_string())
    }
}

impl<'de> Deserialize<'de> for WireUserIdentifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::from_value_str(&value).map_err(D::Error::custom)
    }
}

/// The `wireapp-device` identifier: the client, plus the same user data as the user identifier
/// (protocol doc §4 step 4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WireDeviceIdentifier {
    client_id: ClientId,
    handle: QualifiedHandle,
    name: DisplayName,
    domain: Domain,
}

impl WireDeviceIdentifier {
    const KIND: AcmeIdentifierKind = AcmeIdentifierKind::WireappDevice;

    /// The identifier, provided the client id and the handle are on `domain`.
    pub fn new(
        client_id: ClientId,
        handle: QualifiedHandle,
        name: DisplayName,
        domain: Domain,
    ) -> Result<Self, IdentifierError> {
        check_domain(Self::KIND, CLIENT_ID, client_id.domain(), &domain)?;
        check_domain(Self::KIND, HANDLE, handle.domain(), &domain)?;
        Ok(Self {
            client_id,
            handle,
            name,
            domain,
        })
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The handle URI.
    pub fn handle(&self) -> &QualifiedHandle {
        &self.handle
    }

    /// The display name.
    pub fn name(&self) -> &DisplayName {
        &self.name
    }

    /// The federation domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// `{"client-id":…,"handle":…,"name":…,"domain":…}`, the identifier `value`; the client
    /// id carries a literal `!`.
    pub fn to_value_string(&self) -> String {
        format!(
            r#"{{"{CLIENT_ID}":{},"{HANDLE}":{},"{NAME}":{},"{DOMAIN}":{}}}"#,
            json_string(&self.client_id.to_uri()),
            json_string(&self.handle.to_uri()),
            json_string(self.name.as_str()),
            json_string(self.domain.as_str()),
        )
    }

    /// Parses an identifier `value`: `client-id` (a `wireapp://` URI, `!` literal or `%21`),
    /// `handle`, `name`, `domain` present, non-empty and consistent; other members ignored.
    pub fn from_value_str(value: &str) -> Result<Self, IdentifierError> {
        let v = ValueIn::parse(Self::KIND, value)?;
        let client_id = required(Self::KIND, CLIENT_ID, &v.client_id)?;
        let client_id =
            ClientId::from_uri(client_id).map_err(|source| IdentifierError::InvalidMember {
                kind: Self::KIND,
                member: CLIENT_ID,
                source,
            })?;
        let handle = member(Self::KIND, HANDLE, &v.handle)?;
        let name = member(Self::KIND, NAME, &v.name)?;
        let domain = member(Self::KIND, DOMAIN, &v.domain)?;
        Self::new(client_id, handle, name, domain)
    }

    /// The user identifier with the same handle, name and domain.
    pub fn user_identifier(&self) -> WireUserIdentifier {
        WireUserIdentifier {
            handle: self.handle.clone(),
            name: self.name.clone(),
            domain: self.domain.clone(),
        }
    }
}

impl Serialize for WireDeviceIdentifier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_value_string())
    }
}

impl<'de> Deserialize<'de> for WireDeviceIdentifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Self::from_value_str(&value).map_err(D::Error::custom)
    }
}

/// The identifier pair an E2EI order carries: one `wireapp-user`, one `wireapp-device`,
/// agreeing on handle, name and domain (protocol doc §4 step 4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WireIdentifiers {
    user: WireUserIdentifier,
    device: WireDeviceIdentifier,
}

impl WireIdentifiers {
    /// The pair, provided the two agree on domain, handle and name.
    pub fn new(
        user: WireUserIdentifier,
        device: WireDeviceIdentifier,
    ) -> Result<Self, IdentifierMismatch> {
        if user.domain != device.domain {
            return Err(IdentifierMismatch::Domain {
                user: user.domain,
                device: device.domain,
            });
        }
        if user.handle != device.handle {
            return Err(IdentifierMismatch::Handle {
                user: user.handle,
                device: device.handle,
            });
        }
        if user.name != device.name {
            return Err(IdentifierMismatch::Name {
                user: user.name,
                device: device.name,
            });
        }
        Ok(Self { user, device })
    }

    /// The pair for `client_id`, whose user has `handle` and `name` on the client's domain.
    pub fn for_client(client_id: ClientId, handle: Handle, name: DisplayName) -> Self {
        let domain = client_id.domain().clone();
        let device = WireDeviceIdentifier {
            handle: QualifiedHandle::new(handle, domain.clone()),
            client_id,
            name,
            domain,
        };
        Self {
            user: device.user_identifier(),
            device,
        }
    }

    /// The `wireapp-user` identifier.
    pub fn user(&self) -> &WireUserIdentifier {
        &self.user
    }

    /// The `wireapp-device` identifier.
    pub fn device(&self) -> &WireDeviceIdentifier {
        &self.device
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        &self.device.client_id
    }

    /// The handle URI both identifiers carry.
    pub fn handle(&self) -> &QualifiedHandle {
        &self.device.handle
    }

    /// The display name both identifiers carry.
    pub fn name(&self) -> &DisplayName {
        &self.device.name
    }

    /// The domain both identifiers carry.
    pub fn domain(&self) -> &Domain {
        &self.device.domain
    }

    /// The two identifiers.
    pub fn into_parts(self) -> (WireUserIdentifier, WireDeviceIdentifier) {
        (self.user, self.device)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The identifier values of the example order (protocol doc §4 step 4).
    const ORDER_DEVICE: &str = r#"{"client-id":"wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com","handle":"wireapp://%40alice_wire@wire.com","name":"Alice Smith","domain":"wire.com"}"#;
    const ORDER_USER: &str =
        r#"{"handle":"wireapp://%40alice_wire@wire.com","name":"Alice Smith","domain":"wire.com"}"#;

    /// A device identifier value in the reference member order.
    fn device_value(client_id: &str, handle: &str, name: &str, domain: &str) -> String {
        format!(
            r#"{{"client-id":{},"handle":{},"name":{},"domain":{}}}"#,
            json_string(client_id),
            json_string(handle),
            json_string(name),
            json_string(domain),
        )
    }

    fn device_err(value: &str) -> IdentifierError {
        WireDeviceIdentifier::from_value_str(value).unwrap_err()
    }

    #[test]
    fn example_order_identifiers_round_trip_exactly() {
        let device = WireDeviceIdentifier::from_value_str(ORDER_DEVICE).unwrap();
        let user = WireUserIdentifier::from_value_str(ORDER_USER).unwrap();
        assert_eq!(device.to_value_string(), ORDER_DEVICE);
        assert_eq!(user.to_value_string(), ORDER_USER);
        assert_eq!(
            device.client_id().to_uri(),
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com"
        );
        assert_eq!(device.handle().handle().as_str(), "alice_wire");
        assert_eq!(device.name().as_str(), "Alice Smith");
        assert_eq!(device.domain().as_str(), "wire.com");
        assert_eq!(device.user_identifier(), user);

        let pair = WireIdentifiers::new(user.clone(), device.clone()).unwrap();
        assert_eq!(pair.client_id(), device.client_id());
        assert_eq!(pair.handle(), user.handle());
        assert_eq!(pair.name(), user.name());
        assert_eq!(pair.domain(), user.domain());
        assert_eq!(pair.user(), &user);
        assert_eq!(pair.device(), &device);

        let built = WireIdentifiers::for_client(
            device.client_id().clone(),
            Handle::new("alice_wire").unwrap(),
            DisplayName::new("Alice Smith").unwrap(),
        );
        assert_eq!(built, pair);
        assert_eq!(built.into_parts(), (user, device));
    }

    #[test]
    fn example_order_payload_identifiers_parse() {
        // The `identifiers` array exactly as in the doc, values JSON-in-a-string.
        let order = serde_json::json!([
            {"type": "wireapp-device", "value": ORDER_DEVICE},
            {"type": "wireapp-user", "value": ORDER_USER},
        ]);
        #[derive(Deserialize)]
        struct Ident {
            #[serde(rename = "type")]
            kind: AcmeIdentifierKind,
            value: String,
        }
        let idents: Vec<Ident> = serde_json::from_value(order).unwrap();
        assert_eq!(idents[0].kind, AcmeIdentifierKind::WireappDevice);
        assert_eq!(idents[1].kind, AcmeIdentifierKind::WireappUser);
        let device: WireDeviceIdentifier =
            serde_json::from_value(serde_json::Value::String(idents[0].value.clone())).unwrap();
        assert_eq!(
            serde_json::to_value(&device).unwrap(),
            serde_json::Value::String(ORDER_DEVICE.into())
        );
    }

    #[test]
    fn members_parse_in_any_order_and_unknown_members_are_ignored() {
        let reordered = r#"{"domain":"wire.com","name":"Alice Smith","extra":{"x":[1]},"handle":"wireapp://%40alice_wire@wire.com","client-id":"wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com"}"#;
        let device = WireDeviceIdentifier::from_value_str(reordered).unwrap();
        assert_eq!(device.to_value_string(), ORDER_DEVICE);
        // The device identifier is a valid user identifier value too ("client-id" is unknown).
        let user = WireUserIdentifier::from_value_str(ORDER_DEVICE).unwrap();
        assert_eq!(user.to_value_string(), ORDER_USER);
    }

    #[test]
    fn accepts_percent_encoded_bang_in_client_id() {
        let value = device_value(
            "wireapp://yRbSiljXSnCl77-QkM634g%219ff0457928ebe5f4@wire.com",
            "wireapp://%40alice_wire@wire.com",
            "Alice Smith",
            "wire.com",
        );
        let device = WireDeviceIdentifier::from_value_str(&value).unwrap();
        // Re-serialised with the literal '!' step-ca compares against.
        assert_eq!(device.to_value_string(), ORDER_DEVICE);
    }

    #[test]
    fn name_with_quote_and_comma_round_trips() {
        for name in [
            "Smith, Alice M (QA)",
            r#"Alice "Al" Smith, Jr."#,
            r"back\slash",
        ] {
            let value = device_value(
                "wireapp://lJGYPz0ZRq2kvc_XpdaDlA!ed416ce8ecdd9fad@example.com",
                "wireapp://%40alice_wire@example.com",
                name,
                "example.com",
            );
            let device = WireDeviceIdentifier::from_value_str(&value).unwrap();
            assert_eq!(device.name().as_str(), name);
            let text = device.to_value_string();
            assert_eq!(text, value);
            assert_eq!(WireDeviceIdentifier::from_value_str(&text).unwrap(), device);
        }
        let user = WireUserIdentifier::new(
            "wireapp://%40alice_wire@wire.com".parse().unwrap(),
            DisplayName::new(r#"Smith, "Alice""#).unwrap(),
            Domain::new("wire.com").unwrap(),
        )
        .unwrap();
        assert_eq!(
            user.to_value_string(),
            r#"{"handle":"wireapp://%40alice_wire@wire.com","name":"Smith, \"Alice\"","domain":"wire.com"}"#
        );
    }

    #[test]
    fn non_ascii_name_round_trips_unescaped() {
        let name = "Zoë Çelik 王芳 👩‍💻";
        let user = WireUserIdentifier::new(
            "wireapp://%40zoe@wire.com".parse().unwrap(),
            DisplayName::new(name).unwrap(),
            Domain::new("wire.com").unwrap(),
        )
        .unwrap();
        let text = user.to_value_string();
        assert!(text.contains(name), "{text}");
        assert_eq!(WireUserIdentifier::from_value_str(&text).unwrap(), user);
        // A `\u` escaped spelling of the same name is the same identifier.
        let escaped = r#"{"handle":"wireapp://%40zoe@wire.com","name":"Zo\u00eb \u00c7elik \u738b\u82b3 \ud83d\udc69\u200d\ud83d\udcbb","domain":"wire.com"}"#;
        assert_eq!(WireUserIdentifier::from_value_str(escaped).unwrap(), user);
    }

    #[test]
    fn rejects_device_identifier_without_client_id() {
        assert_eq!(
            device_err(ORDER_USER),
            IdentifierError::MissingMember {
                kind: AcmeIdentifierKind::WireappDevice,
                member: "client-id"
            }
        );
    }

    #[test]
    fn rejects_null_member_as_missing() {
        let value = r#"{"handle":null,"name":"Alice Smith","domain":"wire.com"}"#;
        assert!(matches!(
            WireUserIdentifier::from_value_str(value),
            Err(IdentifierError::MissingMember {
                member: "handle",
                ..
            })
        ));
    }

    #[test]
    fn rejects_missing_members() {
        for member in ["handle", "name", "domain"] {
            let mut value: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(ORDER_DEVICE).unwrap();
            value.remove(member);
            let value = serde_json::Value::Object(value).to_string();
            assert!(
                matches!(device_err(&value), IdentifierError::MissingMember { member: m, .. } if m == member),
                "{member}"
            );
            let user_err = WireUserIdentifier::from_value_str(&value).unwrap_err();
            assert!(
                matches!(user_err, IdentifierError::MissingMember { kind: AcmeIdentifierKind::WireappUser, member: m } if m == member),
                "{member}"
            );
        }
    }

    #[test]
    fn rejects_empty_members() {
        for member in ["client-id", "handle", "name", "domain"] {
            let mut value: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(ORDER_DEVICE).unwrap();
            value.insert(member.into(), "".into());
            let value = serde_json::Value::Object(value).to_string();
            assert!(
                matches!(device_err(&value), IdentifierError::EmptyMember { member: m, .. } if m == member),
                "{member}"
            );
        }
    }

    #[test]
    fn rejects_value_that_is_not_a_json_object_of_strings() {
        for value in [
            "",
            "not json",
            "[]",
            r#""{\"handle\":\"x\"}""#,
            r#"{"handle":"wireapp://%40alice_wire@wire.com","name":42,"domain":"wire.com"}"#,
        ] {
            assert!(
                matches!(
                    WireUserIdentifier::from_value_str(value),
                    Err(IdentifierError::MalformedValue { .. })
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn rejects_duplicated_members() {
        let value = r#"{"handle":"wireapp://%40alice_wire@wire.com","name":"Alice Smith","name":"Mallory","domain":"wire.com"}"#;
        assert!(matches!(
            WireUserIdentifier::from_value_str(value),
            Err(IdentifierError::MalformedValue { .. })
        ));
    }

    #[test]
    fn rejects_client_id_with_other_scheme() {
        let value = device_value(
            "https://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
            "wireapp://%40alice_wire@wire.com",
            "Alice Smith",
            "wire.com",
        );
        assert!(matches!(
            device_err(&value),
            IdentifierError::InvalidMember {
                member: "client-id",
                source: IdError::InvalidScheme { .. },
                ..
            }
        ));
    }

    #[test]
    fn rejects_scheme_less_client_id() {
        for client_id in [
            "yRbSiljXSnCl77-QkM634g:9ff0457928ebe5f4@wire.com",
            "c916d28a-58d7-4a70-a5ef-bf9090ceb7e2:9ff0457928ebe5f4@wire.com",
        ] {
            let value = device_value(
                client_id,
                "wireapp://%40alice_wire@wire.com",
                "Alice Smith",
                "wire.com",
            );
            assert!(matches!(
                device_err(&value),
                IdentifierError::InvalidMember {
                    member: "client-id",
                    source: IdError::InvalidScheme { .. },
                    ..
                }
            ));
        }
    }

    #[test]
    fn rejects_client_id_without_bang() {
        let value = device_value(
            "wireapp://yRbSiljXSnCl77-QkM634g:9ff0457928ebe5f4@wire.com",
            "wireapp://%40alice_wire@wire.com",
            "Alice Smith",
            "wire.com",
        );
        assert!(matches!(
            device_err(&value),
            IdentifierError::InvalidMember {
                member: "client-id",
                source: IdError::MalformedClientId { .. },
                ..
            }
        ));
    }

    #[test]
    fn rejects_uppercase_device_hex() {
        let value = device_value(
            "wireapp://yRbSiljXSnCl77-QkM634g!9FF0457928EBE5F4@wire.com",
            "wireapp://%40alice_wire@wire.com",
            "Alice Smith",
            "wire.com",
        );
        assert!(matches!(
            device_err(&value),
            IdentifierError::InvalidMember {
                member: "client-id",
                source: IdError::InvalidDeviceId { .. },
                ..
            }
        ));
    }

    #[test]
    fn rejects_padded_base64_user_id() {
        let value = device_value(
            "wireapp://yRbSiljXSnCl77-QkM634g==!9ff0457928ebe5f4@wire.com",
            "wireapp://%40alice_wire@wire.com",
            "Alice Smith",
            "wire.com",
        );
        assert!(matches!(
            device_err(&value),
            IdentifierError::InvalidMember {
                member: "client-id",
                source: IdError::InvalidUserId { .. },
                ..
            }
        ));
    }

    #[test]
    fn rejects_handle_without_at_prefix() {
        let value = device_value(
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
            "wireapp://alice_wire@wire.com",
            "Alice Smith",
            "wire.com",
        );
        assert!(matches!(
            device_err(&value),
            IdentifierError::InvalidMember {
                member: "handle",
                source: IdError::MissingHandlePrefix { .. },
                ..
            }
        ));
    }

    #[test]
    fn rejects_name_with_control_character() {
        let value = device_value(
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
            "wireapp://%40alice_wire@wire.com",
            "Alice\nSmith",
            "wire.com",
        );
        assert!(matches!(
            device_err(&value),
            IdentifierError::InvalidMember {
                member: "name",
                source: IdError::InvalidDisplayName { .. },
                ..
            }
        ));
    }

    #[test]
    fn rejects_client_id_on_another_domain() {
        let value = device_value(
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@evil.com",
            "wireapp://%40alice_wire@wire.com",
            "Alice Smith",
            "wire.com",
        );
        assert!(matches!(
            device_err(&value),
            IdentifierError::DomainMismatch {
                member: "client-id",
                ..
            }
        ));
    }

    #[test]
    fn rejects_handle_on_another_domain() {
        let value = device_value(
            "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com",
            "wireapp://%40alice_wire@evil.com",
            "Alice Smith",
            "wire.com",
        );
        let err = device_err(&value);
        assert!(
            matches!(
                err,
                IdentifierError::DomainMismatch {
                    member: "handle",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "wireapp-device identifier: `handle` is on domain `evil.com` but `domain` is `wire.com`"
        );
        let user = r#"{"handle":"wireapp://%40alice_wire@evil.com","name":"Alice Smith","domain":"wire.com"}"#;
        assert!(matches!(
            WireUserIdentifier::from_value_str(user),
            Err(IdentifierError::DomainMismatch {
                kind: AcmeIdentifierKind::WireappUser,
                member: "handle",
                ..
            })
        ));
    }

    fn user_with(handle: &str, name: &str, domain: &str) -> WireUserIdentifier {
        WireUserIdentifier::from_value_str(
            &serde_json::json!({"handle": handle, "name": name, "domain": domain}).to_string(),
        )
        .unwrap()
    }

    #[test]
    fn rejects_mismatched_display_names() {
        let device = WireDeviceIdentifier::from_value_str(ORDER_DEVICE).unwrap();
        let user = user_with(
            "wireapp://%40alice_wire@wire.com",
            "Alice  Smith",
            "wire.com",
        );
        let err = WireIdentifiers::new(user, device).unwrap_err();
        assert!(matches!(err, IdentifierMismatch::Name { .. }), "{err}");
    }

    #[test]
    fn rejects_mismatched_handles() {
        let device = WireDeviceIdentifier::from_value_str(ORDER_DEVICE).unwrap();
        let user = user_with("wireapp://%40mallory@wire.com", "Alice Smith", "wire.com");
        let err = WireIdentifiers::new(user, device).unwrap_err();
        assert!(matches!(err, IdentifierMismatch::Handle { .. }), "{err}");
    }

    #[test]
    fn rejects_mismatched_domains() {
        let device = WireDeviceIdentifier::from_value_str(ORDER_DEVICE).unwrap();
        let user = user_with(
            "wireapp://%40alice_wire@other.org",
            "Alice Smith",
            "other.org",
        );
        let err = WireIdentifiers::new(user, device).unwrap_err();
        assert!(matches!(err, IdentifierMismatch::Domain { .. }), "{err}");
    }

    #[test]
    fn identifier_kinds_parse_exactly() {
        for kind in AcmeIdentifierKind::ALL {
            assert_eq!(kind.as_str().parse::<AcmeIdentifierKind>().unwrap(), kind);
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        assert_eq!(AcmeIdentifierKind::WireappUser.as_str(), WIREAPP_USER);
        assert_eq!(AcmeIdentifierKind::WireappDevice.as_str(), WIREAPP_DEVICE);
        assert_eq!(AcmeIdentifierKind::Dns.to_string(), "dns");
    }

    #[test]
    fn rejects_unknown_identifier_kinds() {
        for kind in [
            "wireapp-id",
            "ip",
            "DNS",
            "Wireapp-User",
            "",
            "wireapp-user ",
        ] {
            assert_eq!(
                kind.parse::<AcmeIdentifierKind>(),
                Err(UnknownIdentifierKind { kind: kind.into() })
            );
            assert!(serde_json::from_value::<AcmeIdentifierKind>(kind.into()).is_err());
        }
    }

    proptest! {
        #[test]
        fn identifier_values_round_trip_for_any_valid_name(
            name in "\\PC{1,128}",
            user in any::<u128>(),
            device in any::<u64>(),
        ) {
            // `\PC` excludes control characters, so every generated name is valid.
            let client_id = ClientId::new(
                uuid::Uuid::from_u128(user).into(),
                device.into(),
                Domain::new("wire.com").unwrap(),
            );
            let pair = WireIdentifiers::for_client(
                client_id,
                Handle::new("alice_wire").unwrap(),
                DisplayName::new(name).unwrap(),
            );
            let device_text = pair.device().to_value_string();
            let user_text = pair.user().to_value_string();
            let device = WireDeviceIdentifier::from_value_str(&device_text).unwrap();
            let user = WireUserIdentifier::from_value_str(&user_text).unwrap();
            prop_assert_eq!(device.to_value_string(), device_text);
            prop_assert_eq!(WireIdentifiers::new(user, device).unwrap(), pair);
        }
    }
}
