//! Screening: what a device may write, decided change by change before the server accepts
//! an upload.
//!
//! A phone is a volunteer's tool. It records fields of households in its villages; it does
//! not move households between villages, delete them, merge them, or decide review items:
//! those are county staff's, and the server makes their changes itself. Automerge would
//! apply any well-formed change, so the server reads every uploaded change's operations
//! and holds each against these rules. A refused change is not dropped: it goes to
//! quarantine (`quarantine.rs`) for county staff to release or discard.
//!
//! Automerge changes build on earlier ones, so a change that depends on a refused (or
//! already quarantined) change cannot be applied either; it waits in quarantine for that
//! change's decision. A change breaking a rule of its own is refused for that rule first,
//! so staff see what is wrong with it rather than only what it waits for.
//!
//! Everything here is pure: the caller reads the stored document and the quarantine, and
//! writes what is decided.

use crate::auth::Device;
use automerge::ExpandedChange;
use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{Automerge, Change, ChangeHash, ROOT, ReadDoc};
use schema::Message;
use schema::fields::{Entity, FieldKind, FieldPath};
use schema::layout::ChangeOrigin;
use schema::shape;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

const VERSION_KEY: &str = "schema_version";
const ACTORS_PREFIX: &str = "actors.";
/// A record holding this many fields or more, all cleared by one change, counts as erased.
/// Clearing one or two fields is an ordinary correction; a member who left is marked with a
/// `status`, never erased (ADR 0001), and only county staff remove an entry made by mistake.
const ERASED_RECORD_FIELDS: usize = 3;
/// Keys quoted in a reason are cut to this many characters: a hostile key can be long.
const QUOTED_KEY_CHARS: usize = 80;

/// Why a change was refused, as a stable code: stored with the quarantined change, shown to
/// the device and to staff, and filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The household is in a village the device does not cover.
    OutOfScope,
    /// Sets `household.village` on a household that already has one.
    MovesHousehold,
    /// Deletes the household's identity (`household.id`, `.village`, `.created_at`,
    /// `schema_version`), or clears every field it has.
    DeletesHousehold,
    /// Clears every field of a member, visit, training or subsidy at once.
    ErasesRecord,
    /// Writes `household.merged_into`: merging is county staff's.
    MergesHousehold,
    /// Writes a field the system sets once (`household.id`, `created_at`, a visit's
    /// device, volunteer or start) after it was set.
    SystemField,
    /// Writes an `actors.<actor>.staff` entry: the name of a county staff member.
    StaffEntry,
    /// Writes another actor's `actors.<actor>.*` entry, or deletes one.
    ActorEntry,
    /// Carries a review decision's message (`review <item>`).
    ReviewResolution,
    /// Is authored by an actor the document knows as a county staff member's.
    StaffActor,
    /// Writes outside the flat root map, or something other than a plain value.
    NotAField,
    /// Writes a key that is no field of the layout.
    UnknownKey,
    /// Builds on a change that is refused or in quarantine.
    Waits,
}

impl Rule {
    pub const ALL: [Rule; 13] = [
        Rule::OutOfScope,
        Rule::MovesHousehold,
        Rule::DeletesHousehold,
        Rule::ErasesRecord,
        Rule::MergesHousehold,
        Rule::SystemField,
        Rule::StaffEntry,
        Rule::ActorEntry,
        Rule::ReviewResolution,
        Rule::StaffActor,
        Rule::NotAField,
        Rule::UnknownKey,
        Rule::Waits,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::OutOfScope => "out_of_scope",
            Rule::MovesHousehold => "moves_household",
            Rule::DeletesHousehold => "deletes_household",
            Rule::ErasesRecord => "erases_record",
            Rule::MergesHousehold => "merges_household",
            Rule::SystemField => "system_field",
            Rule::StaffEntry => "staff_entry",
            Rule::ActorEntry => "actor_entry",
            Rule::ReviewResolution => "review_resolution",
            Rule::StaffActor => "staff_actor",
            Rule::NotAField => "not_a_field",
            Rule::UnknownKey => "unknown_key",
            Rule::Waits => "waits",
        }
    }

    pub fn parse(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.as_str() == code)
    }
}

/// A refused change: the rule it broke and what to tell the volunteer and staff.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenRefusal {
    pub rule: Rule,
    pub reason: Message,
    /// For [`Rule::Waits`]: the refused or quarantined change it builds on.
    pub waits_for: Option<ChangeHash>,
}

impl ScreenRefusal {
    fn new(rule: Rule, reason: Message) -> ScreenRefusal {
        ScreenRefusal {
            rule,
            reason,
            waits_for: None,
        }
    }

    fn waits(on: ChangeHash) -> ScreenRefusal {
        let short = short_hash(&on);
        ScreenRefusal {
            rule: Rule::Waits,
            reason: Message::new(
                format!("该修改建立在已隔离的修改 {short} 之上，须等县里处理那一条后才能生效"),
                format!(
                    "This change builds on quarantined change {short}; it takes effect once the county decides that one"
                ),
            ),
            waits_for: Some(on),
        }
    }
}

/// The first 12 hex digits of a change hash, as reasons quote it.
pub fn short_hash(hash: &ChangeHash) -> String {
    hash.to_string().chars().take(12).collect()
}

/// What the server holds of the household an upload is for.
#[derive(Debug, Clone, Copy)]
pub struct Household<'a> {
    /// Its village: as stored, or as the quarantined change that would create it says.
    /// `None` when neither the server nor the upload names one.
    pub village: Option<&'a str>,
    /// Whether the server has the household's document. Until it does, the upload's first
    /// change may create it.
    pub exists: bool,
    /// The document as the server holds it (empty when it does not exist).
    pub doc: &'a Automerge,
    /// Changes of this household in quarantine, which the upload may build on or send again.
    pub held: &'a HashSet<ChangeHash>,
}

/// Screens a device's new changes to one household, in upload order. One verdict per
/// change: `None` to accept it, or why it is refused.
pub fn screen(
    device: &Device,
    household: Household<'_>,
    changes: &[Change],
) -> Vec<Option<ScreenRefusal>> {
    // Each change's operations, decoded once: decoding is most of screening's cost.
    let decoded: Vec<ExpandedChange> = changes.iter().map(Change::decode).collect();
    let creation = if household.exists {
        None
    } else {
        decoded.iter().position(creates_household)
    };
    let village = household
        .village
        .map(str::to_owned)
        .or_else(|| creation.and_then(|i| created_village(&decoded[i])));
    let mut verdicts: Vec<Option<ScreenRefusal>> = changes
        .iter()
        .zip(&decoded)
        .enumerate()
        .map(|(i, (change, ops))| own_rule(household, change, ops, creation == Some(i)))
        .collect();

    // A change cannot be applied without the changes it builds on: those refused here, and
    // those in quarantine already, unless this upload sends one again and it passes now.
    // Repeated until nothing more is refused, so the upload's order does not matter.
    let mut blocked: HashSet<ChangeHash> = household.held.clone();
    for (change, verdict) in changes.iter().zip(&verdicts) {
        if verdict.is_some() {
            blocked.insert(change.hash());
        } else {
            blocked.remove(&change.hash());
        }
    }
    loop {
        let mut more = false;
        for (change, verdict) in changes.iter().zip(verdicts.iter_mut()) {
            if verdict.is_some() {
                continue;
            }
            if let Some(dep) = change.deps().iter().find(|dep| blocked.contains(dep)) {
                *verdict = Some(ScreenRefusal::waits(*dep));
                blocked.insert(change.hash());
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    // Scope is the household's, not one change's: every change is refused, and one built on
    // another the server does not take waits for it, so that releasing the first releases
    // the run of edits built on it.
    if let Some(village) = village.as_deref().filter(|v| !device.covers(v)) {
        let sent: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
        for (change, verdict) in changes.iter().zip(verdicts.iter_mut()) {
            if verdict.is_some() {
                continue;
            }
            let on = change
                .deps()
                .iter()
                .find(|dep| sent.contains(dep) || household.held.contains(dep));
            *verdict = Some(match on {
                Some(dep) => ScreenRefusal::waits(*dep),
                None => out_of_scope(village),
            });
        }
    }
    // Until the household exists, nothing of it can be accepted without the change that
    // creates it: a change that does not build on it is not from a phone.
    if !household.exists {
        let first = match creation {
            Some(i) => Some(changes[i].hash()).filter(|hash| blocked.contains(hash)),
            // Sent earlier and held: it is among the held changes.
            None => household
                .held
                .iter()
                .filter(|h| blocked.contains(h))
                .min()
                .copied(),
        };
        if let Some(first) = first {
            for (change, verdict) in changes.iter().zip(verdicts.iter_mut()) {
                if verdict.is_none() && change.hash() != first {
                    *verdict = Some(ScreenRefusal::waits(first));
                }
            }
        }
    }
    verdicts
}

/// Whether a change writes `household.id`: the change a phone creates a household with.
fn creates_household(change: &ExpandedChange) -> bool {
    change.operations.iter().any(|op| {
        matches!(
            (&op.obj, &op.key, &op.action),
            (ObjectId::Root, Key::Map(key), OpType::Put(_)) if key.as_str() == "household.id"
        )
    })
}

/// The village a household-creating change sets.
fn created_village(change: &ExpandedChange) -> Option<String> {
    change
        .operations
        .iter()
        .find_map(|op| match (&op.obj, &op.key, &op.action) {
            (ObjectId::Root, Key::Map(key), OpType::Put(value))
                if key.as_str() == "household.village" =>
            {
                value.as_str().map(str::to_owned)
            }
            _ => None,
        })
}

fn out_of_scope(village: &str) -> ScreenRefusal {
    ScreenRefusal::new(
        Rule::OutOfScope,
        Message::new(
            format!("该户属于村 {village}，不在本设备负责的村内；修改已交县里工作人员审核"),
            format!(
                "This household belongs to village {village}, which is not assigned to this device; the changes are held for county staff to review"
            ),
        ),
    )
}

fn quoted(key: &str) -> String {
    let mut quoted: String = key.chars().take(QUOTED_KEY_CHARS).collect();
    if quoted.len() < key.len() {
        quoted.push('…');
    }
    quoted
}

fn has_key(doc: &Automerge, key: &str) -> bool {
    matches!(doc.get(ROOT, key), Ok(Some(_)))
}

/// The rule one change breaks on its own, if any. `creation` says whether it is the change
/// that creates the household, the only one that may set its identity.
fn own_rule(
    household: Household<'_>,
    change: &Change,
    expanded: &ExpandedChange,
    creation: bool,
) -> Option<ScreenRefusal> {
    let actor = change.actor_id().to_hex_string();
    if has_key(household.doc, &format!("{ACTORS_PREFIX}{actor}.staff")) {
        return Some(ScreenRefusal::new(
            Rule::StaffActor,
            Message::new(
                "该修改以县里工作人员的身份提交，设备不能使用这个身份",
                "The change is made under a county staff member's identity, which a device cannot use",
            ),
        ));
    }
    if ChangeOrigin::of_message(change.message()).review.is_some() {
        return Some(ScreenRefusal::new(
            Rule::ReviewResolution,
            Message::new(
                "只有县里的工作人员可以处理审核项",
                "Only county staff can resolve review items",
            ),
        ));
    }
    let mut cleared: BTreeSet<String> = BTreeSet::new();
    let mut written_records: HashSet<String> = HashSet::new();
    for op in &expanded.operations {
        let (ObjectId::Root, Key::Map(key)) = (&op.obj, &op.key) else {
            return Some(not_a_field());
        };
        let key = key.as_str();
        let put = match &op.action {
            OpType::Put(value) if plain(value) => true,
            OpType::Delete => false,
            OpType::Put(value) => return Some(wrong_type(key, &shape::scalar_name(value))),
            OpType::Make(object) => return Some(wrong_type(key, &shape::object_name(*object))),
            _ => return Some(not_a_field()),
        };
        if let Some(refusal) = key_rule(household, &actor, key, put, creation) {
            return Some(refusal);
        }
        if let Some(record) = record_prefix(key) {
            if put {
                written_records.insert(record);
            } else {
                cleared.insert(key.to_owned());
            }
        }
    }
    erased_record(household.doc, &cleared, &written_records)
}

/// Whether a value is of a kind the layout stores: text, a number, a flag.
fn plain(value: &automerge::ScalarValue) -> bool {
    use automerge::ScalarValue::{Boolean, F64, Int, Str, Uint};
    matches!(value, Str(_) | Int(_) | Uint(_) | F64(_) | Boolean(_))
}

fn not_a_field() -> ScreenRefusal {
    ScreenRefusal::new(
        Rule::NotAField,
        Message::new(
            "修改不符合户档案的格式：设备只能设置或清除字段",
            "The change does not fit the household layout: a device may only set or clear fields",
        ),
    )
}

/// A value of a type the layout does not store, at a root key: the reason names the key, the
/// type the layout stores there and the type written, so that the author of a client that is
/// not ours (a plain JavaScript string becomes a Text object) can fix it from the reason.
fn wrong_type(key: &str, found: &Message) -> ScreenRefusal {
    ScreenRefusal::new(Rule::NotAField, shape::wrong_type(key, found))
}

/// The rule writing (`put`) or deleting one root key breaks, if any.
fn key_rule(
    household: Household<'_>,
    actor: &str,
    key: &str,
    put: bool,
    creation: bool,
) -> Option<ScreenRefusal> {
    if key == VERSION_KEY {
        // A later layout migrates by writing its version, as an ordinary change.
        return (!put).then(deletes_household);
    }
    if let Some(rest) = key.strip_prefix(ACTORS_PREFIX) {
        let (owner, name) = rest.split_once('.').unwrap_or((rest, ""));
        if name == "staff" {
            return Some(ScreenRefusal::new(
                Rule::StaffEntry,
                Message::new(
                    "设备不能以县里工作人员的名义写入",
                    "A device cannot write in the name of county staff",
                ),
            ));
        }
        if owner != actor || !put {
            return Some(ScreenRefusal::new(
                Rule::ActorEntry,
                Message::new(
                    "修改改动了另一个写入者的身份记录；每个写入者只能写自己的",
                    "The change alters another writer's identity entry; each writer records only its own",
                ),
            ));
        }
        if name == "device" || name == "volunteer" {
            return None;
        }
        return Some(unknown_key(key));
    }
    let Some(path) = field_path(key) else {
        return Some(unknown_key(key));
    };
    let spec = path.spec();
    if !spec.system {
        return None;
    }
    match (path.entity, spec.name) {
        (Entity::Household, "merged_into") => Some(ScreenRefusal::new(
            Rule::MergesHousehold,
            Message::new(
                "只有县里的工作人员可以合并户",
                "Only county staff can merge households",
            ),
        )),
        (Entity::Household, _) if !put => Some(deletes_household()),
        (Entity::Household, _) if creation => None,
        (Entity::Household, "village") => Some(ScreenRefusal::new(
            Rule::MovesHousehold,
            Message::new(
                "不能在设备上把户迁到另一个村；请联系县里的工作人员",
                "A household cannot be moved to another village from a device; ask county staff",
            ),
        )),
        // A visit's device, volunteer and start are written once, by the phone that starts
        // it.
        (Entity::Visit, _) if put && !has_key(household.doc, key) => None,
        _ => Some(ScreenRefusal::new(
            Rule::SystemField,
            Message::new(
                format!("字段“{}”由系统填写，设备不能修改", quoted(key)),
                format!(
                    "Field \"{}\" is set by the system and cannot be changed from a device",
                    quoted(key)
                ),
            ),
        )),
    }
}

fn deletes_household() -> ScreenRefusal {
    ScreenRefusal::new(
        Rule::DeletesHousehold,
        Message::new(
            "设备不能删除户或清除其身份信息（户标识、所在村、建档时间）",
            "A device cannot delete a household or clear its identity (id, village, creation time)",
        ),
    )
}

fn unknown_key(key: &str) -> ScreenRefusal {
    ScreenRefusal::new(
        Rule::UnknownKey,
        Message::new(
            format!("“{}”不是户档案的字段", quoted(key)),
            format!("\"{}\" is not a field of the household layout", quoted(key)),
        ),
    )
}

/// The field a root key belongs to: the field itself, or a multi-select whose one code it
/// holds (`household.causes.07`). Only keys spelled exactly as the layout writes them.
fn field_path(key: &str) -> Option<FieldPath> {
    if let Ok(path) = FieldPath::parse(key)
        && path.to_string() == key
    {
        return Some(path);
    }
    let (set, code) = key.rsplit_once('.')?;
    let path = FieldPath::parse(set).ok()?;
    let is_set = matches!(path.spec().kind, FieldKind::Codes(_));
    (is_set && !code.is_empty() && path.to_string() == set).then_some(path)
}

/// The key prefix of the record a field key belongs to: `household.`, `members.<key>.`.
fn record_prefix(key: &str) -> Option<String> {
    let path = field_path(key)?;
    Some(match path.entity {
        Entity::Household => "household.".to_owned(),
        entity => format!("{}.{}.", entity.prefix(), path.key),
    })
}

/// Refuses a change that clears every field a record holds, when it holds enough of them
/// for that to be erasing the record rather than correcting it.
fn erased_record(
    doc: &Automerge,
    cleared: &BTreeSet<String>,
    written: &HashSet<String>,
) -> Option<ScreenRefusal> {
    let mut by_record: HashMap<String, usize> = HashMap::new();
    for key in cleared {
        if let Some(record) = record_prefix(key) {
            *by_record.entry(record).or_default() += 1;
        }
    }
    for (record, count) in by_record {
        if written.contains(&record) || count < ERASED_RECORD_FIELDS {
            continue;
        }
        let end = format!("{}/", &record[..record.len() - 1]);
        let present: Vec<String> = doc
            .map_range(ROOT, record.clone()..end)
            .map(|item| item.key.to_string())
            // The household's identity is the other rule's to guard.
            .filter(|key| {
                !field_path(key).is_some_and(|p| p.spec().system && p.entity == Entity::Household)
            })
            .collect();
        let all_cleared = present.len() >= ERASED_RECORD_FIELDS
            && present.iter().all(|key| cleared.contains(key));
        if !all_cleared {
            continue;
        }
        if record == "household." {
            return Some(deletes_household());
        }
        return Some(ScreenRefusal::new(
            Rule::ErasesRecord,
            Message::new(
                "设备不能一次清除一条记录的全部信息；成员离户请标记“已不在本户”",
                "A device cannot erase a whole record at once; mark a member who left as no longer in the household",
            ),
        ));
    }
    None
}

/// The first refusal worth showing for a set of verdicts: a rule a change broke itself,
/// else the first it waits for.
pub fn first_refusal<'a>(
    verdicts: impl IntoIterator<Item = &'a ScreenRefusal>,
) -> Option<&'a ScreenRefusal> {
    let mut waits = None;
    for refusal in verdicts {
        if refusal.rule != Rule::Waits {
            return Some(refusal);
        }
        waits.get_or_insert(refusal);
    }
    waits
}

/// Counts of refusals by rule, for logs.
pub fn by_rule<'a>(
    verdicts: impl IntoIterator<Item = &'a ScreenRefusal>,
) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for refusal in verdicts {
        *counts.entry(refusal.rule.as_str()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{ActorId, AutoCommit, ObjType};
    use schema::ids::{AreaCode, HouseholdId, MemberKey, RecordId};
    use schema::layout::{self, ActorInfo, FieldValue};

    const VILLAGE: &str = "141124100201";
    const OTHER_VILLAGE: &str = "141124100202";

    /// What a case is called, the phone's write, and the rule it breaks.
    type Case = (&'static str, fn(&mut AutoCommit), Rule);

    fn device(villages: &[&str]) -> Device {
        Device {
            id: "d1".to_owned(),
            name: "phone".to_owned(),
            villages: villages
                .iter()
                .map(|v| AreaCode::parse_village(v).unwrap())
                .collect(),
        }
    }

    fn phone_info() -> ActorInfo {
        ActorInfo {
            device: Some("phone".to_owned()),
            volunteer: Some("王芳".to_owned()),
            staff: None,
        }
    }

    /// A household as a phone creates it: one change, with its actor's entry.
    fn created(village: &str) -> AutoCommit {
        let mut doc = AutoCommit::new();
        let id = HouseholdId::from_random([3; 16]);
        let village = AreaCode::parse_village(village).unwrap();
        layout::init_household(&mut doc, &id, &village, "0001", 1_700_000_000).unwrap();
        let actor = doc.get_actor().to_hex_string();
        layout::write_actor(&mut doc, &actor, &phone_info()).unwrap();
        doc.commit();
        doc
    }

    fn member() -> MemberKey {
        MemberKey::from_random([5; 16])
    }

    /// A stored household with a member of four fields, and a phone's fork of it.
    fn stored_and_phone() -> (AutoCommit, AutoCommit) {
        let mut server = created(VILLAGE);
        let key = member();
        for (name, value) in [
            ("name", "刘伟"),
            ("id_number", "11010519491231002X"),
            ("sex", "2"),
            ("birth_date", "1949-12-31"),
        ] {
            let path = FieldPath::member(&key, name).unwrap();
            layout::write_field(&mut server, &path, Some(&FieldValue::Text(value.into()))).unwrap();
        }
        server.commit();
        let mut phone = server.fork();
        phone.set_actor(ActorId::random());
        (server, phone)
    }

    /// The phone's next change, written by `write`, with its actor's entry as phones write
    /// it.
    fn edit(
        phone: &mut AutoCommit,
        message: Option<&str>,
        write: impl FnOnce(&mut AutoCommit),
    ) -> Change {
        write(phone);
        let actor = phone.get_actor().to_hex_string();
        layout::write_actor(phone, &actor, &phone_info()).unwrap();
        let mut options = CommitOptions::default();
        if let Some(message) = message {
            options = options.with_message(message.to_owned());
        }
        phone.commit_with(options);
        phone.get_last_local_change().unwrap()
    }

    fn verdicts_on(
        server: &mut AutoCommit,
        device: &Device,
        changes: &[Change],
    ) -> Vec<Option<Rule>> {
        let held = HashSet::new();
        let household = Household {
            village: Some(VILLAGE),
            exists: true,
            doc: server.document(),
            held: &held,
        };
        screen(device, household, changes)
            .into_iter()
            .map(|v| v.map(|r| r.rule))
            .collect()
    }

    fn one(server: &mut AutoCommit, change: Change) -> Option<Rule> {
        verdicts_on(server, &device(&[VILLAGE]), &[change])
            .pop()
            .unwrap()
    }

    fn put(doc: &mut AutoCommit, key: &str, value: &str) {
        doc.put(ROOT, key, value).unwrap();
    }

    #[test]
    fn a_new_household_and_ordinary_edits_pass() {
        let mut phone = created(VILLAGE);
        let creation = phone.get_last_local_change().unwrap();
        let key = member();
        let visit = RecordId::from_random([9; 8]);
        let edits = edit(&mut phone, None, |doc| {
            let name = FieldPath::member(&key, "name").unwrap();
            layout::write_field(doc, &name, Some(&FieldValue::Text("刘伟".into()))).unwrap();
            let causes = FieldPath::household("causes").unwrap();
            let codes = FieldValue::Codes(["01".to_owned(), "07".to_owned()].into());
            layout::write_field(doc, &causes, Some(&codes)).unwrap();
            for name in ["device", "volunteer"] {
                let path = FieldPath::record(Entity::Visit, &visit, name).unwrap();
                layout::write_field(doc, &path, Some(&FieldValue::Text("x".into()))).unwrap();
            }
            let started = FieldPath::record(Entity::Visit, &visit, "started_at").unwrap();
            layout::write_field(doc, &started, Some(&FieldValue::Integer(1))).unwrap();
        });
        let visit_message = layout::visit_message(&visit);
        let clear = edit(&mut phone, Some(&visit_message), |doc| {
            let path = FieldPath::household("causes").unwrap();
            let codes = FieldValue::Codes(["07".to_owned()].into());
            layout::write_field(doc, &path, Some(&codes)).unwrap();
            doc.delete(ROOT, "household.number").unwrap();
        });
        let empty = Automerge::new();
        let held = HashSet::new();
        let household = Household {
            village: None,
            exists: false,
            doc: &empty,
            held: &held,
        };
        let verdicts = screen(&device(&[VILLAGE]), household, &[creation, edits, clear]);
        assert_eq!(verdicts, [None, None, None]);
    }

    #[test]
    fn a_household_of_another_village_is_out_of_scope_with_everything_built_on_it() {
        let mut phone = created(OTHER_VILLAGE);
        let creation = phone.get_last_local_change().unwrap();
        let creation_hash = creation.hash();
        let edit = edit(&mut phone, None, |doc| {
            put(doc, "household.address", "柳林村 8 号")
        });
        let empty = Automerge::new();
        let held = HashSet::new();
        let household = Household {
            village: None,
            exists: false,
            doc: &empty,
            held: &held,
        };
        let verdicts = screen(&device(&[VILLAGE]), household, &[creation, edit]);
        let first = verdicts[0].as_ref().unwrap();
        assert_eq!(first.rule, Rule::OutOfScope);
        assert!(first.reason.zh.contains(OTHER_VILLAGE) && first.reason.en.contains(OTHER_VILLAGE));
        let second = verdicts[1].as_ref().unwrap();
        assert_eq!(
            (second.rule, second.waits_for),
            (Rule::Waits, Some(creation_hash))
        );

        // A stored household of a village the device does not cover: the same.
        let (mut server, mut phone) = stored_and_phone();
        let change = self::edit(&mut phone, None, |doc| put(doc, "household.address", "x"));
        assert_eq!(
            verdicts_on(&mut server, &device(&[OTHER_VILLAGE]), &[change]),
            [Some(Rule::OutOfScope)]
        );
    }

    #[test]
    fn a_device_cannot_move_delete_or_merge_a_household() {
        let (mut server, phone) = stored_and_phone();
        let cases: [Case; 7] = [
            (
                "move",
                |d| put(d, "household.village", OTHER_VILLAGE),
                Rule::MovesHousehold,
            ),
            (
                "clear the village",
                |d| d.delete(ROOT, "household.village").unwrap(),
                Rule::DeletesHousehold,
            ),
            (
                "delete the id",
                |d| d.delete(ROOT, "household.id").unwrap(),
                Rule::DeletesHousehold,
            ),
            (
                "delete the layout version",
                |d| d.delete(ROOT, "schema_version").unwrap(),
                Rule::DeletesHousehold,
            ),
            (
                "rewrite the id",
                |d| put(d, "household.id", "h-other"),
                Rule::SystemField,
            ),
            (
                "backdate",
                |d| d.put(ROOT, "household.created_at", 1).unwrap(),
                Rule::SystemField,
            ),
            (
                "merge",
                |d| put(d, "household.merged_into", "h-other"),
                Rule::MergesHousehold,
            ),
        ];
        for (what, write, rule) in cases {
            let mut phone = phone.clone();
            let change = edit(&mut phone, None, write);
            assert_eq!(one(&mut server, change), Some(rule), "{what}");
        }
    }

    #[test]
    fn erasing_a_member_is_refused_but_clearing_a_field_is_not() {
        let (mut server, phone) = stored_and_phone();
        let key = member();
        let mut eraser = phone.clone();
        let erase = edit(&mut eraser, None, |doc| {
            for name in ["name", "id_number", "sex", "birth_date"] {
                doc.delete(ROOT, FieldPath::member(&key, name).unwrap().to_string())
                    .unwrap();
            }
        });
        assert_eq!(one(&mut server, erase), Some(Rule::ErasesRecord));
        let mut corrector = phone.clone();
        let correct = edit(&mut corrector, None, |doc| {
            for name in ["sex", "birth_date"] {
                doc.delete(ROOT, FieldPath::member(&key, name).unwrap().to_string())
                    .unwrap();
            }
        });
        assert_eq!(one(&mut server, correct), None);
        let mut marker = phone.clone();
        let left = edit(&mut marker, None, |doc| {
            let path = FieldPath::member(&key, "left_household").unwrap();
            layout::write_field(doc, &path, Some(&FieldValue::Boolean(true))).unwrap();
        });
        assert_eq!(one(&mut server, left), None);
    }

    #[test]
    fn a_volunteer_cannot_author_a_review_resolution_or_use_a_staff_identity() {
        let (mut server, phone) = stored_and_phone();
        let mut forger = phone.clone();
        let actor = forger.get_actor().to_hex_string();
        let staff_info = ActorInfo {
            device: Some("doorstep-server".to_owned()),
            volunteer: None,
            staff: Some("李华".to_owned()),
        };
        layout::write_actor(&mut forger, &actor, &staff_info).unwrap();
        put(&mut forger, "household.address", "伪造的决定");
        forger.commit_with(
            CommitOptions::default().with_message(layout::review_message("item1", Some("ok"))),
        );
        let forged = forger.get_last_local_change().unwrap();
        assert_eq!(one(&mut server, forged), Some(Rule::ReviewResolution));

        // Without the message, the staff entry alone is refused.
        let mut namer = phone.clone();
        let named = edit(&mut namer, None, |doc| {
            let actor = doc.get_actor().to_hex_string();
            layout::write_actor(doc, &actor, &staff_info).unwrap();
        });
        assert_eq!(one(&mut server, named), Some(Rule::StaffEntry));

        // Nor may a change name another writer.
        let mut impostor = phone.clone();
        let other = ActorId::random().to_hex_string();
        let renamed = edit(&mut impostor, None, |doc| {
            put(doc, &format!("actors.{other}.volunteer"), "某人")
        });
        assert_eq!(one(&mut server, renamed), Some(Rule::ActorEntry));

        // A change by an actor the document knows as staff is not a phone's.
        let mut staff_doc = server.fork();
        let staff_actor = ActorId::random();
        staff_doc.set_actor(staff_actor.clone());
        layout::write_actor(&mut staff_doc, &staff_actor.to_hex_string(), &staff_info).unwrap();
        staff_doc.commit();
        server.merge(&mut staff_doc).unwrap();
        put(&mut staff_doc, "household.address", "冒名");
        staff_doc.commit();
        let impersonated = staff_doc.get_last_local_change().unwrap();
        assert_eq!(one(&mut server, impersonated), Some(Rule::StaffActor));
    }

    #[test]
    fn only_flat_known_fields_may_be_written() {
        let (mut server, phone) = stored_and_phone();
        let cases: [Case; 5] = [
            (
                "a nested map",
                |d| {
                    d.put_object(ROOT, "household.extra", ObjType::Map).unwrap();
                },
                Rule::NotAField,
            ),
            (
                "a counter",
                |d| {
                    d.put(ROOT, "household.phone", automerge::ScalarValue::counter(1))
                        .unwrap();
                },
                Rule::NotAField,
            ),
            (
                "an unknown key",
                |d| put(d, "household.secret_flag", "1"),
                Rule::UnknownKey,
            ),
            (
                "a key spelled with spaces",
                |d| put(d, " household.address", "x"),
                Rule::UnknownKey,
            ),
            (
                "an unknown actor entry",
                |d| {
                    let actor = d.get_actor().to_hex_string();
                    put(d, &format!("actors.{actor}.role"), "admin");
                },
                Rule::UnknownKey,
            ),
        ];
        for (what, write, rule) in cases {
            let mut phone = phone.clone();
            let change = edit(&mut phone, None, write);
            assert_eq!(one(&mut server, change), Some(rule), "{what}");
        }
    }

    #[test]
    fn a_visits_system_fields_are_written_once() {
        let (mut server, mut phone) = stored_and_phone();
        let visit = RecordId::from_random([8; 8]);
        let started = FieldPath::record(Entity::Visit, &visit, "started_at").unwrap();
        let start = edit(&mut phone, None, |doc| {
            layout::write_field(doc, &started, Some(&FieldValue::Integer(100))).unwrap();
        });
        assert_eq!(one(&mut server, start.clone()), None);
        server.apply_changes([start]).unwrap();
        let backdate = edit(&mut phone, None, |doc| {
            layout::write_field(doc, &started, Some(&FieldValue::Integer(1))).unwrap();
        });
        assert_eq!(one(&mut server, backdate), Some(Rule::SystemField));
    }

    #[test]
    fn a_change_built_on_a_refused_or_held_change_waits_for_it() {
        let (mut server, mut phone) = stored_and_phone();
        let moved = edit(&mut phone, None, |d| {
            put(d, "household.village", OTHER_VILLAGE)
        });
        let after = edit(&mut phone, None, |d| put(d, "household.address", "新地址"));
        let later = edit(&mut phone, None, |d| {
            put(d, "household.phone", "13800138000")
        });
        // Sent out of order: the verdicts do not depend on it.
        let verdicts = verdicts_on(
            &mut server,
            &device(&[VILLAGE]),
            &[later.clone(), after.clone(), moved.clone()],
        );
        assert_eq!(
            verdicts,
            [
                Some(Rule::Waits),
                Some(Rule::Waits),
                Some(Rule::MovesHousehold)
            ]
        );

        // The refused change was quarantined at an earlier sync; only the rest is sent now.
        let held = HashSet::from([moved.hash()]);
        let household = Household {
            village: Some(VILLAGE),
            exists: true,
            doc: server.document(),
            held: &held,
        };
        let verdicts = screen(&device(&[VILLAGE]), household, &[after, later]);
        let first = verdicts[0].as_ref().unwrap();
        assert_eq!(
            (first.rule, first.waits_for),
            (Rule::Waits, Some(moved.hash()))
        );
        assert!(first.reason.en.contains(&short_hash(&moved.hash())));
        assert_eq!(verdicts[1].as_ref().unwrap().rule, Rule::Waits);
    }

    #[test]
    fn a_concurrent_edit_of_another_phone_is_not_held_back() {
        let (mut server, phone) = stored_and_phone();
        let mut mover = phone.clone();
        let moved = edit(&mut mover, None, |d| {
            put(d, "household.village", OTHER_VILLAGE)
        });
        let mut other = phone.clone();
        other.set_actor(ActorId::random());
        let beside = edit(&mut other, None, |d| put(d, "household.address", "新地址"));
        let verdicts = verdicts_on(&mut server, &device(&[VILLAGE]), &[moved, beside]);
        assert_eq!(verdicts, [Some(Rule::MovesHousehold), None]);
    }

    #[test]
    fn a_second_creation_of_a_new_household_is_refused() {
        let mut phone = created(VILLAGE);
        let creation = phone.get_last_local_change().unwrap();
        let recreate = edit(&mut phone, None, |d| {
            put(d, "household.id", "h-same");
            put(d, "household.village", OTHER_VILLAGE);
        });
        let empty = Automerge::new();
        let held = HashSet::new();
        let household = Household {
            village: None,
            exists: false,
            doc: &empty,
            held: &held,
        };
        let verdicts = screen(
            &device(&[VILLAGE, OTHER_VILLAGE]),
            household,
            &[creation, recreate],
        );
        assert_eq!(verdicts[0], None);
        assert_eq!(verdicts[1].as_ref().unwrap().rule, Rule::SystemField);
    }

    #[test]
    fn until_its_creation_is_accepted_nothing_of_a_new_household_is() {
        let mut phone = created(OTHER_VILLAGE);
        let creation = phone.get_last_local_change().unwrap();
        // A change with no history, as no phone makes one.
        let mut stray = AutoCommit::new();
        put(&mut stray, "household.address", "x");
        stray.commit();
        let orphan = stray.get_last_local_change().unwrap();
        let empty = Automerge::new();
        let held = HashSet::from([creation.hash()]);
        let household = Household {
            village: Some(OTHER_VILLAGE),
            exists: false,
            doc: &empty,
            held: &held,
        };
        let verdicts = screen(&device(&[OTHER_VILLAGE]), household, &[orphan]);
        let refusal = verdicts[0].as_ref().unwrap();
        assert_eq!(
            (refusal.rule, refusal.waits_for),
            (Rule::Waits, Some(creation.hash()))
        );
    }

    #[test]
    fn rule_codes_round_trip_and_the_first_refusal_prefers_a_rule_broken() {
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.as_str()), Some(rule));
        }
        let waits = ScreenRefusal::waits(ChangeHash([1; 32]));
        let moved = ScreenRefusal::new(Rule::MovesHousehold, Message::new("a", "b"));
        assert_eq!(
            first_refusal([&waits, &moved]).unwrap().rule,
            Rule::MovesHousehold
        );
        assert_eq!(first_refusal([&waits]).unwrap().rule, Rule::Waits);
        assert_eq!(by_rule([&waits, &moved, &waits])["waits"], 2);
    }
}
