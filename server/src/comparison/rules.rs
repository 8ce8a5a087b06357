//! The comparison itself, pure: one roster row against what the ledger holds of the same
//! person (found by the keyed hash of the ID number), giving every [`Mismatch`] between them.
//! Each mismatch says what to check, which field paths settle it, and both sides.

use super::check::RosterRow;
use super::kinds::RosterKind;
use crate::access::privacy::{Maskable, mask_id_number};
use jiff::civil::Date;
use schema::Message;
use schema::codes;
use schema::id_number::IdNumber;
use serde::{Deserialize, Serialize};

pub use crate::storage::imported_rosters::LedgerPerson;

/// Why a roster row and the ledger disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The person is on the roster and nowhere in the ledger.
    MissingFromLedger,
    /// The roster and the ledger name the person differently.
    NameDiffers,
    /// The sex the ledger records is not the one the ID number carries.
    SexContradictsId,
    /// The birth date the ledger records (so the age) is not the one the ID number carries.
    BirthDateContradictsId,
    /// The registry says moved out or deceased; the ledger has the person present.
    RegistryLeftLedgerPresent,
    /// The ledger says moved out or deceased; the registry has the person present.
    LedgerLeftRegistryPresent,
    /// The ledger says not employed (or farming only); social insurance shows an employer.
    NotEmployedButInsured,
    /// The ledger says not employed (or farming only); employment registration says employed.
    NotEmployedButRegistered,
    /// The ledger has no training of the person; training completion has a certificate.
    NoTrainingButCertificate,
}

impl Rule {
    pub fn slug(self) -> &'static str {
        match self {
            Rule::MissingFromLedger => "missing_from_ledger",
            Rule::NameDiffers => "name_differs",
            Rule::SexContradictsId => "sex_contradicts_id",
            Rule::BirthDateContradictsId => "birth_date_contradicts_id",
            Rule::RegistryLeftLedgerPresent => "registry_left_ledger_present",
            Rule::LedgerLeftRegistryPresent => "ledger_left_registry_present",
            Rule::NotEmployedButInsured => "not_employed_but_insured",
            Rule::NotEmployedButRegistered => "not_employed_but_registered",
            Rule::NoTrainingButCertificate => "no_training_but_certificate",
        }
    }
}

/// One disagreement between an imported roster and the ledger, as staff and phones see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Stable: the same disagreement about the same person has the same id across
    /// recomputations and re-imports (a hash of kind, rule and the ID number's keyed hash).
    pub id: String,
    pub kind: RosterKind,
    pub rule: Rule,
    /// The village it belongs to: the household's; else the roster row's village; else the
    /// area the roster covers.
    pub area: String,
    /// The household and member in the ledger, when the person is there.
    pub household_id: Option<String>,
    pub member_key: Option<String>,
    /// The person's name as the roster gives it.
    pub name: String,
    /// Masked unless the reader's sight reveals it.
    pub id_number: String,
    /// What to check, for the volunteer or clerk.
    pub check: Message,
    /// The field paths whose value settles it (`members.<key>.employment.status`;
    /// `trainings.*.certificate` for a training record not yet made).
    pub fields: Vec<String>,
    /// What the ledger says; none when the person is not in it.
    pub ledger_says: Option<Message>,
    /// What the roster says.
    pub roster_says: Message,
    pub roster_id: String,
}

impl Maskable for Mismatch {
    fn mask(&mut self) {
        self.id_number = mask_id_number(&self.id_number);
        // A birth date is most of what a masked ID number hides.
        if self.rule == Rule::BirthDateContradictsId {
            let withheld = Message::new("（已隐藏）", "(withheld)");
            self.ledger_says = self.ledger_says.as_ref().map(|_| withheld.clone());
            self.roster_says = withheld;
        }
    }
}

/// The stable id of a mismatch.
pub fn mismatch_id(kind: RosterKind, rule: Rule, id_number_hash: &str) -> String {
    let text = format!("{}|{}|{id_number_hash}", kind.slug(), rule.slug());
    hex::encode(&blake3::hash(text.as_bytes()).as_bytes()[..16])
}

/// Where the roster row sits.
#[derive(Debug, Clone, Copy)]
pub struct RosterSide<'a> {
    pub kind: RosterKind,
    pub roster_id: &'a str,
    /// The area the roster covers.
    pub area: &'a str,
}

fn code_label(list: &codes::CodeList, code: &str) -> Message {
    list.label(code)
        .unwrap_or_else(|| Message::new(code.to_owned(), code.to_owned()))
}

fn labelled(zh: &str, en: &str, value: Message) -> Message {
    Message::new(format!("{zh}：{}", value.zh), format!("{en}: {}", value.en))
}

/// What the roster row says, in a line: the fields of its kind that matter.
fn roster_says(kind: RosterKind, row: &RosterRow) -> Message {
    let mut zh = Vec::new();
    let mut en = Vec::new();
    for field in kind.fields() {
        if matches!(field.name, "id_number" | "sex" | "village") {
            continue;
        }
        let Some(value) = row.get(field.name) else {
            continue;
        };
        let (value_zh, value_en) = match field.kind {
            super::kinds::ColumnKind::Code(list) => {
                let label = code_label(list, value);
                (label.zh, label.en)
            }
            _ => (value.to_owned(), value.to_owned()),
        };
        zh.push(format!("{}：{value_zh}", field.zh));
        en.push(format!("{}: {value_en}", field.en));
    }
    Message::new(zh.join("；"), en.join("; "))
}

/// Every mismatch between one roster row and the ledger's members with the same ID number
/// (`ledger`: none when the person is not in it). Members entered by mistake do not count.
pub fn compare(
    side: RosterSide<'_>,
    row: &RosterRow,
    id_number_hash: &str,
    ledger: &[LedgerPerson],
    today: Date,
) -> Vec<Mismatch> {
    let kind = side.kind;
    let person = ledger
        .iter()
        .filter(|p| p.status != codes::ENTERED_BY_MISTAKE)
        .min_by_key(|p| p.status != codes::PRESENT);
    let name = row.get("name").unwrap_or_default().to_owned();
    let says = roster_says(kind, row);
    let make =
        |rule: Rule, check: Message, fields: Vec<String>, ledger_says: Option<Message>| Mismatch {
            id: mismatch_id(kind, rule, id_number_hash),
            kind,
            rule,
            area: person.map_or_else(
                || row.get("village").unwrap_or(side.area).to_owned(),
                |p| p.village.clone(),
            ),
            household_id: person.map(|p| p.household_id.clone()),
            member_key: person.map(|p| p.member_key.clone()),
            name: name.clone(),
            id_number: row.id_number.clone(),
            check,
            fields,
            ledger_says,
            roster_says: says.clone(),
            roster_id: side.roster_id.to_owned(),
        };
    let registry_status = row.get("status").unwrap_or(codes::PRESENT);
    let Some(person) = person else {
        // Someone the registry lists as gone is rightly not in the ledger.
        if kind == RosterKind::Registry && registry_status != codes::PRESENT {
            return Vec::new();
        }
        return vec![make(
            Rule::MissingFromLedger,
            Message::new(
                format!(
                    "{}上有此人，台账中没有：核实其家庭，入户登记",
                    kind.label().zh
                ),
                format!(
                    "On the {} but not in the ledger: find the household and record the person",
                    kind.label().en
                ),
            ),
            Vec::new(),
            None,
        )];
    };
    let member = |field: &str| format!("members.{}.{field}", person.member_key);
    let mut found = Vec::new();
    if let Some(ledger_name) = person.name.as_deref().map(str::trim)
        && !ledger_name.is_empty()
        && !name.is_empty()
        && ledger_name != name
    {
        found.push(make(
            Rule::NameDiffers,
            Message::new("核实姓名", "Check the person's name"),
            vec![member("name")],
            Some(Message::new(
                format!("姓名：{ledger_name}"),
                format!("Name: {ledger_name}"),
            )),
        ));
    }
    if let Ok(number) = IdNumber::parse(&row.id_number, today) {
        if let Some(sex) = person.sex.as_deref()
            && codes::SEX.contains(sex)
            && sex != number.sex().code()
        {
            found.push(make(
                Rule::SexContradictsId,
                Message::new(
                    format!(
                        "台账的性别与身份证号码不符（号码显示为{}）：核实性别",
                        number.sex().label().zh
                    ),
                    format!(
                        "The ledger's sex contradicts the ID number (which says {}): check it",
                        number.sex().label().en
                    ),
                ),
                vec![member("sex")],
                Some(labelled("性别", "Sex", code_label(&codes::SEX, sex))),
            ));
        }
        let born = number.birth_date();
        let month_day = format!("{:02}-{:02}", born.month(), born.day());
        let year_differs = person
            .birth_year
            .is_some_and(|y| y != i64::from(born.year()));
        let day_differs = person
            .birth_month_day
            .as_deref()
            .is_some_and(|md| md != month_day);
        if year_differs || day_differs {
            let recorded = format!(
                "{}-{}",
                person.birth_year.map_or("?".into(), |y| y.to_string()),
                person.birth_month_day.as_deref().unwrap_or("?")
            );
            let mut mismatch = make(
                Rule::BirthDateContradictsId,
                Message::new(
                    "台账的出生日期（年龄）与身份证号码不符：核实出生日期",
                    "The ledger's birth date (so the age) contradicts the ID number: check it",
                ),
                vec![member("birth_date")],
                Some(Message::new(
                    format!("出生日期：{recorded}"),
                    format!("Birth date: {recorded}"),
                )),
            );
            mismatch.roster_says = Message::new(
                format!("身份证号码的出生日期：{born}"),
                format!("Birth date in the ID number: {born}"),
            );
            found.push(mismatch);
        }
    }
    let present = person.status == codes::PRESENT;
    let ledger_status = || {
        Some(labelled(
            "在户状态",
            "Member status",
            code_label(&codes::MEMBER_STATUS, &person.status),
        ))
    };
    match kind {
        RosterKind::Registry if present && registry_status != codes::PRESENT => {
            found.push(make(
                Rule::RegistryLeftLedgerPresent,
                Message::new(
                    "户籍显示已迁出或死亡，台账仍为在户：核实此人是否仍在户",
                    "The registry says moved out or deceased; the ledger has the person present: check",
                ),
                vec![member("status"), member("left_on")],
                ledger_status(),
            ));
        }
        RosterKind::Registry if !present && registry_status == codes::PRESENT => {
            found.push(make(
                Rule::LedgerLeftRegistryPresent,
                Message::new(
                    "台账记为迁出或死亡，户籍仍在户：核实此人的在户状态",
                    "The ledger says moved out or deceased; the registry has the person present: check",
                ),
                vec![member("status")],
                ledger_status(),
            ));
        }
        RosterKind::SocialInsurance | RosterKind::EmploymentRegistration if present => {
            let not_employed = person
                .employment_status
                .as_deref()
                .is_some_and(|s| !codes::is_employed_status(s));
            let roster_employed = kind == RosterKind::SocialInsurance
                || row
                    .get("employment_status")
                    .is_some_and(codes::is_employed_status);
            if not_employed && roster_employed {
                let status = person.employment_status.as_deref().unwrap_or_default();
                let (rule, check) = if kind == RosterKind::SocialInsurance {
                    (
                        Rule::NotEmployedButInsured,
                        Message::new(
                            "台账记为未就业，社保显示有参保单位：核实就业状态和单位",
                            "The ledger says not employed; social insurance shows an employer: check the employment",
                        ),
                    )
                } else {
                    (
                        Rule::NotEmployedButRegistered,
                        Message::new(
                            "台账记为未就业，就业登记显示已就业：核实就业状态",
                            "The ledger says not employed; employment registration says employed: check the employment",
                        ),
                    )
                };
                found.push(make(
                    rule,
                    check,
                    vec![member("employment.status"), member("employment.employer")],
                    Some(labelled(
                        "就业状态",
                        "Employment status",
                        code_label(&codes::EMPLOYMENT_STATUS, status),
                    )),
                ));
            }
        }
        RosterKind::TrainingCompletion if present && person.trainings_completed == 0 => {
            found.push(make(
                Rule::NoTrainingButCertificate,
                Message::new(
                    "台账没有此人的培训记录，培训结业名册显示已取得证书：核实并补录培训",
                    "The ledger has no training of this person; training completion shows a certificate: check and record it",
                ),
                vec!["trainings.*.member".into(), "trainings.*.certificate".into()],
                Some(Message::new("没有培训记录", "No training recorded")),
            ));
        }
        _ => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::privacy::{Seen, Sight};
    use std::collections::BTreeMap;

    const ZHANG: &str = "11010519491231002X";

    fn row(fields: &[(&str, &str)]) -> RosterRow {
        RosterRow {
            row: 2,
            id_number: ZHANG.into(),
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    /// 11010519491231002X: a woman born 1949-12-31, recorded so.
    fn person() -> LedgerPerson {
        LedgerPerson {
            household_id: "h1".into(),
            village: "141124100201".into(),
            member_key: "m1".into(),
            name: Some("张伟".into()),
            sex: Some("2".into()),
            birth_year: Some(1949),
            birth_month_day: Some("12-31".into()),
            status: "01".into(),
            employment_status: Some("10".into()),
            trainings_completed: 0,
        }
    }

    fn side(kind: RosterKind) -> RosterSide<'static> {
        RosterSide {
            kind,
            roster_id: "r1",
            area: "141124",
        }
    }

    fn rules(kind: RosterKind, row: &RosterRow, ledger: &[LedgerPerson]) -> Vec<Rule> {
        compare(
            side(kind),
            row,
            "hash",
            ledger,
            jiff::civil::date(2026, 12, 1),
        )
        .into_iter()
        .map(|m| m.rule)
        .collect()
    }

    #[test]
    fn a_person_missing_from_the_ledger_is_placed_in_the_rows_village_or_the_rosters_area() {
        let placed = compare(
            side(RosterKind::SocialInsurance),
            &row(&[
                ("name", "张伟"),
                ("employer", "富士康"),
                ("village", "141124100202"),
            ]),
            "hash",
            &[],
            jiff::civil::date(2026, 12, 1),
        );
        assert_eq!(placed.len(), 1);
        assert_eq!(placed[0].rule, Rule::MissingFromLedger);
        assert_eq!(placed[0].area, "141124100202");
        assert_eq!(placed[0].household_id, None);
        assert!(placed[0].roster_says.zh.contains("富士康"));
        let unplaced = rules(RosterKind::SocialInsurance, &row(&[("name", "张伟")]), &[]);
        assert_eq!(unplaced, [Rule::MissingFromLedger]);
        // The registry's dead are rightly absent.
        assert!(rules(RosterKind::Registry, &row(&[("status", "03")]), &[]).is_empty());
    }

    #[test]
    fn an_agreeing_person_has_no_mismatch() {
        let p = person();
        assert!(
            rules(
                RosterKind::Registry,
                &row(&[("name", "张伟"), ("status", "01")]),
                &[p.clone()]
            )
            .is_empty()
        );
        let mut employed = p.clone();
        employed.employment_status = Some("01".into());
        assert!(
            rules(
                RosterKind::SocialInsurance,
                &row(&[("name", "张伟"), ("employer", "X")]),
                &[employed]
            )
            .is_empty()
        );
        let mut trained = p;
        trained.trainings_completed = 1;
        assert!(
            rules(
                RosterKind::TrainingCompletion,
                &row(&[("certificate", "01")]),
                &[trained]
            )
            .is_empty()
        );
    }

    #[test]
    fn each_rule_finds_its_disagreement() {
        let p = person();
        let mut wrong = p.clone();
        wrong.name = Some("张卫".into());
        wrong.sex = Some("1".into());
        wrong.birth_month_day = Some("01-31".into());
        assert_eq!(
            rules(RosterKind::Registry, &row(&[("name", "张伟")]), &[wrong]),
            [
                Rule::NameDiffers,
                Rule::SexContradictsId,
                Rule::BirthDateContradictsId
            ]
        );
        assert_eq!(
            rules(
                RosterKind::Registry,
                &row(&[("status", "02")]),
                &[p.clone()]
            ),
            [Rule::RegistryLeftLedgerPresent]
        );
        let mut dead = p.clone();
        dead.status = "03".into();
        assert_eq!(
            rules(RosterKind::Registry, &row(&[("status", "01")]), &[dead]),
            [Rule::LedgerLeftRegistryPresent]
        );
        assert_eq!(
            rules(
                RosterKind::SocialInsurance,
                &row(&[("employer", "富士康")]),
                &[p.clone()]
            ),
            [Rule::NotEmployedButInsured]
        );
        assert_eq!(
            rules(
                RosterKind::EmploymentRegistration,
                &row(&[("employment_status", "01")]),
                &[p.clone()]
            ),
            [Rule::NotEmployedButRegistered]
        );
        assert!(
            rules(
                RosterKind::EmploymentRegistration,
                &row(&[("employment_status", "10")]),
                &[p.clone()]
            )
            .is_empty()
        );
        assert_eq!(
            rules(
                RosterKind::TrainingCompletion,
                &row(&[("certificate", "01")]),
                &[p]
            ),
            [Rule::NoTrainingButCertificate]
        );
    }

    #[test]
    fn ids_are_stable_and_masking_hides_the_number_and_birth_dates() {
        let mut wrong = person();
        wrong.birth_year = Some(1950);
        let found = compare(
            side(RosterKind::Registry),
            &row(&[]),
            "hash",
            &[wrong.clone()],
            jiff::civil::date(2026, 12, 1),
        );
        let again = compare(
            side(RosterKind::Registry),
            &row(&[]),
            "hash",
            &[wrong],
            jiff::civil::date(2026, 12, 1),
        );
        assert_eq!(found[0].id, again[0].id);
        assert_ne!(
            found[0].id,
            mismatch_id(RosterKind::Registry, Rule::NameDiffers, "hash")
        );
        assert_eq!(found[0].fields, ["members.m1.birth_date"]);
        let seen = Seen::new(found[0].clone(), Sight::MASKED);
        assert_eq!(seen.get().id_number, "1101**********002X");
        assert!(!seen.get().roster_says.zh.contains("1949"));
        assert!(
            !serde_json::to_string(seen.get())
                .expect("json")
                .contains("1949")
        );
        assert_eq!(
            Seen::new(found[0].clone(), Sight::for_operator(true))
                .get()
                .id_number,
            ZHANG
        );
    }
}
