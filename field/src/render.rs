//! What a person reads: a household, the household list, the device's status and
//! validation issues. Every label is Chinese first, then English; codes are shown with
//! their labels and timestamps as local date-times in China (UTC+8).

use client_core::sync::SyncReport;
use client_core::{DeviceProfile, HouseholdDetail, HouseholdSummary, TodoItem};
use schema::Message;
use schema::codes;
use schema::fields::{CATALOG, Entity, FieldKind, FieldPath, FieldSpec};
use schema::ids::AreaCode;
use schema::layout::{self, Candidate, Conflict, FieldValue, HouseholdView, Record};
use schema::tasks::Task;
use schema::validation::{Issue, Severity};
use serde::Serialize;
use std::io::{self, Write};

/// What `status` reports about this device.
#[derive(Debug, Serialize)]
pub struct Status {
    pub actor: String,
    pub profile: DeviceProfile,
    pub villages: Vec<AreaCode>,
    pub households: usize,
    pub unsynced_changes: i64,
}

const NONE: &str = "无 / none";
const UNKNOWN: &str = "未知 / unknown";

/// After a save: the issues of the edited record, if any, making clear the value was kept.
pub fn saved_with_issues(w: &mut dyn Write, issues: &[Issue]) -> io::Result<()> {
    if issues.is_empty() {
        return Ok(());
    }
    writeln!(w, "已保存，但有以下问题 / Saved, with these issues:")?;
    issue_lines(w, "", issues)
}

fn issue_lines(w: &mut dyn Write, indent: &str, issues: &[Issue]) -> io::Result<()> {
    for issue in issues {
        let severity = match issue.severity {
            Severity::Error => "错误/error",
            Severity::Warning => "提醒/warning",
        };
        writeln!(
            w,
            "{indent}{severity} {}: {} / {}",
            issue.path, issue.message.zh, issue.message.en
        )?;
    }
    Ok(())
}

/// The whole household, as `show` prints it.
pub fn household(w: &mut dyn Write, detail: &HouseholdDetail) -> io::Result<()> {
    let view = &detail.view;
    writeln!(w, "户 Household {}", detail.id)?;
    record(w, "  ", Entity::Household, &view.household, view)?;

    let present = view.present_members().count();
    let left = view.members.len() - present;
    if left == 0 {
        writeln!(w, "\n成员 Members: {present}")?;
    } else {
        writeln!(
            w,
            "\n成员 Members: {present}（另有 {left} 人已不在本户 / {left} more no longer here）"
        )?;
    }
    let mut members: Vec<(&String, &Record)> = view.members.iter().collect();
    // The head first, then by relation and name, as a paper roster lists a family.
    members.sort_by_key(|(key, member)| {
        (
            text(member, "relation").unwrap_or("~"),
            text(member, "name").unwrap_or_default(),
            *key,
        )
    });
    for (key, member) in members {
        let name = text(member, "name").unwrap_or("（无姓名）/ (no name)");
        // Who no longer lives here is listed as history, with how they left.
        let status = layout::member_status(member);
        match codes::MEMBER_STATUS.get(status) {
            Some(left) if !layout::is_present(member) => {
                writeln!(w, "  {name} · members.{key} · {} {}", left.zh, left.en)?
            }
            _ => writeln!(w, "  {name} · members.{key}")?,
        }
        record(w, "    ", Entity::Member, member, view)?;
    }

    writeln!(w, "\n走访 Visits: {}", view.visits.len())?;
    let mut visits: Vec<(&String, &Record)> = view.visits.iter().collect();
    visits.sort_by_key(|(key, visit)| {
        let started = visit.get("started_at").and_then(|f| f.value.as_integer());
        (started, *key)
    });
    for (key, visit) in visits {
        writeln!(w, "  visits.{key}")?;
        record(w, "    ", Entity::Visit, visit, view)?;
    }

    for (entity, zh, en, records) in [
        (Entity::Training, "培训", "Trainings", &view.trainings),
        (Entity::Subsidy, "补贴", "Subsidies", &view.subsidies),
    ] {
        if records.is_empty() {
            continue;
        }
        writeln!(w, "\n{zh} {en}: {}", records.len())?;
        for (key, fields) in records {
            writeln!(w, "  {}.{key}", entity.prefix())?;
            record(w, "    ", entity, fields, view)?;
        }
    }

    if !detail.tasks.is_empty() {
        writeln!(w, "\n核实任务 Visit tasks: {}", detail.tasks.len())?;
        for task in &detail.tasks {
            task_lines(w, "  ", task)?;
        }
    }

    if !view.unknown.is_empty() {
        writeln!(
            w,
            "\n其他数据 Other data (本版本不认识 / not known to this version):"
        )?;
        for (key, value) in &view.unknown {
            writeln!(w, "  {key}: {value}")?;
        }
    }

    if detail.issues.is_empty() {
        writeln!(w, "\n问题 Issues: {NONE}")?;
    } else {
        writeln!(w, "\n问题 Issues: {}", detail.issues.len())?;
        issue_lines(w, "  ", &detail.issues)?;
    }

    if detail.conflicts.is_empty() {
        writeln!(w, "\n冲突 Conflicts: {NONE}")?;
    } else {
        writeln!(w, "\n冲突 Conflicts: {}", detail.conflicts.len())?;
        for conflict in &detail.conflicts {
            conflict_lines(w, conflict, view)?;
        }
    }

    writeln!(
        w,
        "\n未同步修改 Unsynced changes: {}",
        detail.unsynced_changes
    )
}

/// The fields of one record that hold a value, in catalog order.
fn record(
    w: &mut dyn Write,
    indent: &str,
    entity: Entity,
    fields: &Record,
    view: &HouseholdView,
) -> io::Result<()> {
    for spec in CATALOG.iter().filter(|spec| spec.entity == entity) {
        let Some(field) = fields.get(spec.name) else {
            continue;
        };
        let disputed = if field.is_disputed() {
            "  ⚠ 有冲突 / disputed"
        } else {
            ""
        };
        writeln!(
            w,
            "{indent}{} {}: {}{disputed}",
            spec.zh,
            spec.en,
            value_text(spec, &field.value, view)
        )?;
    }
    Ok(())
}

fn conflict_lines(w: &mut dyn Write, conflict: &Conflict, view: &HouseholdView) -> io::Result<()> {
    let spec = FieldPath::parse(&conflict.path)
        .ok()
        .map(|path| path.spec());
    match spec {
        Some(spec) => writeln!(w, "  {}（{} {}）", conflict.path, spec.zh, spec.en)?,
        None => writeln!(w, "  {}", conflict.path)?,
    }
    let shown = |value: &FieldValue| match spec {
        Some(spec) => value_text(spec, value, view),
        None => value.display(),
    };
    writeln!(
        w,
        "    暂取值 Provisional value: {} （未经人工确认 / nobody has chosen it yet）",
        shown(&conflict.field.value)
    )?;
    for candidate in &conflict.field.candidates {
        writeln!(w, "    候选 Candidate: {}", shown(&candidate.value))?;
        writeln!(w, "      {}", provenance(candidate))?;
    }
    Ok(())
}

/// Who wrote a candidate value, on which device, when, and in which visit.
fn provenance(candidate: &Candidate) -> String {
    let or_unknown = |text: &Option<String>| text.clone().unwrap_or_else(|| UNKNOWN.to_owned());
    let time = candidate
        .time
        .map_or_else(|| UNKNOWN.to_owned(), local_time);
    let mut parts = vec![
        format!("设备 Device: {}", or_unknown(&candidate.device)),
        format!("走访人 Volunteer: {}", or_unknown(&candidate.volunteer)),
        format!("时间 Time: {time}"),
    ];
    if let Some(visit) = &candidate.visit {
        parts.push(format!("走访 Visit: {visit}"));
    }
    parts.push(format!("写入方 Actor: {}", candidate.actor));
    parts.join(" · ")
}

/// A value as a person reads it: codes with their labels, times as local date-times.
fn value_text(spec: &FieldSpec, value: &FieldValue, view: &HouseholdView) -> String {
    match (spec.kind, value) {
        (FieldKind::Code(lists), FieldValue::Text(code)) => {
            code_text(code, lists.iter().find_map(|list| list.label(code)))
        }
        (FieldKind::Codes(list), FieldValue::Codes(codes)) => codes
            .iter()
            .map(|code| code_text(code, list.label(code)))
            .collect::<Vec<_>>()
            .join("; "),
        (FieldKind::Timestamp, FieldValue::Integer(seconds)) => local_time(*seconds),
        (_, FieldValue::Boolean(true)) => "是 / yes".to_owned(),
        (_, FieldValue::Boolean(false)) => "否 / no".to_owned(),
        (_, FieldValue::Text(key))
            if spec.name == "member"
                && matches!(spec.entity, Entity::Training | Entity::Subsidy) =>
        {
            match view.members.get(key).and_then(|m| text(m, "name")) {
                Some(name) => format!("{key}（{name}）"),
                None => key.clone(),
            }
        }
        _ => value.display(),
    }
}

/// `01 省外务工 / Working outside the province`; a code not in the list shows as typed
/// (validation reports it).
fn code_text(code: &str, label: Option<Message>) -> String {
    match label {
        Some(label) => format!("{code} {} / {}", label.zh, label.en),
        None => code.to_owned(),
    }
}

fn text<'r>(record: &'r Record, name: &str) -> Option<&'r str> {
    record.get(name).and_then(|field| field.value.as_text())
}

/// Seconds since 1970 as a date-time in China (UTC+8).
pub fn local_time(seconds: i64) -> String {
    let china = jiff::tz::TimeZone::fixed(jiff::tz::offset(8));
    match jiff::Timestamp::from_second(seconds) {
        Ok(moment) => moment
            .to_zoned(china)
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// One line per household.
/// One task: its id and status, what to check, what the other roster says, the note.
fn task_lines(w: &mut dyn Write, indent: &str, task: &Task) -> io::Result<()> {
    let status = task.status.label();
    writeln!(w, "{indent}tasks.{} · {} {}", task.id, status.zh, status.en)?;
    writeln!(
        w,
        "{indent}  核实 Check: {} / {}",
        task.check.zh, task.check.en
    )?;
    if let Some(other) = &task.other_says {
        let source = task.source.as_deref().unwrap_or("?");
        writeln!(w, "{indent}  比对信息 Other roster ({source}): {other}")?;
    }
    if let Some(field) = &task.field {
        writeln!(w, "{indent}  字段 Field: {field}")?;
    }
    if let Some(note) = &task.note {
        writeln!(w, "{indent}  说明 Note: {note}")?;
    }
    Ok(())
}

/// The to-do list: each open task under its household.
pub fn todo(w: &mut dyn Write, items: &[TodoItem]) -> io::Result<()> {
    let mut last = None;
    for item in items {
        if last != Some(&item.household) {
            let head = item.head_name.as_deref().unwrap_or("—");
            writeln!(
                w,
                "{} {} {head} · {}",
                item.village, item.number, item.household
            )?;
            last = Some(&item.household);
        }
        task_lines(w, "  ", &item.task)?;
    }
    Ok(())
}

pub fn household_list(w: &mut dyn Write, households: &[HouseholdSummary]) -> io::Result<()> {
    for h in households {
        writeln!(
            w,
            "{}  {}  {}  户主 Head: {}  成员 Members: {}  错误 Errors: {}  提醒 Warnings: {}  冲突 Conflicts: {}  未同步 Unsynced: {}",
            h.id,
            h.village,
            h.number,
            h.head_name.as_deref().unwrap_or("—"),
            h.member_count,
            h.error_count,
            h.warning_count,
            h.conflict_count,
            h.unsynced_changes,
        )?;
    }
    Ok(())
}

pub fn profile(w: &mut dyn Write, profile: &DeviceProfile) -> io::Result<()> {
    writeln!(w, "设备 Device: {}", profile.device)?;
    let volunteer = Some(profile.volunteer.as_str()).filter(|v| !v.is_empty());
    writeln!(
        w,
        "走访人 Volunteer: {}",
        volunteer.unwrap_or("未设置 / not set")
    )
}

pub fn status(w: &mut dyn Write, status: &Status) -> io::Result<()> {
    writeln!(w, "本机标识 Actor: {}", status.actor)?;
    profile(w, &status.profile)?;
    let villages: Vec<&str> = status.villages.iter().map(AreaCode::as_str).collect();
    if villages.is_empty() {
        writeln!(
            w,
            "负责村 Villages: 未分配，可记录任何村 / not assigned, any village"
        )?;
    } else {
        writeln!(w, "负责村 Villages: {}", villages.join(", "))?;
    }
    writeln!(w, "户数 Households: {}", status.households)?;
    writeln!(
        w,
        "未同步修改 Unsynced changes: {}",
        status.unsynced_changes
    )
}

/// The summary at the end of a sync.
pub fn sync_report(w: &mut dyn Write, report: &SyncReport) -> io::Result<()> {
    writeln!(w, "同步完成 Sync finished ({} 轮 rounds)", report.rounds)?;
    writeln!(
        w,
        "上传 Sent: {} 户 households, {} 条修改 changes, {} B",
        report.documents_sent, report.changes_sent, report.bytes_sent
    )?;
    writeln!(
        w,
        "接收 Received: {} 户整档 whole households, {} 条修改 changes, {} B",
        report.documents_received, report.changes_received, report.bytes_received
    )?;
    writeln!(w, "冲突字段 Disputed fields: {}", report.conflicts)?;
    writeln!(
        w,
        "未同步修改 Unsynced changes: {}",
        report.unsynced_changes
    )?;
    if !report.dropped.is_empty() {
        writeln!(
            w,
            "移出本机 Removed from this device: {} 户 households (所在村已不由本机负责，数据已在服务器 / their villages are no longer this device's; the server holds their data)",
            report.dropped.len()
        )?;
    }
    if !report.rejected.is_empty() {
        writeln!(
            w,
            "\n未被接受的户 Households the server refused (数据仍在本机 / still on this device):"
        )?;
        for rejection in &report.rejected {
            writeln!(
                w,
                "  {}: {} / {}",
                rejection.household, rejection.reason.zh, rejection.reason.en
            )?;
        }
    }
    if !report.quarantined.is_empty() {
        writeln!(
            w,
            "\n待县里审核的修改 Changes held for county review (已在服务器，也仍在本机 / on the server and still on this device):"
        )?;
        for held in &report.quarantined {
            writeln!(
                w,
                "  {} ({} 条 changes): {} / {}",
                held.household, held.changes, held.reason.zh, held.reason.en
            )?;
        }
    }
    Ok(())
}

/// What the photo upload after a sync did.
pub fn photo_upload(
    w: &mut dyn Write,
    report: &client_core::photo::UploadReport,
) -> io::Result<()> {
    writeln!(
        w,
        "照片 Photos: 已上传 uploaded {}, 服务器已有 already on the server {}, 待引用同步 waiting for their household {}, 被拒绝 refused {} (↑{} B)",
        report.uploaded, report.already_held, report.waiting, report.refused, report.bytes_sent
    )
}

#[cfg(test)]
mod tests {
    use super::local_time;

    #[test]
    fn test_timestamps_read_as_china_local_time() {
        assert_eq!(local_time(0), "1970-01-01 08:00:00");
        assert_eq!(local_time(1_772_330_400), "2026-03-01 10:00:00");
    }
}
