//! Visit tasks (issue 17, ADR 0010): what another office's roster says about a household,
//! sent to the next visit as keys of the household's document (`schema::tasks`).
//!
//! Each workflow is a server change on the document, as a review decision is: read →
//! decide (`schema::tasks`' pure writers, by a fresh actor) → write and refresh (`store_and_refresh`,
//! so the register's `visit_task` rows and the feed follow) → audit. Opening is idempotent
//! by the mismatch's id; settling happens in ingest's transaction when a household's
//! settling field comes to agree with the other roster, or when the comparison no longer
//! finds the mismatch; county staff close a task by hand. A phone marks one checked itself
//! (an ordinary edit, held to that by screening).
//!
//! `queries.rs`: the per-village counts and the list the progress page and the API show.

pub mod queries;

use crate::access::accounts::Account;
use crate::access::audit::{self, Entry, Outcome};
use crate::decisions::changes::{Signer, staff_change};
use crate::decisions::error::{DecisionError, ReviewError};
use crate::decisions::workflow::{household_not_found, load_live, signer_of};
use crate::decisions::write::store_and_refresh;
use crate::storage::ledger::{Ledger, LedgerError};
use automerge::AutoCommit;
use schema::Message;
use schema::ids::RecordId;
use schema::layout::{self, HouseholdView};
use schema::tasks::{self, TaskSpec, TaskStatus};
use serde::Serialize;
use sqlx::AnyConnection;

/// The longest note county staff or a volunteer may close a task with.
pub const MAX_NOTE_CHARS: usize = 500;

/// Who settles a task the household's values or the comparison settled: the server itself,
/// as the document's actors name it.
pub fn system_signer() -> Signer {
    Signer {
        id: "system".to_owned(),
        name: "系统比对 system".to_owned(),
    }
}

/// What opening tasks on a household came to.
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub household: String,
    /// The tasks opened now, by id.
    pub opened: Vec<String>,
    /// The tasks the document held already (the same mismatch opened before), by id.
    pub already: Vec<String>,
}

/// The pure change-maker: the tasks of `specs` the document lacks, as one change by a fresh
/// actor signed by `signer`. `None` when every task is there already.
pub fn opening(
    doc: &mut AutoCommit,
    specs: &[TaskSpec],
    signer: &Signer,
    now: i64,
) -> Result<Option<(automerge::Change, Vec<String>)>, DecisionError> {
    let view = layout::read_household(doc.document())?;
    let new: Vec<&TaskSpec> = specs
        .iter()
        .filter(|spec| !view.tasks.contains_key(spec.id.as_str()))
        .collect();
    if new.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = new.iter().map(|spec| spec.id.to_string()).collect();
    let message = format!("tasks open {}", ids.join(" "));
    let change = staff_change(doc, signer, &message, now, |doc| {
        for spec in &new {
            tasks::write_opening(doc, &view, spec, now)?;
        }
        Ok(())
    })?;
    Ok(Some((change, ids)))
}

/// Opens tasks on a household inside the caller's write transaction (the comparison's
/// import calls this for each household with open mismatches). Returns the ids opened.
pub async fn open_in(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    household: &str,
    specs: &[TaskSpec],
    signer: &Signer,
    now: i64,
) -> Result<Vec<String>, ReviewError> {
    let Some((village, mut doc)) = ledger.load_for_write(conn, household).await? else {
        return Err(household_not_found(household));
    };
    let Some((change, ids)) = opening(&mut doc, specs, signer, now)? else {
        return Ok(Vec::new());
    };
    store_and_refresh(ledger, conn, household, &village, &mut doc, vec![change]).await?;
    Ok(ids)
}

/// Opens tasks on a household in the staff member's area, audited (`task.open`).
pub async fn open_tasks(
    ledger: &Ledger,
    account: &Account,
    client: &str,
    household: &str,
    specs: &[TaskSpec],
) -> Result<Opened, ReviewError> {
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (village, mut doc) = load_live(ledger, &mut write.tx, account, household).await?;
    let opened = match opening(&mut doc, specs, &signer_of(account), now)? {
        Some((change, ids)) => {
            store_and_refresh(
                ledger,
                &mut write.tx,
                household,
                &village,
                &mut doc,
                vec![change],
            )
            .await?;
            ids
        }
        None => Vec::new(),
    };
    let already = specs
        .iter()
        .map(|spec| spec.id.to_string())
        .filter(|id| !opened.contains(id))
        .collect();
    let entry = Entry::new("task.open", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(household.to_owned())
        .from(client)
        .saying(format!("opened {}", opened.join(" ")));
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    Ok(Opened {
        household: household.to_owned(),
        opened,
        already,
    })
}

/// The pure change-maker of settling or closing open tasks: one change by a fresh actor.
/// Tasks no longer open are left as they stand. `None` when none was open.
pub fn closing(
    doc: &mut AutoCommit,
    ids: &[RecordId],
    status: TaskStatus,
    signer: &Signer,
    note: Option<&str>,
    now: i64,
) -> Result<Option<automerge::Change>, DecisionError> {
    let view = layout::read_household(doc.document())?;
    let open: Vec<&RecordId> = ids
        .iter()
        .filter(|id| {
            view.tasks
                .get(id.as_str())
                .is_some_and(|record| tasks::read_task(id.as_str(), record).status.is_open())
        })
        .collect();
    if open.is_empty() {
        return Ok(None);
    }
    let message = format!(
        "tasks {} {}",
        status.as_str(),
        open.iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let change = staff_change(doc, signer, &message, now, |doc| {
        for id in &open {
            tasks::write_closing(doc, id, status, now, &signer.name, note)?;
        }
        Ok(())
    })?;
    Ok(Some(change))
}

/// Settles, inside ingest's write transaction, the open tasks a household's new values
/// agree with. `view` is the merged household as written; `doc` its document, which gains
/// the settling change.
pub async fn settle_agreeing(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    household: &str,
    village: &str,
    doc: &mut AutoCommit,
    view: &HouseholdView,
    now: i64,
) -> Result<usize, LedgerError> {
    let agreeing: Vec<RecordId> = tasks::newly_settled(view)
        .iter()
        .filter_map(|task| RecordId::parse(&task.id).ok())
        .collect();
    if agreeing.is_empty() || view.household_text("merged_into").is_some() {
        return Ok(0);
    }
    match closing(
        doc,
        &agreeing,
        TaskStatus::Settled,
        &system_signer(),
        None,
        now,
    ) {
        Ok(Some(change)) => {
            store_and_refresh(ledger, conn, household, village, doc, vec![change]).await?;
            Ok(agreeing.len())
        }
        Ok(None) => Ok(0),
        // The household's own changes are stored whatever happens here; the task stays
        // open, and the next write tries again.
        Err(err) => {
            tracing::warn!(household, %err, "tasks not settled");
            Ok(0)
        }
    }
}

/// Settles, inside the caller's write transaction, tasks whose mismatch the comparison no
/// longer finds (a newer roster agrees with the ledger now).
pub async fn settle_in(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    household: &str,
    ids: &[RecordId],
    now: i64,
) -> Result<bool, ReviewError> {
    let Some((village, mut doc)) = ledger.load_for_write(conn, household).await? else {
        return Ok(false);
    };
    let Some(change) = closing(
        &mut doc,
        ids,
        TaskStatus::Settled,
        &system_signer(),
        None,
        now,
    )?
    else {
        return Ok(false);
    };
    store_and_refresh(ledger, conn, household, &village, &mut doc, vec![change]).await?;
    Ok(true)
}

/// What a county close came to.
#[derive(Debug, Clone, Serialize)]
pub struct Closed {
    pub household: String,
    pub task: String,
    pub message: Message,
}

fn task_not_found(household: &str, task: &str) -> ReviewError {
    ReviewError::NotFound(Message::new(
        format!("户“{household}”没有核实任务“{task}”，或不在您的区划内"),
        format!("Household \"{household}\" has no task \"{task}\" in your area"),
    ))
}

/// County staff close a task by hand, with a note, audited (`task.close`).
pub async fn close_task(
    ledger: &Ledger,
    account: &Account,
    client: &str,
    household: &str,
    task: &str,
    note: &str,
) -> Result<Closed, ReviewError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return Err(ReviewError::Refused(Message::new(
            format!("请写明办结理由（1 至 {MAX_NOTE_CHARS} 个字）"),
            format!("Say why the task is closed (1 to {MAX_NOTE_CHARS} characters)"),
        )));
    }
    let id = RecordId::parse(task).map_err(|_| task_not_found(household, task))?;
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (village, mut doc) = load_live(ledger, &mut write.tx, account, household).await?;
    let view = layout::read_household(doc.document()).map_err(DecisionError::from)?;
    let Some(current) = tasks::tasks(&view).into_iter().find(|t| t.id == task) else {
        return Err(task_not_found(household, task));
    };
    if !current.status.is_open() {
        let label = current.status.label();
        return Err(ReviewError::Refused(Message::new(
            format!("该任务已是“{}”，无需办结", label.zh),
            format!("The task is already {}; nothing to close", label.en),
        )));
    }
    let signer = signer_of(account);
    let change = closing(
        &mut doc,
        &[id],
        TaskStatus::Closed,
        &signer,
        Some(note),
        now,
    )?
    .ok_or_else(|| task_not_found(household, task))?;
    store_and_refresh(
        ledger,
        &mut write.tx,
        household,
        &village,
        &mut doc,
        vec![change],
    )
    .await?;
    let entry = Entry::new("task.close", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(format!("{household} {task}"))
        .from(client)
        .saying(note.to_owned());
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    Ok(Closed {
        household: household.to_owned(),
        task: task.to_owned(),
        message: Message::new(
            "任务已办结；设备下次同步时更新",
            "The task is closed; devices see it on their next sync",
        ),
    })
}
