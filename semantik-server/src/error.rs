//! Errors as the API answers them: `{detail, error_code, status_code}`, with the library's
//! stable error codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use semantik_core::{Error, ErrorCode};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The library's error code, or the API's own (`Forbidden`, `Conflict`, ...).
    pub code: String,
    /// What went wrong.
    pub detail: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// 422: a request the API cannot take as it is.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "InvalidArgument", detail)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

/// The HTTP status of a library error.
fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        C::CollectionNotFound | C::OperationNotFound | C::DocumentNotFound | C::PathNotFound => {
            StatusCode::NOT_FOUND
        }
        C::InvalidArgument
        | C::InvalidName
        | C::DimensionMismatch
        | C::ModelNotFound
        | C::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
        C::CollectionExists | C::InvalidState | C::LimitExceeded => StatusCode::CONFLICT,
        C::DatabaseClosed | C::DatabaseLocked => StatusCode::SERVICE_UNAVAILABLE,
        C::Unauthenticated => StatusCode::UNAUTHORIZED,
        C::PermissionDenied => StatusCode::FORBIDDEN,
        C::UserExists => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        let name = serde_json::to_value(code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{}", code.as_u32()));
        ApiError {
            status: status_of(code),
            code: name,
            detail: e.to_string(),
        }
    }
}

/// An error answer's body.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    detail: String,
    /// The library's error code name (`CollectionNotFound`, ...) or the API's own
    /// (`Forbidden`, `Conflict`, `NotFound`, `InvalidArgument`).
    error_code: String,
    /// The HTTP status, again.
    status_code: u16,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, code = %self.code, "{}", self.detail);
        }
        let body = ErrorBody {
            status_code: self.status.as_u16(),
            detail: self.detail,
            error_code: self.code,
        };
        (self.status, Json(body)).into_response()
    }
}
