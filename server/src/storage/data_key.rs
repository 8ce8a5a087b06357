//! The data key tied to its database: every command that opens the database checks that its
//! key ring is the one the database's data were sealed with, before it seals or opens
//! anything.
//!
//! At the first start, the database keeps one key check row (`data_key_check`): a known text
//! sealed under the ring's current key, a keyed hash under the lookup key (which derives
//! from the ring's oldest key), and where the key came from. A later ring passes if it holds
//! the key that sealed the check and hashes ID numbers alike; rotation (a new first key, the
//! old ones kept) passes. Anything else is refused with a message that names where this
//! ring came from and where the right one came from, instead of sealing with a key nobody
//! will have next time.
//!
//! A key file is made under `--data` only while the database holds no check and nothing
//! sealed: a command run from another directory against a PostgreSQL database that has its
//! key elsewhere is refused, not handed a fresh key. A database sealed before the check
//! existed (before migration 0007) gets its check at the first start whose ring opens one of
//! its sealed values.

use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::vault::{KeySource, Vault, VaultError};
use schema::Message;
use sqlx::Row;
use std::path::PathBuf;

/// The text the key check seals.
const CHECK_TEXT: &[u8] = b"doorstep data key check";

/// Where the key ring is configured: `DOORSTEP_DATA_KEY`, `--data-key-file`, or else the key
/// file under the data directory.
#[derive(Debug, Clone)]
pub struct KeyConfig {
    pub data_dir: PathBuf,
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
}

/// Why no key ring was handed out.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The ring is not this database's, is missing, or cannot be read.
    #[error("{}\n{}", .0.zh, .0.en)]
    Refused(Message),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The database's key check, as stored.
#[derive(Debug)]
struct Check {
    key_id: String,
    sealed: Vec<u8>,
    lookup_check: String,
    source: KeySource,
}

/// What the database tells of the key its data need.
enum Expected {
    /// Its key check.
    Check(Check),
    /// No check yet, but a value sealed before checks existed.
    Sealed(Vec<u8>),
    /// Nothing sealed yet: any ring will do, and may be made.
    Nothing,
}

/// The database's key ring: loaded from configuration, checked against the database, and
/// recorded as the database's at its first start, at the clock's time.
pub async fn open(db: &Db, config: &KeyConfig, clock: &Clock) -> Result<Vault, KeyError> {
    let expected = match read_check(db).await? {
        Some(check) => Expected::Check(check),
        None => match sealed_sample(db).await? {
            Some(sealed) => Expected::Sealed(sealed),
            None => Expected::Nothing,
        },
    };
    let may_create = matches!(expected, Expected::Nothing);
    let (vault, source) = Vault::from_config(
        &config.data_dir,
        config.key.clone(),
        config.key_file.clone(),
        may_create,
    )
    .map_err(|err| not_loaded(err, &expected))?;
    let checked = match &expected {
        Expected::Check(check) => verify(&vault, &source, check),
        Expected::Sealed(sealed) => verify_sealed(&vault, &source, sealed),
        Expected::Nothing => Ok(()),
    };
    let recorded = match checked {
        Ok(()) if !matches!(expected, Expected::Check(_)) => {
            record(db, &vault, &source, clock.now_seconds()).await
        }
        other => other,
    };
    if recorded.is_err()
        && let KeySource::DataDirectory { path, made: true } = &source
    {
        // A key made by this start that lost to another's seals nothing: it goes, so the
        // directory holds no key that is not the database's.
        let _ = std::fs::remove_file(path);
    }
    recorded.map(|()| vault)
}

/// Stores this ring's check if the database has none; then checks the stored one, which is
/// another server's if it started at the same moment with another key.
async fn record(db: &Db, vault: &Vault, source: &KeySource, now: i64) -> Result<(), KeyError> {
    let (kind, path) = source.stored();
    sqlx::query(
        "INSERT INTO data_key_check
             (id, key_id, sealed, lookup_check, source_kind, source_path, created_at)
         VALUES (1, $1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(vault.current_key_id().to_owned())
    .bind(vault.seal(CHECK_TEXT))
    .bind(vault.lookup_check())
    .bind(kind)
    .bind(path)
    .bind(now)
    .execute(&db.pool)
    .await?;
    match read_check(db).await? {
        Some(check) => verify(vault, source, &check),
        None => Err(KeyError::Database(sqlx::Error::RowNotFound)),
    }
}

async fn read_check(db: &Db) -> Result<Option<Check>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT key_id, sealed, lookup_check, source_kind, source_path
         FROM data_key_check WHERE id = 1",
    )
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let kind: String = row.try_get("source_kind")?;
    Ok(Some(Check {
        key_id: row.try_get("key_id")?,
        sealed: row.try_get("sealed")?,
        lookup_check: row.try_get("lookup_check")?,
        source: KeySource::from_stored(&kind, row.try_get("source_path")?),
    }))
}

/// A value sealed before the database kept a key check: a change row, or else an admin's
/// TOTP secret (which `admin init` seals before any phone has synced).
async fn sealed_sample(db: &Db) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let change = sqlx::query("SELECT bytes FROM change ORDER BY feed LIMIT 1")
        .fetch_optional(&db.pool)
        .await?;
    if let Some(row) = change {
        return Ok(Some(row.try_get("bytes")?));
    }
    let secret = sqlx::query("SELECT totp_secret FROM staff WHERE totp_secret IS NOT NULL LIMIT 1")
        .fetch_optional(&db.pool)
        .await?;
    Ok(match secret {
        // Stored as hex; a value that is not hex cannot be opened by any ring, and says so.
        Some(row) => {
            Some(hex::decode(row.try_get::<String, _>("totp_secret")?).unwrap_or_default())
        }
        None => None,
    })
}

fn verify(vault: &Vault, source: &KeySource, check: &Check) -> Result<(), KeyError> {
    let opens = vault
        .open(&check.sealed)
        .is_ok_and(|text| text == CHECK_TEXT);
    if !opens {
        return Err(KeyError::Refused(mismatch(vault, source, check)));
    }
    if vault.lookup_check() != check.lookup_check {
        let source = source.describe();
        let first = check.source.describe();
        return Err(KeyError::Refused(Message::new(
            format!(
                "数据密钥与数据库不符：{}中的密钥环含有密钥 {}，但其最后一把（最旧的）密钥不是该数据库的，身份证号查找将失效。\
                 请把首次启动时的密钥（来自{}）保留为密钥环的最后一行。",
                source.zh, check.key_id, first.zh
            ),
            format!(
                "The data key does not match this database: the ring from {} holds key {}, but its last (oldest) key is not the database's, so ID-number lookup would fail. \
                 Keep the key of the first start (from {}) as the ring's last line.",
                source.en, check.key_id, first.en
            ),
        )));
    }
    Ok(())
}

fn mismatch(vault: &Vault, source: &KeySource, check: &Check) -> Message {
    let ids = vault.key_ids().join(", ");
    let source = source.describe();
    let first = check.source.describe();
    Message::new(
        format!(
            "数据密钥与数据库不符：给出的密钥（{ids}）来自{}，但该数据库的数据是用密钥 {} 加密的，\
             该密钥在首次启动时来自{}。请用 DOORSTEP_DATA_KEY 或 --data-key-file 给出那把密钥\
             （轮换后也须保留它）。",
            source.zh, check.key_id, first.zh
        ),
        format!(
            "The data key does not match this database: the key ring given ({ids}) comes from {}, but this database's data are sealed with key {}, \
             which at the first start came from {}. Give that key with DOORSTEP_DATA_KEY or --data-key-file (keep it after a rotation too).",
            source.en, check.key_id, first.en
        ),
    )
}

fn verify_sealed(vault: &Vault, source: &KeySource, sealed: &[u8]) -> Result<(), KeyError> {
    match vault.open(sealed) {
        Ok(_) => Ok(()),
        Err(err) => {
            let source = source.describe();
            Err(KeyError::Refused(Message::new(
                format!(
                    "数据密钥与数据库不符：来自{}的密钥打不开该数据库已加密的数据（{err}）。\
                     请用 DOORSTEP_DATA_KEY 或 --data-key-file 给出加密这些数据的密钥。",
                    source.zh
                ),
                format!(
                    "The data key does not match this database: the key from {} cannot open its sealed data ({err}). \
                     Give the key they were sealed with, with DOORSTEP_DATA_KEY or --data-key-file.",
                    source.en
                ),
            )))
        }
    }
}

/// The refusal when the ring could not be loaded at all.
fn not_loaded(err: VaultError, expected: &Expected) -> KeyError {
    let VaultError::NoKeyFile(path) = &err else {
        return KeyError::Refused(Message::new(
            format!("无法读取数据密钥：{err}"),
            format!("Cannot load the data key: {err}"),
        ));
    };
    let (zh, en) = match expected {
        Expected::Check(check) => {
            let first = check.source.describe();
            (
                format!(
                    "该数据库的数据是用密钥 {} 加密的，该密钥在首次启动时来自{}",
                    check.key_id, first.zh
                ),
                format!(
                    "this database's data are sealed with key {}, which at the first start came from {}",
                    check.key_id, first.en
                ),
            )
        }
        Expected::Sealed(_) | Expected::Nothing => (
            "该数据库已有加密数据（其密钥校验值尚未记录）".to_owned(),
            "this database holds sealed data (made before it recorded a key check)".to_owned(),
        ),
    };
    KeyError::Refused(Message::new(
        format!(
            "没有数据密钥：{} 不存在，而{zh}。不会为已有加密数据的数据库新建密钥；\
             请用 DOORSTEP_DATA_KEY 或 --data-key-file 给出该密钥，或用 --data 指向原来的数据目录。",
            path.display()
        ),
        format!(
            "No data key: {} does not exist, and {en}. No new key is made for a database that holds sealed data; \
             give that key with DOORSTEP_DATA_KEY or --data-key-file, or point --data at the original data directory.",
            path.display()
        ),
    ))
}
