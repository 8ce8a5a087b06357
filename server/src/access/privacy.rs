//! What a person may see of sensitive personal information: ID numbers masked, health and
//! poverty status withheld, unless the reader's role needs them (DOMAIN.md, Privacy; PIPL
//! arts. 28, 51, 55).
//!
//! The field catalog (`schema::fields`) marks which fields are sensitive. An answer never holds
//! a household, a field's value or its history as such: it holds a [`Seen`] of it, made for the
//! reader's [`Sight`], and `Seen::new` masks whatever the sight does not reveal. A field added
//! to a household or a record is masked by its catalog entry, without anyone remembering it
//! here. The same masking keeps sensitive values out of what the server stores in the clear:
//! review summaries and review history.

use super::accounts::Account;
use super::roles::Permission;
use schema::Message;
use schema::fields::{CATALOG, FieldPath};
use schema::id_number::IdNumber;
use schema::layout::{Conflict, Field, FieldValue, HistoryEntry, HouseholdView, Record};
use schema::validation::Issue;
use serde::Serialize;
use std::sync::OnceLock;

/// What a withheld value shows instead.
pub const WITHHELD: &str = "***";

// ─── What is sensitive ─────────────────────────────────────────────────────────────────────

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

/// Whether a field is sensitive, by its name: the catalog marks it so. Each sensitive name is
/// one field's, of one kind of record, so a name is enough.
pub fn is_sensitive_name(name: &str) -> bool {
    sensitive_names().contains(&name)
}

/// The names the catalog marks sensitive, gathered once: masking asks for every field.
fn sensitive_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        CATALOG
            .iter()
            .filter(|spec| spec.sensitive)
            .map(|spec| spec.name)
            .collect()
    })
}

/// Whether the field at a path (`members.<key>.id_number`) is sensitive.
pub fn is_sensitive(path: &str) -> bool {
    is_sensitive_name(field_name(path))
}

// ─── Masking one value ─────────────────────────────────────────────────────────────────────

/// An ID number as shown where it must not be read in full: `1411**********123X`. What is
/// not a valid number (recorded wrongly, kept as typed) keeps its first and last four
/// characters only when there are enough of them left hidden.
pub fn mask_id_number(id_number: &str) -> String {
    let typed = id_number.trim();
    // Any birth date will do: masking hides the same characters whatever day it is.
    if let Ok(number) = IdNumber::parse(typed, jiff::civil::Date::MAX) {
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

// ─── Seen for a reader ─────────────────────────────────────────────────────────────────────

/// What a reader sees of sensitive fields: masked, or in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sight {
    revealed: bool,
}

impl Sight {
    /// Sensitive fields masked: what every reader sees unless they ask for more and their role
    /// allows it.
    pub const MASKED: Sight = Sight { revealed: false };

    /// Sensitive fields in full, for an account whose role may read them (every such read is
    /// audited by whoever asks for it); `None` for any other account.
    pub fn revealed_to(account: &Account) -> Option<Sight> {
        account
            .may(Permission::RevealSensitive)
            .then_some(Sight { revealed: true })
    }

    /// What the operator at the server's command line sees: in full when they ask. They hold
    /// the database and its data key already; the command audits what they asked for.
    pub fn for_operator(reveal: bool) -> Sight {
        Sight { revealed: reveal }
    }

    pub fn reveals(self) -> bool {
        self.revealed
    }
}

/// Something that holds sensitive values and can hide them.
pub trait Maskable {
    fn mask(&mut self);
}

/// A `T` as a reader with some [`Sight`] may see it. [`Seen::new`] is the only way to make
/// one, so an answer that holds a `Seen<T>` holds `T` masked unless the sight reveals it.
/// It serialises as `T` does.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Seen<T>(T);

impl<T: Maskable> Seen<T> {
    pub fn new(mut value: T, sight: Sight) -> Seen<T> {
        if !sight.reveals() {
            value.mask();
        }
        Seen(value)
    }

    pub fn get(&self) -> &T {
        &self.0
    }
}

impl<T: Maskable> Maskable for Vec<T> {
    fn mask(&mut self) {
        self.iter_mut().for_each(Maskable::mask);
    }
}

impl<T: Maskable> Maskable for Option<T> {
    fn mask(&mut self) {
        self.iter_mut().for_each(Maskable::mask);
    }
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

/// A record's sensitive fields, with every candidate of a disputed one.
impl Maskable for Record {
    fn mask(&mut self) {
        for (name, field) in self.iter_mut() {
            mask_field(name, field);
        }
    }
}

/// Every sensitive field of a household: the household's own, its members', and any field
/// this version does not know by a sensitive name.
impl Maskable for HouseholdView {
    fn mask(&mut self) {
        self.household.mask();
        for records in [
            &mut self.members,
            &mut self.visits,
            &mut self.trainings,
            &mut self.subsidies,
            &mut self.tasks,
        ] {
            records.values_mut().for_each(Maskable::mask);
        }
        for (path, value) in self.unknown.iter_mut() {
            let name = field_name(path);
            if is_sensitive_name(name) {
                *value = mask_value(name, &FieldValue::Text(value.clone())).display();
            }
        }
    }
}

/// The candidates of a disputed sensitive field.
impl Maskable for Conflict {
    fn mask(&mut self) {
        let name = field_name(&self.path).to_owned();
        mask_field(&name, &mut self.field);
    }
}

impl Maskable for Issue {
    fn mask(&mut self) {
        mask_issue(self);
    }
}

// ─── One field's values ────────────────────────────────────────────────────────────────────

/// A value of one field, as stored and as a clerk reads it: `{ "value", "readable" }`.
#[derive(Debug, Serialize)]
pub struct Shown {
    pub value: FieldValue,
    pub readable: Message,
    #[serde(skip)]
    field: String,
}

impl Shown {
    /// A value of the field at `path`.
    pub fn new(path: &str, value: FieldValue, readable: Message) -> Shown {
        Shown {
            value,
            readable,
            field: field_name(path).to_owned(),
        }
    }
}

impl Maskable for Shown {
    fn mask(&mut self) {
        if is_sensitive_name(&self.field) {
            self.readable = mask_readable(&self.field, &self.value);
            self.value = mask_value(&self.field, &self.value);
        }
    }
}

/// One value the field at a path has had, with its readable form.
#[derive(Debug, Serialize)]
pub struct HistoryStep {
    #[serde(flatten)]
    pub entry: HistoryEntry,
    pub readable: Option<Message>,
    #[serde(skip)]
    field: String,
}

impl HistoryStep {
    pub fn new(path: &str, entry: HistoryEntry, readable: Option<Message>) -> HistoryStep {
        HistoryStep {
            entry,
            readable,
            field: field_name(path).to_owned(),
        }
    }
}

/// The value and readable value of a sensitive field's step, and the one code a multi-select
/// step chose or cleared.
impl Maskable for HistoryStep {
    fn mask(&mut self) {
        let name = &self.field;
        if !is_sensitive_name(name) {
            return;
        }
        if let Some(value) = &self.entry.value {
            self.readable = Some(mask_readable(name, value));
            self.entry.value = Some(mask_value(name, value));
        }
        if self.entry.code.is_some() {
            self.entry.code = Some(WITHHELD.to_owned());
        }
    }
}

/// What a decision on the field at a path recorded in its item's history (JSON, with the
/// `value` and `readable` it set).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct DecisionDetail {
    detail: serde_json::Value,
    #[serde(skip)]
    field: String,
}

impl DecisionDetail {
    pub fn new(path: &str, detail: serde_json::Value) -> DecisionDetail {
        DecisionDetail {
            detail,
            field: field_name(path).to_owned(),
        }
    }
}

/// The value a decision on a sensitive field recorded, and its readable form.
impl Maskable for DecisionDetail {
    fn mask(&mut self) {
        let name = &self.field;
        let Some(object) = self
            .detail
            .as_object_mut()
            .filter(|_| is_sensitive_name(name))
        else {
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

/// The value a decision gave the field at a path.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct DecidedValue {
    value: FieldValue,
    #[serde(skip)]
    field: String,
}

impl DecidedValue {
    pub fn new(path: &str, value: FieldValue) -> DecidedValue {
        DecidedValue {
            value,
            field: field_name(path).to_owned(),
        }
    }
}

impl Maskable for DecidedValue {
    fn mask(&mut self) {
        if is_sensitive_name(&self.field) {
            self.value = mask_value(&self.field, &self.value);
        }
    }
}

/// A household to mask, for the tests here and of the answers built from it (`http`).
#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use automerge::AutoCommit;
    use schema::fields::Entity;
    use schema::ids::{AreaCode, HouseholdId, MemberKey};
    use schema::layout;
    use std::collections::BTreeSet;

    pub(crate) const ID_NUMBER: &str = "11010519491231002X";

    fn codes(list: &[&str]) -> FieldValue {
        FieldValue::Codes(list.iter().map(|c| (*c).to_owned()).collect())
    }

    fn write(doc: &mut AutoCommit, path: &FieldPath, value: FieldValue) {
        layout::write_field(doc, path, Some(&value)).unwrap();
        doc.commit();
    }

    /// A household whose head has an ID number and health recorded, and whose poverty
    /// attribute is disputed: two phones recorded different values at once.
    pub(crate) fn household() -> (HouseholdView, MemberKey) {
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

    pub(crate) fn json(value: &impl serde::Serialize) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn test_sensitive_fields_are_catalog_fields_each_of_one_kind_of_record() {
        let sensitive: BTreeSet<&str> = CATALOG
            .iter()
            .filter(|spec| spec.sensitive)
            .map(|spec| spec.name)
            .collect();
        // ID numbers; health, which records disability; and the household's poverty status:
        // its attribute, the causes of its poverty and whether it has left poverty. DOMAIN.md
        // also names bank accounts, which the survey does not record.
        let before_the_catalog_marked_them = [
            "id_number",
            "health",
            "poverty_attribute",
            "causes",
            "exit_status",
        ];
        assert_eq!(sensitive, before_the_catalog_marked_them.into());
        for name in sensitive {
            let kinds: BTreeSet<Entity> = CATALOG
                .iter()
                .filter(|spec| spec.name == name)
                .map(|spec| spec.entity)
                .collect();
            assert_eq!(kinds.len(), 1, "{name} must name one field");
            assert!(is_sensitive_name(name));
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
    fn test_other_review_items_keep_their_values() {
        let value = FieldValue::Text("东街".to_owned());
        assert_eq!(mask_value("address", &value), value);
        let before = serde_json::json!({"value": "东街", "readable": {"zh": "东街", "en": "东街"}});
        let detail = Seen::new(
            DecisionDetail::new("household.address", before.clone()),
            Sight::MASKED,
        );
        assert_eq!(detail.get().detail, before);
        let detail = Seen::new(
            DecisionDetail::new("members.abc.id_number", before),
            Sight::MASKED,
        );
        assert_eq!(detail.get().detail["value"], "**");
    }
}
