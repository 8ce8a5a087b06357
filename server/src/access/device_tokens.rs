//! Device tokens: stored only as hashes.
//!
//! Tokens are 32 random bytes, so a fast hash is enough (`secrets`). A device gets its token by
//! enrolling (`enrollment.rs`), or from an operator with the database (`doorstep device add`).

use super::secrets::{random_hex, token_hash};
use crate::clock::Clock;
use crate::storage::db::Db;
use schema::ids::AreaCode;
use sqlx::Row;

/// How long a device may still upload households of a village taken from it. Edits made
/// offline before the reassignment reach the server on the phone's next sync, which a
/// month covers with room to spare; after that the village is no longer its business.
pub const FORMER_VILLAGE_DAYS: i64 = 30;

/// `last_seen_at` is written at most this often per device, so a busy phone does not add a
/// write to every sync.
const SEEN_EVERY_SECS: i64 = 600;

/// A device allowed to sync, and the villages it may write.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub name: String,
    /// The villages it may upload households of: those assigned to it, and those taken from
    /// it within the last [`FORMER_VILLAGE_DAYS`], so that edits made before a reassignment
    /// are not lost. The feed sends only the assigned ones (`device_village`).
    pub villages: Vec<AreaCode>,
}

impl Device {
    pub fn covers(&self, village: &str) -> bool {
        self.villages.iter().any(|v| v.as_str() == village)
    }
}

/// What a presented device token turns out to be.
#[derive(Debug, Clone)]
pub enum TokenCheck {
    Valid {
        device: Device,
        /// The villages assigned to it now: what the phone keeps.
        assigned: Vec<AreaCode>,
        /// The phone's Automerge actor, bound at enrollment. `None` for devices added with
        /// `doorstep device add`, which any install holding the token may use.
        actor: Option<String>,
    },
    /// The token was a device's, and staff revoked it. `wipe`: the phone is to erase its
    /// data.
    Revoked {
        device_id: String,
        wipe: bool,
    },
    Unknown,
}

/// A new device token, shown once.
pub(crate) fn new_token() -> String {
    format!("dsd_{}", random_hex(32))
}

/// Registers a device for some villages; returns its id and its token (shown once).
pub async fn add_device(
    db: &Db,
    clock: &Clock,
    name: &str,
    villages: &[AreaCode],
) -> Result<(String, String), sqlx::Error> {
    let id = random_hex(8);
    let token = new_token();
    let mut tx = db.pool.begin().await?;
    sqlx::query("INSERT INTO device (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(token_hash(&token))
        .bind(clock.now_seconds())
        .execute(&mut *tx)
        .await?;
    for village in villages {
        sqlx::query("INSERT INTO device_village (device_id, village) VALUES ($1, $2)")
            .bind(&id)
            .bind(village.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((id, token))
}

/// The device a token belongs to, if it may sync now.
pub async fn device_by_token(
    db: &Db,
    clock: &Clock,
    token: &str,
) -> Result<Option<Device>, sqlx::Error> {
    Ok(match check_token(db, clock, token).await? {
        TokenCheck::Valid { device, .. } => Some(device),
        TokenCheck::Revoked { .. } | TokenCheck::Unknown => None,
    })
}

/// Looks a token up, telling a revoked device's token from one never issued.
pub async fn check_token(db: &Db, clock: &Clock, token: &str) -> Result<TokenCheck, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, name, actor, revoked_at, wipe_requested, last_seen_at
         FROM device WHERE token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(TokenCheck::Unknown);
    };
    let id: String = row.try_get("id")?;
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Ok(TokenCheck::Revoked {
            device_id: id,
            wipe: row.try_get::<i64, _>("wipe_requested")? != 0,
        });
    }
    let now = clock.now_seconds();
    // The villages assigned now and those taken away lately, in one statement: every sync
    // asks.
    let mut assigned = Vec::new();
    let mut former = Vec::new();
    let villages = sqlx::query(
        "SELECT village, CAST(1 AS BIGINT) AS assigned FROM device_village WHERE device_id = $1
         UNION ALL
         SELECT village, CAST(0 AS BIGINT) FROM device_village_removed
         WHERE device_id = $1 AND removed_at > $2
         ORDER BY village",
    )
    .bind(&id)
    .bind(now - FORMER_VILLAGE_DAYS * 86_400)
    .fetch_all(&db.pool)
    .await?;
    for row in villages {
        let Ok(village) = AreaCode::parse_village(&row.try_get::<String, _>("village")?) else {
            continue;
        };
        if row.try_get::<i64, _>("assigned")? == 1 {
            assigned.push(village);
        } else {
            former.push(village);
        }
    }
    let last_seen: Option<i64> = row.try_get("last_seen_at")?;
    if last_seen.is_none_or(|at| now - at >= SEEN_EVERY_SECS) {
        sqlx::query("UPDATE device SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&id)
            .execute(&db.pool)
            .await?;
    }
    let mut villages = assigned.clone();
    villages.extend(former.into_iter().filter(|v| !assigned.contains(v)));
    Ok(TokenCheck::Valid {
        device: Device {
            id,
            name: row.try_get("name")?,
            villages,
        },
        assigned,
        actor: row.try_get("actor")?,
    })
}

/// The villages assigned to a device now.
pub async fn villages_of(db: &Db, device_id: &str) -> Result<Vec<AreaCode>, sqlx::Error> {
    Ok(
        sqlx::query("SELECT village FROM device_village WHERE device_id = $1 ORDER BY village")
            .bind(device_id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .filter_map(|row| row.try_get::<String, _>("village").ok())
            .filter_map(|code| AreaCode::parse_village(&code).ok())
            .collect(),
    )
}

/// Notes that a revoked device made contact and was told to erase its data; returns whether
/// this was the first time.
pub async fn revoked_device_told(
    db: &Db,
    clock: &Clock,
    device_id: &str,
) -> Result<bool, sqlx::Error> {
    let updated =
        sqlx::query("UPDATE device SET wipe_sent_at = $1 WHERE id = $2 AND wipe_sent_at IS NULL")
            .bind(clock.now_seconds())
            .bind(device_id)
            .execute(&db.pool)
            .await?;
    Ok(updated.rows_affected() > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::access::devices::{self, By};
    use jiff::{SignedDuration, Timestamp};

    /// A village taken from a device stays writable for the grace period, then not; the clock
    /// moves a month instead of the test waiting for it.
    #[tokio::test]
    async fn test_a_village_taken_from_a_device_is_writable_until_its_grace_period_ends() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::db::test_sqlite(dir.path()).await;
        crate::storage::areas::ensure_default(&db).await.unwrap();
        let (clock, hand) = Clock::manual(Timestamp::from_second(1_800_000_000).unwrap());
        let kept = AreaCode::parse_village("141124100201").unwrap();
        let taken = AreaCode::parse_village("141124100202").unwrap();
        let (id, token) = add_device(&db, &clock, "phone", &[kept.clone(), taken.clone()])
            .await
            .unwrap();
        devices::set_villages(
            &db,
            &clock,
            &id,
            std::slice::from_ref(&kept),
            &By::operator(),
        )
        .await
        .unwrap();
        let covers_taken = || async {
            match check_token(&db, &clock, &token).await.unwrap() {
                TokenCheck::Valid {
                    device, assigned, ..
                } => {
                    assert_eq!(
                        assigned,
                        std::slice::from_ref(&kept),
                        "the feed sends only the kept one"
                    );
                    device.covers(taken.as_str())
                }
                _ => panic!("the device may sync"),
            }
        };
        let listed_as_former = || async {
            let info = devices::device(&db, &clock, &id).await.unwrap().unwrap();
            info.former_villages == [taken.to_string()]
        };
        assert!(covers_taken().await && listed_as_former().await);
        hand.advance(SignedDuration::from_secs(FORMER_VILLAGE_DAYS * 86_400 - 1));
        assert!(covers_taken().await && listed_as_former().await);
        hand.advance(SignedDuration::from_secs(1));
        assert!(!covers_taken().await, "the grace period is over");
        assert!(!listed_as_former().await);
    }
}
