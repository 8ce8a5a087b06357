//! The layout version a document was written with, and the migration hook for older ones.

use super::{LayoutError, SCHEMA_VERSION};
use crate::message::Message;
use crate::shape::{self, VERSION_KEY};
use automerge::transaction::Transactable;
use automerge::{ROOT, ScalarValue, Value};

/// Checks the document's layout version, migrating older layouts in place.
///
/// Version 1 is the first layout, so there is nothing to migrate yet. When version 2 comes,
/// its step goes here: `if version == 1 { upgrade_from_1(doc)?; }`, each step an ordinary
/// Automerge change so that it merges with edits made on devices still on the old layout.
pub fn migrate<T: Transactable>(doc: &mut T) -> Result<u64, LayoutError> {
    let version = match doc.get(ROOT, VERSION_KEY)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Uint(v) => *v,
            ScalarValue::Int(v) => u64::try_from(*v).map_err(|_| LayoutError::BadVersion {
                found: Message::new(format!("负数 {v}"), format!("the negative number {v}")),
            })?,
            other => {
                return Err(LayoutError::BadVersion {
                    found: shape::scalar_name(other),
                });
            }
        },
        Some((value, _)) => {
            return Err(LayoutError::BadVersion {
                found: shape::value_name(&value),
            });
        }
        None => return Err(LayoutError::NotAHousehold),
    };
    if version > SCHEMA_VERSION {
        return Err(LayoutError::TooNew { found: version });
    }
    Ok(version)
}
