//! A township's five rosters of 一库五册 as XLSX (issue 16: within 5 s) in a county register
//! of 100,000 households, on SQLite and (when `DATABASE_URL` is set) PostgreSQL, through the
//! real `doorstep` binary's `GET /api/v1/reports/rosters/{roster}?area=<township>&format=xlsx`,
//! with the yardstick of a plain `SELECT COUNT(*)` over the same rows (the township's
//! households joined to their members) in the same run. Run with
//! `cargo bench -p doorstep-e2e --bench rosters`; results in `docs/BENCHMARKS.md`,
//! "Rosters (issue 16)".
//!
//! The register is grown as `ingest_growth` grows it: a phone records [`TEMPLATES`] real
//! households in a village of 临泉镇 (four members each, with ID numbers, birth dates,
//! employment in every roster's statuses and its details, a training for one in three) and
//! syncs them; then SQL copies of their rows (sealed ID numbers and details as stored, so a
//! roster opens as much as a real one) fill the first village of each of the county's 23
//! townships equally, about 4,350 households each. The measured township is the template's.
//! After seeding, `ANALYZE` gives the planner statistics, as the server's own refresh does
//! after the writes that grow a real register.
//!
//! `-- --test` runs it at 2,300 households as a smoke test; `DOORSTEP_BENCH_REPS` sets the
//! number of timed runs (5 by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use doorstep_e2e::seed::{autovacuum_off, grow, households, villages};
use doorstep_e2e::{
    AreaCode, Backend, COUNTY, Phone, Server, Sql, TestDatabase, with_check_character,
};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Instant;
use support::median;

const HOUSEHOLDS: usize = 100_000;
const TEMPLATES: usize = 24;
const REPS: usize = 5;
const TARGET_SECS: f64 = 5.0;
/// The five rosters of 一库五册, each one request.
const ROSTERS: [&str; 5] = [
    "poor_labour",
    "training",
    "transfer_employment",
    "self_employment",
    "public_welfare",
];
const COPIED_TABLES: [&str; 6] = [
    "document",
    "change",
    "household",
    "member",
    "visit",
    "training",
];

/// Records the template households: a head of working age in one of the rosters' statuses
/// (or none), a spouse, a child and an elder, with what the rosters show.
fn record_templates(phone: &Phone, village: &AreaCode) {
    let statuses = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10"];
    for n in 0..TEMPLATES {
        let household = phone
            .store
            .create_household(village, Some(&format!("{}{n:03}", village.as_str())))
            .unwrap();
        let members = [
            ("户主", 1970 + n % 20, "01", statuses[n % statuses.len()]),
            (
                "配偶",
                1972 + n % 20,
                "02",
                statuses[(n + 5) % statuses.len()],
            ),
            ("子女", 2005 + n % 15, "03", "10"),
            ("父母", 1945 + n % 10, "11", "10"),
        ];
        for (m, (name, year, relation, status)) in members.into_iter().enumerate() {
            let (month, day) = (1 + n % 12, 1 + n % 28);
            let number =
                with_check_character(&format!("141124{year}{month:02}{day:02}{:03}", n * 4 + m));
            let birth = format!("{year}-{month:02}-{day:02}");
            let key = phone
                .store
                .add_member(&household, &format!("{name}{n}"), Some(&number))
                .unwrap();
            let path = |field: &str| format!("members.{key}.{field}");
            let fields = [
                (path("relation"), relation.to_owned()),
                (path("birth_date"), birth),
                (path("education"), "03".to_owned()),
                (path("labour_capacity"), "01".to_owned()),
                (path("phone"), format!("1380000{n:04}")),
                (path("employment.status"), status.to_owned()),
                (path("employment.employer"), format!("用工单位{n}")),
                (path("employment.place"), "太原市小店区".to_owned()),
                (path("employment.trade"), "建筑工".to_owned()),
                (path("employment.start_date"), "2025-03-01".to_owned()),
                (path("employment.months_worked"), "6".to_owned()),
                (path("employment.monthly_income"), "3800".to_owned()),
                (path("employment.contract_signed"), "true".to_owned()),
                (path("intent.wants_work"), "true".to_owned()),
                (path("intent.wants_training"), (n % 2 == 0).to_string()),
                (path("intent.training_trades"), "厨师".to_owned()),
            ];
            let edits: Vec<(&str, &str)> = fields
                .iter()
                .map(|(p, v)| (p.as_str(), v.as_str()))
                .collect();
            phone.store.set_fields(&household, &edits).unwrap();
            if m == 0 && n % 3 == 0 {
                let training = phone.store.add_training(&household, &key).unwrap();
                let path = |field: &str| format!("trainings.{training}.{field}");
                let fields = [
                    (path("institution"), "临县职业技术学校"),
                    (path("trade"), "面点师"),
                    (path("model"), "01"),
                    (path("start_date"), "2025-05-01"),
                    (path("end_date"), "2025-06-30"),
                    (path("completed"), "true"),
                    (path("certificate"), "07"),
                ];
                let edits: Vec<(&str, &str)> =
                    fields.iter().map(|(p, v)| (p.as_str(), *v)).collect();
                phone.store.set_fields(&household, &edits).unwrap();
            }
        }
    }
}

struct Measured {
    households: usize,
    township_households: usize,
    township_members: i64,
    seed_secs: f64,
    /// Seconds of the five rosters together, per run.
    five: Vec<f64>,
    /// Seconds of each roster, per run.
    each: BTreeMap<&'static str, Vec<f64>>,
    /// Rows of each roster.
    rows: BTreeMap<&'static str, usize>,
    bytes: usize,
    /// Seconds of the yardstick, per run.
    count: Vec<f64>,
}

fn run(backend: &Backend, total: usize, reps: usize) -> Measured {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let sql = Sql::open(&db);
    let postgres = db.url.is_some();
    if postgres {
        autovacuum_off(&sql);
    }
    let villages = villages();
    let template_village = villages[0].clone();
    let township = template_village.parent().unwrap();
    let mut firsts: Vec<AreaCode> = Vec::new();
    for village in &villages {
        if firsts.last().map(AreaCode::parent) != Some(village.parent()) {
            firsts.push(village.clone());
        }
    }

    let seeding = Instant::now();
    let phone = Phone::new(
        "templates",
        &server,
        &db.add_device(&[template_village.as_str()]),
    );
    record_templates(&phone, &template_village);
    phone.sync();
    let copies_per_township = (total / firsts.len()).div_ceil(TEMPLATES);
    for (t, first) in firsts.iter().enumerate() {
        let copies = if first == &template_village {
            copies_per_township - 1
        } else {
            copies_per_township
        };
        grow(
            &sql,
            postgres,
            template_village.as_str(),
            first.as_str(),
            t * copies_per_township,
            copies,
            &COPIED_TABLES,
        );
    }
    sql.rows("ANALYZE");
    let seed_secs = seeding.elapsed().as_secs_f64();
    let households = households(&sql);

    let yardstick = format!(
        "SELECT COUNT(*) AS n FROM household h JOIN member m ON m.household_id = h.id
         WHERE h.village LIKE '{township}%'"
    );
    let township_members: i64 = sql.rows(&yardstick)[0].get("n");
    let township_households: i64 = sql.rows(&format!(
        "SELECT COUNT(*) AS n FROM household WHERE village LIKE '{township}%'"
    ))[0]
        .get("n");

    let token = server.staff_token(&db, COUNTY, "县工作人员");
    let fetch = |roster: &str| {
        let (status, _, body) = server.get_bytes(
            &format!("/api/v1/reports/rosters/{roster}?area={township}&format=xlsx"),
            &token,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        body
    };
    // One untimed pass: the server's first requests warm its pool and the database's cache.
    let mut rows = BTreeMap::new();
    let mut bytes = 0;
    for roster in ROSTERS {
        let body = fetch(roster);
        bytes += body.len();
        rows.insert(roster, rows_of(&body));
    }
    let mut five = Vec::new();
    let mut each: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut count = Vec::new();
    for _ in 0..reps {
        let started = Instant::now();
        sql.rows(&yardstick);
        count.push(started.elapsed().as_secs_f64());
        let mut sum = 0.0;
        for roster in ROSTERS {
            let started = Instant::now();
            fetch(roster);
            let secs = started.elapsed().as_secs_f64();
            sum += secs;
            each.entry(roster).or_default().push(secs);
        }
        five.push(sum);
    }
    Measured {
        households,
        township_households: usize::try_from(township_households).unwrap(),
        township_members,
        seed_secs,
        five,
        each,
        rows,
        bytes,
        count,
    }
}

/// The data rows of a roster workbook: its rows below the title, subtitle and header.
fn rows_of(xlsx: &[u8]) -> usize {
    use calamine::Reader;
    let mut workbook = calamine::Xlsx::new(std::io::Cursor::new(xlsx.to_vec())).unwrap();
    let name = workbook.sheet_names()[0].clone();
    workbook
        .worksheet_range(&name)
        .unwrap()
        .height()
        .saturating_sub(3)
}

fn report(backend: &Backend, m: &Measured) -> String {
    let five = median(&m.five);
    let count = median(&m.count);
    let mut out = format!(
        "\n### {} — {} households in the register, {} in the township ({} member rows); \
         seeded in {:.0} s; median of {} runs\n\n\
         | what | median | min – max | rows | × `SELECT COUNT(*)` |\n|---|---:|---:|---:|---:|\n",
        backend.name(),
        m.households,
        m.township_households,
        m.township_members,
        m.seed_secs,
        m.five.len(),
    );
    let line = |what: &str, values: &[f64], rows: String| {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(0.0, f64::max);
        format!(
            "| {what} | {:.3} s | {:.3} – {:.3} s | {rows} | {:.0}× |\n",
            median(values),
            min,
            max,
            median(values) / count
        )
    };
    out.push_str(&line(
        "`SELECT COUNT(*)` over the township's members",
        &m.count,
        m.township_members.to_string(),
    ));
    for (roster, values) in &m.each {
        out.push_str(&line(
            &format!("`{roster}` as XLSX"),
            values,
            m.rows[roster].to_string(),
        ));
    }
    out.push_str(&line(
        "**the five rosters as XLSX**",
        &m.five,
        m.rows.values().sum::<usize>().to_string(),
    ));
    out.push_str(&format!(
        "\nThe five workbooks hold {:.1} MB. Five rosters: {five:.2} s (target ≤ {TARGET_SECS} s: {}).\n",
        m.bytes as f64 / 1e6,
        if five <= TARGET_SECS { "met" } else { "not met" }
    ));
    out
}

fn main() {
    let smoke = std::env::args().any(|arg| arg == "--test");
    let reps = std::env::var("DOORSTEP_BENCH_REPS")
        .ok()
        .and_then(|reps| reps.parse().ok())
        .unwrap_or(if smoke { 1 } else { REPS });
    let total = if smoke { 2_300 } else { HOUSEHOLDS };
    let mut out = String::new();
    for backend in Backend::all() {
        let measured = run(&backend, total, reps);
        out.push_str(&report(&backend, &measured));
    }
    println!("{out}");
}
