//! Logging in and out, the county admin's account management, and the auditor's view of the
//! audit log.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, SESSION_COOKIE};
use super::refusals::{self, Reason};
use crate::access::accounts::{self, Account, NewAccount};
use crate::access::audit::{self, Entry, Outcome};
use crate::access::roles::{Permission, Role};
use crate::access::sessions::{self, LoginRefused, SessionCheck};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schema::Message;
use schema::error_code::ErrorCode;
use schema::ids::AreaCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The authenticator app's code; admins need it.
    pub totp: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LoginResponse {
    /// For the API and the CLI, as `Authorization: Bearer …`. The console gets the same
    /// token as an HttpOnly cookie.
    pub token: String,
    pub expires_at: i64,
    pub staff: Account,
}

pub async fn login(
    State(state): State<AppState>,
    client: Client,
    Json(request): Json<LoginRequest>,
) -> ApiResult<Response> {
    let outcome = open_session(
        &state,
        &client,
        &request.username,
        &request.password,
        request.totp.as_deref(),
    )
    .await?;
    let session = match outcome {
        Ok(session) => session,
        Err(refused) => return Ok(login_refused(refused, state.now())),
    };
    let cookie = session_cookie(&state, &session.token);
    let mut response = Json(LoginResponse {
        token: session.token,
        expires_at: session.expires_at,
        staff: session.staff,
    })
    .into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    Ok(response)
}

/// Checks a login and opens a session, auditing either outcome: the one way in for the API,
/// the CLI and the console.
pub async fn open_session(
    state: &AppState,
    client: &Client,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> ApiResult<Result<sessions::Session, LoginRefused>> {
    let db = state.ledger.db();
    let outcome = sessions::login(
        db,
        state.ledger.vault(),
        state.clock(),
        state.sessions,
        username,
        password,
        totp,
    )
    .await?;
    let entry = Entry::new("login", Outcome::Ok)
        .on(username.trim())
        .from(&client.0);
    match outcome {
        Ok(session) => {
            let entry = entry.by(session.staff.actor(), session.staff.role.as_str());
            audit::record(db, entry, state.now()).await?;
            Ok(Ok(session))
        }
        Err(refused) => {
            let detail = match refused {
                LoginRefused::BadCredentials => "wrong username or password".to_owned(),
                LoginRefused::LockedOut(until) => format!("account locked until {until}"),
                LoginRefused::SecondFactorRequired => "missing or wrong TOTP code".to_owned(),
                LoginRefused::Disabled => "account disabled".to_owned(),
            };
            let entry = Entry {
                outcome: Outcome::Denied,
                ..entry
            };
            audit::record(db, entry.saying(detail), state.now()).await?;
            Ok(Err(refused))
        }
    }
}

/// The session cookie for `token`: HttpOnly and SameSite=Strict always, Secure when the
/// server speaks TLS itself or `--secure-cookies` says a proxy does (over plain HTTP a
/// browser would drop a Secure cookie). It has no Max-Age: the browser keeps it until it
/// closes, and the server, which ends sessions (lifetime, idle time, sign-out), can then tell
/// the reader theirs has expired rather than greet them as a stranger.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    cookie(state, token)
}

/// The header that removes the session cookie.
pub fn cleared_session_cookie(state: &AppState) -> HeaderValue {
    cookie(state, "; Max-Age=0")
}

fn cookie(state: &AppState, value_and_age: &str) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={value_and_age}; Path=/; HttpOnly; SameSite=Strict{secure}");
    // A session token is hex and the rest is ASCII, so the value is always a valid header.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The answer to a refused login at `now`; a lockout says, in `Retry-After`, when it ends.
fn login_refused(refused: LoginRefused, now: i64) -> Response {
    let retry_after = match refused {
        LoginRefused::LockedOut(until) => Some((until - now).max(1)),
        _ => None,
    };
    let mut response = login_error(refused, now).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

pub fn login_error(refused: LoginRefused, now: i64) -> ApiError {
    match refused {
        LoginRefused::BadCredentials | LoginRefused::Disabled => ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::BadCredentials,
            message: Message::new(
                "用户名或密码错误；连续错误 5 次将锁定账号 15 分钟",
                "Wrong username or password; 5 wrong attempts in a row lock the account for 15 minutes",
            ),
        },
        LoginRefused::LockedOut(until) => {
            let minutes = ((until - now) / 60).max(1);
            ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: ErrorCode::LockedOut,
                message: Message::new(
                    format!("密码错误次数过多，账号已锁定，请 {minutes} 分钟后再试"),
                    format!(
                        "Too many wrong passwords: the account is locked; try again in {minutes} minutes"
                    ),
                ),
            }
        }
        LoginRefused::SecondFactorRequired => ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::TotpRequired,
            message: Message::new(
                "管理员登录需要身份验证器上的 6 位动态码",
                "Admins log in with the 6-digit code from their authenticator app",
            ),
        },
    }
}

/// Ends the bearer's session. Audited as the act of the staff member whose session it was; a
/// request without a live session changes nothing and is only counted, like any anonymous
/// refusal. Either way the cookie is cleared.
pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let db = state.ledger.db();
    let session = match principal::bearer(&headers) {
        Some(token) => match sessions::session(db, state.clock(), state.sessions, token).await? {
            SessionCheck::Valid(staff) => Some((token, staff)),
            SessionCheck::Expired | SessionCheck::Unknown => None,
        },
        None => None,
    };
    match session {
        Some((token, staff)) => {
            sessions::logout(db, state.clock(), token).await?;
            principal::done(&state, &staff, &client, "logout", &staff.username, "").await?;
        }
        None => refusals::count(Reason::UnknownToken, &client.0, "logout", state.now()),
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cleared_session_cookie(&state));
    Ok(response)
}

/// Who the session belongs to: any role may ask.
pub async fn me(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> ApiResult<Json<Account>> {
    Ok(Json(
        principal::logged_in(&state, &headers, &client, "me").await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// A staff member changes their own password; their other sessions end.
pub async fn change_password(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(request): Json<PasswordChange>,
) -> ApiResult<Response> {
    let action = "password.change";
    let staff = principal::logged_in(&state, &headers, &client, action).await?;
    let session = principal::session_token(&headers).unwrap_or_default();
    let outcome = sessions::change_password(
        state.ledger.db(),
        state.clock(),
        &staff,
        &request.current,
        &request.new,
        session,
    )
    .await
    .map_err(account_error)?;
    if let Err(refused) = outcome {
        principal::refused(
            &state,
            &staff,
            &client,
            action,
            &staff.username,
            "wrong password",
        )
        .await?;
        return Ok(login_refused(refused, state.now()));
    }
    principal::done(&state, &staff, &client, action, &staff.username, "").await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
pub struct NewStaffRequest {
    pub username: String,
    pub name: String,
    pub role: String,
    pub scope: String,
    pub password: String,
}

#[derive(Debug, Serialize)]
pub struct CreatedStaff {
    pub staff: Account,
    /// For the authenticator app of an admin account: shown once.
    pub totp_uri: Option<String>,
}

/// A county admin creates an account inside their area.
pub async fn create_staff(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(request): Json<NewStaffRequest>,
) -> ApiResult<(StatusCode, Json<CreatedStaff>)> {
    let admin = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ManageStaff,
        "staff.create",
    )
    .await?;
    let created = create_account(&state, &admin, &client, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Creates an account inside `admin`'s area, audited: for the API and the console alike.
pub async fn create_account(
    state: &AppState,
    admin: &Account,
    client: &Client,
    request: NewStaffRequest,
) -> ApiResult<CreatedStaff> {
    let role = Role::parse(&request.role).map_err(ApiError::bad_request)?;
    let scope = principal::area_in_scope(
        state,
        admin,
        client,
        Some(request.scope.trim()),
        "staff.create",
    )
    .await?;
    let new = NewAccount {
        username: request.username.trim().to_owned(),
        name: request.name.trim().to_owned(),
        role,
        scope,
        password: request.password,
    };
    let created = accounts::create(state.ledger.db(), state.ledger.vault(), state.clock(), new)
        .await
        .map_err(account_error)?;
    principal::done(
        state,
        admin,
        client,
        "staff.create",
        &created.staff.username,
        format!("role {} scope {}", role.as_str(), created.staff.scope),
    )
    .await?;
    Ok(CreatedStaff {
        totp_uri: created.totp_uri(),
        staff: created.staff,
    })
}

pub fn account_error(err: accounts::AccountError) -> ApiError {
    match err {
        accounts::AccountError::Invalid(code, message) => ApiError {
            code,
            ..ApiError::bad_request(message)
        },
        accounts::AccountError::Database(err) => ApiError::database(err),
    }
}

#[derive(Debug, Deserialize)]
pub struct StaffListParams {
    pub area: Option<String>,
}

pub async fn list_staff(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<StaffListParams>,
) -> ApiResult<Json<Vec<Account>>> {
    let admin = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ManageStaff,
        "staff.list",
    )
    .await?;
    let area = principal::area_in_scope(
        &state,
        &admin,
        &client,
        params.area.as_deref(),
        "staff.list",
    )
    .await?;
    Ok(Json(accounts::list(state.ledger.db(), &area).await?))
}

/// Disables an account of the admin's area and ends its sessions.
pub async fn disable_staff(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    let admin = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ManageStaff,
        "staff.disable",
    )
    .await?;
    disable_account(&state, &admin, &client, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A county admin gives an admin account of their area a new second factor (the JSON twin of
/// the console's reset button); the answer holds the new `otpauth://` address, shown once.
pub async fn reset_staff_second_factor(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> ApiResult<Json<CreatedStaff>> {
    let admin = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ManageStaff,
        "staff.reset_totp",
    )
    .await?;
    let created = reset_second_factor(&state, &admin, &client, &username).await?;
    Ok(Json(created))
}

/// An account of `admin`'s area, by username.
async fn account_in_area(state: &AppState, admin: &Account, username: &str) -> ApiResult<Account> {
    let target = accounts::list(state.ledger.db(), &admin.scope)
        .await?
        .into_iter()
        .find(|staff| staff.username == username);
    target.ok_or_else(|| {
        ApiError::not_found(Message::new(
            format!("您的区划内没有账号“{username}”"),
            format!("No account \"{username}\" in your area"),
        ))
    })
}

/// Disables an account of `admin`'s area and ends its sessions, audited.
pub async fn disable_account(
    state: &AppState,
    admin: &Account,
    client: &Client,
    username: &str,
) -> ApiResult<()> {
    let target = account_in_area(state, admin, username).await?;
    accounts::disable(state.ledger.db(), state.clock(), &target.username).await?;
    principal::done(state, admin, client, "staff.disable", username, "").await?;
    Ok(())
}

/// Gives an admin account of `admin`'s area a new second factor, for someone who lost their
/// authenticator; the old one and the account's sessions stop working at once. The answer
/// holds the new `otpauth://` address, shown once.
pub async fn reset_second_factor(
    state: &AppState,
    admin: &Account,
    client: &Client,
    username: &str,
) -> ApiResult<CreatedStaff> {
    let target = account_in_area(state, admin, username).await?;
    let entry = Entry::new("staff.reset_totp", Outcome::Ok)
        .by(admin.actor(), admin.role.as_str())
        .from(&client.0);
    let created = accounts::reset_totp(
        state.ledger.db(),
        state.ledger.vault(),
        state.clock(),
        &target.username,
        entry,
    )
    .await
    .map_err(account_error)?;
    Ok(CreatedStaff {
        totp_uri: created.totp_uri(),
        staff: created.staff,
    })
}

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub since: Option<i64>,
    /// Only records before this time (seconds since the epoch).
    pub until: Option<i64>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct AuditPage {
    pub records: Vec<audit::Record>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// The audit log, newest first: auditors only, and the reading is itself recorded.
pub async fn audit_log(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let auditor = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ReadAudit,
        "audit.read",
    )
    .await?;
    let query = audit::Query {
        action: params.action.filter(|a| !a.is_empty()),
        actor: params.actor.filter(|a| !a.is_empty()),
        since: params.since,
        until: params.until,
        before: params.before,
        limit: super::page_limit(params.limit),
    };
    Ok(Json(read_audit(&state, &auditor, &client, &query).await?))
}

/// A page of the audit log for `auditor`, newest first; the reading is itself recorded.
pub async fn read_audit(
    state: &AppState,
    auditor: &Account,
    client: &Client,
    query: &audit::Query,
) -> ApiResult<AuditPage> {
    let records = audit::read(state.ledger.db(), query).await?;
    let next_before = (records.len() as i64 == query.limit)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    principal::done(
        state,
        auditor,
        client,
        "audit.read",
        AreaCode::as_str(&auditor.scope),
        format!("{} records", records.len()),
    )
    .await?;
    Ok(AuditPage {
        records,
        next_before,
    })
}
