//! Staff sessions: logging in (with lockout and the second factor), checking a session
//! token, changing a password, logging out.
//!
//! Logging in gives a session token, sent back as a cookie for the console and usable as a
//! bearer token by the API and the CLI; only its hash is stored. Sessions end when they
//! expire, when idle too long, or at logout. Five wrong passwords in a row lock the account
//! for a quarter of an hour, whoever tries.

use super::accounts::{Account, AccountError, account_from_row};
use super::passwords::{
    argon2_matches, check_password, decoy_hash, hash_password, off_the_async_workers,
    password_matches,
};
use super::secrets::{random_hex, token_hash};
use super::totp;
use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use schema::error_code::ErrorCode;
use sqlx::Row;
use std::time::Duration;

/// Consecutive wrong passwords after which an account is locked.
pub const MAX_FAILED_LOGINS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

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
    pub staff: Account,
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
    Valid(Account),
    Expired,
    Unknown,
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
    clock: &Clock,
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
    let now = clock.now_seconds();
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
    let Some(staff) = account_from_row(&row)? else {
        return Ok(Err(LoginRefused::Disabled));
    };
    if let Some(sealed) = row.try_get::<Option<String>, _>("totp_secret")? {
        let secret = hex::decode(&sealed)
            .ok()
            .and_then(|sealed| vault.open_text(&sealed).ok());
        let matches = match (secret, totp_code) {
            (Some(secret), Some(code)) => totp::code_matches(&secret, code, now),
            _ => false,
        };
        if !matches {
            return Ok(Err(LoginRefused::SecondFactorRequired));
        }
    }
    let token = format!("dss_{}", random_hex(32));
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
    clock: &Clock,
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
    let now = clock.now_seconds();
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
    Ok(match account_from_row(&row)? {
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
    clock: &Clock,
    staff: &Account,
    current: &str,
    new: &str,
    keep_session: &str,
) -> Result<Result<(), LoginRefused>, AccountError> {
    check_password(new)
        .map_err(|message| AccountError::Invalid(ErrorCode::WeakPassword, message))?;
    let row =
        sqlx::query("SELECT password_hash, failed_logins, locked_until FROM staff WHERE id = $1")
            .bind(&staff.id)
            .fetch_one(&db.pool)
            .await?;
    let now = clock.now_seconds();
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
    let hash = hash_password(new)
        .await
        .map_err(|message| AccountError::Invalid(ErrorCode::BadRequest, message))?;
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
pub async fn logout(db: &Db, clock: &Clock, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE staff_session SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL",
    )
    .bind(clock.now_seconds())
    .bind(token_hash(token))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Sessions and lockout on a real database, with a clock the tests move instead of waiting.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::access::accounts::{self, NewAccount};
    use crate::access::roles::Role;
    use crate::clock::ClockHand;
    use jiff::{SignedDuration, Timestamp};
    use schema::ids::AreaCode;

    const PASSWORD: &str = "correct horse battery";

    struct World {
        _dir: tempfile::TempDir,
        db: Db,
        vault: Vault,
        clock: Clock,
        hand: ClockHand,
    }

    /// A database with one county staff account, `li.na`, and a clock standing still.
    async fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::db::test_sqlite(dir.path()).await;
        let vault = Vault::generate();
        let (clock, hand) = Clock::manual(Timestamp::from_second(1_800_000_000).unwrap());
        let new = NewAccount {
            username: "li.na".to_owned(),
            name: "李娜".to_owned(),
            role: Role::CountyStaff,
            scope: AreaCode::parse("141124").unwrap(),
            password: PASSWORD.to_owned(),
        };
        accounts::create(&db, &vault, &clock, new).await.unwrap();
        World {
            _dir: dir,
            db,
            vault,
            clock,
            hand,
        }
    }

    const POLICY: SessionPolicy = SessionPolicy {
        lifetime: Duration::from_secs(12 * 3600),
        idle: Duration::from_secs(2 * 3600),
    };

    impl World {
        async fn login(&self, password: &str) -> Result<Session, LoginRefused> {
            login(
                &self.db,
                &self.vault,
                &self.clock,
                POLICY,
                "li.na",
                password,
                None,
            )
            .await
            .unwrap()
        }

        async fn is_open(&self, session: &Session) -> bool {
            let check = super::session(&self.db, &self.clock, POLICY, &session.token)
                .await
                .unwrap();
            match check {
                SessionCheck::Valid(staff) => staff.username == "li.na",
                SessionCheck::Expired => false,
                SessionCheck::Unknown => panic!("the session is known"),
            }
        }
    }

    #[tokio::test]
    async fn test_a_busy_session_expires_twelve_hours_after_login() {
        let world = world().await;
        let session = world.login(PASSWORD).await.unwrap();
        assert_eq!(session.expires_at, world.clock.now_seconds() + 12 * 3600);
        for _ in 1..12 {
            world.hand.advance(SignedDuration::from_hours(1));
            assert!(world.is_open(&session).await, "in use within its lifetime");
        }
        world.hand.advance(SignedDuration::from_hours(1));
        assert!(!world.is_open(&session).await, "twelve hours after login");
    }

    #[tokio::test]
    async fn test_a_session_without_requests_for_two_hours_ends() {
        let world = world().await;
        let session = world.login(PASSWORD).await.unwrap();
        world.hand.advance(SignedDuration::from_mins(119));
        assert!(world.is_open(&session).await, "a request keeps it alive");
        world.hand.advance(SignedDuration::from_mins(119));
        assert!(
            world.is_open(&session).await,
            "idle time counts from the last request"
        );
        world.hand.advance(SignedDuration::from_hours(2));
        assert!(
            !world.is_open(&session).await,
            "two hours without a request"
        );
        world.hand.advance(SignedDuration::from_secs(1));
        assert!(
            !world.is_open(&session).await,
            "an idle session stays ended"
        );
    }

    #[tokio::test]
    async fn test_a_lockout_ends_a_quarter_of_an_hour_after_the_fifth_wrong_password() {
        let world = world().await;
        for _ in 1..MAX_FAILED_LOGINS {
            assert_eq!(
                world.login("wrong password").await.unwrap_err(),
                LoginRefused::BadCredentials
            );
        }
        let until = world.clock.now_seconds() + LOCKOUT.as_secs() as i64;
        assert_eq!(
            world.login("wrong password").await.unwrap_err(),
            LoginRefused::LockedOut(until)
        );
        assert_eq!(
            world.login(PASSWORD).await.unwrap_err(),
            LoginRefused::LockedOut(until),
            "locked, whatever the password"
        );
        world
            .hand
            .advance(SignedDuration::from_secs(LOCKOUT.as_secs() as i64 - 1));
        assert_eq!(
            world.login(PASSWORD).await.unwrap_err(),
            LoginRefused::LockedOut(until)
        );
        world.hand.advance(SignedDuration::from_secs(1));
        let session = world.login(PASSWORD).await.unwrap();
        assert!(world.is_open(&session).await);
    }
}
