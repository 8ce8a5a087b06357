//! Member status through the field client and the real server: a member who moved out stays
//! in the household as history but leaves searches, counts and the export roster; a member
//! entered by mistake is removed by a county decision, and phones drop them on their next
//! sync.

use crate::support::{audit, auditor, field, field_ok};
use doorstep_e2e::{Backend, COUNTY, Server, TestDatabase, VILLAGE};
use std::path::Path;

/// 刘伟's ID number: the head of every household here.
const HEAD_ID: &str = "11010519491231002X";
/// 王芳's ID number: the member who moves out.
const MOVER_ID: &str = "440524188001010014";
/// 张三's ID number: the head of the household 王芳 moves to.
const NEW_HEAD_ID: &str = "141124198005120111";

/// A laptop with the field client, enrolled in the test village and synced once.
fn laptop(db: &TestDatabase, server: &Server) -> tempfile::TempDir {
    let laptop = tempfile::tempdir().unwrap();
    let token = db.add_device(&[VILLAGE]);
    field_ok(
        laptop.path(),
        &["init", "--server", &server.url, "--token", &token],
    );
    // The first sync brings the deployment's member-key secret, so that one person gets
    // the same key in every household.
    field_ok(laptop.path(), &["sync"]);
    laptop
}

/// A new household with 刘伟 as its head; returns the household's id.
fn household_with_head(laptop: &Path) -> String {
    household_headed_by(laptop, "刘伟", HEAD_ID)
}

fn household_headed_by(laptop: &Path, name: &str, id_number: &str) -> String {
    let household = field_ok(laptop, &["household", "new", "--village", VILLAGE]);
    let head = add_member(laptop, &household, name, Some(id_number));
    set(laptop, &household, &head, "relation", "01");
    household
}

/// Adds a member; returns the member key.
fn add_member(laptop: &Path, household: &str, name: &str, id_number: Option<&str>) -> String {
    let mut args = vec!["member", "add", household, "--name", name];
    if let Some(id_number) = id_number {
        args.extend(["--id-number", id_number]);
    }
    field_ok(laptop, &args)
}

fn set(laptop: &Path, household: &str, member: &str, name: &str, value: &str) {
    let path = format!("members.{member}.{name}");
    field_ok(laptop, &["set", household, &path, value]);
}

fn show(laptop: &Path, household: &str) -> serde_json::Value {
    serde_json::from_str(&field_ok(laptop, &["show", household, "--json"])).unwrap()
}

/// The households the field client lists for a search, as JSON rows.
fn listed(laptop: &Path, search: &str) -> Vec<serde_json::Value> {
    let list = field_ok(laptop, &["list", "--search", search, "--json"]);
    serde_json::from_str::<serde_json::Value>(&list)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The register's page of households for a search in the county.
fn register_search(server: &Server, token: &str, search: &str) -> serde_json::Value {
    let (status, page) = server.get_json(
        &format!("/api/v1/households?area={COUNTY}&search={search}"),
        token,
    );
    assert_eq!(status, 200, "{page}");
    page
}

fn members_csv(server: &Server, token: &str, query: &str) -> String {
    let (status, _, body) = server.get_bytes(&format!("/api/v1/exports/members.csv{query}"), token);
    let csv = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{csv}");
    csv
}

#[test]
fn test_a_member_who_moved_out_leaves_search_counts_and_export_but_stays_as_history() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let laptop = laptop(&db, &server);
        let fields = field_ok(laptop.path(), &["fields"]);
        for path in [
            "members.<member key>.status",
            "members.<member key>.left_on",
            "members.<member key>.moved_to",
        ] {
            assert!(fields.contains(path), "{path} is not listed");
        }
        assert!(fields.contains("02 迁出") && fields.contains("04 误录"));

        let household = household_with_head(laptop.path());
        let mover = add_member(laptop.path(), &household, "王芳", Some(MOVER_ID));
        set(laptop.path(), &household, &mover, "relation", "02");
        set(laptop.path(), &household, &mover, "status", "02");
        let issues = show(laptop.path(), &household)["issues"].clone();
        assert!(
            issues.as_array().unwrap().iter().any(|issue| {
                issue["rule"] == "member.moved_out_without_date"
                    && issue["path"] == format!("members.{mover}.left_on")
            }),
            "moving out needs a date: {issues}"
        );
        set(laptop.path(), &household, &mover, "left_on", "2026-03-01");
        set(
            laptop.path(),
            &household,
            &mover,
            "moved_to",
            "太原市小店区",
        );

        // The phone: still in the household, shown as moved out, but not counted or found.
        let shown = show(laptop.path(), &household);
        assert_eq!(shown["members"][&mover]["status"]["value"], "02");
        assert_eq!(shown["issues"], serde_json::json!([]), "{shown}");
        let human = field_ok(laptop.path(), &["show", &household]);
        assert!(human.contains("王芳") && human.contains("迁出"), "{human}");
        assert!(listed(laptop.path(), "王芳").is_empty());
        let rows = listed(laptop.path(), "刘伟");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["member_count"], 1, "{rows:?}");

        let summary: serde_json::Value =
            serde_json::from_str(&field_ok(laptop.path(), &["sync", "--json"])).unwrap();
        assert_eq!(summary["unsynced_changes"], 0, "{summary}");

        // The register: the household counts one member and is not found by the mover,
        // neither by name nor by whole ID number.
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let page = register_search(&server, &county, "刘伟");
        assert_eq!(page["total"], 1, "{page}");
        assert_eq!(page["households"][0]["member_count"], 1, "{page}");
        for search in ["王芳", MOVER_ID] {
            let page = register_search(&server, &county, search);
            assert_eq!(page["total"], 0, "{search}: {page}");
        }

        // The staff household detail shows both, the mover with status, date and place.
        let (status, detail) = server.get_json(&format!("/api/v1/households/{household}"), &county);
        assert_eq!(status, 200, "{detail}");
        let member = &detail["members"][&mover];
        assert_eq!(member["name"]["value"], "王芳", "{detail}");
        assert_eq!(member["status"]["value"], "02");
        assert_eq!(member["left_on"]["value"], "2026-03-01");
        assert_eq!(member["moved_to"]["value"], "太原市小店区");

        // The export roster is of present members; asked for, the others follow as history.
        let roster = members_csv(&server, &county, "");
        assert!(roster.contains("在户状态 member status"), "{roster}");
        assert!(
            roster.contains("刘伟") && roster.contains("01 在户"),
            "{roster}"
        );
        assert!(!roster.contains("王芳"), "{roster}");
        let history = members_csv(&server, &county, "?include_left=true");
        let lines: Vec<&str> = history.lines().collect();
        assert_eq!(lines.len(), 3, "{history}");
        assert!(
            lines[1].contains("刘伟"),
            "present members first: {history}"
        );
        assert!(
            lines[2].contains("王芳")
                && lines[2].contains("02 迁出")
                && lines[2].contains("2026-03-01")
                && lines[2].contains("太原市小店区"),
            "{history}"
        );

        // 王芳 is then recorded where she lives now: no duplicate between the households.
        let new_home = household_headed_by(laptop.path(), "张三", NEW_HEAD_ID);
        let again = add_member(laptop.path(), &new_home, "王芳", Some(MOVER_ID));
        assert_eq!(again, mover, "one person, one member key");
        field_ok(laptop.path(), &["sync"]);
        let (status, items) = server.get_json(
            &format!("/api/v1/review/items?area={COUNTY}&kind=duplicate"),
            &county,
        );
        assert_eq!(status, 200, "{items}");
        assert_eq!(items["total"], 0, "{backend:?}: {items}");
        let page = register_search(&server, &county, MOVER_ID);
        assert_eq!(page["total"], 1, "{page}");
        assert_eq!(page["households"][0]["id"], new_home.as_str(), "{page}");
    }
}

#[test]
fn test_county_staff_remove_a_member_entered_by_mistake_and_the_phone_drops_them() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let laptop = laptop(&db, &server);
        let household = household_with_head(laptop.path());
        let mistake = add_member(laptop.path(), &household, "张冒", None);
        // Recorded as a second head, the entry breaks a rule: the review queue has an item.
        set(laptop.path(), &household, &mistake, "relation", "01");
        field_ok(laptop.path(), &["sync"]);
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let open_rule_items = || {
            let (status, items) = server.get_json(
                &format!("/api/v1/review/items?area={COUNTY}&kind=rule"),
                &county,
            );
            assert_eq!(status, 200, "{items}");
            items["total"].as_i64().unwrap()
        };
        assert_eq!(open_rule_items(), 1, "two heads");

        // Marked as a mistake on the phone: it stops counting, and the item settles.
        set(laptop.path(), &household, &mistake, "status", "04");
        field_ok(laptop.path(), &["sync"]);
        assert_eq!(
            open_rule_items(),
            0,
            "an entry made by mistake heads nothing"
        );
        let page = register_search(&server, &county, "刘伟");
        assert_eq!(page["households"][0]["member_count"], 1, "{page}");

        let remove = format!("/api/v1/households/{household}/members/{mistake}/remove");
        let comment = serde_json::json!({ "comment": "入户核实：无此人" });
        let (status, outcome) = server.post_json(&remove, &county, &comment);
        assert_eq!(status, 200, "{outcome}");
        assert!(
            outcome["message"]["zh"].as_str().unwrap().contains("误录"),
            "{outcome}"
        );

        // The register no longer holds the entry, not even as history.
        let (status, detail) = server.get_json(&format!("/api/v1/households/{household}"), &county);
        assert_eq!(status, 200, "{detail}");
        assert!(detail["members"].get(&mistake).is_none(), "{detail}");
        assert_eq!(detail["members"].as_object().unwrap().len(), 1);
        let history = members_csv(&server, &county, "?include_left=true");
        assert!(!history.contains("张冒"), "{history}");
        assert_eq!(history.lines().count(), 2, "{history}");

        // The phone drops the member on its next sync, and edits on as before.
        assert!(
            show(laptop.path(), &household)["members"]
                .get(&mistake)
                .is_some()
        );
        field_ok(laptop.path(), &["sync"]);
        let shown = show(laptop.path(), &household);
        assert!(shown["members"].get(&mistake).is_none(), "{shown}");
        assert_eq!(shown["members"].as_object().unwrap().len(), 1, "{shown}");
        assert!(listed(laptop.path(), "张冒").is_empty());

        // The decision is audited, and a second removal finds nobody.
        let records = audit(&server, &auditor(&server, &db), "member.remove");
        assert_eq!(records.len(), 1, "{backend:?}: {records:?}");
        assert_eq!(records[0]["outcome"], "ok", "{records:?}");
        let (status, again) = server.post_json(&remove, &county, &comment);
        assert_eq!(status, 404, "{again}");
    }
}

#[test]
fn test_a_member_who_is_not_a_mistake_cannot_be_removed() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let laptop = laptop(&db, &server);
        let household = household_with_head(laptop.path());
        let mover = add_member(laptop.path(), &household, "王芳", Some(MOVER_ID));
        set(laptop.path(), &household, &mover, "status", "02");
        set(laptop.path(), &household, &mover, "left_on", "2026-03-01");
        let present = add_member(laptop.path(), &household, "刘小伟", None);
        field_ok(laptop.path(), &["sync"]);
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let body = serde_json::json!({ "comment": "试试" });

        for (member, zh, en) in [(&mover, "迁出", "Moved out"), (&present, "在户", "Present")] {
            let remove = format!("/api/v1/households/{household}/members/{member}/remove");
            let (status, answer) = server.post_json(&remove, &county, &body);
            assert_eq!(status, 400, "{answer}");
            let message = &answer["message"];
            let (answer_zh, answer_en) = (
                message["zh"].as_str().unwrap(),
                message["en"].as_str().unwrap(),
            );
            assert!(
                answer_zh.contains("04 误录") && answer_zh.contains(zh),
                "{answer}"
            );
            assert!(
                answer_en.contains("entered by mistake") && answer_en.contains(en),
                "{answer}"
            );
        }
        let (status, detail) = server.get_json(&format!("/api/v1/households/{household}"), &county);
        assert_eq!(status, 200, "{detail}");
        assert_eq!(detail["members"].as_object().unwrap().len(), 3, "{detail}");

        // Nobody by that key or a malformed key; and township staff decide nothing.
        let unknown =
            format!("/api/v1/households/{household}/members/00ff00ff00ff00ff00ff00ff/remove");
        let malformed = format!("/api/v1/households/{household}/members/NOT-A-KEY/remove");
        for path in [unknown, malformed] {
            let (status, answer) = server.post_json(&path, &county, &body);
            assert_eq!(status, 404, "{path}: {answer}");
            assert!(
                answer["message"]["zh"]
                    .as_str()
                    .unwrap()
                    .contains("没有成员")
            );
        }
        let township = server.staff_token(&db, "141124100", "本乡工作人员");
        let remove = format!("/api/v1/households/{household}/members/{mover}/remove");
        let (status, answer) = server.post_json(&remove, &township, &body);
        assert_eq!(status, 403, "{answer}");
        field(laptop.path(), &["sync"]);
        assert_eq!(
            show(laptop.path(), &household)["members"]
                .as_object()
                .unwrap()
                .len(),
            3
        );
    }
}
