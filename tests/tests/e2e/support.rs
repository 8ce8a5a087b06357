//! Helpers shared by the end-to-end modules: recording households, building raw sync
//! requests, reading answers and error bodies, running `doorstep-field`, and reading the
//! audit log as an auditor.

use doorstep_e2e::{
    AreaCode, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE, field_bin,
};
use schema::Message;
use schema::wire::{
    self, Bytes, ErrorBody, RejectCode, SyncRequest, SyncResponse, Upload, UploadOutcome,
};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

pub fn area(code: &str) -> AreaCode {
    AreaCode::parse(code).unwrap()
}

pub fn fresh_id() -> HouseholdId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    HouseholdId::from_random(bytes)
}

/// Records `count` households, each with a head and a finished visit.
pub fn record(phone: &Phone, village: &str, count: usize, tag: &str) -> BTreeSet<HouseholdId> {
    (0..count)
        .map(|n| {
            let household = phone.store.create_household(&area(village), None).unwrap();
            phone
                .store
                .add_member(&household, &format!("户主{tag}{n}"), None)
                .unwrap();
            let visit = phone.store.start_visit(&household).unwrap();
            phone
                .store
                .finish_visit(&household, &visit, "met", None, None)
                .unwrap();
            household
        })
        .collect()
}

pub fn ids(phone: &Phone) -> BTreeSet<HouseholdId> {
    phone.store.household_ids().unwrap().into_iter().collect()
}

/// The ids the register lists for an area.
pub fn register_ids(server: &Server, operator: &str, area: &str) -> BTreeSet<String> {
    let (status, page) = server.get_json(
        &format!("/api/v1/households?area={area}&limit=500"),
        operator,
    );
    assert_eq!(status, 200, "{page}");
    page["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A household as the register holds it, ID numbers in full (county staff may ask), so
/// that it compares with a phone's copy.
pub fn detail(server: &Server, operator: &str, household: &HouseholdId) -> serde_json::Value {
    let (status, detail) = server.get_json(
        &format!("/api/v1/households/{household}?reveal=true"),
        operator,
    );
    assert_eq!(status, 200, "{detail}");
    detail
}

pub fn request(uploads: Vec<Upload>) -> SyncRequest {
    SyncRequest {
        protocol: wire::PROTOCOL_VERSION,
        actor: "0123456789abcdef0123456789abcdef".to_owned(),
        cursor: None,
        uploads,
        page_bytes: wire::DEFAULT_PAGE_BYTES,
    }
}

pub fn upload(household: &str, changes: &[Vec<u8>]) -> Upload {
    Upload {
        household: household.to_owned(),
        changes: changes.iter().cloned().map(Bytes::from).collect(),
    }
}

/// Sends a hand-built request that the server must answer with 200.
pub fn sync_raw(server: &Server, token: &str, request: &SyncRequest) -> SyncResponse {
    let (status, body) = server.post_sync(token, wire::encode(request).unwrap());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    wire::decode(&body).unwrap()
}

pub fn rejection(response: &SyncResponse, index: usize) -> (RejectCode, Message) {
    match &response.results[index].outcome {
        UploadOutcome::Rejected { code, reason } => (*code, reason.clone()),
        outcome => panic!("upload {index} was not rejected: {outcome:?}"),
    }
}

pub fn error_body(body: &[u8], what: &str) -> ErrorBody {
    serde_json::from_slice(body).unwrap_or_else(|_| {
        panic!(
            "{what}: not a JSON error body: {}",
            String::from_utf8_lossy(body)
        )
    })
}

/// Asserts an error answer: its status and the JSON body every failure carries.
pub fn assert_error(status: u16, body: &[u8], want: u16, code: &str, what: &str) {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, want, "{what}: {text}");
    let error = error_body(body, what);
    assert_eq!(error.error, code, "{what}: {text}");
    assert!(
        !error.message.zh.is_empty() && !error.message.en.is_empty(),
        "{what}: {text}"
    );
}

pub fn assert_error_json(status: u16, body: &serde_json::Value, want: u16, code: &str) {
    assert_error(status, body.to_string().as_bytes(), want, code, "register");
}

/// The server still answers its health check and a device's ordinary sync.
pub fn assert_still_serving(server: &Server, phone: &Phone) {
    let (status, body) = get_with_header(server, "/healthz", None);
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    let household = record(phone, VILLAGE, 1, "健康检查").pop_first().unwrap();
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{report:?}");
    assert_eq!(
        phone.store.household(&household).unwrap().unsynced_changes,
        0
    );
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    )
}

/// POSTs `body` to the sync endpoint with a raw `Authorization` header (or none).
pub fn post_with_header(
    server: &Server,
    authorization: Option<&str>,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut request = agent()
        .post(&format!("{}/api/v1/sync", server.url))
        .header("Content-Type", wire::CONTENT_TYPE);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

pub fn post_raw(server: &Server, token: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
    let header = token.map(|token| format!("Bearer {token}"));
    post_with_header(server, header.as_deref(), body)
}

pub fn get_with_header(server: &Server, path: &str, authorization: Option<&str>) -> (u16, Vec<u8>) {
    let mut request = agent().get(&format!("{}{path}", server.url));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

/// A well-framed sync body of any bytes (protocol 2: the checksum, then Brotli), so a
/// test can send CBOR that is not a request, or a bomb, that passes the framing.
pub fn framed(cbor: &[u8]) -> Vec<u8> {
    let body = blake3::hash(cbor).as_bytes()[..8].to_vec();
    let mut brotli = brotli::CompressorWriter::new(body, 4096, 5, 20);
    brotli.write_all(cbor).unwrap();
    brotli.into_inner()
}

/// The CBOR inside a sync body.
pub fn unframed(body: &[u8]) -> Vec<u8> {
    let mut cbor = Vec::new();
    brotli::Decompressor::new(&body[8..], 4096)
        .read_to_end(&mut cbor)
        .unwrap();
    cbor
}

/// A body as sync protocol 1 sent it: gzip of the CBOR.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(data).unwrap();
    gzip.finish().unwrap()
}

/// Runs `doorstep-field --store STORE ARGS`; whatever it answers, it must not panic.
pub fn field(store: &Path, args: &[&str]) -> Output {
    let output = Command::new(field_bin())
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

/// Runs a `doorstep-field` command that must succeed and returns its stdout, trimmed.
pub fn field_ok(store: &Path, args: &[&str]) -> String {
    let output = field(store, args);
    assert!(
        output.status.success(),
        "doorstep-field {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A logged-in auditor of the county.
pub fn auditor(server: &Server, db: &TestDatabase) -> String {
    server.login(&db.add_account("auditor", COUNTY, "审计员"))
}

/// The audit records of one action, newest first, as an auditor reads them.
pub fn audit(server: &Server, auditor: &str, action: &str) -> Vec<serde_json::Value> {
    let (status, page) = server.get_json(&format!("/api/v1/audit?action={action}"), auditor);
    assert_eq!(status, 200, "{page}");
    page["records"].as_array().unwrap().clone()
}

/// A Node package of the repository (`tests/node`, `tests/browser`), with its packages
/// installed by the project's own script (`installer`) when `node_modules/<marker>` is
/// missing: once per run, one install at a time. Fails, never skips, when it cannot.
pub fn node_package(dir: &str, installer: &str, marker: &str) -> PathBuf {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let package = repository.join(dir);
    let _one_at_a_time = INSTALLING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !package.join("node_modules").join(marker).is_dir() {
        let status = Command::new(repository.join(installer))
            .status()
            .unwrap_or_else(|err| panic!("{installer} could not start: {err}"));
        assert!(
            status.success(),
            "{installer} failed: {dir} needs Node.js 20 or later and npm, and the npm registry \
             to install {dir}/package-lock.json"
        );
    }
    package
}

/// An account as the browser scripts sign in with it.
pub fn account_json(account: &doorstep_e2e::Account, name: &str) -> serde_json::Value {
    serde_json::json!({
        "username": account.username,
        "password": account.password,
        "totp_secret": account.totp_secret,
        "name": name,
    })
}

/// Where the browser scripts write their screenshots: `target/console-screenshots/`.
pub fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/console-screenshots")
}

/// What a browser script printed: the scenarios that passed, and what they reported.
pub struct BrowserRun {
    pub passed: Vec<String>,
    pub reported: serde_json::Value,
}

/// Runs the browser script `tests/browser/SCRIPT` with `config` (its scenarios run in one
/// headless Chromium; `tests/browser/harness.mjs`); it must succeed.
pub fn run_browser(script: &str, config: &serde_json::Value) -> BrowserRun {
    let dir = node_package("tests/browser", "scripts/browser-deps", "playwright-core");
    let output = Command::new("node")
        .arg(script)
        .arg(config.to_string())
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|err| {
            panic!("`node` could not be run ({err}): the console's browser tests need Node.js 20 or later")
        });
    assert!(
        output.status.success(),
        "the browser test {script} failed:\n{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "the browser script printed no JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    BrowserRun {
        passed: printed["passed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect(),
        reported: printed["reported"].clone(),
    }
}
