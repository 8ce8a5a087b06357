//! Sync for the phone: runs on a thread of its own, reports each round to a listener the
//! app implements (Kotlin/Swift/Python), and stops between rounds when cancelled.
//!
//! The rounds are `client_core::sync`'s: each one is stored before the next starts, so a
//! cancelled or failed sync leaves the store consistent and the next sync goes on from there.

use crate::error::{DoorstepError, Result};
use crate::household::Bilingual;
use client_core::Store;
use client_core::photo::{self, DEFAULT_CHUNK_BYTES};
use client_core::sync::{self as core_sync, HttpTransport};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Where a sync is, reported after every round.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    pub round: u32,
    pub households_to_upload: u32,
    pub households_uploaded: u32,
    pub updates_received: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Photos uploaded so far, after the data (the rounds' fields stay as the last round
    /// left them meanwhile).
    pub photos: PhotoUploadReport,
}

impl From<&core_sync::SyncProgress> for SyncProgress {
    fn from(p: &core_sync::SyncProgress) -> Self {
        SyncProgress {
            round: p.round,
            households_to_upload: p.households_to_upload,
            households_uploaded: p.households_uploaded,
            updates_received: p.updates_received,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            photos: PhotoUploadReport::default(),
        }
    }
}

/// A household the server refused; its data stays on the device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Rejection {
    pub household: String,
    pub reason: Bilingual,
}

/// A household with changes the server holds for county staff to release or discard. The
/// changes are safe on the server; the phone shows the reason until staff decide.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Quarantine {
    pub household: String,
    /// The rule broken, as the server names it (`out_of_scope`, `moves_household`, …).
    pub rule: String,
    pub reason: Bilingual,
    /// How many of the changes sent were held.
    pub changes: u32,
}

/// What a finished sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    pub rounds: u32,
    pub documents_sent: u32,
    pub changes_sent: u32,
    pub documents_received: u32,
    pub changes_received: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub rejected: Vec<Rejection>,
    pub quarantined: Vec<Quarantine>,
    /// Disputed fields across the device's households after the sync.
    pub conflicts: i64,
    /// Changes still unconfirmed after the sync.
    pub unsynced_changes: i64,
    /// What the photo upload after the data did.
    pub photos: PhotoUploadReport,
}

impl From<core_sync::SyncReport> for SyncReport {
    fn from(r: core_sync::SyncReport) -> Self {
        SyncReport {
            rounds: r.rounds,
            documents_sent: r.documents_sent,
            changes_sent: r.changes_sent,
            documents_received: r.documents_received,
            changes_received: r.changes_received,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            rejected: r
                .rejected
                .into_iter()
                .map(|r| Rejection {
                    household: r.household,
                    reason: r.reason.into(),
                })
                .collect(),
            quarantined: r
                .quarantined
                .into_iter()
                .map(|q| Quarantine {
                    household: q.household,
                    rule: q.rule.as_str().to_owned(),
                    reason: q.reason.into(),
                    changes: q.changes,
                })
                .collect(),
            conflicts: r.conflicts,
            unsynced_changes: r.unsynced_changes,
            photos: PhotoUploadReport::default(),
        }
    }
}

/// How to sync.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncOptions {
    /// How many bytes of the server's changes to take per round. Smaller rounds finish
    /// sooner on a poor link and report progress more often.
    #[uniffi(default = 262144)]
    pub page_bytes: u32,
    /// How long one round may take before it counts as a network failure.
    #[uniffi(default = 120)]
    pub timeout_seconds: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            page_bytes: schema::wire::DEFAULT_PAGE_BYTES,
            timeout_seconds: 120,
        }
    }
}

/// What the app implements to follow a sync. Both calls arrive on the sync's own thread,
/// never the UI thread: post to the UI thread from them.
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    /// After every round that was stored.
    fn on_progress(&self, progress: SyncProgress);
    /// Once, when the sync ends for any reason, before [`SyncTask::wait`] returns.
    fn on_finished(&self, outcome: SyncOutcome);
}

/// How a sync ended.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum SyncOutcome {
    Completed {
        report: SyncReport,
    },
    /// Cancelled, or failed: what finished is saved; syncing again goes on from there.
    Failed {
        error: DoorstepError,
    },
}

/// A sync running on its own thread.
///
/// Dropping the handle does not cancel the sync: a screen that goes away should not stop
/// a sync the volunteer started. Call [`SyncTask::cancel`] for that.
#[derive(Debug, uniffi::Object)]
pub struct SyncTask {
    cancel: AtomicBool,
    outcome: Mutex<Option<Result<SyncReport>>>,
    finished: Condvar,
}

#[uniffi::export]
impl SyncTask {
    /// Asks the sync to stop after the round in flight. Returns at once.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_finished(&self) -> bool {
        self.lock().is_some()
    }

    /// Blocks until the sync ends; its report, or the error that ended it. For callers
    /// already off the UI thread (an Android `Worker`, tests).
    pub fn wait(&self) -> Result<SyncReport> {
        let mut outcome = self.lock();
        loop {
            if let Some(outcome) = outcome.as_ref() {
                return outcome.clone();
            }
            outcome = self
                .finished
                .wait(outcome)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

impl SyncTask {
    fn lock(&self) -> MutexGuard<'_, Option<Result<SyncReport>>> {
        // Only ever holds a finished outcome; a panic elsewhere cannot leave it half-set.
        self.outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a sync of `store` on a new thread.
    pub(crate) fn start(
        store: Arc<Store>,
        options: SyncOptions,
        listener: Arc<dyn SyncListener>,
    ) -> Result<Arc<SyncTask>> {
        let task = Arc::new(SyncTask {
            cancel: AtomicBool::new(false),
            outcome: Mutex::new(None),
            finished: Condvar::new(),
        });
        let running = Arc::clone(&task);
        std::thread::Builder::new()
            .name("doorstep-sync".to_owned())
            .spawn(move || {
                let transport =
                    HttpTransport::new(Duration::from_secs(u64::from(options.timeout_seconds)));
                let mut last = SyncProgress::from(&core_sync::SyncProgress::default());
                let result = core_sync::sync(
                    &store,
                    &transport,
                    options.page_bytes,
                    &running.cancel,
                    &mut |progress| {
                        last = progress.into();
                        listener.on_progress(last.clone());
                    },
                )
                .and_then(|report| {
                    // The data first, then the photos: pictures never hold the data up.
                    let photos = photo::upload_photos(
                        &store,
                        &transport,
                        DEFAULT_CHUNK_BYTES,
                        &running.cancel,
                        &mut |photos| {
                            last.photos = photos.into();
                            listener.on_progress(last.clone());
                        },
                    )?;
                    let mut report = SyncReport::from(report);
                    report.photos = (&photos).into();
                    Ok(report)
                })
                .map_err(DoorstepError::from);
                // The listener hears first, so that a caller whose `wait` returns finds the
                // listener told (a screen reading both never sees the sync over but not
                // heard of). Whatever the listener does, `wait` still returns.
                let outcome = match result.clone() {
                    Ok(report) => SyncOutcome::Completed { report },
                    Err(error) => SyncOutcome::Failed { error },
                };
                let heard = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    listener.on_finished(outcome)
                }));
                *running.lock() = Some(result);
                running.finished.notify_all();
                if let Err(panic) = heard {
                    std::panic::resume_unwind(panic);
                }
            })
            .map_err(|err| DoorstepError::Other {
                zh: format!("无法启动同步：{err}"),
                en: format!("The sync could not start: {err}"),
            })?;
        Ok(task)
    }
}

/// What the photo upload after a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct PhotoUploadReport {
    pub uploaded: u32,
    /// Already on the server (sent earlier, or by another phone): nothing sent.
    pub already_on_server: u32,
    /// Their household's data has not reached the server yet: sent at the next sync.
    pub waiting: u32,
    pub refused: u32,
    pub bytes_sent: u64,
}

impl From<&photo::UploadReport> for PhotoUploadReport {
    fn from(report: &photo::UploadReport) -> Self {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        PhotoUploadReport {
            uploaded: count(report.uploaded),
            already_on_server: count(report.already_held),
            waiting: count(report.waiting),
            refused: count(report.refused),
            bytes_sent: report.bytes_sent,
        }
    }
}
