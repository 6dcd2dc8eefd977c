//! RFC 7807 problem documents with the ACME error types of RFC 8555 §6.7 (and RFC 9773).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::messages::Identifier;

/// `urn:ietf:params:acme:error:` + the type name.
pub const ACME_ERROR_PREFIX: &str = "urn:ietf:params:acme:error:";

/// The `Content-Type` of a problem document.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

macro_rules! problem_types {
    ($($variant:ident => $name:literal, $status:literal, $doc:literal;)*) => {
        /// An ACME error type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ProblemType {
            $(#[doc = $doc] $variant,)*
        }

        impl ProblemType {
            /// Every type.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The name after the URN prefix.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The HTTP status a server answers with.
            pub fn status(self) -> u16 {
                match self { $(Self::$variant => $status,)* }
            }
        }
    };
}

problem_types! {
    AccountDoesNotExist => "accountDoesNotExist", 400, "The request named an account that does not exist.";
    AlreadyReplaced => "alreadyReplaced", 409, "The order named in `replaces` was already replaced (RFC 9773).";
    AlreadyRevoked => "alreadyRevoked", 400, "The certificate is already revoked.";
    BadCsr => "badCSR", 400, "The CSR is unacceptable.";
    BadNonce => "badNonce", 400, "The nonce is absent, malformed, unknown or used.";
    BadPublicKey => "badPublicKey", 400, "The JWS key is not acceptable.";
    BadRevocationReason => "badRevocationReason", 400, "The revocation reason is not allowed.";
    BadSignatureAlgorithm => "badSignatureAlgorithm", 400, "The JWS algorithm is not supported.";
    Caa => "caa", 403, "CAA records forbid issuance.";
    Compound => "compound", 400, "Several errors; see `subproblems`.";
    Connection => "connection", 400, "The server could not connect to the validation target.";
    Dns => "dns", 400, "A DNS problem during validation.";
    ExternalAccountRequired => "externalAccountRequired", 401, "New accounts need external account binding.";
    IncorrectResponse => "incorrectResponse", 400, "The challenge response was wrong.";
    InvalidContact => "invalidContact", 400, "A contact URL is invalid.";
    Malformed => "malformed", 400, "The request is malformed.";
    OrderNotReady => "orderNotReady", 403, "The order is not ready to be finalized.";
    RateLimited => "rateLimited", 429, "A rate limit was exceeded.";
    RejectedIdentifier => "rejectedIdentifier", 400, "The server will not issue for the identifier.";
    ServerInternal => "serverInternal", 500, "The server failed internally.";
    Tls => "tls", 400, "A TLS problem during validation.";
    Unauthorized => "unauthorized", 403, "The client lacks authorization for the action.";
    UnsupportedContact => "unsupportedContact", 400, "A contact URL scheme is not supported.";
    UnsupportedIdentifier => "unsupportedIdentifier", 400, "An identifier type is not supported.";
    UserActionRequired => "userActionRequired", 403, "The user must act (see `instance`).";
}

impl ProblemType {
    /// The full `type` URN.
    pub fn urn(self) -> String {
        format!("{ACME_ERROR_PREFIX}{}", self.name())
    }

    /// The type of a URN, if it is an ACME error URN this crate knows.
    pub fn from_urn(urn: &str) -> Option<Self> {
        let name = urn.strip_prefix(ACME_ERROR_PREFIX)?;
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ProblemType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.urn())
    }
}

impl<'de> Deserialize<'de> for ProblemType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let urn = String::deserialize(d)?;
        Self::from_urn(&urn)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown ACME error type `{urn}`")))
    }
}

/// One error about one identifier inside a `compound` (or any) problem (RFC 8555 §6.7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subproblem {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ProblemType,
    /// Human-readable detail.
    pub detail: String,
    /// The identifier it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
}

/// A problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct Problem {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ProblemType,
    /// Human-readable detail (optional in RFC 7807: empty when absent).
    #[serde(default)]
    pub detail: String,
    /// The HTTP status (optional in RFC 7807, as in an order's or challenge's `error`: 0 when
    /// absent).
    #[serde(default)]
    pub status: u16,
    /// Per-identifier errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Subproblem>,
    /// With `badSignatureAlgorithm`: the algorithms the server accepts (RFC 8555 §6.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
    /// Seconds the client should wait, sent as `Retry-After` (RFC 8555 §6.6 for
    /// `rateLimited`); not part of the document.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `kind` with its usual status.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            status: kind.status(),
            subproblems: Vec::new(),
            algorithms: Vec::new(),
            retry_after: None,
        }
    }

    /// `rateLimited`, retry after `seconds`.
    pub fn rate_limited(detail: impl Into<String>, seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..Self::new(ProblemType::RateLimited, detail)
        }
    }

    /// `malformed`.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Malformed, detail)
    }

    /// `unauthorized`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Unauthorized, detail)
    }

    /// `serverInternal` with a generic detail (internals belong in logs).
    pub fn server_internal() -> Self {
        Self::new(ProblemType::ServerInternal, "internal server error")
    }

    /// Adds a subproblem.
    pub fn with_subproblem(
        mut self,
        kind: ProblemType,
        detail: impl Into<String>,
        identifier: Option<Identifier>,
    ) -> Self {
        self.subproblems.push(Subproblem {
            kind,
            detail: detail.into(),
            identifier,
        });
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_as_an_rfc_7807_document_with_acme_urns() {
        let problem = Problem::new(ProblemType::BadNonce, "nonce used").with_subproblem(
            ProblemType::RejectedIdentifier,
            "no",
            Some(Identifier::dns("example.com")),
        );
        let value = serde_json::to_value(&problem).unwrap();
        assert_eq!(
            value,
            json!({
                "type": "urn:ietf:params:acme:error:badNonce",
                "detail": "nonce used",
                "status": 400,
                "subproblems": [{
                    "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                    "detail": "no",
                    "identifier": { "type": "dns", "value": "example.com" }
                }]
            })
        );
        assert_eq!(serde_json::from_value::<Problem>(value).unwrap(), problem);
    }

    #[test]
    fn reads_a_problem_without_status_or_detail() {
        // RFC 7807 makes both optional; an order's or challenge's `error` may omit them.
        let problem: Problem =
            serde_json::from_value(json!({ "type": "urn:ietf:params:acme:error:unauthorized" }))
                .unwrap();
        assert_eq!(problem.kind, ProblemType::Unauthorized);
        assert_eq!((problem.status, problem.detail.as_str()), (0, ""));
    }

    #[test]
    fn every_type_round_trips_its_urn() {
        for t in ProblemType::ALL {
            assert_eq!(ProblemType::from_urn(&t.urn()), Some(*t));
        }
        assert_eq!(
            ProblemType::from_urn("urn:ietf:params:acme:error:nope"),
            None
        );
        assert_eq!(ProblemType::from_urn("about:blank"), None);
    }
}
