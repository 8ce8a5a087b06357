//! Staff deciding a held change: release it, or discard it. One write transaction, in
//! steps: read the open item and its household → make the changes (the held change, its
//! undoing for a discard, what only waited for it) → store them and refresh the review queue
//! → close the items → audit.

use super::HoldStatus;
use super::held::close;
use super::items::{HoldItem, item};
use super::undo::undo;
use crate::access::accounts;
use crate::access::audit::{self, Entry, Outcome};
use crate::decisions::screen;
use crate::decisions::workflow::covers;
use crate::decisions::write::store_and_refresh;
use crate::storage::ledger::{Ledger, LedgerError};
use crate::storage::vault::Vault;
use automerge::{AutoCommit, Change, ChangeHash};
use schema::Message;
use schema::ids::AreaCode;
use schema::layout::{self, ActorInfo};
use schema::quarantine::Rule;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// What staff decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldDecision {
    Release,
    Discard,
}

impl HoldDecision {
    fn action(self) -> &'static str {
        match self {
            HoldDecision::Release => "quarantine.release",
            HoldDecision::Discard => "quarantine.discard",
        }
    }
}

/// Why a decision cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("{}", .0.en)]
    NotFound(Message),
    /// The item is decided already, or waits for another to be decided first.
    #[error("{}", .0.en)]
    Conflict(Message),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("layout: {0}")]
    Layout(#[from] layout::LayoutError),
}

pub fn not_found(id: &str) -> QuarantineError {
    QuarantineError::NotFound(Message::new(
        format!("没有隔离项“{id}”，或不在您的区划内"),
        format!("No quarantined change \"{id}\" in your area"),
    ))
}

/// What a decision did.
#[derive(Debug, Serialize)]
pub struct Decided {
    pub item: HoldItem,
    /// Items decided with it: those that only waited for it (released), or, for a
    /// household the server never created, everything built on it (discarded).
    pub with: Vec<String>,
    /// The staff change that undid a discarded change.
    pub undone_by: Option<String>,
    pub message: Message,
}

/// One of a household's held changes.
#[derive(Clone)]
struct HeldRow {
    change: Change,
    status: HoldStatus,
    /// `None` for a code this version does not know: never taken for `waits`.
    rule: Option<Rule>,
}

/// A household's held changes, by hash (hex): open ones, and discarded ones the document
/// does not hold.
struct Rows {
    changes: HashMap<String, HeldRow>,
}

/// Who decides which item, how, why and when.
struct Deciding<'a> {
    account: &'a accounts::Account,
    id: &'a str,
    decision: HoldDecision,
    comment: Option<&'a str>,
    now: i64,
}

/// An open item as read for deciding: the item, its change, the household's held changes
/// and the household's document, `None` when the server never created the household.
struct Open {
    item: HoldItem,
    change: Change,
    rows: Rows,
    loaded: Option<(String, AutoCommit)>,
}

/// What deciding did: the items decided with the one asked for, and the change that undid
/// a discarded one.
struct Done {
    with: Vec<String>,
    undone_by: Option<String>,
}

/// Releases or discards a quarantined change, and applies what waited only for it, in one
/// write transaction.
pub async fn decide(
    ledger: &Ledger,
    account: &accounts::Account,
    client: &str,
    id: &str,
    decision: HoldDecision,
    comment: Option<&str>,
) -> Result<Decided, QuarantineError> {
    let deciding = Deciding {
        account,
        id,
        decision,
        comment: comment.map(str::trim).filter(|c| !c.is_empty()),
        now: ledger.clock().now_seconds(),
    };
    let mut write = ledger.db().begin_write().await?;
    let mut open = read_open(ledger, &mut write.tx, &deciding).await?;
    let loaded = open.loaded.take();
    let exists = loaded.is_some();
    let done = if decision == HoldDecision::Discard && !exists {
        discard_without_household(&mut write.tx, &deciding, &open).await?
    } else {
        apply(ledger, &mut write.tx, &deciding, loaded, &open).await?
    };
    audit_decision(&mut write.tx, &deciding, client, &open.item, &done).await?;
    let after = item(&mut write.tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    write.commit().await?;
    Ok(Decided {
        item: after,
        message: decided_message(decision, exists, &done),
        with: done.with,
        undone_by: done.undone_by,
    })
}

/// Reads the item, open and in the staff member's area, with its household's held changes
/// and document.
async fn read_open(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    deciding: &Deciding<'_>,
) -> Result<Open, QuarantineError> {
    let id = deciding.id;
    let item = item(conn, id)
        .await?
        .filter(|item| covers(deciding.account, &item.village))
        .ok_or_else(|| not_found(id))?;
    if item.status != HoldStatus::Open {
        return Err(QuarantineError::Conflict(Message::new(
            format!("该隔离项已处理（{}）", item.status.as_str()),
            format!("This item is decided already ({})", item.status.as_str()),
        )));
    }
    let rows = household_rows(conn, ledger.vault(), &item.household_id).await?;
    let Some(held) = rows.changes.get(id) else {
        return Err(not_found(id));
    };
    let change = held.change.clone();
    let loaded = ledger.load_for_write(conn, &item.household_id).await?;
    Ok(Open {
        item,
        change,
        rows,
        loaded,
    })
}

async fn household_rows(
    conn: &mut AnyConnection,
    vault: &Vault,
    household: &str,
) -> Result<Rows, QuarantineError> {
    let rows = sqlx::query(
        "SELECT hash, bytes, status, rule FROM quarantine
         WHERE household_id = $1 AND status IN ('open', 'discarded')",
    )
    .bind(household)
    .fetch_all(&mut *conn)
    .await?;
    let mut changes = HashMap::new();
    for row in rows {
        let bytes = vault
            .open(&row.try_get::<Vec<u8>, _>("bytes")?)
            .map_err(LedgerError::from)?;
        let change = Change::from_bytes(bytes).map_err(automerge::AutomergeError::from)?;
        let status: String = row.try_get("status")?;
        let rule: String = row.try_get("rule")?;
        changes.insert(
            row.try_get("hash")?,
            HeldRow {
                change,
                status: HoldStatus::parse(&status).unwrap_or(HoldStatus::Open),
                rule: Rule::parse(&rule),
            },
        );
    }
    Ok(Rows { changes })
}

/// A discard of a change of a household the server never created: there is no document for
/// the change to enter, and nothing built on it can ever apply, so it and everything built
/// on it are closed as discarded.
async fn discard_without_household(
    conn: &mut AnyConnection,
    deciding: &Deciding<'_>,
    open: &Open,
) -> Result<Done, QuarantineError> {
    let with = descendants(&open.rows, &open.change);
    let mut all = vec![deciding.id.to_owned()];
    all.extend(with.iter().cloned());
    let by = deciding.account.actor();
    close(
        conn,
        &all,
        HoldStatus::Discarded,
        &by,
        deciding.comment,
        None,
        deciding.now,
    )
    .await?;
    Ok(Done {
        with,
        undone_by: None,
    })
}

/// Applies the held change to its document (a household the server lacks is created),
/// undoes it for a discard, applies what only waited for it, stores it all with the review
/// queue refreshed, and closes the items.
async fn apply(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    deciding: &Deciding<'_>,
    loaded: Option<(String, AutoCommit)>,
    open: &Open,
) -> Result<Done, QuarantineError> {
    let (village, mut doc) =
        loaded.unwrap_or_else(|| (open.item.village.clone(), AutoCommit::new()));
    history_is_held(&mut doc, &open.change, &open.rows).map_err(QuarantineError::Conflict)?;
    let made = changes_to_apply(&mut doc, deciding, open)?;
    let village = village_after(&mut doc, village)?;
    let household = &open.item.household_id;
    store_and_refresh(ledger, conn, household, &village, &mut doc, made.applied).await?;
    close_decided(conn, deciding, &made.done).await?;
    Ok(made.done)
}

/// Refuses a change whose history the document does not hold: it builds on a change still
/// open, or discarded, or one the server lacks.
fn history_is_held(doc: &mut AutoCommit, change: &Change, rows: &Rows) -> Result<(), Message> {
    let Some(dep) = change
        .deps()
        .iter()
        .find(|dep| doc.get_change_by_hash(dep).is_none())
    else {
        return Ok(());
    };
    let short = screen::short_hash(dep);
    Err(match rows.changes.get(&dep.to_string()) {
        Some(HeldRow {
            status: HoldStatus::Open,
            ..
        }) => Message::new(
            format!("该修改建立在隔离项 {short} 之上，请先处理那一项"),
            format!("This change builds on quarantined change {short}; decide that one first"),
        ),
        Some(_) => Message::new(
            format!("该修改建立在已舍弃的修改 {short} 之上，无法放行，只能舍弃"),
            format!(
                "This change builds on discarded change {short}; it cannot be released, only discarded"
            ),
        ),
        None => Message::new(
            format!("服务器缺少该修改的前序修改 {short}"),
            format!("The server lacks change {short}, which this one builds on"),
        ),
    })
}

/// Why the document would not take a decision's changes.
enum Unmade {
    Automerge(automerge::AutomergeError),
    Layout(layout::LayoutError),
}

impl From<automerge::AutomergeError> for Unmade {
    fn from(err: automerge::AutomergeError) -> Self {
        Unmade::Automerge(err)
    }
}

impl From<layout::LayoutError> for Unmade {
    fn from(err: layout::LayoutError) -> Self {
        Unmade::Layout(err)
    }
}

impl From<Unmade> for QuarantineError {
    fn from(err: Unmade) -> Self {
        match err {
            Unmade::Automerge(err) => QuarantineError::Automerge(err),
            Unmade::Layout(err) => QuarantineError::Layout(err),
        }
    }
}

/// The changes a decision applies, already applied to the document, and what they did.
struct Made {
    applied: Vec<Change>,
    done: Done,
}

/// Applies the held change to `doc`, then, for a discard, the staff changes that undo it,
/// then the open items that only waited for it.
fn changes_to_apply(
    doc: &mut AutoCommit,
    deciding: &Deciding<'_>,
    open: &Open,
) -> Result<Made, Unmade> {
    let change = &open.change;
    doc.apply_changes([change.clone()])?;
    let mut applied = vec![change.clone()];
    let mut undone_by = None;
    if deciding.decision == HoldDecision::Discard {
        let staff = ActorInfo {
            device: Some("doorstep-server".to_owned()),
            volunteer: None,
            staff: Some(deciding.account.name.clone()),
        };
        let id = deciding.id;
        let message = layout::review_message(&format!("quarantine {id}"), deciding.comment);
        let undoing = undo(doc, change, &staff, message, deciding.now)?;
        undone_by = undoing.first().map(|c| c.hash().to_string());
        doc.apply_changes(undoing.clone())?;
        applied.extend(undoing);
    }
    let followers = follow(doc, &open.rows)?;
    let with: Vec<String> = followers.iter().map(|c| c.hash().to_string()).collect();
    applied.extend(followers);
    Ok(Made {
        applied,
        done: Done { with, undone_by },
    })
}

/// The village the household is stored under after the decision. A released move is the
/// county moving the household: it is stored, listed and synced under its new village from
/// now on.
fn village_after(doc: &mut AutoCommit, village: String) -> Result<String, layout::LayoutError> {
    let view = layout::read_household(doc.document())?;
    Ok(view
        .household_text("village")
        .filter(|v| AreaCode::parse_village(v).is_ok())
        .map_or(village, str::to_owned))
}

/// Closes the item decided, and the items that only waited for it as released with it.
async fn close_decided(
    conn: &mut AnyConnection,
    deciding: &Deciding<'_>,
    done: &Done,
) -> Result<(), QuarantineError> {
    let (id, comment, now) = (deciding.id, deciding.comment, deciding.now);
    let by = deciding.account.actor();
    let status = match deciding.decision {
        HoldDecision::Release => HoldStatus::Released,
        HoldDecision::Discard => HoldStatus::Discarded,
    };
    let undone_by = done.undone_by.as_deref();
    close(conn, &[id.to_owned()], status, &by, comment, undone_by, now).await?;
    let followed = comment
        .map(|c| format!("with {id}: {c}"))
        .unwrap_or_else(|| format!("with {id}"));
    close(
        conn,
        &done.with,
        HoldStatus::Released,
        &by,
        Some(&followed),
        None,
        now,
    )
    .await?;
    Ok(())
}

async fn audit_decision(
    conn: &mut AnyConnection,
    deciding: &Deciding<'_>,
    client: &str,
    item: &HoldItem,
    done: &Done,
) -> Result<(), QuarantineError> {
    let account = deciding.account;
    let entry = Entry::new(deciding.decision.action(), Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(deciding.id)
        .from(client)
        .saying(format!(
            "household {} rule {}; {} waiting change(s) with it{}",
            item.household_id,
            item.rule,
            done.with.len(),
            deciding
                .comment
                .map(|c| format!("; {c}"))
                .unwrap_or_default()
        ));
    audit::record_in(conn, entry, deciding.now).await?;
    Ok(())
}

/// What the staff member is told.
fn decided_message(decision: HoldDecision, exists: bool, done: &Done) -> Message {
    let with = done.with.len();
    match (decision, exists, done.undone_by.is_some()) {
        (HoldDecision::Release, _, _) => Message::new(
            format!("已放行该修改{}", with_count_zh(with)),
            format!("The change is released{}", with_count_en(with)),
        ),
        (HoldDecision::Discard, false, _) => Message::new(
            "已舍弃：服务器上没有这户，修改只保留在隔离区",
            "Discarded: the server has no such household, so the change stays in quarantine only",
        ),
        (HoldDecision::Discard, true, true) => Message::new(
            format!(
                "已舍弃：修改保留在历史中，其效果已撤销{}",
                with_count_zh(with)
            ),
            format!(
                "Discarded: the change stays in the history and its effect is undone{}",
                with_count_en(with)
            ),
        ),
        (HoldDecision::Discard, true, false) => Message::new(
            format!("已舍弃：该修改没有需要撤销的内容{}", with_count_zh(with)),
            format!(
                "Discarded: the change had no effect to undo{}",
                with_count_en(with)
            ),
        ),
    }
}

fn with_count_zh(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("；等待它的 {n} 条修改已一并生效")
    }
}

fn with_count_en(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("; {n} change(s) waiting for it took effect with it")
    }
}

/// Open items that build on `change`, directly or not.
fn descendants(rows: &Rows, change: &Change) -> Vec<String> {
    let mut reached: HashSet<ChangeHash> = HashSet::from([change.hash()]);
    let mut out = Vec::new();
    loop {
        let mut more = false;
        for (hash, held) in &rows.changes {
            let candidate = &held.change;
            if held.status == HoldStatus::Open
                && !reached.contains(&candidate.hash())
                && candidate.deps().iter().any(|d| reached.contains(d))
            {
                reached.insert(candidate.hash());
                out.push(hash.clone());
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    out.sort();
    out
}

/// Applies the open items that only waited (rule `waits`) and whose history the document
/// now holds, until none is left; returns them in the order applied.
fn follow(doc: &mut AutoCommit, rows: &Rows) -> Result<Vec<Change>, automerge::AutomergeError> {
    let mut applied = Vec::new();
    loop {
        let mut ready: Vec<Change> = rows
            .changes
            .values()
            .filter(|held| {
                held.status == HoldStatus::Open
                    && held.rule == Some(Rule::Waits)
                    && doc.get_change_by_hash(&held.change.hash()).is_none()
            })
            .map(|held| held.change.clone())
            .collect();
        ready.retain(|change| {
            change
                .deps()
                .iter()
                .all(|d| doc.get_change_by_hash(d).is_some())
        });
        if ready.is_empty() {
            return Ok(applied);
        }
        ready.sort_by_key(Change::hash);
        doc.apply_changes(ready.clone())?;
        applied.extend(ready);
    }
}
