//! The console's work pages in a real browser (`tests/browser/work.mjs`, through the harness
//! of `console.rs`), on each database: a county clerk's morning — two phones sync
//! conflicting edits and two duplicates through the real binary; the clerk finds the village
//! with open items, settles the conflict, moves a person, merges a family recorded twice and
//! discards a held move; the phones sync and hold the decisions. Township staff make an
//! enrollment code, a field client enrolls with the text the printable sheet shows, and the
//! staff revoke it; an admin manages accounts; an auditor reads the log. On SQLite the
//! script writes screenshots of each page at both sizes to `target/console-screenshots/`.

use crate::duplicates::{duplicate_between, family};
use crate::review::{id_number, open_items};
use crate::screening::tampered;
use crate::support::*;
use doorstep_e2e::{Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE};
use schema::fields::FieldPath;
use serde_json::{Value, json};

/// The open conflict on `path` of a household.
fn conflict_on(
    server: &Server,
    staff: &str,
    household: &doorstep_e2e::HouseholdId,
    path: &str,
) -> Value {
    open_items(server, staff, household)
        .into_iter()
        .find(|item| item["kind"] == "conflict" && item["path"] == path)
        .unwrap_or_else(|| panic!("no conflict on {path}"))
}

#[test]
fn test_a_county_clerks_morning_in_a_real_browser_reaches_the_phones() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let api = server.staff_token(&db, COUNTY, "核对员");
        let clerk = db.add_account("county_staff", COUNTY, "李华");
        let a = Phone::new(
            "phone-a",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));

        // A conflict: both phones change one address offline.
        let (home, _) = family(&a, &[("王大山", &id_number("19580303", 51))], "村口");
        a.sync();
        b.sync();
        a.store
            .set_field(&home, "household.address", "东街 1 号")
            .unwrap();
        b.store
            .set_field(&home, "household.address", "东街 11 号")
            .unwrap();
        // A person counted in two families, and one family recorded twice.
        let daughter = id_number("19900909", 52);
        let (zhang, zhang_keys) = family(
            &a,
            &[
                ("张守田", &id_number("19650101", 53)),
                ("张小梅", &daughter),
            ],
            "东街 3 号",
        );
        let (li, _) = family(
            &b,
            &[
                ("李长河", &id_number("19600202", 54)),
                ("张小梅", &daughter),
            ],
            "西街 9 号",
        );
        // A rule the merged household breaks: one phone says "not employed", the other
        // records an employer.
        let (idle, idle_keys) = family(&a, &[("孙有才", &id_number("19750707", 56))], "北街 2 号");
        a.sync();
        b.sync();
        let idle_head = |field: &str| format!("members.{}.{field}", idle_keys[0]);
        a.store
            .set_fields(
                &idle,
                &[
                    (idle_head("employment.status").as_str(), "10"),
                    (idle_head("employment.not_employed_reason").as_str(), "01"),
                ],
            )
            .unwrap();
        b.store
            .set_field(&idle, &idle_head("employment.employer"), "县砖厂")
            .unwrap();
        let head = id_number("19700505", 55);
        let (first, _) = family(&a, &[("赵大山", &head)], "东沟 3 号");
        let (second, _) = family(&b, &[("赵大山", &head)], "东沟 3 号");
        a.sync();
        b.sync();
        a.sync();
        // A move to another village, held back by screening.
        let moving = record(&a, VILLAGE, 1, "迁").pop_first().unwrap();
        a.sync();
        tampered(&a, &moving, None, |doc, _| {
            use automerge::transaction::Transactable;
            doc.put(automerge::ROOT, "household.village", OTHER_VILLAGE)
                .unwrap();
        });
        // The volunteer goes on working: the edit that carries the move to the server.
        a.store
            .set_field(&moving, "household.address", "南街 5 号")
            .unwrap();
        let report = a.sync();
        assert_eq!(report.quarantined.len(), 1, "{backend:?}: {report:?}");

        let conflict = conflict_on(&server, &api, &home, "household.address");
        let moved_item = duplicate_between(&server, &api, &zhang, li.as_str());
        let merged_item = duplicate_between(&server, &api, &first, second.as_str());
        let rule_item = open_items(&server, &api, &idle)
            .into_iter()
            .find(|item| item["kind"] == "rule")
            .expect("the merged household breaks a rule");
        let screenshots = matches!(backend, Backend::Sqlite).then(screenshots_dir);
        let config = json!({
            "url": server.url,
            "clerk": account_json(&clerk, "李华"),
            "village": VILLAGE,
            "other_county_village": "141123100201",
            "conflict": { "item": conflict["id"], "values": ["东街 1 号", "东街 11 号"], "chosen": "东街 11 号" },
            "move": { "item": moved_item["id"], "member": zhang_keys[1], "to": li.as_str(), "id_number": daughter },
            "merge": { "item": merged_item["id"], "keep": first.as_str() },
            "rule": { "item": rule_item["id"], "household": idle.as_str(), "employer": "县砖厂" },
            "screenshots": screenshots,
            "only": ["a county clerk's morning"],
        });
        let run = run_browser("work.mjs", &config);
        assert_eq!(run.passed.len(), 1, "{backend:?}: {:?}", run.passed);

        // The phones sync and hold every decision.
        for phone in [&a, &b, &a] {
            phone.sync();
        }
        let address = FieldPath::parse("household.address").unwrap();
        for phone in [&a, &b] {
            let home_now = phone.store.household(&home).unwrap();
            assert_eq!(
                home_now.view.field(&address).unwrap().value.as_text(),
                Some("东街 11 号"),
                "{backend:?}"
            );
            assert!(
                home_now.conflicts.is_empty(),
                "{backend:?}: {:?}",
                home_now.conflicts
            );
            assert!(
                !phone
                    .store
                    .household(&zhang)
                    .unwrap()
                    .view
                    .members
                    .contains_key(&zhang_keys[1])
            );
            assert!(
                phone
                    .store
                    .household(&li)
                    .unwrap()
                    .view
                    .members
                    .contains_key(&zhang_keys[1])
            );
            assert_eq!(
                phone
                    .store
                    .household(&second)
                    .unwrap()
                    .view
                    .household_text("merged_into"),
                Some(first.as_str()),
                "{backend:?}"
            );
        }
        // The held move was discarded: the household stays in its village, on the phone too.
        let register = detail(&server, &api, &moving);
        assert_eq!(register["village"], VILLAGE, "{backend:?}");
        let moving_now = a.store.household(&moving).unwrap();
        assert_eq!(
            moving_now.view.household_text("village"),
            Some(VILLAGE),
            "{backend:?}"
        );

        // What the browser did is what the audit log holds, in the clerk's name.
        let auditor = auditor(&server, &db);
        let actor = format!("staff:{}", clerk.username);
        for action in [
            "reveal",
            "review.resolve",
            "review.move",
            "review.merge",
            "quarantine.discard",
        ] {
            let records = audit(&server, &auditor, action);
            assert!(
                records
                    .iter()
                    .any(|r| r["actor"] == actor.as_str() && r["outcome"] == "ok"),
                "{backend:?}: {action}: {records:?}"
            );
        }
    }
}

#[test]
fn test_township_staff_enroll_a_phone_from_the_printed_sheet_and_revoke_it_in_a_real_browser() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let township = &VILLAGE[..9];
        let staff = db.add_account("township_staff", township, "周敏");
        let admin = db.add_account("county_admin", COUNTY, "王芳");
        let auditor_account = db.add_account("auditor", COUNTY, "审计员");
        let screenshots = matches!(backend, Backend::Sqlite).then(screenshots_dir);
        let config = |only: &str| {
            json!({
                "url": server.url,
                "township_staff": account_json(&staff, "周敏"),
                "admin": account_json(&admin, "王芳"),
                "auditor": account_json(&auditor_account, "审计员"),
                "village": VILLAGE,
                "other_village": "141124200201",
                "screenshots": screenshots,
                "only": [only],
            })
        };

        // The staff make a code; the test reads the sheet as a volunteer's phone would.
        let made = run_browser(
            "work.mjs",
            &config("township staff print an enrollment sheet"),
        );
        assert_eq!(made.passed.len(), 1, "{backend:?}");
        let code = made.reported["code"].as_str().unwrap().to_owned();
        let payload = made.reported["payload"].as_str().unwrap().to_owned();
        assert!(payload.contains(&code), "{backend:?}: {payload}");
        let server_named = server.url.replace(':', "%3A").replace('/', "%2F");
        assert!(
            payload.contains(&server_named),
            "{backend:?}: the QR names the server: {payload}"
        );
        let (phone, enrollment) = Phone::enroll("phone-sheet", None, &payload).unwrap();
        assert_eq!(enrollment.villages, vec![VILLAGE.to_owned()], "{backend:?}");
        assert_eq!(enrollment.volunteer, "志愿者小王");
        let household = record(&phone, VILLAGE, 1, "纸").pop_first().unwrap();
        let report = phone.sync();
        assert!(report.rejected.is_empty(), "{backend:?}: {report:?}");
        // Used once: the sheet's code works no more.
        assert!(
            Phone::enroll("phone-again", None, &payload).is_err(),
            "{backend:?}"
        );

        let revoked = run_browser("work.mjs", &config("township staff revoke the phone"));
        assert_eq!(revoked.passed.len(), 1, "{backend:?}");
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let (status, devices) = server.get_json("/api/v1/devices", &county);
        assert_eq!(status, 200, "{devices}");
        let device = devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["volunteer"] == "志愿者小王")
            .unwrap_or_else(|| panic!("{backend:?}: {devices}"));
        assert!(device["revoked_at"].is_i64(), "{backend:?}: {device}");
        assert_eq!(device["revoke_reason"], "手机丢失", "{backend:?}");
        assert!(
            device["last_seen_at"].is_i64(),
            "{backend:?}: it had synced"
        );
        let _ = household;

        let rest = run_browser("work.mjs", &config("an admin manages accounts"));
        assert_eq!(rest.passed.len(), 1, "{backend:?}");
        let read = run_browser("work.mjs", &config("an auditor reads the log"));
        assert_eq!(read.passed.len(), 1, "{backend:?}");
    }
}
