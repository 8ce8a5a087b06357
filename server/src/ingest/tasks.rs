//! Visit tasks that follow the comparison (`crate::reports::comparison`): each open mismatch about a
//! household in the ledger becomes a task on it (its id derived from the mismatch's, so once),
//! and a task whose mismatch the comparison no longer finds is settled. Run by this pipeline,
//! after the comparison is recomputed for a household an upload changed, in the same
//! transaction; and by `http` and the CLI after an import or a withdrawal, for every
//! household concerned. It sits here, above `comparison` and `decisions` (both rank 3),
//! because it joins the two.

use crate::access::privacy::Maskable;
use crate::decisions::error::{DecisionError, ReviewError};
use crate::decisions::tasks::{closing, opening, system_signer};
use crate::decisions::write::store_and_refresh;
use crate::reports::comparison::Mismatch;
use crate::storage::ledger::Ledger;
use automerge::AutoCommit;
use schema::Message;
use schema::fields::FieldPath;
use schema::ids::{MemberKey, RecordId};
use schema::layout::{self, HouseholdView};
use schema::tasks::{self, TaskSpec, TaskStatus, task_id_for};
use sqlx::{AnyConnection, Row};
use std::collections::BTreeSet;

/// What following the comparison did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Followed {
    pub opened: usize,
    pub settled: usize,
}

/// The task a mismatch becomes: what to check and what the other roster says, masked as a
/// volunteer may read it (ID numbers and birth dates never reach a phone in full).
pub fn task_of(mismatch: &Mismatch) -> TaskSpec {
    let mut shown = mismatch.clone();
    shown.mask();
    let says = &shown.roster_says;
    let other_says = if says.zh == says.en {
        says.zh.clone()
    } else {
        format!("{} / {}", says.zh, says.en)
    };
    // The first field path that names one field settles it, for the phone to show; the
    // comparison itself decides when it is settled.
    let field = shown.fields.iter().find_map(|f| FieldPath::parse(f).ok());
    TaskSpec {
        id: task_id_for(&mismatch.id),
        member: shown
            .member_key
            .as_deref()
            .and_then(|key| MemberKey::parse(key).ok()),
        check: shown.check.clone(),
        field,
        settles_with: Vec::new(),
        other_says,
        source: mismatch.kind.slug().to_owned(),
        mismatch: Some(mismatch.id.clone()),
    }
}

/// The open mismatches about one household, as the comparison stored them (sealed).
async fn mismatches_of(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    household: &str,
) -> Result<Vec<Mismatch>, ReviewError> {
    let rows = sqlx::query("SELECT detail_sealed FROM mismatch WHERE household_id = $1")
        .bind(household)
        .fetch_all(&mut *conn)
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let sealed: Vec<u8> = row.try_get("detail_sealed")?;
        let opened = ledger.vault().open(&sealed).ok();
        match opened.and_then(|json| serde_json::from_slice::<Mismatch>(&json).ok()) {
            Some(mismatch) => found.push(mismatch),
            None => {
                return Err(ReviewError::Refused(Message::new(
                    "比对结果无法解密，任务未更新",
                    "A stored mismatch cannot be opened; tasks were not updated",
                )));
            }
        }
    }
    Ok(found)
}

/// Brings one household's tasks up to date with its open mismatches, inside the caller's
/// write transaction.
pub async fn follow_household(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    household: &str,
    now: i64,
) -> Result<Followed, ReviewError> {
    let Some((village, mut doc)) = ledger.load_for_write(conn, household).await? else {
        return Ok(Followed::default());
    };
    let view = layout::read_household(doc.document()).map_err(DecisionError::from)?;
    follow_loaded(ledger, conn, household, &village, &mut doc, &view, now).await
}

/// As [`follow_household`], for a household whose document and view the caller holds (ingest,
/// which has just written it). `doc` gains the changes.
pub async fn follow_loaded(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    household: &str,
    village: &str,
    doc: &mut AutoCommit,
    view: &HouseholdView,
    now: i64,
) -> Result<Followed, ReviewError> {
    if view.household_text("merged_into").is_some() {
        return Ok(Followed::default());
    }
    let mismatches = mismatches_of(ledger, conn, household).await?;
    let followed_before = tasks::tasks(view)
        .iter()
        .any(|task| task.status.is_open() && task.mismatch.is_some());
    if mismatches.is_empty() && !followed_before {
        return Ok(Followed::default());
    }
    let current: BTreeSet<&str> = mismatches.iter().map(|m| m.id.as_str()).collect();
    let gone: Vec<RecordId> = tasks::tasks(view)
        .into_iter()
        .filter(|task| task.status.is_open())
        .filter(|task| {
            task.mismatch
                .as_deref()
                .is_some_and(|id| !current.contains(id))
        })
        .filter_map(|task| RecordId::parse(&task.id).ok())
        .collect();
    let specs: Vec<TaskSpec> = mismatches.iter().map(task_of).collect();
    let signer = system_signer();
    let mut changes = Vec::new();
    let mut followed = Followed::default();
    if let Some((change, ids)) = opening(doc, &specs, &signer, now)? {
        followed.opened = ids.len();
        changes.push(change);
    }
    if let Some(change) = closing(doc, &gone, TaskStatus::Settled, &signer, None, now)? {
        followed.settled = gone.len();
        changes.push(change);
    }
    if !changes.is_empty() {
        store_and_refresh(ledger, conn, household, village, doc, changes).await?;
    }
    Ok(followed)
}

/// Brings the tasks of every household the comparison concerns up to date: those with an
/// open mismatch, and those with an open task the comparison opened. One write transaction,
/// after an import or a withdrawal.
pub async fn follow_all(ledger: &Ledger) -> Result<Followed, ReviewError> {
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let rows = sqlx::query(
        "SELECT household_id FROM mismatch WHERE household_id IS NOT NULL
         UNION
         SELECT household_id FROM visit_task WHERE status = 'open' AND mismatch_id IS NOT NULL",
    )
    .fetch_all(&mut *write.tx)
    .await?;
    let households: BTreeSet<String> = rows
        .iter()
        .map(|row| row.try_get::<String, _>("household_id"))
        .collect::<Result<_, _>>()?;
    let mut total = Followed::default();
    for household in households {
        let followed = follow_household(ledger, &mut write.tx, &household, now).await?;
        total.opened += followed.opened;
        total.settled += followed.settled;
    }
    write.commit().await?;
    Ok(total)
}
