//! Hostile input: a damaged, forged or oversized request gets a JSON error in both
//! languages, nothing is stored, and the server keeps serving.

use doorstep_e2e::{Backend, COUNTY, Phone, Server, TestDatabase, VILLAGE};
use schema::wire::{self, RejectCode, UploadOutcome};
use std::collections::BTreeSet;

use crate::support::*;

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
                b"GET / HTTP/1.1\r\n\r\n not a sync body at all".to_vec(),
            ),
            (
                "garbage CBOR".into(),
                framed(&[0xff, 0xfe, 0x1c, 0x5b, 0x00, 0x9f]),
            ),
            (
                "CBOR that is not a request".into(),
                wire::encode(&"我不是同步请求").unwrap(),
            ),
            (
                "JSON".into(),
                framed(br#"{"protocol":2,"actor":"ab","cursor":null,"uploads":[],"page_bytes":1}"#),
            ),
        ];
        for cut in [1, 8, 10, valid.len() / 2, valid.len() - 4, valid.len() - 1] {
            bodies.push((
                format!("cut at {cut} of {}", valid.len()),
                valid[..cut].to_vec(),
            ));
        }
        for position in [0, 7, 8, valid.len() / 2, valid.len() - 1] {
            let mut flipped = valid.clone();
            flipped[position] ^= 0x55;
            bodies.push((format!("a flipped byte at {position}"), flipped));
        }
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
        let bomb = framed(&vec![0; wire::MAX_DECODED_BYTES + 1]);
        assert!(bomb.len() < 200 * 1024);
        let (status, answer) = server.post_sync(&token, bomb);
        assert_error(status, &answer, 413, "too_large", "a zip bomb");
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
        let operator = server.staff_token(&db, COUNTY, "县工作人员");

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
        let operator = server.staff_token(&db, COUNTY, "县工作人员");
        let household = record(&phone, VILLAGE, 1, "甲").pop_first().unwrap();
        let changes = phone.store.changes_since(&household, &[]).unwrap();
        for protocol in [0, 1, 3, u32::MAX] {
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
        // An app still on protocol 1 sends gzip: it is told to update, not that its data is
        // damaged.
        let mut old = request(vec![upload(household.as_str(), &changes)]);
        old.protocol = 1;
        let body = gzip(&unframed(&wire::encode(&old).unwrap()));
        let (status, answer) = server.post_sync(&token, body);
        let what = format!("{backend:?}, a gzip body of protocol 1");
        assert_error(status, &answer, 409, "unsupported_protocol", &what);
        assert!(error_body(&answer, &what).message.zh.contains("请升级应用"));
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
fn test_staff_tokens_cannot_sync_and_device_tokens_cannot_read_the_register() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let household = record(&phone, VILLAGE, 1, "甲").pop_first().unwrap();
        phone.sync();
        for scope in [&VILLAGE[..9], COUNTY] {
            let operator = server.staff_token(&db, scope, "工作人员");
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
            assert_error_json(status, &body, 403, "forbidden");
        }
        assert_still_serving(&server, &phone);
    }
}
