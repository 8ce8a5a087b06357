//! The indicators of a county of 100,000 households (issue 16: within 1 s), on SQLite and
//! (when `DATABASE_URL` is set) PostgreSQL, through the real `doorstep` binary's
//! `GET /api/v1/reports/indicators?area=<county>`, with the yardstick of a plain
//! `SELECT COUNT(*)` over the same rows (the county's households joined to their members) in
//! the same run. Run with `cargo bench -p doorstep-e2e --bench indicators`; results in
//! `docs/BENCHMARKS.md`, "Indicators (issue 16)".
//!
//! The register: [`TEMPLATES`] template households written in SQL into the county's first
//! village, four members each (birth years over seventy years and birth days on and around
//! the labour age's edges, both sexes, every capacity and employment status, some moved out),
//! a visit for four households in five; then grown by SQL copies of their rows
//! (`support::grow`, as the other benches grow a register) into the county's first
//! [`VILLAGES`] villages. The lists are exercised at a realistic share: one household in
//! twenty fails the one-employed target (its head able, willing and of working age, nobody
//! employed), one member in ten wants training and seven in eight of those have had it, so
//! about one member in a hundred is on the untrained list. No document is read by the
//! indicators, so none is made beyond the rows the register's keys need. On PostgreSQL
//! autovacuum is off and the tables are analysed once after seeding, as the server does
//! after the writes that grow a register (`refresh_statistics`).
//!
//! `-- --test` runs it at 2,000 households as a smoke test; `DOORSTEP_BENCH_REPS` sets the
//! number of timed runs (7 by default).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use doorstep_e2e::seed::{autovacuum_off, grow, households, villages};
use doorstep_e2e::{Backend, COUNTY, Server, Sql, TestDatabase};
use std::time::Instant;
use support::median;

const HOUSEHOLDS: usize = 100_000;
const TEMPLATES: usize = 200;
const VILLAGES: usize = 50;
const REPS: usize = 7;
const TARGET_SECS: f64 = 1.0;
const COPIED_TABLES: [&str; 5] = ["document", "household", "member", "visit", "training"];

/// `n` as two digits.
fn two_digits(expression: &str) -> String {
    format!("(CASE WHEN {expression} < 10 THEN '0' ELSE '' END || ({expression}))")
}

/// Writes the template households into `village`.
fn seed_templates(sql: &Sql, village: &str) {
    let last = TEMPLATES - 1;
    // Only numbers and the area list's digits are formatted into the SQL.
    let series = format!(
        "(WITH RECURSIVE series(n) AS (SELECT 0 UNION ALL
             SELECT n + 1 FROM series WHERE n < {last}) SELECT n FROM series) s"
    );
    let id = "'tpl-' || s.n";
    let members = "(SELECT 'a' AS k, 0 AS i UNION ALL SELECT 'b', 1 UNION ALL
                    SELECT 'c', 2 UNION ALL SELECT 'd', 3) k";
    // One household in twenty fails the target: its head could work, nobody is employed.
    let failing = "s.n % 20 = 0";
    let failing_head = format!("({failing} AND k.i = 0)");
    let moved = format!("((s.n + k.i) % 41 = 0 AND NOT {failing_head})");
    let wants_training = "(s.n + k.i) % 10 = 0";
    sql.rows(&format!(
        "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
         SELECT {id}, '{village}', '', 0, 0 FROM {series}"
    ));
    sql.rows(&format!(
        "INSERT INTO household (id, village, number, head_name, member_count, visit_count,
             error_count, warning_count, conflict_count, search_text, updated_at)
         SELECT {id}, '{village}', 'T' || s.n, '户主' || s.n, 4, 1, 0, 0, 0, '', 0
         FROM {series}"
    ));
    sql.rows(&format!(
        "INSERT INTO member (household_id, member_key, name, sex, birth_year,
             birth_month_day, relation, labour_capacity, employment_status, wants_work,
             wants_training, status, left_on)
         SELECT {id}, k.k, '成员' || s.n || k.k,
             CASE WHEN (s.n + k.i) % 2 = 0 THEN '1' ELSE '2' END,
             CASE WHEN {failing_head} THEN 1980 + s.n % 20
                 ELSE 1950 + (s.n * 7 + k.i * 13) % 70 END,
             CASE (s.n + k.i) % 4 WHEN 0 THEN '01-15' WHEN 1 THEN '06-30'
                 WHEN 2 THEN '07-01' ELSE '12-31' END,
             CASE WHEN k.i = 0 THEN '01' ELSE '02' END,
             CASE WHEN {failing_head} THEN '01' ELSE CASE (s.n + k.i) % 5 WHEN 0 THEN '01'
                 WHEN 1 THEN '02' WHEN 2 THEN '05' WHEN 3 THEN '03' ELSE '04' END END,
             CASE WHEN {failing} THEN CASE WHEN k.i % 2 = 0 THEN '10' ELSE '09' END
                 WHEN k.i = 0 THEN {head_employed}
                 ELSE {anything} END,
             CASE WHEN {failing_head} OR (s.n + k.i) % 3 <> 0 THEN 1 ELSE 0 END,
             CASE WHEN {wants_training} THEN 1 ELSE 0 END,
             CASE WHEN {moved} THEN '02' ELSE '01' END,
             CASE WHEN {moved} THEN '2020-01-01' END
         FROM {series}, {members}",
        head_employed = two_digits("1 + (s.n * 3) % 8"),
        anything = two_digits("1 + (s.n * 3 + k.i) % 10"),
    ));
    sql.rows(&format!(
        "INSERT INTO visit (household_id, visit_id, volunteer, device, started_at,
             finished_at, outcome)
         SELECT {id}, 'v', 'vol-' || (s.n % 20), 'dev', 1700000000, 1700000600,
             CASE WHEN s.n % 7 = 0 THEN 'not_home' ELSE 'met' END
         FROM {series} WHERE s.n % 5 <> 0"
    ));
    // Seven in eight of those who want training have had it.
    sql.rows(&format!(
        "INSERT INTO training (household_id, training_id, member_key, institution, trade,
             model, start_date, end_date, completed, certificate, employed_on,
             months_to_employment)
         SELECT {id}, 't' || k.k, k.k, 'inst-' || (s.n % 7), 'trade', {model}, '2024-01-01',
             '2024-03-01', CASE WHEN s.n % 9 = 0 THEN 0 ELSE 1 END,
             CASE WHEN s.n % 3 = 0 THEN '01' END,
             CASE WHEN s.n % 2 = 0 THEN '2024-05-01' END,
             CASE WHEN s.n % 2 = 0 THEN 2 END
         FROM {series}, {members} WHERE {wants_training} AND s.n % 8 <> 0",
        model = two_digits("1 + s.n % 4"),
    ));
}

struct Measured {
    households: i64,
    members: i64,
    seed_secs: f64,
    indicators: Vec<f64>,
    /// The server process's CPU seconds during each request: on SQLite the whole work (the
    /// database runs inside it), on PostgreSQL only the server's side of it.
    cpu: Vec<f64>,
    count: Vec<f64>,
    failing: usize,
    untrained: usize,
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
    let used = (total / TEMPLATES).clamp(1, VILLAGES);
    let copies = (total / (used * TEMPLATES)).max(1);
    let template_village = villages[0].as_str();
    let started = Instant::now();
    seed_templates(&sql, template_village);
    for (v, village) in villages.iter().take(used).enumerate() {
        // The template village holds the templates themselves and one copy fewer.
        let copies_here = if v == 0 { copies - 1 } else { copies };
        grow(
            &sql,
            postgres,
            template_village,
            village.as_str(),
            v * copies,
            copies_here,
            &COPIED_TABLES,
        );
    }
    if postgres {
        sql.rows("ANALYZE");
    }
    let seed_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}: {} households seeded in {seed_secs:.0} s",
        backend.name(),
        households(&sql)
    );
    let token = server.staff_token(&db, COUNTY, "bench");
    let path = format!("/api/v1/reports/indicators?area={COUNTY}");
    let yardstick = format!(
        "SELECT COUNT(*) AS n FROM household h JOIN member m ON m.household_id = h.id
         WHERE h.village LIKE '{COUNTY}%' AND h.merged_into IS NULL"
    );
    // One untimed run of each warms the caches.
    let (status, report) = server.get_json(&path, &token);
    assert_eq!(status, 200, "{report}");
    let members: i64 = sqlx::Row::get(&sql.rows(&yardstick)[0], "n");
    let mut indicators = Vec::new();
    let mut count = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..reps {
        let cpu_before = server.cpu_secs();
        let started = Instant::now();
        let (status, _) = server.get_json(&path, &token);
        indicators.push(started.elapsed().as_secs_f64());
        cpu.push(server.cpu_secs() - cpu_before);
        assert_eq!(status, 200);
        let started = Instant::now();
        sql.rows(&yardstick);
        count.push(started.elapsed().as_secs_f64());
    }
    let figures = &report["figures"];
    Measured {
        households: figures["coverage"]["households"].as_i64().unwrap(),
        members,
        seed_secs,
        indicators,
        cpu,
        count,
        failing: figures["failing_households"].as_array().unwrap().len(),
        untrained: figures["untrained"].as_array().unwrap().len(),
    }
}

fn main() {
    let smoke = std::env::args().any(|arg| arg == "--test");
    let total = if smoke { 2_000 } else { HOUSEHOLDS };
    let reps = std::env::var("DOORSTEP_BENCH_REPS")
        .ok()
        .and_then(|reps| reps.parse().ok())
        .unwrap_or(if smoke { 1 } else { REPS });
    let mut out = format!(
        "\n| backend | households | member rows | failing households | untrained | seeding | \
         indicators (API), median | min – max | server CPU, median | `SELECT COUNT(*)`, median | ratio | ≤ {TARGET_SECS} s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    );
    for backend in Backend::all() {
        let m = run(&backend, total, reps);
        let mid = median(&m.indicators);
        let min = m.indicators.iter().copied().fold(f64::INFINITY, f64::min);
        let max = m.indicators.iter().copied().fold(0.0, f64::max);
        let count = median(&m.count);
        eprintln!(
            "{}: {} households, indicators {:.0} ms, count {:.1} ms, {} failing, {} untrained",
            backend.name(),
            m.households,
            mid * 1000.0,
            count * 1000.0,
            m.failing,
            m.untrained
        );
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} s | {:.0} ms | {:.0} – {:.0} ms | {:.0} ms | {:.1} ms | {:.0}× | {} |\n",
            backend.name(),
            m.households,
            m.members,
            m.failing,
            m.untrained,
            m.seed_secs,
            mid * 1000.0,
            min * 1000.0,
            max * 1000.0,
            median(&m.cpu) * 1000.0,
            count * 1000.0,
            mid / count,
            if mid <= TARGET_SECS { "met" } else { "not met" }
        ));
    }
    println!("{out}");
}
