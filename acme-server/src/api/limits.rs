//! Rate limits on new-account (per client IP) and new-order (per account and per IP), counted
//! in the shared database; over the limit → `rateLimited` (429) with `Retry-After` (RFC 8555
//! §6.6), and nothing is created.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use e2ei_acme::Problem;

use super::AcmeError;
use crate::app::{AppState, RateLimit, SharedState};
use crate::store::RateVerdict;

/// The client's address: the TCP peer, or what a trusted proxy says (`client_ip_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientIp(pub(crate) Option<IpAddr>);

impl ClientIp {
    /// As a rate-limit subject.
    fn subject(self) -> String {
        self.0.map_or_else(|| "unknown".into(), |ip| ip.to_string())
    }
}

/// Middleware: puts the [`ClientIp`] into the request's extensions.
pub(super) async fn client_ip(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    let from_header = state.settings.client_ip_header.as_deref().and_then(|name| {
        let value = request.headers().get(name)?.to_str().ok()?;
        // The last entry is the one the trusted proxy added itself.
        value.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    });
    let ip = from_header.or_else(|| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    });
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

/// Counts a request of `kind` by `subject` against `limit`.
async fn check(
    state: &AppState,
    kind: &'static str,
    subject: &str,
    limit: RateLimit,
    what: &str,
) -> Result<(), AcmeError> {
    if limit.count == 0 {
        return Ok(());
    }
    match state
        .store
        .count_rate(kind, subject, limit.count, limit.period_secs, state.now())
        .await?
    {
        RateVerdict::Allowed => Ok(()),
        RateVerdict::Limited { retry_after } => {
            state.metrics.inc(
                RATE_LIMITED,
                "Requests refused by a rate limit.",
                &[("limit", kind)],
            );
            tracing::warn!(limit = kind, subject, "rate limited");
            Err(Problem::rate_limited(
                format!(
                    "too many {what}: at most {} per {} s; retry after {retry_after} s",
                    limit.count, limit.period_secs
                ),
                u64::try_from(retry_after).unwrap_or(1),
            )
            .into())
        }
    }
}

const RATE_LIMITED: &str = "rate_limited_total";

/// Before creating an account.
pub(super) async fn new_account(state: &AppState, ip: ClientIp) -> Result<(), AcmeError> {
    let limit = state.settings.rate_limits.new_accounts_per_ip;
    check(
        state,
        "new_accounts_per_ip",
        &ip.subject(),
        limit,
        "new accounts from this address",
    )
    .await
}

/// Before creating an order for `account_id`.
pub(super) async fn new_order(
    state: &AppState,
    account_id: &str,
    ip: ClientIp,
) -> Result<(), AcmeError> {
    let limits = state.settings.rate_limits;
    check(
        state,
        "new_orders_per_account",
        account_id,
        limits.new_orders_per_account,
        "new orders for this account",
    )
    .await?;
    check(
        state,
        "new_orders_per_ip",
        &ip.subject(),
        limits.new_orders_per_ip,
        "new orders from this address",
    )
    .await
}
