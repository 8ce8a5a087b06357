//! The present members of an area with every field a roster shows: the register's plain
//! columns, its sealed ones opened, and the member's sealed details
//! (`storage::register::DETAIL_FIELDS`), each as the field's value.

use crate::access::privacy::{self, Maskable};
use crate::storage::db::Db;
use crate::storage::register;
use crate::storage::vault::Vault;
use schema::codes;
use schema::fields::{self, Entity};
use schema::ids::AreaCode;
use schema::layout::FieldValue;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// Which present members a roster lists.
#[derive(Debug, Clone, Copy)]
pub(super) enum Choice {
    Everyone,
    EmploymentStatus(&'static [&'static str]),
}

/// A present member with the household they live in and their fields by name.
#[derive(Debug, Clone)]
pub(super) struct RosterMember {
    pub(super) village: String,
    pub(super) number: String,
    pub(super) fields: BTreeMap<&'static str, FieldValue>,
}

/// ID numbers masked, health withheld: every field the catalog marks sensitive.
impl Maskable for RosterMember {
    fn mask(&mut self) {
        for (name, value) in self.fields.iter_mut() {
            *value = privacy::mask_value(name, value);
        }
    }
}

/// The present members of the live households of an area that `choice` picks, in village,
/// household and member order (the head first, then by relation).
pub(super) async fn present(
    db: &Db,
    vault: &Vault,
    area: &AreaCode,
    choice: Choice,
) -> Result<Vec<RosterMember>, sqlx::Error> {
    let backend = db.backend;
    let statuses: &[&str] = match choice {
        Choice::Everyone => &[],
        Choice::EmploymentStatus(statuses) => statuses,
    };
    let status_filter = if statuses.is_empty() {
        String::new()
    } else {
        format!(
            "AND m.employment_status IN ({})",
            backend.placeholders_from(3, statuses.len())
        )
    };
    let sql = format!(
        "SELECT h.village, h.number, m.name, m.id_number_sealed, m.sex, m.birth_date_sealed,
                m.relation, m.labour_capacity, m.employment_status, m.employer_sealed,
                m.wants_work, m.wants_training, m.details_sealed
         FROM household h JOIN member m ON m.household_id = h.id
         WHERE h.village LIKE {} AND h.merged_into IS NULL AND m.status = {} {status_filter}
         ORDER BY h.village, h.number, h.id, m.relation IS NULL, m.relation, m.member_key",
        backend.parameter(1),
        backend.parameter(2),
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(format!("{area}%"))
        .bind(codes::PRESENT);
    for status in statuses {
        query = query.bind(*status);
    }
    let rows = query.fetch_all(&db.pool).await?;
    let mut members = Vec::with_capacity(rows.len());
    for row in &rows {
        let text = |column: &str| -> Option<String> {
            row.try_get::<Option<String>, _>(column).ok().flatten()
        };
        let sealed = |column: &str| -> Option<Vec<u8>> {
            row.try_get::<Option<Vec<u8>>, _>(column).ok().flatten()
        };
        let opened = |column: &str| sealed(column).and_then(|s| vault.open_text(&s).ok());
        let flag = |column: &str| {
            row.try_get::<Option<i64>, _>(column)
                .ok()
                .flatten()
                .map(|flag| (if flag == 0 { "false" } else { "true" }).to_owned())
        };
        let stored = [
            ("name", text("name")),
            ("sex", text("sex")),
            ("id_number", opened("id_number_sealed")),
            ("birth_date", opened("birth_date_sealed")),
            ("relation", text("relation")),
            ("labour_capacity", text("labour_capacity")),
            ("employment.status", text("employment_status")),
            ("employment.employer", opened("employer_sealed")),
            ("intent.wants_work", flag("wants_work")),
            ("intent.wants_training", flag("wants_training")),
        ];
        let details = register::open_details(vault, sealed("details_sealed").as_deref());
        let mut fields = BTreeMap::new();
        let values = stored
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name, value)))
            .chain(
                register::DETAIL_FIELDS
                    .iter()
                    .filter_map(|name| details.get(*name).map(|value| (*name, value.clone()))),
            );
        for (name, value) in values {
            let Some(spec) = fields::spec(Entity::Member, name) else {
                continue;
            };
            if let Some(value) = FieldValue::from_input(spec.kind, &value) {
                fields.insert(spec.name, value);
            }
        }
        members.push(RosterMember {
            village: text("village").unwrap_or_default(),
            number: text("number").unwrap_or_default(),
            fields,
        });
    }
    Ok(members)
}
