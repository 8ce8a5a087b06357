//! Photos from the phone's side, through the real binary on both databases: attached
//! offline, uploaded after the data, resumed after cuts at random byte offsets, sent once
//! whatever the number of phones that took it, seen on a second phone thumbnail first, and
//! stored on the server without EXIF.

use crate::support::*;
use client_core::photo::{self, DEFAULT_CHUNK_BYTES, PhotoSize, Processing, UploadReport};
use client_core::store::{Held, UploadState};
use client_core::sync::{HttpTransport, SyncError, Transport, TransportError};
use doorstep_e2e::{Backend, Phone, Server, TestDatabase, VILLAGE};
use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::{GenericImageView, ImageDecoder, ImageEncoder, Rgb, RgbImage};
use schema::layout::PhotoOf;
use schema::photo::{PhotoHash, PhotoKind};
use std::io::Cursor;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// EXIF as a phone camera writes it, reduced to what matters here: the orientation (6, a
/// quarter turn) and the maker of the phone, which must not reach the server.
fn camera_exif() -> Vec<u8> {
    let make = b"PhoneMaker\0";
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&6u16.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0x010Fu16.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&(make.len() as u32).to_le_bytes());
    tiff.extend_from_slice(&((8 + 2 + 2 * 12 + 4) as u32).to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(make);
    tiff
}

/// A camera photo with detail (noise over gradients), stored sideways with its EXIF.
fn camera_photo(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let image = RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state & 0x3F) as u8;
        Rgb([
            ((x * 255 / width) as u8).wrapping_add(noise),
            ((y * 255 / height) as u8).wrapping_add(noise / 2),
            noise.wrapping_mul(3),
        ])
    });
    let mut bytes = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut bytes, 92);
    encoder.set_exif_metadata(camera_exif()).unwrap();
    encoder
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    bytes
}

fn has_exif(jpeg: &[u8]) -> bool {
    let mut decoder = JpegDecoder::new(Cursor::new(jpeg)).unwrap();
    decoder.exif_metadata().unwrap().is_some() || jpeg.windows(6).any(|w| w == b"Exif\0\0")
}

fn transport() -> HttpTransport {
    HttpTransport::new(Duration::from_secs(30))
}

fn upload(phone: &Phone, link: &dyn Transport) -> Result<UploadReport, SyncError> {
    photo::upload_photos(
        &phone.store,
        link,
        DEFAULT_CHUNK_BYTES,
        &AtomicBool::new(false),
        &mut |_| {},
    )
}

/// The whole photo as the server serves it to a phone of the household's village.
fn served(phone: &Phone, server: &Server, household: &str, hash: &PhotoHash) -> Vec<u8> {
    let url = format!(
        "{}/api/v1/photos/{hash}?household={household}&size=full",
        server.url
    );
    let token = phone.store.setting("token").unwrap().unwrap();
    transport()
        .photo_get(&url, &token, 8 * 1024 * 1024)
        .unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn test_a_photo_attached_offline_reaches_a_second_phone_thumbnail_first_without_exif() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let taker = Phone::new("phone-a", &server, &token);
        let household = taker
            .store
            .create_household(&Phone::village(), None)
            .unwrap();
        let member = taker.store.add_member(&household, "刘伟", None).unwrap();
        let source = camera_photo(2400, 1800, 1);
        let door = taker
            .store
            .attach_photo(
                &household,
                &source,
                PhotoKind::DoorPlate,
                &PhotoOf::Household,
                Processing::default(),
            )
            .unwrap();
        let card = taker
            .store
            .attach_photo(
                &household,
                &camera_photo(1000, 700, 2),
                PhotoKind::BankCard,
                &PhotoOf::Member(member.clone()),
                Processing::default(),
            )
            .unwrap();
        // Before the references are on the server, a photo has nowhere to go.
        let early = upload(&taker, &transport()).unwrap();
        assert_eq!((early.waiting, early.uploaded), (2, 0), "{backend:?}");
        taker.sync();
        let report = upload(&taker, &transport()).unwrap();
        assert_eq!(report.uploaded, 2, "{backend:?}: {report:?}");
        let made = taker.store.photo_bytes(&door.hash).unwrap().unwrap();
        assert!(has_exif(&source) && !has_exif(&made), "{backend:?}");

        let other_token = db.add_device(&[VILLAGE]);
        let other = Phone::new("phone-b", &server, &other_token);
        other.sync();
        let listed = other.store.photos(&household).unwrap();
        assert_eq!(listed.len(), 2, "{backend:?}");
        assert!(listed.iter().all(|p| p.held == Held::Nothing));
        assert!(listed.iter().all(|p| p.upload == UploadState::Elsewhere));
        let of_card = listed.iter().find(|p| p.hash == card.hash).unwrap();
        assert_eq!(of_card.kind, Some(PhotoKind::BankCard));
        assert_eq!(of_card.of, Some(format!("members.{member}")));

        let thumbnail = photo::fetch_photo(
            &other.store,
            &transport(),
            &household,
            &door.hash,
            PhotoSize::Thumbnail,
        )
        .unwrap();
        let small = image::load_from_memory(&thumbnail).unwrap();
        assert_eq!(small.width().max(small.height()), 320, "{backend:?}");
        assert_eq!(other.store.photo_bytes(&door.hash).unwrap(), None);
        let full = photo::fetch_photo(
            &other.store,
            &transport(),
            &household,
            &door.hash,
            PhotoSize::Full,
        )
        .unwrap();
        assert_eq!(full, made, "{backend:?}");
        // Upright: the camera held the phone a quarter turn, so 2400 × 1800 stands up.
        assert_eq!(
            image::load_from_memory(&full).unwrap().dimensions(),
            (1200, 1600)
        );
        // What the server stores and serves is the phone's JPEG, without EXIF: no maker, no
        // place.
        let stored = served(&other, &server, household.as_str(), &door.hash);
        assert!(!has_exif(&stored), "{backend:?}");
        assert!(!stored.windows(10).any(|w| w == b"PhoneMaker"));
        // The sensitive kind comes whole to a phone of the village too.
        let card_bytes = taker.store.photo_bytes(&card.hash).unwrap().unwrap();
        assert_eq!(
            served(&other, &server, household.as_str(), &card.hash),
            card_bytes
        );
    }
}

/// A 2G link that drops every other request: a cut chunk delivers the bytes before a
/// random offset to the server, and the phone hears nothing back.
struct CuttingLink {
    inner: HttpTransport,
    state: Mutex<u64>,
    cuts: Mutex<u32>,
}

impl CuttingLink {
    fn new(seed: u64) -> CuttingLink {
        CuttingLink {
            inner: transport(),
            state: Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            cuts: Mutex::new(0),
        }
    }

    fn random(&self) -> u64 {
        let mut state = self.state.lock().unwrap();
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }
}

impl Transport for CuttingLink {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.inner.post(url, token, body)
    }

    fn photo_get(&self, url: &str, token: &str, limit: u64) -> Result<Vec<u8>, TransportError> {
        self.inner.photo_get(url, token, limit)
    }

    fn photo_put(&self, url: &str, token: &str, chunk: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.random().is_multiple_of(2) {
            *self.cuts.lock().unwrap() += 1;
            let arrived = (self.random() % chunk.len() as u64) as usize;
            if arrived > 0 {
                // The server keeps what arrived; the answer is lost with the link.
                let _ = self.inner.photo_put(url, token, &chunk[..arrived]);
            }
            return Err(TransportError::Network(format!(
                "cut after {arrived} bytes"
            )));
        }
        self.inner.photo_put(url, token, chunk)
    }
}

#[test]
fn test_an_upload_cut_at_random_offsets_completes_and_a_photo_taken_twice_uploads_once() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let a = Phone::new("phone-a", &server, &token);
        let household = a.store.create_household(&Phone::village(), None).unwrap();
        a.sync();
        let b_token = db.add_device(&[VILLAGE]);
        let b = Phone::new("phone-b", &server, &b_token);
        b.sync();
        // Both volunteers photograph the same door plate file, offline.
        let source = camera_photo(3000, 2000, 9);
        let attach = |phone: &Phone| {
            phone
                .store
                .attach_photo(
                    &household,
                    &source,
                    PhotoKind::DoorPlate,
                    &PhotoOf::Household,
                    Processing::default(),
                )
                .unwrap()
        };
        let on_a = attach(&a);
        let on_b = attach(&b);
        assert_eq!(on_a.hash, on_b.hash);
        a.sync();
        b.sync();
        let bytes = a.store.photo_bytes(&on_a.hash).unwrap().unwrap();

        let link = CuttingLink::new(backend.name().len() as u64);
        let mut attempts = 0;
        let report = loop {
            attempts += 1;
            assert!(attempts < 200, "{backend:?}: the upload never finished");
            match photo::upload_photos(
                &a.store,
                &link,
                16 * 1024,
                &AtomicBool::new(false),
                &mut |_| {},
            ) {
                Ok(report) => break report,
                Err(SyncError::Network(_)) => continue,
                Err(err) => panic!("{backend:?}: {}", err.message()),
            }
        };
        assert!(*link.cuts.lock().unwrap() > 0, "{backend:?}: never cut");
        assert_eq!(report.uploaded, 1, "{backend:?}: {report:?}");
        assert_eq!(served(&a, &server, household.as_str(), &on_a.hash), bytes);

        // The other phone took the same photo: it asks, and sends nothing.
        let report = upload(&b, &transport()).unwrap();
        assert_eq!(report.already_held, 1, "{backend:?}: {report:?}");
        assert_eq!(report.bytes_sent, 0, "{backend:?}");
        // And neither asks again.
        assert_eq!(upload(&a, &transport()).unwrap().requests, 0);
        assert_eq!(upload(&b, &transport()).unwrap().requests, 0);
    }
}

#[test]
fn test_the_field_client_attaches_syncs_and_fetches_photos_and_refuses_what_is_no_photo() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let taker = tempfile::tempdir().unwrap();
        let code = db.run(&[
            "device",
            "enroll",
            "--volunteer",
            "李娜",
            "--village",
            VILLAGE,
        ]);
        field_ok(taker.path(), &["enroll", &code, "--server", &server.url]);
        let household = field_ok(taker.path(), &["household", "new", "--village", VILLAGE]);
        let files = tempfile::tempdir().unwrap();
        let jpeg_path = files.path().join("door.jpg");
        std::fs::write(&jpeg_path, camera_photo(1800, 1200, 3)).unwrap();
        let jpeg = jpeg_path.to_str().unwrap();
        let hash = field_ok(
            taker.path(),
            &[
                "photo",
                "add",
                &household,
                "--file",
                jpeg,
                "--kind",
                "door_plate",
            ],
        );
        // The same file again is the same photo.
        let again = field_ok(
            taker.path(),
            &[
                "photo",
                "add",
                &household,
                "--file",
                jpeg,
                "--kind",
                "door_plate",
            ],
        );
        assert_eq!(hash, again);
        let listed = field_ok(taker.path(), &["photo", "list", &household]);
        assert_eq!(listed.lines().count(), 1, "{listed}");
        assert!(
            listed.contains("门牌") && listed.contains("待上传"),
            "{listed}"
        );

        let summary = field_ok(taker.path(), &["sync"]);
        assert!(
            summary.contains("已上传 uploaded 1"),
            "{backend:?}: {summary}"
        );
        let summary: serde_json::Value =
            serde_json::from_str(&field_ok(taker.path(), &["sync", "--json"])).unwrap();
        assert_eq!(summary["photos"]["requests"], 0, "{backend:?}: {summary}");

        let viewer = tempfile::tempdir().unwrap();
        let code = db.run(&[
            "device",
            "enroll",
            "--volunteer",
            "王芳",
            "--village",
            VILLAGE,
        ]);
        field_ok(viewer.path(), &["enroll", &code, "--server", &server.url]);
        field_ok(viewer.path(), &["sync"]);
        let thumb = files.path().join("thumb.jpg");
        field_ok(
            viewer.path(),
            &["photo", "get", &hash, "--out", thumb.to_str().unwrap()],
        );
        let small = image::open(&thumb).unwrap();
        assert_eq!(small.width().max(small.height()), 320);
        let full = files.path().join("full.jpg");
        field_ok(
            viewer.path(),
            &[
                "photo",
                "get",
                &hash,
                "--out",
                full.to_str().unwrap(),
                "--full",
            ],
        );
        let full = std::fs::read(&full).unwrap();
        assert_eq!(photo::hash_of(&full).as_str(), hash);
        assert!(!has_exif(&full));

        // What is no photo is refused on the phone, in Chinese first.
        let text = files.path().join("notes.txt");
        std::fs::write(&text, "入户走访记录").unwrap();
        let mut cut = camera_photo(800, 600, 4);
        cut.truncate(cut.len() / 2);
        let truncated = files.path().join("cut.jpg");
        std::fs::write(&truncated, cut).unwrap();
        for (file, kind, says) in [
            (&text, "door_plate", "不是照片"),
            (&truncated, "door_plate", "损坏"),
            (&jpeg_path, "passport", "照片类别"),
        ] {
            let output = field(
                taker.path(),
                &[
                    "photo",
                    "add",
                    &household,
                    "--file",
                    file.to_str().unwrap(),
                    "--kind",
                    kind,
                ],
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.starts_with("错误：") && stderr.contains(says),
                "{stderr}"
            );
            assert!(stderr.contains("error: "), "{stderr}");
        }
        let listed = field_ok(taker.path(), &["photo", "list", &household]);
        assert_eq!(listed.lines().count(), 1, "{listed}");
    }
}
