//! Cross-field rules: values that are each fine alone but contradict each other, or a
//! household that is incomplete as a whole.

use super::{Issue, Severity, parse_date};
use crate::codes;
use crate::fields::{Entity, FieldPath};
use crate::id_number::{IdNumber, Sex};
use crate::layout::{self, HouseholdView, Record};
use crate::message::Message;
use jiff::civil::Date;
use std::collections::BTreeMap;

/// Members older than this are past working age for the ledger's purposes.
const WORKING_AGE_MAX: i32 = 60;
/// The minimum legal working age (Labour Law art. 15).
const WORKING_AGE_MIN: i32 = 16;
/// Compulsory schooling ages: a child this age who is not in school is worth a look.
const COMPULSORY_SCHOOL_AGES: std::ops::RangeInclusive<i32> = 7..=15;
const MAX_TRAINING_TRADES: usize = 3;

pub(super) fn check(view: &HouseholdView, today: Date, issues: &mut Vec<Issue>) {
    let mut rules = Rules {
        issues: std::mem::take(issues),
        today,
        view,
    };
    rules.household();
    for (key, member) in &view.members {
        rules.member(key, member);
    }
    for (key, training) in &view.trainings {
        rules.training(key, training);
    }
    for (key, subsidy) in &view.subsidies {
        rules.subsidy(key, subsidy);
    }
    for (key, visit) in &view.visits {
        rules.visit(key, visit);
    }
    *issues = rules.issues;
}

/// Completed years between two dates.
fn years_between(from: Date, to: Date) -> i32 {
    let mut years = i32::from(to.year()) - i32::from(from.year());
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years -= 1;
    }
    years
}

struct Rules<'a> {
    issues: Vec<Issue>,
    today: Date,
    view: &'a HouseholdView,
}

fn text<'r>(record: &'r Record, name: &str) -> Option<&'r str> {
    record
        .get(name)
        .and_then(|f| f.value.as_text())
        .filter(|t| !t.is_empty())
}

fn flag(record: &Record, name: &str) -> Option<bool> {
    record.get(name).and_then(|f| f.value.as_bool())
}

fn integer(record: &Record, name: &str) -> Option<i64> {
    record.get(name).and_then(|f| f.value.as_integer())
}

impl Rules<'_> {
    fn push(
        &mut self,
        severity: Severity,
        entity: Entity,
        key: &str,
        name: &'static str,
        rule: &'static str,
        message: Message,
    ) {
        let path = FieldPath {
            entity,
            key: key.to_owned(),
            name,
        };
        self.issues.push(Issue {
            severity,
            path: path.to_string(),
            rule,
            message,
        });
    }

    fn household(&mut self) {
        let present: Vec<(&String, &Record)> = self.view.present_members().collect();
        let heads = present
            .iter()
            .filter(|(_, m)| text(m, "relation") == Some("01"))
            .count();
        if !present.is_empty() && heads == 0 {
            self.push(
                Severity::Warning,
                Entity::Household,
                "",
                "number",
                "household.head_missing",
                Message::new(
                    "本户没有登记户主（与户主关系为 01 的成员）",
                    "No member is recorded as head of household (relation 01)",
                ),
            );
        }
        if heads > 1 {
            self.push(
                Severity::Error,
                Entity::Household,
                "",
                "number",
                "household.several_heads",
                Message::new(
                    format!("本户登记了 {heads} 名户主，只能有一名"),
                    format!(
                        "{heads} members are recorded as head of household; there can be only one"
                    ),
                ),
            );
        }
        // Compare normalised numbers, so the 15-digit form, a lowercase x and the 18-digit
        // form of one person's number are recognised as the same.
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (key, member) in &present {
            let Some(id) = text(member, "id_number") else {
                continue;
            };
            let normalised = IdNumber::parse(id, self.today)
                .map(|parsed| parsed.as_str().to_owned())
                .unwrap_or_else(|_| id.to_uppercase());
            if let Some(first) = seen.insert(normalised, key) {
                let masked = IdNumber::parse(id, self.today)
                    .map(|i| i.masked())
                    .unwrap_or_else(|_| id.to_owned());
                self.push(Severity::Error, Entity::Member, key, "id_number", "household.duplicate_id_number", Message::new(
                    format!("身份证号码 {masked} 在本户登记了两次（另见成员 {first}）"),
                    format!("ID number {masked} is recorded twice in this household (see also member {first})"),
                ));
            }
        }
    }

    fn member(&mut self, key: &str, member: &Record) {
        if layout::member_status(member) == codes::ENTERED_BY_MISTAKE {
            // Never a member: nothing about the entry needs correcting, only its removal.
            self.status(key, member, None);
            return;
        }
        let m = |name: &'static str| name;
        if text(member, "name").is_none() {
            self.push(
                Severity::Error,
                Entity::Member,
                key,
                m("name"),
                "member.name_missing",
                Message::new("成员姓名未填写", "The member's name is missing"),
            );
        }
        let id = text(member, "id_number").and_then(|t| IdNumber::parse(t, self.today).ok());
        if text(member, "id_number").is_none() {
            self.push(
                Severity::Warning,
                Entity::Member,
                key,
                "id_number",
                "member.id_number_missing",
                Message::new(
                    "未登记身份证号码：台账要求实名登记",
                    "No ID number recorded: the ledger is a real-name register",
                ),
            );
        }
        let entered_birth = text(member, "birth_date").and_then(parse_date);
        if let Some(id) = &id {
            if let Some(sex) = text(member, "sex").and_then(Sex::from_code)
                && sex != id.sex()
            {
                self.push(
                    Severity::Error,
                    Entity::Member,
                    key,
                    "sex",
                    "member.sex_disagrees_with_id_number",
                    Message::new(
                        format!(
                            "性别填为“{}”，但身份证号码显示为“{}”",
                            sex.label().zh,
                            id.sex().label().zh
                        ),
                        format!(
                            "Sex is entered as {}, but the ID number says {}",
                            sex.label().en,
                            id.sex().label().en
                        ),
                    ),
                );
            }
            if let Some(birth) = entered_birth
                && birth != id.birth_date()
            {
                self.push(
                    Severity::Error,
                    Entity::Member,
                    key,
                    "birth_date",
                    "member.birth_date_disagrees_with_id_number",
                    Message::new(
                        format!(
                            "出生日期填为 {birth}，但身份证号码显示为 {}",
                            id.birth_date()
                        ),
                        format!(
                            "Birth date is entered as {birth}, but the ID number says {}",
                            id.birth_date()
                        ),
                    ),
                );
            }
        }
        let birth = id.as_ref().map(IdNumber::birth_date).or(entered_birth);
        self.status(key, member, birth);
        // Schooling, work and intent describe someone who lives here; for a member who
        // moved out or died they are history, and nobody will fill in what is missing.
        if layout::is_present(member) {
            let age = birth.map(|b| years_between(b, self.today));
            self.schooling(key, member, age);
            self.employment(key, member, age);
            self.intent(key, member);
        }
        if let Some(health) = member.get("health").and_then(|f| f.value.as_codes())
            && health.contains("01")
            && health.len() > 1
        {
            self.push(
                Severity::Error,
                Entity::Member,
                key,
                "health",
                "member.healthy_and_ill",
                Message::new(
                    "健康状况同时选了“健康”和疾病或残疾",
                    "Health is marked both healthy and ill or disabled",
                ),
            );
        }
    }

    /// The member status agrees with the date the member left and where they went. Only a
    /// status typed in counts here: an older document's `left_household` flag has no date.
    fn status(&mut self, key: &str, member: &Record, birth: Option<Date>) {
        let status = text(member, "status");
        let left_on = text(member, "left_on");
        let label = |code: &str| {
            codes::MEMBER_STATUS
                .label(code)
                .unwrap_or_else(|| Message::new(code, code))
        };
        if status == Some(codes::MOVED_OUT) && left_on.is_none() {
            self.push(
                Severity::Error,
                Entity::Member,
                key,
                "left_on",
                "member.moved_out_without_date",
                Message::new(
                    "登记为迁出，但未填写迁出日期",
                    "Recorded as moved out, but the date is missing",
                ),
            );
        }
        if status == Some(codes::DECEASED) && left_on.is_none() {
            self.push(
                Severity::Warning,
                Entity::Member,
                key,
                "left_on",
                "member.deceased_without_date",
                Message::new(
                    "登记为死亡，但未填写死亡日期",
                    "Recorded as deceased, but the date of death is missing",
                ),
            );
        }
        let status_code = status.unwrap_or(codes::PRESENT);
        if let Some(left_on) = left_on
            && !codes::STATUSES_WITH_LEFT_DATE.contains(&status_code)
        {
            let status = label(status_code);
            self.push(
                Severity::Error,
                Entity::Member,
                key,
                "left_on",
                "member.left_on_without_leaving",
                Message::new(
                    format!(
                        "在户状态为“{}”，却填写了迁出或死亡日期 {left_on}；只有迁出或死亡的成员有此日期",
                        status.zh
                    ),
                    format!(
                        "Member status is \"{}\", yet a date of leaving ({left_on}) is recorded; only a member who moved out or died has one",
                        status.en
                    ),
                ),
            );
        }
        if let Some(moved_to) = text(member, "moved_to")
            && status_code != codes::MOVED_OUT
        {
            let status = label(status_code);
            self.push(
                Severity::Error,
                Entity::Member,
                key,
                "moved_to",
                "member.moved_to_without_moving_out",
                Message::new(
                    format!(
                        "在户状态为“{}”，却填写了迁往地“{moved_to}”；只有迁出的成员有迁往地",
                        status.zh
                    ),
                    format!(
                        "Member status is \"{}\", yet a destination ({moved_to}) is recorded; only a member who moved out has one",
                        status.en
                    ),
                ),
            );
        }
        if let (Some(left), Some(birth)) = (left_on.and_then(parse_date), birth)
            && left < birth
        {
            self.push(
                Severity::Error,
                Entity::Member,
                key,
                "left_on",
                "member.left_before_birth",
                Message::new(
                    format!("迁出或死亡日期 {left} 早于出生日期 {birth}"),
                    format!("Left or died on {left}, before being born on {birth}"),
                ),
            );
        }
    }

    fn schooling(&mut self, key: &str, member: &Record, age: Option<i32>) {
        let Some(age) = age else { return };
        match text(member, "in_school") {
            Some("00") if COMPULSORY_SCHOOL_AGES.contains(&age) => {
                self.push(
                    Severity::Warning,
                    Entity::Member,
                    key,
                    "in_school",
                    "member.school_age_not_in_school",
                    Message::new(
                        format!("{age} 岁，处于义务教育年龄，但登记为非在校生"),
                        format!(
                            "Aged {age}, of compulsory school age, but recorded as not in school"
                        ),
                    ),
                );
            }
            Some("01") if age > 7 => {
                self.push(
                    Severity::Warning,
                    Entity::Member,
                    key,
                    "in_school",
                    "member.preschool_age",
                    Message::new(
                        format!("{age} 岁，登记为学前教育"),
                        format!("Aged {age} but recorded as in preschool"),
                    ),
                );
            }
            Some(level) if level != "00" && age > 30 => {
                self.push(
                    Severity::Warning,
                    Entity::Member,
                    key,
                    "in_school",
                    "member.in_school_age",
                    Message::new(
                        format!("{age} 岁，登记为在校生"),
                        format!("Aged {age} but recorded as in school"),
                    ),
                );
            }
            _ => {}
        }
        if text(member, "education") == Some("06") && age >= 7 {
            self.push(
                Severity::Warning,
                Entity::Member,
                key,
                "education",
                "member.preschool_education_age",
                Message::new(
                    format!("{age} 岁，文化程度登记为学龄前儿童"),
                    format!("Aged {age} but education is recorded as preschool child"),
                ),
            );
        }
    }

    fn employment(&mut self, key: &str, member: &Record, age: Option<i32>) {
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

    fn intent(&mut self, key: &str, member: &Record) {
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

    fn member_reference(&mut self, entity: Entity, key: &str, record: &Record) {
        match text(record, "member") {
            None => self.push(
                Severity::Error,
                entity,
                key,
                "member",
                "record.member_missing",
                Message::new(
                    "未指明是哪位成员的记录",
                    "The record does not say which member it belongs to",
                ),
            ),
            Some(member) if !self.view.members.contains_key(member) => self.push(
                Severity::Error,
                entity,
                key,
                "member",
                "record.member_unknown",
                Message::new(
                    format!("本户没有成员“{member}”"),
                    format!("This household has no member \"{member}\""),
                ),
            ),
            Some(_) => {}
        }
    }

    fn training(&mut self, key: &str, training: &Record) {
        self.member_reference(Entity::Training, key, training);
        let start = text(training, "start_date").and_then(parse_date);
        let end = text(training, "end_date").and_then(parse_date);
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            self.push(
                Severity::Error,
                Entity::Training,
                key,
                "end_date",
                "training.ends_before_start",
                Message::new(
                    format!("培训结束日期 {end} 早于开始日期 {start}"),
                    format!("Training ends on {end}, before it starts on {start}"),
                ),
            );
        }
        if flag(training, "completed") == Some(true) && end.is_some_and(|end| end > self.today) {
            self.push(
                Severity::Warning,
                Entity::Training,
                key,
                "completed",
                "training.completed_before_end",
                Message::new(
                    "培训登记为已结业，但结束日期尚未到来",
                    "Training is marked completed, but its end date has not come yet",
                ),
            );
        }
    }

    fn subsidy(&mut self, key: &str, subsidy: &Record) {
        self.member_reference(Entity::Subsidy, key, subsidy);
        // A subsidy already paid stays right even when the person has since come home.
        let paid = text(subsidy, "status") == Some("03");
        if text(subsidy, "kind") == Some("01") && !paid {
            let outside_province = text(subsidy, "member")
                .and_then(|m| self.view.members.get(m))
                .and_then(|m| text(m, "employment.status"))
                == Some("01");
            if !outside_province {
                self.push(Severity::Warning, Entity::Subsidy, key, "kind", "subsidy.transport_without_cross_province_work", Message::new(
                    "一次性交通补助只发给省外务工人员，但该成员未登记为省外务工",
                    "The one-off transport subsidy is for people working outside the province, but this member is not recorded so",
                ));
            }
        }
    }

    fn visit(&mut self, key: &str, visit: &Record) {
        if let (Some(start), Some(end)) =
            (integer(visit, "started_at"), integer(visit, "finished_at"))
            && end < start
        {
            self.push(
                Severity::Error,
                Entity::Visit,
                key,
                "finished_at",
                "visit.finished_before_started",
                Message::new(
                    "走访结束时间早于开始时间",
                    "The visit finished before it started",
                ),
            );
        }
    }
}
