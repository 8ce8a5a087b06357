//! Whether an uploaded document is the one of the household it is filed under.

use super::LayoutError;
use crate::message::Message;
use crate::shape;
use automerge::{Automerge, ROOT, ReadDoc, Value};

/// Why a document is not the one of household `id`, naming the key at fault:
/// `household.id` missing, not a scalar string, or another household's id, or
/// `household.village` not a scalar string. `None` when it is household `id`'s.
pub fn identity_problem(doc: &Automerge, id: &str) -> Result<Option<Message>, LayoutError> {
    const ID_KEY: &str = "household.id";
    for key in [ID_KEY, "household.village"] {
        match doc.get(ROOT, key)? {
            Some((Value::Scalar(scalar), _)) if scalar.is_str() => {}
            Some((value, _)) => {
                return Ok(Some(shape::wrong_type(key, &shape::value_name(&value))));
            }
            // A household without a village is the village check's to refuse.
            None if key != ID_KEY => {}
            None => {
                return Ok(Some(Message::new(
                    format!("上传的数据没有“{ID_KEY}”，不是户“{id}”的档案；见 docs/LAYOUT.md"),
                    format!(
                        "The uploaded data has no \"{ID_KEY}\", so it is not the document of household \"{id}\"; see docs/LAYOUT.md"
                    ),
                )));
            }
        }
    }
    let found = match doc.get(ROOT, ID_KEY)? {
        Some((Value::Scalar(scalar), _)) => scalar.as_str().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    if found == id {
        return Ok(None);
    }
    let found: String = found.chars().take(80).collect();
    Ok(Some(Message::new(
        format!("上传的数据中“{ID_KEY}”为“{found}”，不是户“{id}”的档案"),
        format!(
            "The uploaded data's \"{ID_KEY}\" is \"{found}\", so it is not the document of household \"{id}\""
        ),
    )))
}
