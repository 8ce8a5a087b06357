//! Reading the bearer token of a request.

use super::error::{ApiError, ApiResult};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

pub fn bearer(headers: &HeaderMap) -> ApiResult<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(ApiError::unauthorized)
}
