//! Registers of any size, for the benchmarks and for a person to browse: a few real
//! households recorded by real phones through the real binary, then SQL copies of their rows.
//!
//! Uploading 100,000 households through phones would take hours; a copy has the rows and
//! index entries of a real household (its document and sealed change rows as stored, its
//! register rows, new keys where a table needs distinct ones), which is what the server's
//! statements read. A copy's document is its template's, so it names the template's id,
//! village and household number inside; its register row says where the copy lies.
//!
//! [`register`] makes a county register with open review items: the phones record clean
//! households in one village and, in another, households two phones then edit apart offline
//! (conflicts), into rule errors, and with ID numbers two households share (duplicates). The
//! server finds those items itself at the sync; the copies carry them, with their history.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    Account, AreaCode, HouseholdId, MemberKey, Phone, Server, Sql, TestDatabase, tampered,
    with_check_character,
};
use sqlx::Row;
use std::collections::BTreeMap;

/// Households written by one seeding statement per table.
const SEED_BATCH: usize = 5_000;

/// Villages of the county, from the area list that ships with the server.
pub fn villages() -> Vec<AreaCode> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../server/areas/141124-linxian.csv"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.split(',').next())
        .filter(|code| code.len() == 12)
        .filter_map(|code| AreaCode::parse_village(code).ok())
        .collect()
}

/// Turns autovacuum off on every table (PostgreSQL).
pub fn autovacuum_off(sql: &Sql) {
    let tables = sql
        .rows("SELECT tablename::TEXT AS name FROM pg_tables WHERE schemaname = current_schema()");
    for table in tables {
        let table: String = table.get("name");
        sql.rows(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = false)"
        ));
    }
}

/// The columns of `table`, in order.
fn columns(sql: &Sql, postgres: bool, table: &str) -> Vec<String> {
    let query = if postgres {
        format!(
            "SELECT column_name::TEXT AS name FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = '{table}'
             ORDER BY ordinal_position"
        )
    } else {
        format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
    };
    sql.rows(&query)
        .iter()
        .map(|row| row.get::<String, _>("name"))
        .collect()
}

/// What a copy's column holds: the template's value, or a new key where the table needs a
/// distinct one; a copy lies in `village`. `n` is the copy's number.
fn copied(postgres: bool, table: &str, column: &str, village: &str) -> Option<String> {
    let key = |column: &str| format!("'seed-' || s.n || '-' || t.{column}");
    let expression = match (table, column) {
        // The change feed and an item's history number themselves.
        ("change", "feed") | ("review_event", "id") => return None,
        ("household", "id")
        | (_, "household_id")
        | ("review_item", "id")
        | ("review_event", "item_id")
        | ("quarantine", "hash") => key(column),
        // The other household of a duplicate is copied with it, in the same copy.
        ("review_item", "other_household_id") => format!(
            "CASE WHEN t.other_household_id IS NULL THEN NULL ELSE {} END",
            key(column)
        ),
        ("household", "number") => "t.number || '-' || s.n".to_owned(),
        ("household" | "document" | "review_item" | "quarantine", "village") => {
            format!("'{village}'")
        }
        ("change", "hash") if postgres => {
            "sha256(t.hash || convert_to(s.n::TEXT, 'UTF8'))".to_owned()
        }
        ("change", "hash") => "randomblob(32)".to_owned(),
        // Distinct for every copy, and the same for two members of one copy who share an ID
        // number, so that a copied duplicate still holds one number twice.
        ("member", "id_number_hash") => {
            let copy = if postgres {
                "lpad(to_hex(s.n), 16, '0')"
            } else {
                "printf('%016x', s.n)"
            };
            format!(
                "CASE WHEN t.id_number_hash IS NULL THEN NULL \
                 ELSE substr(t.id_number_hash, 1, 48) || {copy} END"
            )
        }
        _ => format!("t.{column}"),
    };
    Some(expression)
}

/// The template households of `template_village`: those recorded there, not copies.
fn template_households(template_village: &str) -> String {
    format!(
        "SELECT household_id FROM document
         WHERE village = '{template_village}' AND household_id NOT LIKE 'seed-%'"
    )
}

/// The rows of `table` that belong to the template households.
fn template_rows(table: &str, template_village: &str) -> String {
    let templates = template_households(template_village);
    match table {
        "household" => format!("t.id IN ({templates})"),
        "review_event" => {
            format!("t.item_id IN (SELECT id FROM review_item WHERE household_id IN ({templates}))")
        }
        _ => format!("t.household_id IN ({templates})"),
    }
}

/// Copies the rows of `tables` of the template households (those recorded in
/// `template_village`) `copies` times into `village`, numbering the copies from `first`.
pub fn grow(
    sql: &Sql,
    postgres: bool,
    template_village: &str,
    village: &str,
    first: usize,
    copies: usize,
    tables: &[&str],
) {
    let templates = templates(sql, template_village);
    let per_statement = (SEED_BATCH / templates).max(1);
    for &table in tables {
        let columns = columns(sql, postgres, table);
        let (names, values): (Vec<String>, Vec<String>) = columns
            .iter()
            .filter_map(|column| Some((column.clone(), copied(postgres, table, column, village)?)))
            .unzip();
        let mut start = first;
        while start < first + copies {
            let end = (start + per_statement).min(first + copies) - 1;
            // Only numbers and the schema's own names are formatted into the SQL.
            let insert = format!(
                "INSERT INTO {table} ({names}) SELECT {values} FROM {table} t,
                 (WITH RECURSIVE series(n) AS (SELECT {start} UNION ALL
                      SELECT n + 1 FROM series WHERE n < {end}) SELECT n FROM series) s
                 WHERE {rows}",
                names = names.join(", "),
                values = values.join(", "),
                rows = template_rows(table, template_village),
            );
            sql.rows(&insert);
            start = end + 1;
        }
    }
    if tables.contains(&"change") {
        // A document is its snapshot and its change rows up to `last_feed`; a copy's rows
        // have feed numbers of their own, past its template's. The copy loads all of them
        // over the template's snapshot (changes it already holds apply as nothing).
        sql.rows(&format!(
            "UPDATE document SET snapshot_feed = 0, last_feed =
                 (SELECT MAX(c.feed) FROM change c WHERE c.household_id = document.household_id)
             WHERE village = '{village}' AND household_id LIKE 'seed-%' AND last_feed <
                 (SELECT MAX(c.feed) FROM change c WHERE c.household_id = document.household_id)"
        ));
    }
}

pub fn households(sql: &Sql) -> usize {
    let count: i64 = sql.rows("SELECT COUNT(*) AS n FROM household")[0].get("n");
    usize::try_from(count).unwrap()
}

/// How many template households `template_village` holds.
fn templates(sql: &Sql, template_village: &str) -> usize {
    let count: i64 = sql.rows(&format!(
        "SELECT COUNT(*) AS n FROM ({}) templates",
        template_households(template_village)
    ))[0]
        .get("n");
    usize::try_from(count).unwrap().max(1)
}

// ─── A county register with open review items ─────────────────────────────────────────────

/// Households recorded by phones in each of the two template villages.
pub const TEMPLATES: usize = 20;
/// The tables whose rows a copy of a household has.
const HOUSEHOLD_TABLES: [&str; 7] = [
    "document",
    "change",
    "household",
    "member",
    "visit",
    "training",
    "subsidy",
];
/// The same, with the household's review items and their history, and its changes held in
/// quarantine.
const TROUBLED_TABLES: [&str; 10] = [
    "document",
    "change",
    "household",
    "member",
    "visit",
    "training",
    "subsidy",
    "review_item",
    "review_event",
    "quarantine",
];
/// Villages the copies of the households with open items are spread over: the first
/// townships', as items gather where phones overlap.
const TROUBLED_VILLAGES: usize = 100;

/// What [`register`] made.
#[derive(Debug)]
pub struct Register {
    pub households: usize,
    /// Open review items by kind.
    pub open_items: BTreeMap<String, usize>,
    /// A county clerk, a county admin (with TOTP) and an auditor of the county.
    pub clerk: Account,
    pub admin: Account,
    pub auditor: Account,
    /// The village of the clean template households, and one with open items.
    pub plain_village: AreaCode,
    pub troubled_village: AreaCode,
    /// The head's name of the first clean template household, which every copy of it has.
    pub common_name: String,
    /// An ID number two template families share (a duplicate item).
    pub shared_id_number: String,
}

const SURNAMES: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: [&str; 10] = [
    "建国", "秀英", "志强", "桂兰", "海军", "玉梅", "小龙", "春花", "保平", "红霞",
];

/// A name for person `n` of household `h`.
fn name(h: usize, n: usize) -> String {
    format!(
        "{}{}",
        SURNAMES[h % SURNAMES.len()],
        GIVEN[(h / SURNAMES.len() + n * 3) % GIVEN.len()]
    )
}

/// A valid ID number of Lin County for person `serial` (below 1,000 in one register),
/// born on `birth` (`YYYYMMDD`).
fn id_number(birth: &str, serial: usize) -> String {
    with_check_character(&format!("141124{birth}{:03}", serial % 1000))
}

/// Records household `h` as a volunteer does: a head with work away, a spouse, a grown child
/// and a parent, each with an ID number; the child of one household in five has moved out;
/// one head in three has had a training; a finished visit. Returns it with its members' keys.
fn record_household(phone: &Phone, village: &AreaCode, h: usize) -> (HouseholdId, Vec<MemberKey>) {
    let store = &phone.store;
    let household = store
        .create_household(village, Some(&format!("{}{:03}", village.as_str(), h)))
        .unwrap();
    let people = [
        ("01", 1966 + h % 20, "01"),
        ("02", 1968 + h % 20, "01"),
        ("03", 1994 + h % 10, "01"),
        ("11", 1944 + h % 10, "10"),
    ];
    let mut keys = Vec::new();
    for (m, (relation, year, status)) in people.into_iter().enumerate() {
        let (month, day) = (1 + (h + m) % 12, 1 + (h * 7 + m) % 28);
        let birth = format!("{year}{month:02}{day:02}");
        let key = store
            .add_member(&household, &name(h, m), Some(&id_number(&birth, h * 4 + m)))
            .unwrap();
        let path = |field: &str| format!("members.{key}.{field}");
        let mut fields = vec![
            (path("relation"), relation.to_owned()),
            (path("birth_date"), format!("{year}-{month:02}-{day:02}")),
            (path("education"), "03".to_owned()),
            (path("labour_capacity"), "01".to_owned()),
            (path("employment.status"), status.to_owned()),
        ];
        if status == "01" {
            fields.extend([
                (path("phone"), format!("1380354{:04}", h * 4 + m)),
                (path("employment.place"), "太原市小店区".to_owned()),
                (path("employment.trade"), "建筑工".to_owned()),
                (path("employment.start_date"), "2025-03-01".to_owned()),
                (path("employment.monthly_income"), "3800".to_owned()),
                (path("intent.wants_work"), "true".to_owned()),
                (
                    path("intent.wants_training"),
                    h.is_multiple_of(2).to_string(),
                ),
            ]);
        }
        if m == 2 && h.is_multiple_of(5) {
            fields.extend([
                (path("status"), "02".to_owned()),
                (path("left_on"), "2025-09-01".to_owned()),
                (path("moved_to"), "太原市迎泽区".to_owned()),
            ]);
        }
        let edits: Vec<(&str, &str)> = fields
            .iter()
            .map(|(p, v)| (p.as_str(), v.as_str()))
            .collect();
        store.set_fields(&household, &edits).unwrap();
        if m == 0 && h.is_multiple_of(3) {
            let training = store.add_training(&household, &key).unwrap();
            let path = |field: &str| format!("trainings.{training}.{field}");
            let fields = [
                (path("institution"), "临县职业技术学校"),
                (path("trade"), "面点师"),
                (path("model"), "01"),
                (path("start_date"), "2025-05-01"),
                (path("end_date"), "2025-06-30"),
                (path("completed"), "true"),
            ];
            let edits: Vec<(&str, &str)> = fields.iter().map(|(p, v)| (p.as_str(), *v)).collect();
            store.set_fields(&household, &edits).unwrap();
        }
        keys.push(key);
    }
    store
        .set_fields(
            &household,
            &[("household.address", &format!("{}号", h + 1))],
        )
        .unwrap();
    let visit = store.start_visit(&household).unwrap();
    store
        .finish_visit(&household, &visit, "met", Some("在家"), None)
        .unwrap();
    (household, keys)
}

/// A family of one or two people: the head and, if given, a daughter.
fn family(phone: &Phone, village: &AreaCode, number: &str, people: &[(&str, &str)]) -> HouseholdId {
    let household = phone.store.create_household(village, Some(number)).unwrap();
    let mut first = None;
    for (name, id) in people {
        let key = phone.store.add_member(&household, name, Some(id)).unwrap();
        first.get_or_insert(key);
    }
    let head = first.unwrap();
    phone
        .store
        .set_fields(
            &household,
            &[
                (format!("members.{head}.relation").as_str(), "01"),
                ("household.address", "东街"),
            ],
        )
        .unwrap();
    let visit = phone.store.start_visit(&household).unwrap();
    phone
        .store
        .finish_visit(&household, &visit, "met", None, None)
        .unwrap();
    household
}

/// Records the template households with what a clerk settles: two phones of one village
/// edit households apart offline and both sync. Five conflicts (an address, a phone number,
/// a place and trade of work, an income), three rule errors (a head not employed at an
/// employer, two heads, a birth date the ID number contradicts) and two duplicates (a
/// daughter counted in two families, a family recorded twice), found by the server.
/// A tampered phone also moves a household to `moved_to` (held in quarantine). Returns the
/// ID number the two families share.
fn record_troubled(a: &Phone, b: &Phone, village: &AreaCode, moved_to: &AreaCode) -> String {
    let first = TEMPLATES;
    let recorded: Vec<_> = (first..first + TEMPLATES - 4)
        .map(|h| record_household(a, village, h))
        .collect();
    a.sync();
    b.sync();
    // A household the last one moves to phone A's other village, as a tampered app would
    // (staff move households), then goes on editing: screening holds both changes.
    let (moving, _) = recorded.last().unwrap();
    tampered(a, moving, None, |doc, _| {
        use automerge::transaction::Transactable;
        doc.put(automerge::ROOT, "household.village", moved_to.as_str())
            .unwrap();
    });
    a.store
        .set_field(moving, "household.address", "南街 5 号")
        .unwrap();
    let set =
        |phone: &Phone, (household, _): &(HouseholdId, Vec<MemberKey>), path: &str, value: &str| {
            phone.store.set_field(household, path, value).unwrap();
        };
    let member = |h: usize, m: usize, field: &str| format!("members.{}.{field}", recorded[h].1[m]);
    let apart = [
        ("household.address".to_owned(), "东街 1 号", "东街 11 号"),
        (member(1, 0, "phone"), "13803540001", "13903540001"),
        (
            member(2, 0, "employment.place"),
            "太原市杏花岭区",
            "北京市朝阳区",
        ),
        (member(3, 0, "employment.trade"), "电工", "厨师"),
        (member(4, 1, "employment.monthly_income"), "4000", "4200"),
    ];
    // Each value differs from the recorded one: a phone writes nothing that is already there.
    for (h, (path, on_a, on_b)) in apart.iter().enumerate() {
        set(a, &recorded[h], path, on_a);
        set(b, &recorded[h], path, on_b);
    }
    // Each phone's edit is valid; together they say "not employed" at an employer.
    a.store
        .set_fields(
            &recorded[5].0,
            &[
                (member(5, 0, "employment.status").as_str(), "10"),
                (
                    member(5, 0, "employment.not_employed_reason").as_str(),
                    "01",
                ),
            ],
        )
        .unwrap();
    set(
        b,
        &recorded[5],
        &member(5, 0, "employment.employer"),
        "县砖厂",
    );
    set(a, &recorded[6], &member(6, 1, "relation"), "01");
    set(b, &recorded[7], &member(7, 0, "birth_date"), "1971-02-03");
    let daughter = id_number("19960606", 900);
    family(
        a,
        village,
        &format!("{}901", village.as_str()),
        &[
            ("张守田", &id_number("19650101", 901)),
            ("张小梅", &daughter),
        ],
    );
    family(
        b,
        village,
        &format!("{}902", village.as_str()),
        &[
            ("李长河", &id_number("19600202", 902)),
            ("张小梅", &daughter),
        ],
    );
    let head = id_number("19700505", 903);
    family(
        a,
        village,
        &format!("{}903", village.as_str()),
        &[("赵大山", &head)],
    );
    family(
        b,
        village,
        &format!("{}904", village.as_str()),
        &[("赵大山", &head)],
    );
    for phone in [a, b, a] {
        phone.sync();
    }
    daughter
}

/// Open review items of `village`, by kind.
fn open_items(sql: &Sql, village: Option<&AreaCode>) -> BTreeMap<String, usize> {
    let within = village.map_or(String::new(), |v| format!(" AND village = '{v}'"));
    sql.rows(&format!(
        "SELECT kind, COUNT(*) AS n FROM review_item WHERE status = 'open'{within} GROUP BY kind"
    ))
    .iter()
    .map(|row| {
        let n: i64 = row.get("n");
        (row.get::<String, _>("kind"), usize::try_from(n).unwrap())
    })
    .collect()
}

/// Spreads `copies` over `villages` as evenly as whole numbers allow, numbering them from
/// `first`; returns the number after the last.
fn spread(
    sql: &Sql,
    postgres: bool,
    template_village: &AreaCode,
    villages: &[AreaCode],
    mut first: usize,
    copies: usize,
    tables: &[&str],
) -> usize {
    for (i, village) in villages.iter().enumerate() {
        let here = copies / villages.len() + usize::from(i < copies % villages.len());
        grow(
            sql,
            postgres,
            template_village.as_str(),
            village.as_str(),
            first,
            here,
            tables,
        );
        first += here;
    }
    first
}

/// A phone for every village of the county, as its volunteers' would be: enrolled with the
/// template phones, last seen between today and eleven days ago (so some are stale).
fn add_devices(sql: &Sql) {
    let villages = format!(
        "area a WHERE length(a.code) = 12 AND a.code LIKE '{}%'",
        crate::COUNTY
    );
    sql.rows(&format!(
        "INSERT INTO device (id, name, token_hash, created_at, volunteer, last_seen_at)
         SELECT '5eed' || a.code, '志愿者' || substr(a.code, 10) || ' 的手机',
             '5eed' || a.code || '000000000000000000000000000000000000000000000000',
             d.created_at, '志愿者' || substr(a.code, 10),
             d.last_seen_at - (CAST(substr(a.code, 10) AS INTEGER) % 12) * 86400
         FROM (SELECT MIN(created_at) AS created_at, MAX(last_seen_at) AS last_seen_at
               FROM device) d, {villages}"
    ));
    sql.rows(&format!(
        "INSERT INTO device_village (device_id, village) SELECT '5eed' || a.code, a.code
         FROM {villages}"
    ));
}

/// Makes a county register of about `households` households, about `review_items` of them
/// open review items, in `db`, which `server` serves; `progress` hears what is being done.
pub fn register(
    db: &TestDatabase,
    server: &Server,
    households: usize,
    review_items: usize,
    progress: &mut dyn FnMut(&str),
) -> Register {
    let sql = Sql::open(db);
    let postgres = db.url.is_some();
    let villages = villages();
    let plain_village = villages[0].clone();
    let troubled_village = villages[1].clone();

    progress("phones record the template households and sync them");
    let a = Phone::new(
        "phone-a",
        server,
        &db.add_device(&[plain_village.as_str(), troubled_village.as_str()]),
    );
    let b = Phone::new(
        "phone-b",
        server,
        &db.add_device(&[troubled_village.as_str()]),
    );
    for h in 0..TEMPLATES {
        record_household(&a, &plain_village, h);
    }
    a.sync();
    let clean = open_items(&sql, Some(&plain_village));
    assert!(
        clean.is_empty(),
        "the clean template households have open items: {clean:?}"
    );
    let shared_id_number = record_troubled(&a, &b, &troubled_village, &plain_village);
    let per_set: usize = open_items(&sql, Some(&troubled_village)).values().sum();
    assert!(per_set > 0, "the phones' edits made no review items");

    // The templates hold one set of items and 2 × TEMPLATES households already.
    let troubled_copies = (review_items / per_set).saturating_sub(1);
    let plain_copies =
        households.saturating_sub(2 * TEMPLATES + troubled_copies * TEMPLATES) / TEMPLATES;
    progress(&format!(
        "copying: {plain_copies} copies of the clean households, {troubled_copies} of those \
         with {per_set} open items"
    ));
    let next = spread(
        &sql,
        postgres,
        &plain_village,
        &villages,
        0,
        plain_copies,
        &HOUSEHOLD_TABLES,
    );
    spread(
        &sql,
        postgres,
        &troubled_village,
        &villages[..TROUBLED_VILLAGES.min(villages.len())],
        next,
        troubled_copies,
        &TROUBLED_TABLES,
    );
    progress("one more phone for every village of the county");
    add_devices(&sql);
    progress("analysing the tables");
    sql.rows("ANALYZE");

    progress("making the accounts");
    let county = crate::COUNTY;
    Register {
        households: self::households(&sql),
        open_items: open_items(&sql, None),
        clerk: db.add_account("county_staff", county, "李华"),
        admin: db.add_account("county_admin", county, "王芳"),
        auditor: db.add_account("auditor", county, "审计员"),
        plain_village,
        troubled_village,
        common_name: name(0, 0),
        shared_id_number,
    }
}
