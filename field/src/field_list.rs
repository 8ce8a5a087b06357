//! The `fields` command: every field path of the catalog with its kind, labels and codes.
//! This listing is the documentation of what `set` accepts.

use schema::codes::CodeList;
use schema::fields::{CATALOG, Entity, FieldKind, FieldSpec};
use std::io::{self, Write};

/// Writes the whole catalog, grouped by record, in catalog order.
pub fn write(w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "字段路径 Field paths — 用法 usage: doorstep-field set HH FIELD_PATH VALUE（空值即清除 / an empty VALUE clears the field）"
    )?;
    for (entity, zh, en) in [
        (Entity::Household, "户", "Household"),
        (Entity::Member, "成员", "Members"),
        (Entity::Visit, "走访", "Visits"),
        (Entity::Training, "培训", "Trainings"),
        (Entity::Subsidy, "补贴", "Subsidies"),
        (
            Entity::Photo,
            "照片（由 photo add 写入）",
            "Photos (written by photo add)",
        ),
        (Entity::Task, "核实任务", "Visit tasks"),
    ] {
        writeln!(w, "\n{zh} {en}")?;
        for spec in CATALOG.iter().filter(|spec| spec.entity == entity) {
            field(w, spec)?;
        }
    }
    Ok(())
}

fn field(w: &mut dyn Write, spec: &FieldSpec) -> io::Result<()> {
    let system = if spec.system {
        "（系统填写，不可修改 / set by the system, read-only）"
    } else {
        ""
    };
    writeln!(w, "  {}  {} {}{system}", pattern(spec), spec.zh, spec.en)?;
    writeln!(w, "      {}", kind(spec.kind))?;
    match spec.kind {
        FieldKind::Code(lists) => codes(w, lists),
        FieldKind::Codes(list) => codes(w, &[list]),
        _ => Ok(()),
    }
}

/// The path to type, with a placeholder for the record's key.
fn pattern(spec: &FieldSpec) -> String {
    let key = match spec.entity {
        Entity::Household => return format!("household.{}", spec.name),
        Entity::Member => "<member key>",
        _ => "<record id>",
    };
    format!("{}.{key}.{}", spec.entity.prefix(), spec.name)
}

fn kind(kind: FieldKind) -> String {
    match kind {
        FieldKind::Text => "文字 text".to_owned(),
        FieldKind::Code(_) => "代码，选一项 code, one of:".to_owned(),
        FieldKind::Codes(_) => {
            "多选代码，以逗号分隔 multi-select codes, comma-separated (e.g. 01,07):".to_owned()
        }
        FieldKind::Integer { min, max } => format!("整数 whole number, {min}–{max}"),
        FieldKind::Decimal { min, max } => format!("数字 number, {min}–{max}"),
        FieldKind::Boolean => "是/否 yes/no".to_owned(),
        FieldKind::Date => "日期 date, YYYY-MM-DD".to_owned(),
        FieldKind::Timestamp => "时间 time, seconds since 1970".to_owned(),
        FieldKind::IdNumber => "身份证号码，18位（旧式15位自动升位，空格和连字符可省略） \
                                 resident ID number, 18 characters (a legacy 15-digit one is \
                                 upgraded; spaces and hyphens are left out)"
            .to_owned(),
        FieldKind::AreaCode => "区划代码 area code, 2/4/6/9/12 digits (e.g. 110105)".to_owned(),
    }
}

/// The codes a field accepts: the current list, then any code only an older list has.
fn codes(w: &mut dyn Write, lists: &[&CodeList]) -> io::Result<()> {
    let mut shown: Vec<&str> = Vec::new();
    for (index, list) in lists.iter().enumerate() {
        let fresh: Vec<_> = list
            .codes
            .iter()
            .filter(|code| !shown.contains(&code.code))
            .collect();
        if index > 0 && !fresh.is_empty() {
            writeln!(w, "        旧代码表 older list {} {}:", list.zh, list.en)?;
        }
        for code in fresh {
            writeln!(w, "        {} {} / {}", code.code, code.zh, code.en)?;
            shown.push(code.code);
        }
    }
    if lists.iter().any(|list| list.proposed) {
        writeln!(
            w,
            "        （拟定代码表，尚待权威核对 / proposed list, not yet checked against an authoritative one）"
        )?;
    }
    Ok(())
}
