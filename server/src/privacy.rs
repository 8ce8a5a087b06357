//! What a person may see of sensitive personal information: masking ID numbers and
//! withholding health and poverty status in what the API answers, unless the reader's role
//! needs them (DOMAIN.md, Privacy; PIPL arts. 28, 51, 55).
//!
//! The functions here mask API values in place; the handlers call them for a reader whose role
//! does not reveal. The same masking keeps sensitive values out of what the server stores in
//! the clear: review summaries and review history.

use crate::decisions::resolve::ResolveOutcome;
use crate::http::register::HouseholdDetail;
use crate::http::review::{ItemDetail, Shown};
use schema::Message;
use schema::fields::FieldPath;
use schema::id_number::IdNumber;
use schema::layout::{Conflict, Field, FieldValue, HouseholdView, Record};
use schema::validation::Issue;

/// Fields whose values are sensitive personal information, by name (each name is one
/// field's, of one kind of record): ID numbers; health, which records disability; and the
/// household's poverty status: its attribute, the causes of its poverty and whether it has
/// left poverty. DOMAIN.md also names bank accounts, which the survey does not record.
pub const SENSITIVE_FIELDS: &[&str] = &[
    "id_number",
    "health",
    "poverty_attribute",
    "causes",
    "exit_status",
];

/// What a withheld value shows instead.
pub const WITHHELD: &str = "***";

/// The name of the field a path points to (`members.<key>.health` → `health`), for known
/// and unknown paths alike.
fn field_name(path: &str) -> &str {
    if let Ok(parsed) = FieldPath::parse(path) {
        return parsed.name;
    }
    match path.split_once('.') {
        Some(("household", name)) => name,
        Some((_, rest)) => rest.split_once('.').map_or(rest, |(_, name)| name),
        None => path,
    }
}

/// Whether a field is sensitive, by its name.
pub fn is_sensitive_name(name: &str) -> bool {
    SENSITIVE_FIELDS.contains(&name)
}

/// Whether the field at a path (`members.<key>.id_number`) is sensitive.
pub fn is_sensitive(path: &str) -> bool {
    is_sensitive_name(field_name(path))
}

/// An ID number as shown where it must not be read in full: `1411**********123X`. What is
/// not a valid number (recorded wrongly, kept as typed) keeps its first and last four
/// characters only when there are enough of them left hidden.
pub fn mask_id_number(id_number: &str) -> String {
    let typed = id_number.trim();
    if let Ok(number) = IdNumber::parse(typed, crate::clock::Clock::system().today()) {
        return number.masked();
    }
    let chars: Vec<char> = typed.chars().collect();
    if chars.len() < 12 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// A sensitive field's value as shown masked: an ID number masked, anything else withheld.
/// Other fields' values are returned as they are.
pub fn mask_value(name: &str, value: &FieldValue) -> FieldValue {
    match name {
        "id_number" => FieldValue::Text(mask_id_number(&value.display())),
        _ if is_sensitive_name(name) => FieldValue::Text(WITHHELD.to_owned()),
        _ => value.clone(),
    }
}

/// A sensitive field's masked value as a clerk reads it.
pub fn mask_readable(name: &str, value: &FieldValue) -> Message {
    match mask_value(name, value) {
        FieldValue::Text(masked) if name == "id_number" => Message::new(masked.clone(), masked),
        _ => withheld(),
    }
}

fn withheld() -> Message {
    Message::new(
        format!("{WITHHELD}（已隐藏）"),
        format!("{WITHHELD} (withheld)"),
    )
}

fn mask_field(name: &str, field: &mut Field) {
    if !is_sensitive_name(name) {
        return;
    }
    field.value = mask_value(name, &field.value);
    for candidate in &mut field.candidates {
        candidate.value = mask_value(name, &candidate.value);
    }
}

/// Masks a record's sensitive fields, with every candidate of a disputed one.
pub fn mask_record(record: &mut Record) {
    for (name, field) in record.iter_mut() {
        mask_field(name, field);
    }
}

/// Masks every sensitive field of a household: the household's own, its members', and any
/// field this version does not know by a sensitive name.
pub fn mask_view(view: &mut HouseholdView) {
    mask_record(&mut view.household);
    for records in [
        &mut view.members,
        &mut view.visits,
        &mut view.trainings,
        &mut view.subsidies,
    ] {
        records.values_mut().for_each(mask_record);
    }
    for (path, value) in view.unknown.iter_mut() {
        let name = field_name(path);
        if is_sensitive_name(name) {
            *value = mask_value(name, &FieldValue::Text(value.clone())).display();
        }
    }
}

/// Masks the candidates of disputed sensitive fields.
pub fn mask_conflicts(conflicts: &mut [Conflict]) {
    for conflict in conflicts {
        let name = field_name(&conflict.path).to_owned();
        mask_field(&name, &mut conflict.field);
    }
}

/// Replaces the message of a field check on a sensitive field, which may quote the value
/// ("health must be a list of codes; \"残疾\" was entered"), by one that names only the
/// field. Cross-field rules keep theirs: they are written with masked numbers and ages.
pub fn mask_issue(issue: &mut Issue) {
    if issue.rule != "field" || !is_sensitive(&issue.path) {
        return;
    }
    let label = FieldPath::parse(&issue.path)
        .map(|p| p.spec().label())
        .unwrap_or_else(|_| Message::new(issue.path.clone(), issue.path.clone()));
    issue.message = Message::new(
        format!("“{}”填写有误（内容已隐藏）", label.zh),
        format!("{} is not valid (the value is withheld)", label.en),
    );
}

/// The register's view of one household, masked.
pub fn mask_household_detail(detail: &mut HouseholdDetail) {
    mask_view(&mut detail.view);
    mask_conflicts(&mut detail.conflicts);
    detail.issues.iter_mut().for_each(mask_issue);
}

fn mask_shown(name: &str, shown: &mut Shown) {
    shown.readable = mask_readable(name, &shown.value);
    shown.value = mask_value(name, &shown.value);
}

/// A review item as shown to decide it, masked: the value, candidates and history of a
/// sensitive field, the values its history of decisions recorded, and both households.
pub fn mask_item_detail(detail: &mut ItemDetail) {
    let name = field_name(&detail.item.path).to_owned();
    if is_sensitive_name(&name) {
        if let Some(current) = &mut detail.current {
            mask_shown(&name, current);
        }
        for candidate in &mut detail.candidates {
            mask_shown(&name, &mut candidate.value);
        }
        for step in &mut detail.history {
            if let Some(value) = &step.entry.value {
                step.readable = Some(mask_readable(&name, value));
                step.entry.value = Some(mask_value(&name, value));
            }
            if step.entry.code.is_some() {
                step.entry.code = Some(WITHHELD.to_owned());
            }
        }
        for event in &mut detail.events {
            mask_decision_detail(&name, &mut event.detail);
        }
    }
    for part in [&mut detail.household, &mut detail.other_household]
        .into_iter()
        .flatten()
    {
        mask_view(&mut part.view);
        part.issues.iter_mut().for_each(mask_issue);
    }
}

/// Masks the value and readable value a decision on field `name` recorded in its history.
pub fn mask_decision_detail(name: &str, detail: &mut serde_json::Value) {
    let Some(object) = detail.as_object_mut().filter(|_| is_sensitive_name(name)) else {
        return;
    };
    let value = object
        .get("value")
        .and_then(json_field_value)
        .map(|value| mask_value(name, &value));
    if let Some(value) = value {
        object.insert(
            "readable".to_owned(),
            serde_json::to_value(mask_readable(name, &value)).unwrap_or_default(),
        );
        object.insert(
            "value".to_owned(),
            serde_json::to_value(value).unwrap_or_default(),
        );
    }
}

/// A field value from its JSON form (as [`FieldValue`] serialises, untagged).
fn json_field_value(json: &serde_json::Value) -> Option<FieldValue> {
    match json {
        serde_json::Value::String(text) => Some(FieldValue::Text(text.clone())),
        serde_json::Value::Bool(flag) => Some(FieldValue::Boolean(*flag)),
        serde_json::Value::Number(number) => number
            .as_i64()
            .map(FieldValue::Integer)
            .or_else(|| number.as_f64().map(FieldValue::Decimal)),
        serde_json::Value::Array(codes) => Some(FieldValue::Codes(
            codes
                .iter()
                .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))
                .collect(),
        )),
        _ => None,
    }
}

/// What a decision answers, masked when it set a sensitive field.
pub fn mask_resolve_outcome(outcome: &mut ResolveOutcome) {
    let name = field_name(&outcome.item.path);
    if is_sensitive_name(name) {
        outcome.value = mask_value(name, &outcome.value);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::decisions::review::{Event, ItemRow, Kind, ReviewStatus};
    use crate::http::review::{CandidateView, HistoryView};
    use automerge::AutoCommit;
    use schema::fields::{CATALOG, Entity};
    use schema::ids::{AreaCode, HouseholdId, MemberKey};
    use schema::layout::{self, HistoryEntry};
    use std::collections::BTreeSet;

    const ID_NUMBER: &str = "11010519491231002X";

    fn codes(list: &[&str]) -> FieldValue {
        FieldValue::Codes(list.iter().map(|c| (*c).to_owned()).collect())
    }

    fn write(doc: &mut AutoCommit, path: &FieldPath, value: FieldValue) {
        layout::write_field(doc, path, Some(&value)).unwrap();
        doc.commit();
    }

    /// A household whose head has an ID number and health recorded, and whose poverty
    /// attribute is disputed: two phones recorded different values at once.
    fn household() -> (HouseholdView, MemberKey) {
        let mut doc = AutoCommit::new();
        let id = HouseholdId::from_random([3; 16]);
        let village = AreaCode::parse_village("141124100201").unwrap();
        layout::init_household(&mut doc, &id, &village, "0007", 1_700_000_000).unwrap();
        doc.commit();
        let key = MemberKey::from_random([5; 16]);
        let member = |name| FieldPath::member(&key, name).unwrap();
        write(
            &mut doc,
            &member("name"),
            FieldValue::Text("王芳".to_owned()),
        );
        write(
            &mut doc,
            &member("id_number"),
            FieldValue::Text(ID_NUMBER.to_owned()),
        );
        write(
            &mut doc,
            &member("relation"),
            FieldValue::Text("01".to_owned()),
        );
        write(&mut doc, &member("health"), codes(&["02", "04"]));
        let poverty = FieldPath::household("poverty_attribute").unwrap();
        let mut other = doc.fork().with_actor(automerge::ActorId::random());
        write(&mut doc, &poverty, FieldValue::Text("2".to_owned()));
        write(&mut other, &poverty, FieldValue::Text("3".to_owned()));
        doc.merge(&mut other).unwrap();
        (layout::read_household(doc.document()).unwrap(), key)
    }

    fn json(value: &impl serde::Serialize) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn test_sensitive_fields_are_catalog_fields_each_of_one_kind_of_record() {
        for name in SENSITIVE_FIELDS {
            let kinds: BTreeSet<Entity> = CATALOG
                .iter()
                .filter(|spec| spec.name == *name)
                .map(|spec| spec.entity)
                .collect();
            assert_eq!(kinds.len(), 1, "{name} must name one field");
        }
        assert!(is_sensitive("members.abc.id_number"));
        assert!(is_sensitive("household.poverty_attribute"));
        assert!(!is_sensitive("members.abc.name"));
        assert!(!is_sensitive(""));
    }

    #[test]
    fn test_id_numbers_are_masked_keeping_the_first_and_last_four() {
        assert_eq!(mask_id_number(ID_NUMBER), "1101**********002X");
        assert_eq!(mask_id_number(" 11010519491231002x "), "1101**********002X");
        // A legacy number is shown in its 18-character form.
        assert_eq!(mask_id_number("110105491231002"), "1101**********002X");
        // Recorded wrongly: still never more than eight characters shown.
        assert_eq!(mask_id_number("110105194912310021"), "1101**********0021");
        assert_eq!(mask_id_number("1234567"), "*******");
    }

    #[test]
    fn test_household_detail_shows_no_id_number_health_or_poverty_status() {
        let (view, key) = household();
        assert!(
            json(&view).contains(ID_NUMBER),
            "the test household holds one"
        );
        let mut detail = HouseholdDetail {
            id: "h".to_owned(),
            village: "141124100201".to_owned(),
            issues: schema::validation::validate(&view, crate::clock::Clock::system().today()),
            conflicts: view.conflicts(),
            view,
        };
        mask_household_detail(&mut detail);
        let shown = json(&detail);
        assert!(
            !shown.contains(ID_NUMBER) && !shown.contains(&ID_NUMBER[..17]),
            "{shown}"
        );
        assert!(shown.contains("1101**********002X"));
        let member = &detail.view.members[key.as_str()];
        assert_eq!(member["name"].value, FieldValue::Text("王芳".to_owned()));
        assert_eq!(member["relation"].value, FieldValue::Text("01".to_owned()));
        assert_eq!(
            member["health"].value,
            FieldValue::Text(WITHHELD.to_owned())
        );
        let poverty = &detail.view.household["poverty_attribute"];
        assert_eq!(poverty.value, FieldValue::Text(WITHHELD.to_owned()));
        assert_eq!(poverty.candidates.len(), 2);
        assert!(
            poverty
                .candidates
                .iter()
                .all(|c| c.value == FieldValue::Text(WITHHELD.to_owned()))
        );
        let conflict = &detail.conflicts[0];
        assert_eq!(conflict.path, "household.poverty_attribute");
        assert!(!json(conflict).contains("\"3\""), "{}", json(conflict));
        assert!(
            !shown.contains("\"04\"") && !shown.contains("\"3\""),
            "{shown}"
        );
    }

    #[test]
    fn test_a_field_check_on_a_sensitive_field_does_not_quote_the_value() {
        let mut issue = Issue {
            severity: schema::validation::Severity::Error,
            path: "members.abc.health".to_owned(),
            rule: "field",
            message: Message::new(
                "“健康状况”应为代码列表，填写的是“残疾”",
                "…“残疾” was entered",
            ),
        };
        mask_issue(&mut issue);
        assert!(!json(&issue).contains("残疾"), "{}", json(&issue));
        assert!(issue.message.zh.contains("健康状况"));
        let mut other = Issue {
            path: "members.abc.employment.employer".to_owned(),
            ..issue.clone()
        };
        other.message = Message::new("“残疾”", "“残疾”");
        mask_issue(&mut other);
        assert_eq!(
            other.message.zh, "“残疾”",
            "other fields keep their message"
        );
    }

    #[test]
    fn test_review_item_of_a_disputed_poverty_attribute_shows_no_value() {
        let (view, _) = household();
        let path = "household.poverty_attribute".to_owned();
        let field = view
            .field(&FieldPath::parse(&path).unwrap())
            .unwrap()
            .clone();
        let shown = |value: &FieldValue| Shown {
            value: value.clone(),
            readable: Message::new(value.display(), value.display()),
        };
        let mut detail = ItemDetail {
            item: ItemRow {
                id: "i".to_owned(),
                kind: Kind::Conflict,
                status: ReviewStatus::Open,
                household_id: "h".to_owned(),
                household_number: None,
                head_name: None,
                other_household_id: None,
                village: "141124100201".to_owned(),
                path: path.clone(),
                rule: String::new(),
                summary: Message::new("", ""),
                opened_at: 0,
                updated_at: 0,
                closed_at: None,
            },
            place: Message::new("", ""),
            label: None,
            current: Some(shown(&field.value)),
            candidates: field
                .candidates
                .iter()
                .enumerate()
                .map(|(i, c)| CandidateView {
                    number: i + 1,
                    value: shown(&c.value),
                    actor: c.actor.clone(),
                    device: None,
                    volunteer: None,
                    staff: None,
                    time: None,
                    received_at: None,
                    visit: None,
                    review: None,
                })
                .collect(),
            history: vec![HistoryView {
                entry: HistoryEntry {
                    value: Some(FieldValue::Text("3".to_owned())),
                    code: None,
                    actor: "a".to_owned(),
                    device: None,
                    volunteer: None,
                    staff: None,
                    time: 0,
                    origin: layout::ChangeOrigin::of_message(None),
                    change: "c".to_owned(),
                },
                readable: Some(Message::new("低保户", "Subsistence allowance")),
                received_at: None,
            }],
            household: Some(crate::http::review::HouseholdPart {
                id: "h".to_owned(),
                village: "141124100201".to_owned(),
                issues: Vec::new(),
                view,
                members_recorded_by: Default::default(),
            }),
            other_household: None,
            heads: Vec::new(),
            events: vec![Event {
                at: 0,
                who: "staff".to_owned(),
                action: "resolved".to_owned(),
                detail: serde_json::json!({
                    "value": "3",
                    "readable": {"zh": "低保户", "en": "Subsistence allowance"},
                    "comment": "ok"
                }),
            }],
        };
        mask_item_detail(&mut detail);
        let shown = json(&detail);
        for secret in ["\"2\"", "\"3\"", "低保", "Subsistence", "\"04\"", ID_NUMBER] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(
            detail.candidates.len(),
            2,
            "the candidates stay, to pick from"
        );
        assert_eq!(detail.events[0].detail["comment"], "ok");
    }

    #[test]
    fn test_other_review_items_keep_their_values() {
        let value = FieldValue::Text("东街".to_owned());
        assert_eq!(mask_value("address", &value), value);
        let mut detail =
            serde_json::json!({"value": "东街", "readable": {"zh": "东街", "en": "东街"}});
        let before = detail.clone();
        mask_decision_detail("address", &mut detail);
        assert_eq!(detail, before);
        mask_decision_detail("id_number", &mut detail);
        assert_eq!(detail["value"], "**");
    }
}
