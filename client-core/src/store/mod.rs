//! The local store of one device and the recording API a phone UI calls.
//!
//! Every method is safe to call from several threads at once: the store is `Send + Sync`,
//! and one lock orders the edits. An edit returns only after its SQLite transaction has
//! committed, so whatever the API acknowledged survives `kill -9` and power loss.
//!
//! The store is split by job: `device` (who this install is, its settings), `recording`
//! (the edits a volunteer makes, and opening a household), `edit` (how one edit becomes a
//! durable change), `index` (the household list and its rows), `exchange` (what is sent to
//! and received from elsewhere), `confirmation` (what the server is known to hold),
//! `documents` (documents in memory and their rows on disk) and `derived` (a household's
//! view and issues, kept up to date edit by edit).

mod confirmation;
mod derived;
mod device;
mod documents;
mod edit;
mod exchange;
mod index;
mod photos;
mod recording;
mod tasks;
#[cfg(test)]
mod tests;

pub use tasks::TodoItem;

use crate::db;
use crate::error::{Error, Result};
use automerge::ActorId;
use device::decode_secret;
use documents::{CACHE_CAPACITY, Loaded};
use lru::LruCache;
pub use photos::{Held, PendingPhoto, PhotoSummary, UploadState};
use rusqlite::Connection;
use schema::Message;
use schema::ids::{AreaCode, HouseholdId, MemberKeySecret};
use schema::layout::{Conflict, HouseholdView};
use schema::validation::Issue;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The database file inside a store directory.
pub const DB_FILE: &str = "doorstep-field.db";

/// Who this device is and who uses it, written into every household it edits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceProfile {
    pub device: String,
    pub volunteer: String,
}

/// A GPS point in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GpsPoint {
    pub lat: f64,
    pub lon: f64,
}

/// One line of the household list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HouseholdSummary {
    pub id: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    /// Members who live in the household: not those who moved out, died or were entered by
    /// mistake, who stay in the household as history.
    pub member_count: i64,
    pub error_count: i64,
    pub warning_count: i64,
    pub conflict_count: i64,
    pub unsynced_changes: i64,
    pub updated_at: i64,
}

/// An opened household: every field, what fails the rules, and what devices disagree on.
#[derive(Debug, Clone, Serialize)]
pub struct HouseholdDetail {
    pub id: String,
    #[serde(flatten)]
    pub view: HouseholdView,
    pub issues: Vec<Issue>,
    pub conflicts: Vec<Conflict>,
    pub unsynced_changes: i64,
    /// Its visit tasks (layout 3), open and closed, as `schema::tasks` reads them. In JSON
    /// `visit_tasks`, beside the view's raw `tasks` records.
    #[serde(rename = "visit_tasks")]
    pub tasks: Vec<schema::tasks::Task>,
}

/// What the household list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Part of a name, ID number or household number.
    pub text: Option<String>,
    pub village: Option<AreaCode>,
    pub limit: Option<u32>,
    pub offset: u32,
}

/// The local store of one device.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    /// Whether a sync is running on this store. Two at once would upload the same changes
    /// and race on the cursor; the second is refused rather than queued, so a UI can say so.
    syncing: AtomicBool,
}

/// A sync's hold on its store; the next sync may start once it is dropped.
#[derive(Debug)]
pub struct SyncRun<'a> {
    store: &'a Store,
}

impl Drop for SyncRun<'_> {
    fn drop(&mut self) {
        self.store.syncing.store(false, Ordering::Release);
    }
}

#[derive(Debug)]
struct Inner {
    conn: Connection,
    cache: LruCache<String, Loaded>,
    actor: ActorId,
    profile: DeviceProfile,
    villages: Vec<AreaCode>,
    member_secret: MemberKeySecret,
}

impl Store {
    /// Opens the store in `dir`, creating it (and this install's Automerge actor) if needed.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        let conn = db::open(&dir.join(DB_FILE))?;
        let actor = match db::get_meta(&conn, "actor")? {
            Some(hex) => ActorId::try_from(hex.as_str()).map_err(|_| {
                Error::InvalidInput(Message::new(
                    "本机标识损坏",
                    "The device's actor id is damaged",
                ))
            })?,
            None => {
                let actor = ActorId::random();
                db::set_meta(&conn, "actor", &actor.to_hex_string())?;
                actor
            }
        };
        let profile = DeviceProfile {
            device: db::get_meta(&conn, "device")?
                .unwrap_or_else(|| format!("device-{}", &actor.to_hex_string()[..8])),
            volunteer: db::get_meta(&conn, "volunteer")?.unwrap_or_default(),
        };
        let villages = db::get_meta(&conn, "villages")?
            .unwrap_or_default()
            .split(',')
            .filter(|code| !code.is_empty())
            .map(AreaCode::parse_village)
            .collect::<Result<Vec<_>, _>>()?;
        let member_secret = match db::get_meta(&conn, "member_key_secret")? {
            Some(hex) => decode_secret(&hex)?,
            None => MemberKeySecret::development(),
        };
        Ok(Store {
            inner: Mutex::new(Inner {
                conn,
                cache: LruCache::new(CACHE_CAPACITY),
                actor,
                profile,
                villages,
                member_secret,
            }),
            syncing: AtomicBool::new(false),
        })
    }

    /// Marks a sync as running, or `None` when one already is.
    pub fn begin_sync(&self) -> Option<SyncRun<'_>> {
        self.syncing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| SyncRun { store: self })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave SQLite half-written (its transaction
        // rolls back), and the cache only holds committed documents, so carry on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// The household's document, loaded into the cache if it is not there, with the
    /// connection: the two an edit, a merge or a confirmation works on together.
    fn load(&mut self, household: &HouseholdId) -> Result<(&mut Connection, &mut Loaded)> {
        let loaded = documents::load(&self.conn, &mut self.cache, &self.actor, household)?;
        Ok((&mut self.conn, loaded))
    }

    fn check_village(&self, village: &AreaCode) -> Result<()> {
        if self.villages.is_empty() || self.villages.contains(village) {
            Ok(())
        } else {
            Err(Error::VillageNotAssigned(village.to_string()))
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source does not fail on the platforms we ship to; if it ever did, a
    // time-based fallback still gives distinct ids on one device.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_le_bytes();
        for (byte, nano) in bytes.iter_mut().zip(nanos) {
            *byte = nano;
        }
    }
    bytes
}

/// Seconds since 1970, from the device clock.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Today's date in China (UTC+8), from the device clock.
pub fn today() -> jiff::civil::Date {
    schema::china_date(jiff::Timestamp::now())
}
