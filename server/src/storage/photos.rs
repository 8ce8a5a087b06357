//! The photos the server holds and the chunks of unfinished uploads, as rows (migration
//! 0014). The bytes themselves are in the blob store (`storage::blobs`); a `photo` row is
//! written only once both its blobs are, so a row never points at a missing photo.

use crate::storage::db::Db;
use schema::photo::{PhotoHash, PhotoKind};
use sqlx::Row;

/// A photo the server holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    pub hash: PhotoHash,
    pub kind: PhotoKind,
    pub bytes: i64,
    pub thumb_bytes: i64,
    pub county: String,
    pub village: String,
    pub household: String,
    pub stored_at: i64,
    /// Whether both blobs are sealed by the vault.
    pub sealed: bool,
}

fn stored_of(row: &sqlx::any::AnyRow) -> Result<StoredPhoto, sqlx::Error> {
    let text = |name: &str| row.try_get::<String, _>(name);
    let hash = text("hash")?;
    let kind = text("kind")?;
    let corrupt = |what: &str| sqlx::Error::Decode(format!("photo row: bad {what}").into());
    Ok(StoredPhoto {
        hash: PhotoHash::parse(&hash).ok_or_else(|| corrupt("hash"))?,
        // An unknown kind is read as sensitive: it is shown to no one who may not see it.
        kind: PhotoKind::parse(&kind).unwrap_or(PhotoKind::IdCard),
        bytes: row.try_get("bytes")?,
        thumb_bytes: row.try_get("thumb_bytes")?,
        county: text("county")?,
        village: text("village")?,
        household: text("household")?,
        stored_at: row.try_get("stored_at")?,
        sealed: row.try_get::<i64, _>("sealed")? != 0,
    })
}

/// The stored photo with this hash, if the server holds it.
pub async fn stored(db: &Db, hash: &PhotoHash) -> Result<Option<StoredPhoto>, sqlx::Error> {
    let row = sqlx::query("SELECT * FROM photo WHERE hash = $1")
        .bind(hash.as_str())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(stored_of).transpose()
}

/// The stored photos among `hashes`.
pub async fn stored_among(db: &Db, hashes: &[PhotoHash]) -> Result<Vec<StoredPhoto>, sqlx::Error> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT * FROM photo WHERE hash IN ({})",
        db.backend.placeholders(hashes.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for hash in hashes {
        query = query.bind(hash.as_str());
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter().map(stored_of).collect()
}

/// Records a photo whose blobs are stored. A photo stored already (another phone finished
/// the same photo first) is kept as it is.
pub async fn record(db: &Db, photo: &StoredPhoto) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO photo
             (hash, kind, bytes, thumb_bytes, county, village, household, stored_at, sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(photo.hash.as_str())
    .bind(photo.kind.as_str())
    .bind(photo.bytes)
    .bind(photo.thumb_bytes)
    .bind(&photo.county)
    .bind(&photo.village)
    .bind(&photo.household)
    .bind(photo.stored_at)
    .bind(i64::from(photo.sealed))
    .execute(&db.pool)
    .await?;
    Ok(())
}

// ─── Unfinished uploads ────────────────────────────────────────────────────────────────────

/// An unfinished upload of one device: the size it announced and the bytes held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staged {
    pub size: i64,
    pub received: i64,
}

/// What `device` has sent of `hash` so far, if anything.
pub async fn staged(
    db: &Db,
    device: &str,
    hash: &PhotoHash,
) -> Result<Option<Staged>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT MAX(size) AS size, MIN(size) AS smallest, CAST(SUM(length) AS BIGINT) AS received, COUNT(*) AS chunks
         FROM photo_chunk WHERE device_id = $1 AND hash = $2",
    )
    .bind(device)
    .bind(hash.as_str())
    .fetch_one(&db.pool)
    .await?;
    if row.try_get::<i64, _>("chunks")? == 0 {
        return Ok(None);
    }
    let size: i64 = row.try_get("size")?;
    let smallest: i64 = row.try_get("smallest")?;
    // Chunks announcing different sizes are no one upload: start again.
    if size != smallest {
        drop_staged(db, device, hash).await?;
        return Ok(None);
    }
    Ok(Some(Staged {
        size,
        received: row.try_get("received")?,
    }))
}

/// One chunk, as stored (sealed).
#[derive(Debug)]
pub struct Chunk<'a> {
    pub device: &'a str,
    pub hash: &'a PhotoHash,
    pub start_at: i64,
    pub size: i64,
    pub length: i64,
    pub sealed_bytes: Vec<u8>,
    pub received_at: i64,
}

/// Keeps a chunk. `false` when a chunk at the same place is there already (the same chunk
/// sent twice at once): the caller answers with what is held.
pub async fn stage(db: &Db, chunk: Chunk<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO photo_chunk (device_id, hash, start_at, size, length, bytes, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (device_id, hash, start_at) DO NOTHING",
    )
    .bind(chunk.device)
    .bind(chunk.hash.as_str())
    .bind(chunk.start_at)
    .bind(chunk.size)
    .bind(chunk.length)
    .bind(chunk.sealed_bytes)
    .bind(chunk.received_at)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The sealed chunks of `device`'s upload of `hash`, in order.
pub async fn staged_chunks(
    db: &Db,
    device: &str,
    hash: &PhotoHash,
) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT bytes FROM photo_chunk WHERE device_id = $1 AND hash = $2 ORDER BY start_at",
    )
    .bind(device)
    .bind(hash.as_str())
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|row| row.try_get("bytes")).collect()
}

/// Forgets `device`'s upload of `hash`: it completed, or failed its check.
pub async fn drop_staged(db: &Db, device: &str, hash: &PhotoHash) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM photo_chunk WHERE device_id = $1 AND hash = $2")
        .bind(device)
        .bind(hash.as_str())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Forgets every upload whose chunk came before `before` and none since.
pub async fn drop_abandoned(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM photo_chunk WHERE (device_id, hash) IN (
             SELECT device_id, hash FROM photo_chunk
             GROUP BY device_id, hash HAVING MAX(received_at) < $1)",
    )
    .bind(before)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

// ─── Storage per county ────────────────────────────────────────────────────────────────────

/// What one county's photos take.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CountyUsage {
    pub county: String,
    pub photos: i64,
    /// The photos' bytes, as the phones made them.
    pub bytes: i64,
    /// The thumbnails' bytes.
    pub thumb_bytes: i64,
    /// Of the photos, those sealed (bank cards, ID cards).
    pub sealed: i64,
}

/// Storage per county of the photos of households within `area` (any level: a township
/// counts only its own villages' photos).
pub async fn usage(db: &Db, area: &str) -> Result<Vec<CountyUsage>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT county, COUNT(*) AS photos, CAST(SUM(bytes) AS BIGINT) AS bytes,
                CAST(SUM(thumb_bytes) AS BIGINT) AS thumb_bytes,
                CAST(SUM(sealed) AS BIGINT) AS sealed
         FROM photo WHERE village LIKE $1 GROUP BY county ORDER BY county",
    )
    .bind(format!("{area}%"))
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CountyUsage {
                county: row.try_get("county")?,
                photos: row.try_get("photos")?,
                bytes: row.try_get("bytes")?,
                thumb_bytes: row.try_get("thumb_bytes")?,
                sealed: row.try_get("sealed")?,
            })
        })
        .collect()
}
