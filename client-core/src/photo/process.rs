//! Making a photo small on the phone: decoded (JPEG or PNG), turned upright by its EXIF
//! orientation, resized to a long side, and re-encoded as a JPEG that carries no EXIF at
//! all, so neither where it was taken nor the phone that took it leaves the device. What
//! is refused is refused before a pixel is decoded wherever the header can tell.

use super::PhotoError;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, imageops};
use schema::photo::{DEFAULT_LONG_SIDE, MAX_DECODED_PIXELS, MAX_PHOTO_BYTES, PhotoHash};
use sha2::{Digest, Sha256};
use std::io::Cursor;

/// The largest file a phone takes in: a 50-megapixel camera's JPEG is 15–25 MB.
pub const MAX_SOURCE_BYTES: u64 = 40 * 1024 * 1024;

/// The most pixels a phone decodes: 64 megapixels, more than any phone camera takes. A file
/// whose header claims more is refused before decoding (a decompression bomb).
pub const MAX_SOURCE_PIXELS: u64 = 64 * 1024 * 1024;

/// The quality the JPEG is written at: about 80, where a 1600-pixel photo of a document
/// stays legible at a few hundred KiB.
pub const DEFAULT_QUALITY: u8 = 80;

/// How a photo is made small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Processing {
    /// The longest side, in pixels, after resizing; a smaller photo keeps its size. At
    /// most the side of the server's decoding limit (4096).
    pub long_side: u32,
    /// JPEG quality, 1–100.
    pub quality: u8,
}

impl Default for Processing {
    fn default() -> Self {
        Processing {
            long_side: DEFAULT_LONG_SIDE,
            quality: DEFAULT_QUALITY,
        }
    }
}

impl Processing {
    /// The longest side a server still decodes: the square root of its pixel limit.
    pub const MAX_LONG_SIDE: u32 = 4096;

    fn check(&self) -> Result<(), PhotoError> {
        let fits = (64..=Processing::MAX_LONG_SIDE).contains(&self.long_side)
            && (1..=100).contains(&self.quality);
        if fits {
            Ok(())
        } else {
            Err(PhotoError::BadSettings {
                long_side: self.long_side,
                quality: self.quality,
            })
        }
    }
}

/// A photo as the phone made it: the bytes that are stored, uploaded and addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub bytes: Vec<u8>,
    pub hash: PhotoHash,
    pub width: u32,
    pub height: u32,
}

/// The SHA-256 of a photo's bytes: its address.
pub fn hash_of(bytes: &[u8]) -> PhotoHash {
    let digest = hex::encode(Sha256::digest(bytes));
    PhotoHash::parse(&digest).expect("a SHA-256 in lowercase hex is a photo hash")
}

/// Makes a photo small: see the module's description.
pub fn process(source: &[u8], processing: Processing) -> Result<Processed, PhotoError> {
    processing.check()?;
    let size = source.len() as u64;
    if size > MAX_SOURCE_BYTES {
        return Err(PhotoError::FileTooLarge {
            bytes: size,
            limit: MAX_SOURCE_BYTES,
        });
    }
    let image = decode(source)?;
    let image = shrink(image, processing.long_side);
    let (width, height) = (image.width(), image.height());
    let mut bytes = Vec::new();
    // JPEG has no alpha; a PNG's transparency is dropped, as a photo has none.
    JpegEncoder::new_with_quality(&mut bytes, processing.quality)
        .encode_image(&image.into_rgb8())
        .map_err(|err| PhotoError::Damaged(err.to_string()))?;
    let made = bytes.len() as u64;
    if made > MAX_PHOTO_BYTES || u64::from(width) * u64::from(height) > MAX_DECODED_PIXELS {
        return Err(PhotoError::ProcessedTooLarge {
            bytes: made,
            limit: MAX_PHOTO_BYTES,
        });
    }
    Ok(Processed {
        hash: hash_of(&bytes),
        bytes,
        width,
        height,
    })
}

/// Decodes a JPEG or PNG, upright: its header is read first, and a claim of more pixels
/// than [`MAX_SOURCE_PIXELS`] is refused before anything is decoded.
pub fn decode(source: &[u8]) -> Result<DynamicImage, PhotoError> {
    let mut reader = ImageReader::new(Cursor::new(source))
        .with_guessed_format()
        .map_err(|err| PhotoError::Damaged(err.to_string()))?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png)) {
        return Err(PhotoError::NotAnImage);
    }
    if matches!(reader.format(), Some(ImageFormat::Jpeg)) && !ends_a_jpeg(source) {
        return Err(PhotoError::Damaged(
            "the JPEG ends before its last marker".into(),
        ));
    }
    let mut limits = Limits::default();
    // Room for the decoded pixels at four bytes each, and the decoder's own buffers.
    limits.max_alloc = Some(MAX_SOURCE_PIXELS * 4 + 64 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(damaged)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_SOURCE_PIXELS {
        return Err(PhotoError::TooManyPixels { width, height });
    }
    // An orientation that cannot be read leaves the photo as it was stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(damaged)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Whether a JPEG's last marker is there: a file cut off in transfer lacks its end of
/// image (`FF D9`), which a lenient decoder would paint over in grey. Some cameras append
/// data after it, so the marker is looked for near the end, not only at the last byte.
fn ends_a_jpeg(source: &[u8]) -> bool {
    const TRAILER_ROOM: usize = 64 * 1024;
    let tail = &source[source.len().saturating_sub(TRAILER_ROOM)..];
    tail.windows(2).any(|pair| pair == [0xFF, 0xD9])
}

fn damaged(err: image::ImageError) -> PhotoError {
    match err {
        image::ImageError::Limits(_) => PhotoError::TooManyPixels {
            width: 0,
            height: 0,
        },
        image::ImageError::Unsupported(_) => PhotoError::NotAnImage,
        other => PhotoError::Damaged(other.to_string()),
    }
}

/// Scales the photo down to `long_side` on its longer side, keeping its proportions; a
/// smaller photo is left as it is. A large reduction averages each block of pixels (fast,
/// and without aliasing); a small one interpolates, where block averaging would alias.
fn shrink(image: DynamicImage, long_side: u32) -> DynamicImage {
    let longest = image.width().max(image.height());
    if longest <= long_side {
        return image;
    }
    if longest >= long_side * 2 {
        image.thumbnail(long_side, long_side)
    } else {
        image.resize(long_side, long_side, imageops::FilterType::Triangle)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegDecoder;
    use image::{ImageEncoder, Rgb, RgbImage};

    /// A minimal EXIF block (TIFF, little-endian) with the orientation tag and the camera's
    /// make, the kind of device data that must not leave the phone.
    fn exif_with_orientation(orientation: u16) -> Vec<u8> {
        let make = b"PhoneMaker\0";
        let mut tiff = b"II*\0".to_vec();
        tiff.extend_from_slice(&8u32.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        // 0x0112 Orientation, SHORT, 1 value, inline.
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]);
        // 0x010F Make, ASCII, stored after the IFD.
        let make_at = 8 + 2 + 2 * 12 + 4;
        tiff.extend_from_slice(&0x010Fu16.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&(make.len() as u32).to_le_bytes());
        tiff.extend_from_slice(&(make_at as u32).to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(make);
        tiff
    }

    /// A photo whose left half is red and right half blue, as a camera stores it before
    /// its orientation tag is applied.
    fn left_red_right_blue(width: u32, height: u32, exif: Option<Vec<u8>>) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 {
                Rgb([230, 20, 20])
            } else {
                Rgb([20, 20, 230])
            }
        });
        let mut bytes = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut bytes, 95);
        if let Some(exif) = exif {
            encoder.set_exif_metadata(exif).unwrap();
        }
        encoder
            .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        bytes
    }

    fn has_exif(jpeg: &[u8]) -> bool {
        let mut decoder = JpegDecoder::new(Cursor::new(jpeg)).unwrap();
        decoder.exif_metadata().unwrap().is_some() || jpeg.windows(6).any(|w| w == b"Exif\0\0")
    }

    fn is_red(pixel: &Rgb<u8>) -> bool {
        pixel[0] > 150 && pixel[2] < 100
    }

    #[test]
    fn test_the_exif_orientation_is_applied_and_no_exif_leaves_the_phone() {
        // Orientation 6: the camera was turned a quarter clockwise, so the stored left
        // half is the upright photo's top.
        let source = left_red_right_blue(80, 40, Some(exif_with_orientation(6)));
        assert!(has_exif(&source));
        let made = process(&source, Processing::default()).unwrap();
        assert_eq!((made.width, made.height), (40, 80));
        assert!(!has_exif(&made.bytes), "the processed photo carries EXIF");
        assert!(!made.bytes.windows(10).any(|w| w == b"PhoneMaker"));
        let upright = decode(&made.bytes).unwrap().into_rgb8();
        assert!(is_red(upright.get_pixel(20, 5)), "top is not red");
        assert!(!is_red(upright.get_pixel(20, 75)), "bottom is red");
    }

    #[test]
    fn test_a_large_photo_is_resized_to_its_long_side_keeping_its_proportions() {
        let source = left_red_right_blue(2000, 1000, None);
        let made = process(&source, Processing::default()).unwrap();
        assert_eq!((made.width, made.height), (1600, 800));
        let small = Processing {
            long_side: 500,
            ..Processing::default()
        };
        let made = process(&source, small).unwrap();
        assert_eq!((made.width, made.height), (500, 250));
        // A photo smaller than the long side keeps its size.
        let made = process(&left_red_right_blue(300, 200, None), small).unwrap();
        assert_eq!((made.width, made.height), (300, 200));
    }

    #[test]
    fn test_the_same_photo_makes_the_same_bytes_and_so_the_same_address() {
        let source = left_red_right_blue(640, 480, None);
        let first = process(&source, Processing::default()).unwrap();
        let second = process(&source, Processing::default()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.hash, hash_of(&second.bytes));
    }

    #[test]
    fn test_a_header_claiming_a_huge_size_is_refused_before_decoding() {
        let mut bomb = left_red_right_blue(64, 64, None);
        // The baseline frame header: FF C0, length, precision, then height and width.
        let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bomb[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
        let err = process(&bomb, Processing::default()).unwrap_err();
        assert_eq!(
            err,
            PhotoError::TooManyPixels {
                width: 65535,
                height: 65535
            }
        );
        assert!(err.message().zh.contains("像素"), "{}", err.message());
    }

    #[test]
    fn test_a_cut_off_or_damaged_photo_is_refused() {
        let photo = left_red_right_blue(256, 256, None);
        let cut = &photo[..photo.len() / 2];
        assert!(matches!(
            process(cut, Processing::default()),
            Err(PhotoError::Damaged(_))
        ));
        let mut damaged = photo[..200].to_vec();
        damaged.extend(std::iter::repeat_n(0x5A, 400));
        damaged.extend_from_slice(&[0xFF, 0xD9]);
        let err = process(&damaged, Processing::default()).unwrap_err();
        assert!(matches!(err, PhotoError::Damaged(_)), "{err:?}");
        assert!(err.message().zh.contains("损坏"));
    }

    #[test]
    fn test_a_file_that_is_not_an_image_is_refused() {
        for file in [&b"%PDF-1.7 not a photo"[..], b"", b"GIF89a\x01\x00\x01\x00"] {
            assert_eq!(
                process(file, Processing::default()),
                Err(PhotoError::NotAnImage)
            );
        }
        assert!(PhotoError::NotAnImage.message().zh.contains("不是照片"));
    }

    #[test]
    fn test_an_oversize_file_is_refused_without_reading_it() {
        let huge = vec![0u8; (MAX_SOURCE_BYTES + 1) as usize];
        assert!(matches!(
            process(&huge, Processing::default()),
            Err(PhotoError::FileTooLarge { .. })
        ));
    }

    #[test]
    fn test_settings_out_of_range_are_refused() {
        let source = left_red_right_blue(64, 64, None);
        for processing in [
            Processing {
                long_side: 8000,
                quality: 80,
            },
            Processing {
                long_side: 1600,
                quality: 0,
            },
        ] {
            assert!(matches!(
                process(&source, processing),
                Err(PhotoError::BadSettings { .. })
            ));
        }
    }
}
