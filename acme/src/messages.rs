//! RFC 8555 §7.1 resources and §7.3–§7.6 request bodies, with Wire's additions (protocol doc
//! §4, §15): challenge `target`, identifier types `wireapp-user` / `wireapp-device`.
//!
//! Request bodies (`…Request`) reject unknown members' wrong types but ignore unknown members,
//! as RFC 8555 §7.1 asks servers to; responses serialise without absent members.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An identifier (RFC 8555 §9.7.7): `dns`, or Wire's `wireapp-user` / `wireapp-device` whose
/// value is a JSON object in a string (protocol doc §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identifier {
    /// `dns`, `wireapp-user`, `wireapp-device`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The value.
    pub value: String,
}

impl Identifier {
    /// A `dns` identifier.
    pub fn dns(name: impl Into<String>) -> Self {
        Self {
            kind: "dns".into(),
            value: name.into(),
        }
    }
}

/// `meta` of the directory (RFC 8555 §7.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta {
    /// Terms of service URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service: Option<String>,
    /// The CA's website.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// CAA identities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caa_identities: Vec<String>,
    /// Whether new accounts need external account binding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external_account_required: bool,
}

/// The directory (RFC 8555 §7.1.1; `renewalInfo` RFC 9773).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// New nonce URL.
    pub new_nonce: String,
    /// New account URL.
    pub new_account: String,
    /// New order URL.
    pub new_order: String,
    /// Pre-authorization URL (not offered by e2ei).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_authz: Option<String>,
    /// Revocation URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_cert: Option<String>,
    /// Key rollover URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_change: Option<String>,
    /// ACME Renewal Information (RFC 9773).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_info: Option<String>,
    /// Metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<DirectoryMeta>,
}

/// Account status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    /// Usable.
    Valid,
    /// Deactivated by its holder.
    Deactivated,
    /// Revoked by the server.
    Revoked,
}

/// An account (RFC 8555 §7.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Status.
    pub status: AccountStatus,
    /// Contact URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact: Vec<String>,
    /// Whether the terms were agreed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service_agreed: Option<bool>,
    /// The orders list URL; Wire's client requires exactly `<account URL>/orders` (§15.1).
    pub orders: String,
    /// The external account binding, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_account_binding: Option<Value>,
}

/// `POST newAccount` (RFC 8555 §7.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccountRequest {
    /// Contact URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Vec<String>>,
    /// Agreement to the terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_agreed: Option<bool>,
    /// Only look the account up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_return_existing: Option<bool>,
    /// External account binding: a flattened JWS over the account key (RFC 8555 §7.3.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_account_binding: Option<Value>,
}

/// `POST <account URL>` with a body (RFC 8555 §7.3.2, §7.3.6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountUpdateRequest {
    /// New contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Vec<String>>,
    /// `deactivated` to deactivate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AccountStatus>,
    /// Agreement to (new) terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_agreed: Option<bool>,
}

/// The account's orders list (RFC 8555 §7.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersList {
    /// Order URLs.
    pub orders: Vec<String>,
}

/// Order status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Authorizations outstanding.
    Pending,
    /// All authorizations valid; finalize.
    Ready,
    /// Issuing.
    Processing,
    /// Issued.
    Valid,
    /// Failed.
    Invalid,
}

/// An order (RFC 8555 §7.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Status.
    pub status: OrderStatus,
    /// Expiry (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Identifiers.
    pub identifiers: Vec<Identifier>,
    /// Requested notBefore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Requested notAfter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::Problem>,
    /// Authorization URLs.
    pub authorizations: Vec<String>,
    /// Finalize URL.
    pub finalize: String,
    /// Certificate URL, once valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The certificate this order replaces (RFC 9773).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// `POST newOrder` (RFC 8555 §7.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderRequest {
    /// Identifiers.
    pub identifiers: Vec<Identifier>,
    /// Requested notBefore (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Requested notAfter (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// ARI certificate identifier of the certificate this order replaces (RFC 9773).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// Authorization status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationStatus {
    /// Waiting for a challenge.
    Pending,
    /// Proven.
    Valid,
    /// Failed.
    Invalid,
    /// Deactivated by the client.
    Deactivated,
    /// Expired.
    Expired,
    /// Revoked by the server.
    Revoked,
}

/// An authorization (RFC 8555 §7.1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The identifier.
    pub identifier: Identifier,
    /// Status.
    pub status: AuthorizationStatus,
    /// Expiry (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Challenges (Wire: exactly one, §15.3).
    pub challenges: Vec<Challenge>,
    /// Wildcard authorization.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wildcard: bool,
}

/// `POST <authz URL>` `{"status": "deactivated"}` (RFC 8555 §7.5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationUpdateRequest {
    /// Must be `deactivated`.
    pub status: AuthorizationStatus,
}

/// Wire's device challenge (protocol doc §6.1).
pub const WIRE_DPOP_01: &str = "wire-dpop-01";

/// Wire's user challenge (protocol doc §6.3).
pub const WIRE_OIDC_01: &str = "wire-oidc-01";

/// Challenge status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeStatus {
    /// Not attempted.
    Pending,
    /// Being validated.
    Processing,
    /// Passed.
    Valid,
    /// Failed (terminal).
    Invalid,
}

/// A challenge (RFC 8555 §8; Wire's `wire-dpop-01` / `wire-oidc-01` carry `target`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// `http-01`, `dns-01`, `tls-alpn-01`, `wire-dpop-01`, `wire-oidc-01`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its URL.
    pub url: String,
    /// Status.
    pub status: ChallengeStatus,
    /// The token (base64url, ≥ 128 bits of entropy).
    pub token: String,
    /// Wire: the backend's access-token URL (DPoP) or the IdP issuer (OIDC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// When it passed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validated: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::Problem>,
}

/// `POST <finalize URL>` (RFC 8555 §7.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalizeRequest {
    /// The CSR, DER in base64url.
    pub csr: String,
}

/// `POST revokeCert` (RFC 8555 §7.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRequest {
    /// The certificate, DER in base64url.
    pub certificate: String,
    /// RFC 5280 reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<u8>,
}

/// The payload of the inner JWS of `POST keyChange` (RFC 8555 §7.3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyChangeRequest {
    /// The account URL.
    pub account: String,
    /// The account's current key.
    pub old_key: Value,
}

/// Challenge payloads of Wire's challenges (protocol doc §6.1, §6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDpopChallengeRequest {
    /// The backend's DPoP access token.
    pub access_token: String,
}

/// See [`WireDpopChallengeRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireOidcChallengeRequest {
    /// The IdP's ID token.
    pub id_token: String,
}
