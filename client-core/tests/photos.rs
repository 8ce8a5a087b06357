//! Photos on the phone against a photo server that lives in the test: attached once per
//! hash, uploaded after the references, resumed after cuts at random byte offsets, sent
//! zero times when the server already holds them, fetched lazily.

#![allow(clippy::unwrap_used)]

use doorstep_client_core::Store;
use doorstep_client_core::photo::{
    self, DEFAULT_CHUNK_BYTES, PhotoSize, Processing, UploadReport, hash_of,
};
use doorstep_client_core::store::{Held, PhotoSummary, UploadState};
use doorstep_client_core::sync::{self, Transport, TransportError};
use image::{ImageEncoder, Rgb, RgbImage};
use schema::ids::{AreaCode, HouseholdId};
use schema::layout::PhotoOf;
use schema::photo::{PhotoHash, PhotoKind, UploadStatus};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

const VILLAGE: &str = "141124100201";
const SERVER: &str = "http://photos.test";

/// A camera photo with detail: noise over gradients, so it does not compress to nothing.
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
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    bytes
}

fn phone() -> (tempfile::TempDir, Store, HouseholdId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    sync::connect(&store, SERVER, "device-token").unwrap();
    let household = store
        .create_household(&AreaCode::parse(VILLAGE).unwrap(), None)
        .unwrap();
    (dir, store, household)
}

/// The photo requests of `docs/PROTOCOL.md`, in memory: partial uploads kept by hash,
/// completed only when the bytes hash to the address.
#[derive(Default)]
struct PhotoServer {
    referenced: Mutex<HashSet<String>>,
    partial: Mutex<HashMap<String, Vec<u8>>>,
    stored: Mutex<HashMap<String, Vec<u8>>>,
    /// Bytes that reached the server in chunks, whole or cut.
    received_bytes: Mutex<u64>,
    /// Garble the next completed upload once, as a link that flipped a bit would.
    garble_once: AtomicBool,
}

fn query<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

fn hash_in(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    let rest = path.split("/api/v1/photos/").nth(1).unwrap();
    rest.split('/').next().unwrap().to_owned()
}

fn refusal(status: u16, code: &str, extra: serde_json::Value) -> TransportError {
    let mut body = json!({"error": code, "message": {"zh": "拒绝", "en": "refused"}});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    TransportError::Status {
        status,
        body: serde_json::to_vec(&body).unwrap(),
    }
}

impl PhotoServer {
    fn reference(&self, hash: &PhotoHash) {
        self.referenced.lock().unwrap().insert(hash.to_string());
    }

    fn status(&self, hash: &str) -> UploadStatus {
        if self.stored.lock().unwrap().contains_key(hash) {
            let size = self.stored.lock().unwrap()[hash].len() as u64;
            return UploadStatus {
                received: size,
                complete: true,
            };
        }
        let received = self.partial.lock().unwrap().get(hash).map_or(0, Vec::len) as u64;
        UploadStatus {
            received,
            complete: false,
        }
    }

    /// Takes the bytes of a chunk that reached it, all or only the first ones.
    fn take(&self, url: &str, chunk: &[u8]) -> Result<Vec<u8>, TransportError> {
        let hash = hash_in(url);
        if !self.referenced.lock().unwrap().contains(&hash) {
            return Err(refusal(403, "photo_not_referenced", json!({})));
        }
        let offset: u64 = query(url, "offset").unwrap().parse().unwrap();
        let size: u64 = query(url, "size").unwrap().parse().unwrap();
        let held = self.status(&hash);
        if held.complete {
            return Ok(serde_json::to_vec(&held).unwrap());
        }
        if offset != held.received {
            return Err(refusal(
                409,
                "upload_offset",
                json!({"received": held.received}),
            ));
        }
        *self.received_bytes.lock().unwrap() += chunk.len() as u64;
        let mut partial = self.partial.lock().unwrap();
        let bytes = partial.entry(hash.clone()).or_default();
        bytes.extend_from_slice(chunk);
        if bytes.len() as u64 >= size {
            let mut whole = partial.remove(&hash).unwrap();
            if self.garble_once.swap(false, Ordering::SeqCst) {
                whole[size as usize / 2] ^= 0xFF;
            }
            if hash_of(&whole).as_str() != hash {
                return Err(refusal(422, "photo_hash_mismatch", json!({})));
            }
            self.stored.lock().unwrap().insert(hash.clone(), whole);
        }
        drop(partial);
        Ok(serde_json::to_vec(&self.status(&hash)).unwrap())
    }
}

impl Transport for PhotoServer {
    fn post(&self, url: &str, _token: &str, _body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Network(format!("no sync here: {url}")))
    }

    fn photo_get(&self, url: &str, _token: &str, _limit: u64) -> Result<Vec<u8>, TransportError> {
        let hash = hash_in(url);
        if url.contains("/upload?") {
            return Ok(serde_json::to_vec(&self.status(&hash)).unwrap());
        }
        let stored = self.stored.lock().unwrap();
        let photo = stored
            .get(&hash)
            .ok_or_else(|| refusal(404, "not_found", json!({})))?;
        Ok(match query(url, "size") {
            // Any smaller JPEG stands for the server's thumbnail here.
            Some("thumb") => photo[..photo.len().min(64)].to_vec(),
            _ => photo.clone(),
        })
    }

    fn photo_put(&self, url: &str, _token: &str, chunk: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.take(url, chunk)
    }
}

/// A 2G link that drops: a request is cut with probability one in `one_in`; a cut chunk
/// delivers the bytes before a random offset and the phone hears nothing.
struct CuttingLink<'s> {
    server: &'s PhotoServer,
    state: Mutex<u64>,
    one_in: u64,
    cuts: Mutex<u64>,
}

impl CuttingLink<'_> {
    fn random(&self) -> u64 {
        let mut state = self.state.lock().unwrap();
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn cut(&self) -> bool {
        let cut = self.random().is_multiple_of(self.one_in);
        if cut {
            *self.cuts.lock().unwrap() += 1;
        }
        cut
    }
}

impl Transport for CuttingLink<'_> {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.server.post(url, token, body)
    }

    fn photo_get(&self, url: &str, token: &str, limit: u64) -> Result<Vec<u8>, TransportError> {
        if self.cut() {
            return Err(TransportError::Network("cut before the answer".into()));
        }
        self.server.photo_get(url, token, limit)
    }

    fn photo_put(&self, url: &str, _token: &str, chunk: &[u8]) -> Result<Vec<u8>, TransportError> {
        if self.cut() {
            let arrived = (self.random() % (chunk.len() as u64 + 1)) as usize;
            // Whatever the server makes of the bytes that arrived, the phone never hears it.
            let _ = self.server.take(url, &chunk[..arrived]);
            return Err(TransportError::Network(format!(
                "cut after {arrived} bytes"
            )));
        }
        self.server.take(url, chunk)
    }
}

fn upload(
    store: &Store,
    link: &dyn Transport,
    chunk: u64,
) -> Result<UploadReport, sync::SyncError> {
    photo::upload_photos(store, link, chunk, &AtomicBool::new(false), &mut |_| {})
}

/// Attaches a photo to the household itself.
fn attach(store: &Store, household: &HouseholdId, source: &[u8], kind: PhotoKind) -> PhotoSummary {
    store
        .attach_photo(
            household,
            source,
            kind,
            &PhotoOf::Household,
            Processing::default(),
        )
        .unwrap()
}

#[test]
fn test_the_same_photo_attached_twice_is_stored_and_referenced_once() {
    let (_dir, store, household) = phone();
    let source = camera_photo(800, 600, 1);
    let first = attach(&store, &household, &source, PhotoKind::DoorPlate);
    let unsynced = store.unsynced_changes().unwrap();
    let again = attach(&store, &household, &source, PhotoKind::DoorPlate);
    assert_eq!(first.hash, again.hash);
    assert_eq!(
        store.unsynced_changes().unwrap(),
        unsynced,
        "the second attach changed the document"
    );
    let photos = store.photos(&household).unwrap();
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0].held, Held::Photo);
    assert_eq!(photos[0].upload, UploadState::Waiting);
    assert_eq!(photos[0].of.as_deref(), Some("household"));
    assert_eq!(store.photos_to_upload().unwrap().len(), 1);
    let bytes = store.photo_bytes(&first.hash).unwrap().unwrap();
    assert_eq!(hash_of(&bytes), first.hash);
    assert_eq!(photos[0].bytes, Some(bytes.len() as u64));
}

#[test]
fn test_a_photo_of_a_record_the_household_lacks_is_refused() {
    let (_dir, store, household) = phone();
    let member = PhotoOf::parse("members.0a1b2c3d").unwrap();
    let err = store
        .attach_photo(
            &household,
            &camera_photo(64, 64, 2),
            PhotoKind::Certificate,
            &member,
            Processing::default(),
        )
        .unwrap_err();
    assert!(err.message().zh.contains("没有记录"), "{}", err.message());
    assert_eq!(store.photos(&household).unwrap(), Vec::new());
    let key = store.add_member(&household, "刘伟", None).unwrap();
    let member = PhotoOf::Member(key);
    let attached = store
        .attach_photo(
            &household,
            &camera_photo(64, 64, 2),
            PhotoKind::Certificate,
            &member,
            Processing::default(),
        )
        .unwrap();
    assert_eq!(attached.of, Some(member.to_string()));
}

#[test]
fn test_an_upload_cut_at_random_offsets_resumes_until_the_server_holds_exactly_the_photo() {
    for seed in 1..=5u64 {
        let (_dir, store, household) = phone();
        let attached = attach(
            &store,
            &household,
            &camera_photo(1200, 900, seed as u32),
            PhotoKind::Contract,
        );
        let photo = store.photo_bytes(&attached.hash).unwrap().unwrap();
        let server = PhotoServer::default();
        server.reference(&attached.hash);
        let link = CuttingLink {
            server: &server,
            state: Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            one_in: 2,
            cuts: Mutex::new(0),
        };
        let mut attempts = 0;
        let report = loop {
            attempts += 1;
            assert!(attempts < 500, "the upload never finished");
            // Each failed attempt is the next sync: it asks the server where it stands.
            match upload(&store, &link, 16 * 1024) {
                Ok(report) => break report,
                Err(sync::SyncError::Network(_)) => continue,
                Err(err) => panic!("{err}"),
            }
        };
        assert!(*link.cuts.lock().unwrap() > 0, "seed {seed}: no cut");
        assert_eq!(report.uploaded + report.already_held, 1);
        assert_eq!(server.stored.lock().unwrap()[attached.hash.as_str()], photo);
        assert!(server.partial.lock().unwrap().is_empty());
        // A cut loses at most the chunk in flight: nothing is received twice.
        assert_eq!(*server.received_bytes.lock().unwrap(), photo.len() as u64);
        assert_eq!(
            store.photos(&household).unwrap()[0].upload,
            UploadState::Uploaded
        );
        // Confirmed photos are not asked about again.
        let again = upload(&store, &link, 16 * 1024).unwrap();
        assert_eq!(again.requests, 0);
    }
}

#[test]
fn test_a_photo_the_server_holds_already_is_sent_zero_times() {
    let (_dir, store, household) = phone();
    let source = camera_photo(640, 480, 7);
    let attached = attach(&store, &household, &source, PhotoKind::DoorPlate);
    let server = PhotoServer::default();
    server.reference(&attached.hash);
    // Another phone took the same photo and uploaded it.
    let bytes = store.photo_bytes(&attached.hash).unwrap().unwrap();
    server
        .stored
        .lock()
        .unwrap()
        .insert(attached.hash.to_string(), bytes);
    let report = upload(&store, &server, DEFAULT_CHUNK_BYTES).unwrap();
    assert_eq!(report.already_held, 1);
    assert_eq!(report.bytes_sent, 0);
    assert_eq!(*server.received_bytes.lock().unwrap(), 0);
}

#[test]
fn test_a_photo_whose_reference_has_not_reached_the_server_waits_for_the_next_sync() {
    let (_dir, store, household) = phone();
    let attached = attach(
        &store,
        &household,
        &camera_photo(320, 240, 3),
        PhotoKind::Other,
    );
    let server = PhotoServer::default();
    let report = upload(&store, &server, DEFAULT_CHUNK_BYTES).unwrap();
    assert_eq!((report.waiting, report.uploaded), (1, 0));
    server.reference(&attached.hash);
    let report = upload(&store, &server, DEFAULT_CHUNK_BYTES).unwrap();
    assert_eq!(report.uploaded, 1);
}

#[test]
fn test_a_garbled_upload_starts_again_from_the_first_byte_once() {
    let (_dir, store, household) = phone();
    let attached = attach(
        &store,
        &household,
        &camera_photo(640, 480, 4),
        PhotoKind::BankCard,
    );
    let photo = store.photo_bytes(&attached.hash).unwrap().unwrap();
    let server = PhotoServer::default();
    server.reference(&attached.hash);
    server.garble_once.store(true, Ordering::SeqCst);
    let report = upload(&store, &server, 8 * 1024).unwrap();
    assert_eq!(report.uploaded, 1);
    assert_eq!(report.bytes_sent, 2 * photo.len() as u64);
    assert_eq!(server.stored.lock().unwrap()[attached.hash.as_str()], photo);
}

#[test]
fn test_a_photo_from_another_phone_is_fetched_only_when_looked_at_thumbnail_first() {
    let (_dir, taker, household) = phone();
    let attached = attach(
        &taker,
        &household,
        &camera_photo(640, 480, 5),
        PhotoKind::DoorPlate,
    );
    let photo = taker.photo_bytes(&attached.hash).unwrap().unwrap();
    let server = PhotoServer::default();
    server
        .stored
        .lock()
        .unwrap()
        .insert(attached.hash.to_string(), photo.clone());
    let (_other_dir, other, _) = phone();
    assert_eq!(other.photo_bytes(&attached.hash).unwrap(), None);
    let thumbnail = photo::fetch_photo(
        &other,
        &server,
        &household,
        &attached.hash,
        PhotoSize::Thumbnail,
    )
    .unwrap();
    assert_eq!(thumbnail, photo[..64].to_vec());
    assert_eq!(
        other.photo_thumbnail(&attached.hash).unwrap(),
        Some(thumbnail)
    );
    assert_eq!(other.photo_bytes(&attached.hash).unwrap(), None);
    let full =
        photo::fetch_photo(&other, &server, &household, &attached.hash, PhotoSize::Full).unwrap();
    assert_eq!(full, photo);
    // Held now: no request is made for it again.
    let offline = PhotoServer::default();
    let again = photo::fetch_photo(
        &other,
        &offline,
        &household,
        &attached.hash,
        PhotoSize::Full,
    )
    .unwrap();
    assert_eq!(again, photo);
}
