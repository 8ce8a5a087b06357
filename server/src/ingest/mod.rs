//! Layer 4, ingest: a device's uploads, from the bytes of a sync request to stored changes.
//!
//! Each household's upload goes through these steps, a batch of households at a time:
//!
//! 1. **parse** (`parse.rs`): the household id and the changes, or a refusal;
//! 2. **read** (`read.rs`): the stored documents, from the cache or their rows, and the
//!    quarantine's changes of the households;
//! 3. **screen and merge** (`merge.rs`): what the device may not write is set aside for
//!    quarantine (`decisions::screen`), the rest merged into the document in memory and
//!    checked, on every core, outside the write order; under it, what another write changed
//!    meanwhile is merged again (ADR 0008);
//! 4. **write** (`write.rs`), under the write order, in one transaction: changes claimed by
//!    another household refused, then the changes, document and register rows stored
//!    (`storage::ledger`);
//! 5. **review refresh**: the review queue brought up to date with the merged households;
//! 6. **forwarding**: late edits of a merged household carried into its survivor;
//! 7. **quarantine holds**: the refused changes stored for staff, with their audit records.
//!
//! Every refusal is decided before anything of its household is written, so a refused
//! household leaves no trace without a savepoint of its own.
//!
//! Ingest may use every layer below it (storage, access, decisions), never `http` or the
//! CLI.

mod merge;
mod outcome;
mod parse;
pub mod photos;
mod read;
pub mod tasks;
mod write;

use crate::access::device_tokens::Device;
use crate::storage::ledger::{Ledger, LedgerError, ToCache};
use merge::Merging;
use schema::wire::{Upload, UploadOutcome};

/// Households applied together: read together, then written together. Bounds the documents
/// a request holds in memory at once.
const HOUSEHOLDS_PER_BATCH: usize = 64;

/// Applies a device's uploads, each household on its own, in batches of households. Each
/// batch is merged in memory first, outside the write order, so the CPU work of one device's
/// sync goes on while another device's batch is written; then it is checked and written in
/// one transaction, one disk flush for the batch. A household that fails leaves the others
/// untouched, and a batch written stays written if a later one fails: a device that sends
/// it all again is told it is already stored.
///
/// `client` is the device's network address, for the audit records of held changes.
pub async fn apply_uploads(
    ledger: &Ledger,
    device: &Device,
    client: &str,
    uploads: &[Upload],
) -> Result<Vec<UploadOutcome>, LedgerError> {
    let mut outcomes = Vec::with_capacity(uploads.len());
    let mut start = 0;
    while start < uploads.len() {
        let end = parse::batch_end(uploads, start);
        let batch = &uploads[start..end];
        let prepared = prepare_batch(ledger, device, batch).await?;
        outcomes.extend(commit_batch(ledger, device, client, batch, prepared).await?);
        start = end;
    }
    Ok(outcomes)
}

/// A batch merged outside the write order, waiting to be written.
struct Prepared {
    /// The refusals decided already, by position in the batch.
    outcomes: Vec<Option<UploadOutcome>>,
    merging: Merging,
}

/// Steps 1 to 3, outside the write order: parses a batch's uploads, reads their documents
/// as stored now, and screens and merges the uploads into them. Nothing is written.
async fn prepare_batch(
    ledger: &Ledger,
    device: &Device,
    uploads: &[Upload],
) -> Result<Prepared, LedgerError> {
    let (parsed, outcomes) = parse::parse_batch(uploads);
    let read = {
        let mut conn = ledger.db().pool.acquire().await?;
        read::read_for_merge(ledger, &mut conn, parsed, None).await?
    };
    let merging = merge::merge_all(ledger, device, read).await?;
    Ok(Prepared { outcomes, merging })
}

/// Steps 3 to 7, holding the write order: merges again any household another write changed
/// since [`prepare_batch`] read it, then writes the batch in one transaction and caches its
/// documents once it commits.
async fn commit_batch(
    ledger: &Ledger,
    device: &Device,
    client: &str,
    uploads: &[Upload],
    prepared: Prepared,
) -> Result<Vec<UploadOutcome>, LedgerError> {
    let mut write = ledger.db().begin_write().await?;
    let merging =
        merge::merge_again_if_changed(ledger, &mut write.tx, device, uploads, prepared.merging)
            .await?;
    let mut to_cache = ToCache::default();
    let outcomes = write::write_batch(
        ledger,
        &mut write.tx,
        device,
        client,
        merging,
        prepared.outcomes,
        &mut to_cache,
    )
    .await?;
    write.commit().await?;
    ledger.cache_all(to_cache);
    Ok(outcomes)
}

#[cfg(test)]
mod tests;
