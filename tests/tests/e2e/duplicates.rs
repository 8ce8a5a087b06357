//! Duplicates between two households, settled by staff: merging one family recorded twice
//! keeps every value either recorded; a person recorded in the wrong family is moved into the
//! right one; two families that only share a person are settled as not the same household.
//! Each decision reaches the phones on their next sync.

use crate::review::{id_number, open_items, show};
use crate::support::{area, audit, auditor};
use doorstep_e2e::{Backend, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE};
use schema::fields::FieldPath;
use serde_json::{Value, json};

/// Runs `doorstep review ARGS` as the staff member; it must succeed. Returns its stdout.
fn review_cli(db: &TestDatabase, server: &Server, token: &str, args: &[&str]) -> String {
    let output = db
        .command()
        .args(["review", "--server", &server.url, "--token", token])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "review {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A household on `phone` whose members are (name, ID number) pairs, the first the head of
/// household; with the address given and one finished visit. Returns it and the member keys.
pub(crate) fn family(
    phone: &Phone,
    members: &[(&str, &str)],
    address: &str,
) -> (HouseholdId, Vec<String>) {
    let household = phone.store.create_household(&area(VILLAGE), None).unwrap();
    let keys: Vec<String> = members
        .iter()
        .map(|(name, number)| {
            phone
                .store
                .add_member(&household, name, Some(number))
                .unwrap()
                .to_string()
        })
        .collect();
    phone
        .store
        .set_fields(
            &household,
            &[
                (format!("members.{}.relation", keys[0]).as_str(), "01"),
                ("household.address", address),
            ],
        )
        .unwrap();
    let visit = phone.store.start_visit(&household).unwrap();
    phone
        .store
        .finish_visit(&household, &visit, "met", None, None)
        .unwrap();
    (household, keys)
}

/// The open duplicate item between two households.
pub(crate) fn duplicate_between(
    server: &Server,
    token: &str,
    first: &HouseholdId,
    second: &str,
) -> Value {
    let items = open_items(server, token, first);
    items
        .iter()
        .find(|item| {
            item["kind"] == "duplicate"
                && (item["household_id"] == second || item["other_household_id"] == second)
        })
        .unwrap_or_else(|| panic!("no duplicate with {second} in {items:?}"))
        .clone()
}

/// Every value a field has had on a phone, from the phone's own copy of the document.
fn phone_history(
    phone: &Phone,
    household: &HouseholdId,
    path: &str,
) -> Vec<schema::layout::HistoryEntry> {
    let bytes = phone.store.document_bytes(household).unwrap();
    let doc = automerge::Automerge::load(&bytes).unwrap();
    let view = schema::layout::read_household(&doc).unwrap();
    schema::layout::field_history(&doc, &FieldPath::parse(path).unwrap(), &view.actors)
}

#[test]
fn test_a_merge_keeps_every_value_the_absorbed_household_recorded_differently_as_a_candidate() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县审核员");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let head = id_number("19700505", 31);

        // The same family, registered twice offline, and found differently each time.
        let (first, keys) = family(&a, &[("赵大山", &head)], "东沟 3 号");
        let (second, _) = family(&b, &[("赵大山", &head)], "后沟 7 号");
        let status = format!("members.{}.employment.status", keys[0]);
        a.store.set_field(&first, &status, "02").unwrap();
        b.store.set_field(&second, &status, "10").unwrap();
        a.sync();
        b.sync();
        let duplicate = duplicate_between(&server, &staff, &first, second.as_str());
        assert_eq!(duplicate["rule"], "duplicate.household");

        review_cli(
            &db,
            &server,
            &staff,
            &[
                "merge",
                first.as_str(),
                second.as_str(),
                "--comment",
                "同一户",
            ],
        );

        // Neither the address nor the employment status the second visit found is lost:
        // each is a candidate on the survivor, beside the survivor's own, in the queue.
        let items = open_items(&server, &staff, &first);
        for (path, kept, absorbed) in [
            ("household.address", "东沟 3 号", "后沟 7 号"),
            (status.as_str(), "02", "10"),
        ] {
            let conflict = items
                .iter()
                .find(|item| item["kind"] == "conflict" && item["path"] == path)
                .unwrap_or_else(|| panic!("no conflict on {path} in {items:?}"));
            let detail = show(&server, &staff, conflict["id"].as_str().unwrap());
            let candidates = detail["candidates"].as_array().unwrap();
            assert_eq!(candidates.len(), 2, "{detail}");
            let by_value = |value: &str| {
                candidates
                    .iter()
                    .find(|c| c["value"] == value)
                    .unwrap_or_else(|| panic!("no candidate {value} in {detail}"))
            };
            assert_eq!(by_value(kept)["device"], "phone-a");
            // The absorbed household's value names who recorded it, and says how it came.
            let carried = by_value(absorbed);
            assert_eq!(carried["device"], "phone-b", "{carried}");
            assert_eq!(carried["volunteer"], "volunteer of phone-b");
            assert_eq!(
                carried["review"],
                format!("merge {second}").as_str(),
                "{carried}"
            );
            assert!(carried["time"].as_i64().unwrap() > 1_700_000_000);
        }

        // The phones hold the same conflicts after their next sync.
        for phone in [&a, &b] {
            phone.sync();
            let detail = phone.store.household(&first).unwrap();
            let mut disputed: Vec<&str> =
                detail.conflicts.iter().map(|c| c.path.as_str()).collect();
            disputed.sort();
            let mut want = vec!["household.address", status.as_str()];
            want.sort();
            assert_eq!(disputed, want, "{:?}", detail.conflicts);
        }

        // Staff settle the address as the second visit found it; both phones follow.
        let conflict = items
            .iter()
            .find(|item| item["path"] == "household.address")
            .unwrap();
        let id = conflict["id"].as_str().unwrap();
        let detail = show(&server, &staff, id);
        let pick = detail["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["value"] == "后沟 7 号")
            .unwrap()["number"]
            .to_string();
        review_cli(&db, &server, &staff, &["resolve", id, "--pick", &pick]);
        for phone in [&a, &b] {
            phone.sync();
            let detail = phone.store.household(&first).unwrap();
            assert_eq!(detail.view.household_text("address"), Some("后沟 7 号"));
        }
    }
}

#[test]
fn test_a_person_in_two_families_is_shown_side_by_side_and_moved_with_its_history() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县审核员");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let daughter = id_number("19900909", 42);

        // The daughter married into the Li family; one volunteer still counts her at home.
        let (zhang, zhang_keys) = family(
            &a,
            &[
                ("张守田", &id_number("19650101", 41)),
                ("张小梅", &daughter),
            ],
            "东街 1 号",
        );
        let (li, li_keys) = family(
            &b,
            &[
                ("李长河", &id_number("19600202", 43)),
                ("张小梅", &daughter),
            ],
            "西街 9 号",
        );
        let moved = zhang_keys[1].clone();
        assert_eq!(moved, li_keys[1], "one person, one member key");
        let education = format!("members.{moved}.education");
        a.store.set_field(&zhang, &education, "03").unwrap();
        a.sync();
        b.sync();
        let duplicate = duplicate_between(&server, &staff, &zhang, li.as_str());
        assert_eq!(duplicate["rule"], "duplicate.id_number");
        let id = duplicate["id"].as_str().unwrap().to_owned();

        // Both households, side by side: members (ID numbers masked), addresses, visits
        // and who recorded them.
        let detail = show(&server, &staff, &id);
        let parts = [&detail["household"], &detail["other_household"]];
        let part = |household: &HouseholdId| {
            *parts
                .iter()
                .find(|p| p["id"] == household.as_str())
                .unwrap_or_else(|| panic!("{household} not shown in {detail}"))
        };
        for (household, device, address) in [
            (&zhang, "phone-a", "东街 1 号"),
            (&li, "phone-b", "西街 9 号"),
        ] {
            let shown = part(household);
            assert_eq!(shown["household"]["address"]["value"], address);
            let members = shown["members"].as_object().unwrap();
            assert_eq!(members.len(), 2, "{shown}");
            let number = members[&moved]["id_number"]["value"].as_str().unwrap();
            assert_ne!(number, daughter, "masked unless revealed");
            assert!(number.contains('*'), "{number}");
            assert_eq!(shown["members_recorded_by"][&moved]["device"], device);
            let visits: Vec<&Value> = shown["visits"].as_object().unwrap().values().collect();
            assert_eq!(visits.len(), 1, "{shown}");
            assert_eq!(visits[0]["device"]["value"], device);
            assert_eq!(
                visits[0]["volunteer"]["value"],
                format!("volunteer of {device}").as_str()
            );
        }
        let printed = review_cli(&db, &server, &staff, &["show", &id]);
        for expected in [
            zhang.as_str(),
            li.as_str(),
            "东街 1 号",
            "西街 9 号",
            "张守田",
            "李长河",
            "phone-a",
            "phone-b",
            "review move",
            "review dismiss",
        ] {
            assert!(printed.contains(expected), "{expected} in {printed}");
        }
        assert!(!printed.contains(&daughter), "{printed}");

        // She belongs with the Li family.
        let said = review_cli(
            &db,
            &server,
            &staff,
            &[
                "move",
                &id,
                "--member",
                &moved,
                "--to",
                li.as_str(),
                "--comment",
                "已嫁入李家",
            ],
        );
        assert!(said.contains("移到"), "{said}");
        let closed = show(&server, &staff, &id);
        assert_eq!(closed["item"]["status"], "resolved");
        let events = closed["events"].as_array().unwrap();
        let moved_event = events.iter().find(|e| e["action"] == "moved").unwrap();
        assert_eq!(moved_event["detail"]["member"], moved.as_str());
        assert_eq!(moved_event["detail"]["to"], li.as_str());

        // The phones follow on their next sync: she is in the Li household only, with what
        // the Zhang visit recorded about her.
        for phone in [&a, &b, &a] {
            phone.sync();
        }
        for phone in [&a, &b] {
            let zhang_now = phone.store.household(&zhang).unwrap();
            assert!(!zhang_now.view.members.contains_key(&moved));
            assert_eq!(zhang_now.view.members.len(), 1);
            let li_now = phone.store.household(&li).unwrap();
            let field = li_now
                .view
                .field(&FieldPath::parse(&education).unwrap())
                .unwrap();
            assert_eq!(field.value.as_text(), Some("03"));
            assert!(li_now.conflicts.is_empty(), "{:?}", li_now.conflicts);
        }
        // The Zhang household's history still shows her, and who took her out.
        let name = format!("members.{moved}.name");
        let history = phone_history(&b, &zhang, &name);
        assert_eq!(history.len(), 2, "{history:?}");
        assert_eq!(
            history[0].value.as_ref().and_then(|v| v.as_text()),
            Some("张小梅")
        );
        assert_eq!(history[0].device.as_deref(), Some("phone-a"));
        assert_eq!(history[1].value, None);
        assert_eq!(history[1].staff.as_deref(), Some("县审核员"));
        assert_eq!(history[1].origin.comment.as_deref(), Some("已嫁入李家"));
        // In the Li household, what the Zhang visit recorded still names that visit's phone.
        let carried = phone_history(&a, &li, &education);
        assert_eq!(carried.len(), 1, "{carried:?}");
        assert_eq!(carried[0].device.as_deref(), Some("phone-a"));

        // The pair no longer shares anyone: nothing reopens.
        a.store
            .set_field(&zhang, "household.phone", "13800138000")
            .unwrap();
        a.sync();
        assert_eq!(show(&server, &staff, &id)["item"]["status"], "resolved");
        assert!(
            !open_items(&server, &staff, &zhang)
                .iter()
                .any(|item| item["kind"] == "duplicate")
        );
    }
}

#[test]
fn test_not_the_same_household_closes_the_duplicate_until_something_new_is_shared() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县审核员");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let shared = id_number("19880808", 52);
        let (wang, _) = family(
            &a,
            &[("王二", &id_number("19620303", 51)), ("陈芳", &shared)],
            "南街 2 号",
        );
        let (zhou, _) = family(
            &b,
            &[("周五", &id_number("19630404", 53)), ("陈芳", &shared)],
            "北街 4 号",
        );
        a.sync();
        b.sync();
        let id = duplicate_between(&server, &staff, &wang, zhou.as_str())["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // A reason is required.
        let path = format!("/api/v1/review/items/{id}/dismiss");
        let (status, error) = server.post_json(&path, &staff, &json!({"comment": "  "}));
        assert_eq!(status, 400, "{error}");
        assert!(error["message"]["zh"].as_str().unwrap().contains("说明"));

        let said = review_cli(
            &db,
            &server,
            &staff,
            &["dismiss", &id, "--comment", "两户不同，陈芳在两户间往来"],
        );
        assert!(said.contains("不是同一户"), "{said}");
        let closed = show(&server, &staff, &id);
        assert_eq!(closed["item"]["status"], "dismissed");
        let event = closed["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(event["action"], "dismissed");
        assert_eq!(event["detail"]["staff"], "县审核员");
        assert_eq!(event["detail"]["comment"], "两户不同，陈芳在两户间往来");
        let audited = audit(&server, &auditor(&server, &db), "review.dismiss");
        assert_eq!(audited.len(), 1, "{audited:?}");
        let (status, listed) = server.get_json(
            "/api/v1/review/items?status=dismissed&kind=duplicate",
            &staff,
        );
        assert_eq!(status, 200);
        assert_eq!(listed["items"][0]["id"], id.as_str());
        // Nor can it be dismissed twice.
        let (status, _) = server.post_json(&path, &staff, &json!({"comment": "再次"}));
        assert_eq!(status, 400);

        // Both households are edited again: the same finding does not reopen it.
        a.store
            .set_field(&wang, "household.address", "南街 2 号院")
            .unwrap();
        b.store
            .set_field(&zhou, "household.phone", "13900139000")
            .unwrap();
        a.sync();
        b.sync();
        assert_eq!(show(&server, &staff, &id)["item"]["status"], "dismissed");

        // Something new: both households now also hold the same second person.
        let newcomer = id_number("20100101", 54);
        a.store
            .add_member(&wang, "陈小宝", Some(&newcomer))
            .unwrap();
        b.store
            .add_member(&zhou, "陈小宝", Some(&newcomer))
            .unwrap();
        a.sync();
        b.sync();
        let reopened = show(&server, &staff, &id);
        assert_eq!(reopened["item"]["status"], "open", "{reopened}");
        assert_eq!(
            reopened["events"].as_array().unwrap().last().unwrap()["action"],
            "reopened"
        );
    }
}
