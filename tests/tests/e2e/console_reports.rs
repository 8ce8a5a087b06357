//! The console's reports in a real browser (`tests/browser/reports.mjs`, through the harness
//! of `console.rs`), on each database. The register of the rosters' tests is recorded on a
//! phone and synced; a county clerk opens the indicators, drills down to a village, opens the
//! failing households and one of them, downloads rosters (read back here: Chinese headers,
//! ID numbers masked, and in full only through the audited form); an admin is refused a
//! month not over, closes the last one, and after a phone adds a household sees the month
//! reprint as closed with the new household as a difference; the admin's subsidy settings
//! come back field by field, then save. On SQLite the script writes screenshots of each
//! page at both sizes to `target/console-screenshots/`.

use crate::rosters::{TOWNSHIP, masked, read_xlsx, record, values};
use crate::support::*;
use doorstep_e2e::{Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE};
use serde_json::json;

/// The year whose subsidy settings the admin sets: one no test has set.
const SETTINGS_YEAR: i64 = 2025;

#[test]
fn test_a_clerk_reads_and_downloads_reports_and_an_admin_closes_a_month_in_a_real_browser() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new(
            "phone-a",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        let register = record(&phone);
        let clerk = db.add_account("county_staff", COUNTY, "李华");
        let admin = db.add_account("county_admin", COUNTY, "王芳");
        let api = server.staff_token(&db, COUNTY, "核对员");

        // By construction (rosters.rs): household 002 of the village is the one failing the
        // one-employed target, its head 李强 the one person untrained, in the whole county.
        let (status, indicators) =
            server.get_json(&format!("/api/v1/reports/indicators?area={VILLAGE}"), &api);
        assert_eq!(status, 200, "{indicators}");
        let failing = indicators["figures"]["failing_households"]
            .as_array()
            .unwrap();
        assert_eq!(failing.len(), 1, "{backend:?}: {failing:?}");
        assert_eq!(failing[0]["number"], "141124100201002");
        let downloads = tempfile::tempdir().unwrap();
        let screenshots = matches!(backend, Backend::Sqlite).then(screenshots_dir);
        let base = json!({
            "url": server.url,
            "clerk": account_json(&clerk, "李华"),
            "admin": account_json(&admin, "王芳"),
            "county": COUNTY,
            "township": TOWNSHIP,
            "village": VILLAGE,
            "other_county": "141123",
            "failing_in_county": 1,
            "failing": [{ "id": failing[0]["household_id"], "number": "141124100201002", "head": "李强" }],
            "untrained": 1,
            "downloads": downloads.path(),
            "screenshots": screenshots,
            "year": SETTINGS_YEAR,
        });
        let mut config = base.clone();
        config["only"] = json!([
            "a county clerk reads the indicators down to a village",
            "an admin closes a month"
        ]);
        let run = run_browser("reports.mjs", &config);
        assert_eq!(run.passed.len(), 2, "{backend:?}: {:?}", run.passed);

        // The roster as downloaded: Chinese headers, the ID numbers masked.
        let file = |key: &str| std::fs::read(run.reported[key].as_str().unwrap()).unwrap();
        let (sheet, rows) = read_xlsx(&file("poor_labour_xlsx"));
        assert_eq!(sheet, "贫困劳动力花名册", "{backend:?}");
        let ids = values(&rows, "身份证号码");
        assert!(ids.contains(&masked(&register.zhang_wei)), "{ids:?}");
        assert!(!ids.contains(&register.zhang_wei), "masked: {ids:?}");
        assert!(values(&rows, "姓名").contains(&"张伟".to_owned()));
        let failing_csv = String::from_utf8(file("failing_csv")).unwrap();
        assert!(failing_csv.contains("141124100201002"), "{failing_csv}");
        assert!(failing_csv.contains("李强"), "{failing_csv}");
        assert!(
            !failing_csv.contains(&register.li_qiang),
            "masked: {failing_csv}"
        );
        // In full only through the form, and the reveal is recorded.
        let full = String::from_utf8(file("poor_labour_full_csv")).unwrap();
        assert!(full.contains(&register.zhang_wei), "{full}");
        let auditor = auditor(&server, &db);
        let exports = audit(&server, &auditor, "export");
        let detail = |record: &serde_json::Value| record["detail"].as_str().unwrap().to_owned();
        assert!(
            exports
                .iter()
                .any(|r| detail(r).contains("poor_labour") && detail(r).contains("masked")),
            "{exports:?}"
        );
        assert!(
            exports
                .iter()
                .any(|r| detail(r).contains("poor_labour") && detail(r).contains("in full")),
            "{exports:?}"
        );
        let reveals = audit(&server, &auditor, "reveal");
        assert!(
            reveals.iter().any(
                |r| r["actor"] == format!("staff:{}", clerk.username) && r["target"] == VILLAGE
            ),
            "{reveals:?}"
        );
        // The refusal and the close, both recorded.
        let closes = audit(&server, &auditor, "report.close_month");
        let month = run.reported["month"].as_str().unwrap().to_owned();
        assert!(
            closes
                .iter()
                .any(|r| r["outcome"] == "ok" && detail(r).starts_with(&month)),
            "{closes:?}"
        );
        assert!(
            closes.iter().any(|r| r["outcome"] == "failed"),
            "{closes:?}"
        );

        // A correction after the close: one more household.
        let late = phone
            .store
            .create_household(&area(VILLAGE), Some("141124100201009"))
            .unwrap();
        phone.store.add_member(&late, "周末", None).unwrap();
        phone.sync();
        let households_closed: i64 = run.reported["households_closed"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mut config = base.clone();
        config["only"] = json!(["the closed month reprints unchanged beside a correction"]);
        config["month"] = json!(month);
        config["households_closed"] = json!(households_closed);
        let run = run_browser("reports.mjs", &config);
        assert_eq!(run.passed.len(), 1, "{backend:?}: {:?}", run.passed);

        // The settings the form saved, as the API reads them, and the edit audited.
        let (status, settings) =
            server.get_json(&format!("/api/v1/settings/subsidies/{SETTINGS_YEAR}"), &api);
        assert_eq!(status, 200, "{settings}");
        assert_eq!(settings["average_wage"], 85000);
        assert_eq!(settings["transport_cap"], 800);
        let edits = audit(&server, &auditor, "settings.subsidies");
        assert!(
            edits
                .iter()
                .any(|r| r["actor"] == format!("staff:{}", admin.username)),
            "{edits:?}"
        );
    }
}
