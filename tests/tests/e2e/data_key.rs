//! The data key is the database's: a ring that is not refuses to start, naming where it came
//! from and where the right one came from; no command mints a key for a database that holds
//! sealed data (the field trial's `admin init` from another directory); an operator resets
//! a lost second factor, audited; and what the register seals beyond ID numbers (full birth
//! dates, employers) is nowhere in the clear, yet exported whole.

use crate::at_rest::{find, postgres_values, sqlite_files};
use crate::support::*;
use doorstep_e2e::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

const OTHER_KEY: &str = "0303030303030303030303030303030303030303030303030303030303030303";
const NEW_KEY: &str = "0404040404040404040404040404040404040404040404040404040404040404";

/// Runs `command` with `stdin` fed and returns what it did.
fn run_with_input(mut command: std::process::Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The TOTP secret an `otpauth://` line of the output carries.
fn printed_secret(output: &Output) -> String {
    let printed = String::from_utf8(output.stdout.clone()).unwrap();
    printed
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_else(|| panic!("no TOTP secret printed: {printed}"))
        .to_owned()
}

/// `doorstep admin init` with this command's database and data directory.
fn admin_init(mut command: std::process::Command, password: &str) -> Output {
    command.args(["admin", "init", "--username", "admin", "--name", "县管理员"]);
    command.args(["--scope", COUNTY]);
    run_with_input(command, &format!("{password}\n"))
}

fn login(server: &Server, username: &str, password: &str, totp: Option<&str>) -> (u16, Value) {
    server.post_json(
        "/api/v1/login",
        "",
        &json!({ "username": username, "password": password, "totp": totp }),
    )
}

fn totp_now(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let secret = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret)
        .unwrap()
        .generate(now)
}

/// `doorstep` run as an operator in another directory would: the database by URL, and the
/// default data directory `./data` of that directory.
fn from_another_directory(db: &TestDatabase, dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(doorstep_bin());
    command
        .current_dir(dir)
        .env("DATABASE_URL", db.url.as_deref().unwrap())
        .env("RUST_LOG", "warn");
    command
}

/// The key line of the key file the first start made under the data directory.
fn made_key_line(data_dir: &Path) -> String {
    let text = std::fs::read_to_string(data_dir.join("doorstep.key")).unwrap();
    text.lines()
        .find(|line| !line.starts_with('#') && !line.trim().is_empty())
        .unwrap()
        .to_owned()
}

#[test]
fn test_a_key_ring_that_is_not_the_databases_is_refused_naming_both_keys_sources() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        // The first start makes the key under --data and records its check.
        db.add_device(&[VILLAGE]);
        let key_file = std::path::absolute(db.data_dir.path().join("doorstep.key")).unwrap();
        let line = made_key_line(db.data_dir.path());
        let key_id = line.split(':').next().unwrap().to_owned();

        let mut with_env = db.command();
        with_env
            .env("DOORSTEP_DATA_KEY", OTHER_KEY)
            .args(["device", "list", "--area", COUNTY]);
        let refused = with_env.output().unwrap();
        assert!(!refused.status.success(), "{backend:?}: {refused:?}");
        let message = stderr(&refused);
        for part in [
            "数据密钥与数据库不符",
            "The data key does not match this database",
            "DOORSTEP_DATA_KEY",
            &key_id,
            &key_file.display().to_string(),
        ] {
            assert!(message.contains(part), "{backend:?}: {part:?} in {message}");
        }

        // A key file of the wrong key is named too.
        let elsewhere = tempfile::tempdir().unwrap();
        let wrong = elsewhere.path().join("keys");
        std::fs::write(&wrong, format!("other:{OTHER_KEY}\n")).unwrap();
        let mut with_file = db.command();
        with_file
            .arg("--data-key-file")
            .arg(&wrong)
            .args(["device", "list", "--area", COUNTY]);
        let refused = with_file.output().unwrap();
        assert!(!refused.status.success(), "{backend:?}");
        let message = stderr(&refused);
        assert!(
            message.contains(&wrong.display().to_string()) && message.contains(&key_id),
            "{backend:?}: {message}"
        );

        // The database's key behind a key that is not its oldest: it would open the check,
        // but hash ID numbers otherwise.
        let shuffled = elsewhere.path().join("shuffled");
        std::fs::write(&shuffled, format!("{line}\nother:{OTHER_KEY}\n")).unwrap();
        let mut with_shuffled = db.command();
        with_shuffled
            .arg("--data-key-file")
            .arg(&shuffled)
            .args(["device", "list", "--area", COUNTY]);
        let refused = with_shuffled.output().unwrap();
        assert!(!refused.status.success(), "{backend:?}");
        assert!(
            stderr(&refused).contains("身份证号查找将失效"),
            "{backend:?}: {}",
            stderr(&refused)
        );

        // A rotated ring (a new current key, the database's kept last) is the database's.
        let devices = || {
            db.run(&["device", "list", "--area", COUNTY])
                .lines()
                .count()
        };
        let before = devices();
        let rotated = elsewhere.path().join("rotated");
        std::fs::write(&rotated, format!("new:{NEW_KEY}\n{line}\n")).unwrap();
        let mut with_rotated = db.command();
        with_rotated.arg("--data-key-file").arg(&rotated).args([
            "device",
            "add",
            "--village",
            VILLAGE,
        ]);
        let output = with_rotated.output().unwrap();
        assert!(output.status.success(), "{backend:?}: {}", stderr(&output));
        assert_eq!(devices(), before + 1, "{backend:?}: the rotated ring wrote");
    }
}

#[test]
fn test_admin_init_without_the_databases_key_is_refused_instead_of_minting_one() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        drop(server);
        // The operator runs from another directory (PostgreSQL), or the key file is not
        // where the database is (SQLite): either way, no key file under --data.
        let other = tempfile::tempdir().unwrap();
        let (command, expected_file) = match &db.url {
            Some(_) => (
                from_another_directory(&db, other.path()),
                other.path().join("data").join("doorstep.key"),
            ),
            None => {
                let moved = other.path().join("kept.key");
                std::fs::rename(db.data_dir.path().join("doorstep.key"), &moved).unwrap();
                (db.command(), db.data_dir.path().join("doorstep.key"))
            }
        };
        let refused = admin_init(command, "admin password 123");
        assert!(!refused.status.success(), "{backend:?}: {refused:?}");
        let message = stderr(&refused);
        assert!(
            message.contains("没有数据密钥")
                && message.contains("No new key is made")
                && message.contains("doorstep.key"),
            "{backend:?}: {message}"
        );
        assert!(!expected_file.exists(), "{backend:?}: a key was minted");
        if db.url.is_none() {
            std::fs::rename(
                other.path().join("kept.key"),
                db.data_dir.path().join("doorstep.key"),
            )
            .unwrap();
        }

        // With the database's key, the admin is made and logs in with the second factor.
        let made = admin_init(db.command(), "admin password 123");
        assert!(made.status.success(), "{backend:?}: {}", stderr(&made));
        let secret = printed_secret(&made);
        let server = Server::start(&db);
        let (status, body) = login(
            &server,
            "admin",
            "admin password 123",
            Some(&totp_now(&secret)),
        );
        assert_eq!(status, 200, "{backend:?}: {body}");
    }
}

#[test]
fn test_a_database_sealed_before_key_checks_gets_no_new_key_and_records_the_right_one() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let made = admin_init(db.command(), "admin password 123");
        assert!(made.status.success(), "{}", stderr(&made));
        // As a database migrated from before 0007: sealed data, no check.
        db.execute("DELETE FROM data_key_check");
        // From another directory (PostgreSQL only: SQLite's database is the directory's).
        if db.url.is_some() {
            let other = tempfile::tempdir().unwrap();
            let refused = from_another_directory(&db, other.path())
                .args(["device", "list", "--area", COUNTY])
                .output()
                .unwrap();
            assert!(!refused.status.success(), "{backend:?}");
            assert!(
                stderr(&refused).contains("made before it recorded a key check"),
                "{backend:?}: {}",
                stderr(&refused)
            );
            assert!(!other.path().join("data").join("doorstep.key").exists());
        }
        // A wrong key cannot open the sealed TOTP secret, and is refused.
        let mut wrong = db.command();
        wrong
            .env("DOORSTEP_DATA_KEY", OTHER_KEY)
            .args(["device", "list", "--area", COUNTY]);
        let refused = wrong.output().unwrap();
        assert!(!refused.status.success(), "{backend:?}");
        assert!(
            stderr(&refused).contains("cannot open its sealed data"),
            "{backend:?}: {}",
            stderr(&refused)
        );
        // The right one passes and is recorded: the wrong one is now refused by the check.
        db.run(&["device", "list", "--area", COUNTY]);
        let mut wrong = db.command();
        wrong
            .env("DOORSTEP_DATA_KEY", OTHER_KEY)
            .args(["device", "list", "--area", COUNTY]);
        let refused = wrong.output().unwrap();
        assert!(
            stderr(&refused).contains("The data key does not match this database"),
            "{backend:?}: {}",
            stderr(&refused)
        );
    }
}

#[test]
fn test_an_operator_resets_a_lost_second_factor_and_the_reset_is_audited() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let password = "admin password 123";
        let made = admin_init(db.command(), password);
        assert!(made.status.success(), "{}", stderr(&made));
        let lost = printed_secret(&made);
        let server = Server::start(&db);
        let (status, body) = login(&server, "admin", password, Some(&totp_now(&lost)));
        assert_eq!(status, 200, "{backend:?}: {body}");
        let session = body["token"].as_str().unwrap().to_owned();

        let reset = db
            .command()
            .args(["admin", "reset-totp", "--username", "admin"])
            .output()
            .unwrap();
        assert!(reset.status.success(), "{backend:?}: {}", stderr(&reset));
        let secret = printed_secret(&reset);
        assert_ne!(secret, lost);

        // The lost factor and the sessions it opened stop working; the new one logs in.
        assert_eq!(server.get_json("/api/v1/me", &session).0, 401);
        let (status, body) = login(&server, "admin", password, Some(&totp_now(&lost)));
        assert_error_json(status, &body, 401, "totp_required");
        let (status, body) = login(&server, "admin", password, Some(&totp_now(&secret)));
        assert_eq!(status, 200, "{backend:?}: {body}");

        // An account without a second factor, or none at all, is refused in both languages.
        let clerk = db.add_account("county_staff", COUNTY, "县工作人员");
        for (username, words) in [
            (clerk.username.as_str(), "has no second factor"),
            ("nobody", "There is no account"),
        ] {
            let refused = db
                .command()
                .args(["admin", "reset-totp", "--username", username])
                .output()
                .unwrap();
            assert!(!refused.status.success(), "{backend:?}: {username}");
            assert!(stderr(&refused).contains(words), "{}", stderr(&refused));
            assert!(stderr(&refused).contains("账号"), "{}", stderr(&refused));
        }

        let auditor = auditor(&server, &db);
        let records = audit(&server, &auditor, "staff.reset_totp");
        let done: Vec<(&str, &str)> = records
            .iter()
            .map(|r| (r["actor"].as_str().unwrap(), r["target"].as_str().unwrap()))
            .collect();
        assert_eq!(done, [("operator", "admin")], "{backend:?}: {records:?}");
    }
}

#[test]
fn test_an_admin_resets_another_admins_second_factor_through_the_api_audited() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let admin = db.add_account("county_admin", COUNTY, "县管理员");
        let colleague = db.add_account("county_admin", COUNTY, "县管理员乙");
        let lost = colleague.totp_secret.clone().unwrap();
        let colleague_session = server.login(&colleague);
        let token = server.login(&admin);
        let path = format!("/api/v1/staff/{}/reset-totp", colleague.username);

        let (status, body) = server.post_json(&path, &token, &json!({}));
        assert_eq!(status, 200, "{backend:?}: {body}");
        let uri = body["totp_uri"].as_str().unwrap();
        let secret = uri
            .split("secret=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .unwrap()
            .to_owned();
        assert_ne!(secret, lost);
        assert_eq!(body["staff"]["username"], colleague.username.as_str());

        // The lost factor and its sessions stop working; the new one logs in.
        assert_eq!(server.get_json("/api/v1/me", &colleague_session).0, 401);
        let login = |totp: &str| {
            server.post_json(
                "/api/v1/login",
                "",
                &json!({ "username": colleague.username, "password": colleague.password,
                         "totp": totp_now(totp) }),
            )
        };
        let (status, body) = login(&lost);
        assert_error_json(status, &body, 401, "totp_required");
        assert_eq!(login(&secret).0, 200, "{backend:?}");

        // A clerk may not; an account without a second factor, or of no one, is refused.
        let clerk = db.add_account("county_staff", COUNTY, "县工作人员");
        let clerk_token = server.login(&clerk);
        let (status, _) = server.post_json(&path, &clerk_token, &json!({}));
        assert_eq!(status, 403, "{backend:?}");
        let no_factor = format!("/api/v1/staff/{}/reset-totp", clerk.username);
        let (status, body) = server.post_json(&no_factor, &token, &json!({}));
        assert_eq!(status, 400, "{backend:?}: {body}");
        let message = body.to_string();
        assert!(message.contains("has no second factor"), "{message}");
        let (status, body) =
            server.post_json("/api/v1/staff/nobody/reset-totp", &token, &json!({}));
        assert_eq!(status, 404, "{backend:?}: {body}");
        assert!(body.to_string().contains("您的区划内没有账号"), "{body}");

        let auditor = auditor(&server, &db);
        let records = audit(&server, &auditor, "staff.reset_totp");
        let done: Vec<&str> = records
            .iter()
            .filter(|r| r["outcome"] == "ok")
            .map(|r| r["target"].as_str().unwrap())
            .collect();
        assert_eq!(
            done,
            [colleague.username.as_str()],
            "{backend:?}: {records:?}"
        );
    }
}

#[test]
fn test_birth_dates_and_employers_are_sealed_at_rest_and_exported_whole() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new("phone", &server, &db.add_device(&[VILLAGE]));
        let household = phone.store.create_household(&area(VILLAGE), None).unwrap();
        let id_number = with_check_character("14112419570314001");
        let member = phone
            .store
            .add_member(&household, "刘伟", Some(&id_number))
            .unwrap();
        let birth_date = "1957-03-14";
        let employer = "临县宏达煤业有限公司";
        phone
            .store
            .set_fields(
                &household,
                &[
                    (&format!("members.{member}.birth_date"), birth_date),
                    (&format!("members.{member}.employment.employer"), employer),
                ],
            )
            .unwrap();
        phone.sync();

        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let (status, body) = get_with_header(
            &server,
            "/api/v1/exports/members.csv",
            Some(&format!("Bearer {county}")),
        );
        let csv = String::from_utf8(body).unwrap();
        assert_eq!(status, 200, "{csv}");
        assert!(
            csv.contains(birth_date) && csv.contains(employer),
            "{backend:?}: {csv}"
        );

        drop(server);
        let secrets = BTreeSet::from([birth_date.to_owned(), employer.to_owned()]);
        let leaked = match &db.url {
            None => sqlite_files(db.data_dir.path())
                .into_iter()
                .find_map(|(file, bytes)| find(&bytes, &secrets).map(|s| (file, s))),
            Some(url) => postgres_values(url)
                .into_iter()
                .find_map(|(column, bytes)| find(&bytes, &secrets).map(|s| (column, s))),
        };
        assert_eq!(leaked, None, "{backend:?}: in the clear");
        // The year stays plain, for age bands: the only birth field a query can read.
        let year = birth_year(&db);
        assert_eq!(year, Some(1957), "{backend:?}");
    }
}

/// The plain birth year the register keeps of the one member.
fn birth_year(db: &TestDatabase) -> Option<i64> {
    let url = db.url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=ro",
            db.data_dir.path().join("doorstep.db").display()
        )
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let year: Option<i64> = sqlx::query("SELECT birth_year FROM member")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get("birth_year");
        pool.close().await;
        year
    })
}
