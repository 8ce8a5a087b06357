//! The county review queue at county scale: 10,000 households in 20 villages, with 500 open
//! review items, on the real `doorstep` binary. Measures the review list (first page, a kind
//! filter, a late page), the per-village counts and, as yardsticks in the same run, a request
//! for an unknown item (the HTTP round trip, the token check and one indexed lookup) and the
//! register's household list.
//!
//! `cargo bench -p doorstep-e2e --bench review` (PostgreSQL too when `DATABASE_URL` is set);
//! `DOORSTEP_BENCH_HOUSEHOLDS=N` changes the size, `-- --test` runs a small smoke version.
//! Results in `docs/BENCHMARKS.md`.
//!
//! The households are recorded on a device store through its own API and reach the server by
//! the real sync; the 500 items are rule violations made the same way (a head recorded as
//! "not employed" at an employer), so the queue holds what ingest itself found.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use client_core::sync::{self, HttpTransport};
use client_core::{DeviceProfile, Store};
use doorstep_e2e::{AreaCode, Backend, Server, TestDatabase, with_check_character};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const VILLAGES: usize = 20;
const OPEN_ITEMS: usize = 500;
const REQUESTS: usize = 40;

fn village(n: usize) -> String {
    format!("141124100{:03}", 201 + n)
}

/// A valid ID number, distinct for every `n` (born 1960 or later, a new date every 1,000).
fn id_number(n: usize) -> String {
    let day = n / 1000;
    let (year, month, day) = (1960 + day / 336, 1 + (day / 28) % 12, 1 + day % 28);
    let first17 = format!("141124{year:04}{month:02}{day:02}{:03}", n % 1000);
    with_check_character(&first17)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_get(server: &Server, path: &str, token: &str, expected: u16) -> Duration {
    let samples = (0..REQUESTS)
        .map(|_| {
            let start = Instant::now();
            let (status, body) = server.get_json(path, token);
            let elapsed = start.elapsed();
            assert_eq!(status, expected, "{path}: {body}");
            elapsed
        })
        .collect();
    median(samples)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn run(backend: &Backend, households: usize) {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let villages: Vec<String> = (0..VILLAGES).map(village).collect();
    let village_refs: Vec<&str> = villages.iter().map(String::as_str).collect();
    let device_token = db.add_device(&village_refs);
    let staff = server.staff_token(&db, "141124", "bench");

    let dir = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    let store = Store::open(dir.path()).unwrap();
    store
        .set_profile(DeviceProfile {
            device: "bench".to_owned(),
            volunteer: "bench".to_owned(),
        })
        .unwrap();
    sync::connect(&store, &server.url, &device_token).unwrap();

    let started = Instant::now();
    let mut heads = Vec::with_capacity(households);
    for n in 0..households {
        let code = AreaCode::parse(&villages[n % VILLAGES]).unwrap();
        let household = store
            .create_household(&code, Some(&format!("{}{:04}", code, n / VILLAGES)))
            .unwrap();
        let head = store
            .add_member(&household, &format!("户主{n}"), Some(&id_number(n)))
            .unwrap();
        let path = |name: &str| format!("members.{head}.{name}");
        store
            .set_fields(
                &household,
                &[
                    (path("relation").as_str(), "01"),
                    (path("employment.status").as_str(), "01"),
                    (path("employment.place").as_str(), "太原"),
                    ("household.address", "村里"),
                ],
            )
            .unwrap();
        heads.push((household, head));
    }
    let transport = HttpTransport::new(Duration::from_secs(300));
    let sync_all = || {
        sync::sync(
            &store,
            &transport,
            schema::wire::DEFAULT_PAGE_BYTES,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap()
    };
    sync_all();
    let step = (households / OPEN_ITEMS).max(1);
    for (household, head) in heads.iter().step_by(step).take(OPEN_ITEMS) {
        let path = |name: &str| format!("members.{head}.{name}");
        store
            .set_fields(
                household,
                &[
                    (path("employment.status").as_str(), "10"),
                    (path("employment.not_employed_reason").as_str(), "01"),
                    (path("employment.employer").as_str(), "县砖厂"),
                ],
            )
            .unwrap();
    }
    sync_all();
    let setup = started.elapsed();

    let (_, page) = server.get_json("/api/v1/review/items?area=141124", &staff);
    let open = page["total"].as_i64().unwrap();
    let (_, register) = server.get_json("/api/v1/households?area=141124&limit=1", &staff);

    let floor = time_get(&server, "/api/v1/review/items/unknown", &staff, 404);
    let register_list = time_get(&server, "/api/v1/households?area=141124", &staff, 200);
    let first_page = time_get(&server, "/api/v1/review/items?area=141124", &staff, 200);
    let by_kind = time_get(
        &server,
        "/api/v1/review/items?area=141124&kind=rule",
        &staff,
        200,
    );
    let late_page = time_get(
        &server,
        "/api/v1/review/items?area=141124&offset=450&limit=50",
        &staff,
        200,
    );
    let one_village = time_get(
        &server,
        &format!("/api/v1/review/items?area={}", villages[3]),
        &staff,
        200,
    );
    let village_counts = time_get(&server, "/api/v1/villages?area=141124", &staff, 200);

    println!(
        "\n## review queue, {} ({} households in the register, {open} open items; setup {:.0} s)\n",
        backend.name(),
        register["total"],
        setup.as_secs_f64()
    );
    println!("| request | median | × floor | target |");
    println!("|---|---:|---:|---|");
    let row = |name: &str, time: Duration, target: &str| {
        println!(
            "| {name} | {:.2} ms | {:.1}× | {target} |",
            ms(time),
            time.as_secs_f64() / floor.as_secs_f64()
        );
    };
    row(
        "floor (yardstick): an unknown item, i.e. HTTP, the token check and one lookup",
        floor,
        "",
    );
    row("register: households, first page", register_list, "");
    row(
        "review list, county, first page of 50",
        first_page,
        "well under 1 s",
    );
    row(
        "review list, county, kind = rule",
        by_kind,
        "well under 1 s",
    );
    row(
        "review list, county, offset 450",
        late_page,
        "well under 1 s",
    );
    row("review list, one village", one_village, "well under 1 s");
    row("open items per village", village_counts, "");
}

fn main() {
    let smoke = std::env::args().any(|arg| arg == "--test");
    let households = std::env::var("DOORSTEP_BENCH_HOUSEHOLDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if smoke { 200 } else { 10_000 });
    for backend in Backend::all() {
        run(&backend, households);
    }
}
