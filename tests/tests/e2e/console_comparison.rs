//! System information comparison in the console, in a real browser (`tests/browser/
//! comparison.mjs`, through the harness of `console.rs`), on each database: a phone records
//! two villages (the people of `comparison.rs`); a county clerk uploads the registry base
//! list with two bad rows and sees it refused whole with the row errors in both languages
//! (and downloads them as a spreadsheet, read back here); imports it with the bad rows set
//! aside; imports social insurance with a column named by hand; sees exactly the planted
//! mismatches counted per village, masked (revealed on request, audited), with the visit
//! tasks per village; withdraws an import. Township staff see their township's mismatches
//! and cannot import. On SQLite the script writes screenshots of each page at both sizes to
//! `target/console-screenshots/`.

use crate::comparison::{People, people, record, registry_csv};
use crate::support::*;
use calamine::{Reader, Xlsx};
use doorstep_e2e::{Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Social insurance: 张伟 insured, under a header the clerk must name (缴费单位).
fn insurance_csv(p: &People) -> String {
    format!(
        "姓名,身份证号,缴费单位\n张伟,{},富士康太原园区\n",
        p.zhang_wei
    )
}

/// The open mismatches of the county as (rule, name) pairs, as the API lists them.
fn open_mismatches(server: &Server, token: &str) -> BTreeSet<(String, String)> {
    let (status, answer) = server.get_json("/api/v1/mismatches?area=141124", token);
    assert_eq!(status, 200, "{answer}");
    answer["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["rule"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn test_a_clerk_imports_rosters_reads_the_mismatches_and_withdraws_in_a_real_browser() {
    let p = people();
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new(
            "phone-a",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        record(&phone, &p);
        let clerk = db.add_account("county_staff", COUNTY, "李华");
        let township = db.add_account("township_staff", &VILLAGE[..9], "周敏");
        let downloads = tempfile::tempdir().unwrap();
        let screenshots = matches!(backend, Backend::Sqlite).then(screenshots_dir);
        let config = json!({
            "url": server.url,
            "clerk": account_json(&clerk, "李华"),
            "township_staff": account_json(&township, "周敏"),
            "village": VILLAGE,
            "other_village": OTHER_VILLAGE,
            "registry_csv": registry_csv(&p),
            "insurance_csv": insurance_csv(&p),
            "full_id_numbers": [&p.zhang_wei, &p.wang_fang, &p.li_qiang, &p.sun_li],
            "downloads": downloads.path(),
            "screenshots": screenshots,
        });
        let run = run_browser("comparison.mjs", &config);
        assert_eq!(
            run.passed,
            [
                "a clerk imports rosters and withdraws one",
                "township staff read their mismatches and cannot import"
            ],
            "{backend:?}"
        );

        // The refused file's errors, as the page offered them to download: rows 7 and 8.
        let path = run.reported["errors_xlsx"].as_str().unwrap();
        let mut book: Xlsx<_> = calamine::open_workbook(path).unwrap();
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        let text: Vec<String> = range
            .rows()
            .flat_map(|row| row.iter().map(|cell| cell.to_string()))
            .collect();
        assert!(text.iter().any(|c| c.contains("身份证号码")), "{text:?}");
        assert!(text.iter().any(|c| c.contains("没有代码“07”")), "{text:?}");
        assert!(
            text.iter().any(|c| c.contains("check character")),
            "{text:?}"
        );

        // What the browser left is what the API holds: the registry's planted mismatches,
        // social insurance withdrawn.
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        assert_eq!(
            open_mismatches(&server, &county),
            pairs(&[
                ("sex_contradicts_id", "王芳"),
                ("registry_left_ledger_present", "李强"),
                ("missing_from_ledger", "孙丽"),
            ]),
            "{backend:?}"
        );
        let (status, imports) = server.get_json("/api/v1/imported-rosters", &county);
        assert_eq!(status, 200, "{imports}");
        let imports = imports.as_array().unwrap();
        assert_eq!(imports.len(), 2, "{backend:?}: {imports:?}");
        let registry = imports.iter().find(|i| i["kind"] == "registry").unwrap();
        assert_eq!(
            (&registry["row_count"], &registry["set_aside_count"]),
            (&json!(5), &json!(2)),
            "{registry}"
        );
        assert!(registry["withdrawn_at"].is_null(), "{registry}");
        let insurance = imports
            .iter()
            .find(|i| i["kind"] == "social_insurance")
            .unwrap();
        assert!(insurance["withdrawn_at"].is_i64(), "{insurance}");
        assert_eq!(insurance["file_name"], "社保参保.csv");
        // The column the clerk named is remembered for the kind.
        let (_, mapping) = server.get_json(
            "/api/v1/imported-rosters/mappings/social_insurance",
            &county,
        );
        let employer = mapping["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "employer")
            .unwrap();
        assert_eq!(employer["header"], "缴费单位", "{mapping}");

        // Every import, refusal and withdrawal is in the audit log, in the clerk's name.
        let auditor = auditor(&server, &db);
        let actor = format!("staff:{}", clerk.username);
        let by_clerk = |action: &str, outcome: &str| -> Vec<Value> {
            audit(&server, &auditor, action)
                .into_iter()
                .filter(|r| r["actor"] == actor.as_str() && r["outcome"] == outcome)
                .collect()
        };
        assert_eq!(by_clerk("roster.import", "ok").len(), 2, "{backend:?}");
        assert!(
            by_clerk("roster.import", "failed")
                .iter()
                .any(|r| r["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("refused whole")),
            "{backend:?}"
        );
        assert!(
            !by_clerk("reveal", "ok").is_empty(),
            "{backend:?}: the reveal on the mismatch page is audited"
        );
        let withdrawn = by_clerk("roster.withdraw", "ok");
        assert_eq!(withdrawn.len(), 1, "{backend:?}");
        assert_eq!(withdrawn[0]["target"], insurance["id"], "{backend:?}");
        // The township clerk's refused import is audited as denied.
        let denied = audit(&server, &auditor, "roster.import");
        assert!(
            denied.iter().any(|r| {
                r["actor"] == format!("staff:{}", township.username).as_str()
                    && r["outcome"] == "denied"
            }),
            "{backend:?}: {denied:?}"
        );
    }
}
