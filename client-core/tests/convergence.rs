//! Convergence: several phones edit households offline and sync in random orders with a
//! server in memory, and once every phone has synced after the last edit, every replica
//! (each phone and the server) holds the same households, document for document.
//!
//! The server is the one in `support`, its feed relaying what phones upload: a first
//! download sends each household whole, later syncs the feed's changes of other devices
//! since the cursor. Phones enroll through it too, so enrollment and sync both go through
//! the `Transport` seam without a network.

#![allow(clippy::unwrap_used)]

mod support;

use doorstep_client_core::Store;
use doorstep_client_core::sync;
use proptest::prelude::*;
use schema::ids::{AreaCode, HouseholdId};
use support::{Phone, SERVER, Server, VILLAGE, sync_with};

/// People two phones may both record: the same ID number gives the same member.
const PEOPLE: [(&str, &str); 3] = [
    ("刘伟", "11010519491231002X"),
    ("王芳", "110105198001010015"),
    ("张磊", "110105199912310014"),
];

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
        Step::Sync { .. } => {
            sync_with(phone, server);
        }
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
        let server = Server::relaying();
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
