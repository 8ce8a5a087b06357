//! `doorstep-field sync`: runs the sync client, showing progress on stderr.

use crate::failure::Failure;
use client_core::Store;
use client_core::photo::{self, DEFAULT_CHUNK_BYTES, UploadReport};
use client_core::sync::{self, HttpTransport, SyncError, SyncReport};
use std::io::Write;
use std::sync::atomic::AtomicBool;

/// Enrolls the store; a refusal is the volunteer's to fix (a mistyped or spent code).
pub fn enroll(
    store: &Store,
    code: &str,
    server: Option<&str>,
    device_name: Option<&str>,
) -> Result<sync::Enrollment, Failure> {
    sync::enroll(store, server, code, device_name).map_err(|error| match error {
        SyncError::Store(_) | SyncError::Server { .. } => Failure::Input(error.message()),
        other => Failure::Other(other.message()),
    })
}

pub fn run(store: &Store, page_bytes: u32, err: &mut dyn Write) -> Result<SyncReport, Failure> {
    let transport = HttpTransport::default();
    let never = AtomicBool::new(false);
    let result = sync::sync(store, &transport, page_bytes, &never, &mut |progress| {
        // Progress is a courtesy; a closed stderr must not stop the sync.
        let _ = writeln!(
            err,
            "第 {} 轮 round {}: 已上传 uploaded {}/{} 户, 已接收 received {} 户, ↑{} B ↓{} B",
            progress.round,
            progress.round,
            progress.households_uploaded,
            progress.households_to_upload,
            progress.updates_received,
            progress.bytes_sent,
            progress.bytes_received,
        );
    });
    result.map_err(|error| match error {
        SyncError::NotConnected => Failure::Input(error.message()),
        other => Failure::Other(other.message()),
    })
}

/// Uploads the photos attached here, after the data, with progress on stderr.
pub fn upload_photos(store: &Store, err: &mut dyn Write) -> Result<UploadReport, Failure> {
    let transport = HttpTransport::default();
    let never = AtomicBool::new(false);
    photo::upload_photos(
        store,
        &transport,
        DEFAULT_CHUNK_BYTES,
        &never,
        &mut |report| {
            let _ = writeln!(
                err,
                "照片 photos: 已上传 uploaded {}, 服务器已有 already there {}, ↑{} B",
                report.uploaded, report.already_held, report.bytes_sent,
            );
        },
    )
    .map_err(|error| match error {
        SyncError::NotConnected => Failure::Input(error.message()),
        other => Failure::Other(other.message()),
    })
}
