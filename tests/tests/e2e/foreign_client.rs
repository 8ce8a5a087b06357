//! Clients that are not ours: a household written from `docs/LAYOUT.md` alone, by a second
//! Automerge implementation (the JavaScript one, in `tests/node/foreign_client.mjs`), is
//! accepted whole and reads on our own client; and a document of the wrong shape is refused
//! with a reason that names the key at fault and the type the layout stores there.
//!
//! The Node script's packages are installed by `scripts/node-deps` when missing. Without
//! `node` the test fails, saying so: it does not skip.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjType, ROOT};
use doorstep_e2e::{Backend, COUNTY, Phone, Server, TestDatabase, VILLAGE};
use schema::wire::RejectCode;
use serde_json::{Value, json};
use std::process::Command;

use crate::support::*;

/// Runs the Node client against a server with an enrollment code; returns what it printed.
fn run_node_client(server: &Server, code: &str) -> Value {
    let dir = node_package("tests/node", "scripts/node-deps", "@automerge/automerge");
    let output = Command::new("node")
        .arg("foreign_client.mjs")
        .arg(&server.url)
        .arg(code)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "`node` could not be run ({err}): the foreign-client test needs Node.js 20 or \
                 later on the PATH"
            )
        });
    assert!(
        output.status.success(),
        "the Node client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "the Node client printed no JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn enrollment_code(db: &TestDatabase) -> String {
    db.run(&[
        "device",
        "enroll",
        "--volunteer",
        "李娜",
        "--village",
        VILLAGE,
    ])
}

fn value<'a>(record: &'a Value, field: &str) -> &'a Value {
    &record[field]["value"]
}

#[test]
fn test_a_household_written_from_the_layout_alone_by_the_javascript_automerge_is_accepted_whole() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let written = run_node_client(&server, &enrollment_code(&db));
        let good = &written["good"];
        assert_eq!(good["first"]["kind"], "accepted", "{backend:?}: {written}");
        assert_eq!(good["second"]["kind"], "accepted", "{backend:?}: {written}");
        assert_eq!(
            good["second_upload_changes"], 1,
            "getChangesSince sends only the finish"
        );
        assert_eq!(
            good["second"]["heads"], good["heads"],
            "the server holds all of it"
        );

        // The register holds every field, of the type the layout says.
        let household = good["household"].as_str().unwrap();
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let (status, detail) = server.get_json(
            &format!("/api/v1/households/{household}?reveal=true"),
            &staff,
        );
        assert_eq!(status, 200, "{detail}");
        let home = &detail["household"];
        assert_eq!(value(home, "village"), VILLAGE, "{detail}");
        assert_eq!(value(home, "address"), "上河村三组 7 号", "{detail}");
        assert!(value(home, "created_at").is_i64(), "{detail}");
        assert_eq!(value(home, "gps.lat"), 38.0, "{detail}");
        assert!(
            value(home, "gps.lat").is_f64(),
            "a decimal stays one: {detail}"
        );
        assert_eq!(value(home, "causes"), &json!(["01", "04"]), "{detail}");
        let head = &detail["members"][good["head"].as_str().unwrap()];
        assert_eq!(value(head, "name"), "王秀英", "{detail}");
        assert_eq!(value(head, "id_number"), "11010519491231002X", "{detail}");
        assert_eq!(value(head, "sex"), "2", "{detail}");
        assert_eq!(value(head, "birth_date"), "1949-12-31", "{detail}");
        assert_eq!(value(head, "relation"), "01", "{detail}");
        let son = &detail["members"][good["son"].as_str().unwrap()];
        assert_eq!(value(son, "name"), "王小明", "{detail}");
        assert_eq!(value(son, "employment.monthly_income"), 3200, "{detail}");
        assert_eq!(value(son, "employment.contract_signed"), true, "{detail}");
        let visit = &detail["visits"][good["visit"].as_str().unwrap()];
        assert_eq!(value(visit, "outcome"), "met", "{detail}");
        assert_eq!(value(visit, "device"), &written["device"], "{detail}");
        assert_eq!(value(visit, "volunteer"), "李娜", "{detail}");
        assert!(value(visit, "started_at").is_i64(), "{detail}");
        assert!(value(visit, "finished_at").is_i64(), "{detail}");
        let actor = &detail["actors"][written["actor"].as_str().unwrap()];
        assert_eq!(
            actor["device"], written["device"],
            "names, not ids: {detail}"
        );
        assert_eq!(actor["volunteer"], "李娜", "{detail}");
        assert_eq!(
            detail["issues"],
            json!([]),
            "every value fits its field: {detail}"
        );

        // Our own client reads it, and the same person added on our phone lands in the
        // member the Node client made: the member-key recipe is the server's.
        let (phone, _) = Phone::enroll("我们的手机", Some(&server), &enrollment_code(&db))
            .unwrap_or_else(|err| panic!("enroll: {}", err.message()));
        phone.sync();
        let id = doorstep_e2e::HouseholdId::parse(household).unwrap();
        let key = phone
            .store
            .add_member(&id, "王秀英", Some("11010519491231002x"))
            .unwrap();
        assert_eq!(key.as_str(), good["head"], "{backend:?}");
        let on_phone = phone.store.household(&id).unwrap();
        assert_eq!(
            on_phone.view.members.len(),
            2,
            "{backend:?}: {:?}",
            on_phone.view
        );
    }
}

#[test]
fn test_a_text_object_from_the_javascript_binding_is_refused_naming_the_field_and_its_type() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let written = run_node_client(&server, &enrollment_code(&db));
        let bad = &written["bad"];
        let outcome = &bad["outcome"];
        assert_eq!(outcome["kind"], "quarantined", "{backend:?}: {written}");
        assert_eq!(outcome["rule"], "not_a_field", "{written}");
        assert_eq!(
            outcome["reason"]["en"],
            "\"household.address\" must hold a scalar string (str, not a Text object), but it \
             holds a Text object; see docs/LAYOUT.md",
            "{written}"
        );
        let zh = outcome["reason"]["zh"].as_str().unwrap();
        assert!(
            zh.contains("household.address")
                && zh.contains("标量字符串")
                && zh.contains("Text 对象"),
            "{zh}"
        );
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        assert!(
            !register_ids(&server, &staff, VILLAGE).contains(bad["household"].as_str().unwrap()),
            "a malformed household does not reach the register"
        );
    }
}

/// A household's creating change, `write` writing its id and version.
fn household_change(write: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "household.village", VILLAGE).unwrap();
    doc.put(ROOT, "household.created_at", 1_796_000_000_i64)
        .unwrap();
    write(&mut doc);
    doc.commit_with(CommitOptions::default().with_time(1_796_000_000));
    doc.get_last_local_change().unwrap().raw_bytes().to_vec()
}

#[test]
fn test_a_household_whose_identity_has_the_wrong_type_is_refused_naming_the_key() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let as_text = fresh_id();
        let text_id = household_change(|doc| {
            doc.put(ROOT, "schema_version", 1_u64).unwrap();
            let text = doc.put_object(ROOT, "household.id", ObjType::Text).unwrap();
            doc.splice_text(&text, 0, 0, as_text.as_str()).unwrap();
        });
        let as_word = fresh_id();
        let word_version = household_change(|doc| {
            doc.put(ROOT, "household.id", as_word.as_str()).unwrap();
            doc.put(ROOT, "schema_version", "1").unwrap();
        });
        let another = household_change(|doc| {
            doc.put(ROOT, "household.id", "h0").unwrap();
            doc.put(ROOT, "schema_version", 1_u64).unwrap();
        });
        let other = fresh_id();
        let response = sync_raw(
            &server,
            &token,
            &request(vec![
                upload(as_text.as_str(), &[text_id]),
                upload(as_word.as_str(), &[word_version]),
                upload(other.as_str(), &[another]),
            ]),
        );
        let (code, reason) = rejection(&response, 0);
        assert_eq!(code, RejectCode::Invalid, "{backend:?}");
        assert_eq!(
            reason.en,
            "\"household.id\" must hold a scalar string (str, not a Text object), but it holds \
             a Text object; see docs/LAYOUT.md"
        );
        assert!(reason.zh.contains("household.id") && reason.zh.contains("Text 对象"));
        let (code, reason) = rejection(&response, 1);
        assert_eq!(code, RejectCode::Invalid, "{backend:?}");
        assert_eq!(
            reason.en,
            "\"schema_version\" must hold the unsigned integer 1 (uint), but it holds a string \
             (str); see docs/LAYOUT.md"
        );
        let (_, reason) = rejection(&response, 2);
        assert_eq!(
            reason.en,
            format!(
                "The uploaded data's \"household.id\" is \"h0\", so it is not the document of \
                 household \"{other}\""
            )
        );
    }
}
