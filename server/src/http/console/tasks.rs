//! Visit tasks (`/tasks`): per village of an area, how many tasks are open, settled, checked
//! and closed, and the list of the area's tasks, each open one with a close form for county
//! staff (a note required; `decisions::tasks::close_task`, audited as the API's close).

use super::frame::{Frame, local_time};
use super::guard::{Posted, Reader};
use super::page::{PageResult, render};
use super::shown::{SelectOption, VillageNames, area_choices};
use crate::access::roles::Permission;
use crate::decisions::tasks::queries::{self, TaskCounts};
use crate::decisions::tasks::{self, MAX_NOTE_CHARS};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::principal;
use crate::http::tasks::status_param;
use crate::reports::comparison::kinds::RosterKind;
use crate::storage::areas;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use schema::ids::AreaLevel;
use schema::tasks::TaskStatus;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct TaskPageQuery {
    #[serde(default)]
    area: String,
    #[serde(default)]
    status: String,
    done: Option<String>,
    refused: Option<String>,
}

#[derive(Debug)]
struct VillageLine {
    village: String,
    link: String,
    counts: TaskCounts,
}

#[derive(Debug)]
struct TaskLine {
    household: String,
    task: String,
    village: String,
    number: String,
    head: String,
    check: String,
    source: String,
    status: String,
    open: bool,
    opened: String,
    closed: String,
}

#[derive(Template)]
#[template(path = "console/tasks.html")]
struct TasksPage {
    frame: Frame,
    form_token: String,
    may_close: bool,
    areas: Vec<SelectOption>,
    back: String,
    notice: Option<String>,
    refusal: Option<String>,
    statuses: Vec<SelectOption>,
    villages: Vec<VillageLine>,
    total: TaskCounts,
    tasks: Vec<TaskLine>,
    max_note: usize,
}

/// `/tasks`: the task progress of the reader's area, or of `?area=`.
pub async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<TaskPageQuery>,
) -> PageResult {
    let action = "task.list";
    reader
        .must(&state, Permission::ReadRegister, action)
        .await?;
    let lang = reader.lang;
    let asked = Some(params.area.trim()).filter(|a| !a.is_empty());
    let area =
        principal::area_in_scope(&state, &reader.staff, &reader.client, asked, action).await?;
    let status = status_param(Some(&params.status))?;
    let pool = &state.ledger.db().pool;
    let counts = queries::counts_by_village(pool, &area).await?;
    let rows = queries::list(pool, &area, status).await?;
    let codes: Vec<&str> = counts
        .keys()
        .map(String::as_str)
        .chain(rows.iter().map(|row| row.village.as_str()))
        .collect();
    let names = VillageNames::of(&state, &codes).await?;
    let scope = &reader.staff.scope;
    let inside = if scope.level() == AreaLevel::Village {
        Vec::new()
    } else {
        areas::within(state.ledger.db(), scope).await?
    };
    let scope_name = VillageNames::of(&state, &[scope.as_str()]).await?;
    let area_select = area_choices(
        lang,
        scope,
        &scope_name.label(scope.as_str()),
        &inside,
        &area,
    );
    let mut total = TaskCounts::default();
    for village in counts.values() {
        total.open += village.open;
        total.settled += village.settled;
        total.checked += village.checked;
        total.closed += village.closed;
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("area", area.as_str())
        .append_pair("status", status.map_or("", TaskStatus::as_str))
        .finish();
    let mut statuses = vec![SelectOption {
        value: String::new(),
        label: lang.t("全部状态", "Every status").to_owned(),
        selected: status.is_none(),
    }];
    statuses.extend(TaskStatus::ALL.into_iter().map(|s| SelectOption {
        value: s.as_str().to_owned(),
        label: lang.msg(&s.label()).to_owned(),
        selected: status == Some(s),
    }));
    render(&TasksPage {
        frame: reader.frame(&state, "/tasks").await?,
        form_token: reader.form_token(),
        may_close: reader.staff.may(Permission::ResolveReview),
        areas: area_select,
        back: format!("/tasks?{query}"),
        notice: (params.done.as_deref() == Some("close"))
            .then(|| lang.t("任务已办结", "The task is closed").to_owned()),
        refusal: params.refused.filter(|r| !r.is_empty()),
        statuses,
        villages: counts
            .into_iter()
            .map(|(village, counts)| VillageLine {
                link: format!("/tasks?area={village}"),
                village: names.label(&village),
                counts,
            })
            .collect(),
        total,
        tasks: rows
            .into_iter()
            .map(|row| TaskLine {
                village: names.label(&row.village),
                number: row.number,
                head: row.head_name.unwrap_or_default(),
                check: lang.msg(&row.check).to_owned(),
                // The roster the task came from, by its name: the kind's slug is stored.
                source: row.source.map_or_else(String::new, |source| {
                    RosterKind::from_slug(&source)
                        .map_or(source, |kind| lang.msg(&kind.label()).to_owned())
                }),
                status: lang.msg(&row.status.label()).to_owned(),
                open: row.status.is_open(),
                opened: row.opened_at.map(local_time).unwrap_or_default(),
                closed: match (row.closed_at, row.closed_by) {
                    (Some(at), Some(by)) => format!("{} · {by}", local_time(at)),
                    _ => String::new(),
                },
                household: row.household,
                task: row.task,
            })
            .collect(),
        max_note: MAX_NOTE_CHARS,
    })
}

#[derive(Debug, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    note: String,
    /// The list to return to (a local `/tasks?…` path only).
    #[serde(default)]
    back: String,
}

/// Closes a task for county staff, then back to the list, saying so or why not.
pub async fn close(
    State(state): State<AppState>,
    Path((household, task)): Path<(String, String)>,
    posted: Posted<CloseForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ResolveReview, "task.close")
        .await?;
    let back = if form.back.starts_with("/tasks?") || form.back == "/tasks" {
        form.back.clone()
    } else {
        "/tasks?".to_owned()
    };
    let joiner = if back.contains('?') { '&' } else { '?' };
    let closed = tasks::close_task(
        &state.ledger,
        &reader.staff,
        &reader.client.0,
        &household,
        &task,
        &form.note,
    )
    .await
    .map_err(ApiError::from);
    match closed {
        Ok(_) => Ok(Redirect::to(&format!("{back}{joiner}done=close")).into_response()),
        Err(err) if super::page::refused_for_input(&err) => {
            let reason = reader.lang.msg(&err.message).to_owned();
            let refused = form_urlencoded::Serializer::new(String::new())
                .append_pair("refused", &reason)
                .finish();
            Ok(Redirect::to(&format!("{back}{joiner}{refused}")).into_response())
        }
        Err(err) => Err(err.into()),
    }
}
