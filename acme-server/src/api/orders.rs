//! Orders, authorizations and challenges (RFC 8555 §7.1.3–§7.5, §8; RFC 8737; protocol doc §4,
//! §6.1, §15.2–§15.4):
//!
//! - `POST new-order`: a Wire provisioner takes exactly the `wireapp-user` + `wireapp-device`
//!   pair; each authorization gets one challenge (`wire-oidc-01` / `wire-dpop-01`) with its
//!   `target`. A standard provisioner takes DNS names (lower-cased, within its domain policy,
//!   at most 100, a requested validity within its bounds); each name gets one authorization
//!   with one challenge per offered type, `dns-01` only for a wildcard, whose authorization
//!   names the base domain with `"wildcard": true` (§7.1.4). 201 + `Location`.
//! - `POST order/{id}` (POST-as-GET), `POST account/{id}/orders` (the account's orders list).
//! - `POST authz/{id}`: POST-as-GET, or `{"status":"deactivated"}`.
//! - `POST challenge/{authz}/{id}`: validated synchronously; the answer already shows the
//!   challenge `valid` or `invalid` (§15.2). A failed Wire check is an `invalid` challenge with a
//!   `rejectedIdentifier` error; a failed `http-01` / `dns-01` / `tls-alpn-01` one carries the
//!   validator's error (`dns`, `connection`, `unauthorized`, `incorrectResponse`, `tls`). Both
//!   are answered with 200, are terminal and make the authorization and the order `invalid`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use e2ei_acme::challenge::{StandardChallenge, key_authorization};
use e2ei_acme::jws::Payload;
use e2ei_acme::messages::Identifier;
use e2ei_acme::messages::{
    Authorization, AuthorizationStatus, AuthorizationUpdateRequest, Challenge, ChallengeStatus,
    NewOrderRequest, Order, OrderStatus, OrdersList, WIRE_DPOP_01, WIRE_OIDC_01,
    WireDpopChallengeRequest, WireOidcChallengeRequest,
};
use e2ei_acme::order::{OrderIdentifiers, authorization_name, validate_identifiers};
use e2ei_acme::{Problem, ProblemType};
use e2ei_core::clock::FixedClock;
use e2ei_core::identifier::{WIREAPP_DEVICE, WIREAPP_USER};
use e2ei_dpop::{AccessTokenVerifier, ChallengeExpectations};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::limits::ClientIp;
use super::{AcmeError, AcmeResult, KeyMode, authenticate, provisioner};
use crate::app::{AppState, ProvisionerKind, SharedState, WireSettings};
use crate::standard::StandardSettings;
use crate::store::{AccountRow, AuthzRow, ChallengeRow, NewAuthz, OrderRow, random_token};

fn rfc3339(t: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

fn with_location(mut response: Response, url: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(url) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn not_found(what: &str) -> AcmeError {
    let mut p = Problem::malformed(format!("no such {what}"));
    p.status = 404;
    AcmeError(p)
}

fn order_json(state: &AppState, order: &OrderRow, authzs: &[AuthzRow]) -> Order {
    let url = |path: String| state.settings.url(&order.provisioner, &path);
    Order {
        status: order.effective_status(state.now()),
        expires: rfc3339(order.expires_at),
        identifiers: order.identifiers.clone(),
        not_before: order.not_before.clone(),
        not_after: order.not_after.clone(),
        error: order.error.clone(),
        authorizations: authzs
            .iter()
            .map(|a| url(format!("authz/{}", a.id)))
            .collect(),
        finalize: url(format!("order/{}/finalize", order.id)),
        certificate: order
            .certificate_id
            .as_ref()
            .map(|c| url(format!("certificate/{c}"))),
        replaces: None,
    }
}

fn challenge_json(state: &AppState, provisioner: &str, c: &ChallengeRow) -> Challenge {
    Challenge {
        kind: c.kind.clone(),
        url: state
            .settings
            .url(provisioner, &format!("challenge/{}/{}", c.authz_id, c.id)),
        status: c.status,
        token: c.token.clone(),
        target: c.target.clone(),
        validated: c.validated_at.and_then(rfc3339),
        error: c.error.clone(),
    }
}

fn authz_json(state: &AppState, provisioner: &str, a: &AuthzRow) -> Authorization {
    // A wildcard name is stored as ordered (`*.example.com`) and shown as its base domain.
    let (identifier, wildcard) = if a.identifier.kind == "dns" {
        let (name, wildcard) = authorization_name(&a.identifier.value);
        (Identifier::dns(name), wildcard)
    } else {
        (a.identifier.clone(), false)
    };
    Authorization {
        identifier,
        status: a.effective_status(state.now()),
        expires: rfc3339(a.expires_at),
        challenges: a
            .challenges
            .iter()
            .map(|c| challenge_json(state, provisioner, c))
            .collect(),
        wildcard,
    }
}

fn parse_time(name: &str, value: &Option<String>) -> Result<Option<OffsetDateTime>, Problem> {
    value
        .as_deref()
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .map_err(|_| Problem::malformed(format!("`{name}` is not an RFC 3339 time")))
        })
        .transpose()
}

pub(super) async fn new_order(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Kid).await?;
    let account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    let request: NewOrderRequest = auth.request.payload_as()?;
    let not_before = parse_time("notBefore", &request.not_before)?;
    let not_after = parse_time("notAfter", &request.not_after)?;
    if let (Some(nb), Some(na)) = (not_before, not_after) {
        if nb >= na {
            return Err(Problem::malformed("notBefore must be before notAfter").into());
        }
    }
    let identifiers = validate_identifiers(&request.identifiers)?;
    let now = state.now();
    let (identifiers, authzs) = match (&identifiers, &p.kind) {
        (OrderIdentifiers::Wire(pair), ProvisionerKind::Wire(wire)) => {
            check_wire_validity(wire, not_before, not_after, now)?;
            let domain = pair.device().domain().as_str();
            if state
                .issuer
                .as_ref()
                .is_some_and(|i| !i.permits_uri_host(domain))
            {
                return Err(Problem::new(
                    ProblemType::RejectedIdentifier,
                    format!("the issuing CA may not certify identities of `{domain}` (its name constraints)"),
                )
                .into());
            }
            (
                request.identifiers.clone(),
                wire_authorizations(wire, pair, &request.identifiers),
            )
        }
        (OrderIdentifiers::Dns(names), ProvisionerKind::Standard(standard)) => {
            check_standard_order(standard, names, not_before, not_after, now)?;
            if let Some(issuer) = &state.issuer {
                let mut refused = Problem::new(
                    ProblemType::RejectedIdentifier,
                    "the issuing CA's name constraints do not permit every name",
                );
                for name in names
                    .iter()
                    .filter(|n| !issuer.permits_dns_name(n.trim_start_matches("*.")))
                {
                    refused = refused.with_subproblem(
                        ProblemType::RejectedIdentifier,
                        format!("`{name}` is outside the issuing CA's name constraints"),
                        Some(Identifier::dns(name.clone())),
                    );
                }
                if !refused.subproblems.is_empty() {
                    return Err(refused.into());
                }
            }
            (
                names.iter().map(Identifier::dns).collect(),
                standard_authorizations(standard, names),
            )
        }
        (_, ProvisionerKind::Wire(_)) => {
            return Err(Problem::new(
                ProblemType::UnsupportedIdentifier,
                "this provisioner issues for Wire identifiers only",
            )
            .into());
        }
        (_, ProvisionerKind::Standard(_)) => {
            return Err(Problem::new(
                ProblemType::UnsupportedIdentifier,
                "this provisioner issues for DNS names only",
            )
            .into());
        }
    };
    super::limits::new_order(&state, &account.id, ip).await?;
    let order = OrderRow {
        id: random_token(18),
        provisioner: p.name.clone(),
        account_id: account.id.clone(),
        status: OrderStatus::Pending,
        identifiers,
        not_before: request.not_before.clone(),
        not_after: request.not_after.clone(),
        error: None,
        dpop_claims: None,
        oidc_claims: None,
        certificate_id: None,
        expires_at: now + state.settings.order_ttl(),
    };
    tracing::Span::current().record("order", order.id.as_str());
    if let Some(cert_id) = &request.replaces {
        super::renewal::claim_replacement(&state, p, &account, cert_id, &order.id).await?;
    }
    state.store.create_order(&order, &authzs, now).await?;
    let stored = state.store.authorizations_of(&order.id).await?;
    let url = state.settings.url(&p.name, &format!("order/{}", order.id));
    Ok(with_location(
        (
            StatusCode::CREATED,
            Json(order_json(&state, &order, &stored)),
        )
            .into_response(),
        &url,
    ))
}

/// One authorization per Wire identifier, each with its one challenge; tokens carry 192 bits.
fn wire_authorizations(
    wire: &WireSettings,
    pair: &e2ei_core::identifier::WireIdentifiers,
    identifiers: &[Identifier],
) -> Vec<NewAuthz> {
    let device = pair.device();
    let target = wire.dpop_target_for(
        device.domain().as_str(),
        &device.client_id().device().to_string(),
    );
    let mut authzs = Vec::new();
    for identifier in identifiers {
        let (kind, target) = match identifier.kind.as_str() {
            WIREAPP_DEVICE => (WIRE_DPOP_01, target.clone()),
            WIREAPP_USER => (WIRE_OIDC_01, wire.idp.target.clone()),
            _ => continue,
        };
        authzs.push(NewAuthz {
            id: random_token(18),
            identifier: identifier.clone(),
            challenges: vec![(
                random_token(18),
                kind.to_owned(),
                random_token(24),
                Some(target),
            )],
        });
    }
    authzs
}

/// A standard order's names against the provisioner: its domain policy, wildcards only where
/// `dns-01` is offered, and a requested validity within its bounds.
fn check_standard_order(
    standard: &StandardSettings,
    names: &[String],
    not_before: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    now: i64,
) -> Result<(), Problem> {
    standard.policy.check(names)?;
    if standard.challenges_for(true).is_empty() {
        let mut problem = Problem::new(
            ProblemType::RejectedIdentifier,
            "wildcard names need dns-01, which this provisioner does not offer",
        );
        for name in names.iter().filter(|n| authorization_name(n).1) {
            problem = problem.with_subproblem(
                ProblemType::RejectedIdentifier,
                format!("`{name}` is a wildcard name"),
                Some(Identifier::dns(name.clone())),
            );
        }
        if !problem.subproblems.is_empty() {
            return Err(problem);
        }
    }
    if let Some(not_after) = not_after {
        let now = OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let start = not_before.filter(|nb| *nb > now).unwrap_or(now);
        let bounds = standard.validity;
        let requested = (not_after - start).unsigned_abs();
        if not_after <= start || requested < bounds.min || requested > bounds.max {
            return Err(Problem::malformed(format!(
                "the requested validity must be between {} and {} seconds",
                bounds.min.as_secs(),
                bounds.max.as_secs()
            )));
        }
    }
    Ok(())
}

/// A Wire order may not ask for less than the provisioner's minimum validity (more is capped
/// at issuance).
fn check_wire_validity(
    wire: &WireSettings,
    not_before: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    now: i64,
) -> Result<(), Problem> {
    let Some(not_after) = not_after else {
        return Ok(());
    };
    let now = OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let start = not_before.filter(|nb| *nb > now).unwrap_or(now);
    if not_after <= start || (not_after - start).unsigned_abs() < wire.validity.min {
        return Err(Problem::malformed(format!(
            "the requested validity must be at least {} seconds",
            wire.validity.min.as_secs()
        )));
    }
    Ok(())
}

/// One authorization per name with one challenge per offered type (each its own 192-bit
/// token); a wildcard name gets `dns-01` only.
fn standard_authorizations(standard: &StandardSettings, names: &[String]) -> Vec<NewAuthz> {
    names
        .iter()
        .map(|name| NewAuthz {
            id: random_token(18),
            identifier: Identifier::dns(name.clone()),
            challenges: standard
                .challenges_for(authorization_name(name).1)
                .into_iter()
                .map(|c| {
                    (
                        random_token(18),
                        c.name().to_owned(),
                        random_token(24),
                        None,
                    )
                })
                .collect(),
        })
        .collect()
}

/// The order `id`, which must belong to `account`.
pub(super) async fn owned_order_for(
    state: &AppState,
    provisioner: &str,
    id: &str,
    account: &AccountRow,
) -> Result<OrderRow, AcmeError> {
    let order = state
        .store
        .order(provisioner, id)
        .await?
        .ok_or_else(|| not_found("order"))?;
    if order.account_id != account.id {
        return Err(Problem::unauthorized("the order belongs to another account").into());
    }
    tracing::Span::current().record("order", order.id.as_str());
    Ok(order)
}

pub(super) async fn order(
    State(state): State<SharedState>,
    Path((name, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Kid).await?;
    auth.request.require_post_as_get()?;
    let account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    let order = owned_order_for(&state, &p.name, &id, &account).await?;
    let order = heal_stale_processing(&state, order).await?;
    order_response(&state, &order).await
}

/// An order a crashed process left in `processing` becomes `ready` again, so that the client
/// can finalize it anew; no certificate of it was handed out (they are recorded first).
pub(super) async fn heal_stale_processing(
    state: &AppState,
    order: OrderRow,
) -> Result<OrderRow, AcmeError> {
    if order.status != OrderStatus::Processing
        || !state
            .store
            .reclaim_stale_processing(
                &order.id,
                state.now() - state.settings.stale_processing_secs,
            )
            .await?
    {
        return Ok(order);
    }
    tracing::warn!(order = %order.id, "order left in processing by a stopped process is ready again");
    Ok(state
        .store
        .order(&order.provisioner, &order.id)
        .await?
        .unwrap_or(order))
}

/// An order as answered (with its `Location`).
pub(super) async fn order_response(state: &AppState, order: &OrderRow) -> AcmeResult {
    let authzs = state.store.authorizations_of(&order.id).await?;
    let url = state
        .settings
        .url(&order.provisioner, &format!("order/{}", order.id));
    let mut response = with_location(
        Json(order_json(state, order, &authzs)).into_response(),
        &url,
    );
    if order.effective_status(state.now()) == OrderStatus::Processing {
        // RFC 8555 §7.4: tell a polling client when to look again (issuance takes moments).
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Ok(response)
}

pub(super) async fn orders_list(
    State(state): State<SharedState>,
    Path((name, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Kid).await?;
    auth.request.require_post_as_get()?;
    let account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    if account.id != id {
        return Err(Problem::unauthorized("the request is signed by another account").into());
    }
    let orders = state
        .store
        .order_ids_of(&account.id, state.now())
        .await?
        .into_iter()
        .map(|o| state.settings.url(&p.name, &format!("order/{o}")))
        .collect();
    Ok(Json(OrdersList { orders }).into_response())
}

/// The authorization `id` with its order, which must belong to `account`.
async fn owned_authz(
    state: &AppState,
    provisioner: &str,
    id: &str,
    account: &AccountRow,
) -> Result<(AuthzRow, OrderRow), AcmeError> {
    let (authz, order) = state
        .store
        .authorization(provisioner, id)
        .await?
        .ok_or_else(|| not_found("authorization"))?;
    if order.account_id != account.id {
        return Err(Problem::unauthorized("the authorization belongs to another account").into());
    }
    Ok((authz, order))
}

pub(super) async fn authz(
    State(state): State<SharedState>,
    Path((name, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Kid).await?;
    let account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    let (mut authz, _) = owned_authz(&state, &p.name, &id, &account).await?;
    if let Payload::Json(_) = auth.request.payload {
        let update: AuthorizationUpdateRequest = auth.request.payload_as()?;
        if update.status != AuthorizationStatus::Deactivated {
            return Err(
                Problem::malformed("an authorization can only be set to deactivated").into(),
            );
        }
        if !matches!(
            authz.effective_status(state.now()),
            AuthorizationStatus::Pending | AuthorizationStatus::Valid
        ) {
            return Err(Problem::malformed(
                "only pending or valid authorizations can be deactivated",
            )
            .into());
        }
        state.store.deactivate_authorization(&authz).await?;
        authz.status = AuthorizationStatus::Deactivated;
    }
    let url = state.settings.url(&p.name, &format!("authz/{}", authz.id));
    Ok(with_location(
        Json(authz_json(&state, &p.name, &authz)).into_response(),
        &url,
    ))
}

pub(super) async fn challenge(
    State(state): State<SharedState>,
    Path((name, authz_id, id)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> AcmeResult {
    let p = provisioner(&state, &name)?;
    let auth = authenticate(&state, p, uri.path(), &headers, &body, KeyMode::Kid).await?;
    let account = auth
        .account
        .ok_or_else(|| AcmeError(Problem::server_internal()))?;
    let (authz, order) = owned_authz(&state, &p.name, &authz_id, &account).await?;
    let mut challenge = authz
        .challenges
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or_else(|| not_found("challenge"))?;
    let respond = |c: &ChallengeRow| {
        let mut response = Json(challenge_json(&state, &p.name, c)).into_response();
        let up = format!(
            "<{}>;rel=\"up\"",
            state
                .settings
                .url(&p.name, &format!("authz/{}", c.authz_id))
        );
        if let Ok(v) = HeaderValue::from_str(&up) {
            response.headers_mut().append(header::LINK, v);
        }
        response
    };
    // POST-as-GET, or a challenge that already finished: show it as it is.
    if matches!(auth.request.payload, Payload::Empty)
        || challenge.status != ChallengeStatus::Pending
    {
        return Ok(respond(&challenge));
    }
    if authz.effective_status(state.now()) != AuthorizationStatus::Pending {
        return Err(Problem::malformed("the authorization is no longer pending").into());
    }
    let outcome =
        match &p.kind {
            ProvisionerKind::Wire(wire) => {
                wire_outcome(
                    &state,
                    &p.name,
                    wire,
                    &auth.request,
                    &account,
                    &authz,
                    &challenge,
                )
                .await?
            }
            ProvisionerKind::Standard(standard) => {
                let kind: StandardChallenge = challenge.kind.parse().map_err(
                    |e: e2ei_acme::challenge::UnknownChallenge| Problem::malformed(e.to_string()),
                )?;
                // RFC 8555 §7.5.1: the client says it is ready with a JSON object, normally `{}`.
                let _: serde_json::Map<String, Value> = auth.request.payload_as()?;
                let (name, _) = authorization_name(&authz.identifier.value);
                let keyauth = key_authorization(&challenge.token, &account.jwk);
                let result = standard.validator.validate(kind, name, &keyauth).await;
                match &result {
                    Ok(()) => tracing::info!(challenge = %kind, name, "challenge valid"),
                    Err(p) => {
                        tracing::info!(challenge = %kind, name, error = %p, "challenge invalid")
                    }
                }
                result.map(|()| None)
            }
        };
    let now = state.now();
    state
        .store
        .finish_challenge(&challenge, &order.id, outcome.clone(), now)
        .await?;
    // Show what is stored now (a concurrent request may have finished it first).
    let latest = state.store.authorization(&p.name, &authz.id).await?;
    if let Some(found) =
        latest.and_then(|(a, _)| a.challenges.into_iter().find(|c| c.id == challenge.id))
    {
        challenge = found;
    }
    Ok(respond(&challenge))
}

/// The outcome of a Wire challenge: its payload checked by the challenge's own validator.
async fn wire_outcome(
    state: &AppState,
    provisioner: &str,
    wire: &WireSettings,
    request: &e2ei_acme::jws::VerifiedRequest,
    account: &AccountRow,
    authz: &AuthzRow,
    challenge: &ChallengeRow,
) -> Result<Result<Option<(&'static str, Value)>, Problem>, AcmeError> {
    Ok(match challenge.kind.as_str() {
        WIRE_DPOP_01 => {
            let payload: WireDpopChallengeRequest = request.payload_as()?;
            validate_wire_dpop(
                state,
                provisioner,
                wire,
                account,
                authz,
                challenge,
                &payload.access_token,
            )
        }
        WIRE_OIDC_01 => {
            let payload: WireOidcChallengeRequest = request.payload_as()?;
            validate_wire_oidc(
                state,
                provisioner,
                wire,
                account,
                authz,
                challenge,
                &payload.id_token,
            )
            .await?
        }
        other => {
            return Err(Problem::malformed(format!("unknown challenge type `{other}`")).into());
        }
    })
}

/// `wire-dpop-01` (protocol doc §6.1): the access token and the proof inside it, checked by
/// e2ei-dpop against this challenge, this account and the device identifier.
fn validate_wire_dpop(
    state: &AppState,
    provisioner: &str,
    wire: &WireSettings,
    account: &AccountRow,
    authz: &AuthzRow,
    challenge: &ChallengeRow,
    access_token: &str,
) -> Result<Option<(&'static str, Value)>, Problem> {
    let rejected = |detail: String| {
        Problem::new(
            ProblemType::RejectedIdentifier,
            format!("failed validating Wire access token: {detail}"),
        )
    };
    // The identifier's own strings are what the tokens must repeat (string equality, §10.5).
    let value: serde_json::Map<String, Value> = serde_json::from_str(&authz.identifier.value)
        .map_err(|e| rejected(format!("device identifier: {e}")))?;
    let member = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (client_id, handle, display_name) = (member("client-id"), member("handle"), member("name"));
    let challenge_url = state.settings.url(
        provisioner,
        &format!("challenge/{}/{}", challenge.authz_id, challenge.id),
    );
    let target = challenge.target.clone().unwrap_or_default();
    let expect = ChallengeExpectations {
        challenge_url: &challenge_url,
        challenge_token: &challenge.token,
        target: &target,
        client_id: &client_id,
        handle: &handle,
        display_name: &display_name,
        account_key: &account.jwk,
    };
    let clock = FixedClock(state.clock.now());
    let verified = AccessTokenVerifier::new(&wire.backend_keys, &wire.dpop_policy)
        .verify(access_token, &expect, &clock)
        .map_err(|e| rejected(e.to_string()))?;
    Ok(Some((
        "dpop_claims",
        Value::Object(verified.proof_claims().clone()),
    )))
}

/// `wire-oidc-01` (protocol doc §6.3) through the provisioner's IdP. An unreachable IdP is a
/// server error and leaves the challenge pending.
async fn validate_wire_oidc(
    state: &AppState,
    provisioner: &str,
    wire: &WireSettings,
    account: &AccountRow,
    authz: &AuthzRow,
    challenge: &ChallengeRow,
    id_token: &str,
) -> Result<Result<Option<(&'static str, Value)>, Problem>, AcmeError> {
    let Some((name, handle, domain)) = crate::oidc::user_identifier(&authz.identifier.value) else {
        return Err(Problem::server_internal().into());
    };
    let challenge_url = state.settings.url(
        provisioner,
        &format!("challenge/{}/{}", challenge.authz_id, challenge.id),
    );
    let expect = e2ei_acme::oidc::WireOidcExpectations {
        challenge_token: &challenge.token,
        challenge_url: &challenge_url,
        account_key: &account.jwk,
        name: &name,
        handle: &handle,
        domain: &domain,
    };
    match wire.idp.validate(id_token, &expect, state.now()).await {
        Ok(outcome) => Ok(outcome.map(|claims| Some(("oidc_claims", Value::Object(claims))))),
        Err(unavailable) => {
            tracing::error!(error = %unavailable, "wire-oidc-01");
            Err(Problem::new(
                ProblemType::ServerInternal,
                "the identity provider cannot be reached",
            )
            .into())
        }
    }
}
