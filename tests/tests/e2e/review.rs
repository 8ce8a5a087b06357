//! The county review queue: conflicts, rule violations and duplicates found at merge time,
//! decided by staff, and the decisions reaching the phones.

use crate::support::area;
use doorstep_e2e::{
    Backend, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE, with_check_character,
};
use serde_json::{Value, json};

/// A valid 18-digit ID number for a person born on `birth` (YYYYMMDD), with a sequence.
pub(crate) fn id_number(birth: &str, sequence: u32) -> String {
    let first17 = format!("141124{birth}{sequence:03}");
    with_check_character(&first17)
}

/// The household's open items, from the review list.
pub(crate) fn open_items(server: &Server, token: &str, household: &HouseholdId) -> Vec<Value> {
    let (status, page) = server.get_json("/api/v1/review/items?limit=500", token);
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| {
            item["household_id"] == household.as_str()
                || item["other_household_id"] == household.as_str()
        })
        .cloned()
        .collect()
}

pub(crate) fn show(server: &Server, token: &str, item: &str) -> Value {
    let (status, detail) = server.get_json(&format!("/api/v1/review/items/{item}"), token);
    assert_eq!(status, 200, "{detail}");
    detail
}

/// A household with a head of household (relation 01) and a valid ID number, on every phone.
fn shared_household(phones: &[&Phone]) -> (HouseholdId, String) {
    let household = phones[0]
        .store
        .create_household(&area(VILLAGE), None)
        .unwrap();
    let member = phones[0]
        .store
        .add_member(&household, "王建国", Some(&id_number("19800101", 11)))
        .unwrap();
    phones[0]
        .store
        .set_field(&household, &format!("members.{member}.relation"), "01")
        .unwrap();
    for phone in phones {
        phone.sync();
    }
    (household, member.to_string())
}

/// Two phones set a shared household's address differently, offline, and sync: returns the
/// household and the id of the conflict item it makes.
fn address_conflict(
    server: &Server,
    token: &str,
    phones: [&Phone; 2],
    addresses: [&str; 2],
) -> (HouseholdId, String) {
    let (household, _) = shared_household(&phones);
    for (phone, address) in phones.iter().zip(addresses) {
        phone
            .store
            .set_field(&household, "household.address", address)
            .unwrap();
    }
    for phone in phones {
        phone.sync();
    }
    let item = open_items(server, token, &household)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (household, item)
}

#[test]
fn test_a_same_field_conflict_is_shown_with_its_authors_resolved_by_staff_and_settled_on_both_phones()
 {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县审核员李华");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let (household, member) = shared_household(&[&a, &b]);
        let employer = format!("members.{member}.employment.employer");
        let status = format!("members.{member}.employment.status");

        // A week apart, each offline: one finds the son working in Taiyuan, the other finds
        // him at home.
        a.store
            .set_fields(
                &household,
                &[(status.as_str(), "02"), (employer.as_str(), "太原钢铁")],
            )
            .unwrap();
        b.store.set_field(&household, &status, "10").unwrap();
        a.sync();
        b.sync();

        let items = open_items(&server, &staff, &household);
        let conflict = items
            .iter()
            .find(|item| item["kind"] == "conflict")
            .unwrap_or_else(|| panic!("no conflict item in {items:?}"));
        assert_eq!(conflict["path"], status.as_str());
        assert_eq!(conflict["village"], VILLAGE);
        assert!(
            conflict["summary"]["zh"]
                .as_str()
                .unwrap()
                .contains("王建国"),
            "{conflict}"
        );
        let id = conflict["id"].as_str().unwrap();
        let detail = show(&server, &staff, id);
        let candidates = detail["candidates"].as_array().unwrap();
        assert_eq!(candidates.len(), 2, "{detail}");
        let mut devices: Vec<&str> = candidates
            .iter()
            .map(|c| c["device"].as_str().unwrap())
            .collect();
        devices.sort();
        assert_eq!(devices, ["phone-a", "phone-b"]);
        for candidate in candidates {
            assert!(
                candidate["volunteer"]
                    .as_str()
                    .unwrap()
                    .starts_with("volunteer of")
            );
            assert!(candidate["time"].as_i64().unwrap() > 1_700_000_000);
            assert!(candidate["received_at"].as_i64().unwrap() > 1_700_000_000);
        }
        let readable: Vec<&str> = candidates
            .iter()
            .map(|c| c["readable"]["zh"].as_str().unwrap())
            .collect();
        assert!(readable.contains(&"未就业（10）"), "{readable:?}");
        // The field's history: its values in order, with who wrote them.
        let history = detail["history"].as_array().unwrap();
        assert_eq!(history.len(), 2, "{detail}");
        assert_eq!(detail["household"]["id"], household.as_str());

        // A clerk at a terminal sees the same item, with its candidates side by side.
        let cli = |args: &[&str]| {
            let output = db
                .command()
                .args(["review", "--server", &server.url, "--token", &staff])
                .args(args)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        };
        assert!(cli(&["list"]).contains(id));
        let shown = cli(&["show", id]);
        assert!(shown.contains("[1]") && shown.contains("[2]"), "{shown}");
        assert!(
            shown.contains("phone-a") && shown.contains("phone-b"),
            "{shown}"
        );

        // Staff choose "working in the province" (whichever number it has), from the CLI.
        let pick = candidates.iter().find(|c| c["value"] == "02").unwrap()["number"].to_string();
        let decided = cli(&[
            "resolve",
            id,
            "--pick",
            &pick,
            "--comment",
            "电话核实：在太原务工",
        ]);
        assert!(decided.contains("已确定为"), "{decided}");

        let resolved = show(&server, &staff, id);
        assert_eq!(resolved["item"]["status"], "resolved");
        assert!(resolved["candidates"].as_array().unwrap().is_empty());
        assert_eq!(resolved["current"]["value"], "02");
        let last = resolved["history"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["staff"], "县审核员李华");
        assert_eq!(last["comment"], "电话核实：在太原务工");

        for phone in [&a, &b] {
            phone.sync();
            let detail = phone.store.household(&household).unwrap();
            let field = detail
                .view
                .field(&schema::fields::FieldPath::parse(&status).unwrap())
                .unwrap();
            assert_eq!(field.value.as_text(), Some("02"));
            assert!(detail.conflicts.is_empty(), "{:?}", detail.conflicts);
        }
        let village_counts = server.get_json("/api/v1/villages", &staff).1;
        assert_eq!(village_counts[0]["village"], VILLAGE);
        assert_eq!(village_counts[0]["disputed_households"], 0);
    }
}

#[test]
fn test_edits_to_different_fields_or_of_the_same_value_make_no_review_item() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县审核员");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let (household, member) = shared_household(&[&a, &b]);
        assert_eq!(open_items(&server, &staff, &household), Vec::<Value>::new());

        // Different fields.
        a.store
            .set_field(&household, "household.address", "城庄镇 12 号")
            .unwrap();
        b.store
            .set_field(&household, "household.phone", "13800138000")
            .unwrap();
        // The same value on both phones.
        let education = format!("members.{member}.education");
        a.store.set_field(&household, &education, "03").unwrap();
        b.store.set_field(&household, &education, "03").unwrap();
        a.sync();
        b.sync();
        a.sync();

        assert_eq!(open_items(&server, &staff, &household), Vec::<Value>::new());
        let detail = a.store.household(&household).unwrap();
        assert_eq!(detail.view.household_text("address"), Some("城庄镇 12 号"));
        assert_eq!(detail.view.household_text("phone"), Some("13800138000"));
        assert!(detail.conflicts.is_empty());
    }
}

#[test]
fn test_two_staff_deciding_one_item_at_once_leave_a_new_conflict_and_the_late_one_is_told() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let first = server.staff_token(&db, COUNTY, "审核员甲");
        let second = server.staff_token(&db, COUNTY, "审核员乙");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let (household, item) =
            address_conflict(&server, &first, [&a, &b], ["东街 1 号", "西街 9 号"]);

        // Both open the item, then both decide, differently.
        let seen_by_first = show(&server, &first, &item)["heads"].clone();
        let seen_by_second = show(&server, &second, &item)["heads"].clone();
        let path = format!("/api/v1/review/items/{item}/resolve");
        let (status, outcome) = server.post_json(
            &path,
            &first,
            &json!({"value": "东街 1 号", "comment": "户主确认", "heads": seen_by_first}),
        );
        assert_eq!(status, 200, "{outcome}");
        assert_eq!(outcome["stale"], false);
        assert_eq!(outcome["item"]["status"], "resolved");

        let (status, outcome) = server.post_json(
            &path,
            &second,
            &json!({"value": "南街 3 号", "comment": "村委会确认", "heads": seen_by_second}),
        );
        assert_eq!(status, 200, "{outcome}");
        // The late decision is recognised as made on a stale view, and kept: the item is a
        // conflict again, between the two staff decisions.
        assert_eq!(outcome["stale"], true, "{outcome}");
        assert_eq!(
            outcome["item"]["status"],
            "open",
            "{outcome} {}",
            show(&server, &first, &item)
        );
        let detail = show(&server, &first, &item);
        let mut staff: Vec<&str> = detail["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["staff"].as_str().unwrap())
            .collect();
        staff.sort();
        assert_eq!(staff, ["审核员乙", "审核员甲"]);
        let decisions = detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "resolved")
            .count();
        assert_eq!(decisions, 2);

        // A phone sees the new conflict too.
        a.sync();
        let conflicts = a.store.household(&household).unwrap().conflicts;
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].path, "household.address");

        // Heads the server never had are refused as stale, with a clear message.
        let (status, error) = server.post_json(
            &path,
            &first,
            &json!({"pick": 1, "heads": ["00".repeat(32)]}),
        );
        assert_eq!(status, 409, "{error}");
        assert!(
            error["message"]["zh"]
                .as_str()
                .unwrap()
                .contains("重新打开")
        );
    }
}

#[test]
fn test_a_rule_broken_only_by_the_merge_becomes_an_item_and_goes_when_a_phone_fixes_it() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县审核员");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let (household, member) = shared_household(&[&a, &b]);
        let field = |name: &str| format!("members.{member}.employment.{name}");

        // Each edit is valid on its own phone; together they say "not employed, at an
        // employer".
        a.store
            .set_fields(
                &household,
                &[
                    (field("status").as_str(), "10"),
                    (field("not_employed_reason").as_str(), "01"),
                ],
            )
            .unwrap();
        b.store
            .set_field(&household, &field("employer"), "太原钢铁")
            .unwrap();
        a.sync();
        b.sync();
        let rules: Vec<Value> = open_items(&server, &staff, &household)
            .into_iter()
            .filter(|item| item["kind"] == "rule")
            .collect();
        assert!(
            rules
                .iter()
                .any(|item| item["rule"] == "employment.not_employed_with_employer"),
            "{rules:?}"
        );
        let item = rules
            .iter()
            .find(|item| item["rule"] == "employment.not_employed_with_employer")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // The volunteer goes back and records that he works there now.
        b.store
            .set_fields(
                &household,
                &[
                    (field("status").as_str(), "03"),
                    (field("not_employed_reason").as_str(), ""),
                ],
            )
            .unwrap();
        b.sync();
        let detail = show(&server, &staff, &item);
        assert_eq!(detail["item"]["status"], "settled", "{detail}");
        assert!(
            !open_items(&server, &staff, &household)
                .iter()
                .any(|item| item["kind"] == "rule"),
        );
    }
}

#[test]
fn test_duplicate_households_are_found_merged_with_both_histories_and_late_edits_follow() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县审核员");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let head = id_number("19700505", 21);

        // The same family registered twice, offline, on two phones.
        let first = a.store.create_household(&area(VILLAGE), None).unwrap();
        let head_key = a.store.add_member(&first, "赵大山", Some(&head)).unwrap();
        a.store
            .set_field(&first, &format!("members.{head_key}.relation"), "01")
            .unwrap();
        let second = b.store.create_household(&area(VILLAGE), None).unwrap();
        let same_key = b.store.add_member(&second, "赵大山", Some(&head)).unwrap();
        b.store
            .set_field(&second, &format!("members.{same_key}.relation"), "01")
            .unwrap();
        let spouse = b
            .store
            .add_member(&second, "钱小红", Some(&id_number("19720808", 22)))
            .unwrap();
        a.sync();
        b.sync();

        let items = open_items(&server, &staff, &first);
        let duplicate = items
            .iter()
            .find(|item| item["kind"] == "duplicate")
            .unwrap_or_else(|| panic!("no duplicate in {items:?}"));
        assert_eq!(duplicate["rule"], "duplicate.household");
        let pair = [
            duplicate["household_id"].as_str().unwrap(),
            duplicate["other_household_id"].as_str().unwrap(),
        ];
        assert!(pair.contains(&first.as_str()) && pair.contains(&second.as_str()));
        let duplicate_id = duplicate["id"].as_str().unwrap().to_owned();

        // Phone B, offline, still edits the household it registered.
        b.store
            .set_field(&second, "household.address", "后沟 7 号")
            .unwrap();

        let output = db
            .command()
            .args(["review", "--server", &server.url, "--token", &staff])
            .args([
                "merge",
                first.as_str(),
                second.as_str(),
                "--comment",
                "同一户",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            show(&server, &staff, &duplicate_id)["item"]["status"],
            "resolved"
        );

        // The late edit reaches the server after the merge, and lands in the survivor.
        b.sync();
        a.sync();
        let (status, survivor) = server.get_json(&format!("/api/v1/households/{first}"), &staff);
        assert_eq!(status, 200);
        assert_eq!(survivor["household"]["address"]["value"], "后沟 7 号");
        let members = survivor["members"].as_object().unwrap();
        assert!(members.contains_key(&spouse.to_string()), "{survivor}");
        assert_eq!(members.len(), 2, "one head, not two: {survivor}");

        // The absorbed household stays, with its history, as a tombstone.
        let (status, tombstone) = server.get_json(&format!("/api/v1/households/{second}"), &staff);
        assert_eq!(status, 200);
        assert_eq!(
            tombstone["household"]["merged_into"]["value"],
            first.as_str()
        );
        assert!(
            tombstone["members"]
                .as_object()
                .unwrap()
                .contains_key(&spouse.to_string())
        );

        // Both phones are redirected: the absorbed household says where it went, and the
        // survivor holds everything.
        for phone in [&a, &b] {
            let absorbed = phone.store.household(&second).unwrap();
            assert_eq!(
                absorbed.view.household_text("merged_into"),
                Some(first.as_str())
            );
            let listed: Vec<String> = phone
                .store
                .search(&client_core::SearchQuery::default())
                .unwrap()
                .into_iter()
                .map(|h| h.id)
                .collect();
            assert!(
                !listed.contains(&second.to_string()),
                "the tombstone leaves the list"
            );
            assert!(listed.contains(&first.to_string()));
            let kept = phone.store.household(&first).unwrap();
            assert_eq!(kept.view.household_text("address"), Some("后沟 7 号"));
            assert_eq!(kept.view.members.len(), 2);
        }
        assert!(
            !open_items(&server, &staff, &first)
                .iter()
                .any(|item| item["kind"] == "duplicate")
        );
    }
}

#[test]
fn test_the_review_api_refuses_what_it_cannot_do_with_clear_errors() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县审核员");
        let elsewhere = server.staff_token(&db, "141125", "邻县审核员");
        let a = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let b = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        let (household, item) = address_conflict(&server, &staff, [&a, &b], ["东街", "西街"]);
        let path = format!("/api/v1/review/items/{item}/resolve");

        // Another county's staff cannot see or decide it.
        let (status, _) = server.get_json(&format!("/api/v1/review/items/{item}"), &elsewhere);
        assert_eq!(status, 404);
        let (status, _) = server.post_json(&path, &elsewhere, &json!({"pick": 1}));
        assert_eq!(status, 404);
        let (status, _) = server.get_json("/api/v1/review/items?area=141124", &elsewhere);
        assert_eq!(status, 403);
        // Neither or both of pick and value; a candidate that does not exist.
        let (status, error) = server.post_json(&path, &staff, &json!({}));
        assert_eq!(status, 400);
        assert!(error["message"]["zh"].as_str().is_some());
        let (status, _) = server.post_json(&path, &staff, &json!({"pick": 1, "value": "北街"}));
        assert_eq!(status, 400);
        let (status, error) = server.post_json(&path, &staff, &json!({"pick": 7}));
        assert_eq!(status, 400);
        assert!(error["message"]["zh"].as_str().unwrap().contains("候选"));
        // An unknown kind in the list, a forged token.
        let (status, _) = server.get_json("/api/v1/review/items?kind=bogus", &staff);
        assert_eq!(status, 400);
        let (status, _) = server.get_json("/api/v1/review/items", "dso_forged");
        assert_eq!(status, 401);
        // Merging a household into itself.
        let (status, _) = server.post_json(
            "/api/v1/review/merge",
            &staff,
            &json!({"keep": household.as_str(), "absorb": household.as_str()}),
        );
        assert_eq!(status, 400);
        // Nothing above changed the item.
        assert_eq!(show(&server, &staff, &item)["item"]["status"], "open");
    }
}
