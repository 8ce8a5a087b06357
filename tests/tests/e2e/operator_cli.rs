//! The operator's `doorstep` commands, run as real processes: what they print when they
//! fail is in Chinese first and English too, on one line in the "中文 / English" form.

use doorstep_e2e::{Backend, Server, TestDatabase, VILLAGE};
use std::process::Output;

/// Runs `doorstep ARGS`, which must fail, and returns the line of stderr that says why
/// (the rest of stderr is the server's JSON log).
fn refused(db: &TestDatabase, args: &[&str]) -> String {
    let output: Output = db.command().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "doorstep {args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let line = stderr
        .lines()
        .find(|line| line.starts_with("错误 error: "))
        .unwrap_or_else(|| panic!("doorstep {args:?} printed no error line: {stderr}"));
    line.to_owned()
}

/// The Chinese half of a "中文 / English" line, before the separator.
fn chinese(line: &str) -> &str {
    let (zh, _) = line
        .split_once(" / ")
        .unwrap_or_else(|| panic!("not in both languages: {line}"));
    zh
}

#[test]
fn test_areas_import_of_a_missing_file_says_so_in_chinese_and_english() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let line = refused(&db, &["areas", "import", "/no/such/file.csv"]);
        assert!(chinese(&line).contains("无法读取文件"), "{line}");
        assert!(line.contains("cannot read /no/such/file.csv"), "{line}");
    }
}

#[test]
fn test_areas_import_of_a_bad_line_names_the_line_in_chinese_and_english() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("areas.csv");
        std::fs::write(&file, format!("code,name\n{VILLAGE},\n")).unwrap();
        let line = refused(&db, &["areas", "import", file.to_str().unwrap()]);
        assert!(chinese(&line).contains("第 2 行"), "{line}");
        assert!(chinese(&line).contains("缺少名称"), "{line}");
        assert!(line.contains("line 2: Area"), "{line}");
    }
}

#[test]
fn test_reset_totp_of_an_unknown_account_answers_on_one_line_like_the_others() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let line = refused(&db, &["admin", "reset-totp", "--username", "nobody"]);
        assert!(
            chinese(&line).contains("没有用户名为“nobody”的账号"),
            "{line}"
        );
        assert!(
            line.contains("There is no account named \"nobody\""),
            "{line}"
        );
    }
}

#[test]
fn test_an_enrollment_qr_code_that_cannot_be_written_says_so_in_chinese_and_english() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let line = refused(
            &db,
            &[
                "device",
                "enroll",
                "--volunteer",
                "王芳",
                "--village",
                VILLAGE,
                "--qr-png",
                "/no/such/dir/code.png",
            ],
        );
        assert!(chinese(&line).contains("无法写入文件"), "{line}");
        assert!(
            line.contains("cannot write /no/such/dir/code.png"),
            "{line}"
        );
    }
}

#[test]
fn test_review_from_a_terminal_reports_an_unreachable_server_in_chinese_and_english() {
    // `doorstep review` is an HTTP client and opens no database.
    let db = TestDatabase::new(&Backend::Sqlite);
    let line = refused(
        &db,
        &[
            "review",
            "--server",
            "http://127.0.0.1:1",
            "--token",
            "any",
            "list",
        ],
    );
    assert!(
        chinese(&line).contains("无法连接服务器 http://127.0.0.1:1"),
        "{line}"
    );
    assert!(line.contains("cannot reach the server"), "{line}");
}

#[test]
fn test_review_from_a_terminal_prints_the_servers_refusal_on_one_line() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let line = refused(
            &db,
            &[
                "review",
                "--server",
                &server.url,
                "--token",
                "not-a-session",
                "list",
            ],
        );
        assert!(chinese(&line).contains("（HTTP 401）"), "{line}");
        assert!(line.ends_with("(HTTP 401)"), "{line}");
    }
}
