//! Made-up but valid households for demos and load generation: real-looking names, valid
//! ID numbers, a few fields and a finished visit, each household one after another.

use crate::failure::Failure;
use client_core::Store;
use schema::id_number::check_character;
use schema::ids::{AreaCode, HouseholdId};

const SURNAMES: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: [&str; 10] = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋"];

/// A valid 18-digit ID number for person `n`, born in Lin County.
fn id_number(n: u32, born: (u32, u32, u32), male: bool) -> String {
    let sequence = (n % 450) * 2 + u32::from(male);
    let first17 = format!(
        "141124{:04}{:02}{:02}{:03}",
        born.0, born.1, born.2, sequence
    );
    let mut digits = [0u8; 17];
    for (digit, byte) in digits.iter_mut().zip(first17.bytes()) {
        *digit = byte - b'0';
    }
    format!("{first17}{}", check_character(&digits))
}

fn name(n: u32) -> String {
    format!(
        "{}{}{}",
        SURNAMES[(n % 10) as usize],
        GIVEN[((n / 10) % 10) as usize],
        GIVEN[((n / 100) % 10) as usize]
    )
}

/// Records household `n` of a village: a head, a spouse and a child, and a visit.
pub fn household(store: &Store, village: &AreaCode, n: u32) -> Result<HouseholdId, Failure> {
    let household =
        store.create_household(village, Some(&format!("{}{:04}", village, n % 10_000)))?;
    let year = 1970 + n % 25;
    let head = store.add_member(
        &household,
        &name(n * 3),
        Some(&id_number(n * 3, (year, 1 + n % 12, 1 + n % 28), true)),
    )?;
    let spouse = store.add_member(
        &household,
        &name(n * 3 + 1),
        Some(&id_number(
            n * 3 + 1,
            (year + 2, 1 + (n + 5) % 12, 1 + (n + 7) % 28),
            false,
        )),
    )?;
    let child = store.add_member(
        &household,
        &name(n * 3 + 2),
        Some(&id_number(
            n * 3 + 2,
            (2012 + n % 6, 1 + n % 12, 1 + n % 28),
            n.is_multiple_of(2),
        )),
    )?;
    let visit = store.start_visit(&household)?;
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
    let edits: Vec<(&str, &str)> = fields
        .iter()
        .map(|(p, v)| (p.as_str(), v.as_str()))
        .collect();
    store.set_fields(&household, &edits)?;
    store.finish_visit(&household, &visit, "met", Some("演示数据"), None)?;
    Ok(household)
}
