//! Staff decisions as Automerge changes: choosing a field's value, and merging a duplicate
//! household into its survivor.
//!
//! A decision is an ordinary change, so it syncs to every phone like any edit. It is made
//! against the document *as the staff member saw it* (the heads their view showed), not as it
//! is when they press the button: when two staff members decide the same field at once, their
//! changes are concurrent and the field holds both decisions, a new conflict, instead of the
//! later one silently replacing the earlier.
//!
//! Each decision gets its own Automerge actor, whose `actors.<hex>.staff` names the staff
//! member. One actor per staff account would have to chain every decision onto that person's
//! previous one, which a decision made against an older view cannot do.

use crate::accounts;
use crate::audit::{self, Entry, Outcome};
use crate::decisions::review::{self, ItemRow, Kind, Status};
use crate::http::error::ApiError;
use crate::storage::ledger::{Ledger, LedgerError};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ROOT, ReadDoc, Value};
use schema::Message;
use schema::fields::{FieldKind, FieldPath};
use schema::ids::AreaCode;
use schema::layout::{self, ActorInfo, FieldValue};
use schema::validation::{self, Severity};
use serde::Serialize;
use std::collections::BTreeSet;

/// Why a decision cannot be made. Each is the staff member's to fix, so each says how.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("{}", .0.en)]
    Refused(Message),
    #[error("{}", .0.en)]
    Stale(Message),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("layout: {0}")]
    Layout(#[from] layout::LayoutError),
}

impl DecisionError {
    pub fn message(&self) -> Message {
        match self {
            DecisionError::Refused(message) | DecisionError::Stale(message) => message.clone(),
            DecisionError::Automerge(err) => Message::new(
                format!("档案数据无法修改：{err}"),
                format!("The document cannot be changed: {err}"),
            ),
            DecisionError::Layout(err) => err.message(),
        }
    }
}

/// What the staff member chose.
#[derive(Debug, Clone)]
pub enum Choice {
    /// One of the candidates shown, counted from 1.
    Pick(usize),
    /// A value typed in, as a volunteer would type it.
    Value(String),
}

/// Who decides, as recorded in the document.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The staff account's id: stable, for the review history.
    pub id: String,
    /// How the document names them.
    pub name: String,
}

/// Who decides, on which item, why and when: what a decision's change records.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub staff: &'a Staff,
    pub item: &'a str,
    pub comment: Option<&'a str>,
    /// Seconds since 1970.
    pub at: i64,
}

impl Signed<'_> {
    /// The decision's day in China: the date the decided value is validated on.
    fn today(&self) -> jiff::civil::Date {
        let at = jiff::Timestamp::from_second(self.at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        schema::china_date(at)
    }
}

/// A decision made into a change.
#[derive(Debug)]
pub struct Decision {
    pub change: Change,
    pub value: FieldValue,
    /// The field changed between the view the staff member decided on and now: someone
    /// else decided or edited it meanwhile. The decision is kept beside theirs.
    pub stale: bool,
}

pub fn parse_heads(heads: &[String]) -> Result<Vec<ChangeHash>, DecisionError> {
    heads
        .iter()
        .map(|head| {
            head.parse::<ChangeHash>().map_err(|_| {
                DecisionError::Refused(Message::new(
                    format!("版本标识“{head}”无效"),
                    format!("\"{head}\" is not a valid version (change hash)"),
                ))
            })
        })
        .collect()
}

fn stale_view() -> DecisionError {
    DecisionError::Stale(Message::new(
        "你看到的版本服务器上没有，请重新打开该项",
        "The version you saw is unknown to the server; open the item again",
    ))
}

/// The values a key holds at some heads, with the ids of the operations that wrote them.
fn values_at(doc: &AutoCommit, key: &str, heads: Option<&[ChangeHash]>) -> BTreeSet<String> {
    let values = match heads {
        Some(heads) => doc.get_all_at(ROOT, key, heads),
        None => doc.get_all(ROOT, key),
    };
    values
        .unwrap_or_default()
        .into_iter()
        .map(|(_, id)| id.to_string())
        .collect()
}

/// Makes the change that sets `path` as the staff member chose, against the heads they saw.
/// `doc` is not modified; the caller applies the change with the server's other changes.
pub fn decide(
    doc: &mut AutoCommit,
    seen: &[ChangeHash],
    path: &FieldPath,
    choice: &Choice,
    signed: &Signed<'_>,
) -> Result<Decision, DecisionError> {
    if path.spec().system {
        return Err(DecisionError::Refused(Message::new(
            "系统字段不能在审核中修改",
            "A system field cannot be changed in review",
        )));
    }
    let mut fork = if seen.is_empty() {
        doc.fork()
    } else {
        doc.fork_at(seen).map_err(|_| stale_view())?
    };
    let key = path.to_string();
    let seen_view = layout::read_household(fork.document())?;
    let value = match choice {
        Choice::Pick(number) => {
            let candidates = seen_view
                .field(path)
                .map(|f| f.candidates.clone())
                .unwrap_or_default();
            let Some(candidate) = number.checked_sub(1).and_then(|i| candidates.get(i)) else {
                return Err(DecisionError::Refused(Message::new(
                    format!("没有第 {number} 个候选值；该字段有 {} 个", candidates.len()),
                    format!(
                        "There is no candidate {number}; the field has {}",
                        candidates.len()
                    ),
                )));
            };
            candidate.value.clone()
        }
        Choice::Value(input) => {
            let kind = path.spec().kind;
            FieldValue::from_input(kind, input).ok_or_else(|| {
                DecisionError::Refused(Message::new(
                    "请输入一个值；审核不能清空字段",
                    "Enter a value; review cannot clear a field",
                ))
            })?
        }
    };
    let actor = ActorId::random();
    fork.set_actor(actor.clone());
    let info = ActorInfo {
        device: Some("doorstep-server".to_owned()),
        volunteer: None,
        staff: Some(signed.staff.name.clone()),
    };
    layout::write_actor(&mut fork, &actor.to_hex_string(), &info)?;
    // Automerge records a value that one of a key's concurrent values already has as a
    // deletion of the others, and a deletion loses to a concurrent write: a second staff
    // member's decision would silently win over it. Clearing the key first makes the
    // decision a write of its own.
    if fork.get_all(ROOT, key.as_str())?.len() > 1
        && !matches!(path.spec().kind, FieldKind::Codes(_))
    {
        fork.delete(ROOT, key.as_str())?;
    }
    if !layout::write_field(&mut fork, path, Some(&value))? {
        return Err(DecisionError::Refused(Message::new(
            "该字段已经是这个值，无需处理",
            "The field already holds this value; there is nothing to decide",
        )));
    }
    // Committed first: reading the document closes the open transaction, message and all.
    // A refused value is dropped with the fork.
    fork.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(layout::review_message(signed.item, signed.comment))
            .with_time(signed.at),
    );
    let after = layout::read_household(fork.document())?;
    let refused = validation::validate(&after, signed.today())
        .into_iter()
        .find(|issue| {
            issue.severity == Severity::Error && issue.rule == "field" && issue.path == key
        });
    if let Some(issue) = refused {
        return Err(DecisionError::Refused(issue.message));
    }
    let change = fork.get_last_local_change().ok_or_else(|| {
        DecisionError::Refused(Message::new("没有可保存的修改", "Nothing to save"))
    })?;
    let stale = !seen.is_empty() && values_at(doc, &key, Some(seen)) != values_at(doc, &key, None);
    Ok(Decision {
        change,
        value,
        stale,
    })
}

/// Household fields that belong to one document and never move to another.
const OWN_FIELDS: [&str; 5] = [
    "household.id",
    "household.village",
    "household.number",
    "household.created_at",
    "household.merged_into",
];

fn copyable(key: &str) -> bool {
    key != "schema_version" && !OWN_FIELDS.contains(&key)
}

/// Which of a source's values [`copy_values`] copies.
enum Copy<'a> {
    /// Every value the survivor holds nothing for.
    Missing,
    /// These keys, as the source holds them (a late edit forwarded): they replace the
    /// survivor's.
    Overwrite(&'a BTreeSet<String>),
}

/// Copies values of `source` into `survivor`, as `what` says, as one change by a fresh
/// actor. Returns the change, if anything was copied.
fn copy_values(
    survivor: &mut AutoCommit,
    source: &AutoCommit,
    what: Copy<'_>,
    info: &ActorInfo,
    message: String,
    now: i64,
) -> Result<Option<Change>, DecisionError> {
    let actor = ActorId::random();
    survivor.set_actor(actor.clone());
    let mut copied = false;
    let entries: Vec<(String, automerge::ScalarValue)> = source
        .map_range(ROOT, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Scalar(scalar) => {
                Some((item.key.to_string(), automerge::ScalarValue::from(&scalar)))
            }
            _ => None,
        })
        .collect();
    for (key, value) in entries {
        if !copyable(&key) {
            continue;
        }
        let wanted = match what {
            Copy::Overwrite(keys) => keys.contains(&key),
            Copy::Missing => survivor.get(ROOT, key.as_str())?.is_none(),
        };
        if !wanted {
            continue;
        }
        let same =
            matches!(survivor.get(ROOT, key.as_str())?, Some((Value::Scalar(s), _)) if *s == value);
        if !same {
            survivor.put(ROOT, key, value)?;
            copied = true;
        }
    }
    if let Copy::Overwrite(keys) = what {
        // A code cleared from a multi-select on the absorbed household is cleared here too.
        for key in keys {
            if copyable(key)
                && source.get(ROOT, key.as_str())?.is_none()
                && survivor.get(ROOT, key.as_str())?.is_some()
            {
                survivor.delete(ROOT, key.as_str())?;
                copied = true;
            }
        }
    }
    if !copied {
        survivor.rollback();
        return Ok(None);
    }
    layout::write_actor(survivor, &actor.to_hex_string(), info)?;
    survivor.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(message)
            .with_time(now),
    );
    Ok(survivor.get_last_local_change())
}

/// The values one change of the source wrote, to be carried into the target.
#[derive(Default)]
struct Carried {
    /// The original writer's actor (hex), to name its device and volunteer.
    actor: String,
    /// The original change's device clock.
    time: Option<i64>,
    values: Vec<(String, automerge::ScalarValue)>,
}

/// Writes into `target` every value of `source`, at the keys `wanted` accepts, that `target`
/// does not already hold, *beside* what `target` holds: each is written by a change with no
/// parents, so it is concurrent with the target's own values. Where the target holds a
/// different value the field becomes a conflict with both candidates, for staff to settle in
/// the queue; nothing silently wins or disappears. Where it holds nothing the value is simply
/// there.
///
/// Each original change's values go in a change of their own, under a fresh actor that names
/// the original device and volunteer and keeps the original device time, so a candidate says
/// who recorded it; `message` says how it came (the review decision, with its comment).
/// Returns the changes, already applied to `target`.
fn carry_values(
    target: &mut AutoCommit,
    source: &mut AutoCommit,
    wanted: impl Fn(&str) -> bool,
    message: &str,
    now: i64,
) -> Result<Vec<Change>, DecisionError> {
    let source = source.document();
    let actors = layout::read_household(source)?.actors;
    let keys: Vec<String> = source
        .map_range(ROOT, ..)
        .map(|item| item.key.to_string())
        .filter(|key| copyable(key) && !key.starts_with("actors.") && wanted(key))
        .collect();
    let mut by_change: std::collections::BTreeMap<Option<ChangeHash>, Carried> =
        std::collections::BTreeMap::new();
    for key in keys {
        let held: Vec<automerge::ScalarValue> = target
            .get_all(ROOT, key.as_str())?
            .into_iter()
            .filter_map(|(value, _)| match value {
                Value::Scalar(scalar) => Some(scalar.into_owned()),
                Value::Object(_) => None,
            })
            .collect();
        for (value, id) in source.get_all(ROOT, key.as_str())? {
            let Value::Scalar(scalar) = value else {
                continue;
            };
            let scalar = scalar.into_owned();
            if held.contains(&scalar) {
                continue;
            }
            let hash = source.hash_for_opid(&id);
            let carried = by_change.entry(hash).or_default();
            if let automerge::ObjId::Id(_, actor, _) = &id {
                carried.actor = actor.to_hex_string();
            }
            carried.time = hash
                .and_then(|hash| source.get_change_meta_by_hash(&hash))
                .map(|meta| meta.timestamp);
            carried.values.push((key.clone(), scalar));
        }
    }
    let mut changes = Vec::new();
    for carried in by_change.into_values() {
        let actor = ActorId::random();
        let mut fork = AutoCommit::new().with_actor(actor.clone());
        let info = actors.get(&carried.actor).cloned().unwrap_or_default();
        layout::write_actor(&mut fork, &actor.to_hex_string(), &info)?;
        for (key, value) in carried.values {
            fork.put(ROOT, key, value)?;
        }
        fork.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(message)
                .with_time(carried.time.unwrap_or(now)),
        );
        if let Some(change) = fork.get_last_local_change() {
            target.apply_changes([change.clone()])?;
            changes.push(change);
        }
    }
    Ok(changes)
}

/// The changes that merge `absorbed` into `survivor`: the survivor gains every member, visit
/// and value it lacks; where both hold a value and they differ, the survivor holds both, as a
/// conflict for staff to settle, each named by who recorded it; the absorbed household points
/// to the survivor. Returns the survivor's changes and the absorbed household's tombstone.
pub fn merge(
    survivor: &mut AutoCommit,
    absorbed: &mut AutoCommit,
    survivor_id: &str,
    absorbed_id: &str,
    staff: &Staff,
    comment: Option<&str>,
    now: i64,
) -> Result<(Vec<Change>, Change), DecisionError> {
    let info = ActorInfo {
        device: Some("doorstep-server".to_owned()),
        volunteer: None,
        staff: Some(staff.name.clone()),
    };
    let message = layout::review_message(&format!("merge {absorbed_id}"), comment);
    let mut changes: Vec<Change> = copy_values(
        survivor,
        absorbed,
        Copy::Missing,
        &info,
        message.clone(),
        now,
    )?
    .into_iter()
    .collect();
    // Every value copied above is the survivor's now; what remains differs.
    changes.extend(carry_values(survivor, absorbed, |_| true, &message, now)?);
    let tombstone = staff_change(absorbed, staff, &message, now, |doc| {
        let pointer = FieldPath::household("merged_into").map_err(|_| {
            DecisionError::Refused(Message::new(
                "内部错误：缺少字段",
                "Internal: missing field",
            ))
        })?;
        layout::write_field(
            doc,
            &pointer,
            Some(&FieldValue::Text(survivor_id.to_owned())),
        )?;
        Ok(())
    })?;
    Ok((changes, tombstone))
}

/// Makes one change on `doc` by a fresh actor that names the staff member, with `message`.
pub(crate) fn staff_change(
    doc: &mut AutoCommit,
    staff: &Staff,
    message: &str,
    now: i64,
    edit: impl FnOnce(&mut AutoCommit) -> Result<(), DecisionError>,
) -> Result<Change, DecisionError> {
    let actor = ActorId::random();
    doc.set_actor(actor.clone());
    let info = ActorInfo {
        device: Some("doorstep-server".to_owned()),
        volunteer: None,
        staff: Some(staff.name.clone()),
    };
    layout::write_actor(doc, &actor.to_hex_string(), &info)?;
    edit(doc)?;
    doc.commit_with(
        automerge::transaction::CommitOptions::default()
            .with_message(message)
            .with_time(now),
    );
    doc.get_last_local_change()
        .ok_or_else(|| DecisionError::Refused(Message::new("没有可保存的修改", "Nothing to save")))
}

/// The root keys that hold one member: its own fields, and the trainings and subsidies
/// recorded for it.
fn member_keys(doc: &mut AutoCommit, member: &str) -> Result<BTreeSet<String>, DecisionError> {
    let doc = doc.document();
    let view = layout::read_household(doc)?;
    let mut prefixes = vec![format!("members.{member}.")];
    for entity in [
        schema::fields::Entity::Training,
        schema::fields::Entity::Subsidy,
    ] {
        for (id, record) in view.records(entity) {
            if record.get("member").and_then(|f| f.value.as_text()) == Some(member) {
                prefixes.push(format!("{}.{id}.", entity.prefix()));
            }
        }
    }
    Ok(doc
        .map_range(ROOT, ..)
        .map(|item| item.key.to_string())
        .filter(|key| {
            prefixes
                .iter()
                .any(|prefix| key.starts_with(prefix.as_str()))
        })
        .collect())
}

/// The changes that move member `member` from `source` into `target`: the target gains the
/// member's values (and its trainings and subsidies), each named by who first recorded it,
/// beside any different value it holds for the same person; the source drops them in a
/// change by the staff member, so its history still shows the member and who removed it.
/// Returns the target's changes and the source's.
pub fn move_member(
    target: &mut AutoCommit,
    source: &mut AutoCommit,
    member: &str,
    source_id: &str,
    signed: &Signed<'_>,
) -> Result<(Vec<Change>, Change), DecisionError> {
    let keys = member_keys(source, member)?;
    if !keys.contains(&format!("members.{member}.name")) {
        return Err(DecisionError::Refused(Message::new(
            format!("户“{source_id}”中没有成员“{member}”"),
            format!("Household \"{source_id}\" has no member \"{member}\""),
        )));
    }
    let message = layout::review_message(signed.item, signed.comment);
    let carried = carry_values(
        target,
        source,
        |key| keys.contains(key),
        &message,
        signed.at,
    )?;
    let removal = staff_change(source, signed.staff, &message, signed.at, |doc| {
        for key in &keys {
            doc.delete(ROOT, key.as_str())?;
        }
        Ok(())
    })?;
    Ok((carried, removal))
}

/// The keys a batch of changes wrote or cleared at the root of a document.
pub fn touched_keys(changes: &[Change]) -> BTreeSet<String> {
    use automerge::legacy::{Key, ObjectId};
    let mut keys = BTreeSet::new();
    for change in changes {
        for op in change.decode().operations {
            if let (ObjectId::Root, Key::Map(key)) = (&op.obj, &op.key) {
                keys.insert(key.to_string());
            }
        }
    }
    keys
}

/// Carries a late edit, made on a phone that did not yet know of a merge, from the absorbed
/// household into the survivor: every key the edit touched takes the absorbed household's
/// value. The writer is named as the edit's own volunteer, forwarded.
pub fn forward(
    survivor: &mut AutoCommit,
    absorbed: &mut AutoCommit,
    absorbed_id: &str,
    late: &[Change],
    now: i64,
) -> Result<Option<Change>, DecisionError> {
    let keys: BTreeSet<String> = touched_keys(late)
        .into_iter()
        .filter(|key| !key.starts_with("actors."))
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let view = layout::read_household(absorbed.document())?;
    let author = late
        .first()
        .map(|c| c.actor_id().to_hex_string())
        .and_then(|actor| view.actors.get(&actor).cloned())
        .unwrap_or_default();
    let info = ActorInfo {
        device: Some(format!(
            "{} → {absorbed_id}",
            author.device.unwrap_or_else(|| "?".to_owned())
        )),
        volunteer: author.volunteer,
        staff: None,
    };
    let message = late
        .iter()
        .find_map(|c| c.message().map(str::to_owned))
        .unwrap_or_else(|| format!("forwarded from {absorbed_id}"));
    copy_values(
        survivor,
        absorbed,
        Copy::Overwrite(&keys),
        &info,
        message,
        now,
    )
}

/// Why a review action failed, as the HTTP API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{}", .0.en)]
    NotFound(Message),
    #[error("{}", .0.en)]
    Refused(Message),
    #[error("{}", .0.en)]
    Stale(Message),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<DecisionError> for ReviewError {
    fn from(err: DecisionError) -> Self {
        match err {
            DecisionError::Stale(message) => ReviewError::Stale(message),
            other => ReviewError::Refused(other.message()),
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(err: ReviewError) -> Self {
        match err {
            ReviewError::NotFound(message) => ApiError::not_found(message),
            ReviewError::Refused(message) => ApiError::bad_request(message),
            ReviewError::Stale(message) => ApiError {
                status: axum::http::StatusCode::CONFLICT,
                code: "stale",
                message,
            },
            ReviewError::Ledger(err) => err.into(),
            ReviewError::Database(err) => ApiError::database(err),
        }
    }
}

/// What became of a decision.
#[derive(Debug, Serialize)]
pub struct ResolveOutcome {
    pub item: ItemRow,
    pub value: FieldValue,
    /// The field had changed since the view the decision was made on.
    pub stale: bool,
    /// What happened, for the staff member.
    pub message: Message,
}

fn staff_of(account: &accounts::Staff) -> Staff {
    Staff {
        id: account.id.clone(),
        name: account.name.clone(),
    }
}

pub fn item_not_found(id: &str) -> ReviewError {
    ReviewError::NotFound(Message::new(
        format!("没有审核项“{id}”，或不在您的区划内"),
        format!("No review item \"{id}\" in your area"),
    ))
}

fn household_not_found(id: &str) -> ReviewError {
    ReviewError::NotFound(Message::new(
        format!("没有户“{id}”，或不在您的区划内"),
        format!("No household \"{id}\" in your area"),
    ))
}

/// Whether a village lies in the staff member's area.
pub fn covers(account: &accounts::Staff, village: &str) -> bool {
    AreaCode::parse(village).is_ok_and(|v| account.scope.contains(&v))
}

/// Decides a conflict or rule item: writes the chosen value into the household, as the staff
/// member, against the version they saw.
pub async fn resolve(
    ledger: &Ledger,
    account: &accounts::Staff,
    client: &str,
    item_id: &str,
    choice: &Choice,
    comment: Option<&str>,
    heads: &[String],
) -> Result<ResolveOutcome, ReviewError> {
    let seen = parse_heads(heads)?;
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let item = review::item(&mut write.tx, item_id)
        .await?
        .filter(|item| covers(account, &item.village))
        .ok_or_else(|| item_not_found(item_id))?;
    if item.kind == Kind::Duplicate {
        return Err(ReviewError::Refused(Message::new(
            "重复项请用合并（merge）、移动成员（move）或“不是同一户”（dismiss）处理",
            "Settle a duplicate by merging (merge), moving a member (move) or as not the same household (dismiss)",
        )));
    }
    let path = FieldPath::parse(&item.path).map_err(|_| {
        ReviewError::Refused(Message::new(
            "该审核项不针对某个字段，无法填写值",
            "This item is not about one field, so no value can be set",
        ))
    })?;
    let (village, mut doc) = ledger
        .load_for_write(&mut write.tx, &item.household_id)
        .await?
        .ok_or_else(|| item_not_found(item_id))?;
    let staff = staff_of(account);
    let signed = Signed {
        staff: &staff,
        item: item_id,
        comment,
        at: now,
    };
    let decision = decide(&mut doc, &seen, &path, choice, &signed)?;
    // The review history is stored in the clear, so a sensitive value goes in masked; the
    // document keeps the value itself.
    let (recorded, readable) = if crate::privacy::is_sensitive_name(path.name) {
        (
            crate::privacy::mask_value(path.name, &decision.value),
            crate::privacy::mask_readable(path.name, &decision.value),
        )
    } else {
        (
            decision.value.clone(),
            decision.value.readable(path.spec().kind),
        )
    };
    review::close(&mut write.tx, item_id, Status::Resolved, now).await?;
    review::record(
        &mut write.tx,
        item_id,
        now,
        &account.id,
        "resolved",
        &serde_json::json!({
            "staff": staff.name,
            "value": recorded,
            "readable": readable,
            "comment": comment,
            "stale": decision.stale,
        }),
    )
    .await?;
    // The field is named, not its value: the audit log holds no sensitive data.
    let entry = Entry::new("review.resolve", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(item_id)
        .from(client)
        .saying(format!("{} stale={}", item.path, decision.stale));
    audit::record_in(&mut write.tx, entry).await?;
    crate::decisions::write::store_and_refresh(
        ledger,
        &mut write.tx,
        &item.household_id,
        &village,
        &mut doc,
        vec![decision.change],
    )
    .await?;
    let after = review::item(&mut write.tx, item_id)
        .await?
        .ok_or_else(|| item_not_found(item_id))?;
    write.commit().await?;
    let message = match (decision.stale, after.status) {
        (true, Status::Open) => Message::new(
            "你处理时看到的内容已被他人修改。你的决定已保存，但与他人的决定并存，该项重新打开，请再次处理",
            "Someone changed this field after the view you decided on. Your decision is kept, beside theirs; the item is open again, please decide once more",
        ),
        (true, _) => Message::new(
            "你处理时看到的内容已被他人修改；你的决定已保存并生效",
            "Someone changed this field after the view you decided on; your decision is saved and in effect",
        ),
        (false, Status::Open) => Message::new(
            "决定已保存，但该项仍未解决（规则仍不满足或仍有冲突）",
            "The decision is saved, but the item is still open (the rule still fails or values still disagree)",
        ),
        (false, _) => Message::new(
            format!("已确定为：{}", readable.zh),
            format!("Decided: {}", readable.en),
        ),
    };
    Ok(ResolveOutcome {
        item: after,
        value: decision.value,
        stale: decision.stale,
        message,
    })
}

/// A live (not merged) household in the staff member's area, loaded to be written.
async fn load_live(
    ledger: &Ledger,
    conn: &mut sqlx::AnyConnection,
    account: &accounts::Staff,
    id: &str,
) -> Result<(String, AutoCommit), ReviewError> {
    let (village, mut doc) = ledger
        .load_for_write(conn, id)
        .await?
        .filter(|(village, _)| covers(account, village))
        .ok_or_else(|| household_not_found(id))?;
    let view = layout::read_household(doc.document()).map_err(DecisionError::from)?;
    if let Some(into) = view.household_text("merged_into") {
        return Err(ReviewError::Refused(Message::new(
            format!("户“{id}”已经并入户“{into}”"),
            format!("Household \"{id}\" was already merged into \"{into}\""),
        )));
    }
    Ok((village, doc))
}

/// What became of a merge.
#[derive(Debug, Serialize)]
pub struct MergeOutcome {
    pub kept: String,
    pub absorbed: String,
    /// Duplicate items between the two that the merge closed.
    pub resolved_items: Vec<String>,
    pub message: Message,
}

/// Merges one household into another: the survivor gains what it lacks, the absorbed one
/// stays as a tombstone pointing to it, and both keep their history.
pub async fn merge_households(
    ledger: &Ledger,
    account: &accounts::Staff,
    client: &str,
    keep: &str,
    absorb: &str,
    comment: Option<&str>,
) -> Result<MergeOutcome, ReviewError> {
    if keep == absorb {
        return Err(ReviewError::Refused(Message::new(
            "不能把一户并入它自己",
            "A household cannot be merged into itself",
        )));
    }
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (keep_village, mut keep_doc) = load_live(ledger, &mut write.tx, account, keep).await?;
    let (absorb_village, mut absorb_doc) =
        load_live(ledger, &mut write.tx, account, absorb).await?;
    let entry = Entry::new("review.merge", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(format!("{absorb} -> {keep}"))
        .from(client);
    audit::record_in(&mut write.tx, entry).await?;
    let staff = staff_of(account);
    let (copied, tombstone) = merge(
        &mut keep_doc,
        &mut absorb_doc,
        keep,
        absorb,
        &staff,
        comment,
        now,
    )?;
    let (first, second) = if keep < absorb {
        (keep, absorb)
    } else {
        (absorb, keep)
    };
    let pair = review::item_id(Kind::Duplicate, &[first, second]);
    let mut resolved_items = Vec::new();
    if let Some(item) = review::item(&mut write.tx, &pair).await?
        && item.status == Status::Open
    {
        review::close(&mut write.tx, &pair, Status::Resolved, now).await?;
        resolved_items.push(pair.clone());
    }
    if review::item(&mut write.tx, &pair).await?.is_some() {
        review::record(
            &mut write.tx,
            &pair,
            now,
            &account.id,
            "merged",
            &serde_json::json!({
                "staff": staff.name,
                "kept": keep,
                "absorbed": absorb,
                "comment": comment,
            }),
        )
        .await?;
    }
    crate::decisions::write::store_and_refresh(
        ledger,
        &mut write.tx,
        absorb,
        &absorb_village,
        &mut absorb_doc,
        vec![tombstone],
    )
    .await?;
    if !copied.is_empty() {
        crate::decisions::write::store_and_refresh(
            ledger,
            &mut write.tx,
            keep,
            &keep_village,
            &mut keep_doc,
            copied,
        )
        .await?;
    }
    write.commit().await?;
    Ok(MergeOutcome {
        kept: keep.to_owned(),
        absorbed: absorb.to_owned(),
        resolved_items,
        message: Message::new(
            format!(
                "户“{absorb}”已并入户“{keep}”；两户的历史都保留，两户不同的值都留在保留户中待审核，设备下次同步时转到保留户"
            ),
            format!(
                "Household \"{absorb}\" is merged into \"{keep}\"; both histories are kept, values that differed stay on the survivor as conflicts to review, and devices follow on their next sync"
            ),
        ),
    })
}

/// An open duplicate item between two households, in the staff member's area: the pair it
/// names. An item about one household's own members names no pair.
async fn open_pair(
    conn: &mut sqlx::AnyConnection,
    account: &accounts::Staff,
    item_id: &str,
) -> Result<(ItemRow, String), ReviewError> {
    let item = review::item(conn, item_id)
        .await?
        .filter(|item| covers(account, &item.village))
        .ok_or_else(|| item_not_found(item_id))?;
    let other = match (&item.kind, &item.other_household_id) {
        (Kind::Duplicate, Some(other)) => other.clone(),
        _ => {
            return Err(ReviewError::Refused(Message::new(
                "只有两户之间的重复项可以这样处理",
                "Only a duplicate between two households can be settled this way",
            )));
        }
    };
    if item.status != Status::Open {
        return Err(ReviewError::Refused(Message::new(
            format!("该项已处理（{}）", item.status.as_str()),
            format!("The item is already closed ({})", item.status.as_str()),
        )));
    }
    Ok((item, other))
}

/// What became of moving a member.
#[derive(Debug, Serialize)]
pub struct MoveOutcome {
    pub item: ItemRow,
    pub member: String,
    pub from: String,
    pub to: String,
    pub message: Message,
}

/// Moves a person recorded in the wrong household of a duplicate pair into the right one:
/// the other household of the pair. The person's values go into `to`, named by whoever first
/// recorded them; the wrong household drops the person in a change by the staff member, so
/// both keep the history. The item is resolved.
#[allow(clippy::too_many_arguments)]
pub async fn move_member_between(
    ledger: &Ledger,
    account: &accounts::Staff,
    client: &str,
    item_id: &str,
    member: &str,
    to: &str,
    comment: Option<&str>,
) -> Result<MoveOutcome, ReviewError> {
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (item, other) = open_pair(&mut write.tx, account, item_id).await?;
    let from = if to == item.household_id {
        other
    } else if to == other {
        item.household_id.clone()
    } else {
        return Err(ReviewError::Refused(Message::new(
            format!("户“{to}”不是该重复项的两户之一"),
            format!("Household \"{to}\" is not one of this duplicate's two households"),
        )));
    };
    let (to_village, mut to_doc) = load_live(ledger, &mut write.tx, account, to).await?;
    let (from_village, mut from_doc) = load_live(ledger, &mut write.tx, account, &from).await?;
    let staff = staff_of(account);
    let signed = Signed {
        staff: &staff,
        item: item_id,
        comment,
        at: now,
    };
    let (carried, removal) = move_member(&mut to_doc, &mut from_doc, member, &from, &signed)?;
    review::close(&mut write.tx, item_id, Status::Resolved, now).await?;
    review::record(
        &mut write.tx,
        item_id,
        now,
        &account.id,
        "moved",
        &serde_json::json!({
            "staff": staff.name,
            "member": member,
            "from": from,
            "to": to,
            "comment": comment,
        }),
    )
    .await?;
    let entry = Entry::new("review.move", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(item_id)
        .from(client)
        .saying(format!("member {member}: {from} -> {to}"));
    audit::record_in(&mut write.tx, entry).await?;
    // The wrong household first: once it no longer holds the person, finding duplicates for
    // the right one does not find the pair again.
    crate::decisions::write::store_and_refresh(
        ledger,
        &mut write.tx,
        &from,
        &from_village,
        &mut from_doc,
        vec![removal],
    )
    .await?;
    if !carried.is_empty() {
        crate::decisions::write::store_and_refresh(
            ledger,
            &mut write.tx,
            to,
            &to_village,
            &mut to_doc,
            carried,
        )
        .await?;
    }
    let after = review::item(&mut write.tx, item_id)
        .await?
        .ok_or_else(|| item_not_found(item_id))?;
    write.commit().await?;
    Ok(MoveOutcome {
        item: after,
        member: member.to_owned(),
        message: Message::new(
            format!("成员已从户“{from}”移到户“{to}”；两户的历史都保留，设备下次同步时更新"),
            format!(
                "The member is moved from household \"{from}\" to \"{to}\"; both histories are kept, and devices follow on their next sync"
            ),
        ),
        from,
        to: to.to_owned(),
    })
}

/// What became of settling a duplicate as not the same household.
#[derive(Debug, Serialize)]
pub struct DismissOutcome {
    pub item: ItemRow,
    pub message: Message,
}

/// Settles a duplicate item as "not the same household": nothing in either household
/// changes. The item stays closed when the same finding comes back, and opens again only if
/// the two households come to share something new.
pub async fn dismiss(
    ledger: &Ledger,
    account: &accounts::Staff,
    client: &str,
    item_id: &str,
    comment: &str,
) -> Result<DismissOutcome, ReviewError> {
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(ReviewError::Refused(Message::new(
            "请说明为什么不是同一户（comment）",
            "Say why these are not the same household (comment)",
        )));
    }
    let now = ledger.clock().now_seconds();
    let mut write = ledger.db().begin_write().await?;
    let (item, _) = open_pair(&mut write.tx, account, item_id).await?;
    let staff = staff_of(account);
    review::close(&mut write.tx, item_id, Status::Dismissed, now).await?;
    review::record(
        &mut write.tx,
        item_id,
        now,
        &account.id,
        "dismissed",
        &serde_json::json!({
            "staff": staff.name,
            "comment": comment,
            "summary": item.summary,
        }),
    )
    .await?;
    let entry = Entry::new("review.dismiss", Outcome::Ok)
        .by(account.actor(), account.role.as_str())
        .on(item_id)
        .from(client);
    audit::record_in(&mut write.tx, entry).await?;
    let after = review::item(&mut write.tx, item_id)
        .await?
        .ok_or_else(|| item_not_found(item_id))?;
    write.commit().await?;
    Ok(DismissOutcome {
        item: after,
        message: Message::new(
            "已确定不是同一户；除非两户出现新的相同信息，该项不再打开",
            "Settled as not the same household; the item stays closed unless the two come to share something new",
        ),
    })
}

/// Carries edits that reached a merged (absorbed) household into its survivor, inside the
/// caller's transaction. They come from phones that had not heard of the merge when they
/// recorded them; the absorbed household keeps them in its history too.
pub async fn forward_late_edits(
    ledger: &Ledger,
    conn: &mut sqlx::AnyConnection,
    absorbed_id: &str,
    absorbed: &mut AutoCommit,
    survivor_id: &str,
    late: &[Change],
    now: i64,
) -> Result<(), LedgerError> {
    let Some((village, mut survivor)) = ledger.load_for_write(conn, survivor_id).await? else {
        tracing::warn!(
            absorbed_id,
            survivor_id,
            "merged into a household that is not stored"
        );
        return Ok(());
    };
    match forward(&mut survivor, absorbed, absorbed_id, late, now) {
        Ok(Some(change)) => {
            crate::decisions::write::store_and_refresh(
                ledger,
                conn,
                survivor_id,
                &village,
                &mut survivor,
                vec![change],
            )
            .await
        }
        Ok(None) => Ok(()),
        // The edit is stored in the absorbed household whatever happens here; staff can
        // still see it there.
        Err(err) => {
            tracing::warn!(absorbed_id, survivor_id, %err, "late edit not forwarded");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use schema::ids::HouseholdId;

    fn household() -> AutoCommit {
        let mut doc = AutoCommit::new();
        let id = HouseholdId::from_random([7; 16]);
        let village = AreaCode::parse_village("141124100201").unwrap();
        layout::init_household(&mut doc, &id, &village, "0001", 1_700_000_000).unwrap();
        doc.commit();
        doc
    }

    fn staff(name: &str) -> Staff {
        Staff {
            id: name.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn a_decision_carries_its_staff_member_and_comment_into_the_field_history() {
        let mut doc = household();
        let path = FieldPath::household("address").unwrap();
        let decision = decide(
            &mut doc,
            &[],
            &path,
            &Choice::Value("东街 1 号".to_owned()),
            &Signed {
                staff: &staff("李华"),
                item: "item1",
                comment: Some("户主确认"),
                at: 1_800_000_000,
            },
        )
        .unwrap();
        assert!(!decision.stale);
        doc.apply_changes([decision.change]).unwrap();
        let actors = layout::read_household(doc.document()).unwrap().actors;
        let history = layout::field_history(doc.document(), &path, &actors);
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].staff.as_deref(), Some("李华"));
        assert_eq!(history[0].origin.review.as_deref(), Some("item1"));
        assert_eq!(history[0].origin.comment.as_deref(), Some("户主确认"));
        assert_eq!(history[0].time, 1_800_000_000);
    }

    /// Writes `value` at `path` as a phone would: a fresh actor that names its device.
    fn record_as(doc: &mut AutoCommit, device: &str, path: &FieldPath, value: &str, at: i64) {
        let actor = ActorId::random();
        doc.set_actor(actor.clone());
        let info = ActorInfo {
            device: Some(device.to_owned()),
            volunteer: Some(format!("volunteer of {device}")),
            staff: None,
        };
        layout::write_actor(doc, &actor.to_hex_string(), &info).unwrap();
        layout::write_field(doc, path, Some(&FieldValue::Text(value.to_owned()))).unwrap();
        doc.commit_with(automerge::transaction::CommitOptions::default().with_time(at));
    }

    #[test]
    fn a_merge_keeps_the_absorbed_households_different_value_beside_the_survivors() {
        let (mut survivor, mut absorbed) = (household(), household());
        let path = FieldPath::household("address").unwrap();
        record_as(&mut survivor, "phone-a", &path, "东街", 1_750_000_000);
        record_as(&mut absorbed, "phone-b", &path, "西街", 1_760_000_000);
        merge(
            &mut survivor,
            &mut absorbed,
            "s",
            "a",
            &staff("李华"),
            None,
            1_800_000_000,
        )
        .unwrap();
        let view = layout::read_household(survivor.document()).unwrap();
        let candidates = &view.field(&path).unwrap().candidates;
        assert_eq!(candidates.len(), 2, "{candidates:?}");
        let carried = candidates
            .iter()
            .find(|c| c.value.display() == "西街")
            .unwrap();
        assert_eq!(carried.device.as_deref(), Some("phone-b"));
        assert_eq!(carried.volunteer.as_deref(), Some("volunteer of phone-b"));
        assert_eq!(carried.time, Some(1_760_000_000));
        assert_eq!(carried.review.as_deref(), Some("merge a"));
    }

    #[test]
    fn decisions_made_on_the_same_view_are_kept_side_by_side() {
        let mut doc = household();
        let seen = doc.get_heads();
        let path = FieldPath::household("address").unwrap();
        let mut decide_as = |name: &str, value: &str| {
            decide(
                &mut doc,
                &seen,
                &path,
                &Choice::Value(value.to_owned()),
                &Signed {
                    staff: &staff(name),
                    item: "item1",
                    comment: None,
                    at: 1_800_000_000,
                },
            )
            .unwrap()
        };
        let first = decide_as("甲", "东街");
        let second_change = {
            let second = decide_as("乙", "西街");
            assert!(!second.stale, "the first is not applied yet");
            second.change
        };
        doc.apply_changes([first.change]).unwrap();
        let late = decide(
            &mut doc,
            &seen,
            &path,
            &Choice::Value("南街".to_owned()),
            &Signed {
                staff: &staff("丙"),
                item: "item1",
                comment: None,
                at: 1_800_000_000,
            },
        )
        .unwrap();
        assert!(
            late.stale,
            "the field changed since the view it was made on"
        );
        doc.apply_changes([second_change, late.change]).unwrap();
        let view = layout::read_household(doc.document()).unwrap();
        let candidates = &view.field(&path).unwrap().candidates;
        assert_eq!(candidates.len(), 3);
    }

    #[test]
    fn choosing_one_of_the_disputed_values_still_stands_beside_a_concurrent_decision() {
        // Actors are random, and which value Automerge shows first depends on them: repeat.
        for _ in 0..20 {
            let mut doc = household();
            let path = FieldPath::household("address").unwrap();
            let (mut a, mut b) = (doc.fork(), doc.fork());
            let text = |t: &str| FieldValue::Text(t.to_owned());
            layout::write_field(&mut a, &path, Some(&text("东街"))).unwrap();
            layout::write_field(&mut b, &path, Some(&text("西街"))).unwrap();
            doc.merge(&mut a).unwrap();
            doc.merge(&mut b).unwrap();
            let seen = doc.get_heads();
            let decide_as = |doc: &mut AutoCommit, name: &str, value: &str| {
                let choice = Choice::Value(value.to_owned());
                let staff = staff(name);
                let signed = Signed {
                    staff: &staff,
                    item: "i",
                    comment: None,
                    at: 1,
                };
                let decision = decide(doc, &seen, &path, &choice, &signed);
                doc.apply_changes([decision.unwrap().change]).unwrap();
            };
            decide_as(&mut doc, "甲", "东街");
            decide_as(&mut doc, "乙", "南街");
            let view = layout::read_household(doc.document()).unwrap();
            let candidates = &view.field(&path).unwrap().candidates;
            let mut values: Vec<String> = candidates.iter().map(|c| c.value.display()).collect();
            values.sort();
            assert_eq!(values, ["东街", "南街"]);
        }
    }
}
