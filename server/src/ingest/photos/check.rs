//! Checking an uploaded photo and making its thumbnail, once, on upload.
//!
//! The bytes must hash to the photo's address and be a whole JPEG. Its header's size is read
//! before a single pixel is decoded, and a photo claiming more than `MAX_DECODED_PIXELS` is
//! refused there: a few KB can claim a 60,000 × 60,000 image (a decompression bomb). Decoding
//! runs under `image::Limits` as well, so no header lies its way past the bound.

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, ImageReader, Limits};
use schema::photo::{MAX_DECODED_PIXELS, PhotoHash};
use sha2::{Digest, Sha256};
use std::io::Cursor;

/// The long side of a thumbnail, in pixels.
pub const THUMB_LONG_SIDE: u32 = 320;
/// The JPEG quality of a thumbnail.
const THUMB_QUALITY: u8 = 80;

/// Why a photo's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes do not hash to the address.
    HashMismatch,
    /// Not a JPEG, or a corrupt or truncated one; says what the decoder found.
    NotAnImage(String),
    /// The header claims `width` × `height`, more than the server decodes.
    TooManyPixels { width: u32, height: u32 },
}

/// A checked photo: its size in pixels and its thumbnail (JPEG).
#[derive(Debug)]
pub struct Checked {
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
}

/// Whether `bytes` are the photo `hash` addresses, a JPEG within the pixel bound; and its
/// thumbnail if so.
pub fn check(hash: &PhotoHash, bytes: &[u8]) -> Result<Checked, Refusal> {
    if hex::encode(Sha256::digest(bytes)) != hash.as_str() {
        return Err(Refusal::HashMismatch);
    }
    // A JPEG opens with SOI and closes with EOI. The decoder forgives a missing end (it
    // fills the missing rows grey), so a photo cut short is caught here.
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(Refusal::NotAnImage("no JPEG start marker".to_owned()));
    }
    if !bytes.ends_with(&[0xFF, 0xD9]) {
        return Err(Refusal::NotAnImage(
            "no JPEG end marker: the file is cut short".to_owned(),
        ));
    }
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg)
        .into_dimensions()
        .map_err(|err| Refusal::NotAnImage(err.to_string()))?;
    if u64::from(width) * u64::from(height) > MAX_DECODED_PIXELS {
        return Err(Refusal::TooManyPixels { width, height });
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg);
    let mut limits = Limits::default();
    // Four bytes a pixel covers every colour type a JPEG decodes to.
    limits.max_alloc = Some(MAX_DECODED_PIXELS * 4);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|err| Refusal::NotAnImage(err.to_string()))?;
    let thumb = image.thumbnail(THUMB_LONG_SIDE, THUMB_LONG_SIDE).to_rgb8();
    let mut thumbnail = Vec::new();
    JpegEncoder::new_with_quality(&mut thumbnail, THUMB_QUALITY)
        .encode_image(&thumb)
        .map_err(|err| Refusal::NotAnImage(err.to_string()))?;
    Ok(Checked {
        width,
        height,
        thumbnail,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// A JPEG of `width` × `height`: a gradient, so it compresses as a photo does.
    pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 80)
            .encode_image(&image)
            .unwrap();
        bytes
    }

    pub fn address(bytes: &[u8]) -> PhotoHash {
        PhotoHash::parse(&hex::encode(Sha256::digest(bytes))).unwrap()
    }

    /// The JPEG with its frame header claiming `width` × `height`.
    pub fn claiming(mut bytes: Vec<u8>, width: u16, height: u16) -> Vec<u8> {
        let sof = bytes
            .windows(2)
            .position(|pair| pair == [0xFF, 0xC0])
            .unwrap();
        bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        bytes
    }

    #[test]
    fn test_a_photo_is_checked_and_its_thumbnail_has_a_long_side_of_320() {
        let photo = jpeg(1600, 1200);
        let checked = check(&address(&photo), &photo).unwrap();
        assert_eq!((checked.width, checked.height), (1600, 1200));
        let thumb = image::load_from_memory(&checked.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
    }

    #[test]
    fn test_each_kind_of_bad_photo_is_refused_for_what_it_is() {
        let photo = jpeg(400, 300);
        assert_eq!(
            check(&address(b"other bytes"), &photo).err(),
            Some(Refusal::HashMismatch)
        );
        let cut = &photo[..photo.len() / 2];
        assert!(matches!(
            check(&address(cut), cut),
            Err(Refusal::NotAnImage(_))
        ));
        let text = b"GIF89a not a jpeg".to_vec();
        assert!(matches!(
            check(&address(&text), &text),
            Err(Refusal::NotAnImage(_))
        ));
        let mut corrupt = photo.clone();
        let middle = corrupt.len() / 3;
        corrupt[20..middle].fill(0xFF);
        assert!(matches!(
            check(&address(&corrupt), &corrupt),
            Err(Refusal::NotAnImage(_))
        ));
        let bomb = claiming(photo, 60_000, 60_000);
        assert_eq!(
            check(&address(&bomb), &bomb).err(),
            Some(Refusal::TooManyPixels {
                width: 60_000,
                height: 60_000
            })
        );
    }
}
