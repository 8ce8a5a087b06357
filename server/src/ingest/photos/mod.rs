//! Photo uploads from devices (issue 18, `docs/PROTOCOL.md` "Photos", ADR 0011): resumable
//! chunks kept per device and photo, then, once the last byte is in, the photo checked
//! (`check`), its thumbnail made once, both stored in the blob store (sealed for sensitive
//! kinds) and the photo recorded for its county.
//!
//! A device may send a photo only for a household in its villages whose document, as the
//! server holds it, references the photo (`schema::layout::photo_references`) under a kind
//! of the list: scope works as for the document itself, the kind says whether to seal it,
//! and a device cannot use the server as storage for anything else.

mod check;

pub use check::{Checked, Refusal, THUMB_LONG_SIDE, check};

use crate::access::device_tokens::Device;
use crate::storage::blobs::{BlobError, BlobKey, BlobStore, Variant};
use crate::storage::ledger::{Ledger, LedgerError};
use crate::storage::photos::{self, Chunk, StoredPhoto};
use crate::storage::vault::VaultError;
use schema::layout;
use schema::photo::{MAX_CHUNK_BYTES, MAX_PHOTO_BYTES, PhotoHash, PhotoKind, UploadStatus};
use std::sync::Arc;

/// An unfinished upload without a new chunk for this long is dropped.
pub const ABANDONED_AFTER_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The household is not the device's, or its document does not reference the photo.
    #[error("the household's document does not reference the photo")]
    NotReferenced,
    /// The chunk does not start where the upload stands.
    #[error("the upload holds {received} bytes")]
    Offset { received: u64 },
    #[error("photo refused: {0:?}")]
    Refused(Refusal),
    /// An announced size or a chunk past the limits.
    #[error("too large: {0}")]
    TooLarge(&'static str),
    /// A chunk that runs past the announced size, or an empty photo.
    #[error("bad chunk: {0}")]
    BadChunk(&'static str),
    /// The photo is referenced but not uploaded yet.
    #[error("the photo is not on the server yet")]
    NotUploaded,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("blob store: {0}")]
    Blob(#[from] BlobError),
    #[error("sealed data: {0}")]
    Vault(#[from] VaultError),
    #[error("worker: {0}")]
    Worker(String),
}

pub type PhotoResult<T> = Result<T, PhotoError>;

/// What a household's document says of a photo it references.
#[derive(Debug, Clone)]
pub struct Referenced {
    pub household: String,
    pub village: String,
    pub kind: PhotoKind,
}

/// The photo's reference in `household`'s document, if the household is the device's
/// (`Device::covers`) and references it.
pub async fn reference(
    ledger: &Ledger,
    device: &Device,
    household: &str,
    hash: &PhotoHash,
) -> PhotoResult<Referenced> {
    let read = ledger
        .read(household, |_, view| layout::photo_references(&view))
        .await?;
    let Some((village, references)) = read else {
        return Err(PhotoError::NotReferenced);
    };
    if !device.covers(&village) {
        return Err(PhotoError::NotReferenced);
    }
    let kind = references
        .into_iter()
        .find(|reference| &reference.hash == hash)
        .and_then(|reference| reference.kind)
        .ok_or(PhotoError::NotReferenced)?;
    Ok(Referenced {
        household: household.to_owned(),
        village,
        kind,
    })
}

fn complete(photo: &StoredPhoto) -> UploadStatus {
    UploadStatus {
        received: u64::try_from(photo.bytes).unwrap_or(0),
        complete: true,
    }
}

/// How far `device`'s upload of `hash` for `household` stands: complete when the server
/// holds the photo, whoever sent it.
pub async fn status(
    ledger: &Ledger,
    device: &Device,
    household: &str,
    hash: &PhotoHash,
) -> PhotoResult<UploadStatus> {
    reference(ledger, device, household, hash).await?;
    let db = ledger.db();
    if let Some(photo) = photos::stored(db, hash).await? {
        return Ok(complete(&photo));
    }
    let received = photos::staged(db, &device.id, hash)
        .await?
        .map_or(0, |staged| staged.received);
    Ok(UploadStatus {
        received: u64::try_from(received).unwrap_or(0),
        complete: false,
    })
}

/// One chunk of an upload.
#[derive(Debug)]
pub struct ChunkIn<'a> {
    pub household: &'a str,
    pub hash: &'a PhotoHash,
    pub offset: u64,
    /// The photo's whole size, as the phone announces it.
    pub size: u64,
    pub bytes: &'a [u8],
}

/// Takes one chunk: kept if it starts where the upload stands, and when it is the last, the
/// photo checked and stored.
pub async fn receive(
    ledger: &Ledger,
    blobs: &Arc<dyn BlobStore>,
    device: &Device,
    chunk: ChunkIn<'_>,
) -> PhotoResult<UploadStatus> {
    if chunk.size > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge("size"));
    }
    if chunk.bytes.len() as u64 > MAX_CHUNK_BYTES {
        return Err(PhotoError::TooLarge("chunk"));
    }
    if chunk.size == 0 {
        return Err(PhotoError::BadChunk("size"));
    }
    if chunk.offset.saturating_add(chunk.bytes.len() as u64) > chunk.size {
        return Err(PhotoError::BadChunk("past size"));
    }
    let referenced = reference(ledger, device, chunk.household, chunk.hash).await?;
    let db = ledger.db();
    if let Some(photo) = photos::stored(db, chunk.hash).await? {
        return Ok(complete(&photo));
    }
    let now = ledger.clock().now_seconds();
    photos::drop_abandoned(db, now - ABANDONED_AFTER_SECS).await?;
    let size = i64::try_from(chunk.size).map_err(|_| PhotoError::TooLarge("size"))?;
    let received = match photos::staged(db, &device.id, chunk.hash).await? {
        Some(staged) if staged.size == size => staged.received,
        Some(_) => {
            // The phone announces another size: a new upload of the same address.
            photos::drop_staged(db, &device.id, chunk.hash).await?;
            0
        }
        None => 0,
    };
    let offset = i64::try_from(chunk.offset).map_err(|_| PhotoError::BadChunk("offset"))?;
    if offset != received {
        return Err(PhotoError::Offset {
            received: u64::try_from(received).unwrap_or(0),
        });
    }
    let length = chunk.bytes.len() as i64;
    if length > 0 {
        let kept = photos::stage(
            db,
            Chunk {
                device: &device.id,
                hash: chunk.hash,
                start_at: offset,
                size,
                length,
                sealed_bytes: ledger.vault().seal(chunk.bytes),
                received_at: now,
            },
        )
        .await?;
        if !kept {
            let held = photos::staged(db, &device.id, chunk.hash).await?;
            return Err(PhotoError::Offset {
                received: held.map_or(0, |s| u64::try_from(s.received).unwrap_or(0)),
            });
        }
    }
    let received = received + length;
    if received < size {
        return Ok(UploadStatus {
            received: u64::try_from(received).unwrap_or(0),
            complete: false,
        });
    }
    let stored = finish(ledger, blobs, device, chunk.hash, &referenced).await;
    // Whatever the outcome, the chunks have served: the photo is stored, or the phone starts
    // again from byte 0.
    photos::drop_staged(db, &device.id, chunk.hash).await?;
    Ok(complete(&stored?))
}

/// The whole photo is in: checks it, makes its thumbnail, stores both and records it.
async fn finish(
    ledger: &Ledger,
    blobs: &Arc<dyn BlobStore>,
    device: &Device,
    hash: &PhotoHash,
    referenced: &Referenced,
) -> PhotoResult<StoredPhoto> {
    let vault = ledger.vault();
    let mut bytes = Vec::new();
    for sealed in photos::staged_chunks(ledger.db(), &device.id, hash).await? {
        bytes.extend(vault.open(&sealed)?);
    }
    let sealed = referenced.kind.is_sensitive();
    let (store, vault_copy, hash_copy) = (Arc::clone(blobs), vault.clone(), hash.clone());
    let photo_bytes = bytes.len() as i64;
    // Decoding and storing are blocking work, off the async threads.
    let thumb_bytes = tokio::task::spawn_blocking(move || -> PhotoResult<i64> {
        let checked = check(&hash_copy, &bytes).map_err(PhotoError::Refused)?;
        let (photo, thumb) = if sealed {
            (vault_copy.seal(&bytes), vault_copy.seal(&checked.thumbnail))
        } else {
            (bytes, checked.thumbnail)
        };
        // The thumbnail first: a photo whose blob is there always has its thumbnail.
        store.put(&BlobKey::new(&hash_copy, Variant::Thumb), &thumb)?;
        store.put(&BlobKey::new(&hash_copy, Variant::Full), &photo)?;
        Ok(thumb.len() as i64)
    })
    .await
    .map_err(|err| PhotoError::Worker(err.to_string()))??;
    let village = &referenced.village;
    let photo = StoredPhoto {
        hash: hash.clone(),
        kind: referenced.kind,
        bytes: photo_bytes,
        thumb_bytes,
        county: village.chars().take(6).collect(),
        village: village.clone(),
        household: referenced.household.clone(),
        stored_at: ledger.clock().now_seconds(),
        sealed,
    };
    photos::record(ledger.db(), &photo).await?;
    tracing::info!(device = %device.id, photo = %hash, kind = photo.kind.as_str(), bytes = photo_bytes, "photo stored");
    // Another phone may have stored it a moment before: what the table holds is the truth.
    Ok(photos::stored(ledger.db(), hash).await?.unwrap_or(photo))
}

/// The photo (or its thumbnail) as the phone made it, opened if sealed; with what the table
/// says of it.
pub async fn read(
    ledger: &Ledger,
    blobs: &Arc<dyn BlobStore>,
    hash: &PhotoHash,
    variant: Variant,
) -> PhotoResult<(StoredPhoto, Vec<u8>)> {
    let photo = photos::stored(ledger.db(), hash)
        .await?
        .ok_or(PhotoError::NotUploaded)?;
    let store = Arc::clone(blobs);
    let key = BlobKey::new(hash, variant);
    let bytes = tokio::task::spawn_blocking(move || store.get(&key))
        .await
        .map_err(|err| PhotoError::Worker(err.to_string()))??
        .ok_or_else(|| {
            BlobError::Remote(format!(
                "the blob of photo {hash} is missing from the store"
            ))
        })?;
    let bytes = if photo.sealed {
        ledger.vault().open(&bytes)?
    } else {
        bytes
    };
    Ok((photo, bytes))
}
