//! A sync server that lives in the test, and the phones that talk to it through the
//! `Transport` seam, without a network.
//!
//! The server's ledger is a store of its own; a first download sends each of its households
//! whole. Its feed is filled one of two ways ([`FeedSource`]): by the test, for the tests of one
//! phone's sync, or with what phones upload, for several phones converging. Every request
//! it gets is kept, as the device sent it, and it enrolls phones.

// Each test file uses part of this module.
#![allow(dead_code)]

use automerge::ChangeHash;
use doorstep_client_core::Store;
use doorstep_client_core::sync::{self, Transport, TransportError};
use schema::Message;
use schema::enrollment::{EnrollRequest, EnrollResponse};
use schema::ids::HouseholdId;
use schema::quarantine::Rule;
use schema::wire::{
    self, Cursor, DocumentUpdate, Payload, RejectCode, SyncRequest, SyncResponse, Upload,
    UploadOutcome, UploadResult,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tempfile::TempDir;

pub const VILLAGE: &str = "141124100201";
pub const SERVER: &str = "http://server.test";

/// How the server's feed is filled, and what a later sync takes from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedSource {
    /// Only the test puts changes in it ([`Server::publish`]); each later sync takes all of
    /// it, and the cursor stays where it is.
    Published,
    /// Every upload that changes a household goes in it; a later sync takes what other
    /// devices uploaded since the device's cursor.
    Uploads,
}

/// Changes in the feed.
pub struct FeedEntry {
    pub household: HouseholdId,
    pub changes: Vec<Vec<u8>>,
    /// The uploading device's actor, when a phone uploaded them: the feed leaves out a
    /// device's own changes.
    pub actor: Option<String>,
}

pub struct Server {
    pub ledger: Store,
    _dir: TempDir,
    source: FeedSource,
    pub feed: Mutex<Vec<FeedEntry>>,
    pub requests: Mutex<Vec<SyncRequest>>,
    /// What responses say the device's villages are.
    pub villages: Mutex<Option<Vec<String>>>,
    /// Households whose uploads are refused as out of scope.
    pub refused: Mutex<Vec<HouseholdId>>,
    /// Households whose uploads are held in quarantine, whole.
    pub held: Mutex<Vec<HouseholdId>>,
    /// Answer every request as to a revoked device.
    pub revoked: AtomicBool,
    /// Updates added to every answer as they are, whatever they hold.
    pub extra_updates: Mutex<Vec<DocumentUpdate>>,
    enrolled: Mutex<u32>,
}

impl Server {
    /// A server whose feed holds what the test publishes.
    pub fn new() -> Server {
        Server::fed_by(FeedSource::Published)
    }

    /// A server whose feed relays what each phone uploads to the others.
    pub fn relaying() -> Server {
        Server::fed_by(FeedSource::Uploads)
    }

    fn fed_by(source: FeedSource) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server {
            ledger: Store::open(dir.path()).unwrap(),
            _dir: dir,
            source,
            feed: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            villages: Mutex::new(None),
            refused: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            revoked: AtomicBool::new(false),
            extra_updates: Mutex::new(Vec::new()),
            enrolled: Mutex::new(0),
        }
    }

    /// The changes of the last request's upload for `household`.
    pub fn last_upload(&self, household: &HouseholdId) -> Vec<Vec<u8>> {
        let requests = self.requests.lock().unwrap();
        let upload = requests
            .last()
            .unwrap()
            .uploads
            .iter()
            .find(|u| u.household == household.as_str())
            .unwrap();
        upload.changes.iter().map(|c| c.to_vec()).collect()
    }

    /// Hands the feed `household`'s changes that a holder of `since` lacks.
    pub fn publish(&self, household: &HouseholdId, since: &[ChangeHash]) {
        let changes = self.ledger.changes_since(household, since).unwrap();
        self.feed.lock().unwrap().push(FeedEntry {
            household: household.clone(),
            changes,
            actor: None,
        });
    }

    /// What the server makes of one household's upload by device `actor`.
    fn receive(&self, upload: &Upload, actor: &str, feed: &mut Vec<FeedEntry>) -> UploadResult {
        let household = HouseholdId::parse(&upload.household).unwrap();
        if self.held.lock().unwrap().contains(&household) {
            let held = upload
                .changes
                .iter()
                .map(|c| {
                    let change = automerge::Change::from_bytes(c.to_vec()).unwrap();
                    wire::Bytes::from(change.hash().0.to_vec())
                })
                .collect();
            return UploadResult {
                household: upload.household.clone(),
                outcome: UploadOutcome::Quarantined {
                    heads: vec![],
                    held,
                    rule: Rule::OutOfScope,
                    reason: Message::new("不在本设备的村", "Not in this device's villages"),
                },
            };
        }
        if self.refused.lock().unwrap().contains(&household) {
            return UploadResult {
                household: upload.household.clone(),
                outcome: UploadOutcome::Rejected {
                    code: RejectCode::OutOfScope,
                    reason: Message::new("不在本设备的村", "Not in this device's villages"),
                },
            };
        }
        let changes: Vec<Vec<u8>> = upload.changes.iter().map(|c| c.to_vec()).collect();
        let changed = self.ledger.apply_changes(&household, &changes).unwrap();
        if changed && self.source == FeedSource::Uploads {
            feed.push(FeedEntry {
                household: household.clone(),
                changes,
                actor: Some(actor.to_owned()),
            });
        }
        let heads = self.ledger.heads(&household).unwrap();
        UploadResult {
            household: upload.household.clone(),
            outcome: UploadOutcome::Accepted {
                heads: heads
                    .iter()
                    .map(|h| wire::Bytes::from(h.0.to_vec()))
                    .collect(),
            },
        }
    }
}

fn update(entry: &FeedEntry) -> DocumentUpdate {
    DocumentUpdate {
        household: entry.household.to_string(),
        payload: Payload::Changes(
            entry
                .changes
                .iter()
                .cloned()
                .map(wire::Bytes::from)
                .collect(),
        ),
    }
}

impl Transport for Server {
    fn post(&self, _url: &str, _token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        if self.revoked.load(Ordering::Relaxed) {
            let body = serde_json::json!({
                "error": "device_revoked",
                "message": { "zh": "本设备已被撤销", "en": "This device has been revoked" },
            });
            return Err(TransportError::Status {
                status: 401,
                body: body.to_string().into_bytes(),
            });
        }
        let request: SyncRequest = wire::decode(&body).unwrap();
        let mut feed = self.feed.lock().unwrap();
        let results = request
            .uploads
            .iter()
            .map(|upload| self.receive(upload, &request.actor, &mut feed))
            .collect();
        let mut updates: Vec<DocumentUpdate> = match (&request.cursor, self.source) {
            (None, _) => self
                .ledger
                .household_ids()
                .unwrap()
                .into_iter()
                .map(|household| DocumentUpdate {
                    household: household.to_string(),
                    payload: Payload::Document(wire::Bytes::from(
                        self.ledger.document_bytes(&household).unwrap(),
                    )),
                })
                .collect(),
            (Some(_), FeedSource::Published) => {
                feed.drain(..).map(|entry| update(&entry)).collect()
            }
            (Some(cursor), FeedSource::Uploads) => feed[cursor.feed as usize..]
                .iter()
                .filter(|entry| entry.actor.as_deref() != Some(request.actor.as_str()))
                .map(update)
                .collect(),
        };
        updates.extend(self.extra_updates.lock().unwrap().iter().cloned());
        let cursor = match self.source {
            FeedSource::Published => 1,
            FeedSource::Uploads => feed.len() as u64,
        };
        let response = SyncResponse {
            protocol: wire::PROTOCOL_VERSION,
            results,
            updates,
            cursor: Cursor {
                feed: cursor,
                download_after: None,
            },
            more: false,
            villages: self.villages.lock().unwrap().clone(),
            member_key_secret: None,
        };
        drop(feed);
        self.requests.lock().unwrap().push(request);
        Ok(wire::encode(&response).unwrap())
    }

    fn enroll(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        assert_eq!(url, format!("{SERVER}/api/v1/enroll"));
        let request: EnrollRequest = serde_json::from_slice(&body).unwrap();
        let mut enrolled = self.enrolled.lock().unwrap();
        *enrolled += 1;
        let response = EnrollResponse {
            device_id: format!("device-{enrolled}"),
            device_token: format!("token-for-{}", request.actor),
            volunteer: format!("志愿者{enrolled}"),
            villages: vec![VILLAGE.to_owned()],
            member_key_secret: None,
        };
        Ok(serde_json::to_vec(&response).unwrap())
    }
}

/// A phone: its store, and the folder the store lives in.
pub struct Phone {
    pub store: Store,
    pub _dir: TempDir,
}

/// A phone connected to [`SERVER`] with a token, as if enrolled long ago.
pub fn phone() -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    sync::connect(&store, SERVER, "token").unwrap();
    Phone { store, _dir: dir }
}

pub fn sync_with(phone: &Phone, server: &Server) -> sync::SyncReport {
    sync::sync(
        &phone.store,
        server,
        wire::DEFAULT_PAGE_BYTES,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap()
}
