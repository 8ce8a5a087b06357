//! The indicators of a hand-checked fixture village, recorded on a real phone store and
//! synced to the real server, on both backends. Every expected figure below was worked out
//! by hand from the fixture's table (the comments show the sums), not by the code under test.
//!
//! The date is 2030-06-30, so that every visit (recorded today) is before it. On that day the
//! labour age (16–60 inclusive) is a birth date from 1969-07-01 to 2014-06-30.

use doorstep_e2e::{Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE};
use schema::ids::{AreaCode, HouseholdId, MemberKey};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const DATE: &str = "2030-06-30";

/// One member as recorded: name, sex, birth date, labour capacity, employment status, wants
/// work, wants training, and a status with its date when they left.
struct Person {
    name: &'static str,
    sex: &'static str,
    birth: &'static str,
    capacity: &'static str,
    employment: &'static str,
    wants_work: &'static str,
    wants_training: &'static str,
    left: Option<(&'static str, &'static str)>,
}

/// A person: `p("H01", "1", "1980-03-01", "01", "01", "1", "0")`.
const fn p(
    name: &'static str,
    sex: &'static str,
    birth: &'static str,
    capacity: &'static str,
    employment: &'static str,
    wants_work: &'static str,
    wants_training: &'static str,
) -> Person {
    Person {
        name,
        sex,
        birth,
        capacity,
        employment,
        wants_work,
        wants_training,
        left: None,
    }
}

const fn left(person: Person, status: &'static str, on: &'static str) -> Person {
    Person {
        left: Some((status, on)),
        ..person
    }
}

/// A training: the trainee's name, institution, model, start, end, completed, certificate,
/// employed on.
struct Course {
    trainee: &'static str,
    institution: &'static str,
    model: &'static str,
    start: &'static str,
    end: &'static str,
    completed: &'static str,
    certificate: &'static str,
    employed_on: &'static str,
}

const SCHOOL: &str = "临县职业学校";
const CARERS: &str = "吕梁护工培训中心";

/// The fixture: (household number, village, visit outcome or none, members). Ages are on
/// 2030-06-30.
fn households() -> Vec<(
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<Person>,
)> {
    let v = VILLAGE;
    let met = Some("met");
    vec![
        // One employed head in each bucket 01–08.
        (
            "H01",
            v,
            met,
            vec![p("H01a", "1", "1980-03-01", "01", "01", "1", "0")],
        ), // 50
        (
            "H02",
            v,
            met,
            vec![p("H02a", "2", "1985-05-05", "01", "02", "1", "0")],
        ), // 45
        (
            "H03",
            v,
            met,
            vec![p("H03a", "1", "1975-01-01", "02", "03", "1", "0")],
        ), // 55
        (
            "H04",
            v,
            met,
            vec![p("H04a", "1", "1990-02-02", "01", "04", "1", "0")],
        ), // 40
        (
            "H05",
            v,
            met,
            vec![p("H05a", "2", "1992-03-03", "05", "05", "1", "0")],
        ), // 38
        (
            "H06",
            v,
            met,
            vec![p("H06a", "1", "1971-04-04", "01", "06", "1", "0")],
        ), // 59
        (
            "H07",
            v,
            met,
            vec![p("H07a", "1", "1988-07-07", "02", "07", "1", "0")],
        ), // 41
        (
            "H08",
            v,
            met,
            vec![p("H08a", "2", "1995-08-08", "01", "08", "1", "0")],
        ), // 34
        // Failing: farming (09) is not employment; the spouse wants training, has had none.
        (
            "H09",
            v,
            met,
            vec![
                p("H09a", "1", "1983-09-09", "01", "09", "1", "0"), // 46
                p("H09b", "2", "1984-01-01", "01", "10", "0", "1"), // 46, untrained
            ],
        ),
        // Failing: weak labour (05) is able.
        (
            "H10",
            v,
            met,
            vec![p("H10a", "2", "1979-01-01", "05", "10", "1", "0")],
        ), // 51
        // Willing but capacity lost (03): not failing.
        (
            "H11",
            v,
            met,
            vec![p("H11a", "1", "1970-10-10", "03", "10", "1", "0")],
        ), // 59
        // Able but not willing: not failing.
        (
            "H12",
            v,
            met,
            vec![p("H12a", "1", "1981-01-01", "01", "10", "0", "0")],
        ), // 49
        // 16 exactly today: failing through the child alone (the head turned 61 today);
        // the child wants training: untrained.
        (
            "H13",
            v,
            met,
            vec![
                p("H13a", "1", "1969-06-30", "01", "10", "1", "0"), // 61
                p("H13b", "1", "2014-06-30", "01", "10", "1", "1"), // 16
            ],
        ),
        // 60 until tomorrow: failing through the head; the child turns 16 tomorrow and
        // wants training, but is not of labour age.
        (
            "H14",
            v,
            met,
            vec![
                p("H14a", "1", "1969-07-01", "01", "10", "1", "0"), // 60
                p("H14b", "2", "2014-07-01", "01", "10", "1", "1"), // 15
            ],
        ),
        // 61 today, willing: not of labour age, not failing.
        (
            "H15",
            v,
            met,
            vec![p("H15a", "1", "1969-06-30", "01", "10", "1", "1")],
        ), // 61
        // The only employed member moved out: failing. His training does not count.
        (
            "H16",
            v,
            met,
            vec![
                p("H16a", "2", "1980-01-01", "01", "10", "1", "0"), // 50
                left(
                    p("H16b", "1", "1982-01-01", "01", "01", "0", "0"),
                    "02",
                    "2025-01-01",
                ),
            ],
        ),
        // Capacity none (04), not of labour age; the deceased member does not count.
        (
            "H17",
            v,
            met,
            vec![
                p("H17a", "1", "1960-01-01", "04", "10", "0", "0"), // 70
                left(
                    p("H17b", "1", "1975-01-01", "01", "10", "1", "1"),
                    "03",
                    "2024-05-01",
                ),
            ],
        ),
        // An entry made by mistake never counts.
        (
            "H18",
            v,
            met,
            vec![
                p("H18a", "1", "1990-01-01", "01", "01", "0", "0"), // 40
                left(
                    p("H18b", "2", "1990-01-01", "01", "10", "1", "1"),
                    "04",
                    "2025-01-01",
                ),
            ],
        ),
        // Capacity lost (03) and none (04), of labour age.
        (
            "H19",
            v,
            met,
            vec![
                p("H19a", "1", "1975-01-01", "03", "10", "0", "0"), // 55
                p("H19b", "2", "1977-01-01", "04", "10", "0", "0"), // 53
            ],
        ),
        // Trainees (their trainings below).
        (
            "H20",
            v,
            met,
            vec![p("H20a", "1", "1990-01-15", "02", "01", "1", "1")],
        ), // 40
        (
            "H21",
            v,
            met,
            vec![p("H21a", "2", "1993-01-01", "01", "10", "1", "1")],
        ), // 37, failing
        (
            "H22",
            v,
            met,
            vec![p("H22a", "1", "1991-01-01", "01", "07", "1", "1")],
        ), // 39
        (
            "H23",
            v,
            met,
            vec![p("H23a", "2", "1987-01-01", "02", "02", "1", "0")],
        ), // 43
        // Training starts tomorrow: untrained today, and failing.
        (
            "H24",
            v,
            met,
            vec![p("H24a", "1", "1994-01-01", "01", "10", "1", "1")],
        ), // 36
        (
            "H25",
            v,
            met,
            vec![p("H25a", "2", "1996-01-01", "01", "08", "1", "1")],
        ), // 34, untrained
        // No birth date: no age, outside the labour figures.
        (
            "H26",
            v,
            met,
            vec![p("H26a", "1", "", "01", "10", "1", "1")],
        ),
        // Another village of the township: in the county's figures, not the village's.
        (
            "H27",
            OTHER_VILLAGE,
            met,
            vec![p("H27a", "1", "1985-01-01", "01", "10", "1", "0")],
        ),
        // An employed 62-year-old meets the target for the household.
        (
            "H28",
            v,
            met,
            vec![
                p("H28a", "1", "1968-01-01", "01", "01", "0", "0"), // 62
                p("H28b", "1", "2000-01-01", "01", "10", "1", "0"), // 30
            ],
        ),
        // Two outside the province; visited, nobody home: not verified.
        (
            "H29",
            v,
            Some("not_home"),
            vec![
                p("H29a", "1", "1980-01-01", "01", "01", "1", "0"), // 50
                p("H29b", "2", "1982-01-01", "01", "01", "1", "0"), // 48
            ],
        ),
        // Never visited.
        (
            "H30",
            v,
            None,
            vec![p("H30a", "2", "1999-01-01", "01", "03", "1", "0")],
        ), // 31
    ]
}

fn courses() -> Vec<Course> {
    let c = |trainee, institution, model, start, end, completed, certificate, employed_on| Course {
        trainee,
        institution,
        model,
        start,
        end,
        completed,
        certificate,
        employed_on,
    };
    vec![
        // Certificate, employed 1.5 months after: within 6 (cohort: ended by 2029-12-30).
        c(
            "H20a",
            SCHOOL,
            "01",
            "2029-01-01",
            "2029-03-31",
            "1",
            "01",
            "2029-05-15",
        ),
        // No certificate, not employed; in the cohort.
        c(
            "H21a",
            SCHOOL,
            "01",
            "2029-04-01",
            "2029-06-30",
            "1",
            "",
            "",
        ),
        // Not completed, ended too recently for the cohort.
        c(
            "H22a",
            CARERS,
            "03",
            "2030-03-01",
            "2030-05-31",
            "0",
            "",
            "2030-03-01",
        ),
        // Employed 7 months after (29 Feb + 6 months = 29 Aug < 1 Sep): not within 6.
        c(
            "H23a",
            CARERS,
            "02",
            "2028-01-01",
            "2028-02-29",
            "1",
            "07",
            "2028-09-01",
        ),
        // Starts after the date: not counted.
        c("H24a", SCHOOL, "01", "2030-07-01", "2030-08-31", "", "", ""),
        // Of a member who moved out: not counted.
        c(
            "H16b",
            SCHOOL,
            "01",
            "2024-01-01",
            "2024-02-01",
            "1",
            "07",
            "2024-03-01",
        ),
    ]
}

/// Records the fixture on one phone (enrolled in both villages) and syncs it; returns the
/// household id of each household number, and the member key of each name.
fn record(
    phone: &Phone,
) -> (
    BTreeMap<&'static str, HouseholdId>,
    BTreeMap<&'static str, MemberKey>,
) {
    let store = &phone.store;
    let mut ids = BTreeMap::new();
    let mut keys = BTreeMap::new();
    for (number, village, outcome, people) in households() {
        let village = AreaCode::parse_village(village).unwrap();
        let household = store.create_household(&village, Some(number)).unwrap();
        for (n, person) in people.iter().enumerate() {
            let key = store.add_member(&household, person.name, None).unwrap();
            let field = |name: &str| format!("members.{key}.{name}");
            let mut edits = vec![
                (field("relation"), if n == 0 { "01" } else { "02" }),
                (field("sex"), person.sex),
                (field("birth_date"), person.birth),
                (field("labour_capacity"), person.capacity),
                (field("employment.status"), person.employment),
                (field("intent.wants_work"), person.wants_work),
                (field("intent.wants_training"), person.wants_training),
            ];
            if let Some((status, on)) = person.left {
                edits.push((field("status"), status));
                edits.push((field("left_on"), on));
            }
            let edits: Vec<(&str, &str)> = edits
                .iter()
                .filter(|(_, value)| !value.is_empty())
                .map(|(path, value)| (path.as_str(), *value))
                .collect();
            store.set_fields(&household, &edits).unwrap();
            keys.insert(person.name, key);
        }
        if let Some(outcome) = outcome {
            let visit = store.start_visit(&household).unwrap();
            store
                .finish_visit(&household, &visit, outcome, None, None)
                .unwrap();
        }
        ids.insert(number, household);
    }
    for course in courses() {
        let number = &course.trainee[..3];
        let household = &ids[number];
        let training = store
            .add_training(household, &keys[course.trainee])
            .unwrap();
        let field = |name: &str| format!("trainings.{training}.{name}");
        let edits = [
            (field("institution"), course.institution),
            (field("model"), course.model),
            (field("start_date"), course.start),
            (field("end_date"), course.end),
            (field("completed"), course.completed),
            (field("certificate"), course.certificate),
            (field("employed_on"), course.employed_on),
        ];
        let edits: Vec<(&str, &str)> = edits
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(path, value)| (path.as_str(), *value))
            .collect();
        store.set_fields(household, &edits).unwrap();
    }
    phone.sync();
    (ids, keys)
}

/// The count of `code` in a breakdown.
fn count(lines: &Value, code: &str) -> i64 {
    lines
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["code"] == code)
        .map_or(0, |line| line["count"].as_i64().unwrap())
}

/// The figures of one training group.
fn group<'a>(groups: &'a Value, name: &str) -> &'a Value {
    groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name}: {groups}"))
}

fn figures_of(group: &Value) -> [i64; 6] {
    [
        "trainees",
        "trainings",
        "completed",
        "certificates",
        "cohort",
        "employed_within",
    ]
    .map(|name| group[name].as_i64().unwrap())
}

fn indicators(server: &Server, token: &str, query: &str) -> Value {
    let (status, report) = server.get_json(&format!("/api/v1/reports/indicators?{query}"), token);
    assert_eq!(status, 200, "{report}");
    report
}

#[test]
fn test_the_fixture_villages_indicators_are_the_hand_counted_figures() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new(
            "fixture",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        let (_, keys) = record(&phone);
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let report = indicators(&server, &staff, &format!("area={VILLAGE}&date={DATE}"));
        let figures = &report["figures"];
        assert_eq!(figures["date"], DATE);
        assert!(report["closed"].is_null());

        // Coverage: H01–H30 but H27 (another village) = 29; all visited but H30 = 28; all
        // visits met but H29's = 27. Present members: 8 (H01–H08) + 2 + 3 (H10–H12) + 2 + 2
        // + 1 (H15) + 1 (H16) + 1 (H17) + 1 (H18) + 2 (H19) + 6 (H20–H25) + 1 (H26) + 2 (H28)
        // + 2 (H29) + 1 (H30) = 35; one without a birth date (H26).
        let coverage = &figures["coverage"];
        assert_eq!(coverage["households"], 29, "{coverage}");
        assert_eq!(coverage["visited"], 28);
        assert_eq!(coverage["verified"], 27);
        assert_eq!(coverage["present_members"], 35);
        assert_eq!(coverage["members_without_birth_date"], 1);
        assert_eq!(coverage["visitors"][0]["volunteer"], "volunteer of fixture");
        assert_eq!(coverage["visitors"][0]["households"], 28);

        // Labour age: 35 present, less the 61-year-olds (H13a, H15a), the 15-year-old
        // (H14b), the 70-year-old (H17a), the 62-year-old (H28a), no birth date (H26a) = 29.
        let labour = &figures["labour"];
        assert_eq!(labour["total"], 29, "{labour}");
        // 02: H03, H07, H20, H23; 05: H05, H10; 03: H11, H19a; 04: H19b; 01 the other 20.
        for (code, n) in [
            ("01", 20),
            ("02", 4),
            ("05", 2),
            ("03", 2),
            ("04", 1),
            ("", 0),
        ] {
            assert_eq!(count(&labour["by_capacity"], code), n, "capacity {code}");
        }
        // Women: H02 H05 H08 H09b H10 H16a H19b H21 H23 H25 H29b H30 = 12; men 17.
        assert_eq!(count(&labour["by_sex"], "1"), 17);
        assert_eq!(count(&labour["by_sex"], "2"), 12);
        // 16–20: H13b (16). 21–30: H28b (30). 31–40: H04 H05 H08 H18 H20 H21 H22 H24 H25
        // H30. 41–50: H01 H02 H07 H09a H09b H12 H16a H23 H29a H29b. 51–60: H03 H06 H10 H11
        // H14a (60) H19a H19b.
        for (band, n) in [
            ("16-20", 1),
            ("21-30", 1),
            ("31-40", 10),
            ("41-50", 10),
            ("51-60", 7),
        ] {
            assert_eq!(count(&labour["by_age_band"], band), n, "band {band}");
        }

        // Employment of the 29: 01 H01 H18 H20 H29a H29b; 02 H02 H23; 03 H03 H30; 04 H04;
        // 05 H05; 06 H06; 07 H07 H22; 08 H08 H25; 09 H09a; 10 the other 12.
        let employment = &figures["employment"];
        for (code, n) in [
            ("01", 5),
            ("02", 2),
            ("03", 2),
            ("04", 1),
            ("05", 1),
            ("06", 1),
            ("07", 2),
            ("08", 2),
            ("09", 1),
            ("10", 12),
        ] {
            assert_eq!(count(&employment["by_status"], code), n, "status {code}");
        }
        assert_eq!(employment["employed"], 16);
        assert_eq!(employment["outside_province"], 5);

        let numbers = |list: &Value, field: &str| -> Vec<String> {
            let mut numbers: Vec<String> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|line| line[field].as_str().unwrap().to_owned())
                .collect();
            numbers.sort();
            numbers
        };
        assert_eq!(
            numbers(&figures["failing_households"], "number"),
            ["H09", "H10", "H13", "H14", "H16", "H21", "H24"]
        );
        assert_eq!(
            numbers(&figures["untrained"], "name"),
            ["H09b", "H13b", "H24a", "H25a"]
        );
        let untrained_key = figures["untrained"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "H13b")
            .unwrap()["member_key"]
            .clone();
        assert_eq!(untrained_key, keys["H13b"].to_string());

        // Trainings of present members begun by the date: H20 H21 H22 H23. Completed: all
        // but H22's; certificates: H20's and H23's; the cohort (ended by 2029-12-30): H20
        // H21 H23; employed within 6 months: H20's only.
        let training = &figures["training"];
        assert_eq!(figures_of(&training["total"]), [4, 4, 3, 2, 3, 1]);
        assert_eq!(training["total"]["employed_share_permille"], 333);
        assert_eq!(
            figures_of(group(&training["by_model"], "01")),
            [2, 2, 2, 1, 2, 1]
        );
        assert_eq!(
            group(&training["by_model"], "01")["employed_share_permille"],
            500
        );
        assert_eq!(
            figures_of(group(&training["by_model"], "02")),
            [1, 1, 1, 1, 1, 0]
        );
        assert_eq!(
            figures_of(group(&training["by_model"], "03")),
            [1, 1, 0, 0, 0, 0]
        );
        assert!(group(&training["by_model"], "03")["employed_share_permille"].is_null());
        assert_eq!(
            figures_of(group(&training["by_institution"], SCHOOL)),
            [2, 2, 2, 1, 2, 1]
        );
        assert_eq!(
            figures_of(group(&training["by_institution"], CARERS)),
            [2, 2, 1, 1, 1, 0]
        );
        // Within 8 months, H23's counts too.
        let within_8 = indicators(
            &server,
            &staff,
            &format!("area={VILLAGE}&date={DATE}&within=8"),
        );
        assert_eq!(
            within_8["figures"]["training"]["total"]["employed_within"],
            2
        );

        // The township and the county add H27: one more household, failing.
        for area in [&VILLAGE[..9], COUNTY] {
            let wider = indicators(&server, &staff, &format!("area={area}&date={DATE}"));
            assert_eq!(wider["figures"]["coverage"]["households"], 30, "{area}");
            assert_eq!(
                wider["figures"]["failing_households"]
                    .as_array()
                    .unwrap()
                    .len(),
                8,
                "{area}"
            );
        }

        // The CLI prints the same figures from the database.
        let printed = db.run(&[
            "report",
            "indicators",
            "--area",
            VILLAGE,
            "--date",
            DATE,
            "--json",
        ]);
        let printed: Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(printed["figures"], *figures);
        let text = db.run(&["report", "indicators", "--area", VILLAGE, "--date", DATE]);
        assert!(
            text.contains("零就业户 households failing the one-employed target: 7"),
            "{text}"
        );

        // Township staff see their township only; the read is audited.
        let township = server.staff_token(&db, &VILLAGE[..9], "乡镇工作人员");
        let (status, _) = server.get_json(
            &format!("/api/v1/reports/indicators?area={COUNTY}"),
            &township,
        );
        assert_eq!(status, 403);
        let (status, body) = server.get_json(
            &format!("/api/v1/reports/indicators?area={VILLAGE}&month=2025-13"),
            &staff,
        );
        assert_eq!(status, 400, "{body}");
    }
}

#[test]
fn test_a_closed_month_reprints_unchanged_and_a_later_correction_shows_as_a_difference() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new(
            "fixture",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        let (ids, keys) = record(&phone);
        let admin = server.login(&db.add_account("county_admin", COUNTY, "县管理员"));
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let month = "2025-05";
        let close = format!("/api/v1/reports/months/{month}/close?area={COUNTY}");

        let (status, body) = server.post_json(&close, &staff, &json!({}));
        assert_eq!(status, 403, "only a county admin closes a month: {body}");
        let (status, closed) = server.post_json(&close, &admin, &json!({}));
        assert_eq!(status, 200, "{closed}");
        assert_eq!(closed["figures"]["date"], "2025-05-31");
        let h21 = ids["H21"].to_string();
        let failing_h21 = |figures: &Value| {
            figures["failing_households"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["household_id"] == h21)
        };
        assert!(failing_h21(&closed["figures"]));
        let (status, again) = server.post_json(&close, &admin, &json!({}));
        assert_eq!(status, 409, "closed once: {again}");

        // A correction after the close: H21's head found work outside the province.
        phone
            .store
            .set_field(
                &ids["H21"],
                &format!("members.{}.employment.status", keys["H21a"]),
                "01",
            )
            .unwrap();
        phone.sync();

        let report = indicators(&server, &staff, &format!("area={COUNTY}&month={month}"));
        assert_eq!(
            report["closed"]["figures"], closed["figures"],
            "reprinted unchanged"
        );
        assert!(!failing_h21(&report["figures"]), "the register now");
        let differences = report["differences"].as_array().unwrap();
        let at = |path: &str| {
            differences
                .iter()
                .find(|d| d["path"] == path)
                .unwrap_or_else(|| panic!("no difference at {path}: {differences:?}"))
        };
        let gone = at(&format!("failing_households[{h21}].household_id"));
        assert_eq!(gone["closed"], h21.as_str());
        assert!(gone["now"].is_null());
        let outside = at("employment.outside_province");
        assert_eq!(
            outside["now"].as_i64().unwrap(),
            outside["closed"].as_i64().unwrap() + 1
        );
        // And again, later: still the same closed figures.
        let later = indicators(&server, &staff, &format!("area={COUNTY}&month={month}"));
        assert_eq!(later["closed"]["figures"], closed["figures"]);

        let (status, body) = server.post_json(
            &format!("/api/v1/reports/months/2999-01/close?area={COUNTY}"),
            &admin,
            &json!({}),
        );
        assert_eq!(status, 400, "a month not over: {body}");
    }
}

/// The line of `code` among a report's parts.
fn part<'a>(figures: &'a Value, code: &str) -> &'a Value {
    figures["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["code"] == code)
        .unwrap_or_else(|| panic!("no part {code}: {}", figures["parts"]))
}

fn part_figures(line: &Value) -> [i64; 9] {
    [
        "households",
        "visited",
        "verified",
        "present_members",
        "labour",
        "employed",
        "outside_province",
        "failing_households",
        "untrained",
    ]
    .map(|name| line[name].as_i64().unwrap())
}

#[test]
fn test_a_township_gets_a_line_per_village_and_the_county_one_per_township() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new(
            "fixture",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        record(&phone);
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let township = &VILLAGE[..9];
        let report = indicators(&server, &staff, &format!("area={township}&date={DATE}"));
        let figures = &report["figures"];

        // The fixture village, as the first test counts it: 29 households, 28 visited, 27
        // verified, 35 present, 29 of labour age, 16 employed, 5 outside the province, 7
        // failing (H09 H10 H13 H14 H16 H21 H24), 4 untrained (H09b H13b H24a H25a).
        let village = part(figures, VILLAGE);
        assert_eq!(village["name"], "前麻峪村委会");
        assert_eq!(part_figures(village), [29, 28, 27, 35, 29, 16, 5, 7, 4]);
        // The other village holds H27 alone: visited and met; its head (45, able, willing,
        // not employed) makes it fail; she does not want training.
        let other = part(figures, OTHER_VILLAGE);
        assert_eq!(other["name"], "后麻峪村委会");
        assert_eq!(part_figures(other), [1, 1, 1, 1, 1, 0, 0, 1, 0]);
        // Every village of 临泉镇 the area list knows has its line, with nobody recorded in
        // the other 38.
        let parts = figures["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 40, "{parts:?}");
        let empty = parts
            .iter()
            .filter(|line| line["households"] == 0 && line["present_members"] == 0)
            .count();
        assert_eq!(empty, 38);
        // The lines add up to the township's totals.
        let sum = |field: &str| -> i64 { parts.iter().map(|l| l[field].as_i64().unwrap()).sum() };
        assert_eq!(
            sum("households"),
            figures["coverage"]["households"].as_i64().unwrap()
        );
        assert_eq!(sum("households"), 30);
        assert_eq!(sum("labour"), figures["labour"]["total"].as_i64().unwrap());
        assert_eq!(sum("failing_households"), 8);

        // The county: one line per township, 23 of them; 临泉镇 holds all 30 households.
        let county = indicators(&server, &staff, &format!("area={COUNTY}&date={DATE}"));
        let county = &county["figures"];
        assert_eq!(county["parts"].as_array().unwrap().len(), 23);
        let linquan = part(county, township);
        assert_eq!(linquan["name"], "临泉镇");
        assert_eq!(part_figures(linquan), [30, 29, 28, 36, 30, 16, 5, 8, 4]);
        // A village has no parts.
        let one = indicators(&server, &staff, &format!("area={VILLAGE}&date={DATE}"));
        assert_eq!(one["figures"]["parts"], json!([]));

        // The CLI prints the same lines.
        let text = db.run(&["report", "indicators", "--area", township, "--date", DATE]);
        assert!(
            text.contains(&format!(
                "{VILLAGE} 前麻峪村委会: 户 households 29，走访 visited 28，核实 verified 27，\
                 在户 present 35，劳动年龄 labour age 29，就业 employed 16，省外 outside 5，\
                 零就业户 failing 7，未培训 untrained 4"
            )),
            "{text}"
        );
    }
}
