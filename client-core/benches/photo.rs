//! Criterion benchmark of photo processing on the device (issue 18): a 12-megapixel camera
//! JPEG made small (decoded, turned upright, resized to 1600 px, re-encoded at quality 80
//! without EXIF), against decoding the same JPEG alone as the yardstick, measured in the
//! same run. It also prints the bytes after processing against the original's. Run with
//! `cargo bench -p doorstep-client-core --bench photo`; results in `docs/BENCHMARKS.md`,
//! "Photos (issue 18)".

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, SamplingMode};
use doorstep_client_core::photo::{Processing, decode, process};
use image::codecs::jpeg::JpegEncoder;
use image::{ImageEncoder, Rgb, RgbImage};
use std::time::Duration;

/// A 4000 × 3000 photo with detail at every scale: gradients, a grid of edges like a
/// door plate's letters, and sensor-like noise, so it compresses the way a camera photo
/// does (a few MB at quality 92), not the way a flat colour does. Deterministic.
fn camera_jpeg() -> Vec<u8> {
    let (width, height) = (4000u32, 3000u32);
    let mut state = 0x2545_F491u32;
    let image = RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state & 0x1F) as u8;
        let edge = if (x / 37 + y / 53) % 3 == 0 { 90 } else { 0 };
        Rgb([
            ((x * 200 / width) as u8)
                .wrapping_add(noise)
                .wrapping_add(edge),
            ((y * 200 / height) as u8).wrapping_add(noise / 2),
            (((x ^ y) & 0x7F) as u8).wrapping_add(edge / 2),
        ])
    });
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 92)
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    bytes
}

fn main() {
    let source = camera_jpeg();
    let made = process(&source, Processing::default()).unwrap();
    println!(
        "photo/bytes: original {} B (4000 × 3000), processed {} B ({} × {}), ratio {:.3}",
        source.len(),
        made.bytes.len(),
        made.width,
        made.height,
        made.bytes.len() as f64 / source.len() as f64
    );
    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let mut group = criterion.benchmark_group("photo");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("decode_12mp (yardstick)", |b| {
        b.iter(|| decode(&source).unwrap())
    });
    group.bench_function("process_12mp", |b| {
        b.iter(|| process(&source, Processing::default()).unwrap())
    });
    group.finish();
    criterion.final_summary();
}
