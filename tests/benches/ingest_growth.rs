//! Ingest as the register grows: one phone's upload cost per household on a register of
//! 1,000, 10,000 and 100,000 households, on SQLite and (when `DATABASE_URL` is set) on a
//! fresh PostgreSQL database whose tables have autovacuum off. Run with
//! `cargo bench -p doorstep-e2e --bench ingest_growth`; results in `docs/BENCHMARKS.md`.
//!
//! What is measured, and how:
//!
//! - **The register.** One database per backend, grown size after size while the real
//!   `doorstep` binary serves it. A phone first uploads [`TEMPLATES`] real households (4
//!   members with ID numbers and a finished visit each) through the real sync; the register
//!   then grows by copies of those households' rows, written in SQL in batches of
//!   [`SEED_BATCH`] households: documents, change rows (sealed bytes as stored), households,
//!   members and visits, each copy under a new household id, with new change hashes and new
//!   ID-number hashes, so that every table and index holds as many distinct keys as a real
//!   register of that size. Uploading 100,000 households through phones would take hours
//!   here; the copies have the rows and index entries of real ones, which is what the ingest's
//!   statements read. No copy is ever read back as a document: they are in a village no
//!   measured phone covers.
//! - **Autovacuum off.** On PostgreSQL, right after the server's migrations, every table gets
//!   `ALTER TABLE … SET (autovacuum_enabled = false)` (autovacuum cannot be turned off for one
//!   database), so only the server itself can give the planner statistics.
//! - **Warm-up.** After each growth step, one untimed upload from another phone, as the
//!   register's real growth would have been uploads: the server's own statistics refresh (see
//!   `server/src/db.rs`) runs in the first write after a table doubled.
//! - **The upload.** A new phone for a village of its own (so its first sync downloads
//!   nothing) records [`UPLOAD_HOUSEHOLDS`] households, untimed, then syncs. A transport wrapper
//!   times each POST (server time plus loopback, not the phone's own work); the cost per
//!   household is the sum of the POSTs over the households uploaded. Repeated [`REPS`] times
//!   at each size, each time with a new phone and village; the median is reported.
//! - **Where it goes.** Around each size's measured uploads, the server's counters in
//!   `/proc/<pid>`: bytes it wrote (`wchar`: the WAL, checkpoints into the database file, and
//!   the few bytes of its answers) and CPU seconds, per household uploaded. The window closes
//!   once the server has been idle a moment, so that work it does after answering (SQLite's
//!   background checkpoint) is counted too.
//!
//! `cargo bench -p doorstep-e2e --bench ingest_growth -- --test` runs it once at small sizes,
//! as a smoke test. `DOORSTEP_BENCH_REPS` changes the number of repetitions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use client_core::sync::{self, HttpTransport, Transport, TransportError};
use client_core::{DeviceProfile, Store};
use doorstep_e2e::seed::{autovacuum_off, grow, households, villages};
use doorstep_e2e::{AreaCode, Backend, Server, Sql, TestDatabase, with_check_character};
use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use support::median;
use tempfile::TempDir;

/// Register sizes, in households, at which the upload is measured.
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Households one phone uploads in a measured sync: a volunteer's few days.
const UPLOAD_HOUSEHOLDS: usize = 100;
/// Measured uploads at each size.
const REPS: usize = 5;
/// Real households whose rows the register is grown from.
const TEMPLATES: usize = 25;
/// The tables whose rows a copy of a household has.
const COPIED_TABLES: [&str; 5] = ["document", "change", "household", "member", "visit"];
/// The bound: the largest register's cost per household over the smallest's.
const TARGET_RATIO: f64 = 1.5;

#[derive(Debug, Clone)]
struct Config {
    sizes: Vec<usize>,
    upload_households: usize,
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
                sizes: vec![100, 300],
                upload_households: 10,
                reps,
            }
        } else {
            Config {
                sizes: SIZES.to_vec(),
                upload_households: UPLOAD_HOUSEHOLDS,
                reps,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Phones and their households.

/// A valid 18-digit ID number of Lin County, different for every `n` below 3,650,000.
fn id_number(n: usize) -> String {
    let day = n / 1000;
    let (year, month, day) = (1950 + day / 365, 1 + (day % 365) / 31 % 12, 1 + day % 28);
    let first17 = format!("141124{year:04}{month:02}{day:02}{:03}", n % 1000);
    with_check_character(&first17)
}

/// A phone whose store lives in RAM when it can: recording is not what is measured.
struct Phone {
    // Field order is drop order: the store closes before its directory is removed.
    store: Store,
    _dir: TempDir,
}

impl Phone {
    fn new(name: &str, url: &str, token: &str) -> Phone {
        let shm = std::path::Path::new("/dev/shm");
        let mut builder = tempfile::Builder::new();
        builder.prefix("doorstep-bench-");
        let dir = if shm.is_dir() {
            builder.tempdir_in(shm).unwrap()
        } else {
            builder.tempdir().unwrap()
        };
        let store = Store::open(dir.path()).unwrap();
        store
            .set_profile(DeviceProfile {
                device: name.to_owned(),
                volunteer: format!("{name} 的志愿者"),
            })
            .unwrap();
        sync::connect(&store, url, token).unwrap();
        Phone { store, _dir: dir }
    }

    /// Records `count` households numbered from `first`: a head and three more members, each
    /// with an ID number, and a finished visit.
    fn record(&self, village: &AreaCode, first: usize, count: usize) {
        for n in first..first + count {
            let household = self.store.create_household(village, None).unwrap();
            for (m, name) in ["户主", "配偶", "子女", "父母"].iter().enumerate() {
                let id = id_number(n * 4 + m);
                self.store
                    .add_member(&household, &format!("{name}{n}"), Some(&id))
                    .unwrap();
            }
            let visit = self.store.start_visit(&household).unwrap();
            self.store
                .finish_visit(&household, &visit, "met", None, None)
                .unwrap();
        }
    }

    /// Syncs, and returns the seconds its POSTs took (server plus loopback).
    fn sync(&self) -> f64 {
        let transport = TimedTransport {
            http: HttpTransport::new(Duration::from_secs(600)),
            secs: Cell::new(0.0),
        };
        let report = sync::sync(
            &self.store,
            &transport,
            schema::wire::DEFAULT_PAGE_BYTES,
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
        transport.secs.get()
    }
}

/// HTTP, adding up the time of each POST.
struct TimedTransport {
    http: HttpTransport,
    secs: Cell<f64>,
}

impl Transport for TimedTransport {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let started = Instant::now();
        let answer = self.http.post(url, token, body);
        self.secs
            .set(self.secs.get() + started.elapsed().as_secs_f64());
        answer
    }
}

// ---------------------------------------------------------------------------------------
// The measurement.

/// The uploads at one register size.
struct SizeResult {
    size: usize,
    /// Households in the register when the measured uploads began.
    households: usize,
    grow_secs: f64,
    /// Seconds per household of each measured upload.
    per_household: Vec<f64>,
    /// The server's bytes written and CPU seconds over the measured uploads, per household.
    written_per_household: f64,
    cpu_per_household: f64,
}

/// What the server has written and how much CPU it has used so far.
#[derive(Debug, Clone, Copy)]
struct Counters {
    written: f64,
    cpu_secs: f64,
}

impl Counters {
    fn of(pid: u32) -> Counters {
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
        let written = io
            .lines()
            .find_map(|line| line.strip_prefix("wchar:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(f64::NAN);
        Counters {
            written,
            cpu_secs: doorstep_e2e::process_cpu_secs(pid),
        }
    }

    /// The counters once the server has written nothing for a while: it has finished what
    /// it does after answering.
    fn settled(pid: u32) -> Counters {
        let mut last = Counters::of(pid);
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(200));
            let now = Counters::of(pid);
            if now.written == last.written {
                return now;
            }
            last = now;
        }
        last
    }
}

fn run(backend: &Backend, config: &Config) -> Vec<SizeResult> {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let sql = Sql::open(&db);
    let postgres = db.url.is_some();
    if postgres {
        autovacuum_off(&sql);
    }
    let mut villages = villages().into_iter();
    let template_village = villages.next().unwrap();
    let mut next_village = || villages.next().expect("enough villages in the area list");
    let mut numbered = 0usize;

    let templates = Phone::new(
        "templates",
        &server.url,
        &db.add_device(&[template_village.as_str()]),
    );
    templates.record(&template_village, numbered, TEMPLATES);
    numbered += TEMPLATES;
    templates.sync();

    let mut copies = 0usize;
    let mut results = Vec::new();
    for &size in &config.sizes {
        let started = Instant::now();
        let have = households(&sql);
        let wanted = size.saturating_sub(have).div_ceil(TEMPLATES);
        grow(
            &sql,
            postgres,
            template_village.as_str(),
            template_village.as_str(),
            copies,
            wanted,
            &COPIED_TABLES,
        );
        copies += wanted;
        let grow_secs = started.elapsed().as_secs_f64();

        let warm_village = next_village();
        let warm = Phone::new(
            "warm-up",
            &server.url,
            &db.add_device(&[warm_village.as_str()]),
        );
        warm.record(&warm_village, numbered, config.upload_households);
        numbered += config.upload_households;
        warm.sync();

        let households = households(&sql);
        let mut per_household = Vec::new();
        let before = Counters::settled(server.pid());
        for rep in 0..config.reps {
            let village = next_village();
            let phone = Phone::new(
                &format!("phone-{size}-{rep}"),
                &server.url,
                &db.add_device(&[village.as_str()]),
            );
            phone.sync();
            phone.record(&village, numbered, config.upload_households);
            numbered += config.upload_households;
            per_household.push(phone.sync() / config.upload_households as f64);
        }
        let after = Counters::settled(server.pid());
        let uploaded = (config.reps * config.upload_households) as f64;
        let written_per_household = (after.written - before.written) / uploaded;
        let cpu_per_household = (after.cpu_secs - before.cpu_secs) / uploaded;
        eprintln!(
            "{} at {households} households: {:.2} ms per household (median of {}); \
             server wrote {:.1} KiB and used {:.2} ms of CPU per household",
            backend.name(),
            median(&per_household) * 1000.0,
            per_household.len(),
            written_per_household / 1024.0,
            cpu_per_household * 1000.0,
        );
        results.push(SizeResult {
            size,
            households,
            grow_secs,
            per_household,
            written_per_household,
            cpu_per_household,
        });
    }
    results
}

fn report(backend: &Backend, config: &Config, results: &[SizeResult]) -> String {
    let mut out = format!(
        "\n### {} — {} households per upload, {} uploads per size\n\n\
         | register | households at the uploads | growing to it | per household, median | \
         min – max | × smallest | server wrote, per household | server CPU, per household |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
        backend.name(),
        config.upload_households,
        config.reps
    );
    let smallest = results
        .first()
        .map_or(f64::NAN, |r| median(&r.per_household));
    for result in results {
        let mid = median(&result.per_household);
        let min = result
            .per_household
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let max = result.per_household.iter().copied().fold(0.0, f64::max);
        out.push_str(&format!(
            "| {} | {} | {:.1} s | {:.2} ms | {:.2} – {:.2} ms | {:.2}× | {:.1} KiB | {:.2} ms |\n",
            result.size,
            result.households,
            result.grow_secs,
            mid * 1000.0,
            min * 1000.0,
            max * 1000.0,
            mid / smallest,
            result.written_per_household / 1024.0,
            result.cpu_per_household * 1000.0,
        ));
    }
    if let (Some(first), Some(last)) = (results.first(), results.last()) {
        let ratio = median(&last.per_household) / median(&first.per_household);
        out.push_str(&format!(
            "\nLargest over smallest: {ratio:.2}× (target ≤ {TARGET_RATIO}×: {}).\n",
            if ratio <= TARGET_RATIO {
                "met"
            } else {
                "not met"
            }
        ));
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; the harness takes no other filter.
    let config = Config::from_args();
    let mut out = String::new();
    for backend in Backend::all() {
        let results = run(&backend, &config);
        out.push_str(&report(&backend, &config, &results));
    }
    println!("{out}");
}
