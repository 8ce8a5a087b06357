//! The server's edge: text with control characters or past its bound is refused with a 400
//! before it reaches a database; a sync's actor, page size and decoded size are held to the
//! protocol; anonymous junk is counted, not audited; a state-changing request needs a JSON
//! body; a database that stops answering makes a quick 503 the phone reads as "busy, retry".

use crate::support::*;
use doorstep_e2e::{Backend, COUNTY, Phone, Server, TestDatabase, VILLAGE};
use schema::wire::{self, Cursor, SyncResponse};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Sends `body` with an optional content type and a bearer token to any endpoint.
fn send(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let url = format!("{}{path}", server.url);
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(&url)
        .header("Authorization", format!("Bearer {token}"));
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let mut response = agent().run(request.body(body.to_vec()).unwrap()).unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

fn get(server: &Server, path: &str, token: &str) -> (u16, Vec<u8>) {
    get_with_header(server, path, Some(&format!("Bearer {token}")))
}

fn post_json(server: &Server, path: &str, token: &str, body: &str) -> (u16, Vec<u8>) {
    send(
        server,
        "POST",
        path,
        token,
        Some("application/json"),
        body.as_bytes(),
    )
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `/metrics` count of anonymous refusals for `reason`.
fn refusals(server: &Server, reason: &str) -> u64 {
    let (status, body) = get_with_header(server, "/metrics", None);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let label = format!("doorstep_anonymous_refusals_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&label))
        .unwrap_or_else(|| panic!("no {reason} in {text}"))
        .parse()
        .unwrap()
}

/// Every audit record, newest first (up to 500), as an auditor reads them.
fn all_audit(server: &Server, auditor: &str) -> Vec<Value> {
    let (status, page) = server.get_json("/api/v1/audit?limit=500", auditor);
    assert_eq!(status, 200, "{page}");
    page["records"].as_array().unwrap().clone()
}

#[test]
fn test_control_characters_and_overlong_text_get_400_everywhere_and_never_a_500() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let auditor = auditor(&server, &db);

        // JSON bodies, including the unauthenticated login of the drill.
        for (path, body) in [
            ("/api/v1/login", r#"{"username":"\u0000","password":"x"}"#),
            (
                "/api/v1/login",
                r#"{"username":"admin","password":"p\u0000"}"#,
            ),
            (
                "/api/v1/enroll",
                r#"{"code":"ABCD-EFGH-JKMN-PQRS","actor":"00\u0000"}"#,
            ),
            (
                "/api/v1/me/password",
                r#"{"current":"\u001b[2J","new":"0123456789"}"#,
            ),
            ("/api/v1/review/merge", r#"{"\u0000":"x"}"#),
        ] {
            let (status, answer) = post_json(&server, path, &staff, body);
            assert_error(
                status,
                &answer,
                400,
                "bad_request",
                &format!("{backend:?} {body}"),
            );
        }
        // Path parameters and query strings.
        for path in [
            "/api/v1/households?search=%00",
            "/api/v1/households?search=a%0Ab",
            "/api/v1/households?area=%00",
            "/api/v1/households/%00",
            "/api/v1/review/items/%00",
            "/api/v1/quarantine/%00",
            "/api/v1/quarantine?rule=%01",
            "/api/v1/devices?area=%7F",
            "/api/v1/enrollments/%00/qr.svg",
            "/api/v1/households?%00=1",
        ] {
            let (status, answer) = get(&server, path, &staff);
            assert_error(
                status,
                &answer,
                400,
                "bad_request",
                &format!("{backend:?} {path}"),
            );
        }
        for path in ["/api/v1/audit?action=%00", "/api/v1/audit?actor=%00"] {
            let (status, answer) = get(&server, path, &auditor);
            assert_error(
                status,
                &answer,
                400,
                "bad_request",
                &format!("{backend:?} {path}"),
            );
        }
        let (status, answer) = post_json(&server, "/api/v1/staff/%00/disable", &staff, "{}");
        assert_error(status, &answer, 400, "bad_request", "a NUL username");
        let error = error_body(&answer, "a NUL username");
        assert!(error.message.zh.contains("控制字符"), "{error:?}");
        assert!(error.message.en.contains("control character"), "{error:?}");

        // A search of 51,000 bytes (past SQLite's LIKE pattern limit) is refused by its
        // length; one of 200 characters is served.
        let huge = "a".repeat(51_000);
        let (status, answer) = get(
            &server,
            &format!("/api/v1/households?search={huge}"),
            &staff,
        );
        assert_error(status, &answer, 400, "bad_request", "a 51,000-byte search");
        assert!(
            error_body(&answer, "search")
                .message
                .en
                .contains("at most 200")
        );
        let longest = encode(&"张".repeat(200));
        let (status, _) = get(
            &server,
            &format!("/api/v1/households?search={longest}"),
            &staff,
        );
        assert_eq!(status, 200, "{backend:?}: a 200-character search");

        // The CBOR sync body's strings: the cursor, the actor, an upload's household.
        let mut bad_cursor = request(Vec::new());
        bad_cursor.cursor = Some(Cursor {
            feed: 0,
            download_after: Some("\0".to_owned()),
        });
        let mut bad_actor = request(Vec::new());
        bad_actor.actor = "00\0".to_owned();
        let bad_household = request(vec![upload("h\0", &[])]);
        for (what, body) in [
            ("cursor", bad_cursor),
            ("actor", bad_actor),
            ("household", bad_household),
        ] {
            let (status, answer) = server.post_sync(&token, wire::encode(&body).unwrap());
            assert_error(
                status,
                &answer,
                400,
                "bad_request",
                &format!("{backend:?} {what}"),
            );
        }

        assert_still_serving(&server, &phone);
        // Refused at the edge, none of it reached a handler, so none of it was audited.
        assert!(
            all_audit(&server, &auditor)
                .iter()
                .all(|r| r["actor"] != "anonymous"),
            "{backend:?}"
        );
    }
}

#[test]
fn test_anonymous_junk_is_counted_and_not_audited_while_identified_refusals_are() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let auditor = auditor(&server, &db);
        let (unknown, none, malformed) = (
            refusals(&server, "unknown_token"),
            refusals(&server, "no_credentials"),
            refusals(&server, "malformed"),
        );

        let forged = format!("dss_{}", "ab".repeat(32));
        let (status, _) = server.get_json("/api/v1/households", &forged);
        assert_eq!(status, 401);
        let (status, _) = server.get_json("/api/v1/households", "");
        assert_eq!(status, 401);
        let (status, _) = post_raw(&server, Some("forged"), b"junk");
        assert_eq!(status, 401);
        let (status, _) = post_raw(&server, None, b"junk");
        assert_eq!(status, 401);
        let (status, _) = post_json(&server, "/api/v1/login", "", "{\"username\": ");
        assert_eq!(status, 400);
        let (status, _) = post_json(&server, "/api/v1/logout", &forged, "{}");
        assert_eq!(status, 204);

        assert!(refusals(&server, "unknown_token") >= unknown + 3);
        assert!(refusals(&server, "no_credentials") >= none + 2);
        assert!(refusals(&server, "malformed") > malformed);
        let records = all_audit(&server, &auditor);
        assert!(
            records.iter().all(|r| r["actor"] != "anonymous"),
            "{backend:?}: {records:?}"
        );

        // An identified person refused is audited as before.
        let (status, _) = server.get_json("/api/v1/households", &auditor);
        assert_eq!(status, 403);
        let refused = audit(&server, &auditor, "register.list");
        assert!(
            refused
                .iter()
                .any(|r| r["outcome"] == "denied" && r["role"] == "auditor"),
            "{backend:?}: {refused:?}"
        );
    }
}

#[test]
fn test_a_state_changing_request_without_a_json_body_changes_nothing() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let staff = server.staff_token(&db, &VILLAGE[..9], "乡镇工作人员");
        let (status, devices) =
            server.get_json(&format!("/api/v1/devices?area={}", &VILLAGE[..9]), &staff);
        assert_eq!(status, 200, "{devices}");
        let id = devices[0]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/devices/{id}/revoke");

        let (status, answer) = send(&server, "POST", &path, &staff, None, b"");
        assert_error(status, &answer, 415, "json_required", "an empty POST");
        let (status, answer) = send(&server, "POST", &path, &staff, Some("text/plain"), b"{}");
        assert_error(status, &answer, 415, "json_required", "a text POST");
        let (status, answer) = post_json(&server, &path, &staff, "");
        assert_error(status, &answer, 400, "bad_request", "an empty JSON POST");
        for decision in ["release", "discard"] {
            let path = format!("/api/v1/quarantine/{}/{decision}", "0".repeat(64));
            let (status, answer) = send(&server, "POST", &path, &staff, None, b"");
            assert_error(status, &answer, 415, "json_required", decision);
        }
        // None of them revoked the device.
        phone.sync();

        let (status, answer) = post_json(&server, &path, &staff, "{}");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let error = phone.try_sync(&client_core::sync::HttpTransport::default());
        assert!(error.is_err(), "{backend:?}: a revoked device synced");
    }
}

#[test]
fn test_an_upper_case_actor_is_read_as_the_device_and_gets_none_of_its_own_changes() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        record(&phone, VILLAGE, 2, "甲");
        phone.sync();

        for actor in [
            phone.store.actor(),
            phone.store.actor().to_ascii_uppercase(),
        ] {
            let mut again = request(Vec::new());
            again.actor = format!(" {actor} ");
            again.cursor = Some(Cursor {
                feed: 0,
                download_after: None,
            });
            let response = sync_raw(&server, &token, &again);
            assert!(
                response.updates.is_empty(),
                "{backend:?}: {actor} got its own changes back"
            );
        }
        let mut not_hex = request(Vec::new());
        not_hex.actor = "device-7".to_owned();
        let (status, answer) = server.post_sync(&token, wire::encode(&not_hex).unwrap());
        assert_error(status, &answer, 400, "bad_request", "a non-hex actor");
    }
}

#[test]
fn test_a_page_asked_past_the_limit_is_cut_to_it_and_every_page_decodes() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        // Households whose changes hold 10 MiB in all: more than one clamped page. They go up
        // as the phone would send them, at the server's faster compression, to keep the test
        // quick.
        let mut recorded = BTreeSet::new();
        for _ in 0..16 {
            let household = phone.store.create_household(&area(VILLAGE), None).unwrap();
            let mut noise = vec![0u8; 320 * 1024];
            getrandom::fill(&mut noise).unwrap();
            phone
                .store
                .set_field(&household, "household.address", &hex::encode(noise))
                .unwrap();
            let changes = phone.store.changes_since(&household, &[]).unwrap();
            let mut upload_one = request(vec![upload(&household.to_string(), &changes)]);
            upload_one.actor = phone.store.actor();
            upload_one.page_bytes = 1;
            sync_raw(&server, &token, &upload_one);
            recorded.insert(household.to_string());
        }

        // Another device reads the feed from its start, asking for everything at once.
        let mut read = request(Vec::new());
        read.cursor = Some(Cursor {
            feed: 0,
            download_after: None,
        });
        read.page_bytes = u32::MAX;
        let mut pages = 0;
        let mut households = BTreeSet::new();
        loop {
            let (status, body) = server.post_sync(&token, wire::encode(&read).unwrap());
            assert_eq!(status, 200, "{backend:?}");
            let response: SyncResponse = wire::decode(&body)
                .unwrap_or_else(|err| panic!("{backend:?}: page {pages} does not decode: {err}"));
            let sizes: Vec<usize> = response
                .updates
                .iter()
                .map(|update| match &update.payload {
                    wire::Payload::Document(bytes) => bytes.len(),
                    wire::Payload::Changes(changes) => changes.iter().map(|c| c.len()).sum(),
                })
                .collect();
            let largest = sizes.iter().copied().max().unwrap_or(0);
            let total: usize = sizes.iter().sum();
            assert!(
                total <= wire::MAX_PAGE_BYTES as usize + largest,
                "{backend:?}: a page of {total} bytes"
            );
            pages += 1;
            households.extend(response.updates.iter().map(|u| u.household.clone()));
            read.cursor = Some(response.cursor);
            if !response.more {
                break;
            }
        }
        assert!(pages > 1, "{backend:?}: one page held it all");
        assert_eq!(households, recorded, "{backend:?}");
    }
}

#[test]
fn test_a_body_that_decodes_past_the_limit_gets_413() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let bomb = framed(&vec![0; wire::MAX_DECODED_BYTES + 1]);
        let (status, answer) = server.post_sync(&token, bomb);
        assert_error(status, &answer, 413, "too_large", &format!("{backend:?}"));
        let error = error_body(&answer, "bomb");
        assert!(error.message.zh.contains("16 MiB"), "{error:?}");
    }
}

/// A TCP proxy in front of PostgreSQL that can be cut: open connections are closed, and new
/// ones are accepted and never answered, the worst a dead database host does.
struct Switch {
    address: SocketAddr,
    open: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Switch {
    fn start(target: SocketAddr) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (is_open, streams) = (Arc::clone(&open), Arc::clone(&live));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !is_open.load(Ordering::SeqCst) {
                    streams.lock().unwrap().push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut streams = streams.lock().unwrap();
                streams.push(client.try_clone().unwrap());
                streams.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Switch {
            address,
            open,
            live,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for stream in self.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
        for stream in self.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn test_while_postgresql_is_unreachable_requests_get_a_quick_503_the_phone_reads_as_busy() {
    // SQLite is a file inside the server's own data directory: it cannot go away.
    let backend = Backend::postgres();
    let db = TestDatabase::new(&backend);
    let url = db.url.clone().unwrap();
    let (before, rest) = url.split_once('@').unwrap();
    let (host, name) = rest.split_once('/').unwrap();
    let target: SocketAddr = host.parse().unwrap();
    let switch = Switch::start(target);
    let proxied = format!("{before}@{}/{name}", switch.address);
    let server = Server::start_with(&db, &["--database-url", &proxied]);
    let token = db.add_device(&[VILLAGE]);
    let phone = Phone::new("phone", &server, &token);
    record(&phone, VILLAGE, 1, "甲");
    phone.sync();
    let staff = server.staff_token(&db, COUNTY, "县工作人员");
    assert_eq!(get_with_header(&server, "/readyz", None).0, 200);

    switch.cut();
    let (status, answer) = get_with_header(&server, "/readyz", None);
    assert_error(status, &answer, 503, "unavailable", "readyz");
    let (status, answer) = get(&server, "/api/v1/households", &staff);
    assert_error(status, &answer, 503, "unavailable", "the register");
    record(&phone, VILLAGE, 1, "乙");
    let error = phone
        .try_sync(&client_core::sync::HttpTransport::default())
        .unwrap_err();
    let told = error.message();
    assert!(
        told.zh.contains("服务器繁忙") && told.zh.contains("重试"),
        "{told:?}"
    );
    assert!(
        told.en.contains("busy") && told.en.contains("retry"),
        "{told:?}"
    );

    switch.restore();
    let report = phone.sync();
    assert_eq!(report.unsynced_changes, 0, "{report:?}");
    assert_eq!(get_with_header(&server, "/readyz", None).0, 200);
}
