//! What a device is told about each household it uploaded.

use automerge::{AutoCommit, ChangeHash};
use schema::Message;
use schema::wire::{Bytes, RejectCode, UploadOutcome};

/// Accepted: the server's heads of the household, which the device counts as confirmed.
pub(super) fn accepted(doc: &mut AutoCommit) -> UploadOutcome {
    UploadOutcome::Accepted {
        heads: doc
            .get_heads()
            .iter()
            .map(|hash: &ChangeHash| Bytes::from(hash.as_ref().to_vec()))
            .collect(),
    }
}

pub(super) fn rejected(code: RejectCode, reason: Message) -> UploadOutcome {
    UploadOutcome::Rejected { code, reason }
}

pub(super) fn out_of_scope(village: &str) -> UploadOutcome {
    rejected(
        RejectCode::OutOfScope,
        Message::new(
            format!("该户属于村 {village}，不在本设备负责的村内，未上传；数据仍保留在本机"),
            format!(
                "This household belongs to village {village}, which is not assigned to this device; it was not uploaded and stays on the device"
            ),
        ),
    )
}

/// An upload carrying changes stored, or held, for another household.
pub(super) fn of_another_household() -> UploadOutcome {
    rejected(
        RejectCode::Invalid,
        Message::new(
            "上传的修改属于另一户的档案",
            "The uploaded changes belong to another household's document",
        ),
    )
}
