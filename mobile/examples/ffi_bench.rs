//! The Rust side of the FFI benchmark (`scripts/mobile-bench`), in a process of its own: the
//! same `doorstep_mobile` calls the Kotlin benchmark makes through the bindings, made directly
//! with the same loop (`doorstep_mobile::bench`, feature `bench`), on the same store.
//!
//! `ffi_bench DIR SAMPLES` builds the fixture household in DIR if the store there is empty,
//! prints `household <id>`, then one line per measured call: `<name> median_us=<µs>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorstep_mobile::bench::direct_times;
use doorstep_mobile::{DoorstepStore, FieldEdit, HouseholdQuery};
use schema::id_number::check_character;

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
    let times = direct_times(&store, &household, &place, samples);
    println!("household_read median_us={:.2}", times.household_read);
    println!("unsynced_count median_us={:.2}", times.unsynced_count);
    println!("field_edit median_us={:.2}", times.field_edit);
    eprintln!(
        "rust (own process) household_read parts: read and lower into a RustBuffer {:.2} µs",
        times.household_read_lowered
    );
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
