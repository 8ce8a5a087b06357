//! The yearly subsidy parameters: `GET /api/v1/settings/subsidies` (every year),
//! `GET /api/v1/settings/subsidies/{year}` and `PUT` of the same path, which only a county
//! admin may do; every edit is audited with what the year held before and after
//! (`decisions::subsidy_settings`).

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::principal::{self, Client};
use crate::access::devices::By;
use crate::access::roles::Permission;
use crate::decisions::subsidy_settings;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use schema::Message;
use schema::validation::subsidy::SubsidyParameters;
use serde::Deserialize;

/// A year as the path spells it.
fn year_of(segment: &str) -> ApiResult<i64> {
    segment.parse().map_err(|_| {
        ApiError::bad_request(Message::new(
            format!("“{segment}”不是年度：应为四位数字，如 2024"),
            format!("\"{segment}\" is not a year: expected four digits, e.g. 2024"),
        ))
    })
}

pub async fn list(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<SubsidyParameters>>> {
    principal::staff(
        &state,
        &headers,
        &client,
        Permission::ReadRegister,
        "settings.read",
    )
    .await?;
    Ok(Json(subsidy_settings::list(&state.ledger).await?))
}

pub async fn show(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(year): Path<String>,
) -> ApiResult<Json<SubsidyParameters>> {
    principal::staff(
        &state,
        &headers,
        &client,
        Permission::ReadRegister,
        "settings.read",
    )
    .await?;
    let year = year_of(&year)?;
    Ok(Json(subsidy_settings::read(&state.ledger, year).await?))
}

/// The body of a `PUT`: every parameter of the year (the year is the path's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsidyParametersBody {
    pub transport_cap: i64,
    pub service_cap: i64,
    pub insurance_share_numerator: i64,
    pub insurance_share_denominator: i64,
    pub insurance_max_years: i64,
    pub base_floor_percent: i64,
    pub average_wage: Option<i64>,
}

pub async fn edit(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(year): Path<String>,
    Json(body): Json<SubsidyParametersBody>,
) -> ApiResult<Json<SubsidyParameters>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ManageSettings,
        "settings.subsidies",
    )
    .await?;
    let parameters = SubsidyParameters {
        year: year_of(&year)?,
        transport_cap: body.transport_cap,
        service_cap: body.service_cap,
        insurance_share_numerator: body.insurance_share_numerator,
        insurance_share_denominator: body.insurance_share_denominator,
        insurance_max_years: body.insurance_max_years,
        base_floor_percent: body.base_floor_percent,
        average_wage: body.average_wage,
    };
    let by = By::staff(&staff, &client.0);
    Ok(Json(
        subsidy_settings::edit(&state.ledger, &by, parameters).await?,
    ))
}
