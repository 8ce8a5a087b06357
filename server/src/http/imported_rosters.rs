//! Imported rosters and their mismatches with the ledger (`comparison`), for county staff:
//!
//! - `POST /api/v1/imported-rosters?kind=K&area=A&file_name=F[&set_aside_bad_rows=true]
//!   [&map=header=field…][&errors=xlsx]`: the file is the body (XLSX or CSV, its media type
//!   saying so, up to `file::MAX_FILE_BYTES`). 201 with the import; 200 with the earlier
//!   import when the same file comes again; 422 with every bad row's errors (or, with
//!   `errors=xlsx`, those errors as a spreadsheet) when the file is refused whole.
//! - `GET /api/v1/imported-rosters`; `POST /api/v1/imported-rosters/{id}/withdraw`.
//! - `GET|PUT /api/v1/imported-rosters/mappings/{kind}`: a kind's fields and the columns
//!   remembered for them.
//! - `GET /api/v1/mismatches?area=&kind=[&reveal=true]`: the open mismatches, masked unless
//!   revealed, with counts per village.
//!
//! The upload is the one API request that changes state without a JSON body: a cross-site
//! form cannot send it, since its media type (`text/csv`, the XLSX type or
//! `application/octet-stream`) is not one a form may send without a CORS preflight.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, area_in_scope};
use crate::access::privacy::Seen;
use crate::access::roles::Permission;
use crate::ingest::tasks;
use crate::reports::comparison::kinds::{ColumnKind, Mapping, RosterKind, mapping_pair};
use crate::reports::comparison::{
    self, AreaCount, Clerk, ComparisonError, ImportRequest, Mismatch,
};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use schema::Message;
use schema::error_code::ErrorCode;
use serde::{Deserialize, Serialize};

/// The media types a roster upload may have.
pub const UPLOAD_TYPES: [&str; 4] = [
    "text/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
    "application/octet-stream",
];

pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Whether a request is a roster upload the edge check lets through without a JSON body.
pub fn is_upload(path: &str, headers: &HeaderMap) -> bool {
    path == "/api/v1/imported-rosters"
        && headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|essence| UPLOAD_TYPES.contains(&essence.as_str()))
}

impl From<ComparisonError> for ApiError {
    fn from(err: ComparisonError) -> Self {
        match err {
            ComparisonError::Refused(message) => ApiError::bad_request(message),
            ComparisonError::NotFound(message) => ApiError::not_found(message),
            ComparisonError::Database(err) => ApiError::database(err),
            ComparisonError::BadRows(report) => ApiError::bad_request(Message::new(
                format!("{} 行有误，未导入", report.bad_rows),
                format!("{} rows are bad; nothing was imported", report.bad_rows),
            )),
            err @ ComparisonError::Sealed(_) => ApiError::internal(err),
        }
    }
}

fn kind_of(text: &str) -> ApiResult<RosterKind> {
    RosterKind::from_slug(text).ok_or_else(|| ApiError::bad_request(RosterKind::unknown(text)))
}

pub fn clerk(staff: &crate::access::accounts::Account, client: &Client) -> Clerk {
    Clerk {
        actor: staff.actor(),
        role: staff.role.as_str().to_owned(),
        client: client.0.clone(),
    }
}

/// The upload's parameters, read from the raw query so that `map` may repeat.
#[derive(Debug, Default)]
struct UploadParams {
    kind: Option<String>,
    area: Option<String>,
    file_name: Option<String>,
    set_aside_bad_rows: bool,
    errors_as_xlsx: bool,
    /// The `map` pairs as written; read once the kind is known.
    pairs: Vec<String>,
}

fn upload_params(query: Option<&str>) -> ApiResult<UploadParams> {
    let mut params = UploadParams::default();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "kind" => params.kind = Some(value.into_owned()),
            "area" => params.area = Some(value.into_owned()),
            "file_name" => params.file_name = Some(value.into_owned()),
            "set_aside_bad_rows" => params.set_aside_bad_rows = value == "true",
            "errors" => params.errors_as_xlsx = value == "xlsx",
            "map" => params.pairs.push(value.into_owned()),
            other => {
                return Err(ApiError::bad_request(Message::new(
                    format!("未知参数“{other}”"),
                    format!("Unknown parameter \"{other}\""),
                )));
            }
        }
    }
    Ok(params)
}

/// The answer to a file refused for its rows: every error, or the errors as a spreadsheet.
#[derive(Debug, Serialize)]
struct BadRowsBody {
    error: ErrorCode,
    message: Message,
    good_rows: usize,
    bad_rows: usize,
    errors: Vec<comparison::check::RowError>,
}

pub async fn import(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let action = "roster.import";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ImportRosters, action).await?;
    let params = upload_params(query.as_deref())?;
    let kind = kind_of(params.kind.as_deref().unwrap_or_default())?;
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let mut mapping = Mapping::new();
    for pair in &params.pairs {
        let (field, header) = mapping_pair(kind, pair).map_err(ApiError::bad_request)?;
        mapping.insert(field, header);
    }
    // A declared length over the limit is refused before a byte is read: on a slow link the
    // clerk learns at once, and the server never takes in what it would throw away.
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > comparison::file::MAX_FILE_BYTES) {
        return Err(file_too_large());
    }
    let bytes = axum::body::to_bytes(body, comparison::file::MAX_FILE_BYTES)
        .await
        .map_err(|_| file_too_large())?;
    let request = ImportRequest {
        kind,
        area,
        file_name: params
            .file_name
            .unwrap_or_else(|| format!("{}.upload", kind.slug())),
        bytes: &bytes,
        mapping,
        set_aside_bad_rows: params.set_aside_bad_rows,
    };
    let outcome = import_then_follow(&state, request, &clerk(&staff, &client)).await?;
    match outcome {
        Ok(outcome) if outcome.already_imported => {
            Ok((StatusCode::OK, Json(outcome)).into_response())
        }
        Ok(outcome) => Ok((StatusCode::CREATED, Json(outcome)).into_response()),
        Err(ComparisonError::BadRows(report)) if params.errors_as_xlsx => {
            let xlsx = report.sheet().to_xlsx().map_err(ApiError::internal)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                [
                    (CONTENT_TYPE, XLSX_TYPE.to_owned()),
                    (
                        CONTENT_DISPOSITION,
                        "attachment; filename=\"roster-errors.xlsx\"".to_owned(),
                    ),
                ],
                xlsx,
            )
                .into_response())
        }
        Err(ComparisonError::BadRows(report)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(BadRowsBody {
                error: ErrorCode::BadRequest,
                message: report.refusal(),
                good_rows: report.good_rows,
                bad_rows: report.bad_rows,
                errors: report.errors,
            }),
        )
            .into_response()),
        Err(err) => Err(err.into()),
    }
}

/// Imports a roster, then lets the visit tasks follow the comparison: what the API and the
/// console both do with an upload. The inner error is why the file was refused (nothing was
/// stored); the outer one a failure of the server.
pub async fn import_then_follow(
    state: &AppState,
    request: ImportRequest<'_>,
    clerk: &Clerk,
) -> ApiResult<Result<comparison::ImportOutcome, ComparisonError>> {
    let outcome = comparison::import(
        state.ledger.db(),
        state.ledger.vault(),
        request,
        clerk,
        state.now(),
        state.clock().today(),
    )
    .await;
    if outcome.is_ok() {
        // The comparison's open mismatches become visit tasks, and vanished ones settle theirs.
        tasks::follow_all(&state.ledger).await?;
    }
    Ok(outcome)
}

/// Withdraws an import (audited), then lets the visit tasks follow: the API's and the
/// console's withdrawal.
pub async fn withdraw_then_follow(
    state: &AppState,
    id: &str,
    clerk: &Clerk,
) -> ApiResult<crate::storage::imported_rosters::ImportedRoster> {
    let roster = comparison::withdraw(
        state.ledger.db(),
        state.ledger.vault(),
        id,
        clerk,
        state.now(),
        state.clock().today(),
    )
    .await?;
    tasks::follow_all(&state.ledger).await?;
    Ok(roster)
}

pub async fn list(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<crate::storage::imported_rosters::ImportedRoster>>> {
    let action = "roster.list";
    principal::staff(&state, &headers, &client, Permission::ImportRosters, action).await?;
    Ok(Json(comparison::imports(state.ledger.db()).await?))
}

pub async fn withdraw(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::storage::imported_rosters::ImportedRoster>> {
    let action = "roster.withdraw";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ImportRosters, action).await?;
    let roster = withdraw_then_follow(&state, &id, &clerk(&staff, &client)).await?;
    Ok(Json(roster))
}

/// A field of a kind, as the mapping form shows it.
#[derive(Debug, Serialize)]
pub struct FieldInfo {
    pub name: &'static str,
    pub label: Message,
    pub required: bool,
    /// `id_number`, `text`, `date`, `code` or `village`.
    pub kind: &'static str,
    /// The header remembered for it, if any.
    pub header: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MappingInfo {
    pub kind: RosterKind,
    pub label: Message,
    pub fields: Vec<FieldInfo>,
}

/// A kind's fields with the columns remembered for them.
pub async fn mapping_info(state: &AppState, kind: RosterKind) -> ApiResult<MappingInfo> {
    let mapping = comparison::remembered_mapping(state.ledger.db(), kind).await?;
    Ok(MappingInfo {
        kind,
        label: kind.label(),
        fields: kind
            .fields()
            .iter()
            .map(|field| FieldInfo {
                name: field.name,
                label: Message::new(field.zh, field.en),
                required: field.required,
                kind: match field.kind {
                    ColumnKind::IdNumber => "id_number",
                    ColumnKind::Text => "text",
                    ColumnKind::Date => "date",
                    ColumnKind::Code(_) => "code",
                    ColumnKind::Village => "village",
                },
                header: mapping.get(field.name).cloned(),
            })
            .collect(),
    })
}

pub async fn mapping(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(kind): Path<String>,
) -> ApiResult<Json<MappingInfo>> {
    principal::staff(
        &state,
        &headers,
        &client,
        Permission::ImportRosters,
        "roster.mapping",
    )
    .await?;
    let kind = kind_of(&kind)?;
    Ok(Json(mapping_info(&state, kind).await?))
}

pub async fn set_mapping(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Json(mapping): Json<Mapping>,
) -> ApiResult<Json<MappingInfo>> {
    let action = "roster.mapping";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ImportRosters, action).await?;
    let kind = kind_of(&kind)?;
    comparison::save_mapping(
        state.ledger.db(),
        kind,
        &mapping,
        &clerk(&staff, &client),
        state.now(),
    )
    .await?;
    Ok(Json(mapping_info(&state, kind).await?))
}

#[derive(Debug, Deserialize)]
pub struct MismatchParams {
    pub area: Option<String>,
    pub kind: Option<String>,
    #[serde(default)]
    pub reveal: bool,
}

#[derive(Debug, Serialize)]
pub struct MismatchList {
    pub area: String,
    pub mismatches: Vec<Seen<Mismatch>>,
    /// Per village (or the roster's area, for people placed nowhere) and kind.
    pub counts: Vec<AreaCount>,
}

pub async fn mismatches(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<MismatchParams>,
) -> ApiResult<Json<MismatchList>> {
    let action = "mismatch.list";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let kind = params.kind.as_deref().map(kind_of).transpose()?;
    let sight = principal::sight(&state, &staff, &client, params.reveal, area.as_str()).await?;
    let db = state.ledger.db();
    let mismatches = comparison::mismatches(db, state.ledger.vault(), &area, kind, sight).await?;
    let counts = comparison::counts(db, &area)
        .await?
        .into_iter()
        .filter(|count| kind.is_none_or(|kind| count.kind == kind))
        .collect();
    Ok(Json(MismatchList {
        area: area.as_str().to_owned(),
        mismatches,
        counts,
    }))
}

fn file_too_large() -> ApiError {
    let megabytes = comparison::file::MAX_FILE_BYTES / (1024 * 1024);
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: ErrorCode::TooLarge,
        message: Message::new(
            format!("文件过大：名册文件最大 {megabytes} MB"),
            format!("The file is too large: a roster file may be at most {megabytes} MB"),
        ),
    }
}
