//! Uploading the photos attached on this phone, after the document sync has put their
//! references on the server (`docs/PROTOCOL.md`, Photos). Each photo is asked about first,
//! and nothing is sent for one the server holds, whoever sent it; otherwise it goes in
//! chunks from the byte the server confirmed, so a cut loses at most the chunk in flight
//! and the next attempt, in this sync or the next, goes on from there.

use crate::store::{PendingPhoto, Store};
use crate::sync::{SyncError, credentials, refusal};
use crate::transport::{Transport, TransportError};
use schema::error_code::ErrorCode;
use schema::photo::{MAX_CHUNK_BYTES, UploadStatus};
use schema::wire::ErrorBody;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// The chunk a phone sends unless told otherwise: on 2G (a few KB/s) about ten seconds.
pub const DEFAULT_CHUNK_BYTES: u64 = 64 * 1024;

/// The largest status answer read.
const MAX_STATUS_BYTES: u64 = 64 * 1024;

/// What an upload run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UploadReport {
    /// Photos this run finished sending.
    pub uploaded: usize,
    /// Photos the server already held (sent earlier, or by another phone): nothing sent.
    pub already_held: usize,
    /// Photos whose household's reference the server does not have yet: left for the
    /// next sync.
    pub waiting: usize,
    /// Photos the server refused (not an image, too large…): not sent again.
    pub refused: usize,
    /// Photo bytes sent, chunks cut off on the way counted too.
    pub bytes_sent: u64,
    /// Requests made (status questions and chunks).
    pub requests: u64,
}

/// How one photo's upload ended.
enum Outcome {
    Uploaded,
    AlreadyHeld,
    Waiting,
    Refused,
}

/// The `received` a refusal may carry (`upload_offset`).
#[derive(Deserialize)]
struct Received {
    received: Option<u64>,
}

/// Uploads every photo attached here that the server has not confirmed, `chunk_bytes` at
/// a time (at most `MAX_CHUNK_BYTES`). A failed link stops the run with its error; what
/// the server confirmed is kept, and the next run resumes from it. `progress` hears the
/// report after each request; `cancel` is checked between them.
pub fn upload_photos(
    store: &Store,
    transport: &dyn Transport,
    chunk_bytes: u64,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&UploadReport),
) -> Result<UploadReport, SyncError> {
    let (server, token) = credentials(store)?;
    let chunk_bytes = chunk_bytes.clamp(1, MAX_CHUNK_BYTES);
    let mut report = UploadReport::default();
    for pending in store.photos_to_upload()? {
        let mut upload = Upload {
            store,
            transport,
            token: &token,
            base: format!(
                "{server}/api/v1/photos/{}/upload?household={}",
                pending.hash, pending.household
            ),
            pending: &pending,
            chunk_bytes,
            cancel,
            report: &mut report,
            progress,
        };
        match upload.run()? {
            Outcome::Uploaded => report.uploaded += 1,
            Outcome::AlreadyHeld => report.already_held += 1,
            Outcome::Waiting => report.waiting += 1,
            Outcome::Refused => report.refused += 1,
        }
        progress(&report);
    }
    Ok(report)
}

struct Upload<'a> {
    store: &'a Store,
    transport: &'a dyn Transport,
    token: &'a str,
    /// The upload's URL without `offset` and `size`.
    base: String,
    pending: &'a PendingPhoto,
    chunk_bytes: u64,
    cancel: &'a AtomicBool,
    report: &'a mut UploadReport,
    progress: &'a mut dyn FnMut(&UploadReport),
}

/// What the server said to one request.
enum Answer {
    Status(UploadStatus),
    /// `upload_offset`: go on from the server's `received`, when it says it.
    Offset(Option<u64>),
    HashMismatch,
    NotReferenced,
    /// The photo itself is refused: its code and message.
    Refused(ErrorBody),
}

impl Upload<'_> {
    fn run(&mut self) -> Result<Outcome, SyncError> {
        let hash = &self.pending.hash;
        let Some(bytes) = self.store.photo_bytes(hash)? else {
            // Attached here, yet its bytes are gone: nothing to send.
            return Ok(Outcome::Waiting);
        };
        let total = bytes.len() as u64;
        let mut offset = match self.status()? {
            Answer::Status(status) if status.complete => {
                self.store.confirm_photo_upload(hash)?;
                return Ok(Outcome::AlreadyHeld);
            }
            Answer::Status(status) => status.received,
            Answer::NotReferenced => return Ok(Outcome::Waiting),
            Answer::Refused(body) => return self.refused(&body),
            Answer::Offset(_) | Answer::HashMismatch => 0,
        };
        let mut restarted = false;
        // A server that keeps sending the phone back cannot keep it here forever.
        let mut budget = 4 * total.div_ceil(self.chunk_bytes) + 8;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(SyncError::Cancelled);
            }
            if budget == 0 {
                return Err(SyncError::BadResponse(format!(
                    "the upload of photo {hash} does not move forward"
                )));
            }
            budget -= 1;
            if offset >= total {
                // The server holds every byte yet has not stored the photo: send it again.
                offset = 0;
            }
            let end = total.min(offset + self.chunk_bytes);
            let chunk = &bytes[offset as usize..end as usize];
            let url = format!("{}&offset={offset}&size={total}", self.base);
            self.report.bytes_sent += chunk.len() as u64;
            let answer = self.ask(self.transport.photo_put(&url, self.token, chunk))?;
            match answer {
                Answer::Status(status) if status.complete => {
                    self.store.confirm_photo_upload(hash)?;
                    return Ok(Outcome::Uploaded);
                }
                Answer::Status(status) => offset = status.received,
                Answer::Offset(Some(received)) => offset = received,
                Answer::Offset(None) => match self.status()? {
                    Answer::Status(status) if status.complete => {
                        self.store.confirm_photo_upload(hash)?;
                        return Ok(Outcome::AlreadyHeld);
                    }
                    Answer::Status(status) => offset = status.received,
                    _ => offset = 0,
                },
                Answer::HashMismatch if !restarted => {
                    restarted = true;
                    offset = 0;
                }
                Answer::HashMismatch => {
                    return self.refused(&ErrorBody {
                        error: ErrorCode::PhotoHashMismatch,
                        message: schema::Message::new(
                            "照片上传两次都与其哈希不符，已停止上传",
                            "The photo's upload did not match its hash twice; it is no longer sent",
                        ),
                    });
                }
                Answer::NotReferenced => return Ok(Outcome::Waiting),
                Answer::Refused(body) => return self.refused(&body),
            }
            (self.progress)(self.report);
        }
    }

    fn status(&mut self) -> Result<Answer, SyncError> {
        let answer = self
            .transport
            .photo_get(&self.base, self.token, MAX_STATUS_BYTES);
        self.ask(answer)
    }

    /// Reads an answer; a failed link, a server error and a refusal of the device itself
    /// stop the run.
    fn ask(&mut self, answer: Result<Vec<u8>, TransportError>) -> Result<Answer, SyncError> {
        self.report.requests += 1;
        let (status, body) = match answer {
            Ok(body) => {
                return serde_json::from_slice(&body)
                    .map(Answer::Status)
                    .map_err(|err| SyncError::BadResponse(err.to_string()));
            }
            Err(TransportError::Status { status, body }) => (status, body),
            Err(err) => return Err(err.into()),
        };
        let Ok(error) = serde_json::from_slice::<ErrorBody>(&body) else {
            return Err(refusal(self.store, status, &body));
        };
        Ok(match error.error {
            ErrorCode::UploadOffset => Answer::Offset(
                serde_json::from_slice::<Received>(&body)
                    .ok()
                    .and_then(|r| r.received),
            ),
            ErrorCode::PhotoHashMismatch => Answer::HashMismatch,
            ErrorCode::PhotoNotReferenced => Answer::NotReferenced,
            ErrorCode::PhotoNotAnImage | ErrorCode::PhotoTooManyPixels | ErrorCode::TooLarge => {
                Answer::Refused(error)
            }
            _ => return Err(refusal(self.store, status, &body)),
        })
    }

    fn refused(&mut self, body: &ErrorBody) -> Result<Outcome, SyncError> {
        self.store
            .refuse_photo_upload(&self.pending.hash, body.error.as_str(), &body.message)?;
        Ok(Outcome::Refused)
    }
}
