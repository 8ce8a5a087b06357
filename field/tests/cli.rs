//! The `doorstep-field` binary end to end: a volunteer's commands run as real processes
//! against a fresh store, as on a laptop in the field.

#![allow(clippy::unwrap_used)]

use client_core::Store;
use schema::fields::{CATALOG, Entity};
use schema::ids::HouseholdId;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

const VILLAGE: &str = "141124100201";
/// A valid ID number: a woman born 1949-12-31.
const ID_NUMBER: &str = "11010519491231002X";
/// The same number with a wrong check character.
const WRONG_CHECK_DIGIT: &str = "110105194912310021";

/// One laptop: a store directory and the binary run against it.
struct Laptop {
    dir: TempDir,
}

impl Laptop {
    fn new() -> Laptop {
        Laptop {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut command = binary();
        command.arg("--store").arg(self.dir.path()).args(args);
        run(command)
    }

    /// Runs a command that must succeed and returns its stdout, trimmed.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            stderr(&output)
        );
        stdout(&output).trim().to_owned()
    }

    /// Runs a command that must be refused as bad input; returns its stderr.
    fn refused(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{args:?} printed a result");
        let message = stderr(&output);
        assert!(message.contains("错误：") && message.contains("error: "));
        message
    }

    fn new_household(&self, number: &str) -> String {
        self.ok(&["household", "new", "--village", VILLAGE, "--number", number])
    }

    fn show(&self, household: &str) -> Value {
        serde_json::from_str(&self.ok(&["show", household, "--json"])).unwrap()
    }

    fn list(&self, args: &[&str]) -> Vec<Value> {
        let args: Vec<&str> = ["list", "--json"].iter().chain(args).copied().collect();
        let list: Value = serde_json::from_str(&self.ok(&args)).unwrap();
        list.as_array().unwrap().clone()
    }

    fn store(&self) -> Store {
        Store::open(self.dir.path()).unwrap()
    }
}

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_doorstep-field"));
    command.env_remove("DOORSTEP_STORE");
    command
}

/// Runs the binary; whatever it was asked, it must never panic.
fn run(mut command: Command) -> Output {
    let output = command.output().unwrap();
    for text in [stdout(&output), stderr(&output)] {
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "{text}"
        );
    }
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn value<'v>(record: &'v Value, field: &str) -> &'v Value {
    &record[field]["value"]
}

#[test]
fn test_a_volunteer_records_a_household_and_sees_it_in_the_list() {
    let laptop = Laptop::new();
    laptop.ok(&["profile", "--device", "laptop-1", "--volunteer", "王芳"]);
    let household = laptop.new_household("1411241002010001");
    assert!(HouseholdId::parse(&household).is_ok(), "{household}");
    let member = laptop.ok(&[
        "member",
        "add",
        &household,
        "--name",
        "李秀英",
        "--id-number",
        ID_NUMBER,
    ]);
    for (path, input) in [
        ("household.causes", "01,07"),
        ("household.address", "临县城庄镇后村 12 号"),
        (&format!("members.{member}.relation"), "01"),
        (&format!("members.{member}.employment.status"), "09"),
        (&format!("members.{member}.intent.wants_training"), "是"),
    ] {
        laptop.ok(&["set", &household, path, input]);
    }
    let visit = laptop.ok(&[
        "visit",
        &household,
        "--outcome",
        "met",
        "--note",
        "户主在家",
        "--gps",
        "37.95,110.98",
    ]);

    let detail = laptop.show(&household);
    assert_eq!(
        value(&detail["household"], "causes"),
        &serde_json::json!(["01", "07"])
    );
    let person = &detail["members"][&member];
    assert_eq!(value(person, "name"), "李秀英");
    assert_eq!(value(person, "id_number"), ID_NUMBER);
    assert_eq!(value(person, "sex"), "2");
    assert_eq!(value(person, "birth_date"), "1949-12-31");
    assert_eq!(value(person, "relation"), "01");
    assert_eq!(value(person, "employment.status"), "09");
    assert_eq!(value(person, "intent.wants_training"), true);
    let recorded = &detail["visits"][&visit];
    assert_eq!(value(recorded, "outcome"), "met");
    assert_eq!(value(recorded, "notes"), "户主在家");
    assert_eq!(value(recorded, "gps.lat"), 37.95);
    assert_eq!(value(recorded, "volunteer"), "王芳");
    assert_eq!(value(recorded, "device"), "laptop-1");

    let list = laptop.ok(&["list"]);
    assert_eq!(list.lines().count(), 1);
    assert!(
        list.contains(&household) && list.contains("李秀英"),
        "{list}"
    );
}

#[test]
fn test_show_labels_fields_and_codes_in_chinese_then_english() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let member = laptop.ok(&["member", "add", &household, "--name", "王强"]);
    let path = format!("members.{member}.employment.status");
    laptop.ok(&["set", &household, &path, "01"]);
    laptop.ok(&["set", &household, "household.causes", "01,07"]);

    let shown = laptop.ok(&["show", &household]);
    for expected in [
        "就业状态 Employment status: 01 省外务工 / Working outside the province",
        "致贫原因 Causes of poverty: 01 因病 / Illness; 07 缺技术 / Lack of skills",
        &format!("王强 · members.{member}"),
        "问题 Issues:",
        "冲突 Conflicts: 无 / none",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
}

#[test]
fn test_the_list_finds_a_household_by_name_id_number_and_household_number() {
    let laptop = Laptop::new();
    let wanted = laptop.new_household("1411241002010007");
    laptop.ok(&[
        "member",
        "add",
        &wanted,
        "--name",
        "李秀英",
        "--id-number",
        ID_NUMBER,
    ]);
    let other = laptop.new_household("1411241002010008");
    laptop.ok(&["member", "add", &other, "--name", "张伟"]);

    for search in ["秀英", "19491231002x", "010007"] {
        let found = laptop.list(&["--search", search]);
        assert_eq!(found.len(), 1, "{search}");
        assert_eq!(found[0]["id"], wanted.as_str(), "{search}");
    }
    assert_eq!(laptop.list(&[]).len(), 2);
    assert_eq!(laptop.list(&["--village", VILLAGE]).len(), 2);
    assert!(laptop.list(&["--village", "141124100299"]).is_empty());
    assert!(laptop.list(&["--search", "nobody"]).is_empty());
}

#[test]
fn test_an_out_of_range_value_is_saved_and_reported() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let member = laptop.ok(&["member", "add", &household, "--name", "王强"]);
    let path = format!("members.{member}.employment.months_worked");

    let output = laptop.run(&["set", &household, &path, "15"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stderr(&output);
    assert!(
        report.contains("错误/error") && report.contains(&path),
        "{report}"
    );
    assert!(report.contains("本年务工月数") && report.contains("Months worked"));

    let detail = laptop.show(&household);
    assert_eq!(
        value(&detail["members"][&member], "employment.months_worked"),
        15
    );
    assert!(
        detail["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|issue| issue["path"] == path.as_str())
    );
}

#[test]
fn test_an_empty_value_clears_a_field() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    laptop.ok(&["set", &household, "household.address", "后村 12 号"]);
    laptop.ok(&["set", &household, "household.address", ""]);
    assert!(laptop.show(&household)["household"]["address"].is_null());
}

#[test]
fn test_an_id_number_with_a_wrong_check_digit_is_refused_in_both_languages() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let message = laptop.refused(&[
        "member",
        "add",
        &household,
        "--name",
        "李秀英",
        "--id-number",
        WRONG_CHECK_DIGIT,
    ]);
    assert!(message.contains("校验"), "{message}");
    assert!(
        laptop.show(&household)["members"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn test_adding_an_id_number_already_in_the_household_says_under_which_name() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let wang = laptop.ok(&[
        "member",
        "add",
        &household,
        "--name",
        "王五",
        "--id-number",
        ID_NUMBER,
    ]);
    let message = laptop.refused(&[
        "member",
        "add",
        &household,
        "--name",
        "李四",
        "--id-number",
        "110105 19491231 002x",
    ]);
    let (zh, en) = message.split_once("error: ").unwrap();
    for part in ["王五", "李四", &wang] {
        assert!(zh.contains(part) && en.contains(part), "{part}: {message}");
    }
    assert!(zh.contains("已登记在本户"), "{message}");
    assert!(
        en.contains("already recorded in this household"),
        "{message}"
    );
    let members = laptop.show(&household)["members"].clone();
    assert_eq!(members.as_object().unwrap().len(), 1, "{members}");
    assert_eq!(value(&members[&wang], "name"), "王五");

    // The same name again is the same person, and a new name is an ordinary edit.
    assert_eq!(
        laptop.ok(&[
            "member",
            "add",
            &household,
            "--name",
            "王五",
            "--id-number",
            ID_NUMBER
        ]),
        wang
    );
    laptop.ok(&["set", &household, &format!("members.{wang}.name"), "李四"]);
    assert_eq!(
        value(&laptop.show(&household)["members"][&wang], "name"),
        "李四"
    );
}

#[test]
fn test_set_upgrades_a_15_digit_id_number_or_refuses_it_with_the_reason() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let member = laptop.ok(&["member", "add", &household, "--name", "赵敏"]);
    let path = format!("members.{member}.id_number");
    let id_number = || value(&laptop.show(&household)["members"][&member], "id_number").clone();

    laptop.ok(&["set", &household, &path, "110105491231002"]);
    assert_eq!(id_number(), ID_NUMBER);

    // 15 digits whose birth date (1949-02-30) is not a real one cannot be upgraded.
    let message = laptop.refused(&["set", &household, &path, "110105490230002"]);
    assert!(message.contains("出生日期 19490230"), "{message}");
    assert!(message.contains("birth date 19490230"), "{message}");
    assert_eq!(id_number(), ID_NUMBER, "the refused number was not stored");
}

#[test]
fn test_an_id_number_typed_in_groups_or_full_width_is_stored_plain() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let member = laptop.ok(&[
        "member",
        "add",
        &household,
        "--name",
        "李秀英",
        "--id-number",
        "１１０１０５－１９４９１２３１－００２ｘ",
    ]);
    let person = &laptop.show(&household)["members"][&member];
    assert_eq!(value(person, "id_number"), ID_NUMBER);
    assert_eq!(value(person, "birth_date"), "1949-12-31");

    let path = format!("members.{member}.id_number");
    laptop.ok(&["set", &household, &path, "4405 2418 8001 0100 14"]);
    assert_eq!(
        value(&laptop.show(&household)["members"][&member], "id_number"),
        "440524188001010014"
    );
    let message = laptop.refused(&["set", &household, &path, "110105/19491231/002X"]);
    assert!(message.contains("第 7 位“/”"), "{message}");
    assert!(message.contains("“/” at position 7"), "{message}");
}

#[test]
fn test_an_id_number_with_no_province_code_is_refused() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    // 99 and 00 head no province; the check character is right, so only the prefix is wrong.
    for number in ["990105194912310023", "000105194912310024"] {
        let message = laptop.refused(&[
            "member",
            "add",
            &household,
            "--name",
            "李秀英",
            "--id-number",
            number,
        ]);
        let code = &number[..2];
        assert!(
            message.contains(&format!("前两位“{code}”")) && message.contains("no province code"),
            "{message}"
        );
    }
    assert!(
        laptop.show(&household)["members"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn test_an_unknown_field_path_is_refused_with_the_known_fields() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let message = laptop.refused(&["set", &household, "household.salary", "3000"]);
    assert!(message.contains("salary"), "{message}");
    assert!(message.contains("poverty_attribute"), "{message}");
    assert!(message.contains("doorstep-field fields"), "{message}");
    let message = laptop.refused(&["set", &household, "salary", "3000"]);
    assert!(message.contains("members.<"), "{message}");
}

#[test]
fn test_an_unknown_household_is_refused() {
    let laptop = Laptop::new();
    let message = laptop.refused(&["show", "0123456789abcdef"]);
    assert!(message.contains("0123456789abcdef") && message.contains("本设备上没有户"));
    laptop.refused(&["set", "0123456789abcdef", "household.address", "x"]);
    laptop.refused(&["member", "add", "0123456789abcdef", "--name", "王强"]);
    let message = laptop.refused(&["show", "Not-An-Id"]);
    assert!(message.contains("户标识"), "{message}");
}

#[test]
fn test_a_system_field_cannot_be_set() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let message = laptop.refused(&["set", &household, "household.village", "141124100299"]);
    assert!(message.contains("由系统填写"), "{message}");
    assert_eq!(
        value(&laptop.show(&household)["household"], "village"),
        VILLAGE
    );
}

#[test]
fn test_a_mistyped_visit_is_refused_before_anything_is_recorded() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let message = laptop.refused(&["visit", &household, "--outcome", "gone"]);
    assert!(message.contains("not_home"), "{message}");
    let message = laptop.refused(&["visit", &household, "--outcome", "met", "--gps", "north"]);
    assert!(message.contains("纬度,经度"), "{message}");
    assert!(
        laptop.show(&household)["visits"]
            .as_object()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn test_bad_village_codes_and_member_keys_are_refused() {
    let laptop = Laptop::new();
    let message = laptop.refused(&["household", "new", "--village", "141124"]);
    assert!(message.contains("村级"), "{message}");
    let household = laptop.new_household("0001");
    laptop.refused(&["training", "add", &household, "--member", "ABC"]);
    let message = laptop.refused(&["subsidy", "add", &household, "--member", "abc"]);
    assert!(message.contains("本户没有成员"), "{message}");
}

#[test]
fn test_trainings_and_subsidies_are_recorded_for_a_member() {
    let laptop = Laptop::new();
    let household = laptop.new_household("0001");
    let member = laptop.ok(&["member", "add", &household, "--name", "王强"]);
    let training = laptop.ok(&["training", "add", &household, "--member", &member]);
    let subsidy = laptop.ok(&["subsidy", "add", &household, "--member", &member]);
    laptop.ok(&[
        "set",
        &household,
        &format!("trainings.{training}.model"),
        "01",
    ]);
    laptop.ok(&[
        "set",
        &household,
        &format!("subsidies.{subsidy}.amount"),
        "800",
    ]);

    let detail = laptop.show(&household);
    assert_eq!(
        value(&detail["trainings"][&training], "member"),
        member.as_str()
    );
    assert_eq!(value(&detail["trainings"][&training], "model"), "01");
    assert_eq!(value(&detail["subsidies"][&subsidy], "amount"), 800);
    let shown = laptop.ok(&["show", &household]);
    assert!(shown.contains(&format!("{member}（王强）")), "{shown}");
}

#[test]
fn test_the_store_can_come_from_the_environment() {
    let laptop = Laptop::new();
    let mut command = binary();
    command.env("DOORSTEP_STORE", laptop.dir.path()).args([
        "household",
        "new",
        "--village",
        VILLAGE,
    ]);
    let output = run(command);
    assert!(output.status.success(), "{}", stderr(&output));
    let household = stdout(&output).trim().to_owned();
    assert_eq!(laptop.list(&[])[0]["id"], household.as_str());

    let mut command = binary();
    command.arg("status");
    let output = run(command);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("DOORSTEP_STORE"));
}

#[test]
fn test_a_store_that_cannot_be_opened_is_reported_in_chinese_and_english() {
    // A file where the store directory should be: the directory cannot be made.
    let dir = tempfile::tempdir().unwrap();
    let not_a_directory = dir.path().join("store");
    std::fs::write(&not_a_directory, "not a store").unwrap();
    let mut command = binary();
    command.arg("--store").arg(&not_a_directory).arg("status");
    let output = run(command);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(message.starts_with("错误：读写文件出错"), "{message}");
    assert!(
        message.contains("\nerror: A file could not be read or written"),
        "{message}"
    );
}

#[test]
fn test_status_reports_the_profile_households_and_unsynced_changes() {
    let laptop = Laptop::new();
    laptop.ok(&["profile", "--device", "laptop-1", "--volunteer", "王芳"]);
    laptop.new_household("0001");
    laptop.new_household("0002");
    let status: Value = serde_json::from_str(&laptop.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["profile"]["device"], "laptop-1");
    assert_eq!(status["profile"]["volunteer"], "王芳");
    assert_eq!(status["households"], 2);
    assert!(status["unsynced_changes"].as_i64().unwrap() >= 2);
    assert_eq!(status["actor"], laptop.store().actor().as_str());
    let shown = laptop.ok(&["status"]);
    assert!(shown.contains("走访人 Volunteer: 王芳"), "{shown}");
}

#[test]
fn test_fields_documents_every_path_with_its_codes() {
    // The catalog needs no store.
    let mut command = binary();
    command.arg("fields");
    let output = run(command);
    assert!(output.status.success());
    let listing = stdout(&output);
    for spec in CATALOG {
        let path = match spec.entity {
            Entity::Household => format!("household.{}", spec.name),
            Entity::Member => format!("members.<member key>.{}", spec.name),
            entity => format!("{}.<record id>.{}", entity.prefix(), spec.name),
        };
        assert!(
            listing.contains(&format!("{path}  {} {}", spec.zh, spec.en)),
            "{path}"
        );
    }
    assert!(listing.contains("01 省外务工 / Working outside the province"));
    assert!(listing.contains("07 缺技术 / Lack of skills"));
    assert!(listing.contains("not_home 无人在家 / Nobody at home"));
}

/// Sends each store the changes the other lacks, as a sync through the server would; the
/// first exchange gives `b` the whole household.
fn exchange(a: &Path, b: &Path, household: &str) {
    let (a, b) = (Store::open(a).unwrap(), Store::open(b).unwrap());
    let household = HouseholdId::parse(household).unwrap();
    let to_b = a.changes_since(&household, &b.heads(&household).unwrap_or_default());
    b.apply_changes(&household, &to_b.unwrap()).unwrap();
    let to_a = b.changes_since(&household, &a.heads(&household).unwrap());
    a.apply_changes(&household, &to_a.unwrap()).unwrap();
}

#[test]
fn test_a_conflict_shows_every_candidate_with_its_device_and_volunteer() {
    let (first, second) = (Laptop::new(), Laptop::new());
    first.ok(&["profile", "--device", "laptop-1", "--volunteer", "王芳"]);
    second.ok(&["profile", "--device", "laptop-2", "--volunteer", "李强"]);
    let household = first.new_household("0001");
    let member = first.ok(&["member", "add", &household, "--name", "张伟"]);
    exchange(first.dir.path(), second.dir.path(), &household);

    let path = format!("members.{member}.employment.status");
    first.ok(&["set", &household, &path, "01"]);
    second.ok(&["set", &household, &path, "09"]);
    exchange(first.dir.path(), second.dir.path(), &household);

    let shown = first.ok(&["show", &household]);
    for expected in [
        "冲突 Conflicts: 1",
        "⚠ 有冲突 / disputed",
        "候选 Candidate: 01 省外务工 / Working outside the province",
        "候选 Candidate: 09 务农 / Farming only",
        "设备 Device: laptop-1 · 走访人 Volunteer: 王芳",
        "设备 Device: laptop-2 · 走访人 Volunteer: 李强",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
    let detail = first.show(&household);
    assert_eq!(detail["conflicts"][0]["path"], path.as_str());
    assert_eq!(
        detail["conflicts"][0]["field"]["candidates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
