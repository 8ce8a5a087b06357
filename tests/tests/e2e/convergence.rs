//! Three devices record offline and sync in every order: everything converges, on the
//! devices, on the server and in the register.

use client_core::sync;
use doorstep_e2e::{Backend, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE};
use schema::ids::AreaCode;
use schema::wire::Cursor;
use std::sync::Barrier;

/// All orderings of three devices.
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

#[test]
fn test_three_devices_recording_offline_converge_in_every_sync_order() {
    for backend in Backend::all() {
        for order in ORDERS {
            three_devices_converge(&backend, order);
        }
    }
}

fn three_devices_converge(backend: &Backend, order: [usize; 3]) {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let phones: Vec<Phone> = (0..3)
        .map(|n| Phone::new(&format!("phone-{n}"), &server, &db.add_device(&[VILLAGE])))
        .collect();
    let village = AreaCode::parse(VILLAGE).unwrap();

    // A household everyone knows, recorded on phone 0 and synced to all.
    let shared = phones[0]
        .store
        .create_household(&village, Some("1411241002010001"))
        .unwrap();
    let member = phones[0]
        .store
        .add_member(&shared, "刘伟", Some("11010519491231002X"))
        .unwrap();
    for phone in &phones {
        phone.sync();
    }

    // Offline: each phone edits the shared household and records a household of its own.
    let field = |name: &str| format!("members.{member}.{name}");
    phones[0]
        .store
        .set_field(&shared, &field("employment.status"), "01")
        .unwrap();
    phones[1]
        .store
        .set_field(&shared, &field("employment.status"), "10")
        .unwrap();
    phones[2]
        .store
        .set_field(&shared, "household.address", "城庄镇 12 号")
        .unwrap();
    let mut own = Vec::new();
    for (n, phone) in phones.iter().enumerate() {
        let household = phone.store.create_household(&village, None).unwrap();
        phone
            .store
            .add_member(&household, &format!("户主{n}"), None)
            .unwrap();
        let visit = phone.store.start_visit(&household).unwrap();
        phone
            .store
            .finish_visit(&household, &visit, "met", Some("在家"), None)
            .unwrap();
        own.push(household);
    }

    for n in order {
        phones[n].sync();
    }
    // A second pass brings the earlier syncers what the later ones uploaded.
    for n in order {
        phones[n].sync();
    }

    let mut all: Vec<HouseholdId> = own.clone();
    all.push(shared.clone());
    for household in &all {
        let heads = phones[0].store.heads(household).unwrap();
        let view = phones[0].store.household(household).unwrap().view;
        for phone in &phones[1..] {
            assert_eq!(phone.store.heads(household).unwrap(), heads, "{order:?}");
            assert_eq!(
                phone.store.household(household).unwrap().view,
                view,
                "{order:?}"
            );
        }
    }
    for phone in &phones {
        assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    }

    // The register agrees with the devices.
    let operator = server.staff_token(&db, COUNTY, "县工作人员");
    let (status, page) = server.get_json(&format!("/api/v1/households?area={VILLAGE}"), &operator);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 4, "{page}");
    // County staff may ask for ID numbers in full, to compare them.
    let (status, detail) = server.get_json(
        &format!("/api/v1/households/{shared}?reveal=true"),
        &operator,
    );
    assert_eq!(status, 200, "{detail}");
    let on_phone = phones[0].store.household(&shared).unwrap();
    assert_eq!(
        serde_json::to_value(&on_phone.view.members).unwrap(),
        detail["members"],
        "the register shows exactly what the phones hold"
    );
    assert_eq!(detail["household"]["address"]["value"], "城庄镇 12 号");
    let conflicts = detail["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{detail}");
    assert_eq!(conflicts[0]["path"], field("employment.status"));
    assert_eq!(
        conflicts[0]["field"]["candidates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn test_a_device_whose_cursor_skipped_history_downloads_again_and_catches_up() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let village = AreaCode::parse(VILLAGE).unwrap();
        let recorder = Phone::new("recorder", &server, &db.add_device(&[VILLAGE]));
        let household = recorder.store.create_household(&village, None).unwrap();
        recorder.sync();
        recorder
            .store
            .set_field(&household, "household.address", "城庄镇 3 号")
            .unwrap();
        recorder.sync();

        // A new device whose cursor claims it already has the household's creation (a
        // cursor from a restored backup, say): the feed sends only the later edit, which it
        // cannot apply on its own.
        let late = Phone::new("late", &server, &db.add_device(&[VILLAGE]));
        let cursor = Cursor {
            feed: 1,
            download_after: None,
        };
        sync::set_cursor(&late.store, Some(&cursor)).unwrap();
        late.sync();

        let detail = late.store.household(&household).unwrap();
        assert_eq!(detail.view.household_text("address"), Some("城庄镇 3 号"));
        assert_eq!(
            late.store.heads(&household).unwrap(),
            recorder.store.heads(&household).unwrap()
        );
    }
}

/// Phones that sync at the same moment, round after round, each adding a member to one
/// shared household and a visit to a household of its own: the server merges one phone's
/// upload while it writes another's, and merges again what another write changed meanwhile.
/// Nothing is lost, nothing is stored twice, and the register counts what the phones hold.
#[test]
fn test_phones_syncing_at_the_same_moment_converge() {
    const PHONES: usize = 4;
    const ROUNDS: usize = 3;
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phones: Vec<Phone> = (0..PHONES)
            .map(|n| Phone::new(&format!("phone-{n}"), &server, &db.add_device(&[VILLAGE])))
            .collect();
        let village = Phone::village();
        let shared = phones[0]
            .store
            .create_household(&village, Some("1411241002010001"))
            .unwrap();
        for phone in &phones {
            phone.sync();
        }
        let own: Vec<HouseholdId> = phones
            .iter()
            .enumerate()
            .map(|(n, phone)| {
                let household = phone.store.create_household(&village, None).unwrap();
                phone
                    .store
                    .add_member(&household, &format!("户主{n}"), None)
                    .unwrap();
                household
            })
            .collect();

        for round in 0..ROUNDS {
            for (n, phone) in phones.iter().enumerate() {
                phone
                    .store
                    .add_member(&shared, &format!("成员{n}-{round}"), None)
                    .unwrap();
                let visit = phone.store.start_visit(&own[n]).unwrap();
                phone
                    .store
                    .finish_visit(&own[n], &visit, "met", None, None)
                    .unwrap();
            }
            let line = Barrier::new(PHONES);
            std::thread::scope(|scope| {
                for phone in &phones {
                    let line = &line;
                    scope.spawn(move || {
                        line.wait();
                        phone.sync();
                    });
                }
            });
        }
        // Everything is uploaded; one more pass brings each phone what the others sent.
        for phone in &phones {
            phone.sync();
        }

        for household in own.iter().chain([&shared]) {
            let heads = phones[0].store.heads(household).unwrap();
            for phone in &phones[1..] {
                assert_eq!(phone.store.heads(household).unwrap(), heads, "{backend:?}");
            }
        }
        for phone in &phones {
            assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
        }
        let view = phones[0].store.household(&shared).unwrap().view;
        assert_eq!(view.members.len(), PHONES * ROUNDS, "{backend:?}");

        let operator = server.staff_token(&db, COUNTY, "县工作人员");
        let (status, page) =
            server.get_json(&format!("/api/v1/households?area={VILLAGE}"), &operator);
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], PHONES + 1, "{page}");
        for row in page["households"].as_array().unwrap() {
            let (members, visits) = if row["id"] == shared.as_str() {
                (PHONES * ROUNDS, 0)
            } else {
                (1, ROUNDS)
            };
            assert_eq!(row["member_count"], members, "{row}");
            assert_eq!(row["visit_count"], visits, "{row}");
        }
        let (status, detail) = server.get_json(
            &format!("/api/v1/households/{shared}?reveal=true"),
            &operator,
        );
        assert_eq!(status, 200, "{detail}");
        assert_eq!(
            serde_json::to_value(&view.members).unwrap(),
            detail["members"],
            "the server's document holds exactly what the phones hold"
        );
    }
}
