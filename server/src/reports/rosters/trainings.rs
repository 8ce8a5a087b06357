//! The training roster's rows: every training of a present member, from the register's
//! training rows (migration 0009).

use super::members::{Fields, read_fields};
use super::{Source, field_column};
use crate::reports::definitions::Definitions;
use crate::reports::sheet::Column;
use crate::storage::db::Db;
use schema::fields::Entity;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// The training fields the roster shows, in order; columns of the register's training rows.
pub(super) const FIELDS: [&str; 8] = [
    "institution",
    "trade",
    "model",
    "start_date",
    "end_date",
    "completed",
    "certificate",
    "employed_on",
];

pub(super) fn columns() -> Vec<(Column, Source)> {
    FIELDS
        .iter()
        .filter_map(|name| field_column(Entity::Training, name, None))
        .collect()
}

/// A member who had a training that started by the definitions' date (a condition over `m`).
pub(super) fn had_training(definitions: &Definitions) -> String {
    format!(
        "EXISTS (SELECT 1 FROM training t WHERE t.household_id = m.household_id
                 AND t.member_key = m.member_key AND {})",
        definitions.training_started()
    )
}

/// The trainings of the area's live households that started by the date, by household and
/// member key, each member's in the order they started.
pub(super) async fn of_area(
    db: &Db,
    definitions: &Definitions,
) -> Result<HashMap<(String, String), Vec<Fields>>, sqlx::Error> {
    let sql = format!(
        "SELECT t.household_id, t.member_key, t.institution, t.trade, t.model, t.start_date,
                t.end_date, t.completed, t.certificate, t.employed_on
         FROM training t JOIN household h ON h.id = t.household_id
         WHERE {household} AND {started} AND t.member_key IS NOT NULL
         ORDER BY t.start_date IS NULL, t.start_date, t.training_id",
        household = definitions.household_in_area(),
        started = definitions.training_started(),
    );
    let mut trainings: HashMap<(String, String), Vec<Fields>> = HashMap::new();
    for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&db.pool).await? {
        let text = |column: &str| row.try_get::<Option<String>, _>(column).ok().flatten();
        let completed = row
            .try_get::<Option<i64>, _>("completed")
            .ok()
            .flatten()
            .map(|flag| (flag != 0).to_string());
        let values = FIELDS.iter().filter_map(|name| {
            let value = if *name == "completed" {
                completed.clone()
            } else {
                text(name)
            };
            value.map(|value| (*name, value))
        });
        let fields = read_fields(Entity::Training, values);
        let key = (
            text("household_id").unwrap_or_default(),
            text("member_key").unwrap_or_default(),
        );
        trainings.entry(key).or_default().push(fields);
    }
    Ok(trainings)
}
