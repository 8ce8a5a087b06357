//! System information comparison (issue 17: a roster of 100,000 rows imported and compared
//! against a register of 100,000 households in ≤ 30 s), on SQLite and (when `DATABASE_URL`
//! is set) PostgreSQL, through the real `doorstep` binary: a county clerk uploads the
//! 户籍 (registry) roster as the office sends it, an XLSX, with
//! `POST /api/v1/imported-rosters?kind=registry&area=<county>` (the console's upload and
//! the API are the same request; `doorstep roster import` is the operator's tool), timed
//! from the bench until the answer: the file read and checked, its rows sealed and stored,
//! the kind's mismatches recomputed, and the visit tasks they open or settle written into
//! the households' documents. The yardstick, in the same run on the same database: a plain
//! bulk insert of the same 100,000 rows (multi-row `INSERT`s in one transaction, through
//! the bench's own sqlx connection) into a table of six text columns.
//! Run with `cargo bench -p doorstep-e2e --bench comparison`; results in
//! `docs/BENCHMARKS.md`, "Comparison (issue 17)".
//!
//! The register. A phone records [`POOL`] households in one village of 临泉镇 through the
//! real binary (four members each, every one with an ID number of their own, a sex and birth
//! date that agree with it but for one person in 50, whose sex the phone records wrongly;
//! the child of one household in five has moved out); `seed::grow` copies their rows into
//! one village each until the county holds 100,000 households. A copy's register rows
//! carry its template's people, so their ID-number hashes are given distinct people by SQL:
//! the roster's rows for copied people are first imported once (the "priming" import: a
//! roster nobody in the ledger matches), which gives each ID number's keyed hash as the
//! server computes it, and those hashes, with birth dates and sexes that agree with the
//! numbers, are written into the copies' member rows; the priming import is then withdrawn.
//! Copied people never receive a task (nothing about them differs), so their documents,
//! which still name the template's people, are never rewritten.
//!
//! The roster: every person of the pool, 1 % people the ledger lacks (half of them with no
//! village code, as a county-wide roster gives them), and copied people up to 100,000 rows.
//! Each timed run imports a newer roster of the same kind and area, as next month's file
//! is: its planted mismatches fall on a different slice of the pool's households (the
//! head's name spelt otherwise, the elder reported deceased, the moved-out child reported
//! present), so the import opens tasks on one slice and settles the last run's. After the
//! runs, the same roster again (as CSV, a file of other bytes with the same rows) measures
//! a recompute that changes nothing.
//!
//! `-- --test` runs it at 2,000 households and 2,000 rows as a smoke test;
//! `DOORSTEP_BENCH_REPS` sets the number of timed runs (5 by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use doorstep_e2e::seed::{autovacuum_off, grow, households, villages};
use doorstep_e2e::{
    AreaCode, Backend, COUNTY, Phone, Server, Sql, TestDatabase, with_check_character,
};
use serde_json::Value;
use sqlx::Row;
use std::time::{Duration, Instant};
use support::median;

const HOUSEHOLDS: usize = 100_000;
const ROWS: usize = 100_000;
/// Households the phone records: the templates of every copy, and the only households
/// mismatches are planted on.
const POOL: usize = 600;
const REPS: usize = 5;
/// Re-imports of the same rows, after the runs.
const RECOMPUTES: usize = 3;
const TARGET_SECS: f64 = 30.0;
const COPIED_TABLES: [&str; 6] = [
    "document",
    "change",
    "household",
    "member",
    "visit",
    "training",
];
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const CSV: &str = "text/csv";
const HEADERS: [&str; 6] = [
    "姓名",
    "身份证号码",
    "性别",
    "村代码",
    "户籍状态",
    "变动日期",
];
/// Rows of one yardstick `INSERT`: 30,000 parameters, under both databases' limits.
const YARDSTICK_BATCH: usize = 5_000;

const SURNAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "郝", "薛",
];
const GIVEN: [&str; 14] = [
    "建国", "秀英", "志强", "桂兰", "海军", "玉梅", "小龙", "春花", "保平", "红霞", "晋生", "润莲",
    "拴柱", "改芳",
];

/// One row of the registry roster.
#[derive(Debug, Clone)]
struct Person {
    name: String,
    id_number: String,
    /// `1` male, `2` female, as the ID number says.
    sex: &'static str,
    village: String,
    /// The registry status (`01` present, `02` moved out, `03` deceased).
    status: &'static str,
    left_on: String,
}

/// A valid ID number of region `region` for person `n` of its series: the birth date
/// spreads over 50 years, the sequence number keeps every person of the series distinct,
/// its last digit odd for a man.
fn id_number(region: &str, n: usize, male: bool) -> (String, i64, String) {
    let year = 1950 + n % 50;
    let month = 1 + (n / 50) % 12;
    let day = 1 + (n / 600) % 28;
    let sequence = n / 16_800;
    assert!(sequence < 50, "person {n} is past the series");
    let sex_digit = usize::from(male) + 2 * (sequence % 5);
    let number = with_check_character(&format!(
        "{region}{year}{month:02}{day:02}{:02}{sex_digit}",
        sequence / 5
    ));
    (
        number,
        i64::try_from(year).unwrap(),
        format!("{month:02}-{day:02}"),
    )
}

fn name_of(n: usize) -> String {
    format!(
        "{}{}",
        SURNAMES[n % SURNAMES.len()],
        GIVEN[(n / SURNAMES.len()) % GIVEN.len()]
    )
}

/// What the phone recorded of one pool person.
#[derive(Debug, Clone)]
struct Recorded {
    person: Person,
    /// The household, in pool order, and the member's place in it (0 head … 3 elder).
    household: usize,
    member: usize,
}

/// Records the pool: four members a household, each with an ID number of region 141124.
fn record_pool(phone: &Phone, village: &AreaCode, pool: usize) -> Vec<Recorded> {
    let mut recorded = Vec::new();
    for h in 0..pool {
        let household = phone
            .store
            .create_household(village, Some(&format!("{}{h:04}", village.as_str())))
            .unwrap();
        for m in 0..4 {
            let n = h * 4 + m;
            let male = m == 0 || (m != 1 && n % 2 == 0);
            let (number, year, month_day) = id_number("141124", n, male);
            let name = name_of(n);
            let key = phone
                .store
                .add_member(&household, &name, Some(&number))
                .unwrap();
            let path = |field: &str| format!("members.{key}.{field}");
            let sex = if male { "1" } else { "2" };
            // One person in 50 is recorded with the wrong sex: a mismatch every roster shows.
            let recorded_sex = match (n % 50 == 7, male) {
                (true, true) => "2",
                (true, false) => "1",
                (false, _) => sex,
            };
            let relation = ["01", "02", "03", "11"][m];
            let mut fields = vec![
                (path("relation"), relation.to_owned()),
                (path("sex"), recorded_sex.to_owned()),
                (path("birth_date"), format!("{year}-{month_day}")),
            ];
            let moved = m == 2 && h % 5 == 0;
            if moved {
                fields.extend([
                    (path("status"), "02".to_owned()),
                    (path("left_on"), "2025-09-01".to_owned()),
                    (path("moved_to"), "太原市迎泽区".to_owned()),
                ]);
            }
            let edits: Vec<(&str, &str)> = fields
                .iter()
                .map(|(p, v)| (p.as_str(), v.as_str()))
                .collect();
            phone.store.set_fields(&household, &edits).unwrap();
            recorded.push(Recorded {
                person: Person {
                    name,
                    id_number: number,
                    sex: if male { "1" } else { "2" },
                    village: village.as_str().to_owned(),
                    status: if moved { "02" } else { "01" },
                    left_on: if moved {
                        "2025-09-01".to_owned()
                    } else {
                        String::new()
                    },
                },
                household: h,
                member: m,
            });
        }
    }
    recorded
}

/// The roster of run `run`: the pool as recorded, but for the households of slice `run`,
/// whose head's name the office spells otherwise, whose elder it reports deceased and whose
/// moved-out child it reports present.
fn roster(
    pool: &[Recorded],
    copied: &[Person],
    missing: &[Person],
    run: usize,
    slices: usize,
) -> Vec<Person> {
    let mut rows: Vec<Person> = pool
        .iter()
        .map(|r| {
            let mut person = r.person.clone();
            if r.household % slices == run % slices {
                match r.member {
                    0 => person.name = format!("{}{}", person.name, "儿"),
                    3 => {
                        person.status = "03";
                        person.left_on = "2025-11-20".to_owned();
                    }
                    2 if person.status == "02" => {
                        person.status = "01";
                        person.left_on = String::new();
                    }
                    _ => {}
                }
            }
            person
        })
        .collect();
    rows.extend(copied.iter().cloned());
    rows.extend(missing.iter().cloned());
    rows
}

fn xlsx(rows: &[Person]) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (column, header) in HEADERS.iter().enumerate() {
        sheet
            .write_string(0, u16::try_from(column).unwrap(), *header)
            .unwrap();
    }
    for (i, person) in rows.iter().enumerate() {
        let row = u32::try_from(i + 1).unwrap();
        let cells = [
            person.name.as_str(),
            person.id_number.as_str(),
            person.sex,
            person.village.as_str(),
            person.status,
            person.left_on.as_str(),
        ];
        for (column, cell) in cells.iter().enumerate() {
            if !cell.is_empty() {
                sheet
                    .write_string(row, u16::try_from(column).unwrap(), *cell)
                    .unwrap();
            }
        }
    }
    workbook.save_to_buffer().unwrap()
}

/// The same rows as CSV, with `blank` blank lines at the end (which the import skips), so
/// that each re-import is a file of its own.
fn csv(rows: &[Person], blank: usize) -> Vec<u8> {
    let mut text = HEADERS.join(",");
    text.push('\n');
    for p in rows {
        text.push_str(&format!(
            "{},{},{},{},{},{}\n",
            p.name, p.id_number, p.sex, p.village, p.status, p.left_on
        ));
    }
    text.push_str(&"\n".repeat(blank));
    text.into_bytes()
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(1_800)))
            .build(),
    )
}

/// Uploads a roster as a clerk does; returns the import's answer and the seconds it took.
fn import(
    server: &Server,
    token: &str,
    file_name: &str,
    media_type: &str,
    body: &[u8],
) -> (Value, f64) {
    let started = Instant::now();
    let mut response = agent()
        .post(&format!(
            "{}/api/v1/imported-rosters?kind=registry&area={COUNTY}&file_name={file_name}",
            server.url
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", media_type)
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.body_mut().read_to_vec().unwrap();
    let secs = started.elapsed().as_secs_f64();
    let answer: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
    assert_eq!(status, 201, "{answer}");
    (answer, secs)
}

fn withdraw(server: &Server, token: &str, id: &str) {
    let (status, answer) = server.post_json(
        &format!("/api/v1/imported-rosters/{id}/withdraw"),
        token,
        &serde_json::json!({}),
    );
    assert_eq!(status, 200, "{answer}");
}

/// The bench's own connection for the yardstick, with the runtime that drives it.
struct Yardstick {
    runtime: tokio::runtime::Runtime,
    pool: sqlx::AnyPool,
    postgres: bool,
}

impl Yardstick {
    fn open(db: &TestDatabase) -> Yardstick {
        let url = db.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rw",
                db.data_dir.path().join("doorstep.db").display()
            )
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = runtime.block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .unwrap();
            if db.url.is_none() {
                // The server's own settings for its connections (`storage::db`): the
                // yardstick writes as durably as the import does.
                for pragma in ["PRAGMA synchronous = FULL", "PRAGMA busy_timeout = 10000"] {
                    sqlx::query(pragma).execute(&pool).await.unwrap();
                }
            }
            sqlx::query(
                "CREATE TABLE bench_roster_yardstick (name TEXT, id_number TEXT, sex TEXT,
                     village TEXT, status TEXT, left_on TEXT)",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool
        });
        Yardstick {
            runtime,
            pool,
            postgres: db.url.is_some(),
        }
    }

    /// Empties the table (untimed), then inserts `rows` in one transaction; returns seconds.
    fn insert(&self, rows: &[Person]) -> f64 {
        self.runtime.block_on(async {
            sqlx::query("DELETE FROM bench_roster_yardstick")
                .execute(&self.pool)
                .await
                .unwrap();
            let started = Instant::now();
            let mut tx = self.pool.begin().await.unwrap();
            for batch in rows.chunks(YARDSTICK_BATCH) {
                // As the server writes (`storage::db::Backend::parameter`): SQLite's
                // anonymous `?`s, since binding numbered ones costs the square of their count.
                let values: Vec<String> = (0..batch.len())
                    .map(|i| {
                        let row: Vec<String> = (1..=6)
                            .map(|c| {
                                if self.postgres {
                                    format!("${}", i * 6 + c)
                                } else {
                                    "?".to_owned()
                                }
                            })
                            .collect();
                        format!("({})", row.join(", "))
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO bench_roster_yardstick (name, id_number, sex, village, status,
                         left_on) VALUES {}",
                    values.join(", ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for p in batch {
                    query = query
                        .bind(p.name.clone())
                        .bind(p.id_number.clone())
                        .bind(p.sex)
                        .bind(p.village.clone())
                        .bind(p.status)
                        .bind(p.left_on.clone());
                }
                query.execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
            started.elapsed().as_secs_f64()
        })
    }
}

/// One timed import and its yardstick.
#[derive(Debug)]
struct Run {
    what: String,
    secs: f64,
    yardstick: f64,
    mismatches: u64,
    unplaced: Option<u64>,
    /// Tasks open after the import (from the register's own table).
    open_tasks: i64,
}

struct Measured {
    households: usize,
    rows: usize,
    pool: usize,
    seed_secs: f64,
    xlsx_bytes: usize,
    csv_bytes: usize,
    priming: Run,
    runs: Vec<Run>,
    recomputes: Vec<Run>,
}

fn open_tasks(sql: &Sql) -> i64 {
    sql.rows("SELECT COUNT(*) AS n FROM visit_task WHERE status = 'open'")[0].get("n")
}

fn run(backend: &Backend, total: usize, rows_wanted: usize, pool: usize, reps: usize) -> Measured {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let sql = Sql::open(&db);
    let postgres = db.url.is_some();
    if postgres {
        autovacuum_off(&sql);
    }
    let villages = villages();
    let template = villages[0].clone();

    let seeding = Instant::now();
    let phone = Phone::new("pool", &server, &db.add_device(&[template.as_str()]));
    let recorded = record_pool(&phone, &template, pool);
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{report:?}");
    eprintln!("{}: the pool is recorded; copying", backend.name());
    let copies = total.saturating_sub(pool).div_ceil(pool);
    for (n, village) in villages[1..].iter().cycle().take(copies).enumerate() {
        grow(
            &sql,
            postgres,
            template.as_str(),
            village.as_str(),
            n,
            1,
            &COPIED_TABLES,
        );
    }

    // The copied people the roster lists, spread over the copies' members, and people the
    // ledger lacks (1 %), half of them with a village code.
    let missing_count = rows_wanted / 100;
    let copied_count = rows_wanted - recorded.len() - missing_count;
    let copy_members = sql.rows(
        "SELECT m.household_id, m.member_key, m.name, m.status, h.village
         FROM member m JOIN household h ON h.id = m.household_id
         WHERE m.household_id LIKE 'seed-%' ORDER BY m.household_id, m.member_key",
    );
    let stride = (copy_members.len() / copied_count).max(1);
    let chosen: Vec<&sqlx::any::AnyRow> = copy_members
        .iter()
        .step_by(stride)
        .take(copied_count)
        .collect();
    assert_eq!(chosen.len(), copied_count, "too few copied members");
    let mut copied = Vec::with_capacity(copied_count);
    let mut birth = Vec::with_capacity(copied_count);
    for (n, row) in chosen.iter().enumerate() {
        let male = n % 2 == 0;
        let (number, year, month_day) = id_number("141122", n, male);
        let status: Option<String> = row.get("status");
        let moved = status.as_deref().is_some_and(|s| s != "01");
        copied.push(Person {
            name: row.get("name"),
            id_number: number,
            sex: if male { "1" } else { "2" },
            village: row.get("village"),
            status: if moved { "02" } else { "01" },
            left_on: if moved {
                "2025-09-01".to_owned()
            } else {
                String::new()
            },
        });
        birth.push((
            row.get::<String, _>("household_id"),
            row.get::<String, _>("member_key"),
            year,
            month_day,
        ));
    }
    let missing: Vec<Person> = (0..missing_count)
        .map(|n| {
            let male = n % 2 == 1;
            let (number, _, _) = id_number("141123", n, male);
            Person {
                name: name_of(n + 7),
                id_number: number,
                sex: if male { "1" } else { "2" },
                village: if n % 2 == 0 {
                    villages[n % villages.len()].as_str().to_owned()
                } else {
                    String::new()
                },
                status: "01",
                left_on: String::new(),
            }
        })
        .collect();

    let token = server.staff_token(&db, COUNTY, "县工作人员");
    let yardstick = Yardstick::open(&db);

    eprintln!("{}: copied; priming", backend.name());
    // Priming: the copied people's ID numbers, hashed by the server, then given to the
    // copies' member rows through a table of the bench's own.
    let (primed, priming_secs) = import(&server, &token, "priming.csv", CSV, &csv(&copied, 0));
    let priming = Run {
        what: "priming: a roster nobody in the ledger matches (CSV)".to_owned(),
        secs: priming_secs,
        yardstick: yardstick.insert(&copied),
        mismatches: primed["mismatches"].as_u64().unwrap(),
        unplaced: primed["unplaced"].as_u64(),
        open_tasks: open_tasks(&sql),
    };
    let priming_id = primed["roster"]["id"].as_str().unwrap().to_owned();
    sql.rows(
        "CREATE TABLE bench_person (row_number BIGINT PRIMARY KEY, household_id TEXT,
             member_key TEXT, birth_year BIGINT, birth_month_day TEXT, sex TEXT)",
    );
    for (start, chunk) in birth.chunks(2_000).enumerate().map(|(i, c)| (i * 2_000, c)) {
        let values: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, (household, key, year, month_day))| {
                let n = start + i;
                // Row 1 is the header: person n is row n + 2.
                format!(
                    "({}, '{household}', '{key}', {year}, '{month_day}', '{}')",
                    n + 2,
                    copied[n].sex
                )
            })
            .collect();
        sql.rows(&format!(
            "INSERT INTO bench_person (row_number, household_id, member_key, birth_year,
                 birth_month_day, sex) VALUES {}",
            values.join(", ")
        ));
    }
    sql.rows("CREATE INDEX bench_person_member ON bench_person (household_id, member_key)");
    sql.rows(&format!(
        "UPDATE member SET
             id_number_hash = (SELECT r.id_number_hash FROM imported_roster_row r
                 JOIN bench_person p ON p.row_number = r.row_number
                 WHERE r.roster_id = '{priming_id}' AND p.household_id = member.household_id
                   AND p.member_key = member.member_key),
             birth_year = (SELECT p.birth_year FROM bench_person p
                 WHERE p.household_id = member.household_id AND p.member_key = member.member_key),
             birth_month_day = (SELECT p.birth_month_day FROM bench_person p
                 WHERE p.household_id = member.household_id AND p.member_key = member.member_key),
             sex = (SELECT p.sex FROM bench_person p
                 WHERE p.household_id = member.household_id AND p.member_key = member.member_key)
         WHERE EXISTS (SELECT 1 FROM bench_person p
             WHERE p.household_id = member.household_id AND p.member_key = member.member_key)"
    ));
    withdraw(&server, &token, &priming_id);
    sql.rows("ANALYZE");
    let seed_secs = seeding.elapsed().as_secs_f64();
    let households = households(&sql);

    eprintln!(
        "{}: seeded {households} households in {seed_secs:.0} s; timed runs start",
        backend.name()
    );
    let slices = reps + 1;
    let mut runs = Vec::new();
    let mut last = Vec::new();
    let mut xlsx_bytes = 0;
    for rep in 0..reps {
        let rows = roster(&recorded, &copied, &missing, rep, slices);
        let file = xlsx(&rows);
        xlsx_bytes = file.len();
        let yard = yardstick.insert(&rows);
        let (answer, secs) = import(
            &server,
            &token,
            &format!("registry-{rep}.xlsx"),
            XLSX,
            &file,
        );
        runs.push(Run {
            what: if rep == 0 {
                "first roster (XLSX): opens tasks".to_owned()
            } else {
                format!("newer roster {rep} (XLSX): opens tasks, settles the last run's")
            },
            secs,
            yardstick: yard,
            mismatches: answer["mismatches"].as_u64().unwrap(),
            unplaced: answer["unplaced"].as_u64(),
            open_tasks: open_tasks(&sql),
        });
        eprintln!("{}: {:?}", backend.name(), runs.last().unwrap());
        last = rows;
    }
    let mut recomputes = Vec::new();
    let mut csv_bytes = 0;
    for blank in 1..=RECOMPUTES.min(reps.max(1)) {
        let file = csv(&last, blank);
        csv_bytes = file.len();
        let yard = yardstick.insert(&last);
        let (answer, secs) = import(&server, &token, &format!("again-{blank}.csv"), CSV, &file);
        recomputes.push(Run {
            what: "the same rows again (CSV): a recompute that changes nothing".to_owned(),
            secs,
            yardstick: yard,
            mismatches: answer["mismatches"].as_u64().unwrap(),
            unplaced: answer["unplaced"].as_u64(),
            open_tasks: open_tasks(&sql),
        });
        eprintln!("{}: {:?}", backend.name(), recomputes.last().unwrap());
    }
    Measured {
        households,
        rows: last.len(),
        pool: recorded.len() / 4,
        seed_secs,
        xlsx_bytes,
        csv_bytes,
        priming,
        runs,
        recomputes,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}

fn report(backend: &Backend, m: &Measured, load_before: &str) -> String {
    let mut out = format!(
        "\n#### {} — {} households in the register ({} recorded by a phone), a roster of {} \
         rows; seeded in {:.0} s; load average {} before, {} after\n\n\
         | import | seconds | bulk `INSERT` (yardstick) | × yardstick | mismatches | unplaced | open tasks after |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        backend.name(),
        m.households,
        m.pool,
        m.rows,
        m.seed_secs,
        load_before,
        load_average(),
    );
    let line = |run: &Run| {
        format!(
            "| {} | {:.2} s | {:.3} s | {:.0}× | {} | {} | {} |\n",
            run.what,
            run.secs,
            run.yardstick,
            run.secs / run.yardstick,
            run.mismatches,
            run.unplaced.map_or("–".to_owned(), |n| n.to_string()),
            run.open_tasks
        )
    };
    out.push_str(&line(&m.priming));
    for run in m.runs.iter().chain(&m.recomputes) {
        out.push_str(&line(run));
    }
    let secs: Vec<f64> = m.runs.iter().map(|r| r.secs).collect();
    let yard: Vec<f64> = m.runs.iter().map(|r| r.yardstick).collect();
    let ratios: Vec<f64> = m.runs.iter().map(|r| r.secs / r.yardstick).collect();
    let again: Vec<f64> = m.recomputes.iter().map(|r| r.secs).collect();
    let again_ratios: Vec<f64> = m.recomputes.iter().map(|r| r.secs / r.yardstick).collect();
    let import = median(&secs);
    out.push_str(&format!(
        "\nMedian of {} imports (XLSX, {:.1} MB): **{import:.2} s**, yardstick {:.3} s, median \
         ratio {:.0}× (target ≤ {TARGET_SECS} s: {}). Recompute of the same rows (CSV, {:.1} \
         MB): median {:.2} s, {:.0}× its yardstick.\n",
        secs.len(),
        m.xlsx_bytes as f64 / 1e6,
        median(&yard),
        median(&ratios),
        if import <= TARGET_SECS {
            "met"
        } else {
            "not met"
        },
        m.csv_bytes as f64 / 1e6,
        if again.is_empty() {
            0.0
        } else {
            median(&again)
        },
        if again_ratios.is_empty() {
            0.0
        } else {
            median(&again_ratios)
        },
    ));
    out
}

fn main() {
    let smoke = std::env::args().any(|arg| arg == "--test");
    let reps = std::env::var("DOORSTEP_BENCH_REPS")
        .ok()
        .and_then(|reps| reps.parse().ok())
        .unwrap_or(if smoke { 2 } else { REPS });
    let (total, rows, pool) = if smoke {
        (2_000, 2_000, 40)
    } else {
        (HOUSEHOLDS, ROWS, POOL)
    };
    let mut out = String::new();
    for backend in Backend::all() {
        let load = load_average();
        let measured = run(&backend, total, rows, pool, reps);
        out.push_str(&report(&backend, &measured, &load));
    }
    println!("{out}");
}
