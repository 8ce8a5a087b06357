//! The write and refresh steps every decision shares.

use crate::decisions::review;
use crate::storage::ledger::{Ledger, LedgerError};
use automerge::{AutoCommit, Change};
use sqlx::AnyConnection;

/// Stores changes the server made to a household (`Ledger::apply_server_changes`), then
/// brings the household's review items up to date with it, in the caller's transaction.
pub async fn store_and_refresh(
    ledger: &Ledger,
    conn: &mut AnyConnection,
    household: &str,
    village: &str,
    doc: &mut AutoCommit,
    changes: Vec<Change>,
) -> Result<(), LedgerError> {
    let Some(written) = ledger
        .apply_server_changes(conn, household, village, doc, changes)
        .await?
    else {
        return Ok(());
    };
    let subject = review::Subject {
        household,
        village,
        view: &written.view,
        issues: &written.issues,
    };
    review::refresh(conn, ledger.vault(), subject, ledger.clock().now_seconds()).await?;
    Ok(())
}
