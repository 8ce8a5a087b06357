//! `doorstep-field photo …`: attaching a photo from a file, listing a household's photos,
//! and writing one out (fetched from the server only when the device lacks it).

use crate::failure::Failure;
use crate::render;
use client_core::Store;
use client_core::photo::{self, MAX_SOURCE_BYTES, PhotoError, PhotoSize, Processing};
use client_core::store::{Held, PhotoSummary, UploadState};
use client_core::sync::{HttpTransport, SyncError};
use schema::Message;
use schema::ids::{HouseholdId, MemberKey, RecordId};
use schema::layout::PhotoOf;
use schema::photo::{PhotoHash, PhotoKind};
use std::io::{Read, Write};
use std::path::Path;

/// What a photo belongs to, from the one record option given (none: the household).
pub struct Record<'a> {
    pub member: Option<&'a str>,
    pub visit: Option<&'a str>,
    pub training: Option<&'a str>,
    pub subsidy: Option<&'a str>,
}

impl Record<'_> {
    fn parse(&self) -> Result<PhotoOf, Failure> {
        let record = |id: &str| RecordId::parse(id);
        Ok(
            match (self.member, self.visit, self.training, self.subsidy) {
                (Some(key), ..) => PhotoOf::Member(MemberKey::parse(key)?),
                (_, Some(id), ..) => PhotoOf::Visit(record(id)?),
                (_, _, Some(id), _) => PhotoOf::Training(record(id)?),
                (.., Some(id)) => PhotoOf::Subsidy(record(id)?),
                _ => PhotoOf::Household,
            },
        )
    }
}

/// Attaches the photo in `file` and returns what the household now lists for it.
pub fn add(
    store: &Store,
    household: &str,
    file: &Path,
    kind: &str,
    record: &Record<'_>,
    long_side: u32,
) -> Result<PhotoSummary, Failure> {
    let household = HouseholdId::parse(household)?;
    let kind = parse_kind(kind)?;
    let of = record.parse()?;
    let source = read_bounded(file)?;
    let processing = Processing {
        long_side,
        ..Processing::default()
    };
    Ok(store.attach_photo(&household, &source, kind, &of, processing)?)
}

/// Writes a photo to `out`: the thumbnail, or with `full` the whole photo.
pub fn get(store: &Store, hash: &str, out: &Path, full: bool) -> Result<usize, Failure> {
    let hash = PhotoHash::parse(hash.trim()).ok_or_else(|| {
        Failure::Input(Message::new(
            format!("“{hash}”不是照片哈希（应为 64 位小写十六进制数）"),
            format!("\"{hash}\" is not a photo hash (64 lowercase hex digits)"),
        ))
    })?;
    let household = store.household_of_photo(&hash)?.ok_or_else(|| {
        Failure::Input(Message::new(
            format!("本设备上没有户引用照片 {hash}"),
            format!("No household on this device references photo {hash}"),
        ))
    })?;
    let size = if full {
        PhotoSize::Full
    } else {
        PhotoSize::Thumbnail
    };
    let bytes = photo::fetch_photo(store, &HttpTransport::default(), &household, &hash, size)
        .map_err(|error| match error {
            SyncError::NotConnected => Failure::Input(error.message()),
            other => Failure::Other(other.message()),
        })?;
    std::fs::write(out, &bytes).map_err(|err| {
        Failure::Other(Message::new(
            format!("无法写入文件 {}：{err}", out.display()),
            format!("Cannot write {}: {err}", out.display()),
        ))
    })?;
    Ok(bytes.len())
}

/// One line per photo: its hash, kind, size, what it belongs to, and where it stands.
pub fn list(w: &mut dyn Write, photos: &[PhotoSummary]) -> std::io::Result<()> {
    for photo in photos {
        let kind = photo
            .kind
            .map(|kind| kind.label())
            .unwrap_or_else(|| Message::new("未知类别", "unknown kind"));
        let held = match photo.held {
            Held::Photo => "本机有原图 photo on device",
            Held::Thumbnail => "本机有缩略图 thumbnail on device",
            Held::Nothing => "未下载 not downloaded",
        };
        let upload = match &photo.upload {
            UploadState::Waiting => "待上传 to upload".to_owned(),
            UploadState::Uploaded => "已上传 uploaded".to_owned(),
            UploadState::Elsewhere => "他机拍摄 from another device".to_owned(),
            UploadState::Refused { message, .. } => {
                format!("被拒绝 refused: {} / {}", message.zh, message.en)
            }
        };
        writeln!(
            w,
            "{}  {} {}  {} B  {}  {}  {} · {}",
            photo.hash,
            kind.zh,
            kind.en,
            photo.bytes.unwrap_or_default(),
            photo.of.as_deref().unwrap_or("?"),
            photo.taken_at.map(render::local_time).unwrap_or_default(),
            held,
            upload,
        )?;
    }
    Ok(())
}

fn parse_kind(kind: &str) -> Result<PhotoKind, Failure> {
    PhotoKind::parse(kind.trim()).ok_or_else(|| {
        let choices = |label: fn(Message) -> String| {
            PhotoKind::ALL
                .into_iter()
                .map(|kind| format!("{} ({})", kind.as_str(), label(kind.label())))
                .collect::<Vec<_>>()
        };
        Failure::Input(Message::new(
            format!(
                "照片类别“{kind}”无效，可选：{}",
                choices(|m| m.zh).join("、")
            ),
            format!(
                "Unknown photo kind \"{kind}\"; choose one of: {}",
                choices(|m| m.en).join(", ")
            ),
        ))
    })
}

/// Reads the file, refusing one over the size a phone takes before reading it whole.
fn read_bounded(file: &Path) -> Result<Vec<u8>, Failure> {
    let unreadable = |err: std::io::Error| {
        Failure::Input(Message::new(
            format!("无法读取照片文件 {}：{err}", file.display()),
            format!("Cannot read the photo file {}: {err}", file.display()),
        ))
    };
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .map_err(unreadable)?
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        let size = std::fs::metadata(file).map_or(bytes.len() as u64, |m| m.len());
        return Err(Failure::Input(
            PhotoError::FileTooLarge {
                bytes: size,
                limit: MAX_SOURCE_BYTES,
            }
            .message(),
        ));
    }
    Ok(bytes)
}
