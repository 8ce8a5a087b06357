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
//!
//! `findings.rs` finds what is wrong in a merged household; `refresh.rs` brings the stored
//! items up to date with it; `queries.rs` reads items for staff.

mod findings;
mod queries;
mod refresh;

pub use queries::{
    Event, ItemPage, ItemRow, ReviewFilter, VillageCount, VillageHouseholds, events,
    household_counts, item, list, open_by_village, open_of_household, received_at,
};
pub use refresh::{Subject, refresh, refresh_all};

use schema::Message;
use schema::fields::{Entity, FieldPath};
use schema::layout::HouseholdView;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

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
        Entity::Photo => Message::new(
            format!("照片的{}", label.zh),
            format!("{} of a photo", label.en),
        ),
        Entity::Task => Message::new(
            format!("核实任务的{}", label.zh),
            format!("{} of a visit task", label.en),
        ),
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
