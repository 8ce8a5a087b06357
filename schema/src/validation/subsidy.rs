//! The subsidy rules of policy §五(十二)(十三), checked against one year's parameters.
//!
//! The parameters (caps, the share, the years, the base floor, the provincial average wage)
//! are settings a county admin edits on the server, so these rules are the server's: the
//! review queue shows what breaks them, and the subsidy report counts it. Both read the
//! claims of a person through [`Claim`], from a household's document or from the register's
//! rows, and ask [`breaches`]: one definition of every rule.

use super::{Issue, Severity};
use crate::codes::{
    self, SERVICE_SUBSIDY, SOCIAL_INSURANCE_SUBSIDY, SUBSIDY_REJECTED, TRANSPORT_SUBSIDY,
};
use crate::layout::{HouseholdView, Record};
use crate::message::Message;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One year's subsidy parameters, as the policy sets their maxima and a county admin keeps
/// them (amounts in whole yuan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubsidyParameters {
    pub year: i64,
    /// The one-off transport subsidy's cap per person (policy: 800).
    pub transport_cap: i64,
    /// The service subsidy's cap per person and year (policy: 300).
    pub service_cap: i64,
    /// The social insurance subsidy's largest share of the person's own contribution, as a
    /// fraction (policy: 2/3).
    pub insurance_share_numerator: i64,
    pub insurance_share_denominator: i64,
    /// The most years a person receives the social insurance subsidy (policy: 3).
    pub insurance_max_years: i64,
    /// The lowest monthly contribution base, in percent of the provincial average wage's
    /// month (policy: 40).
    pub base_floor_percent: i64,
    /// The provincial average wage of the year (全省在岗职工平均工资), yuan a year; unknown
    /// until set, and then the base floor is not checked.
    pub average_wage: Option<i64>,
}

impl SubsidyParameters {
    /// The lowest monthly contribution base of the year, in whole yuan rounded up, when the
    /// average wage is known: `average_wage × percent / 100 / 12`.
    pub fn base_floor(&self) -> Option<i64> {
        let wage = self.average_wage?;
        Some((wage * self.base_floor_percent + 1199) / 1200)
    }

    /// The largest social insurance subsidy for a contribution, in whole yuan rounded down.
    pub fn insurance_maximum(&self, contribution: i64) -> i64 {
        contribution * self.insurance_share_numerator / self.insurance_share_denominator.max(1)
    }
}

/// One subsidy record as the rules read it, from a document or a register row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub record: String,
    pub member: String,
    pub kind: String,
    pub year: i64,
    pub amount: Option<i64>,
    pub status: Option<String>,
    pub contribution_base: Option<i64>,
    pub contribution: Option<i64>,
}

impl Claim {
    /// Whether the claim asks for anything: a claim found not eligible (status 04) does not.
    pub fn counts(&self) -> bool {
        self.status.as_deref() != Some(SUBSIDY_REJECTED)
    }

    pub fn is_paid(&self) -> bool {
        self.status.as_deref() == Some(codes::SUBSIDY_PAID)
    }
}

/// A rule a claim breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubsidyRule {
    /// More than the year's cap (transport, service).
    OverCap,
    /// A second claim of the same kind for the same person in one year.
    TwiceInYear,
    /// Social insurance for more years than the policy allows: the fourth.
    BeyondMaxYears,
    /// A contribution base below the floor.
    BaseBelowFloor,
    /// More than the share of the person's own contribution.
    OverShare,
}

impl SubsidyRule {
    pub const ALL: [SubsidyRule; 5] = [
        SubsidyRule::OverCap,
        SubsidyRule::TwiceInYear,
        SubsidyRule::BeyondMaxYears,
        SubsidyRule::BaseBelowFloor,
        SubsidyRule::OverShare,
    ];

    /// The rule's name in issues and review items.
    pub fn name(self) -> &'static str {
        match self {
            SubsidyRule::OverCap => "subsidy.over_cap",
            SubsidyRule::TwiceInYear => "subsidy.twice_in_year",
            SubsidyRule::BeyondMaxYears => "subsidy.beyond_max_years",
            SubsidyRule::BaseBelowFloor => "subsidy.base_below_floor",
            SubsidyRule::OverShare => "subsidy.over_share",
        }
    }

    /// The field of the subsidy record an issue points at.
    fn field(self) -> &'static str {
        match self {
            SubsidyRule::OverCap | SubsidyRule::OverShare => "amount",
            SubsidyRule::TwiceInYear | SubsidyRule::BeyondMaxYears => "year",
            SubsidyRule::BaseBelowFloor => "contribution_base",
        }
    }
}

/// A claim that breaks a rule, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub record: String,
    pub member: String,
    pub year: i64,
    pub rule: SubsidyRule,
    pub message: Message,
}

fn kind_label(kind: &str) -> Message {
    codes::SUBSIDY_KIND
        .label(kind)
        .unwrap_or_else(|| Message::new(kind, kind))
}

/// Every rule the claims of one person break, each claim judged by its own year's
/// parameters (`parameters`; a year without them is not judged). `claims` are one person's.
fn person_breaches<'p>(
    claims: &[&Claim],
    parameters: &impl Fn(i64) -> Option<&'p SubsidyParameters>,
    out: &mut Vec<Breach>,
) {
    let mut seen: BTreeMap<(&str, i64), &str> = BTreeMap::new();
    let mut insurance_years: Vec<i64> = claims
        .iter()
        .filter(|c| c.kind == SOCIAL_INSURANCE_SUBSIDY)
        .map(|c| c.year)
        .collect();
    insurance_years.sort_unstable();
    insurance_years.dedup();
    for claim in claims {
        let Some(p) = parameters(claim.year) else {
            continue;
        };
        let mut breach = |rule: SubsidyRule, message: Message| {
            out.push(Breach {
                record: claim.record.clone(),
                member: claim.member.clone(),
                year: claim.year,
                rule,
                message,
            })
        };
        let label = kind_label(&claim.kind);
        let is_ruled = [TRANSPORT_SUBSIDY, SERVICE_SUBSIDY, SOCIAL_INSURANCE_SUBSIDY]
            .contains(&claim.kind.as_str());
        if !is_ruled {
            continue;
        }
        if let Some(first) = seen.get(&(claim.kind.as_str(), claim.year)) {
            breach(
                SubsidyRule::TwiceInYear,
                Message::new(
                    format!(
                        "{}年已有一笔“{}”（记录 {first}），每人每年只能享受一次",
                        claim.year, label.zh
                    ),
                    format!(
                        "A second \"{}\" in {} (the first is record {first}): once per person a year",
                        label.en, claim.year
                    ),
                ),
            );
        } else {
            seen.insert((claim.kind.as_str(), claim.year), &claim.record);
        }
        let cap = match claim.kind.as_str() {
            TRANSPORT_SUBSIDY => Some(p.transport_cap),
            SERVICE_SUBSIDY => Some(p.service_cap),
            _ => None,
        };
        if let (Some(cap), Some(amount)) = (cap, claim.amount)
            && amount > cap
        {
            breach(
                SubsidyRule::OverCap,
                Message::new(
                    format!(
                        "“{}”{amount} 元，超过 {} 年的上限 {cap} 元",
                        label.zh, claim.year
                    ),
                    format!(
                        "\"{}\" of {amount} yuan is over {}'s cap of {cap} yuan",
                        label.en, claim.year
                    ),
                ),
            );
        }
        if claim.kind != SOCIAL_INSURANCE_SUBSIDY {
            continue;
        }
        let earlier = insurance_years.iter().filter(|y| **y < claim.year).count() as i64;
        if earlier >= p.insurance_max_years {
            breach(
                SubsidyRule::BeyondMaxYears,
                Message::new(
                    format!(
                        "社会保险补贴最多享受 {} 年，{} 年是第 {} 年",
                        p.insurance_max_years,
                        claim.year,
                        earlier + 1
                    ),
                    format!(
                        "The social insurance subsidy is paid for at most {} years; {} is year {}",
                        p.insurance_max_years,
                        claim.year,
                        earlier + 1
                    ),
                ),
            );
        }
        if let (Some(base), Some(floor)) = (claim.contribution_base, p.base_floor())
            && base < floor
        {
            breach(
                SubsidyRule::BaseBelowFloor,
                Message::new(
                    format!(
                        "缴费基数 {base} 元/月低于 {} 年的下限 {floor} 元/月（全省在岗职工平均工资的 {}%）",
                        claim.year, p.base_floor_percent
                    ),
                    format!(
                        "The contribution base of {base} yuan a month is below {}'s floor of {floor} yuan a month ({}% of the provincial average wage)",
                        claim.year, p.base_floor_percent
                    ),
                ),
            );
        }
        if let (Some(amount), Some(contribution)) = (claim.amount, claim.contribution) {
            let most = p.insurance_maximum(contribution);
            if amount > most {
                breach(
                    SubsidyRule::OverShare,
                    Message::new(
                        format!(
                            "社会保险补贴 {amount} 元，超过本人实际缴费 {contribution} 元的 {}/{}（{most} 元）",
                            p.insurance_share_numerator, p.insurance_share_denominator
                        ),
                        format!(
                            "The social insurance subsidy of {amount} yuan is over {}/{} of the {contribution} yuan paid ({most} yuan)",
                            p.insurance_share_numerator, p.insurance_share_denominator
                        ),
                    ),
                );
            }
        }
    }
}

/// Every rule the claims break, person by person, in the order of the claims given (a
/// person's first claim of a kind and year, in that order, is the one that stands).
pub fn breaches<'p>(
    claims: &[Claim],
    parameters: impl Fn(i64) -> Option<&'p SubsidyParameters>,
) -> Vec<Breach> {
    let mut by_member: BTreeMap<&str, Vec<&Claim>> = BTreeMap::new();
    for claim in claims.iter().filter(|c| c.counts()) {
        by_member.entry(&claim.member).or_default().push(claim);
    }
    let mut out = Vec::new();
    for person in by_member.values() {
        person_breaches(person, &parameters, &mut out);
    }
    out
}

fn integer(record: &Record, name: &str) -> Option<i64> {
    record.get(name).and_then(|f| f.value.as_integer())
}

fn text(record: &Record, name: &str) -> Option<String> {
    record
        .get(name)
        .and_then(|f| f.value.as_text())
        .map(str::to_owned)
}

/// The claims a household's document holds: its subsidy records with a member, a kind and a
/// year, in record id order.
pub fn claims_of(view: &HouseholdView) -> Vec<Claim> {
    view.subsidies
        .iter()
        .filter_map(|(id, record)| {
            Some(Claim {
                record: id.clone(),
                member: text(record, "member")?,
                kind: text(record, "kind")?,
                year: integer(record, "year")?,
                amount: integer(record, "amount"),
                status: text(record, "status"),
                contribution_base: integer(record, "contribution_base"),
                contribution: integer(record, "contribution"),
            })
        })
        .collect()
}

/// The issues a household's subsidies raise against the years' parameters: one per rule a
/// claim breaks, at the record's field the rule is about.
pub fn subsidy_issues<'p>(
    view: &HouseholdView,
    parameters: impl Fn(i64) -> Option<&'p SubsidyParameters>,
) -> Vec<Issue> {
    breaches(&claims_of(view), parameters)
        .into_iter()
        .map(|breach| Issue {
            severity: Severity::Error,
            path: format!("subsidies.{}.{}", breach.record, breach.rule.field()),
            rule: breach.rule.name(),
            message: breach.message,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(year: i64) -> SubsidyParameters {
        SubsidyParameters {
            year,
            transport_cap: 800,
            service_cap: 300,
            insurance_share_numerator: 2,
            insurance_share_denominator: 3,
            insurance_max_years: 3,
            base_floor_percent: 40,
            average_wage: Some(60_000),
        }
    }

    fn claim(record: &str, member: &str, kind: &str, year: i64, amount: i64) -> Claim {
        Claim {
            record: record.to_owned(),
            member: member.to_owned(),
            kind: kind.to_owned(),
            year,
            amount: Some(amount),
            status: Some("03".to_owned()),
            contribution_base: None,
            contribution: None,
        }
    }

    fn insurance(record: &str, year: i64, amount: i64, base: i64, paid: i64) -> Claim {
        Claim {
            contribution_base: Some(base),
            contribution: Some(paid),
            ..claim(record, "m1", SOCIAL_INSURANCE_SUBSIDY, year, amount)
        }
    }

    fn rules(claims: &[Claim]) -> Vec<(String, &'static str)> {
        let years: Vec<SubsidyParameters> = (2016..=2030).map(policy).collect();
        breaches(claims, |y| years.iter().find(|p| p.year == y))
            .into_iter()
            .map(|b| (b.record, b.rule.name()))
            .collect()
    }

    #[test]
    fn test_the_floor_is_40_percent_of_the_average_wage_a_month_rounded_up() {
        assert_eq!(policy(2020).base_floor(), Some(2000));
        let odd = SubsidyParameters {
            average_wage: Some(60_001),
            ..policy(2020)
        };
        assert_eq!(odd.base_floor(), Some(2001));
        assert_eq!(policy(2020).insurance_maximum(4000), 2666);
    }

    #[test]
    fn test_each_rule_is_broken_once_by_its_own_claim() {
        let claims = [
            claim("a", "m1", TRANSPORT_SUBSIDY, 2020, 800),
            claim("b", "m2", TRANSPORT_SUBSIDY, 2020, 801),
            claim("c", "m3", SERVICE_SUBSIDY, 2020, 300),
            claim("d", "m3", SERVICE_SUBSIDY, 2020, 100),
            insurance("e", 2017, 1000, 2000, 3000),
            insurance("f", 2018, 1000, 2000, 3000),
            insurance("g", 2019, 2001, 2000, 3000),
            insurance("h", 2020, 1000, 2000, 3000),
            insurance("i", 2021, 1000, 1999, 3000),
        ];
        assert_eq!(
            rules(&claims),
            [
                ("g".to_owned(), "subsidy.over_share"),
                ("h".to_owned(), "subsidy.beyond_max_years"),
                ("i".to_owned(), "subsidy.beyond_max_years"),
                ("i".to_owned(), "subsidy.base_below_floor"),
                ("b".to_owned(), "subsidy.over_cap"),
                ("d".to_owned(), "subsidy.twice_in_year"),
            ]
        );
    }

    #[test]
    fn test_a_rejected_claim_and_a_year_without_parameters_break_nothing() {
        let mut rejected = claim("b", "m1", TRANSPORT_SUBSIDY, 2020, 5000);
        rejected.status = Some(SUBSIDY_REJECTED.to_owned());
        let unset = claim("c", "m1", TRANSPORT_SUBSIDY, 2031, 5000);
        assert_eq!(
            rules(&[
                claim("a", "m1", TRANSPORT_SUBSIDY, 2020, 800),
                rejected,
                unset
            ]),
            []
        );
    }
}
