//! `GET /api/v1/exports/members.csv`: the present members of an area as a spreadsheet file
//! (with `include_left=true`, also those who moved out, died or were entered by mistake);
//! masked unless a county role asks for it in full, and audited either way.

use super::AppState;
use super::error::ApiResult;
use super::principal::{self, Client, area_in_scope};
use crate::access::roles::Permission;
use crate::reports::export;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ExportParams {
    pub area: Option<String>,
    #[serde(default)]
    pub reveal: bool,
    /// Also list members who no longer live in their household, as history.
    #[serde(default)]
    pub include_left: bool,
}

pub async fn members(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<ExportParams>,
) -> ApiResult<Response> {
    let action = "export";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let reveal = principal::sight(&state, &staff, &client, params.reveal, area.as_str())
        .await?
        .reveals();
    let (csv, count) = export::members_csv(
        &state.ledger.db().pool,
        state.ledger.vault(),
        &area,
        reveal,
        params.include_left,
    )
    .await?;
    let detail = format!(
        "members.csv, {count} members{}, ID numbers {}",
        if params.include_left {
            " with those who left"
        } else {
            ""
        },
        if reveal { "in full" } else { "masked" }
    );
    principal::done(&state, &staff, &client, action, area.as_str(), detail).await?;
    let file = format!("attachment; filename=\"members-{area}.csv\"");
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, file),
        ],
        csv,
    )
        .into_response())
}
