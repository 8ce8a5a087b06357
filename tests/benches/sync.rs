//! Sync server benchmarks: a day's visits from several devices ingested on SQLite and
//! PostgreSQL, against the raw Automerge ceiling measured in the same run; bytes on the wire
//! per visit; the first download of a 300-household village. Run with
//! `cargo bench -p doorstep-e2e --bench sync` (PostgreSQL too when `DATABASE_URL` is set);
//! results in `docs/BENCHMARKS.md`. Also measured: the server's CPU time, its Automerge work
//! redone in process, and (in extra runs in no table) its SQL statements.
//!
//! What is measured, and how:
//!
//! - **A day's visits.** Every device covers one village of [`HOUSEHOLDS_PER_VILLAGE`]
//!   households that are already on the server (recorded earlier by another device, as
//!   `doorstep-field generate` records them: 3 members and a finished visit). The device gets
//!   them by its first download, then during the day visits [`VISITS_PER_DAY`] of them: a
//!   `start_visit`, one `set_fields` page of 24 edits (employment, contact, location), and a
//!   `finish_visit` with notes and a GPS point. The day's upload is what the real sync client
//!   sends for those households.
//! - **Raw ceiling.** The same uploads, in one process with no network and no database: for
//!   each visited household, load the document the device got at first download, parse and
//!   apply the uploaded changes, save. Measured in the same run as the ingest it is compared
//!   with.
//! - **Ingest.** The real `doorstep` binary, restarted after the setup so its document cache
//!   is cold (the first download was days ago), takes the devices' syncs all at once (the
//!   throughput the target is about), and, on another fresh database, one after another. A
//!   transport wrapper times each POST (server time plus loopback) and holds every device's
//!   first POST at a starting line until all are encoded; one after another, the server's own
//!   time per request is read from its request tracing.
//! - **First download.** A village of 300 households on the server; a new device's first sync,
//!   on a freshly started server, repeated with a new device each time.
//!
//! `cargo bench -p doorstep-e2e --bench sync -- --test` runs everything once at a small size,
//! as a smoke test. `DOORSTEP_BENCH_REPS` changes the number of repetitions;
//! `DOORSTEP_BENCH_PERF=<file>` adds an ingest repetition recorded with `perf` and reports
//! where the server's CPU went.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::{AutoCommit, Change, ChangeHash};
use client_core::sync::{self, HttpTransport, SyncReport, Transport, TransportError};
use client_core::{DeviceProfile, GpsPoint, Store};
use doorstep_e2e::{AreaCode, Backend, HouseholdId, MemberKey, TestDatabase, with_check_character};
use schema::wire::{self, Cursor, SyncRequest, Upload};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Devices uploading a day's visits, one village each.
const DEVICES: usize = 8;
/// Households in each device's village, all on the server before the day begins.
const HOUSEHOLDS_PER_VILLAGE: usize = 40;
/// Households each device visits in a day.
const VISITS_PER_DAY: usize = 15;
/// Households in the village of the first-download benchmark.
const DOWNLOAD_HOUSEHOLDS: usize = 300;
/// Repetitions of each measurement, each ingest on a fresh database.
const REPS: usize = 5;
/// Passes of the in-process yardstick before a repetition's ingest, and as many after; the
/// median of all is the repetition's.
const RAW_PASSES: usize = 5;

/// Where a server listens when any free port will do.
const ANY_PORT: &str = "127.0.0.1:0";

/// Targets from the issue.
const TARGET_INGEST_RATIO: f64 = 0.5;
const TARGET_BYTES_PER_VISIT: f64 = 400.0;
const TARGET_DOWNLOAD_SECS: f64 = 1.0;
const TARGET_DOWNLOAD_BYTES: f64 = 400.0 * 1000.0;

#[derive(Debug, Clone, Copy)]
struct Config {
    devices: usize,
    households_per_village: usize,
    visits_per_day: usize,
    download_households: usize,
    reps: usize,
}

impl Config {
    fn from_args() -> Config {
        let smoke = std::env::args().any(|arg| arg == "--test");
        let reps = std::env::var("DOORSTEP_BENCH_REPS")
            .ok()
            .and_then(|reps| reps.parse().ok())
            .unwrap_or(if smoke { 1 } else { REPS });
        if smoke {
            Config {
                devices: 2,
                households_per_village: 10,
                visits_per_day: 5,
                download_households: 30,
                reps,
            }
        } else {
            Config {
                devices: DEVICES,
                households_per_village: HOUSEHOLDS_PER_VILLAGE,
                visits_per_day: VISITS_PER_DAY,
                download_households: DOWNLOAD_HOUSEHOLDS,
                reps,
            }
        }
    }

    fn visits(&self) -> usize {
        self.devices * self.visits_per_day
    }
}

// ---------------------------------------------------------------------------------------
// Households, as `doorstep-field generate` records them, and a day's visit to one.

const SURNAMES: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋"];

/// A valid 18-digit ID number for person `n`, born in Lin County.
fn id_number(n: u32, born: (u32, u32, u32), male: bool) -> String {
    let sequence = (n % 450) * 2 + u32::from(male);
    let first17 = format!(
        "141124{:04}{:02}{:02}{:03}",
        born.0, born.1, born.2, sequence
    );
    with_check_character(&first17)
}

fn name(n: u32) -> String {
    format!(
        "{}{}{}",
        SURNAMES[(n % 10) as usize],
        GIVEN[((n / 10) % 10) as usize],
        GIVEN[((n / 100) % 10) as usize]
    )
}

/// A household on the server before the day, and the keys of its members.
#[derive(Debug, Clone)]
struct Seeded {
    id: HouseholdId,
    head: MemberKey,
    spouse: MemberKey,
    child: MemberKey,
}

/// Records household `n` of a village as `doorstep-field generate` does: a head, a spouse
/// and a child, and a finished visit filling 18 fields.
fn seed_household(store: &Store, village: &AreaCode, n: u32) -> Seeded {
    let id = store
        .create_household(village, Some(&format!("{}{:04}", village, n % 10_000)))
        .unwrap();
    let year = 1970 + n % 25;
    let head = store
        .add_member(
            &id,
            &name(n * 3),
            Some(&id_number(n * 3, (year, 1 + n % 12, 1 + n % 28), true)),
        )
        .unwrap();
    let spouse = store
        .add_member(
            &id,
            &name(n * 3 + 1),
            Some(&id_number(
                n * 3 + 1,
                (year + 2, 1 + (n + 5) % 12, 1 + (n + 7) % 28),
                false,
            )),
        )
        .unwrap();
    let child = store
        .add_member(
            &id,
            &name(n * 3 + 2),
            Some(&id_number(
                n * 3 + 2,
                (2012 + n % 6, 1 + n % 12, 1 + n % 28),
                n.is_multiple_of(2),
            )),
        )
        .unwrap();
    let visit = store.start_visit(&id).unwrap();
    let head_path = |field: &str| format!("members.{head}.{field}");
    let spouse_path = |field: &str| format!("members.{spouse}.{field}");
    let child_path = |field: &str| format!("members.{child}.{field}");
    let fields = [
        ("household.address".to_owned(), format!("{n} 号")),
        ("household.poverty_attribute".to_owned(), "01".to_owned()),
        ("household.causes".to_owned(), "01,07".to_owned()),
        (head_path("relation"), "01".to_owned()),
        (head_path("education"), "03".to_owned()),
        (head_path("labour_capacity"), "01".to_owned()),
        (head_path("employment.status"), "01".to_owned()),
        (head_path("employment.place"), "太原".to_owned()),
        (head_path("employment.months_worked"), (n % 11).to_string()),
        (head_path("intent.wants_work"), "是".to_owned()),
        (spouse_path("relation"), "02".to_owned()),
        (spouse_path("labour_capacity"), "01".to_owned()),
        (spouse_path("employment.status"), "10".to_owned()),
        (
            spouse_path("employment.not_employed_reason"),
            "02".to_owned(),
        ),
        (spouse_path("intent.wants_training"), "是".to_owned()),
        (spouse_path("intent.training_trades"), "家政".to_owned()),
        (
            child_path("relation"),
            if n.is_multiple_of(2) { "03" } else { "04" }.to_owned(),
        ),
        (child_path("in_school"), "02".to_owned()),
    ];
    store.set_fields(&id, &as_edits(&fields)).unwrap();
    store
        .finish_visit(&id, &visit, "met", Some("演示数据"), None)
        .unwrap();
    Seeded {
        id,
        head,
        spouse,
        child,
    }
}

const EMPLOYERS: [&str; 6] = [
    "太原富士康科技工业园",
    "晋中市榆次区建筑公司",
    "岚县扶贫车间",
    "北京家政服务有限公司",
    "吕梁市人民医院护工站",
    "本村合作社",
];
const PLACES: [&str; 5] = [
    "山西省太原市",
    "山西省晋中市",
    "山西省吕梁市岚县",
    "北京市朝阳区",
    "陕西省西安市",
];
const TRADES: [&str; 7] = ["建筑", "电子装配", "家政", "护工", "餐饮", "种植", "养殖"];
const NOTES: [&str; 5] = [
    "已核实就业情况",
    "户主外出务工，配偶在家照顾老人",
    "家中无人，电话联系户主核实",
    "配偶在扶贫车间上班，孩子在校",
    "户主想报名电工培训，需跟进",
];

/// A deterministic number for visit `n`'s `slot`th choice.
fn mix(n: u32, slot: u32) -> usize {
    let mut z = (u64::from(n) << 8 | u64::from(slot)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 29;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (z >> 32) as usize
}

/// A follow-up visit to an existing household: one form page of 24 edits (the head's and
/// the spouse's work, contact and location, the child's schooling), each a new value, with
/// employers, places, trades and notes drawn from short lists as in a real county.
fn day_visit(store: &Store, household: &Seeded, n: u32) {
    let visit = store.start_visit(&household.id).unwrap();
    let head = |field: &str| format!("members.{}.{field}", household.head);
    let spouse = |field: &str| format!("members.{}.{field}", household.spouse);
    let child = |field: &str| format!("members.{}.{field}", household.child);
    let pick = |items: &[&str], slot: u32| items[mix(n, slot) % items.len()].to_owned();
    let lat = 38.2 + (mix(n, 1) % 100_000) as f64 / 1e6;
    let lon = 111.5 + (mix(n, 2) % 100_000) as f64 / 1e6;
    let fields = [
        (
            "household.phone".to_owned(),
            format!("139{:08}", mix(n, 3) % 100_000_000),
        ),
        ("household.gps.lat".to_owned(), format!("{lat:.6}")),
        ("household.gps.lon".to_owned(), format!("{lon:.6}")),
        ("household.exit_status".to_owned(), pick(&["1", "4"], 4)),
        (
            "household.follow_up_needs".to_owned(),
            pick(&["01", "01,03", "02", "04"], 5),
        ),
        (
            head("employment.status"),
            pick(&["02", "03", "04", "08"], 6),
        ),
        (head("employment.employer"), pick(&EMPLOYERS, 7)),
        (head("employment.place"), pick(&PLACES, 8)),
        (head("employment.trade"), pick(&TRADES, 9)),
        (
            head("employment.months_worked"),
            (mix(n, 10) % 12 + 1).to_string(),
        ),
        (
            head("employment.monthly_income"),
            ((mix(n, 11) % 40 + 20) * 100).to_string(),
        ),
        (head("employment.contract_signed"), pick(&["是", "否"], 12)),
        (head("employment.social_insurance"), pick(&["是", "否"], 13)),
        (head("intent.region"), pick(&["01", "02", "03", "00"], 14)),
        (
            spouse("employment.status"),
            pick(&["01", "05", "06", "08", "09"], 15),
        ),
        (spouse("employment.not_employed_reason"), String::new()),
        (spouse("employment.employer"), pick(&EMPLOYERS, 16)),
        (spouse("employment.place"), pick(&PLACES, 17)),
        (spouse("employment.trade"), pick(&TRADES, 18)),
        (
            spouse("employment.months_worked"),
            (mix(n, 19) % 12 + 1).to_string(),
        ),
        (
            spouse("employment.monthly_income"),
            ((mix(n, 20) % 30 + 10) * 100).to_string(),
        ),
        (spouse("intent.wants_training"), "否".to_owned()),
        (child("education"), pick(&["02", "03"], 21)),
        (child("health"), "01".to_owned()),
    ];
    store.set_fields(&household.id, &as_edits(&fields)).unwrap();
    store
        .finish_visit(
            &household.id,
            &visit,
            "met",
            Some(&pick(&NOTES, 22)),
            Some(GpsPoint { lat, lon }),
        )
        .unwrap();
}

fn as_edits(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(path, value)| (path.as_str(), value.as_str()))
        .collect()
}

fn village(n: usize) -> AreaCode {
    AreaCode::parse_village(&format!("1411241002{:02}", n + 1)).unwrap()
}

// ---------------------------------------------------------------------------------------
// Devices, the timed transport, and the server with its request tracing.

/// A store directory in RAM when there is one: setting up is not what is measured, and the
/// server's database (what is measured) stays on disk.
fn scratch_dir() -> TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let mut builder = tempfile::Builder::new();
    builder.prefix("doorstep-bench-");
    if shm.is_dir() {
        builder.tempdir_in(shm).unwrap()
    } else {
        builder.tempdir().unwrap()
    }
}

struct Device {
    // Field order is drop order: the store closes before its directory is removed.
    store: Store,
    _dir: TempDir,
}

impl Device {
    fn new(name: &str, url: &str, token: &str) -> Device {
        let dir = scratch_dir();
        let store = Store::open(dir.path()).unwrap();
        store
            .set_profile(DeviceProfile {
                device: name.to_owned(),
                volunteer: format!("{name} 的志愿者"),
            })
            .unwrap();
        sync::connect(&store, url, token).unwrap();
        Device { store, _dir: dir }
    }

    fn sync(&self, transport: &dyn Transport) -> SyncReport {
        let report = sync::sync(
            &self.store,
            transport,
            wire::DEFAULT_PAGE_BYTES,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap_or_else(|err| panic!("sync failed: {}", err.message().en));
        assert!(
            report.rejected.is_empty(),
            "rejected: {:?}",
            report.rejected
        );
        assert_eq!(report.unsynced_changes, 0);
        report
    }
}

/// One POST as the device saw it.
#[derive(Debug, Clone, Copy)]
struct Post {
    started: Instant,
    ended: Instant,
    sent: usize,
    received: usize,
}

impl Post {
    fn secs(&self) -> f64 {
        (self.ended - self.started).as_secs_f64()
    }
}

/// HTTP, timing each POST: server time plus loopback, without the device's own work. With a
/// starting line, the first POST waits there for every other device's, so that devices
/// syncing at once send together, their requests already encoded.
struct TimedTransport {
    http: HttpTransport,
    posts: RefCell<Vec<Post>>,
    starting_line: RefCell<Option<Arc<Barrier>>>,
}

impl TimedTransport {
    fn new(starting_line: Option<Arc<Barrier>>) -> TimedTransport {
        TimedTransport {
            http: HttpTransport::new(Duration::from_secs(120)),
            posts: RefCell::new(Vec::new()),
            starting_line: RefCell::new(starting_line),
        }
    }
}

impl Transport for TimedTransport {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        if let Some(line) = self.starting_line.borrow_mut().take() {
            line.wait();
        }
        let sent = body.len();
        let started = Instant::now();
        let answer = self.http.post(url, token, body);
        let ended = Instant::now();
        if let Ok(bytes) = &answer {
            self.posts.borrow_mut().push(Post {
                started,
                ended,
                sent,
                received: bytes.len(),
            });
        }
        answer
    }
}

/// How the devices' syncs of the day reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// Each device syncs once the one before it is done: every request has the server
    /// to itself.
    OneAfterAnother,
    /// Every device syncs at the same moment, as phones do on an office's Wi-Fi.
    AllAtOnce,
}

/// What the server's tracing says about one request.
#[derive(Debug, Clone, Default)]
struct ServerRequest {
    /// From `started processing request` to `finished processing request`: reading the
    /// body, auth, decoding, applying, the feed page and encoding the response.
    secs: f64,
    /// From the handler's `sync` event to `finished`: encoding the response.
    encode_secs: f64,
    /// Statements, by summary, when SQL logging is on: (summary, count, seconds).
    sql: Vec<(String, usize, f64)>,
}

impl ServerRequest {
    fn sql_secs(&self) -> f64 {
        self.sql.iter().map(|(_, _, secs)| secs).sum()
    }
}

#[derive(Debug)]
enum LogEvent {
    Started(i64),
    Sync(i64),
    Finished(i64),
    Sql { summary: String, secs: f64 },
}

/// `doorstep serve` with its request tracing read back, stopped when dropped.
struct BenchServer {
    child: Child,
    url: String,
    events: Arc<Mutex<Vec<LogEvent>>>,
}

impl BenchServer {
    /// Starts the server on `listen` (`127.0.0.1:0` for any free port).
    fn start(db: &TestDatabase, listen: &str, sql_log: bool) -> BenchServer {
        let filter = if sql_log {
            "warn,tower_http=debug,doorstep_server=info,sqlx::query=debug"
        } else {
            "warn,tower_http=debug,doorstep_server=info"
        };
        let mut child = db
            .command()
            .env("RUST_LOG", filter)
            .args(["serve", "--listen", listen])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("doorstep listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from doorstep serve: {line:?}"))
            .to_owned();
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&events);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match parse_log_line(&line) {
                    Some(event) => sink.lock().unwrap().push(event),
                    None if line.contains("\"ERROR\"") || line.contains("\"WARN\"") => {
                        eprintln!("server: {line}");
                    }
                    None => {}
                }
            }
        });
        let server = BenchServer { child, url, events };
        // A first request opens the pool's connection, so the measured ones do not.
        for _ in 0..2 {
            ureq::get(&format!("{}/readyz", server.url)).call().unwrap();
        }
        // Their log lines must be read before the measured requests' are.
        server.take_requests(2);
        server
    }

    /// Stops the server and starts it again on the same port, with an empty cache.
    fn restart(self, db: &TestDatabase, sql_log: bool) -> BenchServer {
        let listen = self.url.trim_start_matches("http://").to_owned();
        drop(self);
        BenchServer::start(db, &listen, sql_log)
    }

    /// CPU seconds the server has used so far (`/proc/<pid>/stat`).
    fn cpu_secs(&self) -> f64 {
        // The process's user and system time (fields 14 and 15), threads that have exited
        // included: the merge's helper threads end with each batch. In clock ticks, 100 a
        // second on Linux.
        const TICKS_PER_SEC: f64 = 100.0;
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())) else {
            return f64::NAN;
        };
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        let ticks = |field: usize| {
            fields
                .get(field - 3)
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        (ticks(14) + ticks(15)) / TICKS_PER_SEC
    }

    /// Waits until `count` requests have finished, then returns the server's timings of
    /// each, in order. The requests must have come one after another.
    fn take_requests(&self, count: usize) -> Vec<ServerRequest> {
        let events = self.wait_for_events(count);
        let mut requests = Vec::new();
        let mut current: Option<(i64, Option<i64>, ServerRequest)> = None;
        for event in events {
            match event {
                LogEvent::Started(at) => current = Some((at, None, ServerRequest::default())),
                LogEvent::Sync(at) => {
                    if let Some((_, sync_at, _)) = &mut current {
                        *sync_at = Some(at);
                    }
                }
                LogEvent::Sql { summary, secs } => {
                    if let Some((_, _, request)) = &mut current {
                        match request.sql.iter_mut().find(|(s, _, _)| *s == summary) {
                            Some(entry) => {
                                entry.1 += 1;
                                entry.2 += secs;
                            }
                            None => request.sql.push((summary, 1, secs)),
                        }
                    }
                }
                LogEvent::Finished(at) => {
                    if let Some((started, sync_at, mut request)) = current.take() {
                        request.secs = micros_to_secs(at - started);
                        request.encode_secs = sync_at.map_or(0.0, |s| micros_to_secs(at - s));
                        requests.push(request);
                    }
                }
            }
        }
        assert_eq!(requests.len(), count, "requests paired from the server log");
        requests
    }

    /// Waits until `count` requests have finished, then takes every event logged so far.
    fn wait_for_events(&self, count: usize) -> Vec<LogEvent> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let finished = self
                .events
                .lock()
                .unwrap()
                .iter()
                .filter(|event| matches!(event, LogEvent::Finished(_)))
                .count();
            if finished >= count {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server logged {finished} of {count} requests"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn micros_to_secs(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// Reads one JSON line of the server's tracing.
fn parse_log_line(line: &str) -> Option<LogEvent> {
    let json: serde_json::Value = serde_json::from_str(line).ok()?;
    let target = json.get("target")?.as_str()?;
    let fields = json.get("fields")?;
    let message = fields.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let at = || parse_timestamp(json.get("timestamp")?.as_str()?);
    if target.starts_with("tower_http::trace") {
        if message == "started processing request" {
            return Some(LogEvent::Started(at()?));
        }
        if message == "finished processing request" {
            return Some(LogEvent::Finished(at()?));
        }
        return None;
    }
    if target == "doorstep_server::http::sync" && message == "sync" {
        return Some(LogEvent::Sync(at()?));
    }
    if target == "sqlx::query" {
        let in_request = json
            .get("span")
            .and_then(|span| span.get("name"))
            .and_then(|name| name.as_str())
            == Some("request");
        if !in_request {
            return None;
        }
        let summary = fields.get("summary")?.as_str()?.to_owned();
        let secs = fields.get("elapsed_secs")?.as_f64()?;
        return Some(LogEvent::Sql { summary, secs });
    }
    None
}

/// Microseconds since the epoch of an RFC 3339 UTC timestamp as tracing writes it
/// (`2026-03-05T10:11:12.345678Z`).
fn parse_timestamp(text: &str) -> Option<i64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>());
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.split(':');
    let (hour, minute) = (
        time.next()?.parse::<i64>().ok()?,
        time.next()?.parse::<i64>().ok()?,
    );
    let seconds = time.next()?;
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
    let fraction = format!("{fraction:0<6}");
    let micros_part = fraction[..6].parse::<i64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + whole.parse::<i64>().ok()?;
    Some(secs * 1_000_000 + micros_part)
}

// ---------------------------------------------------------------------------------------
// The measurements.

/// One repetition of the day's ingest.
#[derive(Debug, Clone, Default)]
struct IngestRun {
    visits: usize,
    households: usize,
    /// Median of the yardstick's passes: load, apply, save, in one process.
    raw_secs: f64,
    /// The same work spread over every core.
    raw_every_core_secs: f64,
    /// Sum of the POSTs of the day's syncs (server plus loopback).
    post_secs: f64,
    /// From the first POST's start to the last one's end.
    span_secs: f64,
    /// Sum of the server's own time on those requests.
    server_secs: f64,
    encode_secs: f64,
    sql_secs: f64,
    /// CPU time of the server process (all threads) during the day's syncs.
    server_cpu_secs: f64,
    /// The server's CPU work on the same uploads, step by step, in one process.
    model: Vec<(&'static str, f64)>,
    /// Shares of the server's CPU samples, when recorded with perf.
    perf: Option<Vec<(String, f64)>>,
    /// One statement, and one commit, through sqlx in this process (see [`statement_cost`]).
    statement_secs: f64,
    commit_secs: f64,
    posts: usize,
    sent: usize,
    received: usize,
    /// Request bytes had the device sent only the day's changes (see the report).
    day_only_sent: usize,
    changes_uploaded: usize,
    changes_of_the_day: usize,
    /// Automerge change bytes, before the wire's CBOR and Brotli.
    change_bytes_uploaded: usize,
    change_bytes_of_the_day: usize,
    sql: Vec<(String, usize, f64)>,
}

impl IngestRun {
    /// The time the day's ingest took: the sum of the POSTs when the server takes them one
    /// after another, from the first POST's start to the last one's end when it takes them
    /// at once.
    fn ingest_secs(&self, arrival: Arrival) -> f64 {
        match arrival {
            Arrival::OneAfterAnother => self.post_secs,
            Arrival::AllAtOnce => self.span_secs,
        }
    }
}

fn village_refs(villages: &[AreaCode]) -> Vec<&str> {
    villages.iter().map(AreaCode::as_str).collect()
}

/// Households on the server before the day, recorded by one device and synced.
fn seed(
    db: &TestDatabase,
    url: &str,
    villages: &[AreaCode],
    per_village: usize,
) -> Vec<Vec<Seeded>> {
    let token = db.add_device(&village_refs(villages));
    let seeder = Device::new("registrar", url, &token);
    // Numbered across villages, so that no two villages hold the same people: the review
    // queue would otherwise (rightly) see every household as a duplicate of seven others.
    let seeded: Vec<Vec<Seeded>> = villages
        .iter()
        .enumerate()
        .map(|(v, village)| {
            (0..per_village)
                .map(|n| seed_household(&seeder.store, village, (v * per_village + n) as u32 + 1))
                .collect()
        })
        .collect();
    seeder.sync(&HttpTransport::default());
    seeded
}

fn ingest_run(
    backend: &Backend,
    config: &Config,
    arrival: Arrival,
    sql_log: bool,
    perf: bool,
) -> IngestRun {
    let db = TestDatabase::new(backend);
    let server = BenchServer::start(&db, ANY_PORT, false);
    let villages: Vec<AreaCode> = (0..config.devices).map(village).collect();
    let seeded = seed(&db, &server.url, &villages, config.households_per_village);

    // Each device's first download, then its day of visits.
    let mut devices = Vec::new();
    let mut jobs: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    let mut run = IngestRun::default();
    let mut day_only_uploads = Vec::new();
    for (d, village) in villages.iter().enumerate() {
        let token = db.add_device(&[village.as_str()]);
        let device = Device::new(&format!("phone-{d}"), &server.url, &token);
        let report = device.sync(&HttpTransport::default());
        assert_eq!(
            report.documents_received as usize,
            config.households_per_village
        );
        let mut visited = Vec::new();
        for i in 0..config.visits_per_day {
            let household = &seeded[d][(i * 7 + d) % config.households_per_village];
            let base = device.store.document_bytes(&household.id).unwrap();
            let base_heads: Vec<ChangeHash> = device.store.heads(&household.id).unwrap();
            day_visit(&device.store, household, (d * 1000 + i) as u32);
            visited.push((household.id.clone(), base, base_heads));
        }
        let mut day_only = Vec::new();
        for (household, base, base_heads) in visited {
            let confirmed = device.store.confirmed_heads(&household).unwrap();
            let uploaded = device.store.changes_since(&household, &confirmed).unwrap();
            let of_the_day = device.store.changes_since(&household, &base_heads).unwrap();
            run.changes_uploaded += uploaded.len();
            run.changes_of_the_day += of_the_day.len();
            run.change_bytes_uploaded += uploaded.iter().map(Vec::len).sum::<usize>();
            run.change_bytes_of_the_day += of_the_day.iter().map(Vec::len).sum::<usize>();
            day_only.push(Upload {
                household: household.to_string(),
                changes: of_the_day.into_iter().map(wire::Bytes::from).collect(),
            });
            jobs.push((base, uploaded));
        }
        let cursor: Option<Cursor> = sync::cursor(&device.store).unwrap();
        day_only_uploads.push(SyncRequest {
            protocol: wire::PROTOCOL_VERSION,
            actor: device.store.actor(),
            cursor,
            uploads: day_only,
            page_bytes: wire::DEFAULT_PAGE_BYTES,
        });
        devices.push(device);
    }
    run.visits = config.visits();
    run.households = jobs.len();
    run.day_only_sent = day_only_uploads
        .iter()
        .map(|request| wire::encode_request(request).unwrap().len())
        .sum();

    // The yardstick, on exactly the bytes the devices will upload: half its passes before
    // the ingest, half after, so that it sees the machine as the ingest did (a shared
    // machine slows down and speeds up by a third within a minute).
    let mut raw_passes: Vec<f64> = (0..RAW_PASSES).map(|_| raw_ingest(&jobs)).collect();
    let mut every_core_passes: Vec<f64> = (0..RAW_PASSES)
        .map(|_| raw_ingest_on_every_core(&jobs))
        .collect();
    run.model = server_model(&jobs);

    // The day's ingest, on a server started afresh: nothing of the village is cached.
    let server = server.restart(&db, sql_log);
    let perf = if perf { start_perf(&server) } else { None };
    let cpu_before = server.cpu_secs();
    let posts: Vec<Post> = match arrival {
        Arrival::OneAfterAnother => devices
            .iter()
            .flat_map(|device| {
                let transport = TimedTransport::new(None);
                device.sync(&transport);
                transport.posts.into_inner()
            })
            .collect(),
        Arrival::AllAtOnce => {
            let line = Arc::new(Barrier::new(devices.len()));
            std::thread::scope(|scope| {
                let syncs: Vec<_> = devices
                    .iter()
                    .map(|device| {
                        let line = Arc::clone(&line);
                        scope.spawn(move || {
                            let transport = TimedTransport::new(Some(line));
                            device.sync(&transport);
                            transport.posts.into_inner()
                        })
                    })
                    .collect();
                syncs
                    .into_iter()
                    .flat_map(|sync| sync.join().unwrap())
                    .collect()
            })
        }
    };
    for post in &posts {
        run.posts += 1;
        run.post_secs += post.secs();
        run.sent += post.sent;
        run.received += post.received;
    }
    let first = posts.iter().map(|post| post.started).min();
    let last = posts.iter().map(|post| post.ended).max();
    if let (Some(first), Some(last)) = (first, last) {
        run.span_secs = (last - first).as_secs_f64();
    }
    run.server_cpu_secs = server.cpu_secs() - cpu_before;
    raw_passes.extend((0..RAW_PASSES).map(|_| raw_ingest(&jobs)));
    every_core_passes.extend((0..RAW_PASSES).map(|_| raw_ingest_on_every_core(&jobs)));
    run.raw_secs = median(&mut raw_passes);
    run.raw_every_core_secs = median(&mut every_core_passes);
    if perf.is_some() {
        stop_perf(perf);
        run.perf = std::env::var("DOORSTEP_BENCH_PERF")
            .ok()
            .and_then(|path| perf_breakdown(&path));
    }
    // Requests taken at once log their lines interleaved, with nothing that pairs them: only
    // one after another is each request's own time known.
    match arrival {
        Arrival::OneAfterAnother => {
            (run.server_secs, run.encode_secs, run.sql_secs, run.sql) =
                server_totals(&server.take_requests(run.posts));
        }
        Arrival::AllAtOnce => {
            server.wait_for_events(run.posts);
        }
    }

    // The server now holds exactly what the devices hold.
    let check = Device::new(
        "check",
        &server.url,
        &db.add_device(&village_refs(&villages[..1])),
    );
    check.sync(&HttpTransport::default());
    for household in &seeded[0] {
        assert_eq!(
            check.store.heads(&household.id).unwrap(),
            devices[0].store.heads(&household.id).unwrap()
        );
    }
    (run.statement_secs, run.commit_secs) = statement_cost(&db);
    run
}

/// With `DOORSTEP_BENCH_PERF=<file>`, one more ingest repetition, in no table, records the
/// server with `perf record` into that file (read it with `perf report -i <file>`).
fn start_perf(server: &BenchServer) -> Option<Child> {
    let path = std::env::var("DOORSTEP_BENCH_PERF").ok()?;
    let perf = std::process::Command::new("perf")
        .args([
            "record",
            "-F",
            "1999",
            "--call-graph",
            "dwarf",
            "-o",
            &path,
            "-p",
        ])
        .arg(server.child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(500));
    Some(perf)
}

/// Shares of the recorded server samples, by what each sample's stack is doing (the first
/// matching category wins), then by thread.
fn perf_breakdown(path: &str) -> Option<Vec<(String, f64)>> {
    const CATEGORIES: [(&str, &[&str]); 6] = [
        ("Automerge", &["automerge::"]),
        (
            "schema: read the view, validate",
            &["doorstep_schema::layout", "doorstep_schema::validation"],
        ),
        (
            "wire: Brotli and CBOR",
            &["brotli", "ciborium", "doorstep_schema::wire"],
        ),
        (
            "SQLite executing statements (WAL writes, fsync included)",
            &["sqlite3"],
        ),
        (
            "hand-offs between threads: futex, scheduler, channels",
            &[
                "futex",
                "schedule",
                "flume",
                "finish_task_switch",
                "try_to_wake_up",
                "park",
            ],
        ),
        ("sqlx, other", &["sqlx"]),
    ];
    let output = std::process::Command::new("perf")
        .args(["script", "-i", path])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut counts = vec![0usize; CATEGORIES.len() + 1];
    let mut threads: Vec<(String, usize)> = Vec::new();
    let mut total = 0usize;
    for sample in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
        total += 1;
        let category = CATEGORIES
            .iter()
            .position(|(_, needles)| needles.iter().any(|needle| sample.contains(needle)))
            .unwrap_or(CATEGORIES.len());
        counts[category] += 1;
        let thread = sample.split_whitespace().next().unwrap_or("?").to_owned();
        match threads.iter_mut().find(|(name, _)| *name == thread) {
            Some(entry) => entry.1 += 1,
            None => threads.push((thread, 1)),
        }
    }
    if total == 0 {
        return None;
    }
    let share = |count: usize| count as f64 / total as f64 * 100.0;
    let mut shares: Vec<(String, f64)> = CATEGORIES
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(["other".to_owned()])
        .zip(counts.iter().map(|&count| share(count)))
        .collect();
    threads.sort_by_key(|thread| std::cmp::Reverse(thread.1));
    shares.extend(
        threads
            .into_iter()
            .map(|(name, count)| (format!("thread `{name}`"), share(count))),
    );
    Some(shares)
}

fn stop_perf(perf: Option<Child>) {
    if let Some(mut perf) = perf {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait();
    }
}

/// Loads each base document, applies the uploaded changes and saves, in one process.
fn raw_ingest(jobs: &[(Vec<u8>, Vec<Vec<u8>>)]) -> f64 {
    let started = Instant::now();
    raw_work(jobs.iter());
    started.elapsed().as_secs_f64()
}

/// The yardstick's work spread over every core, each thread taking every nth household:
/// what the machine could do at best, for comparison only (the ratio is to [`raw_ingest`]).
fn raw_ingest_on_every_core(jobs: &[(Vec<u8>, Vec<Vec<u8>>)]) -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for first in 0..threads {
            scope.spawn(move || raw_work(jobs.iter().skip(first).step_by(threads)));
        }
    });
    started.elapsed().as_secs_f64()
}

fn raw_work<'a>(jobs: impl Iterator<Item = &'a (Vec<u8>, Vec<Vec<u8>>)>) {
    for (base, changes) in jobs {
        let mut doc = AutoCommit::load(base).unwrap();
        let changes: Vec<Change> = changes
            .iter()
            .map(|bytes| Change::from_bytes(bytes.clone()).unwrap())
            .collect();
        doc.apply_changes(changes).unwrap();
        black_box(doc.save());
    }
}

/// The server's CPU work on the same uploads, step by step, as `documents.rs` does it for a
/// household that is not in its cache: parse the upload, load the document from its saved
/// snapshot (which ingest keeps current; the base document is exactly that snapshot), apply
/// the new changes, migrate and read the view, validate it for the register. Database work
/// is not in it.
fn server_model(jobs: &[(Vec<u8>, Vec<Vec<u8>>)]) -> Vec<(&'static str, f64)> {
    let today = client_core::store::today();
    let mut steps = [
        ("parse the upload", 0.0),
        ("load the saved document", 0.0),
        ("apply the new changes", 0.0),
        ("migrate and read the view", 0.0),
        ("validate and search terms", 0.0),
    ];
    for _ in 0..RAW_PASSES {
        for (base, uploaded) in jobs {
            let mut clock = Instant::now();
            let mut lap = |step: usize, steps: &mut [(&str, f64)]| {
                steps[step].1 += clock.elapsed().as_secs_f64() / RAW_PASSES as f64;
                clock = Instant::now();
            };
            let changes: Vec<Change> = uploaded
                .iter()
                .map(|bytes| Change::from_bytes(bytes.clone()).unwrap())
                .collect();
            lap(0, &mut steps);
            let mut doc = AutoCommit::load(base).unwrap();
            lap(1, &mut steps);
            let new: Vec<Change> = changes
                .into_iter()
                .filter(|change| doc.get_change_by_hash(&change.hash()).is_none())
                .collect();
            doc.apply_changes(new).unwrap();
            assert!(doc.get_missing_deps(&[]).is_empty());
            black_box(doc.get_heads());
            lap(2, &mut steps);
            schema::layout::migrate(&mut doc).unwrap();
            let view = schema::layout::read_household(doc.document()).unwrap();
            lap(3, &mut steps);
            black_box(schema::validation::validate(&view, today));
            black_box(view.search_terms().join("\n").to_lowercase());
            lap(4, &mut steps);
        }
    }
    steps.to_vec()
}

/// What one statement costs through sqlx's `Any` driver, as the server issues them: one
/// small INSERT and one SELECT by key, again and again inside one transaction, on the
/// multi-threaded runtime, against the database of the server (a table of its own). Returns the
/// mean wall time per statement and the time of the commit.
fn statement_cost(db: &TestDatabase) -> (f64, f64) {
    const ROUNDS: usize = 1000;
    let url = db.url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            db.data_dir.path().join("statements.db").display()
        )
    });
    let sqlite = db.url.is_none();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sqlx::Executor;
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE probe (id TEXT PRIMARY KEY, bytes BYTEA)")
            .execute(&pool)
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        let started = Instant::now();
        for n in 0..ROUNDS {
            let id = format!("{n:08}");
            sqlx::query("INSERT INTO probe (id, bytes) VALUES ($1, $2)")
                .bind(&id)
                .bind(vec![7u8; 200])
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query("SELECT bytes FROM probe WHERE id = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await
                .unwrap();
        }
        let per_statement = started.elapsed().as_secs_f64() / (2 * ROUNDS) as f64;
        let committed = Instant::now();
        tx.commit().await.unwrap();
        let commit = committed.elapsed().as_secs_f64();
        pool.close().await;
        (per_statement, commit)
    })
}

/// What the server's tracing says of a run's requests together: their time, the part of it
/// spent encoding answers, the statements' own time, and the statements by summary.
fn server_totals(requests: &[ServerRequest]) -> (f64, f64, f64, Vec<(String, usize, f64)>) {
    (
        requests.iter().map(|r| r.secs).sum(),
        requests.iter().map(|r| r.encode_secs).sum(),
        requests.iter().map(ServerRequest::sql_secs).sum(),
        merge_sql(requests),
    )
}

fn merge_sql(requests: &[ServerRequest]) -> Vec<(String, usize, f64)> {
    let mut merged: Vec<(String, usize, f64)> = Vec::new();
    for (summary, count, secs) in requests.iter().flat_map(|r| r.sql.iter()) {
        match merged.iter_mut().find(|(s, _, _)| s == summary) {
            Some(entry) => {
                entry.1 += count;
                entry.2 += secs;
            }
            None => merged.push((summary.clone(), *count, *secs)),
        }
    }
    merged.sort_by(|a, b| b.2.total_cmp(&a.2));
    merged
}

/// One first download of the village.
#[derive(Debug, Clone, Default)]
struct DownloadRun {
    households: usize,
    rounds: usize,
    post_secs: f64,
    server_secs: f64,
    encode_secs: f64,
    sql_secs: f64,
    wall_secs: f64,
    sent: usize,
    received: usize,
    sql: Vec<(String, usize, f64)>,
}

struct DownloadBench {
    runs: Vec<DownloadRun>,
    profile: DownloadRun,
    /// Sum of the saved documents' sizes, before compression.
    document_bytes: usize,
    /// In-process: build each document from its changes and save it, as the server does for
    /// a household without a current snapshot.
    raw_secs: f64,
}

fn download_bench(backend: &Backend, config: &Config) -> DownloadBench {
    let db = TestDatabase::new(backend);
    let server = BenchServer::start(&db, ANY_PORT, false);
    let the_village = village(0);
    let seeded = seed(
        &db,
        &server.url,
        std::slice::from_ref(&the_village),
        config.download_households,
    );
    drop(server);
    let tokens: Vec<String> = (0..=config.reps)
        .map(|_| db.add_device(&[the_village.as_str()]))
        .collect();
    let mut runs = Vec::new();
    let mut last_device = None;
    for (rep, token) in tokens.iter().enumerate() {
        // The last one is the profile pass, with every SQL statement logged.
        let sql_log = rep == config.reps;
        let server = BenchServer::start(&db, ANY_PORT, sql_log);
        let device = Device::new(&format!("new-phone-{rep}"), &server.url, token);
        let transport = TimedTransport::new(None);
        let started = Instant::now();
        let report = device.sync(&transport);
        let mut run = DownloadRun {
            households: report.documents_received as usize,
            wall_secs: started.elapsed().as_secs_f64(),
            ..DownloadRun::default()
        };
        assert_eq!(run.households, seeded[0].len());
        for post in transport.posts.borrow().iter() {
            run.rounds += 1;
            run.post_secs += post.secs();
            run.sent += post.sent;
            run.received += post.received;
        }
        (run.server_secs, run.encode_secs, run.sql_secs, run.sql) =
            server_totals(&server.take_requests(run.rounds));
        runs.push(run);
        last_device = Some(device);
    }
    let profile = runs.pop().unwrap();
    let device = last_device.unwrap();
    let mut document_bytes = 0;
    let histories: Vec<Vec<Vec<u8>>> = seeded[0]
        .iter()
        .map(|household| {
            let bytes = device.store.document_bytes(&household.id).unwrap();
            document_bytes += bytes.len();
            let mut doc = AutoCommit::load(&bytes).unwrap();
            doc.get_changes(&[])
                .iter()
                .map(|change| change.raw_bytes().to_vec())
                .collect()
        })
        .collect();
    let mut passes: Vec<f64> = (0..RAW_PASSES)
        .map(|_| {
            let started = Instant::now();
            for changes in &histories {
                let mut doc = AutoCommit::new();
                let changes: Vec<Change> = changes
                    .iter()
                    .map(|bytes| Change::from_bytes(bytes.clone()).unwrap())
                    .collect();
                doc.apply_changes(changes).unwrap();
                black_box(doc.save());
            }
            started.elapsed().as_secs_f64()
        })
        .collect();
    DownloadBench {
        runs,
        profile,
        document_bytes,
        raw_secs: median(&mut passes),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn median_of<T>(items: &[T], value: impl Fn(&T) -> f64) -> f64 {
    let mut values: Vec<f64> = items.iter().map(value).collect();
    median(&mut values)
}

// ---------------------------------------------------------------------------------------
// The report.

struct BackendResults {
    name: &'static str,
    /// The day's syncs one after another, and all at once.
    ingest: Vec<IngestRun>,
    together: Vec<IngestRun>,
    ingest_profile: IngestRun,
    download: DownloadBench,
    perf: Option<Vec<(String, f64)>>,
    /// Wall time of one statement through sqlx, and of a commit (see [`statement_cost`]).
    statement_secs: f64,
    commit_secs: f64,
}

impl BackendResults {
    fn runs(&self, arrival: Arrival) -> &[IngestRun] {
        match arrival {
            Arrival::OneAfterAnother => &self.ingest,
            Arrival::AllAtOnce => &self.together,
        }
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "**met**" } else { "**missed**" }
}

fn ms(secs: f64) -> String {
    format!("{:.1} ms", secs * 1000.0)
}

fn kb(bytes: f64) -> String {
    format!("{:.1} KB", bytes / 1000.0)
}

fn sql_table(out: &mut String, sql: &[(String, usize, f64)], total_secs: f64) {
    out.push_str("| statement | count | time | share of server time |\n|---|---:|---:|---:|\n");
    for (summary, count, secs) in sql.iter().take(8) {
        let summary = summary.replace('|', "\\|");
        let _ = writeln!(
            out,
            "| `{summary}` | {count} | {} | {:.0}% |",
            ms(*secs),
            secs / total_secs * 100.0
        );
    }
}

fn report(config: &Config, results: &[BackendResults], command_env: &str) -> String {
    let mut out = String::new();
    let visits = config.visits() as f64;
    let _ = writeln!(out, "## Sync server\n");
    let _ = writeln!(
        out,
        "Measured by `tests/benches/sync.rs` against the real `doorstep` binary on loopback, \
         with real device stores and the real sync client.\n"
    );
    let _ = writeln!(out, "```sh\n{command_env}\n```\n");
    let _ = writeln!(
        out,
        "Machine: 2 cores, shared and noisy: medians and same-run ratios. Every figure is the \
         median of {} repetitions; each ingest repetition runs on a fresh database. SQLite is \
         the server's file under a temporary directory on disk (WAL, `synchronous=FULL`); \
         PostgreSQL is a local server (`fsync=on`, `synchronous_commit=on`). Device stores \
         live in `/dev/shm`: the devices' own work is not what is measured.\n",
        config.reps
    );
    let _ = writeln!(out, "### Definitions\n");
    let _ = writeln!(
        out,
        "- **A day's visits.** {} devices, one village each. Every village has {} households \
           already on the server (3 members and a finished visit each, as `doorstep-field \
           generate` records them), which the device got by its first download. In the day, \
           each device visits {} of them: `start_visit`, one `set_fields` page of 24 edits, \
           `finish_visit` with notes and GPS: 3 changes per visit, {} visits in all. The upload \
           is what the real sync client sends: for each visited household, \
           `changes_since(confirmed_heads)`.\n\
         - **Raw ceiling.** The same uploaded changes, in one process, no network, no \
           database: for each visited household, `AutoCommit::load` of the document the device \
           got at first download, `Change::from_bytes` and `apply_changes` of the upload, \
           `save`. Median of {} passes, half just before the ingest and half just after it.\n\
         - **Raw on every core.** The same work spread over the machine's cores, each thread \
           taking every nth household: what Automerge alone could do here at best. For \
           comparison only; the target's ratio is to the raw ceiling above.\n\
         - **Ingest.** The server is restarted after the setup, so no visited document is in \
           its cache. Each repetition measures it twice, each time on a fresh database: \
           *all at once*, every device sends its day's sync at the same moment (each request \
           encoded first, then held at a starting line until all are), as phones do on a \
           township office's Wi-Fi, and ingest time runs from the first POST's start to the \
           last one's end; and *one after another*, each device syncing alone, ingest time \
           the sum of the POSTs. POSTs are timed around the HTTP call (server plus \
           loopback): the devices' own encoding and store writes are not in them. The target \
           is a throughput, a day's visits from {} devices, so it is judged all at once; one \
           after another is one device's wait. Server time is the server's own, from its \
           request tracing (`started` to `finished processing request`), known only one after \
           another. Ratio = raw time / ingest time = ingest visits/s ÷ raw visits/s.\n\
         - **Bytes per visit.** Request bodies (CBOR, Brotli, checksum) of the day's syncs \
           ÷ visits (HTTP headers, about 250 B per request, not counted). Names, employers, \
           places and notes come from short lists, which compress well: real visits will \
           be somewhat larger.\n\
         - **First download.** {} households in one village (3 members and a visit each); a \
           new device's first sync with the default page size ({} KiB before compression), \
           on a freshly started server. Time is the sum of the POSTs; bytes are the response \
           bodies as sent.\n",
        config.devices,
        config.households_per_village,
        config.visits_per_day,
        config.visits(),
        2 * RAW_PASSES,
        config.devices,
        config.download_households,
        wire::DEFAULT_PAGE_BYTES / 1024,
    );

    let _ = writeln!(out, "### Ingest of a day's visits\n");
    out.push_str(
        "| backend | devices sync | raw ceiling | ingest | ingest / raw | server time | raw on every core | ingest / raw on every core | target ≥ 50% on SQLite |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for result in results {
        for arrival in [Arrival::AllAtOnce, Arrival::OneAfterAnother] {
            let runs = result.runs(arrival);
            let raw = median_of(runs, |r| r.raw_secs);
            let raw_every_core = median_of(runs, |r| r.raw_every_core_secs);
            let ingest = median_of(runs, |r| r.ingest_secs(arrival));
            let per_rep = median_of(runs, |r| r.raw_secs / r.ingest_secs(arrival));
            let ratio = raw / ingest;
            let reached = if ratio >= TARGET_INGEST_RATIO {
                "≥ 50%"
            } else {
                "< 50%"
            };
            let (how, server, target) = match arrival {
                Arrival::AllAtOnce => (
                    "all at once",
                    "—".to_owned(),
                    if result.name == "sqlite" {
                        met(ratio >= TARGET_INGEST_RATIO).to_owned()
                    } else {
                        format!("(PostgreSQL: {reached})")
                    },
                ),
                Arrival::OneAfterAnother => {
                    let server = median_of(runs, |r| r.server_secs);
                    (
                        "one after another",
                        format!("{:.0} visits/s ({})", visits / server, ms(server)),
                        format!("(one at a time: {reached})"),
                    )
                }
            };
            let _ = writeln!(
                out,
                "| {} | {how} | {:.0} visits/s ({}) | {:.0} visits/s ({}) | **{:.1}%** (per-repetition median {:.1}%) | {server} | {} | {:.1}% | {target} |",
                result.name,
                visits / raw,
                ms(raw),
                visits / ingest,
                ms(ingest),
                ratio * 100.0,
                per_rep * 100.0,
                ms(raw_every_core),
                raw_every_core / ingest * 100.0,
            );
        }
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "### Bytes on the wire per visit, in a day's batch\n");
    out.push_str(
        "| backend | upload per visit | download per visit | changes uploaded (of which the day's) | target ≤ 400 B upload |\n\
         |---|---:|---:|---:|---|\n",
    );
    for result in results {
        let sent = median_of(&result.ingest, |r| r.sent as f64) / visits;
        let received = median_of(&result.ingest, |r| r.received as f64) / visits;
        let first = &result.ingest[0];
        let _ = writeln!(
            out,
            "| {} | **{:.0} B** | {:.0} B | {} ({}) | {} |",
            result.name,
            sent,
            received,
            first.changes_uploaded,
            first.changes_of_the_day,
            met(sent <= TARGET_BYTES_PER_VISIT)
        );
    }
    if let Some(result) = results.first() {
        let day_only = median_of(&result.ingest, |r| r.day_only_sent as f64) / visits;
        let first = &result.ingest[0];
        let _ = writeln!(
            out,
            "\nBefore CBOR and Brotli, the upload is {:.0} B of Automerge changes per visit, \
             of which {:.0} B are the day's 3 changes; a request of only the day's changes \
             would be **{day_only:.0} B per visit**.\n",
            first.change_bytes_uploaded as f64 / visits,
            first.change_bytes_of_the_day as f64 / visits,
        );
    }

    let _ = writeln!(
        out,
        "### First download of a {}-household village\n",
        config.download_households
    );
    out.push_str(
        "| backend | rounds | time (POST) | server time | of which encoding | bytes received | bytes sent | target ≤ 1 s | target ≤ 400 KB |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for result in results {
        let runs = &result.download.runs;
        let post = median_of(runs, |r| r.post_secs);
        let server = median_of(runs, |r| r.server_secs);
        let received = median_of(runs, |r| r.received as f64);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | **{}** | {} | **{}** | {} | {} | {} |",
            result.name,
            median_of(runs, |r| r.rounds as f64),
            ms(post),
            ms(server),
            ms(median_of(runs, |r| r.encode_secs)),
            kb(received),
            kb(median_of(runs, |r| r.sent as f64)),
            met(server <= TARGET_DOWNLOAD_SECS),
            met(received <= TARGET_DOWNLOAD_BYTES),
        );
    }
    if let Some(result) = results.first() {
        let download = &result.download;
        let received = median_of(&download.runs, |r| r.received as f64);
        let _ = writeln!(
            out,
            "\nThe saved documents total {} before compression (Brotli brings them to {:.0}%). \
             Building them from their changes and saving them in one process takes {}; the \
             device's whole first sync, its own writes included, {} on SQLite.\n",
            kb(download.document_bytes as f64),
            received / download.document_bytes as f64 * 100.0,
            ms(download.raw_secs),
            ms(median_of(&download.runs, |r| r.wall_secs)),
        );
    }

    let _ = writeln!(out, "### Where the server's time goes\n");
    let _ = writeln!(
        out,
        "Three views of the ingest, per backend: the measured runs' server CPU time and the \
         server's Automerge and schema work redone in this process; when \
         `DOORSTEP_BENCH_PERF` is set, a `perf` profile of the server; and one more \
         repetition of the ingest and of the first download with every SQL statement logged \
         (`sqlx::query=debug`; the logging adds time, so those runs are in no table above; \
         \"execution time\" is what sqlx logs for each statement inside a request).\n"
    );
    for result in results {
        let server = median_of(&result.ingest, |r| r.server_secs);
        let cpu = median_of(&result.ingest, |r| r.server_cpu_secs);
        let raw = median_of(&result.ingest, |r| r.raw_secs);
        let _ = writeln!(
            out,
            "**Ingest, {}, measured runs one after another**: server time {}; CPU time of the \
             server process (all threads, from `/proc/<pid>/stat`) {} ({:.0}% of the server \
             time; the rest is waiting: disk flushes, hand-offs between threads, the \
             database). The server's CPU work on the same uploads, step by step, in one \
             process without the database (as `documents.rs` does it for a household that \
             is not in its cache), against the raw ceiling of {}:\n",
            result.name,
            ms(server),
            ms(cpu),
            cpu / server * 100.0,
            ms(raw),
        );
        out.push_str("| step | time | share of server time |\n|---|---:|---:|\n");
        let steps = result.ingest[0].model.len();
        let mut total = 0.0;
        for step in 0..steps {
            let secs = median_of(&result.ingest, |r| r.model[step].1);
            total += secs;
            let _ = writeln!(
                out,
                "| {} | {} | {:.0}% |",
                result.ingest[0].model[step].0,
                ms(secs),
                secs / server * 100.0
            );
        }
        let _ = writeln!(
            out,
            "| total | {} | {:.0}% |\n",
            ms(total),
            total / server * 100.0
        );
        if let Some(perf) = &result.perf {
            let _ = writeln!(
                out,
                "Where the server's CPU goes, from `perf record --call-graph dwarf` of one more \
                 ingest repetition (`DOORSTEP_BENCH_PERF=<file>`; the recording slows that run, \
                 so only shares are given; the `doorstep` process only, not PostgreSQL's). Each \
                 sample counts once, in the first category its stack matches:\n"
            );
            out.push_str("| in | share of samples |\n|---|---:|\n");
            for (name, share) in perf.iter().filter(|(_, share)| *share >= 0.5) {
                let _ = writeln!(out, "| {name} | {share:.0}% |");
            }
            let _ = writeln!(out);
        }
        let ingest = &result.ingest_profile;
        let statements: usize = ingest.sql.iter().map(|(_, count, _)| count).sum();
        let _ = writeln!(
            out,
            "**Ingest, {}, SQL logged**: server {} over {} requests; {} statements ({:.1} per \
             visited household), their own execution time as sqlx logs it {} ({:.0}% of the \
             server time, {:.0} µs per statement); response encoding {}. The same driver in \
             this process, one small INSERT or SELECT after another inside a transaction: \
             {:.0} µs per statement of wall time, a commit {}; {statements} statements at that \
             rate take {}.\n",
            result.name,
            ms(ingest.server_secs),
            ingest.posts,
            statements,
            statements as f64 / ingest.households as f64,
            ms(ingest.sql_secs),
            ingest.sql_secs / ingest.server_secs * 100.0,
            ingest.sql_secs / statements as f64 * 1e6,
            ms(ingest.encode_secs),
            result.statement_secs * 1e6,
            ms(result.commit_secs),
            ms(statements as f64 * result.statement_secs),
        );
        sql_table(&mut out, &ingest.sql, ingest.server_secs);
        let download = &result.download.profile;
        let _ = writeln!(
            out,
            "\n**First download, {}, SQL logged**: server {} over {} requests; statements' execution time {} ({:.0}%); response encoding {}.\n",
            result.name,
            ms(download.server_secs),
            download.rounds,
            ms(download.sql_secs),
            download.sql_secs / download.server_secs * 100.0,
            ms(download.encode_secs),
        );
        sql_table(&mut out, &download.sql, download.server_secs);
        let _ = writeln!(out);
    }
    misses(&mut out, results, visits);
    out
}

/// The profile's shares of the database path and of the wire, as a parenthesis.
fn perf_shares(perf: Option<&[(String, f64)]>) -> String {
    let Some(perf) = perf else {
        return String::new();
    };
    let share = |prefix: &str| {
        perf.iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, share)| share)
            .sum::<f64>()
    };
    let parts: Vec<String> = [
        ("SQLite", "SQLite"),
        ("hand-offs", "hand-offs between threads"),
        ("sqlx", "the rest of sqlx"),
        ("wire", "Brotli and CBOR"),
    ]
    .iter()
    .filter(|(prefix, _)| share(prefix) >= 0.5)
    .map(|(prefix, label)| format!("{label} {:.0}%", share(prefix)))
    .collect();
    format!(
        " (in the `perf` profile, of the server process's CPU: {})",
        parts.join(", ")
    )
}

/// The missed targets, with the figures that explain them.
fn misses(out: &mut String, results: &[BackendResults], visits: f64) {
    let _ = writeln!(
        out,
        "### Why targets are missed
"
    );
    for result in results {
        let raw = median_of(&result.ingest, |r| r.raw_secs);
        let post = median_of(&result.ingest, |r| r.post_secs);
        let server = median_of(&result.ingest, |r| r.server_secs);
        let cpu = median_of(&result.ingest, |r| r.server_cpu_secs);
        let model: f64 = (0..result.ingest[0].model.len())
            .map(|step| median_of(&result.ingest, |r| r.model[step].1))
            .sum();
        let together = median_of(&result.together, |r| r.raw_secs)
            / median_of(&result.together, |r| r.span_secs);
        if together >= TARGET_INGEST_RATIO {
            continue;
        }
        let profile = &result.ingest_profile;
        let statements: usize = profile.sql.iter().map(|(_, count, _)| count).sum();
        let per_household = statements as f64 / profile.households as f64;
        let allowed = TARGET_INGEST_RATIO.recip() * raw;
        let _ = writeln!(
            out,
            "- **Ingest on {}: {:.0}% of the raw ceiling with every device at once.** One \
               after another, the target allows {} of POST time for what the ceiling does in \
               {}; the POSTs take {} (server time {}). Its threads' CPU time is \
               {:.0}% of its request time{}. Its Automerge and schema work on these uploads, redone in \
               one process, is {} ({:.1}× the ceiling: it loads each saved document, applies \
               the new changes, then migrates, reads and validates it), so with a free database \
               the ratio could reach {:.0}%. The other {} of server time are the database path \
               and the HTTP layer{}: {statements} statements per day's sync of {} households, \
               {:.1} per household (reads and writes are batched per request, so this is \
               mostly the per-request statements spread over the households). To meet the \
               target the rest must shrink to {} or less, about {:.1} statements per household \
               at today's cost each.",
            result.name,
            together * 100.0,
            ms(allowed),
            ms(raw),
            ms(post),
            ms(server),
            cpu / server * 100.0,
            if cpu / server >= 0.8 {
                ": it computes, it hardly waits"
            } else {
                "; the rest of the time it waits for the database"
            },
            ms(model),
            model / raw,
            raw / model * 100.0,
            ms(server - model),
            perf_shares(result.perf.as_deref()),
            profile.households,
            per_household,
            ms((allowed - model).max(0.0)),
            per_household * ((allowed - model).max(0.0) / (server - model)),
        );
    }
    if let Some(result) = results.first() {
        let sent = median_of(&result.ingest, |r| r.sent as f64) / visits;
        let day_only = median_of(&result.ingest, |r| r.day_only_sent as f64) / visits;
        let first = &result.ingest[0];
        if sent > TARGET_BYTES_PER_VISIT {
            let _ = writeln!(
                out,
                "- **{sent:.0} B per visit on the wire.** The device sends {:.1} changes per \
                   visited household (the day's: {:.1}); a request of only the day's changes \
                   would be {day_only:.0} B per visit, {}. The day's 3 changes are {:.0} B of \
                   Automerge before compression; each carries a 32-byte dependency hash and a \
                   checksum, two of them a message (`visit <id>`), and the keys repeat the \
                   16-hex visit id and the 24-hex member keys: random digits no compressor \
                   shrinks much.",
                first.changes_uploaded as f64 / first.households as f64,
                first.changes_of_the_day as f64 / first.households as f64,
                if day_only > TARGET_BYTES_PER_VISIT {
                    "above the target"
                } else {
                    "within the target"
                },
                first.change_bytes_of_the_day as f64 / visits,
            );
        }
    }
    let _ = writeln!(out);
}

fn main() {
    let config = Config::from_args();
    let started = Instant::now();
    // Build the server binary before anything is timed.
    doorstep_e2e::doorstep_bin();
    let mut results = Vec::new();
    for backend in Backend::all() {
        let name = backend.name();
        let mut ingest = Vec::new();
        let mut together = Vec::new();
        for rep in 0..config.reps {
            // Alternating, so that both see the machine as it is in this minute.
            for arrival in [Arrival::OneAfterAnother, Arrival::AllAtOnce] {
                let run = ingest_run(&backend, &config, arrival, false, false);
                eprintln!(
                    "{name} ingest {arrival:?} {}/{}: raw {} (every core {}), POST {}, span {}, server {} (CPU {}), ratio {:.1}%, {:.0} B/visit up ({:.1?})",
                    rep + 1,
                    config.reps,
                    ms(run.raw_secs),
                    ms(run.raw_every_core_secs),
                    ms(run.post_secs),
                    ms(run.span_secs),
                    ms(run.server_secs),
                    ms(run.server_cpu_secs),
                    run.raw_secs / run.ingest_secs(arrival) * 100.0,
                    run.sent as f64 / run.visits as f64,
                    started.elapsed()
                );
                match arrival {
                    Arrival::OneAfterAnother => ingest.push(run),
                    Arrival::AllAtOnce => together.push(run),
                }
            }
        }
        let ingest_profile = ingest_run(&backend, &config, Arrival::OneAfterAnother, true, false);
        let perf = if std::env::var_os("DOORSTEP_BENCH_PERF").is_some() {
            // Slowed by the recording: only its shares are reported.
            ingest_run(&backend, &config, Arrival::AllAtOnce, false, true).perf
        } else {
            None
        };
        let download = download_bench(&backend, &config);
        for (rep, run) in download.runs.iter().enumerate() {
            eprintln!(
                "{name} download {}/{}: {} rounds, POST {}, server {}, {} received",
                rep + 1,
                config.reps,
                run.rounds,
                ms(run.post_secs),
                ms(run.server_secs),
                kb(run.received as f64)
            );
        }
        results.push(BackendResults {
            name,
            together,
            statement_secs: median_of(&ingest, |r| r.statement_secs),
            commit_secs: median_of(&ingest, |r| r.commit_secs),
            ingest,
            ingest_profile,
            download,
            perf,
        });
    }
    let perf = if results.iter().any(|result| result.perf.is_some()) {
        "DOORSTEP_BENCH_PERF=/tmp/doorstep-ingest.perf "
    } else {
        ""
    };
    let command = if results.len() > 1 {
        format!(
            "{perf}DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\\n  cargo bench -p doorstep-e2e --bench sync"
        )
    } else {
        format!(
            "{perf}cargo bench -p doorstep-e2e --bench sync\n# and with PostgreSQL too:\n{perf}DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p doorstep-e2e --bench sync"
        )
    };
    let section = report(&config, &results, &command);
    println!("{section}");
    eprintln!("total {:.1?}", started.elapsed());
    if !std::env::args().any(|arg| arg == "--test") {
        let path = target_dir().join("bench-sync-section.md");
        std::fs::write(&path, &section).unwrap();
        eprintln!("wrote {}", path.display());
    }
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}
