//! `doorstep settings subsidies show|set`: the yearly subsidy parameters, for an operator with
//! the database, audited as `operator` like every edit through the API
//! (`decisions::subsidy_settings`). County admins use `PUT /api/v1/settings/subsidies/{year}`.

use crate::access::devices::By;
use crate::clock::Clock;
use crate::decisions::error::ReviewError;
use crate::decisions::subsidy_settings;
use crate::storage::db::Db;
use crate::storage::ledger::Ledger;
use crate::storage::vault::Vault;
use clap::Subcommand;
use schema::Message;
use schema::validation::subsidy::SubsidyParameters;

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// The subsidy parameters of policy §五 (caps, shares, years, the base floor, the
    /// provincial average wage), one set a year.
    Subsidies {
        #[command(subcommand)]
        command: SubsidiesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubsidiesCommand {
    /// Print one year's parameters, or every year's, as JSON.
    Show {
        #[arg(long)]
        year: Option<i64>,
    },
    /// Change a year's parameters; those not given keep their value. A year without any
    /// starts from the latest year before it.
    Set {
        #[arg(long)]
        year: i64,
        /// The one-off transport subsidy's cap, yuan a person (policy: 800).
        #[arg(long)]
        transport_cap: Option<i64>,
        /// The service subsidy's cap, yuan a person a year (policy: 300).
        #[arg(long)]
        service_cap: Option<i64>,
        /// The social insurance subsidy's largest share of the contribution, `2/3`.
        #[arg(long, value_parser = share)]
        insurance_share: Option<(i64, i64)>,
        /// The most years of social insurance subsidy (policy: 3).
        #[arg(long)]
        insurance_max_years: Option<i64>,
        /// The lowest contribution base, percent of the provincial average wage (policy: 40).
        #[arg(long)]
        base_floor_percent: Option<i64>,
        /// The provincial average wage of the year, yuan a year.
        #[arg(long)]
        average_wage: Option<i64>,
    },
}

/// `--insurance-share`: a fraction, `2/3`.
fn share(text: &str) -> Result<(i64, i64), String> {
    let parsed = text
        .split_once('/')
        .and_then(|(n, d)| Some((n.trim().parse().ok()?, d.trim().parse().ok()?)));
    parsed.ok_or_else(|| {
        Message::new(
            format!("“{text}”不是分数：应为 分子/分母，如 2/3"),
            format!("\"{text}\" is not a fraction: expected numerator/denominator, e.g. 2/3"),
        )
        .to_string()
    })
}

fn failed(err: ReviewError) -> String {
    let message = match err {
        ReviewError::NotFound(message) | ReviewError::Refused(message) => message,
        ReviewError::Stale(message) => message,
        ReviewError::Ledger(err) => Message::new(
            format!("数据库操作失败：{err}"),
            format!("database error: {err}"),
        ),
        ReviewError::Database(err) => Message::new(
            format!("数据库操作失败：{err}"),
            format!("database error: {err}"),
        ),
    };
    message.to_string()
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub async fn run(
    db: &Db,
    vault: &Vault,
    clock: &Clock,
    command: SettingsCommand,
) -> Result<(), String> {
    let ledger = Ledger::new(db.clone(), vault.clone(), clock.clone());
    let SettingsCommand::Subsidies { command } = command;
    match command {
        SubsidiesCommand::Show { year: Some(year) } => {
            let parameters = subsidy_settings::read(&ledger, year)
                .await
                .map_err(failed)?;
            println!("{}", json(&parameters));
        }
        SubsidiesCommand::Show { year: None } => {
            let years = subsidy_settings::list(&ledger).await.map_err(failed)?;
            println!("{}", json(&years));
        }
        SubsidiesCommand::Set {
            year,
            transport_cap,
            service_cap,
            insurance_share,
            insurance_max_years,
            base_floor_percent,
            average_wage,
        } => {
            subsidy_settings::check_year(year).map_err(|message| message.to_string())?;
            let years = subsidy_settings::list(&ledger).await.map_err(failed)?;
            let start = years
                .iter()
                .rev()
                .find(|p| p.year <= year)
                .cloned()
                .ok_or_else(|| {
                    Message::new(
                        format!("{year} 年及之前都没有补贴参数可以沿用"),
                        format!("No subsidy parameters of {year} or before to start from"),
                    )
                    .to_string()
                })?;
            let (numerator, denominator) = insurance_share.unwrap_or((
                start.insurance_share_numerator,
                start.insurance_share_denominator,
            ));
            let parameters = SubsidyParameters {
                year,
                transport_cap: transport_cap.unwrap_or(start.transport_cap),
                service_cap: service_cap.unwrap_or(start.service_cap),
                insurance_share_numerator: numerator,
                insurance_share_denominator: denominator,
                insurance_max_years: insurance_max_years.unwrap_or(start.insurance_max_years),
                base_floor_percent: base_floor_percent.unwrap_or(start.base_floor_percent),
                // The wage is the year's own: another year's is never carried over.
                average_wage: average_wage.or(start.average_wage.filter(|_| start.year == year)),
            };
            let now = subsidy_settings::edit(&ledger, &By::operator(), parameters)
                .await
                .map_err(failed)?;
            println!("{}", json(&now));
        }
    }
    Ok(())
}
