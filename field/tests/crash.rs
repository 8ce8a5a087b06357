//! A volunteer's edit survives the app being killed: `doorstep-field generate` records
//! households one after another and prints each id once it is saved; it is killed with
//! SIGKILL mid-stream, and every household it printed is there, whole, on reopen.

#![allow(clippy::unwrap_used)]

use client_core::Store;
use schema::ids::HouseholdId;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const ACKS_BEFORE_KILL: usize = 40;

#[test]
fn test_acknowledged_households_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorstep-field"))
        .arg("--store")
        .arg(dir.path())
        .args([
            "generate",
            "--village",
            "141124100201",
            "--households",
            "100000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        acknowledged.push(HouseholdId::parse(&line.unwrap()).unwrap());
        if acknowledged.len() == ACKS_BEFORE_KILL {
            break;
        }
    }
    // `Child::kill` sends SIGKILL on Unix: no destructors, no flush, no clean close. The
    // child is mid-way through recording the next household.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(acknowledged.len(), ACKS_BEFORE_KILL, "the child died early");

    let store = Store::open(dir.path()).unwrap();
    for household in &acknowledged {
        let detail = store.household(household).unwrap();
        assert_eq!(detail.view.members.len(), 3, "{household}");
        assert_eq!(detail.view.visits.len(), 1, "{household}");
        let visit = detail.view.visits.values().next().unwrap();
        assert_eq!(visit["outcome"].value.as_text(), Some("met"));
        let head = detail
            .view
            .members
            .values()
            .find(|m| m["relation"].value.as_text() == Some("01"))
            .unwrap();
        assert_eq!(head["employment.status"].value.as_text(), Some("01"));
    }
    // A household cut off mid-way is partial, never damaged: the store still opens it.
    for household in store.household_ids().unwrap() {
        store.household(&household).unwrap();
    }
}
