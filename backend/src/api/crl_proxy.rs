//! `GET /proxyCrl/{host}` and `GET /proxyCrl/{host}/{path…}` — the CRL proxy (protocol doc
//! §2.5: the former `smallstep-accomp` chart; §8.3: clients fetch through `crlProxy/{host}`).
//! `OPTIONS` answers CORS preflights. Unauthenticated: CRLs are public, and every answer,
//! errors included, carries `Access-Control-Allow-Origin: *` so that web clients can read it.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::SharedState;
use crate::crl_proxy::{CrlProxyError, HostError};
use crate::error::ApiError;

/// RFC 2585 §4.2: a DER CRL.
const PKIX_CRL: &str = "application/pkix-crl";

pub(super) async fn proxy(
    State(state): State<SharedState>,
    host: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(host) = host.map_err(|_| refused(&state, HostError::Encoding.into()))?;
    serve(&state, &host, None).await
}

pub(super) async fn proxy_path(
    State(state): State<SharedState>,
    params: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((host, suffix)) = params.map_err(|_| refused(&state, HostError::Encoding.into()))?;
    serve(&state, &host, Some(&suffix)).await
}

/// Counts a refusal and turns it into the answer.
fn refused(state: &SharedState, e: CrlProxyError) -> ApiError {
    state.metrics.crl_proxy(e.label());
    e.into()
}

async fn serve(
    state: &SharedState,
    host: &str,
    suffix: Option<&str>,
) -> Result<Response, ApiError> {
    let proxy = state
        .crl_proxy
        .as_ref()
        .ok_or_else(|| refused(state, CrlProxyError::Disabled))?;
    let url = proxy
        .upstream_url(host, suffix)
        .map_err(|e| refused(state, e))?;
    let now = state.clock.now();
    let (crl, source) = proxy.get(&url, now).await.map_err(|e| refused(state, e))?;
    state.metrics.crl_proxy(source.label());
    let mut response = Response::new(Body::from(crl.der.clone()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PKIX_CRL));
    if let Ok(value) = HeaderValue::from_str(&crl.cache_control(now)) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    if let Some(etag) = &crl.etag {
        headers.insert(header::ETAG, etag.clone());
    }
    if let Some(last_modified) = &crl.last_modified {
        headers.insert(header::LAST_MODIFIED, last_modified.clone());
    }
    Ok(response)
}

/// The CORS preflight: any origin may `GET` a CRL, with any request headers (no credentials
/// are involved, so the wildcards hold).
pub(super) async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
        .into_response()
}

/// Adds the CORS response headers to every answer of the proxy routes.
pub(super) async fn cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    // ETag is not a CORS-safelisted response header; Cache-Control, Content-Type and
    // Last-Modified are.
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    response
}
