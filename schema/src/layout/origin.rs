//! Commit messages: what ties a change to the visit it was made in, or to the review item a
//! staff member decided, and how they read back.

use crate::ids::RecordId;
use serde::Serialize;

const VISIT_MESSAGE_PREFIX: &str = "visit ";
const REVIEW_MESSAGE_PREFIX: &str = "review ";

/// The commit message that ties a change to the visit it was made in.
pub fn visit_message(visit: &RecordId) -> String {
    format!("{VISIT_MESSAGE_PREFIX}{visit}")
}

/// The commit message of a staff member's decision on a review item. The comment travels in
/// the document, so the reason for a value stays with the value wherever it is synced.
pub fn review_message(item: &str, comment: Option<&str>) -> String {
    match comment.map(str::trim).filter(|c| !c.is_empty()) {
        Some(comment) => format!("{REVIEW_MESSAGE_PREFIX}{item}\n{comment}"),
        None => format!("{REVIEW_MESSAGE_PREFIX}{item}"),
    }
}

/// Where a change came from, as its commit message says: a visit, or a review decision with
/// its comment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeOrigin {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ChangeOrigin {
    pub fn of_message(message: Option<&str>) -> ChangeOrigin {
        let Some(message) = message else {
            return ChangeOrigin::default();
        };
        if let Some(visit) = message.strip_prefix(VISIT_MESSAGE_PREFIX) {
            return ChangeOrigin {
                visit: Some(visit.to_owned()),
                ..ChangeOrigin::default()
            };
        }
        if let Some(rest) = message.strip_prefix(REVIEW_MESSAGE_PREFIX) {
            let (item, comment) = match rest.split_once('\n') {
                Some((item, comment)) => (item, Some(comment.to_owned())),
                None => (rest, None),
            };
            return ChangeOrigin {
                review: Some(item.to_owned()),
                comment,
                ..ChangeOrigin::default()
            };
        }
        ChangeOrigin::default()
    }
}
