//! The register read API for staff, in JSON: household lists by area and search, and one
//! household in full.

use super::AppState;
use super::auth::bearer;
use super::error::{ApiError, ApiResult};
use crate::auth::{self, Operator};
use crate::register::{self, Page};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use schema::Message;
use schema::ids::AreaCode;
use schema::layout::{Conflict, HouseholdView};
use schema::validation::{self, Issue};
use serde::{Deserialize, Serialize};

pub(super) const DEFAULT_LIMIT: i64 = 50;
pub(super) const MAX_LIMIT: i64 = 500;

pub(super) async fn operator(state: &AppState, headers: &HeaderMap) -> ApiResult<Operator> {
    let token = bearer(headers)?;
    auth::operator_by_token(state.ledger.db(), token)
        .await?
        .ok_or_else(ApiError::unauthorized)
}

/// The area a request names (the operator's whole scope when it names none), which must lie
/// inside the operator's scope.
pub(super) fn area_in_scope(operator: &Operator, area: Option<&str>) -> ApiResult<AreaCode> {
    let area = match area {
        Some(code) => AreaCode::parse(code).map_err(|err| ApiError::bad_request(err.message))?,
        None => operator.scope.clone(),
    };
    if !operator.scope.contains(&area) {
        return Err(ApiError::forbidden(Message::new(
            format!("无权查看区划 {area}"),
            format!("Area {area} is outside this token's scope"),
        )));
    }
    Ok(area)
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// A province, city, county, township or village code; the operator's whole scope when
    /// absent.
    pub area: Option<String>,
    /// Part of a name, ID number or household number.
    pub search: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<Page>> {
    let operator = operator(&state, &headers).await?;
    let area = area_in_scope(&operator, params.area.as_deref())?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = params.offset.unwrap_or(0).max(0);
    let page = register::list(
        &state.ledger.db().pool,
        &area,
        params.search.as_deref(),
        limit,
        offset,
    )
    .await?;
    Ok(Json(page))
}

/// One household as the register holds it.
#[derive(Debug, Serialize)]
pub struct HouseholdDetail {
    pub id: String,
    pub village: String,
    #[serde(flatten)]
    pub view: HouseholdView,
    pub issues: Vec<Issue>,
    /// Fields that hold different concurrent values, with every candidate.
    pub conflicts: Vec<Conflict>,
}

pub async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<HouseholdDetail>> {
    let operator = operator(&state, &headers).await?;
    let not_found = || {
        ApiError::not_found(Message::new(
            format!("没有户“{id}”，或不在本令牌的区划内"),
            format!("No household \"{id}\" in this token's scope"),
        ))
    };
    let (village, view) = state.ledger.read(&id).await?.ok_or_else(not_found)?;
    let in_scope = AreaCode::parse(&village).is_ok_and(|v| operator.scope.contains(&v));
    if !in_scope {
        return Err(not_found());
    }
    let issues = validation::validate(&view, register::today());
    let conflicts = view.conflicts();
    Ok(Json(HouseholdDetail {
        id,
        village,
        view,
        issues,
        conflicts,
    }))
}
