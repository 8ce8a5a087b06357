//! Enrolling, revoking and reassigning devices: staff make one-time codes (with QR codes) for
//! the villages of their area, phones redeem them, and staff revoke or move devices of their
//! area.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::principal::{self, Client};
use crate::access::accounts::Account;
use crate::access::devices::{self, By, DeviceError, DeviceInfo};
use crate::access::enrollment::{self, NewCode, Redeem, RedeemRefused, StoredCode};
use crate::access::enrollment_code;
use crate::access::roles::Permission;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use schema::Message;
use schema::enrollment::{EnrollRequest, EnrollResponse};
use schema::error_code::ErrorCode;
use schema::ids::AreaCode;
use serde::{Deserialize, Serialize};

fn device_error(err: DeviceError) -> ApiError {
    match err {
        DeviceError::Invalid(code, message) => ApiError {
            code,
            ..ApiError::bad_request(message)
        },
        DeviceError::NotFound(message) => ApiError::not_found(message),
        DeviceError::Conflict(message) => ApiError {
            status: StatusCode::CONFLICT,
            code: ErrorCode::Conflict,
            message,
        },
        DeviceError::Database(err) => ApiError::database(err),
    }
}

fn villages(codes: &[String]) -> ApiResult<Vec<AreaCode>> {
    codes
        .iter()
        .map(|code| {
            AreaCode::parse_village(code.trim()).map_err(|err| ApiError::bad_request(err.message))
        })
        .collect()
}

/// Refuses (and audits) villages outside the staff member's area.
async fn villages_in_scope(
    state: &AppState,
    staff: &Account,
    client: &Client,
    villages: &[AreaCode],
    action: &'static str,
) -> ApiResult<()> {
    let outside: Vec<&str> = villages
        .iter()
        .filter(|v| !staff.scope.contains(v))
        .map(AreaCode::as_str)
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    let list = outside.join(", ");
    principal::refused(
        state,
        staff,
        client,
        action,
        &list,
        "villages outside the account's area",
    )
    .await?;
    Err(ApiError::forbidden(Message::new(
        format!("村 {list} 不在您的区划内"),
        format!("Villages {list} are outside your area"),
    )))
}

/// A device the staff member may manage: every village of it lies in their area. Others
/// answer as unknown (and the attempt is audited), so ids of other areas reveal nothing.
pub async fn device_in_scope(
    state: &AppState,
    staff: &Account,
    client: &Client,
    id: &str,
    action: &'static str,
) -> ApiResult<DeviceInfo> {
    let not_found = || {
        ApiError::not_found(Message::new(
            format!("您的区划内没有设备“{id}”"),
            format!("No device \"{id}\" in your area"),
        ))
    };
    let device = devices::device(state.ledger.db(), state.clock(), id)
        .await?
        .ok_or_else(not_found)?;
    let villages = device.villages();
    if villages.is_empty() || !villages.iter().all(|v| staff.scope.contains(v)) {
        let target = format!("device:{id}");
        principal::refused(
            state,
            staff,
            client,
            action,
            &target,
            "device outside the account's area",
        )
        .await?;
        return Err(not_found());
    }
    Ok(device)
}

/// The address phones reach this server at, as the staff member's request reached it:
/// `?server=` when the console names it, else the forwarded or direct host.
fn server_address(headers: &HeaderMap, named: Option<&str>) -> Option<String> {
    // Longer than any real address, and short enough to keep the QR code scannable.
    const MAX_CHARS: usize = 200;
    if let Some(named) = named.map(str::trim).filter(|s| !s.is_empty()) {
        let valid = (named.starts_with("http://") || named.starts_with("https://"))
            && named.len() <= MAX_CHARS;
        return valid.then(|| named.trim_end_matches('/').to_owned());
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let host = header("x-forwarded-host")
        .or_else(|| header(HOST.as_str()))?
        .trim();
    let plain = !host.is_empty()
        && host.len() <= MAX_CHARS
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if !plain {
        return None;
    }
    let scheme = match header("x-forwarded-proto").map(str::trim) {
        Some("https") => "https",
        _ => "http",
    };
    Some(format!("{scheme}://{host}"))
}

#[derive(Debug, Deserialize)]
pub struct EnrollmentRequest {
    pub volunteer: String,
    pub villages: Vec<String>,
    /// 72 when absent.
    pub expires_in_hours: Option<i64>,
    /// The address phones use, for the QR code; the request's own host when absent.
    pub server: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EnrollmentResponse {
    pub id: String,
    /// `XXXX-XXXX-XXXX-XXXX`: shown this once; the server keeps only its hash.
    pub code: String,
    pub volunteer: String,
    pub villages: Vec<String>,
    pub expires_at: i64,
    /// What the QR code carries.
    pub payload: String,
    pub qr_svg_url: String,
    pub qr_png_url: String,
}

/// `POST /api/v1/enrollments`: a one-time code for a volunteer and villages of the staff
/// member's area.
pub async fn create(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(request): Json<EnrollmentRequest>,
) -> ApiResult<(StatusCode, Json<EnrollmentResponse>)> {
    let action = "device.enroll.create";
    let staff =
        principal::staff(&state, &headers, &client, Permission::EnrollDevices, action).await?;
    let made = make_code(&state, &staff, &client, &headers, request).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Makes a one-time code for a volunteer and villages of `staff`'s area: for the API and the
/// console's devices page alike.
pub async fn make_code(
    state: &AppState,
    staff: &Account,
    client: &Client,
    headers: &HeaderMap,
    request: EnrollmentRequest,
) -> ApiResult<EnrollmentResponse> {
    let villages = villages(&request.villages)?;
    villages_in_scope(state, staff, client, &villages, "device.enroll.create").await?;
    let new = NewCode {
        volunteer: request.volunteer,
        villages,
        valid_hours: request.expires_in_hours,
    };
    let issued = enrollment::create_code(
        state.ledger.db(),
        state.clock(),
        new,
        &By::staff(staff, &client.0),
    )
    .await
    .map_err(device_error)?;
    let server = server_address(headers, request.server.as_deref());
    let qr_base = format!("/api/v1/enrollments/{}", issued.code);
    Ok(EnrollmentResponse {
        payload: enrollment_code::payload(server.as_deref(), &issued.code),
        qr_svg_url: format!("{qr_base}/qr.svg"),
        qr_png_url: format!("{qr_base}/qr.png"),
        id: issued.id,
        code: issued.code,
        volunteer: issued.volunteer,
        villages: issued.villages,
        expires_at: issued.expires_at,
    })
}

#[derive(Debug, Deserialize)]
pub struct QrParams {
    pub server: Option<String>,
}

/// The QR code of a code that still works, for staff of its villages.
async fn qr(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    code: &str,
    server: Option<&str>,
) -> ApiResult<String> {
    let staff =
        principal::staff(state, headers, client, Permission::EnrollDevices, QR_ACTION).await?;
    let (_, payload) = usable_code(state, &staff, client, headers, code, server).await?;
    Ok(payload)
}

const QR_ACTION: &str = "device.enroll.qr";

/// A code of `staff`'s villages that still works, and what its QR code carries (the server
/// as `server` names it, else as the request reached it): what the API's QR images and the
/// console's printable sheet show. A code of another area answers as unknown (audited).
pub async fn usable_code(
    state: &AppState,
    staff: &Account,
    client: &Client,
    headers: &HeaderMap,
    code: &str,
    server: Option<&str>,
) -> ApiResult<(StoredCode, String)> {
    let not_found = || {
        ApiError::not_found(Message::new(
            "您的区划内没有这个注册码",
            "No such enrollment code in your area",
        ))
    };
    let stored = enrollment::find_code(state.ledger.db(), code)
        .await?
        .ok_or_else(not_found)?;
    if !stored.villages.iter().all(|v| staff.scope.contains(v)) {
        principal::refused(
            state,
            staff,
            client,
            QR_ACTION,
            &stored.id,
            "code outside the account's area",
        )
        .await?;
        return Err(not_found());
    }
    if !stored.usable(state.now()) {
        return Err(ApiError {
            status: StatusCode::GONE,
            code: ErrorCode::CodeSpent,
            message: Message::new(
                "此注册码已使用或已过期，请新建一个",
                "This code has been used or has expired; make a new one",
            ),
        });
    }
    let canonical = enrollment_code::normalize_code(code).unwrap_or_default();
    let code = enrollment_code::display_code(&canonical);
    let payload = enrollment_code::payload(server_address(headers, server).as_deref(), &code);
    Ok((stored, payload))
}

fn image(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    // A code in the clear: not for caches.
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-store")],
        body.into(),
    )
        .into_response()
}

/// `GET /api/v1/enrollments/{code}/qr.svg`
pub async fn qr_svg(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(params): Query<QrParams>,
) -> ApiResult<Response> {
    let payload = qr(&state, &client, &headers, &code, params.server.as_deref()).await?;
    Ok(image("image/svg+xml", enrollment_code::qr_svg(&payload)))
}

/// `GET /api/v1/enrollments/{code}/qr.png`
pub async fn qr_png(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(params): Query<QrParams>,
) -> ApiResult<Response> {
    let payload = qr(&state, &client, &headers, &code, params.server.as_deref()).await?;
    Ok(image("image/png", enrollment_code::qr_png(&payload)))
}

fn refusal(refusal: RedeemRefused) -> ApiError {
    let ask = (
        "请向乡镇工作人员索取新的注册码",
        "ask township staff for a new one",
    );
    let (status, code, message) = match refusal {
        RedeemRefused::Malformed => (
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidCode,
            Message::new(
                "注册码应为 16 位字母或数字，如 ABCD-EFGH-JKMN-PQRS",
                "An enrollment code is 16 letters or digits, like ABCD-EFGH-JKMN-PQRS",
            ),
        ),
        RedeemRefused::Unknown => (
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownCode,
            Message::new(
                format!("没有这个注册码，请核对后重新输入，或{}", ask.0),
                format!("No such enrollment code: check it, or {}", ask.1),
            ),
        ),
        RedeemRefused::Expired => (
            StatusCode::GONE,
            ErrorCode::CodeExpired,
            Message::new(
                format!("注册码已过期，{}", ask.0),
                format!("The enrollment code has expired; {}", ask.1),
            ),
        ),
        RedeemRefused::Used => (
            StatusCode::GONE,
            ErrorCode::CodeUsed,
            Message::new(
                format!("注册码已被使用，每个注册码只能用一次；{}", ask.0),
                format!(
                    "The enrollment code has been used, and works only once; {}",
                    ask.1
                ),
            ),
        ),
        RedeemRefused::ActorInUse => (
            StatusCode::CONFLICT,
            ErrorCode::AlreadyEnrolled,
            Message::new(
                "本机已登记为另一台设备；请工作人员先撤销原设备，注册码仍可使用",
                "This phone is enrolled as another device already; ask staff to revoke that one first. The code still works",
            ),
        ),
    };
    ApiError {
        status,
        code,
        message,
    }
}

/// `POST /api/v1/enroll`: a phone exchanges a code for its device token. No credentials:
/// the code is the credential.
pub async fn enroll(
    State(state): State<AppState>,
    client: Client,
    Json(request): Json<EnrollRequest>,
) -> ApiResult<Json<EnrollResponse>> {
    let redeemed = enrollment::redeem(
        state.ledger.db(),
        state.clock(),
        Redeem {
            code: &request.code,
            actor: &request.actor,
            device_name: request.device_name.as_deref(),
            client: &client.0,
        },
    )
    .await?;
    let enrolled = redeemed.map_err(refusal)?;
    Ok(Json(EnrollResponse {
        device_id: enrolled.device_id,
        device_token: enrolled.device_token,
        volunteer: enrolled.volunteer,
        villages: enrolled.villages,
        member_key_secret: Some(hex::encode(state.ledger.vault().member_key_secret())),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RevokeRequest {
    /// Whether the phone erases its data at its next contact; yes unless `false`.
    pub wipe: Option<bool>,
    pub reason: String,
}

/// `POST /api/v1/devices/{id}/revoke`: the token stops working at once. The body is JSON like
/// every state-changing request's, `{}` for the defaults (wipe, no reason).
pub async fn revoke(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(request): Json<RevokeRequest>,
) -> ApiResult<Json<DeviceInfo>> {
    let action = "device.revoke";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ManageDevices, action).await?;
    let wipe = request.wipe.unwrap_or(true);
    let device = revoke_device(&state, &staff, &client, &id, wipe, &request.reason).await?;
    Ok(Json(device))
}

/// Revokes a device of `staff`'s area: its token stops working at once.
pub async fn revoke_device(
    state: &AppState,
    staff: &Account,
    client: &Client,
    id: &str,
    wipe: bool,
    reason: &str,
) -> ApiResult<DeviceInfo> {
    device_in_scope(state, staff, client, id, "device.revoke").await?;
    devices::revoke(
        state.ledger.db(),
        state.clock(),
        id,
        wipe,
        reason,
        &By::staff(staff, &client.0),
    )
    .await
    .map_err(device_error)
}

#[derive(Debug, Deserialize)]
pub struct VillagesRequest {
    pub villages: Vec<String>,
}

/// `PUT /api/v1/devices/{id}/villages`: takes effect at the device's next sync.
pub async fn set_villages(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(request): Json<VillagesRequest>,
) -> ApiResult<Json<DeviceInfo>> {
    let action = "device.villages";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ManageDevices, action).await?;
    let device = reassign_device(&state, &staff, &client, &id, &request.villages).await?;
    Ok(Json(device))
}

/// Gives a device of `staff`'s area other villages of that area, from its next sync on.
pub async fn reassign_device(
    state: &AppState,
    staff: &Account,
    client: &Client,
    id: &str,
    codes: &[String],
) -> ApiResult<DeviceInfo> {
    let action = "device.villages";
    let villages = villages(codes)?;
    device_in_scope(state, staff, client, id, action).await?;
    villages_in_scope(state, staff, client, &villages, action).await?;
    devices::set_villages(
        state.ledger.db(),
        state.clock(),
        id,
        &villages,
        &By::staff(staff, &client.0),
    )
    .await
    .map_err(device_error)
}

#[derive(Debug, Deserialize)]
pub struct DeviceListParams {
    pub area: Option<String>,
}

/// `GET /api/v1/devices?area=`: the devices with a village in the area (the staff member's
/// whole area when absent), revoked ones included.
pub async fn list(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<DeviceListParams>,
) -> ApiResult<Json<Vec<DeviceInfo>>> {
    let action = "device.list";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ManageDevices, action).await?;
    let area =
        principal::area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    Ok(Json(
        devices::list(state.ledger.db(), state.clock(), &area).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn test_the_qr_code_names_the_server_as_the_request_reached_it() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("10.1.2.3:8080"));
        assert_eq!(
            server_address(&headers, None).as_deref(),
            Some("http://10.1.2.3:8080")
        );
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("county.example"),
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            server_address(&headers, None).as_deref(),
            Some("https://county.example")
        );
        assert_eq!(
            server_address(&headers, Some("https://sync.county.example/")).as_deref(),
            Some("https://sync.county.example")
        );
        assert_eq!(server_address(&headers, Some("ftp://x")), None);
        headers.insert(
            "x-forwarded-host",
            HeaderValue::from_static("evil.example/<script>"),
        );
        assert_eq!(server_address(&headers, None), None);
    }
}
