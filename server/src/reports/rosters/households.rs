//! The list of households failing the one-employed target: one row per household, naming
//! the members who are able and willing to work and so should be helped to a job.

use super::members::RosterMember;
use super::{area_name, township_of};
use crate::reports::definitions::Definitions;
use crate::reports::sheet::{Cell, Column, ColumnKind};
use crate::storage::db::Db;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// The failing households of the area as columns and rows; `members` are their present
/// members of labour age who are able and willing (the roster's condition).
pub(super) async fn failing(
    db: &Db,
    definitions: &Definitions,
    members: &[RosterMember],
    names: &HashMap<String, String>,
) -> Result<(Vec<Column>, Vec<Vec<Cell>>), sqlx::Error> {
    let sql = format!(
        "SELECT h.id, h.village, h.number, h.head_name, h.address, h.member_count
         FROM household h
         WHERE {household} AND {failing}
         ORDER BY h.village, h.number, h.id",
        household = definitions.household_in_area(),
        failing = definitions.failing_household(),
    );
    let mut willing: HashMap<&str, Vec<&str>> = HashMap::new();
    for member in members {
        let name = member
            .fields
            .get("name")
            .and_then(|name| name.as_text())
            .unwrap_or("");
        willing
            .entry(member.household.as_str())
            .or_default()
            .push(name);
    }
    let columns = vec![
        Column::new("序号", "No.", ColumnKind::Number, 6.0),
        Column::new("乡镇", "Township", ColumnKind::Text, 12.0),
        Column::new("村", "Village", ColumnKind::Text, 12.0),
        Column::new("户编号", "Household number", ColumnKind::Digits, 20.0),
        Column::new("户主姓名", "Head of household", ColumnKind::Text, 10.0),
        Column::new("住址", "Address", ColumnKind::Text, 24.0),
        Column::new("在户人数", "Members present", ColumnKind::Number, 8.0),
        Column::new(
            "有劳动能力和就业意愿人数",
            "Able and willing to work",
            ColumnKind::Number,
            12.0,
        ),
        Column::new(
            "有劳动能力和就业意愿人员",
            "Who is able and willing",
            ColumnKind::Text,
            24.0,
        ),
    ];
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let text = |column: &str| {
                row.try_get::<Option<String>, _>(column)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            let village = text("village");
            let people = willing
                .get(text("id").as_str())
                .cloned()
                .unwrap_or_default();
            vec![
                Cell::Number(index as i64 + 1),
                Cell::text(
                    township_of(&village)
                        .map(|code| area_name(&code, names))
                        .unwrap_or_default(),
                ),
                Cell::text(area_name(&village, names)),
                Cell::text(text("number")),
                Cell::text(text("head_name")),
                Cell::text(text("address")),
                Cell::Number(row.try_get::<i64, _>("member_count").unwrap_or_default()),
                Cell::Number(people.len() as i64),
                Cell::text(people.join("、")),
            ]
        })
        .collect();
    Ok((columns, rows))
}
