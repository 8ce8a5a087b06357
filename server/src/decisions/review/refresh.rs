//! Bringing a household's review items up to date with what its merged view holds now.

use super::findings::{Finding, duplicate_findings, holders, household_findings, id_numbers};
use super::{ReviewStatus, SYSTEM, close, record};
use crate::storage::db::{Backend, MAX_PARAMS};
use crate::storage::subsidy_settings;
use crate::storage::vault::Vault;
use schema::Message;
use schema::layout::HouseholdView;
use schema::validation::Issue;
use schema::validation::subsidy::subsidy_issues;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// A household whose items are to be brought up to date: its merged view and the issues
/// validation found in it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub household: &'a str,
    pub village: &'a str,
    pub view: &'a HouseholdView,
    pub issues: &'a [Issue],
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
    for chunk in households.chunks(MAX_PARAMS / 2) {
        let backend = Backend::of(conn);
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
/// in three statements whatever the number of households, and writes only what changed.
///
/// Besides the issues the subject brings, the subsidy rules are judged here, against the
/// years' parameters as the server's settings hold them now: they are the server's rules, and
/// every path that refreshes a household (an upload, a decision, a settings edit) passes here.
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
    let years = subsidy_settings::all(conn).await?;
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    for subject in &live {
        let mut issues = subject.issues.to_vec();
        issues.extend(subsidy_issues(subject.view, |year| {
            years.iter().find(|p| p.year == year)
        }));
        let found = household_findings(
            vault,
            subject.household,
            subject.village,
            subject.view,
            &issues,
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
}
