//! Reports (`/reports`): the indicators of issue 16 for the reader's area, drilled down county
//! → township → village, the failing-households and untrained lists, the rosters' downloads
//! (`indicators.rs`); monthly figures closed and reprinted (`months.rs`); subsidies and their
//! yearly settings (`subsidies.rs`).
//!
//! Every figure comes from the functions the API answers with (`http::reports::indicators_of`,
//! `subsidies_of`, `close_month_of`, `http::rosters::roster_file`), which check the area,
//! compute through `reports::*` and audit the read: the console computes nothing itself, it
//! only puts the figures into words and charts. `figures.rs` turns one set of indicators into
//! what a page shows, for the figures now and a closed month's alike.

mod figures;
pub mod indicators;
pub mod months;
pub mod subsidies;

use super::frame::Lang;
use super::page::ConsoleError;
use crate::http::AppState;
use crate::storage::areas;
use schema::ids::AreaCode;

/// A step of the way from the reader's area down to the one shown.
#[derive(Debug)]
pub struct Crumb {
    pub link: String,
    pub name: String,
}

/// A tab of the reports section.
#[derive(Debug)]
pub struct Tab {
    pub link: String,
    pub label: &'static str,
    pub current: bool,
}

/// The section's tabs, each for the area shown.
fn tabs(lang: Lang, area: &AreaCode, current: &str) -> Vec<Tab> {
    [
        ("/reports", "指标", "Indicators"),
        ("/reports/months", "月度数字", "Monthly figures"),
        ("/reports/subsidies", "补贴", "Subsidies"),
    ]
    .into_iter()
    .map(|(path, zh, en)| Tab {
        link: format!("{path}?area={area}"),
        label: lang.t(zh, en),
        current: path == current,
    })
    .collect()
}

/// The area shown, named, and the way down to it from the reader's area: each step a link
/// to `page` of that area.
async fn way_down(
    state: &AppState,
    scope: &AreaCode,
    area: &AreaCode,
    page: &str,
) -> Result<(String, Vec<Crumb>), ConsoleError> {
    let mut chain = vec![area.clone()];
    while let Some(parent) = chain.last().and_then(AreaCode::parent)
        && scope.contains(&parent)
    {
        chain.push(parent);
    }
    chain.reverse();
    let codes: Vec<&str> = chain.iter().map(AreaCode::as_str).collect();
    let names = areas::names(state.ledger.db(), &codes).await?;
    let name_of = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());
    let crumbs = chain
        .iter()
        .map(|code| Crumb {
            link: format!("{page}?area={code}"),
            name: name_of(code.as_str()),
        })
        .collect();
    Ok((format!("{} {area}", name_of(area.as_str())), crumbs))
}

/// A query parameter as typed: trimmed, empty as none.
fn given(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}
