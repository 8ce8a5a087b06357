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
use schema::ids::HouseholdId;
use schema::wire::{
    self, Cursor, ErrorBody, Payload, RejectCode, SyncRequest, SyncResponse, Upload, UploadOutcome,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SERVER_KEY: &str = "server";
const TOKEN_KEY: &str = "token";
const CURSOR_KEY: &str = "sync.cursor";
const REJECTED_PREFIX: &str = "sync.rejected.";
const FULL_HISTORY_PREFIX: &str = "sync.full_history.";
/// Upload bytes per round, so one request finishes on a slow link.
const UPLOAD_BYTES_PER_ROUND: usize = 256 * 1024;
/// A sync that needs more rounds than this is stopped and reported; the next one goes on.
const MAX_ROUNDS: u32 = 10_000;

/// How a request reaches the server. Tests swap in one that cuts the link.
pub trait Transport {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError>;
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("network: {0}")]
    Network(String),
    #[error("HTTP {status}")]
    Status { status: u16, body: Vec<u8> },
}

/// HTTP(S) through ureq.
#[derive(Debug)]
pub struct HttpTransport {
    agent: ureq::Agent,
}

impl HttpTransport {
    pub fn new(timeout: Duration) -> HttpTransport {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        HttpTransport {
            agent: ureq::Agent::new_with_config(config),
        }
    }
}

impl Default for HttpTransport {
    fn default() -> Self {
        HttpTransport::new(Duration::from_secs(120))
    }
}

impl Transport for HttpTransport {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let mut response = self
            .agent
            .post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", wire::CONTENT_TYPE)
            .send(&body[..])
            .map_err(|err| TransportError::Network(err.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(wire::MAX_DECODED_BYTES as u64)
            .read_to_vec()
            .map_err(|err| TransportError::Network(err.to_string()))?;
        if status == 200 {
            Ok(bytes)
        } else {
            Err(TransportError::Status {
                status,
                body: bytes,
            })
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("this store is not connected to a server")]
    NotConnected,
    #[error("network: {0}")]
    Network(String),
    #[error("server refused the sync: {}", .message.en)]
    Server { status: u16, message: Message },
    #[error("the server's answer could not be read: {0}")]
    BadResponse(String),
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Store(Box<StoreError>),
}

impl From<StoreError> for SyncError {
    fn from(err: StoreError) -> Self {
        SyncError::Store(Box::new(err))
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
            SyncError::Server { message, .. } => message.clone(),
            SyncError::BadResponse(err) => Message::new(
                format!("服务器的回复无法识别，请稍后重试：{err}"),
                format!("The server's answer could not be read; try again later: {err}"),
            ),
            SyncError::Cancelled => Message::new(
                "同步已取消，已完成的部分已保存",
                "Sync cancelled; what finished is saved",
            ),
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
    /// Disputed fields across the device's households after the sync.
    pub conflicts: i64,
    /// Changes still unconfirmed after the sync.
    pub unsynced_changes: i64,
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

/// The households the server refused at the last attempt, and why.
pub fn rejections(store: &Store) -> Result<Vec<Rejection>, StoreError> {
    Ok(store
        .settings_with_prefix(REJECTED_PREFIX)?
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
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(SyncError::Cancelled);
        }
        let uploads = next_uploads(store, &mut pending)?;
        let request = SyncRequest {
            protocol: wire::PROTOCOL_VERSION,
            actor: actor.clone(),
            cursor: cursor.clone(),
            uploads,
            page_bytes,
        };
        let body = wire::encode(&request).map_err(|err| SyncError::BadResponse(err.to_string()))?;
        let sent = body.len() as u64;
        let answer = transport
            .post(&url, &token, body)
            .map_err(|err| match err {
                TransportError::Network(err) => SyncError::Network(err),
                TransportError::Status { status, body } => server_error(status, &body),
            })?;
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
                    store.remove_setting(&format!("{FULL_HISTORY_PREFIX}{household}"))?;
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
        let mut history_gap = false;
        for update in response.updates {
            let Ok(household) = HouseholdId::parse(&update.household) else {
                continue;
            };
            match update.payload {
                Payload::Document(bytes) => {
                    store.apply_server_document(&household, &bytes)?;
                    report.documents_received += 1;
                }
                Payload::Changes(changes) => {
                    let changes: Vec<Vec<u8>> = changes.into_iter().map(|c| c.into_vec()).collect();
                    report.changes_received += changes.len() as u32;
                    match store.apply_server_changes(&household, &changes) {
                        Err(StoreError::MissingDependencies(_)) => history_gap = true,
                        other => {
                            other?;
                        }
                    }
                }
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
fn next_uploads(store: &Store, pending: &mut Vec<HouseholdId>) -> Result<Vec<Upload>, SyncError> {
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
            Vec::new()
        } else {
            store.confirmed_heads(&household)?
        };
        let changes = store.changes_since(&household, &since)?;
        if changes.is_empty() {
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

fn server_error(status: u16, body: &[u8]) -> SyncError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => SyncError::Server {
            status,
            message: error.message,
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
