//! Photos over HTTP (`docs/PROTOCOL.md`, "Photos"): resumable uploads and downloads for
//! devices, scoped like the sync (the household in the device's villages, its document
//! referencing the photo); and storage per county for staff. The console shows a household's
//! photos itself (`console::household`).

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::principal::{self, Client};
use crate::access::roles::Permission;
use crate::ingest::photos::{self, ChunkIn, PhotoError, Refusal};
use crate::storage::blobs::Variant;
use crate::storage::photos::{CountyUsage, usage as county_usage};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schema::Message;
use schema::error_code::ErrorCode;
use schema::photo::{
    MAX_CHUNK_BYTES, MAX_DECODED_PIXELS, MAX_PHOTO_BYTES, PhotoHash, UploadStatus,
};
use schema::wire::ErrorBody;
use serde::Deserialize;

/// The photo's address from the path.
pub(crate) fn photo_hash(text: &str) -> ApiResult<PhotoHash> {
    PhotoHash::parse(text).ok_or_else(|| {
        ApiError::bad_request(Message::new(
            "照片地址须为 64 位小写十六进制（照片的 SHA-256）",
            "A photo's address is 64 lowercase hex digits (its SHA-256)",
        ))
    })
}

/// The answer to each way a photo request fails.
impl From<PhotoError> for ApiError {
    fn from(err: PhotoError) -> ApiError {
        let refused = |status, code, zh: String, en: String| ApiError {
            status,
            code,
            message: Message::new(zh, en),
        };
        match err {
            PhotoError::NotReferenced => refused(
                StatusCode::FORBIDDEN,
                ErrorCode::PhotoNotReferenced,
                "该户不在本设备负责的村，或服务器上的户档案没有引用这张照片；请先同步".to_owned(),
                "The household is not in this device's villages, or its document on the server does not reference this photo; sync first".to_owned(),
            ),
            PhotoError::Offset { received } => refused(
                StatusCode::CONFLICT,
                ErrorCode::UploadOffset,
                format!("服务器已收到 {received} 字节，请从那里继续上传"),
                format!("The server holds {received} bytes; go on from there"),
            ),
            PhotoError::Refused(Refusal::HashMismatch) => refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::PhotoHashMismatch,
                "照片内容与其地址（SHA-256）不符，已丢弃；请从头重新上传".to_owned(),
                "The photo's bytes do not match its address (SHA-256) and were dropped; upload it again from the start".to_owned(),
            ),
            PhotoError::Refused(Refusal::NotAnImage(detail)) => refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::PhotoNotAnImage,
                format!("照片不是完整的 JPEG 图片（已损坏或不完整）：{detail}"),
                format!("The photo is not a whole JPEG image (corrupt or cut short): {detail}"),
            ),
            PhotoError::Refused(Refusal::TooManyPixels { width, height }) => {
                let side = (MAX_DECODED_PIXELS as f64).sqrt() as u64;
                refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::PhotoTooManyPixels,
                    format!("照片声称有 {width} × {height} 像素，超过上限 {side} × {side}；未解码"),
                    format!(
                        "The photo claims {width} × {height} pixels, past the limit of {side} × {side}; nothing was decoded"
                    ),
                )
            }
            PhotoError::TooLarge(what) => {
                let (zh, en) = if what == "chunk" {
                    (
                        format!("每次最多上传 {} KiB", MAX_CHUNK_BYTES >> 10),
                        format!("A chunk is at most {} KiB", MAX_CHUNK_BYTES >> 10),
                    )
                } else {
                    (
                        format!("照片最大 {} MiB", MAX_PHOTO_BYTES >> 20),
                        format!("A photo is at most {} MiB", MAX_PHOTO_BYTES >> 20),
                    )
                };
                refused(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, zh, en)
            }
            PhotoError::BadChunk(_) => ApiError::bad_request(Message::new(
                "上传的字节超出照片大小（size），或大小为 0",
                "The chunk runs past the photo's size, or the size is 0",
            )),
            PhotoError::NotUploaded => ApiError::not_found(Message::new(
                "这张照片还没有上传到服务器",
                "This photo has not been uploaded to the server yet",
            )),
            PhotoError::Database(err) => ApiError::database(err),
            err @ (PhotoError::Ledger(_)
            | PhotoError::Blob(_)
            | PhotoError::Vault(_)
            | PhotoError::Worker(_)) => ApiError::internal(err),
        }
    }
}

/// A refusal as JSON; an offset refusal carries the upload's status (`received`) besides.
fn answer(err: PhotoError) -> Response {
    let received = match err {
        PhotoError::Offset { received } => Some(received),
        _ => None,
    };
    let err = ApiError::from(err);
    let Some(received) = received else {
        return err.into_response();
    };
    let body = ErrorBody {
        error: err.code,
        message: err.message,
    };
    let mut json = serde_json::to_value(body).unwrap_or_default();
    json["received"] = received.into();
    json["complete"] = false.into();
    (err.status, Json(json)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct StatusParams {
    household: String,
}

/// `GET /api/v1/photos/{hash}/upload?household=ID`.
pub async fn upload_status(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(hash): Path<String>,
    Query(params): Query<StatusParams>,
) -> ApiResult<Response> {
    let (device, _, _) = super::sync::device(&state, &headers, &client).await?;
    let hash = photo_hash(&hash)?;
    Ok(
        match photos::status(&state.ledger, &device, &params.household, &hash).await {
            Ok(status) => Json(status).into_response(),
            Err(err) => answer(err),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ChunkParams {
    household: String,
    offset: u64,
    size: u64,
}

/// `PUT /api/v1/photos/{hash}/upload?household=ID&offset=N&size=TOTAL`, the chunk as body.
pub async fn upload_chunk(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(hash): Path<String>,
    Query(params): Query<ChunkParams>,
    body: Body,
) -> ApiResult<Response> {
    let (device, _, _) = super::sync::device(&state, &headers, &client).await?;
    let hash = photo_hash(&hash)?;
    if params.size > MAX_PHOTO_BYTES {
        return Ok(answer(PhotoError::TooLarge("size")));
    }
    // Read only once the token is known, and never past one chunk's bound.
    let Ok(bytes) = axum::body::to_bytes(body, MAX_CHUNK_BYTES as usize).await else {
        return Ok(answer(PhotoError::TooLarge("chunk")));
    };
    let chunk = ChunkIn {
        household: &params.household,
        hash: &hash,
        offset: params.offset,
        size: params.size,
        bytes: &bytes,
    };
    Ok(
        match photos::receive(&state.ledger, &state.blobs, &device, chunk).await {
            Ok(status) => Json::<UploadStatus>(status).into_response(),
            Err(err) => answer(err),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct DownloadParams {
    household: String,
    #[serde(default)]
    size: Option<String>,
}

/// Which blob `size=thumb|full` asks for (the thumbnail when absent: phones fetch those
/// first).
pub(crate) fn variant(size: Option<&str>) -> ApiResult<Variant> {
    match size.unwrap_or("thumb") {
        "thumb" => Ok(Variant::Thumb),
        "full" => Ok(Variant::Full),
        other => Err(ApiError::bad_request(Message::new(
            format!("未知的尺寸“{other}”；可选 thumb、full"),
            format!("Unknown size \"{other}\"; use thumb or full"),
        ))),
    }
}

/// A JPEG answer.
pub(crate) fn jpeg(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response()
}

/// `GET /api/v1/photos/{hash}?household=ID&size=thumb|full`.
pub async fn download(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(hash): Path<String>,
    Query(params): Query<DownloadParams>,
) -> ApiResult<Response> {
    let (device, _, _) = super::sync::device(&state, &headers, &client).await?;
    let hash = photo_hash(&hash)?;
    let variant = variant(params.size.as_deref())?;
    photos::reference(&state.ledger, &device, &params.household, &hash).await?;
    let (_, bytes) = photos::read(&state.ledger, &state.blobs, &hash, variant).await?;
    Ok(jpeg(bytes))
}

#[derive(Debug, Deserialize)]
pub struct UsageParams {
    area: Option<String>,
}

/// `GET /api/v1/photos/usage?area=CODE`: photos and bytes per county within the area (the
/// staff member's scope when absent).
pub async fn usage(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<UsageParams>,
) -> ApiResult<Json<Vec<CountyUsage>>> {
    let action = "photos.usage";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let area =
        principal::area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    Ok(Json(county_usage(state.ledger.db(), area.as_str()).await?))
}
