//! Subsidy eligibility per year (indicator 7; `docs/INDICATORS.md`, Subsidies): who in an
//! area is eligible for which subsidy of policy §五(十二)(十三) in a year, what was claimed
//! and paid, and which claims break a rule.
//!
//! Eligibility for the transport and service subsidies is counted in SQL over the register,
//! with the definitions of `definitions` (an area's live households, members present on the
//! year's last day). The social insurance subsidy and the rules are judged from the claims
//! themselves, with `schema::validation::subsidy`: the one definition the review queue uses
//! too, against the year's parameters as the server's settings hold them.

use super::definitions::Definitions;
use crate::storage::subsidy_settings;
use jiff::civil::Date;
use schema::Message;
use schema::codes::{self, SERVICE_SUBSIDY, SOCIAL_INSURANCE_SUBSIDY, TRANSPORT_SUBSIDY};
use schema::ids::AreaCode;
use schema::validation::subsidy::{Claim, SubsidyParameters, SubsidyRule, breaches};
use serde::Serialize;
use sqlx::{AnyPool, AssertSqlSafe, Row};
use std::collections::{BTreeMap, BTreeSet};

/// The transfer-employment statuses whose workers a service station serves: outside the
/// province, the county or the township (01–03).
pub const SERVED_STATUSES: &[&str] = &["01", "02", "03"];
/// The job channels of a service: organised export, a labour company, a job introduction.
/// A job found by oneself (04) has no service to pay for.
pub const SERVED_CHANNELS: &[&str] = &["01", "02", "03"];

/// The subsidies of one area in one year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubsidyReport {
    pub area: String,
    pub year: i64,
    /// The year's parameters, as the settings hold them now; none when the year has none,
    /// and then no claim of the year is judged.
    pub parameters: Option<SubsidyParameters>,
    pub transport: Figures,
    pub service: Figures,
    pub social_insurance: InsuranceFigures,
    /// How many claims of the year break each rule, every rule listed.
    pub breaches_by_rule: Vec<RuleCount>,
    /// Every claim of the year that breaks a rule, with the rule.
    pub breaches: Vec<BreachRow>,
}

/// One subsidy's people in a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Present members eligible by the definition of the subsidy.
    pub eligible: i64,
    /// Of them, those without a claim of the year (a claim found not eligible is none).
    pub eligible_unclaimed: i64,
    /// Members with a claim of the year.
    pub claimed: i64,
    /// Members with a claim of the year paid out, and the sum paid, in yuan.
    pub paid_people: i64,
    pub paid_amount: i64,
}

/// The social insurance subsidy's people in a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InsuranceFigures {
    /// Members with a claim of the year recording the contribution base and the
    /// contribution: what eligibility is judged from.
    pub contributors: i64,
    /// Of them, those eligible: a base at or above the floor, and fewer earlier years of the
    /// subsidy than the most allowed.
    pub eligible: i64,
    /// The most the eligible may receive together: the share of each one's contribution.
    pub eligible_maximum: i64,
    /// Members with a claim of the year that cannot be judged: no base or no contribution
    /// recorded, or the year's average wage not set.
    pub unverifiable: i64,
    pub claimed: i64,
    pub paid_people: i64,
    pub paid_amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    pub rule: &'static str,
    pub count: i64,
}

/// A claim of the year that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreachRow {
    pub household: String,
    pub village: String,
    pub number: String,
    pub member: String,
    pub name: Option<String>,
    pub record: String,
    pub kind: String,
    pub rule: &'static str,
    pub message: Message,
}

/// A claim as read from the register, with where it is.
struct ClaimRow {
    household: String,
    village: String,
    number: String,
    name: Option<String>,
    claim: Claim,
}

/// A list of codes as a SQL list of literals. Only constant code lists are passed here.
fn code_list(list: &[&str]) -> String {
    list.iter()
        .map(|code| format!("'{code}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A present member of the area with a claim of `kind` in the year that counts.
fn has_claim(kind: &str, year: i64) -> String {
    format!(
        "EXISTS (SELECT 1 FROM subsidy s WHERE s.household_id = m.household_id
             AND s.member_key = m.member_key AND s.kind = '{kind}' AND s.year = {year}
             AND (s.status IS NULL OR s.status <> '{rejected}'))",
        rejected = codes::SUBSIDY_REJECTED
    )
}

/// How many present members of the area meet `eligible`, and how many of them have no
/// claim of `kind` in the year.
async fn eligible(
    pool: &AnyPool,
    definitions: &Definitions,
    eligible: &str,
    kind: &str,
    year: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let sql = format!(
        "SELECT COUNT(*) AS eligible,
             COALESCE(SUM(CASE WHEN {claimed} THEN 0 ELSE 1 END), 0) AS unclaimed
         FROM household h JOIN member m ON m.household_id = h.id
         WHERE {in_area} AND {present} AND {eligible}",
        claimed = has_claim(kind, year),
        in_area = definitions.household_in_area(),
        present = definitions.present(),
    );
    let row = sqlx::query(AssertSqlSafe(sql)).fetch_one(pool).await?;
    Ok((row.try_get("eligible")?, row.try_get("unclaimed")?))
}

/// The claims of the policy's three subsidies, of every year, of the area's members who
/// have one in `year`: the earlier years count for the most years of social insurance.
async fn claims(
    pool: &AnyPool,
    definitions: &Definitions,
    year: i64,
) -> Result<Vec<ClaimRow>, sqlx::Error> {
    let sql = format!(
        "SELECT s.household_id, h.village, h.number, s.subsidy_id, s.member_key, m.name,
             s.kind, s.year, s.amount, s.status, s.contribution_base, s.contribution
         FROM subsidy s JOIN household h ON h.id = s.household_id
             LEFT JOIN member m ON m.household_id = s.household_id
                 AND m.member_key = s.member_key
         WHERE {in_area} AND s.kind IN ({kinds}) AND s.member_key IS NOT NULL
             AND s.year IS NOT NULL
             AND EXISTS (SELECT 1 FROM subsidy y WHERE y.household_id = s.household_id
                 AND y.member_key = s.member_key AND y.year = {year})
         ORDER BY s.household_id, s.subsidy_id",
        in_area = definitions.household_in_area(),
        kinds = code_list(&[TRANSPORT_SUBSIDY, SERVICE_SUBSIDY, SOCIAL_INSURANCE_SUBSIDY]),
    );
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            Ok(ClaimRow {
                household: row.try_get("household_id")?,
                village: row.try_get("village")?,
                number: row.try_get("number")?,
                name: row.try_get("name")?,
                claim: Claim {
                    record: row.try_get("subsidy_id")?,
                    member: row.try_get("member_key")?,
                    kind: row.try_get("kind")?,
                    year: row.try_get("year")?,
                    amount: row.try_get("amount")?,
                    status: row.try_get("status")?,
                    contribution_base: row.try_get("contribution_base")?,
                    contribution: row.try_get("contribution")?,
                },
            })
        })
        .collect()
}

/// The people with a claim of `kind` in the year, those paid, and the sum paid.
fn claimed(rows: &[ClaimRow], kind: &str, year: i64) -> (i64, i64, i64) {
    let of_year = || {
        rows.iter()
            .filter(move |r| r.claim.kind == kind && r.claim.year == year && r.claim.counts())
    };
    let people: BTreeSet<(&str, &str)> = of_year()
        .map(|r| (r.household.as_str(), r.claim.member.as_str()))
        .collect();
    let paid: BTreeSet<(&str, &str)> = of_year()
        .filter(|r| r.claim.is_paid())
        .map(|r| (r.household.as_str(), r.claim.member.as_str()))
        .collect();
    let amount = of_year()
        .filter(|r| r.claim.is_paid())
        .filter_map(|r| r.claim.amount)
        .sum();
    (people.len() as i64, paid.len() as i64, amount)
}

/// The social insurance figures: each person with a claim of the year judged once, by
/// their first claim of the year (a second one breaks a rule of its own).
fn insurance(
    rows: &[ClaimRow],
    year: i64,
    parameters: Option<&SubsidyParameters>,
) -> InsuranceFigures {
    let (claimed, paid_people, paid_amount) = claimed(rows, SOCIAL_INSURANCE_SUBSIDY, year);
    let mut figures = InsuranceFigures {
        contributors: 0,
        eligible: 0,
        eligible_maximum: 0,
        unverifiable: 0,
        claimed,
        paid_people,
        paid_amount,
    };
    let insurance = || {
        rows.iter()
            .filter(|r| r.claim.kind == SOCIAL_INSURANCE_SUBSIDY && r.claim.counts())
    };
    let mut judged: BTreeSet<(&str, &str)> = BTreeSet::new();
    for row in insurance().filter(|r| r.claim.year == year) {
        let person = (row.household.as_str(), row.claim.member.as_str());
        if !judged.insert(person) {
            continue;
        }
        let recorded = row.claim.contribution_base.zip(row.claim.contribution);
        let floor = parameters.and_then(SubsidyParameters::base_floor);
        let (Some((base, contribution)), Some(floor), Some(p)) = (recorded, floor, parameters)
        else {
            figures.unverifiable += 1;
            continue;
        };
        figures.contributors += 1;
        let earlier: BTreeSet<i64> = insurance()
            .filter(|r| (r.household.as_str(), r.claim.member.as_str()) == person)
            .map(|r| r.claim.year)
            .filter(|y| *y < year)
            .collect();
        if base >= floor && (earlier.len() as i64) < p.insurance_max_years {
            figures.eligible += 1;
            figures.eligible_maximum += p.insurance_maximum(contribution);
        }
    }
    figures
}

/// The subsidies of an area in a year.
pub async fn report(
    pool: &AnyPool,
    area: &AreaCode,
    year: i64,
) -> Result<SubsidyReport, sqlx::Error> {
    let last_day = Date::new(year.clamp(1, 9999) as i16, 12, 31).unwrap_or(Date::MAX);
    let definitions = Definitions::new(area.clone(), last_day, 0);
    let years = {
        let mut conn = pool.acquire().await?;
        subsidy_settings::all(&mut conn).await?
    };
    let parameters = years.iter().find(|p| p.year == year).cloned();

    let outside = Definitions::outside_province();
    let (transport_eligible, transport_unclaimed) =
        eligible(pool, &definitions, &outside, TRANSPORT_SUBSIDY, year).await?;
    let served = format!(
        "m.employment_status IN ({}) AND m.employment_channel IN ({})",
        code_list(SERVED_STATUSES),
        code_list(SERVED_CHANNELS)
    );
    let (service_eligible, service_unclaimed) =
        eligible(pool, &definitions, &served, SERVICE_SUBSIDY, year).await?;

    let rows = claims(pool, &definitions, year).await?;
    let figures = |kind: &str, eligible: i64, unclaimed: i64| {
        let (claimed, paid_people, paid_amount) = claimed(&rows, kind, year);
        Figures {
            eligible,
            eligible_unclaimed: unclaimed,
            claimed,
            paid_people,
            paid_amount,
        }
    };
    let transport = figures(TRANSPORT_SUBSIDY, transport_eligible, transport_unclaimed);
    let service = figures(SERVICE_SUBSIDY, service_eligible, service_unclaimed);
    let social_insurance = insurance(&rows, year, parameters.as_ref());

    // The rules are judged household by household: a member key names a person within one.
    let mut by_household: BTreeMap<&str, Vec<&ClaimRow>> = BTreeMap::new();
    for row in &rows {
        by_household.entry(&row.household).or_default().push(row);
    }
    let mut breach_rows = Vec::new();
    for household in by_household.values() {
        let claims: Vec<Claim> = household.iter().map(|r| r.claim.clone()).collect();
        for breach in breaches(&claims, |y| years.iter().find(|p| p.year == y)) {
            if breach.year != year {
                continue;
            }
            let Some(row) = household.iter().find(|r| r.claim.record == breach.record) else {
                continue;
            };
            breach_rows.push(BreachRow {
                household: row.household.clone(),
                village: row.village.clone(),
                number: row.number.clone(),
                member: breach.member,
                name: row.name.clone(),
                record: breach.record,
                kind: row.claim.kind.clone(),
                rule: breach.rule.name(),
                message: breach.message,
            });
        }
    }
    let breaches_by_rule = SubsidyRule::ALL
        .into_iter()
        .map(|rule| RuleCount {
            rule: rule.name(),
            count: breach_rows.iter().filter(|b| b.rule == rule.name()).count() as i64,
        })
        .collect();
    Ok(SubsidyReport {
        area: area.to_string(),
        year,
        parameters,
        transport,
        service,
        social_insurance,
        breaches_by_rule,
        breaches: breach_rows,
    })
}
