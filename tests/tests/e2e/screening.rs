//! Screening and quarantine: a change a phone may not make is held on the server, with the
//! reason, for county staff to release or discard. The attacks end in the right answer, an
//! audit record, no 500 and nothing lost; what waited for a held change lands with it.

use automerge::ROOT;
use automerge::transaction::Transactable;
use client_core::sync;
use doorstep_e2e::{
    Backend, COUNTY, HouseholdId, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE,
};
use schema::Message;
use schema::quarantine::Rule;
use schema::wire::{Bytes, SyncResponse, UploadOutcome};
use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::support::*;

pub(crate) use doorstep_e2e::tampered;

fn quarantine(server: &Server, token: &str, query: &str) -> Value {
    let (status, page) = server.get_json(&format!("/api/v1/quarantine?{query}"), token);
    assert_eq!(status, 200, "{page}");
    page
}

/// The open items of a household, oldest first.
fn open_items(server: &Server, token: &str, household: &HouseholdId) -> Vec<Value> {
    quarantine(server, token, "limit=500")["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["household_id"] == household.as_str())
        .cloned()
        .collect()
}

fn root_item(items: &[Value]) -> Value {
    let roots: Vec<&Value> = items.iter().filter(|i| i["rule"] != "waits").collect();
    assert_eq!(roots.len(), 1, "{items:?}");
    roots[0].clone()
}

fn decide(server: &Server, token: &str, id: &str, decision: &str, comment: &str) -> (u16, Value) {
    server.post_json(
        &format!("/api/v1/quarantine/{id}/{decision}"),
        token,
        &json!({ "comment": comment }),
    )
}

fn quarantined(response: &SyncResponse, index: usize) -> (Vec<Bytes>, Vec<Bytes>, Rule, Message) {
    match &response.results[index].outcome {
        UploadOutcome::Quarantined {
            heads,
            held,
            rule,
            reason,
        } => (heads.clone(), held.clone(), *rule, reason.clone()),
        outcome => panic!("upload {index} was not quarantined: {outcome:?}"),
    }
}

fn text(view: &Value, name: &str) -> Value {
    view["household"][name]["value"].clone()
}

#[test]
fn test_a_device_writing_another_village_is_quarantined_and_lands_whole_when_released() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let a = Phone::new("phone-a", &server, &token);
        let b = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let auditor = auditor(&server, &db);

        // Helping out next door, offline: a household of a village this phone does not cover.
        // Sent as the phone sends it, but by hand: what the phone then keeps of a household
        // outside its villages is the village assignment's business, not screening's.
        let stray = a
            .store
            .create_household(&area(OTHER_VILLAGE), None)
            .unwrap();
        a.store.add_member(&stray, "刘伟", None).unwrap();
        a.store
            .set_field(&stray, "household.address", "柳林村 8 号")
            .unwrap();
        let history = a.store.changes_since(&stray, &[]).unwrap();
        let sent = request(vec![upload(stray.as_str(), &history)]);
        let response = sync_raw(&server, &token, &sent);
        let (heads, held, rule, reason) = quarantined(&response, 0);
        assert!(
            heads.is_empty(),
            "{backend:?}: the server has no document for it"
        );
        assert_eq!(
            (held.len(), rule.as_str()),
            (3, "out_of_scope"),
            "{backend:?}"
        );
        assert!(
            reason.zh.contains(OTHER_VILLAGE) && reason.en.contains(OTHER_VILLAGE),
            "{reason}"
        );

        // Nothing of it reached the register or the other village.
        assert!(
            register_ids(&server, &staff, COUNTY).is_empty(),
            "{backend:?}"
        );
        let (status, body) = server.get_json(&format!("/api/v1/households/{stray}"), &staff);
        assert_eq!(status, 404, "{backend:?}: {body}");
        b.sync();
        assert!(ids(&b).is_empty(), "{backend:?}");

        // Staff see it: the change that made the household, and the edits built on it.
        let items = open_items(&server, &staff, &stray);
        assert_eq!(items.len(), 3, "{backend:?}: {items:?}");
        let root = root_item(&items);
        assert_eq!(root["rule"], "out_of_scope");
        assert_eq!(root["village"], OTHER_VILLAGE);
        assert!(root["device_name"].is_string(), "{root}");
        let id = root["id"].as_str().unwrap().to_owned();
        let (status, shown) = server.get_json(&format!("/api/v1/quarantine/{id}"), &staff);
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["household_exists"], false);
        assert!(
            shown["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["key"] == "household.village" && k["value"] == OTHER_VILLAGE),
            "{shown}"
        );
        let holds = audit(&server, &auditor, "quarantine.hold");
        assert_eq!(holds.len(), 1, "{backend:?}: {holds:?}");
        assert_eq!(holds[0]["target"], stray.as_str());
        assert_eq!(holds[0]["outcome"], "denied");
        assert!(holds[0]["actor"].as_str().unwrap().starts_with("device:"));

        // Sent again (an answer lost on the way): the same items, no more.
        let again = sync_raw(&server, &token, &sent);
        assert_eq!(again.results, response.results, "{backend:?}");
        assert_eq!(open_items(&server, &staff, &stray).len(), 3, "{backend:?}");
        assert_eq!(audit(&server, &auditor, "quarantine.hold").len(), 1);

        // A later edit, sent alone as a phone that counts the others confirmed does, waits
        // with the rest; the device is told the cause, not the wait.
        let confirmed = a.store.heads(&stray).unwrap();
        a.store
            .set_field(&stray, "household.phone", "13800138000")
            .unwrap();
        let edit = a.store.changes_since(&stray, &confirmed).unwrap();
        let response = sync_raw(
            &server,
            &token,
            &request(vec![upload(stray.as_str(), &edit)]),
        );
        let (_, held, rule, _) = quarantined(&response, 0);
        assert_eq!(
            (held.len(), rule.as_str()),
            (1, "out_of_scope"),
            "{backend:?}"
        );
        assert_eq!(open_items(&server, &staff, &stray).len(), 4);

        // Who may decide: not township staff, not another county's staff, and not an edit
        // before the change it builds on.
        let township = server.staff_token(&db, &VILLAGE[..9], "乡镇工作人员");
        let (status, body) = server.get_json("/api/v1/quarantine", &township);
        assert_error_json(status, &body, 403, "forbidden");
        let elsewhere = server.login(&db.add_account("county_staff", "141125", "外县工作人员"));
        assert_eq!(quarantine(&server, &elsewhere, "")["total"], 0);
        let (status, body) = decide(&server, &elsewhere, &id, "release", "");
        assert_error_json(status, &body, 404, "not_found");
        let waiting = items
            .iter()
            .find(|i| i["waits_for"] == id.as_str())
            .unwrap();
        let (status, body) = decide(
            &server,
            &staff,
            waiting["id"].as_str().unwrap(),
            "release",
            "",
        );
        assert_error_json(status, &body, 409, "conflict");
        assert!(
            body["message"]["zh"].as_str().unwrap().contains(&id[..12]),
            "{body}"
        );
        let (status, body) = decide(&server, &staff, &"0".repeat(64), "discard", "");
        assert_error_json(status, &body, 404, "not_found");

        // The county agrees the household is real: it lands whole, every edit with it.
        let (status, decided) = decide(&server, &staff, &id, "release", "邻村帮忙登记，已核实");
        assert_eq!(status, 200, "{backend:?}: {decided}");
        assert_eq!(decided["item"]["status"], "released");
        assert_eq!(decided["with"].as_array().unwrap().len(), 3, "{decided}");
        assert!(open_items(&server, &staff, &stray).is_empty());
        let register = detail(&server, &staff, &stray);
        assert_eq!(register["village"], OTHER_VILLAGE);
        assert_eq!(text(&register, "address"), "柳林村 8 号");
        assert_eq!(text(&register, "phone"), "13800138000");
        let released = quarantine(&server, &staff, "status=released");
        assert_eq!(released["total"], 4, "{released}");
        assert_eq!(released["counts"]["open"], 0);
        let (status, body) = decide(&server, &staff, &id, "discard", "");
        assert_error_json(status, &body, 409, "conflict");
        // The release is audited, and so is the refused attempt on the waiting edit.
        let releases = audit(&server, &auditor, "quarantine.release");
        let outcomes: Vec<&str> = releases
            .iter()
            .map(|r| r["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["ok", "denied"], "{releases:?}");
        assert_eq!(releases[0]["target"], id.as_str());
        assert!(releases[0]["actor"].as_str().unwrap().starts_with("staff:"));

        // The village's phone gets it, exactly as the writer holds it.
        b.sync();
        assert_eq!(ids(&b), BTreeSet::from([stray.clone()]), "{backend:?}");
        assert_eq!(
            b.store.heads(&stray).unwrap(),
            a.store.heads(&stray).unwrap()
        );
    }
}

#[test]
fn test_a_device_moving_a_household_is_quarantined_discarding_undoes_it_releasing_moves_it() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        // The phone covers both villages: the move is refused as a move, not for scope.
        let a = Phone::new(
            "phone-a",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        let auditor = auditor(&server, &db);
        let household = record(&a, VILLAGE, 1, "甲").pop_first().unwrap();
        a.sync();
        b.sync();

        let moved = tampered(&a, &household, None, |doc, _| {
            doc.put(ROOT, "household.village", OTHER_VILLAGE).unwrap();
        });
        // The volunteer goes on working: this edit builds on the move.
        a.store
            .set_field(&household, "household.address", "东街 5 号")
            .unwrap();
        let report = a.sync();
        assert!(report.rejected.is_empty(), "{backend:?}: {report:?}");
        let note = &report.quarantined[0];
        assert_eq!((note.rule.as_str(), note.changes), ("moves_household", 2));
        assert!(note.reason.zh.contains("村"), "{}", note.reason);
        assert_eq!(a.store.household(&household).unwrap().unsynced_changes, 0);
        // Asking again sends nothing, and hears the same until staff decide.
        let report = a.sync();
        assert_eq!(report.changes_sent, 0, "{backend:?}: {report:?}");
        assert_eq!(report.quarantined.len(), 1, "{backend:?}: {report:?}");
        assert_eq!(report.quarantined[0].rule, "moves_household");

        let register = detail(&server, &staff, &household);
        assert_eq!(register["village"], VILLAGE, "{backend:?}");
        assert_eq!(text(&register, "address"), json!(null), "the edit waits");
        assert!(register_ids(&server, &staff, OTHER_VILLAGE).is_empty());
        let items = open_items(&server, &staff, &household);
        assert_eq!(items.len(), 2, "{backend:?}: {items:?}");
        let root = root_item(&items);
        assert_eq!(root["rule"], "moves_household");
        let id = root["id"].as_str().unwrap().to_owned();
        let (_, detail_before) = server.get_json(&format!("/api/v1/quarantine/{id}"), &staff);
        let village_key = detail_before["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key"] == "household.village")
            .cloned()
            .unwrap_or_else(|| panic!("{detail_before}"));
        assert_eq!(
            (&village_key["value"], &village_key["previous"]),
            (&json!(OTHER_VILLAGE), &json!(VILLAGE))
        );
        assert_eq!(detail_before["waiting"].as_array().unwrap().len(), 1);

        let (status, decided) = decide(&server, &staff, &id, "discard", "不能在手机上迁户");
        assert_eq!(status, 200, "{backend:?}: {decided}");
        assert_eq!(decided["item"]["status"], "discarded");
        assert_eq!(decided["item"]["comment"], "不能在手机上迁户");
        assert_eq!(decided["with"].as_array().unwrap().len(), 1, "{decided}");
        assert!(decided["undone_by"].is_string(), "{decided}");
        let register = detail(&server, &staff, &household);
        assert_eq!(register["village"], VILLAGE);
        assert_eq!(
            text(&register, "village"),
            VILLAGE,
            "{backend:?}: the move is undone"
        );
        assert_eq!(text(&register, "address"), "东街 5 号", "the edit landed");
        assert!(register_ids(&server, &staff, OTHER_VILLAGE).is_empty());
        let discards = audit(&server, &auditor, "quarantine.discard");
        assert_eq!(discards.len(), 1);
        assert_eq!(discards[0]["target"], id.as_str());
        assert_eq!(audit(&server, &auditor, "quarantine.hold").len(), 1);

        // The phone converges to the undone value at its next sync; nothing it wrote is
        // lost, and the move stays in the history the server and the phones share.
        let report = a.sync();
        assert!(
            report.rejected.is_empty() && report.quarantined.is_empty(),
            "{report:?}"
        );
        assert!(
            sync::quarantined(&a.store).unwrap().is_empty(),
            "{backend:?}: decided, so the note goes"
        );
        let phone_view = a.store.household(&household).unwrap().view;
        assert_eq!(
            phone_view.household_text("village"),
            Some(VILLAGE),
            "{backend:?}"
        );
        assert_eq!(phone_view.household_text("address"), Some("东街 5 号"));
        b.sync();
        let heads = a.store.heads(&household).unwrap();
        assert_eq!(b.store.heads(&household).unwrap(), heads, "{backend:?}");
        let newcomer = Phone::new("newcomer", &server, &db.add_device(&[VILLAGE]));
        newcomer.sync();
        assert_eq!(newcomer.store.heads(&household).unwrap(), heads);
        let moved = automerge::Change::from_bytes(moved).unwrap().hash();
        let history = newcomer.store.changes_since(&household, &[]).unwrap();
        assert!(
            history
                .into_iter()
                .any(|bytes| automerge::Change::from_bytes(bytes).unwrap().hash() == moved),
            "{backend:?}: the discarded change is in the history"
        );

        // Edits after the decision flow as usual.
        a.store
            .set_field(&household, "household.phone", "13900139000")
            .unwrap();
        let report = a.sync();
        assert!(
            report.quarantined.is_empty() && report.rejected.is_empty(),
            "{report:?}"
        );
        assert_eq!(
            text(&detail(&server, &staff, &household), "phone"),
            "13900139000"
        );

        // The family really did move, and the county releases the next attempt: the
        // household is listed and synced under its new village from then on.
        tampered(&a, &household, None, |doc, _| {
            doc.put(ROOT, "household.village", OTHER_VILLAGE).unwrap();
        });
        a.store
            .set_field(&household, "household.address", "柳林村 12 号")
            .unwrap();
        let report = a.sync();
        assert_eq!(report.quarantined.len(), 1, "{backend:?}: {report:?}");
        assert_eq!(report.quarantined[0].rule, "moves_household");
        let id = root_item(&open_items(&server, &staff, &household))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, decided) = decide(&server, &staff, &id, "release", "户已迁入柳林村");
        assert_eq!(status, 200, "{backend:?}: {decided}");
        let register = detail(&server, &staff, &household);
        assert_eq!(register["village"], OTHER_VILLAGE, "{backend:?}");
        assert_eq!(
            text(&register, "address"),
            "柳林村 12 号",
            "the edit came with it"
        );
        assert_eq!(
            register_ids(&server, &staff, OTHER_VILLAGE),
            BTreeSet::from([household.to_string()]),
            "{backend:?}"
        );
        let next_door = Phone::new("next-door", &server, &db.add_device(&[OTHER_VILLAGE]));
        next_door.sync();
        assert_eq!(
            next_door.store.heads(&household).unwrap(),
            a.store.heads(&household).unwrap(),
            "{backend:?}"
        );
    }
}

#[test]
fn test_a_volunteer_forging_a_review_resolution_is_quarantined_and_the_dispute_stays_open() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let a = Phone::new("phone-a", &server, &token);
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let staff = server.staff_token(&db, COUNTY, "县审核员李华");
        let auditor = auditor(&server, &db);
        let household = record(&a, VILLAGE, 1, "甲").pop_first().unwrap();
        a.sync();
        b.sync();
        // Two phones disagree on the address: a conflict item for county staff.
        a.store
            .set_field(&household, "household.address", "东街 1 号")
            .unwrap();
        b.store
            .set_field(&household, "household.address", "西街 2 号")
            .unwrap();
        a.sync();
        b.sync();
        a.sync();
        let (status, page) = server.get_json("/api/v1/review/items?limit=500", &staff);
        assert_eq!(status, 200, "{page}");
        let item = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["household_id"] == household.as_str() && i["kind"] == "conflict")
            .unwrap_or_else(|| panic!("{page}"))["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Phone A decides it for the county, in the county's name.
        let message = schema::layout::review_message(&item, Some("户主确认"));
        let forged = tampered(&a, &household, Some(&message), |doc, actor| {
            doc.put(ROOT, "household.address", "伪造的决定").unwrap();
            doc.put(ROOT, format!("actors.{actor}.staff"), "县审核员李华")
                .unwrap();
        });
        let response = sync_raw(
            &server,
            &token,
            &request(vec![upload(
                household.as_str(),
                std::slice::from_ref(&forged),
            )]),
        );
        let (heads, held, rule, _) = quarantined(&response, 0);
        assert_eq!(rule, "review_resolution", "{backend:?}");
        assert_eq!(held.len(), 1);
        assert!(!heads.is_empty(), "the server's heads, without the forgery");

        let register = detail(&server, &staff, &household);
        assert_eq!(
            register["conflicts"].as_array().unwrap().len(),
            1,
            "{backend:?}: still disputed: {register}"
        );
        let (status, shown) = server.get_json(&format!("/api/v1/review/items/{item}"), &staff);
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["item"]["status"], "open", "{backend:?}");
        let holds = audit(&server, &auditor, "quarantine.hold");
        assert_eq!(holds.len(), 1, "{holds:?}");
        assert!(
            holds[0]["detail"]
                .as_str()
                .unwrap()
                .contains("review_resolution")
        );

        // Discarded: the forged value and the forged staff name go, both disputed values
        // come back, and the item stays for a real decision.
        let items = open_items(&server, &staff, &household);
        let id = root_item(&items)["id"].as_str().unwrap().to_owned();
        let (status, decided) = decide(&server, &staff, &id, "discard", "伪造的审核决定");
        assert_eq!(status, 200, "{backend:?}: {decided}");
        let register = detail(&server, &staff, &household);
        let candidates: BTreeSet<String> = register["conflicts"][0]["field"]["candidates"]
            .as_array()
            .unwrap_or_else(|| panic!("{register}"))
            .iter()
            .map(|c| c["value"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            candidates,
            BTreeSet::from(["东街 1 号".to_owned(), "西街 2 号".to_owned()]),
            "{backend:?}"
        );
        let actor = a.store.actor();
        assert!(
            register["actors"][&actor]["staff"].is_null(),
            "{backend:?}: the phone is not named as staff: {}",
            register["actors"]
        );
        let (_, shown) = server.get_json(&format!("/api/v1/review/items/{item}"), &staff);
        assert_eq!(shown["item"]["status"], "open", "{backend:?}: {shown}");

        // Both phones converge on the server's version, the forgery undone.
        a.sync();
        b.sync();
        let heads = a.store.heads(&household).unwrap();
        assert_eq!(b.store.heads(&household).unwrap(), heads, "{backend:?}");
        let view = b.store.household(&household).unwrap().view;
        assert_eq!(view.conflicts().len(), 1, "{backend:?}");
        assert!(view.actors[&actor].staff.is_none());
    }
}
