//! Fetching a photo recorded on another phone, only when someone looks at it: the
//! thumbnail first, the whole photo on demand. What is fetched is kept in the store.

use super::hash_of;
use crate::store::Store;
use crate::sync::{SyncError, credentials, refusal};
use crate::transport::{Transport, TransportError};
use schema::ids::HouseholdId;
use schema::photo::{MAX_PHOTO_BYTES, PhotoHash};

/// Which form of a photo to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoSize {
    /// The server's thumbnail (long side 320 px).
    Thumbnail,
    /// The photo as the phone that took it made it.
    Full,
}

impl PhotoSize {
    fn query(self) -> &'static str {
        match self {
            PhotoSize::Thumbnail => "thumb",
            PhotoSize::Full => "full",
        }
    }
}

/// The photo in this size: from the store when it holds it (a phone holds the whole
/// photos it took, which serve as their own thumbnails), otherwise fetched from the server
/// for `household` (which must reference it) and kept. A whole photo is checked against
/// its hash before it is kept.
pub fn fetch_photo(
    store: &Store,
    transport: &dyn Transport,
    household: &HouseholdId,
    hash: &PhotoHash,
    size: PhotoSize,
) -> Result<Vec<u8>, SyncError> {
    if let Some(bytes) = store.photo_bytes(hash)? {
        return Ok(bytes);
    }
    if size == PhotoSize::Thumbnail
        && let Some(bytes) = store.photo_thumbnail(hash)?
    {
        return Ok(bytes);
    }
    let (server, token) = credentials(store)?;
    let url = format!(
        "{server}/api/v1/photos/{hash}?household={household}&size={}",
        size.query()
    );
    let bytes = match transport.photo_get(&url, &token, MAX_PHOTO_BYTES) {
        Ok(bytes) => bytes,
        Err(TransportError::Status { status, body }) => {
            return Err(refusal(store, status, &body));
        }
        Err(err) => return Err(err.into()),
    };
    if size == PhotoSize::Full && hash_of(&bytes) != *hash {
        return Err(SyncError::BadResponse(format!(
            "the photo sent as {hash} does not match its hash"
        )));
    }
    store.keep_downloaded(hash, &bytes, size == PhotoSize::Thumbnail)?;
    Ok(bytes)
}
