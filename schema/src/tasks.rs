//! Visit tasks: something another office's roster says about a household that the next visit
//! should check (系统信息比对, DOMAIN.md). A task lives in the household's document as flat
//! keys `tasks.<id>.<field>` (layout 3, ADR 0010), so it reaches the village's phones
//! through the ordinary feed and offline work on it merges like every other edit.
//!
//! Who writes what: the server opens a task (every key but `status`'s later values and
//! `note`), settles it when the household's settling field comes to agree with the other
//! roster, and closes it for county staff. A phone only marks it checked, with a note.
//! Screening (`server/src/decisions/screen`) holds a device to that.

use crate::codes;
use crate::fields::{Entity, FieldKind, FieldPath, InvalidPath};
use crate::ids::{MemberKey, RecordId};
use crate::layout::{Field, FieldValue, HouseholdView, LayoutError, Record, write_field};
use crate::message::Message;
use automerge::transaction::Transactable;
use serde::Serialize;

/// Where a task stands. A task leaves `Open` once, and never returns to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    /// The household's settling field came to agree with the other roster (the server).
    Settled,
    /// A volunteer visited and marked it checked, with a note (a phone).
    Checked,
    /// County staff closed it (the console or the API).
    Closed,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 4] = [
        TaskStatus::Open,
        TaskStatus::Settled,
        TaskStatus::Checked,
        TaskStatus::Closed,
    ];

    /// The code stored in `tasks.<id>.status` (`codes::TASK_STATUS`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Settled => "settled",
            TaskStatus::Checked => "checked",
            TaskStatus::Closed => "closed",
        }
    }

    pub fn parse(code: &str) -> Option<TaskStatus> {
        TaskStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == code.trim())
    }

    pub fn label(self) -> Message {
        codes::TASK_STATUS
            .label(self.as_str())
            .unwrap_or_else(|| Message::new(self.as_str(), self.as_str()))
    }

    pub fn is_open(self) -> bool {
        self == TaskStatus::Open
    }

    /// Which status wins when devices and the server wrote different ones concurrently:
    /// the most final. A county close outranks everything; a settled field outranks a
    /// volunteer's check (both say the same thing, the server's is measured); any of them
    /// outranks `open`, so offline work that closed a task is never undone by a merge.
    fn rank(self) -> u8 {
        match self {
            TaskStatus::Open => 0,
            TaskStatus::Checked => 1,
            TaskStatus::Settled => 2,
            TaskStatus::Closed => 3,
        }
    }
}

/// What the server needs to open a task: the mismatch it comes from, in words a volunteer
/// reads and with what settles it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// The task's id in the document, derived from the mismatch's stable id
    /// ([`task_id_for`]), so opening the same mismatch twice is one task.
    pub id: RecordId,
    /// The member it is about, if it is about one.
    pub member: Option<MemberKey>,
    /// What to check, in both languages.
    pub check: Message,
    /// The field whose value settles it, if a field can (a person missing from the ledger
    /// is settled only when the comparison no longer finds the mismatch).
    pub field: Option<FieldPath>,
    /// The values of `field` that agree with the other roster, as typed into the field.
    pub settles_with: Vec<String>,
    /// What the other roster says, already masked as a volunteer may read it.
    pub other_says: String,
    /// The roster kind it comes from (`registry`, `social_insurance`, …).
    pub source: String,
    /// The comparison's mismatch id, for a task the comparison opens: it settles too when
    /// the comparison no longer finds the mismatch. `None` for a task a clerk opens.
    pub mismatch: Option<String>,
}

/// A task as read from a household's document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: String,
    pub member: Option<String>,
    pub check: Message,
    pub field: Option<String>,
    pub settles_with: Vec<String>,
    pub other_says: Option<String>,
    pub source: Option<String>,
    pub mismatch: Option<String>,
    pub opened_at: Option<i64>,
    pub status: TaskStatus,
    /// The volunteer's note; when two phones wrote different notes offline, each of them,
    /// joined, so nothing a volunteer wrote is hidden.
    pub note: Option<String>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

/// The separator between the values in `settles_with`.
const SETTLES_WITH_SEPARATOR: char = '|';

/// A task's id for a mismatch's stable id: 16 hex digits of a BLAKE3 hash, the length of a
/// record id, whatever form the mismatch's id takes.
pub fn task_id_for(mismatch_id: &str) -> RecordId {
    let hash = blake3::hash(format!("doorstep task {mismatch_id}").as_bytes());
    let hex = hex::encode(&hash.as_bytes()[..8]);
    RecordId::parse(&hex).expect("16 hex digits are a record id")
}

/// The path of one of a task's fields.
pub fn task_path(id: &RecordId, name: &str) -> Result<FieldPath, InvalidPath> {
    FieldPath::record(Entity::Task, id, name)
}

fn path(id: &RecordId, name: &str) -> FieldPath {
    task_path(id, name).expect("the task fields are in the catalog")
}

fn text(record: &Record, name: &str) -> Option<String> {
    record
        .get(name)
        .map(|field| field.value.display())
        .filter(|value| !value.trim().is_empty())
}

/// A task's status: the most final of its concurrent values (see `TaskStatus::rank`); open
/// when it has none a reader knows.
fn status_of(field: Option<&Field>) -> TaskStatus {
    let Some(field) = field else {
        return TaskStatus::Open;
    };
    let values = std::iter::once(&field.value).chain(field.candidates.iter().map(|c| &c.value));
    values
        .filter_map(|value| value.as_text().and_then(TaskStatus::parse))
        .max_by_key(|status| status.rank())
        .unwrap_or(TaskStatus::Open)
}

fn note_of(field: Option<&Field>) -> Option<String> {
    let field = field?;
    let mut notes: Vec<String> = Vec::new();
    let values = std::iter::once(&field.value).chain(field.candidates.iter().map(|c| &c.value));
    for note in values.map(FieldValue::display) {
        if !note.trim().is_empty() && !notes.contains(&note) {
            notes.push(note);
        }
    }
    (!notes.is_empty()).then(|| notes.join(" / "))
}

/// Reads one task out of its record.
pub fn read_task(id: &str, record: &Record) -> Task {
    Task {
        id: id.to_owned(),
        member: text(record, "member"),
        check: Message::new(
            text(record, "check.zh").unwrap_or_default(),
            text(record, "check.en").unwrap_or_default(),
        ),
        field: text(record, "field"),
        settles_with: text(record, "settles_with")
            .map(|values| {
                values
                    .split(SETTLES_WITH_SEPARATOR)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        other_says: text(record, "other_says"),
        source: text(record, "source"),
        mismatch: text(record, "mismatch"),
        opened_at: record.get("opened_at").and_then(|f| f.value.as_integer()),
        status: status_of(record.get("status")),
        note: note_of(record.get("note")),
        closed_at: record.get("closed_at").and_then(|f| f.value.as_integer()),
        closed_by: text(record, "closed_by"),
    }
}

/// Every task of a household, by id. A record without a `check` is a fragment (a phone
/// wrote a note to a task the server never opened) and is left out.
pub fn tasks(view: &HouseholdView) -> Vec<Task> {
    view.tasks
        .iter()
        .filter(|(_, record)| record.contains_key("check.zh") || record.contains_key("check.en"))
        .map(|(id, record)| read_task(id, record))
        .collect()
}

/// Whether the household now holds, at the task's settling field, a value that agrees with
/// the other roster. A disputed field agrees with nothing until someone settles it.
pub fn agrees(view: &HouseholdView, task: &Task) -> bool {
    let Some(path) = task.field.as_deref().and_then(|p| FieldPath::parse(p).ok()) else {
        return false;
    };
    let Some(field) = view.field(&path) else {
        return false;
    };
    if field.is_disputed() {
        return false;
    }
    let kind: FieldKind = path.spec().kind;
    task.settles_with
        .iter()
        .filter_map(|value| FieldValue::from_input(kind, value))
        .any(|wanted| wanted == field.value)
}

/// The open tasks the household's values now settle.
pub fn newly_settled(view: &HouseholdView) -> Vec<Task> {
    tasks(view)
        .into_iter()
        .filter(|task| task.status.is_open() && agrees(view, task))
        .collect()
}

/// Writes a new task (the server's change). Returns whether anything was written: a task
/// already in the document is left as it stands, whatever its status, so opening the same
/// mismatch again does nothing.
pub fn write_opening<T: Transactable>(
    tx: &mut T,
    view: &HouseholdView,
    spec: &TaskSpec,
    opened_at: i64,
) -> Result<bool, LayoutError> {
    if view.tasks.contains_key(spec.id.as_str()) {
        return Ok(false);
    }
    let id = &spec.id;
    let text = |value: &str| Some(FieldValue::Text(value.to_owned()));
    let settles_with = spec.settles_with.join(&SETTLES_WITH_SEPARATOR.to_string());
    let values = [
        (
            "member",
            spec.member.as_ref().map(|m| m.as_str().to_owned()),
        ),
        ("check.zh", Some(spec.check.zh.clone())),
        ("check.en", Some(spec.check.en.clone())),
        ("field", spec.field.as_ref().map(ToString::to_string)),
        ("settles_with", Some(settles_with).filter(|s| !s.is_empty())),
        ("other_says", Some(spec.other_says.clone())),
        ("source", Some(spec.source.clone())),
        ("mismatch", spec.mismatch.clone()),
    ];
    for (name, value) in values {
        if let Some(value) = value {
            write_field(tx, &path(id, name), text(&value).as_ref())?;
        }
    }
    write_field(
        tx,
        &path(id, "opened_at"),
        Some(&FieldValue::Integer(opened_at)),
    )?;
    write_field(
        tx,
        &path(id, "status"),
        Some(&FieldValue::Text(TaskStatus::Open.as_str().to_owned())),
    )?;
    Ok(true)
}

/// Closes a task as settled or closed (the server's change), saying when and by whom.
pub fn write_closing<T: Transactable>(
    tx: &mut T,
    id: &RecordId,
    status: TaskStatus,
    at: i64,
    by: &str,
    note: Option<&str>,
) -> Result<(), LayoutError> {
    let status_value = FieldValue::Text(status.as_str().to_owned());
    write_field(tx, &path(id, "status"), Some(&status_value))?;
    write_field(tx, &path(id, "closed_at"), Some(&FieldValue::Integer(at)))?;
    write_field(
        tx,
        &path(id, "closed_by"),
        Some(&FieldValue::Text(by.to_owned())),
    )?;
    if let Some(note) = note.map(str::trim).filter(|note| !note.is_empty()) {
        write_field(
            tx,
            &path(id, "note"),
            Some(&FieldValue::Text(note.to_owned())),
        )?;
    }
    Ok(())
}

/// Marks a task checked with the volunteer's note (a phone's change): the two keys a device
/// may write.
pub fn write_checked<T: Transactable>(
    tx: &mut T,
    id: &RecordId,
    note: &str,
) -> Result<(), LayoutError> {
    let checked = FieldValue::Text(TaskStatus::Checked.as_str().to_owned());
    write_field(tx, &path(id, "status"), Some(&checked))?;
    write_field(
        tx,
        &path(id, "note"),
        Some(&FieldValue::Text(note.trim().to_owned())),
    )?;
    Ok(())
}

/// Why a phone cannot mark a task checked.
pub fn check_refusal(view: &HouseholdView, id: &str, note: &str) -> Option<Message> {
    let Some(record) = view.tasks.get(id) else {
        return Some(Message::new(
            format!("本户没有核实任务“{id}”"),
            format!("This household has no task \"{id}\""),
        ));
    };
    let task = read_task(id, record);
    if !task.status.is_open() {
        let label = task.status.label();
        return Some(Message::new(
            format!("该任务已是“{}”，无需再核实", label.zh),
            format!("The task is already {}; nothing left to check", label.en),
        ));
    }
    if note.trim().is_empty() {
        return Some(Message::new(
            "标记已核实时请写明核实情况",
            "Say what the visit found when marking a task checked",
        ));
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::{AreaCode, HouseholdId};
    use crate::layout::{init_household, read_household};
    use automerge::{ActorId, AutoCommit};

    fn household() -> AutoCommit {
        let mut doc = AutoCommit::new();
        init_household(
            &mut doc,
            &HouseholdId::parse("h01").unwrap(),
            &AreaCode::parse("141124100201").unwrap(),
            "001",
            1_790_000_000,
        )
        .unwrap();
        doc
    }

    fn spec(mismatch: &str) -> TaskSpec {
        TaskSpec {
            id: task_id_for(mismatch),
            member: Some(MemberKey::parse("0a1b2c3d4e5f60718293a4b5").unwrap()),
            check: Message::new("核实是否就业", "Check whether employed"),
            field: Some(
                FieldPath::parse("members.0a1b2c3d4e5f60718293a4b5.employment.status").unwrap(),
            ),
            settles_with: vec!["01".to_owned(), "02".to_owned()],
            other_says: "社保显示有参保单位".to_owned(),
            source: "social_insurance".to_owned(),
            mismatch: Some(mismatch.to_owned()),
        }
    }

    #[test]
    fn test_the_same_mismatch_gives_the_same_task_id_and_opens_once() {
        assert_eq!(task_id_for("m-1"), task_id_for("m-1"));
        assert_ne!(task_id_for("m-1"), task_id_for("m-2"));
        let mut doc = household();
        let view = read_household(doc.document()).unwrap();
        assert!(write_opening(&mut doc, &view, &spec("m-1"), 10).unwrap());
        let view = read_household(doc.document()).unwrap();
        assert!(!write_opening(&mut doc, &view, &spec("m-1"), 11).unwrap());
        let tasks = tasks(&read_household(doc.document()).unwrap());
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].status, TaskStatus::Open);
        assert_eq!(tasks[0].opened_at, Some(10));
        assert_eq!(tasks[0].settles_with, ["01", "02"]);
        assert_eq!(tasks[0].check.en, "Check whether employed");
    }

    #[test]
    fn test_a_task_settles_when_its_field_agrees_with_the_other_roster() {
        let mut doc = household();
        let view = read_household(doc.document()).unwrap();
        write_opening(&mut doc, &view, &spec("m-1"), 10).unwrap();
        let field = spec("m-1").field.unwrap();
        write_field(&mut doc, &field, Some(&FieldValue::Text("09".to_owned()))).unwrap();
        assert!(newly_settled(&read_household(doc.document()).unwrap()).is_empty());
        write_field(&mut doc, &field, Some(&FieldValue::Text("02".to_owned()))).unwrap();
        let settled = newly_settled(&read_household(doc.document()).unwrap());
        assert_eq!(settled.len(), 1);
        write_closing(
            &mut doc,
            &spec("m-1").id,
            TaskStatus::Settled,
            20,
            "system",
            None,
        )
        .unwrap();
        assert!(newly_settled(&read_household(doc.document()).unwrap()).is_empty());
    }

    #[test]
    fn test_a_check_and_a_settle_made_concurrently_keep_the_more_final_status() {
        let mut server = household();
        let view = read_household(server.document()).unwrap();
        write_opening(&mut server, &view, &spec("m-1"), 10).unwrap();
        let mut phone = server.fork().with_actor(ActorId::random());
        let mut other_phone = server.fork().with_actor(ActorId::random());
        let id = spec("m-1").id;
        write_checked(&mut phone, &id, "本人在外务工").unwrap();
        write_checked(&mut other_phone, &id, "电话核实在外地").unwrap();
        write_closing(&mut server, &id, TaskStatus::Settled, 20, "system", None).unwrap();
        server.merge(&mut phone).unwrap();
        server.merge(&mut other_phone).unwrap();
        phone.merge(&mut server).unwrap();
        let on_server = tasks(&read_household(server.document()).unwrap());
        let on_phone = tasks(&read_household(phone.document()).unwrap());
        assert_eq!(on_server, on_phone);
        assert_eq!(on_server[0].status, TaskStatus::Settled);
        let note = on_server[0].note.clone().unwrap();
        assert!(
            note.contains("本人在外务工") && note.contains("电话核实在外地"),
            "{note}"
        );
    }

    #[test]
    fn test_a_phone_cannot_check_a_closed_task_or_without_a_note() {
        let mut doc = household();
        let view = read_household(doc.document()).unwrap();
        write_opening(&mut doc, &view, &spec("m-1"), 10).unwrap();
        let id = spec("m-1").id;
        let view = read_household(doc.document()).unwrap();
        assert!(check_refusal(&view, id.as_str(), "  ").is_some());
        assert!(check_refusal(&view, "0000000000000000", "x").is_some());
        assert!(check_refusal(&view, id.as_str(), "在家").is_none());
        write_closing(&mut doc, &id, TaskStatus::Closed, 20, "县里", Some("已核")).unwrap();
        let view = read_household(doc.document()).unwrap();
        assert!(check_refusal(&view, id.as_str(), "在家").is_some());
    }
}
