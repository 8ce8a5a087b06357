//! The county review queue: what offline work leaves for staff to settle.
//!
//! Three kinds of item, all found when a household's changes are merged, in the same
//! transaction as the merge:
//!
//! - **conflict**: a field that holds different concurrent values;
//! - **rule**: an error the schema's validation finds in the merged household (two edits can
//!   each be valid and invalid together);
//! - **duplicate**: the same ID number twice, in two households or in two members of one.
//!
//! An item's id is derived from what it is about, so finding the same thing again reopens the
//! same item. An item that nobody settled but that is no longer true (a later edit chose a
//! value, a device fixed the rule) is closed as `settled` by itself. A duplicate staff
//! `dismissed` as not the same household stays closed while it is found saying the same, and
//! opens again when its summary changes (the pair shares another ID number). Every step is
//! kept in `review_event`.
//!
//! Both tables are stored in the clear, so what they say names no sensitive value: ID
//! numbers appear masked, a disputed health or poverty status without its values, and
//! duplicates are found by the ID numbers' keyed hashes, never the numbers.

use crate::privacy;
use crate::storage::vault::{self, Vault};
use schema::Message;
use schema::fields::{Entity, FieldPath};
use schema::layout::HouseholdView;
use schema::validation::{Issue, Severity};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AnyPool, Row};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Conflict,
    Rule,
    Duplicate,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Conflict, Kind::Rule, Kind::Duplicate];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Conflict => "conflict",
            Kind::Rule => "rule",
            Kind::Duplicate => "duplicate",
        }
    }

    pub fn parse(input: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == input)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Open,
    /// Decided by staff.
    Resolved,
    /// No longer true without staff deciding: a later edit settled it.
    Settled,
    /// A duplicate staff found not to be one: two households that only share a person.
    /// Finding the same again does not reopen it; finding something new does.
    Dismissed,
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 4] = [
        ReviewStatus::Open,
        ReviewStatus::Resolved,
        ReviewStatus::Settled,
        ReviewStatus::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Open => "open",
            ReviewStatus::Resolved => "resolved",
            ReviewStatus::Settled => "settled",
            ReviewStatus::Dismissed => "dismissed",
        }
    }

    pub fn parse(input: &str) -> Option<ReviewStatus> {
        ReviewStatus::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

/// Who did something to an item when no staff member did: detection itself.
pub const SYSTEM: &str = "system";

/// An item as detection finds it now.
#[derive(Debug, Clone, PartialEq)]
struct Finding {
    id: String,
    kind: Kind,
    household: String,
    other: Option<String>,
    village: String,
    path: String,
    rule: String,
    summary: Message,
}

/// A stable id for an item about these things.
pub fn item_id(kind: Kind, parts: &[&str]) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(kind.as_str().as_bytes());
    for part in parts {
        hasher.update(&[0]);
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize().as_bytes()[..8])
}

/// Where a field is, as a clerk would say it: "member 张三's employment status".
pub fn describe(view: &HouseholdView, path: &str) -> Message {
    let Ok(path) = FieldPath::parse(path) else {
        return Message::new(path, path);
    };
    let label = path.spec().label();
    match path.entity {
        Entity::Household => label,
        Entity::Member => {
            let name = view
                .members
                .get(&path.key)
                .and_then(|m| m.get("name"))
                .and_then(|f| f.value.as_text())
                .unwrap_or("?");
            Message::new(
                format!("成员“{name}”的{}", label.zh),
                format!("{} of member {name}", label.en),
            )
        }
        Entity::Visit => Message::new(
            format!("走访记录的{}", label.zh),
            format!("{} of a visit", label.en),
        ),
        Entity::Training => Message::new(
            format!("培训记录的{}", label.zh),
            format!("{} of a training", label.en),
        ),
        Entity::Subsidy => Message::new(
            format!("补贴记录的{}", label.zh),
            format!("{} of a subsidy", label.en),
        ),
    }
}

/// One ID number held by members of a household.
struct HeldNumber<'a> {
    /// As shown: masked.
    masked: String,
    /// The member keys that hold it.
    keys: Vec<&'a str>,
}

/// The ID numbers of a household's present members, by lookup hash (two spellings of one
/// number are one entry). Someone who moved out is expected to turn up in their new
/// household; that is no duplicate.
fn id_numbers<'a>(vault: &Vault, view: &'a HouseholdView) -> BTreeMap<String, HeldNumber<'a>> {
    let mut out: BTreeMap<String, HeldNumber<'a>> = BTreeMap::new();
    for (key, member) in view.present_members() {
        let Some(number) = member.get("id_number").and_then(|f| f.value.as_text()) else {
            continue;
        };
        let number = vault::normalise_id_number(number);
        if number.len() == 18 {
            out.entry(vault.lookup_hash(&number))
                .or_insert_with(|| HeldNumber {
                    masked: privacy::mask_id_number(&number),
                    keys: Vec::new(),
                })
                .keys
                .push(key.as_str());
        }
    }
    out
}

/// What is wrong inside one household, from its merged view and validation issues.
fn household_findings(
    vault: &Vault,
    household: &str,
    village: &str,
    view: &HouseholdView,
    issues: &[Issue],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for conflict in view.conflicts() {
        let path = FieldPath::parse(&conflict.path);
        let values: Vec<Message> = conflict
            .field
            .candidates
            .iter()
            .map(|c| match &path {
                Ok(path) if privacy::is_sensitive_name(path.name) => {
                    privacy::mask_readable(path.name, &c.value)
                }
                Ok(path) => c.value.readable(path.spec().kind),
                Err(_) => Message::new(c.value.display(), c.value.display()),
            })
            .collect();
        let place = describe(view, &conflict.path);
        out.push(Finding {
            id: item_id(Kind::Conflict, &[household, &conflict.path]),
            kind: Kind::Conflict,
            household: household.to_owned(),
            other: None,
            village: village.to_owned(),
            summary: Message::new(
                format!(
                    "{}有 {} 个不同的值：{}",
                    place.zh,
                    values.len(),
                    values
                        .iter()
                        .map(|v| v.zh.as_str())
                        .collect::<Vec<_>>()
                        .join(" ／ ")
                ),
                format!(
                    "{} has {} different values: {}",
                    place.en,
                    values.len(),
                    values
                        .iter()
                        .map(|v| v.en.as_str())
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
            ),
            path: conflict.path,
            rule: String::new(),
        });
    }
    for issue in issues.iter().filter(|i| i.severity == Severity::Error) {
        let mut shown = issue.clone();
        privacy::mask_issue(&mut shown);
        out.push(Finding {
            id: item_id(Kind::Rule, &[household, issue.rule, &issue.path]),
            kind: Kind::Rule,
            household: household.to_owned(),
            other: None,
            village: village.to_owned(),
            path: issue.path.clone(),
            rule: issue.rule.to_owned(),
            summary: shown.message,
        });
    }
    for (hash, HeldNumber { masked, keys }) in id_numbers(vault, view) {
        if keys.len() < 2 {
            continue;
        }
        let path = format!("members.{}.id_number", keys[1]);
        out.push(Finding {
            // The keyed hash, not the number: an item id is stored in the clear.
            id: item_id(Kind::Duplicate, &[household, household, &hash]),
            kind: Kind::Duplicate,
            household: household.to_owned(),
            other: None,
            village: village.to_owned(),
            path,
            rule: "duplicate.member".to_owned(),
            summary: Message::new(
                format!("本户有 {} 名成员的身份证号相同（{masked}）", keys.len()),
                format!(
                    "{} members of this household share one ID number ({masked})",
                    keys.len()
                ),
            ),
        });
    }
    out
}

/// A household whose items are to be brought up to date: its merged view and the issues
/// validation found in it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub household: &'a str,
    pub village: &'a str,
    pub view: &'a HouseholdView,
    pub issues: &'a [Issue],
}

/// A member row of another household that holds one of the ID numbers looked for.
struct Holder {
    household: String,
    /// The ID number's lookup hash.
    hash: String,
    relation: Option<String>,
    number: String,
}

/// Every live household's present members holding one of these ID numbers (by lookup hash).
///
/// Two lookups, each of one table by an index, driven by the short list it is given (the
/// batch's hashes, then the few households holding them), rather than one join: PostgreSQL
/// planned the join as a hash of every live household, whose cost grows with the register,
/// even with fresh statistics. The household lookup is by primary key, which PostgreSQL
/// knows matches one row per value without any statistics; the member lookup relies on the
/// statistics the server keeps fresh (`db::refresh_statistics`).
async fn holders(
    conn: &mut AnyConnection,
    hashes: &BTreeSet<String>,
) -> Result<Vec<Holder>, sqlx::Error> {
    let backend = crate::storage::db::Backend::of(conn);
    let hashes: Vec<&String> = hashes.iter().collect();
    let mut members: Vec<(String, String, Option<String>)> = Vec::new();
    // One parameter of each statement is the status.
    for chunk in hashes.chunks(crate::storage::db::MAX_PARAMS - 1) {
        // Only numbered placeholders are formatted into the SQL; the hashes are bound.
        let sql = format!(
            "SELECT household_id, id_number_hash, relation FROM member
             WHERE id_number_hash IN ({}) AND status = {}",
            backend.placeholders(chunk.len()),
            backend.parameter(chunk.len() + 1)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for hash in chunk {
            query = query.bind(hash.as_str());
        }
        query = query.bind(schema::codes::PRESENT);
        for row in query.fetch_all(&mut *conn).await? {
            members.push((
                row.try_get("household_id")?,
                row.try_get("id_number_hash")?,
                row.try_get("relation")?,
            ));
        }
    }
    let households: Vec<&str> = members
        .iter()
        .map(|(household, _, _)| household.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Merged households are tombstones: they hold no one.
    let mut live_numbers: BTreeMap<String, String> = BTreeMap::new();
    for chunk in households.chunks(crate::storage::db::MAX_PARAMS) {
        let sql = format!(
            "SELECT id, number FROM household WHERE id IN ({}) AND merged_into IS NULL",
            backend.placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for household in chunk {
            query = query.bind(*household);
        }
        for row in query.fetch_all(&mut *conn).await? {
            live_numbers.insert(row.try_get("id")?, row.try_get("number")?);
        }
    }
    Ok(members
        .into_iter()
        .filter_map(|(household, hash, relation)| {
            let number = live_numbers.get(&household)?.clone();
            Some(Holder {
                household,
                hash,
                relation,
                number,
            })
        })
        .collect())
}

/// Other households that hold one of this household's ID numbers: one item per pair.
fn duplicate_findings(vault: &Vault, subject: &Subject<'_>, holders: &[Holder]) -> Vec<Finding> {
    let numbers = id_numbers(vault, subject.view);
    let household = subject.household;
    let is_head = |keys: &Vec<&str>| {
        keys.iter().any(|key| {
            subject
                .view
                .members
                .get(*key)
                .and_then(|m| m.get("relation"))
                .and_then(|f| f.value.as_text())
                == Some("01")
        })
    };
    let mut shared: BTreeMap<&str, (&str, Vec<String>, bool)> = BTreeMap::new();
    for holder in holders.iter().filter(|h| h.household != household) {
        let Some(held) = numbers.get(&holder.hash) else {
            continue;
        };
        let heads_match = holder.relation.as_deref() == Some("01") && is_head(&held.keys);
        let entry = shared
            .entry(holder.household.as_str())
            .or_insert_with(|| (holder.number.as_str(), Vec::new(), false));
        entry.1.push(held.masked.clone());
        entry.2 |= heads_match;
    }
    shared
        .into_iter()
        .map(|(other, (other_number, mut numbers, heads_match))| {
            // Rows come in no particular order; the summary must not change with it, or
            // every merge would rewrite the item.
            numbers.sort();
            numbers.dedup();
            let (first, second) = if household < other {
                (household, other)
            } else {
                (other, household)
            };
            let list = numbers.join("、");
            // Both households named in the pair's order, so that the summary reads the same
            // whichever of the two was just merged: a dismissed item compares it to tell
            // whether anything new is shared.
            let own_number = subject.view.household_text("number").unwrap_or("?");
            let (first_number, second_number) = if household < other {
                (own_number, other_number)
            } else {
                (other_number, own_number)
            };
            let summary = if heads_match {
                Message::new(
                    format!(
                        "疑似重复建档：户 {first_number} 与户 {second_number} 的户主身份证号相同（{list}）"
                    ),
                    format!(
                        "Possibly the same household registered twice: households {first_number} and {second_number} have the same head's ID number ({list})"
                    ),
                )
            } else {
                Message::new(
                    format!(
                        "户 {first_number} 与户 {second_number} 有相同身份证号的成员（{list}）"
                    ),
                    format!(
                        "Households {first_number} and {second_number} share members' ID numbers ({list})"
                    ),
                )
            };
            Finding {
                id: item_id(Kind::Duplicate, &[first, second]),
                kind: Kind::Duplicate,
                household: household.to_owned(),
                village: subject.village.to_owned(),
                path: String::new(),
                rule: if heads_match {
                    "duplicate.household"
                } else {
                    "duplicate.id_number"
                }
                .to_owned(),
                summary,
                other: Some(other.to_owned()),
            }
        })
        .collect()
}

/// An item as stored, as far as refreshing it needs.
struct Known {
    status: String,
    summary: Message,
}

/// The items of these households (as either side of a pair), in one statement.
async fn known_items(
    conn: &mut AnyConnection,
    households: &[&str],
) -> Result<BTreeMap<String, Known>, sqlx::Error> {
    let mut out = BTreeMap::new();
    for chunk in households.chunks(crate::storage::db::MAX_PARAMS / 2) {
        let backend = crate::storage::db::Backend::of(conn);
        let ones = backend.placeholders(chunk.len());
        let others = backend.placeholders_from(chunk.len() + 1, chunk.len());
        let sql = format!(
            "SELECT id, status, summary_zh, summary_en
             FROM review_item WHERE household_id IN ({ones}) OR other_household_id IN ({others})"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for household in chunk.iter().chain(chunk) {
            query = query.bind(*household);
        }
        for row in query.fetch_all(&mut *conn).await? {
            out.insert(
                row.try_get("id")?,
                Known {
                    status: row.try_get("status")?,
                    summary: Message::new(
                        row.try_get::<String, _>("summary_zh")?,
                        row.try_get::<String, _>("summary_en")?,
                    ),
                },
            );
        }
    }
    Ok(out)
}

/// Brings one household's items up to date with its merged state.
pub async fn refresh(
    conn: &mut AnyConnection,
    vault: &Vault,
    subject: Subject<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    refresh_all(conn, vault, &[subject], now).await
}

/// Brings households' items up to date with their merged state: opens what is new, reopens
/// what came back, settles what is no longer true. Runs inside the merge's transaction; reads
/// in two statements whatever the number of households, and writes only what changed.
pub async fn refresh_all(
    conn: &mut AnyConnection,
    vault: &Vault,
    subjects: &[Subject<'_>],
    now: i64,
) -> Result<(), sqlx::Error> {
    if subjects.is_empty() {
        return Ok(());
    }
    let live: Vec<&Subject<'_>> = subjects
        .iter()
        .filter(|s| s.view.household_text("merged_into").is_none())
        .collect();
    let hashes: BTreeSet<String> = live
        .iter()
        .flat_map(|s| id_numbers(vault, s.view).into_keys())
        .collect();
    let holders = holders(conn, &hashes).await?;
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    for subject in &live {
        let found = household_findings(
            vault,
            subject.household,
            subject.village,
            subject.view,
            subject.issues,
        )
        .into_iter()
        .chain(duplicate_findings(vault, subject, &holders));
        for finding in found {
            findings.entry(finding.id.clone()).or_insert(finding);
        }
    }
    let households: Vec<&str> = subjects.iter().map(|s| s.household).collect();
    let known = known_items(conn, &households).await?;
    for finding in findings.values() {
        match known.get(&finding.id) {
            Some(item)
                if item.status == ReviewStatus::Open.as_str()
                    && item.summary == finding.summary => {}
            // Staff said these are not the same household; only a finding that says
            // something new (another shared ID number) asks them again.
            Some(item)
                if item.status == ReviewStatus::Dismissed.as_str()
                    && item.summary == finding.summary => {}
            Some(item) => {
                // Still open with a new summary, or back after it was closed: one statement
                // serves both.
                sqlx::query(
                    "UPDATE review_item SET status = 'open', closed_at = NULL, summary_zh = $2,
                         summary_en = $3, updated_at = $4
                     WHERE id = $1",
                )
                .bind(&finding.id)
                .bind(&finding.summary.zh)
                .bind(&finding.summary.en)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                if item.status != ReviewStatus::Open.as_str() {
                    record(conn, &finding.id, now, SYSTEM, "reopened", &finding.summary).await?;
                }
            }
            None => {
                sqlx::query(
                    "INSERT INTO review_item (id, kind, status, household_id, other_household_id,
                         village, path, rule, summary_zh, summary_en, opened_at, updated_at)
                     VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(&finding.id)
                .bind(finding.kind.as_str())
                .bind(&finding.household)
                .bind(finding.other.as_deref())
                .bind(&finding.village)
                .bind(&finding.path)
                .bind(&finding.rule)
                .bind(&finding.summary.zh)
                .bind(&finding.summary.en)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                record(conn, &finding.id, now, SYSTEM, "opened", &finding.summary).await?;
            }
        }
    }
    // Every known item involves one of these households, and a pair item is found from
    // either side, so an open item nobody found is no longer true.
    for (id, item) in &known {
        if item.status == ReviewStatus::Open.as_str() && !findings.contains_key(id) {
            close(conn, id, ReviewStatus::Settled, now).await?;
            record(conn, id, now, SYSTEM, "settled", &item.summary).await?;
        }
    }
    Ok(())
}

/// Closes an item.
pub async fn close(
    conn: &mut AnyConnection,
    id: &str,
    status: ReviewStatus,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE review_item SET status = $2, closed_at = $3, updated_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds a step to an item's history.
pub async fn record(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    who: &str,
    action: &str,
    detail: &impl Serialize,
) -> Result<(), sqlx::Error> {
    let detail = serde_json::to_string(detail).unwrap_or_else(|_| "null".to_owned());
    sqlx::query(
        "INSERT INTO review_event (item_id, at, who, action, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(now)
    .bind(who)
    .bind(action)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One line of the review list.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRow {
    pub id: String,
    pub kind: Kind,
    pub status: ReviewStatus,
    pub household_id: String,
    /// The household's number and head, so a clerk knows which family without opening it.
    pub household_number: Option<String>,
    pub head_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_household_id: Option<String>,
    pub village: String,
    /// The field it is about, when it is about one.
    pub path: String,
    /// The rule that failed, for rule items; which sort of duplicate, for duplicates.
    pub rule: String,
    pub summary: Message,
    pub opened_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

/// The columns of an [`ItemRow`]; a constant, formatted into queries that read items.
const ITEM_COLUMNS: &str = "r.id, r.kind, r.status, r.household_id, r.other_household_id,
    r.village, r.path, r.rule, r.summary_zh, r.summary_en, r.opened_at, r.updated_at,
    r.closed_at, h.number, h.head_name";

fn item_row(row: &sqlx::any::AnyRow) -> Result<ItemRow, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let decode = |column: &str, what: &str| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown {what}").into(),
    };
    Ok(ItemRow {
        id: row.try_get("id")?,
        kind: Kind::parse(&kind).ok_or_else(|| decode("kind", "kind"))?,
        status: ReviewStatus::parse(&status).ok_or_else(|| decode("status", "status"))?,
        household_id: row.try_get("household_id")?,
        household_number: row.try_get("number")?,
        head_name: row.try_get("head_name")?,
        other_household_id: row.try_get("other_household_id")?,
        village: row.try_get("village")?,
        path: row.try_get("path")?,
        rule: row.try_get("rule")?,
        summary: Message::new(
            row.try_get::<String, _>("summary_zh")?,
            row.try_get::<String, _>("summary_en")?,
        ),
        opened_at: row.try_get("opened_at")?,
        updated_at: row.try_get("updated_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// What to list.
#[derive(Debug, Clone)]
pub struct ReviewFilter {
    /// An area code of any level: its prefix selects villages.
    pub area: String,
    pub kind: Option<Kind>,
    pub status: ReviewStatus,
    pub limit: i64,
    pub offset: i64,
}

/// Open items of one village.
#[derive(Debug, Clone, Serialize)]
pub struct VillageCount {
    pub village: String,
    pub open: i64,
}

/// A page of items, with the counts a clerk needs to see the size of the work.
#[derive(Debug, Clone, Serialize)]
pub struct ItemPage {
    /// Items matching the filter.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// In the area, by kind, then by status, whatever the filter.
    pub counts: BTreeMap<String, BTreeMap<String, i64>>,
    /// Open items per village of the area.
    pub villages: Vec<VillageCount>,
    pub items: Vec<ItemRow>,
}

pub async fn list(pool: &AnyPool, filter: &ReviewFilter) -> Result<ItemPage, sqlx::Error> {
    let prefix = format!("{}%", filter.area);
    let kind = filter.kind.map(Kind::as_str).unwrap_or("");
    let total: i64 = sqlx::query(
        "SELECT COUNT(*) AS total FROM review_item
         WHERE status = $1 AND village LIKE $2 AND ($3 = '' OR kind = $3)",
    )
    .bind(filter.status.as_str())
    .bind(&prefix)
    .bind(kind)
    .fetch_one(pool)
    .await?
    .try_get("total")?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM review_item r LEFT JOIN household h ON h.id = r.household_id
         WHERE r.status = $1 AND r.village LIKE $2 AND ($3 = '' OR r.kind = $3)
         ORDER BY r.village, r.opened_at, r.id LIMIT $4 OFFSET $5"
    )))
    .bind(filter.status.as_str())
    .bind(&prefix)
    .bind(kind)
    .bind(filter.limit)
    .bind(filter.offset)
    .fetch_all(pool)
    .await?;
    let items = rows.iter().map(item_row).collect::<Result<Vec<_>, _>>()?;
    let mut counts: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for kind in Kind::ALL {
        let by_status = counts.entry(kind.as_str().to_owned()).or_default();
        for status in ReviewStatus::ALL {
            by_status.insert(status.as_str().to_owned(), 0);
        }
    }
    let rows = sqlx::query(
        "SELECT kind, status, COUNT(*) AS n FROM review_item WHERE village LIKE $1
         GROUP BY kind, status",
    )
    .bind(&prefix)
    .fetch_all(pool)
    .await?;
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let status: String = row.try_get("status")?;
        counts
            .entry(kind)
            .or_default()
            .insert(status, row.try_get("n")?);
    }
    let villages = open_by_village(pool, &filter.area).await?;
    Ok(ItemPage {
        total,
        limit: filter.limit,
        offset: filter.offset,
        counts,
        villages,
        items,
    })
}

/// The number of open items in each village of an area that has any.
pub async fn open_by_village(pool: &AnyPool, area: &str) -> Result<Vec<VillageCount>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT village, COUNT(*) AS n FROM review_item WHERE status = 'open' AND village LIKE $1
         GROUP BY village ORDER BY village",
    )
    .bind(format!("{area}%"))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(VillageCount {
                village: row.try_get("village")?,
                open: row.try_get("n")?,
            })
        })
        .collect()
}

pub async fn item(conn: &mut AnyConnection, id: &str) -> Result<Option<ItemRow>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM review_item r LEFT JOIN household h ON h.id = r.household_id
         WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(item_row).transpose()
}

/// One step of an item's history.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: i64,
    pub who: String,
    pub action: String,
    pub detail: serde_json::Value,
}

pub async fn events(conn: &mut AnyConnection, id: &str) -> Result<Vec<Event>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at, who, action, detail FROM review_event WHERE item_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let detail: String = row.try_get("detail")?;
            Ok(Event {
                at: row.try_get("at")?,
                who: row.try_get("who")?,
                action: row.try_get("action")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}

/// When the server received each of these changes (hex hashes), in seconds since 1970.
pub async fn received_at(
    conn: &mut AnyConnection,
    hashes: &[String],
) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let wanted: BTreeSet<Vec<u8>> = hashes.iter().filter_map(|h| hex::decode(h).ok()).collect();
    let mut out = BTreeMap::new();
    let wanted: Vec<Vec<u8>> = wanted.into_iter().collect();
    for chunk in wanted.chunks(crate::storage::db::MAX_PARAMS) {
        // Only numbered placeholders are formatted into the SQL; the hashes are bound.
        let sql = format!(
            "SELECT hash, received_at FROM change WHERE hash IN ({})",
            crate::storage::db::Backend::of(conn).placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for hash in chunk {
            query = query.bind(hash.clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let hash: Vec<u8> = row.try_get("hash")?;
            out.insert(hex::encode(hash), row.try_get("received_at")?);
        }
    }
    Ok(out)
}

/// Households per village of an area, and how many of them hold a disputed field. Merged
/// households (tombstones) are not counted.
pub async fn household_counts(
    pool: &AnyPool,
    area: &str,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT village, COUNT(*) AS households,
                SUM(CASE WHEN conflict_count > 0 THEN 1 ELSE 0 END) AS disputed
         FROM household WHERE village LIKE $1 AND merged_into IS NULL
         GROUP BY village ORDER BY village",
    )
    .bind(format!("{area}%"))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("village")?,
                row.try_get("households")?,
                row.try_get("disputed")?,
            ))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A pair's item is found from either household: the one it is filed under and the
    /// other, so ingesting the second household updates the item instead of adding it again.
    #[tokio::test]
    async fn test_known_items_finds_a_pair_from_either_household() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::db::test_sqlite(dir.path()).await;
        sqlx::query(
            "INSERT INTO review_item (id, kind, status, household_id, other_household_id,
                 village, path, rule, summary_zh, summary_en, opened_at, updated_at)
             VALUES ('pair', 'duplicate', 'open', 'ha', 'hb', '141124100201', '', 'duplicate',
                 '疑似重复', 'possible duplicate', 1, 1)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        for households in [&["ha"][..], &["hb"], &["hc", "hb"]] {
            let known = known_items(&mut conn, households).await.unwrap();
            assert!(known.contains_key("pair"), "{households:?}");
        }
        assert!(known_items(&mut conn, &["hc"]).await.unwrap().is_empty());
    }

    #[test]
    fn item_ids_are_stable_and_distinct() {
        let a = item_id(Kind::Conflict, &["h1", "household.address"]);
        assert_eq!(a, item_id(Kind::Conflict, &["h1", "household.address"]));
        assert_ne!(a, item_id(Kind::Rule, &["h1", "household.address"]));
        // The separator keeps ("h1", "2x") and ("h12", "x") apart.
        assert_ne!(
            item_id(Kind::Duplicate, &["h1", "2x"]),
            item_id(Kind::Duplicate, &["h12", "x"])
        );
        assert_eq!(a.len(), 16);
    }
}
