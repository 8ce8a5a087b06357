//! The rosters of 一库五册 and the indicator lists through the real binary, on both
//! databases: recorded on a phone, synced, exported by the API and by `doorstep report
//! roster`, and read back with calamine. Headers and values in Chinese (never raw codes),
//! villages by name, ID numbers as text cells (masked, and in full when a county role asks),
//! the header frozen, present members only, every export audited.

use crate::support::{audit, auditor};
use calamine::{Data, Reader, Xlsx};
use doorstep_e2e::{
    Backend, COUNTY, OTHER_VILLAGE, Phone, Server, TestDatabase, VILLAGE, with_check_character,
};
use schema::ids::{AreaCode, HouseholdId, MemberKey};
use std::io::Read;

/// The township of both test villages: 临泉镇.
pub(crate) const TOWNSHIP: &str = "141124100";

/// The register the tests export, each member's ID number's first 17 digits (the 17th odd
/// for a man) with what matters to the rosters:
///
/// | household | village | member | born | on the rosters because |
/// |---|---|---|---|---|
/// | 001 | 前麻峪 | 张伟 head | 1988 | works outside the province (transfer), labour age |
/// | 001 | 前麻峪 | 王芳 spouse | 1990 | public-welfare post |
/// | 001 | 前麻峪 | 张小 son | 1995 | moved out: on no roster, though recorded as employed |
/// | 002 | 前麻峪 | 李强 head | 1975 | able, willing, not employed, wants training, none had: failing household, untrained |
/// | 002 | 前麻峪 | 李母 mother | 1950 | 76: past the labour age, no capacity |
/// | 003 | 后麻峪 | 赵磊 head | 1985 | self-employed, trained with a certificate |
pub(crate) struct Register {
    pub(crate) zhang_wei: String,
    pub(crate) li_qiang: String,
}

fn member(
    phone: &Phone,
    household: &HouseholdId,
    name: &str,
    first17: &str,
    fields: &[(&str, &str)],
) -> (MemberKey, String) {
    let id_number = with_check_character(first17);
    let key = phone
        .store
        .add_member(household, name, Some(&id_number))
        .unwrap();
    let paths: Vec<(String, &str)> = fields
        .iter()
        .map(|(field, value)| (format!("members.{key}.{field}"), *value))
        .collect();
    let edits: Vec<(&str, &str)> = paths.iter().map(|(p, v)| (p.as_str(), *v)).collect();
    phone.store.set_fields(household, &edits).unwrap();
    (key, id_number)
}

pub(crate) fn record(phone: &Phone) -> Register {
    let village = AreaCode::parse(VILLAGE).unwrap();
    let other = AreaCode::parse(OTHER_VILLAGE).unwrap();

    let first = phone
        .store
        .create_household(&village, Some("141124100201001"))
        .unwrap();
    let (_, zhang_wei) = member(
        phone,
        &first,
        "张伟",
        "14112419880101123",
        &[
            ("relation", "01"),
            ("sex", "1"),
            ("birth_date", "1988-01-01"),
            ("education", "03"),
            ("health", "01"),
            ("labour_capacity", "02"),
            ("phone", "13800000001"),
            ("employment.status", "01"),
            ("employment.employer", "富士康太原园区"),
            ("employment.place", "广东省深圳市"),
            ("employment.place_area", "4403"),
            ("employment.channel", "01"),
            ("employment.trade", "装配工"),
            ("employment.start_date", "2025-03-01"),
            ("employment.months_worked", "8"),
            ("employment.monthly_income", "4500"),
            ("employment.contract_signed", "true"),
            ("employment.social_insurance", "true"),
            ("employment.labour_brand", "01"),
            ("intent.wants_work", "true"),
            ("intent.wants_training", "false"),
        ],
    );
    member(
        phone,
        &first,
        "王芳",
        "14112419900512124",
        &[
            ("relation", "02"),
            ("sex", "2"),
            ("birth_date", "1990-05-12"),
            ("labour_capacity", "01"),
            ("employment.status", "06"),
            ("employment.employer", "前麻峪村委会"),
            ("employment.trade", "保洁员"),
            ("employment.monthly_income", "500"),
        ],
    );
    member(
        phone,
        &first,
        "张小",
        "14112419950606157",
        &[
            ("relation", "03"),
            ("sex", "1"),
            ("birth_date", "1995-06-06"),
            ("employment.status", "01"),
            ("employment.employer", "某公司"),
            ("status", "02"),
            ("left_on", "2026-01-01"),
            ("moved_to", "太原市"),
        ],
    );

    let second = phone
        .store
        .create_household(&village, Some("141124100201002"))
        .unwrap();
    let (_, li_qiang) = member(
        phone,
        &second,
        "李强",
        "14112419750303135",
        &[
            ("relation", "01"),
            ("sex", "1"),
            ("birth_date", "1975-03-03"),
            ("labour_capacity", "01"),
            ("employment.status", "10"),
            ("employment.not_employed_reason", "05"),
            ("intent.wants_work", "true"),
            ("intent.wants_training", "true"),
            ("intent.training_trades", "厨师"),
            ("intent.training_model", "01"),
        ],
    );
    member(
        phone,
        &second,
        "李母",
        "14112419500202146",
        &[
            ("relation", "12"),
            ("sex", "2"),
            ("birth_date", "1950-02-02"),
            ("labour_capacity", "04"),
        ],
    );

    let third = phone
        .store
        .create_household(&other, Some("141124100202001"))
        .unwrap();
    let (zhao, _) = member(
        phone,
        &third,
        "赵磊",
        "14112419850808171",
        &[
            ("relation", "01"),
            ("sex", "1"),
            ("birth_date", "1985-08-08"),
            ("labour_capacity", "02"),
            ("employment.status", "07"),
            ("employment.employer", "磊磊面馆"),
            ("employment.trade", "面食"),
            ("employment.place", "临县城关"),
            ("employment.start_date", "2025-08-01"),
            ("employment.monthly_income", "3000"),
            ("intent.wants_work", "true"),
            ("intent.wants_training", "true"),
        ],
    );
    let training = phone.store.add_training(&third, &zhao).unwrap();
    let path = |field: &str| format!("trainings.{training}.{field}");
    let fields = [
        (path("institution"), "临县职业技术学校"),
        (path("trade"), "面点师"),
        (path("model"), "01"),
        (path("start_date"), "2025-05-01"),
        (path("end_date"), "2025-06-30"),
        (path("completed"), "true"),
        (path("certificate"), "01"),
        (path("employed_on"), "2025-08-01"),
    ];
    let edits: Vec<(&str, &str)> = fields.iter().map(|(p, v)| (p.as_str(), *v)).collect();
    phone.store.set_fields(&third, &edits).unwrap();
    phone.sync();
    Register {
        zhang_wei,
        li_qiang,
    }
}

/// A workbook's only worksheet as rows of text (numbers as whole numbers), with its name.
pub(crate) fn read_xlsx(bytes: &[u8]) -> (String, Vec<Vec<String>>) {
    let mut workbook = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names = workbook.sheet_names();
    assert_eq!(names.len(), 1, "{names:?}");
    let range = workbook.worksheet_range(&names[0]).unwrap();
    let rows = range
        .rows()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Data::String(text) => text.clone(),
                    Data::Float(number) => format!("{number}"),
                    Data::Int(number) => number.to_string(),
                    Data::Empty => String::new(),
                    other => panic!("an unexpected cell: {other:?}"),
                })
                .collect()
        })
        .collect();
    (names[0].clone(), rows)
}

/// The cell types of a column's data cells: `s` for a string, `f` for a number.
fn cell_types(bytes: &[u8], column: usize) -> Vec<char> {
    let mut workbook = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let name = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&name).unwrap();
    // Above the data: the title row, the row naming the area and date, and the header.
    range
        .rows()
        .skip(3)
        .map(|row| match &row[column] {
            Data::String(_) => 's',
            Data::Float(_) | Data::Int(_) => 'f',
            _ => '-',
        })
        .collect()
}

/// The worksheet's XML, for what calamine does not read: the frozen pane and column widths.
fn worksheet_xml(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut xml = String::new();
    archive
        .by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

pub(crate) fn column(rows: &[Vec<String>], header: &str) -> usize {
    rows[2]
        .iter()
        .position(|cell| cell == header)
        .unwrap_or_else(|| panic!("no column {header}: {:?}", rows[2]))
}

/// The data rows' values of one column.
pub(crate) fn values(rows: &[Vec<String>], header: &str) -> Vec<String> {
    let at = column(rows, header);
    rows[3..].iter().map(|row| row[at].clone()).collect()
}

pub(crate) fn masked(id_number: &str) -> String {
    format!("{}**********{}", &id_number[..4], &id_number[14..])
}

fn get(server: &Server, token: &str, path: &str) -> Vec<u8> {
    let (status, _, body) = server.get_bytes(path, token);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    body
}

#[test]
fn test_the_rosters_read_back_with_chinese_labels_village_names_and_id_numbers_as_text() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let areas = tempfile::tempdir().unwrap();
        let shenzhen = areas.path().join("shenzhen.csv");
        std::fs::write(&shenzhen, "code,name\n44,广东省\n4403,深圳市\n").unwrap();
        db.run(&["areas", "import", shenzhen.to_str().unwrap()]);
        let server = Server::start(&db);
        let phone = Phone::new(
            "phone-a",
            &server,
            &db.add_device(&[VILLAGE, OTHER_VILLAGE]),
        );
        let register = record(&phone);
        let county = server.staff_token(&db, COUNTY, "县工作人员");
        let roster = |name: &str, query: &str| {
            get(
                &server,
                &county,
                &format!("/api/v1/reports/rosters/{name}?area={TOWNSHIP}{query}"),
            )
        };

        // The poor labour roster of the township, masked: a title naming the roster and the
        // area, the header frozen under it, present members of labour age only.
        let xlsx = roster("poor_labour", "&format=xlsx");
        let (sheet, rows) = read_xlsx(&xlsx);
        assert_eq!(sheet, "贫困劳动力花名册");
        assert_eq!(rows[0][0], "临县临泉镇贫困劳动力花名册", "{backend:?}");
        assert!(
            rows[1][0].contains(TOWNSHIP) && rows[1][0].contains("共 4 人"),
            "{:?}",
            rows[1]
        );
        for header in [
            "序号",
            "乡镇",
            "村",
            "户编号",
            "姓名",
            "性别",
            "身份证号码",
            "出生日期",
            "与户主关系",
            "文化程度",
            "健康状况",
            "劳动技能",
            "就业状态",
            "就业意愿",
        ] {
            column(&rows, header);
        }
        assert_eq!(
            values(&rows, "姓名"),
            ["张伟", "王芳", "李强", "赵磊"],
            "{backend:?}: present members of labour age, the head first"
        );
        assert_eq!(
            values(&rows, "村"),
            [
                "前麻峪村委会",
                "前麻峪村委会",
                "前麻峪村委会",
                "后麻峪村委会"
            ]
        );
        assert_eq!(values(&rows, "乡镇")[0], "临泉镇");
        assert_eq!(values(&rows, "户编号")[0], "141124100201001");
        assert_eq!(values(&rows, "性别")[..2], ["男（1）", "女（2）"]);
        assert_eq!(values(&rows, "与户主关系")[0], "户主（01）");
        assert_eq!(values(&rows, "文化程度")[0], "初中（03）");
        assert_eq!(values(&rows, "劳动技能")[0], "技能劳动力（02）");
        assert_eq!(values(&rows, "就业状态")[0], "省外务工（01）");
        assert_eq!(values(&rows, "就业意愿")[0], "是");
        assert_eq!(values(&rows, "出生日期")[0], "1988-01-01");
        assert!(values(&rows, "健康状况")[0].starts_with("***"), "withheld");
        let ids = values(&rows, "身份证号码");
        assert_eq!(ids[0], masked(&register.zhang_wei));
        assert_eq!(ids[2], masked(&register.li_qiang));
        let id_column = column(&rows, "身份证号码");
        assert_eq!(
            cell_types(&xlsx, id_column),
            ['s'; 4],
            "ID numbers are text"
        );
        assert_eq!(cell_types(&xlsx, column(&rows, "户编号")), ['s'; 4]);
        let xml = worksheet_xml(&xlsx);
        assert!(
            xml.contains(
                r#"<pane ySplit="3" topLeftCell="A4" activePane="bottomLeft" state="frozen"/>"#
            ),
            "the title and header rows are frozen: {xml:.600}"
        );
        assert!(
            xml.contains(r#"customWidth="1""#),
            "columns have widths: {xml:.600}"
        );

        // In full for a county role that asks: ID numbers as 18-character text, health read.
        let revealed = roster("poor_labour", "&format=xlsx&reveal=true");
        let (_, rows) = read_xlsx(&revealed);
        assert!(rows[1][0].contains("身份证号码完整显示"), "{:?}", rows[1]);
        let ids = values(&rows, "身份证号码");
        assert_eq!(ids[0], register.zhang_wei);
        assert_eq!(ids[2], register.li_qiang);
        assert_eq!(cell_types(&revealed, column(&rows, "身份证号码")), ['s'; 4]);
        assert_eq!(values(&rows, "健康状况")[0], "健康（01）");

        // Township staff may not reveal; the refusal names it in both languages.
        let township = server.staff_token(&db, TOWNSHIP, "乡镇工作人员");
        let (status, _, body) = server.get_bytes(
            &format!("/api/v1/reports/rosters/poor_labour?area={TOWNSHIP}&reveal=true"),
            &township,
        );
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
        // …and see their own township only.
        let (status, _, _) = server.get_bytes(
            "/api/v1/reports/rosters/poor_labour?area=141124101",
            &township,
        );
        assert_eq!(status, 403);
        let (status, _, body) =
            server.get_bytes("/api/v1/reports/rosters/nope?area=141124100", &county);
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 404, "{body}");
        assert!(
            body.contains("花名册") && body.contains("poor_labour"),
            "{body}"
        );
        let (status, _, _) = server.get_bytes(
            "/api/v1/reports/rosters/training?area=141124100&format=pdf",
            &county,
        );
        assert_eq!(status, 400);

        // The other rosters: who is on each, and their own columns.
        let (sheet, rows) = read_xlsx(&roster("transfer_employment", "&format=xlsx"));
        assert_eq!(sheet, "转移就业花名册");
        assert_eq!(
            values(&rows, "姓名"),
            ["张伟"],
            "{backend:?}: not 张小, who moved out"
        );
        assert_eq!(values(&rows, "务工地域"), ["省外务工（01）"]);
        assert_eq!(values(&rows, "就业单位"), ["富士康太原园区"]);
        assert_eq!(values(&rows, "就业地点"), ["广东省深圳市"]);
        assert_eq!(
            values(&rows, "就业地"),
            ["深圳市（4403）"],
            "named from the area list"
        );
        assert_eq!(values(&rows, "就业渠道"), ["有组织输出（01）"]);
        assert_eq!(values(&rows, "月收入（元）"), ["4500"]);
        assert_eq!(values(&rows, "劳务品牌"), ["吕梁山护工（01）"]);
        assert_eq!(values(&rows, "签订劳动合同"), ["是"]);

        let (_, rows) = read_xlsx(&roster("public_welfare", "&format=xlsx"));
        assert_eq!(values(&rows, "姓名"), ["王芳"]);
        assert_eq!(values(&rows, "岗位名称"), ["保洁员"]);

        let (_, rows) = read_xlsx(&roster("self_employment", "&format=xlsx"));
        assert_eq!(values(&rows, "姓名"), ["赵磊"]);
        assert_eq!(values(&rows, "创业项目"), ["面食"]);
        assert_eq!(values(&rows, "村"), ["后麻峪村委会"]);

        let (sheet, rows) = read_xlsx(&roster("training", "&format=xlsx"));
        assert_eq!(sheet, "培训花名册");
        assert_eq!(values(&rows, "姓名"), ["赵磊"]);
        assert_eq!(values(&rows, "培训机构"), ["临县职业技术学校"]);
        assert_eq!(values(&rows, "培训模式"), ["先培训、后就业（01）"]);
        assert_eq!(values(&rows, "已结业"), ["是"]);
        assert_eq!(values(&rows, "证书/技能鉴定等级"), ["初级工（五级）（01）"]);
        assert_eq!(values(&rows, "培训后就业日期"), ["2025-08-01"]);

        // The indicator lists: 李强's household fails the one-employed target (he is able
        // and willing, nobody works), and he wants training and has had none.
        let (sheet, rows) = read_xlsx(&roster("failing_households", "&format=xlsx"));
        assert_eq!(sheet, "未实现一户一人就业家庭名单");
        assert_eq!(values(&rows, "户编号"), ["141124100201002"], "{backend:?}");
        assert_eq!(values(&rows, "户主姓名"), ["李强"]);
        assert_eq!(values(&rows, "在户人数"), ["2"]);
        assert_eq!(values(&rows, "有劳动能力和就业意愿人员"), ["李强"]);
        let (_, rows) = read_xlsx(&roster("untrained", "&format=xlsx"));
        assert_eq!(
            values(&rows, "姓名"),
            ["李强"],
            "{backend:?}: 赵磊 was trained"
        );
        assert_eq!(values(&rows, "意向培训工种"), ["厨师"]);

        // CSV for scripts: a BOM, bilingual headers, full ID numbers after a tab so that a
        // spreadsheet keeps them as text.
        let csv = String::from_utf8(roster("poor_labour", "&format=csv&reveal=true")).unwrap();
        assert!(csv.starts_with('\u{feff}'), "{csv:.80}");
        let lines: Vec<&str> = csv.lines().collect();
        assert!(
            lines[0].contains("姓名 Name") && lines[0].contains("身份证号码 Resident ID number")
        );
        assert_eq!(lines.len(), 5, "{csv}");
        assert!(
            lines[1].contains(&format!(",\t{},", register.zhang_wei)),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("前麻峪村委会") && lines[1].contains("初中（03）"));
        // JSON, the default, is the same table.
        let json: serde_json::Value = serde_json::from_slice(&roster("poor_labour", "")).unwrap();
        assert_eq!(json["name"], "贫困劳动力花名册");
        assert_eq!(json["rows"].as_array().unwrap().len(), 4, "{json}");
        assert_eq!(json["rows"][0][0], 1);
        assert_eq!(json["columns"][4]["zh"], "姓名");

        // Every export is audited: who, which roster, which area, masked or in full.
        let auditor = auditor(&server, &db);
        let exports: Vec<serde_json::Value> = audit(&server, &auditor, "export")
            .into_iter()
            .filter(|record| record["outcome"] == "ok")
            .collect();
        let details: Vec<&str> = exports
            .iter()
            .map(|record| record["detail"].as_str().unwrap())
            .collect();
        assert_eq!(exports.len(), 10, "{details:?}");
        assert!(
            exports.iter().all(|r| r["target"] == TOWNSHIP),
            "{exports:?}"
        );
        assert!(
            details.iter().any(|d| d.starts_with("roster poor_labour")
                && d.contains("xlsx")
                && d.ends_with("in full")),
            "{details:?}"
        );
        assert!(
            details
                .iter()
                .any(|d| d.starts_with("roster untrained") && d.ends_with("masked")),
            "{details:?}"
        );

        // The command line writes the same workbook, and the operator's export is audited.
        let out = tempfile::tempdir().unwrap();
        let file = out.path().join("poor-labour.xlsx");
        let printed = db.run(&[
            "report",
            "roster",
            "--area",
            TOWNSHIP,
            "--roster",
            "poor_labour",
            "--xlsx",
            file.to_str().unwrap(),
        ]);
        assert!(printed.starts_with("4 rows"), "{printed}");
        let bytes = std::fs::read(&file).unwrap();
        let (_, from_cli) = read_xlsx(&bytes);
        let (_, from_api) = read_xlsx(&xlsx);
        assert_eq!(from_cli[2..], from_api[2..], "{backend:?}");
        let csv_file = out.path().join("failing.csv");
        db.run(&[
            "report",
            "roster",
            "--area",
            VILLAGE,
            "--roster",
            "failing_households",
            "--csv",
            csv_file.to_str().unwrap(),
            "--reveal",
        ]);
        let csv = std::fs::read_to_string(&csv_file).unwrap();
        assert!(csv.starts_with('\u{feff}') && csv.contains("李强"), "{csv}");
        let exports: Vec<serde_json::Value> = audit(&server, &auditor, "export")
            .into_iter()
            .filter(|record| record["outcome"] == "ok")
            .collect();
        assert_eq!(exports.len(), 12);
        assert_eq!(exports[0]["actor"], "operator", "{:?}", exports[0]);
        assert_eq!(exports[0]["target"], VILLAGE);
        assert!(
            exports[0]["detail"]
                .as_str()
                .unwrap()
                .starts_with("roster failing_households"),
            "{:?}",
            exports[0]
        );
        let refused = db
            .command()
            .args(["report", "roster", "--area", TOWNSHIP, "--roster", "nope"])
            .output()
            .unwrap();
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("poor_labour"));
    }
}
