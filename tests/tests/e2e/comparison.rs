//! System information comparison (issue 17) through the real binary, on both databases: a
//! phone records two villages; county staff import the registry, social insurance,
//! employment registration and training completion rosters (CSV in UTF-8 and GBK, XLSX);
//! a file with bad rows is refused whole, then imported with them set aside; the
//! mismatches are exactly the planted ones, masked, counted per village; importing the
//! same file again changes nothing; withdrawing takes a roster's mismatches away; hostile
//! files are refused with a message in both languages.

use crate::support::{agent, audit, auditor};
use calamine::{Data, Reader, Xlsx};
use doorstep_e2e::{
    Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE, with_check_character,
};
use schema::ids::{AreaCode, HouseholdId};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;

const CSV: &str = "text/csv";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The people the phone records, and what the rosters will say of them:
///
/// | person | village | ledger | rosters | mismatch |
/// |---|---|---|---|---|
/// | 张伟 m 1988 | 201 | not employed (10) | insured at 富士康; registered employed | not employed but insured; … but registered |
/// | 王芳 f 1990 | 201 | sex recorded male | registry present | sex contradicts the ID number |
/// | 李强 m 1975 | 202 | present | registry: deceased | registry left, ledger present |
/// | 赵磊 m 1985 | 202 | no training | certificate 01 | no training but a certificate |
/// | 孙丽 f 1992 | — | not recorded | registry present, village 202 | missing from the ledger |
pub(crate) struct People {
    pub(crate) zhang_wei: String,
    pub(crate) wang_fang: String,
    pub(crate) li_qiang: String,
    pub(crate) zhao_lei: String,
    pub(crate) sun_li: String,
}

pub(crate) fn people() -> People {
    People {
        zhang_wei: with_check_character("14112419880101123"),
        wang_fang: with_check_character("14112419900512124"),
        li_qiang: with_check_character("14112419750303135"),
        zhao_lei: with_check_character("14112419850707113"),
        sun_li: with_check_character("14112419920202128"),
    }
}

fn member(phone: &Phone, household: &HouseholdId, name: &str, id: &str, fields: &[(&str, &str)]) {
    let key = phone.store.add_member(household, name, Some(id)).unwrap();
    let paths: Vec<(String, &str)> = fields
        .iter()
        .map(|(field, value)| (format!("members.{key}.{field}"), *value))
        .collect();
    let edits: Vec<(&str, &str)> = paths.iter().map(|(p, v)| (p.as_str(), *v)).collect();
    phone.store.set_fields(household, &edits).unwrap();
}

pub(crate) fn record(phone: &Phone, p: &People) {
    let first = phone
        .store
        .create_household(&AreaCode::parse(VILLAGE).unwrap(), Some("141124100201001"))
        .unwrap();
    member(
        phone,
        &first,
        "张伟",
        &p.zhang_wei,
        &[
            ("relation", "01"),
            ("sex", "1"),
            ("birth_date", "1988-01-01"),
            ("labour_capacity", "01"),
            ("employment.status", "10"),
        ],
    );
    member(
        phone,
        &first,
        "王芳",
        &p.wang_fang,
        &[
            ("relation", "02"),
            ("sex", "1"),
            ("birth_date", "1990-05-12"),
        ],
    );
    let second = phone
        .store
        .create_household(
            &AreaCode::parse(OTHER_VILLAGE).unwrap(),
            Some("141124100202001"),
        )
        .unwrap();
    member(
        phone,
        &second,
        "李强",
        &p.li_qiang,
        &[
            ("relation", "01"),
            ("sex", "1"),
            ("birth_date", "1975-03-03"),
        ],
    );
    member(
        phone,
        &second,
        "赵磊",
        &p.zhao_lei,
        &[
            ("relation", "03"),
            ("sex", "1"),
            ("birth_date", "1985-07-07"),
            ("employment.status", "09"),
        ],
    );
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{report:?}");
}

/// Uploads a roster file; returns the status and the answer's bytes.
fn upload(
    server: &Server,
    token: &str,
    query: &str,
    media_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut response = agent()
        .post(&format!("{}/api/v1/imported-rosters?{query}", server.url))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", media_type)
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

fn upload_json(
    server: &Server,
    token: &str,
    query: &str,
    media_type: &str,
    body: &[u8],
) -> (u16, Value) {
    let (status, bytes) = upload(server, token, query, media_type, body);
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

/// Starts a roster upload that declares `length` bytes and sends none of them, and reads the
/// answer: a file declared too large is refused before the server reads a byte. (Sending
/// 33 MiB for real races the refusal: the server answers and closes while the client still
/// writes, and the client sees a broken pipe instead of the answer.)
fn upload_declaring(server: &Server, token: &str, length: usize) -> (u16, Value) {
    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /api/v1/imported-rosters?kind=registry HTTP/1.1\r\nHost: {address}\r\n\
         Connection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: {CSV}\r\n\
         Content-Length: {length}\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON ({status}): {body}"));
    (status, body)
}

/// The open mismatches of an area as (rule, name) pairs, with the whole answer.
fn mismatches(server: &Server, token: &str, query: &str) -> (BTreeSet<(String, String)>, Value) {
    let (status, answer) = server.get_json(&format!("/api/v1/mismatches?{query}"), token);
    assert_eq!(status, 200, "{answer}");
    let found = answer["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["rule"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (found, answer)
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The registry base list: five good rows and two bad ones (rows 7 and 8).
pub(crate) fn registry_csv(p: &People) -> String {
    format!(
        "姓名,身份证号码,性别,户籍状态,变动日期,村代码\n\
         张伟,{},男,在户,,\n\
         王芳,{},女,在户,,\n\
         李强,{},男,死亡,2026/3/1,\n\
         赵磊,{},男,01,,\n\
         孙丽,{},女,01,,{OTHER_VILLAGE}\n\
         刘某,141124198001010010,男,01,,\n\
         陈某,{},女,07,,\n",
        p.zhang_wei,
        p.wang_fang,
        p.li_qiang,
        p.zhao_lei,
        p.sun_li,
        with_check_character("14112419700101002"),
    )
}

/// The training completion roster as an XLSX workbook, the completion date a date cell.
fn training_xlsx(p: &People) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (column, header) in ["姓名", "身份证号码", "证书等级", "培训机构", "结业日期"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, column as u16, *header).unwrap();
    }
    sheet.write_string(1, 0, "赵磊").unwrap();
    sheet.write_string(1, 1, &p.zhao_lei).unwrap();
    sheet.write_string(1, 2, "初级工（五级）").unwrap();
    sheet.write_string(1, 3, "吕梁技校").unwrap();
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2025, 6, 30).unwrap();
    let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    sheet
        .write_datetime_with_format(1, 4, &date, &format)
        .unwrap();
    workbook.save_to_buffer().unwrap()
}

#[test]
fn test_rosters_imported_give_exactly_the_planted_mismatches_masked_and_counted_per_village() {
    let p = people();
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let phone = Phone::new(
            "phone-a",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        record(&phone, &p);
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let registry = registry_csv(&p);

        // Refused whole: every bad row named, in both languages, and nothing stored.
        let (status, refused) = upload_json(
            &server,
            &county,
            "kind=registry&file_name=hj.csv",
            CSV,
            registry.as_bytes(),
        );
        assert_eq!(status, 422, "{refused}");
        assert_eq!(refused["bad_rows"], 2, "{refused}");
        assert_eq!(refused["good_rows"], 5, "{refused}");
        let rows: BTreeSet<u64> = refused["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["row"].as_u64().unwrap())
            .collect();
        assert_eq!(rows, BTreeSet::from([7, 8]), "{refused}");
        let check = refused["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["row"] == 7)
            .unwrap();
        assert_eq!(check["column"], "身份证号码");
        assert!(
            check["message"]["zh"].as_str().unwrap().contains("校验位"),
            "{check}"
        );
        assert!(
            check["message"]["en"]
                .as_str()
                .unwrap()
                .contains("check character"),
            "{check}"
        );
        let (status, list) = server.get_json("/api/v1/imported-rosters", &county);
        assert_eq!((status, list.as_array().unwrap().len()), (200, 0), "{list}");
        assert!(mismatches(&server, &county, "area=141124").0.is_empty());

        // The same errors as a spreadsheet, read back.
        let (status, xlsx) = upload(
            &server,
            &county,
            "kind=registry&errors=xlsx",
            CSV,
            registry.as_bytes(),
        );
        assert_eq!(status, 422);
        let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx)).unwrap();
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        let text: Vec<String> = range
            .rows()
            .flat_map(|r| r.iter().map(|c| c.to_string()))
            .collect();
        assert!(text.iter().any(|c| c.contains("身份证号码")), "{text:?}");
        assert!(text.iter().any(|c| c.contains("没有代码“07”")), "{text:?}");
        assert!(
            range
                .rows()
                .any(|r| r.first() == Some(&Data::Float(8.0)) || r.first() == Some(&Data::Int(8))),
            "{text:?}"
        );

        // Imported with the bad rows set aside.
        let query = "kind=registry&file_name=hj.csv&set_aside_bad_rows=true";
        let (status, imported) = upload_json(&server, &county, query, CSV, registry.as_bytes());
        assert_eq!(status, 201, "{imported}");
        assert_eq!(imported["roster"]["row_count"], 5);
        assert_eq!(imported["roster"]["set_aside_count"], 2);
        assert_eq!(imported["set_aside"].as_array().unwrap().len(), 2);
        let registry_id = imported["roster"]["id"].as_str().unwrap().to_owned();
        let (found, answer) = mismatches(&server, &county, "area=141124&kind=registry");
        assert_eq!(
            found,
            pairs(&[
                ("sex_contradicts_id", "王芳"),
                ("registry_left_ledger_present", "李强"),
                ("missing_from_ledger", "孙丽"),
            ]),
            "{answer}"
        );
        let before: Vec<Value> = answer["mismatches"].as_array().unwrap().clone();
        let text = answer.to_string();
        for number in [&p.wang_fang, &p.li_qiang, &p.sun_li] {
            assert!(
                !text.contains(number.as_str()),
                "an ID number in full: {text}"
            );
        }
        let dead = before.iter().find(|m| m["name"] == "李强").unwrap();
        assert_eq!(dead["area"], OTHER_VILLAGE);
        assert!(dead["household_id"].is_string());
        assert!(
            dead["fields"][0].as_str().unwrap().ends_with(".status"),
            "{dead}"
        );
        assert_eq!(dead["ledger_says"]["zh"], "在户状态：在户");
        assert!(
            dead["roster_says"]["zh"].as_str().unwrap().contains("死亡"),
            "{dead}"
        );
        assert!(
            dead["roster_says"]["zh"]
                .as_str()
                .unwrap()
                .contains("2026-03-01"),
            "{dead}"
        );
        let missing = before.iter().find(|m| m["name"] == "孙丽").unwrap();
        assert_eq!(missing["area"], OTHER_VILLAGE);
        assert!(missing["household_id"].is_null());
        assert_eq!(
            missing["id_number"].as_str().unwrap(),
            format!("1411**********{}", &p.sun_li[14..])
        );

        // The same file again: the same import, the same mismatches with the same ids.
        let (status, again) = upload_json(&server, &county, query, CSV, registry.as_bytes());
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["already_imported"], true);
        assert_eq!(again["roster"]["id"], registry_id.as_str());
        let (_, answer) = mismatches(&server, &county, "area=141124&kind=registry");
        assert_eq!(answer["mismatches"].as_array().unwrap(), &before);

        // Social insurance, in GBK, its employer column mapped by the clerk.
        let insurance = format!(
            "姓名,身份证号,缴费单位\n张伟,{},富士康太原园区\n",
            p.zhang_wei
        );
        let (gbk, _, _) = encoding_rs::GBK.encode(&insurance);
        let (status, unmapped) = upload_json(&server, &county, "kind=social_insurance", CSV, &gbk);
        assert_eq!(status, 400, "{unmapped}");
        assert!(
            unmapped["message"]["zh"]
                .as_str()
                .unwrap()
                .contains("缴费单位"),
            "{unmapped}"
        );
        let map = "kind=social_insurance&map=%E7%BC%B4%E8%B4%B9%E5%8D%95%E4%BD%8D%3Demployer";
        let (status, insured) = upload_json(&server, &county, map, CSV, &gbk);
        assert_eq!(status, 201, "{insured}");
        let insurance_id = insured["roster"]["id"].as_str().unwrap().to_owned();
        let (status, mapping) = server.get_json(
            "/api/v1/imported-rosters/mappings/social_insurance",
            &county,
        );
        assert_eq!(status, 200);
        let employer = mapping["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "employer")
            .unwrap();
        assert_eq!(
            employer["header"], "缴费单位",
            "the mapping is remembered: {mapping}"
        );

        // Training completion as XLSX, and employment registration from the command line.
        let (status, trained) = upload_json(
            &server,
            &county,
            "kind=training_completion",
            XLSX,
            &training_xlsx(&p),
        );
        assert_eq!(status, 201, "{trained}");
        let dir = tempfile::tempdir().unwrap();
        let registration = dir.path().join("jiuye.csv");
        std::fs::write(
            &registration,
            format!(
                "姓名,身份证号码,就业类型,单位\n张伟,{},01,富士康\n",
                p.zhang_wei
            ),
        )
        .unwrap();
        db.run(&[
            "roster",
            "import",
            registration.to_str().unwrap(),
            "--kind",
            "employment_registration",
            "--map",
            "单位=employer",
        ]);

        let (found, answer) = mismatches(&server, &county, "area=141124");
        assert_eq!(
            found,
            pairs(&[
                ("sex_contradicts_id", "王芳"),
                ("registry_left_ledger_present", "李强"),
                ("missing_from_ledger", "孙丽"),
                ("not_employed_but_insured", "张伟"),
                ("not_employed_but_registered", "张伟"),
                ("no_training_but_certificate", "赵磊"),
            ]),
            "{answer}"
        );
        let insured = answer["mismatches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["rule"] == "not_employed_but_insured")
            .unwrap();
        assert_eq!(
            insured["roster_says"]["zh"], "姓名：张伟；参保单位：富士康太原园区",
            "GBK read: {insured}"
        );
        assert_eq!(insured["ledger_says"]["zh"], "就业状态：未就业");
        let trained = answer["mismatches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["rule"] == "no_training_but_certificate")
            .unwrap();
        assert!(
            trained["roster_says"]["zh"]
                .as_str()
                .unwrap()
                .contains("初级工（五级）"),
            "{trained}"
        );
        assert!(
            trained["roster_says"]["zh"]
                .as_str()
                .unwrap()
                .contains("2025-06-30"),
            "{trained}"
        );
        let per_village = |answer: &Value, village: &str| -> i64 {
            answer["counts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["area"] == village)
                .map(|c| c["count"].as_i64().unwrap())
                .sum()
        };
        assert_eq!(per_village(&answer, VILLAGE), 3, "{answer}");
        assert_eq!(per_village(&answer, OTHER_VILLAGE), 3, "{answer}");
        let (found, _) = mismatches(&server, &county, &format!("area={VILLAGE}"));
        assert_eq!(found.len(), 3);

        // In full only when a county role asks, and that read is audited.
        let (_, revealed) = mismatches(&server, &county, "area=141124&kind=registry&reveal=true");
        assert!(revealed.to_string().contains(p.sun_li.as_str()));
        // The command line lists the same.
        let listed = db.run(&[
            "roster",
            "mismatches",
            "--area",
            COUNTY,
            "--kind",
            "registry",
        ]);
        assert_eq!(listed.lines().count(), 3, "{listed}");
        assert!(!listed.contains(p.sun_li.as_str()));

        // Withdrawn: the roster's mismatches go, the others stay.
        let (status, withdrawn) = server.post_json(
            &format!("/api/v1/imported-rosters/{insurance_id}/withdraw"),
            &county,
            &serde_json::json!({}),
        );
        assert_eq!(status, 200, "{withdrawn}");
        assert!(withdrawn["withdrawn_at"].is_i64());
        let (found, _) = mismatches(&server, &county, "area=141124");
        assert_eq!(found.len(), 5);
        assert!(!found.contains(&("not_employed_but_insured".to_owned(), "张伟".to_owned())));
        let (status, _) = server.post_json(
            &format!("/api/v1/imported-rosters/{insurance_id}/withdraw"),
            &county,
            &serde_json::json!({}),
        );
        assert_eq!(status, 404);

        // Township staff may read mismatches of their township, not import.
        let township = server.staff_token(&db, "141124100", "乡镇工作人员");
        let (status, _) = upload(
            &server,
            &township,
            "kind=registry",
            CSV,
            registry.as_bytes(),
        );
        assert_eq!(status, 403);

        let auditor = auditor(&server, &db);
        let imports = audit(&server, &auditor, "roster.import");
        let ok = imports.iter().filter(|r| r["outcome"] == "ok").count();
        let failed = imports.iter().filter(|r| r["outcome"] == "failed").count();
        assert_eq!((ok, failed), (5, 3), "{imports:?}");
        assert_eq!(audit(&server, &auditor, "roster.withdraw").len(), 1);
        // The rows are sealed at rest: no ID number or name in the database file.
        if matches!(backend, Backend::Sqlite) {
            drop(server);
            let bytes: Vec<u8> = crate::at_rest::sqlite_files(db.data_dir.path())
                .into_iter()
                .flat_map(|(_, bytes)| bytes)
                .collect();
            let haystack = String::from_utf8_lossy(&bytes);
            assert!(!haystack.contains(p.sun_li.as_str()));
            assert!(!haystack.contains("富士康太原园区"));
        }
    }
}

/// A zip whose one entry unpacks to far more than the server accepts.
fn zip_bomb() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    let zeros = vec![b'0'; 1024 * 1024];
    for _ in 0..300 {
        zip.write_all(&zeros).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

#[test]
fn test_hostile_roster_files_are_refused_cleanly_in_both_languages() {
    let p = people();
    let bomb = zip_bomb();
    let mut formula = rust_xlsxwriter::Workbook::new();
    let sheet = formula.add_worksheet();
    sheet.write_string(0, 0, "姓名").unwrap();
    sheet.write_string(0, 1, "身份证号码").unwrap();
    sheet.write_string(0, 2, "户籍状态").unwrap();
    sheet.write_string(1, 0, "张伟").unwrap();
    sheet.write_string(1, 1, &p.zhang_wei).unwrap();
    sheet
        .write_formula(1, 2, "=HYPERLINK(\"http://evil\",\"01\")")
        .unwrap();
    let formula = formula.save_to_buffer().unwrap();
    let huge = format!(
        "姓名,身份证号码,户籍状态\n{},{},01\n",
        "长".repeat(5_000),
        p.zhang_wei
    );
    let mut not_a_workbook = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut not_a_workbook);
    zip.start_file("readme.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"hello").unwrap();
    zip.finish().unwrap();
    let not_a_workbook = not_a_workbook.into_inner();
    let cases: [(&str, &str, Vec<u8>, &str); 6] = [
        ("a zip bomb", XLSX, bomb, "解压后过大"),
        ("a formula", XLSX, formula, "C2 含有公式"),
        ("a huge cell", CSV, huge.into_bytes(), "A2 过长"),
        (
            "a PDF",
            "application/octet-stream",
            b"%PDF-1.4\n\x00\x01\x02binary".to_vec(),
            "无法识别文件格式",
        ),
        ("a zip that is no workbook", XLSX, not_a_workbook, "已损坏"),
        (
            "neither UTF-8 nor GBK",
            CSV,
            b"\xff\xfe\xff\xfe,\x81\n".to_vec(),
            "既不是 UTF-8 也不是 GBK",
        ),
    ];
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        for (what, media_type, body, zh) in &cases {
            let (status, answer) = upload_json(&server, &county, "kind=registry", media_type, body);
            assert_eq!(status, 400, "{what}: {answer}");
            assert_eq!(answer["error"], "bad_request", "{what}");
            assert!(
                answer["message"]["zh"].as_str().unwrap().contains(zh),
                "{what}: {answer}"
            );
            assert!(
                !answer["message"]["en"].as_str().unwrap().is_empty(),
                "{what}"
            );
        }
        // Too large to read at all, and a form post (which a cross-site page could send).
        let (status, answer) = upload_declaring(&server, &county, 33 * 1024 * 1024);
        assert_eq!(status, 413, "{answer}");
        assert!(
            answer["message"]["zh"]
                .as_str()
                .unwrap()
                .contains("文件过大")
        );
        let (status, answer) =
            upload_json(&server, &county, "kind=registry", "text/plain", b"a,b\n");
        assert_eq!(status, 415, "{answer}");
        let (status, answer) = upload_json(&server, &county, "kind=payroll", CSV, b"a,b\n");
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"]["en"]
                .as_str()
                .unwrap()
                .contains("registry"),
            "{answer}"
        );
        let (status, list) = server.get_json("/api/v1/imported-rosters", &county);
        assert_eq!(
            (status, list.as_array().unwrap().len()),
            (200, 0),
            "nothing stored: {list}"
        );
        let (status, _, _) = server.get_bytes("/readyz", &county);
        assert_eq!(status, 200, "still serving");
    }
}
