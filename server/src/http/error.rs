//! The one HTTP error type: a status, a stable code and a message in both languages, sent
//! as JSON. A 500 is logged with its cause, and the cause is never sent. The errors of the
//! layers below (storage, decisions) become answers here.

use crate::decisions::error::ReviewError;
use crate::decisions::quarantine::QuarantineError;
use crate::storage::ledger::LedgerError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schema::Message;
use schema::error_code::ErrorCode;
use schema::wire::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: Message,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(message: Message) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::BadRequest,
            message,
        }
    }

    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::Unauthorized,
            message: Message::new(
                "令牌缺失、无效或已被撤销",
                "The token is missing, unknown or revoked",
            ),
        }
    }

    pub fn forbidden(message: Message) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: ErrorCode::Forbidden,
            message,
        }
    }

    pub fn not_found(message: Message) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::NotFound,
            message,
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ErrorCode::Internal,
            message: Message::new(
                "服务器内部错误，未做任何修改，请稍后重试",
                "The server failed; nothing was changed. Please try again later",
            ),
        }
    }

    /// The answer while the database cannot be reached (down, restarting, or every
    /// connection busy past the pool's acquire timeout): nothing was done, and the phone says
    /// "server busy, retry".
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(%cause, "database unavailable");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::Unavailable,
            message: Message::new(
                "服务器繁忙，未做任何修改，请稍后重试",
                "The server is busy; nothing was changed. Please retry later",
            ),
        }
    }

    /// The answer to a database error: 503 when the database cannot be reached, which the
    /// client retries; 500 for anything else.
    pub fn database(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => ApiError::unavailable(err),
            err => ApiError::internal(err),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::database(err)
    }
}

impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Database(err) => ApiError::database(err),
            err => ApiError::internal(err),
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(err: ReviewError) -> Self {
        match err {
            ReviewError::NotFound(message) => ApiError::not_found(message),
            ReviewError::Refused(message) => ApiError::bad_request(message),
            ReviewError::Stale(message) => ApiError {
                status: StatusCode::CONFLICT,
                code: ErrorCode::Stale,
                message,
            },
            ReviewError::Ledger(err) => err.into(),
            ReviewError::Database(err) => ApiError::database(err),
        }
    }
}

impl From<QuarantineError> for ApiError {
    fn from(err: QuarantineError) -> Self {
        match err {
            QuarantineError::NotFound(message) => ApiError::not_found(message),
            QuarantineError::Conflict(message) => ApiError {
                status: StatusCode::CONFLICT,
                code: ErrorCode::Conflict,
                message,
            },
            QuarantineError::Ledger(err) => err.into(),
            QuarantineError::Database(err) => ApiError::database(err),
            QuarantineError::Automerge(err) => ApiError::internal(err),
            QuarantineError::Layout(err) => ApiError::internal(err),
        }
    }
}

/// Gives every error response the JSON body clients expect, including the ones produced
/// before a handler runs (a body over the limit, a timeout, a malformed query string, an
/// unknown method).
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // The console's error pages are HTML and stay so, as does the spreadsheet of a roster's
    // bad rows (`imported_rosters.rs`).
    let has_body = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|value| {
            value.as_bytes().starts_with(b"application/json")
                || value.as_bytes().starts_with(b"text/html")
                || value
                    .as_bytes()
                    .starts_with(b"application/vnd.openxmlformats-officedocument.spreadsheetml")
        });
    if has_body {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::TooLarge,
            Message::new(
                "请求过大；请分批同步",
                "The request is too large; sync in smaller batches",
            ),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::Timeout,
            Message::new(
                "请求超时，未做任何修改，请重试",
                "The request timed out; nothing was changed. Please try again",
            ),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            Message::new("不支持此请求方法", "This method is not allowed here"),
        ),
        status if status.is_client_error() => (
            ErrorCode::BadRequest,
            Message::new("请求无效", "The request is not valid"),
        ),
        _ => (
            ErrorCode::Internal,
            Message::new(
                "服务器内部错误，未做任何修改，请稍后重试",
                "The server failed; nothing was changed. Please try again later",
            ),
        ),
    };
    ApiError {
        status,
        code,
        message,
    }
    .into_response()
}
