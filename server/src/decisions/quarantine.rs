//! Quarantine: changes a device uploaded that screening refused (`screen.rs`), held for
//! county staff to release or discard.
//!
//! Nothing a device sends is dropped. A refused change is stored here, sealed like every
//! change, with the rule it broke, and the device is told it is held, so it stops sending it.
//! Staff then decide:
//!
//! - **Release**: the change is applied as if it had been accepted, in one write
//!   transaction, with the register rows and the review queue, as any accepted change.
//! - **Discard**: the change still enters the household's history, and a staff change made
//!   right after it restores what it overwrote. The phone's later changes build on it, so
//!   dropping it would strand them, and the phone could never converge with the server
//!   (ADR 0006).
//!
//! Either way, changes held only because they build on the decided one (rule `waits`) are
//! applied with it: they broke no rule of their own. A change that waits for another still
//! open cannot be decided first; a change of a household the server never created is
//! discarded outright, with everything built on it, since there is no document to enter.

use crate::accounts;
use crate::audit::{self, Entry, Outcome};
use crate::auth::Device;
use crate::decisions::screen::{self, Rule, ScreenRefusal};
use crate::decisions::write::store_and_refresh;
use crate::privacy;
use crate::storage::db::{Backend, rows_per_statement};
use crate::storage::ledger::{Ledger, LedgerError};
use crate::storage::vault::Vault;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Automerge, Change, ChangeHash, ROOT, ReadDoc, Value};
use schema::Message;
use schema::fields::FieldPath;
use schema::ids::AreaCode;
use schema::layout::{self, ActorInfo, FieldValue};
use schema::wire::{Bytes, UploadOutcome};
use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where a quarantined change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Waiting for staff.
    Open,
    /// Applied as sent, by a staff decision (or with the change it waited for).
    Released,
    /// In the history, its effect undone by a staff change; or, for a household the server
    /// never created, kept here only.
    Discarded,
    /// Sent again later by a device allowed to write it, and applied then.
    Accepted,
}

impl HoldStatus {
    pub const ALL: [HoldStatus; 4] = [
        HoldStatus::Open,
        HoldStatus::Released,
        HoldStatus::Discarded,
        HoldStatus::Accepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Open => "open",
            HoldStatus::Released => "released",
            HoldStatus::Discarded => "discarded",
            HoldStatus::Accepted => "accepted",
        }
    }

    pub fn parse(text: &str) -> Option<HoldStatus> {
        HoldStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

// ─── Ingest ────────────────────────────────────────────────────────────────────────────────

/// A change of a household held in quarantine, as ingest needs it.
#[derive(Debug, Clone)]
pub struct HeldChange {
    pub change: Change,
    pub village: String,
    /// The device that sent it.
    pub device_id: String,
    pub status: HoldStatus,
    pub rule: Option<Rule>,
    pub reason: Message,
    pub waits_for: Option<ChangeHash>,
}

/// The changes of these households an upload may build on or send again: those open, and
/// those discarded of households the server never created (for one it did, a discarded
/// change is in its document). Usually none: one cheap statement per batch.
pub async fn held_for(
    conn: &mut AnyConnection,
    vault: &Vault,
    households: &[&str],
) -> Result<HashMap<String, Vec<HeldChange>>, LedgerError> {
    let mut held: HashMap<String, Vec<HeldChange>> = HashMap::new();
    for batch in households.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT q.household_id, q.village, q.device_id, q.bytes, q.status, q.rule,
                    q.reason_zh, q.reason_en, q.waits_for
             FROM quarantine q
             WHERE q.household_id IN ({})
               AND (q.status = 'open' OR (q.status = 'discarded' AND NOT EXISTS
                    (SELECT 1 FROM document d WHERE d.household_id = q.household_id)))
             ORDER BY q.received_at, q.hash",
            Backend::of(conn).placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for household in batch {
            query = query.bind(household.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let Ok(change) = Change::from_bytes(vault.open(&row.try_get::<Vec<u8>, _>("bytes")?)?)
            else {
                continue; // checked when stored
            };
            let status: String = row.try_get("status")?;
            let rule: String = row.try_get("rule")?;
            let waits_for: Option<String> = row.try_get("waits_for")?;
            held.entry(row.try_get("household_id")?)
                .or_default()
                .push(HeldChange {
                    change,
                    village: row.try_get("village")?,
                    device_id: row.try_get("device_id")?,
                    status: HoldStatus::parse(&status).unwrap_or(HoldStatus::Open),
                    rule: Rule::parse(&rule),
                    reason: Message::new(
                        row.try_get::<String, _>("reason_zh")?,
                        row.try_get::<String, _>("reason_en")?,
                    ),
                    waits_for: waits_for.and_then(|h| h.parse().ok()),
                });
        }
    }
    Ok(held)
}

/// An upload's new changes, screened: what to apply now, and what to hold.
#[derive(Debug)]
pub struct Screened {
    pub accepted: Vec<Change>,
    /// Refused: new quarantine rows, or changes held already that were sent again.
    pub refused: Vec<(Change, ScreenRefusal)>,
    /// Held changes sent again that pass now (a device allowed to write them sent them):
    /// they are applied, and their items close as accepted.
    pub admitted: Vec<ChangeHash>,
    /// The household's village, for the quarantine rows.
    pub village: String,
    /// What the device is told: the first rule broken, or, for changes that only wait, the
    /// rule the change they wait for broke.
    root: Option<ScreenRefusal>,
    already_held: HashSet<ChangeHash>,
}

impl Screened {
    /// Screens a device's new changes to one household. `stored_village` is the village of
    /// the household's document, `None` when the server has none; `doc` is that document.
    pub fn of(
        device: &Device,
        stored_village: Option<&str>,
        doc: &Automerge,
        changes: Vec<Change>,
        held: &[HeldChange],
    ) -> Screened {
        let exists = stored_village.is_some();
        let already_held: HashSet<ChangeHash> = held.iter().map(|h| h.change.hash()).collect();
        let village = stored_village
            .map(str::to_owned)
            .or_else(|| held.first().map(|h| h.village.clone()));
        let household = screen::Household {
            village: village.as_deref(),
            exists,
            doc,
            held: &already_held,
        };
        let verdicts = screen::screen(device, household, &changes);
        let (mut accepted, mut refused, mut admitted) = (Vec::new(), Vec::new(), Vec::new());
        for (change, verdict) in changes.into_iter().zip(verdicts) {
            match verdict {
                None => {
                    if already_held.contains(&change.hash()) {
                        admitted.push(change.hash());
                    }
                    accepted.push(change);
                }
                Some(refusal) => refused.push((change, refusal)),
            }
        }
        let root = screen::first_refusal(refused.iter().map(|(_, r)| r))
            .map(|first| root_cause(first, held));
        Screened {
            accepted,
            refused,
            admitted,
            village: village.unwrap_or_default(),
            root,
            already_held,
        }
    }

    /// For an upload with nothing new: the device's own changes still open in quarantine,
    /// if any. A device asks with an empty upload while it shows a note; until staff decide
    /// it hears they are still held, and afterwards `accepted`, which clears the note.
    pub fn still_held(device: &Device, held: &[HeldChange]) -> Option<Screened> {
        let own: Vec<&HeldChange> = held
            .iter()
            .filter(|h| h.status == HoldStatus::Open && h.device_id == device.id)
            .collect();
        let first = own.first()?;
        let refused: Vec<(Change, ScreenRefusal)> = own
            .iter()
            .map(|h| {
                let refusal = ScreenRefusal {
                    rule: h.rule.unwrap_or(Rule::Waits),
                    reason: h.reason.clone(),
                    waits_for: h.waits_for,
                };
                (h.change.clone(), refusal)
            })
            .collect();
        let root = screen::first_refusal(refused.iter().map(|(_, r)| r))
            .map(|first| root_cause(first, held));
        Some(Screened {
            accepted: Vec::new(),
            already_held: refused.iter().map(|(c, _)| c.hash()).collect(),
            refused,
            admitted: Vec::new(),
            village: first.village.clone(),
            root,
        })
    }

    /// Whether anything is refused.
    pub fn holds(&self) -> bool {
        !self.refused.is_empty()
    }

    /// Whether anything is left for the quarantine table to record.
    pub fn records(&self) -> bool {
        self.holds() || !self.admitted.is_empty()
    }

    /// The whole upload with the held changes it may build on: what must apply, as a
    /// household's history, before anything of it is quarantined.
    pub fn whole(&self, held: &[HeldChange]) -> Vec<Change> {
        let mut all: Vec<Change> = self.accepted.clone();
        all.extend(self.refused.iter().map(|(c, _)| c.clone()));
        let sent: HashSet<ChangeHash> = all.iter().map(Change::hash).collect();
        all.extend(
            held.iter()
                .filter(|h| !sent.contains(&h.change.hash()))
                .map(|h| h.change.clone()),
        );
        all
    }

    /// Refused changes not held before this upload: the rows to add.
    fn new_rows(&self) -> impl Iterator<Item = &(Change, ScreenRefusal)> {
        self.refused
            .iter()
            .filter(|(change, _)| !self.already_held.contains(&change.hash()))
    }

    /// What the device is told: what was accepted, and what is held and why.
    pub fn outcome(&self, accepted: UploadOutcome) -> UploadOutcome {
        match (accepted, &self.root) {
            (UploadOutcome::Accepted { heads }, Some(root)) => UploadOutcome::Quarantined {
                heads,
                held: self
                    .refused
                    .iter()
                    .map(|(c, _)| Bytes::from(c.hash().as_ref().to_vec()))
                    .collect(),
                rule: root.rule.as_str().to_owned(),
                reason: root.reason.clone(),
            },
            (outcome, _) => outcome,
        }
    }
}

/// For a change that only waits, the refusal of the held change it waits for, followed
/// back to a rule broken: that is what the volunteer can act on.
fn root_cause(first: &ScreenRefusal, held: &[HeldChange]) -> ScreenRefusal {
    let by_hash: HashMap<ChangeHash, &HeldChange> =
        held.iter().map(|h| (h.change.hash(), h)).collect();
    let mut current = first.clone();
    for _ in 0..=held.len() {
        let Some(on) = current.waits_for.filter(|_| current.rule == Rule::Waits) else {
            break;
        };
        let Some(held) = by_hash.get(&on) else { break };
        let Some(rule) = held.rule else { break };
        current = ScreenRefusal {
            rule,
            reason: held.reason.clone(),
            waits_for: held.waits_for,
        };
    }
    current
}

/// One household's screened upload, for [`write_holds`].
#[derive(Debug)]
pub struct ScreenedUpload {
    /// The upload's position in its batch.
    pub index: usize,
    pub household: String,
    pub screened: Screened,
}

impl ScreenedUpload {
    /// The hashes of the changes this upload adds to quarantine.
    pub fn new_hashes(&self) -> Vec<ChangeHash> {
        self.screened.new_rows().map(|(c, _)| c.hash()).collect()
    }
}

/// Which holds add a change the quarantine already holds for another household: such an
/// upload is refused whole, as a change stored for another household is.
pub async fn held_elsewhere(
    conn: &mut AnyConnection,
    holds: &[ScreenedUpload],
) -> Result<HashSet<usize>, LedgerError> {
    let mut owner: HashMap<String, (usize, &str)> = HashMap::new();
    for hold in holds {
        for hash in hold.new_hashes() {
            owner.insert(hash.to_string(), (hold.index, hold.household.as_str()));
        }
    }
    let hashes: Vec<&String> = owner.keys().collect();
    let mut foreign = HashSet::new();
    for batch in hashes.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT hash, household_id FROM quarantine WHERE hash IN ({})",
            Backend::of(conn).placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for hash in batch {
            query = query.bind((*hash).clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let hash: String = row.try_get("hash")?;
            let household: String = row.try_get("household_id")?;
            if let Some((index, uploaded_as)) = owner.get(&hash)
                && *uploaded_as != household
            {
                foreign.insert(*index);
            }
        }
    }
    Ok(foreign)
}

/// Writes what screening decided, inside the ingest's transaction: new quarantine rows,
/// held changes now accepted, and an audit record for each.
pub async fn write_holds(
    conn: &mut AnyConnection,
    vault: &Vault,
    device: &Device,
    client: &str,
    holds: &[ScreenedUpload],
    now: i64,
) -> Result<(), LedgerError> {
    const COLUMNS: usize = 11;
    let rows: Vec<(&ScreenedUpload, &Change, &ScreenRefusal)> = holds
        .iter()
        .flat_map(|hold| hold.screened.new_rows().map(move |(c, r)| (hold, c, r)))
        .collect();
    for batch in rows.chunks(rows_per_statement(COLUMNS)) {
        let sql = format!(
            "INSERT INTO quarantine (hash, household_id, village, device_id, actor, bytes, rule,
                 reason_zh, reason_en, waits_for, received_at)
             VALUES {} ON CONFLICT (hash) DO NOTHING",
            Backend::of(conn).value_rows(batch.len(), COLUMNS)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (hold, change, refusal) in batch {
            query = query
                .bind(change.hash().to_string())
                .bind(hold.household.clone())
                .bind(hold.screened.village.clone())
                .bind(device.id.clone())
                .bind(change.actor_id().to_hex_string())
                .bind(vault.seal(change.raw_bytes()))
                .bind(refusal.rule.as_str())
                .bind(refusal.reason.zh.clone())
                .bind(refusal.reason.en.clone())
                .bind(refusal.waits_for.map(|h| h.to_string()))
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    let device_actor = format!("device:{}", device.id);
    for hold in holds {
        if !hold.screened.admitted.is_empty() {
            let admitted: Vec<String> = hold
                .screened
                .admitted
                .iter()
                .map(|h| h.to_string())
                .collect();
            close(
                conn,
                &admitted,
                HoldStatus::Accepted,
                &device_actor,
                None,
                None,
                now,
            )
            .await?;
            let entry = Entry::new("quarantine.accept", Outcome::Ok)
                .by(&device_actor, "device")
                .on(&hold.household)
                .saying(format!(
                    "{} held change(s) sent again and accepted",
                    admitted.len()
                ));
            audit::record_in(conn, entry).await?;
        }
        let new: Vec<&ScreenRefusal> = hold.screened.new_rows().map(|(_, r)| r).collect();
        if new.is_empty() {
            continue;
        }
        let rules: Vec<String> = screen::by_rule(new.iter().copied())
            .into_iter()
            .map(|(rule, n)| format!("{rule}={n}"))
            .collect();
        let entry = Entry::new("quarantine.hold", Outcome::Denied)
            .by(&device_actor, "device")
            .on(&hold.household)
            .from(client)
            .saying(format!(
                "{} change(s) held in village {}: {}",
                new.len(),
                hold.screened.village,
                rules.join(" ")
            ));
        audit::record_in(conn, entry).await?;
    }
    Ok(())
}

/// Marks items decided.
async fn close(
    conn: &mut AnyConnection,
    hashes: &[String],
    status: HoldStatus,
    by: &str,
    comment: Option<&str>,
    undone_by: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    for batch in hashes.chunks(rows_per_statement(1)) {
        let sql = format!(
            "UPDATE quarantine SET status = $1, decided_by = $2, decided_at = $3, comment = $4,
                 undone_by = $5
             WHERE status = 'open' AND hash IN ({})",
            (6..6 + batch.len())
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(status.as_str())
            .bind(by.to_owned())
            .bind(now)
            .bind(comment.map(str::to_owned))
            .bind(undone_by.map(str::to_owned));
        for hash in batch {
            query = query.bind(hash.clone());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

// ─── Reading ───────────────────────────────────────────────────────────────────────────────

/// One quarantined change, as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HoldItem {
    /// The change's hash: the item's id.
    pub id: String,
    pub household_id: String,
    pub village: String,
    /// The device that uploaded it.
    pub device_id: String,
    pub device_name: Option<String>,
    /// The Automerge actor that wrote it.
    pub actor: String,
    pub rule: String,
    pub reason: Message,
    /// The change it builds on and waits for, when that is why it is held.
    pub waits_for: Option<String>,
    pub received_at: i64,
    pub status: HoldStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub comment: Option<String>,
    /// For a discarded change: the staff change that undid it.
    pub undone_by: Option<String>,
}

const ITEM_COLUMNS: &str = "q.hash, q.household_id, q.village, q.device_id, d.name AS device_name,
    q.actor, q.rule, q.reason_zh, q.reason_en, q.waits_for, q.received_at, q.status,
    q.decided_by, q.decided_at, q.comment, q.undone_by";

fn item_row(row: &sqlx::any::AnyRow) -> Result<HoldItem, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(HoldItem {
        id: row.try_get("hash")?,
        household_id: row.try_get("household_id")?,
        village: row.try_get("village")?,
        device_id: row.try_get("device_id")?,
        device_name: row.try_get("device_name")?,
        actor: row.try_get("actor")?,
        rule: row.try_get("rule")?,
        reason: Message::new(
            row.try_get::<String, _>("reason_zh")?,
            row.try_get::<String, _>("reason_en")?,
        ),
        waits_for: row.try_get("waits_for")?,
        received_at: row.try_get("received_at")?,
        status: HoldStatus::parse(&status).unwrap_or(HoldStatus::Open),
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        comment: row.try_get("comment")?,
        undone_by: row.try_get("undone_by")?,
    })
}

/// What staff ask the list for.
#[derive(Debug, Clone)]
pub struct HoldFilter {
    /// An area code: items of villages inside it.
    pub area: String,
    pub status: HoldStatus,
    pub rule: Option<Rule>,
    pub limit: i64,
    pub offset: i64,
}

/// A page of items, with the counts a clerk needs to see the size of the work.
#[derive(Debug, Clone, Serialize)]
pub struct HoldPage {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// In the area, by status, whatever the filter.
    pub counts: BTreeMap<String, i64>,
    pub items: Vec<HoldItem>,
}

pub async fn list(pool: &AnyPool, filter: &HoldFilter) -> Result<HoldPage, sqlx::Error> {
    let prefix = format!("{}%", filter.area);
    let rule = filter.rule.map(Rule::as_str).unwrap_or("");
    let total: i64 = sqlx::query(
        "SELECT COUNT(*) AS total FROM quarantine
         WHERE status = $1 AND village LIKE $2 AND ($3 = '' OR rule = $3)",
    )
    .bind(filter.status.as_str())
    .bind(&prefix)
    .bind(rule)
    .fetch_one(pool)
    .await?
    .try_get("total")?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM quarantine q LEFT JOIN device d ON d.id = q.device_id
         WHERE q.status = $1 AND q.village LIKE $2 AND ($3 = '' OR q.rule = $3)
         ORDER BY q.village, q.received_at, q.hash LIMIT $4 OFFSET $5"
    )))
    .bind(filter.status.as_str())
    .bind(&prefix)
    .bind(rule)
    .bind(filter.limit)
    .bind(filter.offset)
    .fetch_all(pool)
    .await?;
    let items = rows.iter().map(item_row).collect::<Result<Vec<_>, _>>()?;
    let mut counts: BTreeMap<String, i64> = HoldStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM quarantine WHERE village LIKE $1 GROUP BY status",
    )
    .bind(&prefix)
    .fetch_all(pool)
    .await?;
    for row in rows {
        counts.insert(row.try_get("status")?, row.try_get("n")?);
    }
    Ok(HoldPage {
        total,
        limit: filter.limit,
        offset: filter.offset,
        counts,
        items,
    })
}

pub async fn item(conn: &mut AnyConnection, id: &str) -> Result<Option<HoldItem>, sqlx::Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM quarantine q LEFT JOIN device d ON d.id = q.device_id
         WHERE q.hash = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(item_row).transpose()
}

/// One key a quarantined change writes, with what it held before.
#[derive(Debug, Clone, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub label: Option<Message>,
    /// The value written; `None` when the change clears the key. Sensitive values are
    /// masked.
    pub value: Option<FieldValue>,
    /// The value the key held in the history the change was made on, when the server has
    /// that history.
    pub previous: Option<FieldValue>,
}

/// One item with what staff need to decide it.
#[derive(Debug, Clone, Serialize)]
pub struct HoldDetail {
    #[serde(flatten)]
    pub item: HoldItem,
    /// The change's commit message: a visit, or a forged review decision.
    pub message: Option<String>,
    /// The writer's device clock.
    pub time: i64,
    pub keys: Vec<KeyChange>,
    /// Whether the server has the household's document.
    pub household_exists: bool,
    /// Open items that build on this one.
    pub waiting: Vec<String>,
}

/// The change's writes, masked, beside what each key held in the history it was made on.
pub fn key_changes(change: &Change, before: Option<&mut AutoCommit>) -> Vec<KeyChange> {
    use automerge::legacy::{Key, ObjectId, OpType};
    let deps = change.deps().to_vec();
    let mut before = before.and_then(|doc| {
        let known = deps.iter().all(|d| doc.get_change_by_hash(d).is_some());
        known.then_some(doc)
    });
    let mut out: Vec<KeyChange> = Vec::new();
    for op in change.decode().operations {
        let key = match (&op.obj, &op.key) {
            (ObjectId::Root, Key::Map(key)) => key.to_string(),
            _ => "(nested object)".to_owned(),
        };
        let path = FieldPath::parse(&key).ok();
        let name = path.as_ref().map_or(key.as_str(), |p| p.name);
        let masked = |value: FieldValue| {
            if privacy::is_sensitive(&key) {
                privacy::mask_value(name, &value)
            } else {
                value
            }
        };
        let value = match &op.action {
            OpType::Put(scalar) => scalar_value(scalar).map(&masked),
            OpType::Make(kind) => Some(FieldValue::Text(format!("({kind:?})"))),
            _ => None,
        };
        let previous =
            before
                .as_deref_mut()
                .and_then(|doc| match doc.get_at(ROOT, key.as_str(), &deps) {
                    Ok(Some((Value::Scalar(s), _))) => scalar_value(&s).map(&masked),
                    _ => None,
                });
        out.push(KeyChange {
            label: path.as_ref().map(|p| p.spec().label()),
            key,
            value,
            previous,
        });
    }
    out
}

fn scalar_value(scalar: &automerge::ScalarValue) -> Option<FieldValue> {
    use automerge::ScalarValue as S;
    match scalar {
        S::Str(text) => Some(FieldValue::Text(text.to_string())),
        S::Int(n) | S::Timestamp(n) => Some(FieldValue::Integer(*n)),
        S::Uint(n) => Some(FieldValue::Integer(i64::try_from(*n).unwrap_or(i64::MAX))),
        S::F64(n) => Some(FieldValue::Decimal(*n)),
        S::Boolean(b) => Some(FieldValue::Boolean(*b)),
        S::Null => None,
        other => Some(FieldValue::Text(other.to_string())),
    }
}

/// An item with its change read out, or `None` when it does not exist.
pub async fn detail(ledger: &Ledger, id: &str) -> Result<Option<HoldDetail>, LedgerError> {
    let mut conn = ledger.db().pool.acquire().await?;
    let Some(item) = item(&mut conn, id).await? else {
        return Ok(None);
    };
    let row = sqlx::query("SELECT bytes FROM quarantine WHERE hash = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let change = Change::from_bytes(ledger.vault().open(&row.try_get::<Vec<u8>, _>("bytes")?)?)
        .map_err(automerge::AutomergeError::from)?;
    let waiting: Vec<String> = sqlx::query(
        "SELECT hash FROM quarantine WHERE waits_for = $1 AND status = 'open' ORDER BY hash",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| row.try_get("hash"))
    .collect::<Result<_, _>>()?;
    drop(conn);
    let mut document = ledger.document(&item.household_id).await?;
    let keys = key_changes(&change, document.as_mut().map(|(_, doc)| doc));
    Ok(Some(HoldDetail {
        message: change.message().map(str::to_owned),
        time: change.timestamp(),
        keys,
        household_exists: document.is_some(),
        waiting,
        item,
    }))
}

// ─── Deciding ──────────────────────────────────────────────────────────────────────────────

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

/// A household's held changes, by hash (hex): open ones, and discarded ones the document
/// does not hold.
struct Rows {
    /// The rule is `None` for a code this version does not know: never taken for `waits`.
    changes: HashMap<String, (Change, HoldStatus, Option<Rule>)>,
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
            (
                change,
                HoldStatus::parse(&status).unwrap_or(HoldStatus::Open),
                Rule::parse(&rule),
            ),
        );
    }
    Ok(Rows { changes })
}

/// Releases or discards a quarantined change, and applies what waited only for it, in one
/// write transaction.
pub async fn decide(
    ledger: &Ledger,
    account: &accounts::Staff,
    client: &str,
    id: &str,
    decision: HoldDecision,
    comment: Option<&str>,
) -> Result<Decided, QuarantineError> {
    let now = ledger.clock().now_seconds();
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    let mut write = ledger.db().begin_write().await?;
    let item = item(&mut write.tx, id)
        .await?
        .filter(|item| crate::decisions::workflow::covers(account, &item.village))
        .ok_or_else(|| not_found(id))?;
    if item.status != HoldStatus::Open {
        return Err(QuarantineError::Conflict(Message::new(
            format!("该隔离项已处理（{}）", item.status.as_str()),
            format!("This item is decided already ({})", item.status.as_str()),
        )));
    }
    let rows = household_rows(&mut write.tx, ledger.vault(), &item.household_id).await?;
    let Some((change, _, _)) = rows.changes.get(id).cloned() else {
        return Err(not_found(id));
    };
    let loaded = ledger
        .load_for_write(&mut write.tx, &item.household_id)
        .await?;
    let exists = loaded.is_some();
    let by = account.actor();
    let (with, undone_by) = if decision == HoldDecision::Discard && !exists {
        // The household never entered the server: there is no document for the change to
        // enter, and nothing built on it can ever apply.
        let with = descendants(&rows, &change);
        let mut all = vec![id.to_owned()];
        all.extend(with.iter().cloned());
        close(
            &mut write.tx,
            &all,
            HoldStatus::Discarded,
            &by,
            comment,
            None,
            now,
        )
        .await?;
        (with, None)
    } else {
        let (village, mut doc) =
            loaded.unwrap_or_else(|| (item.village.clone(), AutoCommit::new()));
        for dep in change.deps() {
            if doc.get_change_by_hash(dep).is_some() {
                continue;
            }
            let short = screen::short_hash(dep);
            return Err(QuarantineError::Conflict(
                match rows.changes.get(&dep.to_string()) {
                    Some((_, HoldStatus::Open, _)) => Message::new(
                        format!("该修改建立在隔离项 {short} 之上，请先处理那一项"),
                        format!(
                            "This change builds on quarantined change {short}; decide that one first"
                        ),
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
                },
            ));
        }
        doc.apply_changes([change.clone()])?;
        let mut applied = vec![change.clone()];
        let mut undone_by = None;
        if decision == HoldDecision::Discard {
            let staff = ActorInfo {
                device: Some("doorstep-server".to_owned()),
                volunteer: None,
                staff: Some(account.name.clone()),
            };
            let message = layout::review_message(&format!("quarantine {id}"), comment);
            let undoing = undo(&mut doc, &change, &staff, message, now)?;
            undone_by = undoing.first().map(|c| c.hash().to_string());
            doc.apply_changes(undoing.clone())?;
            applied.extend(undoing);
        }
        let followers = follow(&mut doc, &rows)?;
        let with: Vec<String> = followers.iter().map(|c| c.hash().to_string()).collect();
        applied.extend(followers);
        // A released move is the county moving the household: it is stored, listed and
        // synced under its new village from now on.
        let view = layout::read_household(doc.document())?;
        let village = view
            .household_text("village")
            .filter(|v| AreaCode::parse_village(v).is_ok())
            .map_or(village, str::to_owned);
        store_and_refresh(
            ledger,
            &mut write.tx,
            &item.household_id,
            &village,
            &mut doc,
            applied,
        )
        .await?;
        let status = match decision {
            HoldDecision::Release => HoldStatus::Released,
            HoldDecision::Discard => HoldStatus::Discarded,
        };
        close(
            &mut write.tx,
            &[id.to_owned()],
            status,
            &by,
            comment,
            undone_by.as_deref(),
            now,
        )
        .await?;
        let followed = comment
            .map(|c| format!("with {id}: {c}"))
            .unwrap_or_else(|| format!("with {id}"));
        close(
            &mut write.tx,
            &with,
            HoldStatus::Released,
            &by,
            Some(&followed),
            None,
            now,
        )
        .await?;
        (with, undone_by)
    };
    let entry = Entry::new(decision.action(), Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(id)
        .from(client)
        .saying(format!(
            "household {} rule {}; {} waiting change(s) with it{}",
            item.household_id,
            item.rule,
            with.len(),
            comment.map(|c| format!("; {c}")).unwrap_or_default()
        ));
    audit::record_in(&mut write.tx, entry).await?;
    let after = self::item(&mut write.tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    write.commit().await?;
    let message = match (decision, exists, undone_by.is_some()) {
        (HoldDecision::Release, _, _) => Message::new(
            format!("已放行该修改{}", with_count_zh(with.len())),
            format!("The change is released{}", with_count_en(with.len())),
        ),
        (HoldDecision::Discard, false, _) => Message::new(
            "已舍弃：服务器上没有这户，修改只保留在隔离区",
            "Discarded: the server has no such household, so the change stays in quarantine only",
        ),
        (HoldDecision::Discard, true, true) => Message::new(
            format!(
                "已舍弃：修改保留在历史中，其效果已撤销{}",
                with_count_zh(with.len())
            ),
            format!(
                "Discarded: the change stays in the history and its effect is undone{}",
                with_count_en(with.len())
            ),
        ),
        (HoldDecision::Discard, true, false) => Message::new(
            format!(
                "已舍弃：该修改没有需要撤销的内容{}",
                with_count_zh(with.len())
            ),
            format!(
                "Discarded: the change had no effect to undo{}",
                with_count_en(with.len())
            ),
        ),
    };
    Ok(Decided {
        item: after,
        with,
        undone_by,
        message,
    })
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
        for (hash, (candidate, status, _)) in &rows.changes {
            if *status == HoldStatus::Open
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
            .filter(|(change, status, rule)| {
                *status == HoldStatus::Open
                    && *rule == Some(Rule::Waits)
                    && doc.get_change_by_hash(&change.hash()).is_none()
            })
            .map(|(change, _, _)| change.clone())
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

/// The staff changes that undo `change`, already applied to `doc`: every key it wrote
/// takes back what it held in the history `change` was made on, or is cleared when it held
/// nothing. Made on the document as of `change` alone (ADR 0005), so an edit another phone
/// made meanwhile to the same key stands beside them as a conflict for review rather than
/// being overwritten unseen. A key that was disputed gets all its values back, each from a
/// change of its own, concurrent with the others: one change can give a key one value only,
/// and undoing must not settle a dispute nobody decided. The writer's own `device` and
/// `volunteer` entries stay, so the history still names who wrote the discarded change.
/// Empty when the change changed nothing that needs undoing.
pub fn undo(
    doc: &mut AutoCommit,
    change: &Change,
    staff: &ActorInfo,
    message: String,
    now: i64,
) -> Result<Vec<Change>, layout::LayoutError> {
    let before = change.deps().to_vec();
    let author = change.actor_id().to_hex_string();
    let keep = [
        format!("actors.{author}.device"),
        format!("actors.{author}.volunteer"),
    ];
    let mut view = doc.fork_at(&[change.hash()])?;
    // Layer n holds, for each key, its n-th earlier value (`None`: clear it).
    let mut layers: Vec<Vec<(String, Option<automerge::ScalarValue>)>> = Vec::new();
    for key in crate::decisions::changes::touched_keys(std::slice::from_ref(change)) {
        if keep.contains(&key) {
            continue;
        }
        let previous = view.get_all_at(ROOT, key.as_str(), &before)?;
        let current = view.get_all(ROOT, key.as_str())?;
        let ids = |values: &[(Value<'_>, automerge::ObjId)]| -> Vec<String> {
            values.iter().map(|(_, id)| id.to_string()).collect()
        };
        if ids(&previous) == ids(&current) {
            continue;
        }
        let mut values: Vec<Option<automerge::ScalarValue>> = previous
            .into_iter()
            .filter_map(|(value, _)| match value {
                Value::Scalar(scalar) => Some(Some(scalar.into_owned())),
                // No nested object belongs in a household (ADR 0001): nothing to restore.
                Value::Object(_) => None,
            })
            .collect();
        if values.is_empty() {
            if current.is_empty() {
                continue;
            }
            values.push(None);
        }
        for (layer, value) in values.into_iter().enumerate() {
            if layers.len() == layer {
                layers.push(Vec::new());
            }
            layers[layer].push((key.clone(), value));
        }
    }
    let mut undoing = Vec::with_capacity(layers.len());
    for writes in layers {
        let mut fork = view.fork();
        let actor = ActorId::random();
        fork.set_actor(actor.clone());
        for (key, value) in writes {
            match value {
                Some(value) => fork.put(ROOT, key.as_str(), value)?,
                None => fork.delete(ROOT, key.as_str())?,
            }
        }
        layout::write_actor(&mut fork, &actor.to_hex_string(), staff)?;
        fork.commit_with(
            CommitOptions::default()
                .with_message(message.clone())
                .with_time(now),
        );
        undoing.extend(fork.get_last_local_change());
    }
    Ok(undoing)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use schema::ids::{AreaCode, HouseholdId};

    fn household() -> AutoCommit {
        let mut doc = AutoCommit::new();
        let id = HouseholdId::from_random([7; 16]);
        let village = AreaCode::parse_village("141124100201").unwrap();
        layout::init_household(&mut doc, &id, &village, "0001", 1_700_000_000).unwrap();
        doc.put(ROOT, "household.address", "东街 1 号").unwrap();
        doc.commit();
        doc
    }

    fn staff() -> ActorInfo {
        ActorInfo {
            device: Some("doorstep-server".to_owned()),
            volunteer: None,
            staff: Some("李华".to_owned()),
        }
    }

    fn phone_edit(doc: &mut AutoCommit, write: impl FnOnce(&mut AutoCommit)) -> Change {
        let mut phone = doc.fork();
        phone.set_actor(ActorId::random());
        let actor = phone.get_actor().to_hex_string();
        write(&mut phone);
        let info = ActorInfo {
            device: Some("phone".to_owned()),
            volunteer: Some("王芳".to_owned()),
            staff: Some("冒充".to_owned()),
        };
        layout::write_actor(&mut phone, &actor, &info).unwrap();
        phone.commit_with(CommitOptions::default().with_message(layout::review_message("x", None)));
        phone.get_last_local_change().unwrap()
    }

    fn text(doc: &AutoCommit, key: &str) -> Option<String> {
        match doc.get(ROOT, key).unwrap() {
            Some((Value::Scalar(s), _)) => s.as_str().map(str::to_owned),
            _ => None,
        }
    }

    #[test]
    fn undoing_a_change_restores_what_it_overwrote_and_clears_what_it_added() {
        let mut doc = household();
        let forged = phone_edit(&mut doc, |phone| {
            phone.put(ROOT, "household.address", "伪造").unwrap();
            phone
                .put(ROOT, "household.village", "141124100202")
                .unwrap();
            phone.put(ROOT, "household.phone", "13800138000").unwrap();
            phone.delete(ROOT, "household.number").unwrap();
        });
        let author = forged.actor_id().to_hex_string();
        doc.apply_changes([forged.clone()]).unwrap();
        let mut undoing =
            undo(&mut doc, &forged, &staff(), "review quarantine x".into(), 1).unwrap();
        assert_eq!(undoing.len(), 1);
        let revert = undoing.pop().unwrap();
        assert_eq!(revert.deps(), [forged.hash()]);
        doc.apply_changes([revert]).unwrap();
        assert_eq!(
            text(&doc, "household.address").as_deref(),
            Some("东街 1 号")
        );
        assert_eq!(
            text(&doc, "household.village").as_deref(),
            Some("141124100201")
        );
        assert_eq!(text(&doc, "household.phone"), None);
        assert_eq!(text(&doc, "household.number").as_deref(), Some("0001"));
        // The forged staff name goes; the writer's own device and name stay, for the history.
        let view = layout::read_household(doc.document()).unwrap();
        let writer = &view.actors[&author];
        assert_eq!(writer.staff, None);
        assert_eq!(writer.volunteer.as_deref(), Some("王芳"));
        assert!(
            view.actors
                .values()
                .any(|a| a.staff.as_deref() == Some("李华"))
        );
        // The discarded value is still in the field's history.
        let path = FieldPath::household("address").unwrap();
        let history = layout::field_history(doc.document(), &path, &view.actors);
        assert!(
            history
                .iter()
                .any(|h| h.value == Some(FieldValue::Text("伪造".into())))
        );
    }

    #[test]
    fn an_edit_made_meanwhile_by_another_phone_stands_beside_the_undoing() {
        let mut doc = household();
        let forged = phone_edit(&mut doc, |phone| {
            phone.put(ROOT, "household.address", "伪造").unwrap();
        });
        let mut other = doc.fork();
        other.set_actor(ActorId::random());
        other.put(ROOT, "household.address", "西街 2 号").unwrap();
        other.commit();
        doc.apply_changes([forged.clone(), other.get_last_local_change().unwrap()])
            .unwrap();
        let undoing = undo(&mut doc, &forged, &staff(), "m".into(), 1).unwrap();
        doc.apply_changes(undoing).unwrap();
        let values: Vec<String> = doc
            .get_all(ROOT, "household.address")
            .unwrap()
            .into_iter()
            .filter_map(|(v, _)| {
                v.into_scalar()
                    .ok()
                    .and_then(|s| s.as_str().map(str::to_owned))
            })
            .collect();
        assert_eq!(values.len(), 2, "{values:?}");
        assert!(
            values.contains(&"东街 1 号".to_owned()) && values.contains(&"西街 2 号".to_owned())
        );
    }

    #[test]
    fn a_change_with_nothing_to_undo_makes_no_change() {
        let mut doc = household();
        let mut phone = doc.fork();
        phone.set_actor(ActorId::random());
        let actor = phone.get_actor().to_hex_string();
        let info = ActorInfo {
            device: Some("phone".to_owned()),
            volunteer: None,
            staff: None,
        };
        layout::write_actor(&mut phone, &actor, &info).unwrap();
        phone.commit_with(CommitOptions::default().with_message(layout::review_message("x", None)));
        let change = phone.get_last_local_change().unwrap();
        doc.apply_changes([change.clone()]).unwrap();
        assert!(
            undo(&mut doc, &change, &staff(), "m".into(), 1)
                .unwrap()
                .is_empty()
        );
    }

    fn addresses(doc: &AutoCommit) -> Vec<String> {
        let mut values: Vec<String> = doc
            .get_all(ROOT, "household.address")
            .unwrap()
            .into_iter()
            .filter_map(|(v, _)| {
                v.into_scalar()
                    .ok()
                    .and_then(|s| s.as_str().map(str::to_owned))
            })
            .collect();
        values.sort();
        values
    }

    #[test]
    fn undoing_a_change_that_settled_a_dispute_brings_every_disputed_value_back() {
        let mut doc = household();
        let (mut a, mut b) = (doc.fork(), doc.fork());
        a.set_actor(ActorId::random());
        b.set_actor(ActorId::random());
        a.put(ROOT, "household.address", "东街").unwrap();
        b.put(ROOT, "household.address", "西街").unwrap();
        a.commit();
        b.commit();
        doc.merge(&mut a).unwrap();
        doc.merge(&mut b).unwrap();
        let forged = phone_edit(&mut doc, |phone| {
            phone.put(ROOT, "household.address", "伪造的决定").unwrap();
        });
        doc.apply_changes([forged.clone()]).unwrap();
        assert_eq!(addresses(&doc), ["伪造的决定"]);
        let undoing = undo(&mut doc, &forged, &staff(), "m".into(), 1).unwrap();
        assert_eq!(undoing.len(), 2, "one change per disputed value");
        doc.apply_changes(undoing).unwrap();
        assert_eq!(addresses(&doc), ["东街", "西街"]);
    }

    #[test]
    fn key_changes_show_the_value_before_and_mask_sensitive_ones() {
        let mut doc = household();
        let key = schema::ids::MemberKey::from_random([1; 16]);
        let id_key = format!("members.{key}.id_number");
        doc.put(ROOT, id_key.as_str(), "11010519491231002X")
            .unwrap();
        doc.commit();
        let change = phone_edit(&mut doc, |phone| {
            phone
                .put(ROOT, id_key.as_str(), "110105194912310011")
                .unwrap();
            phone.put(ROOT, "household.address", "新").unwrap();
        });
        let keys = key_changes(&change, Some(&mut doc));
        let id = keys.iter().find(|k| k.key == id_key).unwrap();
        let shown = id.value.as_ref().unwrap().display();
        assert!(
            shown.contains('*') && !shown.contains("19491231"),
            "{shown}"
        );
        assert!(id.previous.as_ref().unwrap().display().contains('*'));
        let address = keys.iter().find(|k| k.key == "household.address").unwrap();
        assert_eq!(address.previous, Some(FieldValue::Text("东街 1 号".into())));
        assert_eq!(address.value, Some(FieldValue::Text("新".into())));
        assert!(address.label.is_some());
    }
}
