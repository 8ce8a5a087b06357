//! Every code list of the ledger as data: each code with its Chinese and English label.
//!
//! Where a national 建档立卡 or GB list exists, the codes are that list's; where none was
//! found the list is marked `proposed`, so it can be replaced without touching the code that
//! reads it. Rules that depend on a code's meaning (who counts as employed, who cannot work)
//! are slices kept next to their list, never literals scattered through validation.

use crate::message::Message;
use serde::Serialize;

/// One value of a code list: the stored code and the labels people read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Code {
    /// The value stored in records and exchanged with other systems.
    pub code: &'static str,
    /// The Chinese label, as printed on forms and rosters.
    pub zh: &'static str,
    /// The English label.
    pub en: &'static str,
}

/// A named list of codes. The order of `codes` is the order to show them in.
#[derive(Debug, Serialize)]
pub struct CodeList {
    /// Stable machine name, e.g. `"employment_status"`.
    pub name: &'static str,
    /// The list's title in Chinese, e.g. 就业状态.
    pub zh: &'static str,
    /// The list's title in English, e.g. "Employment status".
    pub en: &'static str,
    /// The codes, in display order.
    pub codes: &'static [Code],
    /// True where no authoritative list was found and these codes are our proposal.
    pub proposed: bool,
}

impl CodeList {
    /// The entry for `code`, if the list has it.
    pub fn get(&self, code: &str) -> Option<&'static Code> {
        self.codes.iter().find(|c| c.code == code)
    }

    /// Whether `code` is a value of this list.
    pub fn contains(&self, code: &str) -> bool {
        self.get(code).is_some()
    }

    /// The label of `code` in both languages, if the list has it.
    pub fn label(&self, code: &str) -> Option<Message> {
        self.get(code).map(|c| Message::new(c.zh, c.en))
    }
}

/// Writes a slice of [`Code`]s one per line, `"code" => "中文", "English";`, so the lists
/// read as tables (rustfmt would spread each struct literal over five lines).
macro_rules! codes {
    ($($code:literal => $zh:literal, $en:literal;)*) => {
        &[$(Code { code: $code, zh: $zh, en: $en }),*]
    };
}

/// 性别, GB/T 2261.1. Only the two values an ID number can carry; the standard's
/// 0 (unknown) and 9 (unstated) never apply to a registered person.
pub static SEX: CodeList = CodeList {
    name: "sex",
    zh: "性别",
    en: "Sex",
    codes: codes![
        "1" => "男", "Male";
        "2" => "女", "Female";
    ],
    proposed: false,
};

/// 贫困户属性, the 建档立卡 household poverty attribute as the registry first used it.
pub static POVERTY_ATTRIBUTE: CodeList = CodeList {
    name: "poverty_attribute",
    zh: "贫困户属性",
    en: "Poverty attribute",
    codes: codes![
        "01" => "一般贫困户", "Ordinary poor household";
        "02" => "低保贫困户", "Poor household on minimum living allowance";
        "03" => "特困供养贫困户", "Poor household under extreme-poverty support";
    ],
    proposed: false,
};

/// 贫困户属性 as later systems extend it: the three original values plus 04–09.
///
/// **Proposed**: codes 04–09 are provisional. No authoritative copy of the longer list was
/// found, so their numbering must be checked against the registry export before use.
pub static POVERTY_ATTRIBUTE_EXTENDED: CodeList = CodeList {
    name: "poverty_attribute_extended",
    zh: "贫困户属性（扩展）",
    en: "Poverty attribute (extended)",
    codes: codes![
        "01" => "一般贫困户", "Ordinary poor household";
        "02" => "低保贫困户", "Poor household on minimum living allowance";
        "03" => "特困供养贫困户", "Poor household under extreme-poverty support";
        "04" => "低保户", "Minimum living allowance household";
        "05" => "特困供养户", "Extreme-poverty support household";
        "06" => "一般农户", "Ordinary rural household";
        "07" => "脱贫户", "Household lifted out of poverty";
        "08" => "边缘易致贫户", "Household on the edge of poverty";
        "09" => "突发严重困难户", "Household in sudden severe hardship";
    ],
    proposed: true,
};

/// 致贫原因, causes of poverty. Multi-select: a household records any number of these.
pub static POVERTY_CAUSE: CodeList = CodeList {
    name: "poverty_cause",
    zh: "致贫原因",
    en: "Cause of poverty",
    codes: codes![
        "01" => "因病", "Illness";
        "02" => "因残", "Disability";
        "03" => "因学", "Cost of schooling";
        "04" => "因灾", "Disaster";
        "05" => "缺土地", "Lack of land";
        "06" => "缺水", "Lack of water";
        "07" => "缺技术", "Lack of skills";
        "08" => "缺劳力", "Lack of labour";
        "09" => "缺资金", "Lack of funds";
        "10" => "交通条件落后", "Poor transport access";
        "11" => "自身发展动力不足", "Lack of drive to develop";
        "12" => "因婚", "Cost of marriage";
        "99" => "其他", "Other";
    ],
    proposed: false,
};

/// 脱贫标志, exit status. The registry has no code 2.
pub static EXIT_STATUS: CodeList = CodeList {
    name: "exit_status",
    zh: "脱贫标志",
    en: "Exit status",
    codes: codes![
        "0" => "未脱贫", "Not out of poverty";
        "1" => "已脱贫（享受政策）", "Out of poverty (still supported)";
        "3" => "返贫", "Fallen back into poverty";
        "4" => "已脱贫（不再享受政策）", "Out of poverty (no longer supported)";
    ],
    proposed: false,
};

/// 跟踪服务需求, the follow-up needs of §三(七) that keep a labourer away from work.
/// Multi-select. **Proposed**: the policy names the needs but gives no codes.
pub static FOLLOW_UP_NEED: CodeList = CodeList {
    name: "follow_up_need",
    zh: "跟踪服务需求",
    en: "Follow-up need",
    codes: codes![
        "01" => "留守老人", "Left-behind elderly";
        "02" => "留守儿童", "Left-behind children";
        "03" => "农忙缺工", "Labour shortage in the farming season";
        "04" => "家庭应急", "Family emergency";
        "05" => "维权", "Rights protection";
    ],
    proposed: true,
};

/// 与户主关系, a member's relation to the household head.
///
/// 01–08, 11, 12 and 99 are the registry's; DOMAIN.md elides the rest, and 09, 10 and
/// 13–19 fill that gap and should be checked against a registry export.
pub static RELATION: CodeList = CodeList {
    name: "relation",
    zh: "与户主关系",
    en: "Relation to household head",
    codes: codes![
        "01" => "户主", "Household head";
        "02" => "配偶", "Spouse";
        "03" => "之子", "Son";
        "04" => "之女", "Daughter";
        "05" => "之儿媳", "Daughter-in-law";
        "06" => "之女婿", "Son-in-law";
        "07" => "之孙子", "Grandson (son's son)";
        "08" => "之孙女", "Granddaughter (son's daughter)";
        "09" => "之外孙子", "Grandson (daughter's son)";
        "10" => "之外孙女", "Granddaughter (daughter's daughter)";
        "11" => "之父", "Father";
        "12" => "之母", "Mother";
        "13" => "之岳父", "Father-in-law (wife's father)";
        "14" => "之岳母", "Mother-in-law (wife's mother)";
        "15" => "之公公", "Father-in-law (husband's father)";
        "16" => "之婆婆", "Mother-in-law (husband's mother)";
        "17" => "之祖父", "Grandfather";
        "18" => "之祖母", "Grandmother";
        "19" => "之兄弟姐妹", "Sibling";
        "99" => "其他", "Other";
    ],
    proposed: false,
};

/// 民族, GB 3304-1991: the 56 recognised ethnic groups in the standard's order, then
/// 97 (other, not yet identified) and 98 (Chinese citizens of foreign origin).
pub static ETHNICITY: CodeList = CodeList {
    name: "ethnicity",
    zh: "民族",
    en: "Ethnicity",
    codes: codes![
        "01" => "汉族", "Han";
        "02" => "蒙古族", "Mongol";
        "03" => "回族", "Hui";
        "04" => "藏族", "Tibetan";
        "05" => "维吾尔族", "Uyghur";
        "06" => "苗族", "Miao";
        "07" => "彝族", "Yi";
        "08" => "壮族", "Zhuang";
        "09" => "布依族", "Bouyei";
        "10" => "朝鲜族", "Korean";
        "11" => "满族", "Manchu";
        "12" => "侗族", "Dong";
        "13" => "瑶族", "Yao";
        "14" => "白族", "Bai";
        "15" => "土家族", "Tujia";
        "16" => "哈尼族", "Hani";
        "17" => "哈萨克族", "Kazakh";
        "18" => "傣族", "Dai";
        "19" => "黎族", "Li";
        "20" => "傈僳族", "Lisu";
        "21" => "佤族", "Va";
        "22" => "畲族", "She";
        "23" => "高山族", "Gaoshan";
        "24" => "拉祜族", "Lahu";
        "25" => "水族", "Sui";
        "26" => "东乡族", "Dongxiang";
        "27" => "纳西族", "Naxi";
        "28" => "景颇族", "Jingpo";
        "29" => "柯尔克孜族", "Kyrgyz";
        "30" => "土族", "Tu";
        "31" => "达斡尔族", "Daur";
        "32" => "仫佬族", "Mulao";
        "33" => "羌族", "Qiang";
        "34" => "布朗族", "Blang";
        "35" => "撒拉族", "Salar";
        "36" => "毛南族", "Maonan";
        "37" => "仡佬族", "Gelao";
        "38" => "锡伯族", "Xibe";
        "39" => "阿昌族", "Achang";
        "40" => "普米族", "Pumi";
        "41" => "塔吉克族", "Tajik";
        "42" => "怒族", "Nu";
        "43" => "乌孜别克族", "Uzbek";
        "44" => "俄罗斯族", "Russian";
        "45" => "鄂温克族", "Evenki";
        "46" => "德昂族", "De'ang";
        "47" => "保安族", "Bonan";
        "48" => "裕固族", "Yugur";
        "49" => "京族", "Gin";
        "50" => "塔塔尔族", "Tatar";
        "51" => "独龙族", "Derung";
        "52" => "鄂伦春族", "Oroqen";
        "53" => "赫哲族", "Hezhen";
        "54" => "门巴族", "Monba";
        "55" => "珞巴族", "Lhoba";
        "56" => "基诺族", "Jino";
        "97" => "其他", "Other";
        "98" => "外国血统中国籍人士", "Chinese citizen of foreign origin";
    ],
    proposed: false,
};

/// 文化程度, highest education completed.
pub static EDUCATION: CodeList = CodeList {
    name: "education",
    zh: "文化程度",
    en: "Education",
    codes: codes![
        "01" => "文盲或半文盲", "Illiterate or semi-literate";
        "02" => "小学", "Primary school";
        "03" => "初中", "Junior secondary school";
        "04" => "高中", "Senior secondary school";
        "05" => "大专及以上", "Junior college or above";
        "06" => "学龄前儿童", "Pre-school child";
    ],
    proposed: false,
};

/// 在校生状况, the level a member is studying at now. **Proposed**.
pub static IN_SCHOOL: CodeList = CodeList {
    name: "in_school",
    zh: "在校生状况",
    en: "In-school status",
    codes: codes![
        "00" => "非在校生", "Not in school";
        "01" => "学前教育", "Pre-school";
        "02" => "小学", "Primary school";
        "03" => "初中", "Junior secondary school";
        "04" => "普通高中", "General senior secondary school";
        "05" => "中职（中专、技校）", "Secondary vocational school";
        "06" => "高职（大专）", "Higher vocational college";
        "07" => "本科及以上", "Bachelor's degree or above";
    ],
    proposed: true,
};

/// 健康状况, health. Multi-select (a person can be chronically ill and disabled).
pub static HEALTH: CodeList = CodeList {
    name: "health",
    zh: "健康状况",
    en: "Health",
    codes: codes![
        "01" => "健康", "Healthy";
        "02" => "长期慢性病", "Long-term chronic illness";
        "03" => "患有大病", "Serious illness";
        "04" => "残疾", "Disability";
    ],
    proposed: false,
};

/// 劳动技能, labour capacity, current list. 05 was added after 2016 and sits between the
/// able and the unable, so it is shown in that place rather than in code order.
pub static LABOUR_CAPACITY: CodeList = CodeList {
    name: "labour_capacity",
    zh: "劳动技能",
    en: "Labour capacity",
    codes: codes![
        "01" => "普通劳动力", "Ordinary labour";
        "02" => "技能劳动力", "Skilled labour";
        "05" => "弱劳动力或半劳动力", "Weak or partial labour";
        "03" => "丧失劳动力", "Lost the capacity to work";
        "04" => "无劳动力", "No labour capacity";
    ],
    proposed: false,
};

/// 劳动技能 as the 2016 registry recorded it, without 05. Older imports use this list.
pub static LABOUR_CAPACITY_2016: CodeList = CodeList {
    name: "labour_capacity_2016",
    zh: "劳动技能（2016）",
    en: "Labour capacity (2016)",
    codes: codes![
        "01" => "普通劳动力", "Ordinary labour";
        "02" => "技能劳动力", "Skilled labour";
        "03" => "丧失劳动力", "Lost the capacity to work";
        "04" => "无劳动力", "No labour capacity";
    ],
    proposed: false,
};

/// Labour capacity codes meaning the person cannot work. The same in both capacity lists.
pub const UNABLE_TO_WORK_CAPACITIES: &[&str] = &["03", "04"];

/// Labour capacity codes meaning the person cannot work (03 丧失劳动力, 04 无劳动力).
pub fn is_unable_to_work(code: &str) -> bool {
    UNABLE_TO_WORK_CAPACITIES.contains(&code)
}

/// 在户状态, whether a member still lives in the household. **Proposed**: no national list
/// was found. A member without a status is present; the others stay in the document as
/// history, out of counts, rosters and searches.
pub static MEMBER_STATUS: CodeList = CodeList {
    name: "member_status",
    zh: "在户状态",
    en: "Member status",
    codes: codes![
        "01" => "在户", "Present";
        "02" => "迁出", "Moved out";
        "03" => "死亡", "Deceased";
        "04" => "误录", "Entered by mistake";
    ],
    proposed: true,
};

/// The member status of someone who lives in the household, the status a member without
/// one has.
pub const PRESENT: &str = "01";
/// The member status of someone who moved out: the only one with a destination.
pub const MOVED_OUT: &str = "02";
/// The member status of someone who died.
pub const DECEASED: &str = "03";
/// The member status of an entry that never was a member: county staff may remove it.
pub const ENTERED_BY_MISTAKE: &str = "04";
/// Member statuses that record when the member left: moved out and deceased.
pub const STATUSES_WITH_LEFT_DATE: &[&str] = &[MOVED_OUT, DECEASED];

/// 就业状态, employment status, by where and how a person works. **Proposed**, built from
/// the registry's 务工状况 buckets and provincial HRSS systems.
pub static EMPLOYMENT_STATUS: CodeList = CodeList {
    name: "employment_status",
    zh: "就业状态",
    en: "Employment status",
    codes: codes![
        "01" => "省外务工", "Working outside the province";
        "02" => "县外省内务工", "Working in the province, outside the county";
        "03" => "乡外县内务工", "Working in the county, outside the township";
        "04" => "乡内务工", "Working in the township";
        "05" => "就业扶贫车间/基地", "Poverty-alleviation workshop or base";
        "06" => "公益性岗位", "Public welfare post";
        "07" => "自主创业", "Self-employed";
        "08" => "灵活就业", "Flexible employment";
        "09" => "务农", "Farming only";
        "10" => "未就业", "Not employed";
    ],
    proposed: true,
};

/// Employment statuses that count as employed for the one-employed-per-household target.
/// Farming only (09) does not count: the policy's target is transfer employment.
pub const EMPLOYED_STATUSES: &[&str] = &["01", "02", "03", "04", "05", "06", "07", "08"];

/// Employment statuses that count as employed for the one-employed-per-household target (01–08).
pub fn is_employed_status(code: &str) -> bool {
    EMPLOYED_STATUSES.contains(&code)
}

/// 就业渠道, how a person found the job: the channels the policy (§三(四)(五), §五(十一)) pays
/// for differently. **Proposed**: no national list was found. Layout 2.
pub static JOB_CHANNEL: CodeList = CodeList {
    name: "job_channel",
    zh: "就业渠道",
    en: "Job channel",
    codes: codes![
        "01" => "有组织输出", "Organised labour export";
        "02" => "劳务公司", "Labour company";
        "03" => "职业介绍", "Job introduction";
        "04" => "自主就业", "Found the job themselves";
    ],
    proposed: true,
};

/// 未就业原因, why a person is not employed. **Proposed**.
pub static NOT_EMPLOYED_REASON: CodeList = CodeList {
    name: "not_employed_reason",
    zh: "未就业原因",
    en: "Reason not employed",
    codes: codes![
        "01" => "无就业意愿", "Does not want to work";
        "02" => "照料家庭", "Caring for the family";
        "03" => "因病/残", "Illness or disability";
        "04" => "缺技能", "Lacks skills";
        "05" => "缺岗位信息", "Lacks job information";
        "06" => "在校/待升学", "In school or awaiting further study";
        "07" => "年老", "Old age";
        "99" => "其他", "Other";
    ],
    proposed: true,
};

/// 意向就业地区, where a person would like to work: the employment buckets, or anywhere.
/// **Proposed**.
pub static PREFERRED_REGION: CodeList = CodeList {
    name: "preferred_region",
    zh: "意向就业地区",
    en: "Preferred region",
    codes: codes![
        "01" => "省外", "Outside the province";
        "02" => "县外省内", "In the province, outside the county";
        "03" => "乡外县内", "In the county, outside the township";
        "04" => "乡内", "In the township";
        "00" => "不限", "Anywhere";
    ],
    proposed: true,
};

/// 培训模式, the four training models of policy §四(十).
pub static TRAINING_MODEL: CodeList = CodeList {
    name: "training_model",
    zh: "培训模式",
    en: "Training model",
    codes: codes![
        "01" => "先培训、后就业", "Train, then employ";
        "02" => "先就业、后培训", "Employ, then train";
        "03" => "边培训、边就业", "Train while employed (order-based)";
        "04" => "需求储备式培训", "Stock training for in-demand trades";
    ],
    proposed: false,
};

/// 劳务品牌, labour brands. The policy (§三(六)) names these three "等", so others go
/// under 99 until a county adds them. **Proposed**.
pub static LABOUR_BRAND: CodeList = CodeList {
    name: "labour_brand",
    zh: "劳务品牌",
    en: "Labour brand",
    codes: codes![
        "01" => "吕梁山护工", "Lüliang Mountain carers";
        "02" => "天镇保姆", "Tianzhen nannies";
        "03" => "山西面食", "Shanxi noodle cooks";
        "99" => "其他", "Other";
    ],
    proposed: true,
};

/// 技能鉴定等级, the vocational qualification a training led to. **Proposed**: the five
/// national levels plus the two lesser certificates training institutions issue.
pub static SKILL_LEVEL: CodeList = CodeList {
    name: "skill_level",
    zh: "技能鉴定等级",
    en: "Skill level",
    codes: codes![
        "01" => "初级工（五级）", "Junior worker (level 5)";
        "02" => "中级工（四级）", "Intermediate worker (level 4)";
        "03" => "高级工（三级）", "Senior worker (level 3)";
        "04" => "技师（二级）", "Technician (level 2)";
        "05" => "高级技师（一级）", "Senior technician (level 1)";
        "06" => "专项职业能力证书", "Special vocational ability certificate";
        "07" => "培训合格证", "Training completion certificate";
    ],
    proposed: true,
};

/// 走访结果, the outcome of a door-to-door visit. The codes are Doorstep's own, so they are
/// English words that read clearly in logs and exports.
pub static VISIT_OUTCOME: CodeList = CodeList {
    name: "visit_outcome",
    zh: "走访结果",
    en: "Visit outcome",
    codes: codes![
        "met" => "见到本人/家人", "Met the person or family";
        "not_home" => "无人在家", "Nobody at home";
        "refused" => "拒绝", "Refused";
        "moved_away" => "已搬离", "Moved away";
        "deceased" => "已故", "Deceased";
    ],
    proposed: false,
};

/// 补贴类别, subsidy kinds. 01–03 are the subsidies of policy §五(十二)(十三), labelled in
/// its words; 04 and 05 are the usual companions paid from the same funds. **Proposed**.
pub static SUBSIDY_KIND: CodeList = CodeList {
    name: "subsidy_kind",
    zh: "补贴类别",
    en: "Subsidy kind",
    codes: codes![
        "01" => "一次性交通补助", "One-off transport subsidy";
        "02" => "就业服务补贴（服务站）", "Employment service subsidy (service station)";
        "03" => "社会保险补贴", "Social insurance subsidy";
        "04" => "职业培训补贴", "Vocational training subsidy";
        "05" => "公益性岗位补贴", "Public welfare post subsidy";
        "99" => "其他", "Other";
    ],
    proposed: true,
};

/// The subsidy kinds of policy §五(十二)(十三), whose rules the server checks against the
/// year's settings: the one-off transport subsidy, the service subsidy and the social
/// insurance subsidy.
pub const TRANSPORT_SUBSIDY: &str = "01";
pub const SERVICE_SUBSIDY: &str = "02";
pub const SOCIAL_INSURANCE_SUBSIDY: &str = "03";
/// The subsidy status of a claim found not eligible: it claims nothing, so no rule counts it.
pub const SUBSIDY_REJECTED: &str = "04";
/// The subsidy status of a claim paid out.
pub const SUBSIDY_PAID: &str = "03";

/// 险种, the insurance a social insurance subsidy helps pay: the two a worker sent out may
/// join as a flexible worker (policy §五(十三)), and the others of an employer's scheme.
/// **Proposed**. Layout 2.
pub static INSURANCE_TYPE: CodeList = CodeList {
    name: "insurance_type",
    zh: "险种",
    en: "Insurance type",
    codes: codes![
        "01" => "基本养老保险", "Basic pension insurance";
        "02" => "基本医疗保险", "Basic medical insurance";
        "03" => "失业保险", "Unemployment insurance";
        "04" => "工伤保险", "Work injury insurance";
    ],
    proposed: true,
};

/// 补贴状态, where a subsidy claim stands. **Proposed**.
pub static SUBSIDY_STATUS: CodeList = CodeList {
    name: "subsidy_status",
    zh: "补贴状态",
    en: "Subsidy status",
    codes: codes![
        "01" => "待审核", "Pending";
        "02" => "已批准", "Approved";
        "03" => "已发放", "Paid";
        "04" => "不符合条件", "Rejected";
    ],
    proposed: true,
};

/// 照片类别, what a photo shows: the codes of `photo::PhotoKind`, the same in the document,
/// on the wire and in the server's database. **Proposed**.
pub static PHOTO_KIND: CodeList = CodeList {
    name: "photo_kind",
    zh: "照片类别",
    en: "Photo kind",
    codes: codes![
        "door_plate" => "门牌", "Door plate";
        "certificate" => "证书", "Certificate";
        "contract" => "劳动合同", "Employment contract";
        "bank_card" => "银行卡", "Bank card";
        "id_card" => "身份证", "ID card";
        "other" => "其他", "Other";
    ],
    proposed: true,
};

/// 核实状态, where a visit task stands (`crate::tasks`). **Proposed**. Words rather than
/// numbers, as the roster tasks are ours and never exchanged with another office.
pub static TASK_STATUS: CodeList = CodeList {
    name: "task_status",
    zh: "核实状态",
    en: "Task status",
    codes: codes![
        "open" => "待核实", "Open";
        "settled" => "已核实一致", "Settled";
        "checked" => "已入户核实", "Checked";
        "closed" => "县里已办结", "Closed";
    ],
    proposed: true,
};

static ALL: &[&CodeList] = &[
    &SEX,
    &POVERTY_ATTRIBUTE,
    &POVERTY_ATTRIBUTE_EXTENDED,
    &POVERTY_CAUSE,
    &EXIT_STATUS,
    &FOLLOW_UP_NEED,
    &RELATION,
    &ETHNICITY,
    &EDUCATION,
    &IN_SCHOOL,
    &HEALTH,
    &LABOUR_CAPACITY,
    &LABOUR_CAPACITY_2016,
    &MEMBER_STATUS,
    &EMPLOYMENT_STATUS,
    &NOT_EMPLOYED_REASON,
    &JOB_CHANNEL,
    &PREFERRED_REGION,
    &TRAINING_MODEL,
    &LABOUR_BRAND,
    &SKILL_LEVEL,
    &VISIT_OUTCOME,
    &SUBSIDY_KIND,
    &INSURANCE_TYPE,
    &SUBSIDY_STATUS,
    &PHOTO_KIND,
    &TASK_STATUS,
];

/// Every code list, for export and for the settings screens.
pub fn all() -> &'static [&'static CodeList] {
    ALL
}

/// Looks a list up by its machine name.
pub fn by_name(name: &str) -> Option<&'static CodeList> {
    ALL.iter().copied().find(|list| list.name == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn test_codes_are_unique_within_every_list() {
        for list in all() {
            let mut seen = HashSet::new();
            for code in list.codes {
                assert!(seen.insert(code.code), "{}: {} twice", list.name, code.code);
            }
        }
    }

    #[test]
    fn test_every_code_and_every_list_has_a_chinese_and_an_english_label() {
        for list in all() {
            assert!(!list.name.is_empty() && !list.zh.is_empty() && !list.en.is_empty());
            assert!(!list.codes.is_empty(), "{} has no codes", list.name);
            for code in list.codes {
                assert!(!code.code.is_empty(), "{}: empty code", list.name);
                assert!(!code.zh.is_empty(), "{} {}: no zh", list.name, code.code);
                assert!(!code.en.is_empty(), "{} {}: no en", list.name, code.code);
            }
        }
    }

    #[test]
    fn test_list_names_are_unique_and_by_name_finds_each_list() {
        let mut seen = HashSet::new();
        for list in all() {
            assert!(seen.insert(list.name), "{} twice", list.name);
            assert!(std::ptr::eq(by_name(list.name).unwrap(), *list));
        }
        assert_eq!(all().len(), 27);
        assert!(by_name("no_such_list").is_none());
    }

    #[test]
    fn test_lists_without_an_authoritative_source_are_marked_proposed() {
        let proposed: HashSet<_> = all()
            .iter()
            .filter(|l| l.proposed)
            .map(|l| l.name)
            .collect();
        let expected: HashSet<_> = [
            "poverty_attribute_extended",
            "follow_up_need",
            "in_school",
            "member_status",
            "employment_status",
            "not_employed_reason",
            "job_channel",
            "preferred_region",
            "labour_brand",
            "skill_level",
            "subsidy_kind",
            "insurance_type",
            "subsidy_status",
            "photo_kind",
            "task_status",
        ]
        .into_iter()
        .collect();
        assert_eq!(proposed, expected);
    }

    #[test]
    fn test_get_contains_and_label_agree_on_known_and_unknown_codes() {
        assert_eq!(SEX.get("2").unwrap().zh, "女");
        assert!(SEX.contains("1"));
        assert!(!SEX.contains("0"));
        assert!(SEX.get("3").is_none());
        assert_eq!(SEX.label("1"), Some(Message::new("男", "Male")));
        assert_eq!(SEX.label(""), None);
    }

    #[test]
    fn test_ethnicity_has_the_56_groups_in_gb_3304_order_plus_97_and_98() {
        assert_eq!(ETHNICITY.codes.len(), 56 + 2);
        for (i, code) in ETHNICITY.codes[..56].iter().enumerate() {
            assert_eq!(code.code, format!("{:02}", i + 1));
            assert!(code.zh.ends_with('族'), "{}", code.zh);
        }
        assert_eq!(ETHNICITY.get("01").unwrap().zh, "汉族");
        assert_eq!(ETHNICITY.get("05").unwrap().zh, "维吾尔族");
        assert_eq!(ETHNICITY.get("23").unwrap().zh, "高山族");
        assert_eq!(ETHNICITY.get("44").unwrap().zh, "俄罗斯族");
        assert_eq!(ETHNICITY.get("56").unwrap().zh, "基诺族");
        assert_eq!(ETHNICITY.get("97").unwrap().zh, "其他");
        assert_eq!(ETHNICITY.get("98").unwrap().zh, "外国血统中国籍人士");
    }

    #[test]
    fn test_labour_capacity_has_five_values_and_the_2016_list_the_same_four_without_05() {
        assert_eq!(LABOUR_CAPACITY.codes.len(), 5);
        assert_eq!(LABOUR_CAPACITY_2016.codes.len(), 4);
        assert!(!LABOUR_CAPACITY_2016.contains("05"));
        for code in LABOUR_CAPACITY_2016.codes {
            assert_eq!(LABOUR_CAPACITY.get(code.code), Some(code));
        }
    }

    #[test]
    fn test_extended_poverty_attribute_keeps_the_original_three_unchanged() {
        assert_eq!(POVERTY_ATTRIBUTE.codes.len(), 3);
        assert!(POVERTY_ATTRIBUTE_EXTENDED.codes.len() > 3);
        for code in POVERTY_ATTRIBUTE.codes {
            assert_eq!(POVERTY_ATTRIBUTE_EXTENDED.get(code.code), Some(code));
        }
    }

    #[test]
    fn test_domain_brief_labels_are_kept_exactly() {
        let cases = [
            (&EMPLOYMENT_STATUS, "10", "未就业"),
            (&EMPLOYMENT_STATUS, "01", "省外务工"),
            (&RELATION, "01", "户主"),
            (&RELATION, "08", "之孙女"),
            (&RELATION, "11", "之父"),
            (&RELATION, "12", "之母"),
            (&RELATION, "99", "其他"),
            (&POVERTY_CAUSE, "12", "因婚"),
            (&EXIT_STATUS, "3", "返贫"),
            (&EDUCATION, "06", "学龄前儿童"),
            (&LABOUR_CAPACITY, "05", "弱劳动力或半劳动力"),
            (&TRAINING_MODEL, "04", "需求储备式培训"),
            (&LABOUR_BRAND, "01", "吕梁山护工"),
            (&VISIT_OUTCOME, "not_home", "无人在家"),
            (&MEMBER_STATUS, "01", "在户"),
            (&MEMBER_STATUS, "02", "迁出"),
            (&MEMBER_STATUS, "03", "死亡"),
            (&MEMBER_STATUS, "04", "误录"),
        ];
        for (list, code, zh) in cases {
            assert_eq!(list.get(code).unwrap().zh, zh, "{} {}", list.name, code);
        }
        assert!(!EXIT_STATUS.contains("2"));
    }

    #[test]
    fn test_employed_statuses_are_01_to_08_and_farming_or_not_employed_are_not() {
        for code in EMPLOYMENT_STATUS.codes {
            let expected = !matches!(code.code, "09" | "10");
            assert_eq!(is_employed_status(code.code), expected, "{}", code.code);
        }
        for code in EMPLOYED_STATUSES {
            assert!(EMPLOYMENT_STATUS.contains(code));
        }
        assert!(!is_employed_status(""));
    }

    #[test]
    fn test_only_lost_or_no_labour_capacity_means_unable_to_work_in_both_lists() {
        for list in [&LABOUR_CAPACITY, &LABOUR_CAPACITY_2016] {
            for code in list.codes {
                let expected = matches!(code.code, "03" | "04");
                assert_eq!(is_unable_to_work(code.code), expected, "{}", code.code);
            }
        }
        for code in UNABLE_TO_WORK_CAPACITIES {
            assert!(LABOUR_CAPACITY_2016.contains(code));
        }
    }

    #[test]
    fn test_code_list_serializes_with_its_codes_and_labels() {
        let json = serde_json::to_value(&SEX).unwrap();
        assert_eq!(json["name"], "sex");
        assert_eq!(json["proposed"], false);
        assert_eq!(
            json["codes"][0],
            serde_json::json!({"code": "1", "zh": "男", "en": "Male"})
        );
    }

    #[test]
    fn test_the_photo_kind_list_holds_every_photo_kind_by_its_code() {
        let kinds: Vec<&str> = crate::photo::PhotoKind::ALL
            .into_iter()
            .map(|kind| kind.as_str())
            .collect();
        let codes: Vec<&str> = PHOTO_KIND.codes.iter().map(|code| code.code).collect();
        assert_eq!(codes, kinds);
    }
}
