//! The device list: every device of an area as staff see it, revoking a device, and moving
//! it between villages. Every act is audited in the transaction that does it.

use super::accounts::Account;
use super::audit::{self, Entry, Outcome};
use super::device_tokens::FORMER_VILLAGE_DAYS;
use crate::clock::Clock;
use crate::storage::areas;
use crate::storage::db::{self, Db};
use schema::Message;
use schema::error_code::ErrorCode;
use schema::ids::AreaCode;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

/// The most villages one device may cover: a township's worth.
pub const MAX_VILLAGES: usize = 100;

/// Who does something, as the audit log names them.
#[derive(Debug, Clone)]
pub struct By {
    /// `staff:<username>`, or `operator` at the command line.
    pub actor: String,
    pub role: String,
    /// What `enrollment_code.created_by` keeps: the staff id, or `operator`.
    pub id: String,
    /// The network address, or `cli`.
    pub client: String,
}

impl By {
    pub fn staff(staff: &Account, client: &str) -> By {
        By {
            actor: staff.actor(),
            role: staff.role.as_str().to_owned(),
            id: staff.id.clone(),
            client: client.to_owned(),
        }
    }

    /// Someone with the database, at the server's command line.
    pub fn operator() -> By {
        By {
            actor: "operator".to_owned(),
            role: "operator".to_owned(),
            id: "operator".to_owned(),
            client: "cli".to_owned(),
        }
    }

    pub(super) fn entry(&self, action: &'static str, outcome: Outcome) -> Entry {
        Entry::new(action, outcome)
            .by(&self.actor, &self.role)
            .from(&self.client)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The request cannot be taken as it is; the code says which part (a form places the
    /// message beside that field).
    #[error("{}", .1.en)]
    Invalid(ErrorCode, Message),
    #[error("{}", .0.en)]
    NotFound(Message),
    /// The device is in a state that does not allow it (revoked).
    #[error("{}", .0.en)]
    Conflict(Message),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Checks a list of villages: at least one, each a village, each in the area list.
pub async fn checked_villages(
    db: &Db,
    villages: &[AreaCode],
) -> Result<Vec<AreaCode>, DeviceError> {
    let mut villages = villages.to_vec();
    villages.sort();
    villages.dedup();
    if villages.is_empty() || villages.len() > MAX_VILLAGES {
        return Err(DeviceError::Invalid(
            ErrorCode::BadRequest,
            Message::new(
                format!("请指定 1 到 {MAX_VILLAGES} 个村"),
                format!("Name between 1 and {MAX_VILLAGES} villages"),
            ),
        ));
    }
    if let Some(code) = villages
        .iter()
        .find(|v| v.level() != schema::ids::AreaLevel::Village)
    {
        return Err(DeviceError::Invalid(
            ErrorCode::BadRequest,
            Message::new(
                format!("“{code}”不是村级区划代码（12 位）"),
                format!("\"{code}\" is not a village code (12 digits)"),
            ),
        ));
    }
    let unknown = areas::unknown(db, &villages).await?;
    if !unknown.is_empty() {
        return Err(DeviceError::Invalid(
            ErrorCode::BadRequest,
            areas::unknown_message(&unknown),
        ));
    }
    Ok(villages)
}

pub(super) fn join(villages: &[AreaCode]) -> String {
    villages
        .iter()
        .map(AreaCode::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn split(villages: &str) -> Vec<AreaCode> {
    villages
        .split(',')
        .filter_map(|code| AreaCode::parse_village(code).ok())
        .collect()
}

/// A device as staff see it. Its token is never shown again.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceInfo {
    pub id: String,
    pub name: String,
    pub volunteer: String,
    pub villages: Vec<String>,
    /// Taken from it within the grace period: it may still upload households of these.
    pub former_villages: Vec<String>,
    /// Bound at enrollment; `None` for devices added at the command line.
    pub actor: Option<String>,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoke_reason: String,
    /// Whether the phone is told to erase its data at its next contact.
    pub wipe_requested: bool,
    /// When a revoked phone was first told so.
    pub wipe_sent_at: Option<i64>,
}

impl DeviceInfo {
    /// The villages a staff member must cover to manage the device: all of them.
    pub fn villages(&self) -> Vec<AreaCode> {
        self.villages
            .iter()
            .filter_map(|code| AreaCode::parse_village(code).ok())
            .collect()
    }
}

const DEVICE_COLUMNS: &str = "id, name, volunteer, actor, created_at, last_seen_at, revoked_at,
     revoked_by, revoke_reason, wipe_requested, wipe_sent_at";

async fn device_infos(
    db: &Db,
    clock: &Clock,
    rows: Vec<sqlx::any::AnyRow>,
) -> Result<Vec<DeviceInfo>, sqlx::Error> {
    let ids: Vec<String> = rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let since = clock.now_seconds() - FORMER_VILLAGE_DAYS * 86_400;
    let mut villages: HashMap<String, Vec<String>> = HashMap::new();
    let mut former: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(db::rows_per_statement(1) - 1) {
        let list = db.backend.placeholders(chunk.len());
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT device_id, village FROM device_village WHERE device_id IN ({list})
             ORDER BY village"
        )));
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&db.pool).await? {
            villages
                .entry(row.try_get("device_id")?)
                .or_default()
                .push(row.try_get("village")?);
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT device_id, village FROM device_village_removed
             WHERE device_id IN ({list}) AND removed_at > {} ORDER BY village",
            db.backend.parameter(chunk.len() + 1)
        )));
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.bind(since).fetch_all(&db.pool).await? {
            former
                .entry(row.try_get("device_id")?)
                .or_default()
                .push(row.try_get("village")?);
        }
    }
    rows.iter()
        .zip(ids)
        .map(|(row, id)| {
            Ok(DeviceInfo {
                name: row.try_get("name")?,
                volunteer: row.try_get("volunteer")?,
                villages: villages.remove(&id).unwrap_or_default(),
                former_villages: former.remove(&id).unwrap_or_default(),
                actor: row.try_get("actor")?,
                created_at: row.try_get("created_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
                revoked_at: row.try_get("revoked_at")?,
                revoked_by: row.try_get("revoked_by")?,
                revoke_reason: row.try_get("revoke_reason")?,
                wipe_requested: row.try_get::<i64, _>("wipe_requested")? != 0,
                wipe_sent_at: row.try_get("wipe_sent_at")?,
                id,
            })
        })
        .collect()
}

/// One device, revoked or not.
pub async fn device(db: &Db, clock: &Clock, id: &str) -> Result<Option<DeviceInfo>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM device WHERE id = $1"
    )))
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    Ok(device_infos(db, clock, rows).await?.pop())
}

/// Every device with a village in `area`, revoked ones included, newest first.
pub async fn list(db: &Db, clock: &Clock, area: &AreaCode) -> Result<Vec<DeviceInfo>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM device d WHERE EXISTS (
             SELECT 1 FROM device_village v
             WHERE v.device_id = d.id AND v.village LIKE $1)
         ORDER BY created_at DESC, id"
    )))
    // An area code is digits only, so it holds no LIKE wildcard.
    .bind(format!("{area}%"))
    .fetch_all(&db.pool)
    .await?;
    device_infos(db, clock, rows).await
}

fn no_device(id: &str) -> DeviceError {
    DeviceError::NotFound(Message::new(
        format!("没有设备“{id}”"),
        format!("No device \"{id}\""),
    ))
}

/// Revokes a device: its token stops working at once, for every server on the database.
/// With `wipe`, the phone is told at its next contact to erase what it holds. Revoking a
/// revoked device changes nothing but can still ask for the wipe.
pub async fn revoke(
    db: &Db,
    clock: &Clock,
    id: &str,
    wipe: bool,
    reason: &str,
    by: &By,
) -> Result<DeviceInfo, DeviceError> {
    let reason: String = reason.trim().chars().take(500).collect();
    let now = clock.now_seconds();
    let mut write = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE device SET
             revoked_at = COALESCE(revoked_at, $1),
             revoked_by = COALESCE(revoked_by, $2),
             revoke_reason = CASE WHEN revoked_at IS NULL THEN $3 ELSE revoke_reason END,
             wipe_requested = CASE WHEN $4 = 1 THEN 1 ELSE wipe_requested END
         WHERE id = $5",
    )
    .bind(now)
    .bind(&by.actor)
    .bind(&reason)
    .bind(i64::from(wipe))
    .bind(id)
    .execute(&mut *write.tx)
    .await?;
    if updated.rows_affected() == 0 {
        write.tx.rollback().await?;
        return Err(no_device(id));
    }
    let entry = by
        .entry("device.revoke", Outcome::Ok)
        .on(format!("device:{id}"))
        .saying(format!(
            "{}; reason: {reason}",
            if wipe { "wipe requested" } else { "no wipe" }
        ));
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    device(db, clock, id).await?.ok_or_else(|| no_device(id))
}

/// Gives a device a new set of villages. The phone learns them at its next sync: it
/// receives the added villages' households, and drops the removed villages' households once
/// their edits are on the server, which accepts uploads to them for
/// [`FORMER_VILLAGE_DAYS`] more days.
pub async fn set_villages(
    db: &Db,
    clock: &Clock,
    id: &str,
    villages: &[AreaCode],
    by: &By,
) -> Result<DeviceInfo, DeviceError> {
    let villages = checked_villages(db, villages).await?;
    let now = clock.now_seconds();
    // Read inside the write transaction: two reassignments at once must not each add and
    // remove against a list the other has changed.
    let mut write = db.begin_write().await?;
    let row = sqlx::query("SELECT revoked_at FROM device WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *write.tx)
        .await?;
    let Some(row) = row else {
        write.tx.rollback().await?;
        return Err(no_device(id));
    };
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        write.tx.rollback().await?;
        return Err(DeviceError::Conflict(Message::new(
            format!("设备“{id}”已被撤销，不能再分配村"),
            format!("Device \"{id}\" is revoked; it cannot be given villages"),
        )));
    }
    let before: Vec<AreaCode> =
        sqlx::query("SELECT village FROM device_village WHERE device_id = $1")
            .bind(id)
            .fetch_all(&mut *write.tx)
            .await?
            .iter()
            .filter_map(|row| row.try_get::<String, _>("village").ok())
            .filter_map(|code| AreaCode::parse_village(&code).ok())
            .collect();
    let removed: Vec<&AreaCode> = before.iter().filter(|v| !villages.contains(v)).collect();
    let added: Vec<&AreaCode> = villages.iter().filter(|v| !before.contains(v)).collect();
    for village in &removed {
        sqlx::query("DELETE FROM device_village WHERE device_id = $1 AND village = $2")
            .bind(id)
            .bind(village.as_str())
            .execute(&mut *write.tx)
            .await?;
        sqlx::query(
            "INSERT INTO device_village_removed (device_id, village, removed_at)
             VALUES ($1, $2, $3)
             ON CONFLICT (device_id, village) DO UPDATE SET removed_at = excluded.removed_at",
        )
        .bind(id)
        .bind(village.as_str())
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
    }
    for village in &added {
        sqlx::query("DELETE FROM device_village_removed WHERE device_id = $1 AND village = $2")
            .bind(id)
            .bind(village.as_str())
            .execute(&mut *write.tx)
            .await?;
    }
    let added: Vec<AreaCode> = added.into_iter().cloned().collect();
    insert_villages(&mut write.tx, id, &added).await?;
    let removed: Vec<AreaCode> = removed.into_iter().cloned().collect();
    let entry = by
        .entry("device.villages", Outcome::Ok)
        .on(format!("device:{id}"))
        .saying(format!(
            "now {}; added {}; removed {}",
            join(&villages),
            join(&added),
            join(&removed)
        ));
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    device(db, clock, id).await?.ok_or_else(|| no_device(id))
}

/// Gives a device villages, in one statement.
pub(super) async fn insert_villages(
    conn: &mut sqlx::AnyConnection,
    device_id: &str,
    villages: &[AreaCode],
) -> Result<(), sqlx::Error> {
    if villages.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO device_village (device_id, village) VALUES {}",
        crate::storage::db::Backend::of(conn).value_rows(villages.len(), 2)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for village in villages {
        query = query.bind(device_id).bind(village.as_str());
    }
    query.execute(conn).await?;
    Ok(())
}
