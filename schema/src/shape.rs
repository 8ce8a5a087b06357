//! The Automerge type the layout stores at each root key, and the words a refusal uses to
//! name what it expected and what it found.
//!
//! A client written from `docs/LAYOUT.md` rather than from this code can get a type wrong:
//! the JavaScript binding makes a plain string a Text object, a `Date` a timestamp. The
//! server refuses such a document, and its reason names the key, the type the layout
//! stores there and the type it found, so that the client's author can fix it from the
//! reason alone.

use crate::fields::{FieldKind, FieldPath};
use crate::message::Message;
use automerge::{ObjType, ScalarValue, Value};

/// The root key of the layout version.
pub(crate) const VERSION_KEY: &str = "schema_version";
/// What a document's `schema_version` holds: the oldest layout that reads it without losing
/// or misreading anything, which is what a reader checks it knows (ADR 0009).
///
/// Layout 2 only added fields. A layout-1 reader keeps a key it does not know as it is and
/// never writes it, so documents written now are still readable by layout 1, and still say
/// 1: a phone on layout 1 refuses a document that says 2 (`LayoutError::TooNew`), and would
/// stop syncing at the first household a newer phone touched. Only a change an older reader
/// would misread (a field whose meaning changes, a key that moves) raises this number.
pub const READABLE_FROM: u64 = 1;
/// The root keys naming who wrote with an actor: `actors.<actor hex>.<device|volunteer|staff>`.
pub(crate) const ACTORS_PREFIX: &str = "actors.";

/// Keys quoted in a reason are cut to this many characters.
const QUOTED_KEY_CHARS: usize = 80;

/// The value the layout stores at a root key, in words; `None` for a key that is not the
/// layout's.
pub fn expected_at(key: &str) -> Option<Message> {
    if key == VERSION_KEY {
        let version = READABLE_FROM;
        return Some(Message::new(
            format!("无符号整数 {version}（uint）"),
            format!("the unsigned integer {version} (uint)"),
        ));
    }
    if let Some(rest) = key.strip_prefix(ACTORS_PREFIX) {
        let (_, name) = rest.split_once('.')?;
        return matches!(name, "device" | "volunteer" | "staff").then(scalar_string);
    }
    let kind = match FieldPath::parse(key) {
        Ok(path) if path.to_string() == key => path.spec().kind,
        _ => {
            // One code of a multi-select: `household.causes.07`.
            let (set, code) = key.rsplit_once('.')?;
            let path = FieldPath::parse(set).ok()?;
            let is_set = matches!(path.spec().kind, FieldKind::Codes(_));
            return (is_set && !code.is_empty() && path.to_string() == set).then(|| {
                Message::new(
                    "布尔值 true（多选的每个代码一个键）",
                    "the boolean true (one key per chosen code)",
                )
            });
        }
    };
    Some(match kind {
        FieldKind::Text
        | FieldKind::Code(_)
        | FieldKind::Date
        | FieldKind::IdNumber
        | FieldKind::AreaCode => scalar_string(),
        FieldKind::Integer { .. } => Message::new("整数（int）", "an integer (int)"),
        FieldKind::Timestamp => Message::new(
            "整数（int），自 1970 年起的秒数",
            "an integer (int) of seconds since 1970",
        ),
        FieldKind::Decimal { .. } => Message::new("浮点数（f64）", "a float (f64)"),
        FieldKind::Boolean => Message::new("布尔值", "a boolean"),
        FieldKind::Codes(_) => Message::new(
            "不在此键：每个选中的代码一个键 <字段>.<代码>，值为 true",
            "nothing at this key: one key per chosen code, <field>.<code>, holding true",
        ),
    })
}

fn scalar_string() -> Message {
    Message::new(
        "标量字符串（str，不是 Text 对象）",
        "a scalar string (str, not a Text object)",
    )
}

/// An Automerge object type, in words.
pub fn object_name(object: ObjType) -> Message {
    match object {
        ObjType::Text => Message::new("Text 对象", "a Text object"),
        ObjType::Map => Message::new("映射对象（map）", "a map object"),
        ObjType::Table => Message::new("表对象（table）", "a table object"),
        ObjType::List => Message::new("列表对象（list）", "a list object"),
    }
}

/// An Automerge scalar's type, in words.
pub fn scalar_name(scalar: &ScalarValue) -> Message {
    match scalar {
        ScalarValue::Str(_) => Message::new("字符串（str）", "a string (str)"),
        ScalarValue::Int(_) => Message::new("整数（int）", "an integer (int)"),
        ScalarValue::Uint(_) => Message::new("无符号整数（uint）", "an unsigned integer (uint)"),
        ScalarValue::F64(_) => Message::new("浮点数（f64）", "a float (f64)"),
        ScalarValue::Boolean(_) => Message::new("布尔值", "a boolean"),
        ScalarValue::Timestamp(_) => Message::new("时间戳（timestamp）", "a timestamp"),
        ScalarValue::Counter(_) => Message::new("计数器（counter）", "a counter"),
        ScalarValue::Bytes(_) => Message::new("字节串（bytes）", "bytes"),
        ScalarValue::Null => Message::new("空值（null）", "null"),
        ScalarValue::Unknown { .. } => Message::new("未知类型的值", "a value of an unknown type"),
    }
}

/// Any Automerge value's type, in words.
pub fn value_name(value: &Value<'_>) -> Message {
    match value {
        Value::Object(object) => object_name(*object),
        Value::Scalar(scalar) => scalar_name(scalar),
    }
}

/// A refusal of `found` at `key`: which key, what the layout stores there, what was found.
pub fn wrong_type(key: &str, found: &Message) -> Message {
    let expected = expected_at(key);
    // A hostile key can be long; the reason quotes its start.
    let mut quoted: String = key.chars().take(QUOTED_KEY_CHARS).collect();
    if quoted.len() < key.len() {
        quoted.push('…');
    }
    let key = quoted;
    match expected {
        Some(expected) => Message::new(
            format!(
                "“{key}”应为{}，但实为{}；见 docs/LAYOUT.md",
                expected.zh, found.zh
            ),
            format!(
                "\"{key}\" must hold {}, but it holds {}; see docs/LAYOUT.md",
                expected.en, found.en
            ),
        ),
        None => Message::new(
            format!(
                "“{key}”处写入了{}；户档案只有平铺的字段，每个字段是一个标量值；见 docs/LAYOUT.md",
                found.zh
            ),
            format!(
                "\"{key}\" holds {}; a household document holds only flat fields, each a plain value; see docs/LAYOUT.md",
                found.en
            ),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_every_kind_of_key_has_its_expected_type() {
        let expected = |key: &str| expected_at(key).map(|m| m.en);
        assert_eq!(
            expected("household.address").unwrap(),
            "a scalar string (str, not a Text object)"
        );
        assert!(
            expected("household.created_at")
                .unwrap()
                .contains("seconds")
        );
        assert!(
            expected("visits.0011223344556677.gps.lat")
                .unwrap()
                .contains("f64")
        );
        assert!(expected("household.causes.07").unwrap().contains("true"));
        assert!(expected("schema_version").unwrap().contains("uint"));
        assert!(
            expected("actors.00ff.device")
                .unwrap()
                .contains("scalar string")
        );
        assert_eq!(expected("household.nickname"), None);
        assert_eq!(expected("household"), None);
    }

    /// docs/LAYOUT.md is what clients that are not ours are written from: it must list
    /// every field of the catalog, with the Automerge type the layout stores.
    #[test]
    fn test_layout_md_lists_every_field_with_its_automerge_type() {
        use crate::fields::{CATALOG, Entity};
        let doc = include_str!("../../docs/LAYOUT.md");
        for spec in CATALOG {
            let key = match spec.entity {
                Entity::Household => format!("household.{}", spec.name),
                Entity::Member => format!("members.<key>.{}", spec.name),
                entity => format!("{}.<id>.{}", entity.prefix(), spec.name),
            };
            // The table "Every field" closes the document.
            let row = doc
                .lines()
                .rev()
                .find(|line| line.starts_with(&format!("| `{key}` |")))
                .unwrap_or_else(|| panic!("docs/LAYOUT.md has no row for {key}"));
            let stored = row.rsplit('|').nth(1).unwrap_or_default();
            let wanted = match spec.kind {
                FieldKind::Text
                | FieldKind::Code(_)
                | FieldKind::Date
                | FieldKind::IdNumber
                | FieldKind::AreaCode => "`str`",
                FieldKind::Integer { .. } => "`int`",
                FieldKind::Timestamp => "`int` seconds",
                FieldKind::Decimal { .. } => "`f64`",
                FieldKind::Boolean => "boolean",
                FieldKind::Codes(_) => "= `true`",
            };
            assert!(stored.contains(wanted), "{key}: {row} (wanted {wanted})");
            let since = row.split('|').nth(3).unwrap_or_default().trim();
            assert_eq!(since, spec.since.to_string(), "{key}: {row} (since)");
        }
    }

    #[test]
    fn test_a_wrong_type_names_the_key_what_it_must_hold_and_what_it_holds() {
        let reason = wrong_type("household.address", &object_name(ObjType::Text));
        assert!(reason.en.contains("\"household.address\""), "{reason}");
        assert!(reason.en.contains("scalar string"), "{reason}");
        assert!(
            reason
                .en
                .ends_with("but it holds a Text object; see docs/LAYOUT.md"),
            "{reason}"
        );
        assert!(reason.zh.contains("household.address") && reason.zh.contains("Text 对象"));
        let elsewhere = wrong_type("notes", &object_name(ObjType::Map));
        assert!(
            elsewhere.en.contains("\"notes\" holds a map object"),
            "{elsewhere}"
        );
    }
}
