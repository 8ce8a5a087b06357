//! System information comparison (系统信息比对) in the console: importing another office's
//! roster (`/comparison/import`: its kind, its file, its columns, what to do with bad rows),
//! the imports and their withdrawal (`/comparison/imports`), and the mismatches with the
//! ledger with counts and visit-task progress per village (`/comparison/mismatches`).
//!
//! Every action is the API's (`http::imported_rosters`): the same import and withdrawal, the
//! same remembered mapping, the same mismatches masked by the same `Sight`, the same error
//! spreadsheet (`RowReport::sheet`). This file reads the upload and lays out the pages.
//!
//! The upload is the console's one multipart form. The edge check (`http::input`) lets it
//! through to [`import`] only, which guards it as `Posted` guards the other forms: the
//! browser must not name another site, and the form must carry the session's token.

use super::frame::{Frame, Lang, local_time};
use super::guard::{self, Posted, Reader};
use super::page::{ConsoleError, PageResult, render};
use super::shown::{SelectOption, VillageNames, area_choices};
use crate::access::accounts;
use crate::access::privacy::Seen;
use crate::access::roles::Permission;
use crate::decisions::tasks::queries as task_queries;
use crate::http::error::ApiError;
use crate::http::imported_rosters::{
    XLSX_TYPE, clerk, import_then_follow, mapping_info, withdraw_then_follow,
};
use crate::http::input::{MAX_PARAM_CHARS, clean};
use crate::http::{AppState, principal};
use crate::reports::comparison::check::RowError;
use crate::reports::comparison::kinds::{Mapping, RosterKind};
use crate::reports::comparison::{self, ComparisonError, ImportRequest, Mismatch, RowReport};
use crate::storage::areas;
use crate::storage::imported_rosters::ImportedRoster;
use askama::Template;
use axum::extract::multipart::Field;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use base64::Engine;
use schema::Message;
use schema::ids::AreaLevel;
use schema::tasks::TaskStatus;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Where the upload form posts: the one console path that takes a multipart body.
pub const IMPORT_PATH: &str = "/comparison/import";

/// The largest upload body: the largest roster file and the form's few fields around it.
pub const MAX_UPLOAD_BYTES: usize = comparison::file::MAX_FILE_BYTES + 64 * 1024;

/// The row errors a page lists; the spreadsheet holds them all.
const MAX_SHOWN_ERRORS: usize = 200;

/// The mismatches a page lists; a village narrows the rest.
const MAX_SHOWN_MISMATCHES: usize = 300;

/// The longest text field of the upload form (a kind, an area, a column's header).
const MAX_FIELD_BYTES: usize = 4 * MAX_PARAM_CHARS;

/// Whether a request is the console's roster upload, which the edge check lets through
/// without a JSON or URL-encoded body: [`import`] guards and checks it itself.
pub fn is_upload(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    method == Method::POST
        && path == IMPORT_PATH
        && headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("multipart/form-data"))
}

fn kind_label(lang: Lang, kind: RosterKind) -> String {
    lang.msg(&kind.label()).to_owned()
}

/// A kind as the import page offers it.
#[derive(Debug)]
struct KindLink {
    label: String,
    link: String,
    current: bool,
}

/// A field of the kind, with the file's column the clerk names for it.
#[derive(Debug)]
struct FieldInput {
    name: String,
    label: String,
    required: bool,
    /// The headers read as this field when no column is named.
    known: String,
    value: String,
}

/// One row error, in both languages whatever the reader's: a clerk may pass it on.
#[derive(Debug)]
struct ErrorLine {
    row: usize,
    column: String,
    zh: String,
    en: String,
}

fn error_lines(errors: &[RowError]) -> Vec<ErrorLine> {
    errors
        .iter()
        .take(MAX_SHOWN_ERRORS)
        .map(|error| ErrorLine {
            row: error.row,
            column: error.column.clone().unwrap_or_default(),
            zh: error.message.zh.clone(),
            en: error.message.en.clone(),
        })
        .collect()
}

/// How many errors the page leaves to the spreadsheet, if any.
fn errors_past_listed(errors: &[RowError]) -> Option<usize> {
    Some(errors.len().saturating_sub(MAX_SHOWN_ERRORS)).filter(|&more| more > 0)
}

/// The row errors as the API's spreadsheet, inside the page as a link to download: nothing
/// of a refused file is kept on the server, so the page carries its own list.
fn errors_download(report: &RowReport) -> Result<String, ConsoleError> {
    let xlsx = report
        .sheet()
        .to_xlsx()
        .map_err(|err| ConsoleError::from(ApiError::internal(err)))?;
    Ok(format!(
        "data:{XLSX_TYPE};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(xlsx)
    ))
}

/// Why the file was not imported, beside the form.
#[derive(Debug)]
struct Refusal {
    message: Message,
    bad_rows: usize,
    good_rows: usize,
    errors: Vec<ErrorLine>,
    /// Errors past those listed, in the spreadsheet only.
    more: Option<usize>,
    download: Option<String>,
}

/// What an import did, above the form.
#[derive(Debug)]
struct Imported {
    message: Message,
    set_aside: Vec<ErrorLine>,
    more: Option<usize>,
    download: Option<String>,
}

#[derive(Template)]
#[template(path = "console/comparison_import.html")]
struct ImportPage {
    frame: Frame,
    form_token: String,
    action: &'static str,
    kinds: Vec<KindLink>,
    kind: String,
    kind_name: String,
    fields: Vec<FieldInput>,
    areas: Vec<SelectOption>,
    set_aside: bool,
    max_megabytes: usize,
    refusal: Option<Refusal>,
    imported: Option<Imported>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ImportQuery {
    #[serde(default)]
    kind: String,
}

fn kind_param(text: &str) -> Result<RosterKind, ConsoleError> {
    if text.trim().is_empty() {
        return Ok(RosterKind::Registry);
    }
    RosterKind::from_slug(text)
        .ok_or_else(|| ApiError::bad_request(RosterKind::unknown(text)).into())
}

/// What the clerk chose, to show the form again as they left it.
#[derive(Debug, Default)]
struct Chosen {
    area: String,
    mapping: Mapping,
    set_aside: bool,
}

async fn import_page(
    state: &AppState,
    reader: &Reader,
    kind: RosterKind,
    chosen: Chosen,
    refusal: Option<Refusal>,
    imported: Option<Imported>,
) -> Result<ImportPage, ConsoleError> {
    let lang = reader.lang;
    let info = mapping_info(state, kind).await?;
    let fields = info
        .fields
        .iter()
        .zip(kind.fields())
        .map(|(info, field)| FieldInput {
            name: info.name.to_owned(),
            label: lang.msg(&info.label).to_owned(),
            required: info.required,
            known: std::iter::once(field.zh)
                .chain(field.aliases.iter().copied())
                .collect::<Vec<_>>()
                .join("、"),
            value: chosen
                .mapping
                .get(info.name)
                .cloned()
                .or_else(|| info.header.clone())
                .unwrap_or_default(),
        })
        .collect();
    let scope = &reader.staff.scope;
    let mut covered = vec![areas::Area {
        code: scope.clone(),
        name: String::new(),
    }];
    if scope.level() < AreaLevel::Township {
        covered.extend(areas::children(state.ledger.db(), scope).await?);
    }
    let codes: Vec<&str> = covered.iter().map(|a| a.code.as_str()).collect();
    let names = VillageNames::of(state, &codes).await?;
    let chosen_area = Some(chosen.area.as_str())
        .filter(|a| !a.is_empty())
        .unwrap_or(scope.as_str());
    Ok(ImportPage {
        frame: reader
            .frame_answering(state, "/comparison/imports", IMPORT_PATH.to_owned())
            .await?,
        form_token: reader.form_token(),
        action: IMPORT_PATH,
        kinds: RosterKind::ALL
            .into_iter()
            .map(|k| KindLink {
                label: kind_label(lang, k),
                link: format!("{IMPORT_PATH}?kind={}", k.slug()),
                current: k == kind,
            })
            .collect(),
        kind: kind.slug().to_owned(),
        kind_name: kind_label(lang, kind),
        fields,
        areas: covered
            .iter()
            .map(|area| SelectOption {
                value: area.code.to_string(),
                label: names.label(area.code.as_str()),
                selected: area.code.as_str() == chosen_area,
            })
            .collect(),
        set_aside: chosen.set_aside,
        max_megabytes: comparison::file::MAX_FILE_BYTES / (1024 * 1024),
        refusal,
        imported,
    })
}

/// `/comparison/import`: the form, for the kind `?kind=` names (the registry at first).
pub async fn import_form(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<ImportQuery>,
) -> PageResult {
    reader
        .must(&state, Permission::ImportRosters, "roster.import")
        .await?;
    let kind = kind_param(&params.kind)?;
    render(&import_page(&state, &reader, kind, Chosen::default(), None, None).await?)
}

/// The upload form's fields as posted.
#[derive(Debug, Default)]
struct Upload {
    token: String,
    kind: String,
    area: String,
    set_aside: bool,
    /// Field name → the header the clerk typed, as posted (`map.<field>`).
    mapping: BTreeMap<String, String>,
    file_name: String,
    file: Vec<u8>,
}

fn bad_upload() -> ConsoleError {
    ConsoleError::Page {
        status: StatusCode::BAD_REQUEST,
        message: Message::new(
            "上传的表单无效，请回到导入页面重新选择文件",
            "The upload form is not valid; go back to the import page and choose the file again",
        ),
    }
}

fn file_too_large() -> ConsoleError {
    let megabytes = comparison::file::MAX_FILE_BYTES / (1024 * 1024);
    ConsoleError::Page {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: Message::new(
            format!("文件过大：名册文件最大 {megabytes} MB"),
            format!("The file is too large: a roster file may be at most {megabytes} MB"),
        ),
    }
}

/// A field's bytes, at most `limit` of them.
async fn read_field(mut field: Field<'_>, limit: usize) -> Result<Vec<u8>, ConsoleError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|err| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            file_too_large()
        } else {
            bad_upload()
        }
    })? {
        if bytes.len() + chunk.len() > limit {
            return Err(if limit == MAX_FIELD_BYTES {
                bad_upload()
            } else {
                file_too_large()
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A text field: UTF-8, one line without control characters, bounded as query values are.
fn field_text(bytes: Vec<u8>, name: &str) -> Result<String, ConsoleError> {
    let text = String::from_utf8(bytes).map_err(|_| bad_upload())?;
    if !clean(&text, false) {
        return Err(crate::http::input::control_character((
            &format!("表单字段“{name}”"),
            &format!("form field \"{name}\""),
        ))
        .into());
    }
    if text.chars().count() > MAX_PARAM_CHARS {
        return Err(ConsoleError::Page {
            status: StatusCode::BAD_REQUEST,
            message: Message::new(
                format!("表单字段“{name}”过长，最多 {MAX_PARAM_CHARS} 个字符"),
                format!(
                    "The form field \"{name}\" is too long; at most {MAX_PARAM_CHARS} characters"
                ),
            ),
        });
    }
    Ok(text.trim().to_owned())
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, ConsoleError> {
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(|_| bad_upload())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            upload.file_name = field_text(file_name.into_bytes(), "file")?;
            upload.file = read_field(field, comparison::file::MAX_FILE_BYTES).await?;
            continue;
        }
        let value = field_text(read_field(field, MAX_FIELD_BYTES).await?, &name)?;
        match name.as_str() {
            guard::FORM_TOKEN_FIELD => upload.token = value,
            "kind" => upload.kind = value,
            "area" => upload.area = value,
            "bad_rows" => upload.set_aside = value == "set_aside",
            other => match other.strip_prefix("map.") {
                Some(field) if !value.is_empty() => {
                    upload.mapping.insert(field.to_owned(), value);
                }
                Some(_) => {}
                None => return Err(bad_upload()),
            },
        }
    }
    Ok(upload)
}

/// The upload: guarded as every form is, then imported as the API imports; the page
/// answers with what was imported, or beside the form why nothing was.
pub async fn import(State(state): State<AppState>, request: Request) -> PageResult {
    let action = "roster.import";
    guard::same_origin(request.headers())?;
    let (mut parts, body) = request.into_parts();
    let reader = Reader::from_request_parts(&mut parts, &state).await?;
    // A role that may not import is refused before its file is read.
    reader
        .must(&state, Permission::ImportRosters, action)
        .await?;
    let multipart = Multipart::from_request(Request::from_parts(parts, body), &state)
        .await
        .map_err(|_| bad_upload())?;
    let upload = read_upload(multipart).await?;
    if !guard::form_token_matches(&reader.token, &upload.token) {
        return Err(guard::stale_form());
    }
    let kind = kind_param(&upload.kind)?;
    let area = principal::area_in_scope(
        &state,
        &reader.staff,
        &reader.client,
        Some(upload.area.as_str()).filter(|a| !a.is_empty()),
        action,
    )
    .await?;
    let mut mapping = Mapping::new();
    for (field, header) in &upload.mapping {
        if kind.field(field).is_none() {
            return Err(bad_upload());
        }
        mapping.insert(field.clone(), header.clone());
    }
    let chosen = Chosen {
        area: area.to_string(),
        mapping: mapping.clone(),
        set_aside: upload.set_aside,
    };
    let refused = |message: Message| Refusal {
        message,
        bad_rows: 0,
        good_rows: 0,
        errors: Vec::new(),
        more: None,
        download: None,
    };
    if upload.file.is_empty() {
        let refusal = refused(Message::new(
            "请选择要导入的名册文件（XLSX 或 CSV）",
            "Choose the roster file to import (XLSX or CSV)",
        ));
        let page = import_page(&state, &reader, kind, chosen, Some(refusal), None).await?;
        return refused_page(&page);
    }
    let file_name = if upload.file_name.is_empty() {
        format!("{}.upload", kind.slug())
    } else {
        upload.file_name.clone()
    };
    let request = ImportRequest {
        kind,
        area,
        file_name,
        bytes: &upload.file,
        mapping,
        set_aside_bad_rows: upload.set_aside,
    };
    let outcome =
        import_then_follow(&state, request, &clerk(&reader.staff, &reader.client)).await?;
    match outcome {
        Ok(outcome) => {
            let roster = &outcome.roster;
            let message = if outcome.already_imported {
                Message::new(
                    format!(
                        "这个文件已于 {} 导入过，没有新的内容；现有不一致 {} 处",
                        local_time(roster.imported_at),
                        outcome.mismatches
                    ),
                    format!(
                        "This file was imported on {} already; nothing new was stored. {} \
                         mismatches are open",
                        local_time(roster.imported_at),
                        outcome.mismatches
                    ),
                )
            } else {
                Message::new(
                    format!(
                        "已导入 {} 行，跳过错误行 {} 行；{}现有不一致 {} 处",
                        roster.row_count,
                        roster.set_aside_count,
                        kind.label().zh,
                        outcome.mismatches
                    ),
                    format!(
                        "{} rows imported, {} bad rows set aside; the {} now has {} open \
                         mismatches",
                        roster.row_count,
                        roster.set_aside_count,
                        kind.label().en,
                        outcome.mismatches
                    ),
                )
            };
            let message = match outcome.unplaced {
                0 => message,
                unplaced => Message::new(
                    format!(
                        "{}。其中 {unplaced} 人名册上没有村，无法下发到村里的手机：请在名册中补上村代码后重新导入",
                        message.zh
                    ),
                    format!(
                        "{}. {unplaced} of them have no village on the roster, so no village's \
                         phone is asked to find them: add their village codes and import again",
                        message.en
                    ),
                ),
            };
            let report = RowReport {
                good_rows: roster.row_count as usize,
                bad_rows: roster.set_aside_count as usize,
                errors: outcome.set_aside.clone(),
            };
            let imported = Imported {
                message,
                set_aside: error_lines(&report.errors),
                more: errors_past_listed(&report.errors),
                download: if report.errors.is_empty() {
                    None
                } else {
                    Some(errors_download(&report)?)
                },
            };
            let chosen = Chosen {
                set_aside: upload.set_aside,
                ..Chosen::default()
            };
            render(&import_page(&state, &reader, kind, chosen, None, Some(imported)).await?)
        }
        Err(ComparisonError::BadRows(report)) => {
            let refusal = Refusal {
                message: report.refusal(),
                bad_rows: report.bad_rows,
                good_rows: report.good_rows,
                errors: error_lines(&report.errors),
                more: errors_past_listed(&report.errors),
                download: Some(errors_download(&report)?),
            };
            let page = import_page(&state, &reader, kind, chosen, Some(refusal), None).await?;
            refused_page(&page)
        }
        Err(ComparisonError::Refused(message)) => {
            let page =
                import_page(&state, &reader, kind, chosen, Some(refused(message)), None).await?;
            refused_page(&page)
        }
        Err(err) => Err(ApiError::from(err).into()),
    }
}

/// The form again with why the file was refused: 422, as the API answers.
fn refused_page(page: &ImportPage) -> PageResult {
    let mut response = render(page)?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

// ─── The imports ───────────────────────────────────────────────────────────────────────────

#[derive(Debug)]
struct ImportLine {
    id: String,
    kind: String,
    file_name: String,
    area: String,
    by: String,
    at: String,
    rows: i64,
    set_aside: i64,
    /// "withdrawn on … by …", for one no longer in use.
    withdrawn: Option<String>,
}

#[derive(Template)]
#[template(path = "console/comparison_imports.html")]
struct ImportsPage {
    frame: Frame,
    form_token: String,
    import_link: &'static str,
    notice: Option<String>,
    imports: Vec<ImportLine>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ImportsQuery {
    done: Option<String>,
}

/// Whether an import's area and the reader's scope overlap: one inside the other.
fn in_scope(roster: &ImportedRoster, scope: &str) -> bool {
    roster.area.starts_with(scope) || scope.starts_with(roster.area.as_str())
}

/// Who an actor is (`staff:<username>`), by name when the account is known.
fn actor_name(actor: &str, names: &HashMap<String, String>) -> String {
    let username = actor.strip_prefix("staff:").unwrap_or(actor);
    names.get(username).map_or_else(
        || username.to_owned(),
        |name| format!("{name}（{username}）"),
    )
}

/// `/comparison/imports`: the imports of the reader's area, newest first, each one in use
/// with a withdraw button.
pub async fn imports(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<ImportsQuery>,
) -> PageResult {
    reader
        .must(&state, Permission::ImportRosters, "roster.list")
        .await?;
    let lang = reader.lang;
    let db = state.ledger.db();
    let scope = reader.staff.scope.as_str();
    let rosters: Vec<ImportedRoster> = comparison::imports(db)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .filter(|roster| in_scope(roster, scope))
        .collect();
    let names: HashMap<String, String> = accounts::list(db, &reader.staff.scope)
        .await?
        .into_iter()
        .map(|account| (account.username, account.name))
        .collect();
    let codes: Vec<&str> = rosters.iter().map(|r| r.area.as_str()).collect();
    let areas = VillageNames::of(&state, &codes).await?;
    let notice = (params.done.as_deref() == Some("withdraw")).then(|| {
        lang.t(
            "已撤回：该名册不再参与比对，比对结果已重新计算",
            "Withdrawn: the roster no longer takes part in the comparison, which was recomputed",
        )
        .to_owned()
    });
    render(&ImportsPage {
        frame: reader.frame(&state, "/comparison/imports").await?,
        form_token: reader.form_token(),
        import_link: IMPORT_PATH,
        notice,
        imports: rosters
            .iter()
            .map(|roster| ImportLine {
                id: roster.id.clone(),
                kind: RosterKind::from_slug(&roster.kind)
                    .map_or_else(|| roster.kind.clone(), |kind| kind_label(lang, kind)),
                file_name: roster.file_name.clone(),
                area: areas.label(&roster.area),
                by: actor_name(&roster.imported_by, &names),
                at: local_time(roster.imported_at),
                rows: roster.row_count,
                set_aside: roster.set_aside_count,
                withdrawn: roster.withdrawn_at.map(|at| {
                    let by = roster
                        .withdrawn_by
                        .as_deref()
                        .map(|by| actor_name(by, &names))
                        .unwrap_or_default();
                    format!(
                        "{} {} · {by}",
                        lang.t("已撤回", "Withdrawn"),
                        local_time(at)
                    )
                }),
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
pub struct WithdrawForm {}

/// Withdraws an import of the reader's area (audited, as the API's), then back to the list.
pub async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<WithdrawForm>,
) -> PageResult {
    let Posted { reader, .. } = posted;
    let action = "roster.withdraw";
    reader
        .must(&state, Permission::ImportRosters, action)
        .await?;
    let roster = comparison::imports(state.ledger.db())
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .find(|roster| roster.id == id);
    if let Some(roster) = &roster {
        principal::area_in_scope(
            &state,
            &reader.staff,
            &reader.client,
            Some(roster.area.as_str()),
            action,
        )
        .await?;
    }
    withdraw_then_follow(&state, &id, &clerk(&reader.staff, &reader.client)).await?;
    Ok(Redirect::to("/comparison/imports?done=withdraw").into_response())
}

// ─── The mismatches ────────────────────────────────────────────────────────────────────────

/// Where a mismatch stands: its visit task's status, or no task for a person the ledger
/// does not hold (no household to visit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Task(TaskStatus),
    NoTask,
}

impl Standing {
    const NO_TASK: &'static str = "no_task";

    fn code(self) -> &'static str {
        match self {
            Standing::Task(status) => status.as_str(),
            Standing::NoTask => Standing::NO_TASK,
        }
    }

    fn label(self) -> Message {
        match self {
            Standing::Task(status) => status.label(),
            Standing::NoTask => Message::new(
                "不在台账（无户可走访）",
                "Not in the ledger (no household to visit)",
            ),
        }
    }

    /// The choices of the filter: the statuses an open mismatch's task can have.
    const CHOICES: [Standing; 4] = [
        Standing::Task(TaskStatus::Open),
        Standing::Task(TaskStatus::Checked),
        Standing::Task(TaskStatus::Closed),
        Standing::NoTask,
    ];

    fn parse(text: &str) -> Result<Option<Standing>, ConsoleError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text == Standing::NO_TASK {
            return Ok(Some(Standing::NoTask));
        }
        TaskStatus::parse(text)
            .map(|status| Some(Standing::Task(status)))
            .ok_or_else(|| {
                ApiError::bad_request(Message::new(
                    format!("没有“{text}”这种状态"),
                    format!("No status \"{text}\""),
                ))
                .into()
            })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MismatchQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    reveal: String,
}

impl MismatchQuery {
    fn link(&self, area: &str, reveal: bool) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("kind", &self.kind)
            .append_pair("area", area)
            .append_pair("status", &self.status)
            .append_pair("reveal", if reveal { "true" } else { "" })
            .finish();
        format!("/comparison/mismatches?{query}")
    }
}

/// A village's line: its mismatches and the progress of its visit tasks.
#[derive(Debug)]
struct VillageLine {
    village: String,
    link: String,
    tasks_link: String,
    current: bool,
    mismatches: i64,
    by_kind: String,
    open_tasks: i64,
    done_tasks: i64,
}

/// One mismatch with both sides.
#[derive(Debug)]
struct MismatchLine {
    id: String,
    village: String,
    kind: String,
    check: String,
    name: String,
    id_number: String,
    ledger: Option<String>,
    roster: String,
    household: Option<String>,
    standing: String,
    open: bool,
}

#[derive(Template)]
#[template(path = "console/comparison_mismatches.html")]
struct MismatchesPage {
    frame: Frame,
    kinds: Vec<SelectOption>,
    areas: Vec<SelectOption>,
    statuses: Vec<SelectOption>,
    villages: Vec<VillageLine>,
    total: i64,
    total_open_tasks: i64,
    total_done_tasks: i64,
    mismatches: Vec<MismatchLine>,
    /// How many the filter selects, of which the page lists the first.
    selected: usize,
    revealed: bool,
    may_reveal: bool,
    reveal_link: String,
}

/// `/comparison/mismatches`: the open mismatches of the reader's area (or `?area=`), of one
/// kind and status if asked, masked unless revealed (audited); the counts per village with
/// their visit tasks open and done.
pub async fn mismatches(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<MismatchQuery>,
) -> PageResult {
    let action = "mismatch.list";
    reader
        .must(&state, Permission::ReadRegister, action)
        .await?;
    let lang = reader.lang;
    let asked = Some(params.area.trim()).filter(|a| !a.is_empty());
    let area =
        principal::area_in_scope(&state, &reader.staff, &reader.client, asked, action).await?;
    let kind = Some(params.kind.trim())
        .filter(|k| !k.is_empty())
        .map(|k| {
            RosterKind::from_slug(k).ok_or_else(|| ApiError::bad_request(RosterKind::unknown(k)))
        })
        .transpose()?;
    let standing = Standing::parse(&params.status)?;
    let reveal = params.reveal == "true";
    let sight =
        principal::sight(&state, &reader.staff, &reader.client, reveal, area.as_str()).await?;
    let db = state.ledger.db();
    let pool = &db.pool;
    let found: Vec<Seen<Mismatch>> =
        comparison::mismatches(db, state.ledger.vault(), &area, kind, sight)
            .await
            .map_err(ApiError::from)?;
    let counts: Vec<comparison::AreaCount> = comparison::counts(db, &area)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .filter(|count| kind.is_none_or(|kind| count.kind == kind))
        .collect();
    let statuses = task_queries::statuses_by_mismatch(pool, &area).await?;
    let tasks = task_queries::counts_by_village(pool, &area).await?;

    // The filter's areas: the reader's whole area, its townships and villages.
    let scope = &reader.staff.scope;
    let inside = if scope.level() == AreaLevel::Village {
        Vec::new()
    } else {
        areas::within(db, scope).await?
    };
    let mut codes: Vec<&str> = vec![scope.as_str()];
    codes.extend(counts.iter().map(|c| c.area.as_str()));
    codes.extend(tasks.keys().map(String::as_str));
    codes.extend(found.iter().map(|m| m.get().area.as_str()));
    let names = VillageNames::of(&state, &codes).await?;

    // Per village: mismatches by kind, and the visit tasks (of every kind: a village's
    // visits settle them all).
    let mut per_village: BTreeMap<String, (i64, BTreeMap<RosterKind, i64>)> = BTreeMap::new();
    for count in &counts {
        let line = per_village.entry(count.area.clone()).or_default();
        line.0 += count.count;
        *line.1.entry(count.kind).or_default() += count.count;
    }
    for village in tasks.keys() {
        per_village.entry(village.clone()).or_default();
    }
    let villages: Vec<VillageLine> = per_village
        .into_iter()
        .map(|(village, (total, by_kind))| {
            let progress = tasks.get(&village).cloned().unwrap_or_default();
            VillageLine {
                link: params.link(&village, false),
                tasks_link: format!("/tasks?area={village}"),
                current: village == area.as_str(),
                mismatches: total,
                by_kind: by_kind
                    .iter()
                    .map(|(kind, count)| format!("{} {count}", kind_label(lang, *kind)))
                    .collect::<Vec<_>>()
                    .join(" · "),
                open_tasks: progress.open,
                done_tasks: progress.total() - progress.open,
                village: names.label(&village),
            }
        })
        .collect();
    let standing_of = |mismatch: &Mismatch| match &mismatch.household_id {
        None => Standing::NoTask,
        Some(_) => statuses
            .get(&mismatch.id)
            .map_or(Standing::Task(TaskStatus::Open), |s| Standing::Task(*s)),
    };
    let chosen: Vec<&Seen<Mismatch>> = found
        .iter()
        .filter(|m| standing.is_none_or(|s| standing_of(m.get()) == s))
        .collect();
    let mismatch_lines = chosen
        .iter()
        .take(MAX_SHOWN_MISMATCHES)
        .map(|seen| {
            let m = seen.get();
            let standing = standing_of(m);
            MismatchLine {
                id: m.id.clone(),
                village: names.label(&m.area),
                kind: kind_label(lang, m.kind),
                check: lang.msg(&m.check).to_owned(),
                name: m.name.clone(),
                id_number: m.id_number.clone(),
                ledger: m.ledger_says.as_ref().map(|s| lang.msg(s).to_owned()),
                roster: lang.msg(&m.roster_says).to_owned(),
                household: m.household_id.clone(),
                standing: lang.msg(&standing.label()).to_owned(),
                open: standing == Standing::Task(TaskStatus::Open),
            }
        })
        .collect();
    let mut kinds = vec![SelectOption {
        value: String::new(),
        label: lang.t("全部名册", "Every roster").to_owned(),
        selected: kind.is_none(),
    }];
    kinds.extend(RosterKind::ALL.into_iter().map(|k| SelectOption {
        value: k.slug().to_owned(),
        label: kind_label(lang, k),
        selected: kind == Some(k),
    }));
    let area_select = area_choices(lang, scope, &names.label(scope.as_str()), &inside, &area);
    let mut statuses_choices = vec![SelectOption {
        value: String::new(),
        label: lang.t("全部状态", "Every status").to_owned(),
        selected: standing.is_none(),
    }];
    statuses_choices.extend(Standing::CHOICES.into_iter().map(|s| SelectOption {
        value: s.code().to_owned(),
        label: lang.msg(&s.label()).to_owned(),
        selected: standing == Some(s),
    }));
    let total_open_tasks = tasks.values().map(|t| t.open).sum();
    let total_done_tasks = tasks.values().map(|t| t.total() - t.open).sum();
    render(&MismatchesPage {
        frame: reader.frame(&state, "/comparison/mismatches").await?,
        kinds,
        areas: area_select,
        statuses: statuses_choices,
        total: villages.iter().map(|v| v.mismatches).sum(),
        villages,
        total_open_tasks,
        total_done_tasks,
        mismatches: mismatch_lines,
        selected: chosen.len(),
        revealed: sight.reveals(),
        may_reveal: reader.staff.may(Permission::RevealSensitive),
        reveal_link: params.link(area.as_str(), !sight.reveals()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_multipart_post_to_the_import_path_passes_as_an_upload() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().expect("a header value"));
            headers
        };
        let multipart = headers("multipart/form-data; boundary=x");
        assert!(is_upload(&Method::POST, IMPORT_PATH, &multipart));
        assert!(is_upload(
            &Method::POST,
            IMPORT_PATH,
            &headers("Multipart/Form-Data;boundary=x")
        ));
        assert!(!is_upload(&Method::GET, IMPORT_PATH, &multipart));
        assert!(!is_upload(&Method::POST, "/comparison/imports", &multipart));
        assert!(!is_upload(&Method::POST, "/accounts", &multipart));
        assert!(!is_upload(
            &Method::POST,
            IMPORT_PATH,
            &headers("text/plain")
        ));
        assert!(!is_upload(&Method::POST, IMPORT_PATH, &HeaderMap::new()));
    }

    #[test]
    fn a_status_filter_names_a_task_status_or_no_task() {
        assert_eq!(Standing::parse("").ok(), Some(None));
        assert_eq!(
            Standing::parse("checked").ok(),
            Some(Some(Standing::Task(TaskStatus::Checked)))
        );
        assert_eq!(
            Standing::parse("no_task").ok(),
            Some(Some(Standing::NoTask))
        );
        assert!(Standing::parse("done").is_err());
        for standing in Standing::CHOICES {
            assert_eq!(Standing::parse(standing.code()).ok(), Some(Some(standing)));
        }
    }

    #[test]
    fn the_page_lists_two_hundred_errors_and_leaves_the_rest_to_the_spreadsheet() {
        let errors = |n: usize| -> Vec<RowError> {
            (0..n)
                .map(|row| RowError {
                    row,
                    column: None,
                    message: Message::new("错", "bad"),
                })
                .collect()
        };
        assert_eq!(error_lines(&errors(250)).len(), MAX_SHOWN_ERRORS);
        assert_eq!(errors_past_listed(&errors(250)), Some(50));
        assert_eq!(errors_past_listed(&errors(200)), None);
        assert_eq!(errors_past_listed(&[]), None);
    }
}
