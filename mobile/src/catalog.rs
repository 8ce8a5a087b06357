//! The field catalog and the code lists, read once by the UI to label fields and fill
//! pickers. They are the same static tables validation uses (`schema::fields::CATALOG`).

use crate::household::Bilingual;
use schema::Message;
use schema::codes::CodeList;
use schema::fields::{CATALOG, Entity, FieldKind};

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
    /// One code; the current list first, older lists after.
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
}

/// Which kind of record a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordKind {
    Household,
    Member,
    Visit,
    Training,
    Subsidy,
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
            },
            name: spec.name.to_owned(),
            label: spec.label().into(),
            kind: match spec.kind {
                FieldKind::Text => InputKind::Text,
                FieldKind::Code(lists) => InputKind::Code {
                    choices: lists.iter().flat_map(|list| choices(list)).collect(),
                },
                FieldKind::Codes(list) => InputKind::Codes {
                    choices: choices(list),
                },
                FieldKind::Integer { min, max } => InputKind::Integer { min, max },
                FieldKind::Decimal { min, max } => InputKind::Decimal { min, max },
                FieldKind::Boolean => InputKind::Boolean,
                FieldKind::Date => InputKind::Date,
                FieldKind::Timestamp => InputKind::Timestamp,
                FieldKind::IdNumber => InputKind::IdNumber,
            },
            system: spec.system,
        })
        .collect()
}

/// The outcomes a visit can finish with.
#[uniffi::export]
pub fn visit_outcomes() -> Vec<Choice> {
    choices(&schema::codes::VISIT_OUTCOME)
}

fn choices(list: &CodeList) -> Vec<Choice> {
    list.codes
        .iter()
        .map(|code| Choice {
            code: code.code.to_owned(),
            label: Message::new(code.zh, code.en).into(),
        })
        .collect()
}
