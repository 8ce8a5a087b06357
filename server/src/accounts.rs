//! Staff accounts: roles and what each may do, passwords, sessions, lockout and the second
//! factor.
//!
//! Passwords are argon2id hashes. Logging in gives a session token, sent back as a cookie for
//! the console and usable as a bearer token by the API and the CLI; only its hash is stored.
//! Sessions end when they expire, when idle too long, or at logout. Five wrong passwords in a
//! row lock the account for a quarter of an hour, whoever tries. Admin accounts also need a
//! TOTP code (RFC 6238) from an authenticator app.

use crate::storage::db::Db;
use crate::storage::vault::Vault;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use schema::Message;
use schema::ids::{AreaCode, AreaLevel};
use serde::Serialize;
use sqlx::Row;
use std::time::Duration;

/// Consecutive wrong passwords after which an account is locked.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// What a staff member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the county's accounts; also works the register and the queues.
    CountyAdmin,
    /// Works the county's register, review queue and quarantine; sees ID numbers on request.
    CountyStaff,
    /// Works one township: its register (masked) and its devices.
    TownshipStaff,
    /// Reads the audit log and nothing of the data.
    Auditor,
}

/// Something a request may want to do, which a role allows or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ReadRegister,
    /// Read ID numbers and other sensitive fields unmasked (every such read is audited).
    RevealSensitive,
    ResolveReview,
    EnrollDevices,
    ManageDevices,
    DecideQuarantine,
    ManageStaff,
    ReadAudit,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::CountyAdmin,
        Role::CountyStaff,
        Role::TownshipStaff,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CountyAdmin => "county_admin",
            Role::CountyStaff => "county_staff",
            Role::TownshipStaff => "township_staff",
            Role::Auditor => "auditor",
        }
    }

    /// Reads a role as stored or as typed (`county-admin` and `county_admin` both).
    pub fn parse(input: &str) -> Result<Role, Message> {
        let normalised = input.trim().replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == normalised)
            .ok_or_else(|| {
                Message::new(
                    format!(
                        "未知角色“{input}”：应为 county_admin、county_staff、township_staff 或 auditor"
                    ),
                    format!(
                        "Unknown role \"{input}\": expected county_admin, county_staff, township_staff or auditor"
                    ),
                )
            })
    }

    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::CountyAdmin => permission != ReadAudit,
            Role::CountyStaff => !matches!(permission, ReadAudit | ManageStaff),
            Role::TownshipStaff => {
                matches!(permission, ReadRegister | EnrollDevices | ManageDevices)
            }
            Role::Auditor => permission == ReadAudit,
        }
    }

    /// Whether an account of this role may have `scope`: county roles a county or wider,
    /// township staff one township; auditors any area.
    pub fn fits(self, scope: &AreaCode) -> bool {
        match self {
            Role::CountyAdmin | Role::CountyStaff => scope.level() <= AreaLevel::County,
            Role::TownshipStaff => scope.level() == AreaLevel::Township,
            Role::Auditor => scope.level() <= AreaLevel::County,
        }
    }

    /// Whether logging in needs a TOTP code as well as the password.
    pub fn needs_second_factor(self) -> bool {
        self == Role::CountyAdmin
    }
}

/// A logged-in staff member.
#[derive(Debug, Clone, Serialize)]
pub struct Staff {
    pub id: String,
    pub username: String,
    /// As review decisions and the audit log name them.
    pub name: String,
    pub role: Role,
    pub scope: AreaCode,
}

impl Staff {
    pub fn may(&self, permission: Permission) -> bool {
        self.role.may(permission)
    }

    /// The audit log's name for this staff member.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.username)
    }
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewStaff {
    pub username: String,
    pub name: String,
    pub role: Role,
    pub scope: AreaCode,
    pub password: String,
}

/// A new account, and its TOTP secret (base32) when its role needs one: shown once.
#[derive(Debug, Clone)]
pub struct Created {
    pub staff: Staff,
    pub totp_secret: Option<String>,
}

impl Created {
    /// The `otpauth://` address an authenticator app reads (by QR or typed).
    pub fn totp_uri(&self) -> Option<String> {
        self.totp_secret.as_ref().map(|secret| {
            format!(
                "otpauth://totp/Doorstep:{}?secret={secret}&issuer=Doorstep&algorithm=SHA1&digits=6&period=30",
                self.staff.username
            )
        })
    }
}

/// Why an account could not be created or changed. Printed, both say it in Chinese first
/// and in English, as the operator at `doorstep staff add` reads it.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(Message),
    #[error("数据库出错：{0} / database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A session's last request is written down at most this often, so reading the register is
/// not a write per request.
pub const SESSION_TOUCH_SECS: u64 = 60;
/// The shortest idle limit a server accepts: a shorter one would end sessions in use, whose
/// last request is only written every [`SESSION_TOUCH_SECS`].
pub const MIN_SESSION_IDLE_SECS: u64 = SESSION_TOUCH_SECS;

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// From login, however busy.
    pub lifetime: Duration,
    /// Without a request; at least [`MIN_SESSION_IDLE_SECS`].
    pub idle: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            lifetime: Duration::from_secs(12 * 3600),
            idle: Duration::from_secs(2 * 3600),
        }
    }
}

/// A session just opened: the token is shown once.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub staff: Staff,
    pub expires_at: i64,
}

/// Why a login was refused. The message never says whether the username exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRefused {
    BadCredentials,
    /// The account is locked until this time (seconds).
    LockedOut(i64),
    SecondFactorRequired,
    Disabled,
}

/// What a presented session token turned out to be.
#[derive(Debug, Clone)]
pub enum SessionCheck {
    Valid(Staff),
    Expired,
    Unknown,
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buffer = [0u8; N];
    getrandom::fill(&mut buffer).expect("the operating system's random source failed");
    buffer
}

fn token_hash(token: &str) -> String {
    blake3::hash(token.trim().as_bytes()).to_hex().to_string()
}

/// Runs argon2 on tokio's blocking threads. A hash is meant to cost tens of milliseconds
/// of CPU; on an async worker it would hold up every other request that worker serves.
async fn off_the_async_workers<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        // A panic is raised again here, as if the work had run inline. (A blocking task is
        // only ever cancelled when the runtime shuts down, which drops this caller too.)
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// A new argon2id hash of `password`, computed off the async workers.
async fn hash_password(password: &str) -> Result<String, AccountError> {
    let password = password.to_owned();
    off_the_async_workers(move || argon2_hash(&password)).await
}

/// Whether `password` is the one `stored` is a hash of, checked off the async workers.
async fn password_matches(password: &str, stored: &str) -> bool {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    off_the_async_workers(move || argon2_matches(&password, &stored)).await
}

fn argon2_hash(password: &str) -> Result<String, AccountError> {
    let failed = |err: argon2::password_hash::Error| {
        AccountError::Invalid(Message::new(
            format!("无法生成密码哈希：{err}"),
            format!("Cannot hash the password: {err}"),
        ))
    };
    let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(failed)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(failed)
}

fn argon2_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// An argon2 hash of no one's password: checked when the username is unknown, so that an
/// unknown name takes as long to refuse as a wrong password and does not give itself away.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| argon2_hash("no such account, no such password").unwrap_or_default())
}

fn check_username(username: &str) -> Result<(), AccountError> {
    let valid = (3..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::Invalid(Message::new(
            format!("用户名“{username}”无效：3 到 64 个字母、数字、下划线、连字符或点"),
            format!(
                "Invalid username \"{username}\": 3 to 64 letters, digits, underscores, hyphens or dots"
            ),
        )))
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() >= MIN_PASSWORD_CHARS {
        Ok(())
    } else {
        Err(AccountError::Invalid(Message::new(
            format!("密码太短：至少 {MIN_PASSWORD_CHARS} 个字符"),
            format!("The password is too short: at least {MIN_PASSWORD_CHARS} characters"),
        )))
    }
}

fn totp(secret: &[u8]) -> Option<totp_rs::TOTP> {
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret.to_vec()).ok()
}

/// Whether `code` is the current TOTP code of a base32 secret (or the one before or after,
/// for clocks a little apart).
pub fn totp_code_matches(secret_base32: &str, code: &str) -> bool {
    let Ok(secret) = totp_rs::Secret::Encoded(secret_base32.to_owned()).to_bytes() else {
        return false;
    };
    let code = code.trim();
    totp(&secret).is_some_and(|totp| u64::try_from(now()).is_ok_and(|time| totp.check(code, time)))
}

/// The TOTP code of a base32 secret at a time, as an authenticator app shows it.
pub fn totp_code_at(secret_base32: &str, time: u64) -> Option<String> {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .ok()?;
    totp(&secret).map(|totp| totp.generate(time))
}

/// Creates an account. An admin's TOTP secret is stored sealed by the data key: with the
/// database alone, nobody can make an admin's codes.
pub async fn create(db: &Db, vault: &Vault, new: NewStaff) -> Result<Created, AccountError> {
    check_username(&new.username)?;
    check_password(&new.password)?;
    if !new.role.fits(&new.scope) {
        return Err(AccountError::Invalid(Message::new(
            format!(
                "区划 {} 不适合角色 {}：县级角色须为县或更大区划，乡镇工作人员须为乡镇",
                new.scope,
                new.role.as_str()
            ),
            format!(
                "Area {} does not fit role {}: county roles need a county or wider, township staff a township",
                new.scope,
                new.role.as_str()
            ),
        )));
    }
    let taken = sqlx::query("SELECT 1 AS one FROM staff WHERE username = $1")
        .bind(&new.username)
        .fetch_optional(&db.pool)
        .await?
        .is_some();
    if taken {
        return Err(AccountError::Invalid(Message::new(
            format!("用户名“{}”已被使用", new.username),
            format!("The username \"{}\" is taken", new.username),
        )));
    }
    let totp_secret = new.role.needs_second_factor().then(|| {
        totp_rs::Secret::Raw(random_bytes::<20>().to_vec())
            .to_encoded()
            .to_string()
    });
    let staff = Staff {
        id: hex::encode(random_bytes::<8>()),
        username: new.username,
        name: new.name,
        role: new.role,
        scope: new.scope,
    };
    let password_hash = hash_password(&new.password).await?;
    sqlx::query(
        "INSERT INTO staff (id, username, name, role, scope, password_hash, totp_secret, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&staff.id)
    .bind(&staff.username)
    .bind(&staff.name)
    .bind(staff.role.as_str())
    .bind(staff.scope.as_str())
    .bind(password_hash)
    .bind(
        totp_secret
            .as_ref()
            .map(|secret| hex::encode(vault.seal(secret.as_bytes()))),
    )
    .bind(now())
    .execute(&db.pool)
    .await?;
    Ok(Created { staff, totp_secret })
}

/// Gives an account whose role needs a second factor a new TOTP secret, for an admin who
/// lost their authenticator: an operator with the database does it (`doorstep admin
/// reset-totp`). The old secret stops working at once, and so do the account's sessions,
/// which whoever holds the lost factor may have opened. The new secret is shown once.
/// `audit` is written in the same transaction: no reset happens unrecorded.
pub async fn reset_totp(
    db: &Db,
    vault: &Vault,
    username: &str,
    audit: crate::audit::Entry,
) -> Result<Created, AccountError> {
    let row = sqlx::query("SELECT id, username, name, role, scope FROM staff WHERE username = $1")
        .bind(username.trim())
        .fetch_optional(&db.pool)
        .await?;
    let staff = match &row {
        Some(row) => staff_from_row(row)?,
        None => None,
    };
    let Some(staff) = staff else {
        return Err(AccountError::Invalid(Message::new(
            format!("没有用户名为“{username}”的账号"),
            format!("There is no account named \"{username}\""),
        )));
    };
    if !staff.role.needs_second_factor() {
        return Err(AccountError::Invalid(Message::new(
            format!(
                "账号“{}”的角色 {} 不用动态验证码",
                staff.username,
                staff.role.as_str()
            ),
            format!(
                "Account \"{}\" has role {}, which has no second factor",
                staff.username,
                staff.role.as_str()
            ),
        )));
    }
    let secret = totp_rs::Secret::Raw(random_bytes::<20>().to_vec())
        .to_encoded()
        .to_string();
    let now = now();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE staff SET totp_secret = $1 WHERE id = $2")
        .bind(hex::encode(vault.seal(secret.as_bytes())))
        .bind(&staff.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE staff_session SET ended_at = $1 WHERE staff_id = $2 AND ended_at IS NULL")
        .bind(now)
        .bind(&staff.id)
        .execute(&mut *tx)
        .await?;
    crate::audit::record_in(&mut tx, audit.on(staff.username.clone())).await?;
    tx.commit().await?;
    Ok(Created {
        staff,
        totp_secret: Some(secret),
    })
}

/// Whether any county admin exists: `doorstep admin init` makes the first one only.
pub async fn has_admin(db: &Db) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 AS one FROM staff WHERE role = $1")
        .bind(Role::CountyAdmin.as_str())
        .fetch_optional(&db.pool)
        .await?
        .is_some())
}

fn staff_from_row(row: &sqlx::any::AnyRow) -> Result<Option<Staff>, sqlx::Error> {
    let role: String = row.try_get("role")?;
    let scope: String = row.try_get("scope")?;
    let (Ok(role), Ok(scope)) = (Role::parse(&role), AreaCode::parse(&scope)) else {
        return Ok(None);
    };
    Ok(Some(Staff {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        role,
        scope,
    }))
}

/// Counts a wrong password; the one that reaches [`MAX_FAILED_LOGINS`] locks the account.
async fn count_failure(
    db: &Db,
    id: &str,
    failed_before: i64,
    now: i64,
) -> Result<LoginRefused, sqlx::Error> {
    let failed = failed_before + 1;
    let lock = failed >= MAX_FAILED_LOGINS;
    let until = now + LOCKOUT.as_secs() as i64;
    sqlx::query("UPDATE staff SET failed_logins = $1, locked_until = $2 WHERE id = $3")
        .bind(if lock { 0 } else { failed })
        .bind(if lock { Some(until) } else { None })
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(if lock {
        LoginRefused::LockedOut(until)
    } else {
        LoginRefused::BadCredentials
    })
}

/// Checks a login and opens a session. Counts failures and locks the account after
/// [`MAX_FAILED_LOGINS`] in a row.
pub async fn login(
    db: &Db,
    vault: &Vault,
    policy: SessionPolicy,
    username: &str,
    password: &str,
    totp_code: Option<&str>,
) -> Result<Result<Session, LoginRefused>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, username, name, role, scope, password_hash, totp_secret, failed_logins,
                locked_until, disabled_at
         FROM staff WHERE username = $1",
    )
    .bind(username.trim())
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        let password = password.to_owned();
        off_the_async_workers(move || argon2_matches(&password, decoy_hash())).await;
        return Ok(Err(LoginRefused::BadCredentials));
    };
    let now = now();
    let locked_until: Option<i64> = row.try_get("locked_until")?;
    if let Some(until) = locked_until.filter(|until| *until > now) {
        return Ok(Err(LoginRefused::LockedOut(until)));
    }
    let id: String = row.try_get("id")?;
    let stored: String = row.try_get("password_hash")?;
    if !password_matches(password, &stored).await {
        let failed: i64 = row.try_get("failed_logins")?;
        return Ok(Err(count_failure(db, &id, failed, now).await?));
    }
    if row.try_get::<Option<i64>, _>("disabled_at")?.is_some() {
        return Ok(Err(LoginRefused::Disabled));
    }
    let Some(staff) = staff_from_row(&row)? else {
        return Ok(Err(LoginRefused::Disabled));
    };
    if let Some(sealed) = row.try_get::<Option<String>, _>("totp_secret")? {
        let secret = hex::decode(&sealed)
            .ok()
            .and_then(|sealed| vault.open_text(&sealed).ok());
        let matches = match (secret, totp_code) {
            (Some(secret), Some(code)) => totp_code_matches(&secret, code),
            _ => false,
        };
        if !matches {
            return Ok(Err(LoginRefused::SecondFactorRequired));
        }
    }
    let token = format!("dss_{}", hex::encode(random_bytes::<32>()));
    let expires_at = now + policy.lifetime.as_secs() as i64;
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE staff SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO staff_session (token_hash, staff_id, created_at, expires_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(&id)
    .bind(now)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(Session {
        token,
        staff,
        expires_at,
    }))
}

/// The staff member a session token belongs to, if the session is still open. Keeps the
/// session alive (at most one write a minute, so reading the register is not a write).
pub async fn session(
    db: &Db,
    policy: SessionPolicy,
    token: &str,
) -> Result<SessionCheck, sqlx::Error> {
    let row = sqlx::query(
        "SELECT s.id, s.username, s.name, s.role, s.scope, s.disabled_at,
                x.expires_at, x.last_seen_at, x.ended_at
         FROM staff_session x JOIN staff s ON s.id = x.staff_id
         WHERE x.token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(SessionCheck::Unknown);
    };
    let now = now();
    let expires_at: i64 = row.try_get("expires_at")?;
    let last_seen_at: i64 = row.try_get("last_seen_at")?;
    let ended = row.try_get::<Option<i64>, _>("ended_at")?.is_some()
        || row.try_get::<Option<i64>, _>("disabled_at")?.is_some();
    if ended || now >= expires_at || now - last_seen_at >= policy.idle.as_secs() as i64 {
        return Ok(SessionCheck::Expired);
    }
    if now - last_seen_at >= SESSION_TOUCH_SECS as i64 {
        sqlx::query("UPDATE staff_session SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash(token))
            .execute(&db.pool)
            .await?;
    }
    Ok(match staff_from_row(&row)? {
        Some(staff) => SessionCheck::Valid(staff),
        None => SessionCheck::Unknown,
    })
}

/// Changes a staff member's password, given the current one, and ends every other session
/// of theirs: whoever may have learned the old password is out. Refused when the
/// current password is wrong: counted like a failed login, so a stolen session cannot be
/// used to guess the password.
pub async fn change_password(
    db: &Db,
    staff: &Staff,
    current: &str,
    new: &str,
    keep_session: &str,
) -> Result<Result<(), LoginRefused>, AccountError> {
    check_password(new)?;
    let row =
        sqlx::query("SELECT password_hash, failed_logins, locked_until FROM staff WHERE id = $1")
            .bind(&staff.id)
            .fetch_one(&db.pool)
            .await?;
    let now = now();
    if let Some(until) = row
        .try_get::<Option<i64>, _>("locked_until")?
        .filter(|until| *until > now)
    {
        return Ok(Err(LoginRefused::LockedOut(until)));
    }
    let stored: String = row.try_get("password_hash")?;
    if !password_matches(current, &stored).await {
        let failed: i64 = row.try_get("failed_logins")?;
        return Ok(Err(count_failure(db, &staff.id, failed, now).await?));
    }
    let hash = hash_password(new).await?;
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE staff SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(&staff.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE staff_session SET ended_at = $1
         WHERE staff_id = $2 AND ended_at IS NULL AND token_hash <> $3",
    )
    .bind(now)
    .bind(&staff.id)
    .bind(token_hash(keep_session))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Ends a session.
pub async fn logout(db: &Db, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE staff_session SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL",
    )
    .bind(now())
    .bind(token_hash(token))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Disables an account and ends its sessions at once.
pub async fn disable(db: &Db, username: &str) -> Result<bool, sqlx::Error> {
    let now = now();
    let mut tx = db.pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE staff SET disabled_at = $1 WHERE username = $2 AND disabled_at IS NULL",
    )
    .bind(now)
    .bind(username)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE staff_session SET ended_at = $1
         WHERE ended_at IS NULL AND staff_id IN (SELECT id FROM staff WHERE username = $2)",
    )
    .bind(now)
    .bind(username)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(changed > 0)
}

/// The accounts whose scope lies inside `area`.
pub async fn list(db: &Db, area: &AreaCode) -> Result<Vec<Staff>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, username, name, role, scope FROM staff
         WHERE scope LIKE $1 AND disabled_at IS NULL ORDER BY username",
    )
    .bind(format!("{area}%"))
    .fetch_all(&db.pool)
    .await?;
    let mut staff = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(member) = staff_from_row(row)? {
            staff.push(member);
        }
    }
    Ok(staff)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_only_auditors_read_the_audit_log_and_auditors_read_nothing_else() {
        for role in Role::ALL {
            assert_eq!(role.may(Permission::ReadAudit), role == Role::Auditor);
        }
        for permission in [
            Permission::ReadRegister,
            Permission::RevealSensitive,
            Permission::ResolveReview,
            Permission::EnrollDevices,
            Permission::DecideQuarantine,
        ] {
            assert!(!Role::Auditor.may(permission));
        }
        assert!(Role::TownshipStaff.may(Permission::EnrollDevices));
        assert!(!Role::TownshipStaff.may(Permission::RevealSensitive));
        assert!(!Role::TownshipStaff.may(Permission::ResolveReview));
        assert!(!Role::CountyStaff.may(Permission::ManageStaff));
        assert!(Role::CountyAdmin.may(Permission::ManageStaff));
    }

    #[test]
    fn test_roles_parse_as_typed_and_as_stored() {
        assert_eq!(Role::parse("county-admin").unwrap(), Role::CountyAdmin);
        assert_eq!(Role::parse("township_staff").unwrap(), Role::TownshipStaff);
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn test_scope_must_fit_the_role() {
        let county = AreaCode::parse("141124").unwrap();
        let township = AreaCode::parse("141124100").unwrap();
        assert!(Role::CountyStaff.fits(&county));
        assert!(!Role::CountyStaff.fits(&township));
        assert!(Role::TownshipStaff.fits(&township));
        assert!(!Role::TownshipStaff.fits(&county));
    }

    #[tokio::test]
    async fn test_password_hash_verifies_only_the_password() {
        let hash = hash_password("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash).await);
        assert!(!password_matches("correct horse batterY", &hash).await);
        assert!(!password_matches("correct horse battery", "not a hash").await);
    }

    #[test]
    fn test_an_invalid_account_prints_chinese_first_and_english() {
        let printed = check_password("short").unwrap_err().to_string();
        assert_eq!(
            printed,
            format!(
                "密码太短：至少 {MIN_PASSWORD_CHARS} 个字符 / \
                 The password is too short: at least {MIN_PASSWORD_CHARS} characters"
            )
        );
    }

    #[test]
    fn test_totp_codes_match_within_one_step() {
        let secret = totp_rs::Secret::Raw(random_bytes::<20>().to_vec())
            .to_encoded()
            .to_string();
        let time = u64::try_from(now()).unwrap();
        let code = totp_code_at(&secret, time).unwrap();
        assert!(totp_code_matches(&secret, &code));
        let old = totp_code_at(&secret, time - 300).unwrap();
        assert!(old == code || !totp_code_matches(&secret, &old));
        assert!(!totp_code_matches(&secret, "not a code"));
    }
}
