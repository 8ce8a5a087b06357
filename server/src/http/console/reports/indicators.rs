//! The indicators of an area (`/reports?area=`), a part's line leading one level down; the
//! two lists that name people (`/reports/failing`, `/reports/untrained`), each household
//! linking to the register; and the rosters of the area as XLSX or CSV
//! (`/reports/rosters/{roster}`), masked, or in full for a county role through a form, the
//! API's own export doing both.

use super::figures::FiguresView;
use super::{Crumb, Tab, given, tabs, way_down};
use crate::access::privacy::Sight;
use crate::access::roles::Permission;
use crate::http::AppState;
use crate::http::console::frame::Frame;
use crate::http::console::guard::{Posted, Reader};
use crate::http::console::page::{ConsoleError, PageResult, render};
use crate::http::console::shown::VillageNames;
use crate::http::error::ApiError;
use crate::http::reports::{IndicatorParams, indicators_of};
use crate::http::rosters::{RosterParams, roster_file};
use crate::reports::months::Report;
use crate::reports::rosters::Roster;
use askama::Template;
use axum::extract::{Path, Query, State};
use schema::Message;
use schema::ids::{AreaCode, AreaLevel};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct AreaQuery {
    #[serde(default)]
    area: String,
}

/// A roster of the downloads panel.
#[derive(Debug)]
struct RosterLink {
    slug: &'static str,
    name: String,
}

#[derive(Template)]
#[template(path = "console/reports_indicators.html")]
struct IndicatorsPage {
    frame: Frame,
    tabs: Vec<Tab>,
    crumbs: Vec<Crumb>,
    title: String,
    area: String,
    is_village: bool,
    figures: FiguresView,
    rosters: Vec<RosterLink>,
    may_reveal: bool,
    form_token: String,
}

/// The indicators of the area asked for (the reader's by default), audited as the API's.
async fn report_of(
    state: &AppState,
    reader: &Reader,
    area: Option<&str>,
    month: Option<String>,
) -> Result<(AreaCode, Report), ConsoleError> {
    let params = IndicatorParams {
        area: area.map(str::to_owned),
        month,
        ..IndicatorParams::default()
    };
    let report = indicators_of(state, &reader.staff, &reader.client, &params).await?;
    let area =
        AreaCode::parse(&report.figures.area).map_err(|err| ApiError::internal(err.message.en))?;
    Ok((area, report))
}

/// `/reports`: the reader's area, or `?area=`.
pub async fn page(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<AreaQuery>,
) -> PageResult {
    reader
        .must(&state, Permission::ReadRegister, "report.indicators")
        .await?;
    let lang = reader.lang;
    let (area, report) = report_of(&state, &reader, given(&query.area), None).await?;
    let (title, crumbs) = way_down(&state, &reader.staff.scope, &area, "/reports").await?;
    let figures = FiguresView::of(lang, &report.figures, |code| {
        format!("/reports?area={code}")
    });
    render(&IndicatorsPage {
        frame: reader.frame(&state, "/reports").await?,
        tabs: tabs(lang, &area, "/reports"),
        crumbs,
        title,
        is_village: area.level() == AreaLevel::Village,
        area: area.to_string(),
        figures,
        rosters: Roster::ALL
            .into_iter()
            .map(|roster| RosterLink {
                slug: roster.slug(),
                name: lang.msg(&roster.name()).to_owned(),
            })
            .collect(),
        may_reveal: Sight::revealed_to(&reader.staff).is_some(),
        form_token: reader.form_token(),
    })
}

/// A line of a list: a household, and for the untrained list the person.
#[derive(Debug)]
struct ListLine {
    village: String,
    household: String,
    number: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console/reports_list.html")]
struct ListPage {
    frame: Frame,
    tabs: Vec<Tab>,
    crumbs: Vec<Crumb>,
    title: String,
    area: String,
    date: String,
    heading: String,
    explanation: &'static str,
    name_header: &'static str,
    roster: &'static str,
    lines: Vec<ListLine>,
}

/// `/reports/failing`: the households where no one who could work is employed.
pub async fn failing(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<AreaQuery>,
) -> PageResult {
    list(state, reader, query, Roster::FailingHouseholds).await
}

/// `/reports/untrained`: the people who want training and have had none.
pub async fn untrained(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<AreaQuery>,
) -> PageResult {
    list(state, reader, query, Roster::Untrained).await
}

async fn list(state: AppState, reader: Reader, query: AreaQuery, roster: Roster) -> PageResult {
    reader
        .must(&state, Permission::ReadRegister, "report.indicators")
        .await?;
    let lang = reader.lang;
    let (area, report) = report_of(&state, &reader, given(&query.area), None).await?;
    let page = match roster {
        Roster::FailingHouseholds => "/reports/failing",
        _ => "/reports/untrained",
    };
    let (title, crumbs) = way_down(&state, &reader.staff.scope, &area, page).await?;
    let figures = report.figures;
    let lines: Vec<ListLine> = match roster {
        Roster::FailingHouseholds => figures
            .failing_households
            .into_iter()
            .map(|h| ListLine {
                village: h.village,
                household: h.household_id,
                number: h.number,
                name: h.head_name.unwrap_or_default(),
            })
            .collect(),
        _ => figures
            .untrained
            .into_iter()
            .map(|m| ListLine {
                village: m.village,
                household: m.household_id,
                number: m.number,
                name: m.name.unwrap_or_default(),
            })
            .collect(),
    };
    let villages: Vec<&str> = lines.iter().map(|l| l.village.as_str()).collect();
    let names = VillageNames::of(&state, &villages).await?;
    let lines = lines
        .into_iter()
        .map(|line| ListLine {
            village: names.label(&line.village),
            ..line
        })
        .collect();
    let failing = roster == Roster::FailingHouseholds;
    render(&ListPage {
        frame: reader.frame(&state, "/reports").await?,
        tabs: tabs(lang, &area, "/reports"),
        crumbs,
        title,
        area: area.to_string(),
        date: figures.date,
        heading: lang.msg(&roster.name()).to_owned(),
        explanation: if failing {
            lang.t(
                "有劳动能力的家庭成员中无一人就业的户（定义见 INDICATORS.md）。",
                "Households where no member able to work is employed (defined in INDICATORS.md).",
            )
        } else {
            lang.t(
                "在劳动年龄内、有培训意愿、至今未参加过培训的人员。",
                "People of labour age who want training and have had none yet.",
            )
        },
        name_header: if failing {
            lang.t("户主", "Head")
        } else {
            lang.t("姓名", "Name")
        },
        roster: roster.slug(),
        lines,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DownloadQuery {
    #[serde(default)]
    area: String,
    #[serde(default)]
    format: String,
}

/// `/reports/rosters/{roster}?area=&format=xlsx|csv`: the file, ID numbers masked.
pub async fn download(
    State(state): State<AppState>,
    reader: Reader,
    Path(roster): Path<String>,
    Query(query): Query<DownloadQuery>,
) -> PageResult {
    file(&state, &reader, &roster, &query, false).await
}

/// The form asking for a roster with ID numbers in full (a county role's): the area and the
/// format, with the form token.
#[derive(Debug, Deserialize)]
pub struct FullForm {
    #[serde(default)]
    roster: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    format: String,
}

/// `POST /reports/rosters/full`: the file with ID numbers in full, for a role that
/// may see them; the reveal is audited (and a refused asking too).
pub async fn download_in_full(
    State(state): State<AppState>,
    posted: Posted<FullForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    let roster = form.roster;
    let query = DownloadQuery {
        area: form.area,
        format: form.format,
    };
    file(&state, &reader, &roster, &query, true).await
}

async fn file(
    state: &AppState,
    reader: &Reader,
    roster: &str,
    query: &DownloadQuery,
    reveal: bool,
) -> PageResult {
    reader
        .must(state, Permission::ReadRegister, "export")
        .await?;
    // The console offers the files; JSON is the API's.
    let format = match given(&query.format) {
        None | Some("xlsx") => "xlsx",
        Some("csv") => "csv",
        Some(other) => return Err(unknown_format(other)),
    };
    let params = RosterParams {
        area: given(&query.area).map(str::to_owned),
        format: Some(format.to_owned()),
        reveal,
    };
    Ok(roster_file(state, &reader.staff, &reader.client, roster, &params).await?)
}

fn unknown_format(format: &str) -> ConsoleError {
    // Only so much of what was typed is repeated back.
    let format: String = format.chars().take(16).collect();
    ApiError::bad_request(Message::new(
        format!("不支持的格式“{format}”：可用 xlsx 或 csv"),
        format!("Unknown format \"{format}\": use xlsx or csv"),
    ))
    .into()
}
