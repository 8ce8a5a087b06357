//! The field catalog: every field a household document holds, its path, its kind and its
//! labels. A field path names one field, and it is also the field's key in the document.
//!
//! Paths:
//!
//! | path | entity |
//! |---|---|
//! | `household.<field>` | the household itself |
//! | `members.<member key>.<field>` | one member |
//! | `visits.<record id>.<field>` | one visit |
//! | `trainings.<record id>.<field>` | one training of a member |
//! | `subsidies.<record id>.<field>` | one subsidy of a member |
//! | `photos.<first 16 hex digits of the photo's hash>.<field>` | one photo's reference |
//! | `tasks.<record id>.<field>` | one visit task: something another office's roster says that a visit should check (layout 3) |
//!
//! A `<field>` may itself contain dots (`employment.status`, `gps.lat`).

use crate::codes::{self, CodeList};
use crate::ids::{InvalidId, MemberKey, RecordId};
use crate::message::Message;
use serde::Serialize;
use std::fmt;

/// What a field holds, and so how typed input is read and checked.
#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    /// Free text.
    Text,
    /// One code from any of these lists (the current list first, older ones after).
    Code(&'static [&'static CodeList]),
    /// A set of codes from one list (a multi-select).
    Codes(&'static CodeList),
    /// A whole number within bounds.
    Integer {
        min: i64,
        max: i64,
    },
    /// A decimal number within bounds (GPS coordinates).
    Decimal {
        min: f64,
        max: f64,
    },
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A moment, in seconds since 1970 (UTC).
    Timestamp,
    /// A resident ID number.
    IdNumber,
    /// An administrative area code (GB/T 2260 and the statistical division codes: 2, 4, 6,
    /// 9 or 12 digits), for places the reports count by area.
    AreaCode,
}

/// The kinds of record a household document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Household,
    Member,
    Visit,
    Training,
    Subsidy,
    /// A photo's reference (layout 3): the photo itself lives outside the document, stored
    /// by its hash (`schema::photo`).
    Photo,
    Task,
}

impl Entity {
    /// The first segment of this entity's paths.
    pub fn prefix(self) -> &'static str {
        match self {
            Entity::Household => "household",
            Entity::Member => "members",
            Entity::Visit => "visits",
            Entity::Training => "trainings",
            Entity::Subsidy => "subsidies",
            Entity::Photo => "photos",
            Entity::Task => "tasks",
        }
    }

    /// Every entity, the household first.
    pub const ALL: [Entity; 7] = [
        Entity::Household,
        Entity::Member,
        Entity::Visit,
        Entity::Training,
        Entity::Subsidy,
        Entity::Photo,
        Entity::Task,
    ];

    fn from_prefix(prefix: &str) -> Option<Entity> {
        Entity::ALL
            .into_iter()
            .find(|entity| entity.prefix() == prefix)
    }

    /// Whether records of this entity are keyed (all but the household itself).
    pub fn is_keyed(self) -> bool {
        self != Entity::Household
    }
}

/// One field of the catalog.
#[derive(Debug)]
pub struct FieldSpec {
    pub entity: Entity,
    /// The field's name within its record, e.g. `employment.status`.
    pub name: &'static str,
    pub kind: FieldKind,
    pub zh: &'static str,
    pub en: &'static str,
    /// Set by the system when the record is created, never typed by a volunteer.
    pub system: bool,
    /// Sensitive personal information (DOMAIN.md, Privacy; PIPL art. 28): shown masked unless
    /// the reader's role reveals it, and kept out of what the server stores in the clear.
    pub sensitive: bool,
    /// The layout version that added the field (`docs/LAYOUT.md`, Layout versions): a
    /// device on an older layout keeps it as a key it does not know.
    pub since: u64,
}

impl FieldSpec {
    pub fn label(&self) -> Message {
        Message::new(self.zh, self.en)
    }
}

const fn field(
    entity: Entity,
    name: &'static str,
    kind: FieldKind,
    zh: &'static str,
    en: &'static str,
) -> FieldSpec {
    FieldSpec {
        entity,
        name,
        kind,
        zh,
        en,
        system: false,
        sensitive: false,
        since: 1,
    }
}

const fn system(
    entity: Entity,
    name: &'static str,
    kind: FieldKind,
    zh: &'static str,
    en: &'static str,
) -> FieldSpec {
    FieldSpec {
        entity,
        name,
        kind,
        zh,
        en,
        system: true,
        sensitive: false,
        since: 1,
    }
}

/// A field added by layout 2: what the subsidy rules and the reports by area need.
const fn layout_2(spec: FieldSpec) -> FieldSpec {
    FieldSpec { since: 2, ..spec }
}

/// A field added by layout 3: a photo's reference, or a visit task (`crate::tasks`, ADR 0010).
const fn layout_3(spec: FieldSpec) -> FieldSpec {
    FieldSpec { since: 3, ..spec }
}

/// A field marked as sensitive personal information.
const fn sensitive(spec: FieldSpec) -> FieldSpec {
    FieldSpec {
        sensitive: true,
        ..spec
    }
}

use Entity::{
    Household as H, Member as M, Photo as P, Subsidy as S, Task as K, Training as T, Visit as V,
};
use FieldKind::{
    AreaCode, Boolean, Code, Codes, Date, Decimal, IdNumber, Integer, Text, Timestamp,
};

const LATITUDE: FieldKind = Decimal {
    min: -90.0,
    max: 90.0,
};
const LONGITUDE: FieldKind = Decimal {
    min: -180.0,
    max: 180.0,
};
/// Monthly incomes and subsidy amounts, in whole yuan.
const YUAN: FieldKind = Integer {
    min: 0,
    max: 1_000_000,
};

/// A photo's size, in bytes, up to what a server accepts.
const PHOTO_BYTES: FieldKind = Integer {
    min: 1,
    max: crate::photo::MAX_PHOTO_BYTES as i64,
};

/// Every field of a household document.
pub static CATALOG: &[FieldSpec] = &[
    system(H, "id", Text, "户标识", "Household id"),
    system(H, "village", Text, "所在村", "Village code"),
    system(H, "created_at", Timestamp, "建档时间", "Created at"),
    // Set by county staff when this household turned out to duplicate another: the id of the
    // household it was merged into. The document stays, with its history, as a tombstone.
    system(H, "merged_into", Text, "已合并到", "Merged into"),
    field(H, "number", Text, "户编号", "Household number"),
    field(H, "address", Text, "住址", "Address"),
    field(H, "phone", Text, "联系电话", "Phone"),
    field(H, "gps.lat", LATITUDE, "纬度", "Latitude"),
    field(H, "gps.lon", LONGITUDE, "经度", "Longitude"),
    sensitive(field(
        H,
        "poverty_attribute",
        Code(&[
            &codes::POVERTY_ATTRIBUTE_EXTENDED,
            &codes::POVERTY_ATTRIBUTE,
        ]),
        "贫困户属性",
        "Poverty attribute",
    )),
    sensitive(field(
        H,
        "causes",
        Codes(&codes::POVERTY_CAUSE),
        "致贫原因",
        "Causes of poverty",
    )),
    sensitive(field(
        H,
        "exit_status",
        Code(&[&codes::EXIT_STATUS]),
        "脱贫标志",
        "Exit status",
    )),
    field(
        H,
        "follow_up_needs",
        Codes(&codes::FOLLOW_UP_NEED),
        "跟踪服务需求",
        "Follow-up needs",
    ),
    field(M, "name", Text, "姓名", "Name"),
    sensitive(field(
        M,
        "id_number",
        IdNumber,
        "身份证号码",
        "Resident ID number",
    )),
    field(M, "sex", Code(&[&codes::SEX]), "性别", "Sex"),
    field(M, "birth_date", Date, "出生日期", "Birth date"),
    field(
        M,
        "relation",
        Code(&[&codes::RELATION]),
        "与户主关系",
        "Relation to head",
    ),
    field(
        M,
        "ethnicity",
        Code(&[&codes::ETHNICITY]),
        "民族",
        "Ethnicity",
    ),
    field(
        M,
        "education",
        Code(&[&codes::EDUCATION]),
        "文化程度",
        "Education",
    ),
    field(
        M,
        "in_school",
        Code(&[&codes::IN_SCHOOL]),
        "在校生状况",
        "In-school status",
    ),
    sensitive(field(
        M,
        "health",
        Codes(&codes::HEALTH),
        "健康状况",
        "Health",
    )),
    field(
        M,
        "labour_capacity",
        Code(&[&codes::LABOUR_CAPACITY, &codes::LABOUR_CAPACITY_2016]),
        "劳动技能",
        "Labour capacity",
    ),
    field(M, "phone", Text, "联系电话", "Phone"),
    // Older documents mark a member who left with this flag; `status` says how and when,
    // and wins when both are set (`layout::member_status`).
    field(
        M,
        "left_household",
        Boolean,
        "已不在本户",
        "No longer in the household",
    ),
    field(
        M,
        "status",
        Code(&[&codes::MEMBER_STATUS]),
        "在户状态",
        "Member status",
    ),
    field(M, "left_on", Date, "迁出或死亡日期", "Moved out or died on"),
    // As typed, since layout 1; layout 2 adds the place's area code beside it, which the
    // reports count by. Neither replaces the other: an older phone still writes the text.
    field(M, "moved_to", Text, "迁往何处", "Moved to"),
    layout_2(field(
        M,
        "moved_to_area",
        AreaCode,
        "迁往地区划代码",
        "Moved to (area code)",
    )),
    field(
        M,
        "employment.status",
        Code(&[&codes::EMPLOYMENT_STATUS]),
        "就业状态",
        "Employment status",
    ),
    field(M, "employment.employer", Text, "就业单位", "Employer"),
    field(M, "employment.place", Text, "就业地点", "Place of work"),
    layout_2(field(
        M,
        "employment.place_area",
        AreaCode,
        "就业地区划代码",
        "Place of work (area code)",
    )),
    layout_2(field(
        M,
        "employment.channel",
        Code(&[&codes::JOB_CHANNEL]),
        "就业渠道",
        "Job channel",
    )),
    field(M, "employment.trade", Text, "从事工种", "Trade"),
    field(
        M,
        "employment.start_date",
        Date,
        "就业开始日期",
        "Started on",
    ),
    field(
        M,
        "employment.months_worked",
        Integer { min: 0, max: 12 },
        "本年务工月数",
        "Months worked this year",
    ),
    field(
        M,
        "employment.monthly_income",
        YUAN,
        "月收入（元）",
        "Monthly income (yuan)",
    ),
    field(
        M,
        "employment.contract_signed",
        Boolean,
        "签订劳动合同",
        "Contract signed",
    ),
    field(
        M,
        "employment.social_insurance",
        Boolean,
        "参加社会保险",
        "Enrolled in social insurance",
    ),
    field(
        M,
        "employment.labour_brand",
        Code(&[&codes::LABOUR_BRAND]),
        "劳务品牌",
        "Labour brand",
    ),
    field(
        M,
        "employment.not_employed_reason",
        Code(&[&codes::NOT_EMPLOYED_REASON]),
        "未就业原因",
        "Reason not employed",
    ),
    field(M, "intent.wants_work", Boolean, "就业意愿", "Wants work"),
    field(
        M,
        "intent.region",
        Code(&[&codes::PREFERRED_REGION]),
        "意向就业地区",
        "Preferred region",
    ),
    field(M, "intent.trade", Text, "意向工种", "Preferred trade"),
    field(
        M,
        "intent.expected_income",
        YUAN,
        "期望月收入（元）",
        "Expected monthly income (yuan)",
    ),
    field(
        M,
        "intent.wants_training",
        Boolean,
        "培训意愿",
        "Wants training",
    ),
    field(
        M,
        "intent.training_trades",
        Text,
        "意向培训工种（最多三项，以逗号分隔）",
        "Training trades wanted (up to three, comma-separated)",
    ),
    field(
        M,
        "intent.training_model",
        Code(&[&codes::TRAINING_MODEL]),
        "意向培训模式",
        "Preferred training model",
    ),
    system(V, "volunteer", Text, "走访人", "Volunteer"),
    system(V, "device", Text, "设备", "Device"),
    system(V, "started_at", Timestamp, "开始时间", "Started at"),
    field(V, "finished_at", Timestamp, "结束时间", "Finished at"),
    field(
        V,
        "outcome",
        Code(&[&codes::VISIT_OUTCOME]),
        "走访结果",
        "Outcome",
    ),
    field(V, "notes", Text, "备注", "Notes"),
    field(V, "gps.lat", LATITUDE, "纬度", "Latitude"),
    field(V, "gps.lon", LONGITUDE, "经度", "Longitude"),
    field(T, "member", Text, "培训人员", "Trainee (member key)"),
    field(T, "institution", Text, "培训机构", "Institution"),
    field(T, "trade", Text, "培训工种", "Trade"),
    field(
        T,
        "model",
        Code(&[&codes::TRAINING_MODEL]),
        "培训模式",
        "Training model",
    ),
    field(T, "start_date", Date, "开始日期", "Start date"),
    field(T, "end_date", Date, "结束日期", "End date"),
    field(T, "completed", Boolean, "已结业", "Completed"),
    field(
        T,
        "certificate",
        Code(&[&codes::SKILL_LEVEL]),
        "证书/技能鉴定等级",
        "Certificate or skill level",
    ),
    field(
        T,
        "employed_on",
        Date,
        "培训后就业日期",
        "Employed after training on",
    ),
    field(S, "member", Text, "享受人员", "Recipient (member key)"),
    field(
        S,
        "kind",
        Code(&[&codes::SUBSIDY_KIND]),
        "补贴类别",
        "Subsidy kind",
    ),
    field(
        S,
        "year",
        Integer {
            min: 2016,
            max: 2100,
        },
        "年度",
        "Year",
    ),
    field(S, "amount", YUAN, "金额（元）", "Amount (yuan)"),
    // What the social insurance subsidy's rules need (policy §五(十三)): the insurance, the
    // monthly contribution base chosen (at least 40% of the provincial average wage) and
    // what the person paid that year (the subsidy is at most two thirds of it).
    layout_2(field(
        S,
        "insurance_type",
        Code(&[&codes::INSURANCE_TYPE]),
        "险种",
        "Insurance type",
    )),
    layout_2(field(
        S,
        "contribution_base",
        YUAN,
        "缴费基数（元/月）",
        "Contribution base (yuan a month)",
    )),
    layout_2(field(
        S,
        "contribution",
        YUAN,
        "本人年度实际缴费（元）",
        "Own contribution paid that year (yuan)",
    )),
    field(
        S,
        "status",
        Code(&[&codes::SUBSIDY_STATUS]),
        "状态",
        "Status",
    ),
    // A photo's reference, written once by the phone that attached it; its key is the first
    // 16 hex digits of the hash, so the same photo attached on two phones is one entry.
    layout_3(field(P, "hash", Text, "照片哈希", "Photo hash (SHA-256)")),
    layout_3(field(
        P,
        "kind",
        Code(&[&codes::PHOTO_KIND]),
        "照片类别",
        "Photo kind",
    )),
    layout_3(field(
        P,
        "bytes",
        PHOTO_BYTES,
        "照片大小（字节）",
        "Photo size (bytes)",
    )),
    layout_3(field(P, "taken_at", Timestamp, "拍摄时间", "Taken at")),
    // What the photo belongs to: `household`, or a record's prefix (`members.<key>`,
    // `visits.<id>`, `trainings.<id>`, `subsidies.<id>`).
    layout_3(field(P, "of", Text, "所属记录", "Attached to")),
    // A visit task (ADR 0010). The server opens it, settles it and closes it for county
    // staff; a phone writes only `status` (to mark it checked) and `note`, which screening
    // enforces. `field` names the field whose value settles it, `settles_with` the values
    // that agree with the other roster (`|` between them).
    layout_3(system(
        K,
        "member",
        Text,
        "核实人员",
        "Member to check (member key)",
    )),
    layout_3(system(
        K,
        "check.zh",
        Text,
        "核实事项",
        "What to check (Chinese)",
    )),
    layout_3(system(
        K,
        "check.en",
        Text,
        "核实事项（英文）",
        "What to check",
    )),
    layout_3(system(
        K,
        "field",
        Text,
        "核实字段",
        "Field that settles it",
    )),
    layout_3(system(
        K,
        "settles_with",
        Text,
        "与比对一致的值",
        "Values that agree",
    )),
    layout_3(system(
        K,
        "other_says",
        Text,
        "比对信息",
        "What the other roster says",
    )),
    layout_3(system(
        K,
        "source",
        Text,
        "比对来源",
        "Roster it comes from",
    )),
    // Set on a task the comparison opened: the mismatch's id. Such a task also settles when
    // the comparison no longer finds its mismatch (a newer roster, or the ledger corrected).
    layout_3(system(K, "mismatch", Text, "比对项标识", "Mismatch id")),
    layout_3(system(K, "opened_at", Timestamp, "下发时间", "Opened at")),
    layout_3(field(
        K,
        "status",
        Code(&[&codes::TASK_STATUS]),
        "核实状态",
        "Task status",
    )),
    layout_3(field(K, "note", Text, "核实说明", "Note")),
    layout_3(system(K, "closed_at", Timestamp, "办结时间", "Closed at")),
    layout_3(system(K, "closed_by", Text, "办结人", "Closed by")),
];

/// Looks a field up by entity and name.
pub fn spec(entity: Entity, name: &str) -> Option<&'static FieldSpec> {
    CATALOG
        .iter()
        .find(|spec| spec.entity == entity && spec.name == name)
}

/// A parsed field path: which record, and which field of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath {
    pub entity: Entity,
    /// The member key or record id; empty for the household itself.
    pub key: String,
    pub name: &'static str,
}

/// Why a field path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message.en)]
pub struct InvalidPath {
    pub message: Message,
}

impl From<InvalidId> for InvalidPath {
    fn from(err: InvalidId) -> Self {
        InvalidPath {
            message: err.message,
        }
    }
}

impl FieldPath {
    pub fn household(name: &str) -> Result<FieldPath, InvalidPath> {
        FieldPath::new(Entity::Household, "", name)
    }

    pub fn member(key: &MemberKey, name: &str) -> Result<FieldPath, InvalidPath> {
        FieldPath::new(Entity::Member, key.as_str(), name)
    }

    pub fn record(entity: Entity, id: &RecordId, name: &str) -> Result<FieldPath, InvalidPath> {
        FieldPath::new(entity, id.as_str(), name)
    }

    fn new(entity: Entity, key: &str, name: &str) -> Result<FieldPath, InvalidPath> {
        let spec = spec(entity, name).ok_or_else(|| unknown_field(entity, name))?;
        Ok(FieldPath {
            entity,
            key: key.to_owned(),
            name: spec.name,
        })
    }

    /// Parses a path such as `members.<key>.employment.status`.
    pub fn parse(input: &str) -> Result<FieldPath, InvalidPath> {
        let path = input.trim();
        let (prefix, rest) = path.split_once('.').ok_or_else(|| bad_shape(path))?;
        let entity = Entity::from_prefix(prefix).ok_or_else(|| bad_shape(path))?;
        if !entity.is_keyed() {
            return FieldPath::household(rest);
        }
        let (key, name) = rest.split_once('.').ok_or_else(|| bad_shape(path))?;
        if entity == Entity::Member {
            MemberKey::parse(key)?;
        } else {
            RecordId::parse(key)?;
        }
        FieldPath::new(entity, key, name)
    }

    pub fn spec(&self) -> &'static FieldSpec {
        spec(self.entity, self.name).expect("a FieldPath is only built from a catalog entry")
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entity.is_keyed() {
            write!(f, "{}.{}.{}", self.entity.prefix(), self.key, self.name)
        } else {
            write!(f, "{}.{}", self.entity.prefix(), self.name)
        }
    }
}

fn bad_shape(path: &str) -> InvalidPath {
    InvalidPath {
        message: Message::new(
            format!(
                "字段路径“{path}”格式不对：应为 household.<字段>、members.<成员标识>.<字段>、visits.<记录标识>.<字段>、trainings.<记录标识>.<字段>、subsidies.<记录标识>.<字段>、photos.<照片标识>.<字段> 或 tasks.<记录标识>.<字段>"
            ),
            format!(
                "Malformed field path \"{path}\": expected household.<field>, members.<key>.<field>, visits.<id>.<field>, trainings.<id>.<field>, subsidies.<id>.<field>, photos.<id>.<field> or tasks.<id>.<field>"
            ),
        ),
    }
}

fn unknown_field(entity: Entity, name: &str) -> InvalidPath {
    let known: Vec<&str> = CATALOG
        .iter()
        .filter(|spec| spec.entity == entity)
        .map(|spec| spec.name)
        .collect();
    InvalidPath {
        message: Message::new(
            format!(
                "“{}”下没有字段“{name}”。可用字段：{}",
                entity.prefix(),
                known.join("、")
            ),
            format!(
                "\"{}\" has no field \"{name}\". Known fields: {}",
                entity.prefix(),
                known.join(", ")
            ),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn test_paths_round_trip_through_display() {
        for input in [
            "household.address",
            "household.gps.lat",
            "members.0a1b2c.employment.status",
            "visits.ff00.outcome",
            "trainings.ab12.end_date",
            "subsidies.cd34.amount",
            "tasks.ef56.check.zh",
        ] {
            assert_eq!(FieldPath::parse(input).unwrap().to_string(), input);
        }
    }

    #[test]
    fn test_unknown_field_names_the_known_ones() {
        let err = FieldPath::parse("members.abc.employment.salary").unwrap_err();
        assert!(err.message.en.contains("employment.status"));
        assert!(err.message.zh.contains("没有字段"));
    }

    #[test]
    fn test_malformed_paths_are_refused() {
        for bad in [
            "",
            "address",
            "people.abc.name",
            "members.name",
            "members.ABC.name",
            "members..name",
        ] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_catalog_names_are_unique_per_entity() {
        let mut seen = HashSet::new();
        for spec in CATALOG {
            assert!(seen.insert((spec.entity, spec.name)), "{}", spec.name);
            assert!(!spec.zh.is_empty() && !spec.en.is_empty());
        }
    }

    #[test]
    fn test_no_multi_select_field_is_a_prefix_of_another_field() {
        // A multi-select stores one document key per code under its own path, so no other
        // field may live under that path.
        for set in CATALOG
            .iter()
            .filter(|spec| matches!(spec.kind, FieldKind::Codes(_)))
        {
            let prefix = format!("{}.", set.name);
            assert!(
                !CATALOG
                    .iter()
                    .any(|spec| spec.entity == set.entity && spec.name.starts_with(&prefix))
            );
        }
    }
}
