//! The recording API a phone UI calls: households, members, records and visits, each
//! edit checked against the policy's rules; and opening a household.

use super::derived::Checked;
use super::documents::Loaded;
use super::edit::OpenVisit;
use super::index::{insert_index, unsynced_in};
use super::{GpsPoint, HouseholdDetail, Store, now, random_bytes, today};
use crate::error::{Error, Result};
use automerge::transaction::CommitOptions;
use automerge::{AutoCommit, ReadDoc};
use rusqlite::params;
use schema::IdNumber;
use schema::Message;
use schema::fields::{Entity, FieldKind, FieldPath};
use schema::ids::{AreaCode, HouseholdId, MemberKey, RecordId};
use schema::layout::{self, FieldValue, HouseholdView};
use schema::validation::Issue;

impl Store {
    /// Creates a household in one of this device's villages. Without a registry number, the
    /// household gets a provisional one.
    pub fn create_household(
        &self,
        village: &AreaCode,
        number: Option<&str>,
    ) -> Result<HouseholdId> {
        let village = AreaCode::parse_village(village.as_str())?;
        let mut inner = self.lock();
        inner.check_village(&village)?;
        let id = HouseholdId::from_random(random_bytes());
        let number = match number.map(str::trim).filter(|n| !n.is_empty()) {
            Some(number) => number.to_owned(),
            None => format!("NEW-{}", id.as_str()[..10].to_uppercase()),
        };
        let mut doc = AutoCommit::new().with_actor(inner.actor.clone());
        layout::init_household(&mut doc, &id, &village, &number, now())?;
        let actor = inner.actor.to_hex_string();
        layout::write_actor(&mut doc, &actor, &inner.profile.actor_info())?;
        doc.commit_with(CommitOptions::default().with_time(now()));
        let snapshot = doc.save();
        let heads = doc.get_heads();
        let view = layout::read_household(doc.document())?;
        let checked = Checked::of(&view);
        // The snapshot holds the household's first change, so its row is there only to
        // mark it unsynced: it sits at the snapshot's `seq`, with no bytes.
        let snapshot_seq = heads.len() as i64;
        let tx = inner.conn.transaction()?;
        tx.execute(
            "INSERT INTO document (household_id, village, snapshot, snapshot_seq)
             VALUES (?1, ?2, ?3, ?4)",
            params![id.as_str(), village.as_str(), snapshot, snapshot_seq],
        )?;
        for (seq, hash) in (1..).zip(&heads) {
            tx.execute(
                "INSERT INTO document_change (household_id, seq, bytes, unsynced_hash)
                 VALUES (?1, ?2, x'', ?3)",
                params![id.as_str(), seq, hash.as_ref()],
            )?;
        }
        insert_index(&tx, id.as_str(), &view, &checked, snapshot_seq)?;
        tx.commit()?;
        inner.cache.put(
            id.to_string(),
            Loaded {
                doc,
                last_seq: snapshot_seq,
                snapshot_seq,
                derived: None,
            },
        );
        Ok(id)
    }

    /// Adds a member by ID number, or returns the existing member with that number.
    ///
    /// The member key is derived from the ID number, so the same person added on two phones
    /// lands in one member entry. A member without an ID number gets a random key.
    ///
    /// Adding a number already in the household under another name is refused, naming the
    /// member it belongs to: taking it silently would return the other person's key and
    /// lose the name typed. Renaming that member is an ordinary `set_field` on its name.
    pub fn add_member(
        &self,
        household: &HouseholdId,
        name: &str,
        id_number: Option<&str>,
    ) -> Result<MemberKey> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::InvalidInput(Message::new(
                "请填写成员姓名",
                "The member's name is required",
            )));
        }
        let id_number = id_number
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| IdNumber::parse(id, today()))
            .transpose()?;
        let mut inner = self.lock();
        let key = match &id_number {
            Some(id) => inner.member_secret.member_key(id),
            None => MemberKey::from_random(random_bytes()),
        };
        let mut fields = vec![("name", FieldValue::Text(name.to_owned()))];
        if let Some(id) = &id_number {
            fields.push(("id_number", FieldValue::Text(id.to_string())));
            fields.push(("sex", FieldValue::Text(id.sex().code().to_owned())));
            fields.push(("birth_date", FieldValue::Text(id.birth_date().to_string())));
        }
        inner.edit(household, |doc| {
            if let Some(id) = &id_number {
                refuse_another_name(doc, &key, id, name)?;
            }
            for (name, value) in &fields {
                let path = FieldPath::member(&key, name)?;
                // Adding someone already recorded fills in only what is missing: a second
                // spelling of the name must not silently rename the member.
                if doc
                    .get(automerge::ROOT, path.to_string().as_str())?
                    .is_none()
                {
                    layout::write_field(doc, &path, Some(value))?;
                }
            }
            Ok(())
        })?;
        Ok(key)
    }

    /// Sets one field from what a person typed; empty input clears it. Returns the
    /// validation issues of the record the field belongs to, after the edit.
    pub fn set_field(
        &self,
        household: &HouseholdId,
        path: &str,
        input: &str,
    ) -> Result<Vec<Issue>> {
        self.set_fields(household, &[(path, input)])
    }

    /// Sets several fields in one durable change, as a visit form saves a page.
    pub fn set_fields(
        &self,
        household: &HouseholdId,
        edits: &[(&str, &str)],
    ) -> Result<Vec<Issue>> {
        let paths = edits
            .iter()
            .map(|(path, _)| FieldPath::parse(path))
            .collect::<Result<Vec<_>, _>>()?;
        for path in &paths {
            if path.entity == Entity::Task {
                return Err(Error::InvalidInput(Message::new(
                    format!("核实任务“{path}”只能用“标记已核实”修改"),
                    format!("A visit task (\"{path}\") changes only by marking it checked"),
                )));
            }
            if path.spec().system {
                return Err(Error::InvalidInput(Message::new(
                    format!("字段“{path}”由系统填写，不能手工修改"),
                    format!("Field \"{path}\" is set by the system and cannot be edited"),
                )));
            }
        }
        let values = paths
            .iter()
            .zip(edits)
            .map(|(path, (_, input))| typed_value(path, input))
            .collect::<Result<Vec<_>>>()?;
        let mut inner = self.lock();
        let detail = inner.edit(household, |doc| {
            for (path, value) in paths.iter().zip(&values) {
                ensure_record_exists(doc, path)?;
                layout::write_field(doc, path, value.as_ref())?;
            }
            Ok(())
        })?;
        Ok(issues_of_records(detail.issues, &paths))
    }

    /// Adds a training record for a member and returns its id.
    pub fn add_training(&self, household: &HouseholdId, member: &MemberKey) -> Result<RecordId> {
        self.add_member_record(household, Entity::Training, member)
    }

    /// Adds a subsidy record for a member and returns its id.
    pub fn add_subsidy(&self, household: &HouseholdId, member: &MemberKey) -> Result<RecordId> {
        self.add_member_record(household, Entity::Subsidy, member)
    }

    pub(super) fn add_member_record(
        &self,
        household: &HouseholdId,
        entity: Entity,
        member: &MemberKey,
    ) -> Result<RecordId> {
        let id = RecordId::from_random(random_bytes());
        let mut inner = self.lock();
        inner.edit(household, |doc| {
            ensure_record_exists(doc, &FieldPath::member(member, "name")?)?;
            let path = FieldPath::record(entity, &id, "member")?;
            layout::write_field(doc, &path, Some(&FieldValue::Text(member.to_string())))?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Starts a visit to a household. Edits made until it finishes are tied to it.
    pub fn start_visit(&self, household: &HouseholdId) -> Result<RecordId> {
        let id = RecordId::from_random(random_bytes());
        let mut inner = self.lock();
        let profile = inner.profile.clone();
        inner.edit_with_visit(household, OpenVisit::Start(&id), |doc| {
            let volunteer = Some(profile.volunteer.clone()).filter(|v| !v.is_empty());
            for (name, value) in [
                ("device", Some(FieldValue::Text(profile.device.clone()))),
                ("volunteer", volunteer.map(FieldValue::Text)),
                ("started_at", Some(FieldValue::Integer(now()))),
            ] {
                let Some(value) = value else { continue };
                layout::write_field(
                    doc,
                    &FieldPath::record(Entity::Visit, &id, name)?,
                    Some(&value),
                )?;
            }
            Ok(())
        })?;
        Ok(id)
    }

    /// Finishes a visit with its outcome (a `VISIT_OUTCOME` code), notes and GPS point.
    pub fn finish_visit(
        &self,
        household: &HouseholdId,
        visit: &RecordId,
        outcome: &str,
        notes: Option<&str>,
        gps: Option<GpsPoint>,
    ) -> Result<Vec<Issue>> {
        if !schema::codes::VISIT_OUTCOME.contains(outcome) {
            let choices: Vec<String> = schema::codes::VISIT_OUTCOME
                .codes
                .iter()
                .map(|c| format!("{} ({})", c.code, c.zh))
                .collect();
            return Err(Error::InvalidInput(Message::new(
                format!("走访结果“{outcome}”无效，可选：{}", choices.join("、")),
                format!(
                    "Unknown visit outcome \"{outcome}\"; choose one of: {}",
                    choices.join(", ")
                ),
            )));
        }
        let mut edits = vec![
            (
                FieldPath::record(Entity::Visit, visit, "finished_at")?,
                Some(FieldValue::Integer(now())),
            ),
            (
                FieldPath::record(Entity::Visit, visit, "outcome")?,
                Some(FieldValue::Text(outcome.to_owned())),
            ),
        ];
        if let Some(notes) = notes.map(str::trim).filter(|n| !n.is_empty()) {
            edits.push((
                FieldPath::record(Entity::Visit, visit, "notes")?,
                Some(FieldValue::Text(notes.to_owned())),
            ));
        }
        if let Some(gps) = gps {
            edits.push((
                FieldPath::record(Entity::Visit, visit, "gps.lat")?,
                Some(FieldValue::Decimal(gps.lat)),
            ));
            edits.push((
                FieldPath::record(Entity::Visit, visit, "gps.lon")?,
                Some(FieldValue::Decimal(gps.lon)),
            ));
        }
        let mut inner = self.lock();
        let detail = inner.edit_with_visit(household, OpenVisit::Finish(visit), |doc| {
            ensure_record_exists(doc, &edits[0].0)?;
            for (path, value) in &edits {
                layout::write_field(doc, path, value.as_ref())?;
            }
            Ok(())
        })?;
        let paths: Vec<FieldPath> = edits.into_iter().map(|(path, _)| path).collect();
        Ok(issues_of_records(detail.issues, &paths))
    }

    /// Opens a household: its fields, members, visits, issues and conflicts.
    pub fn household(&self, household: &HouseholdId) -> Result<HouseholdDetail> {
        let mut inner = self.lock();
        let (conn, loaded) = inner.load(household)?;
        let derived = loaded.derived(today())?;
        let checked = derived.checked();
        let view = derived.view.clone();
        let unsynced = unsynced_in(conn, household.as_str())?;
        Ok(detail(household, view, checked, unsynced))
    }
}

pub(super) fn detail(
    household: &HouseholdId,
    view: HouseholdView,
    checked: Checked,
    unsynced_changes: i64,
) -> HouseholdDetail {
    HouseholdDetail {
        id: household.to_string(),
        issues: checked.issues,
        conflicts: checked.conflicts,
        unsynced_changes,
        tasks: schema::tasks::tasks(&view),
        view,
    }
}

/// Refuses a write to a member, visit, training or subsidy that does not exist, so a typo in
/// a key cannot create a phantom record.
pub(super) fn ensure_record_exists(doc: &AutoCommit, path: &FieldPath) -> Result<()> {
    if !path.entity.is_keyed() {
        return Ok(());
    }
    let prefix = format!("{}.{}.", path.entity.prefix(), path.key);
    let mut end = prefix.clone();
    end.pop();
    end.push('/');
    if doc
        .map_range(automerge::ROOT, prefix.clone()..end)
        .next()
        .is_some()
    {
        return Ok(());
    }
    let (zh, en) = match path.entity {
        Entity::Member => ("成员", "member"),
        Entity::Visit => ("走访记录", "visit"),
        Entity::Training => ("培训记录", "training"),
        Entity::Photo => ("照片", "photo"),
        _ => ("补贴记录", "subsidy"),
    };
    Err(Error::InvalidInput(Message::new(
        format!("本户没有{zh}“{}”", path.key),
        format!("This household has no {en} \"{}\"", path.key),
    )))
}

/// What a person typed for a field, as it is stored (`None` clears the field).
///
/// Most input that does not fit its field is kept as text for validation to report. An ID
/// number is parsed as [`Store::add_member`] parses it: stored in its 18-character form (a
/// legacy 15-digit number upgraded, spaces and hyphens left out), or refused with the reason,
/// since a number that is not one would only be found wrong after the visit.
pub(super) fn typed_value(path: &FieldPath, input: &str) -> Result<Option<FieldValue>> {
    let kind = path.spec().kind;
    if matches!(kind, FieldKind::IdNumber) && !input.trim().is_empty() {
        let id = IdNumber::parse(input, today())?;
        return Ok(Some(FieldValue::Text(id.to_string())));
    }
    Ok(FieldValue::from_input(kind, input))
}

/// Refuses to add `name` as the member `key` when the household already records that
/// member, holding `id`, under another name. Any of a disputed name's candidates counts as
/// the member's name, so adding the person again under one of them is no news; so is a
/// spelling that differs only in spaces or letter case (`刘 伟` for `刘伟`), which is
/// the same name typed again, not another person.
pub(super) fn refuse_another_name(
    doc: &AutoCommit,
    key: &MemberKey,
    id: &IdNumber,
    name: &str,
) -> Result<()> {
    let path = FieldPath::member(key, "name")?.to_string();
    let recorded: Vec<String> = doc
        .get_all(automerge::ROOT, path.as_str())?
        .into_iter()
        .filter_map(|(value, _)| value.into_string().ok())
        .collect();
    let spelled = |name: &str| -> String {
        name.chars()
            .filter(|character| !character.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let typed = spelled(name);
    if recorded.is_empty() || recorded.iter().any(|recorded| spelled(recorded) == typed) {
        return Ok(());
    }
    let current = doc
        .get(automerge::ROOT, path.as_str())?
        .and_then(|(value, _)| value.into_string().ok())
        .unwrap_or_else(|| recorded[0].clone());
    let masked = id.masked();
    Err(Error::InvalidInput(Message::new(
        format!(
            "身份证号码 {masked} 已登记在本户，姓名为“{current}”（成员 {key}），\
             未另外添加“{name}”；如需更改姓名，请修改 members.{key}.name"
        ),
        format!(
            "ID number {masked} is already recorded in this household under the name \
             “{current}” (member {key}); “{name}” was not added. To change the name, \
             set members.{key}.name"
        ),
    )))
}

/// The issues about the records that the edited paths belong to.
pub(super) fn issues_of_records(issues: Vec<Issue>, paths: &[FieldPath]) -> Vec<Issue> {
    let prefixes: Vec<String> = paths
        .iter()
        .map(|p| {
            if p.entity.is_keyed() {
                format!("{}.{}.", p.entity.prefix(), p.key)
            } else {
                "household.".to_owned()
            }
        })
        .collect();
    issues
        .into_iter()
        .filter(|issue| prefixes.iter().any(|prefix| issue.path.starts_with(prefix)))
        .collect()
}
