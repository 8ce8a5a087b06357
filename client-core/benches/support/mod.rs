//! Realistic households for the store benchmarks and the `store_memory` example: Chinese
//! names, valid 18-digit ID numbers, 3–5 members and about 60 filled fields each, written
//! through the store's own API (one `create_household`, one `add_member` per member and one
//! `set_fields` per household).

// Each target that includes this module uses a different part of it.
#![allow(dead_code)]

use doorstep_client_core::Store;
use doorstep_client_core::store::{DB_FILE, today};
use schema::ids::{AreaCode, HouseholdId, MemberKey};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The county every generated ID number was issued in, and whose villages the households are in.
pub const COUNTY: &str = "141124";
/// Households are spread over this many villages.
pub const VILLAGES: usize = 20;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧", "程", "曹",
    "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛",
    "叶", "阎", "任", "武", "乔", "段", "郝", "白", "申", "牛", "温", "秦",
];
const GIVEN_MALE: &[&str] = &[
    "建", "国", "华", "明", "军", "伟", "强", "磊", "勇", "杰", "涛", "超", "平", "刚", "海", "林",
    "波", "志", "文", "斌", "宇", "浩", "凯", "鹏", "飞", "龙", "成", "晓", "东", "亮", "忠", "福",
];
const GIVEN_FEMALE: &[&str] = &[
    "秀", "英", "兰", "芳", "丽", "艳", "娟", "霞", "桂", "玉", "红", "梅", "琴", "云", "春", "婷",
    "雪", "慧", "静", "敏", "燕", "琳", "萍", "莉", "翠", "凤", "娥", "巧", "晓", "月", "丹", "珍",
];
const EMPLOYERS: &[&str] = &[
    "太原富士康科技工业园",
    "晋中市榆次区建筑公司",
    "岚县扶贫车间",
    "北京家政服务有限公司",
    "吕梁市人民医院护工站",
    "本村合作社",
];
const PLACES: &[&str] = &[
    "山西省太原市",
    "山西省晋中市",
    "山西省吕梁市岚县",
    "北京市朝阳区",
    "陕西省西安市",
];

/// A small deterministic generator (SplitMix64), so every run builds the same households.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The village the `n`th household lives in.
pub fn village(n: usize) -> AreaCode {
    AreaCode::parse_village(&format!("{COUNTY}100{:03}", 201 + n % VILLAGES))
        .expect("a 12-digit village code")
}

/// The registry number of the `n`th household: its village code and a 4-digit serial.
pub fn household_number(n: usize) -> String {
    format!("{}{:04}", village(n), n / VILLAGES + 1)
}

/// A member as generated, before and after it is in the store.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub id_number: String,
    pub relation: &'static str,
    pub age: i64,
    pub male: bool,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub key: MemberKey,
    pub person: Person,
}

/// A household as written to the store.
#[derive(Debug, Clone)]
pub struct Household {
    pub id: HouseholdId,
    pub number: String,
    pub members: Vec<Member>,
}

impl Household {
    pub fn member_keys(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.key.as_str()).collect()
    }
}

/// A valid 18-character ID number issued in [`COUNTY`] for someone `age` years old.
pub fn id_number(rng: &mut Rng, age: i64, male: bool) -> String {
    let year = i64::from(today().year()) - age.max(1);
    let month = rng.range(1, 12);
    let day = rng.range(1, 28);
    // The 17th digit is odd for men and even for women.
    let serial = rng.range(0, 499) * 2 + i64::from(male);
    let first17 = format!("{COUNTY}{year:04}{month:02}{day:02}{serial:03}");
    let mut digits = [0u8; 17];
    for (digit, byte) in digits.iter_mut().zip(first17.bytes()) {
        *digit = byte - b'0';
    }
    let check = schema::id_number::check_character(&digits);
    format!("{first17}{check}")
}

fn given_name(rng: &mut Rng, male: bool) -> String {
    let pool = if male { GIVEN_MALE } else { GIVEN_FEMALE };
    let first = rng.pick(pool);
    if rng.chance(70) {
        format!("{first}{}", rng.pick(pool))
    } else {
        first.to_owned()
    }
}

fn person(rng: &mut Rng, surname: &str, relation: &'static str, age: i64, male: bool) -> Person {
    Person {
        name: format!("{surname}{}", given_name(rng, male)),
        id_number: id_number(rng, age, male),
        relation,
        age,
        male,
    }
}

/// The people of the `n`th household: a head, usually a spouse, then parents or children,
/// 3 to 5 in all.
pub fn people(n: usize) -> Vec<Person> {
    let mut rng = Rng::new(n as u64 ^ 0x00D0_0125_7E90);
    let size = rng.range(3, 5) as usize;
    let surname = rng.pick(SURNAMES);
    let head_male = rng.chance(80);
    let head_age = rng.range(30, 75);
    let mut people = vec![person(&mut rng, surname, "01", head_age, head_male)];
    if rng.chance(85) {
        let spouse_surname = rng.pick(SURNAMES);
        let age = (head_age + rng.range(-5, 5)).max(20);
        people.push(person(&mut rng, spouse_surname, "02", age, !head_male));
    }
    if head_age <= 55 && rng.chance(30) {
        let male = rng.chance(50);
        let age = head_age + rng.range(22, 30);
        let (parent_surname, relation) = if male {
            (surname, "11")
        } else {
            (rng.pick(SURNAMES), "12")
        };
        people.push(person(&mut rng, parent_surname, relation, age, male));
    }
    while people.len() < size {
        let male = rng.chance(50);
        let age = rng.range(1, (head_age - 20).min(40));
        let relation = if male { "03" } else { "04" };
        people.push(person(&mut rng, surname, relation, age, male));
    }
    people.truncate(size);
    people
}

/// The fields a first visit fills in for the `n`th household, beyond what `add_member`
/// derives from the ID number.
pub fn household_fields(n: usize, members: &[Member]) -> Vec<(String, String)> {
    let mut rng = Rng::new(n as u64 ^ 0x00F1_E1D5);
    let month = i64::from(today().month());
    let mut fields = vec![
        (
            "household.address".to_owned(),
            format!(
                "{}村{}组{}号",
                village(n),
                rng.range(1, 9),
                rng.range(1, 120)
            ),
        ),
        (
            "household.phone".to_owned(),
            format!("13{:09}", rng.next() % 1_000_000_000),
        ),
        (
            "household.gps.lat".to_owned(),
            format!("{:.6}", 38.2 + rng.range(0, 100_000) as f64 / 1e6),
        ),
        (
            "household.gps.lon".to_owned(),
            format!("{:.6}", 111.5 + rng.range(0, 100_000) as f64 / 1e6),
        ),
        (
            "household.poverty_attribute".to_owned(),
            rng.pick(&["01", "01", "02", "03"]).to_owned(),
        ),
        (
            "household.causes".to_owned(),
            rng.pick(&["01", "07", "01,08", "02", "03,09", "07,09"])
                .to_owned(),
        ),
        (
            "household.exit_status".to_owned(),
            rng.pick(&["1", "1", "4", "0"]).to_owned(),
        ),
    ];
    for member in members {
        let prefix = format!("members.{}", member.key);
        let age = member.person.age;
        let mut set = |name: &str, value: String| fields.push((format!("{prefix}.{name}"), value));
        set("relation", member.person.relation.to_owned());
        set(
            "ethnicity",
            if rng.chance(92) { "01" } else { "03" }.to_owned(),
        );
        let (education, in_school) = match age {
            ..=2 => ("06", "00"),
            3..=6 => ("06", "01"),
            7..=12 => ("02", "02"),
            13..=15 => ("03", "03"),
            16..=18 => ("03", "04"),
            _ => (rng.pick(&["01", "02", "03", "03", "04", "05"]), "00"),
        };
        set("education", education.to_owned());
        set("in_school", in_school.to_owned());
        let healthy = age < 55 || rng.chance(60);
        set("health", if healthy { "01" } else { "02" }.to_owned());
        if (19..=60).contains(&age) {
            set(
                "labour_capacity",
                rng.pick(&["01", "01", "02", "05"]).to_owned(),
            );
            let status = rng.pick(&["01", "02", "03", "04", "06", "08", "09", "10"]);
            set("employment.status", status.to_owned());
            if schema::codes::is_employed_status(status) {
                set("employment.employer", rng.pick(EMPLOYERS).to_owned());
                set("employment.place", rng.pick(PLACES).to_owned());
                set("employment.months_worked", rng.range(0, month).to_string());
                set(
                    "employment.monthly_income",
                    (rng.range(15, 60) * 100).to_string(),
                );
            } else if status == "10" {
                set(
                    "employment.not_employed_reason",
                    rng.pick(&["02", "04", "05"]).to_owned(),
                );
            }
            set(
                "intent.wants_work",
                if rng.chance(70) { "是" } else { "否" }.to_owned(),
            );
        } else if age > 60 {
            set("labour_capacity", rng.pick(&["04", "05"]).to_owned());
            set("employment.status", "10".to_owned());
            set("employment.not_employed_reason", "07".to_owned());
        }
    }
    fields
}

/// What a volunteer types on one visit: 30 fields over the household and the first three of
/// `members` (member keys). `variant` alternates every value, so that each call really
/// writes all 30.
pub fn visit_fields(members: &[&str], variant: usize) -> Vec<(String, String)> {
    let v = variant % 2;
    let mut fields = vec![
        (
            "household.address".to_owned(),
            ["城关村3组17号", "城关村3组18号"][v].to_owned(),
        ),
        (
            "household.phone".to_owned(),
            ["13912345678", "13987654321"][v].to_owned(),
        ),
        (
            "household.gps.lat".to_owned(),
            ["38.271234", "38.271299"][v].to_owned(),
        ),
        (
            "household.gps.lon".to_owned(),
            ["111.565432", "111.565401"][v].to_owned(),
        ),
        ("household.exit_status".to_owned(), ["1", "4"][v].to_owned()),
        (
            "household.follow_up_needs".to_owned(),
            ["01", "02,03"][v].to_owned(),
        ),
    ];
    for member in members.iter().take(3) {
        let prefix = format!("members.{member}");
        for (name, values) in [
            ("employment.status", ["01", "08"]),
            (
                "employment.employer",
                ["太原富士康科技工业园", "本村合作社"],
            ),
            ("employment.place", ["山西省太原市", "山西省吕梁市岚县"]),
            ("employment.trade", ["电子装配", "种植"]),
            ("employment.months_worked", ["1", "2"]),
            ("employment.monthly_income", ["3200", "2800"]),
            ("employment.contract_signed", ["是", "否"]),
            ("intent.wants_work", ["是", "否"]),
        ] {
            fields.push((format!("{prefix}.{name}"), values[v].to_owned()));
        }
    }
    fields
}

/// `(path, value)` pairs as `set_fields` takes them.
pub fn as_edits(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(path, value)| (path.as_str(), value.as_str()))
        .collect()
}

/// Writes the `n`th household through the store's API: create it, add its members by name
/// and ID number, then one `set_fields` with the rest.
pub fn add_household(store: &Store, n: usize) -> Household {
    let number = household_number(n);
    let id = store
        .create_household(&village(n), Some(&number))
        .expect("create household");
    let members: Vec<Member> = people(n)
        .into_iter()
        .map(|person| Member {
            key: store
                .add_member(&id, &person.name, Some(&person.id_number))
                .expect("add member"),
            person,
        })
        .collect();
    let fields = household_fields(n, &members);
    store
        .set_fields(&id, &as_edits(&fields))
        .expect("set household fields");
    Household {
        id,
        number,
        members,
    }
}

/// The database files of a store directory, for copying and for measuring its size.
pub fn store_files(dir: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| dir.join(format!("{DB_FILE}{suffix}")))
        .filter(|path| path.exists())
        .collect()
}

/// Bytes the store's database takes on disk (the main file and its write-ahead log).
pub fn store_size(dir: &Path) -> u64 {
    store_files(dir)
        .iter()
        .filter(|path| !path.to_string_lossy().ends_with("-shm"))
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum()
}

/// Fills the store in `dir` with `count` households and returns them.
///
/// Every edit through the store is a durable commit, and filling 10,000 households makes
/// some 60,000 of them; to keep that from taking minutes, the store is filled in a scratch
/// directory on `/dev/shm` (RAM, where `fsync` costs nothing) when there is one, and the
/// finished, closed database is then copied into `dir`. What the benchmarks measure happens
/// afterwards, in `dir`, at full durability.
pub fn build_store(dir: &Path, count: usize) -> Vec<Household> {
    let started = Instant::now();
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("doorstep-fill-")
            .tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("scratch directory");
    let households = {
        let store = Store::open(scratch.path()).expect("open scratch store");
        let mut households = Vec::with_capacity(count);
        for n in 0..count {
            households.push(add_household(&store, n));
            if (n + 1) % 2000 == 0 {
                eprintln!(
                    "  filled {} of {count} households ({:.0?})",
                    n + 1,
                    started.elapsed()
                );
            }
        }
        households
        // The store closes here, which checkpoints its write-ahead log into the main file.
    };
    std::fs::create_dir_all(dir).expect("store directory");
    for file in store_files(scratch.path()) {
        let name = file.file_name().expect("a file name");
        std::fs::copy(&file, dir.join(name)).expect("copy the filled store");
    }
    eprintln!(
        "built a store of {count} households in {:.1?} ({:.1} MB on disk)",
        started.elapsed(),
        store_size(dir) as f64 / 1e6
    );
    households
}
