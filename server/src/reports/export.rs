//! Exports: the register's members of an area as a CSV file a county office opens in a
//! spreadsheet.
//!
//! The roster is of present members. Members who moved out, died or were entered by mistake
//! are history: left out unless asked for (`include_left`), and then listed after the present
//! members of their household, each with their status, date and destination.
//!
//! ID numbers are masked unless the export is asked for in full by a role that may, and every
//! export is audited either way (`http/exports.rs`). The file is written as every report's
//! CSV is (`sheet.rs`): a value typed on a phone as `=HYPERLINK(…)` stays text on a clerk's
//! computer, and an ID number is not rounded into a number.

use crate::access::privacy;
use crate::reports::sheet::{Cell, Column, ColumnKind, Sheet};
use crate::storage::vault::Vault;
use schema::codes;
use schema::ids::AreaCode;
use sqlx::{AnyPool, Row};

/// The columns, Chinese first: the file is for county offices.
fn columns() -> Vec<Column> {
    use ColumnKind::{Digits, Text};
    [
        ("村", "village", Digits),
        ("户编号", "household number", Digits),
        ("户标识", "household id", Text),
        ("姓名", "name", Text),
        ("身份证号码", "ID number", Digits),
        ("性别", "sex", Text),
        ("出生日期", "birth date", Text),
        ("与户主关系", "relation", Text),
        ("劳动技能", "labour capacity", Text),
        ("就业状态", "employment status", Text),
        ("就业单位", "employer", Text),
        ("就业意愿", "wants work", Text),
        ("培训意愿", "wants training", Text),
        ("在户状态", "member status", Text),
        ("迁出或死亡日期", "left on", Text),
        ("迁往何处", "moved to", Text),
    ]
    .into_iter()
    .map(|(zh, en, kind)| Column::new(zh, en, kind, 12.0))
    .collect()
}

fn flag(value: Option<i64>) -> &'static str {
    match value {
        Some(0) => "否 no",
        Some(_) => "是 yes",
        None => "",
    }
}

/// The status cell: the code with its Chinese label, as a clerk reads it (`02 迁出`).
fn status_cell(code: &str) -> String {
    match codes::MEMBER_STATUS.get(code) {
        Some(status) => format!("{} {}", status.code, status.zh),
        None => code.to_owned(),
    }
}

/// The members of the live households of an area, in village, household and member order,
/// as CSV text; returns the text and the number of members listed. Only present members,
/// unless `include_left`: then the others too, after the present ones of their household.
pub async fn members_csv(
    pool: &AnyPool,
    vault: &Vault,
    area: &AreaCode,
    reveal: bool,
    include_left: bool,
) -> Result<(String, usize), sqlx::Error> {
    // The status is bound either way: `$3 = 1` lets every status through when asked.
    let rows = sqlx::query(
        "SELECT h.village, h.number, h.id AS household_id, m.name, m.id_number_sealed, m.sex,
                m.birth_date_sealed, m.relation, m.labour_capacity, m.employment_status,
                m.employer_sealed, m.wants_work, m.wants_training, m.status, m.left_on,
                m.moved_to_sealed
         FROM household h JOIN member m ON m.household_id = h.id
         WHERE h.village LIKE $1 AND h.merged_into IS NULL AND (m.status = $2 OR $3 = 1)
         ORDER BY h.village, h.number, h.id, m.status <> $2, m.member_key",
    )
    .bind(format!("{area}%"))
    .bind(codes::PRESENT)
    .bind(i64::from(include_left))
    .fetch_all(pool)
    .await?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in &rows {
        let text = |column: &str| -> String {
            row.try_get::<Option<String>, _>(column)
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        // Sealed at rest (the register's module doc says which columns are); opened here.
        let opened = |column: &str| -> Option<String> {
            row.try_get::<Option<Vec<u8>>, _>(column)
                .ok()
                .flatten()
                .and_then(|sealed| vault.open_text(&sealed).ok())
        };
        let id_number = opened("id_number_sealed")
            .map(|number| {
                if reveal {
                    number
                } else {
                    privacy::mask_id_number(&number)
                }
            })
            .unwrap_or_default();
        let flag_of = |column: &str| flag(row.try_get::<Option<i64>, _>(column).ok().flatten());
        let cells = [
            text("village"),
            text("number"),
            text("household_id"),
            text("name"),
            id_number,
            text("sex"),
            opened("birth_date_sealed").unwrap_or_default(),
            text("relation"),
            text("labour_capacity"),
            text("employment_status"),
            opened("employer_sealed").unwrap_or_default(),
            flag_of("wants_work").to_owned(),
            flag_of("wants_training").to_owned(),
            status_cell(&text("status")),
            text("left_on"),
            opened("moved_to_sealed").unwrap_or_default(),
        ];
        lines.push(cells.into_iter().map(Cell::text).collect());
    }
    let sheet = Sheet {
        name: "members".to_owned(),
        title: String::new(),
        subtitle: String::new(),
        columns: columns(),
        rows: lines,
    };
    Ok((sheet.to_csv(), rows.len()))
}
