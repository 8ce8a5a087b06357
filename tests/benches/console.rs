//! The staff console's pages on a county register of 100,000 households with 2,000 open
//! review items (issue 15: the slowest page within 300 ms; the reports pages, which compute
//! indicators, within the second issue 16 gives them), on SQLite and (when
//! `DATABASE_URL` is set) PostgreSQL, through the real `doorstep` binary. Run with
//! `cargo bench -p doorstep-e2e --bench console`; results in `docs/BENCHMARKS.md`,
//! "Console (issue 15)".
//!
//! The register is the one `generate-register` makes (`doorstep_e2e::seed::register`): real
//! phones record template households and sync them, the server finds their conflicts, rule
//! errors and duplicates, and SQL copies of their rows fill the county. A county clerk, a
//! county admin (with TOTP, for the accounts page) and an auditor (for the audit log) sign in
//! through the console's own form; each page is then read with the session cookie, as a
//! browser reads it: the time from request to the last byte of the HTML, over loopback.
//!
//! Yardsticks in the same run: `GET /healthz` (the HTTP round trip alone) and the smallest
//! signed-in page (`/password`: the session check, the navigation and a template). Each
//! page is read once untimed (and checked: 200, HTML, no sign-in page), then [`REPS`] times;
//! the median is reported.
//!
//! `-- --test` runs it on 2,000 households with 100 items as a smoke test;
//! `DOORSTEP_BENCH_REPS` sets the number of timed reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use doorstep_e2e::seed::{self, autovacuum_off};
use doorstep_e2e::{Backend, Server, Sql, TestDatabase};
use sqlx::Row;
use std::time::Instant;
use support::median;

const HOUSEHOLDS: usize = 100_000;
const REVIEW_ITEMS: usize = 2_000;
const REPS: usize = 15;
const TARGET_MS: f64 = 300.0;

/// The reports pages compute the area's indicators, whose own target is a second for a
/// county of 100,000 households (issue 16).
const INDICATORS_TARGET_MS: f64 = 1000.0;

/// One page to read, and who reads it.
struct Page {
    name: String,
    path: String,
    /// The session cookie, or none for `/healthz`.
    cookie: Option<String>,
    /// Its target; none for the yardsticks.
    target_ms: Option<f64>,
}

struct Measured {
    name: String,
    path: String,
    target_ms: Option<f64>,
    median_ms: f64,
    max_ms: f64,
    bytes: usize,
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build(),
    )
}

/// Reads a page once: its milliseconds and its body, which must be a page and not a refusal.
fn read(agent: &ureq::Agent, server: &Server, page: &Page) -> (f64, String) {
    let started = Instant::now();
    let mut request = agent.get(&format!("{}{}", server.url, page.path));
    if let Some(cookie) = &page.cookie {
        request = request.header("Cookie", cookie);
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(status, 200, "{}: {body}", page.path);
    (ms, body)
}

fn measure(server: &Server, page: &Page, reps: usize) -> Measured {
    let agent = agent();
    let (_, body) = read(&agent, server, page);
    if page.cookie.is_some() {
        assert!(
            body.contains("<html") && !body.contains("action=\"/sign-in\""),
            "{} is not a signed-in page: {body}",
            page.path
        );
    }
    let times: Vec<f64> = (0..reps).map(|_| read(&agent, server, page).0).collect();
    Measured {
        name: page.name.clone(),
        path: page.path.clone(),
        target_ms: page.target_ms,
        median_ms: median(&times),
        max_ms: times.iter().copied().fold(0.0, f64::max),
        bytes: body.len(),
    }
}

/// One value of the first row of `query`.
fn one(sql: &Sql, query: &str, column: &str) -> String {
    sql.rows(query)
        .first()
        .unwrap_or_else(|| panic!("no row: {query}"))
        .get::<String, _>(column)
}

/// Percent-encodes a query parameter's value.
fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run(backend: &Backend, households: usize, review_items: usize, reps: usize) {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let sql = Sql::open(&db);
    if db.url.is_some() {
        autovacuum_off(&sql);
    }
    let started = Instant::now();
    let register = seed::register(&db, &server, households, review_items, &mut |step| {
        eprintln!("{}: {step}", backend.name());
    });
    let seed_secs = started.elapsed().as_secs_f64();
    let open: usize = register.open_items.values().sum();

    let clerk = server.sign_in_console(&register.clerk);
    let admin = server.sign_in_console(&register.admin);
    let auditor = server.sign_in_console(&register.auditor);
    // A copy of each kind of item, far from the templates; a village with items of its own.
    let copied_item = |kind: &str| {
        one(
            &sql,
            &format!(
                "SELECT id FROM review_item WHERE kind = '{kind}' AND status = 'open'
                 AND id LIKE 'seed-%' ORDER BY id DESC LIMIT 1"
            ),
            "id",
        )
    };
    let conflict = copied_item("conflict");
    let household = one(
        &sql,
        &format!("SELECT household_id FROM review_item WHERE id = '{conflict}'"),
        "household_id",
    );
    let busy_village = one(
        &sql,
        "SELECT village FROM review_item WHERE status = 'open' AND id LIKE 'seed-%'
         GROUP BY village ORDER BY COUNT(*) DESC, village LIMIT 1",
        "village",
    );
    let total = seed::households(&sql);
    let later = sql.rows(&format!(
        "SELECT village, id, number FROM household WHERE merged_into IS NULL
         ORDER BY village, number, id LIMIT 1 OFFSET {}",
        total / 2
    ));
    let later = &later[0];
    let after = format!(
        "{}:{}:{}",
        later.get::<String, _>("village"),
        later.get::<String, _>("id"),
        later.get::<String, _>("number")
    );
    let township = &register.troubled_village.as_str()[..9];

    let page = |name: &str, path: String, cookie: &str| Page {
        name: name.to_owned(),
        path,
        cookie: Some(cookie.to_owned()),
        target_ms: Some(TARGET_MS),
    };
    let report = |name: &str, path: String| Page {
        target_ms: Some(INDICATORS_TARGET_MS),
        ..page(name, path, &clerk)
    };
    let village = register.troubled_village.as_str();
    let pages = vec![
        Page {
            name: "floor: `/healthz` (HTTP alone)".to_owned(),
            path: "/healthz".to_owned(),
            cookie: None,
            target_ms: None,
        },
        Page {
            target_ms: None,
            ..page(
                "floor: change my password (session, navigation, a small template)",
                "/password".to_owned(),
                &clerk,
            )
        },
        page("progress, county", "/progress".to_owned(), &clerk),
        page(
            "progress, township",
            format!("/progress/{township}"),
            &clerk,
        ),
        page("register, first page", "/register".to_owned(), &clerk),
        page(
            "register, a page half-way through",
            format!("/register?after={}", encoded(&after)),
            &clerk,
        ),
        page(
            "register, search by a name (one template's copies)",
            format!("/register?search={}", encoded(&register.common_name)),
            &clerk,
        ),
        page(
            "register, search by a whole ID number",
            format!("/register?search={}", register.shared_id_number),
            &clerk,
        ),
        page(
            "register, households with open review items",
            "/register?issue=review".to_owned(),
            &clerk,
        ),
        page(
            "household (a copy with a conflict)",
            format!("/register/{household}"),
            &clerk,
        ),
        page("review queue, county", "/review".to_owned(), &clerk),
        page(
            "review queue, one village",
            format!("/review?village={busy_village}"),
            &clerk,
        ),
        page(
            "review item: conflict",
            format!("/review/{conflict}"),
            &clerk,
        ),
        page(
            "review item: duplicate (two households)",
            format!("/review/{}", copied_item("duplicate")),
            &clerk,
        ),
        page(
            "review item: rule",
            format!("/review/{}", copied_item("rule")),
            &clerk,
        ),
        page("quarantine", "/quarantine".to_owned(), &clerk),
        page("devices", "/devices".to_owned(), &clerk),
        page("accounts (county admin)", "/accounts".to_owned(), &admin),
        page("audit log (auditor)", "/audit".to_owned(), &auditor),
        page("visit tasks, county", "/tasks".to_owned(), &clerk),
        page(
            "comparison: mismatches, county",
            "/comparison/mismatches".to_owned(),
            &clerk,
        ),
        page(
            "comparison: imports",
            "/comparison/imports".to_owned(),
            &clerk,
        ),
        page(
            "reports: closed months",
            "/reports/months".to_owned(),
            &clerk,
        ),
        report(
            "reports: indicators of a village",
            format!("/reports?area={village}"),
        ),
        report(
            "reports: indicators of a township",
            format!("/reports?area={township}"),
        ),
        report("reports: indicators of the county", "/reports".to_owned()),
    ];
    let measured: Vec<Measured> = pages
        .iter()
        .map(|page| measure(&server, page, reps))
        .collect();

    let floor = measured[1].median_ms;
    let slowest = measured
        .iter()
        .filter(|m| m.target_ms == Some(TARGET_MS))
        .max_by(|a, b| a.median_ms.total_cmp(&b.median_ms))
        .unwrap();
    let over: Vec<String> = measured
        .iter()
        .filter(|m| m.target_ms.is_some_and(|target| m.median_ms > target))
        .map(|m| format!("{} ({:.0} ms)", m.name, m.median_ms))
        .collect();
    println!(
        "\n#### {} — {} households, {open} open review items ({}); generated in {seed_secs:.0} s; \
         median of {reps} reads\n",
        backend.name(),
        register.households,
        register
            .open_items
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    println!("| page | path | median | max | × signed-in floor | HTML | target |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for m in &measured {
        println!(
            "| {} | `{}` | {:.1} ms | {:.1} ms | {:.1}× | {:.0} KB | {} |",
            m.name,
            if m.path.len() > 48 {
                format!("{}…", &m.path[..m.path.floor_char_boundary(48)])
            } else {
                m.path.clone()
            },
            m.median_ms,
            m.max_ms,
            m.median_ms / floor,
            m.bytes as f64 / 1024.0,
            m.target_ms
                .map_or("–".to_owned(), |target| format!("≤ {target:.0} ms")),
        );
    }
    println!(
        "\nSlowest console page (target ≤ {TARGET_MS:.0} ms): {} at {:.0} ms. {}",
        slowest.name,
        slowest.median_ms,
        if over.is_empty() {
            "Every page within its target.".to_owned()
        } else {
            format!("Over their target: {}.", over.join(", "))
        }
    );
}

fn main() {
    let smoke = std::env::args().any(|arg| arg == "--test");
    let (households, review_items) = if smoke {
        (2_000, 100)
    } else {
        (HOUSEHOLDS, REVIEW_ITEMS)
    };
    let reps = std::env::var("DOORSTEP_BENCH_REPS")
        .ok()
        .and_then(|reps| reps.parse().ok())
        .unwrap_or(if smoke { 2 } else { REPS });
    for backend in Backend::all() {
        run(&backend, households, review_items, reps);
    }
}
