//! The sync client: uploads what the server has not confirmed and applies what the device
//! lacks, in rounds of one request each, as `docs/PROTOCOL.md` describes.
//!
//! Every round leaves the store consistent: confirmations and received households are
//! stored before the cursor moves. A link that drops mid-round costs only that round; the
//! next sync repeats it, and the server ignores what it already has.

use crate::error::Error as StoreError;
use crate::store::Store;
use automerge::ChangeHash;
use schema::Message;
use schema::enrollment::{EnrollRequest, EnrollResponse, QrPayload};
use schema::error_code::ErrorCode;
use schema::ids::{AreaCode, HouseholdId};
use schema::quarantine::Rule;
use schema::wire::{
    self, Cursor, ErrorBody, Payload, RejectCode, SyncRequest, SyncResponse, Upload, UploadOutcome,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::transport::{HttpTransport, Timeouts, Transport, TransportError};

const SERVER_KEY: &str = "server";
const TOKEN_KEY: &str = "token";
const CURSOR_KEY: &str = "sync.cursor";
const REJECTED_PREFIX: &str = "sync.rejected.";
const QUARANTINED_PREFIX: &str = "sync.quarantined.";
const FULL_HISTORY_PREFIX: &str = "sync.full_history.";
/// Set when the server revoked this device and its data was erased: what the app shows
/// instead of the household list.
const REVOKED_KEY: &str = "sync.revoked";
/// Upload bytes per round, so one request finishes on a slow link.
const UPLOAD_BYTES_PER_ROUND: usize = 256 * 1024;
/// A sync that needs more rounds than this is stopped and reported; the next one goes on.
const MAX_ROUNDS: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("this store is not connected to a server")]
    NotConnected,
    /// The link failed; a later try may get through.
    #[error("network: {0}")]
    Network(String),
    /// The server was reached (or not) and then said nothing for longer than the phone waits.
    #[error("server not answering: {0}")]
    NotAnswering(String),
    /// The server's certificate is not one this device trusts; trying again cannot help.
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("server refused the sync: {}", .message.en)]
    Server { status: u16, message: Message },
    #[error("the server's answer could not be read: {0}")]
    BadResponse(String),
    /// The server sent a household this device cannot take (damaged, unreadable, or not
    /// the household it is filed under). Nothing of it was stored, and the download stops
    /// there until the server is put right.
    #[error("the server sent household {household} unusable: {}", .reason.en)]
    BadUpdate { household: String, reason: Message },
    #[error("cancelled")]
    Cancelled,
    /// Another sync of this store is running.
    #[error("a sync is already running")]
    AlreadyRunning,
    /// The server revoked this device: its survey data has been erased, and it is no longer
    /// connected. Carries the server's message.
    #[error("device revoked: {}", .0.en)]
    Revoked(Message),
    #[error(transparent)]
    Store(Box<StoreError>),
}

impl From<StoreError> for SyncError {
    fn from(err: StoreError) -> Self {
        SyncError::Store(Box::new(err))
    }
}

impl From<TransportError> for SyncError {
    fn from(err: TransportError) -> Self {
        match err {
            TransportError::Network(detail) => SyncError::Network(detail),
            TransportError::NotAnswering(detail) => SyncError::NotAnswering(detail),
            TransportError::Certificate(detail) => SyncError::Certificate(detail),
            TransportError::Status { status, body } => server_error(status, &body),
        }
    }
}

impl SyncError {
    pub fn message(&self) -> Message {
        match self {
            SyncError::NotConnected => Message::new(
                "本设备尚未连接服务器，请先执行 init",
                "This device is not connected to a server; run init first",
            ),
            SyncError::Network(err) => Message::new(
                format!("网络中断，已完成的部分已保存，请稍后重试：{err}"),
                format!("The connection failed; what finished is saved. Try again later: {err}"),
            ),
            SyncError::NotAnswering(err) => Message::new(
                format!(
                    "服务器没有回应，已完成的部分已保存，请稍后重试；一直如此请告知县里工作人员：{err}"
                ),
                format!(
                    "The server is not answering; what finished is saved. Try again later, and tell county staff if it goes on: {err}"
                ),
            ),
            SyncError::Certificate(err) => Message::new(
                format!(
                    "服务器的安全证书不被本设备信任，重试也无法连接；请告知县里工作人员：{err}"
                ),
                format!(
                    "This device does not trust the server's security certificate; trying again will not help. Tell county staff: {err}"
                ),
            ),
            SyncError::BadUpdate { household, reason } => Message::new(
                format!(
                    "服务器发来的户“{household}”的数据无法使用，未保存，本机其他数据未受影响；请告知县里工作人员：{}",
                    reason.zh
                ),
                format!(
                    "The server sent household \"{household}\" in a form this device cannot use; it was not saved and nothing else on the device changed. Tell county staff: {}",
                    reason.en
                ),
            ),
            SyncError::Server { message, .. } => message.clone(),
            SyncError::BadResponse(err) => Message::new(
                format!("服务器的回复无法识别，请稍后重试：{err}"),
                format!("The server's answer could not be read; try again later: {err}"),
            ),
            SyncError::Cancelled => Message::new(
                "同步已取消，已完成的部分已保存",
                "Sync cancelled; what finished is saved",
            ),
            SyncError::AlreadyRunning => Message::new(
                "同步正在进行中，请等它完成",
                "A sync is already running; wait for it to finish",
            ),
            SyncError::Revoked(message) => message.clone(),
            SyncError::Store(err) => err.message(),
        }
    }
}

/// Where a sync is, reported after every round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    pub round: u32,
    pub households_to_upload: u32,
    pub households_uploaded: u32,
    pub updates_received: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// A household the server refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub household: String,
    pub code: RejectCode,
    pub reason: Message,
}

/// A household some of whose changes the server holds in quarantine for county staff, and
/// why. The changes are safely on the server and stay on the device; staff release them
/// (they take effect) or discard them (a staff change undoes them, and arrives here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub household: String,
    /// The rule broken.
    pub rule: Rule,
    pub reason: Message,
    /// How many of the changes sent were held.
    pub changes: u32,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub rounds: u32,
    pub documents_sent: u32,
    pub changes_sent: u32,
    pub documents_received: u32,
    pub changes_received: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Households whose upload the server refused; their data stays on the device.
    pub rejected: Vec<Rejection>,
    /// Households with changes the server holds in quarantine for county staff.
    pub quarantined: Vec<Quarantine>,
    /// Disputed fields across the device's households after the sync.
    pub conflicts: i64,
    /// Changes still unconfirmed after the sync.
    pub unsynced_changes: i64,
    /// Households removed from the device because their village is no longer assigned to
    /// it; the server holds all of their data.
    pub dropped: Vec<String>,
}

/// Whether the store has a server to sync with (`connect` or `enroll` was done, and the
/// device was not revoked since).
pub fn is_connected(store: &Store) -> Result<bool, StoreError> {
    Ok(store.setting(SERVER_KEY)?.is_some())
}

/// Connects a store to a server.
pub fn connect(store: &Store, server: &str, token: &str) -> Result<(), StoreError> {
    let server = server.trim().trim_end_matches('/');
    let valid = server.starts_with("http://") || server.starts_with("https://");
    if !valid {
        return Err(StoreError::InvalidInput(Message::new(
            format!("服务器地址“{server}”无效，应以 http:// 或 https:// 开头"),
            format!("Invalid server address \"{server}\": it must start with http:// or https://"),
        )));
    }
    if token.trim().is_empty() {
        return Err(StoreError::InvalidInput(Message::new(
            "请提供设备令牌",
            "A device token is required",
        )));
    }
    store.set_setting(SERVER_KEY, server)?;
    store.set_setting(TOKEN_KEY, token.trim())?;
    store.remove_setting(CURSOR_KEY)
}

/// What enrolling told the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub server: String,
    pub device_id: String,
    pub volunteer: String,
    pub villages: Vec<String>,
}

/// Enrolls this device with a one-time code (typed, or the QR code's text): exchanges it
/// for a device token bound to this store's actor, then connects the store as
/// [`connect`] does and takes the volunteer's name and villages. `server` is needed when
/// the input does not name one, and wins when both do.
pub fn enroll(
    store: &Store,
    server: Option<&str>,
    input: &str,
    device_name: Option<&str>,
) -> Result<Enrollment, SyncError> {
    let QrPayload {
        server: named,
        code,
    } = QrPayload::read(input);
    let server = server
        .map(str::to_owned)
        .or(named)
        .unwrap_or_default()
        .trim()
        .trim_end_matches('/')
        .to_owned();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(StoreError::InvalidInput(Message::new(
            format!("服务器地址“{server}”无效，应以 http:// 或 https:// 开头"),
            format!("Invalid server address \"{server}\": it must start with http:// or https://"),
        ))
        .into());
    }
    if code.trim().is_empty() {
        return Err(StoreError::InvalidInput(Message::new(
            "请输入注册码",
            "An enrollment code is required",
        ))
        .into());
    }
    let profile = store.profile();
    let body = EnrollRequest {
        actor: store.actor(),
        code: code.trim().to_owned(),
        device_name: Some(device_name.unwrap_or(&profile.device).to_owned()),
    };
    let body = serde_json::to_vec(&body).map_err(|err| SyncError::BadResponse(err.to_string()))?;
    let agent = crate::transport::agent(Timeouts::default());
    let mut response = agent
        .post(&format!("{server}/api/v1/enroll"))
        .header("Content-Type", "application/json")
        .send(&body[..])
        .map_err(crate::transport::failure)?;
    let status = response.status().as_u16();
    let answer = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_vec()
        .map_err(crate::transport::failure)?;
    if status != 200 {
        return Err(server_error(status, &answer));
    }
    let enrolled: EnrollResponse =
        serde_json::from_slice(&answer).map_err(|err| SyncError::BadResponse(err.to_string()))?;
    let villages: Vec<AreaCode> = enrolled
        .villages
        .iter()
        .filter_map(|code| AreaCode::parse_village(code).ok())
        .collect();
    connect(store, &server, &enrolled.device_token)?;
    store.assign_villages(&villages)?;
    if let Some(secret) = &enrolled.member_key_secret {
        store.adopt_member_key_secret(secret)?;
    }
    store.set_profile(crate::DeviceProfile {
        device: device_name.map(str::to_owned).unwrap_or(profile.device),
        volunteer: enrolled.volunteer.clone(),
    })?;
    store.remove_setting(REVOKED_KEY)?;
    Ok(Enrollment {
        server,
        device_id: enrolled.device_id,
        volunteer: enrolled.volunteer,
        villages: enrolled.villages,
    })
}

/// The households the server refused at the last attempt, and why.
pub fn rejections(store: &Store) -> Result<Vec<Rejection>, StoreError> {
    Ok(store
        .settings_with_prefix(REJECTED_PREFIX)?
        .into_iter()
        .filter_map(|(_, json)| serde_json::from_str(&json).ok())
        .collect())
}

/// The households with changes held in quarantine at their last upload, and why. A note
/// goes when a later upload of the household is accepted whole.
pub fn quarantined(store: &Store) -> Result<Vec<Quarantine>, StoreError> {
    Ok(store
        .settings_with_prefix(QUARANTINED_PREFIX)?
        .into_iter()
        .filter_map(|(_, json)| serde_json::from_str(&json).ok())
        .collect())
}

/// Syncs until nothing is left to send or receive, reporting progress after each round.
/// `cancel` is checked between rounds.
pub fn sync(
    store: &Store,
    transport: &dyn Transport,
    page_bytes: u32,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&SyncProgress),
) -> Result<SyncReport, SyncError> {
    let _running = store.begin_sync().ok_or(SyncError::AlreadyRunning)?;
    if let Some(revocation) = revocation_of(store)? {
        // Erased and disconnected: it stays so until it enrolls again.
        return Err(SyncError::Revoked(revocation.message));
    }
    let server = store.setting(SERVER_KEY)?.ok_or(SyncError::NotConnected)?;
    let token = store.setting(TOKEN_KEY)?.ok_or(SyncError::NotConnected)?;
    let url = format!("{server}/api/v1/sync");
    let actor = store.actor();
    let mut cursor: Option<Cursor> = store
        .setting(CURSOR_KEY)?
        .and_then(|json| serde_json::from_str(&json).ok());
    let mut pending: Vec<HouseholdId> = store.households_with_unsynced_changes()?;
    pending.extend(
        store
            .settings_with_prefix(FULL_HISTORY_PREFIX)?
            .into_iter()
            .filter_map(|(id, _)| HouseholdId::parse(&id).ok()),
    );
    // A household with changes held in quarantine is asked about even with nothing to send:
    // the answer says whether staff have decided, and `accepted` clears its note.
    let held: BTreeSet<HouseholdId> = quarantined(store)?
        .iter()
        .filter_map(|note| HouseholdId::parse(&note.household).ok())
        .collect();
    pending.extend(held.iter().cloned());
    let mut pending: Vec<HouseholdId> = pending
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut report = SyncReport::default();
    let mut state = SyncProgress {
        households_to_upload: pending.len() as u32,
        ..SyncProgress::default()
    };
    let mut retried_with_history = BTreeSet::new();
    let mut restarted_download = false;
    let mut restarted_for_villages = false;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(SyncError::Cancelled);
        }
        let uploads = next_uploads(store, &mut pending, &held)?;
        let request = SyncRequest {
            protocol: wire::PROTOCOL_VERSION,
            actor: actor.clone(),
            cursor: cursor.clone(),
            uploads,
            page_bytes,
        };
        let body = wire::encode_request(&request)
            .map_err(|err| SyncError::BadResponse(err.to_string()))?;
        let sent = body.len() as u64;
        let answer = match transport.post(&url, &token, body) {
            Ok(answer) => answer,
            Err(TransportError::Status { status, body }) => {
                if let Some(message) = revocation(status, &body) {
                    return Err(revoked(store, message));
                }
                return Err(server_error(status, &body));
            }
            Err(err) => return Err(err.into()),
        };
        let response: SyncResponse =
            wire::decode(&answer).map_err(|err| SyncError::BadResponse(err.to_string()))?;
        report.rounds += 1;
        report.bytes_sent += sent;
        report.bytes_received += answer.len() as u64;
        for upload in &request.uploads {
            report.documents_sent += 1;
            report.changes_sent += upload.changes.len() as u32;
        }
        for result in response.results {
            let Ok(household) = HouseholdId::parse(&result.household) else {
                continue;
            };
            match result.outcome {
                UploadOutcome::Accepted { heads } => {
                    let heads: Vec<ChangeHash> = heads
                        .iter()
                        .filter_map(|h| ChangeHash::try_from(h.as_slice()).ok())
                        .collect();
                    store.confirm(&household, &heads)?;
                    report
                        .rejected
                        .retain(|r| r.household != household.as_str());
                    store.remove_setting(&format!("{REJECTED_PREFIX}{household}"))?;
                    store.remove_setting(&format!("{QUARANTINED_PREFIX}{household}"))?;
                    store.remove_setting(&format!("{FULL_HISTORY_PREFIX}{household}"))?;
                    state.households_uploaded += 1;
                }
                UploadOutcome::Quarantined {
                    heads,
                    held,
                    rule,
                    reason,
                } => {
                    // The server holds every change it was sent, applied or in quarantine:
                    // none is sent again, and the changes built on them later are held
                    // with them until staff decide.
                    let hashes: Vec<ChangeHash> = heads
                        .iter()
                        .chain(&held)
                        .filter_map(|h| ChangeHash::try_from(h.as_slice()).ok())
                        .collect();
                    store.confirm(&household, &hashes)?;
                    report
                        .rejected
                        .retain(|r| r.household != household.as_str());
                    store.remove_setting(&format!("{REJECTED_PREFIX}{household}"))?;
                    store.remove_setting(&format!("{FULL_HISTORY_PREFIX}{household}"))?;
                    let note = Quarantine {
                        household: household.to_string(),
                        rule,
                        reason,
                        changes: held.len() as u32,
                    };
                    let json = serde_json::to_string(&note).unwrap_or_default();
                    store.set_setting(&format!("{QUARANTINED_PREFIX}{household}"), &json)?;
                    report.quarantined.retain(|q| q.household != note.household);
                    report.quarantined.push(note);
                    state.households_uploaded += 1;
                }
                UploadOutcome::Rejected { code, reason } => {
                    if code == RejectCode::MissingHistory {
                        store.set_setting(&format!("{FULL_HISTORY_PREFIX}{household}"), "1")?;
                        if retried_with_history.insert(household.clone()) {
                            pending.push(household.clone());
                        }
                    }
                    let rejection = Rejection {
                        household: household.to_string(),
                        code,
                        reason,
                    };
                    let json = serde_json::to_string(&rejection).unwrap_or_default();
                    store.set_setting(&format!("{REJECTED_PREFIX}{household}"), &json)?;
                    report
                        .rejected
                        .retain(|r| r.household != rejection.household);
                    report.rejected.push(rejection);
                }
            }
        }
        if let Some(secret) = &response.member_key_secret {
            store.adopt_member_key_secret(secret)?;
        }
        // The device's villages first: what the answer carries may already be of a village
        // added to it, which the store only takes once it knows the village is its own.
        let assigned: Option<Vec<AreaCode>> = response.villages.as_ref().map(|codes| {
            codes
                .iter()
                .filter_map(|code| AreaCode::parse_village(code).ok())
                .collect()
        });
        if let Some(assigned) = &assigned {
            let before = store.villages();
            if *assigned != before {
                store.assign_villages(assigned)?;
            }
            // A village added since the device's download: its households predate the
            // cursor, so the feed will never send them. A store never told its villages
            // got everything it covered, so only a known list can gain one. The first
            // download sends every household whole, so this answer's updates can wait.
            let gained = !before.is_empty() && assigned.iter().any(|v| !before.contains(v));
            if gained && request.cursor.is_some() && !restarted_for_villages {
                restarted_for_villages = true;
                store.remove_setting(CURSOR_KEY)?;
                cursor = None;
                continue;
            }
        }
        let mut history_gap = false;
        for update in response.updates {
            let Ok(household) = HouseholdId::parse(&update.household) else {
                continue;
            };
            let applied = match update.payload {
                Payload::Document(bytes) => {
                    report.documents_received += 1;
                    store.apply_server_document(&household, &bytes)
                }
                Payload::Changes(changes) => {
                    let changes: Vec<Vec<u8>> = changes.into_iter().map(|c| c.into_vec()).collect();
                    report.changes_received += changes.len() as u32;
                    store.apply_server_changes(&household, &changes)
                }
            };
            match applied {
                Ok(_) => {}
                Err(StoreError::MissingDependencies(_)) => history_gap = true,
                // A household outside the villages this answer names: the server's list and
                // its feed disagree. It is not this device's to hold; refusing the whole
                // answer for it would stop every later sync at the same place.
                Err(StoreError::VillageNotAssigned(_)) => {}
                Err(err) => return Err(refused_update(&household, err)),
            }
            state.updates_received += 1;
        }
        if history_gap && !restarted_download {
            // The feed sent changes whose history this device never got (its cursor is
            // wrong, or its villages changed). Start the first download again, once:
            // whole households always apply.
            restarted_download = true;
            store.remove_setting(CURSOR_KEY)?;
            cursor = None;
            continue;
        } else if history_gap {
            return Err(StoreError::MissingDependencies(1).into());
        }
        // Only now, with every update stored, may the cursor move.
        let json = serde_json::to_string(&response.cursor).unwrap_or_default();
        store.set_setting(CURSOR_KEY, &json)?;
        cursor = Some(response.cursor);
        // This round's confirmations are stored: households of villages taken from the
        // device leave it now if the server holds all of them. The others stay for a
        // later round or sync. An empty list is no instruction to empty the phone.
        if let Some(assigned) = assigned.filter(|list| !list.is_empty()) {
            // Changes held in quarantine are on the server but not in the register: the
            // volunteer keeps the household, and the note why, until staff decide.
            let held: Vec<HouseholdId> = quarantined(store)?
                .iter()
                .filter_map(|note| HouseholdId::parse(&note.household).ok())
                .collect();
            for household in store.drop_households_outside(&assigned, &held)? {
                for prefix in [REJECTED_PREFIX, QUARANTINED_PREFIX, FULL_HISTORY_PREFIX] {
                    store.remove_setting(&format!("{prefix}{household}"))?;
                }
                report
                    .rejected
                    .retain(|r| r.household != household.as_str());
                report
                    .quarantined
                    .retain(|q| q.household != household.as_str());
                report.dropped.push(household.to_string());
            }
        }
        state.round = report.rounds;
        state.bytes_sent = report.bytes_sent;
        state.bytes_received = report.bytes_received;
        progress(&state);
        if (pending.is_empty() && !response.more) || report.rounds >= MAX_ROUNDS {
            break;
        }
    }
    report.conflicts = store
        .search(&crate::SearchQuery::default())?
        .iter()
        .map(|h| h.conflict_count)
        .sum();
    report.unsynced_changes = store.unsynced_changes()?;
    Ok(report)
}

/// Takes households off `pending` until the round's upload budget is used.
/// Households in `held` are sent even with no changes, to ask whether they are still held.
fn next_uploads(
    store: &Store,
    pending: &mut Vec<HouseholdId>,
    held: &BTreeSet<HouseholdId>,
) -> Result<Vec<Upload>, SyncError> {
    let mut uploads = Vec::new();
    let mut bytes = 0usize;
    while bytes < UPLOAD_BYTES_PER_ROUND {
        let Some(household) = pending.pop() else {
            break;
        };
        let full_history = store
            .setting(&format!("{FULL_HISTORY_PREFIX}{household}"))?
            .is_some();
        let since = if full_history {
            Ok(Vec::new())
        } else {
            store.confirmed_heads(&household)
        };
        let changes = match since.and_then(|since| store.changes_since(&household, &since)) {
            // A note left for a household no longer on the device: nothing to ask about.
            Err(StoreError::HouseholdNotFound(_)) if held.contains(&household) => {
                store.remove_setting(&format!("{QUARANTINED_PREFIX}{household}"))?;
                continue;
            }
            changes => changes?,
        };
        if changes.is_empty() && !held.contains(&household) {
            continue;
        }
        bytes += changes.iter().map(Vec::len).sum::<usize>();
        uploads.push(Upload {
            household: household.to_string(),
            changes: changes.into_iter().map(wire::Bytes::from).collect(),
        });
    }
    Ok(uploads)
}

/// What a household the server sent and the store refused stops the sync with. The
/// device's own storage failing is its own error; anything else is in what the server sent,
/// which trying again would only fetch again.
fn refused_update(household: &HouseholdId, err: StoreError) -> SyncError {
    match err {
        StoreError::Storage(_) | StoreError::Io(_) => err.into(),
        refused => SyncError::BadUpdate {
            household: household.to_string(),
            reason: refused.message(),
        },
    }
}

/// The message of a 401 that tells this device it was revoked and must erase its data.
fn revocation(status: u16, body: &[u8]) -> Option<Message> {
    let error = serde_json::from_slice::<ErrorBody>(body).ok()?;
    (status == 401 && error.error == ErrorCode::DeviceRevoked).then_some(error.message)
}

/// Erases the store of a revoked device and remembers why, for the app to say so.
fn revoked(store: &Store, message: Message) -> SyncError {
    if let Err(err) = store.wipe() {
        return err.into();
    }
    let revocation = Revocation {
        at: crate::store::now(),
        message: message.clone(),
    };
    let json = serde_json::to_string(&revocation).unwrap_or_default();
    if let Err(err) = store.set_setting(REVOKED_KEY, &json) {
        return err.into();
    }
    SyncError::Revoked(message)
}

/// When the server revoked this device, and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub at: i64,
    pub message: Message,
}

/// Whether this device was revoked (and its data erased) since it last enrolled.
pub fn revocation_of(store: &Store) -> Result<Option<Revocation>, StoreError> {
    Ok(store
        .setting(REVOKED_KEY)?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

fn server_error(status: u16, body: &[u8]) -> SyncError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => SyncError::Server {
            status,
            message: error.message,
        },
        // A proxy in front of a server that is down or restarting answers without our JSON.
        Err(_) if matches!(status, 502..=504) => SyncError::Server {
            status,
            message: Message::new(
                format!("服务器繁忙（{status}），未做任何修改，请稍后重试"),
                format!("The server is busy ({status}); nothing was changed. Please retry later"),
            ),
        },
        Err(_) => SyncError::Server {
            status,
            message: Message::new(
                format!("服务器返回错误 {status}"),
                format!("The server answered with error {status}"),
            ),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_a_busy_server_or_its_proxy_tells_the_volunteer_to_retry() {
        let told = |status, body: &[u8]| server_error(status, body).message();
        let proxy = told(503, b"<html>503 Service Unavailable</html>");
        assert!(
            proxy.zh.contains("服务器繁忙") && proxy.zh.contains("重试"),
            "{proxy:?}"
        );
        assert!(
            proxy.en.contains("busy") && proxy.en.contains("retry"),
            "{proxy:?}"
        );
        let server = r#"{"error":"unavailable","message":{"zh":"服务器繁忙","en":"busy"}}"#;
        assert_eq!(told(503, server.as_bytes()).en, "busy");
        assert!(!told(500, b"").en.contains("busy"));
    }

    #[test]
    fn test_only_a_401_device_revoked_erases_the_device() {
        let body = |code: &str| {
            serde_json::to_vec(&ErrorBody {
                error: code.into(),
                message: Message::new("已撤销", "Revoked"),
            })
            .unwrap()
        };
        assert_eq!(
            revocation(401, &body("device_revoked")),
            Some(Message::new("已撤销", "Revoked"))
        );
        assert_eq!(revocation(401, &body("unauthorized")), None);
        assert_eq!(revocation(403, &body("device_revoked")), None);
        assert_eq!(revocation(401, b"<html>device_revoked</html>"), None);
    }
}
