//! The blob store: where photos and their thumbnails are kept, outside the database and
//! outside the household documents (ADR 0011). One trait, two stores: a directory under
//! `--data` (the default) and an S3-compatible object store, for deployments past one machine.
//!
//! A blob is addressed by what it holds ([`BlobKey`]: a photo's SHA-256 and whether it is the
//! photo or its thumbnail), never by a name a client chose, so a key is never a path a client
//! can steer. A blob is written whole or not at all: a reader never finds half a photo under
//! its hash. What a blob holds (plain, or sealed by the vault) is the `photo` table's
//! business, not the store's.
//!
//! The stores block (file system calls, HTTP): async callers run them on
//! `tokio::task::spawn_blocking`.

mod directory;
mod s3;

pub use directory::DirectoryStore;
pub use s3::{S3Config, S3Store};

use crate::clock::Clock;
use schema::Message;
use schema::photo::PhotoHash;
use std::path::Path;
use std::sync::Arc;

/// Which of a photo's two blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The photo as the phone made it.
    Full,
    /// The thumbnail the server made once, on upload (long side 320 px, JPEG).
    Thumb,
}

impl Variant {
    fn folder(self) -> &'static str {
        match self {
            Variant::Full => "photos",
            Variant::Thumb => "thumbs",
        }
    }
}

/// The address of a blob: `photos/<hash>` or `thumbs/<hash>`. Only a [`PhotoHash`] (64
/// lowercase hex digits) goes in, so no key climbs out of its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobKey {
    pub hash: PhotoHash,
    pub variant: Variant,
}

impl BlobKey {
    pub fn new(hash: &PhotoHash, variant: Variant) -> BlobKey {
        BlobKey {
            hash: hash.clone(),
            variant,
        }
    }

    /// The key as the object store names it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.variant.folder(), self.hash)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob store file system: {0}")]
    Io(#[from] std::io::Error),
    #[error("object store: {0}")]
    Remote(String),
    #[error("blob store setting: {}", .0.en)]
    Setting(Message),
}

impl BlobError {
    pub fn message(&self) -> Message {
        match self {
            BlobError::Setting(message) => message.clone(),
            err => Message::new(format!("照片存储出错：{err}"), format!("{err}")),
        }
    }
}

/// Where blobs are kept. Every call blocks; each is whole: a `put` that fails leaves the key
/// as it was.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `key`, replacing what it held.
    fn put(&self, key: &BlobKey, bytes: &[u8]) -> Result<(), BlobError>;
    /// The bytes under `key`, or `None` when it holds nothing.
    fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError>;
    /// Removes `key`; removing a key that holds nothing is not an error.
    fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
    /// Where the store is, for the operator's log (no secret in it).
    fn describe(&self) -> String;
}

/// The folder under `--data` photos are kept in by default.
pub const DEFAULT_FOLDER: &str = "blobs";

/// Opens the store `--blob-store` names: nothing (the folder `blobs` under `data`), a
/// directory path, or `s3://BUCKET?endpoint=URL&region=REGION` with the keys in
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (`S3Config::parse`).
pub fn open(
    setting: Option<&str>,
    data: &Path,
    clock: &Clock,
) -> Result<Arc<dyn BlobStore>, BlobError> {
    let setting = setting.map(str::trim).filter(|text| !text.is_empty());
    match setting {
        Some(url) if url.starts_with("s3://") => {
            let config = S3Config::parse(url, |name| std::env::var(name).ok())?;
            Ok(Arc::new(S3Store::new(config, clock.clone())))
        }
        Some(path) => Ok(Arc::new(DirectoryStore::open(Path::new(path))?)),
        None => Ok(Arc::new(DirectoryStore::open(&data.join(DEFAULT_FOLDER))?)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod contract {
    //! What every store must do, run against each.

    use super::*;

    pub fn hash(byte: u8) -> PhotoHash {
        PhotoHash::parse(&hex::encode([byte; 32])).unwrap()
    }

    pub fn holds_what_was_put_whole_and_forgets_what_was_deleted(store: &dyn BlobStore) {
        let photo = BlobKey::new(&hash(1), Variant::Full);
        let thumb = BlobKey::new(&hash(1), Variant::Thumb);
        assert_eq!(store.get(&photo).unwrap(), None);
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        store.put(&photo, &bytes).unwrap();
        store.put(&thumb, b"small").unwrap();
        assert_eq!(store.get(&photo).unwrap().as_deref(), Some(&bytes[..]));
        assert_eq!(store.get(&thumb).unwrap().as_deref(), Some(&b"small"[..]));
        store.put(&photo, b"again").unwrap();
        assert_eq!(store.get(&photo).unwrap().as_deref(), Some(&b"again"[..]));
        store.delete(&photo).unwrap();
        store.delete(&photo).unwrap();
        assert_eq!(store.get(&photo).unwrap(), None);
        assert_eq!(store.get(&thumb).unwrap().as_deref(), Some(&b"small"[..]));
    }
}
