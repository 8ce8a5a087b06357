//! Hardening seen from outside: the security headers on every answer; rate limits that answer
//! 429 with `Retry-After` and hold back only the client or credential over its limit, and
//! are not audited; HTTPS with the operator's certificate and key, and a clear refusal of
//! files that are missing or do not belong together.
//!
//! These run on SQLite only: they are about the transport, which is the same on both
//! backends.

use crate::support::*;
use doorstep_e2e::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("cache-control", "no-store"),
];

/// A whole answer: status, headers and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn assert_security_headers(&self, what: &str) {
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(self.header(name), Some(value), "{what}: {name}");
        }
    }

    /// A refusal by a rate limit: JSON in both languages, and when to come back.
    fn assert_rate_limited(&self, what: &str) {
        assert_error(self.status, &self.body, 429, "rate_limited", what);
        let retry_after: u64 = self
            .header("retry-after")
            .unwrap_or_else(|| panic!("{what}: no Retry-After"))
            .parse()
            .unwrap();
        assert!(retry_after >= 1, "{what}: Retry-After {retry_after}");
        self.assert_security_headers(what);
    }
}

fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.body_mut().read_to_vec().unwrap(),
    }
}

fn get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> Answer {
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    answer(request.call())
}

fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &Value) -> Answer {
    let mut request = agent.post(url).header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    answer(request.send(body.to_string().as_bytes()))
}

fn sync(server: &Server, token: &str) -> Answer {
    let body = schema::wire::encode(&request(Vec::new())).unwrap();
    answer(
        agent()
            .post(&format!("{}/api/v1/sync", server.url))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", schema::wire::CONTENT_TYPE)
            .send(&body[..]),
    )
}

/// Asks until a rate limit answers, and returns the answers before it and the refusal.
/// `attempts` is far above what the limit allows, so only a limit that does not work lets
/// them all through.
fn until_limited(attempts: usize, mut ask: impl FnMut() -> Answer) -> (Vec<Answer>, Answer) {
    let mut before = Vec::new();
    for _ in 0..attempts {
        let answer = ask();
        if answer.status == 429 {
            return (before, answer);
        }
        before.push(answer);
    }
    panic!("{attempts} requests in a row, and no rate limit answered");
}

/// One HTTP/1.1 request from another loopback address (Linux answers all of 127.0.0.0/8), so
/// the server sees a second client.
fn from_address(
    source: [u8; 4],
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let target: SocketAddr = server.url.strip_prefix("http://").unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Binding before connecting takes tokio's socket; the rest is plain blocking I/O.
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        socket.connect(target).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    let mut stream: TcpStream = stream;
    let body = body.map(Value::to_string).unwrap_or_default();
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n{authorization}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if body == "ok" {
        Value::String(body.to_owned())
    } else {
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON ({status}): {body}"))
    };
    (status, body)
}

const ELSEWHERE: [u8; 4] = [127, 0, 0, 2];

#[test]
fn test_every_answer_carries_the_security_headers() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let server = Server::start(&db);
    let agent = agent();
    let ok = get(&agent, &format!("{}/healthz", server.url), None);
    assert_eq!((ok.status, ok.body.as_slice()), (200, b"ok".as_slice()));
    let unauthorized = get(&agent, &format!("{}/api/v1/me", server.url), None);
    assert_error(
        unauthorized.status,
        &unauthorized.body,
        401,
        "unauthorized",
        "me",
    );
    let missing = get(
        &agent,
        &format!("{}/api/v1/no/such/thing", server.url),
        None,
    );
    assert_error(missing.status, &missing.body, 404, "not_found", "404");
    // Outside the API an unknown address is the console's page, in both languages.
    let missing_page = get(&agent, &format!("{}/no/such/page", server.url), None);
    assert_eq!(missing_page.status, 404);
    assert!(
        missing_page
            .header("content-type")
            .is_some_and(|kind| kind.starts_with("text/html")),
        "{:?}",
        missing_page.header("content-type")
    );
    // A page has the console's own policy (its stylesheet, same-origin referrers for the
    // language toggle), and is never framed, sniffed or cached.
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(missing_page.header(name), Some(value), "404 page: {name}");
    }
    assert!(
        missing_page
            .header("content-security-policy")
            .is_some_and(|policy| policy.contains("frame-ancestors 'none'")),
        "{:?}",
        missing_page.header("content-security-policy")
    );
    // Made by the router, not a handler, and rewritten to JSON by a layer.
    let wrong_method = post(&agent, &format!("{}/healthz", server.url), None, &json!({}));
    assert_eq!(wrong_method.status, 405);
    for (what, answer) in [
        ("200", &ok),
        ("401", &unauthorized),
        ("404", &missing),
        ("405", &wrong_method),
    ] {
        answer.assert_security_headers(what);
        // Plain HTTP: a browser would ignore it, and a proxy in front sets its own.
        assert_eq!(answer.header("strict-transport-security"), None, "{what}");
    }
}

#[test]
fn test_a_device_over_its_limit_is_refused_and_other_devices_go_on() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let busy = db.add_device(&[VILLAGE]);
    let quiet = db.add_device(&[VILLAGE]);
    let server = Server::start_with(&db, &["--rate-per-credential", "1"]);
    let (before, refused) = until_limited(200, || sync(&server, &busy));
    assert!(before.iter().all(|answer| answer.status == 200));
    refused.assert_rate_limited("a device over its limit");
    // Another device on the same address, and a request with no credential, are not held
    // back by the busy device's limit.
    let other = sync(&server, &quiet);
    assert_eq!(
        other.status,
        200,
        "{}",
        String::from_utf8_lossy(&other.body)
    );
    let health = get(&agent(), &format!("{}/healthz", server.url), None);
    assert_eq!(health.status, 200);
}

#[test]
fn test_a_client_address_over_its_limit_is_refused_and_other_addresses_go_on() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let server = Server::start_with(&db, &["--rate-per-client", "1"]);
    let agent = agent();
    let (before, refused) = until_limited(200, || {
        get(&agent, &format!("{}/healthz", server.url), None)
    });
    assert!(before.iter().all(|answer| answer.status == 200));
    refused.assert_rate_limited("a client over its limit");
    let (status, body) = from_address(ELSEWHERE, &server, "GET", "/healthz", None, None);
    assert_eq!((status, body), (200, json!("ok")));
}

#[test]
fn test_password_guessing_from_one_address_is_slowed_and_not_audited() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let auditor = db.add_account("auditor", COUNTY, "审计员");
    let server = Server::start_with(&db, &["--login-attempts-per-minute", "3"]);
    let agent = agent();
    let login_url = format!("{}/api/v1/login", server.url);
    let guess = json!({ "username": "nobody", "password": "guess-guess-guess" });
    let (before, refused) = until_limited(50, || post(&agent, &login_url, None, &guess));
    for answer in &before {
        assert_error(
            answer.status,
            &answer.body,
            401,
            "bad_credentials",
            "a guess",
        );
    }
    refused.assert_rate_limited("a login over the limit");
    // Redeeming enrollment codes is guessing too, and shares the bucket.
    let enroll = post(
        &agent,
        &format!("{}/api/v1/enroll", server.url),
        None,
        &json!({ "code": "ABCD-EFGH", "actor": "0123456789abcdef0123456789abcdef" }),
    );
    enroll.assert_rate_limited("an enrollment over the limit");

    // Someone at another address logs in as usual, and reads the log: the refused guesses
    // never reached the login, so only the guesses answered 401 are recorded.
    let credentials = json!({ "username": auditor.username, "password": auditor.password });
    let (status, session) = from_address(
        ELSEWHERE,
        &server,
        "POST",
        "/api/v1/login",
        None,
        Some(&credentials),
    );
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap();
    let (status, page) = from_address(
        ELSEWHERE,
        &server,
        "GET",
        "/api/v1/audit?action=login",
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{page}");
    let guesses = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| record["target"] == "nobody" && record["client"] == "127.0.0.1")
        .count();
    assert_eq!(guesses, before.len(), "{page}");
}

/// A self-signed certificate for the loopback address, and its key, as PEM files.
pub(crate) struct Certificate {
    dir: tempfile::TempDir,
    pem: String,
}

impl Certificate {
    pub(crate) fn new() -> Certificate {
        let dir = tempfile::tempdir().unwrap();
        let made = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let pem = made.cert.pem();
        std::fs::write(dir.path().join("server.crt"), &pem).unwrap();
        std::fs::write(
            dir.path().join("server.key"),
            made.signing_key.serialize_pem(),
        )
        .unwrap();
        Certificate { dir, pem }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    pub(crate) fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".to_owned(),
            path_text(&self.cert()),
            "--tls-key".to_owned(),
            path_text(&self.key()),
        ]
    }

    /// A client that trusts this certificate and nothing else.
    fn agent(&self) -> ureq::Agent {
        let root = ureq::tls::Certificate::from_pem(self.pem.as_bytes()).unwrap();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
            .build();
        ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .tls_config(tls)
                .build(),
        )
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// Waits for a process to end by itself; one that never does fails the test rather than
/// hanging it.
fn wait_for_exit(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn test_https_with_the_operators_certificate() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let account = db.add_account("county_staff", COUNTY, "县工作人员");
    let certificate = Certificate::new();
    let flags = certificate.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Server::start_with(&db, &flags);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let agent = certificate.agent();

    let health = get(&agent, &format!("{}/healthz", server.url), None);
    assert_eq!(
        (health.status, health.body.as_slice()),
        (200, b"ok".as_slice())
    );
    assert_eq!(
        health.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    health.assert_security_headers("over TLS");
    // The API itself, over TLS: a login, and a request with its session.
    let login = post(
        &agent,
        &format!("{}/api/v1/login", server.url),
        None,
        &json!({ "username": account.username, "password": account.password }),
    );
    assert_eq!(login.status, 200, "{}", login.json());
    let token = login.json()["token"].as_str().unwrap().to_owned();
    let me = get(&agent, &format!("{}/api/v1/me", server.url), Some(&token));
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], account.username.as_str());
    let missing = get(
        &agent,
        &format!("{}/api/v1/no/such/thing", server.url),
        None,
    );
    assert_error(
        missing.status,
        &missing.body,
        404,
        "not_found",
        "404 over TLS",
    );
    assert_eq!(
        missing.header("strict-transport-security"),
        Some("max-age=31536000")
    );

    // Plain HTTP on the TLS port gets no answer, and a client that does not trust the
    // certificate does not connect.
    let plain = server.url.replacen("https://", "http://", 1);
    assert!(agent.get(&format!("{plain}/healthz")).call().is_err());
    assert!(
        crate::support::agent()
            .get(&format!("{}/healthz", server.url))
            .call()
            .is_err()
    );
}

#[test]
fn test_https_server_stops_gracefully_on_sigterm() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let certificate = Certificate::new();
    let mut child = db
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(certificate.flags())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("doorstep listening on ")
        .unwrap()
        .to_owned();
    let health = get(&certificate.agent(), &format!("{url}/healthz"), None);
    assert_eq!(health.status, 200);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = wait_for_exit(child, "doorstep serve after SIGTERM");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `doorstep serve` with these options must refuse to start, saying why.
fn refused_to_serve(db: &TestDatabase, options: &[&str]) -> String {
    let child = db
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(options)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_for_exit(child, "doorstep serve with bad TLS files");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{options:?} started: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn test_serve_refuses_missing_or_mismatched_tls_files_with_a_message() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let one = Certificate::new();
    let two = Certificate::new();
    let missing = one.dir.path().join("missing.crt");

    let stderr = refused_to_serve(
        &db,
        &[
            "--tls-cert",
            &path_text(&missing),
            "--tls-key",
            &path_text(&one.key()),
        ],
    );
    assert!(
        stderr.contains("cannot read the TLS certificate file") && stderr.contains("missing.crt"),
        "{stderr}"
    );
    assert!(stderr.contains("无法读取 TLS 证书文件"), "{stderr}");

    let stderr = refused_to_serve(
        &db,
        &[
            "--tls-cert",
            &path_text(&one.cert()),
            "--tls-key",
            &path_text(&two.key()),
        ],
    );
    assert!(
        stderr.contains("is not the key of the certificate"),
        "{stderr}"
    );
    assert!(stderr.contains("不是证书"), "{stderr}");

    let stderr = refused_to_serve(
        &db,
        &[
            "--tls-cert",
            &path_text(&one.key()),
            "--tls-key",
            &path_text(&one.cert()),
        ],
    );
    assert!(stderr.contains("holds no PEM certificate"), "{stderr}");

    // One without the other is a mistake, not plain HTTP.
    let stderr = refused_to_serve(&db, &["--tls-cert", &path_text(&one.cert())]);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

#[test]
fn test_serve_refuses_an_idle_limit_that_would_end_sessions_in_use() {
    let db = TestDatabase::new(&Backend::Sqlite);
    let stderr = refused_to_serve(&db, &["--session-idle-secs", "59"]);
    assert!(stderr.contains("至少 60 秒"), "{stderr}");
    assert!(stderr.contains("at least 60 seconds"), "{stderr}");
    // The shortest accepted limit serves.
    let server = Server::start_with(&db, &["--session-idle-secs", "60"]);
    assert_eq!(get_with_header(&server, "/healthz", None).0, 200);
}
