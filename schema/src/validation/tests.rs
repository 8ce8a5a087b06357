//! Tests of every field rule and every cross-field rule, run against households built in real
//! Automerge documents from values typed the way a volunteer types them.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::fields::CATALOG;
use crate::id_number::check_character;
use crate::ids::{AreaCode, HouseholdId};
use crate::layout;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use jiff::civil::date;

/// The date every test runs on: late in the year, so "months worked" rules have room.
fn today() -> Date {
    date(2026, 11, 29)
}

/// A household document under construction.
struct Household {
    doc: AutoCommit,
}

fn household() -> Household {
    let mut doc = AutoCommit::new();
    layout::init_household(
        &mut doc,
        &HouseholdId::parse("h1").unwrap(),
        &AreaCode::parse("141124100201").unwrap(),
        "1411241002010001",
        0,
    )
    .unwrap();
    Household { doc }
}

impl Household {
    /// Types `input` into the field at `path`, as a volunteer would; empty input clears it.
    fn typed(mut self, path: &str, input: &str) -> Self {
        let path = FieldPath::parse(path).unwrap();
        let value = FieldValue::from_input(path.spec().kind, input);
        layout::write_field(&mut self.doc, &path, value.as_ref()).unwrap();
        self
    }

    /// Stores a value no form would produce (an import, an older app, another program).
    fn stored(mut self, path: &str, value: FieldValue) -> Self {
        let path = FieldPath::parse(path).unwrap();
        layout::write_field(&mut self.doc, &path, Some(&value)).unwrap();
        self
    }

    fn fields(self, prefix: &str, fields: &[(&str, &str)]) -> Self {
        fields.iter().fold(self, |household, (name, input)| {
            household.typed(&format!("{prefix}.{name}"), input)
        })
    }

    fn household(self, fields: &[(&str, &str)]) -> Self {
        self.fields("household", fields)
    }

    fn member(self, key: &str, fields: &[(&str, &str)]) -> Self {
        self.fields(&format!("members.{key}"), fields)
    }

    fn visit(self, key: &str, fields: &[(&str, &str)]) -> Self {
        self.fields(&format!("visits.{key}"), fields)
    }

    fn training(self, key: &str, fields: &[(&str, &str)]) -> Self {
        self.fields(&format!("trainings.{key}"), fields)
    }

    fn subsidy(self, key: &str, fields: &[(&str, &str)]) -> Self {
        self.fields(&format!("subsidies.{key}"), fields)
    }

    /// A member with a name and an ID number, sex and birth date that agree.
    fn person(self, key: &str, name: &str, birth: &str, sex: &str) -> Self {
        let id = id_number(birth, sex);
        self.member(
            key,
            &[
                ("name", name),
                ("id_number", &id),
                ("sex", sex),
                ("birth_date", birth),
            ],
        )
    }

    /// An adult head of household, employed outside the province, with nothing to report.
    fn head(self, key: &str) -> Self {
        self.person(key, "张三", "1980-05-12", "1")
            .member(key, &[("relation", "01")])
            .member(key, EMPLOYED)
    }

    fn view(mut self) -> HouseholdView {
        layout::read_household(self.doc.document()).unwrap()
    }

    fn issues(self) -> Vec<Issue> {
        validate(&self.view(), today())
    }
}

/// Employed outside the province, with an employer and a place.
const EMPLOYED: &[(&str, &str)] = &[
    ("employment.status", "01"),
    ("employment.employer", "太原某建筑公司"),
    ("employment.place", "北京"),
];

/// Not employed, for a recorded reason.
const NOT_EMPLOYED: &[(&str, &str)] = &[
    ("employment.status", "10"),
    ("employment.employer", ""),
    ("employment.place", ""),
    ("employment.not_employed_reason", "02"),
];

/// A valid ID number issued in 临县 for someone born on `birth` (`YYYY-MM-DD`) of sex `sex`
/// (`1` male, `2` female).
fn id_number(birth: &str, sex: &str) -> String {
    let sequence = if sex == "1" { "011" } else { "022" };
    let first17 = format!("141124{}{sequence}", birth.replace('-', ""));
    let digits: Vec<u8> = first17.bytes().map(|b| b - b'0').collect();
    let check = check_character(&digits.try_into().unwrap());
    format!("{first17}{check}")
}

/// The one issue of `rule` at `path`; fails unless there is exactly one.
#[track_caller]
fn the_issue<'a>(issues: &'a [Issue], rule: &str, path: &str) -> &'a Issue {
    let matching: Vec<&Issue> = issues
        .iter()
        .filter(|issue| issue.rule == rule && issue.path == path)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one {rule} issue at {path}, got {issues:#?}"
    );
    matching[0]
}

/// The field-rule message at `path`.
#[track_caller]
fn field_message(issues: &[Issue], path: &str) -> Message {
    let issue = the_issue(issues, "field", path);
    assert_eq!(issue.severity, Severity::Error);
    issue.message.clone()
}

#[track_caller]
fn assert_silent(issues: &[Issue], rule: &str) {
    assert!(
        !issues.iter().any(|issue| issue.rule == rule),
        "unexpected {rule}: {issues:#?}"
    );
}

#[track_caller]
fn assert_field_fine(issues: &[Issue], path: &str) {
    assert!(
        !issues
            .iter()
            .any(|issue| issue.rule == "field" && issue.path == path),
        "unexpected field issue at {path}: {issues:#?}"
    );
}

/// A realistic household that breaks no rule: head working outside the province and trained,
/// a spouse farming at home, a child in junior secondary school, one subsidy, one finished
/// visit.
fn valid_household() -> Household {
    household()
        .household(&[
            ("address", "山西省吕梁市临县城庄镇某村 12 号"),
            ("phone", "13800000000"),
            ("gps.lat", "37.95"),
            ("gps.lon", "110.99"),
            ("poverty_attribute", "01"),
            ("causes", "07、08"),
            ("exit_status", "0"),
            ("follow_up_needs", "03"),
        ])
        .head("m1")
        .member(
            "m1",
            &[
                ("ethnicity", "01"),
                ("education", "03"),
                ("in_school", "00"),
                ("health", "01"),
                ("labour_capacity", "01"),
                ("phone", "13900000000"),
                ("employment.trade", "建筑"),
                ("employment.start_date", "2026-03-01"),
                ("employment.months_worked", "9"),
                ("employment.monthly_income", "4500"),
                ("employment.contract_signed", "是"),
                ("employment.social_insurance", "是"),
                ("employment.labour_brand", "99"),
                ("intent.wants_work", "是"),
                ("intent.region", "01"),
                ("intent.trade", "建筑"),
                ("intent.expected_income", "5000"),
                ("intent.wants_training", "是"),
                ("intent.training_trades", "电工，焊工"),
                ("intent.training_model", "02"),
            ],
        )
        .person("m2", "李梅", "1982-08-20", "2")
        .member(
            "m2",
            &[
                ("relation", "02"),
                ("ethnicity", "01"),
                ("education", "02"),
                ("in_school", "00"),
                ("health", "02,04"),
                ("labour_capacity", "05"),
                ("employment.status", "09"),
                ("intent.wants_work", "否"),
                ("intent.wants_training", "否"),
            ],
        )
        .person("m3", "张小明", "2013-09-01", "1")
        .member(
            "m3",
            &[
                ("relation", "03"),
                ("ethnicity", "01"),
                ("education", "02"),
                ("in_school", "03"),
                ("health", "01"),
                ("labour_capacity", "04"),
                ("left_household", "否"),
            ],
        )
        .training(
            "t1",
            &[
                ("member", "m1"),
                ("institution", "临县职业培训学校"),
                ("trade", "电工"),
                ("model", "02"),
                ("start_date", "2026-05-01"),
                ("end_date", "2026-05-20"),
                ("completed", "是"),
                ("certificate", "01"),
                ("employed_on", "2026-06-01"),
            ],
        )
        .subsidy(
            "s1",
            &[
                ("member", "m1"),
                ("kind", "01"),
                ("year", "2026"),
                ("amount", "800"),
                ("status", "03"),
            ],
        )
        .visit(
            "v1",
            &[
                ("volunteer", "王志愿"),
                ("device", "phone-1"),
                ("started_at", "1795500000"),
                ("finished_at", "1795501800"),
                ("outcome", "met"),
                ("notes", "户主在京务工，电话核实"),
                ("gps.lat", "37.9501"),
                ("gps.lon", "110.9903"),
            ],
        )
}

// The household as a whole.

#[test]
fn test_realistic_valid_household_has_no_issues() {
    let issues = valid_household().issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_household_without_members_has_no_issues() {
    assert_eq!(household().issues(), Vec::<Issue>::new());
}

#[test]
fn test_edits_valid_alone_but_contradictory_together_give_one_error_after_merge() {
    // Issue 2: one phone records that the spouse left her workshop job, another phone adds
    // the workshop's name. Each phone's household is valid; the merged one is not.
    let mut base = valid_household().member(
        "m2",
        &[("employment.status", "05"), ("employment.place", "城庄镇")],
    );
    base.doc.commit();
    let mut lost_job = Household {
        doc: base.doc.fork(),
    }
    .member("m2", NOT_EMPLOYED);
    let mut employer_added = Household {
        doc: base.doc.fork(),
    }
    .member("m2", &[("employment.employer", "城庄镇扶贫车间")]);
    lost_job.doc.commit();
    employer_added.doc.commit();
    let mut merged = Household {
        doc: lost_job.doc.fork(),
    };
    merged.doc.merge(&mut employer_added.doc).unwrap();

    let alone: Vec<Issue> = [lost_job, employer_added]
        .into_iter()
        .flat_map(Household::issues)
        .collect();
    assert_eq!(alone, Vec::<Issue>::new());
    let issues = merged.issues();
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let issue = the_issue(
        &issues,
        "employment.not_employed_with_employer",
        "members.m2.employment.status",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert!(issue.message.zh.contains("城庄镇扶贫车间"));
}

// Field rules, one per kind.

#[test]
fn test_every_catalog_field_accepts_a_well_formed_value() {
    for spec in CATALOG {
        let value = match spec.kind {
            FieldKind::Text => FieldValue::Text("文字".to_owned()),
            FieldKind::Code(lists) => FieldValue::Text(lists[0].codes[0].code.to_owned()),
            FieldKind::Codes(list) => {
                FieldValue::Codes([list.codes[0].code.to_owned()].into_iter().collect())
            }
            FieldKind::Integer { min, .. } => FieldValue::Integer(min),
            FieldKind::Decimal { max, .. } => FieldValue::Decimal(max),
            FieldKind::Boolean => FieldValue::Boolean(false),
            FieldKind::Date => FieldValue::Text("2020-02-29".to_owned()),
            FieldKind::Timestamp => FieldValue::Integer(0),
            FieldKind::IdNumber => FieldValue::Text("11010519491231002X".to_owned()),
            FieldKind::AreaCode => FieldValue::Text("141124".to_owned()),
        };
        assert_eq!(check_field(spec, &value, today()), None, "{}", spec.name);
    }
}

#[test]
fn test_text_longer_than_500_characters_is_an_error() {
    let issues = household()
        .household(&[("address", &"村".repeat(501))])
        .member("m1", &[("name", &"名".repeat(500))])
        .issues();
    let message = field_message(&issues, "household.address");
    assert!(message.zh.contains("住址") && message.zh.contains("500"));
    assert!(
        message
            .en
            .contains("Address is too long: at most 500 characters")
    );
    assert_field_fine(&issues, "members.m1.name");
}

#[test]
fn test_unknown_code_is_an_error_that_lists_the_choices() {
    let issues = household()
        .head("m1")
        .member("m1", &[("employment.status", "11")])
        .issues();
    let message = field_message(&issues, "members.m1.employment.status");
    assert!(message.zh.contains("就业状态") && message.zh.contains("“11”"));
    assert!(message.zh.contains("01 省外务工") && message.zh.contains("10 未就业"));
    assert!(message.en.contains("Employment status has no code \"11\""));
    assert!(message.en.contains("01 Working outside the province"));
    assert!(message.en.contains("10 Not employed"));
}

#[test]
fn test_codes_from_the_2016_labour_capacity_list_are_accepted() {
    for code in crate::codes::LABOUR_CAPACITY_2016
        .codes
        .iter()
        .chain(crate::codes::LABOUR_CAPACITY.codes)
    {
        let issues = household()
            .member("m1", &[("labour_capacity", code.code)])
            .issues();
        assert_field_fine(&issues, "members.m1.labour_capacity");
    }
    let issues = household()
        .member("m1", &[("labour_capacity", "06")])
        .issues();
    field_message(&issues, "members.m1.labour_capacity");
}

#[test]
fn test_codes_from_the_extended_poverty_attribute_list_are_accepted() {
    for code in crate::codes::POVERTY_ATTRIBUTE_EXTENDED.codes {
        let issues = household()
            .household(&[("poverty_attribute", code.code)])
            .issues();
        assert_field_fine(&issues, "household.poverty_attribute");
    }
    let issues = household()
        .household(&[("poverty_attribute", "10")])
        .issues();
    let message = field_message(&issues, "household.poverty_attribute");
    assert!(message.en.contains("has no code \"10\""));
}

#[test]
fn test_unknown_code_in_a_multi_select_is_an_error() {
    let issues = household()
        .household(&[("causes", "07 13"), ("follow_up_needs", "01,02")])
        .issues();
    let message = field_message(&issues, "household.causes");
    assert!(message.zh.contains("致贫原因") && message.zh.contains("“13”"));
    assert!(message.en.contains("Causes of poverty has no code \"13\""));
    assert!(message.en.contains("12 Cost of marriage"));
    assert_field_fine(&issues, "household.follow_up_needs");
}

#[test]
fn test_whole_number_above_its_maximum_is_an_error() {
    let issues = household()
        .member("m1", &[("employment.months_worked", "13")])
        .subsidy("s1", &[("year", "2101")])
        .issues();
    let message = field_message(&issues, "members.m1.employment.months_worked");
    assert!(message.en.contains("must be between 0 and 12, not 13"));
    assert!(message.zh.contains("本年务工月数") && message.zh.contains("0 到 12"));
    let message = field_message(&issues, "subsidies.s1.year");
    assert!(
        message
            .en
            .contains("Year must be between 2016 and 2100, not 2101")
    );
}

#[test]
fn test_whole_number_below_its_minimum_is_an_error() {
    let issues = household()
        .member(
            "m1",
            &[
                ("employment.months_worked", "-1"),
                ("employment.monthly_income", "-500"),
            ],
        )
        .subsidy("s1", &[("year", "2015")])
        .issues();
    for path in [
        "members.m1.employment.months_worked",
        "members.m1.employment.monthly_income",
        "subsidies.s1.year",
    ] {
        field_message(&issues, path);
    }
}

#[test]
fn test_whole_number_at_its_bounds_is_fine() {
    let issues = household()
        .member(
            "m1",
            &[
                ("employment.months_worked", "0"),
                ("employment.monthly_income", "1000000"),
            ],
        )
        .subsidy("s1", &[("year", "2016")])
        .subsidy("s2", &[("year", "2100")])
        .issues();
    assert_silent(&issues, "field");
}

#[test]
fn test_decimal_out_of_range_is_an_error() {
    let issues = household()
        .household(&[("gps.lat", "91.5"), ("gps.lon", "-180.01")])
        .visit("v1", &[("gps.lat", "-90"), ("gps.lon", "180")])
        .issues();
    let message = field_message(&issues, "household.gps.lat");
    assert!(
        message
            .en
            .contains("Latitude must be between -90 and 90, not 91.5")
    );
    let message = field_message(&issues, "household.gps.lon");
    assert!(message.en.contains("not -180.01"));
    assert_field_fine(&issues, "visits.v1.gps.lat");
    assert_field_fine(&issues, "visits.v1.gps.lon");
}

#[test]
fn test_whole_number_in_a_decimal_field_within_range_is_fine() {
    let issues = household()
        .stored("household.gps.lat", FieldValue::Integer(38))
        .stored("household.gps.lon", FieldValue::Integer(200))
        .issues();
    assert_field_fine(&issues, "household.gps.lat");
    let message = field_message(&issues, "household.gps.lon");
    assert!(message.en.contains("not 200"));
}

#[test]
fn test_text_in_a_whole_number_field_asks_for_a_whole_number() {
    let issues = household()
        .member("m1", &[("employment.months_worked", "abc")])
        .issues();
    let message = field_message(&issues, "members.m1.employment.months_worked");
    assert_eq!(
        message.en,
        "Months worked this year must be a whole number; \"abc\" was entered"
    );
    assert_eq!(message.zh, "“本年务工月数”应为整数，填写的是“abc”");
}

#[test]
fn test_text_in_a_decimal_field_asks_for_a_number() {
    let issues = household().household(&[("gps.lat", "北纬38度")]).issues();
    let message = field_message(&issues, "household.gps.lat");
    assert!(
        message
            .en
            .contains("Latitude must be a number; \"北纬38度\" was entered")
    );
}

#[test]
fn test_unrecognised_answer_in_a_yes_no_field_asks_for_yes_or_no() {
    let issues = household()
        .member("m1", &[("employment.contract_signed", "也许")])
        .issues();
    let message = field_message(&issues, "members.m1.employment.contract_signed");
    assert!(
        message
            .en
            .contains("Contract signed must be yes or no; \"也许\" was entered")
    );
    assert!(message.zh.contains("“是”或“否”"));
}

#[test]
fn test_number_in_a_date_field_asks_for_a_date() {
    let issues = household()
        .stored("members.m1.birth_date", FieldValue::Integer(19800512))
        .issues();
    let message = field_message(&issues, "members.m1.birth_date");
    assert!(
        message
            .en
            .contains("Birth date must be a date (YYYY-MM-DD)")
    );
    assert!(message.zh.contains("年-月-日"));
}

#[test]
fn test_text_in_a_timestamp_field_asks_for_a_whole_number() {
    let issues = household()
        .visit("v1", &[("finished_at", "昨天下午")])
        .issues();
    let message = field_message(&issues, "visits.v1.finished_at");
    assert!(message.en.contains("Finished at must be a whole number"));
}

#[test]
fn test_number_in_a_text_code_or_id_number_field_asks_for_text() {
    let issues = household()
        .stored("members.m1.name", FieldValue::Boolean(true))
        .stored("members.m1.sex", FieldValue::Integer(1))
        .stored("members.m1.id_number", FieldValue::Integer(110105))
        .issues();
    for (path, label) in [
        ("members.m1.name", "Name"),
        ("members.m1.sex", "Sex"),
        ("members.m1.id_number", "Resident ID number"),
    ] {
        let message = field_message(&issues, path);
        assert!(
            message.en.starts_with(&format!("{label} must be text")),
            "{message}"
        );
    }
}

#[test]
fn test_single_value_in_a_multi_select_field_asks_for_a_list_of_codes() {
    // No form writes a multi-select as one key, but an older program or an import might.
    let mut household = household();
    household.doc.put(ROOT, "household.causes", "07").unwrap();
    let issues = household.issues();
    let message = field_message(&issues, "household.causes");
    assert!(
        message
            .en
            .contains("Causes of poverty must be a list of codes")
    );
}

#[test]
fn test_impossible_date_is_an_error() {
    let issues = household()
        .member("m1", &[("birth_date", "2023-02-30")])
        .training("t1", &[("start_date", "2026/03/01")])
        .issues();
    let message = field_message(&issues, "members.m1.birth_date");
    assert!(
        message
            .en
            .contains("Birth date is not a valid date: \"2023-02-30\"")
    );
    assert!(message.zh.contains("不是有效日期"));
    field_message(&issues, "trainings.t1.start_date");
}

#[test]
fn test_future_birth_date_is_an_error() {
    let issues = household()
        .member("m1", &[("birth_date", "2026-11-30")])
        .member("m2", &[("birth_date", "2026-11-29")])
        .issues();
    let message = field_message(&issues, "members.m1.birth_date");
    assert!(
        message
            .en
            .contains("Birth date 2026-11-30 is in the future")
    );
    assert!(message.zh.contains("晚于今天"));
    assert_field_fine(&issues, "members.m2.birth_date");
}

#[test]
fn test_future_employment_start_and_employed_on_dates_are_errors() {
    let issues = household()
        .member("m1", &[("employment.start_date", "2027-01-01")])
        .training("t1", &[("employed_on", "2026-12-01")])
        .issues();
    field_message(&issues, "members.m1.employment.start_date");
    field_message(&issues, "trainings.t1.employed_on");
}

#[test]
fn test_future_training_dates_are_allowed() {
    // A training can be booked ahead: its start and end may lie in the future.
    let issues = household()
        .training(
            "t1",
            &[("start_date", "2026-12-07"), ("end_date", "2027-01-15")],
        )
        .issues();
    assert_field_fine(&issues, "trainings.t1.start_date");
    assert_field_fine(&issues, "trainings.t1.end_date");
}

#[test]
fn test_invalid_id_number_message_comes_from_the_id_number_rules() {
    for typed in [
        "11010519491231002",
        "110105194912310021",
        "11010519490230002X",
        "1101051949123100X2",
        "141124202701010011",
    ] {
        let issues = household().member("m1", &[("id_number", typed)]).issues();
        let expected = IdNumber::parse(typed, today()).unwrap_err().message();
        assert_eq!(field_message(&issues, "members.m1.id_number"), expected);
    }
}

#[test]
fn test_id_number_typed_with_lowercase_x_is_accepted() {
    let issues = household()
        .member("m1", &[("id_number", "11010519491231002x")])
        .issues();
    assert_field_fine(&issues, "members.m1.id_number");
}

// Cross-field rules: the household.

#[test]
fn test_members_without_a_head_is_a_warning() {
    let issues = household()
        .person("m1", "李梅", "1982-08-20", "2")
        .member("m1", &[("relation", "02")])
        .issues();
    let issue = the_issue(&issues, "household.head_missing", "household.number");
    assert_eq!(issue.severity, Severity::Warning);
}

#[test]
fn test_head_who_left_the_household_does_not_count_as_head() {
    let issues = household()
        .head("m1")
        .member("m1", &[("left_household", "是")])
        .person("m2", "李梅", "1982-08-20", "2")
        .member("m2", &[("relation", "02")])
        .issues();
    the_issue(&issues, "household.head_missing", "household.number");
}

#[test]
fn test_two_heads_is_an_error() {
    let issues = household()
        .head("m1")
        .person("m2", "李梅", "1982-08-20", "2")
        .member("m2", &[("relation", "01")])
        .issues();
    let issue = the_issue(&issues, "household.several_heads", "household.number");
    assert_eq!(issue.severity, Severity::Error);
    assert!(issue.message.en.starts_with("2 members"));
    assert_silent(&issues, "household.head_missing");
}

#[test]
fn test_second_head_who_left_the_household_is_not_a_second_head() {
    let issues = household()
        .head("m1")
        .person("m2", "张大山", "1950-01-01", "1")
        .member("m2", &[("relation", "01"), ("left_household", "是")])
        .issues();
    assert_silent(&issues, "household.several_heads");
    assert_silent(&issues, "household.head_missing");
}

#[test]
fn test_same_id_number_on_two_members_is_an_error() {
    let id = id_number("1982-08-20", "2");
    let issues = household()
        .head("m1")
        .member("m2", &[("name", "李梅"), ("id_number", &id)])
        .member("m3", &[("name", "李梅"), ("id_number", &id)])
        .issues();
    let issue = the_issue(
        &issues,
        "household.duplicate_id_number",
        "members.m3.id_number",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert!(
        issue.message.zh.contains("1411**********"),
        "{}",
        issue.message
    );
    assert!(!issue.message.zh.contains(&id));
    assert!(issue.message.en.contains("see also member m2"));
}

#[test]
fn test_same_id_number_on_a_member_who_left_is_not_a_duplicate() {
    let id = id_number("1982-08-20", "2");
    let issues = household()
        .head("m1")
        .member("m2", &[("name", "李梅"), ("id_number", &id)])
        .member(
            "m3",
            &[
                ("name", "李梅"),
                ("id_number", &id),
                ("left_household", "是"),
            ],
        )
        .issues();
    assert_silent(&issues, "household.duplicate_id_number");
}

// Cross-field rules: the member.

#[test]
fn test_member_without_a_name_is_an_error() {
    let issues = household()
        .head("m1")
        .member("m2", &[("relation", "02")])
        .issues();
    let issue = the_issue(&issues, "member.name_missing", "members.m2.name");
    assert_eq!(issue.severity, Severity::Error);
    assert_eq!(
        issues
            .iter()
            .filter(|i| i.rule == "member.name_missing")
            .count(),
        1
    );
}

#[test]
fn test_member_without_an_id_number_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m2", &[("name", "李梅"), ("relation", "02")])
        .issues();
    let issue = the_issue(&issues, "member.id_number_missing", "members.m2.id_number");
    assert_eq!(issue.severity, Severity::Warning);
    assert!(issue.message.zh.contains("实名"));
}

#[test]
fn test_sex_that_disagrees_with_the_id_number_is_an_error() {
    let issues = household()
        .head("m1")
        .member("m1", &[("sex", "2")])
        .issues();
    let issue = the_issue(
        &issues,
        "member.sex_disagrees_with_id_number",
        "members.m1.sex",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert_eq!(
        issue.message.en,
        "Sex is entered as Female, but the ID number says Male"
    );
}

#[test]
fn test_sex_is_not_compared_with_an_invalid_id_number() {
    let issues = household()
        .member("m1", &[("id_number", "110105194912310021"), ("sex", "1")])
        .issues();
    field_message(&issues, "members.m1.id_number");
    assert_silent(&issues, "member.sex_disagrees_with_id_number");
}

#[test]
fn test_birth_date_that_disagrees_with_the_id_number_is_an_error() {
    let issues = household()
        .head("m1")
        .member("m1", &[("birth_date", "1980-12-05")])
        .issues();
    let issue = the_issue(
        &issues,
        "member.birth_date_disagrees_with_id_number",
        "members.m1.birth_date",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert!(issue.message.en.contains("1980-12-05"));
    assert!(issue.message.en.contains("1980-05-12"));
}

#[test]
fn test_legacy_15_digit_id_number_agrees_with_its_birth_date_and_sex() {
    let issues = household()
        .member(
            "m1",
            &[
                ("name", "王芳"),
                ("id_number", "110105491231002"),
                ("sex", "2"),
                ("birth_date", "1949-12-31"),
            ],
        )
        .issues();
    assert_silent(&issues, "field");
    assert_silent(&issues, "member.sex_disagrees_with_id_number");
    assert_silent(&issues, "member.birth_date_disagrees_with_id_number");
}

#[test]
fn test_healthy_together_with_an_illness_is_an_error() {
    let issues = household()
        .head("m1")
        .member("m1", &[("health", "01、04")])
        .issues();
    let issue = the_issue(&issues, "member.healthy_and_ill", "members.m1.health");
    assert_eq!(issue.severity, Severity::Error);
}

#[test]
fn test_several_illnesses_without_healthy_are_fine() {
    let issues = household()
        .head("m1")
        .member("m1", &[("health", "02,03,04")])
        .issues();
    assert_silent(&issues, "member.healthy_and_ill");
}

// Cross-field rules: schooling.

#[test]
fn test_child_of_compulsory_school_age_not_in_school_is_a_warning() {
    let issues = household()
        .head("m1")
        .person("m2", "张小明", "2016-03-01", "1")
        .member("m2", &[("relation", "03"), ("in_school", "00")])
        .issues();
    let issue = the_issue(
        &issues,
        "member.school_age_not_in_school",
        "members.m2.in_school",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert!(issue.message.en.starts_with("Aged 10,"));
}

#[test]
fn test_school_age_is_taken_from_the_birth_date_when_there_is_no_id_number() {
    let issues = household()
        .member(
            "m2",
            &[
                ("name", "张小明"),
                ("birth_date", "2011-11-30"),
                ("in_school", "00"),
            ],
        )
        .issues();
    let issue = the_issue(
        &issues,
        "member.school_age_not_in_school",
        "members.m2.in_school",
    );
    assert!(issue.message.en.starts_with("Aged 14,"));
}

#[test]
fn test_sixteen_year_old_or_six_year_old_out_of_school_is_fine() {
    let issues = household()
        .head("m1")
        .person("m2", "张大明", "2010-11-29", "1")
        .member("m2", &[("in_school", "00")])
        .person("m3", "张小红", "2019-11-30", "2")
        .member("m3", &[("in_school", "00")])
        .issues();
    assert_silent(&issues, "member.school_age_not_in_school");
}

#[test]
fn test_preschool_past_age_seven_is_a_warning() {
    let issues = household()
        .head("m1")
        .person("m2", "张小明", "2018-06-01", "1")
        .member("m2", &[("in_school", "01")])
        .person("m3", "张小红", "2019-06-01", "2")
        .member("m3", &[("in_school", "01")])
        .issues();
    let issue = the_issue(&issues, "member.preschool_age", "members.m2.in_school");
    assert_eq!(issue.severity, Severity::Warning);
    assert_eq!(
        issues
            .iter()
            .filter(|i| i.rule == "member.preschool_age")
            .count(),
        1
    );
}

#[test]
fn test_in_school_past_thirty_is_a_warning() {
    let issues = household()
        .head("m1")
        .person("m2", "李梅", "1995-01-01", "2")
        .member("m2", &[("in_school", "07")])
        .person("m3", "张强", "1996-11-29", "1")
        .member("m3", &[("in_school", "07")])
        .issues();
    let issue = the_issue(&issues, "member.in_school_age", "members.m2.in_school");
    assert_eq!(issue.severity, Severity::Warning);
    assert!(issue.message.en.contains("Aged 31"));
    assert_eq!(
        issues
            .iter()
            .filter(|i| i.rule == "member.in_school_age")
            .count(),
        1
    );
}

#[test]
fn test_preschool_education_from_age_seven_is_a_warning() {
    let issues = household()
        .head("m1")
        .person("m2", "张小明", "2019-11-29", "1")
        .member("m2", &[("education", "06")])
        .person("m3", "张小红", "2019-11-30", "2")
        .member("m3", &[("education", "06")])
        .issues();
    let issue = the_issue(
        &issues,
        "member.preschool_education_age",
        "members.m2.education",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert_eq!(
        issues
            .iter()
            .filter(|i| i.rule == "member.preschool_education_age")
            .count(),
        1
    );
}

// Cross-field rules: employment.

#[test]
fn test_employed_member_without_employer_or_place_is_an_error() {
    let issues = household()
        .head("m1")
        .member(
            "m1",
            &[
                ("employment.status", "06"),
                ("employment.employer", ""),
                ("employment.place", ""),
            ],
        )
        .issues();
    let issue = the_issue(
        &issues,
        "employment.employed_without_employer_or_place",
        "members.m1.employment.employer",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert!(issue.message.zh.contains("公益性岗位"));
    assert!(issue.message.en.contains("\"Public welfare post\""));
}

#[test]
fn test_employed_member_with_only_a_place_or_only_an_employer_is_fine() {
    let issues = household()
        .head("m1")
        .member("m1", &[("employment.employer", "")])
        .person("m2", "李梅", "1982-08-20", "2")
        .member(
            "m2",
            &[
                ("employment.status", "05"),
                ("employment.employer", "城庄镇扶贫车间"),
            ],
        )
        .issues();
    assert_silent(&issues, "employment.employed_without_employer_or_place");
}

#[test]
fn test_farming_or_not_employed_needs_no_employer_or_place() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .person("m2", "李梅", "1982-08-20", "2")
        .member("m2", &[("employment.status", "09")])
        .issues();
    assert_silent(&issues, "employment.employed_without_employer_or_place");
}

#[test]
fn test_not_employed_member_with_an_employer_is_an_error() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .member("m1", &[("employment.employer", "太原某建筑公司")])
        .issues();
    let issue = the_issue(
        &issues,
        "employment.not_employed_with_employer",
        "members.m1.employment.status",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert!(issue.message.en.contains("太原某建筑公司"));
}

#[test]
fn test_not_employed_member_with_only_a_place_has_no_employer_error() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .member("m1", &[("employment.place", "北京")])
        .issues();
    assert_silent(&issues, "employment.not_employed_with_employer");
}

#[test]
fn test_not_employed_without_a_reason_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .member("m1", &[("employment.not_employed_reason", "")])
        .issues();
    let issue = the_issue(
        &issues,
        "employment.not_employed_reason_missing",
        "members.m1.employment.not_employed_reason",
    );
    assert_eq!(issue.severity, Severity::Warning);
}

#[test]
fn test_not_employed_with_a_reason_is_fine() {
    let issues = household().head("m1").member("m1", NOT_EMPLOYED).issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_employed_with_a_reason_for_not_being_employed_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m1", &[("employment.not_employed_reason", "04")])
        .issues();
    let issue = the_issue(
        &issues,
        "employment.employed_with_not_employed_reason",
        "members.m1.employment.not_employed_reason",
    );
    assert_eq!(issue.severity, Severity::Warning);
}

#[test]
fn test_more_months_worked_than_have_passed_this_year_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m1", &[("employment.months_worked", "12")])
        .issues();
    let issue = the_issue(
        &issues,
        "employment.months_worked_beyond_today",
        "members.m1.employment.months_worked",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert!(issue.message.en.contains("only 11 months"));
}

#[test]
fn test_months_worked_up_to_the_current_month_is_fine() {
    let issues = household()
        .head("m1")
        .member("m1", &[("employment.months_worked", "11")])
        .issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_months_worked_out_of_range_is_only_a_field_error() {
    let issues = household()
        .head("m1")
        .member("m1", &[("employment.months_worked", "13")])
        .issues();
    field_message(&issues, "members.m1.employment.months_worked");
    assert_silent(&issues, "employment.months_worked_beyond_today");
}

#[test]
fn test_not_employed_with_months_worked_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .member("m1", &[("employment.months_worked", "3")])
        .issues();
    let issue = the_issue(
        &issues,
        "employment.not_employed_with_months_worked",
        "members.m1.employment.months_worked",
    );
    assert_eq!(issue.severity, Severity::Warning);
}

#[test]
fn test_not_employed_with_no_months_worked_is_fine() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .member("m1", &[("employment.months_worked", "0")])
        .issues();
    assert_silent(&issues, "employment.not_employed_with_months_worked");
}

#[test]
fn test_more_months_worked_than_since_the_start_date_is_a_warning() {
    let issues = household()
        .head("m1")
        .member(
            "m1",
            &[
                ("employment.start_date", "2026-09-15"),
                ("employment.months_worked", "4"),
            ],
        )
        .issues();
    let issue = the_issue(
        &issues,
        "employment.months_worked_before_start",
        "members.m1.employment.months_worked",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert!(issue.message.en.contains("at most 3 months"));
}

#[test]
fn test_months_worked_since_the_start_date_or_a_start_last_year_is_fine() {
    let issues = household()
        .head("m1")
        .member(
            "m1",
            &[
                ("employment.start_date", "2026-09-15"),
                ("employment.months_worked", "3"),
            ],
        )
        .person("m2", "李梅", "1982-08-20", "2")
        .member("m2", EMPLOYED)
        .member(
            "m2",
            &[
                ("employment.start_date", "2025-12-01"),
                ("employment.months_worked", "11"),
            ],
        )
        .issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_employed_under_sixteen_is_an_error() {
    let issues = household()
        .head("m1")
        .person("m2", "张小明", "2010-11-30", "1")
        .member("m2", EMPLOYED)
        .issues();
    let issue = the_issue(
        &issues,
        "employment.under_working_age",
        "members.m2.employment.status",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert!(issue.message.en.starts_with("Aged 15, under 16"));
}

#[test]
fn test_employed_on_the_sixteenth_birthday_is_fine() {
    let issues = household()
        .head("m1")
        .person("m2", "张小明", "2010-11-29", "1")
        .member("m2", EMPLOYED)
        .issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_employed_past_sixty_is_a_warning() {
    let issues = household()
        .head("m1")
        .person("m2", "张大山", "1965-11-28", "1")
        .member("m2", EMPLOYED)
        .person("m3", "王秀英", "1966-11-29", "2")
        .member("m3", EMPLOYED)
        .issues();
    let issue = the_issue(
        &issues,
        "employment.over_working_age",
        "members.m2.employment.status",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert!(issue.message.en.starts_with("Aged 61"));
    assert_eq!(issues.len(), 1, "{issues:#?}");
}

#[test]
fn test_employed_but_unable_to_work_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m1", &[("labour_capacity", "03")])
        .person("m2", "李梅", "1982-08-20", "2")
        .member("m2", EMPLOYED)
        .member("m2", &[("labour_capacity", "05")])
        .issues();
    let issue = the_issue(
        &issues,
        "employment.employed_but_unable_to_work",
        "members.m1.labour_capacity",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert_eq!(issues.len(), 1, "{issues:#?}");
}

#[test]
fn test_not_employed_with_a_contract_or_social_insurance_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .member("m1", &[("employment.contract_signed", "是")])
        .person("m2", "李梅", "1982-08-20", "2")
        .member("m2", NOT_EMPLOYED)
        .member("m2", &[("employment.social_insurance", "yes")])
        .issues();
    for key in ["m1", "m2"] {
        let issue = the_issue(
            &issues,
            "employment.not_employed_with_contract",
            &format!("members.{key}.employment.contract_signed"),
        );
        assert_eq!(issue.severity, Severity::Warning);
    }
}

#[test]
fn test_not_employed_without_contract_or_insurance_is_fine() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .member(
            "m1",
            &[
                ("employment.contract_signed", "否"),
                ("employment.social_insurance", "no"),
            ],
        )
        .issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

// Cross-field rules: intent.

#[test]
fn test_more_than_three_training_trades_is_an_error() {
    let issues = household()
        .head("m1")
        .member("m1", &[("intent.training_trades", "电工、焊工，厨师,保姆")])
        .issues();
    let issue = the_issue(
        &issues,
        "intent.too_many_training_trades",
        "members.m1.intent.training_trades",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert!(issue.message.en.contains("but 4 are recorded"));
}

#[test]
fn test_three_training_trades_are_fine() {
    let issues = household()
        .head("m1")
        .member("m1", &[("intent.training_trades", "电工、焊工，厨师,")])
        .issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_wanting_training_without_a_trade_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m1", &[("intent.wants_training", "是")])
        .issues();
    let issue = the_issue(
        &issues,
        "intent.training_wanted_without_trade",
        "members.m1.intent.training_trades",
    );
    assert_eq!(issue.severity, Severity::Warning);
}

#[test]
fn test_not_wanting_training_needs_no_trade() {
    let issues = household()
        .head("m1")
        .member("m1", &[("intent.wants_training", "否")])
        .issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_wanting_work_while_unable_to_work_is_a_warning() {
    let issues = household()
        .head("m1")
        .person("m2", "张大山", "1950-01-01", "1")
        .member(
            "m2",
            &[("intent.wants_work", "是"), ("labour_capacity", "04")],
        )
        .person("m3", "李梅", "1982-08-20", "2")
        .member(
            "m3",
            &[("intent.wants_work", "是"), ("labour_capacity", "05")],
        )
        .issues();
    let issue = the_issue(
        &issues,
        "intent.wants_work_but_unable",
        "members.m2.intent.wants_work",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert_eq!(issues.len(), 1, "{issues:#?}");
}

// Cross-field rules: trainings, subsidies, visits.

#[test]
fn test_training_or_subsidy_without_a_member_is_an_error() {
    let issues = household()
        .head("m1")
        .training("t1", &[("trade", "电工")])
        .subsidy("s1", &[("kind", "04")])
        .issues();
    for path in ["trainings.t1.member", "subsidies.s1.member"] {
        let issue = the_issue(&issues, "record.member_missing", path);
        assert_eq!(issue.severity, Severity::Error);
    }
}

#[test]
fn test_training_or_subsidy_of_an_unknown_member_is_an_error() {
    let issues = household()
        .head("m1")
        .training("t1", &[("member", "m9")])
        .subsidy("s1", &[("member", "m9"), ("kind", "04")])
        .issues();
    for path in ["trainings.t1.member", "subsidies.s1.member"] {
        let issue = the_issue(&issues, "record.member_unknown", path);
        assert_eq!(issue.severity, Severity::Error);
        assert!(issue.message.en.contains("\"m9\""));
    }
}

#[test]
fn test_training_and_subsidy_of_a_known_member_are_fine() {
    let issues = household()
        .head("m1")
        .training("t1", &[("member", "m1")])
        .subsidy("s1", &[("member", "m1"), ("kind", "04")])
        .issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_training_that_ends_before_it_starts_is_an_error() {
    let issues = household()
        .head("m1")
        .training(
            "t1",
            &[
                ("member", "m1"),
                ("start_date", "2026-05-20"),
                ("end_date", "2026-05-19"),
            ],
        )
        .training(
            "t2",
            &[
                ("member", "m1"),
                ("start_date", "2026-05-20"),
                ("end_date", "2026-05-20"),
            ],
        )
        .issues();
    let issue = the_issue(
        &issues,
        "training.ends_before_start",
        "trainings.t1.end_date",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert_eq!(issues.len(), 1, "{issues:#?}");
}

#[test]
fn test_training_completed_before_its_end_date_is_a_warning() {
    let issues = household()
        .head("m1")
        .training(
            "t1",
            &[
                ("member", "m1"),
                ("end_date", "2026-11-30"),
                ("completed", "是"),
            ],
        )
        .training(
            "t2",
            &[
                ("member", "m1"),
                ("end_date", "2026-11-29"),
                ("completed", "是"),
            ],
        )
        .training(
            "t3",
            &[
                ("member", "m1"),
                ("end_date", "2026-12-30"),
                ("completed", "否"),
            ],
        )
        .issues();
    let issue = the_issue(
        &issues,
        "training.completed_before_end",
        "trainings.t1.completed",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert_eq!(issues.len(), 1, "{issues:#?}");
}

#[test]
fn test_transport_subsidy_for_someone_not_working_outside_the_province_is_a_warning() {
    let issues = household()
        .head("m1")
        .member("m1", &[("employment.status", "02")])
        .subsidy("s1", &[("member", "m1"), ("kind", "01")])
        .subsidy("s2", &[("member", "m1"), ("kind", "02")])
        .issues();
    let issue = the_issue(
        &issues,
        "subsidy.transport_without_cross_province_work",
        "subsidies.s1.kind",
    );
    assert_eq!(issue.severity, Severity::Warning);
    assert_eq!(issues.len(), 1, "{issues:#?}");
}

#[test]
fn test_transport_subsidy_for_a_cross_province_worker_is_fine() {
    let issues = household()
        .head("m1")
        .subsidy("s1", &[("member", "m1"), ("kind", "01")])
        .issues();
    assert_eq!(issues, Vec::<Issue>::new());
}

#[test]
fn test_visit_that_finishes_before_it_starts_is_an_error() {
    let issues = household()
        .visit(
            "v1",
            &[("started_at", "1795500000"), ("finished_at", "1795499999")],
        )
        .visit(
            "v2",
            &[("started_at", "1795500000"), ("finished_at", "1795500000")],
        )
        .issues();
    let issue = the_issue(
        &issues,
        "visit.finished_before_started",
        "visits.v1.finished_at",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert_eq!(issues.len(), 1, "{issues:#?}");
}

#[test]
fn test_one_person_entered_in_the_old_and_the_new_id_form_is_a_duplicate() {
    let issues = household()
        .member("m1", &[("name", "王芳"), ("id_number", "110105491231002")])
        .member(
            "m2",
            &[("name", "王芳"), ("id_number", "11010519491231002x")],
        )
        .issues();
    the_issue(
        &issues,
        "household.duplicate_id_number",
        "members.m2.id_number",
    );
}

#[test]
fn test_unknown_poverty_attribute_lists_every_accepted_code() {
    let issues = household()
        .household(&[("poverty_attribute", "10")])
        .issues();
    let message = field_message(&issues, "household.poverty_attribute");
    assert!(message.zh.contains("09"), "{message}");
}

#[test]
fn test_a_paid_transport_subsidy_stays_quiet_after_the_worker_came_home() {
    let issues = household()
        .head("m1")
        .member("m1", NOT_EMPLOYED)
        .subsidy(
            "s1",
            &[
                ("member", "m1"),
                ("kind", "01"),
                ("year", "2026"),
                ("status", "03"),
            ],
        )
        .issues();
    assert_silent(&issues, "subsidy.transport_without_cross_province_work");
}

#[test]
fn test_a_code_with_a_dot_in_a_multi_select_is_kept_and_reported() {
    let household = household().household(&[("causes", "07 1.5")]);
    let view = household.view();
    assert_eq!(
        view.household["causes"].value,
        FieldValue::Text("07 1.5".into())
    );
    let issues = validate(&view, today());
    let message = field_message(&issues, "household.causes");
    assert!(message.en.contains("list of codes"), "{message}");
}

#[test]
fn test_trades_separated_by_spaces_are_counted_one_by_one() {
    let issues = household()
        .member("m1", &[("intent.training_trades", "电工 焊工　厨师 保姆")])
        .issues();
    the_issue(
        &issues,
        "intent.too_many_training_trades",
        "members.m1.intent.training_trades",
    );
}

// Cross-field rules: the member status.

#[test]
fn test_member_who_moved_out_with_a_date_and_destination_has_no_issues() {
    let issues = valid_household()
        .person("m9", "王小军", "1995-03-02", "1")
        .member(
            "m9",
            &[
                ("relation", "03"),
                ("status", "02"),
                ("left_on", "2026-05-01"),
                ("moved_to", "太原市小店区"),
            ],
        )
        .issues();
    assert_eq!(issues, []);
}

#[test]
fn test_moving_out_needs_a_date_and_dying_should_have_one() {
    let issues = household()
        .head("m1")
        .person("m2", "李梅", "1982-08-20", "2")
        .member("m2", &[("relation", "02"), ("status", "02")])
        .person("m3", "张大山", "1940-01-01", "1")
        .member("m3", &[("relation", "11"), ("status", "03")])
        .issues();
    let moved = the_issue(
        &issues,
        "member.moved_out_without_date",
        "members.m2.left_on",
    );
    assert_eq!(moved.severity, Severity::Error);
    assert!(moved.message.zh.contains("迁出日期"), "{}", moved.message);
    let died = the_issue(
        &issues,
        "member.deceased_without_date",
        "members.m3.left_on",
    );
    assert_eq!(died.severity, Severity::Warning);
}

#[test]
fn test_a_date_of_leaving_belongs_only_to_a_member_who_moved_out_or_died() {
    let issues = household()
        .head("m1")
        .member("m1", &[("left_on", "2026-01-02")])
        .person("m2", "李梅", "1982-08-20", "2")
        .member(
            "m2",
            &[
                ("relation", "02"),
                ("status", "01"),
                ("left_on", "2026-01-02"),
            ],
        )
        .person("m3", "张大山", "1940-01-01", "1")
        .member("m3", &[("status", "03"), ("left_on", "2026-01-02")])
        .issues();
    let missing_status = the_issue(
        &issues,
        "member.left_on_without_leaving",
        "members.m1.left_on",
    );
    assert_eq!(missing_status.severity, Severity::Error);
    assert!(
        missing_status.message.zh.contains("在户"),
        "a missing status reads as present: {}",
        missing_status.message
    );
    the_issue(
        &issues,
        "member.left_on_without_leaving",
        "members.m2.left_on",
    );
    assert_eq!(
        issues
            .iter()
            .filter(|i| i.rule == "member.left_on_without_leaving")
            .count(),
        2,
        "the deceased member's date is in place: {issues:#?}"
    );
}

#[test]
fn test_only_a_member_who_moved_out_has_a_destination() {
    let issues = household()
        .head("m1")
        .person("m2", "张大山", "1940-01-01", "1")
        .member(
            "m2",
            &[
                ("status", "03"),
                ("left_on", "2026-01-02"),
                ("moved_to", "太原"),
            ],
        )
        .issues();
    let issue = the_issue(
        &issues,
        "member.moved_to_without_moving_out",
        "members.m2.moved_to",
    );
    assert_eq!(issue.severity, Severity::Error);
    assert!(issue.message.zh.contains("死亡"), "{}", issue.message);
    assert!(issue.message.en.contains("Deceased"), "{}", issue.message);
}

#[test]
fn test_leaving_before_birth_or_in_the_future_is_an_error() {
    let issues = household()
        .head("m1")
        .person("m2", "王小军", "1995-03-02", "1")
        .member("m2", &[("status", "02"), ("left_on", "1990-01-01")])
        .person("m3", "王小红", "1997-03-02", "2")
        .member("m3", &[("status", "02"), ("left_on", "2030-01-01")])
        .issues();
    the_issue(&issues, "member.left_before_birth", "members.m2.left_on");
    assert!(
        field_message(&issues, "members.m3.left_on")
            .en
            .contains("future")
    );
}

#[test]
fn test_a_member_who_left_raises_no_schooling_work_or_intent_issues() {
    // Each of these would be an issue for a member who lives here.
    let gone = |status: &str| {
        household()
            .head("m1")
            .person("m2", "王小军", "1995-03-02", "1")
            .member(
                "m2",
                &[
                    ("status", status),
                    ("left_on", "2026-05-01"),
                    ("employment.status", "01"),
                    ("intent.wants_training", "是"),
                    ("employment.months_worked", "12"),
                ],
            )
            .issues()
    };
    let present = gone("01");
    the_issue(
        &present,
        "employment.employed_without_employer_or_place",
        "members.m2.employment.employer",
    );
    the_issue(
        &present,
        "intent.training_wanted_without_trade",
        "members.m2.intent.training_trades",
    );
    for status in ["02", "03"] {
        let issues = gone(status);
        assert!(
            issues.iter().all(|i| !i.path.starts_with("members.m2.")),
            "status {status}: {issues:#?}"
        );
    }
}

#[test]
fn test_an_entry_made_by_mistake_raises_nothing_but_its_status_rules() {
    let issues = household()
        .head("m1")
        .member(
            "m2",
            &[
                ("status", "04"),
                ("relation", "01"),
                ("employment.status", "01"),
            ],
        )
        .issues();
    assert!(
        issues.iter().all(|i| !i.path.starts_with("members.m2.")),
        "{issues:#?}"
    );
    assert_silent(&issues, "household.several_heads");
    let dated = household()
        .head("m1")
        .member(
            "m2",
            &[
                ("name", "误录"),
                ("status", "04"),
                ("left_on", "2026-01-02"),
            ],
        )
        .issues();
    the_issue(
        &dated,
        "member.left_on_without_leaving",
        "members.m2.left_on",
    );
}

#[test]
fn test_status_decides_presence_and_an_older_left_household_flag_still_counts() {
    let view = household()
        .person("m1", "张三", "1980-05-12", "1")
        .member(
            "m1",
            &[
                ("relation", "01"),
                ("status", "03"),
                ("left_on", "2026-01-02"),
            ],
        )
        .person("m2", "李梅", "1982-08-20", "2")
        .member("m2", &[("left_household", "是")])
        .person("m3", "王小军", "2010-03-02", "1")
        .member("m3", &[("left_household", "是"), ("status", "01")])
        .person("m4", "王小红", "2012-03-02", "2")
        .member("m4", &[("status", "99")])
        .view();
    let status = |key: &str| layout::member_status(&view.members[key]).to_owned();
    assert_eq!(status("m1"), "03");
    assert_eq!(status("m2"), "02", "the old flag reads as moved out");
    assert_eq!(
        status("m3"),
        "01",
        "a status typed in wins over the old flag"
    );
    let present: Vec<&str> = view.present_members().map(|(k, _)| k.as_str()).collect();
    assert_eq!(present, ["m3", "m4"], "an unknown code hides nobody");
    assert_eq!(view.head_name(), None, "the head died");
    let terms = view.search_terms();
    assert!(
        terms.contains(&"王小军") && !terms.contains(&"张三"),
        "{terms:?}"
    );
}
