//! What an attacker would try against staff accounts and the register: forged, expired and
//! ended sessions, password guessing, an auditor reaching for data, injection strings,
//! oversized and malformed bodies. Each ends in the right 4xx, never a 500, and loses nothing;
//! a refusal of someone identified leaves an audit record.

use crate::support::*;
use doorstep_e2e::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::Stdio;

fn login(server: &Server, username: &str, password: &str) -> (u16, Value) {
    server.post_json(
        "/api/v1/login",
        "",
        &json!({ "username": username, "password": password }),
    )
}

#[test]
fn test_forged_and_ended_sessions_are_refused() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let auditor = auditor(&server, &db);
        let forged = format!("dss_{}", "ab".repeat(32));
        let (status, body) = server.get_json("/api/v1/households", &forged);
        assert_error_json(status, &body, 401, "unauthorized");
        let (status, body) = server.get_json("/api/v1/households", "");
        assert_error_json(status, &body, 401, "unauthorized");
        // No one is identified: counted in the metrics (`edge.rs`), not audited.
        let refusals = audit(&server, &auditor, "register.list");
        assert!(
            refusals.iter().all(|r| r["detail"] != "unknown token"),
            "{backend:?}: {refusals:?}"
        );

        // Logging out ends the session at once.
        let token = server.staff_token(&db, COUNTY, "县工作人员");
        assert_eq!(server.get_json("/api/v1/households", &token).0, 200);
        let (status, _) = post_status(&server, "/api/v1/logout", &token);
        assert_eq!(status, 204);
        let (status, body) = server.get_json("/api/v1/households", &token);
        assert_error_json(status, &body, 401, "session_expired");
    }
}

fn post_status(server: &Server, path: &str, token: &str) -> (u16, Vec<u8>) {
    post_bytes(server, path, token, b"{}")
}

/// POSTs raw bytes as JSON to any endpoint; returns the status and the body.
fn post_bytes(server: &Server, path: &str, token: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut response = agent()
        .post(&format!("{}{path}", server.url))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

#[test]
fn test_an_expired_session_is_refused_and_audited() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let server = Server::start_with(&db, &["--session-lifetime-secs", "2"]);
    let token = server.staff_token(&db, COUNTY, "县工作人员");
    assert_eq!(server.get_json("/api/v1/households", &token).0, 200);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (status, body) = server.get_json("/api/v1/households", &token);
    assert_error_json(status, &body, 401, "session_expired");
    assert!(body["message"]["zh"].as_str().unwrap().contains("重新登录"));
    // The auditor's own session is fresh.
    let auditor = auditor(&server, &db);
    let refusals = audit(&server, &auditor, "register.list");
    assert!(
        refusals
            .iter()
            .any(|r| r["detail"] == "expired or ended session"),
        "{refusals:?}"
    );
}

#[test]
fn test_password_guessing_locks_the_account_and_every_attempt_is_audited() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let account = db.add_account("county_staff", COUNTY, "县工作人员");
        for attempt in 1..=4 {
            let (status, body) = login(&server, &account.username, &format!("guess-{attempt}"));
            assert_error_json(status, &body, 401, "bad_credentials");
        }
        let (status, body) = login(&server, &account.username, "guess-5");
        assert_error_json(status, &body, 429, "locked_out");
        // Locked: even the right password is refused for now.
        let (status, body) = login(&server, &account.username, &account.password);
        assert_error_json(status, &body, 429, "locked_out");
        assert!(body["message"]["zh"].as_str().unwrap().contains("锁定"));
        // The lockout says when it ends, for clients that back off by it.
        let locked = agent()
            .post(&format!("{}/api/v1/login", server.url))
            .header("Content-Type", "application/json")
            .send(
                json!({ "username": account.username, "password": account.password })
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
        let retry_after: i64 = locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry_after), "{retry_after}");
        // An unknown name is refused the same way a wrong password is.
        let (status, body) = login(&server, "nobody-here", "whatever-it-is");
        assert_error_json(status, &body, 401, "bad_credentials");

        let auditor = auditor(&server, &db);
        let logins = audit(&server, &auditor, "login");
        let denied = logins
            .iter()
            .filter(|r| r["target"] == account.username.as_str() && r["outcome"] == "denied")
            .count();
        assert_eq!(denied, 7, "{backend:?}: {logins:?}");
        assert!(logins.iter().any(|r| r["target"] == "nobody-here"));
        assert!(
            logins
                .iter()
                .all(|r| !r.to_string().contains(&account.password)),
            "passwords never reach the audit log"
        );
    }
}

#[test]
fn test_an_auditor_reads_the_audit_log_and_nothing_else() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new("phone", &server, &db.add_device(&[VILLAGE]));
        let household = record(&phone, VILLAGE, 1, "甲").pop_first().unwrap();
        phone.sync();
        let auditor = auditor(&server, &db);
        for path in [
            "/api/v1/households".to_owned(),
            format!("/api/v1/households/{household}"),
            "/api/v1/review/items".to_owned(),
            "/api/v1/villages".to_owned(),
        ] {
            let (status, body) = server.get_json(&path, &auditor);
            assert_error_json(status, &body, 403, "forbidden");
        }
        let refusals = audit(&server, &auditor, "register.read");
        assert!(
            refusals
                .iter()
                .any(|r| r["role"] == "auditor" && r["outcome"] == "denied"),
            "{backend:?}: {refusals:?}"
        );
        // Staff, for their part, cannot read the audit log.
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let (status, body) = server.get_json("/api/v1/audit", &staff);
        assert_error_json(status, &body, 403, "forbidden");
        // And reading the log is itself on the log.
        assert!(!audit(&server, &auditor, "audit.read").is_empty());
    }
}

#[test]
fn test_injection_strings_in_search_find_nothing_and_break_nothing() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new("phone", &server, &db.add_device(&[VILLAGE]));
        record(&phone, VILLAGE, 3, "甲");
        phone.sync();
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        for attack in [
            "' OR '1'='1",
            "'; DROP TABLE household; --",
            "%' UNION SELECT token_hash, 1, 1 FROM staff_session --",
            "\\\\%_",
            "甲' OR 1=1 --",
        ] {
            let (status, page) = server.get_json(
                &format!("/api/v1/households?search={}", encode(attack)),
                &staff,
            );
            assert_eq!(status, 200, "{backend:?} {attack}: {page}");
            assert_eq!(page["total"], 0, "{backend:?} {attack}: {page}");
        }
        let (status, page) = server.get_json("/api/v1/households", &staff);
        assert_eq!((status, &page["total"]), (200, &json!(3)), "{page}");
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn test_oversized_and_malformed_bodies_get_json_errors() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        for (path, body, want) in [
            ("/api/v1/login", &b"{\"username\": "[..], 400),
            ("/api/v1/login", &b"not json at all"[..], 400),
            ("/api/v1/review/merge", &b"[1, 2, 3]"[..], 422),
        ] {
            let (status, body) = post_bytes(&server, path, &staff, body);
            assert_eq!(status, want, "{backend:?} {path}");
            let error = error_body(&body, path);
            assert!(!error.message.zh.is_empty() && !error.message.en.is_empty());
        }
        // Staff requests are a few fields: a body past 64 KiB is refused, whatever it holds.
        let oversized = vec![b' '; 100 * 1024];
        for path in ["/api/v1/login", "/api/v1/review/merge", "/api/v1/enroll"] {
            let (status, body) = post_bytes(&server, path, &staff, &oversized);
            assert_eq!(status, 413, "{backend:?} {path}");
            assert_eq!(error_body(&body, path).error, "too_large");
        }
        let (status, _) = server.get_json("/api/v1/households", &staff);
        assert_eq!(status, 200, "still serving");
    }
}

#[test]
fn test_the_first_admin_logs_in_with_a_second_factor_and_creates_accounts() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let mut init = db
            .command()
            .args(["admin", "init", "--username", "admin", "--name", "县管理员"])
            .args(["--scope", COUNTY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let password = "admin password 123";
        writeln!(init.stdin.take().unwrap(), "{password}").unwrap();
        let output = init.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let printed = String::from_utf8(output.stdout).unwrap();
        let secret = printed
            .split("secret=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .unwrap_or_else(|| panic!("no TOTP secret printed: {printed}"))
            .to_owned();
        // A second `admin init` is refused.
        let again = db
            .command()
            .args(["admin", "init", "--name", "x", "--scope", COUNTY])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!again.status.success());

        let server = Server::start(&db);
        let (status, body) = login(&server, "admin", password);
        assert_error_json(status, &body, 401, "totp_required");
        let admin = server.login(&Account {
            username: "admin".to_owned(),
            password: password.to_owned(),
            totp_secret: Some(secret),
        });
        let (status, created) = server.post_json(
            "/api/v1/staff",
            &admin,
            &json!({
                "username": "clerk-1", "name": "乡镇办事员", "role": "township_staff",
                "scope": &VILLAGE[..9], "password": "township clerk pw"
            }),
        );
        assert_eq!(status, 201, "{backend:?}: {created}");
        // Outside the admin's county, and weak passwords, are refused.
        let (status, body) = server.post_json(
            "/api/v1/staff",
            &admin,
            &json!({
                "username": "clerk-2", "name": "x", "role": "county_staff",
                "scope": "141125", "password": "long enough password"
            }),
        );
        assert_error_json(status, &body, 403, "forbidden");
        let (status, body) = server.post_json(
            "/api/v1/staff",
            &admin,
            &json!({
                "username": "clerk-3", "name": "x", "role": "county_staff",
                "scope": COUNTY, "password": "short"
            }),
        );
        // Each refusal's code names what is wrong, for a form to place it.
        assert_error_json(status, &body, 400, "weak_password");
        for (request, code) in [
            (
                json!({ "username": "clerk-1", "name": "x", "role": "county_staff",
                        "scope": COUNTY, "password": "long enough password" }),
                "username_taken",
            ),
            (
                json!({ "username": "a b", "name": "x", "role": "county_staff",
                        "scope": COUNTY, "password": "long enough password" }),
                "invalid_username",
            ),
            (
                json!({ "username": "clerk-4", "name": "x", "role": "county_staff",
                        "scope": &VILLAGE[..9], "password": "long enough password" }),
                "area_does_not_fit_role",
            ),
        ] {
            let (status, body) = server.post_json("/api/v1/staff", &admin, &request);
            assert_error_json(status, &body, 400, code);
        }

        // The township clerk reads the register but cannot decide review items.
        let (status, clerk) = login(&server, "clerk-1", "township clerk pw");
        assert_eq!(status, 200, "{clerk}");
        let clerk = clerk["token"].as_str().unwrap();
        assert_eq!(server.get_json("/api/v1/households", clerk).0, 200);
        let (status, body) = server.get_json("/api/v1/review/items", clerk);
        assert_error_json(status, &body, 403, "forbidden");
        let (status, me) = server.get_json("/api/v1/me", clerk);
        assert_eq!((status, &me["role"]), (200, &json!("township_staff")));

        // Accounts made at the command line and through the API are both on the log.
        let auditor = auditor(&server, &db);
        let created = audit(&server, &auditor, "staff.create");
        let by: Vec<(&str, &str)> = created
            .iter()
            .map(|r| (r["actor"].as_str().unwrap(), r["target"].as_str().unwrap()))
            .collect();
        assert!(by.contains(&("operator", "admin")), "{created:?}");
        assert!(by.contains(&("staff:admin", "clerk-1")), "{created:?}");
    }
}

#[test]
fn test_the_audit_log_cannot_be_rewritten_even_with_database_access() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let server = Server::start(&db);
    let (status, _) = login(&server, "nobody", "wrong password");
    assert_eq!(status, 401);
    drop(server);
    let path = db.data_dir.path().join("doorstep.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let update = sqlx::query("UPDATE audit_log SET outcome = 'ok'")
            .execute(&mut conn)
            .await;
        assert!(update.is_err(), "an audit record was rewritten");
        let delete = sqlx::query("DELETE FROM audit_log")
            .execute(&mut conn)
            .await;
        assert!(delete.is_err(), "a young audit record was deleted");
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'login'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(count, 1);
    });
}

#[test]
fn test_id_numbers_are_masked_unless_a_county_role_asks_and_every_full_read_is_audited() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new("phone", &server, &db.add_device(&[VILLAGE]));
        let household = phone
            .store
            .create_household(&area(VILLAGE), Some("1411241002010001"))
            .unwrap();
        phone
            .store
            .add_member(&household, "刘伟", Some("11010519491231002X"))
            .unwrap();
        phone.sync();
        let path = format!("/api/v1/households/{household}");

        let township = server.staff_token(&db, &VILLAGE[..9], "乡镇工作人员");
        let (status, masked) = server.get_json(&path, &township);
        assert_eq!(status, 200, "{masked}");
        assert!(
            !masked.to_string().contains("11010519491231002X"),
            "{masked}"
        );
        assert!(
            masked.to_string().contains("1101**********002X"),
            "{masked}"
        );
        let (status, body) = server.get_json(&format!("{path}?reveal=true"), &township);
        assert_error_json(status, &body, 403, "forbidden");

        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let (status, full) = server.get_json(&format!("{path}?reveal=true"), &county);
        assert_eq!(status, 200, "{full}");
        assert!(full.to_string().contains("11010519491231002X"));

        let auditor = auditor(&server, &db);
        let reveals = audit(&server, &auditor, "reveal");
        let outcomes: Vec<(&str, &str)> = reveals
            .iter()
            .map(|r| (r["role"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
            .collect();
        assert!(
            outcomes.contains(&("township_staff", "denied")),
            "{reveals:?}"
        );
        assert!(outcomes.contains(&("county_staff", "ok")), "{reveals:?}");
        assert!(
            reveals
                .iter()
                .all(|r| r["target"] == household.to_string().as_str()),
            "{reveals:?}"
        );
    }
}

#[test]
fn test_an_export_masks_id_numbers_unless_asked_in_full_and_is_audited() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new("phone", &server, &db.add_device(&[VILLAGE]));
        let household = phone
            .store
            .create_household(&area(VILLAGE), Some("1411241002010007"))
            .unwrap();
        let member = phone
            .store
            .add_member(&household, "刘伟", Some("11010519491231002X"))
            .unwrap();
        phone
            .store
            .set_field(
                &household,
                &format!("members.{member}.employment.employer"),
                "=HYPERLINK(\"http://evil\")",
            )
            .unwrap();
        phone.sync();
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let csv = |query: &str| {
            let (status, body) = get_with_header(
                &server,
                &format!("/api/v1/exports/members.csv{query}"),
                Some(&format!("Bearer {county}")),
            );
            (status, String::from_utf8(body).unwrap())
        };
        let (status, masked) = csv("");
        assert_eq!(status, 200, "{masked}");
        assert!(
            masked.starts_with('\u{feff}'),
            "a BOM for spreadsheet programs"
        );
        assert!(masked.contains("刘伟") && masked.contains("1101**********002X"));
        assert!(!masked.contains("11010519491231002X"));
        assert!(
            masked.contains("'=HYPERLINK"),
            "a formula stays text: {masked}"
        );
        let (status, full) = csv("?reveal=true");
        assert_eq!(status, 200);
        assert!(full.contains("11010519491231002X"));

        let auditor = auditor(&server, &db);
        let exports = audit(&server, &auditor, "export");
        assert_eq!(exports.len(), 2, "{backend:?}: {exports:?}");
        assert!(
            exports
                .iter()
                .any(|r| r["detail"].as_str().unwrap().contains("in full"))
        );
    }
}

#[test]
fn test_member_keys_use_the_deployments_secret_so_a_key_does_not_give_away_an_id_number() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let server = Server::start(&db);
    let token = db.add_device(&[VILLAGE]);
    let first = Phone::new("phone-a", &server, &token);
    let second = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
    first.sync();
    second.sync();
    let household = first
        .store
        .create_household(&area(VILLAGE), Some("1411241002010011"))
        .unwrap();
    let id_number = "11010519491231002X";
    let key = first
        .store
        .add_member(&household, "刘伟", Some(id_number))
        .unwrap();
    let public = schema::ids::MemberKeySecret::development().member_key(
        &schema::id_number::IdNumber::parse(id_number, client_core::store::today()).unwrap(),
    );
    assert_ne!(key, public, "the key is not the public development one");
    // Both phones got the same secret: the same person recorded on both is one member.
    first.sync();
    second.sync();
    let again = second
        .store
        .add_member(&household, "刘伟", Some(id_number))
        .unwrap();
    assert_eq!(again, key);
}

#[test]
fn test_changing_a_password_ends_other_sessions_and_a_wrong_current_one_counts_as_a_guess() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let server = Server::start(&db);
    let account = db.add_account("county_staff", COUNTY, "县工作人员");
    let here = server.login(&account);
    let elsewhere = server.login(&account);
    let change = |current: &str, new: &str| {
        server.post_json(
            "/api/v1/me/password",
            &here,
            &json!({ "current": current, "new": new }),
        )
    };
    let (status, body) = change(&account.password, "short");
    assert_error_json(status, &body, 400, "weak_password");
    let (status, body) = change("not my password", "a new long password");
    assert_error_json(status, &body, 401, "bad_credentials");
    let (status, _) = post_bytes(
        &server,
        "/api/v1/me/password",
        &here,
        json!({ "current": account.password, "new": "a new long password" })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 204);
    assert_eq!(server.get_json("/api/v1/households", &here).0, 200);
    let (status, body) = server.get_json("/api/v1/households", &elsewhere);
    assert_error_json(status, &body, 401, "session_expired");
    let (status, _) = login(&server, &account.username, &account.password);
    assert_eq!(status, 401, "the old password no longer works");
    let (status, _) = login(&server, &account.username, "a new long password");
    assert_eq!(status, 200);

    let auditor = auditor(&server, &db);
    let changes = audit(&server, &auditor, "password.change");
    let outcomes: Vec<&str> = changes
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"ok") && outcomes.contains(&"denied"),
        "{changes:?}"
    );
    assert!(
        !changes
            .iter()
            .any(|r| r.to_string().contains("long password"))
    );
}

/// Runs `doorstep staff add` with `password` on standard input, as an operator types it.
fn staff_add(db: &TestDatabase, username: &str, password: &str) -> std::process::Output {
    let mut add = db
        .command()
        .args([
            "staff",
            "add",
            "--username",
            username,
            "--name",
            "县工作人员",
        ])
        .args(["--role", "county_staff", "--scope", COUNTY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
    add.wait_with_output().unwrap()
}

#[test]
fn test_staff_add_refuses_in_chinese_first_and_in_english() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let short = staff_add(&db, "clerk-short", "short");
        assert!(!short.status.success(), "{backend:?}: {short:?}");
        let said = String::from_utf8_lossy(&short.stderr);
        assert!(
            said.contains("密码太短：至少 10 个字符 / The password is too short"),
            "{backend:?}: {said}"
        );

        let first = staff_add(&db, "clerk-twice", "a long enough password");
        assert!(first.status.success(), "{backend:?}: {first:?}");
        let again = staff_add(&db, "clerk-twice", "a long enough password");
        assert!(!again.status.success(), "{backend:?}: {again:?}");
        let said = String::from_utf8_lossy(&again.stderr);
        assert!(
            said.contains("用户名“clerk-twice”已被使用 / The username \"clerk-twice\" is taken"),
            "{backend:?}: {said}"
        );
    }
}
