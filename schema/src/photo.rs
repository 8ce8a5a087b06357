//! Photos: what the phone and the server agree on. A photo lives outside the household's
//! Automerge document, stored by the SHA-256 of its bytes as the phone made them (decoded,
//! oriented, resized, re-encoded as JPEG, stripped of EXIF); the document holds only its
//! reference. Uploads go in chunks that resume from the last byte the server confirmed
//! (`docs/PROTOCOL.md`, "Photos").

use serde::{Deserialize, Serialize};

use crate::Message;

/// What a photo shows. Its code is the same in the document, on the wire and in the
/// server's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    DoorPlate,
    Certificate,
    Contract,
    BankCard,
    IdCard,
    Other,
}

impl PhotoKind {
    pub const ALL: [PhotoKind; 6] = [
        PhotoKind::DoorPlate,
        PhotoKind::Certificate,
        PhotoKind::Contract,
        PhotoKind::BankCard,
        PhotoKind::IdCard,
        PhotoKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::DoorPlate => "door_plate",
            PhotoKind::Certificate => "certificate",
            PhotoKind::Contract => "contract",
            PhotoKind::BankCard => "bank_card",
            PhotoKind::IdCard => "id_card",
            PhotoKind::Other => "other",
        }
    }

    pub fn parse(code: &str) -> Option<PhotoKind> {
        PhotoKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == code)
    }

    pub fn label(self) -> Message {
        let (zh, en) = match self {
            PhotoKind::DoorPlate => ("门牌", "door plate"),
            PhotoKind::Certificate => ("证书", "certificate"),
            PhotoKind::Contract => ("劳动合同", "employment contract"),
            PhotoKind::BankCard => ("银行卡", "bank card"),
            PhotoKind::IdCard => ("身份证", "ID card"),
            PhotoKind::Other => ("其他", "other"),
        };
        Message::new(zh, en)
    }

    /// Kinds that show a bank account or an ID number: sealed at rest on the server, and
    /// shown only to staff who may see ID numbers in full.
    pub fn is_sensitive(self) -> bool {
        matches!(self, PhotoKind::BankCard | PhotoKind::IdCard)
    }
}

/// The long side, in pixels, a phone resizes a photo to unless told otherwise.
pub const DEFAULT_LONG_SIDE: u32 = 1600;

/// The largest photo, in bytes, a server accepts. A 1600-pixel JPEG at quality 80 is a few
/// hundred KiB; a photo kept larger on purpose still fits.
pub const MAX_PHOTO_BYTES: u64 = 4 * 1024 * 1024;

/// The most pixels a server decodes (to check a photo and make its thumbnail). A photo
/// claiming more in its header is refused before any pixel is decoded: a tiny file can
/// claim a huge size (a decompression bomb).
pub const MAX_DECODED_PIXELS: u64 = 4096 * 4096;

/// The largest chunk of one upload request. On a 2G link (a few KB/s) a chunk this size
/// takes seconds, so a cut loses little.
pub const MAX_CHUNK_BYTES: u64 = 256 * 1024;

/// A photo's content address: the SHA-256 of its bytes, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhotoHash(String);

impl PhotoHash {
    pub fn parse(text: &str) -> Option<PhotoHash> {
        let valid = text.len() == 64
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        valid.then(|| PhotoHash(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PhotoHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhotoHash {
    type Error = String;

    fn try_from(text: String) -> Result<PhotoHash, String> {
        PhotoHash::parse(&text).ok_or_else(|| format!("not a photo hash: {text:?}"))
    }
}

impl From<PhotoHash> for String {
    fn from(hash: PhotoHash) -> String {
        hash.0
    }
}

/// The server's answer to an upload's status request and to each chunk: how many bytes of
/// the photo it holds, and whether it holds the whole photo, checked and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadStatus {
    pub received: u64,
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_kind_reads_back_from_its_code() {
        for kind in PhotoKind::ALL {
            assert_eq!(PhotoKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PhotoKind::parse("passport"), None);
    }

    #[test]
    fn test_a_photo_hash_is_64_lowercase_hex_digits() {
        let hash = "ab".repeat(32);
        assert_eq!(PhotoHash::parse(&hash).map(String::from), Some(hash));
        assert_eq!(PhotoHash::parse(&"AB".repeat(32)), None);
        assert_eq!(PhotoHash::parse(&"ab".repeat(31)), None);
        assert_eq!(PhotoHash::parse("../../etc/passwd"), None);
    }
}
