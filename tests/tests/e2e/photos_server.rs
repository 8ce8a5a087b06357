//! Photos on the server (issue 18), through the real binary on both databases: a household's
//! document references a photo (written on a phone, synced), the photo goes up in chunks over
//! a link cut at random offsets and resumes until the server holds exactly one intact copy;
//! the same photo again sends nothing; every kind of bad input is refused with its code and
//! the sync goes on; devices download thumbnails and photos of their households only; a bank
//! card is sealed at rest and masked on the console for a clerk without full ID sight.

use automerge::AutoCommit;
use client_core::photo::Processing;
use doorstep_e2e::photos::{self, Fate, Link, PhotoClient, Steady};
use doorstep_e2e::{Backend, COUNTY, OTHER_VILLAGE, Phone, Server, Sql, TestDatabase, VILLAGE};
use schema::fields::{Entity, FieldPath};
use schema::ids::{HouseholdId, RecordId};
use schema::layout::{self, ActorInfo, FieldValue, PhotoOf};
use schema::photo::PhotoKind;
use schema::wire::UploadOutcome;
use sqlx::Row;
use std::path::{Path, PathBuf};

use crate::support::*;

/// Attaches a photo (`source`, as a camera took it) to a household on the phone, which
/// makes it small and references it, and syncs the reference to the server. Returns the
/// photo as the phone made it, and its address.
fn attach(
    phone: &Phone,
    household: &HouseholdId,
    source: &[u8],
    kind: PhotoKind,
) -> (Vec<u8>, String) {
    let summary = phone
        .store
        .attach_photo(
            household,
            source,
            kind,
            &PhotoOf::Household,
            Processing::default(),
        )
        .unwrap();
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{report:?}");
    let bytes = phone.store.photo_bytes(&summary.hash).unwrap().unwrap();
    (bytes, summary.hash.to_string())
}

/// The actor of the household documents the tests write by hand.
const HAND_ACTOR: &str = "0123456789abcdef0123456789abcdef";

/// A household of `VILLAGE` written by hand through the layout's functions, referencing
/// photos whose bytes no phone would make (text, a JPEG cut short, a bomb), uploaded by a
/// raw sync with `token`. Returns its id.
fn household_referencing(
    server: &Server,
    token: &str,
    references: &[(&[u8], PhotoKind)],
) -> String {
    let id = fresh_id();
    let mut doc =
        AutoCommit::new().with_actor(automerge::ActorId::from(hex::decode(HAND_ACTOR).unwrap()));
    layout::init_household(&mut doc, &id, &area(VILLAGE), "NEW-PHOTOS", 1_764_979_200).unwrap();
    let actor = ActorInfo {
        device: Some("手写".to_owned()),
        volunteer: Some("测试".to_owned()),
        staff: None,
    };
    layout::write_actor(&mut doc, HAND_ACTOR, &actor).unwrap();
    for (bytes, kind) in references {
        let hash = photos::address(bytes);
        let key = RecordId::parse(&hash[..16]).unwrap();
        for (name, value) in [
            ("hash", FieldValue::Text(hash.clone())),
            ("kind", FieldValue::Text(kind.as_str().to_owned())),
            ("bytes", FieldValue::Integer(bytes.len() as i64)),
            ("of", FieldValue::Text("household".to_owned())),
        ] {
            let path = FieldPath::record(Entity::Photo, &key, name).unwrap();
            layout::write_field(&mut doc, &path, Some(&value)).unwrap();
        }
    }
    doc.commit();
    let changes: Vec<Vec<u8>> = doc
        .get_changes(&[])
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect();
    let response = sync_raw(
        server,
        token,
        &doorstep_e2e_request(vec![upload(id.as_str(), &changes)]),
    );
    assert!(
        matches!(response.results[0].outcome, UploadOutcome::Accepted { .. }),
        "{:?}",
        response.results[0].outcome
    );
    id.to_string()
}

fn doorstep_e2e_request(uploads: Vec<schema::wire::Upload>) -> schema::wire::SyncRequest {
    schema::wire::SyncRequest {
        actor: HAND_ACTOR.to_owned(),
        ..request(uploads)
    }
}

/// A phone of `VILLAGE` with one household recorded and synced.
fn phone_with_household(
    db: &TestDatabase,
    server: &Server,
    name: &str,
) -> (Phone, String, HouseholdId) {
    let token = db.add_device(&[VILLAGE]);
    let phone = Phone::new(name, server, &token);
    let household = record(&phone, VILLAGE, 1, name).pop_first().unwrap();
    phone.sync();
    (phone, token, household)
}

/// The files under a folder, at any depth.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// A link that drops half its requests, each at a random byte, answer included.
struct Flaky {
    state: u64,
}

impl Flaky {
    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
}

impl Link for Flaky {
    fn fate(&mut self, len: usize) -> Fate {
        if self.next().is_multiple_of(2) {
            Fate::Whole
        } else {
            Fate::CutAfter((self.next() % (len as u64 + 1)) as usize)
        }
    }
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes) | 1
}

fn error_code(answer: &photos::Answer) -> String {
    answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn test_an_upload_cut_at_random_offsets_resumes_until_the_server_holds_one_intact_copy() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let (phone, token, household) = phone_with_household(&db, &server, "甲");
        let (camera, _) = photos::photo(1600, 1200, 7);
        let (photo, hash) = attach(&phone, &household, &camera, PhotoKind::DoorPlate);
        let seed = seed();
        let mut client = PhotoClient::new(&server.url, &token);
        let traffic = client.upload(
            &hash,
            household.as_str(),
            &photo,
            photos::CHUNK_BYTES,
            &mut Flaky { state: seed },
        );
        assert!(
            traffic.cuts > 0,
            "{backend:?} seed {seed}: the link was never cut: {traffic:?}"
        );

        // Exactly one intact copy: one photo and one thumbnail in the store, the photo
        // byte for byte what the phone made; no chunk left behind.
        let blobs = db.data_dir.path().join("blobs");
        let stored = files(&blobs.join("photos"));
        assert_eq!(stored.len(), 1, "{backend:?} seed {seed}: {stored:?}");
        assert!(stored[0].ends_with(&hash));
        assert!(
            std::fs::read(&stored[0]).unwrap() == photo,
            "{backend:?} seed {seed}: the stored photo differs from the phone's"
        );
        assert_eq!(files(&blobs.join("thumbs")).len(), 1);
        let sql = Sql::open(&db);
        let rows = sql.rows("SELECT hash, kind, bytes, county, household, sealed FROM photo");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<String, _>("hash"), hash);
        assert_eq!(rows[0].get::<String, _>("kind"), "door_plate");
        assert_eq!(rows[0].get::<i64, _>("bytes"), photo.len() as i64);
        assert_eq!(rows[0].get::<String, _>("county"), COUNTY);
        assert_eq!(rows[0].get::<String, _>("household"), household.as_str());
        assert_eq!(rows[0].get::<i64, _>("sealed"), 0);
        assert!(sql.rows("SELECT device_id FROM photo_chunk").is_empty());

        // The same photo again, from this phone or a second one of the village that has
        // the household: the status says complete, and not one byte of it is sent.
        let again = client.upload(
            &hash,
            household.as_str(),
            &photo,
            photos::CHUNK_BYTES,
            &mut Steady,
        );
        assert_eq!(again.requests, 1, "{again:?}");
        assert!(again.wire_bytes < 2_000, "{again:?}");
        let second_token = db.add_device(&[VILLAGE]);
        let second = Phone::new("乙", &server, &second_token);
        second.sync();
        let mut second_client = PhotoClient::new(&server.url, &second_token);
        let status = second_client.status(&hash, household.as_str());
        assert_eq!(status.status, 200);
        assert_eq!(
            status.json(),
            serde_json::json!({"received": photo.len(), "complete": true})
        );

        // Downloads, the thumbnail first: a JPEG of long side 320; then the photo itself.
        let (code, content_type, thumb) = server.get_bytes(
            &format!("/api/v1/photos/{hash}?household={household}&size=thumb"),
            &second_token,
        );
        assert_eq!((code, content_type.as_str()), (200, "image/jpeg"));
        let thumb = image::load_from_memory(&thumb).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
        let (code, _, full) = server.get_bytes(
            &format!("/api/v1/photos/{hash}?household={household}&size=full"),
            &second_token,
        );
        assert_eq!(code, 200);
        assert!(full == photo, "the downloaded photo differs");

        // Storage counted per county, for staff and for the operator.
        let staff = server.staff_token(&db, COUNTY, "王县");
        let (code, usage) = server.get_json("/api/v1/photos/usage", &staff);
        assert_eq!(code, 200, "{usage}");
        assert_eq!(usage[0]["county"], COUNTY);
        assert_eq!(usage[0]["photos"], 1);
        assert_eq!(usage[0]["bytes"], photo.len());
        assert!(usage[0]["thumb_bytes"].as_u64().unwrap() > 1_000);
        let printed = db.run(&["photos", "usage", "--area", COUNTY]);
        assert!(
            printed.contains(&format!("{COUNTY}\t1\t{}\t", photo.len())),
            "{printed}"
        );
    }
}

#[test]
fn test_a_chunk_sent_again_after_its_answer_was_lost_is_refused_with_the_offset_to_go_on_from() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let (phone, token, household) = phone_with_household(&db, &server, "甲");
        let (camera, _) = photos::photo(800, 600, 3);
        let (photo, hash) = attach(&phone, &household, &camera, PhotoKind::Certificate);
        let mut client = PhotoClient::new(&server.url, &token);
        let first = &photo[..10_000];
        let answer = client
            .chunk(
                &hash,
                household.as_str(),
                0,
                photo.len(),
                first,
                &mut Steady,
            )
            .unwrap();
        assert_eq!(
            answer.json(),
            serde_json::json!({"received": 10_000, "complete": false})
        );
        let again = client
            .chunk(
                &hash,
                household.as_str(),
                0,
                photo.len(),
                first,
                &mut Steady,
            )
            .unwrap();
        assert_eq!(again.status, 409);
        let body = again.json();
        assert_eq!(body["error"], "upload_offset");
        assert_eq!(body["received"], 10_000);
        assert!(body["message"]["zh"].as_str().unwrap().contains("10000"));
        // Another phone's upload of the same photo is its own: it starts from 0.
        let other_token = db.add_device(&[VILLAGE]);
        Phone::new("乙", &server, &other_token).sync();
        let mut other = PhotoClient::new(&server.url, &other_token);
        assert_eq!(
            other.status(&hash, household.as_str()).json()["received"],
            0
        );
        assert_eq!(
            client.status(&hash, household.as_str()).json()["received"],
            10_000
        );
    }
}

#[test]
fn test_each_bad_photo_is_refused_with_its_code_and_the_sync_goes_on() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let (phone, token, household) = phone_with_household(&db, &server, "甲");
        let mut client = PhotoClient::new(&server.url, &token);
        let (good, good_hash) = photos::photo(640, 480, 5);
        let refused = |answer: &photos::Answer, status: u16, code: &str, what: &str| {
            assert_eq!(
                (answer.status, error_code(answer).as_str()),
                (status, code),
                "{backend:?} {what}: {}",
                answer.json()
            );
            let message = &answer.json()["message"];
            assert!(
                !message["zh"].as_str().unwrap().is_empty(),
                "{what}: no Chinese"
            );
            assert!(
                !message["en"].as_str().unwrap().is_empty(),
                "{what}: no English"
            );
        };

        // Not referenced by the household's document (its reference not synced): 403.
        let unreferenced = household.as_str();
        let answer = client
            .chunk(
                &good_hash,
                unreferenced,
                0,
                good.len(),
                &good[..100],
                &mut Steady,
            )
            .unwrap();
        refused(&answer, 403, "photo_not_referenced", "unreferenced");
        let answer = client.status(&good_hash, "no-such-household");
        refused(&answer, 403, "photo_not_referenced", "no such household");

        // The bad photos, each referenced properly by a household of the village.
        let cut = good[..good.len() / 2].to_vec();
        let mut corrupt = good.clone();
        let third = corrupt.len() / 3;
        corrupt[20..third].fill(0xFF);
        let text = "这不是照片 / not a photo".repeat(40).into_bytes();
        // A decompression bomb: a small JPEG whose header claims 60000 × 60000 pixels.
        let mut bomb = good.clone();
        let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bomb[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        let hh = household_referencing(
            &server,
            &token,
            &[
                (&good, PhotoKind::Other),
                (&cut, PhotoKind::Contract),
                (&corrupt, PhotoKind::Contract),
                (&text, PhotoKind::Contract),
                (&bomb, PhotoKind::Other),
            ],
        );
        let hh = hh.as_str();

        // A device of another village may neither send nor fetch it.
        let outsider = db.add_device(&[OTHER_VILLAGE]);
        let mut outside = PhotoClient::new(&server.url, &outsider);
        let answer = outside
            .chunk(&good_hash, hh, 0, good.len(), &good[..100], &mut Steady)
            .unwrap();
        refused(&answer, 403, "photo_not_referenced", "outsider's chunk");
        let (code, _, body) = server.get_bytes(
            &format!("/api/v1/photos/{good_hash}?household={hh}&size=thumb"),
            &outsider,
        );
        assert_eq!(code, 403, "{}", String::from_utf8_lossy(&body));

        // Sizes past the limits: 413 before anything is kept.
        let answer = client
            .chunk(
                &good_hash,
                hh,
                0,
                5 * 1024 * 1024,
                &good[..100],
                &mut Steady,
            )
            .unwrap();
        refused(&answer, 413, "too_large", "size over 4 MiB");
        let big_chunk = vec![0u8; 300 * 1024];
        let answer = client
            .chunk(&good_hash, hh, 0, 1024 * 1024, &big_chunk, &mut Steady)
            .unwrap();
        refused(&answer, 413, "too_large", "chunk over 256 KiB");
        // A chunk past the announced size, an address that is not one: 400.
        let answer = client
            .chunk(&good_hash, hh, 0, 50, &good[..100], &mut Steady)
            .unwrap();
        refused(&answer, 400, "bad_request", "chunk past size");
        let answer = client.status(&"AB".repeat(32), hh);
        refused(&answer, 400, "bad_request", "upper-case address");

        // Bytes that are not the photo the address names: 422, and the upload starts over.
        let (other, _) = photos::photo(640, 480, 6);
        let mut forged = other.clone();
        forged.resize(good.len(), 0);
        let mut at = 0;
        for piece in forged.chunks(photos::CHUNK_BYTES) {
            let answer = client
                .chunk(&good_hash, hh, at, good.len(), piece, &mut Steady)
                .unwrap();
            at += piece.len();
            if at < forged.len() {
                assert_eq!(answer.status, 200, "{}", answer.json());
            } else {
                refused(&answer, 422, "photo_hash_mismatch", "forged bytes");
                let en = answer.json()["message"]["en"].as_str().unwrap().to_owned();
                assert!(en.contains("again from the start"), "{en}");
            }
        }
        assert_eq!(client.status(&good_hash, hh).json()["received"], 0);

        // Not a whole JPEG: a photo cut short, a corrupt one, text.
        for (what, bytes) in [("cut", &cut), ("corrupt", &corrupt), ("text", &text)] {
            let hash = photos::address(bytes);
            let answer = client
                .chunk(&hash, hh, 0, bytes.len(), bytes, &mut Steady)
                .unwrap();
            refused(&answer, 422, "photo_not_an_image", what);
        }
        let answer = client
            .chunk(
                &photos::address(&bomb),
                hh,
                0,
                bomb.len(),
                &bomb,
                &mut Steady,
            )
            .unwrap();
        refused(&answer, 422, "photo_too_many_pixels", "bomb");
        let zh = answer.json()["message"]["zh"].as_str().unwrap().to_owned();
        assert!(zh.contains("60000 × 60000"), "{zh}");

        // Nothing of them was kept; the good photo still goes up; the sync goes on.
        let sql = Sql::open(&db);
        assert!(sql.rows("SELECT hash FROM photo").is_empty());
        assert!(sql.rows("SELECT hash FROM photo_chunk").is_empty());
        client.upload(&good_hash, hh, &good, photos::CHUNK_BYTES, &mut Steady);
        assert_eq!(sql.rows("SELECT hash FROM photo").len(), 1);
        assert_still_serving(&server, &phone);
    }
}

#[test]
fn test_a_bank_card_is_sealed_at_rest_and_masked_on_the_console_for_a_clerk() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let (phone, token, household) = phone_with_household(&db, &server, "甲");
        let (card, card_hash) = attach(
            &phone,
            &household,
            &photos::photo(1000, 630, 11).0,
            PhotoKind::BankCard,
        );
        let (door, door_hash) = attach(
            &phone,
            &household,
            &photos::photo(900, 600, 12).0,
            PhotoKind::DoorPlate,
        );
        let mut client = PhotoClient::new(&server.url, &token);
        for (bytes, hash) in [(&card, &card_hash), (&door, &door_hash)] {
            client.upload(
                hash,
                household.as_str(),
                bytes,
                photos::CHUNK_BYTES,
                &mut Steady,
            );
        }

        // At rest: the card's photo and thumbnail are sealed (no JPEG in them), the door's not.
        let blobs = db.data_dir.path().join("blobs");
        for folder in ["photos", "thumbs"] {
            let stored =
                std::fs::read(blobs.join(folder).join(&card_hash[..2]).join(&card_hash)).unwrap();
            assert!(
                !stored.starts_with(&[0xFF, 0xD8]),
                "{folder}: a bank card stored in the clear"
            );
            let plain =
                std::fs::read(blobs.join(folder).join(&door_hash[..2]).join(&door_hash)).unwrap();
            assert!(
                plain.starts_with(&[0xFF, 0xD8]),
                "{folder}: the door plate is a JPEG"
            );
        }
        let sql = Sql::open(&db);
        let sealed = sql.rows(&format!(
            "SELECT sealed FROM photo WHERE hash = '{card_hash}'"
        ));
        assert_eq!(sealed[0].get::<i64, _>("sealed"), 1);
        // The phone gets it back as it made it.
        let (code, _, full) = server.get_bytes(
            &format!("/api/v1/photos/{card_hash}?household={household}&size=full"),
            &token,
        );
        assert_eq!(code, 200);
        assert!(full == card, "the bank card came back altered");

        // On the console: the door plate as a thumbnail linking to the photo; the bank card
        // masked for a township clerk, saying why, and its address refused.
        let clerk_account = db.add_account("township_staff", "141124100", "李乡");
        let clerk = server.login(&clerk_account);
        let (code, _, page) = server.get_bytes(&format!("/register/{household}"), &clerk);
        assert_eq!(code, 200);
        let page = String::from_utf8(page).unwrap();
        let door_thumb = format!("/register/{household}/photos/{door_hash}?size=thumb");
        assert!(page.contains(&format!("src=\"{door_thumb}\"")), "{page}");
        assert!(page.contains(&format!(
            "href=\"/register/{household}/photos/{door_hash}?size=full\""
        )));
        assert!(page.contains("门牌"));
        assert!(
            !page.contains(&card_hash),
            "the clerk's page names the bank card's photo"
        );
        assert!(
            page.contains("银行卡照片已遮盖：您的角色不能查看银行卡、身份证等敏感照片"),
            "{page}"
        );
        let (code, content_type, thumb) = server.get_bytes(&door_thumb, &clerk);
        assert_eq!((code, content_type.as_str()), (200, "image/jpeg"));
        assert!(image::load_from_memory(&thumb).is_ok());
        let (code, _, _) = server.get_bytes(
            &format!("/register/{household}/photos/{card_hash}?size=thumb"),
            &clerk,
        );
        assert_eq!(code, 403);

        // The same page in a real browser: the thumbnail drawn, the bank card masked.
        let browser = run_browser(
            "photos.mjs",
            &serde_json::json!({
                "url": server.url,
                "clerk": account_json(&clerk_account, "李乡"),
                "household": household.as_str(),
                "screenshots": matches!(backend, Backend::Sqlite).then(screenshots_dir),
            }),
        );
        assert_eq!(
            browser.reported["thumbnail_width"], 320,
            "{}",
            browser.reported
        );

        // County staff see it masked until they reveal; reading it is audited.
        let county = server.staff_token(&db, COUNTY, "王县");
        let (_, _, page) = server.get_bytes(&format!("/register/{household}"), &county);
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.contains("银行卡照片已遮盖：点击“显示完整信息”后可见"),
            "{page}"
        );
        let (code, _, thumb) = server.get_bytes(
            &format!("/register/{household}/photos/{card_hash}?size=thumb"),
            &county,
        );
        assert_eq!(code, 200);
        assert!(image::load_from_memory(&thumb).is_ok());
        let auditor = auditor(&server, &db);
        let reveals = audit(&server, &auditor, "reveal");
        assert!(
            reveals.iter().any(|entry| entry["target"]
                .as_str()
                .is_some_and(|target| target.contains(&card_hash))),
            "{reveals:?}"
        );
    }
}
