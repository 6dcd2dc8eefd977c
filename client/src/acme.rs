//! The ACME side of enrollment as pure functions: the request payloads Wire's client sends
//! (protocol doc §4 steps 3, 4, 9, 11, 13) and the checks it applies to every response (§4,
//! §9.3, §15). They read an [`HttpResponse`] and return typed values or a [`ResponseError`];
//! the I/O lives in `session`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ei_acme::messages::{
    Account, AccountStatus, Authorization, AuthorizationStatus, Challenge, ChallengeStatus,
    Directory, Identifier, Order, OrderStatus, WIRE_DPOP_01, WIRE_OIDC_01,
};
use e2ei_acme::problem::PROBLEM_CONTENT_TYPE;
pub use e2ei_acme::{Problem, ProblemType};
use e2ei_core::identifier::{WIREAPP_DEVICE, WIREAPP_USER, WireIdentifiers};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::Certificate;

use crate::http::HttpResponse;

/// The contact Wire's client puts in every new account: a deliberate dummy, not a `mailto:`
/// URL (protocol doc §4 step 3).
pub const WIRE_ACCOUNT_CONTACT: &str = "anonymous@anonymous.invalid";

/// The media type of a certificate download (RFC 8555 §9.1, protocol doc §15.7).
pub const PEM_CHAIN_CONTENT_TYPE: &str = "application/pem-certificate-chain";

/// A challenge token must decode to at least this many bytes (protocol doc §15.3).
pub const MIN_CHALLENGE_TOKEN_BYTES: usize = 16;

/// An answer that departs from what Wire's client accepts (protocol doc §9.3, §15): the
/// authority's fault, not the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// A status other than the one the step expects.
    #[error("{url}: expected HTTP {expected}, got {status}: {body}")]
    UnexpectedStatus {
        /// The request URL.
        url: String,
        /// What was expected.
        expected: &'static str,
        /// What came.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// No `Replay-Nonce` header (§9.3: every ACME response carries the next nonce).
    #[error("{url}: the response carries no Replay-Nonce")]
    MissingReplayNonce {
        /// The request URL.
        url: String,
    },
    /// No `Location` header where RFC 8555 requires one (new account, new order).
    #[error("{url}: the response carries no Location")]
    MissingLocation {
        /// The request URL.
        url: String,
    },
    /// The body is not the expected JSON object.
    #[error("{url}: malformed {what}: {reason}")]
    MalformedBody {
        /// The request URL.
        url: String,
        /// What was expected.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The new account is not `valid`.
    #[error("the new account is {found:?}, not valid")]
    AccountNotValid {
        /// Its status.
        found: AccountStatus,
    },
    /// The account's `orders` is not `<account URL>/orders` (§15.1).
    #[error("account `orders` is {found:?}, expected {expected:?}")]
    AccountOrdersUrl {
        /// `<account URL>/orders`.
        expected: String,
        /// What the account says.
        found: String,
    },
    /// An order without exactly two identifiers (§4 step 4, §15.4).
    #[error("{url}: the order has {found} identifiers, expected exactly 2")]
    IdentifierCount {
        /// The order's URL.
        url: String,
        /// How many it has.
        found: usize,
    },
    /// The order's identifiers are not the two that were ordered.
    #[error("{url}: the order's identifiers differ from those requested: {found:?}")]
    WrongIdentifiers {
        /// The order's URL.
        url: String,
        /// What the order says.
        found: Vec<Identifier>,
    },
    /// An order without exactly two distinct authorizations (§15.4).
    #[error("{url}: the order has {found} distinct authorizations, expected exactly 2")]
    AuthorizationCount {
        /// The order's URL.
        url: String,
        /// How many distinct ones it has.
        found: usize,
    },
    /// The order is not in the status this step needs.
    #[error("{url}: the order is {found:?}, expected {expected:?}{}", .error.as_ref().map(|p| format!(" ({p})")).unwrap_or_default())]
    OrderStatus {
        /// The order's URL.
        url: String,
        /// The status the step needs.
        expected: OrderStatus,
        /// The order's status.
        found: OrderStatus,
        /// The order's `error`, if any.
        error: Option<Box<Problem>>,
    },
    /// The order has expired (`expires` passed).
    #[error("{url}: the order expired at {expires}")]
    OrderExpired {
        /// The order's URL.
        url: String,
        /// Its `expires`.
        expires: String,
    },
    /// The order's `notAfter` has passed.
    #[error("{url}: the order's notAfter {not_after} has passed")]
    OrderNotAfterPassed {
        /// The order's URL.
        url: String,
        /// Its `notAfter`.
        not_after: String,
    },
    /// The order's `notBefore` is in the future.
    #[error("{url}: the order's notBefore {not_before} is in the future")]
    OrderNotYetValid {
        /// The order's URL.
        url: String,
        /// Its `notBefore`.
        not_before: String,
    },
    /// A time member is not RFC 3339.
    #[error("{url}: `{member}` is not an RFC 3339 time: {value:?}")]
    MalformedTime {
        /// The resource URL.
        url: String,
        /// Which member.
        member: &'static str,
        /// Its value.
        value: String,
    },
    /// An authorization is for an identifier that was not ordered.
    #[error("{url}: the authorization is for {found:?}, which was not ordered")]
    AuthorizationIdentifier {
        /// The authorization URL.
        url: String,
        /// Its identifier.
        found: Identifier,
    },
    /// An authorization is not `pending` before its challenge.
    #[error("{url}: the authorization is {found:?}, expected pending")]
    AuthorizationStatus {
        /// The authorization URL.
        url: String,
        /// Its status.
        found: AuthorizationStatus,
    },
    /// An authorization with other than exactly one challenge (§15.3).
    #[error("{url}: the authorization has {found} challenges, expected exactly 1")]
    ChallengeCount {
        /// The authorization URL.
        url: String,
        /// How many it has.
        found: usize,
    },
    /// The two challenges are not exactly `wire-dpop-01` and `wire-oidc-01` (§4 step 5;
    /// core-crypto's `InvalidChallengeType`).
    #[error("the order's challenges are {found:?}, expected exactly wire-dpop-01 and wire-oidc-01")]
    ChallengeTypes {
        /// The challenge types found, one per authorization.
        found: Vec<String>,
    },
    /// A challenge sits in the authorization of the other identifier (`wire-dpop-01` proves the
    /// `wireapp-device` identifier, `wire-oidc-01` the `wireapp-user` one).
    #[error("{challenge} is offered for a {identifier} identifier")]
    ChallengeForWrongIdentifier {
        /// The challenge type.
        challenge: String,
        /// The identifier type of its authorization.
        identifier: String,
    },
    /// A Wire challenge without its `target` (§15.3).
    #[error("{challenge} has no target")]
    MissingTarget {
        /// The challenge type.
        challenge: String,
    },
    /// A challenge token that is not unpadded base64url of at least 16 bytes (§15.3).
    #[error("{challenge} token {token:?} is not unpadded base64url of at least 16 bytes")]
    MalformedChallengeToken {
        /// The challenge type.
        challenge: String,
        /// The token.
        token: String,
    },
    /// The challenge answer shows the challenge `invalid` (core-crypto `AcmeChallError::Invalid`).
    #[error("{challenge} was refused{}", .error.as_ref().map(|p| format!(": {p}")).unwrap_or_default())]
    ChallengeInvalid {
        /// The challenge type.
        challenge: String,
        /// The challenge's `error`.
        error: Option<Box<Problem>>,
    },
    /// The challenge answer shows the challenge other than `valid` — Wire's client does not
    /// poll, the authority must validate synchronously (§15.2; `AcmeChallError::Processing`).
    #[error("{challenge} is {found:?} after the answer, expected valid (no polling, §15.2)")]
    ChallengeNotValid {
        /// The challenge type.
        challenge: String,
        /// Its status.
        found: ChallengeStatus,
    },
    /// The challenge answer is about another challenge.
    #[error("the answer to {challenge} describes {found:?}")]
    ChallengeMismatch {
        /// The challenge type posted to.
        challenge: String,
        /// The challenge the answer describes (type and URL).
        found: String,
    },
    /// The finalized order names no certificate URL.
    #[error("{url}: the valid order has no certificate URL")]
    MissingCertificateUrl {
        /// The order's URL.
        url: String,
    },
    /// The certificate download is not `application/pem-certificate-chain` (§15.7).
    #[error("{url}: certificate Content-Type is {found:?}, expected {PEM_CHAIN_CONTENT_TYPE}")]
    CertificateContentType {
        /// The certificate URL.
        url: String,
        /// The media type received.
        found: Option<String>,
    },
    /// The certificate download holds no certificate (core-crypto
    /// `SmallstepImplementationError`).
    #[error("{url}: the certificate download holds no certificate")]
    EmptyCertificateChain {
        /// The certificate URL.
        url: String,
    },
    /// A PEM block other than `CERTIFICATE` in the chain (§15.7).
    #[error("{url}: the certificate chain holds a {label:?} PEM block")]
    UnexpectedPemBlock {
        /// The certificate URL.
        url: String,
        /// The block's label.
        label: String,
    },
    /// A certificate of the chain does not parse.
    #[error("{url}: certificate {index} of the chain does not parse: {reason}")]
    MalformedCertificate {
        /// The certificate URL.
        url: String,
        /// Its position (0 = leaf).
        index: usize,
        /// The parser's message.
        reason: String,
    },
}

/// An ACME step that failed: the authority answered with a problem document, or with
/// something outside the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// An RFC 7807 problem document (RFC 8555 §6.7).
    #[error("{url}: the authority refused: {problem}")]
    Problem {
        /// The request URL.
        url: String,
        /// The problem.
        problem: Box<Problem>,
    },
    /// A response outside the protocol.
    #[error(transparent)]
    Response(#[from] ResponseError),
}

fn parse_time(
    url: &str,
    member: &'static str,
    value: &str,
) -> Result<OffsetDateTime, ResponseError> {
    OffsetDateTime::parse(value, &Rfc3339).map_err(|_| ResponseError::MalformedTime {
        url: url.to_owned(),
        member,
        value: value.to_owned(),
    })
}

/// RFC 3339 text of `t` (UTC, as the reference client writes `notBefore` / `notAfter`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The problem document of an error response, if it is one.
pub fn problem(response: &HttpResponse) -> Option<Problem> {
    if response.is_success() {
        return None;
    }
    let media = response.media_type();
    if media.as_deref() != Some(PROBLEM_CONTENT_TYPE)
        && media.as_deref() != Some("application/json")
    {
        return None;
    }
    serde_json::from_slice(&response.body).ok()
}

/// Fails with the problem document, or with [`ResponseError::UnexpectedStatus`], unless the
/// status is one of `expected`.
pub fn expect_status(
    response: &HttpResponse,
    expected: &[u16],
    describe: &'static str,
) -> Result<(), AcmeError> {
    if expected.contains(&response.status) {
        return Ok(());
    }
    if let Some(problem) = problem(response) {
        return Err(AcmeError::Problem {
            url: response.url.clone(),
            problem: Box::new(problem),
        });
    }
    Err(ResponseError::UnexpectedStatus {
        url: response.url.clone(),
        expected: describe,
        status: response.status,
        body: response.body_excerpt(),
    }
    .into())
}

/// The `Replay-Nonce` every ACME response carries (§9.3).
pub fn replay_nonce(response: &HttpResponse) -> Result<String, ResponseError> {
    response
        .header("replay-nonce")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ResponseError::MissingReplayNonce {
            url: response.url.clone(),
        })
}

fn location(response: &HttpResponse) -> Result<String, ResponseError> {
    response
        .header("location")
        .map(str::to_owned)
        .ok_or_else(|| ResponseError::MissingLocation {
            url: response.url.clone(),
        })
}

fn json_body<T: DeserializeOwned>(
    response: &HttpResponse,
    what: &'static str,
) -> Result<T, ResponseError> {
    serde_json::from_slice(&response.body).map_err(|e| ResponseError::MalformedBody {
        url: response.url.clone(),
        what,
        reason: e.to_string(),
    })
}

/// Step 1: the directory (RFC 8555 §7.1.1).
pub fn check_directory(response: &HttpResponse) -> Result<Directory, AcmeError> {
    expect_status(response, &[200], "200")?;
    Ok(json_body(response, "directory")?)
}

/// Step 2: the first nonce (`HEAD newNonce` answers 200, `GET` 204).
pub fn check_new_nonce(response: &HttpResponse) -> Result<String, AcmeError> {
    expect_status(response, &[200, 204], "200 or 204")?;
    Ok(replay_nonce(response)?)
}

/// The `newAccount` payload of §4 step 3, member for member.
pub fn new_account_payload() -> Value {
    json!({
        "termsOfServiceAgreed": true,
        "contact": [WIRE_ACCOUNT_CONTACT],
        "onlyReturnExisting": false,
    })
}

/// Step 3: the new account — 201 (or 200 for a key already registered), `Location`, `valid`,
/// and `orders` exactly `<account URL>/orders` (§15.1). Returns the account URL (the `kid` of
/// every later request).
pub fn check_new_account(response: &HttpResponse) -> Result<String, AcmeError> {
    expect_status(response, &[200, 201], "201")?;
    let url = location(response)?;
    let account: Account = json_body(response, "account")?;
    if account.status != AccountStatus::Valid {
        return Err(ResponseError::AccountNotValid {
            found: account.status,
        }
        .into());
    }
    let expected = format!("{url}/orders");
    if account.orders != expected {
        return Err(ResponseError::AccountOrdersUrl {
            expected,
            found: account.orders,
        }
        .into());
    }
    Ok(url)
}

/// The two identifiers of a Wire order, device first as the reference client sends them
/// (§4 step 4).
pub fn order_identifiers(identifiers: &WireIdentifiers) -> [Identifier; 2] {
    [
        Identifier {
            kind: WIREAPP_DEVICE.into(),
            value: identifiers.device().to_value_string(),
        },
        Identifier {
            kind: WIREAPP_USER.into(),
            value: identifiers.user().to_value_string(),
        },
    ]
}

/// The `newOrder` payload of §4 step 4: the two identifiers with JSON-in-a-string values,
/// `notBefore` = `now`, `notAfter` = `now + validity`.
pub fn new_order_payload(
    identifiers: &WireIdentifiers,
    now: OffsetDateTime,
    validity: std::time::Duration,
) -> Value {
    json!({
        "identifiers": order_identifiers(identifiers),
        "notBefore": rfc3339(now),
        "notAfter": rfc3339(now + validity),
    })
}

/// An order that passed the client's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedOrder {
    /// The order URL.
    pub url: String,
    /// The order.
    pub order: Order,
}

/// The checks on every order object (core-crypto, §4 step 4, §15.4): exactly the two ordered
/// identifiers, exactly two distinct authorizations, not expired, `notAfter` not passed,
/// `notBefore` not in the future, and the status the step needs.
pub fn check_order(
    url: &str,
    order: &Order,
    identifiers: &WireIdentifiers,
    expected_status: OrderStatus,
    now: OffsetDateTime,
) -> Result<(), ResponseError> {
    if order.status != expected_status {
        return Err(ResponseError::OrderStatus {
            url: url.to_owned(),
            expected: expected_status,
            found: order.status,
            error: order.error.clone().map(Box::new),
        });
    }
    if order.identifiers.len() != 2 {
        return Err(ResponseError::IdentifierCount {
            url: url.to_owned(),
            found: order.identifiers.len(),
        });
    }
    let ordered = order_identifiers(identifiers);
    if !ordered.iter().all(|i| order.identifiers.contains(i)) {
        return Err(ResponseError::WrongIdentifiers {
            url: url.to_owned(),
            found: order.identifiers.clone(),
        });
    }
    let mut authorizations = order.authorizations.clone();
    authorizations.sort();
    authorizations.dedup();
    if authorizations.len() != 2 || order.authorizations.len() != 2 {
        return Err(ResponseError::AuthorizationCount {
            url: url.to_owned(),
            found: authorizations.len(),
        });
    }
    // A valid order's window has been turned into the certificate's; only orders still in
    // progress can expire.
    if expected_status != OrderStatus::Valid {
        if let Some(expires) = &order.expires {
            if parse_time(url, "expires", expires)? <= now {
                return Err(ResponseError::OrderExpired {
                    url: url.to_owned(),
                    expires: expires.clone(),
                });
            }
        }
    }
    if let Some(not_after) = &order.not_after {
        if parse_time(url, "notAfter", not_after)? <= now {
            return Err(ResponseError::OrderNotAfterPassed {
                url: url.to_owned(),
                not_after: not_after.clone(),
            });
        }
    }
    if let Some(not_before) = &order.not_before {
        if parse_time(url, "notBefore", not_before)? > now {
            return Err(ResponseError::OrderNotYetValid {
                url: url.to_owned(),
                not_before: not_before.clone(),
            });
        }
    }
    Ok(())
}

/// Step 4: the new order — 201, `Location`, `pending` and [`check_order`].
pub fn check_new_order(
    response: &HttpResponse,
    identifiers: &WireIdentifiers,
    now: OffsetDateTime,
) -> Result<CheckedOrder, AcmeError> {
    expect_status(response, &[201], "201")?;
    let url = location(response)?;
    let order: Order = json_body(response, "order")?;
    check_order(&url, &order, identifiers, OrderStatus::Pending, now)?;
    Ok(CheckedOrder { url, order })
}

/// An order fetched by POST-as-GET (step 12) or returned by finalize (step 13): 200 and
/// [`check_order`] with `expected` status.
pub fn check_order_response(
    response: &HttpResponse,
    order_url: &str,
    identifiers: &WireIdentifiers,
    expected: OrderStatus,
    now: OffsetDateTime,
) -> Result<Order, AcmeError> {
    expect_status(response, &[200], "200")?;
    let order: Order = json_body(response, "order")?;
    check_order(order_url, &order, identifiers, expected, now)?;
    Ok(order)
}

/// Step 5: one authorization — 200, for one of the ordered identifiers, `pending`, exactly one
/// challenge with `url`, `token` (unpadded base64url of ≥ 16 bytes) and `target` (§15.3).
pub fn check_authorization(
    response: &HttpResponse,
    identifiers: &WireIdentifiers,
) -> Result<Authorization, AcmeError> {
    expect_status(response, &[200], "200")?;
    let authz: Authorization = json_body(response, "authorization")?;
    if !order_identifiers(identifiers).contains(&authz.identifier) {
        return Err(ResponseError::AuthorizationIdentifier {
            url: response.url.clone(),
            found: authz.identifier,
        }
        .into());
    }
    if authz.status != AuthorizationStatus::Pending {
        return Err(ResponseError::AuthorizationStatus {
            url: response.url.clone(),
            found: authz.status,
        }
        .into());
    }
    let [challenge] = authz.challenges.as_slice() else {
        return Err(ResponseError::ChallengeCount {
            url: response.url.clone(),
            found: authz.challenges.len(),
        }
        .into());
    };
    if challenge.target.as_deref().is_none_or(str::is_empty) {
        return Err(ResponseError::MissingTarget {
            challenge: challenge.kind.clone(),
        }
        .into());
    }
    let token_ok = URL_SAFE_NO_PAD
        .decode(&challenge.token)
        .is_ok_and(|t| t.len() >= MIN_CHALLENGE_TOKEN_BYTES);
    if !token_ok {
        return Err(ResponseError::MalformedChallengeToken {
            challenge: challenge.kind.clone(),
            token: challenge.token.clone(),
        }
        .into());
    }
    Ok(authz)
}

/// A Wire challenge the client answers: its URL, token and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireChallenge {
    /// The challenge URL (DPoP `aud`, OIDC `acme_aud`).
    pub url: String,
    /// The token (DPoP `chal`, the `keyauth` prefix).
    pub token: String,
    /// `wire-dpop-01`: the backend's logical access-token URL (`htu`); `wire-oidc-01`: the
    /// IdP issuer, possibly with `?client_id=…`.
    pub target: String,
}

/// The order's two challenges, picked by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireChallenges {
    /// `wire-dpop-01`.
    pub dpop: WireChallenge,
    /// `wire-oidc-01`.
    pub oidc: WireChallenge,
}

/// Picks the challenges of the two authorizations by type, in whatever order they came: the
/// pair must be exactly `wire-dpop-01` + `wire-oidc-01` (§4 step 5), each in the
/// authorization of the identifier it proves.
pub fn pick_challenges(authorizations: &[Authorization]) -> Result<WireChallenges, ResponseError> {
    let challenges: Vec<(&Authorization, &Challenge)> = authorizations
        .iter()
        .flat_map(|a| a.challenges.iter().map(move |c| (a, c)))
        .collect();
    let kinds = || challenges.iter().map(|(_, c)| c.kind.clone()).collect();
    let find = |kind: &str| {
        let mut matching = challenges.iter().filter(|(_, c)| c.kind == kind);
        match (matching.next(), matching.next()) {
            (Some(found), None) => Ok(*found),
            _ => Err(ResponseError::ChallengeTypes { found: kinds() }),
        }
    };
    if challenges.len() != 2 {
        return Err(ResponseError::ChallengeTypes { found: kinds() });
    }
    let (dpop, oidc) = (find(WIRE_DPOP_01)?, find(WIRE_OIDC_01)?);
    let mut picked = Vec::with_capacity(2);
    for (identifier, (authz, challenge)) in [(WIREAPP_DEVICE, dpop), (WIREAPP_USER, oidc)] {
        if authz.identifier.kind != identifier {
            return Err(ResponseError::ChallengeForWrongIdentifier {
                challenge: challenge.kind.clone(),
                identifier: authz.identifier.kind.clone(),
            });
        }
        picked.push(WireChallenge {
            url: challenge.url.clone(),
            token: challenge.token.clone(),
            target: challenge.target.clone().unwrap_or_default(),
        });
    }
    let oidc = picked.pop();
    let dpop = picked.pop();
    match (dpop, oidc) {
        (Some(dpop), Some(oidc)) => Ok(WireChallenges { dpop, oidc }),
        _ => Err(ResponseError::ChallengeTypes { found: kinds() }),
    }
}

/// The `wire-dpop-01` answer payload (§4 step 9).
pub fn dpop_challenge_payload(access_token: &str) -> Value {
    json!({ "access_token": access_token })
}

/// The `wire-oidc-01` answer payload (§4 step 11).
pub fn oidc_challenge_payload(id_token: &str) -> Value {
    json!({ "id_token": id_token })
}

/// Steps 9 and 11: the answer to a challenge must show it `valid` at once (§15.2); `invalid`
/// carries the authority's reason.
pub fn check_challenge_answer(
    response: &HttpResponse,
    kind: &str,
    challenge_url: &str,
) -> Result<Challenge, AcmeError> {
    expect_status(response, &[200], "200")?;
    let challenge: Challenge = json_body(response, "challenge")?;
    if challenge.kind != kind || challenge.url != challenge_url {
        return Err(ResponseError::ChallengeMismatch {
            challenge: kind.into(),
            found: format!("{} at {}", challenge.kind, challenge.url),
        }
        .into());
    }
    match challenge.status {
        ChallengeStatus::Valid => Ok(challenge),
        ChallengeStatus::Invalid => Err(ResponseError::ChallengeInvalid {
            challenge: kind.into(),
            error: challenge.error.map(Box::new),
        }
        .into()),
        found => Err(ResponseError::ChallengeNotValid {
            challenge: kind.into(),
            found,
        }
        .into()),
    }
}

/// The finalize payload (§4 step 13): the DER CSR, unpadded base64url.
pub fn finalize_payload(csr_der: &[u8]) -> Value {
    json!({ "csr": URL_SAFE_NO_PAD.encode(csr_der) })
}

/// Step 13: the finalize answer is the order, `valid`, with its `certificate` URL.
pub fn check_finalized(
    response: &HttpResponse,
    order_url: &str,
    identifiers: &WireIdentifiers,
    now: OffsetDateTime,
) -> Result<String, AcmeError> {
    let order = check_order_response(response, order_url, identifiers, OrderStatus::Valid, now)?;
    order.certificate.ok_or_else(|| {
        ResponseError::MissingCertificateUrl {
            url: order_url.to_owned(),
        }
        .into()
    })
}

/// The downloaded chain: the PEM text as served and its certificates, leaf first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedChain {
    /// The PEM text.
    pub pem: String,
    /// The certificates, leaf first, then the intermediates.
    pub certificates: Vec<Certificate>,
}

/// Step 14: `application/pem-certificate-chain`, only `CERTIFICATE` blocks, at least one
/// (§15.7, §8.1 step 1).
pub fn check_certificate_download(response: &HttpResponse) -> Result<DownloadedChain, AcmeError> {
    use der::Decode;
    expect_status(response, &[200], "200")?;
    let url = || response.url.clone();
    let media = response.media_type();
    if media.as_deref() != Some(PEM_CHAIN_CONTENT_TYPE) {
        return Err(ResponseError::CertificateContentType {
            url: url(),
            found: media,
        }
        .into());
    }
    let pem = String::from_utf8(response.body.clone()).map_err(|_| {
        ResponseError::MalformedCertificate {
            url: url(),
            index: 0,
            reason: "the chain is not UTF-8 text".into(),
        }
    })?;
    let mut certificates = Vec::new();
    for (index, block) in pem_blocks(&pem).into_iter().enumerate() {
        let malformed = |reason: String| ResponseError::MalformedCertificate {
            url: url(),
            index,
            reason,
        };
        let (label, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| malformed(e.to_string()))?;
        if label != "CERTIFICATE" {
            return Err(ResponseError::UnexpectedPemBlock {
                url: url(),
                label: label.to_owned(),
            }
            .into());
        }
        certificates.push(Certificate::from_der(&der).map_err(|e| malformed(e.to_string()))?);
    }
    if certificates.is_empty() {
        return Err(ResponseError::EmptyCertificateChain { url: url() }.into());
    }
    Ok(DownloadedChain { pem, certificates })
}

/// The `-----BEGIN …-----` … `-----END …-----` blocks of a PEM text.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
        if line.starts_with("-----END ") {
            blocks.extend(current.take());
        }
    }
    blocks
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use e2ei_core::id::{ClientId, DisplayName, Handle};

    const ORDER_URL: &str = "https://acme.example.com/acme/wire/order/o1";

    fn ids() -> WireIdentifiers {
        let client_id: ClientId = "wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com"
            .parse()
            .unwrap();
        WireIdentifiers::for_client(
            client_id,
            Handle::new("alice_wire").unwrap(),
            DisplayName::new("Alice Smith").unwrap(),
        )
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn order_json(status: &str) -> Value {
        let n = now();
        json!({
            "status": status,
            "expires": rfc3339(n + time::Duration::days(1)),
            "identifiers": order_identifiers(&ids()),
            "notBefore": rfc3339(n - time::Duration::seconds(5)),
            "notAfter": rfc3339(n + time::Duration::days(90)),
            "authorizations": [format!("{ORDER_URL}/a1"), format!("{ORDER_URL}/a2")],
            "finalize": format!("{ORDER_URL}/finalize"),
        })
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &Value) -> HttpResponse {
        let mut all = vec![("replay-nonce".to_owned(), "n1".to_owned())];
        all.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        HttpResponse::new(ORDER_URL, status, all, body.to_string())
    }

    fn new_order(body: &Value) -> Result<CheckedOrder, AcmeError> {
        check_new_order(
            &response(201, &[("location", ORDER_URL)], body),
            &ids(),
            now(),
        )
    }

    fn response_error(result: Result<impl std::fmt::Debug, AcmeError>) -> ResponseError {
        match result.unwrap_err() {
            AcmeError::Response(e) => e,
            other => panic!("expected a response error, got {other:?}"),
        }
    }

    #[test]
    fn new_account_payload_is_exactly_the_reference_clients() {
        assert_eq!(
            new_account_payload().to_string(),
            r#"{"termsOfServiceAgreed":true,"contact":["anonymous@anonymous.invalid"],"onlyReturnExisting":false}"#
        );
    }

    #[test]
    fn new_order_payload_carries_json_in_string_identifiers_device_first() {
        let t = OffsetDateTime::from_unix_timestamp(1_763_129_547).unwrap();
        let payload = new_order_payload(&ids(), t, std::time::Duration::from_secs(3600));
        assert_eq!(
            payload,
            json!({
                "identifiers": [
                    {"type": "wireapp-device", "value": "{\"client-id\":\"wireapp://yRbSiljXSnCl77-QkM634g!9ff0457928ebe5f4@wire.com\",\"handle\":\"wireapp://%40alice_wire@wire.com\",\"name\":\"Alice Smith\",\"domain\":\"wire.com\"}"},
                    {"type": "wireapp-user", "value": "{\"handle\":\"wireapp://%40alice_wire@wire.com\",\"name\":\"Alice Smith\",\"domain\":\"wire.com\"}"},
                ],
                "notBefore": "2025-11-14T14:12:27Z",
                "notAfter": "2025-11-14T15:12:27Z",
            })
        );
    }

    #[test]
    fn accepts_a_well_formed_new_order() {
        let checked = new_order(&order_json("pending")).unwrap();
        assert_eq!(checked.url, ORDER_URL);
    }

    #[test]
    fn rejects_an_order_with_three_identifiers() {
        let mut body = order_json("pending");
        body["identifiers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "dns", "value": "example.com"}));
        assert!(matches!(
            response_error(new_order(&body)),
            ResponseError::IdentifierCount { found: 3, .. }
        ));
    }

    #[test]
    fn rejects_an_order_for_other_identifiers() {
        let mut body = order_json("pending");
        body["identifiers"][1]["value"] = json!(
            r#"{"handle":"wireapp://%40mallory@wire.com","name":"Alice Smith","domain":"wire.com"}"#
        );
        assert!(matches!(
            response_error(new_order(&body)),
            ResponseError::WrongIdentifiers { .. }
        ));
    }

    #[test]
    fn rejects_an_order_with_one_authorization_twice() {
        let mut body = order_json("pending");
        body["authorizations"][1] = body["authorizations"][0].clone();
        assert!(matches!(
            response_error(new_order(&body)),
            ResponseError::AuthorizationCount { found: 1, .. }
        ));
    }

    #[test]
    fn rejects_an_expired_order_and_one_not_yet_valid() {
        let mut body = order_json("pending");
        body["expires"] = json!(rfc3339(now() - time::Duration::seconds(1)));
        assert!(matches!(
            response_error(new_order(&body)),
            ResponseError::OrderExpired { .. }
        ));
        let mut body = order_json("pending");
        body["notBefore"] = json!(rfc3339(now() + time::Duration::hours(1)));
        assert!(matches!(
            response_error(new_order(&body)),
            ResponseError::OrderNotYetValid { .. }
        ));
        let mut body = order_json("pending");
        body["notAfter"] = json!(rfc3339(now() - time::Duration::hours(1)));
        assert!(matches!(
            response_error(new_order(&body)),
            ResponseError::OrderNotAfterPassed { .. }
        ));
    }

    #[test]
    fn rejects_an_order_in_the_wrong_status() {
        assert!(matches!(
            response_error(new_order(&order_json("invalid"))),
            ResponseError::OrderStatus {
                found: OrderStatus::Invalid,
                ..
            }
        ));
        let fetched = check_order_response(
            &response(200, &[], &order_json("pending")),
            ORDER_URL,
            &ids(),
            OrderStatus::Ready,
            now(),
        );
        assert!(matches!(
            response_error(fetched),
            ResponseError::OrderStatus {
                expected: OrderStatus::Ready,
                found: OrderStatus::Pending,
                ..
            }
        ));
    }

    #[test]
    fn rejects_a_new_order_without_location() {
        let r = check_new_order(&response(201, &[], &order_json("pending")), &ids(), now());
        assert!(matches!(
            response_error(r),
            ResponseError::MissingLocation { .. }
        ));
    }

    #[test]
    fn error_statuses_surface_the_problem_document() {
        let r = response(
            400,
            &[("content-type", "application/problem+json")],
            &json!({"type": "urn:ietf:params:acme:error:malformed", "detail": "no", "status": 400}),
        );
        match new_order(&serde_json::from_slice(&r.body).unwrap()) {
            Err(AcmeError::Response(_)) => {}
            other => panic!("{other:?}"),
        }
        match check_new_order(&r, &ids(), now()) {
            Err(AcmeError::Problem { problem, .. }) => {
                assert_eq!(problem.kind, e2ei_acme::ProblemType::Malformed)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn new_account_needs_the_orders_url_of_section_15_1() {
        let account = |orders: &str| {
            response(
                201,
                &[("location", "https://a/acme/wire/account/x")],
                &json!({"status": "valid", "orders": orders}),
            )
        };
        assert_eq!(
            check_new_account(&account("https://a/acme/wire/account/x/orders")).unwrap(),
            "https://a/acme/wire/account/x"
        );
        assert!(matches!(
            response_error(check_new_account(&account("https://a/acme/wire/orders/x"))),
            ResponseError::AccountOrdersUrl { .. }
        ));
    }

    #[test]
    fn every_response_must_carry_a_replay_nonce() {
        let r = HttpResponse::new(ORDER_URL, 200, [("x", "y")], "");
        assert!(matches!(
            replay_nonce(&r),
            Err(ResponseError::MissingReplayNonce { .. })
        ));
        assert!(matches!(
            check_new_nonce(&r),
            Err(AcmeError::Response(
                ResponseError::MissingReplayNonce { .. }
            ))
        ));
    }

    fn authz(identifier: &str, challenges: Value) -> Authorization {
        serde_json::from_value(json!({
            "identifier": {"type": identifier, "value": "{}"},
            "status": "pending",
            "challenges": challenges,
        }))
        .unwrap()
    }

    fn challenge(kind: &str) -> Value {
        json!({
            "type": kind, "url": format!("https://a/chall/{kind}"), "status": "pending",
            "token": "b3lzQ1pOblYyaUpUWWZqbVRVSlo2dmF2WFhrelBGTGY", "target": "https://t/",
        })
    }

    #[test]
    fn picks_challenges_by_type_in_any_order() {
        let picked = pick_challenges(&[
            authz(WIREAPP_USER, json!([challenge(WIRE_OIDC_01)])),
            authz(WIREAPP_DEVICE, json!([challenge(WIRE_DPOP_01)])),
        ])
        .unwrap();
        assert_eq!(picked.dpop.url, "https://a/chall/wire-dpop-01");
        assert_eq!(picked.oidc.url, "https://a/chall/wire-oidc-01");
    }

    #[test]
    fn rejects_any_other_challenge_pair() {
        for (a, b) in [
            (WIRE_DPOP_01, WIRE_DPOP_01),
            (WIRE_OIDC_01, "http-01"),
            ("dns-01", WIRE_DPOP_01),
        ] {
            let r = pick_challenges(&[
                authz(WIREAPP_DEVICE, json!([challenge(a)])),
                authz(WIREAPP_USER, json!([challenge(b)])),
            ]);
            assert!(
                matches!(r, Err(ResponseError::ChallengeTypes { .. })),
                "{a} + {b}: {r:?}"
            );
        }
        let swapped = pick_challenges(&[
            authz(WIREAPP_USER, json!([challenge(WIRE_DPOP_01)])),
            authz(WIREAPP_DEVICE, json!([challenge(WIRE_OIDC_01)])),
        ]);
        assert!(matches!(
            swapped,
            Err(ResponseError::ChallengeForWrongIdentifier { .. })
        ));
    }

    #[test]
    fn authorization_needs_one_challenge_with_target_and_a_long_token() {
        let check = |challenges: Value| {
            let body = json!({
                "identifier": order_identifiers(&ids())[1],
                "status": "pending", "challenges": challenges,
            });
            check_authorization(&response(200, &[], &body), &ids())
        };
        assert!(check(json!([challenge(WIRE_OIDC_01)])).is_ok());
        assert!(matches!(
            response_error(check(json!([
                challenge(WIRE_OIDC_01),
                challenge(WIRE_DPOP_01)
            ]))),
            ResponseError::ChallengeCount { found: 2, .. }
        ));
        let mut no_target = challenge(WIRE_OIDC_01);
        no_target.as_object_mut().unwrap().remove("target");
        assert!(matches!(
            response_error(check(json!([no_target]))),
            ResponseError::MissingTarget { .. }
        ));
        for token in [
            "c2hvcnQ",
            "padded+/==",
            "b3lzQ1pOblYyaUpUWWZqbVRVSlo2dmF2WFhrelBGTGY=",
        ] {
            let mut bad = challenge(WIRE_OIDC_01);
            bad["token"] = json!(token);
            assert!(
                matches!(
                    response_error(check(json!([bad]))),
                    ResponseError::MalformedChallengeToken { .. }
                ),
                "{token}"
            );
        }
    }

    #[test]
    fn authorization_must_be_for_an_ordered_identifier_and_pending() {
        let body = |identifier: Value, status: &str| {
            json!({
                "identifier": identifier, "status": status,
                "challenges": [challenge(WIRE_OIDC_01)],
            })
        };
        let [device, user] = order_identifiers(&ids());
        for ordered in [device, user.clone()] {
            let ok = body(serde_json::to_value(ordered).unwrap(), "pending");
            assert!(check_authorization(&response(200, &[], &ok), &ids()).is_ok());
        }
        let other = json!({"type": WIREAPP_USER, "value": r#"{"handle":"wireapp://%40mallory@wire.com","name":"Mallory","domain":"wire.com"}"#});
        assert!(matches!(
            response_error(check_authorization(
                &response(200, &[], &body(other, "pending")),
                &ids()
            )),
            ResponseError::AuthorizationIdentifier { .. }
        ));
        let valid = body(serde_json::to_value(user).unwrap(), "valid");
        assert!(matches!(
            response_error(check_authorization(&response(200, &[], &valid), &ids())),
            ResponseError::AuthorizationStatus { .. }
        ));
    }

    #[test]
    fn a_challenge_must_be_valid_in_the_answer() {
        let answer = |status: &str| {
            let mut c = challenge(WIRE_DPOP_01);
            c["status"] = json!(status);
            c["error"] = json!({"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "bad token", "status": 400});
            check_challenge_answer(
                &response(200, &[], &c),
                WIRE_DPOP_01,
                "https://a/chall/wire-dpop-01",
            )
        };
        assert!(answer("valid").is_ok());
        for status in ["pending", "processing"] {
            assert!(matches!(
                response_error(answer(status)),
                ResponseError::ChallengeNotValid { .. }
            ));
        }
        match response_error(answer("invalid")) {
            ResponseError::ChallengeInvalid { error: Some(p), .. } => {
                assert_eq!(p.kind, e2ei_acme::ProblemType::RejectedIdentifier)
            }
            other => panic!("{other:?}"),
        }
        let other = check_challenge_answer(
            &response(200, &[], &challenge(WIRE_DPOP_01)),
            WIRE_DPOP_01,
            "https://a/chall/another",
        );
        assert!(matches!(
            response_error(other),
            ResponseError::ChallengeMismatch { .. }
        ));
    }

    #[test]
    fn finalized_order_must_be_valid_with_a_certificate_url() {
        let mut body = order_json("valid");
        body["certificate"] = json!("https://a/cert/1");
        let ok = check_finalized(&response(200, &[], &body), ORDER_URL, &ids(), now());
        assert_eq!(ok.unwrap(), "https://a/cert/1");
        body.as_object_mut().unwrap().remove("certificate");
        assert!(matches!(
            response_error(check_finalized(
                &response(200, &[], &body),
                ORDER_URL,
                &ids(),
                now()
            )),
            ResponseError::MissingCertificateUrl { .. }
        ));
        let processing = check_finalized(
            &response(200, &[], &order_json("processing")),
            ORDER_URL,
            &ids(),
            now(),
        );
        assert!(matches!(
            response_error(processing),
            ResponseError::OrderStatus { .. }
        ));
    }

    #[test]
    fn certificate_download_needs_the_pem_chain_type_and_only_certificates() {
        let download = |content_type: &str, body: &str| {
            check_certificate_download(&HttpResponse::new(
                "https://a/cert/1",
                200,
                [("content-type", content_type), ("replay-nonce", "n")],
                body,
            ))
        };
        assert!(matches!(
            response_error(download("application/pem-certificate-chain", "")),
            ResponseError::EmptyCertificateChain { .. }
        ));
        assert!(matches!(
            response_error(download("text/plain", "")),
            ResponseError::CertificateContentType { .. }
        ));
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            response_error(download("application/pem-certificate-chain", key)),
            ResponseError::UnexpectedPemBlock { .. }
        ));
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            response_error(download("application/pem-certificate-chain", junk)),
            ResponseError::MalformedCertificate { index: 0, .. }
        ));
    }
}
