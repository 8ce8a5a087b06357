//! The command-line field client against the real server: what a volunteer on a laptop
//! types, and what county staff then see.

use crate::support::{field, field_ok};
use doorstep_e2e::{Backend, COUNTY, OTHER_VILLAGE, Server, TestDatabase, VILLAGE};

#[test]
fn test_a_volunteer_syncs_from_the_command_line_and_staff_see_the_household() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let laptop = tempfile::tempdir().unwrap();
        let token = db.add_device(&[VILLAGE]);
        field_ok(
            laptop.path(),
            &["init", "--server", &server.url, "--token", &token],
        );
        let household = field_ok(laptop.path(), &["household", "new", "--village", VILLAGE]);
        let member = field_ok(
            laptop.path(),
            &[
                "member",
                "add",
                &household,
                "--name",
                "刘伟",
                "--id-number",
                "11010519491231002X",
            ],
        );
        let status = format!("members.{member}.employment.status");
        field_ok(laptop.path(), &["set", &household, &status, "01"]);
        let place = format!("members.{member}.employment.place");
        field_ok(laptop.path(), &["set", &household, &place, "太原"]);
        field_ok(
            laptop.path(),
            &["visit", &household, "--outcome", "met", "--note", "在家"],
        );

        let summary: serde_json::Value =
            serde_json::from_str(&field_ok(laptop.path(), &["sync", "--json"])).unwrap();
        assert_eq!(summary["documents_sent"], 1, "{summary}");
        assert_eq!(summary["unsynced_changes"], 0, "{summary}");
        assert_eq!(
            summary["rejected"].as_array().unwrap().len(),
            0,
            "{summary}"
        );

        let operator = server.staff_token(&db, COUNTY, "县工作人员");
        let (code, detail) = server.get_json(&format!("/api/v1/households/{household}"), &operator);
        assert_eq!(code, 200, "{detail}");
        assert_eq!(
            detail["members"][&member]["employment.place"]["value"],
            "太原"
        );
        assert_eq!(detail["visits"].as_object().unwrap().len(), 1);

        // Another volunteer's laptop in the same village receives it.
        let second = tempfile::tempdir().unwrap();
        let token = db.add_device(&[VILLAGE]);
        field_ok(
            second.path(),
            &["init", "--server", &server.url, "--token", &token],
        );
        let human = field_ok(second.path(), &["sync"]);
        assert!(human.contains("同步完成 Sync finished"), "{human}");
        let listed = field_ok(second.path(), &["list", "--search", "刘伟"]);
        assert!(listed.contains(&household), "{listed}");
    }
}

#[test]
fn test_a_household_the_server_holds_for_the_county_stays_on_the_laptop_and_the_volunteer_is_told_why()
 {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let laptop = tempfile::tempdir().unwrap();
        let token = db.add_device(&[VILLAGE]);
        field_ok(
            laptop.path(),
            &["init", "--server", &server.url, "--token", &token],
        );
        let household = field_ok(
            laptop.path(),
            &["household", "new", "--village", OTHER_VILLAGE],
        );
        field_ok(
            laptop.path(),
            &["member", "add", &household, "--name", "陈静"],
        );

        // Outside the laptop's villages: held in quarantine for county staff, not registered.
        let output = field_ok(laptop.path(), &["sync"]);
        assert!(output.contains("待县里审核"), "{output}");
        assert!(output.contains(OTHER_VILLAGE), "{output}");
        let listed = field_ok(laptop.path(), &["list", "--search", "陈静"]);
        assert!(
            listed.contains(&household),
            "the household is still on the laptop"
        );
        let status: serde_json::Value =
            serde_json::from_str(&field_ok(laptop.path(), &["status", "--json"])).unwrap();
        assert_eq!(
            status["unsynced_changes"], 0,
            "the server holds every change, so none is sent again: {status}"
        );
    }
}

#[test]
fn test_sync_before_init_says_what_to_do() {
    let laptop = tempfile::tempdir().unwrap();
    let output = field(laptop.path(), &["sync"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("init"), "{stderr}");
    assert!(stderr.contains("错误"), "{stderr}");
}
