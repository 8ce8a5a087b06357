//! The audit log, for auditors: newest first, filtered by person, action and a span of days
//! read in the county's time (Asia/Shanghai); the reading is itself recorded
//! (`http::accounts::read_audit`).

use super::frame::{Frame, local_day_start, local_time};
use super::guard::Reader;
use super::page::{PageResult, render};
use crate::access::audit;
use crate::access::roles::Permission;
use crate::http::AppState;
use crate::http::accounts::read_audit;
use askama::Template;
use axum::extract::{Query, State};
use schema::Message;
use serde::Deserialize;

const PAGE_SIZE: i64 = 100;
const DAY_SECONDS: i64 = 86_400;

#[derive(Debug, Default, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    /// The first day, `YYYY-MM-DD`.
    #[serde(default)]
    from: String,
    /// The last day, `YYYY-MM-DD`.
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

#[derive(Debug)]
struct RecordLine {
    at: String,
    actor: String,
    role: String,
    action: String,
    target: String,
    outcome: String,
    denied: bool,
    client: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPageView {
    frame: Frame,
    actor: String,
    action: String,
    from: String,
    to: String,
    from_error: Option<Message>,
    to_error: Option<Message>,
    records: Vec<RecordLine>,
    older: Option<String>,
}

fn day_error() -> Message {
    Message::new(
        "日期应写作 年-月-日，如 2026-03-01",
        "Write the date as year-month-day, like 2026-03-01",
    )
}

/// `/audit`: the log, for auditors.
pub async fn log(
    State(state): State<AppState>,
    reader: Reader,
    Query(filter): Query<AuditFilter>,
) -> PageResult {
    reader
        .must(&state, Permission::ReadAudit, "audit.read")
        .await?;
    let day = |text: &str| -> Result<Option<i64>, Message> {
        if text.trim().is_empty() {
            Ok(None)
        } else {
            local_day_start(text).map(Some).ok_or_else(day_error)
        }
    };
    let since = day(&filter.from);
    let until = day(&filter.to).map(|start| start.map(|s| s + DAY_SECONDS));
    let (from_error, to_error) = (since.clone().err(), until.clone().err());
    let mut records = Vec::new();
    let mut older = None;
    if from_error.is_none() && to_error.is_none() {
        let query = audit::Query {
            action: Some(filter.action.trim().to_owned()).filter(|a| !a.is_empty()),
            actor: Some(filter.actor.trim().to_owned())
                .filter(|a| !a.is_empty())
                .map(|a| {
                    if a.contains(':') {
                        a
                    } else {
                        format!("staff:{a}")
                    }
                }),
            since: since.ok().flatten(),
            until: until.ok().flatten(),
            before: filter.before,
            limit: PAGE_SIZE,
        };
        let page = read_audit(&state, &reader.staff, &reader.client, &query).await?;
        records = page
            .records
            .into_iter()
            .map(|r| RecordLine {
                at: local_time(r.at),
                denied: r.outcome != "ok",
                actor: r.actor,
                role: r.role,
                action: r.action,
                target: r.target,
                outcome: r.outcome,
                client: r.client,
                detail: r.detail,
            })
            .collect();
        older = page.next_before.map(|before| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("actor", &filter.actor)
                .append_pair("action", &filter.action)
                .append_pair("from", &filter.from)
                .append_pair("to", &filter.to)
                .append_pair("before", &before.to_string())
                .finish();
            format!("/audit?{query}")
        });
    }
    render(&AuditPageView {
        frame: reader.frame(&state, "/audit").await?,
        actor: filter.actor,
        action: filter.action,
        from: filter.from,
        to: filter.to,
        from_error,
        to_error,
        records,
        older,
    })
}
