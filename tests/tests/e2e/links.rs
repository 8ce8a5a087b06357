//! Retried requests and links cut at any byte: nothing lost, nothing duplicated.
//!
//! The protocol promises that any request may be sent again whole with no effect beyond the
//! first, and that a link dropping at any byte costs at most the round trip in flight. These
//! tests send a request twice, lose answers after the server committed them, and cut real
//! sync exchanges at chosen and pseudo-random byte offsets through a TCP proxy, in whole and
//! in small response pages; then they check that the phones, the server's change feed and
//! the register hold every change once.

use client_core::sync::{self, HttpTransport, SyncError, SyncReport, Transport, TransportError};
use doorstep_e2e::{Backend, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE};
use schema::wire::{self, Cursor, Payload, SyncRequest, SyncResponse, Upload, UploadOutcome};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod proxy;
use proxy::*;

/// Small response pages, so a sync takes several rounds and a cut can fall between them.
const SMALL_PAGE_BYTES: u32 = 2 * 1024;
/// How long a phone waits for the server before giving up on a round.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Households recorded in the day of work that goes through the broken link.
const HOUSEHOLDS: usize = 10;
/// Cuts at pseudo-random offsets, on top of the chosen ones.
const RANDOM_CUTS: usize = 24;

// ---------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------

#[test]
fn test_the_same_sync_request_sent_twice_changes_nothing() {
    for backend in Backend::all() {
        same_request_sent_twice(&backend);
    }
}

fn same_request_sent_twice(backend: &Backend) {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let token = db.add_device(&[VILLAGE]);
    let operator = server.staff_token(&db, COUNTY, "县工作人员");
    let phone = Phone::new("phone-a", &server, &token);
    let mut work = Fieldwork::default();
    let first = work.new_household(&phone, 3);
    work.visit(&phone, &first);
    work.new_household(&phone, 1);

    let request = pending_request(&phone);
    assert_eq!(request.uploads.len(), 2);
    let body = wire::encode(&request).unwrap();
    let once = post_sync(&server, &token, body.clone());
    let register_once = register_snapshot(&server, &operator, &work);
    let twice = post_sync(&server, &token, body);

    assert_eq!(twice.results, once.results, "{}", backend.name());
    for (upload, result) in request.uploads.iter().zip(&twice.results) {
        assert_eq!(result.household, upload.household);
        let household = HouseholdId::parse(&upload.household).unwrap();
        match &result.outcome {
            UploadOutcome::Accepted { heads } => assert_eq!(
                hash_set(heads.iter().map(|h| h.to_vec())),
                phone_heads(&phone, &household),
                "the server's heads are the phone's"
            ),
            rejected => panic!(
                "{}: a repeated upload was refused: {rejected:?}",
                backend.name()
            ),
        }
    }
    assert_eq!(twice.cursor, once.cursor);
    assert_eq!(updated_households(&twice), updated_households(&once));
    assert_eq!(
        register_snapshot(&server, &operator, &work),
        register_once,
        "{}: the second request changed the register",
        backend.name()
    );
    assert_register_holds(&server, &operator, &work);
    assert_server_stores_each_change_once(&server, &token, &phone, &work);

    // The phone never saw either answer, so its own sync sends everything a third time.
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert_eq!(
        register_snapshot(&server, &operator, &work),
        register_once,
        "{}: the third upload changed the register",
        backend.name()
    );
    assert_server_stores_each_change_once(&server, &token, &phone, &work);
}

#[test]
fn test_a_sync_whose_answer_was_lost_is_retried_without_duplicates() {
    for backend in Backend::all() {
        answer_lost_then_retried(&backend);
    }
}

fn answer_lost_then_retried(backend: &Backend) {
    let name = backend.name();
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let token = db.add_device(&[VILLAGE]);
    let operator = server.staff_token(&db, COUNTY, "县工作人员");
    let phone = Phone::new("phone-a", &server, &token);
    let mut work = Fieldwork::default();
    let households: Vec<HouseholdId> = (0..3).map(|n| work.new_household(&phone, n + 1)).collect();
    work.visit(&phone, &households[0]);

    // The first sync reaches the server, which stores everything; the answer never arrives.
    let lost = AnswerLost::new();
    let unsynced = phone.store.unsynced_changes().unwrap();
    assert!(unsynced > 0);
    let err = phone.try_sync(&lost).unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{name}: {err:?}");
    assert_eq!(lost.delivered(), [200], "{name}");
    assert_eq!(phone.store.unsynced_changes().unwrap(), unsynced);
    assert_register_holds(&server, &operator, &work);

    // The retry sends it all again; the server already has it.
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{name}: {:?}", report.rejected);
    assert_eq!(report.changes_sent, unsynced as u32, "{name}");
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert_register_holds(&server, &operator, &work);
    assert_server_stores_each_change_once(&server, &token, &phone, &work);

    // Later in the day, with a cursor and confirmed heads: the same again.
    work.visit(&phone, &households[1]);
    work.add_member(&phone, &households[2]);
    work.visit(&phone, &households[2]);
    let unsynced = phone.store.unsynced_changes().unwrap();
    let err = phone.try_sync(&lost).unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{name}: {err:?}");
    assert_eq!(lost.delivered(), [200, 200], "{name}");
    assert_eq!(phone.store.unsynced_changes().unwrap(), unsynced);
    assert_register_holds(&server, &operator, &work);
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{name}: {:?}", report.rejected);
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert_register_holds(&server, &operator, &work);
    assert_server_stores_each_change_once(&server, &token, &phone, &work);

    // A second phone whose first download is lost gets exactly the data on the retry.
    let other = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
    let err = other.try_sync(&lost).unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{name}: {err:?}");
    assert!(other.store.household_ids().unwrap().is_empty());
    let report = other.sync();
    assert_eq!(
        report.documents_received as usize,
        households.len(),
        "{name}"
    );
    assert_phones_agree(&[&phone, &other], &work);
    assert_server_stores_each_change_once(&server, &token, &phone, &work);
}

/// Delivers every request, then loses the server's answer on the way back.
#[derive(Debug)]
struct AnswerLost {
    http: HttpTransport,
    delivered: RefCell<Vec<u16>>,
}

impl AnswerLost {
    fn new() -> AnswerLost {
        AnswerLost {
            http: HttpTransport::new(TIMEOUT),
            delivered: RefCell::new(Vec::new()),
        }
    }

    /// The status of every answer the server gave and the phone never saw.
    fn delivered(&self) -> Vec<u16> {
        self.delivered.borrow().clone()
    }
}

impl Transport for AnswerLost {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let status = match self.http.post(url, token, body) {
            Ok(_) => 200,
            Err(TransportError::Status { status, .. }) => status,
            Err(err) => return Err(err),
        };
        self.delivered.borrow_mut().push(status);
        Err(TransportError::Network(
            "the answer was lost on the way back".into(),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Broken links
// ---------------------------------------------------------------------------------------

#[test]
fn test_a_sync_cut_at_any_byte_completes_later_with_nothing_lost_or_duplicated() {
    for backend in Backend::all() {
        syncs_cut_at_any_byte(&backend, wire::DEFAULT_PAGE_BYTES);
    }
}

#[test]
fn test_a_sync_in_small_pages_cut_at_any_byte_completes_later_with_nothing_lost() {
    for backend in Backend::all() {
        syncs_cut_at_any_byte(&backend, SMALL_PAGE_BYTES);
    }
}

fn syncs_cut_at_any_byte(backend: &Backend, page_bytes: u32) {
    let name = backend.name();
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let operator = server.staff_token(&db, COUNTY, "县工作人员");
    let phones: Vec<Phone> = (0..3)
        .map(|n| Phone::new(&format!("phone-{n}"), &server, &db.add_device(&[VILLAGE])))
        .collect();
    let proxy = CuttingProxy::start(&server.url);
    let mut work = Fieldwork::default();
    let mut rng = Lcg(0x00d0_025e_ed00_0001);
    let mut visited = 0usize;

    for (attempt, cut) in cut_plan().into_iter().enumerate() {
        let phone = &phones[attempt % phones.len()];
        // A piece of the day's work, then a sync over the failing link.
        if work.households.len() < HOUSEHOLDS {
            let members = 1 + rng.below(4);
            work.new_household(phone, members);
        } else {
            let known = phone.store.household_ids().unwrap();
            let household = &known[visited % known.len()];
            visited += 1;
            work.visit(phone, household);
            if rng.below(3) == 0 {
                work.add_member(phone, household);
            }
        }
        let unsynced = phone.store.unsynced_changes().unwrap();
        let link = proxy.arm(cut);
        let result = sync_over(phone, &proxy.via(&server.url), page_bytes);
        let cut_made = link.cut_made.load(Ordering::SeqCst);
        match &result {
            Ok(report) => assert!(report.rejected.is_empty(), "{:?}", report.rejected),
            Err(SyncError::Network(_) | SyncError::BadResponse(_)) => {}
            Err(err) => panic!("{name}: {cut:?}: the sync failed with {err:?}"),
        }
        assert_eq!(
            result.is_err(),
            cut_made,
            "{name}: {cut:?}: a sync fails exactly when its link was cut ({result:?})"
        );
        assert!(
            phone.store.unsynced_changes().unwrap() <= unsynced,
            "{name}: {cut:?}: a cut link un-confirmed changes"
        );
        if cut.message == 0 {
            assert!(cut_made, "{name}: {cut:?} was never reached");
        }
        // Now and then the phone finds a good link, so later cuts meet it with a cursor,
        // confirmed heads and other phones' work.
        if rng.below(4) == 0 {
            sync_over(phone, &HttpTransport::new(TIMEOUT), page_bytes)
                .unwrap_or_else(|err| panic!("{name}: sync failed: {err:?}"));
        }
    }
    // Back in range of a good link: two passes bring everyone everything.
    for _ in 0..2 {
        for phone in &phones {
            let report = sync_over(phone, &HttpTransport::new(TIMEOUT), page_bytes)
                .unwrap_or_else(|err| panic!("{name}: sync failed: {err:?}"));
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        }
    }

    let phones: Vec<&Phone> = phones.iter().collect();
    assert_phones_agree(&phones, &work);
    assert_register_holds(&server, &operator, &work);
    assert_server_stores_each_change_once(&server, &db.add_device(&[VILLAGE]), phones[0], &work);
    let statuses = proxy.statuses();
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|&status| status == 200),
        "{name}: the server answered {statuses:?}"
    );
    assert!(proxy.surprises().is_empty(), "{:?}", proxy.surprises());
    assert_eq!(healthz(&server), (200, "ok".to_owned()), "{name}");
}

fn sync_over(
    phone: &Phone,
    transport: &dyn Transport,
    page_bytes: u32,
) -> Result<SyncReport, SyncError> {
    sync::sync(
        &phone.store,
        transport,
        page_bytes,
        &AtomicBool::new(false),
        &mut |_| {},
    )
}

/// Every offset the link breaks at: the edges of a message, the middle of its header and of
/// its body, and a deterministic pseudo-random spread over whole exchanges.
fn cut_plan() -> Vec<Cut> {
    let mut cuts = Vec::new();
    for direction in [Direction::Request, Direction::Response] {
        for offset in [
            Offset::Byte(0),
            Offset::Byte(1),
            Offset::InHeader(500),
            Offset::InBody(0),
            Offset::InBody(1),
            Offset::InBody(500),
            Offset::BeforeEnd(1),
        ] {
            cuts.push(Cut {
                direction,
                message: 0,
                offset,
            });
        }
    }
    // The whole request arrives and the link drops before a byte of the answer.
    cuts.push(Cut {
        direction: Direction::Request,
        message: 0,
        offset: Offset::BeforeEnd(0),
    });
    // The second round of a sync, when there is one: the first round's work is kept.
    for direction in [Direction::Request, Direction::Response] {
        cuts.push(Cut {
            direction,
            message: 1,
            offset: Offset::InBody(500),
        });
    }
    let mut rng = Lcg(0x0c07_1ab5_0000_2024);
    for _ in 0..RANDOM_CUTS {
        let direction = if rng.below(2) == 0 {
            Direction::Request
        } else {
            Direction::Response
        };
        cuts.push(Cut {
            direction,
            message: usize::from(rng.below(4) == 0),
            offset: Offset::Through(rng.below(1_000_000)),
        });
    }
    cuts
}

// ---------------------------------------------------------------------------------------
// Recording and checking
// ---------------------------------------------------------------------------------------

/// What the phones recorded, household by household: the register and every phone must end
/// with exactly these members and visits.
#[derive(Debug, Default)]
struct Fieldwork {
    households: BTreeMap<String, Contents>,
    serial: u32,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Contents {
    members: BTreeSet<String>,
    visits: BTreeSet<String>,
}

impl Fieldwork {
    /// A household with its members, recorded at a first visit.
    fn new_household(&mut self, phone: &Phone, members: usize) -> HouseholdId {
        let household = phone
            .store
            .create_household(&Phone::village(), None)
            .unwrap();
        self.households
            .insert(household.to_string(), Contents::default());
        let visit = phone.store.start_visit(&household).unwrap();
        for _ in 0..members {
            self.add_member(phone, &household);
        }
        phone
            .store
            .set_field(
                &household,
                "household.address",
                &format!("城庄镇 {} 号", self.serial),
            )
            .unwrap();
        phone
            .store
            .finish_visit(&household, &visit, "met", Some("在家"), None)
            .unwrap();
        self.contents(&household).visits.insert(visit.to_string());
        household
    }

    /// A member: every other one with an ID number, the rest without.
    fn add_member(&mut self, phone: &Phone, household: &HouseholdId) {
        self.serial += 1;
        let serial = self.serial;
        let id_number = serial.is_multiple_of(2).then(|| id_number(serial));
        let member = phone
            .store
            .add_member(household, &format!("成员{serial}"), id_number.as_deref())
            .unwrap();
        self.contents(household).members.insert(member.to_string());
    }

    fn visit(&mut self, phone: &Phone, household: &HouseholdId) {
        let visit = phone.store.start_visit(household).unwrap();
        phone
            .store
            .finish_visit(household, &visit, "not_home", None, None)
            .unwrap();
        self.contents(household).visits.insert(visit.to_string());
    }

    fn contents(&mut self, household: &HouseholdId) -> &mut Contents {
        self.households
            .get_mut(household.as_str())
            .unwrap_or_else(|| panic!("{household} was not recorded"))
    }
}

/// A valid resident ID number of 临县, distinct for each serial below 1000.
fn id_number(serial: u32) -> String {
    let year = 1950 + serial % 60;
    let month = 1 + serial % 12;
    let day = 1 + serial % 28;
    let body = format!("141124{year:04}{month:02}{day:02}{:03}", serial % 1000);
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    let check = char::from(b"10X98765432"[(sum % 11) as usize]);
    format!("{body}{check}")
}

/// The request the phone would send now, built from its store as the sync client does.
fn pending_request(phone: &Phone) -> SyncRequest {
    let uploads = phone
        .store
        .households_with_unsynced_changes()
        .unwrap()
        .into_iter()
        .map(|household| {
            let since = phone.store.confirmed_heads(&household).unwrap();
            let changes = phone.store.changes_since(&household, &since).unwrap();
            Upload {
                household: household.to_string(),
                changes: changes.into_iter().map(wire::Bytes::from).collect(),
            }
        })
        .collect();
    SyncRequest {
        protocol: wire::PROTOCOL_VERSION,
        actor: phone.store.actor(),
        cursor: None,
        uploads,
        page_bytes: wire::DEFAULT_PAGE_BYTES,
    }
}

fn post_sync(server: &Server, token: &str, body: Vec<u8>) -> SyncResponse {
    let (status, answer) = server.post_sync(token, body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    wire::decode(&answer).unwrap()
}

fn updated_households(response: &SyncResponse) -> Vec<&str> {
    response
        .updates
        .iter()
        .map(|update| update.household.as_str())
        .collect()
}

fn hash_set(hashes: impl Iterator<Item = Vec<u8>>) -> BTreeSet<Vec<u8>> {
    hashes.collect()
}

fn phone_heads(phone: &Phone, household: &HouseholdId) -> BTreeSet<Vec<u8>> {
    hash_set(
        phone
            .store
            .heads(household)
            .unwrap()
            .iter()
            .map(|head| head.as_ref().to_vec()),
    )
}

/// The register's list and every recorded household in full, as JSON.
fn register_snapshot(server: &Server, operator: &str, work: &Fieldwork) -> Vec<serde_json::Value> {
    let mut snapshot = vec![register_list(server, operator)];
    for id in work.households.keys() {
        let (status, detail) = server.get_json(&format!("/api/v1/households/{id}"), operator);
        assert_eq!(status, 200, "{detail}");
        snapshot.push(detail);
    }
    snapshot
}

fn register_list(server: &Server, operator: &str) -> serde_json::Value {
    let (status, page) = server.get_json(
        &format!("/api/v1/households?area={VILLAGE}&limit=500"),
        operator,
    );
    assert_eq!(status, 200, "{page}");
    page
}

fn keys(object: &serde_json::Value) -> BTreeSet<String> {
    object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .cloned()
        .collect()
}

/// The register holds every recorded household once, with exactly its members and visits.
fn assert_register_holds(server: &Server, operator: &str, work: &Fieldwork) {
    let page = register_list(server, operator);
    assert_eq!(page["total"], work.households.len(), "{page}");
    let rows = page["households"].as_array().unwrap();
    let listed: BTreeSet<String> = rows
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, work.households.keys().cloned().collect());
    for row in rows {
        let id = row["id"].as_str().unwrap();
        let contents = &work.households[id];
        assert_eq!(row["member_count"], contents.members.len(), "{row}");
        assert_eq!(row["visit_count"], contents.visits.len(), "{row}");
        let (status, detail) = server.get_json(&format!("/api/v1/households/{id}"), operator);
        assert_eq!(status, 200, "{detail}");
        assert_eq!(
            keys(&detail["members"]),
            contents.members,
            "members of {id}"
        );
        assert_eq!(keys(&detail["visits"]), contents.visits, "visits of {id}");
    }
}

/// Every phone holds every recorded household, nothing unsynced, all with the same heads
/// and the same content, which is what was recorded.
fn assert_phones_agree(phones: &[&Phone], work: &Fieldwork) {
    let recorded: BTreeSet<String> = work.households.keys().cloned().collect();
    for phone in phones {
        assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
        let held: BTreeSet<String> = phone
            .store
            .household_ids()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(held, recorded);
    }
    for (id, contents) in &work.households {
        let household = HouseholdId::parse(id).unwrap();
        let heads = phone_heads(phones[0], &household);
        let view = phones[0].store.household(&household).unwrap().view;
        let members: BTreeSet<String> = view.members.keys().cloned().collect();
        let visits: BTreeSet<String> = view.visits.keys().cloned().collect();
        assert_eq!(members, contents.members, "members of {id}");
        assert_eq!(visits, contents.visits, "visits of {id}");
        for phone in &phones[1..] {
            assert_eq!(phone_heads(phone, &household), heads, "heads of {id}");
            assert_eq!(phone.store.household(&household).unwrap().view, view);
        }
    }
}

/// Reads the whole change feed as a device that holds nothing, and checks that the server
/// stored each of the phone's changes exactly once: no more, no fewer, no repeats.
fn assert_server_stores_each_change_once(
    server: &Server,
    token: &str,
    phone: &Phone,
    work: &Fieldwork,
) {
    let mut stored: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut cursor = Cursor {
        feed: 0,
        download_after: None,
    };
    loop {
        let request = SyncRequest {
            protocol: wire::PROTOCOL_VERSION,
            actor: "00".repeat(16),
            cursor: Some(cursor),
            uploads: Vec::new(),
            page_bytes: u32::MAX,
        };
        let response = post_sync(server, token, wire::encode(&request).unwrap());
        for update in response.updates {
            let Payload::Changes(changes) = update.payload else {
                panic!(
                    "{} was compacted; the test expects it whole",
                    update.household
                );
            };
            stored
                .entry(update.household)
                .or_default()
                .extend(changes.into_iter().map(|change| change.into_vec()));
        }
        cursor = response.cursor;
        if !response.more {
            break;
        }
    }
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        work.households.keys().collect::<Vec<_>>()
    );
    for (id, mut changes) in stored {
        let household = HouseholdId::parse(&id).unwrap();
        let mut held = phone.store.changes_since(&household, &[]).unwrap();
        changes.sort();
        held.sort();
        assert_eq!(changes.len(), held.len(), "changes of {id} on the server");
        assert_eq!(changes, held, "changes of {id} on the server");
    }
}

/// `GET /healthz`: the status and the body.
fn healthz(server: &Server) -> (u16, String) {
    let mut response = ureq::get(&format!("{}/healthz", server.url))
        .call()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}
