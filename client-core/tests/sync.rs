//! The sync client against a server that lives in the test: what each request uploads, and
//! what the device takes as confirmed from what the server sends it.

#![allow(clippy::unwrap_used)]

mod support;

use doorstep_client_core::Store;
use doorstep_client_core::sync::{self, Transport, TransportError};
use schema::ids::{AreaCode, HouseholdId, MemberKey};
use schema::wire::{self, DocumentUpdate, Payload};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use support::{Phone, Server, VILLAGE, phone, sync_with};

const OTHER_VILLAGE: &str = "141124100202";

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
        .apply_server_changes(
            &household,
            &server.feed.lock().unwrap().pop().unwrap().changes,
        )
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

// ─── Villages and revocation ──────────────────────────────────────────────────────────────

fn village(code: &str) -> AreaCode {
    AreaCode::parse_village(code).unwrap()
}

fn villages(codes: &[&str]) -> Option<Vec<String>> {
    Some(codes.iter().map(|c| (*c).to_owned()).collect())
}

fn ids(phone: &Phone) -> Vec<HouseholdId> {
    phone.store.household_ids().unwrap()
}

#[test]
fn test_a_household_of_a_village_taken_from_the_device_leaves_only_once_the_server_has_its_edits() {
    let server = Server::new();
    let kept = server
        .ledger
        .create_household(&village(VILLAGE), None)
        .unwrap();
    let edited = server
        .ledger
        .create_household(&village(OTHER_VILLAGE), None)
        .unwrap();
    let visited = server
        .ledger
        .create_household(&village(OTHER_VILLAGE), None)
        .unwrap();
    let untouched = server
        .ledger
        .create_household(&village(OTHER_VILLAGE), None)
        .unwrap();
    *server.villages.lock().unwrap() = villages(&[VILLAGE, OTHER_VILLAGE]);
    let phone = phone();
    sync_with(&phone, &server);
    assert_eq!(ids(&phone).len(), 4);
    assert_eq!(
        phone.store.villages(),
        vec![village(VILLAGE), village(OTHER_VILLAGE)],
        "the device takes the villages the server names"
    );

    // Offline, the volunteer edits one household of the other village and starts a visit
    // at another; meanwhile staff take that village from the device.
    phone
        .store
        .set_field(&edited, "household.address", "柳林村 3 号")
        .unwrap();
    let visit = phone.store.start_visit(&visited).unwrap();
    *server.villages.lock().unwrap() = villages(&[VILLAGE]);
    server.refused.lock().unwrap().push(edited.clone());

    // The server refuses the edit this time: the household stays, with its edit.
    let report = sync_with(&phone, &server);
    assert_eq!(report.dropped, vec![untouched.to_string()], "{report:?}");
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert!(ids(&phone).contains(&edited));
    assert_eq!(phone.store.household(&edited).unwrap().unsynced_changes, 1);
    assert!(
        ids(&phone).contains(&visited),
        "a visit under way keeps its household"
    );
    assert_eq!(phone.store.villages(), vec![village(VILLAGE)]);
    assert!(
        phone
            .store
            .create_household(&village(OTHER_VILLAGE), None)
            .is_err(),
        "no new households in a village taken away"
    );

    // Accepted, the edit is on the server first, and only then does the household leave.
    server.refused.lock().unwrap().clear();
    let report = sync_with(&phone, &server);
    assert_eq!(report.dropped, vec![edited.to_string()], "{report:?}");
    assert!(report.rejected.is_empty(), "{report:?}");
    assert!(sync::rejections(&phone.store).unwrap().is_empty());
    let on_server = server.ledger.household(&edited).unwrap();
    assert_eq!(
        on_server.view.household_text("address"),
        Some("柳林村 3 号"),
        "the server holds the edit"
    );
    assert!(!ids(&phone).contains(&edited));
    assert!(ids(&phone).contains(&visited));

    phone
        .store
        .finish_visit(&visited, &visit, "met", None, None)
        .unwrap();
    let report = sync_with(&phone, &server);
    assert_eq!(report.dropped, vec![visited.to_string()], "{report:?}");
    assert!(server.ledger.household(&visited).unwrap().view.visits.len() == 1);
    assert_eq!(ids(&phone), vec![kept.clone()]);
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
}

#[test]
fn test_a_household_holding_changes_the_server_never_confirmed_stays() {
    let server = Server::new();
    let household = server
        .ledger
        .create_household(&village(OTHER_VILLAGE), None)
        .unwrap();
    *server.villages.lock().unwrap() = villages(&[VILLAGE, OTHER_VILLAGE]);
    let phone = phone();
    sync_with(&phone, &server);
    // Another phone hands this one an edit directly: the server has not seen it, and this
    // phone did not make it, so it carries no unsynced mark.
    let peer_dir = tempfile::tempdir().unwrap();
    let peer = Store::open(peer_dir.path()).unwrap();
    peer.apply_document(&household, &phone.store.document_bytes(&household).unwrap())
        .unwrap();
    let base = peer.heads(&household).unwrap();
    peer.set_field(&household, "household.address", "柳林村 9 号")
        .unwrap();
    phone
        .store
        .apply_changes(&household, &peer.changes_since(&household, &base).unwrap())
        .unwrap();
    assert_eq!(
        phone.store.household(&household).unwrap().unsynced_changes,
        0
    );

    assert_eq!(
        phone
            .store
            .drop_households_outside(&[village(VILLAGE)], &[])
            .unwrap(),
        Vec::<HouseholdId>::new(),
        "the server lacks the peer's edit"
    );
    assert_eq!(ids(&phone), vec![household]);
}

#[test]
fn test_a_village_added_to_the_device_arrives_with_its_households() {
    let server = Server::new();
    let mine = server
        .ledger
        .create_household(&village(VILLAGE), None)
        .unwrap();
    *server.villages.lock().unwrap() = villages(&[VILLAGE]);
    let phone = phone();
    sync_with(&phone, &server);
    assert_eq!(ids(&phone), vec![mine.clone()]);

    // A household of another village, recorded long before the device is given it: the
    // feed will never carry it again.
    let theirs = server
        .ledger
        .create_household(&village(OTHER_VILLAGE), None)
        .unwrap();
    *server.villages.lock().unwrap() = villages(&[VILLAGE, OTHER_VILLAGE]);
    let report = sync_with(&phone, &server);
    let mut expected = vec![mine, theirs];
    expected.sort();
    assert_eq!(ids(&phone), expected, "{report:?}");
    let requests = server.requests.lock().unwrap();
    assert!(
        requests.last().unwrap().cursor.is_none(),
        "the device downloaded again"
    );
}

#[test]
fn test_a_village_added_with_households_recorded_after_the_cursor_is_taken_before_them() {
    let server = Server::new();
    *server.villages.lock().unwrap() = villages(&[VILLAGE]);
    let phone = phone();
    sync_with(&phone, &server);

    // Recorded after the device's sync: the feed carries its changes in the very answer
    // that first names its village as the device's.
    let theirs = server
        .ledger
        .create_household(&village(OTHER_VILLAGE), None)
        .unwrap();
    server.publish(&theirs, &[]);
    *server.villages.lock().unwrap() = villages(&[VILLAGE, OTHER_VILLAGE]);
    let report = sync_with(&phone, &server);
    assert_eq!(ids(&phone), vec![theirs], "{report:?}");
    assert_eq!(
        phone.store.villages(),
        vec![village(VILLAGE), village(OTHER_VILLAGE)]
    );
    sync_with(&phone, &server);
}

#[test]
fn test_a_household_outside_the_named_villages_is_left_out_and_the_sync_goes_on() {
    let server = Server::new();
    *server.villages.lock().unwrap() = villages(&[VILLAGE]);
    let phone = phone();
    sync_with(&phone, &server);
    let stray = server
        .ledger
        .create_household(&village(OTHER_VILLAGE), None)
        .unwrap();
    server.publish(&stray, &[]);
    sync_with(&phone, &server);
    assert_eq!(ids(&phone), Vec::<HouseholdId>::new());
    // Nothing of it is left to trip a later sync.
    sync_with(&phone, &server);
}

#[test]
fn test_a_document_filed_under_another_households_id_is_refused_whole() {
    let server = Server::new();
    let (mine, _) = household_on_server(&server);
    let phone = phone();
    sync_with(&phone, &server);
    let heads = phone.store.heads(&mine).unwrap();
    let other = server
        .ledger
        .create_household(&village(VILLAGE), None)
        .unwrap();
    let bytes = server.ledger.document_bytes(&other).unwrap();
    let stranger = HouseholdId::parse("0123456789abcdef0123456789abcdef").unwrap();

    // From a peer: refused, and nothing of it kept.
    for filed_under in [&mine, &stranger] {
        let err = phone.store.apply_document(filed_under, &bytes).unwrap_err();
        assert!(
            matches!(&err, doorstep_client_core::Error::NotThisHousehold { names, .. } if *names == other.as_str()),
            "{err:?}"
        );
    }

    // From the server: the sync stops with a message that says whom to tell.
    for filed_under in [&mine, &stranger] {
        *server.extra_updates.lock().unwrap() = vec![DocumentUpdate {
            household: filed_under.to_string(),
            payload: Payload::Document(wire::Bytes::from(bytes.clone())),
        }];
        let err = sync::sync(
            &phone.store,
            &server,
            wire::DEFAULT_PAGE_BYTES,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(&err, sync::SyncError::BadUpdate { household, .. } if household == filed_under.as_str()),
            "{err:?}"
        );
        let message = err.message();
        assert!(
            message.zh.contains("县里工作人员") && message.en.contains("Tell county staff"),
            "{message:?}"
        );
    }
    assert_eq!(ids(&phone), vec![mine.clone()]);
    assert_eq!(phone.store.heads(&mine).unwrap(), heads);
    assert_eq!(
        phone
            .store
            .household(&mine)
            .unwrap()
            .view
            .household_text("id"),
        Some(mine.as_str())
    );

    // Once the server sends only what is right, the sync goes on.
    server.extra_updates.lock().unwrap().clear();
    sync_with(&phone, &server);
}

#[test]
fn test_a_revoked_device_erases_what_it_holds_and_says_why() {
    let server = Server::new();
    let (household, _) = household_on_server(&server);
    *server.villages.lock().unwrap() = villages(&[VILLAGE]);
    let phone = phone();
    phone
        .store
        .set_profile(doorstep_client_core::DeviceProfile {
            device: "phone-1".into(),
            volunteer: "李娜".into(),
        })
        .unwrap();
    sync_with(&phone, &server);
    phone
        .store
        .set_field(&household, "household.address", "未上传的修改")
        .unwrap();
    let actor = phone.store.actor();

    server.revoked.store(true, Ordering::Relaxed);
    let err = sync::sync(
        &phone.store,
        &server,
        wire::DEFAULT_PAGE_BYTES,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, sync::SyncError::Revoked(_)), "{err:?}");
    assert_eq!(err.message().en, "This device has been revoked");

    assert!(ids(&phone).is_empty());
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert!(phone.store.villages().is_empty());
    assert_eq!(phone.store.profile().volunteer, "");
    assert_ne!(phone.store.actor(), actor, "a fresh install's identity");
    let revocation = sync::revocation_of(&phone.store).unwrap().unwrap();
    assert_eq!(revocation.message.zh, "本设备已被撤销");
    // Disconnected: nothing is sent again with the old token, and the device keeps saying
    // why until it enrolls again.
    let requests = server.requests.lock().unwrap().len();
    server.revoked.store(false, Ordering::Relaxed);
    let again = sync::sync(
        &phone.store,
        &server,
        wire::DEFAULT_PAGE_BYTES,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(again, sync::SyncError::Revoked(_)), "{again:?}");
    assert_eq!(server.requests.lock().unwrap().len(), requests);
    assert_eq!(phone.store.setting("token").unwrap(), None);
    // Erased on disk too, not only in memory.
    let reopened = Store::open(phone._dir.path()).unwrap();
    assert!(reopened.household_ids().unwrap().is_empty());
    assert!(sync::revocation_of(&reopened).unwrap().is_some());
}

#[test]
fn test_a_household_held_in_quarantine_stays_on_the_device_though_the_server_has_it() {
    let server = Server::new();
    *server.villages.lock().unwrap() = villages(&[VILLAGE]);
    let phone = phone();
    sync_with(&phone, &server);
    // Recorded in a village the device was never given, before it heard its villages.
    phone.store.assign_villages(&[]).unwrap();
    let stray = phone
        .store
        .create_household(&village(OTHER_VILLAGE), None)
        .unwrap();
    server.held.lock().unwrap().push(stray.clone());
    let report = sync_with(&phone, &server);
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert!(report.dropped.is_empty(), "{report:?}");
    assert_eq!(ids(&phone), vec![stray]);
}

/// A link that holds a request until the test lets it fail.
struct Held {
    entered: std::sync::mpsc::Sender<()>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Transport for Held {
    fn post(&self, _url: &str, _token: &str, _body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let _ = self.entered.send(());
        let _ = self.release.lock().unwrap().recv();
        Err(TransportError::Network("the link dropped".to_owned()))
    }
}

#[test]
fn test_a_second_sync_while_one_runs_is_refused_and_the_next_one_starts() {
    let phone = phone();
    assert!(sync::is_connected(&phone.store).unwrap());
    let (entered, entered_rx) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let held = Held {
        entered,
        release: Mutex::new(release_rx),
    };
    std::thread::scope(|scope| {
        let first = scope.spawn(|| {
            sync::sync(
                &phone.store,
                &held,
                wire::DEFAULT_PAGE_BYTES,
                &AtomicBool::new(false),
                &mut |_| {},
            )
        });
        entered_rx.recv().unwrap();
        let second = sync::sync(
            &phone.store,
            &Server::new(),
            wire::DEFAULT_PAGE_BYTES,
            &AtomicBool::new(false),
            &mut |_| {},
        );
        assert!(matches!(second, Err(sync::SyncError::AlreadyRunning)));
        assert!(
            sync::SyncError::AlreadyRunning
                .message()
                .zh
                .contains("同步正在进行中")
        );
        release.send(()).unwrap();
        assert!(matches!(
            first.join().unwrap(),
            Err(sync::SyncError::Network(_))
        ));
    });
    // The first one ended, failing: the next starts.
    let server = Server::new();
    sync_with(&phone, &server);
}

#[test]
fn test_a_store_without_a_server_is_not_connected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert!(!sync::is_connected(&store).unwrap());
}
