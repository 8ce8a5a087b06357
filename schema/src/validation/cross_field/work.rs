//! Rules about a member's work: their employment now, for their age and labour capacity, and
//! the work or training they want.

use super::{Rules, flag, integer, text};
use crate::codes;
use crate::fields::Entity;
use crate::layout::Record;
use crate::message::Message;
use crate::validation::{Severity, parse_date};

/// Members older than this are past working age for the ledger's purposes.
const WORKING_AGE_MAX: i32 = 60;
/// The minimum legal working age (Labour Law art. 15).
const WORKING_AGE_MIN: i32 = 16;
const MAX_TRAINING_TRADES: usize = 3;

impl Rules<'_> {
    pub(super) fn employment(&mut self, key: &str, member: &Record, age: Option<i32>) {
        let status = text(member, "employment.status");
        let employed = status.is_some_and(codes::is_employed_status);
        let employer = text(member, "employment.employer");
        let place = text(member, "employment.place");
        if employed && employer.is_none() && place.is_none() {
            let label = codes::EMPLOYMENT_STATUS
                .label(status.unwrap_or_default())
                .unwrap_or_else(|| Message::new("", ""));
            self.push(Severity::Error, Entity::Member, key, "employment.employer", "employment.employed_without_employer_or_place", Message::new(
                format!("就业状态为“{}”，但未填写就业单位或就业地点", label.zh),
                format!("Employment status is \"{}\", but neither employer nor place of work is recorded", label.en),
            ));
        }
        if status == Some("10") {
            if let Some(employer) = employer {
                self.push(Severity::Error, Entity::Member, key, "employment.status", "employment.not_employed_with_employer", Message::new(
                    format!("就业状态为“未就业”，但登记了就业单位“{employer}”"),
                    format!("Employment status is \"not employed\", but an employer is recorded: {employer}"),
                ));
            }
            if text(member, "employment.not_employed_reason").is_none() {
                self.push(
                    Severity::Warning,
                    Entity::Member,
                    key,
                    "employment.not_employed_reason",
                    "employment.not_employed_reason_missing",
                    Message::new(
                        "未就业，但未填写未就业原因",
                        "Not employed, but no reason is recorded",
                    ),
                );
            }
        }
        if employed && text(member, "employment.not_employed_reason").is_some() {
            self.push(
                Severity::Warning,
                Entity::Member,
                key,
                "employment.not_employed_reason",
                "employment.employed_with_not_employed_reason",
                Message::new(
                    "已就业，却填写了未就业原因",
                    "Employed, yet a reason for not being employed is recorded",
                ),
            );
        }
        if let Some(months) = integer(member, "employment.months_worked") {
            let months_so_far = i64::from(self.today.month());
            if months > months_so_far && (0..=12).contains(&months) {
                self.push(Severity::Warning, Entity::Member, key, "employment.months_worked", "employment.months_worked_beyond_today", Message::new(
                    format!("本年务工 {months} 个月，但今年才过去 {months_so_far} 个月"),
                    format!("{months} months worked this year, but only {months_so_far} months of the year have passed"),
                ));
            }
            if months > 0 && status == Some("10") {
                self.push(Severity::Warning, Entity::Member, key, "employment.months_worked", "employment.not_employed_with_months_worked", Message::new(
                    format!("未就业，但本年务工 {months} 个月；如今年曾务工，请核实当前状态"),
                    format!("Not employed, but {months} months worked this year; check the current status"),
                ));
            }
        }
        if let Some(start) = text(member, "employment.start_date").and_then(parse_date)
            && let Some(months) = integer(member, "employment.months_worked")
            && start.year() == self.today.year()
            && start <= self.today
        {
            let possible = i64::from(self.today.month() - start.month()) + 1;
            if months > possible {
                self.push(Severity::Warning, Entity::Member, key, "employment.months_worked", "employment.months_worked_before_start", Message::new(
                            format!("{start} 开始就业，本年最多务工 {possible} 个月，登记为 {months} 个月"),
                            format!("Started work on {start}, so at most {possible} months this year, but {months} are recorded"),
                        ));
            }
        }
        if let Some(age) = age {
            if employed && age < WORKING_AGE_MIN {
                self.push(
                    Severity::Error,
                    Entity::Member,
                    key,
                    "employment.status",
                    "employment.under_working_age",
                    Message::new(
                        format!("{age} 岁，未满 {WORKING_AGE_MIN} 周岁，不能登记为就业"),
                        format!(
                            "Aged {age}, under {WORKING_AGE_MIN}: cannot be recorded as employed"
                        ),
                    ),
                );
            }
            if employed && age > WORKING_AGE_MAX {
                self.push(Severity::Warning, Entity::Member, key, "employment.status", "employment.over_working_age", Message::new(
                    format!("{age} 岁，超过劳动年龄（{WORKING_AGE_MAX} 岁），仍登记为就业"),
                    format!("Aged {age}, past working age ({WORKING_AGE_MAX}), yet recorded as employed"),
                ));
            }
        }
        if employed && text(member, "labour_capacity").is_some_and(codes::is_unable_to_work) {
            self.push(
                Severity::Warning,
                Entity::Member,
                key,
                "labour_capacity",
                "employment.employed_but_unable_to_work",
                Message::new(
                    "登记为丧失劳动力或无劳动力，却处于就业状态",
                    "Recorded as unable to work, yet employed",
                ),
            );
        }
        let contract_or_insurance = flag(member, "employment.contract_signed") == Some(true)
            || flag(member, "employment.social_insurance") == Some(true);
        if status == Some("10") && contract_or_insurance {
            self.push(
                Severity::Warning,
                Entity::Member,
                key,
                "employment.contract_signed",
                "employment.not_employed_with_contract",
                Message::new(
                    "未就业，却登记了劳动合同或社会保险",
                    "Not employed, yet a labour contract or social insurance is recorded",
                ),
            );
        }
    }

    pub(super) fn intent(&mut self, key: &str, member: &Record) {
        let trades: Vec<&str> = text(member, "intent.training_trades")
            .map(|t| {
                t.split([',', '，', '、', ' ', '\u{3000}'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if trades.len() > MAX_TRAINING_TRADES {
            self.push(
                Severity::Error,
                Entity::Member,
                key,
                "intent.training_trades",
                "intent.too_many_training_trades",
                Message::new(
                    format!(
                        "意向培训工种最多 {MAX_TRAINING_TRADES} 项，登记了 {} 项",
                        trades.len()
                    ),
                    format!(
                        "At most {MAX_TRAINING_TRADES} training trades, but {} are recorded",
                        trades.len()
                    ),
                ),
            );
        }
        if flag(member, "intent.wants_training") == Some(true) && trades.is_empty() {
            self.push(
                Severity::Warning,
                Entity::Member,
                key,
                "intent.training_trades",
                "intent.training_wanted_without_trade",
                Message::new(
                    "有培训意愿，但未填写意向培训工种",
                    "Wants training, but no trade is recorded",
                ),
            );
        }
        if flag(member, "intent.wants_work") == Some(true)
            && text(member, "labour_capacity").is_some_and(codes::is_unable_to_work)
        {
            self.push(
                Severity::Warning,
                Entity::Member,
                key,
                "intent.wants_work",
                "intent.wants_work_but_unable",
                Message::new(
                    "登记为丧失劳动力或无劳动力，却有就业意愿；请核实劳动技能",
                    "Recorded as unable to work, yet wants work; check the labour capacity",
                ),
            );
        }
    }
}
