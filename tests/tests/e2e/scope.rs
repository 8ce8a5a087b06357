//! Scope, hostile input and two servers on one database.
//!
//! A device reads and writes only its own villages, and an operator reads only its own area.
//! A damaged, forged or oversized request gets a JSON error and leaves the server serving.
//! Two servers sharing one database look like one server to the devices.

use client_core::sync::{self, HttpTransport, Transport, TransportError};
use doorstep_e2e::{
    AreaCode, Backend, COUNTY, HouseholdId, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE,
};
use schema::Message;
use schema::wire::{
    self, Bytes, ErrorBody, RejectCode, SyncRequest, SyncResponse, Upload, UploadOutcome,
};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::time::Duration;

// ─── Scope: devices ────────────────────────────────────────────────────────────────────────

#[test]
fn test_a_device_receives_only_the_households_of_its_own_villages() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let neighbour = Phone::new("phone-a2", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));

        let mut mine = record(&a, VILLAGE, 3, "甲");
        mine.extend(record(&neighbour, VILLAGE, 2, "乙"));
        let theirs = record(&b, OTHER_VILLAGE, 3, "丙");
        for phone in [&a, &neighbour, &b, &a, &neighbour, &b] {
            assert!(phone.sync().rejected.is_empty());
        }
        assert_eq!(
            ids(&a),
            mine,
            "{backend:?}: A holds its village, and only it"
        );
        assert_eq!(ids(&neighbour), mine, "{backend:?}");
        assert_eq!(
            ids(&b),
            theirs,
            "{backend:?}: B holds its village, and only it"
        );

        // Later edits travel through the feed rather than the first download: still scoped.
        for household in &theirs {
            b.store
                .set_field(household, "household.address", "柳林村 3 号")
                .unwrap();
        }
        let more = record(&b, OTHER_VILLAGE, 1, "丁");
        b.sync();
        let report = a.sync();
        assert_eq!(
            (report.documents_received, report.changes_received),
            (0, 0),
            "{backend:?}: {report:?}"
        );
        assert_eq!(ids(&a), mine, "{backend:?}");
        let mut all_b = theirs.clone();
        all_b.extend(more);
        assert_eq!(ids(&b), all_b, "{backend:?}");
    }
}

#[test]
fn test_a_household_recorded_in_another_village_is_refused_and_stays_on_the_phone() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));
        // Phone A was never told its villages, so offline it records anywhere.
        assert!(a.store.villages().is_empty());
        let own = record(&a, VILLAGE, 1, "甲").pop_first().unwrap();
        let stray = a
            .store
            .create_household(&area(OTHER_VILLAGE), None)
            .unwrap();
        let member = a
            .store
            .add_member(&stray, "刘伟", Some("11010519491231002X"))
            .unwrap();
        a.store
            .set_fields(
                &stray,
                &[
                    ("household.address", "柳林村 8 号"),
                    (&format!("members.{member}.phone"), "13800138000"),
                ],
            )
            .unwrap();
        let visit = a.store.start_visit(&stray).unwrap();
        a.store
            .finish_visit(&stray, &visit, "met", Some("户主在家"), None)
            .unwrap();
        let before = a.store.household(&stray).unwrap();
        let unsynced_before = before.unsynced_changes;
        assert!(unsynced_before > 0);

        for attempt in 0..2 {
            let report = a.sync();
            assert_eq!(report.rejected.len(), 1, "{backend:?}: {report:?}");
            let rejection = &report.rejected[0];
            assert_eq!(rejection.household, stray.as_str());
            assert_eq!(rejection.code, RejectCode::OutOfScope);
            assert!(
                rejection.reason.zh.contains(OTHER_VILLAGE) && rejection.reason.zh.contains('村'),
                "the volunteer reads which village, in Chinese: {}",
                rejection.reason
            );
            assert!(rejection.reason.en.contains(OTHER_VILLAGE));
            assert_eq!(
                sync::rejections(&a.store).unwrap(),
                report.rejected,
                "{backend:?}: the refusal is remembered for the UI"
            );
            // Nothing is lost, and nothing counts as delivered.
            let after = a.store.household(&stray).unwrap();
            assert_eq!(after.view, before.view, "{backend:?}, attempt {attempt}");
            assert_eq!(after.unsynced_changes, unsynced_before);
            assert_eq!(report.unsynced_changes, unsynced_before);
            assert_eq!(a.store.household(&own).unwrap().unsynced_changes, 0);
        }

        let operator = db.add_operator(COUNTY);
        assert_eq!(
            register_ids(&server, &operator, COUNTY),
            BTreeSet::from([own.to_string()]),
            "{backend:?}"
        );
        let (status, body) = server.get_json(&format!("/api/v1/households/{stray}"), &operator);
        assert_eq!(status, 404, "{backend:?}: {body}");
        b.sync();
        assert!(ids(&b).is_empty(), "{backend:?}: B's village never saw it");
    }
}

#[test]
fn test_a_device_cannot_change_a_household_of_another_village() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token_a = db.add_device(&[VILLAGE]);
        let a = Phone::new("phone-a", &server, &token_a);
        let b = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));
        let token_c = db.add_device(&[VILLAGE, OTHER_VILLAGE]);
        let c = Phone::new("phone-c", &server, &token_c);

        let target = record(&b, OTHER_VILLAGE, 1, "丙").pop_first().unwrap();
        b.sync();
        a.sync();
        // Phone C covers both villages, so it legitimately holds B's household; its edit is a
        // valid Automerge change of that household.
        c.sync();
        let base = c.store.heads(&target).unwrap();
        c.store
            .set_field(&target, "household.address", "篡改的地址")
            .unwrap();
        let edit = c.store.changes_since(&target, &base).unwrap();
        assert_eq!(edit.len(), 1);
        let history = c.store.changes_since(&target, &[]).unwrap();

        let operator = db.add_operator(COUNTY);
        let register_before = detail(&server, &operator, &target);
        // Relabelled as a new household, the history still names its own household id, so
        // it is refused as not that household's document before scope is even asked.
        let attempts = [
            (
                "the edit alone",
                target.clone(),
                edit.clone(),
                RejectCode::OutOfScope,
            ),
            (
                "the whole history",
                target.clone(),
                history.clone(),
                RejectCode::OutOfScope,
            ),
            (
                "relabelled as a new household",
                fresh_id(),
                history.clone(),
                RejectCode::Invalid,
            ),
        ];
        for (what, household, changes, expected) in attempts {
            let request = request(vec![upload(household.as_str(), &changes)]);
            let response = sync_raw(&server, &token_a, &request);
            let (code, reason) = rejection(&response, 0);
            assert_eq!(code, expected, "{backend:?}, {what}: {reason}");
            if expected == RejectCode::OutOfScope {
                assert!(reason.zh.contains(OTHER_VILLAGE), "{reason}");
            }
            assert!(
                response
                    .updates
                    .iter()
                    .all(|u| u.household != target.as_str()),
                "{backend:?}, {what}: A was sent B's household"
            );
        }
        // The edit alone under a new id lacks its history: refused before scope matters.
        let response = sync_raw(
            &server,
            &token_a,
            &request(vec![upload(fresh_id().as_str(), &edit)]),
        );
        assert_eq!(
            rejection(&response, 0).0,
            RejectCode::MissingHistory,
            "{backend:?}"
        );

        assert_eq!(
            detail(&server, &operator, &target),
            register_before,
            "{backend:?}"
        );
        assert_eq!(
            register_ids(&server, &operator, COUNTY).len(),
            1,
            "{backend:?}: no household was added"
        );
        let b_heads = b.store.heads(&target).unwrap();
        b.sync();
        assert_eq!(b.store.heads(&target).unwrap(), b_heads, "{backend:?}");

        // The same change through a device of that village is accepted: the refusals above
        // were about scope, not about the bytes.
        let response = sync_raw(
            &server,
            &token_c,
            &request(vec![upload(target.as_str(), &edit)]),
        );
        assert!(
            matches!(response.results[0].outcome, UploadOutcome::Accepted { .. }),
            "{backend:?}: {:?}",
            response.results[0]
        );
        let after = detail(&server, &operator, &target);
        assert_eq!(after["household"]["address"]["value"], "篡改的地址");
    }
}

// ─── Scope: operators ──────────────────────────────────────────────────────────────────────

#[test]
fn test_an_operator_reads_only_the_area_of_its_token() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));
        let mine = record(&a, VILLAGE, 2, "甲");
        let theirs = record(&b, OTHER_VILLAGE, 1, "丙");
        a.sync();
        b.sync();
        let mine: BTreeSet<String> = mine.iter().map(ToString::to_string).collect();
        let theirs_id = theirs.first().unwrap().to_string();

        let village_operator = db.add_operator(VILLAGE);
        assert_eq!(register_ids(&server, &village_operator, VILLAGE), mine);
        let (status, page) = server.get_json("/api/v1/households", &village_operator);
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            page["total"], 2,
            "{backend:?}: no area means the token's own: {page}"
        );
        let (status, page) =
            server.get_json("/api/v1/households?search=%E4%B8%99", &village_operator);
        assert_eq!(
            (status, &page["total"]),
            (200, &serde_json::json!(0)),
            "{backend:?}: search stays in scope: {page}"
        );
        for area in [OTHER_VILLAGE, COUNTY, "141124100"] {
            let (status, body) = server.get_json(
                &format!("/api/v1/households?area={area}"),
                &village_operator,
            );
            assert_error_json(status, &body, 403, "forbidden");
        }
        let (status, body) = server.get_json(
            &format!("/api/v1/households/{theirs_id}"),
            &village_operator,
        );
        assert_error_json(status, &body, 404, "not_found");
        let (status, unknown) = server.get_json(
            &format!("/api/v1/households/{}", fresh_id()),
            &village_operator,
        );
        assert_error_json(status, &unknown, 404, "not_found");
        for id in &mine {
            let (status, body) =
                server.get_json(&format!("/api/v1/households/{id}"), &village_operator);
            assert_eq!(status, 200, "{body}");
        }

        let county_operator = db.add_operator(COUNTY);
        let mut everyone = mine.clone();
        everyone.insert(theirs_id.clone());
        assert_eq!(register_ids(&server, &county_operator, COUNTY), everyone);
        assert_eq!(
            register_ids(&server, &county_operator, OTHER_VILLAGE),
            BTreeSet::from([theirs_id.clone()])
        );
        let (status, page) =
            server.get_json("/api/v1/households?search=%E4%B8%99", &county_operator);
        assert_eq!(
            (status, &page["total"]),
            (200, &serde_json::json!(1)),
            "{page}"
        );
        for id in &everyone {
            let (status, body) =
                server.get_json(&format!("/api/v1/households/{id}"), &county_operator);
            assert_eq!(status, 200, "{backend:?}: {body}");
        }
    }
}

// ─── Bad input ─────────────────────────────────────────────────────────────────────────────

#[test]
fn test_damaged_sync_bodies_get_400_with_a_json_error_and_the_server_keeps_serving() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let valid = wire::encode(&request(Vec::new())).unwrap();

        let mut bodies: Vec<(String, Vec<u8>)> = vec![
            ("empty".into(), Vec::new()),
            (
                "garbage".into(),
                b"GET / HTTP/1.1\r\n\r\n not gzip at all".to_vec(),
            ),
            (
                "gzip of garbage CBOR".into(),
                gzip_stored(&[0xff, 0xfe, 0x1c, 0x5b, 0x00, 0x9f]),
            ),
            (
                "gzip of CBOR that is not a request".into(),
                wire::encode(&"我不是同步请求").unwrap(),
            ),
            (
                "gzip of JSON".into(),
                gzip_stored(
                    br#"{"protocol":1,"actor":"ab","cursor":null,"uploads":[],"page_bytes":1}"#,
                ),
            ),
        ];
        for cut in [1, 10, valid.len() / 2, valid.len() - 4, valid.len() - 1] {
            bodies.push((
                format!("gzip cut at {cut} of {}", valid.len()),
                valid[..cut].to_vec(),
            ));
        }
        let mut flipped = valid.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x55;
        bodies.push(("gzip with a flipped byte".into(), flipped));
        for (what, body) in bodies {
            let (status, answer) = server.post_sync(&token, body);
            assert_error(
                status,
                &answer,
                400,
                "bad_request",
                &format!("{backend:?}, {what}"),
            );
        }
        assert_still_serving(&server, &phone);

        // A small body that inflates past the 16 MiB a decoded body may have.
        let bomb = gzip_of_zeros(wire::MAX_DECODED_BYTES / 258 + 1);
        assert!(bomb.len() < 200 * 1024);
        let (status, answer) = server.post_sync(&token, bomb);
        assert!(
            status == 400 || status == 413,
            "{backend:?}: zip bomb got {status}"
        );
        let error = error_body(&answer, "zip bomb");
        assert!(
            ["bad_request", "too_large"].contains(&error.error.as_str()),
            "{error:?}"
        );
        assert_still_serving(&server, &phone);
    }
}

#[test]
fn test_a_body_over_the_size_limit_gets_413_and_the_server_keeps_serving() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let (status, body) = post_raw(&server, Some(&token), &vec![0u8; 17 * 1024 * 1024]);
        assert_error(
            status,
            &body,
            413,
            "too_large",
            &format!("{backend:?}, 17 MiB"),
        );
        assert_still_serving(&server, &phone);
    }
}

#[test]
fn test_damaged_automerge_changes_are_rejected_for_their_household_only_and_nothing_is_stored() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let operator = db.add_operator(COUNTY);

        // Two households recorded on the phone, not yet synced.
        let good = record(&phone, VILLAGE, 2, "甲");
        let (damaged, healthy) = (good.first().unwrap(), good.last().unwrap());
        let mut flipped = phone.store.changes_since(damaged, &[]).unwrap();
        let last = flipped[0].len() - 1;
        flipped[0][last] ^= 0x01;
        let mut cut = phone.store.changes_since(damaged, &[]).unwrap();
        let half = cut[0].len() / 2;
        cut[0].truncate(half);
        let uploads = vec![
            upload(fresh_id().as_str(), &[b"not an automerge change".to_vec()]),
            upload(damaged.as_str(), &flipped),
            upload(damaged.as_str(), &cut),
            upload(damaged.as_str(), &[Vec::new()]),
            upload(
                "../../etc/passwd",
                &phone.store.changes_since(healthy, &[]).unwrap(),
            ),
            upload(
                healthy.as_str(),
                &phone.store.changes_since(healthy, &[]).unwrap(),
            ),
        ];
        let response = sync_raw(&server, &token, &request(uploads));
        assert_eq!(response.results.len(), 6);
        for index in 0..5 {
            let (code, reason) = rejection(&response, index);
            assert_eq!(
                code,
                RejectCode::Invalid,
                "{backend:?}, upload {index}: {reason}"
            );
            assert!(!reason.zh.is_empty() && !reason.en.is_empty());
        }
        assert!(
            matches!(response.results[5].outcome, UploadOutcome::Accepted { .. }),
            "{backend:?}: a damaged household does not sink the others: {:?}",
            response.results[5]
        );
        assert_eq!(
            register_ids(&server, &operator, COUNTY),
            BTreeSet::from([healthy.to_string()]),
            "{backend:?}: only the healthy household was stored"
        );
        let (status, body) = server.get_json(&format!("/api/v1/households/{damaged}"), &operator);
        assert_eq!(status, 404, "{body}");

        // The phone's own sync then delivers the damaged household's real changes.
        let report = phone.sync();
        assert!(report.rejected.is_empty(), "{backend:?}: {report:?}");
        assert_eq!(register_ids(&server, &operator, COUNTY).len(), 2);
        assert_still_serving(&server, &phone);
    }
}

#[test]
fn test_an_unsupported_protocol_version_gets_409_and_nothing_is_applied() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let operator = db.add_operator(COUNTY);
        let household = record(&phone, VILLAGE, 1, "甲").pop_first().unwrap();
        let changes = phone.store.changes_since(&household, &[]).unwrap();
        for protocol in [0, 2, u32::MAX] {
            let mut request = request(vec![upload(household.as_str(), &changes)]);
            request.protocol = protocol;
            let (status, body) = server.post_sync(&token, wire::encode(&request).unwrap());
            let what = format!("{backend:?}, protocol {protocol}");
            assert_error(status, &body, 409, "unsupported_protocol", &what);
            assert!(
                error_body(&body, &what)
                    .message
                    .en
                    .contains(&protocol.to_string())
            );
        }
        assert!(
            register_ids(&server, &operator, COUNTY).is_empty(),
            "{backend:?}"
        );
        assert_still_serving(&server, &phone);
        assert_eq!(register_ids(&server, &operator, COUNTY).len(), 2);
    }
}

#[test]
fn test_missing_unknown_and_forged_tokens_get_401() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let body = wire::encode(&request(Vec::new())).unwrap();
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).unwrap();
        let forged = format!("dsd_{}", hex::encode(random));
        let mut almost = token.clone();
        almost.pop();
        almost.push(if token.ends_with('0') { '1' } else { '0' });
        let headers = [
            ("no header", None),
            ("empty bearer", Some("Bearer ".to_owned())),
            ("a token without the Bearer scheme", Some(token.clone())),
            ("basic auth", Some("Basic ZG9vcnN0ZXA6c2VjcmV0".to_owned())),
            ("an unknown token", Some("Bearer not-a-token".to_owned())),
            ("a forged token", Some(format!("Bearer {forged}"))),
            (
                "a token one character off",
                Some(format!("Bearer {almost}")),
            ),
        ];
        for (what, header) in &headers {
            let (status, answer) = post_with_header(&server, header.as_deref(), &body);
            assert_error(
                status,
                &answer,
                401,
                "unauthorized",
                &format!("{backend:?}, {what}"),
            );
        }
        // The register refuses the same.
        for (what, header) in &headers {
            let (status, answer) =
                get_with_header(&server, "/api/v1/households", header.as_deref());
            assert_error(
                status,
                &answer,
                401,
                "unauthorized",
                &format!("{backend:?}, {what}"),
            );
        }
        assert_still_serving(&server, &phone);
    }
}

#[test]
fn test_operator_tokens_cannot_sync_and_device_tokens_cannot_read_the_register() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let household = record(&phone, VILLAGE, 1, "甲").pop_first().unwrap();
        phone.sync();
        for scope in [VILLAGE, COUNTY] {
            let operator = db.add_operator(scope);
            let (status, body) =
                server.post_sync(&operator, wire::encode(&request(Vec::new())).unwrap());
            assert_error(
                status,
                &body,
                401,
                "unauthorized",
                &format!("{backend:?}, {scope}"),
            );
        }
        for path in [
            "/api/v1/households".to_owned(),
            format!("/api/v1/households?area={VILLAGE}"),
            format!("/api/v1/households/{household}"),
        ] {
            let (status, body) = server.get_json(&path, &token);
            assert_error_json(status, &body, 401, "unauthorized");
        }
        assert_still_serving(&server, &phone);
    }
}

// ─── Bugs found by these tests, fixed, and kept as regression tests ───────────────────────

/// Was a bug (server, `documents.rs` `apply_one`): the server never checked that the uploaded
/// document's `household.id` was the household it was uploaded as, and `change.hash` is
/// unique across households, so the alias was accepted with no change rows of its own. It
/// looked whole only while the server's cache held it; once reloaded it was an empty
/// document, and every device of the village then failed its first download on it.
#[test]
fn test_a_households_history_uploaded_under_another_id_is_rejected_as_invalid() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let operator = db.add_operator(COUNTY);
        let original = record(&phone, VILLAGE, 1, "甲").pop_first().unwrap();
        phone.sync();
        let history = phone.store.changes_since(&original, &[]).unwrap();
        // The document says it is `original`; the upload says it is someone else.
        let alias = fresh_id();
        let response = sync_raw(
            &server,
            &token,
            &request(vec![upload(alias.as_str(), &history)]),
        );
        let outcome = &response.results[0].outcome;
        let second = Server::start(&db);
        let newcomer = Phone::new("newcomer", &second, &db.add_device(&[VILLAGE]));
        let first_download = newcomer.try_sync(&HttpTransport::new(Duration::from_secs(30)));
        assert!(
            first_download.is_ok(),
            "{backend:?}: after {outcome:?}, a new device of the village cannot download: {}",
            first_download.map_err(|err| err.message()).unwrap_err()
        );
        assert_eq!(
            ids(&newcomer),
            BTreeSet::from([original.clone()]),
            "{backend:?}"
        );
        let (code, reason) = rejection(&response, 0);
        assert_eq!(code, RejectCode::Invalid, "{backend:?}: {reason}");
        assert_eq!(
            register_ids(&server, &operator, COUNTY),
            BTreeSet::from([original.to_string()]),
            "{backend:?}"
        );
    }
}

/// Was a bug (server, `documents.rs` `feed_page`): the feed listed households by their *last*
/// change and, when a page filled, moved the cursor to the last listed household's last
/// change. A household listed later whose earlier change lay below that position lost the
/// change, and the device could apply nothing after it. The feed is now read change by
/// change in feed order.
#[test]
fn test_a_device_reading_the_feed_in_small_pages_misses_no_change() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let reader = Phone::new("reader", &server, &db.add_device(&[VILLAGE]));
        let writer = Phone::new("writer", &server, &db.add_device(&[VILLAGE]));
        let z = record(&writer, VILLAGE, 1, "z").pop_first().unwrap();
        let x = record(&writer, VILLAGE, 1, "x").pop_first().unwrap();
        writer.sync();
        reader.sync();
        // Feed order: z's first edit, then x's edit, then z's second edit.
        for (household, address) in [(&z, "一号"), (&x, "二号"), (&z, "三号")] {
            writer
                .store
                .set_field(household, "household.address", address)
                .unwrap();
            writer.sync();
        }
        // One household per page: x first (its last change is older than z's).
        let paged = sync::sync(
            &reader.store,
            &HttpTransport::new(Duration::from_secs(30)),
            1,
            &std::sync::atomic::AtomicBool::new(false),
            &mut |_| {},
        );
        assert!(
            paged.is_ok(),
            "{backend:?}: {}",
            paged.map_err(|err| err.message()).unwrap_err()
        );
        for household in [&z, &x] {
            assert_eq!(
                reader.store.heads(household).unwrap(),
                writer.store.heads(household).unwrap(),
                "{backend:?}"
            );
        }
    }
}

// ─── Two servers, one database ─────────────────────────────────────────────────────────────

/// Rounds of offline recording and syncing.
const ROUNDS: usize = 3;
const PHONES: usize = 4;

#[test]
fn test_four_phones_syncing_through_two_servers_on_one_database_converge() {
    for backend in Backend::all() {
        for seed in [1, 0x5eed] {
            phones_syncing_through_two_servers_converge(&backend, seed);
        }
    }
}

fn phones_syncing_through_two_servers_converge(backend: &Backend, seed: u64) {
    let context = format!("{backend:?}, seed {seed}");
    let db = TestDatabase::new(backend);
    let servers = [Server::start(&db), Server::start(&db)];
    let tokens: Vec<String> = (0..PHONES).map(|_| db.add_device(&[VILLAGE])).collect();
    let phones: Vec<Phone> = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| Phone::new(&format!("phone-{n}"), &servers[n % 2], token))
        .collect();
    let village = area(VILLAGE);
    let mut random = Lcg(seed);

    // A household everyone knows, with a member everyone edits.
    let shared = phones[0]
        .store
        .create_household(&village, Some("1411241002010099"))
        .unwrap();
    let head = phones[0]
        .store
        .add_member(&shared, "王芳", Some("11010519491231002X"))
        .unwrap();
    for phone in &phones {
        phone.sync();
    }

    let mut expected = BTreeSet::from([shared.clone()]);
    for round in 0..ROUNDS {
        // Offline: households of one's own, and edits to the shared one, some of them to the
        // same field at once.
        for (n, phone) in phones.iter().enumerate() {
            for household in record(phone, VILLAGE, 2, &format!("{n}号机第{round}轮")) {
                expected.insert(household);
            }
            let member = |name: &str| format!("members.{head}.{name}");
            phone
                .store
                .set_fields(
                    &shared,
                    &[
                        ("household.address", &format!("城庄镇 {round} 号（{n}）")),
                        (&member("employment.place"), &format!("太原 {n}")),
                    ],
                )
                .unwrap();
            phone
                .store
                .add_member(&shared, &format!("成员{n}-{round}"), None)
                .unwrap();
        }
        // Online, all at once, each through either server.
        let plan: Vec<Route> = phones.iter().map(|_| Route::pick(&mut random)).collect();
        std::thread::scope(|scope| {
            for ((phone, token), route) in phones.iter().zip(&tokens).zip(&plan) {
                let servers = &servers;
                scope.spawn(move || route.sync(phone, token, servers));
            }
        });
    }
    // Two quiet passes: the first delivers every upload, the second brings it to everyone.
    for _ in 0..2 {
        for (phone, token) in phones.iter().zip(&tokens) {
            Route::pick(&mut random).sync(phone, token, &servers);
        }
    }

    for phone in &phones {
        assert_eq!(ids(phone), expected, "{context}");
        assert_eq!(phone.store.unsynced_changes().unwrap(), 0, "{context}");
        assert!(
            sync::rejections(&phone.store).unwrap().is_empty(),
            "{context}"
        );
    }
    for household in &expected {
        let heads = phones[0].store.heads(household).unwrap();
        let view = phones[0].store.household(household).unwrap().view;
        for phone in &phones[1..] {
            assert_eq!(phone.store.heads(household).unwrap(), heads, "{context}");
            assert_eq!(
                phone.store.household(household).unwrap().view,
                view,
                "{context}"
            );
        }
    }
    let on_phone = phones[0].store.household(&shared).unwrap();
    assert_eq!(
        on_phone.view.members.len(),
        1 + PHONES * ROUNDS,
        "{context}"
    );
    assert!(
        on_phone
            .conflicts
            .iter()
            .any(|c| c.path == "household.address"),
        "{context}: the last round's addresses were written at once"
    );

    // Both servers show one register, the one the phones hold.
    let operator = db.add_operator(COUNTY);
    let pages: Vec<serde_json::Value> = servers
        .iter()
        .map(|server| {
            let (status, page) = server.get_json(
                &format!("/api/v1/households?area={VILLAGE}&limit=500"),
                &operator,
            );
            assert_eq!(status, 200, "{page}");
            page
        })
        .collect();
    assert_eq!(pages[0]["total"], expected.len(), "{context}");
    assert_eq!(pages[0], pages[1], "{context}");
    for household in &expected {
        let on_phone = phones[0].store.household(household).unwrap();
        let view = serde_json::to_value(&on_phone.view).unwrap();
        let conflicts = serde_json::to_value(&on_phone.conflicts).unwrap();
        let details: Vec<serde_json::Value> = servers
            .iter()
            .map(|server| detail(server, &operator, household))
            .collect();
        assert_eq!(details[0], details[1], "{context}");
        for (key, value) in view.as_object().unwrap() {
            assert_eq!(&details[0][key], value, "{context}: {household} {key}");
        }
        assert_eq!(details[0]["conflicts"], conflicts, "{context}: {household}");
    }
}

/// How one sync reaches the servers.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// The phone is pointed at one server (`connect`, which also resets its cursor).
    Repoint(usize),
    /// A load balancer sends each request of the sync to either server; the phone keeps its
    /// address and its cursor.
    Balanced(u64),
}

impl Route {
    fn pick(random: &mut Lcg) -> Route {
        if random.below(2) == 0 {
            Route::Repoint(random.below(2))
        } else {
            Route::Balanced(random.step())
        }
    }

    fn sync(self, phone: &Phone, token: &str, servers: &[Server]) {
        let report = match self {
            Route::Repoint(index) => {
                sync::connect(&phone.store, &servers[index].url, token).unwrap();
                phone.sync()
            }
            Route::Balanced(seed) => {
                let balancer = Balancer {
                    servers,
                    random: Cell::new(Lcg(seed)),
                    http: HttpTransport::new(Duration::from_secs(30)),
                };
                phone
                    .try_sync(&balancer)
                    .unwrap_or_else(|err| panic!("sync failed: {}", err.message()))
            }
        };
        assert!(report.rejected.is_empty(), "{self:?}: {report:?}");
    }
}

/// A load balancer in front of the servers.
#[derive(Debug)]
struct Balancer<'a> {
    servers: &'a [Server],
    random: Cell<Lcg>,
    http: HttpTransport,
}

impl Transport for Balancer<'_> {
    fn post(&self, _url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let mut random = self.random.get();
        let server = &self.servers[random.below(self.servers.len())];
        self.random.set(random);
        self.http
            .post(&format!("{}/api/v1/sync", server.url), token, body)
    }
}

/// A small deterministic generator (Knuth's MMIX LCG), so a failing order can be replayed.
#[derive(Debug, Clone, Copy)]
struct Lcg(u64);

impl Lcg {
    fn step(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.step() % bound as u64) as usize
    }
}

// ─── Helpers ───────────────────────────────────────────────────────────────────────────────

fn area(code: &str) -> AreaCode {
    AreaCode::parse(code).unwrap()
}

fn fresh_id() -> HouseholdId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    HouseholdId::from_random(bytes)
}

/// Records `count` households, each with a head and a finished visit.
fn record(phone: &Phone, village: &str, count: usize, tag: &str) -> BTreeSet<HouseholdId> {
    (0..count)
        .map(|n| {
            let household = phone.store.create_household(&area(village), None).unwrap();
            phone
                .store
                .add_member(&household, &format!("户主{tag}{n}"), None)
                .unwrap();
            let visit = phone.store.start_visit(&household).unwrap();
            phone
                .store
                .finish_visit(&household, &visit, "met", None, None)
                .unwrap();
            household
        })
        .collect()
}

fn ids(phone: &Phone) -> BTreeSet<HouseholdId> {
    phone.store.household_ids().unwrap().into_iter().collect()
}

/// The ids the register lists for an area.
fn register_ids(server: &Server, operator: &str, area: &str) -> BTreeSet<String> {
    let (status, page) = server.get_json(
        &format!("/api/v1/households?area={area}&limit=500"),
        operator,
    );
    assert_eq!(status, 200, "{page}");
    page["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect()
}

fn detail(server: &Server, operator: &str, household: &HouseholdId) -> serde_json::Value {
    let (status, detail) = server.get_json(&format!("/api/v1/households/{household}"), operator);
    assert_eq!(status, 200, "{detail}");
    detail
}

fn request(uploads: Vec<Upload>) -> SyncRequest {
    SyncRequest {
        protocol: wire::PROTOCOL_VERSION,
        actor: "0123456789abcdef0123456789abcdef".to_owned(),
        cursor: None,
        uploads,
        page_bytes: wire::DEFAULT_PAGE_BYTES,
    }
}

fn upload(household: &str, changes: &[Vec<u8>]) -> Upload {
    Upload {
        household: household.to_owned(),
        changes: changes.iter().cloned().map(Bytes::from).collect(),
    }
}

/// Sends a hand-built request that the server must answer with 200.
fn sync_raw(server: &Server, token: &str, request: &SyncRequest) -> SyncResponse {
    let (status, body) = server.post_sync(token, wire::encode(request).unwrap());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    wire::decode(&body).unwrap()
}

fn rejection(response: &SyncResponse, index: usize) -> (RejectCode, Message) {
    match &response.results[index].outcome {
        UploadOutcome::Rejected { code, reason } => (*code, reason.clone()),
        outcome => panic!("upload {index} was not rejected: {outcome:?}"),
    }
}

fn error_body(body: &[u8], what: &str) -> ErrorBody {
    serde_json::from_slice(body).unwrap_or_else(|_| {
        panic!(
            "{what}: not a JSON error body: {}",
            String::from_utf8_lossy(body)
        )
    })
}

/// Asserts an error answer: its status and the JSON body every failure carries.
fn assert_error(status: u16, body: &[u8], want: u16, code: &str, what: &str) {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, want, "{what}: {text}");
    let error = error_body(body, what);
    assert_eq!(error.error, code, "{what}: {text}");
    assert!(
        !error.message.zh.is_empty() && !error.message.en.is_empty(),
        "{what}: {text}"
    );
}

fn assert_error_json(status: u16, body: &serde_json::Value, want: u16, code: &str) {
    assert_error(status, body.to_string().as_bytes(), want, code, "register");
}

/// The server still answers its health check and a device's ordinary sync.
fn assert_still_serving(server: &Server, phone: &Phone) {
    let (status, body) = get_with_header(server, "/healthz", None);
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    let household = record(phone, VILLAGE, 1, "健康检查").pop_first().unwrap();
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(
        phone.store.household(&household).unwrap().unsynced_changes,
        0
    );
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    )
}

/// POSTs `body` to the sync endpoint with a raw `Authorization` header (or none).
fn post_with_header(server: &Server, authorization: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
    let mut request = agent()
        .post(&format!("{}/api/v1/sync", server.url))
        .header("Content-Type", wire::CONTENT_TYPE);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

fn post_raw(server: &Server, token: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
    let header = token.map(|token| format!("Bearer {token}"));
    post_with_header(server, header.as_deref(), body)
}

fn get_with_header(server: &Server, path: &str, authorization: Option<&str>) -> (u16, Vec<u8>) {
    let mut request = agent().get(&format!("{}{path}", server.url));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

/// Valid gzip of any bytes, in stored (uncompressed) deflate blocks.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = GZIP_HEADER.to_vec();
    let blocks: Vec<&[u8]> = data.chunks(0xffff).collect();
    if blocks.is_empty() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    for (index, block) in blocks.iter().enumerate() {
        out.push(u8::from(index + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap();
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend(crc32(data.iter().copied()).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// Valid gzip that inflates to `1 + 258 * repeats` zero bytes from about 13 bits per 258:
/// one literal zero, then back-references of length 258 at distance 1, in one block of
/// deflate's fixed Huffman code (RFC 1951 §3.2.6).
fn gzip_of_zeros(repeats: usize) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.value(1, 1); // the final block
    bits.value(1, 2); // fixed Huffman codes
    bits.code(0b0011_0000, 8); // literal 0
    for _ in 0..repeats {
        bits.code(0b1100_0101, 8); // length code 285: 258
        bits.code(0, 5); // distance code 0: 1
    }
    bits.code(0, 7); // end of block
    let size = 1 + 258 * repeats;
    let mut out = GZIP_HEADER.to_vec();
    out.extend(bits.bytes);
    out.extend(crc32(std::iter::repeat_n(0, size)).to_le_bytes());
    out.extend((size as u32).to_le_bytes());
    out
}

const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Deflate's bit order: values least significant bit first, Huffman codes most significant
/// bit first.
#[derive(Debug, Default)]
struct Bits {
    bytes: Vec<u8>,
    used: u32,
}

impl Bits {
    fn bit(&mut self, bit: u32) {
        if self.used.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit != 0 {
            *self.bytes.last_mut().unwrap() |= 1 << (self.used % 8);
        }
        self.used += 1;
    }

    fn value(&mut self, value: u32, width: u32) {
        for shift in 0..width {
            self.bit((value >> shift) & 1);
        }
    }

    fn code(&mut self, code: u32, width: u32) {
        for shift in (0..width).rev() {
            self.bit((code >> shift) & 1);
        }
    }
}

fn crc32(data: impl Iterator<Item = u8>) -> u32 {
    let table: Vec<u32> = (0..256u32)
        .map(|mut c| {
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            c
        })
        .collect();
    !data.fold(!0u32, |crc, byte| {
        table[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8)
    })
}
