//! Devices: enrolling a phone with a one-time code, revoking it, moving it between villages.
//! Every attack (a revoked token, a replayed or expired code, a device reaching for another
//! village, a token copied to another phone) ends in the right 4xx and an audit record, with
//! no 500 and nothing lost on the server.

use client_core::sync::{self, SyncError};
use doorstep_e2e::{Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE};
use schema::wire::{self, SyncRequest};
use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::support::*;

/// A village of another township of the same county.
const ELSEWHERE: &str = "141124101200";

fn township() -> &'static str {
    &VILLAGE[..9]
}

fn outcomes(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect()
}

/// Makes a code through the API; returns the whole answer.
fn enrollment(server: &Server, staff: &str, villages: &[&str]) -> Value {
    let (status, body) = server.post_json(
        "/api/v1/enrollments",
        staff,
        &json!({ "volunteer": "李娜", "villages": villages }),
    );
    assert_eq!(status, 201, "{body}");
    body
}

fn code_of(enrollment: &Value) -> String {
    enrollment["code"].as_str().unwrap().to_owned()
}

/// The devices staff of `area` see.
fn devices(server: &Server, staff: &str, area: &str) -> Vec<Value> {
    let (status, list) = server.get_json(&format!("/api/v1/devices?area={area}"), staff);
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

fn redeem(server: &Server, code: &str, actor: &str) -> (u16, Value) {
    server.post_json(
        "/api/v1/enroll",
        "",
        &json!({ "code": code, "actor": actor, "device_name": "手机" }),
    )
}

fn actor() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    hex::encode(bytes)
}

fn address(server: &Server, staff: &str, household: &str) -> Value {
    let (status, detail) = server.get_json(&format!("/api/v1/households/{household}"), staff);
    assert_eq!(status, 200, "{detail}");
    detail["household"]["address"]["value"].clone()
}

// ─── Enrolling ────────────────────────────────────────────────────────────────────────────

#[test]
fn test_an_operator_makes_a_code_and_a_laptop_enrolls_with_it_once() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let images = tempfile::tempdir().unwrap();
        let png = images.path().join("code.png");
        let svg = images.path().join("code.svg");
        let code = db.run(&[
            "device",
            "enroll",
            "--volunteer",
            "李娜",
            "--village",
            VILLAGE,
            "--server",
            &server.url,
            "--qr-png",
            png.to_str().unwrap(),
            "--qr-svg",
            svg.to_str().unwrap(),
        ]);
        assert!(
            code.len() == 19 && code.split('-').all(|group| group.len() == 4),
            "{code}"
        );
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));

        let laptop = tempfile::tempdir().unwrap();
        let device = field_ok(laptop.path(), &["enroll", &code, "--server", &server.url]);
        assert_eq!(device.len(), 16, "the device id: {device}");
        let status: Value =
            serde_json::from_str(&field_ok(laptop.path(), &["status", "--json"])).unwrap();
        assert_eq!(status["villages"], json!([VILLAGE]), "{status}");
        assert_eq!(status["profile"]["volunteer"], "李娜", "{status}");
        let household = field_ok(laptop.path(), &["household", "new", "--village", VILLAGE]);
        let summary: Value =
            serde_json::from_str(&field_ok(laptop.path(), &["sync", "--json"])).unwrap();
        assert_eq!(summary["documents_sent"], 1, "{summary}");
        assert_eq!(summary["unsynced_changes"], 0, "{summary}");
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        assert_eq!(
            register_ids(&server, &staff, VILLAGE),
            BTreeSet::from([household.clone()])
        );

        // The same code on a second laptop: refused, and no second device.
        let second = tempfile::tempdir().unwrap();
        let replay = field(second.path(), &["enroll", &code, "--server", &server.url]);
        assert!(!replay.status.success());
        let stderr = String::from_utf8_lossy(&replay.stderr);
        assert!(
            stderr.contains("已被使用") && stderr.contains("only once"),
            "{backend:?}: {stderr}"
        );
        let listed = devices(&server, &staff, COUNTY);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["id"], device.as_str());
        assert_eq!(listed[0]["volunteer"], "李娜");
        assert!(
            listed[0]["actor"].is_string(),
            "bound to the laptop's actor"
        );

        // An operator moves the laptop to two villages; it follows at its next sync.
        db.run(&[
            "device",
            "villages",
            &device,
            "--village",
            VILLAGE,
            "--village",
            OTHER_VILLAGE,
        ]);
        field_ok(laptop.path(), &["sync"]);
        let status: Value =
            serde_json::from_str(&field_ok(laptop.path(), &["status", "--json"])).unwrap();
        assert_eq!(
            status["villages"],
            json!([VILLAGE, OTHER_VILLAGE]),
            "{status}"
        );
        let listed = db.run(&["device", "list", "--area", township()]);
        assert!(
            listed.contains(&device) && listed.contains(OTHER_VILLAGE) && listed.contains("active"),
            "{listed}"
        );

        let auditor = auditor(&server, &db);
        assert_eq!(
            outcomes(&audit(&server, &auditor, "device.enroll")),
            vec!["denied", "ok"]
        );
        assert_eq!(
            audit(&server, &auditor, "device.villages")[0]["actor"],
            "operator"
        );
        let created = audit(&server, &auditor, "device.enroll.create");
        assert_eq!(created.len(), 1);
        assert_eq!(created[0]["actor"], "operator");
        let log = serde_json::to_string(&audit(&server, &auditor, "device.enroll")).unwrap();
        assert!(
            !log.contains(&code) && !log.contains(&code.replace('-', "")),
            "codes never reach the audit log: {log}"
        );
    }
}

#[test]
fn test_staff_make_a_code_with_a_qr_code_that_sets_up_a_phone_in_one_scan() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, township(), "乡镇工作人员");
        let made = enrollment(&server, &staff, &[VILLAGE, OTHER_VILLAGE]);
        let code = code_of(&made);
        assert_eq!(made["villages"], json!([VILLAGE, OTHER_VILLAGE]));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let expires = made["expires_at"].as_i64().unwrap();
        assert!(
            (now + 71 * 3600..=now + 73 * 3600).contains(&expires),
            "72 hours by default: {made}"
        );
        let payload = made["payload"].as_str().unwrap();
        assert!(
            payload.starts_with("doorstep:enroll?server=http") && payload.ends_with(&code),
            "{payload}"
        );

        let (status, kind, svg) = server.get_bytes(made["qr_svg_url"].as_str().unwrap(), &staff);
        assert_eq!((status, kind.as_str()), (200, "image/svg+xml"));
        assert!(String::from_utf8(svg).unwrap().contains("<svg"));
        let (status, kind, png) = server.get_bytes(made["qr_png_url"].as_str().unwrap(), &staff);
        assert_eq!((status, kind.as_str()), (200, "image/png"));
        assert!(png.starts_with(b"\x89PNG"));

        // The QR code's text alone is enough: it names the server.
        let (phone, enrolled) = Phone::enroll("phone-a", None, payload).unwrap();
        assert_eq!(enrolled.volunteer, "李娜");
        assert_eq!(phone.store.profile().volunteer, "李娜");
        assert_eq!(phone.store.villages().len(), 2);
        let household = record(&phone, OTHER_VILLAGE, 1, "甲").pop_first().unwrap();
        assert!(phone.sync().rejected.is_empty());
        assert!(register_ids(&server, &staff, township()).contains(household.as_str()));

        // A spent code has no QR code any more.
        let (status, _, body) = server.get_bytes(made["qr_png_url"].as_str().unwrap(), &staff);
        assert_error(status, &body, 410, "code_spent", "spent QR");

        // A village of another township is not theirs to hand out.
        let (status, body) = server.post_json(
            "/api/v1/enrollments",
            &staff,
            &json!({ "volunteer": "王芳", "villages": [VILLAGE, ELSEWHERE] }),
        );
        assert_error_json(status, &body, 403, "forbidden");
        // Each refusal's code names what is wrong, for a form to place it.
        for (what, request, code) in [
            (
                "a township code",
                json!({ "volunteer": "王芳", "villages": [township()] }),
                "bad_request",
            ),
            (
                "no village",
                json!({ "volunteer": "王芳", "villages": [] }),
                "bad_request",
            ),
            (
                "no name",
                json!({ "volunteer": " ", "villages": [VILLAGE] }),
                "invalid_volunteer",
            ),
            (
                "a code valid for a year",
                json!({ "volunteer": "王芳", "villages": [VILLAGE], "expires_in_hours": 8760 }),
                "invalid_expiry",
            ),
        ] {
            let (status, body) = server.post_json("/api/v1/enrollments", &staff, &request);
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some(code)),
                "{backend:?}, {what}: {body}"
            );
        }
        // A phone's token is not a staff credential.
        let (status, body) = server.post_json(
            "/api/v1/enrollments",
            &phone.store.setting("token").unwrap().unwrap(),
            &json!({ "volunteer": "王芳", "villages": [VILLAGE] }),
        );
        assert_error_json(status, &body, 403, "forbidden");

        let auditor = auditor(&server, &db);
        let created = audit(&server, &auditor, "device.enroll.create");
        assert_eq!(
            outcomes(&created),
            vec!["denied", "denied", "ok"],
            "{created:?}"
        );
    }
}

#[test]
fn test_a_replayed_expired_or_unknown_code_is_refused_and_makes_no_device() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, township(), "乡镇工作人员");
        let code = code_of(&enrollment(&server, &staff, &[VILLAGE]));
        let stale = enrollment(&server, &staff, &[VILLAGE]);
        let spare = code_of(&enrollment(&server, &staff, &[VILLAGE]));
        // Three days pass for one of them.
        db.execute(&format!(
            "UPDATE enrollment_code SET expires_at = expires_at - 73 * 3600 WHERE id = '{}'",
            stale["id"].as_str().unwrap()
        ));
        let stale = code_of(&stale);

        let phone = actor();
        let (status, first) = redeem(&server, &code.to_lowercase(), &phone);
        assert_eq!(status, 200, "codes are read whatever their case: {first}");
        assert!(first["device_token"].as_str().unwrap().starts_with("dsd_"));
        assert_eq!(first["villages"], json!([VILLAGE]));

        let attempts = [
            (
                "the same code again",
                code.clone(),
                actor(),
                410,
                "code_used",
            ),
            (
                "the same code, same phone",
                code.clone(),
                phone.clone(),
                410,
                "code_used",
            ),
            (
                "an expired code",
                stale.clone(),
                actor(),
                410,
                "code_expired",
            ),
            (
                "an unknown code",
                "ABCD-EFGH-JKMN-PQRS".to_owned(),
                actor(),
                404,
                "unknown_code",
            ),
            (
                "a mistyped code",
                "ABCD-EFGH".to_owned(),
                actor(),
                400,
                "invalid_code",
            ),
            (
                "an injected code",
                "' OR 1=1 --".to_owned(),
                actor(),
                400,
                "invalid_code",
            ),
            (
                "an actor that is not hex",
                spare.clone(),
                "robert'); --".to_owned(),
                400,
                "invalid_code",
            ),
            (
                "a phone enrolled already",
                spare.clone(),
                phone.clone(),
                409,
                "already_enrolled",
            ),
        ];
        for (what, code, actor, want, error) in &attempts {
            let (status, body) = redeem(&server, code, actor);
            assert_eq!(status, *want, "{backend:?}, {what}: {body}");
            assert_eq!(body["error"], *error, "{backend:?}, {what}: {body}");
            assert!(
                !body["message"]["zh"].as_str().unwrap().is_empty()
                    && !body["message"]["en"].as_str().unwrap().is_empty(),
                "{body}"
            );
        }
        assert_eq!(devices(&server, &staff, township()).len(), 1);
        // A refusal spends nothing: the code refused to an enrolled phone still works.
        let (status, body) = redeem(&server, &spare, &actor());
        assert_eq!(status, 200, "{body}");
        assert_eq!(devices(&server, &staff, township()).len(), 2);

        let auditor = auditor(&server, &db);
        let records = audit(&server, &auditor, "device.enroll");
        let denied = outcomes(&records).iter().filter(|o| *o == "denied").count();
        assert_eq!(denied, attempts.len(), "{records:?}");
    }
}

// ─── Revoking ─────────────────────────────────────────────────────────────────────────────

#[test]
fn test_a_revoked_device_is_refused_at_once_and_its_phone_erases_its_data() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, township(), "乡镇工作人员");
        let code = code_of(&enrollment(&server, &staff, &[VILLAGE]));
        let (phone, enrolled) = Phone::enroll("phone-a", Some(&server), &code).unwrap();
        let token = phone.store.setting("token").unwrap().unwrap();
        let households = record(&phone, VILLAGE, 2, "甲");
        phone.sync();
        let first = households.first().unwrap();
        phone
            .store
            .set_field(first, "household.address", "未上传")
            .unwrap();

        // Staff of another township cannot touch it.
        let elsewhere = server.staff_token(&db, &ELSEWHERE[..9], "别的乡镇");
        let path = format!("/api/v1/devices/{}/revoke", enrolled.device_id);
        let (status, body) = server.post_json(&path, &elsewhere, &json!({}));
        assert_error_json(status, &body, 404, "not_found");

        let (status, revoked) = server.post_json(&path, &staff, &json!({ "reason": "手机丢失" }));
        assert_eq!(status, 200, "{revoked}");
        assert!(revoked["revoked_at"].is_i64(), "{revoked}");
        assert_eq!(revoked["wipe_requested"], true);
        assert_eq!(revoked["revoke_reason"], "手机丢失");

        // At once: the very next request with the token is refused, telling it to erase.
        let request = SyncRequest {
            actor: phone.store.actor(),
            ..request(vec![])
        };
        let (status, body) = server.post_sync(&token, wire::encode(&request).unwrap());
        assert_error(status, &body, 401, "device_revoked", "revoked sync");
        // Its token is no key to staff endpoints either.
        let (status, body) = server.get_json(&format!("/api/v1/households?area={VILLAGE}"), &token);
        assert_error_json(status, &body, 401, "unauthorized");

        let err = phone.try_sync(&sync::HttpTransport::default()).unwrap_err();
        assert!(matches!(err, SyncError::Revoked(_)), "{err:?}");
        assert!(err.message().zh.contains("撤销"), "{}", err.message());
        assert!(phone.store.household_ids().unwrap().is_empty());
        assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
        assert!(sync::revocation_of(&phone.store).unwrap().is_some());
        assert_eq!(phone.store.setting("token").unwrap(), None);
        let reopened = client_core::Store::open(phone.dir()).unwrap();
        assert!(reopened.household_ids().unwrap().is_empty());

        // The server keeps everything the device delivered.
        let ids: BTreeSet<String> = households.iter().map(ToString::to_string).collect();
        assert_eq!(register_ids(&server, &staff, VILLAGE), ids);
        let newcomer = Phone::new("newcomer", &server, &db.add_device(&[VILLAGE]));
        newcomer.sync();
        assert_eq!(ids_of(&newcomer), households);

        let listed = devices(&server, &staff, township());
        let revoked = listed
            .iter()
            .find(|d| d["id"] == enrolled.device_id.as_str())
            .unwrap();
        assert!(revoked["wipe_sent_at"].is_i64(), "{listed:?}");
        let auditor = auditor(&server, &db);
        let revocations = audit(&server, &auditor, "device.revoke");
        assert_eq!(
            outcomes(&revocations),
            vec!["ok", "denied"],
            "{revocations:?}"
        );
        let device_actor = format!("device:{}", enrolled.device_id);
        let refused = audit(&server, &auditor, "sync");
        assert!(
            refused
                .iter()
                .filter(|r| r["actor"] == device_actor.as_str())
                .count()
                >= 2,
            "{refused:?}"
        );
    }
}

#[test]
fn test_a_device_revoked_without_a_wipe_keeps_its_data_for_a_new_enrollment() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let code = db.run(&[
            "device",
            "enroll",
            "--volunteer",
            "李娜",
            "--village",
            VILLAGE,
        ]);
        let (phone, enrolled) = Phone::enroll("phone-a", Some(&server), &code).unwrap();
        let household = record(&phone, VILLAGE, 1, "甲").pop_first().unwrap();
        db.run(&["device", "revoke", &enrolled.device_id, "--keep-data"]);
        let listed = db.run(&["device", "list", "--area", VILLAGE]);
        assert!(listed.contains("revoked at"), "{listed}");
        assert!(!listed.contains("wipe requested"), "{listed}");

        let err = phone.try_sync(&sync::HttpTransport::default()).unwrap_err();
        assert!(
            matches!(err, SyncError::Server { status: 401, .. }),
            "{err:?}"
        );
        assert_eq!(
            phone.store.household_ids().unwrap(),
            vec![household.clone()]
        );

        // Enrolled again with a new code, the same phone uploads what it kept.
        let code = db.run(&[
            "device",
            "enroll",
            "--volunteer",
            "李娜",
            "--village",
            VILLAGE,
        ]);
        sync::enroll(&phone.store, Some(&server.url), &code, None).unwrap();
        assert!(phone.sync().rejected.is_empty());
        let staff = server.staff_token(&db, COUNTY, "县工作人员");
        assert_eq!(
            register_ids(&server, &staff, VILLAGE),
            BTreeSet::from([household.to_string()])
        );
    }
}

// ─── Reassigning ──────────────────────────────────────────────────────────────────────────

#[test]
fn test_a_reassigned_device_loses_a_village_only_after_its_edits_reached_the_server() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, township(), "乡镇工作人员");
        let code = code_of(&enrollment(&server, &staff, &[VILLAGE, OTHER_VILLAGE]));
        let (phone, enrolled) = Phone::enroll("phone-a", Some(&server), &code).unwrap();
        let mine = record(&phone, VILLAGE, 2, "甲");
        let moved = record(&phone, OTHER_VILLAGE, 2, "乙");
        phone.sync();
        let edited = moved.first().unwrap();
        phone
            .store
            .set_field(edited, "household.address", "柳林村 3 号")
            .unwrap();

        let path = format!("/api/v1/devices/{}/villages", enrolled.device_id);
        let (status, body) = server.put_json(&path, &staff, &json!({ "villages": [VILLAGE] }));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["villages"], json!([VILLAGE]));
        assert_eq!(body["former_villages"], json!([OTHER_VILLAGE]));
        // Not to a village outside the staff member's area.
        let (status, body) =
            server.put_json(&path, &staff, &json!({ "villages": [VILLAGE, ELSEWHERE] }));
        assert_error_json(status, &body, 403, "forbidden");

        let report = phone.sync();
        assert!(report.rejected.is_empty(), "{report:?}");
        let dropped: BTreeSet<String> = report.dropped.iter().cloned().collect();
        let expected: BTreeSet<String> = moved.iter().map(ToString::to_string).collect();
        assert_eq!(dropped, expected, "{backend:?}: {report:?}");
        assert_eq!(
            address(&server, &staff, edited.as_str()),
            "柳林村 3 号",
            "{backend:?}: the edit reached the server before the household left"
        );
        assert_eq!(
            ids_of(&phone),
            mine,
            "{backend:?}: the kept village is intact"
        );
        assert_eq!(phone.store.villages(), vec![area(VILLAGE)]);

        // The feed no longer carries the village to it.
        let neighbour = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));
        neighbour.sync();
        neighbour
            .store
            .set_field(edited, "household.address", "柳林村 5 号")
            .unwrap();
        neighbour.sync();
        let report = phone.sync();
        assert_eq!(
            (report.documents_received, report.changes_received),
            (0, 0),
            "{report:?}"
        );
        assert_eq!(ids_of(&phone), mine);

        // Given back, the village returns whole, with what others did meanwhile.
        let (status, body) = server.put_json(
            &path,
            &staff,
            &json!({ "villages": [VILLAGE, OTHER_VILLAGE] }),
        );
        assert_eq!(status, 200, "{body}");
        phone.sync();
        let mut all = mine.clone();
        all.extend(moved.iter().cloned());
        assert_eq!(ids_of(&phone), all, "{backend:?}");
        assert_eq!(
            phone
                .store
                .household(edited)
                .unwrap()
                .view
                .household_text("address"),
            Some("柳林村 5 号")
        );

        let auditor = auditor(&server, &db);
        assert_eq!(
            outcomes(&audit(&server, &auditor, "device.villages")),
            vec!["ok", "denied", "ok"]
        );
    }
}

// ─── Reaching for other villages ──────────────────────────────────────────────────────────

#[test]
fn test_a_device_reads_no_other_village_and_its_token_works_on_no_other_phone() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, township(), "乡镇工作人员");
        let code = code_of(&enrollment(&server, &staff, &[VILLAGE]));
        let (phone, _) = Phone::enroll("phone-a", Some(&server), &code).unwrap();
        let token = phone.store.setting("token").unwrap().unwrap();
        let other = Phone::new("phone-b", &server, &db.add_device(&[OTHER_VILLAGE]));
        let theirs = record(&other, OTHER_VILLAGE, 2, "丙");
        other.sync();
        let mine = record(&phone, VILLAGE, 1, "甲");
        phone.sync();
        assert_eq!(ids_of(&phone), mine);

        // Asking the feed from the start, as the phone itself: nothing of the other village.
        let request = SyncRequest {
            actor: phone.store.actor(),
            ..request(vec![])
        };
        let response = sync_raw(&server, &token, &request);
        assert!(
            response
                .updates
                .iter()
                .all(|u| !theirs.iter().any(|h| h.as_str() == u.household)),
            "{backend:?}"
        );
        assert_eq!(response.villages, Some(vec![VILLAGE.to_owned()]));

        // The register and the device API are staff's.
        for path in [
            format!("/api/v1/households?area={OTHER_VILLAGE}"),
            format!("/api/v1/households/{}", theirs.first().unwrap()),
            "/api/v1/devices".to_owned(),
        ] {
            let (status, body) = server.get_json(&path, &token);
            assert_error_json(status, &body, 403, "forbidden");
        }

        // The token copied to another install is refused, and nothing it sends is taken.
        let thief = Phone::new("thief", &server, &token);
        let stolen = record(&thief, VILLAGE, 1, "丁").pop_first().unwrap();
        let err = thief.try_sync(&sync::HttpTransport::default()).unwrap_err();
        assert!(
            matches!(err, SyncError::Server { status: 403, .. }),
            "{err:?}"
        );
        assert!(!register_ids(&server, &staff, VILLAGE).contains(stolen.as_str()));
        assert_eq!(thief.store.household_ids().unwrap(), vec![stolen]);

        let auditor = auditor(&server, &db);
        let refused = audit(&server, &auditor, "sync");
        assert!(
            refused
                .iter()
                .any(|r| r["detail"].as_str().unwrap().contains("actor")),
            "{refused:?}"
        );
        let register = audit(&server, &auditor, "register.list");
        assert!(
            register.iter().any(|r| r["role"] == "device"),
            "{register:?}"
        );
    }
}

fn ids_of(phone: &Phone) -> BTreeSet<doorstep_e2e::HouseholdId> {
    phone.store.household_ids().unwrap().into_iter().collect()
}
