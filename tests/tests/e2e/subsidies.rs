//! The subsidies as policy §五(十二)(十三) sets them, through the real binary on both
//! databases: the yearly parameters are settings a county admin edits (audited), each rule
//! broken once is a named rule violation in the review queue, a settings edit changes what
//! is found, and the eligibility of a small village, computed by hand below, is what the API
//! and the CLI report.
//!
//! The village, recorded on a phone of layout 2 (year 2024; the 2024 average wage is set to
//! 60,000 yuan during the test, so the base floor is 60,000 × 40% / 12 = 2,000 yuan a month,
//! and two thirds of a contribution is the most a social insurance subsidy may be):
//!
//! | household | member | employment | claims of 2024 (and before) | breaks |
//! |---|---|---|---|---|
//! | h1 | A | 01 outside the province, channel 01 | transport 800 paid; service 300 paid | nothing |
//! | h2 | B | 01, channel 04 self-found | transport 900 pending | over the cap of 800 |
//! | h3 | C | 02 outside the county, channel 02 | service 200 paid, service 100 paid | twice in one year |
//! | h4 | D | 01, channel 03 | none | nothing |
//! | h5 | E | none | insurance 2021–2023 (4,000 each, paid), 2024 1,000 pending, base 3,000, paid 6,000 | a fourth year |
//! | h6 | F | none | insurance 1,000 pending, base 1,500, paid 3,000 | a base below 2,000 |
//! | h7 | G | none | insurance 2,500 paid, base 2,500, paid 3,000 | over 2/3 of 3,000 (2,000) |
//! | h8 | H | none | insurance 4,000 paid, base 2,000, paid 6,000 | nothing: both edges exactly |
//! | h9 | I, J | I none; J 01 but moved out in 2023 | I: insurance 500 pending, no base, no contribution | nothing (unverifiable) |
//! | h10 | K | 01, no channel | transport 5,000 found not eligible (04) | nothing: a rejected claim claims nothing |
//!
//! By hand, for 2024:
//! - transport: eligible are the present members working outside the province: A, B, D, K
//!   = 4 (J moved out); unclaimed D and K (K's claim was rejected) = 2; claimed A, B = 2;
//!   paid A = 1 person, 800 yuan.
//! - service: eligible are the present members in transfer work (01–03) through a channel
//!   that serves (01–03): A, C, D = 3 (B found the job alone, K has no channel);
//!   unclaimed D = 1; claimed A, C = 2; paid A, C = 2 people, 300 + 200 + 100 = 600 yuan.
//! - social insurance: claimed E, F, G, H, I = 5; paid G, H = 2 people, 2,500 + 4,000 =
//!   6,500 yuan; contributors (base and contribution recorded) E, F, G, H = 4, I
//!   unverifiable = 1; eligible G (base 2,500 ≥ 2,000, first year) and H (base exactly
//!   2,000) = 2, at most 3,000 × 2/3 + 6,000 × 2/3 = 2,000 + 4,000 = 6,000 yuan. E is in a
//!   fourth year, F below the floor.
//! - breaches: one of each rule, 5 in all.

use doorstep_e2e::{Backend, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::support::*;

/// One member's fields, and their subsidies: (kind, year, amount, status, base, contribution).
type SubsidyRow = (
    &'static str,
    i64,
    i64,
    &'static str,
    Option<i64>,
    Option<i64>,
);

struct Person {
    name: &'static str,
    fields: &'static [(&'static str, &'static str)],
    subsidies: &'static [SubsidyRow],
}

const INSURANCE_PAID_BEFORE: [SubsidyRow; 3] = [
    ("03", 2021, 4000, "03", Some(3000), Some(6000)),
    ("03", 2022, 4000, "03", Some(3000), Some(6000)),
    ("03", 2023, 4000, "03", Some(3000), Some(6000)),
];

fn village() -> Vec<Vec<Person>> {
    let outside = |channel| -> &'static [(&'static str, &'static str)] {
        match channel {
            "01" => &[("employment.status", "01"), ("employment.channel", "01")],
            "03" => &[("employment.status", "01"), ("employment.channel", "03")],
            _ => &[("employment.status", "01"), ("employment.channel", "04")],
        }
    };
    static E_CLAIMS: [SubsidyRow; 4] = [
        INSURANCE_PAID_BEFORE[0],
        INSURANCE_PAID_BEFORE[1],
        INSURANCE_PAID_BEFORE[2],
        ("03", 2024, 1000, "01", Some(3000), Some(6000)),
    ];
    vec![
        vec![Person {
            name: "A",
            fields: outside("01"),
            subsidies: &[
                ("01", 2024, 800, "03", None, None),
                ("02", 2024, 300, "03", None, None),
            ],
        }],
        vec![Person {
            name: "B",
            fields: outside("04"),
            subsidies: &[("01", 2024, 900, "01", None, None)],
        }],
        vec![Person {
            name: "C",
            fields: &[("employment.status", "02"), ("employment.channel", "02")],
            subsidies: &[
                ("02", 2024, 200, "03", None, None),
                ("02", 2024, 100, "03", None, None),
            ],
        }],
        vec![Person {
            name: "D",
            fields: outside("03"),
            subsidies: &[],
        }],
        vec![Person {
            name: "E",
            fields: &[],
            subsidies: &E_CLAIMS,
        }],
        vec![Person {
            name: "F",
            fields: &[],
            subsidies: &[("03", 2024, 1000, "01", Some(1500), Some(3000))],
        }],
        vec![Person {
            name: "G",
            fields: &[],
            subsidies: &[("03", 2024, 2500, "03", Some(2500), Some(3000))],
        }],
        vec![Person {
            name: "H",
            fields: &[],
            subsidies: &[("03", 2024, 4000, "03", Some(2000), Some(6000))],
        }],
        vec![
            Person {
                name: "I",
                fields: &[],
                subsidies: &[("03", 2024, 500, "01", None, None)],
            },
            Person {
                name: "J",
                fields: &[
                    ("employment.status", "01"),
                    ("status", "02"),
                    ("left_on", "2023-05-01"),
                ],
                subsidies: &[],
            },
        ],
        vec![Person {
            name: "K",
            fields: &[("employment.status", "01")],
            subsidies: &[("01", 2024, 5000, "04", None, None)],
        }],
    ]
}

/// Records the village on a phone and syncs it; returns each person's household by name.
fn record_village(phone: &Phone) -> BTreeMap<&'static str, HouseholdId> {
    let mut households = BTreeMap::new();
    for people in village() {
        let household = phone.store.create_household(&area(VILLAGE), None).unwrap();
        for person in people {
            let key = phone
                .store
                .add_member(&household, person.name, None)
                .unwrap();
            let fields: Vec<(String, &str)> = person
                .fields
                .iter()
                .map(|(name, value)| (format!("members.{key}.{name}"), *value))
                .collect();
            let edits: Vec<(&str, &str)> = fields.iter().map(|(p, v)| (p.as_str(), *v)).collect();
            phone.store.set_fields(&household, &edits).unwrap();
            for (kind, year, amount, status, base, contribution) in person.subsidies {
                let id = phone.store.add_subsidy(&household, &key).unwrap();
                let s = |name: &str| format!("subsidies.{id}.{name}");
                let (year, amount) = (year.to_string(), amount.to_string());
                let base = base.map(|b| b.to_string());
                let contribution = contribution.map(|c| c.to_string());
                let mut edits = vec![
                    (s("kind"), kind.to_string()),
                    (s("year"), year),
                    (s("amount"), amount),
                    (s("status"), status.to_string()),
                ];
                if let (Some(base), Some(contribution)) = (base, contribution) {
                    edits.push((s("insurance_type"), "01".to_owned()));
                    edits.push((s("contribution_base"), base));
                    edits.push((s("contribution"), contribution));
                }
                let edits: Vec<(&str, &str)> = edits
                    .iter()
                    .map(|(p, v)| (p.as_str(), v.as_str()))
                    .collect();
                phone.store.set_fields(&household, &edits).unwrap();
            }
            households.insert(person.name, household.clone());
        }
    }
    let report = phone.sync();
    assert!(
        report.rejected.is_empty() && report.quarantined.is_empty(),
        "{report:?}"
    );
    households
}

/// The open rule items of the subsidy rules, as (rule, household).
fn subsidy_items(server: &Server, staff: &str) -> Vec<(String, String)> {
    let (status, page) = server.get_json(
        &format!("/api/v1/review/items?area={VILLAGE}&kind=rule&limit=200"),
        staff,
    );
    assert_eq!(status, 200, "{page}");
    let mut items: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["rule"].as_str().unwrap().starts_with("subsidy."))
        .map(|item| {
            (
                item["rule"].as_str().unwrap().to_owned(),
                item["household_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    items.sort();
    items
}

fn expected(pairs: &[(&str, &HouseholdId)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .map(|(rule, household)| ((*rule).to_owned(), household.to_string()))
        .collect();
    out.sort();
    out
}

fn parameters(transport_cap: i64, average_wage: Option<i64>) -> Value {
    json!({
        "transport_cap": transport_cap,
        "service_cap": 300,
        "insurance_share_numerator": 2,
        "insurance_share_denominator": 3,
        "insurance_max_years": 3,
        "base_floor_percent": 40,
        "average_wage": average_wage,
    })
}

fn figures(report: &Value, kind: &str) -> Vec<i64> {
    [
        "eligible",
        "eligible_unclaimed",
        "claimed",
        "paid_people",
        "paid_amount",
    ]
    .iter()
    .map(|name| report[kind][name].as_i64().unwrap())
    .collect()
}

fn rule_counts(report: &Value) -> BTreeMap<String, i64> {
    report["breaches_by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["rule"].as_str().unwrap().to_owned(),
                c["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn test_subsidy_rules_settings_and_eligibility_of_a_village_computed_by_hand() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let admin = server.login(&db.add_account("county_admin", COUNTY, "县管理员"));
        let phone = Phone::new("手机", &server, &db.add_device(&[VILLAGE]));
        let households = record_village(&phone);
        let h = |name: &str| &households[name];

        // The seeded year has the policy's maxima and no average wage: every rule but the
        // base floor is judged.
        let (status, seeded) = server.get_json("/api/v1/settings/subsidies/2024", &staff);
        assert_eq!(status, 200, "{seeded}");
        assert_eq!(
            seeded,
            json!({"year": 2024, "transport_cap": 800, "service_cap": 300,
                   "insurance_share_numerator": 2, "insurance_share_denominator": 3,
                   "insurance_max_years": 3, "base_floor_percent": 40, "average_wage": null})
        );
        assert_eq!(
            subsidy_items(&server, &staff),
            expected(&[
                ("subsidy.over_cap", h("B")),
                ("subsidy.twice_in_year", h("C")),
                ("subsidy.beyond_max_years", h("E")),
                ("subsidy.over_share", h("G")),
            ]),
            "{backend:?}"
        );

        // County staff may read the settings, not edit them.
        let (status, body) = server.put_json(
            "/api/v1/settings/subsidies/2024",
            &staff,
            &parameters(800, Some(60_000)),
        );
        assert_error_json(status, &body, 403, "forbidden");
        let (status, body) = server.put_json(
            "/api/v1/settings/subsidies/2024",
            &admin,
            &json!({"transport_cap": 800, "service_cap": 300, "insurance_share_numerator": 4,
                    "insurance_share_denominator": 3, "insurance_max_years": 3,
                    "base_floor_percent": 40, "average_wage": null}),
        );
        assert_error_json(status, &body, 400, "bad_request");
        assert!(
            body["message"]["en"]
                .as_str()
                .unwrap()
                .contains("numerator"),
            "{body}"
        );

        // The admin sets the year's average wage: the base floor is judged, and the edit is
        // audited with the year before and after.
        let (status, edited) = server.put_json(
            "/api/v1/settings/subsidies/2024",
            &admin,
            &parameters(800, Some(60_000)),
        );
        assert_eq!(status, 200, "{edited}");
        assert_eq!(edited["average_wage"], 60_000);
        assert_eq!(
            subsidy_items(&server, &staff),
            expected(&[
                ("subsidy.over_cap", h("B")),
                ("subsidy.twice_in_year", h("C")),
                ("subsidy.beyond_max_years", h("E")),
                ("subsidy.base_below_floor", h("F")),
                ("subsidy.over_share", h("G")),
            ]),
            "{backend:?}"
        );
        let auditor = auditor(&server, &db);
        let edits = |server: &Server| -> Vec<Value> {
            audit(server, &auditor, "settings.subsidies")
                .into_iter()
                .filter(|r| r["outcome"] == "ok")
                .collect()
        };
        let records = audit(&server, &auditor, "settings.subsidies");
        assert_eq!(
            records[1]["outcome"], "denied",
            "county staff's try: {records:?}"
        );
        let records = edits(&server);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["target"], "2024");
        assert!(records[0]["actor"].as_str().unwrap().starts_with("staff:"));
        let detail: Value = serde_json::from_str(records[0]["detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["before"]["average_wage"], Value::Null);
        assert_eq!(detail["after"]["average_wage"], 60_000);

        // The figures computed by hand above.
        let (status, report) = server.get_json(
            &format!("/api/v1/reports/subsidies?area={VILLAGE}&year=2024"),
            &staff,
        );
        assert_eq!(status, 200, "{report}");
        assert_eq!(figures(&report, "transport"), [4, 2, 2, 1, 800], "{report}");
        assert_eq!(figures(&report, "service"), [3, 1, 2, 2, 600], "{report}");
        let insurance = &report["social_insurance"];
        assert_eq!(
            [
                "contributors",
                "eligible",
                "eligible_maximum",
                "unverifiable",
                "claimed",
                "paid_people",
                "paid_amount"
            ]
            .map(|name| insurance[name].as_i64().unwrap()),
            [4, 2, 6000, 1, 5, 2, 6500],
            "{report}"
        );
        let every_rule_once: BTreeMap<String, i64> = [
            "subsidy.over_cap",
            "subsidy.twice_in_year",
            "subsidy.beyond_max_years",
            "subsidy.base_below_floor",
            "subsidy.over_share",
        ]
        .into_iter()
        .map(|rule| (rule.to_owned(), 1))
        .collect();
        assert_eq!(rule_counts(&report), every_rule_once, "{report}");
        let over_cap = report["breaches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["rule"] == "subsidy.over_cap")
            .unwrap();
        assert_eq!(over_cap["name"], "B");
        assert_eq!(over_cap["household"], h("B").to_string());
        assert!(
            over_cap["message"]["zh"].as_str().unwrap().contains("800")
                && over_cap["message"]["en"]
                    .as_str()
                    .unwrap()
                    .contains("cap of 800"),
            "{over_cap}"
        );

        // A higher transport cap settles B's claim: the item closes, the report follows.
        let (status, _) = server.put_json(
            "/api/v1/settings/subsidies/2024",
            &admin,
            &parameters(1000, Some(60_000)),
        );
        assert_eq!(status, 200);
        assert!(
            !subsidy_items(&server, &staff)
                .iter()
                .any(|(rule, _)| rule == "subsidy.over_cap"),
            "{backend:?}"
        );
        assert_eq!(edits(&server).len(), 2);

        // The CLI: the settings as the operator sees them, an operator's edit audited, and
        // the same report.
        let shown: Value =
            serde_json::from_str(&db.run(&["settings", "subsidies", "show", "--year", "2024"]))
                .unwrap();
        assert_eq!(shown["transport_cap"], 1000);
        let set: Value = serde_json::from_str(&db.run(&[
            "settings",
            "subsidies",
            "set",
            "--year",
            "2024",
            "--transport-cap",
            "800",
        ]))
        .unwrap();
        assert_eq!(
            (&set["transport_cap"], &set["average_wage"]),
            (&json!(800), &json!(60_000))
        );
        let records = edits(&server);
        assert_eq!(records[0]["actor"], "operator", "{records:?}");
        let printed: Value = serde_json::from_str(&db.run(&[
            "report",
            "subsidies",
            "--area",
            VILLAGE,
            "--year",
            "2024",
            "--json",
        ]))
        .unwrap();
        assert_eq!(figures(&printed, "transport"), [4, 2, 2, 1, 800]);
        assert_eq!(rule_counts(&printed), every_rule_once, "{printed}");
        let text = db.run(&["report", "subsidies", "--area", VILLAGE, "--year", "2024"]);
        assert!(text.contains("subsidy.over_cap 1"), "{text}");
        assert!(
            subsidy_items(&server, &staff)
                .iter()
                .any(|(rule, _)| rule == "subsidy.over_cap"),
            "the operator's edit judged the claims again: {backend:?}"
        );
    }
}
