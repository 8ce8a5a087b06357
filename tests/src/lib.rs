//! The end-to-end harness: start the real `doorstep` binary on a free port, on SQLite or on
//! a fresh PostgreSQL database, and drive it with real device stores.
//!
//! Every test runs on SQLite, and on PostgreSQL too when `DATABASE_URL` is set. Under CI
//! (`CI=true`) an unreachable PostgreSQL fails the run instead of being skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use client_core::sync::{self, HttpTransport, SyncReport, Transport};
use client_core::{DeviceProfile, Store};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tempfile::TempDir;

pub use schema::ids::{AreaCode, HouseholdId, MemberKey};

/// A village of 临县 (Lin County) used throughout the tests.
pub const VILLAGE: &str = "141124100201";
/// A second village of the same township.
pub const OTHER_VILLAGE: &str = "141124100202";
pub const COUNTY: &str = "141124";

/// The `doorstep` binary, built once per test run if needed.
pub fn doorstep_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("DOORSTEP_BIN") {
            return PathBuf::from(path);
        }
        // target/<profile>/deps/<test binary> → target/<profile>/doorstep
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
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
        profile_dir.join("doorstep")
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

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }
}

/// A database of its own for one test, removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub data_dir: TempDir,
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
        let data_dir = tempfile::tempdir().unwrap();
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

    pub fn add_operator(&self, scope: &str) -> String {
        self.run(&["token", "add", "--scope", scope])
    }

    /// An operator token that names a staff member, as review decisions record them.
    pub fn add_staff(&self, scope: &str, name: &str) -> String {
        self.run(&["token", "add", "--scope", scope, "--name", name])
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
        let mut child = db
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
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

    /// GETs a JSON document with an operator token; returns the status and the body.
    pub fn get_json(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        let mut response = agent
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap();
        let json =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON ({status}): {body}"));
        (status, json)
    }

    /// POSTs a JSON document with an operator token; returns the status and the body.
    pub fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        let mut response = agent
            .post(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap();
        let json =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON ({status}): {body}"));
        (status, json)
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
