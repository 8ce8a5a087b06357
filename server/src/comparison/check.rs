//! Every row of a roster checked against its kind's fields: the ID number (`IdNumber`), dates,
//! codes (`schema::codes`), village codes, no control characters; a sex that contradicts the
//! row's own ID number; an ID number twice in one file. A good row becomes a [`RosterRow`],
//! a bad one a [`RowError`] per problem, in both languages.

use super::file::Table;
use super::kinds::{ColumnKind, RosterKind};
use jiff::civil::Date;
use schema::Message;
use schema::id_number::IdNumber;
use schema::ids::AreaCode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// One good row: its ID number (18 characters) and its other fields as checked text (codes
/// as codes, dates as `YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterRow {
    /// The row's number in the file (the header is row 1).
    pub row: usize,
    pub id_number: String,
    pub fields: BTreeMap<String, String>,
}

impl RosterRow {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .get(field)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// What is wrong with one row: which row, which column, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub row: usize,
    /// The file's header of the column, when the problem is one cell.
    pub column: Option<String>,
    pub message: Message,
}

/// A file's rows, checked: the good ones and every problem of the bad ones.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub rows: Vec<RosterRow>,
    pub errors: Vec<RowError>,
    /// How many rows had at least one error.
    pub bad_rows: usize,
}

/// A date as offices write it: `2025-03-01`, `2025/3/1`, `2025.03.01` or `20250301`.
pub fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        let (y, md) = text.split_at(4);
        let (m, d) = md.split_at(2);
        return Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok();
    }
    let parts: Vec<&str> = text.split(['-', '/', '.']).collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    if y.len() != 4 {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

/// A code as offices write it: the code (`01`, or `1` for a two-digit list), or its Chinese
/// label (`男`, `迁出`).
fn parse_code(list: &schema::codes::CodeList, text: &str) -> Option<&'static str> {
    if let Some(code) = list.get(text) {
        return Some(code.code);
    }
    if let Some(code) = list.codes.iter().find(|c| c.zh == text) {
        return Some(code.code);
    }
    if text.len() == 1 {
        return list.get(&format!("0{text}")).map(|c| c.code);
    }
    None
}

/// Checks every row of `table`, whose columns of `kind`'s fields are `columns`.
pub fn check(
    kind: RosterKind,
    table: &Table,
    columns: &BTreeMap<&'static str, usize>,
    today: Date,
) -> Checked {
    let mut checked = Checked::default();
    let mut seen: HashSet<String> = HashSet::new();
    for (number, cells) in &table.rows {
        let mut errors = Vec::new();
        let mut row = RosterRow {
            row: *number,
            id_number: String::new(),
            fields: BTreeMap::new(),
        };
        for field in kind.fields() {
            let Some(&column) = columns.get(field.name) else {
                continue;
            };
            let header = table.headers.get(column).cloned().unwrap_or_default();
            let text = cells.get(column).map(String::as_str).unwrap_or_default();
            let mut fail = |zh: String, en: String| {
                errors.push(RowError {
                    row: *number,
                    column: Some(header.clone()),
                    message: Message::new(zh, en),
                });
            };
            if text.chars().any(char::is_control) {
                fail(
                    format!("“{}”含有控制字符", field.zh),
                    format!("\"{}\" holds a control character", field.en),
                );
                continue;
            }
            if text.is_empty() {
                if field.required {
                    fail(
                        format!("“{}”不能为空", field.zh),
                        format!("\"{}\" is empty", field.en),
                    );
                }
                continue;
            }
            match field.kind {
                ColumnKind::IdNumber => match IdNumber::parse(text, today) {
                    Ok(number) => row.id_number = number.as_str().to_owned(),
                    Err(err) => {
                        let message = err.message();
                        fail(message.zh, message.en);
                    }
                },
                ColumnKind::Text => {
                    row.fields.insert(field.name.into(), text.to_owned());
                }
                ColumnKind::Date => match parse_date(text) {
                    Some(date) if date <= today => {
                        row.fields.insert(field.name.into(), date.to_string());
                    }
                    Some(_) => fail(
                        format!("“{}”{text} 晚于今天", field.zh),
                        format!("\"{}\" {text} is after today", field.en),
                    ),
                    None => fail(
                        format!(
                            "“{}”{text} 不是日期（应为 2025-03-01 这样的格式）",
                            field.zh
                        ),
                        format!(
                            "\"{}\" {text} is not a date (write it as 2025-03-01)",
                            field.en
                        ),
                    ),
                },
                ColumnKind::Code(list) => match parse_code(list, text) {
                    Some(code) => {
                        row.fields.insert(field.name.into(), code.to_owned());
                    }
                    None => {
                        let known: Vec<String> = list
                            .codes
                            .iter()
                            .map(|c| format!("{} {}", c.code, c.zh))
                            .collect();
                        fail(
                            format!("“{}”没有代码“{text}”；可用：{}", field.zh, known.join("、")),
                            format!(
                                "\"{}\" has no code \"{text}\"; the codes are: {}",
                                field.en,
                                list.codes
                                    .iter()
                                    .map(|c| format!("{} {}", c.code, c.en))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                },
                ColumnKind::Village => match AreaCode::parse(text) {
                    Ok(area) if area.as_str().len() == 12 => {
                        row.fields
                            .insert(field.name.into(), area.as_str().to_owned());
                    }
                    _ => fail(
                        format!("“{}”{text} 不是 12 位村代码", field.zh),
                        format!("\"{}\" {text} is not a 12-digit village code", field.en),
                    ),
                },
            }
        }
        if let (Some(sex), Ok(id)) = (row.get("sex"), IdNumber::parse(&row.id_number, today))
            && sex != id.sex().code()
        {
            errors.push(RowError {
                row: *number,
                column: columns
                    .get("sex")
                    .and_then(|&c| table.headers.get(c))
                    .cloned(),
                message: Message::new(
                    format!("性别与身份证号码不符（号码显示为{}）", id.sex().label().zh),
                    format!(
                        "The sex contradicts the ID number (which says {})",
                        id.sex().label().en
                    ),
                ),
            });
        }
        if errors.is_empty() && !seen.insert(row.id_number.clone()) {
            errors.push(RowError {
                row: *number,
                column: None,
                message: Message::new(
                    "同一身份证号码在文件中出现了两次",
                    "The same ID number is in the file twice",
                ),
            });
        }
        if errors.is_empty() {
            checked.rows.push(row);
        } else {
            checked.bad_rows += 1;
            checked.errors.extend(errors);
        }
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparison::kinds::{Mapping, columns};

    fn table(rows: &[&[&str]]) -> Table {
        Table {
            headers: rows[0].iter().map(|s| (*s).to_owned()).collect(),
            rows: rows[1..]
                .iter()
                .enumerate()
                .map(|(i, r)| (i + 2, r.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    fn today() -> Date {
        jiff::civil::date(2026, 12, 1)
    }

    #[test]
    fn good_rows_are_normalised() {
        let file = table(&[
            &["姓名", "身份证号码", "性别", "户籍状态", "变动日期"],
            &["张伟", "11010519491231002x", "女", "迁出", "2025/3/1"],
            &["李四", "440524188001010014", "", "1", ""],
        ]);
        let kind = RosterKind::Registry;
        let cols = columns(kind, &Mapping::new(), &file.headers).expect("columns");
        let checked = check(kind, &file, &cols, today());
        assert_eq!(checked.errors, []);
        assert_eq!(checked.rows[0].id_number, "11010519491231002X");
        assert_eq!(checked.rows[0].get("status"), Some("02"));
        assert_eq!(checked.rows[0].get("sex"), Some("2"));
        assert_eq!(checked.rows[0].get("left_on"), Some("2025-03-01"));
        assert_eq!(checked.rows[1].get("status"), Some("01"));
    }

    #[test]
    fn every_problem_of_a_bad_row_is_named_with_its_row_and_column() {
        let file = table(&[
            &["姓名", "身份证号码", "性别", "户籍状态", "变动日期"],
            &["", "110105194912310021", "男", "07", "2025-02-30"],
            &["张伟", "11010519491231002X", "男", "01", ""],
            &["张伟", "11010519491231002X", "女", "01", ""],
            &["张伟", "11010519491231002X", "", "01", ""],
            &["王五", "440524188001010014", "", "01", "2099-01-01"],
        ]);
        let kind = RosterKind::Registry;
        let cols = columns(kind, &Mapping::new(), &file.headers).expect("columns");
        let checked = check(kind, &file, &cols, today());
        assert_eq!(checked.bad_rows, 4);
        assert_eq!(checked.rows.len(), 1);
        let of_row = |row: usize| -> Vec<String> {
            checked
                .errors
                .iter()
                .filter(|e| e.row == row)
                .map(|e| e.message.en.clone())
                .collect()
        };
        let second = of_row(2);
        assert_eq!(second.len(), 4, "{second:?}");
        assert!(second.iter().any(|e| e.contains("\"Name\" is empty")));
        assert!(
            second.iter().any(|e| e.contains("check character")),
            "{second:?}"
        );
        assert!(second.iter().any(|e| e.contains("no code \"07\"")));
        assert!(second.iter().any(|e| e.contains("not a date")));
        assert!(of_row(3)[0].contains("contradicts the ID number"));
        assert!(of_row(4).is_empty());
        assert!(of_row(5)[0].contains("twice"));
        assert!(of_row(6)[0].contains("after today"));
    }
}
