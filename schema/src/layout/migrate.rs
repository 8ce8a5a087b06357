//! The layout version a document was written with, and the migration hook for older ones.

use super::{LayoutError, SCHEMA_VERSION};
use crate::message::Message;
#[cfg(doc)]
use crate::shape::READABLE_FROM;
use crate::shape::{self, VERSION_KEY};
use automerge::transaction::Transactable;
use automerge::{ROOT, ScalarValue, Value};

/// Checks that this code reads the document's layout, migrating older layouts in place, and
/// returns the version the document says.
///
/// The version a document holds is the oldest layout that reads it ([`READABLE_FROM`]), so
/// this code reads every version up to its own [`SCHEMA_VERSION`] and refuses a higher one.
/// Layouts 2 and 3 only added fields, and an older document is a newer one without them:
/// there is no step to take. A layout that changes what a key means will need one here,
/// `if version < N { upgrade(doc)?; }`, an ordinary Automerge change that merges with edits
/// made on devices still on the old layout (ADR 0009 says what else it needs first).
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
