//! Visit tasks (`decisions::tasks`): `GET /api/v1/tasks?area=&status=` (counts per village and
//! the list, the register-reading permission), `POST /api/v1/tasks/{household}` (open tasks
//! on a household, for the comparison and for a clerk; the review permission) and
//! `POST /api/v1/tasks/{household}/{task}/close` (county staff close one with a note).

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, area_in_scope};
use crate::access::roles::Permission;
use crate::decisions::tasks::queries::{self, TaskCounts, TaskRow};
use crate::decisions::tasks::{self, Closed, MAX_NOTE_CHARS, Opened};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use schema::Message;
use schema::fields::FieldPath;
use schema::ids::MemberKey;
use schema::tasks::{TaskSpec, TaskStatus, task_id_for};
use serde::{Deserialize, Serialize};

/// The longest text a task carries (what to check, what the other roster says, an id).
const MAX_TASK_TEXT_CHARS: usize = 200;
/// The most tasks one request opens on a household.
const MAX_TASKS_PER_REQUEST: usize = 50;

#[derive(Debug, Deserialize)]
pub struct TaskListParams {
    pub area: Option<String>,
    /// `open`, `settled`, `checked` or `closed`; every status when absent.
    pub status: Option<String>,
}

/// An area's tasks: counts per village, and the list.
#[derive(Debug, Serialize)]
pub struct TaskList {
    pub area: String,
    pub villages: Vec<VillageTasks>,
    pub tasks: Vec<TaskRow>,
}

#[derive(Debug, Serialize)]
pub struct VillageTasks {
    pub village: String,
    #[serde(flatten)]
    pub counts: TaskCounts,
}

/// Reads a status filter; an unknown one is refused naming the four.
pub fn status_param(status: Option<&str>) -> ApiResult<Option<TaskStatus>> {
    match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(code) => TaskStatus::parse(code).map(Some).ok_or_else(|| {
            ApiError::bad_request(Message::new(
                format!("没有任务状态“{code}”；可用：open、settled、checked、closed"),
                format!("No task status \"{code}\"; use open, settled, checked or closed"),
            ))
        }),
    }
}

pub async fn list(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<TaskListParams>,
) -> ApiResult<Json<TaskList>> {
    let action = "task.list";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let status = status_param(params.status.as_deref())?;
    let pool = &state.ledger.db().pool;
    let villages = queries::counts_by_village(pool, &area)
        .await?
        .into_iter()
        .map(|(village, counts)| VillageTasks { village, counts })
        .collect();
    let tasks = queries::list(pool, &area, status).await?;
    Ok(Json(TaskList {
        area: area.to_string(),
        villages,
        tasks,
    }))
}

/// One task to open, as the comparison (or a clerk) describes a mismatch.
#[derive(Debug, Deserialize)]
pub struct TaskRequest {
    /// The mismatch's stable id: the same id opens the same task once.
    pub mismatch: String,
    pub member: Option<String>,
    pub check_zh: String,
    pub check_en: String,
    pub field: Option<String>,
    #[serde(default)]
    pub settles_with: Vec<String>,
    /// What the other roster says, masked as a volunteer may read it.
    pub other_says: String,
    /// The roster kind (`registry`, `social_insurance`, `employment`, `training`).
    pub source: String,
}

#[derive(Debug, Deserialize)]
pub struct OpenRequest {
    pub tasks: Vec<TaskRequest>,
}

fn bounded(label: (&str, &str), value: &str, required: bool) -> ApiResult<()> {
    let count = value.trim().chars().count();
    if (required && count == 0) || count > MAX_TASK_TEXT_CHARS {
        return Err(ApiError::bad_request(Message::new(
            format!("“{}”须为 1 至 {MAX_TASK_TEXT_CHARS} 个字", label.0),
            format!(
                "\"{}\" must hold 1 to {MAX_TASK_TEXT_CHARS} characters",
                label.1
            ),
        )));
    }
    Ok(())
}

/// Reads one task of a request into what `open_tasks` takes, refusing what cannot be a task.
pub fn task_spec(request: &TaskRequest) -> ApiResult<TaskSpec> {
    bounded(("比对项标识", "mismatch"), &request.mismatch, true)?;
    bounded(("核实事项", "check_zh"), &request.check_zh, true)?;
    bounded(("核实事项（英文）", "check_en"), &request.check_en, true)?;
    bounded(("比对信息", "other_says"), &request.other_says, true)?;
    bounded(("比对来源", "source"), &request.source, true)?;
    for value in &request.settles_with {
        bounded(("一致的值", "settles_with"), value, true)?;
        if value.contains('|') {
            return Err(ApiError::bad_request(Message::new(
                "“一致的值”不能含有“|”",
                "A value of \"settles_with\" cannot hold \"|\"",
            )));
        }
    }
    let member = request
        .member
        .as_deref()
        .map(MemberKey::parse)
        .transpose()
        .map_err(|err| ApiError::bad_request(err.message))?;
    let field = request
        .field
        .as_deref()
        .map(FieldPath::parse)
        .transpose()
        .map_err(|err| ApiError::bad_request(err.message))?;
    Ok(TaskSpec {
        id: task_id_for(request.mismatch.trim()),
        member,
        check: Message::new(request.check_zh.trim(), request.check_en.trim()),
        field,
        settles_with: request
            .settles_with
            .iter()
            .map(|v| v.trim().to_owned())
            .collect(),
        other_says: request.other_says.trim().to_owned(),
        source: request.source.trim().to_owned(),
        mismatch: None,
    })
}

pub async fn open(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(household): Path<String>,
    Json(request): Json<OpenRequest>,
) -> ApiResult<Json<Opened>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ResolveReview,
        "task.open",
    )
    .await?;
    if request.tasks.is_empty() || request.tasks.len() > MAX_TASKS_PER_REQUEST {
        return Err(ApiError::bad_request(Message::new(
            format!("一次请下发 1 至 {MAX_TASKS_PER_REQUEST} 个任务"),
            format!("Open 1 to {MAX_TASKS_PER_REQUEST} tasks at a time"),
        )));
    }
    let specs = request
        .tasks
        .iter()
        .map(task_spec)
        .collect::<ApiResult<Vec<_>>>()?;
    let opened = tasks::open_tasks(&state.ledger, &staff, &client.0, &household, &specs).await?;
    Ok(Json(opened))
}

#[derive(Debug, Deserialize)]
pub struct CloseRequest {
    /// Why the county closes it; required.
    pub note: String,
}

pub async fn close(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path((household, task)): Path<(String, String)>,
    Json(request): Json<CloseRequest>,
) -> ApiResult<Json<Closed>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ResolveReview,
        "task.close",
    )
    .await?;
    if request.note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(Message::new(
            format!("办结理由最多 {MAX_NOTE_CHARS} 个字"),
            format!("A note holds at most {MAX_NOTE_CHARS} characters"),
        )));
    }
    let closed = tasks::close_task(
        &state.ledger,
        &staff,
        &client.0,
        &household,
        &task,
        &request.note,
    )
    .await?;
    Ok(Json(closed))
}
