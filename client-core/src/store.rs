//! The local store of one device and the recording API a phone UI calls.
//!
//! Every method is safe to call from several threads at once: the store is `Send + Sync`,
//! and one lock orders the edits. An edit returns only after its SQLite transaction has
//! committed, so whatever the API acknowledged survives `kill -9` and power loss.

use crate::db;
use crate::error::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash, ReadDoc};
use lru::LruCache;
use rusqlite::{Connection, OptionalExtension, params};
use schema::IdNumber;
use schema::Message;
use schema::fields::{Entity, FieldKind, FieldPath};
use schema::ids::{AreaCode, HouseholdId, MemberKey, MemberKeySecret, RecordId};
use schema::layout::{self, ActorInfo, Conflict, FieldValue, HouseholdView};
use schema::validation::{self, Issue, Severity};
use serde::Serialize;
use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The database file inside a store directory.
pub const DB_FILE: &str = "doorstep-field.db";
/// Open documents kept in memory: a fixed number, so memory does not grow with the number
/// of households stored.
const CACHE_CAPACITY: NonZeroUsize = NonZeroUsize::new(32).expect("non-zero");
/// Change rows after which a document is folded into a new snapshot.
const COMPACT_AFTER_ROWS: i64 = 128;

/// Who this device is and who uses it, written into every household it edits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceProfile {
    pub device: String,
    pub volunteer: String,
}

/// A GPS point in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GpsPoint {
    pub lat: f64,
    pub lon: f64,
}

/// One line of the household list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HouseholdSummary {
    pub id: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    /// Members who live in the household: not those who moved out, died or were entered by
    /// mistake, who stay in the household as history.
    pub member_count: i64,
    pub error_count: i64,
    pub warning_count: i64,
    pub conflict_count: i64,
    pub unsynced_changes: i64,
    pub updated_at: i64,
}

/// An opened household: every field, what fails the rules, and what devices disagree on.
#[derive(Debug, Clone, Serialize)]
pub struct HouseholdDetail {
    pub id: String,
    #[serde(flatten)]
    pub view: HouseholdView,
    pub issues: Vec<Issue>,
    pub conflicts: Vec<Conflict>,
    pub unsynced_changes: i64,
}

/// What the household list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Part of a name, ID number or household number.
    pub text: Option<String>,
    pub village: Option<AreaCode>,
    pub limit: Option<u32>,
    pub offset: u32,
}

/// The local store of one device.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    /// Whether a sync is running on this store. Two at once would upload the same changes
    /// and race on the cursor; the second is refused rather than queued, so a UI can say so.
    syncing: AtomicBool,
}

/// A sync's hold on its store; the next sync may start once it is dropped.
#[derive(Debug)]
pub struct SyncRun<'a> {
    store: &'a Store,
}

impl Drop for SyncRun<'_> {
    fn drop(&mut self) {
        self.store.syncing.store(false, Ordering::Release);
    }
}

#[derive(Debug)]
struct Inner {
    conn: Connection,
    cache: LruCache<String, Loaded>,
    actor: ActorId,
    profile: DeviceProfile,
    villages: Vec<AreaCode>,
    member_secret: MemberKeySecret,
}

/// A household's document in memory, and where its change rows stand on disk.
#[derive(Debug)]
struct Loaded {
    doc: AutoCommit,
    /// The `seq` the household's next change row follows.
    last_seq: i64,
    /// Change rows up to this `seq` are already in the snapshot.
    snapshot_seq: i64,
    /// The household as last read from `doc` and checked, kept so an edit re-reads and
    /// re-checks only the fields it wrote. `None` until first read, and whenever `doc`
    /// changed in a way that was not followed field by field (data from elsewhere).
    derived: Option<Derived>,
}

/// The most keys an edit may write for its household to be re-read field by field.
const REFRESH_MAX_KEYS: usize = 8;

/// A household's view and its field rules' issues, as of its document's current state.
#[derive(Debug)]
struct Derived {
    view: HouseholdView,
    /// The date the field issues were checked against (dates in the future are wrong).
    today: jiff::civil::Date,
    /// Each field's field-rule issue, in the order `validation::validate` lists them.
    field_issues: FieldIssues,
}

/// Field-rule issues keyed by (entity's place in `Entity::ALL`, record key, field name):
/// the order in which `validation::validate` walks a household.
type FieldIssues = std::collections::BTreeMap<(usize, String, &'static str), Issue>;

fn entity_rank(entity: Entity) -> usize {
    Entity::ALL
        .iter()
        .position(|e| *e == entity)
        .unwrap_or(usize::MAX)
}

impl Derived {
    /// Reads and checks the whole household.
    fn read(doc: &automerge::Automerge, today: jiff::civil::Date) -> Result<Derived> {
        let view = layout::read_household(doc)?;
        let mut field_issues = FieldIssues::new();
        for entity in Entity::ALL {
            for (key, record) in view.records(entity) {
                for (name, field) in record {
                    if let Some(issue) = validation::field_issue(entity, key, name, field, today) {
                        field_issues.insert((entity_rank(entity), key.to_owned(), name), issue);
                    }
                }
            }
        }
        Ok(Derived {
            view,
            today,
            field_issues,
        })
    }

    /// Brings the view and field issues up to date after a change that wrote the root
    /// keys `keys`, re-reading and re-checking only the fields they belong to. Returns
    /// `false` (leaving `self` unusable) when the change reached beyond single fields.
    fn refresh(
        &mut self,
        doc: &automerge::Automerge,
        keys: &[String],
        today: jiff::civil::Date,
    ) -> Result<bool> {
        // Each field re-read is a look-up in the document; past a page of fields one
        // pass over the whole document is cheaper.
        if today != self.today
            || keys.len() > REFRESH_MAX_KEYS
            || !layout::refresh_household(doc, &mut self.view, keys.iter().map(String::as_str))?
        {
            return Ok(false);
        }
        let mut paths: Vec<FieldPath> = Vec::new();
        for key in keys {
            let path = match FieldPath::parse(key) {
                Ok(path) => path,
                Err(_) => match key.rsplit_once('.').map(|(set, _)| FieldPath::parse(set)) {
                    Some(Ok(path)) => path,
                    _ => return Ok(false),
                },
            };
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        for path in paths {
            let slot = (entity_rank(path.entity), path.key.clone(), path.name);
            let issue = self.view.field(&path).and_then(|field| {
                validation::field_issue(path.entity, &path.key, path.name, field, today)
            });
            match issue {
                Some(issue) => self.field_issues.insert(slot, issue),
                None => self.field_issues.remove(&slot),
            };
        }
        Ok(true)
    }

    /// Every issue of the household: the field rules' and the cross-field rules', as
    /// `validation::validate` lists them; and its disputed fields.
    fn checked(&self) -> Checked {
        let mut issues: Vec<Issue> = self.field_issues.values().cloned().collect();
        issues.extend(validation::cross_field_issues(&self.view, self.today));
        Checked {
            issues,
            conflicts: self.view.conflicts(),
        }
    }
}

/// The root keys a change writes, or `None` when it writes anything but root keys.
fn root_keys_of(change: &automerge::Change) -> Option<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    for op in change.decode().operations {
        match (op.obj, op.key) {
            (automerge::legacy::ObjectId::Root, automerge::legacy::Key::Map(key)) => {
                if !keys.iter().any(|k| k.as_str() == key.as_str()) {
                    keys.push(key.to_string());
                }
            }
            _ => return None,
        }
    }
    Some(keys)
}

/// Who data received from elsewhere came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Another device, directly: nothing is known about what the server holds.
    Peer,
    /// The server: it holds what it sent, and all of its history.
    Server,
}

impl Store {
    /// Opens the store in `dir`, creating it (and this install's Automerge actor) if needed.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        let conn = db::open(&dir.join(DB_FILE))?;
        let actor = match db::get_meta(&conn, "actor")? {
            Some(hex) => ActorId::try_from(hex.as_str()).map_err(|_| {
                Error::InvalidInput(Message::new(
                    "本机标识损坏",
                    "The device's actor id is damaged",
                ))
            })?,
            None => {
                let actor = ActorId::random();
                db::set_meta(&conn, "actor", &actor.to_hex_string())?;
                actor
            }
        };
        let profile = DeviceProfile {
            device: db::get_meta(&conn, "device")?
                .unwrap_or_else(|| format!("device-{}", &actor.to_hex_string()[..8])),
            volunteer: db::get_meta(&conn, "volunteer")?.unwrap_or_default(),
        };
        let villages = db::get_meta(&conn, "villages")?
            .unwrap_or_default()
            .split(',')
            .filter(|code| !code.is_empty())
            .map(AreaCode::parse_village)
            .collect::<Result<Vec<_>, _>>()?;
        let member_secret = match db::get_meta(&conn, "member_key_secret")? {
            Some(hex) => decode_secret(&hex)?,
            None => MemberKeySecret::development(),
        };
        Ok(Store {
            inner: Mutex::new(Inner {
                conn,
                cache: LruCache::new(CACHE_CAPACITY),
                actor,
                profile,
                villages,
                member_secret,
            }),
            syncing: AtomicBool::new(false),
        })
    }

    /// Marks a sync as running, or `None` when one already is.
    pub fn begin_sync(&self) -> Option<SyncRun<'_>> {
        self.syncing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| SyncRun { store: self })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave SQLite half-written (its transaction
        // rolls back), and the cache only holds committed documents, so carry on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This install's Automerge actor, in hex.
    pub fn actor(&self) -> String {
        self.lock().actor.to_hex_string()
    }

    pub fn profile(&self) -> DeviceProfile {
        self.lock().profile.clone()
    }

    pub fn set_profile(&self, profile: DeviceProfile) -> Result<()> {
        let mut inner = self.lock();
        db::set_meta(&inner.conn, "device", &profile.device)?;
        db::set_meta(&inner.conn, "volunteer", &profile.volunteer)?;
        inner.profile = profile;
        Ok(())
    }

    /// The villages this device records in. Empty means not yet assigned: any village.
    pub fn villages(&self) -> Vec<AreaCode> {
        self.lock().villages.clone()
    }

    pub fn assign_villages(&self, villages: &[AreaCode]) -> Result<()> {
        let mut inner = self.lock();
        let joined: Vec<&str> = villages.iter().map(AreaCode::as_str).collect();
        db::set_meta(&inner.conn, "villages", &joined.join(","))?;
        inner.villages = villages.to_vec();
        Ok(())
    }

    /// Sets the deployment's member-key secret (handed out by the server).
    pub fn set_member_key_secret(&self, secret: MemberKeySecret) -> Result<()> {
        let mut inner = self.lock();
        db::set_meta(
            &inner.conn,
            "member_key_secret",
            &hex::encode(secret.as_bytes()),
        )?;
        inner.member_secret = secret;
        Ok(())
    }

    /// Takes the deployment's member-key secret (hex) the server sent, unless this store
    /// already has one: members already recorded keep their keys, and so do later ones.
    pub fn adopt_member_key_secret(&self, hex_text: &str) -> Result<()> {
        if db::get_meta(&self.lock().conn, "member_key_secret")?.is_some() {
            return Ok(());
        }
        self.set_member_key_secret(decode_secret(hex_text)?)
    }

    /// A value this store keeps for other layers (the sync client's server and token).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(db::get_meta(&self.lock().conn, &format!("setting.{key}"))?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        Ok(db::set_meta(
            &self.lock().conn,
            &format!("setting.{key}"),
            value,
        )?)
    }

    pub fn remove_setting(&self, key: &str) -> Result<()> {
        self.lock().conn.execute(
            "DELETE FROM meta WHERE key = ?1",
            [format!("setting.{key}")],
        )?;
        Ok(())
    }

    /// Every setting whose key starts with `prefix`, with the prefix removed.
    pub fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let inner = self.lock();
        let full = format!("setting.{prefix}");
        let mut statement = inner.conn.prepare(
            "SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
        )?;
        let rows = statement.query_map([&full], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (key, value) = row?;
            Ok((key[full.len()..].to_owned(), value))
        })
        .collect()
    }

    /// Households with changes the server has not confirmed.
    pub fn households_with_unsynced_changes(&self) -> Result<Vec<HouseholdId>> {
        let inner = self.lock();
        let mut statement = inner.conn.prepare(
            "SELECT household_id FROM household_index WHERE unsynced_changes > 0
             ORDER BY household_id",
        )?;
        let ids = statement.query_map([], |row| row.get::<_, String>(0))?;
        ids.map(|id| Ok(HouseholdId::parse(&id?)?)).collect()
    }

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

    fn add_member_record(
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
        let Inner {
            conn, cache, actor, ..
        } = &mut *inner;
        let loaded = load(conn, cache, actor, household)?;
        let derived = loaded.derived(today())?;
        let checked = derived.checked();
        let view = derived.view.clone();
        let unsynced = unsynced_in(conn, household.as_str())?;
        Ok(detail(household, view, checked, unsynced))
    }

    /// Lists households, filtered by village and by part of a name, ID number or household
    /// number, in village and household-number order.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<HouseholdSummary>> {
        let inner = self.lock();
        let pattern = query.text.as_deref().and_then(schema::search::like_pattern);
        // A text search matches a few rows of thousands: scanning the table and sorting the
        // matches beats walking the village index, which fetches every row in list order.
        // The list without text is the other way round.
        let mut statement = inner.conn.prepare_cached(if pattern.is_some() {
            "SELECT i.household_id, i.village, i.number, i.head_name, i.member_count,
                    i.error_count, i.warning_count, i.conflict_count, i.updated_at,
                    i.unsynced_changes
             FROM household_index i
             WHERE (?1 IS NULL OR i.village = ?1)
               AND i.search_text LIKE ?2 ESCAPE '\\'
               AND i.merged_into IS NULL
             ORDER BY +i.village, +i.number
             LIMIT ?3 OFFSET ?4"
        } else {
            "SELECT i.household_id, i.village, i.number, i.head_name, i.member_count,
                    i.error_count, i.warning_count, i.conflict_count, i.updated_at,
                    i.unsynced_changes
             FROM household_index i
             WHERE (?1 IS NULL OR i.village = ?1) AND i.merged_into IS NULL
             ORDER BY i.village, i.number
             LIMIT ?3 OFFSET ?4"
        })?;
        let rows = statement.query_map(
            params![
                query.village.as_ref().map(AreaCode::as_str),
                pattern,
                query.limit.map_or(-1, i64::from),
                query.offset
            ],
            |row| {
                Ok(HouseholdSummary {
                    id: row.get(0)?,
                    village: row.get(1)?,
                    number: row.get(2)?,
                    head_name: row.get(3)?,
                    member_count: row.get(4)?,
                    error_count: row.get(5)?,
                    warning_count: row.get(6)?,
                    conflict_count: row.get(7)?,
                    updated_at: row.get(8)?,
                    unsynced_changes: row.get(9)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Changes recorded on this device that the server has not confirmed yet.
    pub fn unsynced_changes(&self) -> Result<i64> {
        Ok(self.lock().conn.query_row(
            "SELECT COALESCE(SUM(unsynced_changes), 0) FROM household_index",
            [],
            |row| row.get(0),
        )?)
    }

    /// The household's current heads.
    pub fn heads(&self, household: &HouseholdId) -> Result<Vec<ChangeHash>> {
        let mut inner = self.lock();
        let Inner {
            conn, cache, actor, ..
        } = &mut *inner;
        Ok(load(conn, cache, actor, household)?.doc.get_heads())
    }

    /// The heads the server last confirmed for this household (empty if never synced).
    pub fn confirmed_heads(&self, household: &HouseholdId) -> Result<Vec<ChangeHash>> {
        read_confirmed(&self.lock().conn, household)
    }

    /// The changes of a household that a peer holding `since` lacks, one Automerge change
    /// per element, in an order that applies cleanly.
    pub fn changes_since(
        &self,
        household: &HouseholdId,
        since: &[ChangeHash],
    ) -> Result<Vec<Vec<u8>>> {
        let mut inner = self.lock();
        let Inner {
            conn, cache, actor, ..
        } = &mut *inner;
        let doc = &mut load(conn, cache, actor, household)?.doc;
        let known: Vec<ChangeHash> = since
            .iter()
            .copied()
            .filter(|hash| has_change(doc, hash))
            .collect();
        Ok(doc
            .get_changes(&known)
            .iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect())
    }

    /// The whole household as one saved Automerge document, the compact form for a first
    /// download.
    pub fn document_bytes(&self, household: &HouseholdId) -> Result<Vec<u8>> {
        let mut inner = self.lock();
        let Inner {
            conn, cache, actor, ..
        } = &mut *inner;
        Ok(load(conn, cache, actor, household)?.doc.save())
    }

    /// Merges changes received from elsewhere, creating the household if this device did
    /// not have it. Every change is checked before any is applied, so damaged data is
    /// refused whole. Returns whether anything new arrived.
    pub fn apply_changes(&self, household: &HouseholdId, changes: &[Vec<u8>]) -> Result<bool> {
        self.receive_changes(household, changes, Origin::Peer)
    }

    /// As [`Store::apply_changes`], for changes the server sent. The server holds them and
    /// their history, so they count as confirmed, with any change of this device's among
    /// their ancestors, and the next upload leaves them out.
    pub fn apply_server_changes(
        &self,
        household: &HouseholdId,
        changes: &[Vec<u8>],
    ) -> Result<bool> {
        self.receive_changes(household, changes, Origin::Server)
    }

    /// Merges a whole saved document received from elsewhere, creating the household if
    /// this device did not have it. Returns whether anything new arrived.
    pub fn apply_document(&self, household: &HouseholdId, bytes: &[u8]) -> Result<bool> {
        self.receive_document(household, bytes, Origin::Peer)
    }

    /// As [`Store::apply_document`], for a document the server sent (a first download): the
    /// server holds every change in it, so they count as confirmed.
    pub fn apply_server_document(&self, household: &HouseholdId, bytes: &[u8]) -> Result<bool> {
        self.receive_document(household, bytes, Origin::Server)
    }

    fn receive_changes(
        &self,
        household: &HouseholdId,
        changes: &[Vec<u8>],
        origin: Origin,
    ) -> Result<bool> {
        let parsed = changes
            .iter()
            .map(|bytes| automerge::Change::from_bytes(bytes.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| Error::DamagedData(err.to_string()))?;
        if parsed.is_empty() {
            return Ok(false);
        }
        let stored: Vec<u8> = changes.concat();
        let hashes: Vec<ChangeHash> = parsed.iter().map(automerge::Change::hash).collect();
        self.lock().merge_remote(household, &stored, origin, |doc| {
            doc.apply_changes(parsed)?;
            Ok(hashes)
        })
    }

    fn receive_document(
        &self,
        household: &HouseholdId,
        bytes: &[u8],
        origin: Origin,
    ) -> Result<bool> {
        let strict = automerge::LoadOptions::new()
            .on_partial_load(automerge::OnPartialLoad::Error)
            .verification_mode(automerge::VerificationMode::Check);
        automerge::Automerge::load_with_options(bytes, strict)
            .map_err(|err| Error::DamagedData(err.to_string()))?;
        let mut incoming = AutoCommit::load(bytes)?;
        // Merged into a household it is not, it could win the id's conflict: check it alone.
        check_filed_under(household, &layout::read_household(incoming.document())?)?;
        let heads = incoming.get_heads();
        self.lock().merge_remote(household, bytes, origin, |doc| {
            doc.merge(&mut incoming)?;
            Ok(heads)
        })
    }

    /// Records that the server holds the household up to `heads`, as well as everything it
    /// was confirmed to hold before: local changes covered by them no longer count as
    /// unsynced.
    pub fn confirm(&self, household: &HouseholdId, heads: &[ChangeHash]) -> Result<()> {
        let mut inner = self.lock();
        let Inner {
            conn, cache, actor, ..
        } = &mut *inner;
        let loaded = load(conn, cache, actor, household)?;
        let (confirmed, _) = widened_confirmation(conn, household, &mut loaded.doc, heads)?;
        // Stored even when unchanged: clearing marks costs little here, and a mark left
        // behind would keep the household in every upload.
        let tx = conn.transaction()?;
        let cleared = store_confirmed(&tx, household.as_str(), loaded, &confirmed)?;
        if cleared > 0 {
            tx.prepare_cached(
                "UPDATE household_index SET unsynced_changes = unsynced_changes - ?2
                 WHERE household_id = ?1",
            )?
            .execute(params![household.as_str(), cleared])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The ids of every household on this device.
    pub fn household_ids(&self) -> Result<Vec<HouseholdId>> {
        let inner = self.lock();
        let mut statement = inner
            .conn
            .prepare("SELECT household_id FROM document ORDER BY household_id")?;
        let ids = statement.query_map([], |row| row.get::<_, String>(0))?;
        ids.map(|id| Ok(HouseholdId::parse(&id?)?)).collect()
    }

    /// Removes the households of villages outside `keep` (villages this device no longer
    /// covers) that hold nothing the server lacks: no unsynced change of this device, no
    /// change of any origin beyond what the server confirmed, and no visit under way. The
    /// others stay until a sync delivers them; nothing is lost. Households in `spare` stay
    /// whatever their state. Returns what was removed.
    pub fn drop_households_outside(
        &self,
        keep: &[AreaCode],
        spare: &[HouseholdId],
    ) -> Result<Vec<HouseholdId>> {
        let mut inner = self.lock();
        let Inner {
            conn, cache, actor, ..
        } = &mut *inner;
        let candidates: Vec<(String, String)> = conn
            .prepare(
                "SELECT household_id, village FROM household_index
                 WHERE unsynced_changes = 0
                   AND household_id NOT IN (SELECT household_id FROM open_visit)
                 ORDER BY household_id",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut dropped = Vec::new();
        for (id, village) in candidates {
            if keep.iter().any(|v| v.as_str() == village) {
                continue;
            }
            let household = HouseholdId::parse(&id)?;
            if spare.contains(&household) {
                continue;
            }
            let confirmed = read_confirmed(conn, &household)?;
            let doc = &mut load(conn, cache, actor, &household)?.doc;
            let known: Vec<ChangeHash> = confirmed
                .into_iter()
                .filter(|hash| has_change(doc, hash))
                .collect();
            if !doc.get_changes(&known).is_empty() {
                continue;
            }
            cache.pop(&id);
            let tx = conn.transaction()?;
            for table in [
                "open_visit",
                "document_change",
                "household_index",
                "document",
            ] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE household_id = ?1"),
                    [&id],
                )?;
            }
            tx.commit()?;
            dropped.push(household);
        }
        Ok(dropped)
    }

    /// Erases everything this device holds (households, changes, the index, the profile,
    /// villages, settings) and gives it a fresh actor, as for a new install: what a revoked
    /// device does. The file is rebuilt and its write-ahead log emptied, so the erased data
    /// does not linger in free pages.
    pub fn wipe(&self) -> Result<()> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let actor = ActorId::random();
        let tx = inner.conn.transaction()?;
        tx.execute_batch(
            "DELETE FROM open_visit;
             DELETE FROM document_change;
             DELETE FROM household_index;
             DELETE FROM document;
             DELETE FROM meta;",
        )?;
        db::set_meta(&tx, "actor", &actor.to_hex_string())?;
        tx.commit()?;
        inner.cache.clear();
        inner.profile = DeviceProfile {
            device: format!("device-{}", &actor.to_hex_string()[..8]),
            volunteer: String::new(),
        };
        inner.actor = actor;
        inner.villages.clear();
        inner.member_secret = MemberKeySecret::development();
        inner.conn.execute_batch("VACUUM")?;
        inner
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

impl DeviceProfile {
    fn actor_info(&self) -> ActorInfo {
        ActorInfo {
            device: Some(self.device.clone()),
            volunteer: Some(self.volunteer.clone()).filter(|v| !v.is_empty()),
            staff: None,
        }
    }
}

impl Inner {
    fn check_village(&self, village: &AreaCode) -> Result<()> {
        if self.villages.is_empty() || self.villages.contains(village) {
            Ok(())
        } else {
            Err(Error::VillageNotAssigned(village.to_string()))
        }
    }

    /// Applies `write` to a household as one Automerge change and commits it durably.
    /// On any failure the change is discarded, in memory and on disk alike.
    fn edit(
        &mut self,
        household: &HouseholdId,
        write: impl FnOnce(&mut AutoCommit) -> Result<()>,
    ) -> Result<Checked> {
        self.edit_with_visit(household, OpenVisit::Unchanged, write)
    }

    /// As [`Inner::edit`], also opening or closing a visit in the same transaction, so a
    /// crash can never leave the visit's bookkeeping out of step with the document.
    fn edit_with_visit(
        &mut self,
        household: &HouseholdId,
        open_visit: OpenVisit<'_>,
        write: impl FnOnce(&mut AutoCommit) -> Result<()>,
    ) -> Result<Checked> {
        let Inner {
            conn,
            cache,
            actor,
            profile,
            ..
        } = self;
        let loaded = load(conn, cache, actor, household)?;
        let doc = &mut loaded.doc;
        if let Err(err) = write(doc) {
            doc.rollback();
            return Err(err);
        }
        if doc.pending_ops() > 0 {
            let actor_hex = actor.to_hex_string();
            if !layout::has_actor(doc, &actor_hex) {
                layout::write_actor(doc, &actor_hex, &profile.actor_info())?;
            }
        }
        let visit: Option<String> = conn
            .prepare_cached("SELECT visit_id FROM open_visit WHERE household_id = ?1")?
            .query_row([household.as_str()], |row| row.get(0))
            .optional()?;
        let mut options = CommitOptions::default().with_time(now());
        if let Some(visit) = visit.and_then(|v| RecordId::parse(&v).ok()) {
            options = options.with_message(layout::visit_message(&visit));
        }
        let committed = doc.commit_with(options);
        let saved = (|| -> Result<Checked> {
            let today = today();
            let Some(hash) = committed else {
                return Ok(loaded.derived(today)?.checked());
            };
            let (change, keys) = match loaded.doc.get_last_local_change() {
                Some(change) => {
                    // A change of more ops than that is read whole; do not decode it.
                    let keys = (change.len() <= REFRESH_MAX_KEYS)
                        .then(|| root_keys_of(&change))
                        .flatten();
                    (change.raw_bytes().to_vec(), keys)
                }
                None => (Vec::new(), None),
            };
            // Re-read and re-check only the fields the change wrote, when the household
            // as it was is at hand; otherwise the whole household.
            let refreshed = match (loaded.derived.as_mut(), &keys) {
                (Some(derived), Some(keys)) => {
                    derived.refresh(loaded.doc.document(), keys, today)?
                }
                _ => false,
            };
            if !refreshed {
                loaded.derived = None;
            }
            let derived = loaded.derived(today)?;
            let checked = derived.checked();
            let tx = conn.transaction()?;
            update_index(&tx, household.as_str(), &derived.view, &checked, 1)?;
            append_change(&tx, household.as_str(), loaded, &change, Some(&hash))?;
            match open_visit {
                OpenVisit::Unchanged => {}
                OpenVisit::Start(visit) => {
                    tx.prepare_cached(
                        "INSERT INTO open_visit (household_id, visit_id) VALUES (?1, ?2)
                         ON CONFLICT (household_id) DO UPDATE SET visit_id = excluded.visit_id",
                    )?
                    .execute(params![household.as_str(), visit.as_str()])?;
                }
                OpenVisit::Finish(visit) => {
                    tx.prepare_cached(
                        "DELETE FROM open_visit WHERE household_id = ?1 AND visit_id = ?2",
                    )?
                    .execute(params![household.as_str(), visit.as_str()])?;
                }
            }
            tx.commit()?;
            Ok(checked)
        })();
        if saved.is_err() {
            cache.pop(household.as_str());
        }
        saved
    }

    /// Applies data received from elsewhere and stores it as it came, in one transaction
    /// with the household's index row. `apply` returns the changes the sender is known to
    /// hold with their history, which count as confirmed when the sender is the server.
    fn merge_remote(
        &mut self,
        household: &HouseholdId,
        stored: &[u8],
        origin: Origin,
        apply: impl FnOnce(&mut AutoCommit) -> Result<Vec<ChangeHash>>,
    ) -> Result<bool> {
        if !document_exists(&self.conn, household)? {
            let mut doc = AutoCommit::new().with_actor(self.actor.clone());
            let held = apply(&mut doc)?;
            check_complete(&mut doc)?;
            layout::migrate(&mut doc)?;
            let view = layout::read_household(doc.document())?;
            check_filed_under(household, &view)?;
            let village =
                AreaCode::parse_village(view.household_text("village").unwrap_or_default())?;
            self.check_village(&village)?;
            let confirmed = match origin {
                Origin::Server => smallest_heads(doc.document(), held),
                Origin::Peer => Vec::new(),
            };
            let checked = Checked::of(&view);
            let tx = self.conn.transaction()?;
            tx.execute(
                "INSERT INTO document (household_id, village, snapshot, confirmed_heads)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    household.as_str(),
                    village.as_str(),
                    doc.save(),
                    join_heads(&confirmed)
                ],
            )?;
            insert_index(&tx, household.as_str(), &view, &checked, 0)?;
            tx.commit()?;
            self.cache.put(
                household.to_string(),
                Loaded {
                    doc,
                    last_seq: 0,
                    snapshot_seq: 0,
                    derived: None,
                },
            );
            return Ok(true);
        }
        let Inner {
            conn, cache, actor, ..
        } = self;
        let loaded = load(conn, cache, actor, household)?;
        let before = loaded.doc.get_heads();
        // What arrives is not followed field by field: read the household afresh next time.
        loaded.derived = None;
        let saved = (|| -> Result<bool> {
            let held = apply(&mut loaded.doc)?;
            check_complete(&mut loaded.doc)?;
            let arrived = loaded.doc.get_heads() != before;
            let view = if arrived {
                Some(layout::read_household(loaded.doc.document())?)
            } else {
                None
            };
            if let Some(view) = &view {
                check_filed_under(household, view)?;
            }
            let confirmed = match origin {
                Origin::Server => {
                    let (heads, changed) =
                        widened_confirmation(conn, household, &mut loaded.doc, &held)?;
                    changed.then_some(heads)
                }
                Origin::Peer => None,
            };
            if !arrived && confirmed.is_none() {
                return Ok(false);
            }
            let tx = conn.transaction()?;
            let cleared = match &confirmed {
                Some(heads) => store_confirmed(&tx, household.as_str(), loaded, heads)?,
                None => 0,
            };
            if let Some(view) = &view {
                append_change(&tx, household.as_str(), loaded, stored, None)?;
                let checked = Checked::of(view);
                update_index(&tx, household.as_str(), view, &checked, -cleared)?;
            } else if cleared > 0 {
                tx.prepare_cached(
                    "UPDATE household_index SET unsynced_changes = unsynced_changes - ?2
                     WHERE household_id = ?1",
                )?
                .execute(params![household.as_str(), cleared])?;
            }
            tx.commit()?;
            Ok(arrived)
        })();
        if saved.is_err() {
            // The document in memory may hold what was refused; reload it from disk.
            cache.pop(household.as_str());
        }
        saved
    }
}

/// Refuses a received document that names another household as itself, as the server
/// refuses such an upload: filed under the wrong id, it would show one family's record as
/// another's.
fn check_filed_under(household: &HouseholdId, view: &HouseholdView) -> Result<()> {
    match view.household_text("id") {
        Some(id) if id == household.as_str() => Ok(()),
        names => Err(Error::NotThisHousehold {
            filed_under: household.to_string(),
            names: names.unwrap_or_default().to_owned(),
        }),
    }
}

/// Refuses changes whose dependencies never arrived: Automerge would hold them back in
/// memory, where a restart would lose them, so the sender must send them again with
/// their history.
fn check_complete(doc: &mut AutoCommit) -> Result<()> {
    let missing = doc.get_missing_deps(&[]);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingDependencies(missing.len()))
    }
}

/// What an edit does to the household's open visit.
enum OpenVisit<'a> {
    Unchanged,
    Start(&'a RecordId),
    Finish(&'a RecordId),
}

impl Loaded {
    /// The household as its document now stands, read and checked if it is not at hand
    /// (or was checked on another day).
    fn derived(&mut self, today: jiff::civil::Date) -> Result<&Derived> {
        if self.derived.as_ref().is_none_or(|d| d.today != today) {
            self.derived = Some(Derived::read(self.doc.document(), today)?);
        }
        Ok(self.derived.as_ref().expect("just read"))
    }
}

/// Loads a household into the cache (if it is not there) and returns it.
fn load<'c>(
    conn: &Connection,
    cache: &'c mut LruCache<String, Loaded>,
    actor: &ActorId,
    household: &HouseholdId,
) -> Result<&'c mut Loaded> {
    if cache.get_mut(household.as_str()).is_none() {
        let stored: Option<(Vec<u8>, i64)> = conn
            .prepare_cached("SELECT snapshot, snapshot_seq FROM document WHERE household_id = ?1")?
            .query_row([household.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let (snapshot, snapshot_seq) =
            stored.ok_or_else(|| Error::HouseholdNotFound(household.to_string()))?;
        let mut doc = AutoCommit::load(&snapshot)?.with_actor(actor.clone());
        let mut last_seq = snapshot_seq;
        let mut statement = conn.prepare_cached(
            "SELECT seq, bytes FROM document_change WHERE household_id = ?1 AND seq > ?2
             ORDER BY seq",
        )?;
        let mut rows = statement.query(params![household.as_str(), snapshot_seq])?;
        while let Some(row) = rows.next()? {
            last_seq = row.get(0)?;
            doc.load_incremental(&row.get::<_, Vec<u8>>(1)?)?;
        }
        layout::migrate(&mut doc)?;
        cache.put(
            household.to_string(),
            Loaded {
                doc,
                last_seq,
                snapshot_seq,
                derived: None,
            },
        );
    }
    cache
        .get_mut(household.as_str())
        .ok_or_else(|| Error::HouseholdNotFound(household.to_string()))
}

fn document_exists(conn: &Connection, household: &HouseholdId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM document WHERE household_id = ?1")?
        .query_row([household.as_str()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Appends change bytes to a household in the caller's transaction, marked unsynced when
/// they are this device's own change, and folds the rows into a new snapshot every
/// [`COMPACT_AFTER_ROWS`]. Only the household's own leaf of `document_change` is written:
/// the document row is left alone unless it is time to fold.
fn append_change(
    tx: &Connection,
    household: &str,
    loaded: &mut Loaded,
    bytes: &[u8],
    unsynced: Option<&ChangeHash>,
) -> Result<()> {
    let seq = loaded.last_seq + 1;
    tx.prepare_cached(
        "INSERT INTO document_change (household_id, seq, bytes, unsynced_hash)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![household, seq, bytes, unsynced.map(|h| h.as_ref())])?;
    loaded.last_seq = seq;
    if seq - loaded.snapshot_seq >= COMPACT_AFTER_ROWS {
        compact(tx, household, loaded.doc.save(), seq)?;
        loaded.snapshot_seq = seq;
    }
    Ok(())
}

/// Folds a household's change rows up to `seq` into a new snapshot, in the caller's
/// transaction, so a crash leaves either the old rows or the new snapshot, never neither.
/// Rows still marked unsynced stay, without their bytes, to carry the mark.
fn compact(tx: &Connection, household: &str, snapshot: Vec<u8>, seq: i64) -> Result<()> {
    tx.execute(
        "UPDATE document SET snapshot = ?2, snapshot_seq = ?3 WHERE household_id = ?1",
        params![household, snapshot, seq],
    )?;
    tx.execute(
        "DELETE FROM document_change
         WHERE household_id = ?1 AND seq <= ?2 AND unsynced_hash IS NULL",
        params![household, seq],
    )?;
    tx.execute(
        "UPDATE document_change SET bytes = x''
         WHERE household_id = ?1 AND seq <= ?2 AND length(bytes) > 0",
        params![household, seq],
    )?;
    Ok(())
}

/// What the rules and the merge say about a household, worked out once per read or edit
/// and shared by its index row and the caller.
struct Checked {
    issues: Vec<Issue>,
    conflicts: Vec<Conflict>,
}

impl Checked {
    fn of(view: &HouseholdView) -> Checked {
        Checked {
            issues: validation::validate(view, today()),
            conflicts: view.conflicts(),
        }
    }

    fn errors(&self) -> i64 {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count() as i64
    }

    fn warnings(&self) -> i64 {
        self.issues.len() as i64 - self.errors()
    }
}

fn insert_index(
    tx: &Connection,
    household: &str,
    view: &HouseholdView,
    checked: &Checked,
    unsynced: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO household_index (household_id, village, number, head_name, member_count,
             error_count, warning_count, conflict_count, search_text, unsynced_changes,
             updated_at, merged_into)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        household,
        view.household_text("village").unwrap_or_default(),
        view.household_text("number").unwrap_or_default(),
        view.head_name(),
        view.present_members().count() as i64,
        checked.errors(),
        checked.warnings(),
        checked.conflicts.len() as i64,
        schema::search::index_text(view),
        unsynced,
        now(),
        view.household_text("merged_into"),
    ])?;
    Ok(())
}

/// Rewrites a household's index row after a change, adding `unsynced_added` to its count
/// of unsynced changes, and returns that count.
///
/// The village and household number are written only when they differ: naming them in
/// the main `UPDATE` would make SQLite rewrite their entry in `household_index_village`
/// on every edit, one more page in the commit.
fn update_index(
    tx: &Connection,
    household: &str,
    view: &HouseholdView,
    checked: &Checked,
    unsynced_added: i64,
) -> Result<i64> {
    let (village, number, unsynced): (String, String, i64) = tx
        .prepare_cached(
            "UPDATE household_index SET head_name = ?2, member_count = ?3, error_count = ?4,
                 warning_count = ?5, conflict_count = ?6, search_text = ?7,
                 unsynced_changes = unsynced_changes + ?8, updated_at = ?9, merged_into = ?10
             WHERE household_id = ?1
             RETURNING village, number, unsynced_changes",
        )?
        .query_row(
            params![
                household,
                view.head_name(),
                view.present_members().count() as i64,
                checked.errors(),
                checked.warnings(),
                checked.conflicts.len() as i64,
                schema::search::index_text(view),
                unsynced_added,
                now(),
                view.household_text("merged_into"),
            ],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
    let new_village = view.household_text("village").unwrap_or_default();
    let new_number = view.household_text("number").unwrap_or_default();
    if village != new_village || number != new_number {
        tx.prepare_cached(
            "UPDATE household_index SET village = ?2, number = ?3 WHERE household_id = ?1",
        )?
        .execute(params![household, new_village, new_number])?;
    }
    Ok(unsynced)
}

fn unsynced_in(conn: &Connection, household: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT unsynced_changes FROM household_index WHERE household_id = ?1")?
        .query_row([household], |row| row.get(0))
        .optional()?
        .unwrap_or_default())
}

fn detail(
    household: &HouseholdId,
    view: HouseholdView,
    checked: Checked,
    unsynced_changes: i64,
) -> HouseholdDetail {
    HouseholdDetail {
        id: household.to_string(),
        view,
        issues: checked.issues,
        conflicts: checked.conflicts,
        unsynced_changes,
    }
}

fn has_change(doc: &mut AutoCommit, hash: &ChangeHash) -> bool {
    doc.get_change_meta_by_hash(hash).is_some()
}

fn read_confirmed(conn: &Connection, household: &HouseholdId) -> Result<Vec<ChangeHash>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT confirmed_heads FROM document WHERE household_id = ?1")?
        .query_row([household.as_str()], |row| row.get(0))
        .optional()?;
    let bytes = bytes.ok_or_else(|| Error::HouseholdNotFound(household.to_string()))?;
    Ok(bytes
        .chunks_exact(32)
        .filter_map(|chunk| ChangeHash::try_from(chunk).ok())
        .collect())
}

fn join_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.as_ref().to_vec()).collect()
}

/// The household's confirmed heads once the server is also known to hold `held` (and
/// their history), and whether that adds anything to what was confirmed before.
///
/// The server never forgets a change, so what it confirmed before still holds: the new
/// heads cover both. Only changes this device has count, since only they can be left
/// out of an upload.
fn widened_confirmation(
    conn: &Connection,
    household: &HouseholdId,
    doc: &mut AutoCommit,
    held: &[ChangeHash],
) -> Result<(Vec<ChangeHash>, bool)> {
    let mut before = read_confirmed(conn, household)?;
    before.sort_unstable();
    let candidates: BTreeSet<ChangeHash> = before
        .iter()
        .chain(held)
        .copied()
        .filter(|hash| has_change(doc, hash))
        .collect();
    let heads = smallest_heads(doc.document(), candidates);
    let changed = heads != before;
    Ok((heads, changed))
}

/// The heads of everything `hashes` and their ancestors make up: the hashes that are not
/// an ancestor of another, sorted. All must be in `doc`.
fn smallest_heads(
    doc: &automerge::Automerge,
    hashes: impl IntoIterator<Item = ChangeHash>,
) -> Vec<ChangeHash> {
    let mut heads: BTreeSet<ChangeHash> = hashes.into_iter().collect();
    // A run of changes received together is mostly a chain: dropping direct dependencies
    // first leaves few to check the slow way.
    let deps: Vec<ChangeHash> = heads
        .iter()
        .filter_map(|hash| doc.get_change_meta_by_hash(hash))
        .flat_map(|meta| meta.deps)
        .collect();
    for dep in &deps {
        heads.remove(dep);
    }
    if heads.len() > 1 {
        let all: Vec<ChangeHash> = heads.iter().copied().collect();
        heads.retain(|hash| {
            let others: Vec<ChangeHash> = all.iter().copied().filter(|h| h != hash).collect();
            // Not among the changes the others lack: an ancestor of one of them.
            doc.get_changes_meta(&others)
                .iter()
                .any(|meta| meta.hash == *hash)
        });
    }
    heads.into_iter().collect()
}

/// Stores `confirmed` as the household's confirmed heads, in the caller's transaction, and
/// clears the unsynced mark of every change of this device they cover. Returns how many
/// marks it cleared.
fn store_confirmed(
    tx: &Connection,
    household: &str,
    loaded: &mut Loaded,
    confirmed: &[ChangeHash],
) -> Result<i64> {
    let still_missing: HashSet<ChangeHash> = loaded
        .doc
        .document()
        .get_changes_meta(confirmed)
        .iter()
        .map(|meta| meta.hash)
        .collect();
    let marked: Vec<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT seq, unsynced_hash FROM document_change
             WHERE household_id = ?1 AND unsynced_hash IS NOT NULL",
        )?
        .query_map([household], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut cleared = 0;
    for (seq, hash) in marked {
        let covered = ChangeHash::try_from(hash.as_slice())
            .is_ok_and(|h| has_change(&mut loaded.doc, &h) && !still_missing.contains(&h));
        if !covered {
            continue;
        }
        // A row the snapshot already holds was kept only for its mark.
        let statement = if seq <= loaded.snapshot_seq {
            "DELETE FROM document_change WHERE household_id = ?1 AND seq = ?2"
        } else {
            "UPDATE document_change SET unsynced_hash = NULL WHERE household_id = ?1 AND seq = ?2"
        };
        tx.prepare_cached(statement)?
            .execute(params![household, seq])?;
        cleared += 1;
    }
    tx.prepare_cached("UPDATE document SET confirmed_heads = ?2 WHERE household_id = ?1")?
        .execute(params![household, join_heads(confirmed)])?;
    Ok(cleared)
}

/// Refuses a write to a member, visit, training or subsidy that does not exist, so a typo in
/// a key cannot create a phantom record.
fn ensure_record_exists(doc: &AutoCommit, path: &FieldPath) -> Result<()> {
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
fn typed_value(path: &FieldPath, input: &str) -> Result<Option<FieldValue>> {
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
fn refuse_another_name(doc: &AutoCommit, key: &MemberKey, id: &IdNumber, name: &str) -> Result<()> {
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
fn issues_of_records(issues: Vec<Issue>, paths: &[FieldPath]) -> Vec<Issue> {
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

fn decode_secret(hex_text: &str) -> Result<MemberKeySecret> {
    let bytes = hex::decode(hex_text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes.map(MemberKeySecret::from_bytes).ok_or_else(|| {
        Error::InvalidInput(Message::new(
            "成员密钥损坏",
            "The member key secret is damaged",
        ))
    })
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source does not fail on the platforms we ship to; if it ever did, a
    // time-based fallback still gives distinct ids on one device.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_le_bytes();
        for (byte, nano) in bytes.iter_mut().zip(nanos) {
            *byte = nano;
        }
    }
    bytes
}

/// Seconds since 1970, from the device clock.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Today's date in China (UTC+8), from the device clock.
pub fn today() -> jiff::civil::Date {
    schema::china_date(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const VILLAGE: &str = "141124100201";

    fn phone(device: &str) -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .set_profile(DeviceProfile {
                device: device.into(),
                volunteer: "李娜".into(),
            })
            .unwrap();
        (store, dir)
    }

    /// The cached view, issues and index counts equal a full read and a full `validate`.
    fn assert_matches_full(store: &Store, household: &HouseholdId) {
        let mut guard = store.lock();
        let Inner { conn, cache, .. } = &mut *guard;
        let loaded = cache.peek_mut(household.as_str()).unwrap();
        let Some(derived) = &loaded.derived else {
            return;
        };
        let view = layout::read_household(loaded.doc.document()).unwrap();
        assert_eq!(derived.view, view);
        let checked = derived.checked();
        assert_eq!(checked.issues, validation::validate(&view, today()));
        assert_eq!(checked.conflicts, view.conflicts());
        let full = Checked::of(&view);
        let counts: (i64, i64, i64) = conn
            .query_row(
                "SELECT error_count, warning_count, conflict_count FROM household_index
                 WHERE household_id = ?1",
                [household.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            counts,
            (full.errors(), full.warnings(), full.conflicts.len() as i64)
        );
    }

    fn member_name(store: &Store, household: &HouseholdId, key: &MemberKey) -> Option<String> {
        let detail = store.household(household).unwrap();
        detail.view.members[key.as_str()]["name"]
            .value
            .as_text()
            .map(str::to_owned)
    }

    #[test]
    fn an_id_number_already_recorded_under_another_name_is_refused_naming_the_member() {
        let (a, _dir) = phone("phone-a");
        let household = a
            .create_household(&AreaCode::parse(VILLAGE).unwrap(), None)
            .unwrap();
        let wang = a
            .add_member(&household, "王五", Some("11010519491231002X"))
            .unwrap();
        let unsynced = a.unsynced_changes().unwrap();

        let err = a
            .add_member(&household, "李四", Some("110105 19491231 002x"))
            .unwrap_err();
        let Error::InvalidInput(message) = err else {
            panic!("{err:?}");
        };
        for text in [&message.zh, &message.en] {
            for part in ["王五", "李四", wang.as_str(), "1101**********002X"] {
                assert!(text.contains(part), "{text:?} lacks {part}");
            }
        }
        assert!(message.zh.contains("已登记"), "{}", message.zh);
        assert!(message.en.contains("already recorded"), "{}", message.en);
        let detail = a.household(&household).unwrap();
        assert_eq!(detail.view.members.len(), 1);
        assert_eq!(member_name(&a, &household, &wang).as_deref(), Some("王五"));
        assert_eq!(
            a.unsynced_changes().unwrap(),
            unsynced,
            "nothing was written"
        );

        // The same person added again under the same name is no news, nor is the name
        // typed with a space, and neither renames the member.
        for typed in [" 王五 ", "王 五"] {
            let again = a
                .add_member(&household, typed, Some("110105491231002"))
                .unwrap();
            assert_eq!(again, wang);
        }
        assert_eq!(member_name(&a, &household, &wang).as_deref(), Some("王五"));
        // Renaming is an ordinary edit, after which the new name is the recorded one.
        a.set_field(&household, &format!("members.{wang}.name"), "李四")
            .unwrap();
        assert_eq!(
            a.add_member(&household, "李四", Some("11010519491231002X"))
                .unwrap(),
            wang
        );
    }

    #[test]
    fn either_candidate_of_a_disputed_name_adds_the_member_again_and_no_other_name_does() {
        let (a, _da) = phone("phone-a");
        let (b, _db) = phone("phone-b");
        let household = a
            .create_household(&AreaCode::parse(VILLAGE).unwrap(), None)
            .unwrap();
        let key = a
            .add_member(&household, "王五", Some("11010519491231002X"))
            .unwrap();
        b.apply_document(&household, &a.document_bytes(&household).unwrap())
            .unwrap();
        let name = format!("members.{key}.name");
        a.set_field(&household, &name, "王伍").unwrap();
        b.set_field(&household, &name, "王老五").unwrap();
        let to_a = b
            .changes_since(&household, &a.heads(&household).unwrap())
            .unwrap();
        a.apply_changes(&household, &to_a).unwrap();
        assert_eq!(a.household(&household).unwrap().conflicts.len(), 1);

        for candidate in ["王伍", "王老五"] {
            assert_eq!(
                a.add_member(&household, candidate, Some("11010519491231002X"))
                    .unwrap(),
                key
            );
        }
        let shown = member_name(&a, &household, &key).unwrap();
        let err = a
            .add_member(&household, "李四", Some("11010519491231002X"))
            .unwrap_err();
        assert!(err.message().zh.contains(&shown), "{}", err.message().zh);
        assert_eq!(a.household(&household).unwrap().conflicts.len(), 1);
    }

    #[test]
    fn set_reads_an_id_number_as_add_member_does() {
        let (a, _dir) = phone("phone-a");
        let household = a
            .create_household(&AreaCode::parse(VILLAGE).unwrap(), None)
            .unwrap();
        let key = a.add_member(&household, "赵敏", None).unwrap();
        let path = format!("members.{key}.id_number");
        let stored = |a: &Store| {
            a.household(&household).unwrap().view.members[key.as_str()]
                .get("id_number")
                .and_then(|field| field.value.as_text().map(str::to_owned))
        };
        for (typed, expected) in [
            ("110105491231002", "11010519491231002X"),
            (
                "４４０５２４－１８８００１０１－００１４",
                "440524188001010014",
            ),
        ] {
            a.set_field(&household, &path, typed).unwrap();
            assert_eq!(stored(&a).as_deref(), Some(expected), "{typed}");
        }
        for (typed, reason) in [
            ("110105490230002", "19490230"),
            ("440524188001010015", "校验位"),
            ("990524188001010014", "99"),
        ] {
            let err = a.set_field(&household, &path, typed).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
            assert!(err.message().zh.contains(reason), "{}", err.message().zh);
            assert_eq!(stored(&a).as_deref(), Some("440524188001010014"));
        }
        a.set_field(&household, &path, " ").unwrap();
        assert_eq!(stored(&a), None, "empty input still clears the field");
    }

    /// Random edits (valid, invalid, cleared, code sets, new records, concurrent edits from
    /// another phone): after each, the incrementally kept view and issues equal a full
    /// read and validation, and so do the index row's counts.
    #[test]
    fn incremental_view_and_issues_equal_full_recomputation() {
        let (a, _da) = phone("phone-a");
        let (b, _db) = phone("phone-b");
        let household = a
            .create_household(&AreaCode::parse(VILLAGE).unwrap(), Some("1411241002010001"))
            .unwrap();
        let mut members = vec![
            a.add_member(&household, "刘伟", Some("11010519491231002X"))
                .unwrap(),
        ];
        b.apply_document(&household, &a.document_bytes(&household).unwrap())
            .unwrap();
        let fields: &[(&str, &[&str])] = &[
            ("name", &["王芳", "x"]),
            // An ID number that is not one is refused at input (`typed_value`), so the
            // variety here is in the forms typed: legacy, grouped, full-width.
            (
                "id_number",
                &[
                    "11010519491231002X",
                    "110105491231002",
                    "4405 2418 8001 0100 14",
                    "",
                ],
            ),
            ("sex", &["1", "2", "9", ""]),
            (
                "birth_date",
                &["1980-02-29", "1981-02-29", "2099-01-01", ""],
            ),
            ("relation", &["01", "02", "77", ""]),
            ("health", &["01", "01,03", "02 04", "zz", ""]),
            ("in_school", &["是", "否", "maybe", ""]),
            ("employment.status", &["01", "02", "x", ""]),
            (
                "employment.start_date",
                &["2020-01-01", "2099-12-31", "bad", ""],
            ),
            (
                "employment.monthly_income",
                &["3000", "-5", "abc", "999999999", ""],
            ),
            ("employment.months_worked", &["6", "13", ""]),
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut visit = None;
        let mut saw_conflict = false;
        for _ in 0..400 {
            match next(20) {
                0 => members.push(a.add_member(&household, "赵敏", None).unwrap()),
                1 => {
                    // A concurrent edit on the other phone, merged in.
                    let member = &members[0];
                    let path = format!("members.{member}.employment.monthly_income");
                    b.set_field(&household, &path, ["3100", "3200", "abc"][next(3)])
                        .unwrap();
                    a.set_field(&household, &path, ["4100", "4200", "x"][next(3)])
                        .unwrap();
                    let to_a = b
                        .changes_since(&household, &a.heads(&household).unwrap())
                        .unwrap();
                    a.apply_changes(&household, &to_a).unwrap();
                    let to_b = a
                        .changes_since(&household, &b.heads(&household).unwrap())
                        .unwrap();
                    b.apply_changes(&household, &to_b).unwrap();
                    saw_conflict |= !a.household(&household).unwrap().conflicts.is_empty();
                }
                2 => {
                    let member = members[next(members.len())].clone();
                    a.add_training(&household, &member).unwrap();
                }
                3 => match visit.take() {
                    None => visit = Some(a.start_visit(&household).unwrap()),
                    Some(v) => {
                        a.finish_visit(&household, &v, "met", Some("见到户主"), None)
                            .unwrap();
                    }
                },
                4 => {
                    // Opening the household reads it whole when nothing is at hand.
                    a.household(&household).unwrap();
                }
                _ => {
                    let edits: Vec<(String, String)> = (0..1 + next(3))
                        .map(|_| {
                            let member = &members[next(members.len())];
                            let (name, values) = fields[next(fields.len())];
                            let value = values[next(values.len())];
                            (format!("members.{member}.{name}"), value.to_owned())
                        })
                        .collect();
                    let edits: Vec<(&str, &str)> = edits
                        .iter()
                        .map(|(p, v)| (p.as_str(), v.as_str()))
                        .collect();
                    let returned = a.set_fields(&household, &edits).unwrap();
                    let paths: Vec<FieldPath> = edits
                        .iter()
                        .map(|(p, _)| FieldPath::parse(p).unwrap())
                        .collect();
                    let opened = a.household(&household).unwrap();
                    assert_eq!(returned, issues_of_records(opened.issues, &paths));
                }
            }
            assert_matches_full(&a, &household);
        }
        assert!(saw_conflict, "the loop made concurrent edits");
    }
}
