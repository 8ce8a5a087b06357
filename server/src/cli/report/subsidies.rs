//! `doorstep report subsidies --area CODE [--year YYYY] [--json]`: subsidy eligibility per
//! year, as `GET /api/v1/reports/subsidies` gives it: a summary for a person, or the whole
//! answer as JSON for a script. Audited as `operator`.

use crate::cli::{audit_operator, database_failed};
use crate::clock::Clock;
use crate::decisions::subsidy_settings;
use crate::reports::subsidies::{self, Figures, SubsidyReport};
use crate::storage::db::Db;
use clap::Args;
use schema::ids::AreaCode;
use std::fmt::Write;

#[derive(Debug, Args)]
pub struct SubsidiesArgs {
    /// The area: a village (12 digits), township (9) or county (6) code.
    #[arg(long)]
    area: String,
    /// The year (this year by default).
    #[arg(long)]
    year: Option<i64>,
    /// Print the whole answer as JSON, as the API gives it.
    #[arg(long)]
    json: bool,
}

pub async fn run(db: &Db, clock: &Clock, args: SubsidiesArgs) -> Result<(), String> {
    let area = AreaCode::parse(&args.area).map_err(|err| err.message.to_string())?;
    let year = args.year.unwrap_or_else(|| i64::from(clock.today().year()));
    subsidy_settings::check_year(year).map_err(|message| message.to_string())?;
    let report = subsidies::report(&db.pool, &area, year)
        .await
        .map_err(database_failed)?;
    audit_operator(
        db,
        clock,
        "report.subsidies",
        area.as_str(),
        &format!("{year}, {} breaches", report.breaches.len()),
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

fn line(out: &mut String, zh: &str, en: &str, figures: &Figures) {
    let _ = writeln!(
        out,
        "{zh} {en}: 符合条件 eligible {}（未申领 unclaimed {}），申领 claimed {}，已发放 paid {} 人 people, {} 元 yuan",
        figures.eligible,
        figures.eligible_unclaimed,
        figures.claimed,
        figures.paid_people,
        figures.paid_amount
    );
}

fn render(report: &SubsidyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {} 年 year", report.area, report.year);
    match &report.parameters {
        Some(p) => {
            let _ = writeln!(
                out,
                "参数 parameters: 交通 transport ≤ {}，服务 service ≤ {}，社保 insurance ≤ {}/{}，≤ {} 年 years，基数 base ≥ {}% × {}",
                p.transport_cap,
                p.service_cap,
                p.insurance_share_numerator,
                p.insurance_share_denominator,
                p.insurance_max_years,
                p.base_floor_percent,
                p.average_wage
                    .map_or_else(|| "未设置 not set".to_owned(), |w| w.to_string())
            );
        }
        None => {
            let _ = writeln!(out, "参数 parameters: 未设置 not set");
        }
    }
    line(&mut out, "一次性交通补助", "transport", &report.transport);
    line(&mut out, "就业服务补贴", "service", &report.service);
    let s = &report.social_insurance;
    let _ = writeln!(
        out,
        "社会保险补贴 social insurance: 有缴费记录 contributors {}，符合条件 eligible {}（最多 at most {} 元 yuan），无法核定 unverifiable {}，申领 claimed {}，已发放 paid {} 人 people, {} 元 yuan",
        s.contributors,
        s.eligible,
        s.eligible_maximum,
        s.unverifiable,
        s.claimed,
        s.paid_people,
        s.paid_amount
    );
    let _ = write!(out, "违规 breaches:");
    for count in &report.breaches_by_rule {
        let _ = write!(out, " {} {}", count.rule, count.count);
    }
    out.push('\n');
    for breach in &report.breaches {
        let _ = writeln!(
            out,
            "  {} {} {} {}: {}",
            breach.village,
            breach.number,
            breach.name.as_deref().unwrap_or(""),
            breach.rule,
            breach.message
        );
    }
    out
}
