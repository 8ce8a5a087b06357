//! Rules about one member: who they are (name, ID number, sex, birth date), whether they
//! still live here, schooling for their age, and health.

use super::{Rules, text};
use crate::codes;
use crate::fields::Entity;
use crate::id_number::{IdNumber, Sex};
use crate::layout::{self, Record};
use crate::message::Message;
use crate::validation::{Severity, parse_date};
use jiff::civil::Date;

/// Compulsory schooling ages: a child this age who is not in school is worth a look.
const COMPULSORY_SCHOOL_AGES: std::ops::RangeInclusive<i32> = 7..=15;

/// Completed years between two dates.
fn years_between(from: Date, to: Date) -> i32 {
    let mut years = i32::from(to.year()) - i32::from(from.year());
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years -= 1;
    }
    years
}

impl Rules<'_> {
    pub(super) fn member(&mut self, key: &str, member: &Record) {
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
}
