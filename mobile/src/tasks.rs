//! Visit tasks as the phone reads them: on a household, and in the to-do list across
//! households. Marking one checked is `DoorstepStore::check_task`.

use crate::household::Bilingual;

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
