//! Phones join with a one-time enrollment code (`enrollment_code`): staff make one for a
//! volunteer and their villages, and the phone redeems it for a device token. A code works
//! once, until it expires (72 hours unless staff choose otherwise), and redeeming it binds the
//! new device token to the phone's Automerge actor.
//!
//! Every act here is audited in the transaction that does it, and every refused redemption
//! on its own, so the log says who enrolled which device, and who tried a spent code.

use super::audit::{self, Entry, Outcome};
use super::device_tokens::new_token;
use super::devices::{By, DeviceError, checked_villages, insert_villages, join, split};
use super::enrollment_code::{code_hash, generate_code, normalize_code};
use super::secrets::{random_hex, token_hash};
use crate::clock::Clock;
use crate::storage::db::Db;
use schema::Message;
use schema::error_code::ErrorCode;
use schema::ids::AreaCode;
use serde::Serialize;
use sqlx::Row;

/// How long a code works unless its maker says otherwise.
pub const DEFAULT_VALID_HOURS: i64 = 72;
/// The longest a code may work: an unused code is a standing invitation.
pub const MAX_VALID_HOURS: i64 = 14 * 24;
const MAX_NAME_CHARS: usize = 100;

/// A code to make.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub volunteer: String,
    pub villages: Vec<AreaCode>,
    /// Hours until it expires; [`DEFAULT_VALID_HOURS`] when `None`.
    pub valid_hours: Option<i64>,
}

/// A code just made: the only time it is seen in the clear.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub id: String,
    /// `XXXX-XXXX-XXXX-XXXX`.
    pub code: String,
    pub volunteer: String,
    pub villages: Vec<String>,
    pub expires_at: i64,
}

/// A stored code, looked up by the code itself.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub id: String,
    pub volunteer: String,
    pub villages: Vec<AreaCode>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl StoredCode {
    /// Whether it can still be redeemed.
    pub fn usable(&self, now: i64) -> bool {
        self.used_at.is_none() && self.expires_at > now
    }
}

/// A volunteer's name, trimmed; refused when empty or too long.
fn clean_name(name: &str, what: Message) -> Result<String, DeviceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(DeviceError::Invalid(ErrorCode::InvalidVolunteer, what));
    }
    Ok(name.to_owned())
}

/// Makes a one-time code for a volunteer and their villages.
pub async fn create_code(
    db: &Db,
    clock: &Clock,
    new: NewCode,
    by: &By,
) -> Result<Issued, DeviceError> {
    let volunteer = clean_name(
        &new.volunteer,
        Message::new(
            format!("请填写志愿者姓名（最多 {MAX_NAME_CHARS} 字）"),
            format!("The volunteer's name is required (at most {MAX_NAME_CHARS} characters)"),
        ),
    )?;
    let villages = checked_villages(db, &new.villages).await?;
    let hours = new.valid_hours.unwrap_or(DEFAULT_VALID_HOURS);
    if !(1..=MAX_VALID_HOURS).contains(&hours) {
        return Err(DeviceError::Invalid(
            ErrorCode::InvalidExpiry,
            Message::new(
                format!("有效期应为 1 到 {MAX_VALID_HOURS} 小时"),
                format!("A code may be valid for 1 to {MAX_VALID_HOURS} hours"),
            ),
        ));
    }
    let code = generate_code();
    let canonical = normalize_code(&code).expect("a generated code is canonical");
    let id = random_hex(8);
    let created_at = clock.now_seconds();
    let expires_at = created_at + hours * 3600;
    let mut write = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO enrollment_code
             (id, code_hash, volunteer, villages, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(code_hash(&canonical))
    .bind(&volunteer)
    .bind(join(&villages))
    .bind(&by.id)
    .bind(created_at)
    .bind(expires_at)
    .execute(&mut *write.tx)
    .await?;
    let entry = by
        .entry("device.enroll.create", Outcome::Ok)
        .on(&id)
        .saying(format!(
            "volunteer {volunteer}; villages {}; expires at {expires_at}",
            join(&villages)
        ));
    audit::record_in(&mut write.tx, entry, created_at).await?;
    write.commit().await?;
    Ok(Issued {
        id,
        code,
        volunteer,
        villages: villages.iter().map(ToString::to_string).collect(),
        expires_at,
    })
}

/// A code's row, by the code as typed.
pub async fn find_code(db: &Db, code: &str) -> Result<Option<StoredCode>, sqlx::Error> {
    let Some(canonical) = normalize_code(code) else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT id, volunteer, villages, expires_at, used_at FROM enrollment_code
         WHERE code_hash = $1",
    )
    .bind(code_hash(&canonical))
    .fetch_optional(&db.pool)
    .await?;
    row.map(|row| {
        Ok(StoredCode {
            id: row.try_get("id")?,
            volunteer: row.try_get("volunteer")?,
            villages: split(&row.try_get::<String, _>("villages")?),
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
        })
    })
    .transpose()
}

/// What the phone asks with.
#[derive(Debug, Clone)]
pub struct Redeem<'a> {
    pub code: &'a str,
    /// The phone's Automerge actor, hex.
    pub actor: &'a str,
    pub device_name: Option<&'a str>,
    /// The phone's network address, for the audit log.
    pub client: &'a str,
}

/// A device just enrolled; its token is shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolled {
    pub device_id: String,
    pub device_token: String,
    pub volunteer: String,
    pub villages: Vec<String>,
}

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemRefused {
    /// Not 16 base32 characters, or the actor is not hex.
    Malformed,
    Unknown,
    Expired,
    Used,
    /// The phone's actor already belongs to a live device.
    ActorInUse,
}

impl RedeemRefused {
    fn detail(self) -> &'static str {
        match self {
            RedeemRefused::Malformed => "malformed code or actor",
            RedeemRefused::Unknown => "unknown code",
            RedeemRefused::Expired => "expired code",
            RedeemRefused::Used => "code already used",
            RedeemRefused::ActorInUse => "the phone's actor belongs to a live device",
        }
    }
}

/// An actor as Automerge prints it: hex, 1 to 32 bytes; lower-cased, as Automerge prints it
/// and the change table holds it.
pub(crate) fn clean_actor(actor: &str) -> Option<String> {
    let actor = actor.trim().to_ascii_lowercase();
    let valid = (2..=64).contains(&actor.len())
        && actor.len().is_multiple_of(2)
        && actor.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then_some(actor)
}

/// Exchanges a code for a device token, once: the code is marked used and the device made
/// in one transaction, so two phones racing with one code get one device between them. A
/// refusal consumes nothing, and every attempt is audited.
pub async fn redeem(
    db: &Db,
    clock: &Clock,
    request: Redeem<'_>,
) -> Result<Result<Enrolled, RedeemRefused>, sqlx::Error> {
    let now = clock.now_seconds();
    let refused = |code_id: &str, refusal: RedeemRefused| {
        Entry::new("device.enroll", Outcome::Denied)
            .on(code_id)
            .from(request.client)
            .saying(refusal.detail())
    };
    let (Some(canonical), Some(actor)) = (normalize_code(request.code), clean_actor(request.actor))
    else {
        audit::record(db, refused("", RedeemRefused::Malformed), now).await?;
        return Ok(Err(RedeemRefused::Malformed));
    };
    let mut write = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT id, volunteer, villages, expires_at, used_at FROM enrollment_code
         WHERE code_hash = $1",
    )
    .bind(code_hash(&canonical))
    .fetch_optional(&mut *write.tx)
    .await?;
    let decided = match row {
        None => Err(("".to_owned(), RedeemRefused::Unknown)),
        Some(row) => {
            let id: String = row.try_get("id")?;
            let taken =
                sqlx::query("SELECT id FROM device WHERE actor = $1 AND revoked_at IS NULL")
                    .bind(&actor)
                    .fetch_optional(&mut *write.tx)
                    .await?
                    .is_some();
            if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
                Err((id, RedeemRefused::Used))
            } else if row.try_get::<i64, _>("expires_at")? <= now {
                Err((id, RedeemRefused::Expired))
            } else if taken {
                Err((id, RedeemRefused::ActorInUse))
            } else {
                Ok((
                    id,
                    row.try_get::<String, _>("volunteer")?,
                    split(&row.try_get::<String, _>("villages")?),
                ))
            }
        }
    };
    let (code_id, volunteer, villages) = match decided {
        Ok(found) => found,
        Err((code_id, refusal)) => {
            write.tx.rollback().await?;
            audit::record(db, refused(&code_id, refusal), now).await?;
            return Ok(Err(refusal));
        }
    };
    let device_id = random_hex(8);
    let token = new_token();
    let name = request
        .device_name
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| name.chars().take(MAX_NAME_CHARS).collect::<String>())
        .unwrap_or_else(|| format!("phone of {volunteer}"));
    sqlx::query(
        "INSERT INTO device (id, name, token_hash, created_at, actor, volunteer)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&device_id)
    .bind(&name)
    .bind(token_hash(&token))
    .bind(now)
    .bind(&actor)
    .bind(&volunteer)
    .execute(&mut *write.tx)
    .await?;
    insert_villages(&mut write.tx, &device_id, &villages).await?;
    let used = sqlx::query(
        "UPDATE enrollment_code SET used_at = $1, device_id = $2 WHERE id = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&device_id)
    .bind(&code_id)
    .execute(&mut *write.tx)
    .await?;
    if used.rows_affected() != 1 {
        // Only possible if the write order were broken; refuse rather than enrol twice.
        write.tx.rollback().await?;
        audit::record(db, refused(&code_id, RedeemRefused::Used), now).await?;
        return Ok(Err(RedeemRefused::Used));
    }
    let entry = Entry::new("device.enroll", Outcome::Ok)
        .by(format!("device:{device_id}"), "device")
        .on(&code_id)
        .from(request.client)
        .saying(format!(
            "volunteer {volunteer}; villages {}; actor {actor}",
            join(&villages)
        ));
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    Ok(Ok(Enrolled {
        device_id,
        device_token: token,
        volunteer,
        villages: villages.iter().map(ToString::to_string).collect(),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_a_code_works_once_and_until_it_expires() {
        let fresh = StoredCode {
            id: "c".into(),
            volunteer: "李娜".into(),
            villages: vec![],
            expires_at: 1_000,
            used_at: None,
        };
        assert!(fresh.usable(999));
        assert!(!fresh.usable(1_000), "expired at its expiry second");
        let used = StoredCode {
            used_at: Some(10),
            ..fresh
        };
        assert!(!used.usable(11));
    }

    #[test]
    fn test_an_actor_must_be_hex() {
        assert_eq!(clean_actor("0A1b").as_deref(), Some("0a1b"));
        assert_eq!(clean_actor(""), None);
        assert_eq!(clean_actor("abc"), None);
        assert_eq!(clean_actor("zz"), None);
        assert_eq!(clean_actor(&"ab".repeat(33)), None);
    }

    /// Two codes made at once, on a real database; the clock moves instead of the test
    /// waiting three days.
    #[tokio::test]
    async fn test_a_code_expires_seventy_two_hours_after_it_was_made() {
        use jiff::{SignedDuration, Timestamp};
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::db::test_sqlite(dir.path()).await;
        crate::storage::areas::ensure_default(&db).await.unwrap();
        let (clock, hand) = Clock::manual(Timestamp::from_second(1_800_000_000).unwrap());
        let new = || NewCode {
            volunteer: "李娜".to_owned(),
            villages: vec![AreaCode::parse_village("141124100201").unwrap()],
            valid_hours: None,
        };
        let first = create_code(&db, &clock, new(), &By::operator())
            .await
            .unwrap();
        let second = create_code(&db, &clock, new(), &By::operator())
            .await
            .unwrap();
        assert_eq!(first.expires_at, clock.now_seconds() + 72 * 3600);
        hand.advance(SignedDuration::from_secs(72 * 3600 - 1));
        let redeemed = redeem_code(&db, &clock, &first.code, "0a0a").await;
        assert!(redeemed.is_ok(), "a second before it expires");
        hand.advance(SignedDuration::from_secs(1));
        let redeemed = redeem_code(&db, &clock, &second.code, "0b0b").await;
        assert_eq!(redeemed.unwrap_err(), RedeemRefused::Expired);
    }

    async fn redeem_code(
        db: &Db,
        clock: &Clock,
        code: &str,
        actor: &str,
    ) -> Result<Enrolled, RedeemRefused> {
        let request = Redeem {
            code,
            actor,
            device_name: None,
            client: "192.0.2.1",
        };
        redeem(db, clock, request).await.unwrap()
    }
}
