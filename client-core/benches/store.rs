//! Criterion benchmarks of the device store, with a raw SQLite insert + commit at the store's
//! durability setting (WAL, `synchronous=FULL`) as the yardstick, measured in the same run.
//! Run with `cargo bench -p doorstep-client-core`; results and targets are in
//! `docs/BENCHMARKS.md`.
//!
//! The 10,000-household store is built once per run, before the first benchmark that needs
//! it, and shared by all of them. `DOORSTEP_BENCH_HOUSEHOLDS` changes its size.

#![allow(clippy::unwrap_used)]

mod support;

use criterion::{BenchmarkId, Criterion, SamplingMode};
use doorstep_client_core::{GpsPoint, SearchQuery, Store};
use rusqlite::Connection;
use std::cell::OnceCell;
use std::time::{Duration, Instant};
use support::{Household, as_edits};

/// The store every `store/*` benchmark runs against, in a temporary directory on disk.
struct Fixture {
    // Field order is drop order: the store closes before its directory is removed.
    store: Store,
    households: Vec<Household>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn build() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("doorstep-bench-")
            .tempdir()
            .unwrap();
        let households = support::build_store(dir.path(), households_wanted());
        let store = Store::open(dir.path()).unwrap();
        Fixture {
            store,
            households,
            _dir: dir,
        }
    }

    /// The household a fixed fraction of the way through the list.
    fn at(&self, fraction: f64) -> &Household {
        &self.households[(self.households.len() as f64 * fraction) as usize]
    }
}

fn households_wanted() -> usize {
    if let Ok(count) = std::env::var("DOORSTEP_BENCH_HOUSEHOLDS") {
        return count.parse().unwrap();
    }
    // `cargo bench -- --test` runs every benchmark once, as a smoke test: keep it quick.
    if std::env::args().any(|arg| arg == "--test") {
        100
    } else {
        10_000
    }
}

/// Settings for routines that take milliseconds: equal-sized samples, a few seconds each way.
fn slow_group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(40)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    group
}

/// One INSERT of a 300-byte blob and a COMMIT, on a file database with exactly the store's
/// durability settings: the least any durable edit can cost on this disk.
fn yardstick(c: &mut Criterion, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("yardstick.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE change (id INTEGER PRIMARY KEY, bytes BLOB NOT NULL)")
        .unwrap();
    let mut blob: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
    let mut n = 0u32;
    let mut group = slow_group(c, "yardstick");
    group.bench_function(name, |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            blob[..4].copy_from_slice(&n.to_le_bytes());
            let tx = conn.transaction().unwrap();
            tx.execute("INSERT INTO change (bytes) VALUES (?1)", [&blob])
                .unwrap();
            tx.commit().unwrap();
        });
    });
    group.finish();
}

fn store_benches(c: &mut Criterion, fixture: &OnceCell<Fixture>) {
    let fixture = || fixture.get_or_init(Fixture::build);
    let mut group = slow_group(c, "store");

    // One typed field, alternating between two values (neither of which the fill wrote) so
    // that every call writes a change.
    let mut edits = 0usize;
    group.bench_function("durable_field_edit", |b| {
        let f = fixture();
        let household = &f.households[0];
        let path = format!(
            "members.{}.employment.monthly_income",
            household.members[0].key
        );
        if edits == 0 {
            let before = f.store.unsynced_changes().unwrap();
            for _ in 0..2 {
                edits += 1;
                let value = ["3150", "3250"][edits % 2];
                f.store.set_field(&household.id, &path, value).unwrap();
            }
            let after = f.store.unsynced_changes().unwrap();
            assert_eq!(after, before + 2, "every edit writes a change");
        }
        b.iter(|| {
            edits += 1;
            let value = ["3150", "3250"][edits % 2];
            f.store.set_field(&household.id, &path, value).unwrap()
        });
    });

    group.bench_function("open_household_cached", |b| {
        let f = fixture();
        let household = &f.households[1];
        f.store.household(&household.id).unwrap();
        b.iter(|| f.store.household(&household.id).unwrap());
    });

    // Cycling through every household, far more than the 32 the store keeps open, so each
    // call loads the document from SQLite.
    let mut next = 0usize;
    group.bench_function("open_household_cold", |b| {
        let f = fixture();
        let len = f.households.len();
        b.iter(|| {
            next += 1;
            let household = &f.households[(len / 2 + next) % len];
            f.store.household(&household.id).unwrap()
        });
    });

    // A whole visit as the API offers it: start_visit, the form's 30 fields in one
    // set_fields, finish_visit. Each visit goes to the next household, opened (untimed)
    // first, as the volunteer does; opening is measured above.
    let mut visits = 0usize;
    group
        .measurement_time(Duration::from_secs(8))
        .bench_function("record_visit_30_fields", |b| {
            let f = fixture();
            let len = f.households.len();
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    visits += 1;
                    let household = &f.households[3 + visits % (len - 3)];
                    f.store.household(&household.id).unwrap();
                    let fields = support::visit_fields(&household.member_keys(), visits);
                    let edits = as_edits(&fields);
                    let gps = GpsPoint {
                        lat: 38.271_234,
                        lon: 111.565_432,
                    };
                    let started = Instant::now();
                    let visit = f.store.start_visit(&household.id).unwrap();
                    f.store.set_fields(&household.id, &edits).unwrap();
                    f.store
                        .finish_visit(
                            &household.id,
                            &visit,
                            "met",
                            Some("见到户主，核实了就业情况"),
                            Some(gps),
                        )
                        .unwrap();
                    total += started.elapsed();
                }
                total
            });
        });

    // The same 30 fields alone: one set_fields, one durable commit.
    let mut forms = 0usize;
    group
        .measurement_time(Duration::from_secs(5))
        .bench_function("visit_form_30_fields_one_commit", |b| {
            let f = fixture();
            let household = &f.households[2];
            let variants = [
                support::visit_fields(&household.member_keys(), 0),
                support::visit_fields(&household.member_keys(), 1),
            ];
            let variants = [as_edits(&variants[0]), as_edits(&variants[1])];
            assert_eq!(variants[0].len(), 30);
            f.store.household(&household.id).unwrap();
            b.iter(|| {
                forms += 1;
                f.store
                    .set_fields(&household.id, &variants[forms % 2])
                    .unwrap()
            });
        });
    group.finish();
}

fn search_benches(c: &mut Criterion, fixture: &OnceCell<Fixture>) {
    let fixture = || fixture.get_or_init(Fixture::build);
    let text = |f: &Fixture, what: &str| -> String {
        match what {
            // A surname and the first character of a given name, as a volunteer types it.
            "name_fragment" => f.at(0.43).members[0].person.name.chars().take(2).collect(),
            "id_number" => f.at(0.7).members[1].person.id_number.clone(),
            _ => f.at(0.9).number.clone(),
        }
    };
    let mut group = slow_group(c, "store");
    group.sample_size(20);
    for what in ["name_fragment", "id_number", "household_number"] {
        let mut printed = false;
        group.bench_function(BenchmarkId::new("search_10k", what), |b| {
            let f = fixture();
            let query = SearchQuery {
                text: Some(text(f, what)),
                ..SearchQuery::default()
            };
            if !printed {
                let hits = f.store.search(&query).unwrap().len();
                eprintln!("search by {what} {:?}: {hits} households", query.text);
                printed = true;
            }
            b.iter(|| f.store.search(&query).unwrap());
        });
    }
    // The household list a volunteer starts from: one village, first screenful.
    group.bench_function(BenchmarkId::new("search_10k", "village_first_page"), |b| {
        let f = fixture();
        let query = SearchQuery {
            village: Some(support::village(0)),
            limit: Some(50),
            ..SearchQuery::default()
        };
        b.iter(|| f.store.search(&query).unwrap());
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let fixture = OnceCell::new();
    yardstick(&mut c, "raw_sqlite_insert_commit");
    store_benches(&mut c, &fixture);
    search_benches(&mut c, &fixture);
    // Again at the end, to show how much the machine drifted during the run.
    yardstick(&mut c, "raw_sqlite_insert_commit_end");
    c.final_summary();
}
