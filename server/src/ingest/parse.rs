//! Step 1: an upload's household id and changes, parsed, or refused; and where a batch
//! ends.

use super::HOUSEHOLDS_PER_BATCH;
use super::outcome::rejected;
use automerge::Change;
use schema::Message;
use schema::ids::HouseholdId;
use schema::wire::{RejectCode, Upload, UploadOutcome};
use std::collections::HashSet;

/// An upload that parsed: its position in the batch, its household and its changes.
pub(super) struct ParsedUpload {
    pub(super) index: usize,
    pub(super) household: HouseholdId,
    pub(super) changes: Vec<Change>,
}

/// Where the batch that starts at `start` ends: at most [`HOUSEHOLDS_PER_BATCH`] uploads, and
/// before a household the batch already holds, which must see the first one written.
pub(super) fn batch_end(uploads: &[Upload], start: usize) -> usize {
    let mut seen = HashSet::new();
    let mut end = start;
    while end < uploads.len()
        && end - start < HOUSEHOLDS_PER_BATCH
        && seen.insert(uploads[end].household.as_str())
    {
        end += 1;
    }
    end
}

/// Parses a batch's uploads: those that parse, and for the others, at their position, the
/// refusal.
pub(super) fn parse_batch(uploads: &[Upload]) -> (Vec<ParsedUpload>, Vec<Option<UploadOutcome>>) {
    let mut outcomes: Vec<Option<UploadOutcome>> = uploads.iter().map(|_| None).collect();
    let mut parsed = Vec::new();
    for (index, upload) in uploads.iter().enumerate() {
        match parse_upload(index, upload) {
            Ok(upload) => parsed.push(upload),
            Err(rejection) => outcomes[index] = Some(rejection),
        }
    }
    (parsed, outcomes)
}

/// Parses an upload's household id and changes, or refuses it.
pub(super) fn parse_upload(index: usize, upload: &Upload) -> Result<ParsedUpload, UploadOutcome> {
    let Ok(household) = HouseholdId::parse(&upload.household) else {
        return Err(rejected(
            RejectCode::Invalid,
            Message::new("户标识无效", "Invalid household id"),
        ));
    };
    let changes = upload
        .changes
        .iter()
        .map(|bytes| Change::from_bytes(bytes.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            rejected(
                RejectCode::Invalid,
                Message::new(
                    format!("上传的修改已损坏：{err}"),
                    format!("The uploaded changes are damaged: {err}"),
                ),
            )
        })?;
    Ok(ParsedUpload {
        index,
        household,
        changes,
    })
}
