//! The default blob store: files in a directory under `--data`, `photos/ab/<hash>` and
//! `thumbs/ab/<hash>` (the first two hex digits fan the files out over 256 folders).
//!
//! A blob is written to a temporary file in its folder, synced, then renamed onto its name,
//! and the folder synced: after a crash the name holds the old blob or the new one, never
//! half of either.

use super::{BlobError, BlobKey, BlobStore};
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct DirectoryStore {
    root: PathBuf,
}

impl DirectoryStore {
    /// The store in `root`, made if missing.
    pub fn open(root: &Path) -> Result<DirectoryStore, BlobError> {
        fs::create_dir_all(root)?;
        Ok(DirectoryStore {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        let hash = key.hash.as_str();
        self.root
            .join(key.variant.folder())
            .join(&hash[..2])
            .join(hash)
    }
}

impl BlobStore for DirectoryStore {
    fn put(&self, key: &BlobKey, bytes: &[u8]) -> Result<(), BlobError> {
        let path = self.path(key);
        let folder = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&folder)?;
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|err| BlobError::Remote(err.to_string()))?;
        let temporary = folder.join(format!(".{}.{}.part", key.hash, hex::encode(suffix)));
        let written = (|| {
            let mut file = File::create(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, &path)?;
            // The rename is durable once the folder's entry is.
            File::open(&folder)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        Ok(written?)
    }

    fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError> {
        match fs::read(self.path(key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match fs::remove_file(self.path(key)) {
            Err(err) if err.kind() != ErrorKind::NotFound => Err(err.into()),
            _ => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::contract;
    use super::*;

    #[test]
    fn test_a_directory_store_keeps_blobs_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirectoryStore::open(&dir.path().join("blobs")).unwrap();
        contract::holds_what_was_put_whole_and_forgets_what_was_deleted(&store);
        let leftovers: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|path| path.to_string_lossy().ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let key = BlobKey::new(&contract::hash(1), super::super::Variant::Thumb);
        let expected = dir
            .path()
            .join("blobs/thumbs/01")
            .join(contract::hash(1).as_str());
        assert_eq!(store.path(&key), expected);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
        found
    }
}
