//! Exports: the register's members of an area as a CSV file a county office opens in a
//! spreadsheet.
//!
//! The roster is of present members. Members who moved out, died or were entered by mistake
//! are history: left out unless asked for (`include_left`), and then listed after the present
//! members of their household, each with their status, date and destination.
//!
//! ID numbers are masked unless the export is asked for in full by a role that may, and every
//! export is audited either way (`http/exports.rs`). Cells are written so that a spreadsheet
//! cannot mistake them for formulas: a value typed on a phone as `=HYPERLINK(…)` must stay
//! text on a clerk's computer.

use crate::access::privacy;
use crate::storage::vault::Vault;
use schema::codes;
use schema::ids::AreaCode;
use sqlx::{AnyPool, Row};

/// The header row, Chinese first: the file is for county offices.
const HEADER: [&str; 16] = [
    "村 village",
    "户编号 household number",
    "户标识 household id",
    "姓名 name",
    "身份证号码 ID number",
    "性别 sex",
    "出生日期 birth date",
    "与户主关系 relation",
    "劳动技能 labour capacity",
    "就业状态 employment status",
    "就业单位 employer",
    "就业意愿 wants work",
    "培训意愿 wants training",
    "在户状态 member status",
    "迁出或死亡日期 left on",
    "迁往何处 moved to",
];

/// A UTF-8 byte order mark: without it, the spreadsheet programs county offices use read a
/// CSV file as GBK and garble every Chinese character.
const BOM: &str = "\u{feff}";

/// One CSV cell: quoted when it holds a separator, a quote or a line break, and prefixed
/// with `'` when a spreadsheet would take it for a formula.
fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
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
    let mut csv = String::from(BOM);
    csv.push_str(&HEADER.map(cell).join(","));
    csv.push_str("\r\n");
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
        csv.push_str(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        csv.push_str("\r\n");
    }
    Ok((csv, rows.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("刘伟"), "刘伟");
        assert_eq!(cell("太原, 山西"), "\"太原, 山西\"");
        assert_eq!(cell("说\"好\""), "\"说\"\"好\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
    }
}
