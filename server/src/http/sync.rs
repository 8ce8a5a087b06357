//! `POST /api/v1/sync`: the sync protocol of `docs/PROTOCOL.md`.

use super::AppState;
use super::MAX_BODY_BYTES;
use super::auth::bearer;
use super::error::{ApiError, ApiResult};
use crate::auth;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schema::Message;
use schema::wire::{self, SyncRequest, SyncResponse, UploadResult};

pub async fn sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let token = bearer(&headers)?;
    let device = auth::device_by_token(state.ledger.db(), token)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    // Read only once the token is known, so an anonymous client cannot make the server hold
    // large bodies.
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            message: Message::new(
                "请求过大或传输中断；请分批同步",
                "The request is too large or was cut off; sync in smaller batches",
            ),
        })?;
    let request: SyncRequest = wire::decode(&body).map_err(|err| {
        ApiError::bad_request(Message::new(
            format!("同步请求无法解析：{err}"),
            format!("The sync request cannot be read: {err}"),
        ))
    })?;
    if request.protocol != wire::PROTOCOL_VERSION {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "unsupported_protocol",
            message: Message::new(
                format!("服务器不支持同步协议版本 {}，请升级应用", request.protocol),
                format!(
                    "The server does not speak sync protocol {}; please update the app",
                    request.protocol
                ),
            ),
        });
    }
    let outcomes = state
        .ledger
        .apply_uploads(&device, &request.uploads)
        .await?;
    let results: Vec<UploadResult> = request
        .uploads
        .iter()
        .zip(outcomes)
        .map(|(upload, outcome)| UploadResult {
            household: upload.household.clone(),
            outcome,
        })
        .collect();
    let (updates, cursor, more) = state
        .ledger
        .feed_page(&device, &request.actor, request.cursor, request.page_bytes)
        .await?;
    tracing::info!(
        device = %device.id,
        uploads = results.len(),
        updates = updates.len(),
        more,
        "sync"
    );
    let response = SyncResponse {
        protocol: wire::PROTOCOL_VERSION,
        results,
        updates,
        cursor,
        more,
    };
    let body = wire::encode(&response).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, wire::CONTENT_TYPE)], body).into_response())
}
