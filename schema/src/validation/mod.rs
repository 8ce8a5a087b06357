//! The policy's rules, checked against a household as read from its document.
//!
//! Validation never changes or drops data: it returns a list of issues that the volunteer
//! sees while still in the household, and that county staff see after a merge. Field rules
//! check one value against its kind; cross-field rules check values against each other.

mod cross_field;
pub mod subsidy;
#[cfg(test)]
mod tests;

use crate::codes::CodeList;
use crate::fields::{Entity, FieldKind, FieldPath, FieldSpec, spec};
use crate::id_number::IdNumber;
use crate::ids::AreaCode;
use crate::layout::{Field, FieldValue, HouseholdView};
use crate::message::Message;
use jiff::civil::Date;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The record is wrong as it stands and must be corrected.
    Error,
    /// Unusual; worth a second look, but it may be true.
    Warning,
}

/// One problem found in a household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: Severity,
    /// The field the issue is about (the first one, when a rule involves several).
    pub path: String,
    /// A stable name for the rule, for filtering and for tests.
    pub rule: &'static str,
    pub message: Message,
}

const MAX_TEXT_CHARS: usize = 500;

/// Checks a household against every field rule and every cross-field rule.
pub fn validate(view: &HouseholdView, today: Date) -> Vec<Issue> {
    let mut issues = Vec::new();
    for entity in Entity::ALL {
        for (key, record) in view.records(entity) {
            for (name, field) in record {
                issues.extend(field_issue(entity, key, name, field, today));
            }
        }
    }
    cross_field::check(view, today, &mut issues);
    issues
}

/// The field rule's issue about one field of a record, if any: what [`validate`] reports
/// for that field, before the cross-field rules. A name that is not a field has none.
pub fn field_issue(
    entity: Entity,
    key: &str,
    name: &str,
    field: &Field,
    today: Date,
) -> Option<Issue> {
    let spec = spec(entity, name)?;
    let message = check_field(spec, &field.value, today)?;
    let path = FieldPath {
        entity,
        key: key.to_owned(),
        name: spec.name,
    };
    Some(Issue {
        severity: Severity::Error,
        path: path.to_string(),
        rule: "field",
        message,
    })
}

/// The cross-field rules' issues about a household, in the order [`validate`] lists them
/// after the field rules' issues.
pub fn cross_field_issues(view: &HouseholdView, today: Date) -> Vec<Issue> {
    let mut issues = Vec::new();
    cross_field::check(view, today, &mut issues);
    issues
}

/// Checks one value against its field's kind. `None` means the value is fine.
pub fn check_field(spec: &FieldSpec, value: &FieldValue, today: Date) -> Option<Message> {
    let label = spec.label();
    match (spec.kind, value) {
        (FieldKind::Text, FieldValue::Text(text)) => {
            (text.chars().count() > MAX_TEXT_CHARS).then(|| {
                Message::new(
                    format!("“{}”过长：最多 {MAX_TEXT_CHARS} 字", label.zh),
                    format!(
                        "{} is too long: at most {MAX_TEXT_CHARS} characters",
                        label.en
                    ),
                )
            })
        }
        (FieldKind::Code(lists), FieldValue::Text(code)) => {
            (!lists.iter().any(|list| list.contains(code)))
                .then(|| unknown_code(&label, code, lists[0]))
        }
        (FieldKind::Codes(list), FieldValue::Codes(chosen)) => chosen
            .iter()
            .find(|code| !list.contains(code))
            .map(|code| unknown_code(&label, code, list)),
        (FieldKind::Integer { min, max }, FieldValue::Integer(number)) => {
            (!(min..=max).contains(number)).then(|| {
                Message::new(
                    format!("“{}”应在 {min} 到 {max} 之间，实为 {number}", label.zh),
                    format!("{} must be between {min} and {max}, not {number}", label.en),
                )
            })
        }
        (FieldKind::Decimal { min, max }, FieldValue::Decimal(number)) => {
            (!(min..=max).contains(number)).then(|| {
                Message::new(
                    format!("“{}”应在 {min} 到 {max} 之间，实为 {number}", label.zh),
                    format!("{} must be between {min} and {max}, not {number}", label.en),
                )
            })
        }
        (FieldKind::Decimal { min, max }, FieldValue::Integer(number)) => {
            check_field(spec, &FieldValue::Decimal(*number as f64), today)
                .filter(|_| !(min..=max).contains(&(*number as f64)))
        }
        (FieldKind::Boolean, FieldValue::Boolean(_)) => None,
        (FieldKind::Timestamp, FieldValue::Integer(_)) => None,
        (FieldKind::Date, FieldValue::Text(text)) => check_date(spec, &label, text, today),
        (FieldKind::IdNumber, FieldValue::Text(text)) => {
            IdNumber::parse(text, today).err().map(|err| err.message())
        }
        (FieldKind::AreaCode, FieldValue::Text(text)) => AreaCode::parse(text).err().map(|err| {
            Message::new(
                format!("“{}”：{}", label.zh, err.message.zh),
                format!("{}: {}", label.en, err.message.en),
            )
        }),
        (kind, value) => Some(wrong_kind(&label, kind, value)),
    }
}

fn unknown_code(label: &Message, code: &str, list: &CodeList) -> Message {
    let choices_zh: Vec<String> = list
        .codes
        .iter()
        .map(|c| format!("{} {}", c.code, c.zh))
        .collect();
    let choices_en: Vec<String> = list
        .codes
        .iter()
        .map(|c| format!("{} {}", c.code, c.en))
        .collect();
    Message::new(
        format!(
            "“{}”没有代码“{code}”。可选：{}",
            label.zh,
            choices_zh.join("、")
        ),
        format!(
            "{} has no code \"{code}\". Choose one of: {}",
            label.en,
            choices_en.join(", ")
        ),
    )
}

fn wrong_kind(label: &Message, kind: FieldKind, value: &FieldValue) -> Message {
    let (zh, en) = match kind {
        FieldKind::Integer { .. } | FieldKind::Timestamp => ("整数", "a whole number"),
        FieldKind::Decimal { .. } => ("数字", "a number"),
        FieldKind::Boolean => ("“是”或“否”", "yes or no"),
        FieldKind::Date => ("日期（年-月-日）", "a date (YYYY-MM-DD)"),
        FieldKind::Codes(_) => ("代码列表", "a list of codes"),
        FieldKind::AreaCode => ("区划代码", "an area code"),
        FieldKind::Text | FieldKind::Code(_) | FieldKind::IdNumber => ("文字", "text"),
    };
    let typed = value.display();
    Message::new(
        format!("“{}”应为{zh}，填写的是“{typed}”", label.zh),
        format!("{} must be {en}; \"{typed}\" was entered", label.en),
    )
}

/// Dates of things that have already happened may not lie in the future.
fn must_be_past(spec: &FieldSpec) -> bool {
    matches!(
        spec.name,
        "birth_date" | "employment.start_date" | "employed_on" | "left_on"
    )
}

fn check_date(spec: &FieldSpec, label: &Message, text: &str, today: Date) -> Option<Message> {
    let Some(date) = parse_date(text) else {
        return Some(Message::new(
            format!(
                "“{}”不是有效日期：“{text}”，应为 年-月-日，如 2026-03-01",
                label.zh
            ),
            format!(
                "{} is not a valid date: \"{text}\"; use YYYY-MM-DD, e.g. 2026-03-01",
                label.en
            ),
        ));
    };
    (must_be_past(spec) && date > today).then(|| {
        Message::new(
            format!("“{}”{date} 晚于今天", label.zh),
            format!("{} {date} is in the future", label.en),
        )
    })
}

/// Parses `YYYY-MM-DD` into a real calendar date.
pub fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i16 = parts.next()?.parse().ok()?;
    let month: i8 = parts.next()?.parse().ok()?;
    let day: i8 = parts.next()?.parse().ok()?;
    Date::new(year, month, day).ok()
}
