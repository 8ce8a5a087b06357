//! Visit tasks (issue 17, ADR 0010) through the real binary, on SQLite and PostgreSQL: the
//! county opens tasks on households, the village's phones receive them on their next sync,
//! a visit that records the settling value settles one on the server, a volunteer marks
//! another checked with a note, county staff close a third, and the progress counts follow.
//! Two phones working on one task offline converge.

use crate::support::{audit, auditor, field, field_ok};
use client_core::Store;
use doorstep_e2e::{Backend, COUNTY, Phone, Server, TestDatabase, VILLAGE};
use schema::ids::{HouseholdId, MemberKey};
use schema::tasks::TaskStatus;
use serde_json::json;

const HEAD_IDS: [&str; 3] = [
    "11010519491231002X",
    "440524188001010014",
    "141124198005120111",
];

/// A household in the village with a head; returns it and the head's key.
fn household(phone: &Phone, name: &str, id_number: &str) -> (HouseholdId, MemberKey) {
    let household = phone
        .store
        .create_household(&Phone::village(), None)
        .unwrap();
    let head = phone
        .store
        .add_member(&household, name, Some(id_number))
        .unwrap();
    let relation = format!("members.{head}.relation");
    phone.store.set_field(&household, &relation, "01").unwrap();
    (household, head)
}

/// Opens one task on a household as county staff; returns the task's id.
fn open_task(
    server: &Server,
    token: &str,
    household: &HouseholdId,
    mismatch: &str,
    member: &MemberKey,
    field: Option<&str>,
) -> String {
    let body = json!({ "tasks": [{
        "mismatch": mismatch,
        "member": member.as_str(),
        "check_zh": "核实就业情况：社保显示有参保单位",
        "check_en": "Check employment: social insurance shows an employer",
        "field": field.map(|name| format!("members.{member}.{name}")),
        "settles_with": ["01", "02"],
        "other_says": "参保单位：太原某建筑公司（2026-01 起）",
        "source": "social_insurance",
    }]});
    let (status, answer) = server.post_json(&format!("/api/v1/tasks/{household}"), token, &body);
    assert_eq!(status, 200, "{answer}");
    answer["opened"][0].as_str().unwrap().to_owned()
}

/// The county's task list and the village's counts.
fn tasks_of_county(server: &Server, token: &str) -> (serde_json::Value, serde_json::Value) {
    let (status, list) = server.get_json(&format!("/api/v1/tasks?area={COUNTY}"), token);
    assert_eq!(status, 200, "{list}");
    let village = list["villages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["village"] == VILLAGE)
        .cloned()
        .unwrap_or(json!({}));
    (list, village)
}

fn status_on_server(list: &serde_json::Value, task: &str) -> String {
    list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["task"] == task)
        .unwrap_or_else(|| panic!("task {task} not listed: {list}"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn task_status(store: &Store, household: &HouseholdId, task: &str) -> TaskStatus {
    let detail = store.household(household).unwrap();
    detail
        .tasks
        .iter()
        .find(|t| t.id == task)
        .unwrap_or_else(|| panic!("no task {task} on {household}"))
        .status
}

#[test]
fn test_tasks_reach_the_phone_and_settle_check_and_close_as_the_counts_follow() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        phone.sync();
        let (employed, employed_head) = household(&phone, "刘伟", HEAD_IDS[0]);
        let (checked, checked_head) = household(&phone, "王芳", HEAD_IDS[1]);
        let (closed, closed_head) = household(&phone, "张三", HEAD_IDS[2]);
        phone.sync();

        let county = server.staff_token(&db, COUNTY, "县比对员");
        let settles = open_task(
            &server,
            &county,
            &employed,
            "si-1",
            &employed_head,
            Some("employment.status"),
        );
        let to_check = open_task(&server, &county, &checked, "si-2", &checked_head, None);
        let to_close = open_task(&server, &county, &closed, "si-3", &closed_head, None);
        // The same mismatch again is the same task, opened once.
        let again = json!({ "tasks": [{
            "mismatch": "si-1", "check_zh": "再次", "check_en": "again",
            "other_says": "x", "source": "social_insurance",
        }]});
        let (status, answer) =
            server.post_json(&format!("/api/v1/tasks/{employed}"), &county, &again);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["opened"], json!([]), "{answer}");
        assert_eq!(answer["already"], json!([settles]), "{answer}");
        let (_, village) = tasks_of_county(&server, &county);
        assert_eq!(village["open"], 3, "{backend:?}: {village}");

        // The phone's next sync brings the tasks: on each household and in the to-do list.
        phone.sync();
        let todo = phone.store.todo().unwrap();
        assert_eq!(todo.len(), 3, "{todo:?}");
        let detail = phone.store.household(&employed).unwrap();
        assert_eq!(detail.tasks.len(), 1);
        assert_eq!(detail.tasks[0].check.zh, "核实就业情况：社保显示有参保单位");
        assert_eq!(
            detail.tasks[0].other_says.as_deref(),
            Some("参保单位：太原某建筑公司（2026-01 起）")
        );
        assert!(detail.conflicts.is_empty(), "{:?}", detail.conflicts);

        // A phone may not write a task's keys as fields, nor check one without a note.
        let status_path = format!("tasks.{settles}.status");
        assert!(
            phone
                .store
                .set_field(&employed, &status_path, "settled")
                .is_err()
        );
        let refused = phone
            .store
            .check_task(&checked, &to_check, " ")
            .unwrap_err();
        assert!(refused.message().zh.contains("核实情况"), "{refused:?}");

        // The visit: one records the settling value, one is marked checked with a note.
        let employment = format!("members.{employed_head}.employment.status");
        phone.store.set_field(&employed, &employment, "02").unwrap();
        phone
            .store
            .check_task(&checked, &to_check, "本人在县城务工，单位已核")
            .unwrap();
        assert_eq!(
            phone.store.todo().unwrap().len(),
            2,
            "checked leaves the list"
        );
        phone.sync();

        let (list, village) = tasks_of_county(&server, &county);
        assert_eq!(status_on_server(&list, &settles), "settled", "{list}");
        assert_eq!(status_on_server(&list, &to_check), "checked", "{list}");
        assert_eq!(status_on_server(&list, &to_close), "open", "{list}");
        assert_eq!(
            (&village["open"], &village["settled"], &village["checked"]),
            (&json!(1), &json!(1), &json!(1)),
            "{backend:?}: {village}"
        );

        // County staff close the third: a note is required, and it is audited.
        let close = format!("/api/v1/tasks/{closed}/{to_close}/close");
        let (status, answer) = server.post_json(&close, &county, &json!({ "note": "" }));
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"]["zh"]
                .as_str()
                .unwrap()
                .contains("办结理由")
        );
        let (status, answer) = server.post_json(
            &close,
            &county,
            &json!({ "note": "电话核实，已在外省就业" }),
        );
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = server.post_json(&close, &county, &json!({ "note": "again" }));
        assert_eq!(status, 400, "a closed task is not closed twice: {answer}");
        let (list, village) = tasks_of_county(&server, &county);
        assert_eq!(status_on_server(&list, &to_close), "closed", "{list}");
        assert_eq!(village["closed"], 1, "{village}");
        assert_eq!(village["open"], 0, "{village}");
        let auditor = auditor(&server, &db);
        let records = audit(&server, &auditor, "task.close");
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["target"], format!("{closed} {to_close}"));

        // The phone hears of the settle and the close on its next sync.
        phone.sync();
        assert!(phone.store.todo().unwrap().is_empty());
        assert_eq!(
            task_status(&phone.store, &employed, &settles),
            TaskStatus::Settled
        );
        assert_eq!(
            task_status(&phone.store, &closed, &to_close),
            TaskStatus::Closed
        );
        assert_eq!(phone.store.household_ids().unwrap().len(), 3);
        assert_eq!(
            phone.store.households_with_unsynced_changes().unwrap(),
            Vec::<HouseholdId>::new()
        );
        // Nothing of this reached the review queue: tasks are no conflicts.
        let (status, items) = server.get_json(
            &format!("/api/v1/review/items?area={COUNTY}&kind=conflict"),
            &county,
        );
        assert_eq!(status, 200, "{items}");
        assert_eq!(items["total"], 0, "{items}");
    }
}

#[test]
fn test_two_phones_working_on_one_task_offline_converge_and_nothing_is_lost() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        phone.sync();
        let (household, head) = household(&phone, "刘伟", HEAD_IDS[0]);
        phone.sync();
        let county = server.staff_token(&db, COUNTY, "县比对员");
        let task = open_task(&server, &county, &household, "si-9", &head, None);
        phone.sync();

        // A laptop with the field client, in the same village.
        let laptop = tempfile::tempdir().unwrap();
        let token = db.add_device(&[VILLAGE]);
        field_ok(
            laptop.path(),
            &["init", "--server", &server.url, "--token", &token],
        );
        field_ok(laptop.path(), &["sync"]);
        let todo = field_ok(laptop.path(), &["tasks"]);
        assert!(todo.contains(&format!("tasks.{task}")), "{todo}");
        assert!(todo.contains("核实就业情况"), "{todo}");

        // Offline, both work on the household: the phone checks the task, the laptop checks
        // it too with its own note and edits the address.
        phone
            .store
            .check_task(&household, &task, "本人电话确认在外务工")
            .unwrap();
        let hh = household.to_string();
        field_ok(
            laptop.path(),
            &["task", "check", &hh, &task, "--note", "邻居说在太原打工"],
        );
        field_ok(
            laptop.path(),
            &["set", &hh, "household.address", "城关镇 12 号"],
        );
        let refused = field(
            laptop.path(),
            &["task", "check", &hh, &task, "--note", "第三次"],
        );
        assert!(
            !refused.status.success(),
            "a checked task is not checked twice"
        );

        phone.sync();
        field_ok(laptop.path(), &["sync"]);
        phone.sync();

        let on_phone = phone.store.household(&household).unwrap();
        let on_laptop: serde_json::Value =
            serde_json::from_str(&field_ok(laptop.path(), &["show", &hh, "--json"])).unwrap();
        assert_eq!(on_phone.tasks.len(), 1);
        assert_eq!(on_phone.tasks[0].status, TaskStatus::Checked);
        let note = on_phone.tasks[0].note.clone().unwrap();
        assert!(
            note.contains("本人电话确认在外务工") && note.contains("邻居说在太原打工"),
            "{backend:?}: {note}"
        );
        assert_eq!(
            on_laptop["visit_tasks"][0]["status"], "checked",
            "{on_laptop}"
        );
        assert_eq!(
            on_laptop["visit_tasks"][0]["note"],
            note.as_str(),
            "{on_laptop}"
        );
        assert_eq!(
            on_phone.view.household_text("address"),
            Some("城关镇 12 号")
        );
        assert!(on_phone.conflicts.is_empty(), "{:?}", on_phone.conflicts);
        let shown = field_ok(laptop.path(), &["show", &hh]);
        assert!(shown.contains("核实任务 Visit tasks: 1"), "{shown}");
        assert!(shown.contains("已入户核实"), "{shown}");

        let (list, village) = tasks_of_county(&server, &county);
        assert_eq!(status_on_server(&list, &task), "checked", "{list}");
        assert_eq!(village["checked"], 1, "{village}");
        let (status, items) = server.get_json(
            &format!("/api/v1/review/items?area={COUNTY}&kind=conflict"),
            &county,
        );
        assert_eq!(status, 200, "{items}");
        assert_eq!(items["total"], 0, "two notes are no dispute: {items}");
    }
}

/// POSTs a roster file to the import; returns the status and the JSON answer.
fn import_roster(
    server: &Server,
    token: &str,
    query: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut response = crate::support::agent()
        .post(&format!("{}/api/v1/imported-rosters?{query}", server.url))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "text/csv")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.body_mut().read_to_vec().unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn test_an_imported_roster_opens_a_task_that_the_visit_settles() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        phone.sync();
        let (household, head) = household(&phone, "张伟", HEAD_IDS[2]);
        let employment = format!("members.{head}.employment.status");
        phone
            .store
            .set_field(&household, &employment, "10")
            .unwrap();
        phone.sync();

        // Social insurance says 张伟 has an employer; the ledger says not employed.
        let county = server.staff_token(&db, COUNTY, "县比对员");
        let roster = format!(
            "姓名,身份证号,缴费单位\n张伟,{},富士康太原园区\n",
            HEAD_IDS[2]
        );
        let query = "kind=social_insurance&map=%E7%BC%B4%E8%B4%B9%E5%8D%95%E4%BD%8D%3Demployer";
        let (status, imported) = import_roster(&server, &county, query, roster.as_bytes());
        assert_eq!(status, 201, "{imported}");
        let (list, village) = tasks_of_county(&server, &county);
        assert_eq!(village["open"], 1, "{backend:?}: {list}");
        let row = &list["tasks"][0];
        assert_eq!(row["source"], "social_insurance", "{row}");
        assert_eq!(row["household"], household.as_str(), "{row}");
        let task = row["task"].as_str().unwrap().to_owned();

        // The same file again opens nothing new.
        let (status, again) = import_roster(&server, &county, query, roster.as_bytes());
        assert_eq!(status, 200, "{again}");
        let (list, _) = tasks_of_county(&server, &county);
        assert_eq!(list["tasks"].as_array().unwrap().len(), 1, "{list}");

        // The phone sees the task, with what the roster says, and no ID number in full.
        phone.sync();
        let todo = phone.store.todo().unwrap();
        assert_eq!(todo.len(), 1, "{todo:?}");
        let other = todo[0].task.other_says.clone().unwrap_or_default();
        assert!(other.contains("富士康太原园区"), "{other}");
        assert!(!other.contains(HEAD_IDS[2]), "{other}");
        assert_eq!(todo[0].task.member.as_deref(), Some(head.as_str()));

        // The visit records the job: the comparison no longer finds the mismatch, and the
        // task settles on the server, then on the phone.
        let employer = format!("members.{head}.employment.employer");
        phone
            .store
            .set_fields(
                &household,
                &[(&employment, "01"), (&employer, "富士康太原园区")],
            )
            .unwrap();
        phone.sync();
        let (list, village) = tasks_of_county(&server, &county);
        assert_eq!(
            status_on_server(&list, &task),
            "settled",
            "{backend:?}: {list}"
        );
        assert_eq!(village["open"], 0, "{village}");
        let (status, open) = server.get_json(
            &format!("/api/v1/mismatches?area={COUNTY}&kind=social_insurance"),
            &county,
        );
        assert_eq!(status, 200, "{open}");
        assert_eq!(open["mismatches"], json!([]), "{open}");
        phone.sync();
        assert!(phone.store.todo().unwrap().is_empty());
        assert_eq!(
            task_status(&phone.store, &household, &task),
            TaskStatus::Settled
        );
    }
}
