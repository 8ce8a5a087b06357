//! Reading the bearer token of a device's request.

use super::error::{ApiError, ApiResult};
use axum::http::HeaderMap;

pub fn bearer(headers: &HeaderMap) -> ApiResult<&str> {
    super::principal::bearer(headers).ok_or_else(ApiError::unauthorized)
}
