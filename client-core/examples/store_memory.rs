//! Resident memory of the device store holding 10,000 households.
//!
//! Fills a store with 10,000 realistic households (or reuses the store in the directory given),
//! then, in a fresh process so that filling does not count, runs a volunteer's session:
//! the household list, searches, opening 100 households, editing 20 of them and recording 5
//! visits. Prints resident memory (VmRSS) and its peak (VmHWM) after each step, and the
//! store's size on disk.
//!
//! ```text
//! cargo run --release -p doorstep-client-core --example store_memory [-- DIR]
//! ```
//!
//! `DOORSTEP_BENCH_HOUSEHOLDS` changes how many households a new store is filled with.

#![allow(clippy::unwrap_used)]

#[path = "../benches/support/mod.rs"]
mod support;

use doorstep_client_core::store::DB_FILE;
use doorstep_client_core::{GpsPoint, SearchQuery, Store};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SESSION_FLAG: &str = "--session";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, dir] = args.as_slice()
        && flag == SESSION_FLAG
    {
        session(Path::new(dir));
        return;
    }
    let count: usize = std::env::var("DOORSTEP_BENCH_HOUSEHOLDS")
        .map(|n| n.parse().unwrap())
        .unwrap_or(10_000);
    let temp;
    let dir = match args.first() {
        Some(path) => PathBuf::from(path),
        None => {
            temp = tempfile::Builder::new()
                .prefix("doorstep-memory-")
                .tempdir()
                .unwrap();
            temp.path().to_owned()
        }
    };
    if dir.join(DB_FILE).exists() {
        println!("reusing the store in {}", dir.display());
    } else {
        println!("filling a store of {count} households in {}", dir.display());
        support::build_store(&dir, count);
    }
    // Measure in a fresh process, so that the peak is the session's and not the fill's.
    let status = Command::new(std::env::current_exe().unwrap())
        .arg(SESSION_FLAG)
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "the session failed");
}

/// A value from `/proc/self/status`, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn report(step: &str, started: Instant) {
    println!(
        "{step:<44} {:>8.1} ms   VmRSS {:>7.1} MB   VmHWM {:>7.1} MB",
        started.elapsed().as_secs_f64() * 1e3,
        status_kb("VmRSS") as f64 / 1024.0,
        status_kb("VmHWM") as f64 / 1024.0,
    );
}

fn session(dir: &Path) {
    let started = Instant::now();
    report("process started", started);

    let started = Instant::now();
    let store = Store::open(dir).unwrap();
    report("store opened", started);

    let started = Instant::now();
    let all = store.search(&SearchQuery::default()).unwrap();
    report(
        &format!("whole household list ({} rows)", all.len()),
        started,
    );
    let count = all.len();
    assert!(count > 0, "the store is empty");

    let started = Instant::now();
    for village in 0..support::VILLAGES {
        let page = SearchQuery {
            village: Some(support::village(village)),
            limit: Some(50),
            ..SearchQuery::default()
        };
        store.search(&page).unwrap();
    }
    report("first page of each village's list", started);

    let started = Instant::now();
    let mut hits = 0;
    for summary in all.iter().step_by(count.div_ceil(20)) {
        let name: String = summary
            .head_name
            .as_deref()
            .unwrap_or("王")
            .chars()
            .take(2)
            .collect();
        for text in [name, summary.number.clone()] {
            let query = SearchQuery {
                text: Some(text),
                ..SearchQuery::default()
            };
            hits += store.search(&query).unwrap().len();
        }
    }
    report(&format!("40 searches ({hits} hits)"), started);

    let started = Instant::now();
    let step = (count / 100).max(1);
    let opened: Vec<_> = all
        .iter()
        .step_by(step)
        .take(100)
        .map(|summary| {
            let id = schema::ids::HouseholdId::parse(&summary.id).unwrap();
            let detail = store.household(&id).unwrap();
            (id, detail)
        })
        .collect();
    report(&format!("opened {} households", opened.len()), started);

    let started = Instant::now();
    for (n, (id, detail)) in opened.iter().take(20).enumerate() {
        let member = detail.view.members.keys().next().unwrap();
        let path = format!("members.{member}.employment.monthly_income");
        let current = |path: &str| {
            let path = schema::fields::FieldPath::parse(path).unwrap();
            detail.view.field(&path).map(|field| field.value.display())
        };
        // Values that differ from what the household holds, so that every edit writes
        // even when the example runs again on the same store.
        let income = (2000 + n * 10).to_string();
        let income = if current(&path) == Some(income.clone()) {
            (2005 + n * 10).to_string()
        } else {
            income
        };
        let phone = if current("household.phone").as_deref() == Some("13800000000") {
            "13800000001"
        } else {
            "13800000000"
        };
        let before = store.heads(id).unwrap();
        store.set_field(id, &path, &income).unwrap();
        store.set_field(id, "household.phone", phone).unwrap();
        assert_ne!(store.heads(id).unwrap(), before, "the edits wrote");
    }
    report("edited 20 of them (2 durable edits each)", started);

    let started = Instant::now();
    for (id, detail) in opened.iter().skip(20).take(5) {
        let before = store.heads(id).unwrap();
        // The form's 30 fields, with values other than the household holds now.
        let variant = usize::from(detail.view.household_text("phone") == Some("13912345678"));
        let members: Vec<&str> = detail.view.members.keys().map(String::as_str).collect();
        let fields = support::visit_fields(&members, variant);
        let visit = store.start_visit(id).unwrap();
        store.set_fields(id, &support::as_edits(&fields)).unwrap();
        let gps = GpsPoint {
            lat: 38.27,
            lon: 111.56,
        };
        store
            .finish_visit(id, &visit, "met", Some("已核实"), Some(gps))
            .unwrap();
        assert_ne!(store.heads(id).unwrap(), before, "the visit wrote");
    }
    report("recorded 5 visits (30 fields each)", started);
    drop(opened);

    println!();
    println!("households in the store:   {count}");
    println!(
        "store size on disk:        {:.1} MB (database and write-ahead log)",
        support::store_size(dir) as f64 / 1e6
    );
    println!(
        "resident memory now:       {:.1} MB (VmRSS)",
        status_kb("VmRSS") as f64 / 1024.0
    );
    println!(
        "peak resident memory:      {:.1} MB (VmHWM)",
        status_kb("VmHWM") as f64 / 1024.0
    );
}
