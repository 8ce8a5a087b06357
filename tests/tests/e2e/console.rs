//! The staff console in a real browser: Debian's headless Chromium, driven by
//! `tests/browser/console.mjs` (playwright-core) against the real binary, on each database.
//! One browser per run; each scenario in a context of its own. On SQLite the script also
//! writes screenshots of each page at 1366×768 and 390×844 to
//! `target/console-screenshots/`.
//!
//! `scripts/browser-deps` installs Chromium and playwright-core when they are missing. Without
//! `node` or Chromium the test fails, saying so: it does not skip.

use doorstep_e2e::{
    Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE, with_check_character,
};
use serde_json::{Value, json};

use crate::support::*;

/// How long sessions last on the server of the expiry scenario.
const SHORT_SESSION_SECS: u64 = 3;

/// A household a volunteer recorded and synced: its id, its head's name and ID number.
fn recorded_household(db: &TestDatabase, server: &Server) -> (String, String, String) {
    let phone = Phone::new("phone-1", server, &db.add_device(&[VILLAGE]));
    let household = phone.store.create_household(&area(VILLAGE), None).unwrap();
    let id_number = with_check_character("14112419800101001");
    phone
        .store
        .add_member(&household, "张建国", Some(&id_number))
        .unwrap();
    let visit = phone.store.start_visit(&household).unwrap();
    phone
        .store
        .finish_visit(&household, &visit, "met", None, None)
        .unwrap();
    phone.sync();
    (household.to_string(), "张建国".to_owned(), id_number)
}

/// Households enough for the register to page, in the village beside the recorded one (whose
/// progress the first scenario counts), each with a head and a visit.
const PAGING_HOUSEHOLDS: usize = 30;

fn register_households(db: &TestDatabase, server: &Server) -> Value {
    let phone = Phone::new("phone-2", server, &db.add_device(&[OTHER_VILLAGE]));
    record(&phone, OTHER_VILLAGE, PAGING_HOUSEHOLDS, "甲");
    phone.sync();
    json!({
        "paging_village": OTHER_VILLAGE,
        "paging_households": PAGING_HOUSEHOLDS,
        // Who recorded the first household, as its phone names itself in the document.
        "recorded_by": { "device": "phone-1", "volunteer": "volunteer of phone-1" },
    })
}

#[test]
fn test_staff_sign_in_read_and_are_refused_what_is_not_theirs_in_a_real_browser() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let (household, head, id_number) = recorded_household(&db, &server);
        let register = register_households(&db, &server);
        let clerk = db.add_account("county_staff", COUNTY, "李华");
        let admin = db.add_account("county_admin", COUNTY, "王芳");

        // The expiry scenario's server: sessions there last a few seconds.
        let short_db = TestDatabase::new(&backend);
        let short = Server::start_with(
            &short_db,
            &["--session-lifetime-secs", &SHORT_SESSION_SECS.to_string()],
        );
        let short_clerk = short_db.add_account("county_staff", COUNTY, "赵敏");
        let mut expiring = account_json(&short_clerk, "赵敏");
        expiring["url"] = json!(short.url);
        expiring["lifetime_secs"] = json!(SHORT_SESSION_SECS);

        let screenshots = matches!(backend, Backend::Sqlite).then(screenshots_dir);
        let config = json!({
            "url": server.url,
            "clerk": account_json(&clerk, "李华"),
            "admin": account_json(&admin, "王芳"),
            "expiring": expiring,
            "household": { "id": household, "head": head, "id_number": id_number, "village": VILLAGE },
            "register": register,
            "other_county": "141123",
            "screenshots": screenshots,
        });
        let passed = run_browser("console.mjs", &config).passed;
        assert_eq!(passed.len(), 6, "{backend:?}: {passed:?}");

        // What the browser did is what the audit log holds.
        let auditor = auditor(&server, &db);
        let logins = audit(&server, &auditor, "login");
        assert!(
            logins
                .iter()
                .any(|r| r["outcome"] == "denied" && r["target"] == clerk.username.as_str()),
            "{backend:?}: the wrong password is audited: {logins:?}"
        );
        let reveals = audit(&server, &auditor, "reveal");
        assert!(
            reveals.iter().any(|r| r["outcome"] == "ok"
                && r["target"] == household.as_str()
                && r["actor"] == format!("staff:{}", clerk.username)),
            "{backend:?}: the clerk's reveal in the console is audited: {reveals:?}"
        );
        let logouts = audit(&server, &auditor, "logout");
        assert!(
            logouts
                .iter()
                .any(|r| r["actor"] == format!("staff:{}", clerk.username)),
            "{backend:?}: {logouts:?}"
        );
    }
}
