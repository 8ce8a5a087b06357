//! The household list staff read: by area, optionally by a name, household number or whole
//! ID number, by a member's status and by what needs a clerk's attention; paged by key, so
//! that the thousandth page costs what the first does.

use crate::storage::db::Db;
use crate::storage::vault::{self, Vault};
use schema::codes;
use schema::ids::AreaCode;
use serde::Serialize;
use sqlx::Row;

/// One line of the household list.
#[derive(Debug, Clone, Serialize)]
pub struct HouseholdRow {
    pub id: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    pub address: Option<String>,
    pub member_count: i64,
    pub visit_count: i64,
    pub last_visit_at: Option<i64>,
    pub error_count: i64,
    pub warning_count: i64,
    pub conflict_count: i64,
    pub updated_at: i64,
}

/// A page of households.
#[derive(Debug, Clone, Serialize)]
pub struct HouseholdPage {
    /// Households matching the query, on every page.
    pub total: i64,
    pub limit: i64,
    /// Where the next page starts (`after`), or `None` on the last page.
    pub next: Option<String>,
    pub households: Vec<HouseholdRow>,
}

/// What a household must need a clerk for to be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attention {
    /// An open review item about it.
    OpenReview,
    /// A rule it breaks, at the error level.
    Errors,
    /// A field phones recorded differently at once.
    Conflicts,
}

impl Attention {
    pub const ALL: [Attention; 3] = [
        Attention::OpenReview,
        Attention::Errors,
        Attention::Conflicts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Attention::OpenReview => "review",
            Attention::Errors => "errors",
            Attention::Conflicts => "conflicts",
        }
    }

    fn condition(self) -> &'static str {
        match self {
            Attention::OpenReview => {
                "id IN (SELECT household_id FROM review_item WHERE status = 'open')"
            }
            Attention::Errors => "error_count > 0",
            Attention::Conflicts => "conflict_count > 0",
        }
    }
}

/// Where a page starts: just after the row with this sort key (village, household number,
/// id), written as `village:id:number` (neither a village code nor an id holds a colon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    village: String,
    number: String,
    id: String,
}

impl After {
    fn of(row: &HouseholdRow) -> After {
        After {
            village: row.village.clone(),
            number: row.number.clone(),
            id: row.id.clone(),
        }
    }

    /// The position a page's `next` named; `None` for text no page gave.
    pub fn parse(text: &str) -> Option<After> {
        let mut parts = text.splitn(3, ':');
        let (village, id, number) = (parts.next()?, parts.next()?, parts.next()?);
        (!village.is_empty() && !id.is_empty()).then(|| After {
            village: village.to_owned(),
            number: number.to_owned(),
            id: id.to_owned(),
        })
    }
}

impl std::fmt::Display for After {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.village, self.id, self.number)
    }
}

/// Which households to list, and from where.
#[derive(Debug, Clone)]
pub struct HouseholdQuery<'a> {
    /// An area of any level.
    pub area: &'a AreaCode,
    /// Part of a present member's name or the household number, or a present member's
    /// whole ID number.
    pub search: Option<&'a str>,
    /// Households with a member of this status (`codes::MEMBER_STATUS`).
    pub member_status: Option<&'a str>,
    pub attention: Option<Attention>,
    pub after: Option<&'a After>,
    pub limit: i64,
}

/// A statement's WHERE clause and its parameters, in order, as built.
struct Conditions<'a> {
    db: &'a Db,
    sql: Vec<String>,
    binds: Vec<String>,
}

impl Conditions<'_> {
    fn param(&mut self, value: String) -> String {
        self.binds.push(value);
        self.db.backend.parameter(self.binds.len())
    }

    fn clause(&self) -> String {
        self.sql.join(" AND ")
    }
}

/// Households matching `query`, in village and household-number order, `query.limit` at most.
pub async fn list(
    db: &Db,
    vault: &Vault,
    query: &HouseholdQuery<'_>,
) -> Result<HouseholdPage, sqlx::Error> {
    let mut filter = Conditions {
        db,
        sql: vec!["merged_into IS NULL".to_owned()],
        binds: Vec::new(),
    };
    let prefix = filter.param(format!("{}%", query.area.as_str()));
    filter.sql.push(format!("village LIKE {prefix}"));
    if let Some(pattern) = query.search.and_then(schema::search::like_pattern) {
        // A whole ID number is looked for by its hash, never in the search text, which holds
        // no ID numbers. An 18-character one is looked for by its hash alone: it is no name
        // and no household number, and matching the search text too would read every
        // household of the area for nothing (the register's slowest search, 0.3 s at
        // 100,000 households). Fifteen digits may be a household number as well.
        let search = query.search.unwrap_or_default();
        let hash = vault::looks_like_id_number(search).then(|| vault.lookup_hash(search));
        let by_hash = |filter: &mut Conditions<'_>, hash: String| {
            let hash = filter.param(hash);
            let present = filter.param(codes::PRESENT.to_owned());
            format!(
                "id IN (SELECT household_id FROM member
                        WHERE id_number_hash = {hash} AND status = {present})"
            )
        };
        let condition = match hash {
            Some(hash) if schema::id_number::normalised_text(search).len() == 18 => {
                by_hash(&mut filter, hash)
            }
            Some(hash) => {
                let pattern = filter.param(pattern);
                let by_number = by_hash(&mut filter, hash);
                format!("(search_text LIKE {pattern} ESCAPE '\\' OR {by_number})")
            }
            None => {
                let pattern = filter.param(pattern);
                format!("search_text LIKE {pattern} ESCAPE '\\'")
            }
        };
        filter.sql.push(condition);
    }
    if let Some(status) = query.member_status {
        let status = filter.param(status.to_owned());
        filter.sql.push(format!(
            "id IN (SELECT household_id FROM member WHERE status = {status})"
        ));
    }
    if let Some(attention) = query.attention {
        filter.sql.push(attention.condition().to_owned());
    }
    let matching = filter.clause();
    let total_sql = format!("SELECT COUNT(*) AS total FROM household WHERE {matching}");
    let mut total = sqlx::query(sqlx::AssertSqlSafe(total_sql));
    for value in &filter.binds {
        total = total.bind(value.clone());
    }
    let total: i64 = total.fetch_one(&db.pool).await?.try_get("total")?;

    if let Some(after) = query.after {
        let village = filter.param(after.village.clone());
        let number = filter.param(after.number.clone());
        let id = filter.param(after.id.clone());
        filter.sql.push(format!(
            "(village, number, id) > ({village}, {number}, {id})"
        ));
    }
    let limit = db.backend.parameter(filter.binds.len() + 1);
    let rows_sql = format!(
        "SELECT id, village, number, head_name, address, member_count, visit_count, last_visit_at,
                error_count, warning_count, conflict_count, updated_at
         FROM household WHERE {}
         ORDER BY village, number, id LIMIT {limit}",
        filter.clause()
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(rows_sql));
    for value in &filter.binds {
        rows = rows.bind(value.clone());
    }
    // One row more than the page tells whether there is a next one.
    let rows = rows.bind(query.limit + 1).fetch_all(&db.pool).await?;
    let mut households = rows
        .iter()
        .map(|row| {
            Ok(HouseholdRow {
                id: row.try_get("id")?,
                village: row.try_get("village")?,
                number: row.try_get("number")?,
                head_name: row.try_get("head_name")?,
                address: row.try_get("address")?,
                member_count: row.try_get("member_count")?,
                visit_count: row.try_get("visit_count")?,
                last_visit_at: row.try_get("last_visit_at")?,
                error_count: row.try_get("error_count")?,
                warning_count: row.try_get("warning_count")?,
                conflict_count: row.try_get("conflict_count")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let more = households.len() as i64 > query.limit;
    households.truncate(query.limit.max(0) as usize);
    let next = more
        .then(|| households.last().map(|row| After::of(row).to_string()))
        .flatten();
    Ok(HouseholdPage {
        total,
        limit: query.limit,
        next,
        households,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_page_position_reads_back_as_written() {
        let after = After {
            village: "141124100201".to_owned(),
            number: "0007:b".to_owned(),
            id: "h1".to_owned(),
        };
        assert_eq!(After::parse(&after.to_string()), Some(after));
        assert_eq!(After::parse("141124100201"), None);
        assert_eq!(After::parse(":h:1"), None);
    }
}
