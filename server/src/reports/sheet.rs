//! A report's table as a file: XLSX for the people who print and file it, CSV for scripts.
//!
//! One [`Sheet`] (a title, columns, rows) is written either way, so a roster's XLSX and CSV
//! never disagree. The XLSX has a title row and a row naming the area and date above the
//! header, the header frozen and repeated on every printed page, and each column its width.
//! The CSV is UTF-8 with a byte order mark (without it, the spreadsheet programs county
//! offices use read it as GBK and garble every Chinese character), one header row, no title.
//!
//! Digit strings such as ID numbers and household numbers stay text both ways: a text cell
//! formatted `@` in the XLSX, and in the CSV a leading tab, which spreadsheets keep as part
//! of the text instead of reading an 18-digit number and rounding it (scripts trim it). No
//! cell is ever a formula: the XLSX writes strings as strings, and a CSV cell that a
//! spreadsheet would take for one is prefixed with `'`.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};
use serde::Serialize;

/// What a column holds, and so how its cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Text,
    /// Text made of digits (ID numbers, household numbers, phone numbers) that must never
    /// become a number.
    Digits,
    /// Whole numbers: the sequence, months, yuan.
    Number,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// The header a clerk reads.
    pub zh: String,
    /// The header's English words, for scripts: the CSV header is `zh en`.
    pub en: String,
    pub kind: ColumnKind,
    /// In characters of the default font; a Chinese character is about two.
    #[serde(skip)]
    pub width: f64,
}

impl Column {
    pub fn new(
        zh: impl Into<String>,
        en: impl Into<String>,
        kind: ColumnKind,
        width: f64,
    ) -> Column {
        Column {
            zh: zh.into(),
            en: en.into(),
            kind,
            width,
        }
    }
}

/// One cell; in JSON a string, a number or `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Number(i64),
    Empty,
}

impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Text(text) => serializer.serialize_str(text),
            Cell::Number(number) => serializer.serialize_i64(*number),
            Cell::Empty => serializer.serialize_none(),
        }
    }
}

impl Cell {
    /// A text cell, or an empty one for an empty text.
    pub fn text(value: impl Into<String>) -> Cell {
        let value = value.into();
        if value.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(value)
        }
    }
}

/// A table with its title, ready to be written as XLSX or CSV (or sent as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Sheet {
    /// What the table is (`贫困劳动力花名册`): the XLSX's worksheet name.
    pub name: String,
    /// The XLSX's title row: what, and of which area (`临县城庄镇贫困劳动力花名册`).
    pub title: String,
    /// The area and date it covers, and anything else the reader must know (ID numbers
    /// masked): the XLSX's second row.
    pub subtitle: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

/// The rows above the header in the XLSX: the title and the subtitle.
const TITLE_ROWS: u32 = 2;

/// A UTF-8 byte order mark, for the spreadsheet programs that otherwise read GBK.
const BOM: &str = "\u{feff}";

impl Sheet {
    /// The sheet as an XLSX workbook of one worksheet.
    pub fn to_xlsx(&self) -> Result<Vec<u8>, XlsxError> {
        let mut workbook = Workbook::new();
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(worksheet_name(&self.name))?;
        let last_column = u16::try_from(self.columns.len().saturating_sub(1)).unwrap_or(u16::MAX);
        let title = Format::new()
            .set_bold()
            .set_font_size(16)
            .set_align(FormatAlign::Center)
            .set_align(FormatAlign::VerticalCenter);
        let subtitle = Format::new().set_align(FormatAlign::Left);
        let header = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_align(FormatAlign::Center)
            .set_align(FormatAlign::VerticalCenter)
            .set_border(FormatBorder::Thin)
            .set_background_color(0xDDEBF7);
        let text = Format::new().set_border(FormatBorder::Thin);
        let digits = Format::new()
            .set_border(FormatBorder::Thin)
            .set_num_format("@");
        let number = Format::new().set_border(FormatBorder::Thin);
        if last_column > 0 {
            worksheet.merge_range(0, 0, 0, last_column, &self.title, &title)?;
            worksheet.merge_range(1, 0, 1, last_column, &self.subtitle, &subtitle)?;
        } else {
            worksheet.write_string_with_format(0, 0, &self.title, &title)?;
            worksheet.write_string_with_format(1, 0, &self.subtitle, &subtitle)?;
        }
        worksheet.set_row_height(0, 28)?;
        worksheet.set_row_height(TITLE_ROWS, 30)?;
        for (index, column) in self.columns.iter().enumerate() {
            let col = u16::try_from(index).map_err(|_| XlsxError::RowColumnLimitError)?;
            worksheet.set_column_width(col, column.width)?;
            worksheet.write_string_with_format(TITLE_ROWS, col, &column.zh, &header)?;
        }
        for (index, row) in self.rows.iter().enumerate() {
            let at = u32::try_from(index)
                .ok()
                .and_then(|index| index.checked_add(TITLE_ROWS + 1))
                .ok_or(XlsxError::RowColumnLimitError)?;
            for (col, (cell, column)) in row.iter().zip(&self.columns).enumerate() {
                let col = u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError)?;
                let format = match column.kind {
                    ColumnKind::Text => &text,
                    ColumnKind::Digits => &digits,
                    ColumnKind::Number => &number,
                };
                match cell {
                    Cell::Text(value) => {
                        worksheet.write_string_with_format(at, col, value, format)?;
                    }
                    // Whole numbers of a roster (months, yuan, a sequence) are far below
                    // 2^53, where an f64 stops holding every integer.
                    Cell::Number(value) => {
                        worksheet.write_number_with_format(at, col, *value as f64, format)?;
                    }
                    Cell::Empty => {
                        worksheet.write_blank(at, col, format)?;
                    }
                }
            }
        }
        worksheet.set_freeze_panes(TITLE_ROWS + 1, 0)?;
        worksheet.set_repeat_rows(0, TITLE_ROWS)?;
        worksheet.set_landscape();
        // A4, the paper every county office files on.
        worksheet.set_paper_size(9);
        let last_row = u32::try_from(self.rows.len())
            .ok()
            .and_then(|rows| rows.checked_add(TITLE_ROWS))
            .ok_or(XlsxError::RowColumnLimitError)?;
        worksheet.autofilter(TITLE_ROWS, 0, last_row, last_column)?;
        workbook.save_to_buffer()
    }

    /// The sheet as CSV text: a byte order mark, the header row (`zh en`), then the rows.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from(BOM);
        let header: Vec<String> = self
            .columns
            .iter()
            .map(|column| csv_cell(&format!("{} {}", column.zh, column.en)))
            .collect();
        csv.push_str(&header.join(","));
        csv.push_str("\r\n");
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&self.columns)
                .map(|(cell, column)| match cell {
                    Cell::Text(value) if column.kind == ColumnKind::Digits => digits_cell(value),
                    Cell::Text(value) => csv_cell(value),
                    Cell::Number(value) => value.to_string(),
                    Cell::Empty => String::new(),
                })
                .collect();
            csv.push_str(&cells.join(","));
            csv.push_str("\r\n");
        }
        csv
    }
}

/// A worksheet's name: Excel allows 31 characters and none of `[]:*?/\`.
fn worksheet_name(title: &str) -> String {
    let name: String = title
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .take(31)
        .collect();
    if name.is_empty() {
        "Sheet1".to_owned()
    } else {
        name
    }
}

/// One CSV cell: quoted when it holds a separator, a quote or a line break, and prefixed
/// with `'` when a spreadsheet would take it for a formula.
pub fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A digit string's CSV cell: after a tab when it is all digits (an ID number may end in
/// `X`), which keeps a spreadsheet from reading it as a number and rounding it.
fn digits_cell(value: &str) -> String {
    let numeric = value
        .char_indices()
        .all(|(i, c)| c.is_ascii_digit() || (c == 'X' && i + 1 == value.len()));
    if numeric && !value.is_empty() {
        format!("\t{value}")
    } else {
        csv_cell(value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use calamine::{Data, Reader, Xlsx};

    fn sheet() -> Sheet {
        Sheet {
            name: "测试花名册".to_owned(),
            title: "临县测试花名册".to_owned(),
            subtitle: "临县 2026-03-01".to_owned(),
            columns: vec![
                Column::new("序号", "no", ColumnKind::Number, 6.0),
                Column::new("姓名", "name", ColumnKind::Text, 10.0),
                Column::new("身份证号码", "ID number", ColumnKind::Digits, 22.0),
            ],
            rows: vec![
                vec![
                    Cell::Number(1),
                    Cell::text("刘伟"),
                    Cell::text("11010519491231002X"),
                ],
                vec![
                    Cell::Number(2),
                    Cell::text("=HYPERLINK(\"x\")"),
                    Cell::text("440524188001010014"),
                ],
                vec![
                    Cell::Number(3),
                    Cell::Empty,
                    Cell::text("1411**********123X"),
                ],
            ],
        }
    }

    #[test]
    fn test_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("刘伟"), "刘伟");
        assert_eq!(csv_cell("太原, 山西"), "\"太原, 山西\"");
        assert_eq!(csv_cell("说\"好\""), "\"说\"\"好\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn test_the_csv_keeps_digit_strings_as_text_after_a_tab() {
        let csv = sheet().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "\u{feff}序号 no,姓名 name,身份证号码 ID number");
        assert_eq!(lines[1], "1,刘伟,\t11010519491231002X");
        assert_eq!(
            lines[2],
            "2,\"'=HYPERLINK(\"\"x\"\")\",\t440524188001010014"
        );
        assert_eq!(lines[3], "3,,1411**********123X");
    }

    #[test]
    fn test_the_xlsx_reads_back_with_its_title_header_and_text_cells() {
        let bytes = sheet().to_xlsx().unwrap();
        let mut workbook = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(workbook.sheet_names(), vec!["测试花名册".to_owned()]);
        let range = workbook.worksheet_range("测试花名册").unwrap();
        assert_eq!(
            range.get_value((0, 0)),
            Some(&Data::String("临县测试花名册".into()))
        );
        assert_eq!(
            range.get_value((1, 0)),
            Some(&Data::String("临县 2026-03-01".into()))
        );
        assert_eq!(
            range.get_value((2, 2)),
            Some(&Data::String("身份证号码".into()))
        );
        assert_eq!(range.get_value((3, 0)), Some(&Data::Float(1.0)));
        assert_eq!(
            range.get_value((3, 2)),
            Some(&Data::String("11010519491231002X".into()))
        );
        assert_eq!(
            range.get_value((4, 1)),
            Some(&Data::String("=HYPERLINK(\"x\")".into())),
            "a string, not a formula"
        );
        assert_eq!(
            range.get_value((4, 2)),
            Some(&Data::String("440524188001010014".into())),
            "18 digits stay text"
        );
    }

    #[test]
    fn test_a_worksheet_name_drops_what_excel_refuses() {
        assert_eq!(worksheet_name("a/b[c]:d"), "abcd");
        assert_eq!(worksheet_name("??"), "Sheet1");
        assert_eq!(worksheet_name(&"名".repeat(40)).chars().count(), 31);
    }
}
