//! Convergence: several phones edit households offline and sync in random orders with a
//! server in memory, and once every phone has synced after the last edit, every replica
//! (each phone and the server) holds the same households, document for document.
//!
//! The server is a store of its own, as in `tests/sync.rs`, with a feed of what phones
//! uploaded: a first download sends each household whole, later syncs the feed's changes
//! of other devices since the cursor. Phones enroll through it too, so enrollment and sync
//! both go through the `Transport` seam without a network.

#![allow(clippy::unwrap_used)]

use automerge::ChangeHash;
use doorstep_client_core::Store;
use doorstep_client_core::sync::{self, Transport, TransportError};
use proptest::prelude::*;
use schema::enrollment::{EnrollRequest, EnrollResponse};
use schema::ids::{AreaCode, HouseholdId};
use schema::wire::{
    self, Cursor, DocumentUpdate, Payload, SyncRequest, SyncResponse, UploadOutcome, UploadResult,
};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use tempfile::TempDir;

const VILLAGE: &str = "141124100201";
const SERVER: &str = "http://server.test";
/// People two phones may both record: the same ID number gives the same member.
const PEOPLE: [(&str, &str); 3] = [
    ("刘伟", "11010519491231002X"),
    ("王芳", "110105198001010015"),
    ("张磊", "110105199912310014"),
];

/// One change a phone uploaded, for the other devices' feed.
struct FeedEntry {
    household: HouseholdId,
    changes: Vec<Vec<u8>>,
    /// The uploading device's actor: the feed leaves out a device's own changes.
    actor: String,
}

struct Server {
    ledger: Store,
    _dir: TempDir,
    feed: Mutex<Vec<FeedEntry>>,
    enrolled: Mutex<u32>,
}

impl Server {
    fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        Server {
            ledger: Store::open(dir.path()).unwrap(),
            _dir: dir,
            feed: Mutex::new(Vec::new()),
            enrolled: Mutex::new(0),
        }
    }
}

impl Transport for Server {
    fn post(&self, _url: &str, _token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let request: SyncRequest = wire::decode(&body).unwrap();
        let mut feed = self.feed.lock().unwrap();
        let results = request
            .uploads
            .iter()
            .map(|upload| {
                let household = HouseholdId::parse(&upload.household).unwrap();
                let changes: Vec<Vec<u8>> = upload.changes.iter().map(|c| c.to_vec()).collect();
                if self.ledger.apply_changes(&household, &changes).unwrap() {
                    feed.push(FeedEntry {
                        household: household.clone(),
                        changes,
                        actor: request.actor.clone(),
                    });
                }
                let heads = self.ledger.heads(&household).unwrap();
                UploadResult {
                    household: upload.household.clone(),
                    outcome: UploadOutcome::Accepted {
                        heads: bytes(&heads),
                    },
                }
            })
            .collect();
        let updates: Vec<DocumentUpdate> = match &request.cursor {
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
            Some(cursor) => feed[cursor.feed as usize..]
                .iter()
                .filter(|entry| entry.actor != request.actor)
                .map(|entry| DocumentUpdate {
                    household: entry.household.to_string(),
                    payload: Payload::Changes(
                        entry
                            .changes
                            .iter()
                            .cloned()
                            .map(wire::Bytes::from)
                            .collect(),
                    ),
                })
                .collect(),
        };
        let response = SyncResponse {
            protocol: wire::PROTOCOL_VERSION,
            results,
            updates,
            cursor: Cursor {
                feed: feed.len() as u64,
                download_after: None,
            },
            more: false,
            villages: None,
            member_key_secret: None,
        };
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

fn bytes(heads: &[ChangeHash]) -> Vec<wire::Bytes> {
    heads
        .iter()
        .map(|h| wire::Bytes::from(h.0.to_vec()))
        .collect()
}

struct Phone {
    store: Store,
    _dir: TempDir,
}

fn enrolled_phone(server: &Server, name: &str) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let enrollment = sync::enroll_through(&store, server, None, &qr_text(), Some(name)).unwrap();
    assert_eq!(enrollment.server, SERVER);
    assert_eq!(store.villages(), vec![AreaCode::parse(VILLAGE).unwrap()]);
    Phone { store, _dir: dir }
}

/// What a printed enrollment QR code says.
fn qr_text() -> String {
    schema::enrollment::QrPayload {
        server: Some(SERVER.to_owned()),
        code: "ABCD-EFGH-JKMN-PQRS".to_owned(),
    }
    .encode()
}

fn sync_with(phone: &Phone, server: &Server) {
    sync::sync(
        &phone.store,
        server,
        wire::DEFAULT_PAGE_BYTES,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
}

/// One step of a day in the field.
#[derive(Debug, Clone)]
enum Step {
    Create {
        phone: usize,
    },
    Address {
        phone: usize,
        household: usize,
        text: u8,
    },
    AddPerson {
        phone: usize,
        household: usize,
        person: usize,
    },
    Visit {
        phone: usize,
        household: usize,
    },
    Sync {
        phone: usize,
    },
}

fn step(phones: usize) -> impl Strategy<Value = Step> {
    let phone = 0..phones;
    prop_oneof![
        phone.clone().prop_map(|phone| Step::Create { phone }),
        (phone.clone(), any::<usize>(), any::<u8>()).prop_map(|(phone, household, text)| {
            Step::Address {
                phone,
                household,
                text,
            }
        }),
        (phone.clone(), any::<usize>(), 0..PEOPLE.len()).prop_map(|(phone, household, person)| {
            Step::AddPerson {
                phone,
                household,
                person,
            }
        }),
        (phone.clone(), any::<usize>())
            .prop_map(|(phone, household)| Step::Visit { phone, household }),
        phone.prop_map(|phone| Step::Sync { phone }),
    ]
}

/// The household a step picks among those the phone holds, if it holds any.
fn pick(phone: &Phone, index: usize) -> Option<HouseholdId> {
    let ids = phone.store.household_ids().unwrap();
    (!ids.is_empty()).then(|| ids[index % ids.len()].clone())
}

fn run(phone: &Phone, server: &Server, step: &Step) {
    let village = AreaCode::parse(VILLAGE).unwrap();
    match *step {
        Step::Create { .. } => {
            phone.store.create_household(&village, None).unwrap();
        }
        Step::Address {
            household, text, ..
        } => {
            if let Some(household) = pick(phone, household) {
                phone
                    .store
                    .set_field(
                        &household,
                        "household.address",
                        &format!("城庄镇 {text} 号"),
                    )
                    .unwrap();
            }
        }
        Step::AddPerson {
            household, person, ..
        } => {
            if let Some(household) = pick(phone, household) {
                let (name, id) = PEOPLE[person];
                // Another phone may have recorded the person under a disputed name: a
                // refusal that names the member is what the volunteer would see.
                let _ = phone.store.add_member(&household, name, Some(id));
            }
        }
        Step::Visit { household, .. } => {
            if let Some(household) = pick(phone, household) {
                let visit = phone.store.start_visit(&household).unwrap();
                phone
                    .store
                    .finish_visit(&household, &visit, "met", Some("在家"), None)
                    .unwrap();
            }
        }
        Step::Sync { .. } => sync_with(phone, server),
    }
}

fn phone_of(step: &Step) -> usize {
    match *step {
        Step::Create { phone }
        | Step::Address { phone, .. }
        | Step::AddPerson { phone, .. }
        | Step::Visit { phone, .. }
        | Step::Sync { phone } => phone,
    }
}

/// Every phone and the server hold the same households, with the same heads and the same
/// view, and nothing is left to upload.
fn assert_converged(phones: &[Phone], server: &Server) {
    let ids = server.ledger.household_ids().unwrap();
    for (index, phone) in phones.iter().enumerate() {
        assert_eq!(phone.store.household_ids().unwrap(), ids, "phone {index}");
        assert_eq!(phone.store.unsynced_changes().unwrap(), 0, "phone {index}");
        for household in &ids {
            let mut heads = phone.store.heads(household).unwrap();
            let mut expected = server.ledger.heads(household).unwrap();
            heads.sort();
            expected.sort();
            assert_eq!(heads, expected, "phone {index}, household {household}");
            assert_eq!(
                phone.store.household(household).unwrap().view,
                server.ledger.household(household).unwrap().view,
                "phone {index}, household {household}"
            );
        }
    }
}

proptest! {
    // Each case writes SQLite files with a durable commit per edit: a few dozen cases
    // cover the orders without making the suite slow.
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn test_phones_editing_and_syncing_in_any_order_end_with_equal_replicas(
        phones in 2..4usize,
        steps in proptest::collection::vec(step(3), 1..30),
    ) {
        let server = Server::new();
        let phones: Vec<Phone> = (0..phones)
            .map(|n| enrolled_phone(&server, &format!("phone-{n}")))
            .collect();
        for step in &steps {
            let phone = phone_of(step) % phones.len();
            run(&phones[phone], &server, step);
        }
        // Everyone syncs once to upload, then once more to receive what was uploaded
        // after their first.
        for _ in 0..2 {
            for phone in &phones {
                sync_with(phone, &server);
            }
        }
        assert_converged(&phones, &server);
    }
}
