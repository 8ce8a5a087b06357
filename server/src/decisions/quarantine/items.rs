//! Held changes as staff see them: the list by area, status and rule, and one change with
//! what it writes beside what each key held before.

use super::HoldStatus;
use crate::access::privacy;
use crate::storage::ledger::{Ledger, LedgerError};
use automerge::{AutoCommit, Change, ROOT, ReadDoc, Value};
use schema::Message;
use schema::fields::FieldPath;
use schema::layout::FieldValue;
use schema::quarantine::Rule;
use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use std::collections::BTreeMap;

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::decisions::test_support::{household_with_address, phone_edit};
    use automerge::transaction::Transactable;

    #[test]
    fn key_changes_show_the_value_before_and_mask_sensitive_ones() {
        let mut doc = household_with_address();
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
