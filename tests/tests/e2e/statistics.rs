//! Planner statistics as the register grows. On PostgreSQL the server analyses the tables an
//! upload made outgrow their statistics, in the upload's own request, so a database whose
//! autovacuum never runs (or has not run yet) is still planned from statistics. On SQLite the
//! ingest's lookups are planned on indexes with no statistics at all, and the server keeps it
//! that way.

use doorstep_e2e::{
    AreaCode, Backend, Phone, Server, Sql, TestDatabase, VILLAGE, with_check_character,
};
use sqlx::Row;
use std::collections::BTreeMap;

/// Households of the first upload: enough that `member` is past the size below which the
/// server does not bother analysing a table (8 pages).
const FIRST_UPLOAD: usize = 80;
/// Households of the second upload: enough that `member` more than doubles.
const SECOND_UPLOAD: usize = 120;

#[test]
fn test_the_server_keeps_planner_statistics_fresh_as_the_register_grows() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let sql = Sql::open(&db);
        let phone = Phone::new("registrar", &server, &db.add_device(&[VILLAGE]));
        match backend {
            Backend::Postgres { .. } => statistics_follow_growth(&sql, &phone),
            Backend::Sqlite => lookups_use_indexes_without_statistics(&sql, &phone),
        }
    }
}

/// PostgreSQL, autovacuum off: after each upload no table holds twice the pages it held at
/// its last `ANALYZE`, and `member` has been analysed at each doubling.
fn statistics_follow_growth(sql: &Sql, phone: &Phone) {
    // Only the server itself can analyse from here on.
    for table in GROWING_TABLES {
        sql.rows(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = false)"
        ));
    }
    record(phone, 0, FIRST_UPLOAD);
    phone.sync();
    let first = table_statistics(sql);
    assert_fresh(&first);
    let member = &first["member"];
    assert!(
        member.pages >= 8,
        "too small to need statistics: {member:?}"
    );
    assert!(member.analysed && member.reltuples > 0.0, "{member:?}");

    record(phone, FIRST_UPLOAD, SECOND_UPLOAD);
    phone.sync();
    let second = table_statistics(sql);
    assert_fresh(&second);
    let grown = &second["member"];
    assert!(grown.pages >= 2 * member.pages, "{member:?} → {grown:?}");
    assert!(
        grown.reltuples > 2.0 * member.reltuples,
        "member was not analysed again when it doubled: {member:?} → {grown:?}"
    );
}

/// SQLite: the server left no statistics, and the lookups an upload makes (the duplicate-ID
/// holders, their households, the rows a projection replaces) are index searches.
fn lookups_use_indexes_without_statistics(sql: &Sql, phone: &Phone) {
    record(phone, 0, FIRST_UPLOAD);
    phone.sync();
    let statistics = sql.rows("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'");
    assert!(statistics.is_empty(), "SQLite was analysed");
    for (lookup, index) in [
        (
            "SELECT household_id, id_number_hash, relation FROM member
             WHERE id_number_hash IN ('a', 'b', 'c')",
            "member_id_number_hash",
        ),
        (
            "SELECT id, number FROM household WHERE id IN ('a', 'b') AND merged_into IS NULL",
            "sqlite_autoindex_household_1",
        ),
        (
            "SELECT household_id, member_key FROM member WHERE household_id IN ('a', 'b')",
            "sqlite_autoindex_member_1",
        ),
    ] {
        let plan: Vec<String> = sql
            .rows(&format!("EXPLAIN QUERY PLAN {lookup}"))
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.iter().all(|step| step.starts_with("SEARCH"))
                && plan.iter().any(|step| step.contains(index)),
            "{lookup}: {plan:?}"
        );
    }
}

/// The tables the server keeps statistics for (`server/src/db.rs`, `GROWING_TABLES`).
const GROWING_TABLES: [&str; 11] = [
    "document",
    "change",
    "household",
    "member",
    "visit",
    "training",
    "subsidy",
    "review_item",
    "review_event",
    "quarantine",
    "audit_log",
];

#[derive(Debug)]
struct TableStatistics {
    /// Its size now.
    pages: i64,
    /// Its size at its last `ANALYZE` or `VACUUM`.
    relpages: i64,
    /// Its rows at its last `ANALYZE` (-1: never).
    reltuples: f64,
    analysed: bool,
}

fn table_statistics(sql: &Sql) -> BTreeMap<String, TableStatistics> {
    sql.rows(
        "SELECT c.relname::TEXT AS name,
                    pg_relation_size(c.oid) / current_setting('block_size')::BIGINT AS pages,
                    c.relpages::BIGINT AS relpages, c.reltuples::FLOAT8 AS reltuples,
                    CASE WHEN s.last_analyze IS NULL THEN 0 ELSE 1 END::BIGINT AS analysed
             FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
             WHERE c.relnamespace = current_schema()::regnamespace",
    )
    .iter()
    .map(|row| {
        (
            row.get("name"),
            TableStatistics {
                pages: row.get("pages"),
                relpages: row.get("relpages"),
                reltuples: row.get("reltuples"),
                analysed: row.get::<i64, _>("analysed") == 1,
            },
        )
    })
    .collect()
}

/// No table the register grows is past twice its size at its last `ANALYZE` (below 8 pages,
/// size does not matter).
fn assert_fresh(statistics: &BTreeMap<String, TableStatistics>) {
    for table in GROWING_TABLES {
        let table_statistics = &statistics[table];
        assert!(
            table_statistics.pages < 8.max(2 * table_statistics.relpages),
            "{table} outgrew its statistics: {table_statistics:?}"
        );
    }
}

/// Records households numbered from `first`: a head and three more members with ID numbers,
/// and a finished visit, as the phones did.
fn record(phone: &Phone, first: usize, count: usize) {
    let village = AreaCode::parse_village(VILLAGE).unwrap();
    for n in first..first + count {
        let household = phone.store.create_household(&village, None).unwrap();
        for (m, name) in ["户主", "配偶", "子女", "父母"].iter().enumerate() {
            phone
                .store
                .add_member(
                    &household,
                    &format!("{name}{n}"),
                    Some(&id_number(n * 4 + m)),
                )
                .unwrap();
        }
        let visit = phone.store.start_visit(&household).unwrap();
        phone
            .store
            .finish_visit(&household, &visit, "met", None, None)
            .unwrap();
    }
}

/// A valid ID number of Lin County, a different one for each `n` below 50,000.
fn id_number(n: usize) -> String {
    let first17 = format!(
        "141124{}{:02}{:02}{:03}",
        1950 + n / 1000 % 50,
        1 + n / 100 % 10,
        1 + n / 10 % 10,
        n % 1000
    );
    with_check_character(&first17)
}
