//! The end-to-end harness: start the real `doorstep` binary on a free port, on SQLite or on
//! a fresh PostgreSQL database, and drive it with real device stores.
//!
//! Every test runs on SQLite, and on PostgreSQL too when `DATABASE_URL` is set. Under CI
//! (`CI=true`) an unreachable PostgreSQL fails the run instead of being skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use client_core::sync::{self, HttpTransport, SyncReport, Transport};
use client_core::{DeviceProfile, Store};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tempfile::TempDir;

pub mod photos;

pub use schema::ids::{AreaCode, HouseholdId, MemberKey};

pub mod seed;

/// A village of 临县 (Lin County) used throughout the tests.
pub const VILLAGE: &str = "141124100201";
/// A second village of the same township.
pub const OTHER_VILLAGE: &str = "141124100202";
pub const COUNTY: &str = "141124";

/// Where this build's binaries are: `target/<profile>/`, above a test's or a bench's
/// `deps/<binary>`, or beside a binary of this crate (`generate-register`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    if dir.ends_with("deps") {
        dir.parent().unwrap().to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The `doorstep` binary, built once per test run if needed.
pub fn doorstep_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("DOORSTEP_BIN") {
            return PathBuf::from(path);
        }
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "-p",
            "doorstep-server",
            "--bin",
            "doorstep",
        ]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build
            .status()
            .expect("cargo build of the doorstep binary could not start");
        assert!(
            status.success(),
            "cargo build of the doorstep binary failed"
        );
        profile_dir().join("doorstep")
    })
    .clone()
}

/// Where a test's server keeps its data.
#[derive(Debug)]
pub enum Backend {
    Sqlite,
    Postgres { admin_url: String },
}

impl Backend {
    /// SQLite always; PostgreSQL too when `DATABASE_URL` is set.
    pub fn all() -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.trim().is_empty()
        {
            backends.push(Backend::Postgres { admin_url: url });
        }
        backends
    }

    /// PostgreSQL alone, for a test of what only a database server can do (go away, say).
    /// Fails without `DATABASE_URL`, as the harness does when the database is unreachable:
    /// such a test must not pass by testing nothing. `scripts/test` sets it.
    pub fn postgres() -> Backend {
        Backend::all()
            .into_iter()
            .find(|backend| matches!(backend, Backend::Postgres { .. }))
            .expect("this test needs PostgreSQL: set DATABASE_URL (scripts/test does)")
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }
}

/// Where a server keeps its files: a directory of the test's own, removed when dropped, or
/// one a person named, kept.
#[derive(Debug)]
pub enum DataDir {
    Temporary(TempDir),
    Kept(PathBuf),
}

impl DataDir {
    pub fn path(&self) -> &std::path::Path {
        match self {
            DataDir::Temporary(dir) => dir.path(),
            DataDir::Kept(path) => path,
        }
    }
}

/// A database of its own for one test, removed when dropped; or, made by [`TestDatabase::kept`],
/// a register a person keeps.
#[derive(Debug)]
pub struct TestDatabase {
    pub data_dir: DataDir,
    /// `None` means the embedded SQLite under `data_dir`.
    pub url: Option<String>,
    admin: Option<(String, String)>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl TestDatabase {
    pub fn new(backend: &Backend) -> TestDatabase {
        let data_dir = DataDir::Temporary(tempfile::tempdir().unwrap());
        match backend {
            Backend::Sqlite => TestDatabase {
                data_dir,
                url: None,
                admin: None,
            },
            Backend::Postgres { admin_url } => {
                let mut suffix = [0u8; 6];
                getrandom::fill(&mut suffix).unwrap();
                let name = format!("doorstep_test_{}", hex::encode(suffix));
                runtime().block_on(async {
                    use sqlx::Executor;
                    let admin = sqlx::PgPool::connect(admin_url).await.unwrap_or_else(|err| {
                        panic!("PostgreSQL at DATABASE_URL is unreachable ({err}); CI must not skip it")
                    });
                    admin
                        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .await
                        .unwrap();
                    admin.close().await;
                });
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("DATABASE_URL must name a database: {admin_url}"),
                };
                TestDatabase {
                    data_dir,
                    url: Some(url),
                    admin: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// The database of `doorstep --data DATA_DIR` (with `DATABASE_URL=url` for PostgreSQL),
    /// which outlives this value: nothing is removed when it is dropped.
    pub fn kept(data_dir: PathBuf, url: Option<String>) -> TestDatabase {
        TestDatabase {
            data_dir: DataDir::Kept(data_dir),
            url,
            admin: None,
        }
    }

    /// A `doorstep` command pointed at this database.
    pub fn command(&self) -> Command {
        let mut command = Command::new(doorstep_bin());
        command.arg("--data").arg(self.data_dir.path());
        match &self.url {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        command.env("RUST_LOG", "warn");
        command
    }

    /// Runs `doorstep ARGS` and returns its stdout, trimmed.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.command().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "doorstep {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    pub fn add_device(&self, villages: &[&str]) -> String {
        let mut args = vec!["device", "add"];
        for village in villages {
            args.extend(["--village", village]);
        }
        self.run(&args)
    }

    /// Creates a staff account through `doorstep staff add`, with a fresh username and a
    /// password fed on standard input, as an operator would.
    pub fn add_account(&self, role: &str, scope: &str, name: &str) -> Account {
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix).unwrap();
        let username = format!("{role}-{}", hex::encode(suffix));
        let password = format!("pass-{}", hex::encode(suffix));
        let mut child = self
            .command()
            .args(["staff", "add", "--username", &username, "--name", name])
            .args(["--role", role, "--scope", scope])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "doorstep staff add failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let totp_secret = stdout
            .lines()
            .find_map(|line| line.split("secret=").nth(1))
            .map(|rest| rest.split('&').next().unwrap_or_default().to_owned());
        Account {
            username,
            password,
            totp_secret,
        }
    }
}

/// An HTTP client that hands back error statuses instead of failing on them.
fn json_agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}

/// Sends a JSON body with a session token; returns the status and the JSON answer.
fn send_json(
    request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    token: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = request
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    json_answer(response)
}

/// The status and the JSON body of an answer, which must be JSON whatever its status.
fn json_answer(mut response: ureq::http::Response<ureq::Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    let json =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON ({status}): {body}"));
    (status, json)
}

/// A staff account made for a test, with what logging in needs.
#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    pub password: String,
    /// Base32, for admins.
    pub totp_secret: Option<String>,
}

impl Account {
    /// The code the authenticator app shows now, for an account with a second factor.
    pub fn totp_now(&self) -> Option<String> {
        self.totp_secret.as_ref().map(|secret| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let secret = totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap();
            totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret)
                .unwrap()
                .generate(now)
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.admin {
            runtime().block_on(async {
                use sqlx::Executor;
                if let Ok(admin) = sqlx::PgPool::connect(admin_url).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                    admin.close().await;
                }
            });
        }
    }
}

/// A running `doorstep serve`, stopped when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    pub fn start(db: &TestDatabase) -> Server {
        Server::start_with(db, &[])
    }

    /// Starts `doorstep serve` with extra options, such as a short session lifetime.
    pub fn start_with(db: &TestDatabase, options: &[&str]) -> Server {
        let mut child = db
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("doorstep listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from doorstep serve: {line:?}"))
            .to_owned();
        Server { child, url }
    }

    /// The server's process id, for benchmarks that read its counters in `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CPU seconds (user and system) the server process has used so far: what a
    /// benchmark reports beside wall times, which a shared machine stretches. NaN where
    /// `/proc` cannot tell.
    pub fn cpu_secs(&self) -> f64 {
        process_cpu_secs(self.pid())
    }

    /// Logs an account in through the API and returns its session token.
    pub fn login(&self, account: &Account) -> String {
        let body = serde_json::json!({
            "username": account.username,
            "password": account.password,
            "totp": account.totp_now(),
        });
        let (status, answer) = self.post_json("/api/v1/login", "", &body);
        assert_eq!(status, 200, "login failed: {answer}");
        answer["token"].as_str().unwrap().to_owned()
    }

    /// Signs an account in through the console's form, as a browser does, and returns the
    /// session cookie (`name=value`) its pages want.
    pub fn sign_in_console(&self, account: &Account) -> String {
        let field = |value: &str| {
            value
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        char::from(b).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        let form = format!(
            "username={}&password={}&totp={}&next=%2F",
            field(&account.username),
            field(&account.password),
            field(&account.totp_now().unwrap_or_default()),
        );
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build(),
        );
        let response = agent
            .post(&format!("{}/sign-in", self.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form.as_bytes())
            .unwrap();
        assert_eq!(response.status().as_u16(), 303, "signing in failed");
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .expect("signing in set no cookie");
        cookie.split(';').next().unwrap().to_owned()
    }

    /// A logged-in staff member of `scope` (county staff for a county or wider, township
    /// staff for a township) named `name`, as review decisions record them.
    pub fn staff_token(&self, db: &TestDatabase, scope: &str, name: &str) -> String {
        let role = if scope.len() == 9 {
            "township_staff"
        } else {
            "county_staff"
        };
        self.login(&db.add_account(role, scope, name))
    }

    /// GETs a JSON document with a session token; returns the status and the body.
    pub fn get_json(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        let response = json_agent()
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        json_answer(response)
    }

    /// POSTs a JSON document with a session token; returns the status and the body.
    pub fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let request = json_agent().post(&format!("{}{path}", self.url));
        send_json(request, token, body)
    }

    /// POSTs raw bytes to the sync endpoint; returns the status and the body.
    pub fn post_sync(&self, token: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        let mut response = agent
            .post(&format!("{}/api/v1/sync", self.url))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", schema::wire::CONTENT_TYPE)
            .send(&body[..])
            .unwrap();
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap();
        (status, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A volunteer's phone: a real device store, connected to a server.
#[derive(Debug)]
pub struct Phone {
    pub store: Store,
    _dir: TempDir,
}

impl Phone {
    pub fn new(name: &str, server: &Server, token: &str) -> Phone {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .set_profile(DeviceProfile {
                device: name.to_owned(),
                volunteer: format!("volunteer of {name}"),
            })
            .unwrap();
        sync::connect(&store, &server.url, token).unwrap();
        Phone { store, _dir: dir }
    }

    pub fn sync(&self) -> SyncReport {
        self.try_sync(&HttpTransport::new(Duration::from_secs(30)))
            .unwrap_or_else(|err| panic!("sync failed: {}", err.message()))
    }

    pub fn try_sync(&self, transport: &dyn Transport) -> Result<SyncReport, sync::SyncError> {
        sync::sync(
            &self.store,
            transport,
            schema::wire::DEFAULT_PAGE_BYTES,
            &AtomicBool::new(false),
            &mut |_| {},
        )
    }

    pub fn village() -> AreaCode {
        AreaCode::parse(VILLAGE).unwrap()
    }
}

// ─── Enrollment ───────────────────────────────────────────────────────────────────────────

impl Phone {
    /// A phone set up the way volunteers' phones are: by redeeming an enrollment code (or a
    /// QR code's text, when `server` is `None`).
    pub fn enroll(
        name: &str,
        server: Option<&Server>,
        code: &str,
    ) -> Result<(Phone, sync::Enrollment), sync::SyncError> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let enrollment = sync::enroll(&store, server.map(|s| s.url.as_str()), code, Some(name))?;
        Ok((Phone { store, _dir: dir }, enrollment))
    }

    /// The store's directory, for `doorstep-field --store` and for reopening it.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

impl Server {
    /// PUTs a JSON document with a session token; returns the status and the body.
    pub fn put_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let request = json_agent().put(&format!("{}{path}", self.url));
        send_json(request, token, body)
    }

    /// GETs anything with a session token; returns the status, the content type and the
    /// body.
    pub fn get_bytes(&self, path: &str, token: &str) -> (u16, String, Vec<u8>) {
        let mut response = json_agent()
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.body_mut().read_to_vec().unwrap();
        (status, content_type, body)
    }
}

impl TestDatabase {
    /// Runs one SQL statement against this database, as an operator at a SQL prompt would:
    /// for what a test cannot wait for, such as a code's expiry.
    pub fn execute(&self, sql: &str) {
        let url = self.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rw",
                self.data_dir.path().join("doorstep.db").display()
            )
        });
        runtime().block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        });
    }
}

/// The `doorstep-field` binary, built once per test run if needed.
pub fn field_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "-p",
            "doorstep-field",
            "--bin",
            "doorstep-field",
        ]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        assert!(
            build.status().unwrap().success(),
            "building doorstep-field failed"
        );
        profile_dir().join("doorstep-field")
    })
    .clone()
}

/// A change made on a copy of the phone's document, as the phone's own actor: what a
/// tampered app would send. The phone holds it too, as its software would.
pub fn tampered(
    phone: &Phone,
    household: &HouseholdId,
    message: Option<&str>,
    write: impl FnOnce(&mut automerge::AutoCommit, &str),
) -> Vec<u8> {
    let bytes = phone.store.document_bytes(household).unwrap();
    let mut doc = automerge::AutoCommit::load(&bytes).unwrap();
    let actor = phone.store.actor();
    doc.set_actor(automerge::ActorId::from(hex::decode(&actor).unwrap()));
    write(&mut doc, &actor);
    let mut options = automerge::transaction::CommitOptions::default();
    if let Some(message) = message {
        options = options.with_message(message.to_owned());
    }
    doc.commit_with(options);
    let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    phone
        .store
        .apply_changes(household, std::slice::from_ref(&change))
        .unwrap();
    change
}

/// A valid ID number from its first 17 digits: the check character appended.
pub fn with_check_character(first17: &str) -> String {
    let mut digits = [0u8; 17];
    for (digit, byte) in digits.iter_mut().zip(first17.bytes()) {
        *digit = byte - b'0';
    }
    format!("{first17}{}", schema::id_number::check_character(&digits))
}

/// A connection of the test's own to the server's database, with the runtime that drives it
/// (a pool outlives no runtime): for what only the database shows (plans, statistics, rows
/// at rest).
#[derive(Debug)]
pub struct Sql {
    runtime: tokio::runtime::Runtime,
    pool: sqlx::AnyPool,
}

impl Sql {
    pub fn open(db: &TestDatabase) -> Sql {
        let url = db.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rw",
                db.data_dir.path().join("doorstep.db").display()
            )
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = runtime.block_on(async {
            sqlx::any::install_default_drivers();
            sqlx::any::AnyPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .unwrap()
        });
        Sql { runtime, pool }
    }

    /// The rows of one statement, which must succeed.
    pub fn rows(&self, sql: &str) -> Vec<sqlx::any::AnyRow> {
        self.runtime.block_on(async {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&self.pool)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}"))
        })
    }
}

/// The CPU seconds (user and system) process `pid` has used so far, from `/proc/PID/stat`
/// (fields 14 and 15, in ticks of 1/100 s); NaN where it cannot be read.
pub fn process_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name in parentheses may hold spaces: count the fields after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |field: usize| {
        fields
            .get(field - 3)
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(14) + ticks(15)) / 100.0
}
