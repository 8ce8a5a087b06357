//! Visit tasks on the device (layout 3, `schema::tasks`): the to-do list across households
//! and marking a task checked with a note, an ordinary durable edit of the two keys a phone
//! may write. Opening, settling and closing are the server's; they arrive through sync.

use super::{HouseholdDetail, Store};
use crate::error::{Error, Result};
use rusqlite::params;
use schema::Message;
use schema::ids::{HouseholdId, RecordId};
use schema::tasks::{self, Task};
use serde::Serialize;

/// The longest note a volunteer writes on a task (the server's limit too).
pub const MAX_NOTE_CHARS: usize = 500;

/// One open task of the to-do list, with the household it is on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TodoItem {
    pub household: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    pub task: Task,
}

impl Store {
    /// Every open task on this device, by village, household number and task: what the
    /// next visits should check.
    pub fn todo(&self) -> Result<Vec<TodoItem>> {
        let mut inner = self.lock();
        let households: Vec<(String, String, String, Option<String>)> = {
            let mut statement = inner.conn.prepare_cached(
                "SELECT household_id, village, number, head_name FROM household_index
                 WHERE open_tasks > 0 AND merged_into IS NULL
                 ORDER BY village, number",
            )?;
            let rows = statement.query_map(params![], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut items = Vec::new();
        for (id, village, number, head_name) in households {
            let household = HouseholdId::parse(&id)?;
            let (_, loaded) = inner.load(&household)?;
            let derived = loaded.derived(super::today())?;
            for task in tasks::tasks(&derived.view) {
                if task.status.is_open() {
                    items.push(TodoItem {
                        household: id.clone(),
                        village: village.clone(),
                        number: number.clone(),
                        head_name: head_name.clone(),
                        task,
                    });
                }
            }
        }
        Ok(items)
    }

    /// Marks a task checked, with what the visit found: one durable change, uploaded on
    /// the next sync like any other edit.
    pub fn check_task(
        &self,
        household: &HouseholdId,
        task: &str,
        note: &str,
    ) -> Result<HouseholdDetail> {
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(Error::InvalidInput(Message::new(
                format!("核实说明最多 {MAX_NOTE_CHARS} 个字"),
                format!("A note holds at most {MAX_NOTE_CHARS} characters"),
            )));
        }
        let id = RecordId::parse(task).map_err(|_| {
            Error::InvalidInput(Message::new(
                format!("本户没有核实任务“{task}”"),
                format!("This household has no task \"{task}\""),
            ))
        })?;
        let current = self.household(household)?;
        if let Some(refusal) = tasks::check_refusal(&current.view, id.as_str(), note) {
            return Err(Error::InvalidInput(refusal));
        }
        {
            let mut inner = self.lock();
            inner.edit(household, |doc| Ok(tasks::write_checked(doc, &id, note)?))?;
        }
        self.household(household)
    }
}
