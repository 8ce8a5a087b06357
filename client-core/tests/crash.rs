//! A volunteer's edit survives the app being killed: a child process acknowledges edits
//! one by one and is killed with SIGKILL mid-stream; every acknowledged edit is there on
//! reopen.

#![allow(clippy::unwrap_used)]

use doorstep_client_core::Store;
use schema::ids::{AreaCode, HouseholdId};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "DOORSTEP_CRASH_CHILD_STORE";
const ACKS_BEFORE_KILL: usize = 60;

/// Run as the child: edit forever, printing one line per acknowledged edit, until killed.
#[test]
fn crash_child_records_until_killed() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // only does anything when started by the test below
    };
    let store = Store::open(Path::new(&dir)).unwrap();
    let village = AreaCode::parse("141124100201").unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        let household = store
            .create_household(&village, Some(&format!("CRASH-{n:05}")))
            .unwrap();
        let member = store
            .add_member(&household, &format!("成员{n}"), None)
            .unwrap();
        store
            .set_field(
                &household,
                &format!("members.{member}.employment.months_worked"),
                &(n % 13).to_string(),
            )
            .unwrap();
        // The edit is acknowledged only now, after set_field returned.
        writeln!(out, "ack {n} {household} {member}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn test_acknowledged_edits_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_records_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.first() == Some(&"ack") {
            acked.push((
                parts[1].parse::<i64>().unwrap(),
                parts[2].to_owned(),
                parts[3].to_owned(),
            ));
        }
        if acked.len() == ACKS_BEFORE_KILL {
            break;
        }
    }
    // `Child::kill` sends SIGKILL on Unix: no destructors, no flush, no clean close.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        acked.len(),
        ACKS_BEFORE_KILL,
        "the child died before acknowledging enough edits"
    );

    let store = Store::open(dir.path()).unwrap();
    for (n, household, member) in &acked {
        let household = HouseholdId::parse(household).unwrap();
        let detail = store.household(&household).unwrap();
        assert_eq!(
            detail.view.household_text("number"),
            Some(format!("CRASH-{n:05}").as_str())
        );
        let months = detail.view.members[member.as_str()]["employment.months_worked"]
            .value
            .as_integer();
        assert_eq!(
            months,
            Some(n % 13),
            "edit {n} was acknowledged but is missing"
        );
    }
    assert!(store.unsynced_changes().unwrap() >= ACKS_BEFORE_KILL as i64 * 3);
}
