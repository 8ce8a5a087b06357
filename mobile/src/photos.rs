//! Photos for the phone UI: attach one from the camera's bytes, list a household's photos
//! with where each stands, and read a thumbnail or the whole photo (fetched from the
//! server only when the phone lacks it; blocks on the network then, so call it off the UI
//! thread). Uploads run with the sync, after the data (`start_sync`).

use crate::error::{DoorstepError, Result};
use crate::household::Bilingual;
use crate::store::DoorstepStore;
use client_core::photo::{self, Processing};
use client_core::store::{Held, PhotoSummary, UploadState};
use client_core::sync::HttpTransport;
use schema::ids::HouseholdId;
use schema::layout::PhotoOf;
use schema::photo::{PhotoHash, PhotoKind};
use std::time::Duration;

/// One photo of a household.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Photo {
    /// Its SHA-256, 64 hex digits: what `photo_thumbnail` and `photo` take.
    pub hash: String,
    /// `door_plate`, `certificate`, `contract`, `bank_card`, `id_card` or `other`; empty
    /// when the reference holds a kind this version does not know.
    pub kind: String,
    pub kind_label: Bilingual,
    pub bytes: Option<u64>,
    /// When it was attached, in seconds since 1970.
    pub taken_at: Option<i64>,
    /// What it belongs to: `household`, `members.<key>`, `visits.<id>`, `trainings.<id>`
    /// or `subsidies.<id>`.
    pub attached_to: Option<String>,
    /// Whether the phone holds the photo itself (shown at once), only its thumbnail, or
    /// neither (fetch the thumbnail to show it).
    pub held: PhotoHeld,
    pub upload: PhotoUpload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PhotoHeld {
    Photo,
    Thumbnail,
    Nothing,
}

/// Where a photo's upload stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PhotoUpload {
    /// Attached here; uploaded at the next sync.
    Waiting,
    Uploaded,
    /// The server refused the photo; it is not sent again.
    Refused {
        code: String,
        reason: Bilingual,
    },
    /// Attached on another phone, which uploads it.
    Elsewhere,
}

impl From<PhotoSummary> for Photo {
    fn from(summary: PhotoSummary) -> Self {
        Photo {
            hash: summary.hash.to_string(),
            kind: summary
                .kind
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default(),
            kind_label: summary
                .kind
                .map(|k| k.label())
                .unwrap_or_else(|| schema::Message::new("未知类别", "unknown kind"))
                .into(),
            bytes: summary.bytes,
            taken_at: summary.taken_at,
            attached_to: summary.of,
            held: match summary.held {
                Held::Photo => PhotoHeld::Photo,
                Held::Thumbnail => PhotoHeld::Thumbnail,
                Held::Nothing => PhotoHeld::Nothing,
            },
            upload: match summary.upload {
                UploadState::Waiting => PhotoUpload::Waiting,
                UploadState::Uploaded => PhotoUpload::Uploaded,
                UploadState::Refused { code, message } => PhotoUpload::Refused {
                    code,
                    reason: message.into(),
                },
                UploadState::Elsewhere => PhotoUpload::Elsewhere,
            },
        }
    }
}

fn parse_hash(hash: &str) -> Result<PhotoHash> {
    PhotoHash::parse(hash).ok_or_else(|| {
        DoorstepError::invalid(schema::Message::new(
            format!("“{hash}”不是照片哈希"),
            format!("\"{hash}\" is not a photo hash"),
        ))
    })
}

#[uniffi::export]
impl DoorstepStore {
    /// Attaches a photo (the camera's JPEG, or a PNG) to a household, or to one of its
    /// records (`attached_to`: `members.<key>`, `visits.<id>`, `trainings.<id>`,
    /// `subsidies.<id>`; none for the household). It is decoded, turned upright, resized
    /// to `long_side` (1600 unless given), re-encoded without EXIF and stored once. Takes
    /// about a second for a 12-megapixel photo: call it off the UI thread.
    pub fn attach_photo(
        &self,
        household: String,
        photo: Vec<u8>,
        kind: String,
        attached_to: Option<String>,
        long_side: Option<u32>,
    ) -> Result<Photo> {
        let household = HouseholdId::parse(&household)?;
        let kind = PhotoKind::parse(&kind).ok_or_else(|| {
            DoorstepError::invalid(schema::Message::new(
                format!("照片类别“{kind}”无效"),
                format!("Unknown photo kind \"{kind}\""),
            ))
        })?;
        let of = match attached_to.as_deref() {
            None | Some("") => PhotoOf::Household,
            Some(text) => PhotoOf::parse(text).map_err(DoorstepError::invalid)?,
        };
        let processing = Processing {
            long_side: long_side.unwrap_or(schema::photo::DEFAULT_LONG_SIDE),
            ..Processing::default()
        };
        Ok(self
            .core()
            .attach_photo(&household, &photo, kind, &of, processing)?
            .into())
    }

    /// The household's photos, with what the phone holds of each and its upload.
    pub fn photos(&self, household: String) -> Result<Vec<Photo>> {
        let household = HouseholdId::parse(&household)?;
        Ok(self
            .core()
            .photos(&household)?
            .into_iter()
            .map(Photo::from)
            .collect())
    }

    /// A photo's thumbnail (JPEG): the photo itself when the phone holds it, otherwise the
    /// server's thumbnail, fetched once and kept.
    pub fn photo_thumbnail(&self, household: String, hash: String) -> Result<Vec<u8>> {
        self.fetch(&household, &hash, photo::PhotoSize::Thumbnail)
    }

    /// The whole photo (JPEG), fetched once and kept when the phone lacks it.
    pub fn photo(&self, household: String, hash: String) -> Result<Vec<u8>> {
        self.fetch(&household, &hash, photo::PhotoSize::Full)
    }
}

impl DoorstepStore {
    fn fetch(&self, household: &str, hash: &str, size: photo::PhotoSize) -> Result<Vec<u8>> {
        let household = HouseholdId::parse(household)?;
        let hash = parse_hash(hash)?;
        let transport = HttpTransport::new(Duration::from_secs(120));
        Ok(photo::fetch_photo(
            self.core(),
            &transport,
            &household,
            &hash,
            size,
        )?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_what_is_no_photo_or_no_kind_is_refused_as_invalid_input_with_both_languages() {
        let dir = tempfile::tempdir().unwrap();
        let store = DoorstepStore::open(dir.path().to_string_lossy().into_owned()).unwrap();
        let household = store
            .core()
            .create_household(&schema::ids::AreaCode::parse("141124100201").unwrap(), None)
            .unwrap()
            .to_string();
        let refused = |kind: &str, bytes: &[u8]| match store.attach_photo(
            household.clone(),
            bytes.to_vec(),
            kind.into(),
            None,
            None,
        ) {
            Err(DoorstepError::InvalidInput { zh, en }) => (zh, en),
            other => panic!("{other:?}"),
        };
        let (zh, en) = refused("door_plate", b"not a photo at all");
        assert!(
            zh.contains("不是照片") && en.contains("not a photo"),
            "{zh} / {en}"
        );
        let (zh, _) = refused("passport", b"");
        assert!(zh.contains("照片类别"), "{zh}");
        assert_eq!(store.photos(household).unwrap(), Vec::new());
    }
}
