//! The errors of staff decisions: a change-maker's, and a review workflow's.

use crate::storage::ledger::LedgerError;
use schema::Message;
use schema::layout;

/// Why a decision cannot be made. Each is the staff member's to fix, so each says how.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("{}", .0.en)]
    Refused(Message),
    #[error("{}", .0.en)]
    Stale(Message),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("layout: {0}")]
    Layout(#[from] layout::LayoutError),
}

impl DecisionError {
    pub fn message(&self) -> Message {
        match self {
            DecisionError::Refused(message) | DecisionError::Stale(message) => message.clone(),
            DecisionError::Automerge(err) => Message::new(
                format!("档案数据无法修改：{err}"),
                format!("The document cannot be changed: {err}"),
            ),
            DecisionError::Layout(err) => err.message(),
        }
    }
}

/// Why a review workflow failed: the item, household or member is not there (or not in the
/// staff member's area), the decision is refused, or it was made on a stale view.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{}", .0.en)]
    NotFound(Message),
    #[error("{}", .0.en)]
    Refused(Message),
    #[error("{}", .0.en)]
    Stale(Message),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<DecisionError> for ReviewError {
    fn from(err: DecisionError) -> Self {
        match err {
            DecisionError::Stale(message) => ReviewError::Stale(message),
            other => ReviewError::Refused(other.message()),
        }
    }
}
