//! Progress: per county, township and village, the households recorded, visited and with
//! open review items, with a chart; the devices of the area, their last sync, and which have
//! not synced for [`STALE_DAYS`]. Drill-down goes from the reader's area to a village, whose
//! households the register lists.

use super::chart::{self, Bar};
use super::frame::{Frame, local_time};
use super::guard::Reader;
use super::page::{PageResult, render};
use crate::access::devices;
use crate::access::roles::Permission;
use crate::http::AppState;
use crate::http::principal;
use crate::reports::progress::{self, Counts};
use crate::storage::areas;
use askama::Template;
use axum::extract::{Path, State};
use schema::ids::{AreaCode, AreaLevel};

/// A device that has not synced for this many days is shown as stale.
pub const STALE_DAYS: i64 = 7;

/// A row of the table: an area inside the one shown.
#[derive(Debug)]
struct AreaRow {
    code: String,
    name: String,
    /// Where its row leads: its own progress.
    link: String,
    counts: Counts,
}

#[derive(Debug)]
struct DeviceRow {
    name: String,
    volunteer: String,
    villages: String,
    last_sync: String,
    stale: bool,
}

/// A step of the way from the reader's area down to the one shown.
#[derive(Debug)]
struct Crumb {
    link: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console/progress.html")]
struct ProgressPage {
    frame: Frame,
    crumbs: Vec<Crumb>,
    title: String,
    area: String,
    is_village: bool,
    total: Counts,
    rows: Vec<AreaRow>,
    chart: Option<String>,
    devices: Vec<DeviceRow>,
    stale_devices: usize,
    stale_days: i64,
}

pub async fn of_scope(State(state): State<AppState>, reader: Reader) -> PageResult {
    show(state, reader, None).await
}

pub async fn of_area(
    State(state): State<AppState>,
    reader: Reader,
    Path(area): Path<String>,
) -> PageResult {
    show(state, reader, Some(area)).await
}

async fn show(state: AppState, reader: Reader, area: Option<String>) -> PageResult {
    let action = "progress.read";
    reader
        .must(&state, Permission::ReadRegister, action)
        .await?;
    let area = principal::area_in_scope(
        &state,
        &reader.staff,
        &reader.client,
        area.as_deref(),
        action,
    )
    .await?;
    let db = state.ledger.db();
    let children = areas::children(db, &area).await?;
    let villages = progress::by_village(&db.pool, &area).await?;
    let codes: Vec<AreaCode> = children.iter().map(|child| child.code.clone()).collect();
    let (per_child, total) = progress::sum_under(&villages, &codes);

    let mut chain = vec![area.clone()];
    while let Some(parent) = chain.last().and_then(AreaCode::parent)
        && reader.staff.scope.contains(&parent)
    {
        chain.push(parent);
    }
    chain.reverse();

    let listed = devices::list(db, state.clock(), &area).await?;
    let live: Vec<_> = listed
        .into_iter()
        .filter(|device| device.revoked_at.is_none())
        .collect();
    let mut named: Vec<&str> = chain.iter().map(AreaCode::as_str).collect();
    named.extend(
        live.iter()
            .flat_map(|d| d.villages.iter().map(String::as_str)),
    );
    let names = areas::names(db, &named).await?;
    let name_of = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());

    let now = state.now();
    let devices: Vec<DeviceRow> = live
        .iter()
        .map(|device| DeviceRow {
            name: device.name.clone(),
            volunteer: device.volunteer.clone(),
            villages: device
                .villages
                .iter()
                .map(|v| format!("{} {v}", name_of(v)))
                .collect::<Vec<_>>()
                .join("、"),
            last_sync: device
                .last_seen_at
                .map_or_else(|| "—".to_owned(), local_time),
            stale: device
                .last_seen_at
                .is_none_or(|seen| now - seen > STALE_DAYS * 86_400),
        })
        .collect();
    let rows: Vec<AreaRow> = children
        .into_iter()
        .zip(per_child)
        .map(|(child, counts)| AreaRow {
            link: format!("/progress/{}", child.code),
            code: child.code.to_string(),
            name: child.name,
            counts,
        })
        .collect();
    let chart = chart::bars(
        &rows
            .iter()
            .map(|row| Bar {
                label: row.name.clone(),
                whole: row.counts.households,
                done: row.counts.visited,
            })
            .collect::<Vec<_>>(),
    );
    render(&ProgressPage {
        frame: reader.frame(&state, "/progress").await?,
        crumbs: chain
            .iter()
            .map(|code| Crumb {
                link: format!("/progress/{code}"),
                name: name_of(code.as_str()),
            })
            .collect(),
        title: format!("{} {area}", name_of(area.as_str())),
        is_village: area.level() == AreaLevel::Village,
        area: area.to_string(),
        total,
        stale_devices: devices.iter().filter(|d| d.stale).count(),
        rows,
        chart,
        devices,
        stale_days: STALE_DAYS,
    })
}
