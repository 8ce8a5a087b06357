//! What the benchmarks share: the villages of Lin County, and growing a register
//! by SQL copies of a few real households (see `ingest_growth.rs` for why copies).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorstep_e2e::{AreaCode, Sql};
use sqlx::Row;

/// Households written by one seeding statement per table.
const SEED_BATCH: usize = 5_000;

/// Villages of the county, from the area list that ships with the server.
pub fn villages() -> Vec<AreaCode> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../server/areas/141124-linxian.csv"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.split(',').next())
        .filter(|code| code.len() == 12)
        .filter_map(|code| AreaCode::parse_village(code).ok())
        .collect()
}

/// Turns autovacuum off on every table (PostgreSQL).
pub fn autovacuum_off(sql: &Sql) {
    let tables = sql
        .rows("SELECT tablename::TEXT AS name FROM pg_tables WHERE schemaname = current_schema()");
    for table in tables {
        let table: String = table.get("name");
        sql.rows(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = false)"
        ));
    }
}

/// The columns of `table`, in order.
fn columns(sql: &Sql, postgres: bool, table: &str) -> Vec<String> {
    let query = if postgres {
        format!(
            "SELECT column_name::TEXT AS name FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = '{table}'
             ORDER BY ordinal_position"
        )
    } else {
        format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
    };
    sql.rows(&query)
        .iter()
        .map(|row| row.get::<String, _>("name"))
        .collect()
}

/// What a copy's column holds: the template's value, or a new key where the table needs a
/// distinct one; a copy lies in `village`. `n` is the copy's number.
fn copied(postgres: bool, table: &str, column: &str, village: &str) -> Option<String> {
    let key = "'seed-' || s.n || '-' || t.";
    let expression = match (table, column) {
        // The change feed numbers itself.
        ("change", "feed") => return None,
        ("household", "id") | (_, "household_id") => format!("{key}{column}"),
        ("household", "number") => "t.number || '-' || s.n".to_owned(),
        ("household" | "document", "village") => format!("'{village}'"),
        ("change", "hash") if postgres => {
            "sha256(t.hash || convert_to(s.n::TEXT, 'UTF8'))".to_owned()
        }
        ("change", "hash") => "randomblob(32)".to_owned(),
        ("member", "id_number_hash") if postgres => "CASE WHEN t.id_number_hash IS NULL THEN NULL \
             ELSE encode(sha256(convert_to(t.id_number_hash || '-' || s.n, 'UTF8')), 'hex') END"
            .to_owned(),
        ("member", "id_number_hash") => {
            "CASE WHEN t.id_number_hash IS NULL THEN NULL ELSE lower(hex(randomblob(32))) END"
                .to_owned()
        }
        _ => format!("t.{column}"),
    };
    Some(expression)
}

/// Copies the rows of `tables` of the template households (those recorded in
/// `template_village`) `copies` times into `village`, numbering the copies from `first`.
pub fn grow(
    sql: &Sql,
    postgres: bool,
    template_village: &str,
    village: &str,
    first: usize,
    copies: usize,
    tables: &[&str],
) {
    let household_key = |table: &str| {
        if table == "household" {
            "id"
        } else {
            "household_id"
        }
    };
    for &table in tables {
        let columns = columns(sql, postgres, table);
        let (names, values): (Vec<String>, Vec<String>) = columns
            .iter()
            .filter_map(|column| Some((column.clone(), copied(postgres, table, column, village)?)))
            .unzip();
        let key = household_key(table);
        let templates = templates(sql, template_village);
        let per_statement = (SEED_BATCH / templates).max(1);
        let mut start = first;
        while start < first + copies {
            let end = (start + per_statement).min(first + copies) - 1;
            // Only numbers and the schema's own names are formatted into the SQL.
            let insert = format!(
                "INSERT INTO {table} ({names}) SELECT {values} FROM {table} t,
                 (WITH RECURSIVE series(n) AS (SELECT {start} UNION ALL
                      SELECT n + 1 FROM series WHERE n < {end}) SELECT n FROM series) s
                 WHERE t.{key} IN (SELECT household_id FROM document
                     WHERE village = '{template_village}' AND household_id NOT LIKE 'seed-%')",
                names = names.join(", "),
                values = values.join(", "),
            );
            sql.rows(&insert);
            start = end + 1;
        }
    }
}

pub fn households(sql: &Sql) -> usize {
    let count: i64 = sql.rows("SELECT COUNT(*) AS n FROM household")[0].get("n");
    usize::try_from(count).unwrap()
}

/// How many template households `template_village` holds.
fn templates(sql: &Sql, template_village: &str) -> usize {
    let count: i64 = sql.rows(&format!(
        "SELECT COUNT(*) AS n FROM document
         WHERE village = '{template_village}' AND household_id NOT LIKE 'seed-%'"
    ))[0]
        .get("n");
    usize::try_from(count).unwrap().max(1)
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}
