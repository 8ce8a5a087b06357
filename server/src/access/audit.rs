//! The audit log: who did what, when, from where, and how it ended.
//!
//! Every login (successful or not), every refusal of a known credential, role or area, every
//! unmasked read, every export, enrollment, revocation, quarantine decision and review
//! resolution is one row: the acts of identified people and devices. Requests refused before
//! anyone was identified are counted instead (`http::refusals`), so junk cannot fill a table
//! that keeps every row six months. The
//! table is append-only in the database itself (triggers refuse updates, and deletes of rows
//! younger than six months), so a bug or a curious administrator with a SQL prompt cannot
//! quietly rewrite it. Only auditors read it, through the API, and that reading is audited too.

use crate::storage::db::Db;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// How long audit records are kept at least, as the migration's trigger enforces.
pub const RETENTION_DAYS: i64 = 183;

/// How an audited attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused: bad credentials, outside the actor's scope or role, a spent code.
    Denied,
    /// Attempted but failed for another reason (bad input, a conflict).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One audit record, before it is written.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `staff:<username>`, `device:<id>`, or `anonymous` when no credential was accepted.
    pub actor: String,
    /// The actor's role (`county_admin`, …, `device`), or empty when unknown.
    pub role: String,
    /// What was attempted, a stable dotted name: `login`, `auth`, `register.read`, …
    pub action: &'static str,
    /// What it was attempted on: a household id, an area code, a username.
    pub target: String,
    pub outcome: Outcome,
    /// The client's network address.
    pub client: String,
    /// Anything else a reader needs: the reason for a refusal, the comment of a decision.
    pub detail: String,
}

impl Entry {
    pub fn new(action: &'static str, outcome: Outcome) -> Entry {
        Entry {
            actor: "anonymous".to_owned(),
            role: String::new(),
            action,
            target: String::new(),
            outcome,
            client: String::new(),
            detail: String::new(),
        }
    }

    pub fn by(mut self, actor: impl Into<String>, role: impl Into<String>) -> Entry {
        self.actor = actor.into();
        self.role = role.into();
        self
    }

    pub fn on(mut self, target: impl Into<String>) -> Entry {
        self.target = target.into();
        self
    }

    pub fn from(mut self, client: impl Into<String>) -> Entry {
        self.client = client.into();
        self
    }

    pub fn saying(mut self, detail: impl Into<String>) -> Entry {
        self.detail = detail.into();
        self
    }
}

const INSERT: &str =
    "INSERT INTO audit_log (at, actor, role, action, target, outcome, client, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

fn insert(entry: &Entry, at: i64) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(INSERT)
        .bind(at)
        .bind(&entry.actor)
        .bind(&entry.role)
        .bind(entry.action)
        .bind(&entry.target)
        .bind(entry.outcome.as_str())
        .bind(&entry.client)
        .bind(&entry.detail)
}

/// Writes a record on its own, of an act at `at` (seconds, from the server's clock). Used for
/// refusals and reads, which have no transaction to join.
pub async fn record(db: &Db, entry: Entry, at: i64) -> Result<(), sqlx::Error> {
    tracing::info!(
        actor = %entry.actor,
        action = entry.action,
        target = %entry.target,
        outcome = entry.outcome.as_str(),
        "audit"
    );
    insert(&entry, at).execute(&db.pool).await?;
    Ok(())
}

/// Writes a record inside the transaction of the act it records, so that one does not
/// happen without the other; `at` is the act's time.
pub async fn record_in(conn: &mut AnyConnection, entry: Entry, at: i64) -> Result<(), sqlx::Error> {
    insert(&entry, at).execute(conn).await?;
    Ok(())
}

/// One audit record as an auditor reads it.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub client: String,
    pub detail: String,
}

/// What an auditor asks for: newest first, optionally one action or actor, before a cursor.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub since: Option<i64>,
    /// Only records before this time.
    pub until: Option<i64>,
    /// Only records with a smaller id: the next page.
    pub before: Option<i64>,
    pub limit: i64,
}

pub async fn read(db: &Db, query: &Query) -> Result<Vec<Record>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, at, actor, role, action, target, outcome, client, detail FROM audit_log
         WHERE ($1 = '' OR action = $1) AND ($2 = '' OR actor = $2) AND at >= $3 AND at < $4
           AND id < $5
         ORDER BY id DESC LIMIT $6",
    )
    .bind(query.action.clone().unwrap_or_default())
    .bind(query.actor.clone().unwrap_or_default())
    .bind(query.since.unwrap_or(0))
    .bind(query.until.unwrap_or(i64::MAX))
    .bind(query.before.unwrap_or(i64::MAX))
    .bind(query.limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Record {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                actor: row.try_get("actor")?,
                role: row.try_get("role")?,
                action: row.try_get("action")?,
                target: row.try_get("target")?,
                outcome: row.try_get("outcome")?,
                client: row.try_get("client")?,
                detail: row.try_get("detail")?,
            })
        })
        .collect()
}
