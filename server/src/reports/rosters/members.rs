//! The present members of an area with every field a roster shows: the register's plain
//! columns, its sealed ones opened, and the member's sealed details
//! (`storage::register::DETAIL_FIELDS`), each as the field's value.

use crate::access::privacy::{self, Maskable};
use crate::reports::definitions::Definitions;
use crate::storage::db::Db;
use crate::storage::register;
use crate::storage::vault::Vault;
use schema::fields::{self, Entity};
use schema::layout::FieldValue;
use sqlx::{AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// A present member with the household they live in and their fields by name.
#[derive(Debug, Clone)]
pub(super) struct RosterMember {
    pub(super) household: String,
    pub(super) key: String,
    pub(super) village: String,
    pub(super) number: String,
    pub(super) fields: Fields,
}

/// A record's fields by name, as stored.
pub(super) type Fields = BTreeMap<&'static str, FieldValue>;

/// ID numbers masked, health withheld: every field the catalog marks sensitive.
impl Maskable for RosterMember {
    fn mask(&mut self) {
        for (name, value) in self.fields.iter_mut() {
            *value = privacy::mask_value(name, value);
        }
    }
}

/// The members of the live households of the definitions' area who are present on their
/// date and meet `condition` (SQL over `h` and `m`, built from `reports::definitions`), in
/// village, household and member order (the head first, then by relation).
pub(super) async fn present(
    db: &Db,
    vault: &Vault,
    definitions: &Definitions,
    condition: &str,
) -> Result<Vec<RosterMember>, sqlx::Error> {
    let sql = format!(
        "SELECT h.id AS household_id, h.village, h.number, m.member_key, m.name,
                m.id_number_sealed, m.sex, m.birth_date_sealed, m.relation, m.labour_capacity,
                m.employment_status, m.employer_sealed, m.wants_work, m.wants_training,
                m.employment_channel, m.employment_place_area, m.details_sealed
         FROM household h JOIN member m ON m.household_id = h.id
         WHERE {household} AND {present} AND {condition}
         ORDER BY h.village, h.number, h.id, m.relation IS NULL, m.relation, m.member_key",
        household = definitions.household_in_area(),
        present = definitions.present(),
    );
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&db.pool).await?;
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
            ("employment.channel", text("employment_channel")),
            ("employment.place_area", text("employment_place_area")),
            ("intent.wants_work", flag("wants_work")),
            ("intent.wants_training", flag("wants_training")),
        ];
        let details = register::open_details(vault, sealed("details_sealed").as_deref());
        let values = stored
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name, value)))
            .chain(
                register::DETAIL_FIELDS
                    .iter()
                    .filter_map(|name| details.get(*name).map(|value| (*name, value.clone()))),
            );
        members.push(RosterMember {
            household: text("household_id").unwrap_or_default(),
            key: text("member_key").unwrap_or_default(),
            fields: read_fields(Entity::Member, values),
            village: text("village").unwrap_or_default(),
            number: text("number").unwrap_or_default(),
        });
    }
    Ok(members)
}

/// Values as stored (text, as a person would type them) read as the catalog's fields of
/// `entity`; a name the catalog lacks is left out.
pub(super) fn read_fields(
    entity: Entity,
    values: impl IntoIterator<Item = (&'static str, String)>,
) -> Fields {
    values
        .into_iter()
        .filter_map(|(name, value)| {
            let spec = fields::spec(entity, name)?;
            FieldValue::from_input(spec.kind, &value).map(|value| (spec.name, value))
        })
        .collect()
}
