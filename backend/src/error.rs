//! The backend's one error type and the one place it becomes an HTTP response: Wire's JSON
//! error `{"code", "label", "message"}`. 5xx answers never carry internals; those go to the log.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    label: Cow<'static, str>,
    message: String,
}

impl ApiError {
    /// Any status with its label and message.
    pub fn new(
        status: StatusCode,
        label: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            label: label.into(),
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(label: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, label, message)
    }

    /// 401.
    pub fn unauthorized(label: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, label, message)
    }

    /// 403.
    pub fn forbidden(label: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, label, message)
    }

    /// 404.
    pub fn not_found(label: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, label, message)
    }

    /// 409.
    pub fn conflict(label: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, label, message)
    }

    /// 500: logs `cause`, answers a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server-error",
            "internal server error",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

/// The CRL proxy's refusals (4xx) and upstream failures (502, whose causes are logged where
/// they happen and never answered).
impl From<crate::crl_proxy::CrlProxyError> for ApiError {
    fn from(e: crate::crl_proxy::CrlProxyError) -> Self {
        Self::new(e.status(), e.label(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.status.as_u16(),
            "label": self.label,
            "message": self.message,
        });
        (self.status, Json(body)).into_response()
    }
}
