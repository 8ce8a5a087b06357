//! What a field trial found on the phone side of sync: a village added to a phone after its
//! last sync, a server that takes the connection and never answers, a certificate the phone
//! does not trust. Each through the real field client against the real binary.

use crate::hardening::Certificate;
use crate::support::*;
use client_core::sync::{self, HttpTransport, SyncError, Timeouts};
use doorstep_e2e::{Backend, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Makes an enrollment code for `villages` as an operator, and enrolls the field client
/// at `store` with it; returns the device id.
fn enroll(db: &TestDatabase, server: &Server, store: &Path, villages: &[&str]) -> String {
    let mut args = vec!["device", "enroll", "--volunteer", "李娜"];
    for village in villages {
        args.extend(["--village", village]);
    }
    let code = db.run(&args);
    field_ok(store, &["enroll", &code, "--server", &server.url])
}

fn status(store: &Path) -> Value {
    serde_json::from_str(&field_ok(store, &["status", "--json"])).unwrap()
}

fn households(store: &Path) -> BTreeSet<String> {
    let list: Vec<Value> = serde_json::from_str(&field_ok(store, &["list", "--json"])).unwrap();
    list.iter()
        .map(|household| household["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn test_a_village_added_to_a_phone_brings_the_households_recorded_after_its_last_sync() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let p = tempfile::tempdir().unwrap();
        let q = tempfile::tempdir().unwrap();
        let p_device = enroll(&db, &server, p.path(), &[VILLAGE]);
        let kept = field_ok(p.path(), &["household", "new", "--village", VILLAGE]);
        field_ok(p.path(), &["sync"]);

        // After P's sync, so past its cursor: the feed, not a first download, carries them.
        enroll(&db, &server, q.path(), &[OTHER_VILLAGE]);
        let recorded: BTreeSet<String> = (0..2)
            .map(|_| field_ok(q.path(), &["household", "new", "--village", OTHER_VILLAGE]))
            .collect();
        field_ok(q.path(), &["sync"]);

        db.run(&[
            "device",
            "villages",
            &p_device,
            "--village",
            VILLAGE,
            "--village",
            OTHER_VILLAGE,
        ]);
        let summary: Value =
            serde_json::from_str(&field_ok(p.path(), &["sync", "--json"])).unwrap();
        assert_eq!(summary["unsynced_changes"], 0, "{backend:?}: {summary}");
        assert_eq!(
            status(p.path())["villages"],
            json!([VILLAGE, OTHER_VILLAGE]),
            "{backend:?}"
        );
        let mut expected = recorded.clone();
        expected.insert(kept.clone());
        assert_eq!(households(p.path()), expected, "{backend:?}");

        // The next sync goes on as usual, and so does a household recorded since.
        let later = field_ok(q.path(), &["household", "new", "--village", OTHER_VILLAGE]);
        field_ok(q.path(), &["sync"]);
        field_ok(p.path(), &["sync"]);
        expected.insert(later);
        assert_eq!(households(p.path()), expected, "{backend:?}");
    }
}

/// A server that takes every connection and never says a word, or one that hangs up at
/// once. Connections are held until it is dropped.
struct Listener {
    url: String,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Listener {
    fn start(hang_up: bool) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (stopped, holding) = (Arc::clone(&stop), Arc::clone(&held));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                if let (Ok(stream), false) = (stream, hang_up) {
                    holding.lock().unwrap().push(stream);
                }
            }
        });
        Listener {
            url: format!("http://{address}"),
            stop,
            held,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        self.held.lock().unwrap().clear();
    }
}

#[test]
fn test_a_server_that_never_answers_is_told_apart_from_a_dropped_link() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("手机", &server, &token);
        let recorded = record(&phone, VILLAGE, 2, "silent");
        let quick = HttpTransport::with_timeouts(Timeouts {
            connect: Duration::from_secs(5),
            silence: Duration::from_secs(2),
            request: Duration::from_secs(30),
        });

        let silent = Listener::start(false);
        sync::connect(&phone.store, &silent.url, &token).unwrap();
        let started = Instant::now();
        let err = phone.try_sync(&quick).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{backend:?}: waited {:?}",
            started.elapsed()
        );
        assert!(matches!(err, SyncError::NotAnswering(_)), "{err:?}");
        let message = err.message();
        assert!(
            message.zh.contains("服务器没有回应") && message.en.contains("not answering"),
            "{message:?}"
        );

        let hangs_up = Listener::start(true);
        sync::connect(&phone.store, &hangs_up.url, &token).unwrap();
        let err = phone.try_sync(&quick).unwrap_err();
        assert!(matches!(err, SyncError::Network(_)), "{err:?}");

        // Nothing was lost: the real server gets every household.
        assert!(phone.store.unsynced_changes().unwrap() > 0);
        sync::connect(&phone.store, &server.url, &token).unwrap();
        phone.sync();
        assert_eq!(phone.store.unsynced_changes().unwrap(), 0, "{backend:?}");
        let staff = server.staff_token(&db, doorstep_e2e::COUNTY, "县工作人员");
        let on_server = register_ids(&server, &staff, VILLAGE);
        assert!(
            recorded.iter().all(|id| on_server.contains(id.as_str())),
            "{backend:?}: {on_server:?}"
        );
    }
}

#[test]
fn test_a_certificate_the_phone_does_not_trust_says_retrying_will_not_help() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let certificate = Certificate::new();
        let flags = certificate.flags();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let server = Server::start_with(&db, &flags);
        assert!(server.url.starts_with("https://"), "{}", server.url);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("手机", &server, &token);
        record(&phone, VILLAGE, 1, "tls");

        let err = phone.try_sync(&HttpTransport::default()).unwrap_err();
        assert!(
            matches!(err, SyncError::Certificate(_)),
            "{backend:?}: {err:?}"
        );
        let message = err.message();
        assert!(
            message.zh.contains("证书") && message.en.contains("will not help"),
            "{message:?}"
        );
        assert!(phone.store.unsynced_changes().unwrap() > 0);
    }
}
