//! `GET {crl path}` and `GET {crl path}/{shard}` (RFC 5280 §5; protocol doc §2.5): the stored
//! DER CRL of a shard as `application/pkix-crl`, with `ETag`, `Last-Modified` and a
//! `Cache-Control` max-age that never reaches past nextUpdate and is short (default five
//! minutes), so that caches see a revocation soon. Every replica serves the bytes the
//! leader stored; a CRL that is due is made anew before it is served.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::app::SharedState;
use crate::publisher;

/// `Content-Type` of a DER CRL (RFC 2585).
pub(super) const PKIX_CRL: &str = "application/pkix-crl";

/// Shard 0, at the plain `crl_url`.
pub(super) async fn first_shard(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    serve(&state, 0, &headers).await
}

/// Shard `k` at `{crl_url}/{k}`; only canonical numbers name a shard, so each has one URL.
pub(super) async fn shard(
    State(state): State<SharedState>,
    Path(shard): Path<String>,
    headers: HeaderMap,
) -> Response {
    match shard.parse::<u32>() {
        Ok(k) if k > 0 && shard == k.to_string() => serve(&state, k, &headers).await,
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn http_date(unix: i64) -> Option<HeaderValue> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let text = OffsetDateTime::from_unix_timestamp(unix)
        .ok()?
        .format(&format)
        .ok()?;
    HeaderValue::from_str(&text).ok()
}

async fn serve(state: &crate::app::AppState, shard: u32, headers: &HeaderMap) -> Response {
    if let Err(e) = publisher::publish_if_due(state).await {
        // The last good CRL stays served.
        tracing::error!(error = %e, "CRL publication failed");
    }
    let crl = match state.store.crl(shard).await {
        Ok(Some(crl)) => crl,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading the CRL");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let longest = state
        .issuer
        .as_ref()
        .and_then(|i| i.crl_policy())
        .map_or(0, |p| {
            i64::try_from(p.max_age.as_secs()).unwrap_or(i64::MAX)
        });
    let left = (crl.next_update - state.now()).min(longest);
    let cache = if left > 0 {
        format!("public, max-age={left}")
    } else {
        "no-cache".to_owned()
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == crl.etag || t.trim() == "*")
        }) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::from(crl.der));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PKIX_CRL));
        response
    };
    let out = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&crl.etag) {
        out.insert(header::ETAG, v);
    }
    if let Some(v) = http_date(crl.this_update) {
        out.insert(header::LAST_MODIFIED, v);
    }
    if let Some(v) = http_date(crl.next_update) {
        out.insert(header::EXPIRES, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cache) {
        out.insert(header::CACHE_CONTROL, v);
    }
    response
}
