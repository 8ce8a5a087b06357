#![allow(clippy::unwrap_used)]

use super::derived::Checked;
use super::recording::issues_of_records;
use super::*;
use schema::fields::FieldPath;
use schema::ids::MemberKey;
use schema::{layout, validation};

const VILLAGE: &str = "141124100201";

fn phone(device: &str) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .set_profile(DeviceProfile {
            device: device.into(),
            volunteer: "李娜".into(),
        })
        .unwrap();
    (store, dir)
}

/// The cached view, issues and index counts equal a full read and a full `validate`.
fn assert_matches_full(store: &Store, household: &HouseholdId) {
    let mut guard = store.lock();
    let Inner { conn, cache, .. } = &mut *guard;
    let loaded = cache.peek_mut(household.as_str()).unwrap();
    let Some(derived) = &loaded.derived else {
        return;
    };
    let view = layout::read_household(loaded.doc.document()).unwrap();
    assert_eq!(derived.view, view);
    let checked = derived.checked();
    assert_eq!(checked.issues, validation::validate(&view, today()));
    assert_eq!(checked.conflicts, view.conflicts());
    let full = Checked::of(&view);
    let counts: (i64, i64, i64) = conn
        .query_row(
            "SELECT error_count, warning_count, conflict_count FROM household_index
             WHERE household_id = ?1",
            [household.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        counts,
        (full.errors(), full.warnings(), full.conflicts.len() as i64)
    );
}

fn member_name(store: &Store, household: &HouseholdId, key: &MemberKey) -> Option<String> {
    let detail = store.household(household).unwrap();
    detail.view.members[key.as_str()]["name"]
        .value
        .as_text()
        .map(str::to_owned)
}

#[test]
fn an_id_number_already_recorded_under_another_name_is_refused_naming_the_member() {
    let (a, _dir) = phone("phone-a");
    let household = a
        .create_household(&AreaCode::parse(VILLAGE).unwrap(), None)
        .unwrap();
    let wang = a
        .add_member(&household, "王五", Some("11010519491231002X"))
        .unwrap();
    let unsynced = a.unsynced_changes().unwrap();

    let err = a
        .add_member(&household, "李四", Some("110105 19491231 002x"))
        .unwrap_err();
    let Error::InvalidInput(message) = err else {
        panic!("{err:?}");
    };
    for text in [&message.zh, &message.en] {
        for part in ["王五", "李四", wang.as_str(), "1101**********002X"] {
            assert!(text.contains(part), "{text:?} lacks {part}");
        }
    }
    assert!(message.zh.contains("已登记"), "{}", message.zh);
    assert!(message.en.contains("already recorded"), "{}", message.en);
    let detail = a.household(&household).unwrap();
    assert_eq!(detail.view.members.len(), 1);
    assert_eq!(member_name(&a, &household, &wang).as_deref(), Some("王五"));
    assert_eq!(
        a.unsynced_changes().unwrap(),
        unsynced,
        "nothing was written"
    );

    // The same person added again under the same name is no news, nor is the name
    // typed with a space, and neither renames the member.
    for typed in [" 王五 ", "王 五"] {
        let again = a
            .add_member(&household, typed, Some("110105491231002"))
            .unwrap();
        assert_eq!(again, wang);
    }
    assert_eq!(member_name(&a, &household, &wang).as_deref(), Some("王五"));
    // Renaming is an ordinary edit, after which the new name is the recorded one.
    a.set_field(&household, &format!("members.{wang}.name"), "李四")
        .unwrap();
    assert_eq!(
        a.add_member(&household, "李四", Some("11010519491231002X"))
            .unwrap(),
        wang
    );
}

#[test]
fn either_candidate_of_a_disputed_name_adds_the_member_again_and_no_other_name_does() {
    let (a, _da) = phone("phone-a");
    let (b, _db) = phone("phone-b");
    let household = a
        .create_household(&AreaCode::parse(VILLAGE).unwrap(), None)
        .unwrap();
    let key = a
        .add_member(&household, "王五", Some("11010519491231002X"))
        .unwrap();
    b.apply_document(&household, &a.document_bytes(&household).unwrap())
        .unwrap();
    let name = format!("members.{key}.name");
    a.set_field(&household, &name, "王伍").unwrap();
    b.set_field(&household, &name, "王老五").unwrap();
    let to_a = b
        .changes_since(&household, &a.heads(&household).unwrap())
        .unwrap();
    a.apply_changes(&household, &to_a).unwrap();
    assert_eq!(a.household(&household).unwrap().conflicts.len(), 1);

    for candidate in ["王伍", "王老五"] {
        assert_eq!(
            a.add_member(&household, candidate, Some("11010519491231002X"))
                .unwrap(),
            key
        );
    }
    let shown = member_name(&a, &household, &key).unwrap();
    let err = a
        .add_member(&household, "李四", Some("11010519491231002X"))
        .unwrap_err();
    assert!(err.message().zh.contains(&shown), "{}", err.message().zh);
    assert_eq!(a.household(&household).unwrap().conflicts.len(), 1);
}

#[test]
fn set_reads_an_id_number_as_add_member_does() {
    let (a, _dir) = phone("phone-a");
    let household = a
        .create_household(&AreaCode::parse(VILLAGE).unwrap(), None)
        .unwrap();
    let key = a.add_member(&household, "赵敏", None).unwrap();
    let path = format!("members.{key}.id_number");
    let stored = |a: &Store| {
        a.household(&household).unwrap().view.members[key.as_str()]
            .get("id_number")
            .and_then(|field| field.value.as_text().map(str::to_owned))
    };
    for (typed, expected) in [
        ("110105491231002", "11010519491231002X"),
        (
            "４４０５２４－１８８００１０１－００１４",
            "440524188001010014",
        ),
    ] {
        a.set_field(&household, &path, typed).unwrap();
        assert_eq!(stored(&a).as_deref(), Some(expected), "{typed}");
    }
    for (typed, reason) in [
        ("110105490230002", "19490230"),
        ("440524188001010015", "校验位"),
        ("990524188001010014", "99"),
    ] {
        let err = a.set_field(&household, &path, typed).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(err.message().zh.contains(reason), "{}", err.message().zh);
        assert_eq!(stored(&a).as_deref(), Some("440524188001010014"));
    }
    a.set_field(&household, &path, " ").unwrap();
    assert_eq!(stored(&a), None, "empty input still clears the field");
}

/// Random edits (valid, invalid, cleared, code sets, new records, concurrent edits from
/// another phone): after each, the incrementally kept view and issues equal a full
/// read and validation, and so do the index row's counts.
#[test]
fn incremental_view_and_issues_equal_full_recomputation() {
    let (a, _da) = phone("phone-a");
    let (b, _db) = phone("phone-b");
    let household = a
        .create_household(&AreaCode::parse(VILLAGE).unwrap(), Some("1411241002010001"))
        .unwrap();
    let mut members = vec![
        a.add_member(&household, "刘伟", Some("11010519491231002X"))
            .unwrap(),
    ];
    b.apply_document(&household, &a.document_bytes(&household).unwrap())
        .unwrap();
    let fields: &[(&str, &[&str])] = &[
        ("name", &["王芳", "x"]),
        // An ID number that is not one is refused at input (`typed_value`), so the
        // variety here is in the forms typed: legacy, grouped, full-width.
        (
            "id_number",
            &[
                "11010519491231002X",
                "110105491231002",
                "4405 2418 8001 0100 14",
                "",
            ],
        ),
        ("sex", &["1", "2", "9", ""]),
        (
            "birth_date",
            &["1980-02-29", "1981-02-29", "2099-01-01", ""],
        ),
        ("relation", &["01", "02", "77", ""]),
        ("health", &["01", "01,03", "02 04", "zz", ""]),
        ("in_school", &["是", "否", "maybe", ""]),
        ("employment.status", &["01", "02", "x", ""]),
        (
            "employment.start_date",
            &["2020-01-01", "2099-12-31", "bad", ""],
        ),
        (
            "employment.monthly_income",
            &["3000", "-5", "abc", "999999999", ""],
        ),
        ("employment.months_worked", &["6", "13", ""]),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut visit = None;
    let mut saw_conflict = false;
    for _ in 0..400 {
        match next(20) {
            0 => members.push(a.add_member(&household, "赵敏", None).unwrap()),
            1 => {
                // A concurrent edit on the other phone, merged in.
                let member = &members[0];
                let path = format!("members.{member}.employment.monthly_income");
                b.set_field(&household, &path, ["3100", "3200", "abc"][next(3)])
                    .unwrap();
                a.set_field(&household, &path, ["4100", "4200", "x"][next(3)])
                    .unwrap();
                let to_a = b
                    .changes_since(&household, &a.heads(&household).unwrap())
                    .unwrap();
                a.apply_changes(&household, &to_a).unwrap();
                let to_b = a
                    .changes_since(&household, &b.heads(&household).unwrap())
                    .unwrap();
                b.apply_changes(&household, &to_b).unwrap();
                saw_conflict |= !a.household(&household).unwrap().conflicts.is_empty();
            }
            2 => {
                let member = members[next(members.len())].clone();
                a.add_training(&household, &member).unwrap();
            }
            3 => match visit.take() {
                None => visit = Some(a.start_visit(&household).unwrap()),
                Some(v) => {
                    a.finish_visit(&household, &v, "met", Some("见到户主"), None)
                        .unwrap();
                }
            },
            4 => {
                // Opening the household reads it whole when nothing is at hand.
                a.household(&household).unwrap();
            }
            _ => {
                let edits: Vec<(String, String)> = (0..1 + next(3))
                    .map(|_| {
                        let member = &members[next(members.len())];
                        let (name, values) = fields[next(fields.len())];
                        let value = values[next(values.len())];
                        (format!("members.{member}.{name}"), value.to_owned())
                    })
                    .collect();
                let edits: Vec<(&str, &str)> = edits
                    .iter()
                    .map(|(p, v)| (p.as_str(), v.as_str()))
                    .collect();
                let returned = a.set_fields(&household, &edits).unwrap();
                let paths: Vec<FieldPath> = edits
                    .iter()
                    .map(|(p, _)| FieldPath::parse(p).unwrap())
                    .collect();
                let opened = a.household(&household).unwrap();
                assert_eq!(returned, issues_of_records(opened.issues, &paths));
            }
        }
        assert_matches_full(&a, &household);
    }
    assert!(saw_conflict, "the loop made concurrent edits");
}
