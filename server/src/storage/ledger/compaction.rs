//! Background compaction: folding documents whose change rows piled up into new snapshots.

use super::rows::document_row;
use super::{COMPACT_AFTER_CHANGES, Ledger, LedgerError};
use sqlx::Row;

impl Ledger {
    /// Folds documents with many change rows into new snapshots, so loading a document
    /// reads one snapshot and a few rows. The rows stay: they are the feed that devices
    /// catch up from. (Pruning rows older than every device's cursor, with a fresh first
    /// download for a device that falls behind, is left for later.)
    pub async fn compact(&self) -> Result<usize, LedgerError> {
        let candidates = sqlx::query(
            "SELECT household_id FROM document WHERE changes_after_snapshot >= $1 LIMIT 100",
        )
        .bind(COMPACT_AFTER_CHANGES)
        .fetch_all(&self.db.pool)
        .await?;
        let mut compacted = 0;
        for row in candidates {
            let household: String = row.try_get("household_id")?;
            let mut write = self.db.begin_write().await?;
            let Some(current) = document_row(&mut write.tx, &household).await? else {
                continue;
            };
            let mut doc = self.load(&mut write.tx, &household, &current).await?;
            sqlx::query(
                "UPDATE document SET snapshot = $2, snapshot_feed = $3, changes_after_snapshot = 0
                 WHERE household_id = $1",
            )
            .bind(&household)
            .bind(self.vault.seal(&doc.save()))
            .bind(current.last_feed)
            .execute(&mut *write.tx)
            .await?;
            write.commit().await?;
            self.put_cached(&household, doc, current.last_feed);
            compacted += 1;
        }
        Ok(compacted)
    }
}
