//! The indicators of an area (a village, a township or the county) as of a date, counted in
//! SQL over the register from the conditions of `definitions`, a few statements whatever the
//! area's size: coverage; the labour resource by capacity, sex and age band; employment by
//! status and outside the province; the households failing the one-employed target and the
//! people who want training and have had none, each with its list; and training by model and
//! by institution.

use super::definitions::{AGE_BANDS, Definitions};
use schema::codes::{self, CodeList};
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, AssertSqlSafe, Row};
use std::collections::BTreeMap;

/// Every indicator of one area as of one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indicators {
    pub area: String,
    /// The area's name, when the area list has it.
    pub area_name: Option<String>,
    /// The date the figures are as of, `YYYY-MM-DD`.
    pub date: String,
    pub employed_within_months: u32,
    pub coverage: Coverage,
    pub labour: Labour,
    pub employment: Employment,
    pub failing_households: Vec<FailingHousehold>,
    pub untrained: Vec<UntrainedMember>,
    pub training: Training,
}

/// Households in the ledger, visited and verified; when and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub households: i64,
    pub visited: i64,
    pub verified: i64,
    pub present_members: i64,
    /// Present members without a birth date: no age, so outside the labour figures.
    pub members_without_birth_date: i64,
    /// Who visited: each volunteer, the households they visited and their latest visit.
    pub visitors: Vec<Visitor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visitor {
    pub volunteer: String,
    pub households: i64,
    /// Seconds since the epoch.
    pub last_visit_at: Option<i64>,
}

/// One line of a breakdown: a code with its labels, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The code, or the band (`16-20`); empty when not recorded.
    pub code: String,
    pub zh: String,
    pub en: String,
    pub count: i64,
}

/// Present members of labour age, by capacity, by sex and by age band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labour {
    pub total: i64,
    pub by_capacity: Vec<Count>,
    pub by_sex: Vec<Count>,
    pub by_age_band: Vec<Count>,
}

/// Present members of labour age by employment status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employment {
    pub by_status: Vec<Count>,
    /// Statuses 01–08.
    pub employed: i64,
    /// Status 01.
    pub outside_province: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingHousehold {
    pub household_id: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UntrainedMember {
    pub household_id: String,
    pub village: String,
    pub number: String,
    pub member_key: String,
    pub name: Option<String>,
}

/// Trainings of present members begun by the date: in all, by model and by institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Training {
    pub total: TrainingFigures,
    pub by_model: Vec<TrainingFigures>,
    pub by_institution: Vec<TrainingFigures>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingFigures {
    /// The model code or the institution's name; empty for the total and when not recorded.
    pub group: String,
    /// The model's Chinese label, for a model.
    pub label: Option<String>,
    /// People trained (a person with two trainings counts once).
    pub trainees: i64,
    pub trainings: i64,
    pub completed: i64,
    pub certificates: i64,
    /// Trainings whose N months after their end have passed by the date.
    pub cohort: i64,
    /// Of those, trainings after which the trainee was employed within N months.
    pub employed_within: i64,
    /// `employed_within / cohort`, in thousandths (exact integers survive storage and
    /// comparison); none when the cohort is empty.
    pub employed_share_permille: Option<i64>,
}

fn count(row: &sqlx::any::AnyRow, column: &str) -> Result<i64, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(column)?.unwrap_or(0))
}

fn text(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<String>, _>(column)
}

/// The lines of a breakdown in the order of `list` (then any code the list lacks, then the
/// unrecorded), each labelled from it; codes with no one are listed with 0.
fn breakdown(list: &CodeList, counted: &BTreeMap<String, i64>) -> Vec<Count> {
    let mut lines: Vec<Count> = list
        .codes
        .iter()
        .map(|code| Count {
            code: code.code.to_owned(),
            zh: code.zh.to_owned(),
            en: code.en.to_owned(),
            count: counted.get(code.code).copied().unwrap_or(0),
        })
        .collect();
    for (code, n) in counted {
        if !code.is_empty() && list.get(code).is_none() {
            lines.push(Count {
                code: code.clone(),
                zh: code.clone(),
                en: code.clone(),
                count: *n,
            });
        }
    }
    lines.push(Count {
        code: String::new(),
        zh: "未填写".to_owned(),
        en: "Not recorded".to_owned(),
        count: counted.get("").copied().unwrap_or(0),
    });
    lines
}

/// Computes every indicator of the definitions' area as of their date.
pub async fn compute(pool: &AnyPool, at: &Definitions) -> Result<Indicators, sqlx::Error> {
    let area_name: Option<String> = sqlx::query_scalar("SELECT name FROM area WHERE code = $1")
        .bind(at.area().as_str())
        .fetch_optional(pool)
        .await?;
    let coverage = coverage(pool, at).await?;
    let (coverage, labour, employment) = members(pool, at, coverage).await?;
    Ok(Indicators {
        area: at.area().to_string(),
        area_name,
        date: at.date().to_string(),
        employed_within_months: at.employed_within_months(),
        coverage,
        labour,
        employment,
        failing_households: failing_households(pool, at).await?,
        untrained: untrained(pool, at).await?,
        training: training(pool, at).await?,
    })
}

async fn coverage(pool: &AnyPool, at: &Definitions) -> Result<Coverage, sqlx::Error> {
    let in_area = at.household_in_area();
    let visit = at.visit_by_date();
    let verifying = Definitions::verifying_visit();
    let sql = format!(
        "SELECT COUNT(*) AS households,
             SUM(CASE WHEN EXISTS (SELECT 1 FROM visit v WHERE v.household_id = h.id
                 AND {visit}) THEN 1 ELSE 0 END) AS visited,
             SUM(CASE WHEN EXISTS (SELECT 1 FROM visit v WHERE v.household_id = h.id
                 AND {visit} AND {verifying}) THEN 1 ELSE 0 END) AS verified
         FROM household h WHERE {in_area}"
    );
    let row = sqlx::query(AssertSqlSafe(sql)).fetch_one(pool).await?;
    let sql = format!(
        "SELECT v.volunteer, COUNT(DISTINCT v.household_id) AS households,
             MAX(COALESCE(v.finished_at, v.started_at)) AS last_visit_at
         FROM household h JOIN visit v ON v.household_id = h.id
         WHERE {in_area} AND {visit}
         GROUP BY v.volunteer ORDER BY v.volunteer"
    );
    let visitors = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Visitor {
                volunteer: text(row, "volunteer")?.unwrap_or_default(),
                households: count(row, "households")?,
                last_visit_at: row.try_get("last_visit_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Coverage {
        households: count(&row, "households")?,
        visited: count(&row, "visited")?,
        verified: count(&row, "verified")?,
        present_members: 0,
        members_without_birth_date: 0,
        visitors,
    })
}

/// One scan of the area's present members, grouped by what the labour and employment
/// figures break down by; the breakdowns are summed from the groups.
async fn members(
    pool: &AnyPool,
    at: &Definitions,
    mut coverage: Coverage,
) -> Result<(Coverage, Labour, Employment), sqlx::Error> {
    let sql = format!(
        "SELECT COALESCE(m.labour_capacity, '') AS capacity, COALESCE(m.sex, '') AS sex,
             COALESCE(m.employment_status, '') AS status, {band} AS band,
             CASE WHEN m.birth_year IS NULL THEN 1 ELSE 0 END AS no_birth_date,
             COUNT(*) AS members
         FROM household h JOIN member m ON m.household_id = h.id
         WHERE {in_area} AND {present}
         GROUP BY COALESCE(m.labour_capacity, ''), COALESCE(m.sex, ''),
             COALESCE(m.employment_status, ''), {band},
             CASE WHEN m.birth_year IS NULL THEN 1 ELSE 0 END",
        band = at.age_band(),
        in_area = at.household_in_area(),
        present = at.present(),
    );
    let mut capacity = BTreeMap::new();
    let mut sex = BTreeMap::new();
    let mut band = BTreeMap::new();
    let mut status = BTreeMap::new();
    let mut labour_total = 0;
    for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await? {
        let n = count(&row, "members")?;
        coverage.present_members += n;
        if count(&row, "no_birth_date")? == 1 {
            coverage.members_without_birth_date += n;
        }
        let Some(age_band) = text(&row, "band")? else {
            continue;
        };
        labour_total += n;
        *band.entry(age_band).or_insert(0) += n;
        *capacity
            .entry(text(&row, "capacity")?.unwrap_or_default())
            .or_insert(0) += n;
        *sex.entry(text(&row, "sex")?.unwrap_or_default())
            .or_insert(0) += n;
        *status
            .entry(text(&row, "status")?.unwrap_or_default())
            .or_insert(0) += n;
    }
    let by_age_band = AGE_BANDS
        .iter()
        .map(|(first, last)| {
            let code = format!("{first}-{last}");
            Count {
                zh: format!("{first}–{last}岁"),
                en: format!("{first}–{last}"),
                count: band.get(&code).copied().unwrap_or(0),
                code,
            }
        })
        .collect();
    let employed = status
        .iter()
        .filter(|(code, _)| codes::is_employed_status(code))
        .map(|(_, n)| n)
        .sum();
    let outside_province = status
        .get(super::definitions::OUTSIDE_PROVINCE)
        .copied()
        .unwrap_or(0);
    Ok((
        coverage,
        Labour {
            total: labour_total,
            by_capacity: breakdown(&codes::LABOUR_CAPACITY, &capacity),
            by_sex: breakdown(&codes::SEX, &sex),
            by_age_band,
        },
        Employment {
            by_status: breakdown(&codes::EMPLOYMENT_STATUS, &status),
            employed,
            outside_province,
        },
    ))
}

async fn failing_households(
    pool: &AnyPool,
    at: &Definitions,
) -> Result<Vec<FailingHousehold>, sqlx::Error> {
    let sql = format!(
        "SELECT h.id, h.village, h.number, h.head_name FROM household h
         WHERE {} AND {} ORDER BY h.village, h.number, h.id",
        at.household_in_area(),
        at.failing_household()
    );
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(FailingHousehold {
                household_id: row.try_get("id")?,
                village: row.try_get("village")?,
                number: row.try_get("number")?,
                head_name: text(row, "head_name")?,
            })
        })
        .collect()
}

async fn untrained(pool: &AnyPool, at: &Definitions) -> Result<Vec<UntrainedMember>, sqlx::Error> {
    let sql = format!(
        "SELECT h.id, h.village, h.number, m.member_key, m.name
         FROM household h JOIN member m ON m.household_id = h.id
         WHERE {} AND {} ORDER BY h.village, h.number, h.id, m.member_key",
        at.household_in_area(),
        at.untrained()
    );
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(UntrainedMember {
                household_id: row.try_get("id")?,
                village: row.try_get("village")?,
                number: row.try_get("number")?,
                member_key: row.try_get("member_key")?,
                name: text(row, "name")?,
            })
        })
        .collect()
}

/// What training figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrainingGroup {
    All,
    Model,
    Institution,
}

/// The training figures in all, by model or by institution.
async fn training_figures(
    pool: &AnyPool,
    at: &Definitions,
    group: TrainingGroup,
) -> Result<Vec<TrainingFigures>, sqlx::Error> {
    let column = match group {
        TrainingGroup::All => None,
        TrainingGroup::Model => Some("t.model"),
        TrainingGroup::Institution => Some("t.institution"),
    };
    let (select, group_by) = match column {
        Some(column) => (
            format!("COALESCE({column}, '')"),
            format!("GROUP BY COALESCE({column}, '') ORDER BY 1"),
        ),
        None => ("''".to_owned(), String::new()),
    };
    let cohort = at.training_in_employment_cohort();
    let sql = format!(
        "SELECT {select} AS grouped,
             COUNT(DISTINCT t.household_id || '/' || t.member_key) AS trainees,
             COUNT(*) AS trainings,
             SUM(CASE WHEN {completed} THEN 1 ELSE 0 END) AS completed,
             SUM(CASE WHEN {certified} THEN 1 ELSE 0 END) AS certificates,
             SUM(CASE WHEN {cohort} THEN 1 ELSE 0 END) AS cohort,
             SUM(CASE WHEN {cohort} AND {employed} THEN 1 ELSE 0 END) AS employed_within
         FROM household h
             JOIN training t ON t.household_id = h.id
             JOIN member m ON m.household_id = t.household_id AND m.member_key = t.member_key
         WHERE {in_area} AND {present} AND {started}
         {group_by}",
        completed = Definitions::completed(),
        certified = Definitions::certified(),
        employed = at.employed_within(),
        in_area = at.household_in_area(),
        present = at.present(),
        started = at.training_started(),
    );
    let grouped = group;
    sqlx::query(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let cohort = count(row, "cohort")?;
            let employed_within = count(row, "employed_within")?;
            let group = text(row, "grouped")?.unwrap_or_default();
            let label = match grouped {
                TrainingGroup::Model => codes::TRAINING_MODEL
                    .get(&group)
                    .map(|code| code.zh.to_owned()),
                _ => None,
            };
            Ok(TrainingFigures {
                group,
                label,
                trainees: count(row, "trainees")?,
                trainings: count(row, "trainings")?,
                completed: count(row, "completed")?,
                certificates: count(row, "certificates")?,
                cohort,
                employed_within,
                employed_share_permille: (cohort > 0).then(|| employed_within * 1000 / cohort),
            })
        })
        .collect()
}

async fn training(pool: &AnyPool, at: &Definitions) -> Result<Training, sqlx::Error> {
    let total = training_figures(pool, at, TrainingGroup::All)
        .await?
        .into_iter()
        .next()
        .unwrap_or(TrainingFigures {
            group: String::new(),
            label: None,
            trainees: 0,
            trainings: 0,
            completed: 0,
            certificates: 0,
            cohort: 0,
            employed_within: 0,
            employed_share_permille: None,
        });
    Ok(Training {
        total,
        by_model: training_figures(pool, at, TrainingGroup::Model).await?,
        by_institution: training_figures(pool, at, TrainingGroup::Institution).await?,
    })
}
