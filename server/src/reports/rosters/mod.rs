//! The village rosters of 一库五册 ("one database, five rosters") that a county files, per
//! village, township or county, as a [`Sheet`] to write as XLSX or CSV.
//!
//! Every roster lists present members only (`layout::member_status`), of live households,
//! in village, household and member order (the head first). Headers and values are the field
//! catalog's Chinese labels (`schema::fields`, `schema::codes`), never raw codes; villages and
//! townships go by their names (`storage::areas`). Sensitive fields are masked by their catalog
//! entry unless the [`Sight`] reveals them (`access::privacy`): an ID number as
//! `1411**********123X`, health withheld.
//!
//! The two indicator lists export the same way: the households failing the one-employed
//! target, and the people who want training and have not had it. Who is on a roster or a list
//! is a condition from `reports::definitions` (present, labour age, able, willing, employed,
//! failing, untrained), never a second copy of one.
//!
//! `members.rs` reads the members of an area with the fields a roster shows, `trainings.rs`
//! their trainings, `households.rs` the failing households; each roster is a condition on
//! members and a list of columns (`Roster::columns`).

mod households;
mod members;
mod trainings;

use crate::access::privacy::{Seen, Sight};
use crate::reports::definitions::{self, Definitions};
use crate::reports::sheet::{Cell, Column, ColumnKind, Sheet};
use crate::storage::areas;
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use members::{Fields, RosterMember};
use schema::Message;
use schema::fields::{self, Entity, FieldKind};
use schema::ids::AreaCode;
use schema::layout::FieldValue;
use std::collections::HashMap;

/// The rosters, by the name the API and the command line use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roster {
    /// 贫困劳动力花名册: the present members of labour age, whatever their capacity: the
    /// labour resource of the ledger.
    PoorLabour,
    /// 转移就业花名册: members working for wages away from their own farming.
    TransferEmployment,
    /// 自主创业花名册: self-employed members.
    SelfEmployment,
    /// 公益性岗位花名册: members on a public-welfare post.
    PublicWelfare,
    /// 培训花名册: every training of a present member, one row each.
    Training,
    /// The households failing the one-employed target (`definitions::failing_household`).
    FailingHouseholds,
    /// The people who want training and have not had it (`definitions::untrained`).
    Untrained,
}

impl Roster {
    pub const ALL: [Roster; 7] = [
        Roster::PoorLabour,
        Roster::Training,
        Roster::TransferEmployment,
        Roster::SelfEmployment,
        Roster::PublicWelfare,
        Roster::FailingHouseholds,
        Roster::Untrained,
    ];

    /// The name in a URL or on the command line.
    pub fn slug(self) -> &'static str {
        match self {
            Roster::PoorLabour => "poor_labour",
            Roster::TransferEmployment => "transfer_employment",
            Roster::SelfEmployment => "self_employment",
            Roster::PublicWelfare => "public_welfare",
            Roster::Training => "training",
            Roster::FailingHouseholds => "failing_households",
            Roster::Untrained => "untrained",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Roster> {
        Roster::ALL.into_iter().find(|roster| roster.slug() == slug)
    }

    /// The roster's name as filed.
    pub fn name(self) -> Message {
        match self {
            Roster::PoorLabour => Message::new("贫困劳动力花名册", "Poor labour roster"),
            Roster::TransferEmployment => {
                Message::new("转移就业花名册", "Transfer employment roster")
            }
            Roster::SelfEmployment => Message::new("自主创业花名册", "Self-employment roster"),
            Roster::PublicWelfare => Message::new("公益性岗位花名册", "Public-welfare post roster"),
            Roster::Training => Message::new("培训花名册", "Training roster"),
            Roster::FailingHouseholds => Message::new(
                "未实现一户一人就业家庭名单",
                "Households failing the one-employed target",
            ),
            Roster::Untrained => Message::new(
                "有培训意愿未参加培训人员名单",
                "People who want training and have not had it",
            ),
        }
    }

    /// Which present members a roster of members lists: a SQL condition over `h` and `m`.
    fn condition(self, definitions: &Definitions) -> String {
        match self {
            Roster::PoorLabour => definitions.labour_age(),
            Roster::TransferEmployment => employment_status_in(TRANSFER_STATUSES),
            Roster::SelfEmployment => employment_status_in(&[SELF_EMPLOYED]),
            Roster::PublicWelfare => employment_status_in(&[PUBLIC_WELFARE_POST]),
            Roster::Training => trainings::had_training(definitions),
            Roster::FailingHouseholds => format!(
                "{} AND {}",
                definitions.could_work(),
                definitions.failing_household()
            ),
            Roster::Untrained => definitions.untrained(),
        }
    }

    /// The member fields the roster shows after who the member is (`WHO`), each a column
    /// headed by its catalog label unless another is given.
    fn fields(self) -> &'static [(&'static str, Option<&'static str>)] {
        match self {
            Roster::PoorLabour => &[
                ("education", None),
                ("health", None),
                ("labour_capacity", None),
                ("employment.status", None),
                ("employment.not_employed_reason", None),
                ("intent.wants_work", None),
                ("intent.region", None),
                ("intent.trade", None),
                ("intent.wants_training", None),
                ("intent.training_trades", Some("意向培训工种")),
                ("phone", None),
            ],
            Roster::TransferEmployment => &[
                ("employment.status", Some("务工地域")),
                ("employment.channel", None),
                ("employment.employer", None),
                ("employment.place", None),
                ("employment.place_area", Some("就业地")),
                ("employment.trade", None),
                ("employment.start_date", Some("务工开始日期")),
                ("employment.months_worked", None),
                ("employment.monthly_income", None),
                ("employment.contract_signed", None),
                ("employment.social_insurance", None),
                ("employment.labour_brand", None),
                ("phone", None),
            ],
            Roster::SelfEmployment => &[
                ("employment.employer", Some("经营主体名称")),
                ("employment.trade", Some("创业项目")),
                ("employment.place", Some("经营地点")),
                ("employment.start_date", Some("创业时间")),
                ("employment.monthly_income", None),
                ("employment.social_insurance", None),
                ("phone", None),
            ],
            Roster::PublicWelfare => &[
                ("employment.trade", Some("岗位名称")),
                ("employment.employer", Some("用工单位")),
                ("employment.place", None),
                ("employment.start_date", Some("上岗日期")),
                ("employment.months_worked", None),
                ("employment.monthly_income", Some("岗位补贴（元/月）")),
                ("employment.contract_signed", None),
                ("phone", None),
            ],
            Roster::Training => &[("education", None), ("phone", None)],
            Roster::Untrained => &[
                ("education", None),
                ("labour_capacity", None),
                ("employment.status", None),
                ("intent.training_trades", Some("意向培训工种")),
                ("intent.training_model", None),
                ("phone", None),
            ],
            Roster::FailingHouseholds => &[],
        }
    }

    fn columns(self) -> Vec<(Column, Source)> {
        let who = [
            (
                Column::new("序号", "No.", ColumnKind::Number, 6.0),
                Source::Sequence,
            ),
            (
                Column::new("乡镇", "Township", ColumnKind::Text, 12.0),
                Source::Township,
            ),
            (
                Column::new("村", "Village", ColumnKind::Text, 12.0),
                Source::Village,
            ),
            (
                Column::new("户编号", "Household number", ColumnKind::Digits, 20.0),
                Source::HouseholdNumber,
            ),
        ];
        let person = [
            ("name", None),
            ("sex", None),
            ("id_number", None),
            ("birth_date", None),
            ("relation", None),
        ];
        let training = match self {
            Roster::Training => trainings::columns(),
            _ => Vec::new(),
        };
        who.into_iter()
            .chain(
                person
                    .iter()
                    .chain(self.fields())
                    .filter_map(|(name, header)| field_column(Entity::Member, name, *header)),
            )
            .chain(training)
            .collect()
    }
}

/// Members whose employment status is one of `statuses` (constant codes).
fn employment_status_in(statuses: &[&str]) -> String {
    let list: Vec<String> = statuses.iter().map(|code| format!("'{code}'")).collect();
    format!("m.employment_status IN ({})", list.join(", "))
}

/// The employment statuses of transfer employment: work for wages outside farming, by
/// where (01–04), in a poverty-alleviation workshop (05), or flexible (08). Public-welfare
/// posts and self-employment have rosters of their own.
const TRANSFER_STATUSES: &[&str] = &["01", "02", "03", "04", "05", "08"];
const PUBLIC_WELFARE_POST: &str = "06";
const SELF_EMPLOYED: &str = "07";

/// Where a column's cells come from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Sequence,
    Township,
    Village,
    HouseholdNumber,
    Field(&'static str, FieldKind),
    /// A field of the row's training (the training roster's rows are trainings).
    TrainingField(&'static str, FieldKind),
}

/// A field's column: its catalog label (or `header`) and a width for its kind.
fn field_column(
    entity: Entity,
    name: &'static str,
    header: Option<&'static str>,
) -> Option<(Column, Source)> {
    let spec = fields::spec(entity, name)?;
    let (kind, width) = match spec.kind {
        FieldKind::IdNumber => (ColumnKind::Digits, 22.0),
        FieldKind::AreaCode => (ColumnKind::Text, 20.0),
        _ if name == "phone" => (ColumnKind::Digits, 14.0),
        FieldKind::Integer { .. } => (ColumnKind::Number, 10.0),
        FieldKind::Date => (ColumnKind::Text, 12.0),
        FieldKind::Boolean => (ColumnKind::Text, 8.0),
        FieldKind::Codes(_) => (ColumnKind::Text, 20.0),
        FieldKind::Code(_) => (ColumnKind::Text, 14.0),
        _ => (ColumnKind::Text, 16.0),
    };
    let column = Column::new(header.unwrap_or(spec.zh), spec.en, kind, width);
    let source = match entity {
        Entity::Training => Source::TrainingField(spec.name, spec.kind),
        _ => Source::Field(spec.name, spec.kind),
    };
    Some((column, source))
}

/// A roster or list of an area as of `today`, masked unless `sight` reveals.
pub async fn roster(
    db: &Db,
    vault: &Vault,
    roster: Roster,
    area: &AreaCode,
    sight: Sight,
    today: jiff::civil::Date,
) -> Result<Sheet, sqlx::Error> {
    let definitions = Definitions::new(
        area.clone(),
        today,
        definitions::DEFAULT_EMPLOYED_WITHIN_MONTHS,
    );
    let condition = roster.condition(&definitions);
    let members = members::present(db, vault, &definitions, &condition).await?;
    let mut names = areas::names_around(db, area).await?;
    let destinations: Vec<AreaCode> = members
        .iter()
        .filter_map(|member| member.fields.get("employment.place_area"))
        .filter_map(|code| code.as_text().and_then(|code| AreaCode::parse(code).ok()))
        .filter(|code| !names.contains_key(code.as_str()))
        .collect();
    names.extend(areas::names_of(db, &destinations).await?);
    let members = Seen::new(members, sight);
    let (columns, rows, unit) = match roster {
        Roster::FailingHouseholds => {
            let (columns, rows) =
                households::failing(db, &definitions, members.get(), &names).await?;
            (columns, rows, "户")
        }
        Roster::Training => {
            let trainings = trainings::of_area(db, &definitions).await?;
            let columns = roster.columns();
            let rows = members
                .get()
                .iter()
                .flat_map(|member| {
                    let key = (member.household.clone(), member.key.clone());
                    trainings
                        .get(&key)
                        .into_iter()
                        .flatten()
                        .map(move |training| (member, Some(training)))
                })
                .enumerate()
                .map(|(index, (member, training))| row(&columns, index, member, training, &names))
                .collect();
            (without_sources(columns), rows, "条")
        }
        _ => {
            let columns = roster.columns();
            let rows = members
                .get()
                .iter()
                .enumerate()
                .map(|(index, member)| row(&columns, index, member, None, &names))
                .collect();
            (without_sources(columns), rows, "人")
        }
    };
    let name = roster.name();
    Ok(Sheet {
        title: format!("{}{}", area_title(area, &names), name.zh),
        subtitle: subtitle(area, today, rows.len(), unit, sight),
        name: name.zh,
        columns,
        rows,
    })
}

fn without_sources(columns: Vec<(Column, Source)>) -> Vec<Column> {
    columns.into_iter().map(|(column, _)| column).collect()
}

fn row(
    columns: &[(Column, Source)],
    index: usize,
    member: &RosterMember,
    training: Option<&Fields>,
    names: &HashMap<String, String>,
) -> Vec<Cell> {
    columns
        .iter()
        .map(|(_, source)| match source {
            Source::Sequence => Cell::Number(index as i64 + 1),
            Source::Township => Cell::text(
                township_of(&member.village)
                    .map(|code| area_name(&code, names))
                    .unwrap_or_default(),
            ),
            Source::Village => Cell::text(area_name(&member.village, names)),
            Source::HouseholdNumber => Cell::text(member.number.clone()),
            Source::Field(name, FieldKind::AreaCode) => match member.fields.get(name) {
                Some(code) => {
                    let code = code.display();
                    match names.get(&code) {
                        Some(area) => Cell::text(format!("{area}（{code}）")),
                        None => Cell::text(code),
                    }
                }
                None => Cell::Empty,
            },
            Source::Field(name, kind) => field_cell(member.fields.get(name), *kind),
            Source::TrainingField(name, kind) => {
                field_cell(training.and_then(|fields| fields.get(name)), *kind)
            }
        })
        .collect()
}

/// A field's cell: a whole number as a number, anything else as a clerk reads it (codes by
/// their Chinese labels, yes/no as 是/否).
fn field_cell(value: Option<&FieldValue>, kind: FieldKind) -> Cell {
    match value {
        None => Cell::Empty,
        Some(value) => match (kind, value.as_integer()) {
            (FieldKind::Integer { .. }, Some(number)) => Cell::Number(number),
            _ => Cell::text(value.readable(kind).zh),
        },
    }
}

/// The township a village code lies in.
fn township_of(village: &str) -> Option<String> {
    AreaCode::parse(village)
        .ok()
        .and_then(|code| code.parent())
        .map(|code| code.as_str().to_owned())
}

/// An area's name, or its code when the area list lacks it.
fn area_name(code: &str, names: &HashMap<String, String>) -> String {
    names.get(code).cloned().unwrap_or_else(|| code.to_owned())
}

/// The area as a title names it: the county and what lies between it and the area
/// (`临县城庄镇`), or the area's own name above a county.
fn area_title(area: &AreaCode, names: &HashMap<String, String>) -> String {
    let mut chain = vec![area.clone()];
    while let Some(parent) = chain.last().and_then(AreaCode::parent) {
        if parent.as_str().len() < 6 {
            break;
        }
        chain.push(parent);
    }
    chain
        .iter()
        .rev()
        .map(|code| area_name(code.as_str(), names))
        .collect()
}

/// The line under a roster's title: the area's code, the date, how many rows of what, and
/// whether ID numbers are masked.
fn subtitle(
    area: &AreaCode,
    today: jiff::civil::Date,
    count: usize,
    unit: &str,
    sight: Sight,
) -> String {
    let numbers = if sight.reveals() {
        "身份证号码完整显示"
    } else {
        "身份证号码已隐藏部分"
    };
    format!("区划代码 {area}　制表日期 {today}　共 {count} {unit}　{numbers}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_every_roster_goes_by_its_slug() {
        for roster in Roster::ALL {
            assert_eq!(Roster::from_slug(roster.slug()), Some(roster));
        }
        assert_eq!(Roster::from_slug("poor-labour"), None);
    }

    #[test]
    fn test_every_roster_column_is_a_catalog_field_or_who_the_member_is() {
        for roster in Roster::ALL {
            let training = if roster == Roster::Training {
                trainings::FIELDS.len()
            } else {
                0
            };
            assert_eq!(
                roster.columns().len(),
                4 + 5 + roster.fields().len() + training,
                "{roster:?} names a field the catalog lacks"
            );
        }
    }

    #[test]
    fn test_a_title_names_the_county_and_what_lies_below_it() {
        let names: HashMap<String, String> = [
            ("14", "山西省"),
            ("1411", "吕梁市"),
            ("141124", "临县"),
            ("141124100", "临泉镇"),
            ("141124100201", "东关村"),
        ]
        .into_iter()
        .map(|(code, name)| (code.to_owned(), name.to_owned()))
        .collect();
        let area = |code: &str| AreaCode::parse(code).unwrap();
        assert_eq!(
            area_title(&area("141124100201"), &names),
            "临县临泉镇东关村"
        );
        assert_eq!(area_title(&area("141124100"), &names), "临县临泉镇");
        assert_eq!(area_title(&area("141124"), &names), "临县");
        assert_eq!(area_title(&area("1411"), &names), "吕梁市");
    }
}
