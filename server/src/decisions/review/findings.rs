//! What is wrong in a merged household: disputed fields, validation errors, and ID numbers
//! held twice, inside it or by another live household.

use super::{Kind, Subject, describe, item_id};
use crate::access::privacy;
use crate::storage::db::{Backend, MAX_PARAMS};
use crate::storage::vault::{self, Vault};
use schema::Message;
use schema::fields::FieldPath;
use schema::layout::HouseholdView;
use schema::validation::{Issue, Severity};
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// An item as detection finds it now.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Finding {
    pub(super) id: String,
    pub(super) kind: Kind,
    pub(super) household: String,
    pub(super) other: Option<String>,
    pub(super) village: String,
    pub(super) path: String,
    pub(super) rule: String,
    pub(super) summary: Message,
}

/// One ID number held by members of a household.
pub(super) struct HeldNumber<'a> {
    /// As shown: masked.
    masked: String,
    /// The member keys that hold it.
    keys: Vec<&'a str>,
}

/// The ID numbers of a household's present members, by lookup hash (two spellings of one
/// number are one entry). Someone who moved out is expected to turn up in their new
/// household; that is no duplicate.
pub(super) fn id_numbers<'a>(
    vault: &Vault,
    view: &'a HouseholdView,
) -> BTreeMap<String, HeldNumber<'a>> {
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
pub(super) fn household_findings(
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

/// A member row of another household that holds one of the ID numbers looked for.
pub(super) struct Holder {
    household: String,
    /// The ID number's lookup hash.
    hash: String,
    relation: Option<String>,
    number: String,
}

/// A present member's row holding one of the ID numbers looked for, before its household
/// is known to be live.
struct HolderRow {
    household: String,
    hash: String,
    relation: Option<String>,
}

/// Every live household's present members holding one of these ID numbers (by lookup hash).
///
/// Two lookups, each of one table by an index, driven by the short list it is given (the
/// batch's hashes, then the few households holding them), rather than one join: PostgreSQL
/// planned the join as a hash of every live household, whose cost grows with the register,
/// even with fresh statistics. The household lookup is by primary key, which PostgreSQL
/// knows matches one row per value without any statistics; the member lookup relies on the
/// statistics the server keeps fresh (`db::refresh_statistics`).
pub(super) async fn holders(
    conn: &mut AnyConnection,
    hashes: &BTreeSet<String>,
) -> Result<Vec<Holder>, sqlx::Error> {
    let backend = Backend::of(conn);
    let hashes: Vec<&String> = hashes.iter().collect();
    let mut members: Vec<HolderRow> = Vec::new();
    // One parameter of each statement is the status.
    for chunk in hashes.chunks(MAX_PARAMS - 1) {
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
            members.push(HolderRow {
                household: row.try_get("household_id")?,
                hash: row.try_get("id_number_hash")?,
                relation: row.try_get("relation")?,
            });
        }
    }
    let households: Vec<&str> = members
        .iter()
        .map(|member| member.household.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Merged households are tombstones: they hold no one.
    let mut live_numbers: BTreeMap<String, String> = BTreeMap::new();
    for chunk in households.chunks(MAX_PARAMS) {
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
        .filter_map(|member| {
            let number = live_numbers.get(&member.household)?.clone();
            Some(Holder {
                household: member.household,
                hash: member.hash,
                relation: member.relation,
                number,
            })
        })
        .collect())
}

/// What a household shares with another: the other's number, the ID numbers both hold
/// (masked), and whether the two heads hold one of them.
struct Shared<'a> {
    other_number: &'a str,
    numbers: Vec<String>,
    heads_match: bool,
}

/// Other households that hold one of this household's ID numbers: one item per pair.
pub(super) fn duplicate_findings(
    vault: &Vault,
    subject: &Subject<'_>,
    holders: &[Holder],
) -> Vec<Finding> {
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
    let mut shared: BTreeMap<&str, Shared<'_>> = BTreeMap::new();
    for holder in holders.iter().filter(|h| h.household != household) {
        let Some(held) = numbers.get(&holder.hash) else {
            continue;
        };
        let heads_match = holder.relation.as_deref() == Some("01") && is_head(&held.keys);
        let entry = shared
            .entry(holder.household.as_str())
            .or_insert_with(|| Shared {
                other_number: holder.number.as_str(),
                numbers: Vec::new(),
                heads_match: false,
            });
        entry.numbers.push(held.masked.clone());
        entry.heads_match |= heads_match;
    }
    shared
        .into_iter()
        .map(|(other, shared)| {
            let Shared {
                other_number,
                mut numbers,
                heads_match,
            } = shared;
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
