//! What the phone reads: households, their fields, members, visits, issues, conflicts and
//! visit tasks, and the to-do list of open tasks, as plain records the bindings copy across
//! the boundary.
//!
//! Field labels and code lists are not repeated in every household: the UI reads them once
//! from [`crate::catalog::field_catalog`].

use client_core::HouseholdDetail;
use schema::Message;
use schema::fields::{Entity, FieldPath, spec};
use schema::layout::{self, Record};
use schema::validation::{self, Issue};

/// A text a person reads, in Chinese and in English.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Bilingual {
    pub zh: String,
    pub en: String,
}

impl From<Message> for Bilingual {
    fn from(message: Message) -> Self {
        Bilingual {
            zh: message.zh,
            en: message.en,
        }
    }
}

/// One line of the household list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HouseholdSummary {
    pub id: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    pub member_count: i64,
    pub error_count: i64,
    pub warning_count: i64,
    pub conflict_count: i64,
    pub unsynced_changes: i64,
    /// Seconds since 1970.
    pub updated_at: i64,
}

impl From<client_core::HouseholdSummary> for HouseholdSummary {
    fn from(s: client_core::HouseholdSummary) -> Self {
        HouseholdSummary {
            id: s.id,
            village: s.village,
            number: s.number,
            head_name: s.head_name,
            member_count: s.member_count,
            error_count: s.error_count,
            warning_count: s.warning_count,
            conflict_count: s.conflict_count,
            unsynced_changes: s.unsynced_changes,
            updated_at: s.updated_at,
        }
    }
}

/// What the household list is filtered by. Every part is optional.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct HouseholdQuery {
    /// Part of a name, ID number or household number.
    #[uniffi(default = None)]
    pub text: Option<String>,
    /// A 12-digit village code.
    #[uniffi(default = None)]
    pub village: Option<String>,
    #[uniffi(default = None)]
    pub limit: Option<u32>,
    #[uniffi(default = 0)]
    pub offset: u32,
}

/// The value of one field.
///
/// Its path, which `set_field` takes and issues and conflicts name, is not repeated here: it
/// is its record's prefix and key, then `name` (`household.<name>`, `members.<key>.<name>`,
/// `visits.<id>.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldEntry {
    /// The field's name within its record (`employment.status`), the catalog's key.
    pub name: String,
    /// The value as a person would type it back (codes as codes).
    pub value: String,
    /// The value as a person reads it, where that is not `value` itself: codes with their
    /// labels, yes/no for flags. `None`: show `value`.
    pub readable: Option<Bilingual>,
    /// Devices recorded different values; see the household's conflicts.
    pub disputed: bool,
}

/// A member of the household.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    /// The member's key; their fields' paths are `members.<key>.<name>`.
    pub key: String,
    pub name: Option<String>,
    pub fields: Vec<FieldEntry>,
}

/// A visit to the household, open until it has an outcome.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Visit {
    /// The visit's id; its fields' paths are `visits.<id>.<name>`.
    pub id: String,
    /// Seconds since 1970.
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// A `VISIT_OUTCOME` code, once finished.
    pub outcome: Option<String>,
    pub notes: Option<String>,
    pub fields: Vec<FieldEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Severity {
    /// The record is wrong as it stands and must be corrected.
    Error,
    /// Unusual; worth a second look, but it may be true.
    Warning,
}

/// One problem validation found.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ValidationIssue {
    pub severity: Severity,
    /// The field it is about.
    pub path: String,
    /// A stable name for the rule.
    pub rule: String,
    pub message: Bilingual,
}

impl From<Issue> for ValidationIssue {
    fn from(issue: Issue) -> Self {
        ValidationIssue {
            severity: match issue.severity {
                validation::Severity::Error => Severity::Error,
                validation::Severity::Warning => Severity::Warning,
            },
            path: issue.path,
            rule: issue.rule.to_owned(),
            message: issue.message.into(),
        }
    }
}

pub(crate) fn issues(issues: Vec<Issue>) -> Vec<ValidationIssue> {
    issues.into_iter().map(ValidationIssue::from).collect()
}

/// One of the values devices recorded for a disputed field, and who recorded it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Candidate {
    /// As typed; pass it to `set_field` to settle the conflict on this value.
    pub value: String,
    /// As a person reads it, where that is not `value` itself (as in `FieldEntry`).
    pub readable: Option<Bilingual>,
    pub device: Option<String>,
    pub volunteer: Option<String>,
    /// The writer's device clock, seconds since 1970.
    pub time: Option<i64>,
    /// The visit the value was recorded in.
    pub visit: Option<String>,
}

/// A field that devices disagree on. Setting the field settles it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldConflict {
    pub path: String,
    pub label: Bilingual,
    pub candidates: Vec<Candidate>,
}

/// An opened household.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Household {
    pub id: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    /// The household's own fields; their paths are `household.<name>`.
    pub fields: Vec<FieldEntry>,
    pub members: Vec<Member>,
    pub visits: Vec<Visit>,
    pub issues: Vec<ValidationIssue>,
    pub conflicts: Vec<FieldConflict>,
    pub unsynced_changes: i64,
    /// Its visit tasks, open and closed.
    pub tasks: Vec<VisitTask>,
}

impl From<HouseholdDetail> for Household {
    fn from(detail: HouseholdDetail) -> Self {
        let view = &detail.view;
        let text = |record: &Record, name: &str| {
            record
                .get(name)
                .and_then(|f| f.value.as_text())
                .map(str::to_owned)
        };
        let integer =
            |record: &Record, name: &str| record.get(name).and_then(|f| f.value.as_integer());
        let members = view
            .members
            .iter()
            .map(|(key, record)| Member {
                key: key.clone(),
                name: text(record, "name"),
                fields: fields(Entity::Member, record),
            })
            .collect();
        let visits = view
            .visits
            .iter()
            .map(|(id, record)| Visit {
                id: id.clone(),
                started_at: integer(record, "started_at"),
                finished_at: integer(record, "finished_at"),
                outcome: text(record, "outcome"),
                notes: text(record, "notes"),
                fields: fields(Entity::Visit, record),
            })
            .collect();
        let conflicts = detail
            .conflicts
            .into_iter()
            .map(|conflict| {
                let path = FieldPath::parse(&conflict.path).ok();
                let label = path.as_ref().map(|p| p.spec().label());
                let kind = path.as_ref().map(|p| p.spec().kind);
                FieldConflict {
                    label: label
                        .unwrap_or_else(|| Message::new(&conflict.path, &conflict.path))
                        .into(),
                    path: conflict.path,
                    candidates: conflict
                        .field
                        .candidates
                        .into_iter()
                        .map(|c| {
                            let value = c.value.display();
                            Candidate {
                                readable: readable(&c.value, &value, kind),
                                value,
                                device: c.device,
                                volunteer: c.volunteer,
                                time: c.time,
                                visit: c.visit,
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        Household {
            village: view
                .household_text("village")
                .unwrap_or_default()
                .to_owned(),
            number: view.household_text("number").unwrap_or_default().to_owned(),
            head_name: view.head_name().map(str::to_owned),
            fields: fields(Entity::Household, &view.household),
            members,
            visits,
            issues: issues(detail.issues),
            conflicts,
            unsynced_changes: detail.unsynced_changes,
            tasks: detail.tasks.into_iter().map(Into::into).collect(),
            id: detail.id,
        }
    }
}

fn fields(entity: Entity, record: &Record) -> Vec<FieldEntry> {
    record
        .iter()
        .map(|(name, field)| {
            let kind = spec(entity, name).map(|s| s.kind);
            let value = field.value.display();
            FieldEntry {
                name: (*name).to_owned(),
                readable: readable(&field.value, &value, kind),
                value,
                disputed: field.is_disputed(),
            }
        })
        .collect()
}

/// How a value reads (`schema`'s `FieldValue::readable`), unless that is the value as typed
/// (`shown`) in both languages, as for text, numbers, dates and unknown codes.
fn readable(
    value: &layout::FieldValue,
    shown: &str,
    kind: Option<schema::fields::FieldKind>,
) -> Option<Bilingual> {
    let message = value.readable(kind?);
    (message.zh != shown || message.en != shown).then(|| message.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use client_core::Store;
    use schema::ids::{AreaCode, HouseholdId};

    /// A store in a temporary directory (dropped with the directory) holding one household.
    fn household_in_a_new_store(number: Option<&str>) -> (tempfile::TempDir, Store, HouseholdId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let village = AreaCode::parse_village("141124100201").unwrap();
        let id = store.create_household(&village, number).unwrap();
        (dir, store, id)
    }

    #[test]
    fn test_a_field_two_phones_set_offline_becomes_a_conflict_with_both_candidates() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (
            Store::open(a_dir.path()).unwrap(),
            Store::open(b_dir.path()).unwrap(),
        );
        let village = AreaCode::parse_village("141124100201").unwrap();
        let id = a.create_household(&village, Some("7")).unwrap();
        let key = a.add_member(&id, "刘伟", None).unwrap();
        b.apply_document(&id, &a.document_bytes(&id).unwrap())
            .unwrap();
        let place = format!("members.{key}.employment.place");
        a.set_field(&id, &place, "太原").unwrap();
        b.set_field(&id, &place, "吕梁").unwrap();
        let from_b = b.changes_since(&id, &a.heads(&id).unwrap()).unwrap();
        a.apply_changes(&id, &from_b).unwrap();

        let household = Household::from(a.household(&id).unwrap());

        assert_eq!(household.number, "7");
        let member = &household.members[0];
        assert_eq!(member.name.as_deref(), Some("刘伟"));
        assert_eq!(place, format!("members.{}.employment.place", member.key));
        let field = member
            .fields
            .iter()
            .find(|f| f.name == "employment.place")
            .unwrap();
        assert!(field.disputed);
        let conflict = &household.conflicts[0];
        assert_eq!(conflict.path, place);
        assert_eq!(conflict.label.zh, "就业地点");
        let mut values: Vec<&str> = conflict
            .candidates
            .iter()
            .map(|c| c.value.as_str())
            .collect();
        values.sort();
        assert_eq!(values, ["吕梁", "太原"]);
    }

    #[test]
    fn test_codes_read_with_their_labels() {
        let (_dir, store, id) = household_in_a_new_store(None);
        store
            .set_field(&id, "household.poverty_attribute", "01")
            .unwrap();
        let household = Household::from(store.household(&id).unwrap());
        let field = household
            .fields
            .iter()
            .find(|f| f.name == "poverty_attribute")
            .unwrap();
        assert_eq!(field.value, "01");
        let readable = field.readable.as_ref().unwrap();
        assert!(readable.zh.ends_with("（01）"), "{}", readable.zh);
        assert!(readable.en.ends_with(" (01)"), "{}", readable.en);
    }

    #[test]
    fn test_the_documented_path_of_every_field_read_names_that_field() {
        let (_dir, store, id) = household_in_a_new_store(Some("3"));
        let visit = store.start_visit(&id).unwrap();
        let key = store.add_member(&id, "刘伟", None).unwrap();
        store
            .set_field(&id, &format!("members.{key}.employment.status"), "01")
            .unwrap();
        store
            .finish_visit(&id, &visit, "met", Some("在家"), None)
            .unwrap();
        let household = Household::from(store.household(&id).unwrap());

        let mut paths: Vec<(String, Entity, &str, &str)> = Vec::new();
        for f in &household.fields {
            paths.push((
                format!("household.{}", f.name),
                Entity::Household,
                "",
                &f.name,
            ));
        }
        for m in &household.members {
            for f in &m.fields {
                let path = format!("members.{}.{}", m.key, f.name);
                paths.push((path, Entity::Member, &m.key, &f.name));
            }
        }
        for v in &household.visits {
            for f in &v.fields {
                let path = format!("visits.{}.{}", v.id, f.name);
                paths.push((path, Entity::Visit, &v.id, &f.name));
            }
        }
        assert!(paths.iter().any(|(_, e, ..)| *e == Entity::Visit));
        for (path, entity, key, name) in paths {
            let parsed = FieldPath::parse(&path).unwrap();
            assert_eq!(
                (parsed.entity, parsed.key.as_str(), parsed.name),
                (entity, key, name),
                "{path}"
            );
        }
    }

    #[test]
    fn test_only_values_that_read_differently_carry_a_readable_form() {
        let (_dir, store, id) = household_in_a_new_store(None);
        let key = store.add_member(&id, "刘伟", None).unwrap();
        for (name, value) in [
            ("employment.place", "太原"),
            ("employment.months_worked", "8"),
            ("intent.wants_work", "是"),
            ("education", "03"),
            // Not a code of the list: stored as typed, and reported by validation.
            ("relation", "表亲"),
        ] {
            store
                .set_field(&id, &format!("members.{key}.{name}"), value)
                .unwrap();
        }
        let household = Household::from(store.household(&id).unwrap());
        let member = &household.members[0];
        let field = |name: &str| member.fields.iter().find(|f| f.name == name).unwrap();

        for plain in [
            "name",
            "employment.place",
            "employment.months_worked",
            "relation",
        ] {
            assert_eq!(field(plain).readable, None, "{plain}");
        }
        assert_eq!(field("employment.place").value, "太原");
        assert_eq!(field("relation").value, "表亲");
        let flag = field("intent.wants_work");
        assert_eq!(flag.value, "true");
        assert_eq!(
            flag.readable,
            Some(Bilingual {
                zh: "是".into(),
                en: "yes".into()
            })
        );
        let education = field("education").readable.clone().unwrap();
        assert!(education.zh.ends_with("（03）"), "{}", education.zh);
    }
}

// ─── Visit tasks: on a household, and in the to-do list (`DoorstepStore::todo`) ───

/// One visit task: what another office's roster says that a visit should check.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitTask {
    /// The task's id; its keys are `tasks.<id>.<name>`.
    pub id: String,
    /// `open`, `settled`, `checked` or `closed` (the `task_status` code list).
    pub status: String,
    pub status_label: Bilingual,
    /// What to check.
    pub check: Bilingual,
    /// The member it is about, by key.
    pub member: Option<String>,
    /// The field whose value settles it.
    pub field: Option<String>,
    /// What the other roster says, masked.
    pub other_says: Option<String>,
    /// The roster kind it comes from.
    pub source: Option<String>,
    pub note: Option<String>,
    /// Seconds since 1970.
    pub opened_at: Option<i64>,
}

impl From<schema::tasks::Task> for VisitTask {
    fn from(task: schema::tasks::Task) -> Self {
        VisitTask {
            id: task.id,
            status: task.status.as_str().to_owned(),
            status_label: task.status.label().into(),
            check: task.check.into(),
            member: task.member,
            field: task.field,
            other_says: task.other_says,
            source: task.source,
            note: task.note,
            opened_at: task.opened_at,
        }
    }
}

/// One open task of the to-do list, with the household it is on.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TodoItem {
    pub household: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    pub task: VisitTask,
}

impl From<client_core::TodoItem> for TodoItem {
    fn from(item: client_core::TodoItem) -> Self {
        TodoItem {
            household: item.household,
            village: item.village,
            number: item.number,
            head_name: item.head_name,
            task: item.task.into(),
        }
    }
}
