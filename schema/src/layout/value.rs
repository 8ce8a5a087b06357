//! A field's value: read from what a person typed, shown back to them, and stored as one
//! Automerge scalar.

use crate::codes::CodeList;
use crate::fields::FieldKind;
use crate::message::Message;
use automerge::ScalarValue;
use serde::Serialize;
use std::collections::BTreeSet;

/// The value of one field. Whatever a volunteer typed is kept, even when it does not fit the
/// field's kind: it is then stored as text and validation reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    Text(String),
    Integer(i64),
    Decimal(f64),
    Boolean(bool),
    Codes(BTreeSet<String>),
}

impl FieldValue {
    /// Reads what a person typed for a field of this kind. Empty input means "clear the
    /// field" and gives `None`. Input that does not fit the kind is kept as text.
    pub fn from_input(kind: FieldKind, input: &str) -> Option<FieldValue> {
        let text = input.trim();
        if text.is_empty() {
            return None;
        }
        let value = match kind {
            FieldKind::Text | FieldKind::Code(_) | FieldKind::Date | FieldKind::AreaCode => {
                FieldValue::Text(text.to_owned())
            }
            FieldKind::IdNumber => FieldValue::Text(text.to_uppercase()),
            FieldKind::Integer { .. } | FieldKind::Timestamp => text
                .parse()
                .map(FieldValue::Integer)
                .unwrap_or_else(|_| FieldValue::Text(text.to_owned())),
            FieldKind::Decimal { .. } => text
                .parse()
                .map(FieldValue::Decimal)
                .unwrap_or_else(|_| FieldValue::Text(text.to_owned())),
            FieldKind::Boolean => match text.to_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "是" => FieldValue::Boolean(true),
                "false" | "no" | "n" | "0" | "否" => FieldValue::Boolean(false),
                _ => FieldValue::Text(text.to_owned()),
            },
            FieldKind::Codes(_) => {
                let codes: BTreeSet<String> = text
                    .split([',', '，', '、', ' ', '\u{3000}'])
                    .map(str::trim)
                    .filter(|code| !code.is_empty())
                    .map(str::to_owned)
                    .collect();
                // Each code becomes part of a document key, so one holding the path
                // separator cannot be stored as a code; keep the input as text instead,
                // for validation to report.
                if codes.iter().any(|code| code.contains('.')) {
                    FieldValue::Text(text.to_owned())
                } else {
                    FieldValue::Codes(codes)
                }
            }
        };
        Some(value)
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            FieldValue::Integer(number) => Some(*number),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Boolean(flag) => Some(*flag),
            _ => None,
        }
    }

    pub fn as_codes(&self) -> Option<&BTreeSet<String>> {
        match self {
            FieldValue::Codes(codes) => Some(codes),
            _ => None,
        }
    }

    /// The value as a person would type it back.
    pub fn display(&self) -> String {
        match self {
            FieldValue::Text(text) => text.clone(),
            FieldValue::Integer(number) => number.to_string(),
            FieldValue::Decimal(number) => number.to_string(),
            FieldValue::Boolean(flag) => flag.to_string(),
            FieldValue::Codes(codes) => codes.iter().cloned().collect::<Vec<_>>().join(","),
        }
    }

    /// The value as a clerk reads it: codes with their labels, yes/no for flags.
    pub fn readable(&self, kind: FieldKind) -> Message {
        let code_label = |lists: &[&CodeList], code: &str| {
            lists
                .iter()
                .find_map(|list| list.label(code))
                .map(|label| {
                    Message::new(
                        format!("{}（{code}）", label.zh),
                        format!("{} ({code})", label.en),
                    )
                })
                .unwrap_or_else(|| Message::new(code, code))
        };
        match (self, kind) {
            (FieldValue::Text(code), FieldKind::Code(lists)) => code_label(lists, code),
            (FieldValue::Codes(codes), FieldKind::Codes(list)) => {
                let labels: Vec<Message> = codes.iter().map(|c| code_label(&[list], c)).collect();
                Message::new(
                    labels
                        .iter()
                        .map(|m| m.zh.as_str())
                        .collect::<Vec<_>>()
                        .join("、"),
                    labels
                        .iter()
                        .map(|m| m.en.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }
            (FieldValue::Boolean(true), _) => Message::new("是", "yes"),
            (FieldValue::Boolean(false), _) => Message::new("否", "no"),
            (other, _) => {
                let text = other.display();
                Message::new(text.clone(), text)
            }
        }
    }

    pub(super) fn from_scalar(scalar: &ScalarValue) -> FieldValue {
        match scalar {
            ScalarValue::Str(text) => FieldValue::Text(text.to_string()),
            ScalarValue::Int(number) | ScalarValue::Timestamp(number) => {
                FieldValue::Integer(*number)
            }
            ScalarValue::Uint(number) => {
                FieldValue::Integer(i64::try_from(*number).unwrap_or(i64::MAX))
            }
            ScalarValue::F64(number) => FieldValue::Decimal(*number),
            ScalarValue::Boolean(flag) => FieldValue::Boolean(*flag),
            other => FieldValue::Text(other.to_string()),
        }
    }

    pub(super) fn to_scalar(&self) -> ScalarValue {
        match self {
            FieldValue::Text(text) => ScalarValue::Str(text.as_str().into()),
            FieldValue::Integer(number) => ScalarValue::Int(*number),
            FieldValue::Decimal(number) => ScalarValue::F64(*number),
            FieldValue::Boolean(flag) => ScalarValue::Boolean(*flag),
            FieldValue::Codes(codes) => {
                ScalarValue::Str(codes.iter().cloned().collect::<Vec<_>>().join(",").into())
            }
        }
    }
}
