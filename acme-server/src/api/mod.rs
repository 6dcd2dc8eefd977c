//! The HTTP edge of the authority: routes, the request-JWS pipeline, and the one place problems
//! become responses (`application/problem+json`). Every ACME response carries a fresh
//! `Replay-Nonce`, `Link: <directory>;rel="index"` and `Cache-Control: no-store`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use e2ei_acme::jws::{JwsRequestIn, KeyRef, MAX_BODY, VerifiedRequest, check_content_type};
use e2ei_acme::messages::AccountStatus;
use e2ei_acme::problem::PROBLEM_CONTENT_TYPE;
use e2ei_acme::{Problem, ProblemType};

use crate::app::{AppState, Provisioner, SharedState};
use crate::store::AccountRow;

mod accounts;
mod admin;
mod crl;
mod directory;
mod finalize;
pub(crate) mod limits;
mod orders;
mod renewal;
mod revoke;

/// The counter of issued certificates (by provisioner).
pub const CERTIFICATES_ISSUED: &str = "certificates_issued_total";

/// All routes.
pub fn router(state: SharedState) -> Router {
    let acme = Router::new()
        .route("/directory", get(directory::directory))
        .route(
            "/new-nonce",
            get(directory::new_nonce_get).head(directory::new_nonce_head),
        )
        .route("/new-account", post(accounts::new_account))
        .route("/account/{id}", post(accounts::account))
        .route("/key-change", post(accounts::key_change))
        .route("/account/{id}/orders", post(orders::orders_list))
        .route("/new-order", post(orders::new_order))
        .route("/order/{id}", post(orders::order))
        .route("/authz/{id}", post(orders::authz))
        .route("/challenge/{authz}/{id}", post(orders::challenge))
        .route("/order/{id}/finalize", post(finalize::finalize))
        .route("/certificate/{id}", post(finalize::certificate))
        .route(
            "/certificate/{id}/{alternate}",
            post(finalize::alternate_certificate),
        )
        .route("/revoke-cert", post(revoke::revoke_cert))
        .route("/renewal-info/{cert_id}", get(renewal::renewal_info))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            acme_headers,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY));
    let mut root = Router::new();
    if let Some(path) = crl_path(&state) {
        root = root
            .route(&path, get(crl::first_shard))
            .route(&format!("{path}/{{shard}}"), get(crl::shard));
    }
    root.route("/healthz", get(healthz))
        .route("/admin/revocations", post(admin::revocations))
        .route("/metrics", get(metrics))
        .route("/roots.pem", get(roots))
        .route("/federation", get(federation))
        .nest("/acme/{provisioner}", acme)
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            e2ei_service::metrics::track,
        ))
        .layer(axum::middleware::from_fn(request_span))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::client_ip,
        ))
        .with_state(state)
}

/// The path of the configured CRL URL, where the CRLs are served.
fn crl_path(state: &AppState) -> Option<String> {
    let policy = state.issuer.as_ref()?.crl_policy()?;
    let url = policy
        .sharding
        .distribution_point(e2ei_crl::ShardId::new(0));
    let path = url::Url::parse(&url)
        .ok()?
        .path()
        .trim_end_matches('/')
        .to_owned();
    (!path.is_empty()).then_some(path)
}

/// `GET /healthz`: 200 while the database answers, 503 otherwise (load balancers take the
/// replica out).
async fn healthz(State(state): State<SharedState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ok".into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(state): State<SharedState>) -> Response {
    e2ei_service::metrics::exposition(&state.metrics)
}

/// `GET /federation`: the cross-signed intermediates clients import to validate federated
/// domains' certificates (protocol doc §2.5), as `{"certificates": [PEM, …]}`.
async fn federation(State(state): State<SharedState>) -> Response {
    let certificates: Vec<String> = state
        .federation
        .iter()
        .filter_map(|c| e2ei_core::x509::certificate_to_pem(c).ok())
        .collect();
    axum::Json(serde_json::json!({ "certificates": certificates })).into_response()
}

/// Every request runs in a span with its method, route and client address; handlers record
/// the account and order they act on, so each log line names them.
async fn request_span(request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let ip = request
        .extensions()
        .get::<limits::ClientIp>()
        .and_then(|c| c.0)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        client = %ip,
        account = tracing::field::Empty,
        order = tracing::field::Empty,
    );
    async move {
        let started = std::time::Instant::now();
        let response = next.run(request).await;
        tracing::info!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "served"
        );
        response
    }
    .instrument(span)
    .await
}

/// `GET /roots.pem`: the trust anchors clients validate chains against (§15.7).
async fn roots(State(state): State<SharedState>) -> Response {
    match &state.roots_pem {
        Some(pem) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            pem.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A problem as an HTTP response.
pub struct AcmeError(pub Problem);

impl From<Problem> for AcmeError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl From<sqlx::Error> for AcmeError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "storage");
        Self(Problem::server_internal())
    }
}

impl IntoResponse for AcmeError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        let mut response =
            (status, [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)], body).into_response();
        if let Some(seconds) = self.0.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Handler result.
pub type AcmeResult = Result<Response, AcmeError>;

/// The provisioner of the path, or 404 `malformed`.
pub(crate) fn provisioner<'a>(
    state: &'a AppState,
    name: &str,
) -> Result<&'a Provisioner, AcmeError> {
    state.settings.provisioner(name).ok_or_else(|| {
        let mut p = Problem::malformed(format!("no provisioner `{name}`"));
        p.status = 404;
        AcmeError(p)
    })
}

/// Adds `Replay-Nonce`, the directory `Link` and `Cache-Control: no-store` to every response
/// under `/acme/{provisioner}`.
async fn acme_headers(
    State(state): State<SharedState>,
    Path(params): Path<Vec<(String, String)>>,
    request: Request,
    next: Next,
) -> Response {
    let name = params
        .iter()
        .find(|(k, _)| k == "provisioner")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut response = next.run(request).await;
    if state.settings.provisioner(&name).is_none() {
        return response;
    }
    if response.status().is_client_error()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|v| v.as_bytes() != PROBLEM_CONTENT_TYPE.as_bytes())
    {
        // The framework's own refusals (body over the limit, unknown route, wrong method)
        // become problem documents like every other ACME error.
        response = framework_refusal(response.status()).into_response();
    }
    let headers = response.headers_mut();
    match state.store.issue_nonce(state.now()).await {
        Ok(nonce) => {
            if let Ok(v) = HeaderValue::from_str(&nonce) {
                headers.insert("replay-nonce", v);
            }
        }
        Err(e) => tracing::error!(error = %e, "issuing a nonce"),
    }
    let index = format!("<{}>;rel=\"index\"", state.settings.url(&name, "directory"));
    if let Ok(v) = HeaderValue::from_str(&index) {
        headers.append(header::LINK, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn framework_refusal(status: StatusCode) -> AcmeError {
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("the request body exceeds {MAX_BODY} bytes"),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed for this resource".to_owned(),
        StatusCode::NOT_FOUND => "no such resource".to_owned(),
        other => format!("the request was refused ({other})"),
    };
    let mut problem = Problem::malformed(detail);
    problem.status = status.as_u16();
    AcmeError(problem)
}

/// How a request must name its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMode {
    /// `jwk` (new-account).
    Jwk,
    /// `kid`: an existing, valid account of this provisioner.
    Kid,
}

/// A request that passed the whole JWS pipeline.
pub(crate) struct Authenticated {
    /// The verified request.
    pub(crate) request: VerifiedRequest,
    /// The account: the `kid`'s, or for `jwk` requests the one holding that key, if any.
    pub(crate) account: Option<AccountRow>,
}

/// RFC 8555 §6: content type, JWS envelope, nonce (single use), `url` equal to this request's
/// URL, key resolution, account status, signature.
pub(crate) async fn authenticate(
    state: &AppState,
    provisioner: &Provisioner,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    mode: KeyMode,
) -> Result<Authenticated, AcmeError> {
    check_content_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )?;
    let jws = JwsRequestIn::parse(body)?;
    let nonce = jws.header().nonce.clone().unwrap_or_default();
    if !state.store.redeem_nonce(&nonce, state.now()).await? {
        return Err(Problem::new(
            ProblemType::BadNonce,
            "the nonce is unknown, used or expired",
        )
        .into());
    }
    let expected_url = format!("{}{path}", state.settings.base_url);
    if jws.header().url != expected_url {
        return Err(Problem::unauthorized(format!(
            "JWS url `{}` is not the request URL `{expected_url}`",
            jws.header().url
        ))
        .into());
    }
    match (mode, jws.header().key.clone()) {
        (KeyMode::Jwk, KeyRef::Jwk(jwk)) => {
            let request = jws.verify(jwk.public_key())?;
            let account = state.store.account_by_key(&provisioner.name, &jwk).await?;
            Ok(Authenticated { request, account })
        }
        (KeyMode::Kid, KeyRef::Kid(kid)) => {
            let prefix = state.settings.account_url(&provisioner.name, "");
            let id = kid
                .strip_prefix(&prefix)
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .ok_or_else(|| {
                    Problem::new(
                        ProblemType::AccountDoesNotExist,
                        "kid is not an account URL of this provisioner",
                    )
                })?;
            let account = state
                .store
                .account(&provisioner.name, id)
                .await?
                .ok_or_else(|| Problem::new(ProblemType::AccountDoesNotExist, "no such account"))?;
            if account.status != AccountStatus::Valid {
                return Err(Problem::unauthorized(
                    "the account is not valid (deactivated or revoked)",
                )
                .into());
            }
            let request = jws.verify(account.jwk.public_key())?;
            tracing::Span::current().record("account", account.id.as_str());
            Ok(Authenticated {
                request,
                account: Some(account),
            })
        }
        (KeyMode::Jwk, KeyRef::Kid(_)) => {
            Err(Problem::malformed("this request must carry `jwk`, not `kid`").into())
        }
        (KeyMode::Kid, KeyRef::Jwk(_)) => {
            Err(Problem::malformed("this request must carry `kid`, not `jwk`").into())
        }
    }
}
