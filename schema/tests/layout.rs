//! The household document layout, through the public API: field paths as document keys,
//! writes that make no empty changes, multi-selects as one key per code, conflicts with their
//! writers, migration, and keys from newer versions kept.
#![allow(clippy::unwrap_used)]

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
use doorstep_schema::fields::FieldPath;
use doorstep_schema::ids::{AreaCode, HouseholdId, RecordId};
use doorstep_schema::layout::{self, ActorInfo, FieldValue, HouseholdView, LayoutError};
use doorstep_schema::validation::validate;
use std::collections::BTreeSet;

/// A new household document, committed.
fn new_household() -> AutoCommit {
    let mut doc = AutoCommit::new();
    layout::init_household(
        &mut doc,
        &HouseholdId::parse("h1").unwrap(),
        &AreaCode::parse("141124100201").unwrap(),
        "1411241002010001",
        1_795_000_000,
    )
    .unwrap();
    doc.commit();
    doc
}

/// Types `input` into the field at `path`, as a volunteer would; returns whether it wrote.
fn type_into(doc: &mut AutoCommit, path: &str, input: &str) -> bool {
    let path = FieldPath::parse(path).unwrap();
    let value = FieldValue::from_input(path.spec().kind, input);
    layout::write_field(doc, &path, value.as_ref()).unwrap()
}

fn read(doc: &mut AutoCommit) -> HouseholdView {
    layout::read_household(doc.document()).unwrap()
}

fn value(view: &HouseholdView, path: &str) -> Option<FieldValue> {
    view.field(&FieldPath::parse(path).unwrap())
        .map(|field| field.value.clone())
}

fn keys(doc: &AutoCommit) -> BTreeSet<String> {
    doc.keys(ROOT).collect()
}

fn text(value: &str) -> FieldValue {
    FieldValue::Text(value.to_owned())
}

fn codes(values: &[&str]) -> FieldValue {
    FieldValue::Codes(values.iter().map(|code| (*code).to_owned()).collect())
}

/// A fork of `doc` under a fresh actor that has recorded its device and volunteer.
fn phone(doc: &mut AutoCommit, device: &str, volunteer: &str) -> (AutoCommit, String) {
    let mut phone = doc.fork().with_actor(ActorId::random());
    let actor = phone.get_actor().to_hex_string();
    let info = ActorInfo {
        device: Some(device.to_owned()),
        volunteer: Some(volunteer.to_owned()),
        staff: None,
    };
    layout::write_actor(&mut phone, &actor, &info).unwrap();
    (phone, actor)
}

fn commit_at(doc: &mut AutoCommit, time: i64, visit: Option<&str>) {
    let mut options = CommitOptions::default().with_time(time);
    if let Some(visit) = visit {
        options = options.with_message(layout::visit_message(&RecordId::parse(visit).unwrap()));
    }
    doc.commit_with(options);
}

// Paths and keys.

#[test]
fn test_new_household_holds_its_version_and_starting_fields() {
    let mut doc = new_household();
    assert_eq!(
        keys(&doc),
        [
            "household.created_at",
            "household.id",
            "household.number",
            "household.village",
            "schema_version",
        ]
        .map(str::to_owned)
        .into()
    );
    let view = read(&mut doc);
    assert_eq!(view.schema_version, doorstep_schema::shape::READABLE_FROM);
    assert_eq!(view.household_text("id"), Some("h1"));
    assert_eq!(view.household_text("village"), Some("141124100201"));
    assert_eq!(view.household_text("number"), Some("1411241002010001"));
    assert_eq!(
        value(&view, "household.created_at"),
        Some(FieldValue::Integer(1_795_000_000))
    );
}

#[test]
fn test_each_field_path_is_its_document_key() {
    let cases = [
        ("household.gps.lat", "37.95", FieldValue::Decimal(37.95)),
        ("members.m1.employment.status", "01", text("01")),
        (
            "members.m1.left_household",
            "否",
            FieldValue::Boolean(false),
        ),
        ("visits.v1.outcome", "met", text("met")),
        ("trainings.t1.end_date", "2026-05-20", text("2026-05-20")),
        ("subsidies.s1.amount", "800", FieldValue::Integer(800)),
    ];
    let mut doc = new_household();
    let before = keys(&doc);
    for (path, input, _) in &cases {
        assert!(type_into(&mut doc, path, input));
    }
    let added: BTreeSet<String> = keys(&doc).difference(&before).cloned().collect();
    let paths: BTreeSet<String> = cases.iter().map(|(path, ..)| (*path).to_owned()).collect();
    assert_eq!(added, paths);

    let view = read(&mut doc);
    for (path, _, expected) in cases {
        assert_eq!(value(&view, path), Some(expected), "{path}");
        assert_eq!(FieldPath::parse(path).unwrap().to_string(), path);
    }
    assert!(view.unknown.is_empty());
}

#[test]
fn test_writing_the_value_a_field_already_holds_makes_no_change() {
    let mut doc = new_household();
    assert!(type_into(&mut doc, "members.m1.name", "张三"));
    assert!(type_into(&mut doc, "household.causes", "07,08"));
    assert!(doc.commit().is_some());
    let heads = doc.get_heads();

    assert!(!type_into(&mut doc, "members.m1.name", "张三"));
    assert!(!type_into(&mut doc, "members.m1.name", "  张三 "));
    assert!(!type_into(&mut doc, "household.causes", "08、07"));
    assert!(!type_into(&mut doc, "members.m9.name", ""));
    assert_eq!(doc.commit(), None);
    assert_eq!(doc.get_heads(), heads);
}

#[test]
fn test_clearing_a_field_removes_its_key() {
    let mut doc = new_household();
    type_into(&mut doc, "members.m1.name", "张三");
    type_into(&mut doc, "members.m1.phone", "13900000000");
    doc.commit();

    assert!(type_into(&mut doc, "members.m1.phone", ""));
    assert!(!keys(&doc).contains("members.m1.phone"));
    let view = read(&mut doc);
    assert_eq!(value(&view, "members.m1.phone"), None);
    assert_eq!(value(&view, "members.m1.name"), Some(text("张三")));

    let path = FieldPath::parse("members.m1.name").unwrap();
    assert!(layout::write_field(&mut doc, &path, None).unwrap());
    assert!(!layout::write_field(&mut doc, &path, None).unwrap());
    let view = read(&mut doc);
    assert!(view.members.is_empty(), "{:?}", view.members);
}

#[test]
fn test_multi_select_stores_one_key_per_code() {
    let mut doc = new_household();
    assert!(type_into(&mut doc, "household.causes", "07，01 08"));
    let set_keys: Vec<String> = keys(&doc)
        .into_iter()
        .filter(|key| key.starts_with("household.causes"))
        .collect();
    assert_eq!(
        set_keys,
        [
            "household.causes.01",
            "household.causes.07",
            "household.causes.08"
        ]
    );
    assert_eq!(
        value(&read(&mut doc), "household.causes"),
        Some(codes(&["01", "07", "08"]))
    );
}

#[test]
fn test_rewriting_a_smaller_set_removes_the_codes_left_out() {
    let mut doc = new_household();
    type_into(&mut doc, "members.m1.health", "02,03,04");
    doc.commit();
    assert!(type_into(&mut doc, "members.m1.health", "03"));
    let set_keys: Vec<String> = keys(&doc)
        .into_iter()
        .filter(|key| key.starts_with("members.m1.health"))
        .collect();
    assert_eq!(set_keys, ["members.m1.health.03"]);
    assert_eq!(
        value(&read(&mut doc), "members.m1.health"),
        Some(codes(&["03"]))
    );

    assert!(type_into(&mut doc, "members.m1.health", ""));
    assert!(!keys(&doc).iter().any(|key| key.starts_with("members.m1.")));
    assert_eq!(value(&read(&mut doc), "members.m1.health"), None);
}

#[test]
fn test_value_that_does_not_fit_its_kind_is_kept_as_text() {
    let mut doc = new_household();
    type_into(&mut doc, "members.m1.employment.months_worked", "十二");
    type_into(&mut doc, "household.gps.lat", "北纬38度");
    type_into(&mut doc, "members.m1.employment.contract_signed", "也许");
    let view = read(&mut doc);
    assert_eq!(
        value(&view, "members.m1.employment.months_worked"),
        Some(text("十二"))
    );
    assert_eq!(value(&view, "household.gps.lat"), Some(text("北纬38度")));
    assert_eq!(
        value(&view, "members.m1.employment.contract_signed"),
        Some(text("也许"))
    );
    let today = jiff::civil::date(2026, 11, 29);
    let flagged: BTreeSet<String> = validate(&view, today)
        .into_iter()
        .filter(|issue| issue.rule == "field")
        .map(|issue| issue.path)
        .collect();
    assert_eq!(
        flagged,
        [
            "household.gps.lat",
            "members.m1.employment.contract_signed",
            "members.m1.employment.months_worked",
        ]
        .map(str::to_owned)
        .into()
    );
}

// Concurrent edits.

#[test]
fn test_same_field_edited_offline_on_two_phones_becomes_a_conflict() {
    let mut base = new_household();
    type_into(&mut base, "members.m1.name", "张三");
    base.commit();
    let (mut a, actor_a) = phone(&mut base, "phone-a", "王志愿");
    let (mut b, actor_b) = phone(&mut base, "phone-b", "李志愿");
    assert_ne!(actor_a, actor_b);
    type_into(&mut a, "members.m1.employment.status", "01");
    commit_at(&mut a, 1_795_500_000, Some("v1"));
    type_into(&mut b, "members.m1.employment.status", "02");
    commit_at(&mut b, 1_795_600_000, None);

    a.merge(&mut b).unwrap();
    let view = read(&mut a);
    let conflicts = view.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    let conflict = &conflicts[0];
    assert_eq!(conflict.path, "members.m1.employment.status");
    assert!(conflict.field.is_disputed());
    let candidates = &conflict.field.candidates;
    assert_eq!(candidates.len(), 2);
    assert!(candidates.iter().any(|c| c.value == conflict.field.value));

    let from_a = candidates.iter().find(|c| c.actor == actor_a).unwrap();
    assert_eq!(from_a.value, text("01"));
    assert_eq!(from_a.device.as_deref(), Some("phone-a"));
    assert_eq!(from_a.volunteer.as_deref(), Some("王志愿"));
    assert_eq!(from_a.time, Some(1_795_500_000));
    assert_eq!(from_a.visit.as_deref(), Some("v1"));

    let from_b = candidates.iter().find(|c| c.actor == actor_b).unwrap();
    assert_eq!(from_b.value, text("02"));
    assert_eq!(from_b.device.as_deref(), Some("phone-b"));
    assert_eq!(from_b.volunteer.as_deref(), Some("李志愿"));
    assert_eq!(from_b.time, Some(1_795_600_000));
    assert_eq!(from_b.visit, None);

    assert_eq!(view.actors.len(), 2);
    assert!(layout::has_actor(&a, &actor_a) && layout::has_actor(&a, &actor_b));
    assert_eq!(value(&view, "members.m1.name"), Some(text("张三")));
}

#[test]
fn test_same_value_entered_on_two_phones_is_no_conflict() {
    let mut base = new_household();
    let (mut a, _) = phone(&mut base, "phone-a", "王志愿");
    let (mut b, _) = phone(&mut base, "phone-b", "李志愿");
    type_into(&mut a, "members.m1.employment.status", "01");
    commit_at(&mut a, 1_795_500_000, None);
    type_into(&mut b, "members.m1.employment.status", "01");
    commit_at(&mut b, 1_795_600_000, None);

    a.merge(&mut b).unwrap();
    let view = read(&mut a);
    assert_eq!(view.conflicts(), Vec::new());
    assert_eq!(
        value(&view, "members.m1.employment.status"),
        Some(text("01"))
    );
}

#[test]
fn test_different_fields_and_codes_added_on_two_phones_all_survive_the_merge() {
    let mut base = new_household();
    type_into(&mut base, "household.causes", "01");
    base.commit();
    let (mut a, _) = phone(&mut base, "phone-a", "王志愿");
    let (mut b, _) = phone(&mut base, "phone-b", "李志愿");
    type_into(&mut a, "members.m1.name", "张三");
    type_into(&mut a, "household.causes", "01,07");
    a.commit();
    type_into(&mut b, "members.m1.phone", "13900000000");
    type_into(&mut b, "household.causes", "01,08");
    b.commit();

    a.merge(&mut b).unwrap();
    let view = read(&mut a);
    assert_eq!(view.conflicts(), Vec::new());
    assert_eq!(value(&view, "members.m1.name"), Some(text("张三")));
    assert_eq!(value(&view, "members.m1.phone"), Some(text("13900000000")));
    assert_eq!(
        value(&view, "household.causes"),
        Some(codes(&["01", "07", "08"]))
    );
}

#[test]
fn test_a_later_write_on_the_merged_document_settles_the_conflict() {
    let mut base = new_household();
    let (mut a, _) = phone(&mut base, "phone-a", "王志愿");
    let (mut b, _) = phone(&mut base, "phone-b", "李志愿");
    type_into(&mut a, "members.m1.employment.status", "01");
    a.commit();
    type_into(&mut b, "members.m1.employment.status", "02");
    b.commit();
    a.merge(&mut b).unwrap();
    let mut chosen = a.fork();

    assert!(type_into(&mut a, "members.m1.employment.status", "03"));
    a.commit();
    let view = read(&mut a);
    assert_eq!(view.conflicts(), Vec::new());
    assert_eq!(
        value(&view, "members.m1.employment.status"),
        Some(text("03"))
    );

    // Choosing the value Automerge happened to pick is a choice too, so it is written.
    let winner = read(&mut chosen).conflicts()[0].field.value.clone();
    let path = FieldPath::parse("members.m1.employment.status").unwrap();
    assert!(layout::write_field(&mut chosen, &path, Some(&winner)).unwrap());
    chosen.commit();
    let view = read(&mut chosen);
    assert_eq!(view.conflicts(), Vec::new());
    assert_eq!(value(&view, "members.m1.employment.status"), Some(winner));
}

// Versions and keys this version does not know.

#[test]
fn test_migrate_accepts_a_current_household() {
    let mut doc = new_household();
    assert_eq!(layout::migrate(&mut doc).unwrap(), 1);
    assert_eq!(layout::SCHEMA_VERSION, 3);
}

/// Layout 2 only adds fields, so a household holding them still says it reads on layout 1:
/// a phone on layout 1 refuses a higher number, and would stop syncing on it (ADR 0009).
#[test]
fn test_a_household_with_layout_2_fields_still_says_layout_1_reads_it() {
    let mut doc = new_household();
    for (path, input) in [
        ("members.m1.name", "张三"),
        ("members.m1.employment.status", "01"),
        ("members.m1.employment.place", "北京市朝阳区"),
        ("members.m1.employment.place_area", "110105"),
        ("members.m1.employment.channel", "02"),
        ("subsidies.s1.member", "m1"),
        ("subsidies.s1.kind", "03"),
        ("subsidies.s1.insurance_type", "01"),
        ("subsidies.s1.contribution_base", "2500"),
        ("subsidies.s1.contribution", "4800"),
    ] {
        type_into(&mut doc, path, input);
    }
    doc.commit();
    let view = read(&mut doc);
    assert_eq!(view.schema_version, 1);
    assert_eq!(
        value(&view, "members.m1.employment.place_area"),
        Some(text("110105"))
    );
    assert_eq!(
        value(&view, "subsidies.s1.contribution"),
        Some(FieldValue::Integer(4800))
    );
    assert_eq!(
        value(&view, "members.m1.employment.place"),
        Some(text("北京市朝阳区")),
        "the text of layout 1 stays beside the code"
    );
    assert!(view.unknown.is_empty(), "{:?}", view.unknown);
}

#[test]
fn test_migrate_reads_every_layout_up_to_its_own() {
    for version in 1..=layout::SCHEMA_VERSION {
        let mut doc = new_household();
        doc.put(ROOT, "schema_version", version).unwrap();
        assert_eq!(layout::migrate(&mut doc).unwrap(), version);
    }
    let mut doc = new_household();
    doc.put(ROOT, "schema_version", layout::SCHEMA_VERSION + 1)
        .unwrap();
    assert!(matches!(
        layout::migrate(&mut doc),
        Err(LayoutError::TooNew { .. })
    ));
}

#[test]
fn test_migrate_refuses_a_household_from_a_newer_version() {
    let mut doc = new_household();
    doc.put(ROOT, "schema_version", 99_u64).unwrap();
    let err = layout::migrate(&mut doc).unwrap_err();
    assert!(matches!(err, LayoutError::TooNew { found: 99 }), "{err:?}");
    let message = err.message();
    assert!(message.zh.contains("升级") && message.zh.contains("99"));
    assert!(message.en.contains("update the app") && message.en.contains("99"));
}

#[test]
fn test_empty_document_is_not_a_household() {
    let mut doc = AutoCommit::new();
    let err = layout::migrate(&mut doc).unwrap_err();
    assert!(matches!(err, LayoutError::NotAHousehold), "{err:?}");
    assert!(err.message().zh.contains("不是户档案"));
    assert!(err.message().en.contains("not a household document"));
    assert!(matches!(
        layout::read_household(doc.document()),
        Err(LayoutError::NotAHousehold)
    ));

    // A version of the wrong type is named as such, for a client that is not ours.
    doc.put(ROOT, "schema_version", "one").unwrap();
    let err = layout::migrate(&mut doc).unwrap_err();
    assert!(matches!(err, LayoutError::BadVersion { .. }), "{err:?}");
    assert_eq!(
        err.message().en,
        "\"schema_version\" must hold the unsigned integer 1 (uint), but it holds a string (str); see docs/LAYOUT.md"
    );
    assert!(err.message().zh.contains("schema_version") && err.message().zh.contains("字符串"));
}

#[test]
fn test_keys_from_a_newer_version_are_kept_and_shown() {
    let mut doc = new_household();
    doc.put(ROOT, "household.future_field", "x").unwrap();
    doc.put(ROOT, "pets.p1.name", "小黑").unwrap();
    doc.put_object(ROOT, "members.m1.photos", ObjType::List)
        .unwrap();
    doc.commit();
    type_into(&mut doc, "members.m1.name", "张三");
    doc.commit();

    let mut reloaded = AutoCommit::load(&doc.save()).unwrap();
    let view = read(&mut reloaded);
    assert_eq!(
        view.unknown
            .get("household.future_field")
            .map(String::as_str),
        Some("x")
    );
    assert_eq!(
        view.unknown.get("pets.p1.name").map(String::as_str),
        Some("小黑")
    );
    assert_eq!(
        view.unknown.get("members.m1.photos").map(String::as_str),
        Some("(object)")
    );
    assert_eq!(value(&view, "members.m1.name"), Some(text("张三")));
    assert!(keys(&reloaded).contains("household.future_field"));
}

// What a household is found by.

#[test]
fn test_search_terms_are_the_household_number_names_and_id_numbers() {
    let mut doc = new_household();
    type_into(&mut doc, "members.m1.name", "张三");
    type_into(&mut doc, "members.m1.id_number", "11010519491231002x");
    type_into(&mut doc, "members.m2.name", "李梅");
    let view = read(&mut doc);
    assert_eq!(
        view.search_terms(),
        ["1411241002010001", "张三", "11010519491231002X", "李梅"]
    );
}

#[test]
fn test_head_name_is_the_name_of_the_member_with_relation_01() {
    let mut doc = new_household();
    type_into(&mut doc, "members.m1.name", "李梅");
    type_into(&mut doc, "members.m1.relation", "02");
    assert_eq!(read(&mut doc).head_name(), None);
    type_into(&mut doc, "members.m2.name", "张三");
    type_into(&mut doc, "members.m2.relation", "01");
    assert_eq!(read(&mut doc).head_name(), Some("张三"));
}

// Reading what a person typed.

fn typed(path: &str, input: &str) -> Option<FieldValue> {
    FieldValue::from_input(FieldPath::parse(path).unwrap().spec().kind, input)
}

#[test]
fn test_empty_input_clears_a_field_of_any_kind() {
    for path in [
        "members.m1.name",
        "members.m1.id_number",
        "members.m1.sex",
        "members.m1.health",
        "members.m1.employment.months_worked",
        "household.gps.lat",
        "members.m1.left_household",
        "members.m1.birth_date",
        "visits.v1.finished_at",
    ] {
        assert_eq!(typed(path, ""), None, "{path}");
        assert_eq!(typed(path, "  \t "), None, "{path}");
    }
}

#[test]
fn test_yes_no_input_accepts_chinese_and_english_words_and_digits() {
    let path = "members.m1.intent.wants_work";
    for yes in ["是", "yes", "YES", "Yes", "y", "true", "TRUE", "1", " 是 "] {
        assert_eq!(typed(path, yes), Some(FieldValue::Boolean(true)), "{yes}");
    }
    for no in ["否", "no", "No", "n", "false", "False", "0"] {
        assert_eq!(typed(path, no), Some(FieldValue::Boolean(false)), "{no}");
    }
    assert_eq!(typed(path, "不知道"), Some(text("不知道")));
}

#[test]
fn test_multi_select_input_splits_on_commas_enumeration_commas_and_spaces() {
    let path = "household.causes";
    let expected = Some(codes(&["01", "07", "08", "12"]));
    assert_eq!(typed(path, "01,07,08,12"), expected);
    assert_eq!(typed(path, "01，07，08，12"), expected);
    assert_eq!(typed(path, "01、07、08、12"), expected);
    assert_eq!(typed(path, "01 07  08 12"), expected);
    assert_eq!(typed(path, " 12、08，07, 01 ,07"), expected);
}

#[test]
fn test_number_input_is_read_as_a_number_or_kept_as_text() {
    let months = "members.m1.employment.months_worked";
    assert_eq!(typed(months, " 9 "), Some(FieldValue::Integer(9)));
    assert_eq!(typed(months, "-1"), Some(FieldValue::Integer(-1)));
    assert_eq!(typed(months, "9.5"), Some(text("9.5")));
    assert_eq!(typed(months, "九"), Some(text("九")));
    let lat = "household.gps.lat";
    assert_eq!(typed(lat, "37.95"), Some(FieldValue::Decimal(37.95)));
    assert_eq!(typed(lat, "38"), Some(FieldValue::Decimal(38.0)));
    assert_eq!(typed(lat, "北纬38度"), Some(text("北纬38度")));
    let finished = "visits.v1.finished_at";
    assert_eq!(
        typed(finished, "1795500000"),
        Some(FieldValue::Integer(1_795_500_000))
    );
    assert_eq!(typed(finished, "下午三点"), Some(text("下午三点")));
}

#[test]
fn test_text_code_and_date_input_is_kept_as_typed_but_trimmed() {
    assert_eq!(typed("members.m1.name", " 张 三 "), Some(text("张 三")));
    assert_eq!(typed("members.m1.sex", "1 "), Some(text("1")));
    assert_eq!(
        typed("members.m1.birth_date", "2026/3/1"),
        Some(text("2026/3/1"))
    );
}

#[test]
fn test_id_number_input_is_stored_in_upper_case() {
    assert_eq!(
        typed("members.m1.id_number", " 11010519491231002x "),
        Some(text("11010519491231002X"))
    );
}

#[test]
fn test_field_values_read_back_as_typed() {
    assert_eq!(text("张三").as_text(), Some("张三"));
    assert_eq!(FieldValue::Integer(9).as_integer(), Some(9));
    assert_eq!(FieldValue::Boolean(true).as_bool(), Some(true));
    assert_eq!(codes(&["07", "01"]).as_codes().map(|c| c.len()), Some(2));
    assert_eq!(codes(&["07", "01"]).display(), "01,07");
    assert_eq!(FieldValue::Decimal(37.5).display(), "37.5");
    assert_eq!(text("9").as_integer(), None);
}
