//! A roster file read into a header row and data rows of text, whatever it came as: XLSX
//! (calamine, cached values only) or CSV (UTF-8 with or without a byte order mark, or GBK).
//! Everything about the file that could hurt the server is refused here, before a row is
//! checked: its size, a zip bomb (the XLSX's entries decompressed under a bound before
//! calamine reads them), a formula, a cell past [`MAX_CELL_CHARS`], too many rows or columns,
//! a format that is neither.

use calamine::{Data, Reader, Xlsx};
use schema::Message;
use std::io::{Cursor, Read};

/// The largest file accepted: a county's roster of 200,000 rows as CSV is about 20 MB.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;
/// The most an XLSX may hold once decompressed, all its entries together.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// The most entries an XLSX's zip may hold (a workbook has a dozen or so).
pub const MAX_ZIP_ENTRIES: usize = 1_000;
/// The most data rows a roster may hold.
pub const MAX_ROWS: usize = 200_000;
/// The most columns a roster may hold.
pub const MAX_COLUMNS: usize = 100;
/// The longest cell, in characters: a name, an employer, an address fit in far fewer.
pub const MAX_CELL_CHARS: usize = 1_000;

/// A roster file as text: the first non-empty row is the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<String>,
    /// Each data row with its row number in the file (1 is the header's), blank rows left out.
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Reads `bytes` as an XLSX workbook (its first sheet) or a CSV file.
pub fn read(bytes: &[u8]) -> Result<Table, Message> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_large(bytes.len()));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return read_xlsx(bytes);
    }
    if looks_binary(bytes) {
        return Err(wrong_format());
    }
    read_csv(bytes)
}

fn too_large(size: usize) -> Message {
    Message::new(
        format!(
            "文件过大（{} MB）：名册文件最大 {} MB",
            size / (1024 * 1024),
            MAX_FILE_BYTES / (1024 * 1024)
        ),
        format!(
            "The file is too large ({} MB): a roster file may be at most {} MB",
            size / (1024 * 1024),
            MAX_FILE_BYTES / (1024 * 1024)
        ),
    )
}

fn wrong_format() -> Message {
    Message::new(
        "无法识别文件格式：请上传 XLSX（Excel 2007 及以后）或 CSV 文件；旧式 XLS 请先另存为 XLSX",
        "Unrecognised file format: upload an XLSX (Excel 2007 or later) or CSV file; save an old XLS as XLSX first",
    )
}

/// NUL bytes or other control bytes in the first kilobytes: an old XLS, a PDF, an image.
fn looks_binary(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .take(8192)
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
}

/// The name a person reads for a cell: `C7`.
fn cell_name(row: usize, column: usize) -> String {
    let mut letters = String::new();
    let mut n = column + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.insert(0, char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    format!("{letters}{row}")
}

fn checked_cell(text: String, row: usize, column: usize) -> Result<String, Message> {
    let chars = text.chars().count();
    if chars > MAX_CELL_CHARS {
        let cell = cell_name(row, column);
        return Err(Message::new(
            format!("单元格 {cell} 过长（{chars} 字）：每格最多 {MAX_CELL_CHARS} 字"),
            format!("Cell {cell} is too long ({chars} characters): at most {MAX_CELL_CHARS}"),
        ));
    }
    Ok(text.trim().to_owned())
}

/// Bounds the table's shape and the cells' length; drops blank rows.
fn table(rows: impl Iterator<Item = (usize, Vec<String>)>) -> Result<Table, Message> {
    let mut headers: Option<Vec<String>> = None;
    let mut data = Vec::new();
    for (number, row) in rows {
        if row.len() > MAX_COLUMNS && row[MAX_COLUMNS..].iter().any(|c| !c.trim().is_empty()) {
            return Err(Message::new(
                format!("列数过多：每行最多 {MAX_COLUMNS} 列"),
                format!("Too many columns: at most {MAX_COLUMNS} per row"),
            ));
        }
        let mut cells = Vec::with_capacity(row.len().min(MAX_COLUMNS));
        for (column, cell) in row.into_iter().take(MAX_COLUMNS).enumerate() {
            cells.push(checked_cell(cell, number, column)?);
        }
        if cells.iter().all(String::is_empty) {
            continue;
        }
        if headers.is_none() {
            headers = Some(cells);
            continue;
        }
        if data.len() == MAX_ROWS {
            return Err(Message::new(
                format!("行数过多：一个名册最多 {MAX_ROWS} 行，请分成几个文件"),
                format!("Too many rows: a roster may hold at most {MAX_ROWS}; split the file"),
            ));
        }
        data.push((number, cells));
    }
    let Some(headers) = headers else {
        return Err(Message::new(
            "文件是空的：第一行应为列名",
            "The file is empty: its first row should name the columns",
        ));
    };
    Ok(Table {
        headers,
        rows: data,
    })
}

// ─── CSV ───────────────────────────────────────────────────────────────────────────────────

/// The text of a CSV file: UTF-8 (a byte order mark left out) when it is valid UTF-8, else
/// GBK, which offices' older software still writes. GBK that does not decode is refused.
pub fn decode_text(bytes: &[u8]) -> Result<String, Message> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_owned());
    }
    encoding_rs::GBK
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|text| text.into_owned())
        .ok_or_else(|| {
            Message::new(
                "无法读取文件的文字：既不是 UTF-8 也不是 GBK 编码",
                "Cannot read the file's text: it is neither UTF-8 nor GBK",
            )
        })
}

fn read_csv(bytes: &[u8]) -> Result<Table, Message> {
    let text = decode_text(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = err.position().map_or(0, |p| p.line());
            Message::new(
                format!("CSV 文件第 {line} 行格式有误（引号不配对？）"),
                format!("The CSV file is malformed at line {line} (an unmatched quote?)"),
            )
        })?;
        if rows.len() > MAX_ROWS + 1 {
            break;
        }
        let line = record
            .position()
            .map_or(rows.len() + 1, |p| p.line() as usize);
        rows.push((line, record.iter().map(str::to_owned).collect::<Vec<_>>()));
    }
    table(rows.into_iter())
}

// ─── XLSX ──────────────────────────────────────────────────────────────────────────────────

fn zip_bomb() -> Message {
    Message::new(
        format!(
            "文件解压后过大（超过 {} MB），已拒收",
            MAX_UNPACKED_BYTES / (1024 * 1024)
        ),
        format!(
            "The file unpacks to more than {} MB and was refused",
            MAX_UNPACKED_BYTES / (1024 * 1024)
        ),
    )
}

fn damaged() -> Message {
    Message::new(
        "XLSX 文件已损坏或不是 Excel 工作簿",
        "The XLSX file is damaged or is not an Excel workbook",
    )
}

/// Decompresses every entry of the zip under the bound, before calamine sees it: the sizes
/// the zip's directory declares can lie, so the bytes are counted as they come.
fn check_unpacked_size(bytes: &[u8]) -> Result<(), Message> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| damaged())?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(zip_bomb());
    }
    let mut declared: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|_| damaged())?;
        declared = declared.saturating_add(entry.size());
    }
    if declared > MAX_UNPACKED_BYTES {
        return Err(zip_bomb());
    }
    let mut unpacked: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(|_| damaged())?;
        let room = MAX_UNPACKED_BYTES - unpacked;
        let read = std::io::copy(&mut entry.take(room + 1), &mut std::io::sink())
            .map_err(|_| damaged())?;
        unpacked += read;
        if unpacked > MAX_UNPACKED_BYTES {
            return Err(zip_bomb());
        }
    }
    Ok(())
}

/// A cell's text. A date becomes `YYYY-MM-DD`; a whole number is written without a decimal
/// point; an error cell (`#N/A`) is refused by the row check as the text it shows.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => text.clone(),
        Data::Int(number) => number.to_string(),
        Data::Float(number) if number.fract() == 0.0 && number.abs() < 1e15 => {
            format!("{number:.0}")
        }
        Data::Float(number) => number.to_string(),
        Data::Bool(value) => if *value { "是" } else { "否" }.to_owned(),
        Data::DateTime(serial) => excel_date(serial.as_f64()),
        Data::Error(err) => format!("{err}"),
    }
}

/// An Excel date serial as `YYYY-MM-DD` (day 1 is 1900-01-01; Excel's phantom 1900-02-29
/// is why the count starts from 1899-12-30).
fn excel_date(serial: f64) -> String {
    let days = serial.floor() as i64;
    let base = jiff::civil::date(1899, 12, 30);
    jiff::Span::new()
        .try_days(days)
        .ok()
        .and_then(|span| base.checked_add(span).ok())
        .map_or_else(|| serial.to_string(), |date| date.to_string())
}

fn read_xlsx(bytes: &[u8]) -> Result<Table, Message> {
    check_unpacked_size(bytes)?;
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(|_| damaged())?;
    let Some(sheet) = workbook.sheet_names().into_iter().next() else {
        return Err(damaged());
    };
    let formulas = workbook.worksheet_formula(&sheet).map_err(|_| damaged())?;
    if let Some((row, column, _)) = formulas.used_cells().find(|(_, _, f)| !f.is_empty()) {
        let (top, left) = formulas.start().unwrap_or((0, 0));
        let cell = cell_name(row + top as usize + 1, column + left as usize);
        return Err(Message::new(
            format!(
                "单元格 {cell} 含有公式：名册只收数值，请把公式列复制后“选择性粘贴为数值”再上传"
            ),
            format!(
                "Cell {cell} holds a formula: a roster takes values only; copy the column and \
                 paste it as values, then upload again"
            ),
        ));
    }
    let range = workbook.worksheet_range(&sheet).map_err(|_| damaged())?;
    let (top, left) = range.start().unwrap_or((0, 0));
    if range.width() + left as usize > MAX_COLUMNS * 4 || range.height() > MAX_ROWS + 1_000 {
        return Err(Message::new(
            format!("工作表过大：最多 {MAX_ROWS} 行、{MAX_COLUMNS} 列"),
            format!("The sheet is too large: at most {MAX_ROWS} rows and {MAX_COLUMNS} columns"),
        ));
    }
    // Rows above the range and columns left of it are empty: keep the file's numbering.
    let rows = range.rows().enumerate().map(|(index, row)| {
        let cells = std::iter::repeat_n(String::new(), left as usize)
            .chain(row.iter().map(cell_text))
            .collect::<Vec<_>>();
        (top as usize + index + 1, cells)
    });
    table(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_a_byte_order_mark_and_gbk_read_the_same() {
        let text = "姓名,身份证号码\n张伟,11010519491231002X\n";
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let utf8 = read(text.as_bytes()).expect("utf-8");
        assert_eq!(read(&with_bom).expect("bom"), utf8);
        assert_eq!(read(&gbk).expect("gbk"), utf8);
        assert_eq!(utf8.headers, ["姓名", "身份证号码"]);
        assert_eq!(
            utf8.rows,
            [(2, vec!["张伟".into(), "11010519491231002X".into()])]
        );
    }

    #[test]
    fn blank_rows_are_skipped_and_numbering_kept() {
        let table = read("姓名\n张三\n,\n李四\n".as_bytes()).expect("read");
        assert_eq!(table.headers, ["姓名"]);
        assert_eq!(
            table.rows,
            [(2, vec!["张三".into()]), (4, vec!["李四".into()])]
        );
    }

    #[test]
    fn huge_cells_binary_files_and_bad_quotes_are_refused() {
        let huge = format!("姓名\n{}\n", "长".repeat(MAX_CELL_CHARS + 1));
        assert!(read(huge.as_bytes()).expect_err("huge").zh.contains("A2"));
        assert!(read(b"\xD0\xCF\x11\xE0\x00\x00old xls").is_err());
        assert!(read(b"").is_err());
    }

    #[test]
    fn excel_serials_are_dates() {
        assert_eq!(excel_date(45658.0), "2025-01-01");
        assert_eq!(cell_name(7, 2), "C7");
        assert_eq!(cell_name(1, 27), "AB1");
    }
}
