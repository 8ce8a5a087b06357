//! Device and operator tokens: created from the command line, stored only as hashes.
//!
//! Tokens are 32 random bytes, so a fast hash is enough: nobody can guess one, and a stolen
//! database does not reveal them.

use crate::db::Db;
use schema::ids::AreaCode;
use sqlx::Row;

/// A device allowed to sync, and the villages it may read and write.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub villages: Vec<AreaCode>,
}

impl Device {
    pub fn covers(&self, village: &str) -> bool {
        self.villages.iter().any(|v| v.as_str() == village)
    }
}

/// A staff member's token until accounts exist: the register and review queue of one area.
#[derive(Debug, Clone)]
pub struct Operator {
    pub id: String,
    /// Who holds the token, as review decisions name them.
    pub name: String,
    pub scope: AreaCode,
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random source failed");
    hex::encode(buffer)
}

fn token_hash(token: &str) -> String {
    blake3::hash(token.trim().as_bytes()).to_hex().to_string()
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Registers a device for some villages; returns its id and its token (shown once).
pub async fn add_device(
    db: &Db,
    name: &str,
    villages: &[AreaCode],
) -> Result<(String, String), sqlx::Error> {
    let id = random_hex(8);
    let token = format!("dsd_{}", random_hex(32));
    let mut tx = db.pool.begin().await?;
    sqlx::query("INSERT INTO device (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(token_hash(&token))
        .bind(now())
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

/// Creates an operator token for a staff member and an area; returns the token (shown once).
pub async fn add_operator(db: &Db, name: &str, scope: &AreaCode) -> Result<String, sqlx::Error> {
    let token = format!("dso_{}", random_hex(32));
    sqlx::query(
        "INSERT INTO operator_token (id, name, scope, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(random_hex(8))
    .bind(name)
    .bind(scope.as_str())
    .bind(token_hash(&token))
    .bind(now())
    .execute(&db.pool)
    .await?;
    Ok(token)
}

pub async fn device_by_token(db: &Db, token: &str) -> Result<Option<Device>, sqlx::Error> {
    let row =
        sqlx::query("SELECT id, name FROM device WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(token_hash(token))
            .fetch_optional(&db.pool)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    let villages =
        sqlx::query("SELECT village FROM device_village WHERE device_id = $1 ORDER BY village")
            .bind(&id)
            .fetch_all(&db.pool)
            .await?
            .iter()
            .filter_map(|row| row.try_get::<String, _>("village").ok())
            .filter_map(|code| AreaCode::parse_village(&code).ok())
            .collect();
    Ok(Some(Device {
        id,
        name: row.try_get("name")?,
        villages,
    }))
}

pub async fn operator_by_token(db: &Db, token: &str) -> Result<Option<Operator>, sqlx::Error> {
    let row = sqlx::query("SELECT id, name, scope FROM operator_token WHERE token_hash = $1")
        .bind(token_hash(token))
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let scope: String = row.try_get("scope")?;
    Ok(AreaCode::parse(&scope).ok().map(|scope| Operator {
        id: row.try_get("id").unwrap_or_default(),
        name: row.try_get("name").unwrap_or_default(),
        scope,
    }))
}
