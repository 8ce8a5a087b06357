//! Photos in the store: attached to a household or one of its records, kept once per
//! content hash in the `photo` table, referenced from the household's document by
//! `photos.<id>.*` keys only, and followed through their upload (`photo_upload`).

use super::{Store, now};
use crate::error::{Error, Result};
use crate::photo::{Processing, process};
use rusqlite::{OptionalExtension, params};
use schema::Message;
use schema::fields::FieldPath;
use schema::ids::HouseholdId;
use schema::layout::{self, FieldValue, PhotoOf, photo_key, photo_references};
use schema::photo::{PhotoHash, PhotoKind};
use serde::Serialize;

/// One photo of a household, as the phone lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhotoSummary {
    pub hash: PhotoHash,
    /// `None` when the reference holds no kind this version knows.
    pub kind: Option<PhotoKind>,
    pub bytes: Option<u64>,
    pub taken_at: Option<i64>,
    /// What it belongs to, as `household` or a record's prefix.
    pub of: Option<String>,
    /// What of it this phone holds.
    pub held: Held,
    pub upload: UploadState,
}

/// What of a photo the phone holds: photos recorded on other phones come as references,
/// and their thumbnails and bytes are fetched only when someone looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    Photo,
    Thumbnail,
    Nothing,
}

/// Where the upload of a photo stands, seen from this phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum UploadState {
    /// Attached here, not yet confirmed by the server.
    Waiting,
    /// The server holds it whole.
    Uploaded,
    /// The server refused the photo itself; it is not sent again.
    Refused { code: String, message: Message },
    /// Attached on another phone: that phone uploads it.
    Elsewhere,
}

/// A photo this phone still has to upload, and the household that lets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPhoto {
    pub hash: PhotoHash,
    pub household: HouseholdId,
}

impl Store {
    /// Attaches a photo to a household or one of its records: made small and stripped of
    /// EXIF (`photo::process`), stored once by its hash, and referenced from the household
    /// in one durable change. The same photo attached again is the same entry (kind and
    /// record updated if they differ), and its bytes are not stored twice.
    pub fn attach_photo(
        &self,
        household: &HouseholdId,
        source: &[u8],
        kind: PhotoKind,
        of: &PhotoOf,
        processing: Processing,
    ) -> Result<PhotoSummary> {
        // Decoding takes a second or so: done before the store's lock is taken.
        let photo = process(source, processing)?;
        let key = photo_key(&photo.hash);
        let taken_at = now();
        let mut inner = self.lock();
        // The bytes first: a reference is never written for a photo the phone lacks. A
        // failed edit below leaves a photo row no household references, which costs only
        // its space.
        let tx = inner.conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO photo (hash, bytes, stored_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (hash) DO UPDATE SET bytes = excluded.bytes WHERE bytes IS NULL",
        )?
        .execute(params![photo.hash.as_str(), photo.bytes, taken_at])?;
        tx.prepare_cached(
            "INSERT INTO photo_upload (hash, household_id) VALUES (?1, ?2)
             ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![photo.hash.as_str(), household.as_str()])?;
        tx.commit()?;
        let size = i64::try_from(photo.bytes.len()).unwrap_or(i64::MAX);
        inner.edit(household, |doc| {
            let view = layout::read_household(doc.document())?;
            if !of.exists_in(&view) {
                return Err(Error::InvalidInput(Message::new(
                    format!("本户没有记录“{of}”，照片无法附在其上"),
                    format!("This household has no record \"{of}\" to attach the photo to"),
                )));
            }
            let attached = view.photos.contains_key(key.as_str());
            let fields = [
                ("hash", FieldValue::Text(photo.hash.to_string())),
                ("kind", FieldValue::Text(kind.as_str().to_owned())),
                ("bytes", FieldValue::Integer(size)),
                ("taken_at", FieldValue::Integer(taken_at)),
                ("of", FieldValue::Text(of.to_string())),
            ];
            for (name, value) in &fields {
                // Attaching again keeps when it was first taken.
                if attached && *name == "taken_at" {
                    continue;
                }
                let path = FieldPath::record(schema::fields::Entity::Photo, &key, name)?;
                layout::write_field(doc, &path, Some(value))?;
            }
            Ok(())
        })?;
        drop(inner);
        self.photos(household)?
            .into_iter()
            .find(|summary| summary.hash == photo.hash)
            .ok_or_else(|| Error::HouseholdNotFound(household.to_string()))
    }

    /// The photos a household references, in key order, with what this phone holds of
    /// each and where its upload stands.
    pub fn photos(&self, household: &HouseholdId) -> Result<Vec<PhotoSummary>> {
        let mut inner = self.lock();
        let (conn, loaded) = inner.load(household)?;
        let view = layout::read_household(loaded.doc.document())?;
        let mut held = conn.prepare_cached(
            "SELECT bytes IS NOT NULL, thumbnail IS NOT NULL FROM photo WHERE hash = ?1",
        )?;
        let mut upload = conn.prepare_cached(
            "SELECT confirmed_at, refused_code, refused_zh, refused_en
             FROM photo_upload WHERE hash = ?1",
        )?;
        let mut out = Vec::new();
        for reference in photo_references(&view) {
            let hash = reference.hash.as_str();
            let held = match held
                .query_row([hash], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?
            {
                Some((true, _)) => Held::Photo,
                Some((false, true)) => Held::Thumbnail,
                _ => Held::Nothing,
            };
            let upload = upload
                .query_row([hash], |row| {
                    let confirmed: Option<i64> = row.get(0)?;
                    let refused: Option<String> = row.get(1)?;
                    Ok(match (confirmed, refused) {
                        (Some(_), _) => UploadState::Uploaded,
                        (None, Some(code)) => UploadState::Refused {
                            code,
                            message: Message::new(
                                row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                                row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                            ),
                        },
                        (None, None) => UploadState::Waiting,
                    })
                })
                .optional()?
                .unwrap_or(UploadState::Elsewhere);
            out.push(PhotoSummary {
                kind: reference.kind,
                bytes: reference.bytes,
                taken_at: reference.taken_at,
                of: reference.of.map(|of| of.to_string()),
                hash: reference.hash,
                held,
                upload,
            });
        }
        Ok(out)
    }

    /// The photo's bytes, when this phone holds them.
    pub fn photo_bytes(&self, hash: &PhotoHash) -> Result<Option<Vec<u8>>> {
        self.photo_column(hash, "bytes")
    }

    /// The photo's thumbnail, when this phone has fetched it.
    pub fn photo_thumbnail(&self, hash: &PhotoHash) -> Result<Option<Vec<u8>>> {
        self.photo_column(hash, "thumbnail")
    }

    fn photo_column(&self, hash: &PhotoHash, column: &str) -> Result<Option<Vec<u8>>> {
        let inner = self.lock();
        let sql = match column {
            "bytes" => "SELECT bytes FROM photo WHERE hash = ?1",
            _ => "SELECT thumbnail FROM photo WHERE hash = ?1",
        };
        let found: Option<Option<Vec<u8>>> = inner
            .conn
            .prepare_cached(sql)?
            .query_row([hash.as_str()], |row| row.get(0))
            .optional()?;
        Ok(found.flatten())
    }

    /// Keeps what was downloaded: the whole photo (checked against its hash by the
    /// caller) or its thumbnail.
    pub(crate) fn keep_downloaded(
        &self,
        hash: &PhotoHash,
        bytes: &[u8],
        thumbnail: bool,
    ) -> Result<()> {
        let inner = self.lock();
        let sql = if thumbnail {
            "INSERT INTO photo (hash, thumbnail, stored_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (hash) DO UPDATE SET thumbnail = excluded.thumbnail"
        } else {
            "INSERT INTO photo (hash, bytes, stored_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (hash) DO UPDATE SET bytes = excluded.bytes"
        };
        inner
            .conn
            .prepare_cached(sql)?
            .execute(params![hash.as_str(), bytes, now()])?;
        Ok(())
    }

    /// A household on this phone that references the photo: the one it was attached to
    /// here, or else the first whose document holds it (households are read one by one,
    /// which is slow on a phone of thousands, so callers that know the household say so).
    pub fn household_of_photo(&self, hash: &PhotoHash) -> Result<Option<HouseholdId>> {
        let attached: Option<String> = self
            .lock()
            .conn
            .prepare_cached("SELECT household_id FROM photo_upload WHERE hash = ?1")?
            .query_row([hash.as_str()], |row| row.get(0))
            .optional()?;
        if let Some(id) = attached.and_then(|id| HouseholdId::parse(&id).ok()) {
            return Ok(Some(id));
        }
        let ids: Vec<String> = {
            let inner = self.lock();
            let mut statement = inner
                .conn
                .prepare("SELECT household_id FROM household_index ORDER BY household_id")?;
            statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?
        };
        let key = photo_key(hash);
        for id in ids.iter().filter_map(|id| HouseholdId::parse(id).ok()) {
            let mut inner = self.lock();
            let (_, loaded) = inner.load(&id)?;
            let view = layout::read_household(loaded.doc.document())?;
            if view.photos.contains_key(key.as_str()) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The photos attached here that the server has neither confirmed nor refused, oldest
    /// first.
    pub fn photos_to_upload(&self) -> Result<Vec<PendingPhoto>> {
        let inner = self.lock();
        let mut statement = inner.conn.prepare_cached(
            "SELECT u.hash, u.household_id FROM photo_upload u JOIN photo p ON p.hash = u.hash
             WHERE u.confirmed_at IS NULL AND u.refused_code IS NULL
             ORDER BY p.stored_at, u.hash",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, household) = row?;
            if let (Some(hash), Ok(household)) =
                (PhotoHash::parse(&hash), HouseholdId::parse(&household))
            {
                out.push(PendingPhoto { hash, household });
            }
        }
        Ok(out)
    }

    /// Records that the server holds the whole photo: it is not asked about again.
    pub(crate) fn confirm_photo_upload(&self, hash: &PhotoHash) -> Result<()> {
        self.lock()
            .conn
            .prepare_cached("UPDATE photo_upload SET confirmed_at = ?2 WHERE hash = ?1")?
            .execute(params![hash.as_str(), now()])?;
        Ok(())
    }

    /// Records that the server refused the photo itself, and why.
    pub(crate) fn refuse_photo_upload(
        &self,
        hash: &PhotoHash,
        code: &str,
        message: &Message,
    ) -> Result<()> {
        self.lock()
            .conn
            .prepare_cached(
                "UPDATE photo_upload SET refused_code = ?2, refused_zh = ?3, refused_en = ?4
                 WHERE hash = ?1",
            )?
            .execute(params![hash.as_str(), code, message.zh, message.en])?;
        Ok(())
    }
}
