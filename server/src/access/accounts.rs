//! Staff accounts: creating them (with an admin's TOTP secret, sealed), listing and
//! disabling them, and a new second factor for an admin who lost theirs.
//!
//! Passwords are argon2id hashes (`passwords`); what each role may do is `roles`; logging in
//! and sessions are `sessions`.

use super::passwords::{check_password, hash_password};
use super::roles::{Permission, Role};
use super::secrets::random_hex;
use super::totp;
use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use schema::Message;
use schema::error_code::ErrorCode;
use schema::ids::AreaCode;
use serde::Serialize;
use sqlx::Row;

/// A logged-in staff member.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: String,
    pub username: String,
    /// As review decisions and the audit log name them.
    pub name: String,
    pub role: Role,
    pub scope: AreaCode,
}

impl Account {
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
pub struct NewAccount {
    pub username: String,
    pub name: String,
    pub role: Role,
    pub scope: AreaCode,
    pub password: String,
}

/// A new account, and its TOTP secret (base32) when its role needs one: shown once.
#[derive(Debug, Clone)]
pub struct Created {
    pub staff: Account,
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
    /// Refused as asked, with the code that says which part (a form places the message
    /// beside that field).
    #[error("{1}")]
    Invalid(ErrorCode, Message),
    #[error("数据库出错：{0} / database: {0}")]
    Database(#[from] sqlx::Error),
}

fn check_username(username: &str) -> Result<(), AccountError> {
    let valid = (3..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::Invalid(
            ErrorCode::InvalidUsername,
            Message::new(
                format!("用户名“{username}”无效：3 到 64 个字母、数字、下划线、连字符或点"),
                format!(
                    "Invalid username \"{username}\": 3 to 64 letters, digits, underscores, hyphens or dots"
                ),
            ),
        ))
    }
}

/// Creates an account. An admin's TOTP secret is stored sealed by the data key: with the
/// database alone, nobody can make an admin's codes.
pub async fn create(
    db: &Db,
    vault: &Vault,
    clock: &Clock,
    new: NewAccount,
) -> Result<Created, AccountError> {
    check_username(&new.username)?;
    check_password(&new.password)
        .map_err(|message| AccountError::Invalid(ErrorCode::WeakPassword, message))?;
    if !new.role.fits(&new.scope) {
        return Err(AccountError::Invalid(
            ErrorCode::AreaDoesNotFitRole,
            Message::new(
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
            ),
        ));
    }
    let taken = sqlx::query("SELECT 1 AS one FROM staff WHERE username = $1")
        .bind(&new.username)
        .fetch_optional(&db.pool)
        .await?
        .is_some();
    if taken {
        return Err(AccountError::Invalid(
            ErrorCode::UsernameTaken,
            Message::new(
                format!("用户名“{}”已被使用", new.username),
                format!("The username \"{}\" is taken", new.username),
            ),
        ));
    }
    let totp_secret = new.role.needs_second_factor().then(totp::new_secret);
    let staff = Account {
        id: random_hex(8),
        username: new.username,
        name: new.name,
        role: new.role,
        scope: new.scope,
    };
    let password_hash = hash_password(&new.password)
        .await
        .map_err(|message| AccountError::Invalid(ErrorCode::BadRequest, message))?;
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
    .bind(clock.now_seconds())
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
    clock: &Clock,
    username: &str,
    audit: crate::access::audit::Entry,
) -> Result<Created, AccountError> {
    let row = sqlx::query("SELECT id, username, name, role, scope FROM staff WHERE username = $1")
        .bind(username.trim())
        .fetch_optional(&db.pool)
        .await?;
    let staff = match &row {
        Some(row) => account_from_row(row)?,
        None => None,
    };
    let Some(staff) = staff else {
        return Err(AccountError::Invalid(
            ErrorCode::BadRequest,
            Message::new(
                format!("没有用户名为“{username}”的账号"),
                format!("There is no account named \"{username}\""),
            ),
        ));
    };
    if !staff.role.needs_second_factor() {
        return Err(AccountError::Invalid(
            ErrorCode::BadRequest,
            Message::new(
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
            ),
        ));
    }
    let secret = totp::new_secret();
    let now = clock.now_seconds();
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
    crate::access::audit::record_in(&mut tx, audit.on(staff.username.clone()), now).await?;
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

pub(super) fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Option<Account>, sqlx::Error> {
    let role: String = row.try_get("role")?;
    let scope: String = row.try_get("scope")?;
    let (Ok(role), Ok(scope)) = (Role::parse(&role), AreaCode::parse(&scope)) else {
        return Ok(None);
    };
    Ok(Some(Account {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        role,
        scope,
    }))
}

/// Disables an account and ends its sessions at once.
pub async fn disable(db: &Db, clock: &Clock, username: &str) -> Result<bool, sqlx::Error> {
    let now = clock.now_seconds();
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
pub async fn list(db: &Db, area: &AreaCode) -> Result<Vec<Account>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, username, name, role, scope FROM staff
         WHERE scope LIKE $1 AND disabled_at IS NULL ORDER BY username",
    )
    .bind(format!("{area}%"))
    .fetch_all(&db.pool)
    .await?;
    let mut staff = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(member) = account_from_row(row)? {
            staff.push(member);
        }
    }
    Ok(staff)
}
