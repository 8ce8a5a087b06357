//! The register read API for staff, in JSON: household lists by area and search, and one
//! household in full.

use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, area_in_scope};
use super::{AppState, page_limit, page_offset};
use crate::accounts::Permission;
use crate::privacy;
use crate::storage::register::{self, HouseholdPage};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use schema::Message;
use schema::ids::AreaCode;
use schema::layout::{Conflict, HouseholdView};
use schema::validation::{self, Issue};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// A province, city, county, township or village code; the staff member's whole scope when
    /// absent.
    pub area: Option<String>,
    /// Part of a name or household number, or a whole ID number.
    pub search: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<HouseholdPage>> {
    let action = "register.list";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let (limit, offset) = (page_limit(params.limit), page_offset(params.offset));
    let page = register::list(
        &state.ledger.db().pool,
        state.ledger.vault(),
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
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<principal::RevealParam>,
) -> ApiResult<Json<HouseholdDetail>> {
    let action = "register.read";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let not_found = || {
        ApiError::not_found(Message::new(
            format!("没有户“{id}”，或不在您的区划内"),
            format!("No household \"{id}\" in your area"),
        ))
    };
    let (village, view) = state.ledger.read(&id).await?.ok_or_else(not_found)?;
    let in_scope = AreaCode::parse(&village).is_ok_and(|v| staff.scope.contains(&v));
    if !in_scope {
        principal::refused(
            &state,
            &staff,
            &client,
            action,
            &id,
            "outside the account's area",
        )
        .await?;
        return Err(not_found());
    }
    let reveal = principal::reveal(&state, &staff, &client, params.reveal, &id).await?;
    let issues = validation::validate(&view, state.ledger.clock().today());
    let conflicts = view.conflicts();
    let mut detail = HouseholdDetail {
        id,
        village,
        view,
        issues,
        conflicts,
    };
    if !reveal {
        privacy::mask_household_detail(&mut detail);
    }
    Ok(Json(detail))
}
