//! Who is asking: the client's address, and the staff member behind a session token or
//! cookie, checked against the role a request needs. Every refusal of a known credential here
//! is audited; a missing or unknown one is only counted (`refusals`): no one is identified.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::refusals::{self, Reason};
use crate::access::accounts::Account;
use crate::access::audit::{self, Entry, Outcome};
use crate::access::device_tokens;
use crate::access::privacy::Sight;
use crate::access::roles::Permission;
use crate::access::sessions::{self, SessionCheck};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use schema::Message;
use schema::error_code::ErrorCode;
use schema::ids::AreaCode;
use std::convert::Infallible;
use std::net::SocketAddr;

/// The cookie that carries a console session.
pub const SESSION_COOKIE: &str = "doorstep_session";

/// The client's network address, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Client(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(Client(address))
    }
}

/// The bearer token of a request, if it has one. The scheme is case-insensitive (RFC 9110
/// §11.1).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// The session token of a request: its bearer token, else its session cookie.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).or_else(|| {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
    })
}

fn session_expired() -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: ErrorCode::SessionExpired,
        message: Message::new(
            "登录已过期或已退出，请重新登录",
            "The session has expired or ended; please log in again",
        ),
    }
}

/// The staff member making a request, who must hold `permission`. `action` names what the
/// request attempts, for the audit record of a refusal.
pub async fn staff(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    permission: Permission,
    action: &'static str,
) -> ApiResult<Account> {
    let staff = logged_in(state, headers, client, action).await?;
    permitted(state, &staff, client, permission, action).await?;
    Ok(staff)
}

/// Whether `staff`'s role allows `permission`; a refusal is audited.
pub async fn permitted(
    state: &AppState,
    staff: &Account,
    client: &Client,
    permission: Permission,
    action: &'static str,
) -> ApiResult<()> {
    if staff.may(permission) {
        return Ok(());
    }
    let entry = Entry::new(action, Outcome::Denied)
        .by(staff.actor(), staff.role.as_str())
        .from(&client.0)
        .saying(format!("role {} lacks {permission:?}", staff.role.as_str()));
    audit::record(state.ledger.db(), entry, state.now()).await?;
    Err(ApiError::forbidden(Message::new(
        "您的角色无权进行此操作",
        "Your role does not allow this",
    )))
}

/// The staff member whose session the request carries, whatever their role.
pub async fn logged_in(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    action: &'static str,
) -> ApiResult<Account> {
    let db = state.ledger.db();
    let refused = |detail: &str| {
        Entry::new(action, Outcome::Denied)
            .from(&client.0)
            .saying(detail)
    };
    let Some(token) = session_token(headers) else {
        refusals::count(Reason::NoCredentials, &client.0, action, state.now());
        return Err(ApiError::unauthorized());
    };
    let staff = match sessions::session(db, state.clock(), state.sessions, token).await? {
        SessionCheck::Valid(staff) => staff,
        SessionCheck::Expired => {
            audit::record(db, refused("expired or ended session"), state.now()).await?;
            return Err(session_expired());
        }
        SessionCheck::Unknown => {
            // A phone's token on a staff endpoint is named, so the log shows which device.
            if let Some(device) = device_tokens::device_by_token(db, state.clock(), token).await? {
                let entry = refused("a device token on a staff endpoint")
                    .by(format!("device:{}", device.id), "device");
                audit::record(db, entry, state.now()).await?;
                return Err(ApiError::forbidden(Message::new(
                    "设备令牌不能访问工作人员接口",
                    "A device token cannot be used for staff requests",
                )));
            }
            refusals::count(Reason::UnknownToken, &client.0, action, state.now());
            return Err(ApiError::unauthorized());
        }
    };
    Ok(staff)
}

/// The area a request names (the staff member's whole scope when it names none), which must
/// lie inside their scope; a refusal is audited.
pub async fn area_in_scope(
    state: &AppState,
    staff: &Account,
    client: &Client,
    area: Option<&str>,
    action: &'static str,
) -> ApiResult<AreaCode> {
    let area = match area {
        Some(code) => AreaCode::parse(code).map_err(|err| ApiError::bad_request(err.message))?,
        None => staff.scope.clone(),
    };
    if !staff.scope.contains(&area) {
        let entry = Entry::new(action, Outcome::Denied)
            .by(staff.actor(), staff.role.as_str())
            .on(area.as_str())
            .from(&client.0)
            .saying("outside the account's area");
        audit::record(state.ledger.db(), entry, state.now()).await?;
        return Err(ApiError::forbidden(Message::new(
            format!("无权查看区划 {area}"),
            format!("Area {area} is outside your scope"),
        )));
    }
    Ok(area)
}

/// What `staff` sees of `target`'s sensitive fields: in full only when the request asks for
/// it (`?reveal=true`) and the role allows it, masked otherwise. Both the unmasked read and a
/// refused asking are audited; a masked read is not sensitive and is not.
pub async fn sight(
    state: &AppState,
    staff: &Account,
    client: &Client,
    asked: bool,
    target: &str,
) -> ApiResult<Sight> {
    if !asked {
        return Ok(Sight::MASKED);
    }
    let Some(sight) = Sight::revealed_to(staff) else {
        refused(
            state,
            staff,
            client,
            "reveal",
            target,
            "role may not reveal",
        )
        .await?;
        return Err(ApiError::forbidden(Message::new(
            "您的角色不能查看完整的身份证号码等敏感信息",
            "Your role may not see ID numbers and other sensitive fields in full",
        )));
    };
    done(state, staff, client, "reveal", target, "").await?;
    Ok(sight)
}

/// Asks for sensitive fields in full (`?reveal=true`).
#[derive(Debug, Default, serde::Deserialize)]
pub struct RevealParam {
    #[serde(default)]
    pub reveal: bool,
}

/// Records that `staff` was refused `action` on `target`.
pub async fn refused(
    state: &AppState,
    staff: &Account,
    client: &Client,
    action: &'static str,
    target: &str,
    detail: &str,
) -> ApiResult<()> {
    let entry = Entry::new(action, Outcome::Denied)
        .by(staff.actor(), staff.role.as_str())
        .on(target)
        .from(&client.0)
        .saying(detail);
    audit::record(state.ledger.db(), entry, state.now()).await?;
    Ok(())
}

/// Records that `staff` did `action` on `target`.
pub async fn done(
    state: &AppState,
    staff: &Account,
    client: &Client,
    action: &'static str,
    target: impl Into<String>,
    detail: impl Into<String>,
) -> ApiResult<()> {
    let entry = Entry::new(action, Outcome::Ok)
        .by(staff.actor(), staff.role.as_str())
        .on(target)
        .from(&client.0)
        .saying(detail);
    audit::record(state.ledger.db(), entry, state.now()).await?;
    Ok(())
}
