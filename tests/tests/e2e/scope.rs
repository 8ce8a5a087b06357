//! Scope: a device reads and writes only its own villages (what it writes elsewhere is held
//! in quarantine), and staff read only their own area.

use client_core::sync::{self, HttpTransport};
use doorstep_e2e::{Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE};
use schema::wire::{RejectCode, UploadOutcome};
use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::*;

// ─── Scope: devices ────────────────────────────────────────────────────────────────────────

#[test]
fn test_a_device_receives_only_the_households_of_its_own_villages() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let neighbour = Phone::new("phone-a2", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));

        let mut mine = record(&a, VILLAGE, 3, "甲");
        mine.extend(record(&neighbour, VILLAGE, 2, "乙"));
        let theirs = record(&b, OTHER_VILLAGE, 3, "丙");
        for phone in [&a, &neighbour, &b, &a, &neighbour, &b] {
            assert!(phone.sync().rejected.is_empty());
        }
        assert_eq!(
            ids(&a),
            mine,
            "{backend:?}: A holds its village, and only it"
        );
        assert_eq!(ids(&neighbour), mine, "{backend:?}");
        assert_eq!(
            ids(&b),
            theirs,
            "{backend:?}: B holds its village, and only it"
        );

        // Later edits travel through the feed rather than the first download: still scoped.
        for household in &theirs {
            b.store
                .set_field(household, "household.address", "柳林村 3 号")
                .unwrap();
        }
        let more = record(&b, OTHER_VILLAGE, 1, "丁");
        b.sync();
        let report = a.sync();
        assert_eq!(
            (report.documents_received, report.changes_received),
            (0, 0),
            "{backend:?}: {report:?}"
        );
        assert_eq!(ids(&a), mine, "{backend:?}");
        let mut all_b = theirs.clone();
        all_b.extend(more);
        assert_eq!(ids(&b), all_b, "{backend:?}");
    }
}

#[test]
fn test_a_household_recorded_in_another_village_is_held_for_the_county_not_registered() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));
        // Phone A was never told its villages, so offline it records anywhere.
        assert!(a.store.villages().is_empty());
        let own = record(&a, VILLAGE, 1, "甲").pop_first().unwrap();
        let stray = a
            .store
            .create_household(&area(OTHER_VILLAGE), None)
            .unwrap();
        let member = a
            .store
            .add_member(&stray, "刘伟", Some("11010519491231002X"))
            .unwrap();
        a.store
            .set_fields(
                &stray,
                &[
                    ("household.address", "柳林村 8 号"),
                    (&format!("members.{member}.phone"), "13800138000"),
                ],
            )
            .unwrap();
        let visit = a.store.start_visit(&stray).unwrap();
        a.store
            .finish_visit(&stray, &visit, "met", Some("户主在家"), None)
            .unwrap();
        let before = a.store.household(&stray).unwrap();
        let changes = before.unsynced_changes;
        assert!(changes > 0);

        // Held in quarantine for county staff rather than refused: the server holds every
        // change of it, so none is sent again, and the volunteer keeps the household and
        // reads why. (`screening.rs` follows the county's decision.)
        let report = a.sync();
        assert!(report.rejected.is_empty(), "{backend:?}: {report:?}");
        assert_eq!(report.quarantined.len(), 1, "{backend:?}: {report:?}");
        let note = &report.quarantined[0];
        assert_eq!(
            (note.household.as_str(), note.rule.as_str()),
            (stray.as_str(), "out_of_scope")
        );
        assert!(
            note.reason.zh.contains(OTHER_VILLAGE) && note.reason.zh.contains('村'),
            "the volunteer reads which village, in Chinese: {}",
            note.reason
        );
        assert!(note.reason.en.contains(OTHER_VILLAGE));
        assert_eq!(
            sync::quarantined(&a.store).unwrap(),
            report.quarantined,
            "{backend:?}: the note is kept for the UI"
        );
        let after = a.store.household(&stray).unwrap();
        assert_eq!(after.view, before.view, "{backend:?}");
        assert_eq!(after.unsynced_changes, 0, "{backend:?}");
        assert_eq!(report.unsynced_changes, 0, "{backend:?}: {report:?}");
        assert_eq!(a.store.household(&own).unwrap().unsynced_changes, 0);
        let report = a.sync();
        assert_eq!(report.changes_sent, 0, "{backend:?}: {report:?}");
        assert!(ids(&a).contains(&stray), "{backend:?}: still on the phone");

        let operator = server.staff_token(&db, COUNTY, "县工作人员");
        assert_eq!(
            register_ids(&server, &operator, COUNTY),
            BTreeSet::from([own.to_string()]),
            "{backend:?}"
        );
        let (status, body) = server.get_json(&format!("/api/v1/households/{stray}"), &operator);
        assert_eq!(status, 404, "{backend:?}: {body}");
        b.sync();
        assert!(ids(&b).is_empty(), "{backend:?}: B's village never saw it");

        // Nothing is lost: every change waits in quarantine, the first with the reason.
        let (status, page) = server.get_json("/api/v1/quarantine?limit=500", &operator);
        assert_eq!(status, 200, "{page}");
        let items: Vec<&serde_json::Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["household_id"] == stray.as_str())
            .collect();
        assert_eq!(items.len() as i64, changes, "{backend:?}: {page}");
        let first: Vec<&&serde_json::Value> = items
            .iter()
            .filter(|i| i["rule"] == "out_of_scope")
            .collect();
        assert_eq!(first.len(), 1, "{backend:?}: {page}");
        let reason = &first[0]["reason"];
        assert!(
            reason["zh"].as_str().unwrap().contains(OTHER_VILLAGE)
                && reason["zh"].as_str().unwrap().contains('村')
                && reason["en"].as_str().unwrap().contains(OTHER_VILLAGE),
            "the volunteer and staff read which village, in Chinese first: {reason}"
        );
    }
}

#[test]
fn test_a_device_cannot_change_a_household_of_another_village() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token_a = db.add_device(&[VILLAGE]);
        let a = Phone::new("phone-a", &server, &token_a);
        let b = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));
        let token_c = db.add_device(&[VILLAGE, OTHER_VILLAGE]);
        let c = Phone::new("phone-c", &server, &token_c);

        let target = record(&b, OTHER_VILLAGE, 1, "丙").pop_first().unwrap();
        b.sync();
        a.sync();
        // Phone C covers both villages, so it legitimately holds B's household; its edit is a
        // valid Automerge change of that household.
        c.sync();
        let base = c.store.heads(&target).unwrap();
        c.store
            .set_field(&target, "household.address", "篡改的地址")
            .unwrap();
        let edit = c.store.changes_since(&target, &base).unwrap();
        assert_eq!(edit.len(), 1);
        let history = c.store.changes_since(&target, &[]).unwrap();

        let operator = server.staff_token(&db, COUNTY, "县工作人员");
        let register_before = detail(&server, &operator, &target);
        // Written outside its villages, the edit is held in quarantine for county staff (the
        // same item however often it comes). Relabelled as a new household, the history
        // still names its own household id, so it is refused as not that household's
        // document before scope is even asked.
        let attempts = [
            ("the edit alone", target.clone(), edit.clone(), None),
            ("the whole history", target.clone(), history.clone(), None),
            (
                "relabelled as a new household",
                fresh_id(),
                history.clone(),
                Some(RejectCode::Invalid),
            ),
        ];
        for (what, household, changes, expected) in attempts {
            let request = request(vec![upload(household.as_str(), &changes)]);
            let response = sync_raw(&server, &token_a, &request);
            match expected {
                None => match &response.results[0].outcome {
                    UploadOutcome::Quarantined {
                        held, rule, reason, ..
                    } => {
                        assert_eq!((held.len(), rule.as_str()), (1, "out_of_scope"), "{what}");
                        assert!(reason.zh.contains(OTHER_VILLAGE), "{reason}");
                    }
                    outcome => panic!("{backend:?}, {what}: not held: {outcome:?}"),
                },
                Some(expected) => {
                    let (code, reason) = rejection(&response, 0);
                    assert_eq!(code, expected, "{backend:?}, {what}: {reason}");
                }
            }
            assert!(
                response
                    .updates
                    .iter()
                    .all(|u| u.household != target.as_str()),
                "{backend:?}, {what}: A was sent B's household"
            );
        }
        // The edit alone under a new id lacks its history: refused before scope matters.
        let response = sync_raw(
            &server,
            &token_a,
            &request(vec![upload(fresh_id().as_str(), &edit)]),
        );
        assert_eq!(
            rejection(&response, 0).0,
            RejectCode::MissingHistory,
            "{backend:?}"
        );

        assert_eq!(
            detail(&server, &operator, &target),
            register_before,
            "{backend:?}"
        );
        assert_eq!(
            register_ids(&server, &operator, COUNTY).len(),
            1,
            "{backend:?}: no household was added"
        );
        let b_heads = b.store.heads(&target).unwrap();
        b.sync();
        assert_eq!(b.store.heads(&target).unwrap(), b_heads, "{backend:?}");

        // The same change through a device of that village is accepted: the refusals above
        // were about scope, not about the bytes.
        let response = sync_raw(
            &server,
            &token_c,
            &request(vec![upload(target.as_str(), &edit)]),
        );
        assert!(
            matches!(response.results[0].outcome, UploadOutcome::Accepted { .. }),
            "{backend:?}: {:?}",
            response.results[0]
        );
        let after = detail(&server, &operator, &target);
        assert_eq!(after["household"]["address"]["value"], "篡改的地址");
        // Its quarantine item closes: a device allowed to write it sent it.
        let (status, page) = server.get_json("/api/v1/quarantine?status=accepted", &operator);
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 1, "{backend:?}: {page}");
        assert_eq!(page["counts"]["open"], 0, "{backend:?}: {page}");
    }
}

// ─── Scope: staff ──────────────────────────────────────────────────────────────────────────

#[test]
fn test_staff_read_only_the_area_of_their_account() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        // A village of another township of the same county.
        let elsewhere = "141124101200";
        let b = Phone::new("phone-b", &server, &db.add_device(&[elsewhere]));
        let mine = record(&a, VILLAGE, 2, "甲");
        let theirs = record(&b, elsewhere, 1, "丙");
        a.sync();
        b.sync();
        let mine: BTreeSet<String> = mine.iter().map(ToString::to_string).collect();
        let theirs_id = theirs.first().unwrap().to_string();

        let township = &VILLAGE[..9];
        let township_staff = server.staff_token(&db, township, "乡镇工作人员");
        assert_eq!(register_ids(&server, &township_staff, township), mine);
        assert_eq!(register_ids(&server, &township_staff, VILLAGE), mine);
        let (status, page) = server.get_json("/api/v1/households", &township_staff);
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            page["total"], 2,
            "{backend:?}: no area means the account's own: {page}"
        );
        let (status, page) =
            server.get_json("/api/v1/households?search=%E4%B8%99", &township_staff);
        assert_eq!(
            (status, &page["total"]),
            (200, &serde_json::json!(0)),
            "{backend:?}: search stays in scope: {page}"
        );
        for area in [elsewhere, COUNTY, &elsewhere[..9]] {
            let (status, body) =
                server.get_json(&format!("/api/v1/households?area={area}"), &township_staff);
            assert_error_json(status, &body, 403, "forbidden");
        }
        let (status, body) =
            server.get_json(&format!("/api/v1/households/{theirs_id}"), &township_staff);
        assert_error_json(status, &body, 404, "not_found");
        let (status, unknown) = server.get_json(
            &format!("/api/v1/households/{}", fresh_id()),
            &township_staff,
        );
        assert_error_json(status, &unknown, 404, "not_found");
        for id in &mine {
            let (status, body) =
                server.get_json(&format!("/api/v1/households/{id}"), &township_staff);
            assert_eq!(status, 200, "{body}");
        }

        let county_staff = server.staff_token(&db, COUNTY, "县工作人员");
        let mut everyone = mine.clone();
        everyone.insert(theirs_id.clone());
        assert_eq!(register_ids(&server, &county_staff, COUNTY), everyone);
        assert_eq!(
            register_ids(&server, &county_staff, elsewhere),
            BTreeSet::from([theirs_id.clone()])
        );
        let (status, page) = server.get_json("/api/v1/households?search=%E4%B8%99", &county_staff);
        assert_eq!(
            (status, &page["total"]),
            (200, &serde_json::json!(1)),
            "{page}"
        );
        for id in &everyone {
            let (status, body) =
                server.get_json(&format!("/api/v1/households/{id}"), &county_staff);
            assert_eq!(status, 200, "{backend:?}: {body}");
        }
    }
}

// ─── Bugs found by these tests, fixed, and kept as regression tests ───────────────────────

/// Was a bug (server, `documents.rs` `apply_one`): the server never checked that the uploaded
/// document's `household.id` was the household it was uploaded as, and `change.hash` is
/// unique across households, so the alias was accepted with no change rows of its own. It
/// looked whole only while the server's cache held it; once reloaded it was an empty
/// document, and every device of the village then failed its first download on it.
#[test]
fn test_a_households_history_uploaded_under_another_id_is_rejected_as_invalid() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let token = db.add_device(&[VILLAGE]);
        let phone = Phone::new("phone", &server, &token);
        let operator = server.staff_token(&db, COUNTY, "县工作人员");
        let original = record(&phone, VILLAGE, 1, "甲").pop_first().unwrap();
        phone.sync();
        let history = phone.store.changes_since(&original, &[]).unwrap();
        // The document says it is `original`; the upload says it is someone else.
        let alias = fresh_id();
        let response = sync_raw(
            &server,
            &token,
            &request(vec![upload(alias.as_str(), &history)]),
        );
        let outcome = &response.results[0].outcome;
        let second = Server::start(&db);
        let newcomer = Phone::new("newcomer", &second, &db.add_device(&[VILLAGE]));
        let first_download = newcomer.try_sync(&HttpTransport::new(Duration::from_secs(30)));
        assert!(
            first_download.is_ok(),
            "{backend:?}: after {outcome:?}, a new device of the village cannot download: {}",
            first_download.map_err(|err| err.message()).unwrap_err()
        );
        assert_eq!(
            ids(&newcomer),
            BTreeSet::from([original.clone()]),
            "{backend:?}"
        );
        let (code, reason) = rejection(&response, 0);
        assert_eq!(code, RejectCode::Invalid, "{backend:?}: {reason}");
        assert_eq!(
            register_ids(&server, &operator, COUNTY),
            BTreeSet::from([original.to_string()]),
            "{backend:?}"
        );
    }
}

/// Was a bug (server, `documents.rs` `feed_page`): the feed listed households by their *last*
/// change and, when a page filled, moved the cursor to the last listed household's last
/// change. A household listed later whose earlier change lay below that position lost the
/// change, and the device could apply nothing after it. The feed is now read change by
/// change in feed order. (The device would now recover by downloading again; the test
/// checks that it never has to.)
#[test]
fn test_a_device_reading_the_feed_in_small_pages_misses_no_change() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let reader = Phone::new("reader", &server, &db.add_device(&[VILLAGE]));
        let writer = Phone::new("writer", &server, &db.add_device(&[VILLAGE]));
        let z = record(&writer, VILLAGE, 1, "z").pop_first().unwrap();
        let x = record(&writer, VILLAGE, 1, "x").pop_first().unwrap();
        writer.sync();
        reader.sync();
        // Feed order: z's first edit, then x's edit, then z's second edit.
        for (household, address) in [(&z, "一号"), (&x, "二号"), (&z, "三号")] {
            writer
                .store
                .set_field(household, "household.address", address)
                .unwrap();
            writer.sync();
        }
        // One household per page: x first (its last change is older than z's).
        let paged = sync::sync(
            &reader.store,
            &HttpTransport::new(Duration::from_secs(30)),
            1,
            &std::sync::atomic::AtomicBool::new(false),
            &mut |_| {},
        );
        let report = paged.unwrap_or_else(|err| panic!("{backend:?}: {}", err.message()));
        // Only changes arrived: the feed itself was whole, so the device never had to fall
        // back to downloading households again.
        assert_eq!(report.documents_received, 0, "{backend:?}: {report:?}");
        for household in [&z, &x] {
            assert_eq!(
                reader.store.heads(household).unwrap(),
                writer.store.heads(household).unwrap(),
                "{backend:?}"
            );
        }
    }
}
