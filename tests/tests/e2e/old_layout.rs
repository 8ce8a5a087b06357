//! A phone of layout 1 keeps syncing with a server of layout 2 (ADR 0009), both ways.
//!
//! The old phone is played with raw Automerge, written from layout 1 as `docs/LAYOUT.md`
//! describes it, and holds to the two rules a layout-1 reader (client-core as released)
//! follows with what it downloads: a document whose `schema_version` is higher than 1 is
//! refused (which would stop its sync at that household, every time), and a key it does not
//! know is kept as it is and never written. It uploads a household of layout 1; a phone of
//! layout 2 then writes every new field into it and records a household of its own; the old
//! phone downloads both, edits a layout-1 field of each, and uploads again. Nothing is
//! refused, quarantined or lost, on SQLite and PostgreSQL.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ChangeHash, ROOT, ReadDoc, ScalarValue, Value};
use doorstep_e2e::{Backend, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE};
use schema::fields::FieldPath;
use schema::wire::{Cursor, Payload, SyncRequest, UploadOutcome};
use std::collections::{BTreeMap, BTreeSet};

use crate::support::*;

const OLD_ACTOR: &str = "0ddc0ddc0ddc0ddc0ddc0ddc0ddc0ddc";
const SECONDS: i64 = 1_796_000_000;

/// A phone of layout 1: its documents, what the server confirmed of each, its cursor.
struct OldPhone {
    token: String,
    docs: BTreeMap<String, AutoCommit>,
    confirmed: BTreeMap<String, Vec<ChangeHash>>,
    cursor: Option<Cursor>,
}

/// Whether layout 1 has this root key: its version, an actor's entry, or a field (or one code
/// of a multi-select) that layout 1 listed.
fn layout_1_knows(key: &str) -> bool {
    if key == "schema_version" || key.starts_with("actors.") {
        return true;
    }
    let path = FieldPath::parse(key).or_else(|_| {
        key.rsplit_once('.')
            .map_or(Err(()), |(set, _)| FieldPath::parse(set).map_err(|_| ()))
    });
    path.is_ok_and(|path| path.spec().since == 1)
}

/// What a layout-1 reader does with a document: refuses a version it does not know, and
/// otherwise reads it, keeping the keys it does not know aside. Returns those keys.
fn read_as_layout_1(doc: &AutoCommit) -> Result<BTreeSet<String>, String> {
    match doc.get(ROOT, "schema_version").unwrap() {
        Some((Value::Scalar(version), _)) => match version.as_ref() {
            ScalarValue::Uint(1) | ScalarValue::Int(1) => {}
            other => return Err(format!("layout {other} is newer than 1: refused")),
        },
        other => return Err(format!("no layout version: {other:?}")),
    }
    Ok(doc.keys(ROOT).filter(|key| !layout_1_knows(key)).collect())
}

impl OldPhone {
    fn new(db: &TestDatabase) -> OldPhone {
        OldPhone {
            token: db.add_device(&[VILLAGE]),
            docs: BTreeMap::new(),
            confirmed: BTreeMap::new(),
            cursor: None,
        }
    }

    /// One change to a household, as layout 1 writes it.
    fn change(&mut self, household: &str, write: impl FnOnce(&mut AutoCommit)) {
        let doc = self.docs.entry(household.to_owned()).or_insert_with(|| {
            AutoCommit::new().with_actor(automerge::ActorId::from(hex::decode(OLD_ACTOR).unwrap()))
        });
        write(doc);
        doc.commit_with(CommitOptions::default().with_time(SECONDS));
    }

    /// Uploads what the server has not confirmed, then downloads until nothing is waiting,
    /// applying every update as a layout-1 reader does. Returns each upload's outcome and
    /// the keys of layout 2 it kept aside, by household.
    fn sync(
        &mut self,
        server: &Server,
    ) -> (Vec<UploadOutcome>, BTreeMap<String, BTreeSet<String>>) {
        let uploads = self
            .docs
            .iter_mut()
            .map(|(household, doc)| {
                let confirmed = self.confirmed.get(household).cloned().unwrap_or_default();
                let changes: Vec<Vec<u8>> = doc
                    .get_changes(&confirmed)
                    .into_iter()
                    .map(|c| c.raw_bytes().to_vec())
                    .collect();
                upload(household, &changes)
            })
            .filter(|u| !u.changes.is_empty())
            .collect::<Vec<_>>();
        let households: Vec<String> = uploads.iter().map(|u| u.household.clone()).collect();
        let mut outcomes = Vec::new();
        let mut pending = uploads;
        loop {
            let response = sync_raw(
                server,
                &self.token,
                &SyncRequest {
                    actor: OLD_ACTOR.to_owned(),
                    cursor: self.cursor.clone(),
                    uploads: std::mem::take(&mut pending),
                    ..request(Vec::new())
                },
            );
            for (result, household) in response.results.iter().zip(&households) {
                if let UploadOutcome::Accepted { heads } = &result.outcome {
                    let heads = heads
                        .iter()
                        .map(|h| ChangeHash::try_from(h.as_ref()).unwrap())
                        .collect();
                    self.confirmed.insert(household.clone(), heads);
                }
                outcomes.push(result.outcome.clone());
            }
            for update in response.updates {
                let doc = self
                    .docs
                    .entry(update.household.clone())
                    .or_insert_with(|| {
                        AutoCommit::new()
                            .with_actor(automerge::ActorId::from(hex::decode(OLD_ACTOR).unwrap()))
                    });
                match update.payload {
                    Payload::Document(bytes) => doc.load_incremental(&bytes).map(|_| ()),
                    Payload::Changes(changes) => changes
                        .iter()
                        .try_for_each(|bytes| doc.load_incremental(bytes.as_ref()).map(|_| ())),
                }
                .unwrap();
                self.confirmed
                    .insert(update.household.clone(), doc.get_heads());
            }
            self.cursor = Some(response.cursor);
            if !response.more {
                break;
            }
        }
        let kept_aside = self
            .docs
            .iter()
            .map(|(household, doc)| {
                let unknown = read_as_layout_1(doc).unwrap_or_else(|refused| {
                    panic!("the old phone would stop syncing at {household}: {refused}")
                });
                (household.clone(), unknown)
            })
            .collect();
        (outcomes, kept_aside)
    }

    fn text(&self, household: &str, key: &str) -> Option<String> {
        match self.docs[household].get(ROOT, key).unwrap() {
            Some((Value::Scalar(s), _)) => s.as_str().map(str::to_owned),
            _ => None,
        }
    }
}

fn accepted(outcomes: &[UploadOutcome]) {
    for outcome in outcomes {
        assert!(
            matches!(outcome, UploadOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
}

fn field<'a>(
    detail: &'a serde_json::Value,
    record: &str,
    key: &str,
    name: &str,
) -> &'a serde_json::Value {
    &detail[record][key][name]["value"]
}

#[test]
fn test_a_phone_of_layout_1_syncs_both_ways_with_a_server_and_a_phone_of_layout_2() {
    for backend in Backend::all() {
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let staff = server.staff_token(&db, COUNTY, "县工作人员");

        // The old phone records a household as layout 1 has it: the place of work as text.
        let mut old = OldPhone::new(&db);
        let old_house = fresh_id().to_string();
        let member = "aa11aa11aa11aa11aa11aa11aa11aa11";
        let subsidy = "5b5b5b5b5b5b5b5b";
        old.change(&old_house, |d| {
            d.put(ROOT, "schema_version", 1_u64).unwrap();
            d.put(ROOT, "household.id", old_house.as_str()).unwrap();
            d.put(ROOT, "household.village", VILLAGE).unwrap();
            d.put(ROOT, "household.created_at", SECONDS).unwrap();
            d.put(ROOT, "household.number", "OLD-0001").unwrap();
            d.put(ROOT, format!("actors.{OLD_ACTOR}.device"), "旧手机")
                .unwrap();
            d.put(ROOT, format!("actors.{OLD_ACTOR}.volunteer"), "老张")
                .unwrap();
            let m = format!("members.{member}");
            d.put(ROOT, format!("{m}.name"), "王大山").unwrap();
            d.put(ROOT, format!("{m}.relation"), "01").unwrap();
            d.put(ROOT, format!("{m}.employment.status"), "01").unwrap();
            d.put(ROOT, format!("{m}.employment.place"), "北京朝阳")
                .unwrap();
            let s = format!("subsidies.{subsidy}");
            d.put(ROOT, format!("{s}.member"), member).unwrap();
            d.put(ROOT, format!("{s}.kind"), "03").unwrap();
            d.put(ROOT, format!("{s}.year"), 2024_i64).unwrap();
            d.put(ROOT, format!("{s}.amount"), 1000_i64).unwrap();
        });
        let (outcomes, kept_aside) = old.sync(&server);
        accepted(&outcomes);
        assert_eq!(outcomes.len(), 1, "{backend:?}");
        assert!(kept_aside[&old_house].is_empty(), "{kept_aside:?}");

        // A phone of layout 2 writes every new field into it, and records its own household.
        let new = Phone::new("新手机", &server, &db.add_device(&[VILLAGE]));
        new.sync();
        let old_id = HouseholdId::parse(&old_house).unwrap();
        let m = format!("members.{member}");
        let s = format!("subsidies.{subsidy}");
        new.store
            .set_fields(
                &old_id,
                &[
                    (&format!("{m}.employment.place_area"), "110105"),
                    (&format!("{m}.employment.channel"), "02"),
                    (&format!("{s}.insurance_type"), "01"),
                    (&format!("{s}.contribution_base"), "3000"),
                    (&format!("{s}.contribution"), "6000"),
                ],
            )
            .unwrap();
        let new_id = new.store.create_household(&area(VILLAGE), None).unwrap();
        let newcomer = new.store.add_member(&new_id, "李小花", None).unwrap();
        let n = format!("members.{newcomer}");
        new.store
            .set_fields(
                &new_id,
                &[
                    (&format!("{n}.employment.status"), "02"),
                    (&format!("{n}.employment.place"), "太原"),
                    (&format!("{n}.employment.place_area"), "140105"),
                    (&format!("{n}.employment.channel"), "03"),
                ],
            )
            .unwrap();
        let report = new.sync();
        assert!(report.rejected.is_empty(), "{backend:?}: {report:?}");
        assert!(report.quarantined.is_empty(), "{backend:?}: {report:?}");

        // The old phone downloads both: each still says layout 1 reads it, its own keys are
        // as it left them, and the new keys come along as keys it keeps aside.
        let (outcomes, kept_aside) = old.sync(&server);
        assert!(outcomes.is_empty());
        let new_house = new_id.to_string();
        assert_eq!(
            kept_aside[&old_house],
            [
                format!("{m}.employment.channel"),
                format!("{m}.employment.place_area"),
                format!("{s}.contribution"),
                format!("{s}.contribution_base"),
                format!("{s}.insurance_type"),
            ]
            .into_iter()
            .collect::<BTreeSet<_>>(),
            "{backend:?}"
        );
        assert_eq!(
            kept_aside[&new_house],
            [
                format!("{n}.employment.channel"),
                format!("{n}.employment.place_area"),
            ]
            .into_iter()
            .collect::<BTreeSet<_>>(),
            "{backend:?}"
        );
        assert_eq!(
            old.text(&old_house, &format!("{m}.employment.place"))
                .as_deref(),
            Some("北京朝阳")
        );
        assert_eq!(
            old.text(&new_house, &format!("{n}.name")).as_deref(),
            Some("李小花")
        );

        // It edits a layout-1 field of each, as it knows them, and uploads: accepted, and
        // the layout-2 fields beside its edits are still there.
        old.change(&old_house, |d| {
            d.put(ROOT, format!("{m}.employment.place"), "北京市朝阳区")
                .unwrap();
            d.put(ROOT, format!("{s}.status"), "03").unwrap();
        });
        old.change(&new_house, |d| {
            d.put(ROOT, format!("actors.{OLD_ACTOR}.device"), "旧手机")
                .unwrap();
            d.put(ROOT, format!("actors.{OLD_ACTOR}.volunteer"), "老张")
                .unwrap();
            d.put(ROOT, format!("{n}.employment.employer"), "太原家政公司")
                .unwrap();
        });
        let (outcomes, _) = old.sync(&server);
        assert_eq!(outcomes.len(), 2, "{backend:?}");
        accepted(&outcomes);

        let older = detail(&server, &staff, &old_id);
        assert_eq!(
            field(&older, "members", member, "employment.place"),
            "北京市朝阳区"
        );
        assert_eq!(
            field(&older, "members", member, "employment.place_area"),
            "110105"
        );
        assert_eq!(field(&older, "members", member, "employment.channel"), "02");
        assert_eq!(field(&older, "subsidies", subsidy, "status"), "03");
        assert_eq!(field(&older, "subsidies", subsidy, "contribution"), 6000);
        assert_eq!(
            field(&older, "subsidies", subsidy, "contribution_base"),
            3000
        );
        assert!(
            older.get("unknown").is_none(),
            "every key is a field: {older}"
        );
        let newer = detail(&server, &staff, &new_id);
        let newcomer = newcomer.to_string();
        assert_eq!(
            field(&newer, "members", &newcomer, "employment.employer"),
            "太原家政公司"
        );
        assert_eq!(
            field(&newer, "members", &newcomer, "employment.place_area"),
            "140105"
        );
        let errors: Vec<&serde_json::Value> = newer["issues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|issue| issue["severity"] == "error")
            .collect();
        assert!(errors.is_empty(), "every value fits its field: {newer}");

        // And the phone of layout 2 gets the old phone's edits, its own fields intact.
        new.sync();
        let on_new = new.store.household(&old_id).unwrap().view;
        let member_now = &on_new.members[member];
        assert_eq!(
            member_now["employment.place"].value.as_text(),
            Some("北京市朝阳区")
        );
        assert_eq!(
            member_now["employment.place_area"].value.as_text(),
            Some("110105")
        );
        assert_eq!(on_new.schema_version, 1, "{backend:?}");
    }
}
