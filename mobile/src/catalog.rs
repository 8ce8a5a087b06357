//! The field catalog and the code lists, read once by the UI to label fields and fill
//! pickers. They are the same static tables validation uses (`schema::fields::CATALOG`).

use crate::household::Bilingual;
use schema::Message;
use schema::codes::{Code, CodeList};
use schema::fields::{CATALOG, Entity, FieldKind};
use std::collections::HashSet;

/// A code a picker offers.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Choice {
    pub code: String,
    pub label: Bilingual,
}

/// How a field is entered.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum InputKind {
    Text,
    /// One code; the current list first, then any code only an older list has. Each code
    /// is offered once.
    Code {
        choices: Vec<Choice>,
    },
    /// Several codes (a multi-select).
    Codes {
        choices: Vec<Choice>,
    },
    Integer {
        min: i64,
        max: i64,
    },
    Decimal {
        min: f64,
        max: f64,
    },
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// Seconds since 1970.
    Timestamp,
    IdNumber,
    /// An administrative area code: 2, 4, 6, 9 or 12 digits.
    AreaCode,
}

/// Which kind of record a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordKind {
    Household,
    Member,
    Visit,
    Training,
    Subsidy,
    /// A photo's reference: written by `attach_photo`, never typed.
    Photo,
    Task,
}

/// One field of the catalog.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldSpec {
    pub record: RecordKind,
    /// The name within its record (`employment.status`), as in `FieldEntry::name`.
    pub name: String,
    pub label: Bilingual,
    pub kind: InputKind,
    /// Written by the system; the UI shows it but offers no input.
    pub system: bool,
}

/// Every field a household can hold, with its label and how it is entered.
#[uniffi::export]
pub fn field_catalog() -> Vec<FieldSpec> {
    CATALOG
        .iter()
        .map(|spec| FieldSpec {
            record: match spec.entity {
                Entity::Household => RecordKind::Household,
                Entity::Member => RecordKind::Member,
                Entity::Visit => RecordKind::Visit,
                Entity::Training => RecordKind::Training,
                Entity::Subsidy => RecordKind::Subsidy,
                Entity::Photo => RecordKind::Photo,
                Entity::Task => RecordKind::Task,
            },
            name: spec.name.to_owned(),
            label: spec.label().into(),
            kind: match spec.kind {
                FieldKind::Text => InputKind::Text,
                FieldKind::Code(lists) => InputKind::Code {
                    choices: choices(lists),
                },
                FieldKind::Codes(list) => InputKind::Codes {
                    choices: choices(&[list]),
                },
                FieldKind::Integer { min, max } => InputKind::Integer { min, max },
                FieldKind::Decimal { min, max } => InputKind::Decimal { min, max },
                FieldKind::Boolean => InputKind::Boolean,
                FieldKind::Date => InputKind::Date,
                FieldKind::Timestamp => InputKind::Timestamp,
                FieldKind::IdNumber => InputKind::IdNumber,
                FieldKind::AreaCode => InputKind::AreaCode,
            },
            system: spec.system,
        })
        .collect()
}

/// The outcomes a visit can finish with.
#[uniffi::export]
pub fn visit_outcomes() -> Vec<Choice> {
    choices(&[&schema::codes::VISIT_OUTCOME])
}

/// The codes of the lists, in order, each once. A field that accepts an older list beside
/// the current one (the 2016 labour capacities, the first poverty attributes) shares most
/// codes with it: the code keeps its place and label in the first list that has it, so a
/// picker never shows one choice twice.
fn choices(lists: &[&CodeList]) -> Vec<Choice> {
    let mut offered = HashSet::new();
    lists
        .iter()
        .flat_map(|list| list.codes)
        .filter(|code| offered.insert(code.code))
        .map(choice)
        .collect()
}

fn choice(code: &Code) -> Choice {
    Choice {
        code: code.code.to_owned(),
        label: Message::new(code.zh, code.en).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The choices a picker for the field `name` of a record offers.
    fn picker(record: RecordKind, name: &str) -> Vec<Choice> {
        let spec = field_catalog()
            .into_iter()
            .find(|spec| spec.record == record && spec.name == name)
            .unwrap_or_else(|| panic!("no field {name}"));
        match spec.kind {
            InputKind::Code { choices } | InputKind::Codes { choices } => choices,
            other => panic!("{name} is {other:?}"),
        }
    }

    fn codes(choices: &[Choice]) -> Vec<&str> {
        choices.iter().map(|choice| choice.code.as_str()).collect()
    }

    #[test]
    fn test_no_picker_offers_a_code_twice() {
        for spec in field_catalog() {
            let (InputKind::Code { choices } | InputKind::Codes { choices }) = &spec.kind else {
                continue;
            };
            let mut seen = HashSet::new();
            for choice in choices {
                assert!(
                    seen.insert(choice.code.as_str()),
                    "{} offers {} twice",
                    spec.name,
                    choice.code
                );
            }
        }
    }

    #[test]
    fn test_poverty_attribute_offers_each_of_both_lists_codes_once() {
        let choices = picker(RecordKind::Household, "poverty_attribute");
        assert_eq!(
            codes(&choices),
            ["01", "02", "03", "04", "05", "06", "07", "08", "09"]
        );
        let ordinary: Vec<&Choice> = choices
            .iter()
            .filter(|choice| choice.label.zh == "一般贫困户")
            .collect();
        assert_eq!(ordinary.len(), 1);
        assert_eq!(ordinary[0].code, "01");
    }

    #[test]
    fn test_labour_capacity_offers_the_current_list_once_in_its_order() {
        let choices = picker(RecordKind::Member, "labour_capacity");
        assert_eq!(codes(&choices), ["01", "02", "05", "03", "04"]);
    }

    #[test]
    fn test_a_code_only_an_older_list_has_follows_the_current_list() {
        static CURRENT: CodeList = CodeList {
            name: "current",
            zh: "现行",
            en: "Current",
            codes: &[
                Code {
                    code: "01",
                    zh: "甲",
                    en: "A",
                },
                Code {
                    code: "03",
                    zh: "丙",
                    en: "C",
                },
            ],
            proposed: false,
        };
        static OLDER: CodeList = CodeList {
            name: "older",
            zh: "旧",
            en: "Older",
            codes: &[
                Code {
                    code: "01",
                    zh: "甲（旧）",
                    en: "A (old)",
                },
                Code {
                    code: "02",
                    zh: "乙",
                    en: "B",
                },
                Code {
                    code: "03",
                    zh: "丙",
                    en: "C",
                },
            ],
            proposed: false,
        };
        let choices = choices(&[&CURRENT, &OLDER]);
        assert_eq!(codes(&choices), ["01", "03", "02"]);
        assert_eq!(choices[0].label.zh, "甲", "the current list's label wins");
    }

    #[test]
    fn test_visit_outcomes_are_the_visit_outcome_list() {
        assert_eq!(
            codes(&visit_outcomes()),
            schema::codes::VISIT_OUTCOME
                .codes
                .iter()
                .map(|code| code.code)
                .collect::<Vec<_>>()
        );
    }
}
