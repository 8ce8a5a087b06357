//! The indicators (`reports/indicators.rs`) as JSON, and closing a month:
//!
//! - `GET /api/v1/reports/indicators?area=CODE[&month=YYYY-MM][&date=YYYY-MM-DD][&within=N]`:
//!   the indicators of an area in the reader's scope (their whole scope without `area`), as
//!   of `date` (today by default) or of a month's last day; a closed month also carries its
//!   figures as closed and their differences from those now. `within` is the N of "employed
//!   within N months after training" (6 by default). A township's figures carry one line per
//!   village in `figures.parts`, a county's one per township.
//! - `POST /api/v1/reports/months/{YYYY-MM}/close?area=CODE` with the body `{}`: a county
//!   admin closes the month (409 when already closed, 400 before it is over). Audited.
//! - `GET /api/v1/reports/subsidies?area=CODE&year=YYYY`: subsidy eligibility per year
//!   (`reports/subsidies.rs`), audited.

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, area_in_scope};
use crate::access::accounts::Account;
use crate::access::audit::{self, Entry, Outcome};
use crate::access::roles::Permission;
use crate::decisions::subsidy_settings;
use crate::reports::definitions::{DEFAULT_EMPLOYED_WITHIN_MONTHS, MAX_EMPLOYED_WITHIN_MONTHS};
use crate::reports::months::{self, CloseError, ClosedMonth, Month, Report};
use crate::reports::subsidies::{self, SubsidyReport};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use schema::Message;
use schema::error_code::ErrorCode;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct IndicatorParams {
    pub area: Option<String>,
    pub month: Option<String>,
    pub date: Option<String>,
    pub within: Option<u32>,
}

pub async fn indicators(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<IndicatorParams>,
) -> ApiResult<Json<Report>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ReadRegister,
        INDICATORS_ACTION,
    )
    .await?;
    Ok(Json(indicators_of(&state, &staff, &client, &params).await?))
}

const INDICATORS_ACTION: &str = "report.indicators";

/// The indicators `staff` asked for, checked and audited: what the API answers and the
/// console's report pages show.
pub async fn indicators_of(
    state: &AppState,
    staff: &Account,
    client: &Client,
    params: &IndicatorParams,
) -> ApiResult<Report> {
    let action = INDICATORS_ACTION;
    let area = area_in_scope(state, staff, client, params.area.as_deref(), action).await?;
    let month = params
        .month
        .as_deref()
        .map(Month::parse)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let date = match params.date.as_deref() {
        Some(text) => text.parse::<jiff::civil::Date>().map_err(|_| {
            ApiError::bad_request(Message::new(
                format!("日期“{text}”无效：应为 YYYY-MM-DD"),
                format!("Invalid date \"{text}\": expected YYYY-MM-DD"),
            ))
        })?,
        None => state.clock().today(),
    };
    if month.is_some() && params.date.is_some() {
        return Err(ApiError::bad_request(Message::new(
            "month 与 date 只能给一个：月份的数字截至其最后一天",
            "Give month or date, not both: a month's figures are as of its last day",
        )));
    }
    let within = params.within.unwrap_or(DEFAULT_EMPLOYED_WITHIN_MONTHS);
    if within > MAX_EMPLOYED_WITHIN_MONTHS {
        return Err(ApiError::bad_request(Message::new(
            format!("within 最大为 {MAX_EMPLOYED_WITHIN_MONTHS} 个月"),
            format!("within is at most {MAX_EMPLOYED_WITHIN_MONTHS} months"),
        )));
    }
    let report = months::report(&state.ledger.db().pool, &area, month, date, within).await?;
    // The lists name people: who read them is recorded.
    let detail = format!(
        "as of {}, {} failing households, {} untrained",
        report.figures.date,
        report.figures.failing_households.len(),
        report.figures.untrained.len()
    );
    principal::done(state, staff, client, action, area.as_str(), detail).await?;
    Ok(report)
}

#[derive(Debug, Deserialize)]
pub struct CloseParams {
    pub area: Option<String>,
}

/// The body of a close: nothing to say, `{}`.
#[derive(Debug, Deserialize)]
pub struct CloseRequest {}

pub async fn close_month(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(month): Path<String>,
    Query(params): Query<CloseParams>,
    Json(_): Json<CloseRequest>,
) -> ApiResult<Json<ClosedMonth>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::CloseMonth,
        CLOSE_MONTH_ACTION,
    )
    .await?;
    Ok(Json(
        close_month_of(&state, &staff, &client, &month, params.area.as_deref()).await?,
    ))
}

const CLOSE_MONTH_ACTION: &str = "report.close_month";

/// Closes `month` of `area` (the staff member's scope when none) for `staff`, who must be
/// allowed to close months: audited, a refusal too. The API's close and the console's.
pub async fn close_month_of(
    state: &AppState,
    staff: &Account,
    client: &Client,
    month: &str,
    area: Option<&str>,
) -> ApiResult<ClosedMonth> {
    let action = CLOSE_MONTH_ACTION;
    principal::permitted(state, staff, client, Permission::CloseMonth, action).await?;
    let area = area_in_scope(state, staff, client, area, action).await?;
    let month = Month::parse(month).map_err(ApiError::bad_request)?;
    let entry = Entry::new(action, Outcome::Ok)
        .by(staff.actor(), staff.role.as_str())
        .from(&client.0);
    let closed = months::close(
        state.ledger.db(),
        &area,
        month,
        entry,
        state.now(),
        state.clock().today(),
    )
    .await;
    if let Err(CloseError::AlreadyClosed(message) | CloseError::NotOver(message)) = &closed {
        let entry = Entry::new(action, Outcome::Failed)
            .by(staff.actor(), staff.role.as_str())
            .on(area.as_str())
            .from(&client.0)
            .saying(format!("{month}: {}", message.en));
        audit::record(state.ledger.db(), entry, state.now()).await?;
    }
    Ok(closed?)
}

impl From<CloseError> for ApiError {
    fn from(err: CloseError) -> Self {
        match err {
            CloseError::AlreadyClosed(message) => ApiError {
                status: StatusCode::CONFLICT,
                code: ErrorCode::Conflict,
                message,
            },
            CloseError::NotOver(message) => ApiError::bad_request(message),
            CloseError::Database(err) => ApiError::database(err),
            CloseError::Encoding(err) => ApiError::internal(err),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SubsidyParams {
    pub area: Option<String>,
    pub year: Option<String>,
}

/// `GET /api/v1/reports/subsidies?area=CODE&year=YYYY`: subsidy eligibility, claims,
/// payments and rule breaches of an area in the reader's scope in a year (this year by
/// default). The breaches name people: who read them is recorded.
pub async fn subsidies(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<SubsidyParams>,
) -> ApiResult<Json<SubsidyReport>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ReadRegister,
        SUBSIDIES_ACTION,
    )
    .await?;
    Ok(Json(subsidies_of(&state, &staff, &client, &params).await?))
}

const SUBSIDIES_ACTION: &str = "report.subsidies";

/// The subsidy report `staff` asked for, checked and audited: the API's and the console's.
pub async fn subsidies_of(
    state: &AppState,
    staff: &Account,
    client: &Client,
    params: &SubsidyParams,
) -> ApiResult<SubsidyReport> {
    let action = SUBSIDIES_ACTION;
    let area = area_in_scope(state, staff, client, params.area.as_deref(), action).await?;
    let year = match params.year.as_deref() {
        Some(text) => text.parse::<i64>().map_err(|_| {
            ApiError::bad_request(Message::new(
                format!("年度“{text}”无效：应为四位数字，如 2024"),
                format!("Invalid year \"{text}\": expected four digits, e.g. 2024"),
            ))
        })?,
        None => i64::from(state.clock().today().year()),
    };
    subsidy_settings::check_year(year).map_err(ApiError::bad_request)?;
    let report = subsidies::report(&state.ledger.db().pool, &area, year).await?;
    let detail = format!("{year}, {} breaches", report.breaches.len());
    principal::done(state, staff, client, action, area.as_str(), detail).await?;
    Ok(report)
}
