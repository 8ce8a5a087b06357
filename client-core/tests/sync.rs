//! The sync client against a server that lives in the test: what each request uploads, and
//! what the device takes as confirmed from what the server sends it.

#![allow(clippy::unwrap_used)]

use automerge::ChangeHash;
use doorstep_client_core::Store;
use doorstep_client_core::sync::{self, Transport, TransportError};
use schema::ids::{AreaCode, HouseholdId, MemberKey};
use schema::wire::{
    self, Cursor, DocumentUpdate, Payload, SyncRequest, SyncResponse, UploadOutcome, UploadResult,
};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use tempfile::TempDir;

const VILLAGE: &str = "141124100201";

/// A server in memory: its ledger is a store of its own, first downloads send each of its
/// households whole, and the feed is whatever the test puts in it. Every request it gets
/// is kept, as the device sent it.
struct Server {
    ledger: Store,
    _dir: TempDir,
    feed: Mutex<Vec<(HouseholdId, Vec<Vec<u8>>)>>,
    requests: Mutex<Vec<SyncRequest>>,
}

impl Server {
    fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server {
            ledger: Store::open(dir.path()).unwrap(),
            _dir: dir,
            feed: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// The changes of the last request's upload for `household`.
    fn last_upload(&self, household: &HouseholdId) -> Vec<Vec<u8>> {
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
    fn publish(&self, household: &HouseholdId, since: &[ChangeHash]) {
        let changes = self.ledger.changes_since(household, since).unwrap();
        self.feed.lock().unwrap().push((household.clone(), changes));
    }
}

impl Transport for Server {
    fn post(&self, _url: &str, _token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let request: SyncRequest = wire::decode(&body).unwrap();
        let results = request
            .uploads
            .iter()
            .map(|upload| {
                let household = HouseholdId::parse(&upload.household).unwrap();
                let changes: Vec<Vec<u8>> = upload.changes.iter().map(|c| c.to_vec()).collect();
                self.ledger.apply_changes(&household, &changes).unwrap();
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
            })
            .collect();
        let updates = match &request.cursor {
            None => self
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
            Some(_) => self
                .feed
                .lock()
                .unwrap()
                .drain(..)
                .map(|(household, changes)| DocumentUpdate {
                    household: household.to_string(),
                    payload: Payload::Changes(changes.into_iter().map(wire::Bytes::from).collect()),
                })
                .collect(),
        };
        let response = SyncResponse {
            protocol: wire::PROTOCOL_VERSION,
            results,
            updates,
            cursor: Cursor {
                feed: 1,
                download_after: None,
            },
            more: false,
        };
        self.requests.lock().unwrap().push(request);
        Ok(wire::encode(&response).unwrap())
    }
}

struct Phone {
    store: Store,
    _dir: TempDir,
}

fn phone() -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    sync::connect(&store, "http://server.test", "token").unwrap();
    Phone { store, _dir: dir }
}

fn sync_with(phone: &Phone, server: &Server) -> sync::SyncReport {
    sync::sync(
        &phone.store,
        server,
        wire::DEFAULT_PAGE_BYTES,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap()
}

/// A household on the server with a history of several changes, recorded by another device.
fn household_on_server(server: &Server) -> (HouseholdId, MemberKey) {
    let household = server
        .ledger
        .create_household(&AreaCode::parse(VILLAGE).unwrap(), Some("1411241002010001"))
        .unwrap();
    let member = server
        .ledger
        .add_member(&household, "刘伟", Some("11010519491231002X"))
        .unwrap();
    server
        .ledger
        .set_fields(
            &household,
            &[
                ("household.address", "临县城庄镇 12 号"),
                (&format!("members.{member}.education"), "03"),
            ],
        )
        .unwrap();
    (household, member)
}

#[test]
fn test_after_a_first_download_an_edit_uploads_only_the_new_change() {
    let server = Server::new();
    let (household, member) = household_on_server(&server);
    let phone = phone();

    sync_with(&phone, &server);
    assert_eq!(
        phone.store.confirmed_heads(&household).unwrap(),
        server.ledger.heads(&household).unwrap(),
        "the server holds the whole document it sent"
    );
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);

    let before_edit = phone.store.heads(&household).unwrap();
    phone
        .store
        .set_field(&household, &format!("members.{member}.education"), "04")
        .unwrap();
    let report = sync_with(&phone, &server);

    let uploaded = server.last_upload(&household);
    assert_eq!(uploaded.len(), 1, "only the edit, not the history");
    assert_eq!(report.changes_sent, 1);
    assert_eq!(
        uploaded,
        phone.store.changes_since(&household, &before_edit).unwrap()
    );
    assert_eq!(
        server.ledger.heads(&household).unwrap(),
        phone.store.heads(&household).unwrap()
    );
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
}

#[test]
fn test_changes_from_the_feed_are_not_uploaded_back() {
    let server = Server::new();
    let (household, member) = household_on_server(&server);
    let phone = phone();
    sync_with(&phone, &server);

    // Another device edits the household; the change reaches the phone through the feed.
    let downloaded = server.ledger.heads(&household).unwrap();
    server
        .ledger
        .set_field(&household, "household.address", "临县城庄镇 14 号")
        .unwrap();
    server.publish(&household, &downloaded);
    sync_with(&phone, &server);
    assert_eq!(
        phone.store.confirmed_heads(&household).unwrap(),
        server.ledger.heads(&household).unwrap()
    );

    phone
        .store
        .set_field(&household, &format!("members.{member}.education"), "04")
        .unwrap();
    sync_with(&phone, &server);
    assert_eq!(server.last_upload(&household).len(), 1);
}

#[test]
fn test_an_edit_whose_answer_was_lost_is_confirmed_by_a_feed_change_built_on_it() {
    let server = Server::new();
    let (household, member) = household_on_server(&server);
    let phone = phone();
    sync_with(&phone, &server);

    // The phone's edit reaches the server, but the answer never comes back.
    let downloaded = phone.store.heads(&household).unwrap();
    phone
        .store
        .set_field(&household, &format!("members.{member}.education"), "04")
        .unwrap();
    let edit = phone.store.changes_since(&household, &downloaded).unwrap();
    server.ledger.apply_changes(&household, &edit).unwrap();
    assert_eq!(phone.store.unsynced_changes().unwrap(), 1);

    // Another device builds on it, and that change comes through the feed.
    let with_edit = server.ledger.heads(&household).unwrap();
    server
        .ledger
        .set_field(&household, "household.address", "临县城庄镇 14 号")
        .unwrap();
    server.publish(&household, &with_edit);
    phone
        .store
        .apply_server_changes(&household, &server.feed.lock().unwrap().pop().unwrap().1)
        .unwrap();

    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert!(
        phone
            .store
            .changes_since(
                &household,
                &phone.store.confirmed_heads(&household).unwrap()
            )
            .unwrap()
            .is_empty()
    );
}

#[test]
fn test_data_from_another_device_is_not_taken_as_confirmed() {
    let server = Server::new();
    let (household, _) = household_on_server(&server);
    let phone = phone();

    let everything = server.ledger.document_bytes(&household).unwrap();
    phone.store.apply_document(&household, &everything).unwrap();
    let changes = server.ledger.changes_since(&household, &[]).unwrap();
    phone.store.apply_changes(&household, &changes).unwrap();

    assert!(phone.store.confirmed_heads(&household).unwrap().is_empty());
}

#[test]
fn test_confirmed_heads_only_grow_and_stay_the_smallest_set() {
    let server = Server::new();
    let (household, member) = household_on_server(&server);
    let phone = phone();
    sync_with(&phone, &server);
    let downloaded = phone.store.confirmed_heads(&household).unwrap();

    // Confirming an older state again, as a retried request's answer would, takes nothing
    // back.
    let first = server.ledger.changes_since(&household, &[]).unwrap();
    let first = automerge::Change::from_bytes(first[0].clone())
        .unwrap()
        .hash();
    phone.store.confirm(&household, &[first]).unwrap();
    assert_eq!(phone.store.confirmed_heads(&household).unwrap(), downloaded);

    phone
        .store
        .set_field(&household, &format!("members.{member}.education"), "04")
        .unwrap();
    sync_with(&phone, &server);
    assert_eq!(
        phone.store.confirmed_heads(&household).unwrap(),
        phone.store.heads(&household).unwrap(),
        "the new head covers the downloaded ones"
    );
}

#[test]
fn test_unsynced_edits_survive_folding_into_a_snapshot_and_a_reopen() {
    let server = Server::new();
    let (household, member) = household_on_server(&server);
    let phone = phone();
    sync_with(&phone, &server);
    let path = format!("members.{member}.employment.monthly_income");
    // More edits than the store keeps as separate rows before folding them into a snapshot.
    for n in 0..300 {
        phone
            .store
            .set_field(&household, &path, &(3000 + n).to_string())
            .unwrap();
    }
    let heads = phone.store.heads(&household).unwrap();
    let dir = phone._dir;
    drop(phone.store);

    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.heads(&household).unwrap(), heads);
    assert_eq!(reopened.unsynced_changes().unwrap(), 300);
    let phone = Phone {
        store: reopened,
        _dir: dir,
    };
    sync_with(&phone, &server);
    assert_eq!(server.last_upload(&household).len(), 300);
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert!(
        phone
            .store
            .households_with_unsynced_changes()
            .unwrap()
            .is_empty()
    );
    assert_eq!(server.ledger.heads(&household).unwrap(), heads);
}
