//! Two phones edit the same household offline, then exchange changes: what merges, what
//! becomes a conflict, and what must never be lost.

#![allow(clippy::unwrap_used)]

use doorstep_client_core::{DeviceProfile, SearchQuery, Store};
use schema::ids::{AreaCode, HouseholdId, MemberKey};
use std::sync::Arc;
use tempfile::TempDir;

const VILLAGE: &str = "141124100201";

struct Phone {
    store: Store,
    _dir: TempDir,
}

fn phone(device: &str, volunteer: &str) -> Phone {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .set_profile(DeviceProfile {
            device: device.into(),
            volunteer: volunteer.into(),
        })
        .unwrap();
    Phone { store, _dir: dir }
}

/// Sends each phone the changes the other lacks, as a sync through the server would.
fn exchange(a: &Store, b: &Store, household: &HouseholdId) {
    let to_b = a
        .changes_since(household, &b.heads(household).unwrap())
        .unwrap();
    let to_a = b
        .changes_since(household, &a.heads(household).unwrap())
        .unwrap();
    b.apply_changes(household, &to_b).unwrap();
    a.apply_changes(household, &to_a).unwrap();
}

/// A household created on phone A, with one member, already copied to phone B.
fn shared_household() -> (Phone, Phone, HouseholdId, MemberKey) {
    let a = phone("phone-a", "李娜");
    let b = phone("phone-b", "王强");
    let household = a
        .store
        .create_household(&AreaCode::parse(VILLAGE).unwrap(), Some("1411241002010001"))
        .unwrap();
    let member = a
        .store
        .add_member(&household, "刘伟", Some("11010519491231002X"))
        .unwrap();
    let everything = a.store.document_bytes(&household).unwrap();
    b.store.apply_document(&household, &everything).unwrap();
    (a, b, household, member)
}

fn path(member: &MemberKey, field: &str) -> String {
    format!("members.{member}.{field}")
}

#[test]
fn test_different_fields_edited_offline_on_two_phones_both_survive() {
    let (a, b, household, member) = shared_household();
    a.store
        .set_field(
            &household,
            &path(&member, "employment.employer"),
            "太原建工集团",
        )
        .unwrap();
    b.store
        .set_field(&household, "household.address", "临县城庄镇 12 号")
        .unwrap();

    exchange(&a.store, &b.store, &household);

    for store in [&a.store, &b.store] {
        let detail = store.household(&household).unwrap();
        assert!(detail.conflicts.is_empty(), "{:?}", detail.conflicts);
        assert_eq!(
            detail.view.members[member.as_str()]["employment.employer"]
                .value
                .as_text(),
            Some("太原建工集团")
        );
        assert_eq!(
            detail.view.household_text("address"),
            Some("临县城庄镇 12 号")
        );
    }
}

#[test]
fn test_same_field_edited_offline_on_two_phones_becomes_a_conflict() {
    let (a, b, household, member) = shared_household();
    a.store
        .set_field(&household, &path(&member, "employment.status"), "01")
        .unwrap();
    b.store
        .set_field(&household, &path(&member, "employment.status"), "10")
        .unwrap();

    exchange(&a.store, &b.store, &household);

    let on_a = a.store.household(&household).unwrap();
    let on_b = b.store.household(&household).unwrap();
    assert_eq!(
        on_a.conflicts, on_b.conflicts,
        "both phones see the same dispute"
    );
    assert_eq!(on_a.conflicts.len(), 1);
    let conflict = &on_a.conflicts[0];
    assert_eq!(conflict.path, path(&member, "employment.status"));
    let mut seen: Vec<(String, String, String)> = conflict
        .field
        .candidates
        .iter()
        .map(|c| {
            assert!(c.time.is_some(), "each candidate says when it was written");
            (
                c.value.display(),
                c.device.clone().unwrap(),
                c.volunteer.clone().unwrap(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("01".into(), "phone-a".into(), "李娜".into()),
            ("10".into(), "phone-b".into(), "王强".into()),
        ]
    );
    let summary = a.store.search(&SearchQuery::default()).unwrap();
    assert_eq!(
        summary[0].conflict_count, 1,
        "the list shows the dispute too"
    );
}

#[test]
fn test_same_value_written_on_both_phones_is_not_a_conflict() {
    let (a, b, household, member) = shared_household();
    for store in [&a.store, &b.store] {
        store
            .set_field(&household, &path(&member, "employment.status"), "03")
            .unwrap();
    }

    exchange(&a.store, &b.store, &household);

    let detail = a.store.household(&household).unwrap();
    assert!(detail.conflicts.is_empty(), "{:?}", detail.conflicts);
    assert_eq!(
        detail.view.members[member.as_str()]["employment.status"]
            .value
            .as_text(),
        Some("03")
    );
}

#[test]
fn test_same_person_added_on_both_phones_ends_up_as_one_member() {
    let (a, b, household, _) = shared_household();
    let on_a = a
        .store
        .add_member(&household, "陈静", Some("440524188001010014"))
        .unwrap();
    let on_b = b
        .store
        .add_member(&household, "陈静", Some("440524188001010014"))
        .unwrap();
    assert_eq!(on_a, on_b, "the key comes from the ID number");
    b.store
        .set_field(&household, &path(&on_b, "relation"), "12")
        .unwrap();

    exchange(&a.store, &b.store, &household);

    let detail = a.store.household(&household).unwrap();
    assert_eq!(detail.view.members.len(), 2, "刘伟 and one 陈静");
    let chen = &detail.view.members[on_a.as_str()];
    assert_eq!(chen["name"].value.as_text(), Some("陈静"));
    assert_eq!(chen["relation"].value.as_text(), Some("12"));
    assert!(detail.conflicts.is_empty(), "{:?}", detail.conflicts);
}

#[test]
fn test_two_phones_converge_to_identical_documents() {
    let (a, b, household, member) = shared_household();
    a.store
        .set_fields(
            &household,
            &[
                (&path(&member, "employment.status"), "02"),
                (&path(&member, "employment.place"), "晋中"),
            ],
        )
        .unwrap();
    b.store
        .set_fields(
            &household,
            &[
                (&path(&member, "employment.status"), "09"),
                ("household.phone", "13800000000"),
            ],
        )
        .unwrap();
    let visit = b.store.start_visit(&household).unwrap();
    b.store
        .finish_visit(&household, &visit, "met", Some("在家"), None)
        .unwrap();

    exchange(&a.store, &b.store, &household);

    assert_eq!(
        a.store.heads(&household).unwrap(),
        b.store.heads(&household).unwrap()
    );
    let on_a = a.store.household(&household).unwrap();
    let on_b = b.store.household(&household).unwrap();
    assert_eq!(on_a.view, on_b.view);
    assert_eq!(on_a.view.visits.len(), 1);
}

#[test]
fn test_choosing_a_value_settles_the_conflict_on_both_phones() {
    let (a, b, household, member) = shared_household();
    let field = path(&member, "employment.status");
    a.store.set_field(&household, &field, "01").unwrap();
    b.store.set_field(&household, &field, "10").unwrap();
    exchange(&a.store, &b.store, &household);
    assert_eq!(a.store.household(&household).unwrap().conflicts.len(), 1);

    a.store.set_field(&household, &field, "10").unwrap();
    exchange(&a.store, &b.store, &household);

    for store in [&a.store, &b.store] {
        let detail = store.household(&household).unwrap();
        assert!(detail.conflicts.is_empty());
        assert_eq!(
            detail.view.members[member.as_str()]["employment.status"]
                .value
                .as_text(),
            Some("10")
        );
    }
}

#[test]
fn test_multi_select_choices_from_two_phones_are_both_kept() {
    let (a, b, household, _) = shared_household();
    a.store
        .set_field(&household, "household.causes", "01")
        .unwrap();
    b.store
        .set_field(&household, "household.causes", "07")
        .unwrap();

    exchange(&a.store, &b.store, &household);

    let detail = b.store.household(&household).unwrap();
    let causes = detail.view.household["causes"].value.as_codes().unwrap();
    assert_eq!(
        causes.iter().map(String::as_str).collect::<Vec<_>>(),
        ["01", "07"]
    );
    assert!(detail.conflicts.is_empty());
}

#[test]
fn test_confirmed_changes_no_longer_count_as_unsynced() {
    let (a, b, household, member) = shared_household();
    let before = a.store.unsynced_changes().unwrap();
    assert!(before > 0);
    a.store
        .set_field(&household, &path(&member, "education"), "03")
        .unwrap();
    assert_eq!(a.store.unsynced_changes().unwrap(), before + 1);

    // B stands in for the server: it now holds everything A has.
    exchange(&a.store, &b.store, &household);
    let server_heads = b.store.heads(&household).unwrap();
    a.store.confirm(&household, &server_heads).unwrap();

    assert_eq!(a.store.unsynced_changes().unwrap(), 0);
    assert_eq!(a.store.confirmed_heads(&household).unwrap(), server_heads);
    assert_eq!(
        a.store
            .changes_since(&household, &server_heads)
            .unwrap()
            .len(),
        0,
        "nothing is left to send"
    );
}

#[test]
fn test_the_ui_thread_and_a_background_thread_can_use_the_store_at_once() {
    let (a, _b, household, member) = shared_household();
    let store = Arc::new(a.store);
    let writer = {
        let store = Arc::clone(&store);
        let household = household.clone();
        let field = path(&member, "employment.monthly_income");
        std::thread::spawn(move || {
            for income in 1..=40 {
                store
                    .set_field(&household, &field, &(income * 100).to_string())
                    .unwrap();
            }
        })
    };
    for _ in 0..40 {
        let listed = store.search(&SearchQuery::default()).unwrap();
        assert_eq!(listed.len(), 1);
        store.household(&household).unwrap();
    }
    writer.join().unwrap();
    let detail = store.household(&household).unwrap();
    assert_eq!(
        detail.view.members[member.as_str()]["employment.monthly_income"]
            .value
            .as_integer(),
        Some(4000)
    );
}

#[test]
fn test_damaged_bytes_from_elsewhere_are_refused_and_the_household_is_untouched() {
    let (a, _b, household, _) = shared_household();
    let before = a.store.household(&household).unwrap();
    let err = a
        .store
        .apply_document(&household, b"definitely not automerge")
        .unwrap_err();
    assert!(err.message().zh.contains("损坏"), "{}", err.message());
    let mut good_then_bad = a.store.changes_since(&household, &[]).unwrap();
    good_then_bad.push(b"\x85\x6f\x4a\x83 truncated".to_vec());
    let err = a
        .store
        .apply_changes(&household, &good_then_bad)
        .unwrap_err();
    assert!(err.message().en.contains("damaged"), "{}", err.message());
    assert_eq!(a.store.household(&household).unwrap().view, before.view);
}

#[test]
fn test_changes_without_their_history_are_refused_not_silently_held() {
    let (a, b, household, member) = shared_household();
    let base = a.store.heads(&household).unwrap();
    a.store
        .set_field(&household, &path(&member, "education"), "02")
        .unwrap();
    let middle = a.store.heads(&household).unwrap();
    a.store
        .set_field(&household, &path(&member, "education"), "03")
        .unwrap();
    let only_last = a.store.changes_since(&household, &middle).unwrap();
    assert_eq!(only_last.len(), 1);

    let err = b.store.apply_changes(&household, &only_last).unwrap_err();
    assert!(
        err.message().en.contains("earlier changes"),
        "{}",
        err.message()
    );

    let full = a.store.changes_since(&household, &base).unwrap();
    assert!(b.store.apply_changes(&household, &full).unwrap());
    assert_eq!(
        b.store.heads(&household).unwrap(),
        a.store.heads(&household).unwrap()
    );
}
