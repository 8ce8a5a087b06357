//! `POST /api/v1/sync`: the sync protocol of `docs/PROTOCOL.md`.

use super::AppState;
use super::MAX_BODY_BYTES;
use super::error::{ApiError, ApiResult};
use super::input;
use super::principal::{Client, bearer};
use super::refusals::{self, Reason};
use crate::access::audit::{self, Entry, Outcome};
use crate::access::device_tokens::{self, Device, TokenCheck};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schema::Message;
use schema::error_code::ErrorCode;
use schema::ids::AreaCode;
use schema::wire::{self, SyncRequest, SyncResponse, UploadResult, WireError};

/// The device a sync request comes from. A revoked device's refusal is audited, a missing or
/// unknown token only counted; a revoked device's answer tells the phone whether to erase its
/// data. Photo requests (`photos`) carry the same token and are refused the same way.
pub(super) async fn device(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
) -> ApiResult<(Device, Vec<AreaCode>, Option<String>)> {
    let db = state.ledger.db();
    let refused = |detail: &str| {
        Entry::new("sync", Outcome::Denied)
            .from(&client.0)
            .saying(detail)
    };
    let Some(token) = bearer(headers) else {
        refusals::count(Reason::NoCredentials, &client.0, "sync", state.now());
        return Err(ApiError::unauthorized());
    };
    match device_tokens::check_token(db, state.clock(), token).await? {
        TokenCheck::Valid {
            device,
            assigned,
            actor,
        } => Ok((device, assigned, actor)),
        TokenCheck::Unknown => {
            refusals::count(Reason::UnknownToken, &client.0, "sync", state.now());
            Err(ApiError::unauthorized())
        }
        TokenCheck::Revoked { device_id, wipe } => {
            let first =
                wipe && device_tokens::revoked_device_told(db, state.clock(), &device_id).await?;
            let detail = match (wipe, first) {
                (true, true) => "revoked device; told to erase its data",
                (true, false) => "revoked device, told again to erase its data",
                (false, _) => "revoked device",
            };
            let entry = refused(detail)
                .by(format!("device:{device_id}"), "device")
                .on(format!("device:{device_id}"));
            audit::record(db, entry, state.now()).await?;
            Err(revoked(wipe))
        }
    }
}

/// The answer to a revoked device. `device_revoked` tells the phone to erase what it holds;
/// a device revoked without a wipe gets the plain refusal, and keeps its data for a new
/// enrollment to upload.
fn revoked(wipe: bool) -> ApiError {
    if !wipe {
        return ApiError {
            message: Message::new(
                "本设备已被停用，本机数据保留；请向乡镇工作人员索取新的注册码",
                "This device has been disabled; its data stays on the phone. Ask township staff for a new enrollment code",
            ),
            ..ApiError::unauthorized()
        };
    }
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: ErrorCode::DeviceRevoked,
        message: Message::new(
            "本设备已被撤销，本机上的登记数据已清除；如有疑问请联系乡镇工作人员",
            "This device has been revoked and the survey data on it erased; ask township staff if this is a mistake",
        ),
    }
}

/// The answer to an app that speaks another version of the protocol.
fn unsupported_protocol(version: u32) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        code: ErrorCode::UnsupportedProtocol,
        message: Message::new(
            format!("服务器不支持同步协议版本 {version}，请升级应用"),
            format!("The server does not speak sync protocol {version}; please update the app"),
        ),
    }
}

/// A sync body as the handler uses it: decoded, its text free of control characters (they
/// would reach the database), its actor in the lower-case hex the change table holds, so the
/// feed recognises the device's own changes however the phone spelled it.
fn read_request(body: &[u8]) -> ApiResult<SyncRequest> {
    let mut request: SyncRequest = wire::decode(body).map_err(|err| match err {
        WireError::OlderProtocol => unsupported_protocol(1),
        WireError::TooLarge => ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: ErrorCode::TooLarge,
            message: Message::new(
                format!(
                    "同步请求解压后超过 {} MiB；请分批同步",
                    wire::MAX_DECODED_BYTES >> 20
                ),
                format!(
                    "The sync request decodes past {} MiB; sync in smaller batches",
                    wire::MAX_DECODED_BYTES >> 20
                ),
            ),
        },
        err => ApiError::bad_request(Message::new(
            format!("同步请求无法解析：{err}"),
            format!("The sync request cannot be read: {err}"),
        )),
    })?;
    if request.protocol != wire::PROTOCOL_VERSION {
        return Err(unsupported_protocol(request.protocol));
    }
    let after = request
        .cursor
        .as_ref()
        .and_then(|cursor| cursor.download_after.as_deref());
    let texts = std::iter::once(request.actor.as_str()).chain(after).chain(
        request
            .uploads
            .iter()
            .map(|upload| upload.household.as_str()),
    );
    for text in texts {
        if !input::clean(text, false) {
            return Err(input::control_character(("同步请求", "sync request")));
        }
    }
    request.actor = crate::access::enrollment::clean_actor(&request.actor).ok_or_else(|| {
        ApiError::bad_request(Message::new(
            "同步请求中的设备标识（actor）不是十六进制",
            "The sync request's actor is not hex",
        ))
    })?;
    Ok(request)
}

pub async fn sync(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (device, assigned, actor) = device(&state, &headers, &client).await?;
    // Read only once the token is known, so an anonymous client cannot make the server hold
    // large bodies.
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: ErrorCode::TooLarge,
            message: Message::new(
                "请求过大或传输中断；请分批同步",
                "The request is too large or was cut off; sync in smaller batches",
            ),
        })?;
    let request = read_request(&body)?;
    if let Some(bound) = &actor
        && !bound.eq_ignore_ascii_case(&request.actor)
    {
        let entry = Entry::new("sync", Outcome::Denied)
            .by(format!("device:{}", device.id), "device")
            .on(format!("device:{}", device.id))
            .from(&client.0)
            .saying("the request's actor is not the one the device enrolled with");
        audit::record(state.ledger.db(), entry, state.now()).await?;
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: ErrorCode::WrongActor,
            message: Message::new(
                "此设备令牌属于另一部手机，不能在本机使用；请用注册码登记本机",
                "This device token belongs to another phone and cannot be used here; enroll this phone with a code of its own",
            ),
        });
    }
    // A device without a cursor is starting its first download: it gets the member-key
    // secret with it.
    let first_download = request.cursor.is_none();
    let outcomes =
        crate::ingest::apply_uploads(&state.ledger, &device, &client.0, &request.uploads).await?;
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
        .feed_page(
            &device.id,
            &request.actor,
            request.cursor,
            request.page_bytes.min(wire::MAX_PAGE_BYTES),
        )
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
        villages: Some(assigned.iter().map(ToString::to_string).collect()),
        member_key_secret: first_download
            .then(|| hex::encode(state.ledger.vault().member_key_secret())),
    };
    let body = wire::encode(&response).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, wire::CONTENT_TYPE)], body).into_response())
}
