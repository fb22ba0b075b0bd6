//! `ApiError`: the one error type of the JSON API. Internal errors are
//! logged (redacted) and answered with a generic message; client errors say
//! what was wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered by the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid token")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("ward is busy; retry later")]
    Busy,
    /// A change that needs disk space while the disk is full (507).
    #[error("{0}")]
    NoSpace(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<ward_alert::AlertError> for ApiError {
    fn from(e: ward_alert::AlertError) -> Self {
        use ward_alert::AlertError as E;
        match e {
            E::UnknownAlert(id) => ApiError::NotFound(format!("alert {id}")),
            E::UnknownSilence(id) => ApiError::NotFound(format!("silence {id}")),
            E::UnknownReceiver(name) => ApiError::NotFound(format!("receiver {name}")),
            E::Invalid(_) | E::InvalidFinding { .. } => ApiError::BadRequest(e.to_string()),
            E::Conflict(_) => ApiError::Conflict(e.to_string()),
            E::Shutdown => ApiError::Busy,
            E::NoSpace { .. } => ApiError::NoSpace(e.to_string()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NoSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut resp = (status, Json(json!({ "error": self.to_string() }))).into_response();
        let retry_after = match self {
            ApiError::Busy => Some("1"),
            ApiError::NoSpace(_) => Some("5"),
            _ => None,
        };
        if let Some(after) = retry_after {
            resp.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static(after));
        }
        resp
    }
}
