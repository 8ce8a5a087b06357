//! The four kinds of imported roster, the fields each carries, and the columns a file's
//! header maps to them.

use schema::Message;
use schema::codes::{self, CodeList};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A roster another office keeps, keyed by ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterKind {
    /// 户籍 base list, from the public security registry (each January).
    Registry,
    /// 社保参保, social insurance enrolment.
    SocialInsurance,
    /// 就业登记, employment registration.
    EmploymentRegistration,
    /// 培训结业, training completion.
    TrainingCompletion,
}

/// What a roster's column holds, and so how each cell is checked.
#[derive(Debug, Clone, Copy)]
pub enum ColumnKind {
    IdNumber,
    Text,
    Date,
    Code(&'static CodeList),
    /// A 12-digit village code.
    Village,
}

/// One field of a roster kind.
#[derive(Debug, Clone, Copy)]
pub struct RosterField {
    /// The field's name in mappings, stored rows and the API.
    pub name: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub kind: ColumnKind,
    pub required: bool,
    /// Other headers offices use for it, read as this field when no mapping names one.
    pub aliases: &'static [&'static str],
}

const fn field(
    name: &'static str,
    zh: &'static str,
    en: &'static str,
    kind: ColumnKind,
    required: bool,
    aliases: &'static [&'static str],
) -> RosterField {
    RosterField {
        name,
        zh,
        en,
        kind,
        required,
        aliases,
    }
}

/// What every kind carries: who the row is, and where they live when the office knows.
const ID_NUMBER: RosterField = field(
    "id_number",
    "身份证号码",
    "ID number",
    ColumnKind::IdNumber,
    true,
    &["身份证号", "公民身份号码", "证件号码", "id_number"],
);
const NAME: RosterField = field("name", "姓名", "Name", ColumnKind::Text, true, &["name"]);
const SEX: RosterField = field(
    "sex",
    "性别",
    "Sex",
    ColumnKind::Code(&codes::SEX),
    false,
    &["sex"],
);
const VILLAGE: RosterField = field(
    "village",
    "村代码",
    "Village code",
    ColumnKind::Village,
    false,
    &["行政区划代码", "村（居）代码", "village"],
);

const REGISTRY: &[RosterField] = &[
    ID_NUMBER,
    NAME,
    SEX,
    VILLAGE,
    field(
        "status",
        "户籍状态",
        "Registry status",
        ColumnKind::Code(&codes::MEMBER_STATUS),
        true,
        &["人员状态", "status"],
    ),
    field(
        "left_on",
        "变动日期",
        "Changed on",
        ColumnKind::Date,
        false,
        &["迁出日期", "死亡日期", "left_on"],
    ),
];

const SOCIAL_INSURANCE: &[RosterField] = &[
    ID_NUMBER,
    NAME,
    SEX,
    VILLAGE,
    field(
        "employer",
        "参保单位",
        "Employer",
        ColumnKind::Text,
        true,
        &["单位名称", "employer"],
    ),
    field(
        "insured_since",
        "参保日期",
        "Insured since",
        ColumnKind::Date,
        false,
        &["参保时间", "insured_since"],
    ),
];

const EMPLOYMENT_REGISTRATION: &[RosterField] = &[
    ID_NUMBER,
    NAME,
    SEX,
    VILLAGE,
    field(
        "employment_status",
        "就业状态",
        "Employment status",
        ColumnKind::Code(&codes::EMPLOYMENT_STATUS),
        true,
        &["就业类型", "employment_status"],
    ),
    field(
        "employer",
        "就业单位",
        "Employer",
        ColumnKind::Text,
        false,
        &["单位名称", "employer"],
    ),
    field(
        "registered_on",
        "登记日期",
        "Registered on",
        ColumnKind::Date,
        false,
        &["registered_on"],
    ),
];

const TRAINING_COMPLETION: &[RosterField] = &[
    ID_NUMBER,
    NAME,
    SEX,
    VILLAGE,
    field(
        "certificate",
        "证书等级",
        "Certificate",
        ColumnKind::Code(&codes::SKILL_LEVEL),
        true,
        &["证书/技能鉴定等级", "技能鉴定等级", "certificate"],
    ),
    field(
        "institution",
        "培训机构",
        "Institution",
        ColumnKind::Text,
        false,
        &["institution"],
    ),
    field(
        "trade",
        "培训工种",
        "Trade",
        ColumnKind::Text,
        false,
        &["工种", "trade"],
    ),
    field(
        "completed_on",
        "结业日期",
        "Completed on",
        ColumnKind::Date,
        false,
        &["completed_on"],
    ),
];

impl RosterKind {
    pub const ALL: [RosterKind; 4] = [
        RosterKind::Registry,
        RosterKind::SocialInsurance,
        RosterKind::EmploymentRegistration,
        RosterKind::TrainingCompletion,
    ];

    /// The kind's name in URLs, the CLI and the database.
    pub fn slug(self) -> &'static str {
        match self {
            RosterKind::Registry => "registry",
            RosterKind::SocialInsurance => "social_insurance",
            RosterKind::EmploymentRegistration => "employment_registration",
            RosterKind::TrainingCompletion => "training_completion",
        }
    }

    pub fn from_slug(text: &str) -> Option<RosterKind> {
        let text = text.trim().replace('-', "_");
        RosterKind::ALL.into_iter().find(|kind| kind.slug() == text)
    }

    /// The kind as a person reads it.
    pub fn label(self) -> Message {
        match self {
            RosterKind::Registry => Message::new("户籍人口底册", "Household registry base list"),
            RosterKind::SocialInsurance => {
                Message::new("社保参保名册", "Social insurance enrolment")
            }
            RosterKind::EmploymentRegistration => {
                Message::new("就业登记名册", "Employment registration")
            }
            RosterKind::TrainingCompletion => Message::new("培训结业名册", "Training completion"),
        }
    }

    /// The refusal of a kind this server does not know, naming the ones it does.
    pub fn unknown(text: &str) -> Message {
        let known = RosterKind::ALL.map(RosterKind::slug).join(", ");
        Message::new(
            format!("没有“{text}”这种名册；可用：{known}"),
            format!("No roster kind \"{text}\"; the kinds are: {known}"),
        )
    }

    /// The fields a roster of this kind carries, the required ones first.
    pub fn fields(self) -> &'static [RosterField] {
        match self {
            RosterKind::Registry => REGISTRY,
            RosterKind::SocialInsurance => SOCIAL_INSURANCE,
            RosterKind::EmploymentRegistration => EMPLOYMENT_REGISTRATION,
            RosterKind::TrainingCompletion => TRAINING_COMPLETION,
        }
    }

    pub fn field(self, name: &str) -> Option<&'static RosterField> {
        self.fields().iter().find(|field| field.name == name)
    }
}

/// Which header each field is read from: field name → header text, as the clerk mapped it.
pub type Mapping = BTreeMap<String, String>;

/// One `--map` pair as the clerk wrote it, `field=header` or `header=field`: whichever side
/// names a field of `kind` is the field.
pub fn mapping_pair(kind: RosterKind, text: &str) -> Result<(String, String), Message> {
    let refused = || {
        let known: Vec<&str> = kind.fields().iter().map(|f| f.name).collect();
        Message::new(
            format!(
                "列对应“{text}”应写成 列名=字段 或 字段=列名，字段为：{}",
                known.join(", ")
            ),
            format!(
                "The mapping \"{text}\" should read header=field or field=header, the fields \
                 being: {}",
                known.join(", ")
            ),
        )
    };
    let (left, right) = text.split_once('=').ok_or_else(refused)?;
    let (left, right) = (left.trim(), right.trim());
    if left.is_empty() || right.is_empty() {
        return Err(refused());
    }
    if kind.field(left).is_some() {
        Ok((left.to_owned(), right.to_owned()))
    } else if kind.field(right).is_some() {
        Ok((right.to_owned(), left.to_owned()))
    } else {
        Err(refused())
    }
}

/// The column of each field in a file whose header row is `headers`: the clerk's mapping
/// first, then a header that is the field's Chinese label, name or a known alias. A mapped
/// header the file lacks, a field the kind lacks, or a required field found nowhere is
/// refused, naming the headers the file has.
pub fn columns(
    kind: RosterKind,
    mapping: &Mapping,
    headers: &[String],
) -> Result<BTreeMap<&'static str, usize>, Message> {
    let position = |header: &str| headers.iter().position(|h| h.trim() == header.trim());
    let found = headers.join("、");
    let mut columns = BTreeMap::new();
    for (name, header) in mapping {
        let Some(field) = kind.field(name) else {
            let known: Vec<&str> = kind.fields().iter().map(|f| f.name).collect();
            return Err(Message::new(
                format!(
                    "{}没有字段“{name}”；可用：{}",
                    kind.label().zh,
                    known.join(", ")
                ),
                format!(
                    "A {} has no field \"{name}\"; its fields are: {}",
                    kind.label().en,
                    known.join(", ")
                ),
            ));
        };
        let Some(column) = position(header) else {
            return Err(Message::new(
                format!("文件中没有列“{header}”（{}）；文件的列：{found}", field.zh),
                format!(
                    "The file has no column \"{header}\" ({}); its columns are: {found}",
                    field.en
                ),
            ));
        };
        columns.insert(field.name, column);
    }
    for field in kind.fields() {
        if columns.contains_key(field.name) {
            continue;
        }
        let guessed = std::iter::once(field.zh)
            .chain(std::iter::once(field.name))
            .chain(field.aliases.iter().copied())
            .find_map(position);
        match guessed {
            Some(column) => {
                columns.insert(field.name, column);
            }
            None if field.required => {
                return Err(Message::new(
                    format!(
                        "找不到“{}”列：请指定它对应文件中的哪一列（如 {}=列名）；文件的列：{found}",
                        field.zh, field.name
                    ),
                    format!(
                        "No column for \"{}\": name the file's column for it (as {}=header); \
                         the file's columns are: {found}",
                        field.en, field.name
                    ),
                ));
            }
            None => {}
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn kinds_read_back_from_their_slugs() {
        for kind in RosterKind::ALL {
            assert_eq!(RosterKind::from_slug(kind.slug()), Some(kind));
        }
        assert_eq!(
            RosterKind::from_slug("social-insurance"),
            Some(RosterKind::SocialInsurance)
        );
        assert_eq!(RosterKind::from_slug("rosters"), None);
    }

    #[test]
    fn a_mapping_pair_reads_either_way_round() {
        let kind = RosterKind::SocialInsurance;
        let pair = ("employer".to_owned(), "缴费单位".to_owned());
        assert_eq!(mapping_pair(kind, "employer=缴费单位"), Ok(pair.clone()));
        assert_eq!(mapping_pair(kind, "缴费单位 = employer"), Ok(pair));
        assert!(mapping_pair(kind, "缴费单位=单位").is_err());
        assert!(mapping_pair(kind, "employer").is_err());
    }

    #[test]
    fn headers_that_are_labels_or_aliases_need_no_mapping() {
        let found = columns(
            RosterKind::SocialInsurance,
            &Mapping::new(),
            &headers(&["序号", "姓名", "公民身份号码", "单位名称"]),
        )
        .expect("mapped");
        assert_eq!(found["name"], 1);
        assert_eq!(found["id_number"], 2);
        assert_eq!(found["employer"], 3);
        assert!(!found.contains_key("sex"));
    }

    #[test]
    fn the_clerks_mapping_wins_and_a_missing_required_column_is_named() {
        let mut mapping = Mapping::new();
        mapping.insert("employer".into(), "缴费单位".into());
        let found = columns(
            RosterKind::SocialInsurance,
            &mapping,
            &headers(&["姓名", "身份证号码", "缴费单位"]),
        )
        .expect("mapped");
        assert_eq!(found["employer"], 2);
        let refused = columns(
            RosterKind::SocialInsurance,
            &Mapping::new(),
            &headers(&["姓名", "身份证号码", "缴费单位"]),
        )
        .expect_err("no employer column");
        assert!(refused.zh.contains("参保单位"), "{refused}");
        assert!(refused.en.contains("缴费单位"), "{refused}");
        mapping.insert("salary".into(), "工资".into());
        assert!(columns(RosterKind::SocialInsurance, &mapping, &headers(&["工资"])).is_err());
    }
}
