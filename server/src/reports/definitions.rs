//! The definitions every indicator is built from, written once (`docs/INDICATORS.md` gives
//! each in Chinese and English, with its formula).
//!
//! Each definition is a SQL condition over the register's rows, as of a date: the
//! indicators of a county are counted in the database, never by reading its members into
//! memory. The conditions name their tables by these aliases: `h` a household, `m` a member,
//! `t` a training. A date and an area enter the SQL as literals: both are printed from
//! validated values (a `jiff` date is digits and hyphens, an [`AreaCode`] digits only), so
//! nothing a person typed reaches the SQL, and the planner sees the real values.
//!
//! What "as of a date" means: a member's age is placed exactly at the date, and a member who
//! moved out or died after it still counts as present on it; everything else (capacity,
//! employment, intentions) is as last recorded. A closed month keeps its figures as they
//! were when it was closed (`months.rs`).

use jiff::civil::Date;
use schema::codes;
use schema::ids::{AreaCode, AreaLevel};

/// The length of a village's area code, the longest there is.
const VILLAGE_CODE_LENGTH: usize = 12;

/// The labour age, in whole years on the date, both ends included (16 and 60 exactly count).
pub const LABOUR_AGE: (i64, i64) = (16, 60);

/// The age bands of the labour resource: first and last age of each, in order; together they
/// cover the labour age exactly.
pub const AGE_BANDS: [(i64, i64); 5] = [(16, 20), (21, 30), (31, 40), (41, 50), (51, 60)];

/// Employment after training is counted within this many months unless asked otherwise.
pub const DEFAULT_EMPLOYED_WITHIN_MONTHS: u32 = 6;

/// The most months "employed within N months" may be asked for: five years.
pub const MAX_EMPLOYED_WITHIN_MONTHS: u32 = 60;

/// The employment status of work outside the province.
pub const OUTSIDE_PROVINCE: &str = "01";

/// A list of codes as a SQL list of literals: `'01', '02'`. Only the constant code lists of
/// `schema::codes` are passed here.
fn code_list(list: &[&str]) -> String {
    list.iter()
        .map(|code| format!("'{code}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The definitions as of one date, in one area.
#[derive(Debug, Clone)]
pub struct Definitions {
    date: Date,
    area: AreaCode,
    employed_within_months: u32,
}

impl Definitions {
    /// `employed_within_months` is at most [`MAX_EMPLOYED_WITHIN_MONTHS`]; more is cut to it.
    pub fn new(area: AreaCode, date: Date, employed_within_months: u32) -> Definitions {
        Definitions {
            date,
            area,
            employed_within_months: employed_within_months.min(MAX_EMPLOYED_WITHIN_MONTHS),
        }
    }

    pub fn date(&self) -> Date {
        self.date
    }

    pub fn area(&self) -> &AreaCode {
        &self.area
    }

    pub fn employed_within_months(&self) -> u32 {
        self.employed_within_months
    }

    fn date_literal(&self) -> String {
        format!("'{}'", self.date)
    }

    /// The end of the date, in the seconds the register's times are kept in (China
    /// Standard Time, UTC+8, has no daylight saving).
    pub fn end_of_date_seconds(&self) -> i64 {
        let next = self.date.tomorrow().unwrap_or(self.date);
        next.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
            .map(|zoned| zoned.timestamp().as_second())
            .unwrap_or(i64::MAX)
    }

    /// A visit begun by the end of the date: its household counts as visited.
    pub fn visit_by_date(&self) -> String {
        format!("v.started_at < {}", self.end_of_date_seconds())
    }

    /// A visit that met the person or family (outcome `met`): its household counts as
    /// verified, its record checked at the door.
    pub fn verifying_visit() -> &'static str {
        "v.outcome = 'met'"
    }

    /// A live household of the area: in one of its villages, and not merged into another.
    /// The villages of an area are the 12-digit codes it begins, a range of the village
    /// index: a village's or a township's figures read their own households, not the
    /// register's (SQLite's `LIKE 'code%'` uses no index, so every area read them all).
    pub fn household_in_area(&self) -> String {
        let code = self.area.as_str();
        let padding = VILLAGE_CODE_LENGTH.saturating_sub(code.len());
        format!(
            "h.village BETWEEN '{code}{first}' AND '{code}{last}' AND h.merged_into IS NULL",
            first = "0".repeat(padding),
            last = "9".repeat(padding),
        )
    }

    /// A member present on the date: present now, or moved out or died after the date.
    /// One entered by mistake never was a member.
    pub fn present(&self) -> String {
        format!(
            "(m.status = '{present}' OR (m.status IN ({left}) AND m.left_on > {date}))",
            present = codes::PRESENT,
            left = code_list(codes::STATUSES_WITH_LEFT_DATE),
            date = self.date_literal(),
        )
    }

    /// A member's age in whole years on the date: NULL without a birth date. Someone born on
    /// 29 February turns a year older on 1 March in other years.
    pub fn age(&self) -> String {
        format!(
            "({year} - m.birth_year - CASE WHEN m.birth_month_day > '{month:02}-{day:02}' \
             THEN 1 ELSE 0 END)",
            year = self.date.year(),
            month = self.date.month(),
            day = self.date.day(),
        )
    }

    /// A member of labour age on the date: 16 to 60, both included.
    pub fn labour_age(&self) -> String {
        format!(
            "{} BETWEEN {} AND {}",
            self.age(),
            LABOUR_AGE.0,
            LABOUR_AGE.1
        )
    }

    /// The age band (`16-20`, …) of an age (`age`'s whole years) inside the labour age; none
    /// outside it. Counted in Rust from the ages the statements group by: a `CASE` of five
    /// ranges over every member cost a database as much as the rest of the scan.
    pub fn age_band(age: i64) -> Option<String> {
        AGE_BANDS
            .iter()
            .find(|(first, last)| (*first..=*last).contains(&age))
            .map(|(first, last)| format!("{first}-{last}"))
    }

    /// Able to work: a labour capacity that is not 03 丧失劳动力 or 04 无劳动力. A capacity not
    /// recorded counts as able, so that an empty field never hides a household from the
    /// failing-household list.
    pub fn able() -> String {
        format!(
            "(m.labour_capacity IS NULL OR m.labour_capacity NOT IN ({}))",
            code_list(codes::UNABLE_TO_WORK_CAPACITIES)
        )
    }

    /// Willing: wants work.
    pub fn willing() -> &'static str {
        "m.wants_work = 1"
    }

    /// Employed: an employment status of 01–08 (farming only, 09, is not transfer work).
    pub fn employed() -> String {
        format!(
            "m.employment_status IN ({})",
            code_list(codes::EMPLOYED_STATUSES)
        )
    }

    /// Working outside the province: employment status 01.
    pub fn outside_province() -> String {
        format!("m.employment_status = '{OUTSIDE_PROVINCE}'")
    }

    /// A member who could work on the date: of labour age, able and willing.
    pub fn could_work(&self) -> String {
        format!(
            "{} AND {} AND {}",
            self.labour_age(),
            Self::able(),
            Self::willing()
        )
    }

    /// The households failing the one-employed target on the date, as a query of their ids
    /// (`household_id`): at least one present member who could work, and no present member
    /// employed (whatever their age: an employed 62-year-old meets the target).
    ///
    /// One grouped pass over the members, not two lookups per household. A village's or a
    /// township's pass reads its own households' members, through the village index; a
    /// larger area's reads the member table in key order, already grouped by household,
    /// which costs less than sorting nearly every member by household when reached through
    /// the villages (SQLite: 0.24 against 0.37 s of CPU for a county of 100,000).
    pub fn failing_households(&self) -> String {
        let members = if self.area.level() >= AreaLevel::Township {
            format!(
                "household h JOIN member m ON m.household_id = h.id WHERE {} AND",
                self.household_in_area()
            )
        } else {
            "member m WHERE".to_owned()
        };
        format!(
            "SELECT m.household_id FROM {members} {present}
             GROUP BY m.household_id
             HAVING SUM(CASE WHEN {could_work} THEN 1 ELSE 0 END) > 0
                AND SUM(CASE WHEN {employed} THEN 1 ELSE 0 END) = 0",
            present = self.present(),
            could_work = self.could_work(),
            employed = Self::employed(),
        )
    }

    /// A household `h` failing the one-employed target on the date
    /// ([`Definitions::failing_households`]).
    pub fn failing_household(&self) -> String {
        format!("h.id IN ({})", self.failing_households())
    }

    /// A training that had started by the date (or whose start was not recorded).
    pub fn training_started(&self) -> String {
        format!(
            "(t.start_date IS NULL OR t.start_date <= {})",
            self.date_literal()
        )
    }

    /// A present member of labour age who wants training and has had none by the date.
    pub fn untrained(&self) -> String {
        format!(
            "{present} AND {labour_age} AND m.wants_training = 1
             AND NOT EXISTS (SELECT 1 FROM training t WHERE t.household_id = m.household_id
                     AND t.member_key = m.member_key AND {started})",
            present = self.present(),
            labour_age = self.labour_age(),
            started = self.training_started(),
        )
    }

    /// A training whose N months after its end have passed by the date: only those can tell
    /// whether the trainee was employed within N months.
    pub fn training_in_employment_cohort(&self) -> String {
        let months = jiff::Span::new().months(i64::from(self.employed_within_months));
        let latest_end = self.date.checked_sub(months).unwrap_or(self.date);
        format!("t.end_date <= '{latest_end}'")
    }

    /// A trainee employed within N months after the training ended (or before it ended),
    /// and by the date.
    pub fn employed_within(&self) -> String {
        format!(
            "(t.months_to_employment <= {} AND t.employed_on <= {})",
            self.employed_within_months,
            self.date_literal()
        )
    }

    /// A training that ended with a certificate or a skill level.
    pub fn certified() -> &'static str {
        "(t.certificate IS NOT NULL AND t.certificate <> '')"
    }

    /// A training completed.
    pub fn completed() -> &'static str {
        "t.completed = 1"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sqlx::AssertSqlSafe;

    /// One member row, born on `birth` (`YYYY-MM-DD`), with these fields.
    struct Person {
        key: &'static str,
        birth: Option<&'static str>,
        status: &'static str,
        left_on: Option<&'static str>,
        capacity: Option<&'static str>,
        employment: Option<&'static str>,
        wants_work: Option<i64>,
        wants_training: Option<i64>,
    }

    const NOBODY: Person = Person {
        key: "",
        birth: None,
        status: "01",
        left_on: None,
        capacity: None,
        employment: None,
        wants_work: None,
        wants_training: None,
    };

    async fn database(people: &[(&str, Person)]) -> (tempfile::TempDir, crate::storage::db::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::db::test_sqlite(dir.path()).await;
        let mut households: Vec<&str> = people.iter().map(|(h, _)| *h).collect();
        households.dedup();
        for household in households {
            sqlx::query(
                "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
                 VALUES ($1, '141124100201', x'', 0, 0)",
            )
            .bind(household)
            .execute(&db.pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO household (id, village, number, member_count, visit_count,
                     error_count, warning_count, conflict_count, search_text, updated_at)
                 VALUES ($1, '141124100201', $1, 0, 0, 0, 0, 0, '', 0)",
            )
            .bind(household)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        for (household, person) in people {
            let date = person.birth.map(|b| b.parse::<Date>().unwrap());
            sqlx::query(
                "INSERT INTO member (household_id, member_key, birth_year, birth_month_day,
                     status, left_on, labour_capacity, employment_status, wants_work,
                     wants_training)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(*household)
            .bind(person.key)
            .bind(date.map(|d| i64::from(d.year())))
            .bind(date.map(|d| format!("{:02}-{:02}", d.month(), d.day())))
            .bind(person.status)
            .bind(person.left_on)
            .bind(person.capacity)
            .bind(person.employment)
            .bind(person.wants_work)
            .bind(person.wants_training)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        (dir, db)
    }

    async fn members_where(db: &crate::storage::db::Db, condition: &str) -> Vec<String> {
        let sql = format!("SELECT m.member_key FROM member m WHERE {condition} ORDER BY 1");
        sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_all(&db.pool)
            .await
            .unwrap()
    }

    fn on(date: &str) -> Definitions {
        Definitions::new(
            AreaCode::parse("141124").unwrap(),
            date.parse().unwrap(),
            DEFAULT_EMPLOYED_WITHIN_MONTHS,
        )
    }

    #[tokio::test]
    async fn test_an_area_holds_the_households_of_its_villages_and_no_others() {
        let (_dir, db) = database(&[]).await;
        for village in [
            "141124100201",
            "141124100299",
            "141124101001",
            "141124999999",
            "141125100201",
            "141123999999",
        ] {
            sqlx::query(
                "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
                 VALUES ($1, $1, x'', 0, 0)",
            )
            .bind(village)
            .execute(&db.pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO household (id, village, number, member_count, visit_count,
                     error_count, warning_count, conflict_count, search_text, updated_at)
                 VALUES ($1, $1, $1, 0, 0, 0, 0, 0, '', 0)",
            )
            .bind(village)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let households_of = |area: &str| {
            let at = Definitions::new(
                AreaCode::parse(area).unwrap(),
                "2025-06-30".parse().unwrap(),
                DEFAULT_EMPLOYED_WITHIN_MONTHS,
            );
            let sql = format!(
                "SELECT h.id FROM household h WHERE {} ORDER BY 1",
                at.household_in_area()
            );
            let pool = db.pool.clone();
            async move {
                sqlx::query_scalar::<_, String>(AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            households_of("141124").await,
            [
                "141124100201",
                "141124100299",
                "141124101001",
                "141124999999"
            ]
        );
        assert_eq!(
            households_of("141124100").await,
            ["141124100201", "141124100299"]
        );
        assert_eq!(households_of("141124100201").await, ["141124100201"]);
        assert_eq!(households_of("1411").await.len(), 6);
    }

    #[tokio::test]
    async fn test_labour_age_takes_16_and_60_exactly_on_their_birthdays() {
        let born = |key, birth| Person {
            key,
            birth: Some(birth),
            ..NOBODY
        };
        let (_dir, db) = database(&[
            ("h1", born("turns-16-today", "2009-06-30")),
            ("h1", born("turns-16-tomorrow", "2009-07-01")),
            ("h1", born("turns-61-tomorrow", "1964-07-01")),
            ("h1", born("turned-61-today", "1964-06-30")),
            ("h1", born("leap-day", "2008-02-29")),
            ("h1", NOBODY),
        ])
        .await;
        let june_30 = on("2025-06-30");
        assert_eq!(
            members_where(&db, &june_30.labour_age()).await,
            ["leap-day", "turns-16-today", "turns-61-tomorrow"]
        );
        for (first, last) in AGE_BANDS {
            let band = Definitions::age_band(first).unwrap();
            assert_eq!(Definitions::age_band(last), Some(band.clone()));
            assert_eq!(band, format!("{first}-{last}"));
        }
        assert_eq!(Definitions::age_band(LABOUR_AGE.0 - 1), None);
        assert_eq!(Definitions::age_band(LABOUR_AGE.1 + 1), None);
        // Born on 29 February: 16 on 29 February 2024; a year older on 1 March in 2025.
        let age_on = |date: &str| {
            let sql = format!(
                "SELECT {} FROM member m WHERE m.member_key = 'leap-day'",
                on(date).age()
            );
            let pool = db.pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(age_on("2025-02-28").await, 16);
        assert_eq!(age_on("2025-03-01").await, 17);
        assert!(
            !members_where(&db, &on("2024-02-28").labour_age())
                .await
                .contains(&"leap-day".to_owned())
        );
        assert!(
            members_where(&db, &on("2024-02-29").labour_age())
                .await
                .contains(&"leap-day".to_owned())
        );
    }

    #[tokio::test]
    async fn test_present_on_a_date_counts_who_left_after_it() {
        let (_dir, db) = database(&[
            (
                "h1",
                Person {
                    key: "present",
                    ..NOBODY
                },
            ),
            (
                "h1",
                Person {
                    key: "moved-in-july",
                    status: "02",
                    left_on: Some("2025-07-01"),
                    ..NOBODY
                },
            ),
            (
                "h1",
                Person {
                    key: "died-in-june",
                    status: "03",
                    left_on: Some("2025-06-30"),
                    ..NOBODY
                },
            ),
            (
                "h1",
                Person {
                    key: "mistake",
                    status: "04",
                    ..NOBODY
                },
            ),
        ])
        .await;
        assert_eq!(
            members_where(&db, &on("2025-06-30").present()).await,
            ["moved-in-july", "present"]
        );
        assert_eq!(
            members_where(&db, &on("2025-07-01").present()).await,
            ["present"]
        );
    }

    #[tokio::test]
    async fn test_failing_households_and_the_untrained() {
        let adult = |key, capacity, employment, wants_work, wants_training| Person {
            key,
            birth: Some("1990-01-01"),
            capacity,
            employment,
            wants_work,
            wants_training,
            ..NOBODY
        };
        let (_dir, db) = database(&[
            // Failing: willing and able, nobody employed (farming does not count).
            (
                "fails",
                adult("a", Some("01"), Some("09"), Some(1), Some(1)),
            ),
            // Meets the target through an employed member.
            (
                "meets",
                adult("b", Some("01"), Some("10"), Some(1), Some(0)),
            ),
            ("meets", adult("c", Some("02"), Some("08"), Some(0), None)),
            // Willing but unable: not failing.
            (
                "unable",
                adult("d", Some("03"), Some("10"), Some(1), Some(1)),
            ),
            // Willing and able but the only employed member moved out: failing.
            ("left", adult("e", None, Some("10"), Some(1), None)),
            (
                "left",
                Person {
                    key: "f",
                    status: "02",
                    left_on: Some("2025-01-01"),
                    employment: Some("01"),
                    ..NOBODY
                },
            ),
        ])
        .await;
        let definitions = on("2025-06-30");
        let sql = format!(
            "SELECT h.id FROM household h WHERE {} ORDER BY 1",
            definitions.failing_household()
        );
        let failing: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(failing, ["fails", "left"]);
        sqlx::query(
            "INSERT INTO training (household_id, training_id, member_key, start_date)
             VALUES ('unable', 't1', 'd', '2025-07-01')",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        // d's training starts after the date: still untrained on it, not the day it starts.
        assert_eq!(
            members_where(&db, &definitions.untrained()).await,
            ["a", "d"]
        );
        assert_eq!(
            members_where(&db, &on("2025-07-01").untrained()).await,
            ["a"]
        );
    }
}
