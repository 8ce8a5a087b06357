//! `doorstep report indicators --area CODE [--month YYYY-MM | --date YYYY-MM-DD] [--within N]
//! [--json]`: the indicators of an area, as `GET /api/v1/reports/indicators` gives them:
//! a summary for a person, or the whole answer as JSON for a script. A township's figures end
//! with a line per village, a county's with one per township. A closed month prints its
//! figures as closed, and every difference from the register now.

use crate::cli::{audit_operator, database_failed};
use crate::clock::Clock;
use crate::reports::definitions::{DEFAULT_EMPLOYED_WITHIN_MONTHS, MAX_EMPLOYED_WITHIN_MONTHS};
use crate::reports::indicators::{Count, Indicators, Part};
use crate::reports::months::{self, Month, Report};
use crate::storage::db::Db;
use clap::Args;
use schema::Message;
use schema::ids::AreaCode;
use std::fmt::Write;

#[derive(Debug, Args)]
pub struct IndicatorsArgs {
    /// The area: a village (12 digits), township (9) or county (6) code.
    #[arg(long)]
    area: String,
    /// A month, `YYYY-MM`: the figures as of its last day (and as closed, if it is).
    #[arg(long, conflicts_with = "date")]
    month: Option<String>,
    /// A date, `YYYY-MM-DD`: the figures as of that day (today by default).
    #[arg(long)]
    date: Option<String>,
    /// The N of "employed within N months after training".
    #[arg(long, default_value_t = DEFAULT_EMPLOYED_WITHIN_MONTHS,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_EMPLOYED_WITHIN_MONTHS)))]
    within: u32,
    /// Print the whole answer as JSON, as the API gives it.
    #[arg(long)]
    json: bool,
}

pub async fn run(db: &Db, clock: &Clock, args: IndicatorsArgs) -> Result<(), String> {
    let area = AreaCode::parse(&args.area).map_err(|err| err.message.to_string())?;
    let month = args
        .month
        .as_deref()
        .map(Month::parse)
        .transpose()
        .map_err(|message| message.to_string())?;
    let date = match args.date.as_deref() {
        Some(text) => text.parse::<jiff::civil::Date>().map_err(|_| {
            Message::new(
                format!("日期“{text}”无效：应为 YYYY-MM-DD"),
                format!("invalid date \"{text}\": expected YYYY-MM-DD"),
            )
            .to_string()
        })?,
        None => clock.today(),
    };
    let report = months::report(&db.pool, &area, month, date, args.within)
        .await
        .map_err(database_failed)?;
    audit_operator(
        db,
        clock,
        "report.indicators",
        area.as_str(),
        &format!("as of {}", report.figures.date),
    )
    .await?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|err| err.to_string())?;
        println!("{text}");
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn counts(out: &mut String, title: &str, lines: &[Count]) {
    let _ = write!(out, "{title}:");
    for line in lines.iter().filter(|line| line.count > 0) {
        let _ = write!(out, " {} {}", line.zh, line.count);
    }
    out.push('\n');
}

fn figures(out: &mut String, figures: &Indicators) {
    let coverage = &figures.coverage;
    let _ = writeln!(
        out,
        "户数 households {}，已走访 visited {}，已核实 verified {}，在户人口 present members {}（无出生日期 without birth date {}）",
        coverage.households,
        coverage.visited,
        coverage.verified,
        coverage.present_members,
        coverage.members_without_birth_date
    );
    let _ = writeln!(
        out,
        "劳动年龄人口 labour age (16–60) {}",
        figures.labour.total
    );
    counts(out, "  劳动技能 capacity", &figures.labour.by_capacity);
    counts(out, "  性别 sex", &figures.labour.by_sex);
    counts(out, "  年龄段 age band", &figures.labour.by_age_band);
    counts(out, "就业状态 employment", &figures.employment.by_status);
    let _ = writeln!(
        out,
        "  已就业 employed {}，省外 outside the province {}",
        figures.employment.employed, figures.employment.outside_province
    );
    let _ = writeln!(
        out,
        "零就业户 households failing the one-employed target: {}",
        figures.failing_households.len()
    );
    for household in &figures.failing_households {
        let _ = writeln!(
            out,
            "  {} {} {}",
            household.village,
            household.number,
            household.head_name.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(
        out,
        "有培训意愿未培训 want training, had none: {}",
        figures.untrained.len()
    );
    for member in &figures.untrained {
        let _ = writeln!(
            out,
            "  {} {} {}",
            member.village,
            member.number,
            member.name.as_deref().unwrap_or("")
        );
    }
    let total = &figures.training.total;
    let _ = writeln!(
        out,
        "培训 training: 人数 trainees {}，期次 trainings {}，结业 completed {}，证书 certificates {}，{} 个月内就业 employed within {} months {}/{}",
        total.trainees,
        total.trainings,
        total.completed,
        total.certificates,
        figures.employed_within_months,
        figures.employed_within_months,
        total.employed_within,
        total.cohort
    );
    for group in figures
        .training
        .by_model
        .iter()
        .chain(&figures.training.by_institution)
    {
        let _ = writeln!(
            out,
            "  {} {}: {} / {} / {} / {} / {}/{}",
            group.group,
            group.label.as_deref().unwrap_or(""),
            group.trainees,
            group.trainings,
            group.completed,
            group.certificates,
            group.employed_within,
            group.cohort
        );
    }
    parts(out, &figures.parts);
}

/// One line per village of a township, per township of a county.
fn parts(out: &mut String, parts: &[Part]) {
    let Some(first) = parts.first() else {
        return;
    };
    let title = match first.code.len() {
        12 => "分村 by village",
        9 => "分乡镇 by township",
        _ => "分区划 by area",
    };
    let _ = writeln!(out, "{title}:");
    for part in parts {
        let _ = writeln!(
            out,
            "  {} {}: 户 households {}，走访 visited {}，核实 verified {}，在户 present {}，劳动年龄 labour age {}，就业 employed {}，省外 outside {}，零就业户 failing {}，未培训 untrained {}",
            part.code,
            part.name.as_deref().unwrap_or(""),
            part.households,
            part.visited,
            part.verified,
            part.present_members,
            part.labour,
            part.employed,
            part.outside_province,
            part.failing_households,
            part.untrained
        );
    }
}

/// The report as a person reads it in a terminal, Chinese first.
fn render(report: &Report) -> String {
    let mut out = String::new();
    let figures_now = &report.figures;
    let _ = writeln!(
        out,
        "{} {} 截至 as of {}",
        figures_now.area,
        figures_now.area_name.as_deref().unwrap_or(""),
        figures_now.date
    );
    match &report.closed {
        Some(closed) => {
            let _ = writeln!(
                out,
                "已关账 closed by {} at {}；关账数字 figures as closed:",
                closed.closed_by, closed.closed_at
            );
            figures(&mut out, &closed.figures);
            if report.differences.is_empty() {
                let _ = writeln!(out, "关账后无更正 no correction since");
            } else {
                let _ = writeln!(out, "关账后的更正 corrections since (closed → now):");
                for difference in &report.differences {
                    let show = |value: &Option<serde_json::Value>| {
                        value.as_ref().map_or("—".to_owned(), ToString::to_string)
                    };
                    let _ = writeln!(
                        out,
                        "  {}: {} → {}",
                        difference.path,
                        show(&difference.closed),
                        show(&difference.now)
                    );
                }
            }
        }
        None => figures(&mut out, figures_now),
    }
    out
}
