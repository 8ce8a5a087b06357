//! The quarantine as ingest uses it: the held changes of the households a batch uploads,
//! and, in the batch's transaction, the changes screening held, with their audit records.

use super::screened::ScreenedUpload;
use super::{HeldChange, HoldStatus};
use crate::access::audit::{self, Entry, Outcome};
use crate::access::device_tokens::Device;
use crate::decisions::screen::{self, ScreenRefusal};
use crate::storage::db::{Backend, rows_per_statement};
use crate::storage::ledger::LedgerError;
use crate::storage::vault::Vault;
use automerge::Change;
use schema::Message;
use schema::quarantine::Rule;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::{HashMap, HashSet};

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
            audit::record_in(conn, entry, now).await?;
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
        audit::record_in(conn, entry, now).await?;
    }
    Ok(())
}

/// Marks items decided.
pub(super) async fn close(
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
