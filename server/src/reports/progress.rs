//! How far the work has come in an area: per village, the households recorded, visited and
//! holding open review items, summed up to any level above.

use schema::ids::AreaCode;
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;

/// The counts of one area.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub households: i64,
    /// Households with at least one visit.
    pub visited: i64,
    /// Households with an open item in the review queue.
    pub with_open_items: i64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.households += other.households;
        self.visited += other.visited;
        self.with_open_items += other.with_open_items;
    }
}

/// The counts of every village of `area` that holds a live household (merged ones are not
/// counted), by village code.
pub async fn by_village(
    pool: &AnyPool,
    area: &AreaCode,
) -> Result<BTreeMap<String, Counts>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT h.village,
                COUNT(*) AS households,
                SUM(CASE WHEN h.visit_count > 0 THEN 1 ELSE 0 END) AS visited,
                SUM(CASE WHEN EXISTS (SELECT 1 FROM review_item r
                                      WHERE r.household_id = h.id AND r.status = 'open')
                         THEN 1 ELSE 0 END) AS with_open_items
         FROM household h
         WHERE h.village LIKE $1 AND h.merged_into IS NULL
         GROUP BY h.village",
    )
    // An area code is digits only, so it holds no LIKE wildcard.
    .bind(format!("{area}%"))
    .fetch_all(pool)
    .await?;
    let mut villages = BTreeMap::new();
    for row in rows {
        villages.insert(
            row.try_get("village")?,
            Counts {
                households: row.try_get("households")?,
                visited: row.try_get("visited")?,
                with_open_items: row.try_get("with_open_items")?,
            },
        );
    }
    Ok(villages)
}

/// Village counts summed per area of `children` (each village under the child whose code it
/// starts with), and in total.
pub fn sum_under(
    villages: &BTreeMap<String, Counts>,
    children: &[AreaCode],
) -> (Vec<Counts>, Counts) {
    let mut per_child = vec![Counts::default(); children.len()];
    let mut total = Counts::default();
    for (village, counts) in villages {
        total.add(counts);
        if let Some(index) = children
            .iter()
            .position(|child| village.starts_with(child.as_str()))
        {
            per_child[index].add(counts);
        }
    }
    (per_child, total)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_villages_sum_up_to_their_township() {
        let counts = |households, visited, with_open_items| Counts {
            households,
            visited,
            with_open_items,
        };
        let villages = BTreeMap::from([
            ("141124100201".to_owned(), counts(3, 2, 1)),
            ("141124100202".to_owned(), counts(1, 0, 0)),
            ("141124101201".to_owned(), counts(5, 5, 2)),
        ]);
        let townships = [
            AreaCode::parse("141124100").unwrap(),
            AreaCode::parse("141124101").unwrap(),
            AreaCode::parse("141124102").unwrap(),
        ];
        let (per_child, total) = sum_under(&villages, &townships);
        assert_eq!(
            per_child,
            vec![counts(4, 2, 1), counts(5, 5, 2), counts(0, 0, 0)]
        );
        assert_eq!(total, counts(9, 7, 3));
    }
}
