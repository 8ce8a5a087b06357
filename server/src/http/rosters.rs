//! `GET /api/v1/reports/rosters/{roster}?area=CODE[&format=json|xlsx|csv][&reveal=true]`: a
//! roster of 一库五册 of a village, township or county (`reports::rosters`), as JSON (the
//! default), an XLSX workbook or a CSV file. ID numbers are masked unless a county role asks
//! for them in full; every export is audited either way (action `export`, with the roster,
//! the format, how many rows and whether ID numbers were in full).

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, area_in_scope};
use crate::access::accounts::Account;
use crate::access::roles::Permission;
use crate::reports::rosters::{self, Roster};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use schema::Message;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RosterParams {
    /// A village, township or county code; the staff member's whole scope when absent.
    pub area: Option<String>,
    /// `json` (the default), `xlsx` or `csv`.
    pub format: Option<String>,
    #[serde(default)]
    pub reveal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xlsx,
    Csv,
}

impl Format {
    fn parse(format: Option<&str>) -> ApiResult<Format> {
        match format.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "xlsx" => Ok(Format::Xlsx),
            "csv" => Ok(Format::Csv),
            other => Err(ApiError::bad_request(Message::new(
                format!("不支持的格式“{other}”：可用 json、xlsx 或 csv"),
                format!("Unknown format \"{other}\": use json, xlsx or csv"),
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
        }
    }
}

fn unknown_roster(name: &str) -> ApiError {
    let known = Roster::ALL.map(Roster::slug).join(", ");
    ApiError::not_found(Message::new(
        format!("没有名为“{name}”的花名册；可用：{known}"),
        format!("No roster named \"{name}\"; the rosters are: {known}"),
    ))
}

pub async fn roster(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<RosterParams>,
) -> ApiResult<Response> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ReadRegister,
        EXPORT_ACTION,
    )
    .await?;
    roster_file(&state, &staff, &client, &name, &params).await
}

const EXPORT_ACTION: &str = "export";

/// The roster `name` of the area `params` names, as the file (or JSON) they ask for, ID
/// numbers in full only for a role that may see them and asks; audited either way. The
/// API's download and the console's.
pub async fn roster_file(
    state: &AppState,
    staff: &Account,
    client: &Client,
    name: &str,
    params: &RosterParams,
) -> ApiResult<Response> {
    let action = EXPORT_ACTION;
    let roster = Roster::from_slug(name).ok_or_else(|| unknown_roster(name))?;
    let format = Format::parse(params.format.as_deref())?;
    let area = area_in_scope(state, staff, client, params.area.as_deref(), action).await?;
    let sight = principal::sight(state, staff, client, params.reveal, area.as_str()).await?;
    let sheet = rosters::roster(
        state.ledger.db(),
        state.ledger.vault(),
        roster,
        &area,
        sight,
        state.clock().today(),
    )
    .await?;
    let detail = format!(
        "roster {} ({}), {}, {} rows, ID numbers {}",
        roster.slug(),
        roster.name().zh,
        format.name(),
        sheet.rows.len(),
        if sight.reveals() { "in full" } else { "masked" }
    );
    let file = |extension: &str| {
        format!(
            "attachment; filename=\"{}-{area}.{extension}\"",
            roster.slug()
        )
    };
    let response = match format {
        Format::Json => Json(&sheet).into_response(),
        Format::Csv => (
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (CONTENT_DISPOSITION, file("csv")),
            ],
            sheet.to_csv(),
        )
            .into_response(),
        Format::Xlsx => (
            [
                (
                    CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                ),
                (CONTENT_DISPOSITION, file("xlsx")),
            ],
            sheet.to_xlsx().map_err(ApiError::internal)?,
        )
            .into_response(),
    };
    principal::done(state, staff, client, action, area.as_str(), detail).await?;
    Ok(response)
}
