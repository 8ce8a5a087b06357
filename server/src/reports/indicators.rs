//! The indicators of an area (a village, a township or the county) as of a date, counted in
//! SQL over the register from the conditions of `definitions`, a few statements whatever the
//! area's size: coverage; the labour resource by capacity, sex and age band; employment by
//! status and outside the province; the households failing the one-employed target and the
//! people who want training and have had none, each with its list; and training by model and
//! by institution. A township's figures come with one line per village, a county's with one
//! per township (`parts`), from the same grouped statements.
//!
//! Why so few statements: each pass over the members joined to their households costs about
//! one `SELECT COUNT(*)` of them, and a county's figures must come back within a second
//! (`docs/BENCHMARKS.md`, "Indicators"). So one grouped pass gives every labour, employment
//! and coverage count of every part; one grouped pass over the members gives the failing
//! households; one pass over the trainings gives the training figures in all, by model and
//! by institution.

use super::definitions::{AGE_BANDS, Definitions};
use crate::storage::areas;
use schema::codes::{self, CodeList};
use schema::ids::{AreaCode, AreaLevel};
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
    /// One line per village of a township, per township of a county (per area one level
    /// down), every one the area list knows and any other the register holds; none for a
    /// village. Months closed before these lines existed have none.
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// The headline figures of one area inside the one asked for; the parts add up to its totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The area code of the village (or township).
    pub code: String,
    pub name: Option<String>,
    pub households: i64,
    pub visited: i64,
    pub verified: i64,
    pub present_members: i64,
    /// Present members of labour age.
    pub labour: i64,
    /// Of those, employed (statuses 01–08).
    pub employed: i64,
    /// Of those, working outside the province (status 01).
    pub outside_province: i64,
    pub failing_households: i64,
    pub untrained: i64,
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

/// The length of the codes of the areas one level inside `area`; none inside a village.
fn part_length(area: &AreaCode) -> Option<usize> {
    match area.level() {
        AreaLevel::Province => Some(4),
        AreaLevel::City => Some(6),
        AreaLevel::County => Some(9),
        AreaLevel::Township => Some(12),
        AreaLevel::Village => None,
    }
}

/// The part of `area` that a village code lies in.
fn part_of(village: &str, length: usize) -> String {
    village.get(..length).unwrap_or(village).to_owned()
}

/// Computes every indicator of the definitions' area as of their date.
///
/// The statements run in two lanes on two connections: the scan of the members (half of the
/// work) beside the others in turn, so a county's figures take about the time of the larger
/// lane on a machine with two cores (`docs/BENCHMARKS.md`, "Indicators"). Each statement reads
/// the register as it stands when it starts, as it did when they ran one after another.
pub async fn compute(pool: &AnyPool, at: &Definitions) -> Result<Indicators, sqlx::Error> {
    // Inside a village every count falls in one part, the village itself, and none is shown.
    let length = part_length(at.area()).unwrap_or(at.area().as_str().len());
    let the_rest = async {
        let area_name: Option<String> = sqlx::query_scalar("SELECT name FROM area WHERE code = $1")
            .bind(at.area().as_str())
            .fetch_optional(pool)
            .await?;
        let coverage = coverage(pool, at, length).await?;
        let failing_households = failing_households(pool, at).await?;
        let untrained = untrained(pool, at).await?;
        let training = training(pool, at).await?;
        Ok::<_, sqlx::Error>((area_name, coverage, failing_households, untrained, training))
    };
    // The visitors go with the members: it evens the two lanes out.
    let members_and_visitors = async {
        let scanned = members(pool, at, length).await?;
        Ok::<_, sqlx::Error>((scanned, visitors(pool, at).await?))
    };
    let (
        (scanned, visitors),
        (area_name, (mut coverage, mut parts), failing_households, untrained, training),
    ) = tokio::try_join!(members_and_visitors, the_rest)?;
    coverage.visitors = visitors;
    coverage.present_members = scanned.present_members;
    coverage.members_without_birth_date = scanned.members_without_birth_date;
    for (code, counted) in scanned.parts {
        let line = part(&mut parts, &code, length);
        line.present_members = counted.present_members;
        line.labour = counted.labour;
        line.employed = counted.employed;
        line.outside_province = counted.outside_province;
    }
    for household in &failing_households {
        part(&mut parts, &household.village, length).failing_households += 1;
    }
    for member in &untrained {
        part(&mut parts, &member.village, length).untrained += 1;
    }
    let parts = match part_length(at.area()) {
        Some(_) => named(pool, at.area(), parts).await?,
        None => Vec::new(),
    };
    Ok(Indicators {
        area: at.area().to_string(),
        area_name,
        date: at.date().to_string(),
        employed_within_months: at.employed_within_months(),
        coverage,
        labour: scanned.labour,
        employment: scanned.employment,
        failing_households,
        untrained,
        training,
        parts,
    })
}

/// The line of the part `village` lies in, begun when first counted.
fn part<'a>(parts: &'a mut BTreeMap<String, Part>, village: &str, length: usize) -> &'a mut Part {
    let code = part_of(village, length);
    parts.entry(code.clone()).or_insert_with(|| Part {
        code,
        ..Part::default()
    })
}

/// The parts counted, with every part the area list has inside `area` (those with no one
/// recorded show zeros), named, in code order.
async fn named(
    pool: &AnyPool,
    area: &AreaCode,
    mut parts: BTreeMap<String, Part>,
) -> Result<Vec<Part>, sqlx::Error> {
    for child in areas::children_in(pool, area).await? {
        let line = parts.entry(child.code.to_string()).or_insert_with(|| Part {
            code: child.code.to_string(),
            ..Part::default()
        });
        line.name = Some(child.name);
    }
    Ok(parts.into_values().collect())
}

/// Households, visited and verified, in all and per part. The members are counted by
/// `members`, the visitors by `visitors`.
async fn coverage(
    pool: &AnyPool,
    at: &Definitions,
    length: usize,
) -> Result<(Coverage, BTreeMap<String, Part>), sqlx::Error> {
    let mut parts = BTreeMap::new();
    let in_area = at.household_in_area();
    let visit = at.visit_by_date();
    // A join to each household's visits counted once, not a lookup per household: on
    // PostgreSQL, lookups in the select list are sub-plans whose estimated cost switches
    // its JIT compiler on, which alone took longer than the whole count.
    let sql = format!(
        "SELECT SUBSTR(h.village, 1, {length}) AS part, COUNT(*) AS households,
             COUNT(v.household_id) AS visited,
             SUM(CASE WHEN v.verifying > 0 THEN 1 ELSE 0 END) AS verified
         FROM household h
             LEFT JOIN (SELECT v.household_id,
                     SUM(CASE WHEN {verifying} THEN 1 ELSE 0 END) AS verifying
                 FROM visit v WHERE {visit} GROUP BY v.household_id) v
             ON v.household_id = h.id
         WHERE {in_area}
         GROUP BY SUBSTR(h.village, 1, {length})",
        verifying = Definitions::verifying_visit(),
    );
    let mut coverage = Coverage {
        households: 0,
        visited: 0,
        verified: 0,
        present_members: 0,
        members_without_birth_date: 0,
        visitors: Vec::new(),
    };
    for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await? {
        let line = part(&mut parts, &text(&row, "part")?.unwrap_or_default(), length);
        line.households = count(&row, "households")?;
        line.visited = count(&row, "visited")?;
        line.verified = count(&row, "verified")?;
        coverage.households += line.households;
        coverage.visited += line.visited;
        coverage.verified += line.verified;
    }
    Ok((coverage, parts))
}

/// Who visited: each volunteer, the households they visited and their latest visit.
async fn visitors(pool: &AnyPool, at: &Definitions) -> Result<Vec<Visitor>, sqlx::Error> {
    let in_area = at.household_in_area();
    let visit = at.visit_by_date();
    let sql = format!(
        "SELECT v.volunteer, COUNT(DISTINCT v.household_id) AS households,
             MAX(COALESCE(v.finished_at, v.started_at)) AS last_visit_at
         FROM household h JOIN visit v ON v.household_id = h.id
         WHERE {in_area} AND {visit}
         GROUP BY v.volunteer ORDER BY v.volunteer"
    );
    sqlx::query(AssertSqlSafe(sql))
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
        .collect()
}

/// What the scan of the present members counts: their number, the labour and employment
/// figures, and per part the member counts of its line.
struct ScannedMembers {
    present_members: i64,
    members_without_birth_date: i64,
    labour: Labour,
    employment: Employment,
    parts: BTreeMap<String, Part>,
}

/// One scan of the area's present members, grouped by part and by what the labour and
/// employment figures break down by; the breakdowns are summed from the groups.
async fn members(
    pool: &AnyPool,
    at: &Definitions,
    length: usize,
) -> Result<ScannedMembers, sqlx::Error> {
    // Grouped by the age, not its band: the band is counted from the age here, since a
    // `CASE` of ranges over every member cost more than the grouping by a few more values.
    // A member without a birth date has no age.
    let sql = format!(
        "SELECT SUBSTR(h.village, 1, {length}) AS part,
             COALESCE(m.labour_capacity, '') AS capacity, COALESCE(m.sex, '') AS sex,
             COALESCE(m.employment_status, '') AS status, {age} AS age,
             COUNT(*) AS members
         FROM household h JOIN member m ON m.household_id = h.id
         WHERE {in_area} AND {present}
         GROUP BY SUBSTR(h.village, 1, {length}), COALESCE(m.labour_capacity, ''),
             COALESCE(m.sex, ''), COALESCE(m.employment_status, ''), {age}",
        age = at.age(),
        in_area = at.household_in_area(),
        present = at.present(),
    );
    let mut capacity = BTreeMap::new();
    let mut sex = BTreeMap::new();
    let mut band = BTreeMap::new();
    let mut status = BTreeMap::new();
    let mut labour_total = 0;
    let mut present_members = 0;
    let mut members_without_birth_date = 0;
    let mut parts = BTreeMap::new();
    for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await? {
        let n = count(&row, "members")?;
        let line = part(&mut parts, &text(&row, "part")?.unwrap_or_default(), length);
        line.present_members += n;
        present_members += n;
        let age: Option<i64> = row.try_get("age")?;
        let Some(age) = age else {
            members_without_birth_date += n;
            continue;
        };
        let Some(age_band) = Definitions::age_band(age) else {
            continue;
        };
        let employment_status = text(&row, "status")?.unwrap_or_default();
        line.labour += n;
        if codes::is_employed_status(&employment_status) {
            line.employed += n;
        }
        if employment_status == super::definitions::OUTSIDE_PROVINCE {
            line.outside_province += n;
        }
        labour_total += n;
        *band.entry(age_band).or_insert(0) += n;
        *capacity
            .entry(text(&row, "capacity")?.unwrap_or_default())
            .or_insert(0) += n;
        *sex.entry(text(&row, "sex")?.unwrap_or_default())
            .or_insert(0) += n;
        *status.entry(employment_status).or_insert(0) += n;
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
    Ok(ScannedMembers {
        present_members,
        members_without_birth_date,
        labour: Labour {
            total: labour_total,
            by_capacity: breakdown(&codes::LABOUR_CAPACITY, &capacity),
            by_sex: breakdown(&codes::SEX, &sex),
            by_age_band,
        },
        employment: Employment {
            by_status: breakdown(&codes::EMPLOYMENT_STATUS, &status),
            employed,
            outside_province,
        },
        parts,
    })
}

async fn failing_households(
    pool: &AnyPool,
    at: &Definitions,
) -> Result<Vec<FailingHousehold>, sqlx::Error> {
    let sql = format!(
        "SELECT h.id, h.village, h.number, h.head_name
         FROM household h JOIN ({failing}) failing ON failing.household_id = h.id
         WHERE {in_area} ORDER BY h.village, h.number, h.id",
        failing = at.failing_households(),
        in_area = at.household_in_area(),
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

/// The training figures in all, by model and by institution, from one pass over the
/// trainings of the area's present members: the pass is kept (a common table expression
/// used three times, which both databases compute once) and grouped three ways.
async fn training(pool: &AnyPool, at: &Definitions) -> Result<Training, sqlx::Error> {
    let figures = "COUNT(DISTINCT trainee) AS trainees, COUNT(*) AS trainings,
             SUM(completed) AS completed, SUM(certified) AS certificates,
             SUM(cohort) AS cohort, SUM(employed_within) AS employed_within";
    let cohort = at.training_in_employment_cohort();
    let sql = format!(
        "WITH trained AS (
             SELECT COALESCE(t.model, '') AS model,
                 COALESCE(t.institution, '') AS institution,
                 t.household_id || '/' || t.member_key AS trainee,
                 CASE WHEN {completed} THEN 1 ELSE 0 END AS completed,
                 CASE WHEN {certified} THEN 1 ELSE 0 END AS certified,
                 CASE WHEN {cohort} THEN 1 ELSE 0 END AS cohort,
                 CASE WHEN {cohort} AND {employed} THEN 1 ELSE 0 END AS employed_within
             FROM household h
                 JOIN training t ON t.household_id = h.id
                 JOIN member m ON m.household_id = t.household_id
                     AND m.member_key = t.member_key
             WHERE {in_area} AND {present} AND {started})
         SELECT 'all' AS kind, '' AS grouped, {figures} FROM trained
         UNION ALL
         SELECT 'model' AS kind, model AS grouped, {figures} FROM trained GROUP BY model
         UNION ALL
         SELECT 'institution' AS kind, institution AS grouped, {figures} FROM trained
             GROUP BY institution
         ORDER BY 1, 2",
        completed = Definitions::completed(),
        certified = Definitions::certified(),
        employed = at.employed_within(),
        in_area = at.household_in_area(),
        present = at.present(),
        started = at.training_started(),
    );
    let mut training = Training {
        total: TrainingFigures {
            group: String::new(),
            label: None,
            trainees: 0,
            trainings: 0,
            completed: 0,
            certificates: 0,
            cohort: 0,
            employed_within: 0,
            employed_share_permille: None,
        },
        by_model: Vec::new(),
        by_institution: Vec::new(),
    };
    for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await? {
        let kind = text(&row, "kind")?.unwrap_or_default();
        let group = text(&row, "grouped")?.unwrap_or_default();
        let cohort = count(&row, "cohort")?;
        let employed_within = count(&row, "employed_within")?;
        let label = match kind.as_str() {
            "model" => codes::TRAINING_MODEL
                .get(&group)
                .map(|code| code.zh.to_owned()),
            _ => None,
        };
        let figures = TrainingFigures {
            group,
            label,
            trainees: count(&row, "trainees")?,
            trainings: count(&row, "trainings")?,
            completed: count(&row, "completed")?,
            certificates: count(&row, "certificates")?,
            cohort,
            employed_within,
            employed_share_permille: (cohort > 0).then(|| employed_within * 1000 / cohort),
        };
        match kind.as_str() {
            "model" => training.by_model.push(figures),
            "institution" => training.by_institution.push(figures),
            _ => training.total = figures,
        }
    }
    Ok(training)
}
