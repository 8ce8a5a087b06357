//! Monthly figures (`/reports/months?area=`): the area's closed months, and for a county
//! admin the form that closes one (`POST /reports/months/close`, guarded and audited as the
//! API's close). A month's page (`/reports/months/{YYYY-MM}?area=`) reprints a closed month's
//! figures as stored, with every difference from the figures the register gives for the same
//! day now; a month not closed shows the figures as of its last day.

use super::figures::FiguresView;
use super::{Crumb, Tab, given, tabs, way_down};
use crate::access::roles::Permission;
use crate::http::AppState;
use crate::http::console::frame::{Frame, local_time};
use crate::http::console::guard::{Posted, Reader};
use crate::http::console::page::{PageResult, refused_for_input, render};
use crate::http::principal;
use crate::http::reports::{IndicatorParams, close_month_of, indicators_of};
use crate::reports::months::{self, Month};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use schema::Message;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
pub struct MonthsQuery {
    #[serde(default)]
    area: String,
}

#[derive(Debug)]
struct ClosedLine {
    month: String,
    link: String,
    closed_by: String,
    closed_at: String,
}

#[derive(Template)]
#[template(path = "console/reports_months.html")]
struct MonthsPage {
    frame: Frame,
    tabs: Vec<Tab>,
    crumbs: Vec<Crumb>,
    title: String,
    area: String,
    closed: Vec<ClosedLine>,
    may_close: bool,
    form_token: String,
    /// What the month field holds: the last month over, or what was typed.
    month: String,
    /// The latest month that may be closed (`YYYY-MM`), the field's maximum.
    latest: String,
    month_error: Option<Message>,
}

/// The last month that is over on `today`.
fn last_month_over(today: jiff::civil::Date) -> String {
    let first = today.first_of_month();
    let last_month = first.yesterday().unwrap_or(first);
    format!("{:04}-{:02}", last_month.year(), last_month.month())
}

/// `/reports/months`: the closed months of the reader's area, or of `?area=`.
pub async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<MonthsQuery>,
) -> PageResult {
    show_list(
        state,
        reader,
        given(&query.area).map(str::to_owned),
        None,
        None,
    )
    .await
}

async fn show_list(
    state: AppState,
    reader: Reader,
    area: Option<String>,
    typed: Option<String>,
    month_error: Option<Message>,
) -> PageResult {
    let action = "report.months";
    reader
        .must(&state, Permission::ReadRegister, action)
        .await?;
    let lang = reader.lang;
    let area = principal::area_in_scope(
        &state,
        &reader.staff,
        &reader.client,
        area.as_deref(),
        action,
    )
    .await?;
    let (title, crumbs) = way_down(&state, &reader.staff.scope, &area, "/reports/months").await?;
    let closed = months::closed_months(&state.ledger.db().pool, &area).await?;
    let latest = last_month_over(state.clock().today());
    render(&MonthsPage {
        frame: reader
            .frame_answering(&state, "/reports", format!("/reports/months?area={area}"))
            .await?,
        tabs: tabs(lang, &area, "/reports/months"),
        crumbs,
        title,
        closed: closed
            .into_iter()
            .map(|entry| ClosedLine {
                link: format!("/reports/months/{}?area={area}", entry.month),
                month: entry.month,
                closed_by: entry.closed_by,
                closed_at: local_time(entry.closed_at),
            })
            .collect(),
        area: area.to_string(),
        may_close: reader.staff.may(Permission::CloseMonth),
        form_token: reader.form_token(),
        month: typed.unwrap_or_else(|| latest.clone()),
        latest,
        month_error,
    })
}

#[derive(Debug, Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    area: String,
    #[serde(default)]
    month: String,
}

/// `POST /reports/months/close`: a county admin closes a month, then sees it reprinted; a
/// month not over or already closed comes back beside the field, in both languages.
pub async fn close(State(state): State<AppState>, posted: Posted<CloseForm>) -> PageResult {
    let Posted { reader, form } = posted;
    let area = given(&form.area).map(str::to_owned);
    let month = form.month.trim().to_owned();
    let closed = close_month_of(
        &state,
        &reader.staff,
        &reader.client,
        &month,
        area.as_deref(),
    )
    .await;
    match closed {
        Ok(closed) => Ok(Redirect::to(&format!(
            "/reports/months/{}?area={}&closed=1",
            closed.month, closed.area
        ))
        .into_response()),
        Err(err) if refused_for_input(&err) => {
            // What was typed goes back into the field, bounded.
            let typed: String = month.chars().take(16).collect();
            show_list(state, reader, area, Some(typed), Some(err.message)).await
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MonthQuery {
    #[serde(default)]
    area: String,
    #[serde(default)]
    closed: String,
}

/// A figure that changed since the month was closed.
#[derive(Debug)]
struct DifferenceLine {
    section: String,
    path: String,
    closed: String,
    now: String,
}

#[derive(Template)]
#[template(path = "console/reports_month.html")]
struct MonthPage {
    frame: Frame,
    tabs: Vec<Tab>,
    crumbs: Vec<Crumb>,
    title: String,
    area: String,
    month: String,
    just_closed: bool,
    /// Who closed it and when; none for a month not closed.
    closed_by: Option<String>,
    closed_at: String,
    /// The figures as closed, or as the register gives them when the month is not closed.
    figures: FiguresView,
    differences: Vec<DifferenceLine>,
}

/// What part of the figures a difference's path is in, as people say it.
fn section(lang: crate::http::console::frame::Lang, path: &str) -> String {
    let head = path.split(['.', '[']).next().unwrap_or_default();
    let (zh, en) = match head {
        "coverage" => ("覆盖", "Coverage"),
        "labour" => ("劳动力资源", "Labour resource"),
        "employment" => ("就业", "Employment"),
        "failing_households" => ("未实现一户一人就业", "Failing households"),
        "untrained" => ("有意愿未培训", "Untrained"),
        "training" => ("培训", "Training"),
        "parts" => ("下级区划", "Areas inside"),
        "area_name" => ("区划名称", "Area name"),
        _ => return head.to_owned(),
    };
    lang.t(zh, en).to_owned()
}

fn value_text(value: Option<&Value>) -> String {
    match value {
        None => "—".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) => "∅".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// `/reports/months/{YYYY-MM}?area=`: a month reprinted.
pub async fn month(
    State(state): State<AppState>,
    reader: Reader,
    Path(month): Path<String>,
    Query(query): Query<MonthQuery>,
) -> PageResult {
    reader
        .must(&state, Permission::ReadRegister, "report.indicators")
        .await?;
    let lang = reader.lang;
    let params = IndicatorParams {
        area: given(&query.area).map(str::to_owned),
        month: Some(month),
        ..IndicatorParams::default()
    };
    let report = indicators_of(&state, &reader.staff, &reader.client, &params).await?;
    let area = schema::ids::AreaCode::parse(&report.figures.area)
        .map_err(|err| crate::http::error::ApiError::internal(err.message.en))?;
    let month = report
        .month
        .clone()
        .and_then(|m| Month::parse(&m).ok())
        .map(|m| m.to_string())
        .unwrap_or_default();
    let (title, crumbs) = way_down(&state, &reader.staff.scope, &area, "/reports/months").await?;
    let link = |code: &str| format!("/reports/months/{month}?area={code}");
    let (figures, closed_by, closed_at) = match &report.closed {
        Some(closed) => (
            FiguresView::of(lang, &closed.figures, link),
            Some(closed.closed_by.clone()),
            local_time(closed.closed_at),
        ),
        None => (
            FiguresView::of(lang, &report.figures, link),
            None,
            String::new(),
        ),
    };
    render(&MonthPage {
        frame: reader.frame(&state, "/reports").await?,
        tabs: tabs(lang, &area, "/reports/months"),
        crumbs,
        title,
        area: area.to_string(),
        just_closed: query.closed == "1",
        closed_by,
        closed_at,
        figures,
        differences: report
            .differences
            .iter()
            .map(|d| DifferenceLine {
                section: section(lang, &d.path),
                path: d.path.clone(),
                closed: value_text(d.closed.as_ref()),
                now: value_text(d.now.as_ref()),
            })
            .collect(),
        month,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_the_month_offered_for_closing_is_the_last_one_over() {
        let today: jiff::civil::Date = "2026-01-15".parse().unwrap_or_default();
        assert_eq!(last_month_over(today), "2025-12");
        let today: jiff::civil::Date = "2026-03-01".parse().unwrap_or_default();
        assert_eq!(last_month_over(today), "2026-02");
    }
}
