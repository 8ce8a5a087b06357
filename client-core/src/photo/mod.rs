//! Photos on the device (issue 18): made small and stripped of EXIF (`process`), stored
//! once per content hash beside the households (`Store::attach_photo`, in `store/photos.rs`),
//! uploaded after the document sync in chunks that resume after a cut (`upload`), and
//! fetched lazily, a thumbnail first (`download`). The contract with the server is
//! `schema::photo` and `docs/PROTOCOL.md`, "Photos".

mod download;
mod process;
mod upload;

pub use download::{PhotoSize, fetch_photo};
pub use process::{
    DEFAULT_QUALITY, MAX_SOURCE_BYTES, MAX_SOURCE_PIXELS, Processed, Processing, decode, hash_of,
    process,
};
pub use upload::{DEFAULT_CHUNK_BYTES, UploadReport, upload_photos};

use schema::Message;

/// Why a photo was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("the file is {bytes} bytes, over the limit of {limit}")]
    FileTooLarge { bytes: u64, limit: u64 },
    #[error("not a JPEG or PNG image")]
    NotAnImage,
    #[error("the image is damaged or cut off: {0}")]
    Damaged(String),
    /// The header claims more pixels than the phone decodes (0 × 0 when the decoder found
    /// out while decoding).
    #[error("the image claims {width} × {height} pixels, over the limit")]
    TooManyPixels { width: u32, height: u32 },
    #[error("the processed photo is {bytes} bytes, over the server's limit of {limit}")]
    ProcessedTooLarge { bytes: u64, limit: u64 },
    #[error("long side {long_side} or quality {quality} out of range")]
    BadSettings { long_side: u32, quality: u8 },
}

impl PhotoError {
    /// What the volunteer reads, Chinese first.
    pub fn message(&self) -> Message {
        const MIB: u64 = 1024 * 1024;
        match self {
            PhotoError::FileTooLarge { bytes, limit } => Message::new(
                format!(
                    "照片文件太大（{} MB），最大 {} MB",
                    bytes.div_ceil(MIB),
                    limit / MIB
                ),
                format!(
                    "The photo file is too large ({} MB); the most is {} MB",
                    bytes.div_ceil(MIB),
                    limit / MIB
                ),
            ),
            PhotoError::NotAnImage => Message::new(
                "该文件不是照片（只接受 JPEG 或 PNG 图片）",
                "The file is not a photo (only JPEG or PNG images are taken)",
            ),
            PhotoError::Damaged(detail) => Message::new(
                format!("照片文件已损坏或不完整，请重新拍摄：{detail}"),
                format!("The photo file is damaged or incomplete; take it again: {detail}"),
            ),
            PhotoError::TooManyPixels { width, height } if *width == 0 => Message::new(
                format!(
                    "照片像素过多，超过 {} 百万像素的上限，未处理",
                    MAX_SOURCE_PIXELS / MIB
                ),
                format!(
                    "The photo has too many pixels, over the limit of {} megapixels; it was not processed",
                    MAX_SOURCE_PIXELS / MIB
                ),
            ),
            PhotoError::TooManyPixels { width, height } => Message::new(
                format!(
                    "照片声称有 {width} × {height} 像素，超过 {} 百万像素的上限，未处理",
                    MAX_SOURCE_PIXELS / MIB
                ),
                format!(
                    "The photo claims {width} × {height} pixels, over the limit of {} megapixels; it was not processed",
                    MAX_SOURCE_PIXELS / MIB
                ),
            ),
            PhotoError::ProcessedTooLarge { bytes, limit } => Message::new(
                format!(
                    "处理后的照片仍有 {} KB，超过服务器 {} MB 的上限；请用更小的尺寸",
                    bytes / 1024,
                    limit / MIB
                ),
                format!(
                    "The processed photo is still {} KB, over the server's {} MB; use a smaller size",
                    bytes / 1024,
                    limit / MIB
                ),
            ),
            PhotoError::BadSettings { long_side, quality } => Message::new(
                format!(
                    "照片尺寸 {long_side} 或质量 {quality} 不可用：长边应在 64 至 {} 像素之间，质量在 1 至 100 之间",
                    Processing::MAX_LONG_SIDE
                ),
                format!(
                    "Photo size {long_side} or quality {quality} is not usable: the long side must be 64 to {} pixels, the quality 1 to 100",
                    Processing::MAX_LONG_SIDE
                ),
            ),
        }
    }
}

impl From<PhotoError> for crate::Error {
    fn from(err: PhotoError) -> Self {
        crate::Error::InvalidInput(err.message())
    }
}
