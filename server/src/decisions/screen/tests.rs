#![allow(clippy::unwrap_used)]
use super::*;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT};
use schema::fields::{Entity, FieldPath};
use schema::ids::{AreaCode, HouseholdId, MemberKey, RecordId};
use schema::layout::{self, ActorInfo, FieldValue};

const VILLAGE: &str = "141124100201";
const OTHER_VILLAGE: &str = "141124100202";

/// What a case is called, the phone's write, and the rule it breaks.
type Case = (&'static str, fn(&mut AutoCommit), Rule);

fn device(villages: &[&str]) -> Device {
    Device {
        id: "d1".to_owned(),
        name: "phone".to_owned(),
        villages: villages
            .iter()
            .map(|v| AreaCode::parse_village(v).unwrap())
            .collect(),
    }
}

fn phone_info() -> ActorInfo {
    ActorInfo {
        device: Some("phone".to_owned()),
        volunteer: Some("王芳".to_owned()),
        staff: None,
    }
}

/// A household as a phone creates it: one change, with its actor's entry.
fn created(village: &str) -> AutoCommit {
    let mut doc = AutoCommit::new();
    let id = HouseholdId::from_random([3; 16]);
    let village = AreaCode::parse_village(village).unwrap();
    layout::init_household(&mut doc, &id, &village, "0001", 1_700_000_000).unwrap();
    let actor = doc.get_actor().to_hex_string();
    layout::write_actor(&mut doc, &actor, &phone_info()).unwrap();
    doc.commit();
    doc
}

fn member() -> MemberKey {
    MemberKey::from_random([5; 16])
}

/// A stored household with a member of four fields, and a phone's fork of it.
fn stored_and_phone() -> (AutoCommit, AutoCommit) {
    let mut server = created(VILLAGE);
    let key = member();
    for (name, value) in [
        ("name", "刘伟"),
        ("id_number", "11010519491231002X"),
        ("sex", "2"),
        ("birth_date", "1949-12-31"),
    ] {
        let path = FieldPath::member(&key, name).unwrap();
        layout::write_field(&mut server, &path, Some(&FieldValue::Text(value.into()))).unwrap();
    }
    server.commit();
    let mut phone = server.fork();
    phone.set_actor(ActorId::random());
    (server, phone)
}

/// The phone's next change, written by `write`, with its actor's entry as phones write
/// it.
fn edit(
    phone: &mut AutoCommit,
    message: Option<&str>,
    write: impl FnOnce(&mut AutoCommit),
) -> Change {
    write(phone);
    let actor = phone.get_actor().to_hex_string();
    layout::write_actor(phone, &actor, &phone_info()).unwrap();
    let mut options = CommitOptions::default();
    if let Some(message) = message {
        options = options.with_message(message.to_owned());
    }
    phone.commit_with(options);
    phone.get_last_local_change().unwrap()
}

fn verdicts_on(server: &mut AutoCommit, device: &Device, changes: &[Change]) -> Vec<Option<Rule>> {
    let held = HashSet::new();
    let household = Household {
        village: Some(VILLAGE),
        exists: true,
        doc: server.document(),
        held: &held,
    };
    screen(device, household, changes)
        .into_iter()
        .map(|v| v.map(|r| r.rule))
        .collect()
}

fn one(server: &mut AutoCommit, change: Change) -> Option<Rule> {
    verdicts_on(server, &device(&[VILLAGE]), &[change])
        .pop()
        .unwrap()
}

fn put(doc: &mut AutoCommit, key: &str, value: &str) {
    doc.put(ROOT, key, value).unwrap();
}

#[test]
fn a_new_household_and_ordinary_edits_pass() {
    let mut phone = created(VILLAGE);
    let creation = phone.get_last_local_change().unwrap();
    let key = member();
    let visit = RecordId::from_random([9; 8]);
    let edits = edit(&mut phone, None, |doc| {
        let name = FieldPath::member(&key, "name").unwrap();
        layout::write_field(doc, &name, Some(&FieldValue::Text("刘伟".into()))).unwrap();
        let causes = FieldPath::household("causes").unwrap();
        let codes = FieldValue::Codes(["01".to_owned(), "07".to_owned()].into());
        layout::write_field(doc, &causes, Some(&codes)).unwrap();
        for name in ["device", "volunteer"] {
            let path = FieldPath::record(Entity::Visit, &visit, name).unwrap();
            layout::write_field(doc, &path, Some(&FieldValue::Text("x".into()))).unwrap();
        }
        let started = FieldPath::record(Entity::Visit, &visit, "started_at").unwrap();
        layout::write_field(doc, &started, Some(&FieldValue::Integer(1))).unwrap();
    });
    let visit_message = layout::visit_message(&visit);
    let clear = edit(&mut phone, Some(&visit_message), |doc| {
        let path = FieldPath::household("causes").unwrap();
        let codes = FieldValue::Codes(["07".to_owned()].into());
        layout::write_field(doc, &path, Some(&codes)).unwrap();
        doc.delete(ROOT, "household.number").unwrap();
    });
    let empty = Automerge::new();
    let held = HashSet::new();
    let household = Household {
        village: None,
        exists: false,
        doc: &empty,
        held: &held,
    };
    let verdicts = screen(&device(&[VILLAGE]), household, &[creation, edits, clear]);
    assert_eq!(verdicts, [None, None, None]);
}

#[test]
fn a_household_of_another_village_is_out_of_scope_with_everything_built_on_it() {
    let mut phone = created(OTHER_VILLAGE);
    let creation = phone.get_last_local_change().unwrap();
    let creation_hash = creation.hash();
    let edit = edit(&mut phone, None, |doc| {
        put(doc, "household.address", "柳林村 8 号")
    });
    let empty = Automerge::new();
    let held = HashSet::new();
    let household = Household {
        village: None,
        exists: false,
        doc: &empty,
        held: &held,
    };
    let verdicts = screen(&device(&[VILLAGE]), household, &[creation, edit]);
    let first = verdicts[0].as_ref().unwrap();
    assert_eq!(first.rule, Rule::OutOfScope);
    assert!(first.reason.zh.contains(OTHER_VILLAGE) && first.reason.en.contains(OTHER_VILLAGE));
    let second = verdicts[1].as_ref().unwrap();
    assert_eq!(
        (second.rule, second.waits_for),
        (Rule::Waits, Some(creation_hash))
    );

    // A stored household of a village the device does not cover: the same.
    let (mut server, mut phone) = stored_and_phone();
    let change = self::edit(&mut phone, None, |doc| put(doc, "household.address", "x"));
    assert_eq!(
        verdicts_on(&mut server, &device(&[OTHER_VILLAGE]), &[change]),
        [Some(Rule::OutOfScope)]
    );
}

#[test]
fn a_device_cannot_move_delete_or_merge_a_household() {
    let (mut server, phone) = stored_and_phone();
    let cases: [Case; 7] = [
        (
            "move",
            |d| put(d, "household.village", OTHER_VILLAGE),
            Rule::MovesHousehold,
        ),
        (
            "clear the village",
            |d| d.delete(ROOT, "household.village").unwrap(),
            Rule::DeletesHousehold,
        ),
        (
            "delete the id",
            |d| d.delete(ROOT, "household.id").unwrap(),
            Rule::DeletesHousehold,
        ),
        (
            "delete the layout version",
            |d| d.delete(ROOT, "schema_version").unwrap(),
            Rule::DeletesHousehold,
        ),
        (
            "rewrite the id",
            |d| put(d, "household.id", "h-other"),
            Rule::SystemField,
        ),
        (
            "backdate",
            |d| d.put(ROOT, "household.created_at", 1).unwrap(),
            Rule::SystemField,
        ),
        (
            "merge",
            |d| put(d, "household.merged_into", "h-other"),
            Rule::MergesHousehold,
        ),
    ];
    for (what, write, rule) in cases {
        let mut phone = phone.clone();
        let change = edit(&mut phone, None, write);
        assert_eq!(one(&mut server, change), Some(rule), "{what}");
    }
}

#[test]
fn erasing_a_member_is_refused_but_clearing_a_field_is_not() {
    let (mut server, phone) = stored_and_phone();
    let key = member();
    let mut eraser = phone.clone();
    let erase = edit(&mut eraser, None, |doc| {
        for name in ["name", "id_number", "sex", "birth_date"] {
            doc.delete(ROOT, FieldPath::member(&key, name).unwrap().to_string())
                .unwrap();
        }
    });
    assert_eq!(one(&mut server, erase), Some(Rule::ErasesRecord));
    let mut corrector = phone.clone();
    let correct = edit(&mut corrector, None, |doc| {
        for name in ["sex", "birth_date"] {
            doc.delete(ROOT, FieldPath::member(&key, name).unwrap().to_string())
                .unwrap();
        }
    });
    assert_eq!(one(&mut server, correct), None);
    let mut marker = phone.clone();
    let left = edit(&mut marker, None, |doc| {
        let path = FieldPath::member(&key, "left_household").unwrap();
        layout::write_field(doc, &path, Some(&FieldValue::Boolean(true))).unwrap();
    });
    assert_eq!(one(&mut server, left), None);
}

#[test]
fn a_volunteer_cannot_author_a_review_resolution_or_use_a_staff_identity() {
    let (mut server, phone) = stored_and_phone();
    let mut forger = phone.clone();
    let actor = forger.get_actor().to_hex_string();
    let staff_info = ActorInfo {
        device: Some("doorstep-server".to_owned()),
        volunteer: None,
        staff: Some("李华".to_owned()),
    };
    layout::write_actor(&mut forger, &actor, &staff_info).unwrap();
    put(&mut forger, "household.address", "伪造的决定");
    forger.commit_with(
        CommitOptions::default().with_message(layout::review_message("item1", Some("ok"))),
    );
    let forged = forger.get_last_local_change().unwrap();
    assert_eq!(one(&mut server, forged), Some(Rule::ReviewResolution));

    // Without the message, the staff entry alone is refused.
    let mut namer = phone.clone();
    let named = edit(&mut namer, None, |doc| {
        let actor = doc.get_actor().to_hex_string();
        layout::write_actor(doc, &actor, &staff_info).unwrap();
    });
    assert_eq!(one(&mut server, named), Some(Rule::StaffEntry));

    // Nor may a change name another writer.
    let mut impostor = phone.clone();
    let other = ActorId::random().to_hex_string();
    let renamed = edit(&mut impostor, None, |doc| {
        put(doc, &format!("actors.{other}.volunteer"), "某人")
    });
    assert_eq!(one(&mut server, renamed), Some(Rule::ActorEntry));

    // A change by an actor the document knows as staff is not a phone's.
    let mut staff_doc = server.fork();
    let staff_actor = ActorId::random();
    staff_doc.set_actor(staff_actor.clone());
    layout::write_actor(&mut staff_doc, &staff_actor.to_hex_string(), &staff_info).unwrap();
    staff_doc.commit();
    server.merge(&mut staff_doc).unwrap();
    put(&mut staff_doc, "household.address", "冒名");
    staff_doc.commit();
    let impersonated = staff_doc.get_last_local_change().unwrap();
    assert_eq!(one(&mut server, impersonated), Some(Rule::StaffActor));
}

#[test]
fn only_flat_known_fields_may_be_written() {
    let (mut server, phone) = stored_and_phone();
    let cases: [Case; 5] = [
        (
            "a nested map",
            |d| {
                d.put_object(ROOT, "household.extra", ObjType::Map).unwrap();
            },
            Rule::NotAField,
        ),
        (
            "a counter",
            |d| {
                d.put(ROOT, "household.phone", automerge::ScalarValue::counter(1))
                    .unwrap();
            },
            Rule::NotAField,
        ),
        (
            "an unknown key",
            |d| put(d, "household.secret_flag", "1"),
            Rule::UnknownKey,
        ),
        (
            "a key spelled with spaces",
            |d| put(d, " household.address", "x"),
            Rule::UnknownKey,
        ),
        (
            "an unknown actor entry",
            |d| {
                let actor = d.get_actor().to_hex_string();
                put(d, &format!("actors.{actor}.role"), "admin");
            },
            Rule::UnknownKey,
        ),
    ];
    for (what, write, rule) in cases {
        let mut phone = phone.clone();
        let change = edit(&mut phone, None, write);
        assert_eq!(one(&mut server, change), Some(rule), "{what}");
    }
}

#[test]
fn a_visits_system_fields_are_written_once() {
    let (mut server, mut phone) = stored_and_phone();
    let visit = RecordId::from_random([8; 8]);
    let started = FieldPath::record(Entity::Visit, &visit, "started_at").unwrap();
    let start = edit(&mut phone, None, |doc| {
        layout::write_field(doc, &started, Some(&FieldValue::Integer(100))).unwrap();
    });
    assert_eq!(one(&mut server, start.clone()), None);
    server.apply_changes([start]).unwrap();
    let backdate = edit(&mut phone, None, |doc| {
        layout::write_field(doc, &started, Some(&FieldValue::Integer(1))).unwrap();
    });
    assert_eq!(one(&mut server, backdate), Some(Rule::SystemField));
}

#[test]
fn a_change_built_on_a_refused_or_held_change_waits_for_it() {
    let (mut server, mut phone) = stored_and_phone();
    let moved = edit(&mut phone, None, |d| {
        put(d, "household.village", OTHER_VILLAGE)
    });
    let after = edit(&mut phone, None, |d| put(d, "household.address", "新地址"));
    let later = edit(&mut phone, None, |d| {
        put(d, "household.phone", "13800138000")
    });
    // Sent out of order: the verdicts do not depend on it.
    let verdicts = verdicts_on(
        &mut server,
        &device(&[VILLAGE]),
        &[later.clone(), after.clone(), moved.clone()],
    );
    assert_eq!(
        verdicts,
        [
            Some(Rule::Waits),
            Some(Rule::Waits),
            Some(Rule::MovesHousehold)
        ]
    );

    // The refused change was quarantined at an earlier sync; only the rest is sent now.
    let held = HashSet::from([moved.hash()]);
    let household = Household {
        village: Some(VILLAGE),
        exists: true,
        doc: server.document(),
        held: &held,
    };
    let verdicts = screen(&device(&[VILLAGE]), household, &[after, later]);
    let first = verdicts[0].as_ref().unwrap();
    assert_eq!(
        (first.rule, first.waits_for),
        (Rule::Waits, Some(moved.hash()))
    );
    assert!(first.reason.en.contains(&short_hash(&moved.hash())));
    assert_eq!(verdicts[1].as_ref().unwrap().rule, Rule::Waits);
}

#[test]
fn a_concurrent_edit_of_another_phone_is_not_held_back() {
    let (mut server, phone) = stored_and_phone();
    let mut mover = phone.clone();
    let moved = edit(&mut mover, None, |d| {
        put(d, "household.village", OTHER_VILLAGE)
    });
    let mut other = phone.clone();
    other.set_actor(ActorId::random());
    let beside = edit(&mut other, None, |d| put(d, "household.address", "新地址"));
    let verdicts = verdicts_on(&mut server, &device(&[VILLAGE]), &[moved, beside]);
    assert_eq!(verdicts, [Some(Rule::MovesHousehold), None]);
}

#[test]
fn a_second_creation_of_a_new_household_is_refused() {
    let mut phone = created(VILLAGE);
    let creation = phone.get_last_local_change().unwrap();
    let recreate = edit(&mut phone, None, |d| {
        put(d, "household.id", "h-same");
        put(d, "household.village", OTHER_VILLAGE);
    });
    let empty = Automerge::new();
    let held = HashSet::new();
    let household = Household {
        village: None,
        exists: false,
        doc: &empty,
        held: &held,
    };
    let verdicts = screen(
        &device(&[VILLAGE, OTHER_VILLAGE]),
        household,
        &[creation, recreate],
    );
    assert_eq!(verdicts[0], None);
    assert_eq!(verdicts[1].as_ref().unwrap().rule, Rule::SystemField);
}

#[test]
fn until_its_creation_is_accepted_nothing_of_a_new_household_is() {
    let mut phone = created(OTHER_VILLAGE);
    let creation = phone.get_last_local_change().unwrap();
    // A change with no history, as no phone makes one.
    let mut stray = AutoCommit::new();
    put(&mut stray, "household.address", "x");
    stray.commit();
    let orphan = stray.get_last_local_change().unwrap();
    let empty = Automerge::new();
    let held = HashSet::from([creation.hash()]);
    let household = Household {
        village: Some(OTHER_VILLAGE),
        exists: false,
        doc: &empty,
        held: &held,
    };
    let verdicts = screen(&device(&[OTHER_VILLAGE]), household, &[orphan]);
    let refusal = verdicts[0].as_ref().unwrap();
    assert_eq!(
        (refusal.rule, refusal.waits_for),
        (Rule::Waits, Some(creation.hash()))
    );
}

#[test]
fn rule_codes_round_trip_and_the_first_refusal_prefers_a_rule_broken() {
    for rule in Rule::ALL {
        assert_eq!(Rule::parse(rule.as_str()), Some(rule));
    }
    let waits = ScreenRefusal::waits(ChangeHash([1; 32]));
    let moved = ScreenRefusal::new(Rule::MovesHousehold, Message::new("a", "b"));
    assert_eq!(
        first_refusal([&waits, &moved]).unwrap().rule,
        Rule::MovesHousehold
    );
    assert_eq!(first_refusal([&waits]).unwrap().rule, Rule::Waits);
    assert_eq!(by_rule([&waits, &moved, &waits])["waits"], 2);
}

/// A phone's write to a task, by the task's id.
type TaskWrite = fn(&mut AutoCommit, &RecordId);

/// A stored household with a task the server opened, and a phone's fork of it.
fn stored_with_task() -> (AutoCommit, AutoCommit, RecordId) {
    let (mut server, _) = stored_and_phone();
    let spec = schema::tasks::TaskSpec {
        id: schema::tasks::task_id_for("mismatch-1"),
        member: Some(member()),
        check: schema::Message::new("核实就业", "Check employment"),
        field: Some(FieldPath::member(&member(), "employment.status").unwrap()),
        settles_with: vec!["01".to_owned()],
        other_says: "社保有参保单位".to_owned(),
        source: "social_insurance".to_owned(),
        mismatch: None,
    };
    let view = layout::read_household(server.document()).unwrap();
    schema::tasks::write_opening(&mut server, &view, &spec, 1_700_000_100).unwrap();
    server.commit();
    let mut phone = server.fork();
    phone.set_actor(ActorId::random());
    (server, phone, spec.id)
}

#[test]
fn a_phone_may_mark_a_task_checked_with_a_note() {
    let (mut server, mut phone, id) = stored_with_task();
    let change = edit(&mut phone, None, |doc| {
        schema::tasks::write_checked(doc, &id, "本人在县城务工").unwrap();
    });
    assert_eq!(one(&mut server, change), None);
}

#[test]
fn a_phone_may_not_open_settle_close_or_reopen_a_task() {
    let cases: [(&str, TaskWrite); 5] = [
        ("settle", |doc, id| {
            put(doc, &format!("tasks.{id}.status"), "settled");
        }),
        ("close", |doc, id| {
            schema::tasks::write_closing(doc, id, schema::tasks::TaskStatus::Closed, 1, "x", None)
                .unwrap();
        }),
        ("reopen by clearing", |doc, id| {
            doc.delete(ROOT, format!("tasks.{id}.status")).unwrap();
        }),
        ("rewrite what to check", |doc, id| {
            put(doc, &format!("tasks.{id}.check.zh"), "不用核实");
        }),
        ("open a task of its own", |doc, _| {
            put(doc, "tasks.00000000000000aa.check.zh", "自己下发");
        }),
    ];
    for (name, write) in cases {
        let (mut server, mut phone, id) = stored_with_task();
        let change = edit(&mut phone, None, |doc| write(doc, &id));
        assert_eq!(one(&mut server, change), Some(Rule::SystemField), "{name}");
    }
}
