//! Editing a year's subsidy parameters: checked, written, audited with what they were and
//! what they became, and the review queue of every household claiming a subsidy that year
//! brought up to date, all in one write transaction, so that a rule violation appears or
//! settles with the edit that causes it.

use crate::access::audit::{self, Entry, Outcome};
use crate::access::devices::By;
use crate::decisions::error::ReviewError;
use crate::decisions::review;
use crate::storage::ledger::Ledger;
use crate::storage::subsidy_settings;
use schema::Message;
use schema::layout;
use schema::validation::{self, subsidy::SubsidyParameters};

/// The years a subsidy record may name (`subsidies.<id>.year` in the field catalog).
pub const YEARS: std::ops::RangeInclusive<i64> = 2016..=2100;
/// The largest amount a cap, a wage or a share's part may hold.
const LARGEST_AMOUNT: i64 = 100_000_000;

fn out_of_range(zh: &str, en: &str, low: i64, high: i64, found: i64) -> Message {
    Message::new(
        format!("{zh}应在 {low} 到 {high} 之间，实为 {found}"),
        format!("{en} must be between {low} and {high}, not {found}"),
    )
}

/// Whether the year is one a subsidy record may name; if not, why.
pub fn check_year(year: i64) -> Result<(), Message> {
    if YEARS.contains(&year) {
        return Ok(());
    }
    Err(out_of_range(
        "年度",
        "The year",
        *YEARS.start(),
        *YEARS.end(),
        year,
    ))
}

/// Refuses parameters no policy could set: the first wrong one is named with its bounds.
pub fn check(parameters: &SubsidyParameters) -> Result<(), Message> {
    check_year(parameters.year)?;
    match problems(parameters).into_iter().next() {
        Some((_, message)) => Err(message),
        None => Ok(()),
    }
}

/// Every parameter no policy could set, by its field's name (as the API's body names it),
/// with its bounds: what a form shows beside each field.
pub fn problems(parameters: &SubsidyParameters) -> Vec<(&'static str, Message)> {
    let p = parameters;
    let bounds: [(&str, &str, &str, i64, i64, i64); 6] = [
        (
            "transport_cap",
            "交通补助上限",
            "The transport cap",
            0,
            LARGEST_AMOUNT,
            p.transport_cap,
        ),
        (
            "service_cap",
            "就业服务补贴上限",
            "The service cap",
            0,
            LARGEST_AMOUNT,
            p.service_cap,
        ),
        (
            "insurance_share_denominator",
            "补贴比例的分母",
            "The share's denominator",
            1,
            100,
            p.insurance_share_denominator,
        ),
        (
            "insurance_share_numerator",
            "补贴比例的分子",
            "The share's numerator",
            0,
            p.insurance_share_denominator.clamp(1, 100),
            p.insurance_share_numerator,
        ),
        (
            "insurance_max_years",
            "社会保险补贴最多年数",
            "The most years",
            1,
            50,
            p.insurance_max_years,
        ),
        (
            "base_floor_percent",
            "缴费基数下限（%）",
            "The base floor (percent)",
            0,
            100,
            p.base_floor_percent,
        ),
    ];
    let mut found = Vec::new();
    for (field, zh, en, low, high, value) in bounds {
        if !(low..=high).contains(&value) {
            found.push((field, out_of_range(zh, en, low, high, value)));
        }
    }
    if let Some(wage) = p.average_wage
        && !(1..=LARGEST_AMOUNT).contains(&wage)
    {
        found.push((
            "average_wage",
            out_of_range(
                "全省在岗职工平均工资",
                "The provincial average wage",
                1,
                LARGEST_AMOUNT,
                wage,
            ),
        ));
    }
    found
}

/// A year's parameters as they stand, refused by name for a year outside the records'.
pub async fn read(ledger: &Ledger, year: i64) -> Result<SubsidyParameters, ReviewError> {
    check_year(year).map_err(ReviewError::Refused)?;
    let mut conn = ledger.db().pool.acquire().await?;
    subsidy_settings::of_year(&mut conn, year)
        .await?
        .ok_or_else(|| no_settings(year))
}

/// Every year's parameters.
pub async fn list(ledger: &Ledger) -> Result<Vec<SubsidyParameters>, ReviewError> {
    let mut conn = ledger.db().pool.acquire().await?;
    Ok(subsidy_settings::all(&mut conn).await?)
}

fn no_settings(year: i64) -> ReviewError {
    ReviewError::NotFound(Message::new(
        format!("{year} 年尚未设置补贴参数"),
        format!("No subsidy parameters are set for {year}"),
    ))
}

/// Sets a year's parameters: checked, written, audited (`settings.subsidies`, the parameters
/// before and after in the detail), and every household claiming a subsidy that year
/// judged again, in one transaction. Returns what the year holds now.
pub async fn edit(
    ledger: &Ledger,
    by: &By,
    parameters: SubsidyParameters,
) -> Result<SubsidyParameters, ReviewError> {
    check(&parameters).map_err(ReviewError::Refused)?;
    let now = ledger.clock().now_seconds();
    let today = ledger.clock().today();
    let mut write = ledger.db().begin_write().await?;
    let before = subsidy_settings::of_year(&mut write.tx, parameters.year).await?;
    subsidy_settings::put(&mut write.tx, &parameters, &by.actor, now).await?;
    let detail = serde_json::json!({ "before": before, "after": parameters });
    let entry = Entry::new("settings.subsidies", Outcome::Ok)
        .by(&by.actor, &by.role)
        .from(&by.client)
        .on(parameters.year.to_string())
        .saying(detail.to_string());
    audit::record_in(&mut write.tx, entry, now).await?;
    let households =
        subsidy_settings::households_claiming_in(&mut write.tx, parameters.year).await?;
    for household in households {
        let Some((village, mut doc)) = ledger.load_for_write(&mut write.tx, &household).await?
        else {
            continue;
        };
        let Ok(view) = layout::read_household(doc.document()) else {
            continue;
        };
        let issues = validation::validate(&view, today);
        let subject = review::Subject {
            household: &household,
            village: &village,
            view: &view,
            issues: &issues,
        };
        review::refresh(&mut write.tx, ledger.vault(), subject, now).await?;
    }
    write.commit().await?;
    Ok(parameters)
}
