//! The Rust side of the FFI benchmark (`scripts/mobile-bench`): the same `doorstep_mobile`
//! calls the Kotlin benchmark makes through the bindings, made directly, on the same store.
//!
//! `ffi_bench DIR SAMPLES` builds the fixture household in DIR if the store there is empty,
//! prints `household <id>`, then one line per measured call: `<name> median_us=<µs>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorstep_mobile::{DoorstepStore, FieldEdit, Household, HouseholdQuery};
use schema::id_number::check_character;
use std::time::Instant;

const VILLAGE: &str = "141124100201";
const NAMES: [&str; 5] = ["王伟", "李芳", "张娜", "刘敏", "陈静"];

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: ffi_bench DIR SAMPLES");
    let samples: usize = args.next().map_or(2000, |n| n.parse().expect("SAMPLES"));
    let store = DoorstepStore::open(dir).unwrap();
    let household = match store
        .list_households(HouseholdQuery::default())
        .unwrap()
        .first()
    {
        Some(existing) => existing.id.clone(),
        None => fixture(&store),
    };
    println!("household {household}");
    let head = store.household(household.clone()).unwrap().members[0]
        .key
        .clone();
    let place = format!("members.{head}.employment.place");

    let read = measure(samples, |_| {
        std::hint::black_box(store.household(household.clone()).unwrap());
    });
    println!("household_read median_us={read:.2}");
    // What the scaffolding adds on the Rust side of a foreign call: the same read, then the
    // record lowered into the RustBuffer the bindings receive (and freed).
    let lowered = measure(samples, |_| {
        let household = store.household(household.clone()).unwrap();
        <Household as uniffi::Lower<doorstep_mobile::UniFfiTag>>::lower(household).destroy();
    });
    eprintln!("rust household_read parts: read and lower into a RustBuffer {lowered:.2} µs");
    let count = measure(samples, |_| {
        std::hint::black_box(store.unsynced_changes().unwrap());
    });
    println!("unsynced_count median_us={count:.2}");
    // Each edit changes the value, so every one is a real, durable change.
    let edits = (samples / 10).max(20);
    let edit = measure(edits, |i| {
        let value = if i % 2 == 0 { "吕梁" } else { "太原" };
        store
            .set_field(household.clone(), place.clone(), value.to_owned())
            .unwrap();
    });
    println!("field_edit median_us={edit:.2}");
}

/// Median microseconds per call, after a warm-up of twice as many calls (as the Kotlin side,
/// whose JIT needs that many).
fn measure(samples: usize, mut call: impl FnMut(usize)) -> f64 {
    for i in 0..2 * samples {
        call(i);
    }
    let mut times: Vec<f64> = (0..samples)
        .map(|i| {
            let start = Instant::now();
            call(i);
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A household as a volunteer leaves it: five members with work and intent recorded, and
/// two finished visits.
fn fixture(store: &DoorstepStore) -> String {
    let household = store
        .create_household(VILLAGE.to_owned(), Some("1411241002010001".to_owned()))
        .unwrap();
    for (n, name) in NAMES.iter().enumerate() {
        let key = store
            .add_member(household.clone(), (*name).to_owned(), Some(id_number(n)))
            .unwrap();
        let relation = format!("{:02}", n + 1);
        let fields = [
            ("relation", relation.as_str()),
            ("education", "03"),
            ("labour_capacity", "01"),
            ("employment.status", "01"),
            ("employment.place", "太原"),
            ("employment.months_worked", "8"),
            ("intent.wants_work", "是"),
            ("intent.wants_training", "是"),
            ("intent.training_trades", "家政"),
        ];
        let edits = fields
            .iter()
            .map(|(field, value)| FieldEdit {
                path: format!("members.{key}.{field}"),
                value: (*value).to_owned(),
            })
            .collect();
        store.set_fields(household.clone(), edits).unwrap();
    }
    for (path, value) in [
        ("household.address", "后沟村 12 号"),
        ("household.poverty_attribute", "01"),
        ("household.causes", "01,07"),
    ] {
        store
            .set_field(household.clone(), path.to_owned(), value.to_owned())
            .unwrap();
    }
    for notes in ["首次走访", "回访"] {
        let visit = store.start_visit(household.clone()).unwrap();
        store
            .finish_visit(
                household.clone(),
                visit,
                "met".to_owned(),
                Some(notes.to_owned()),
                None,
            )
            .unwrap();
    }
    household
}

/// A valid ID number for person `n`, born in Lin County in the 1980s.
fn id_number(n: usize) -> String {
    let first17 = format!("1411241980{:02}{:02}{:03}", 1 + n, 10 + n, 100 + 2 * n);
    let mut digits = [0u8; 17];
    for (digit, byte) in digits.iter_mut().zip(first17.bytes()) {
        *digit = byte - b'0';
    }
    format!("{first17}{}", check_character(&digits))
}
