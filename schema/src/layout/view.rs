//! The household as read out of its document: records of fields, the candidates of a
//! disputed field, the actors, and who lives in the household.

use super::value::FieldValue;
use crate::codes;
use crate::fields::{Entity, FieldPath};
use serde::Serialize;
use std::collections::BTreeMap;

/// Who stands behind an Automerge actor, as that actor recorded itself in the document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActorInfo {
    pub device: Option<String>,
    pub volunteer: Option<String>,
    /// The staff member, for an actor that settled review items on the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
}

/// One of several concurrent values of a field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub value: FieldValue,
    /// The Automerge actor (hex) whose change wrote this value.
    pub actor: String,
    pub device: Option<String>,
    pub volunteer: Option<String>,
    /// The writer's device clock, in seconds since 1970, as recorded in its change.
    pub time: Option<i64>,
    /// The visit the edit was made in, if any.
    pub visit: Option<String>,
    /// The staff member who wrote it, when it is a review decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// The review item it decided, when it is a review decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// The hash (hex) of the change that wrote it, to find when the server received it.
    pub change: Option<String>,
}

/// A field's current value and, when devices disagree, every candidate value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The value Automerge picks as the winner. While the field is disputed this is only
    /// one of the candidates; nobody has chosen it.
    pub value: FieldValue,
    /// Empty unless the field holds different concurrent values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
}

impl Field {
    pub fn is_disputed(&self) -> bool {
        !self.candidates.is_empty()
    }
}

/// The fields of one record (the household, a member, a visit…), by field name.
pub type Record = BTreeMap<&'static str, Field>;

/// Everything a household document holds, read out of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HouseholdView {
    pub schema_version: u64,
    pub household: Record,
    pub members: BTreeMap<String, Record>,
    pub visits: BTreeMap<String, Record>,
    pub trainings: BTreeMap<String, Record>,
    pub subsidies: BTreeMap<String, Record>,
    /// Photo references (layout 3), by the first 16 hex digits of the photo's hash.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub photos: BTreeMap<String, Record>,
    /// Visit tasks (layout 3), by task id; `crate::tasks` reads them as `Task`s.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tasks: BTreeMap<String, Record>,
    pub actors: BTreeMap<String, ActorInfo>,
    /// Keys this version does not know (written by a newer version), kept as text so
    /// nothing is hidden.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// A disputed field, with its path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub path: String,
    pub field: Field,
}

impl HouseholdView {
    pub fn records(&self, entity: Entity) -> impl Iterator<Item = (&str, &Record)> {
        let keyed = match entity {
            Entity::Household => None,
            Entity::Member => Some(&self.members),
            Entity::Visit => Some(&self.visits),
            Entity::Training => Some(&self.trainings),
            Entity::Subsidy => Some(&self.subsidies),
            Entity::Photo => Some(&self.photos),
            Entity::Task => Some(&self.tasks),
        };
        let household = keyed.is_none().then_some(("", &self.household));
        household
            .into_iter()
            .chain(keyed.into_iter().flatten().map(|(k, r)| (k.as_str(), r)))
    }

    pub fn field(&self, path: &FieldPath) -> Option<&Field> {
        self.records(path.entity)
            .find(|(key, _)| *key == path.key)
            .and_then(|(_, record)| record.get(path.name))
    }

    pub fn household_text(&self, name: &str) -> Option<&str> {
        self.household.get(name).and_then(|f| f.value.as_text())
    }

    /// Every disputed field, in path order. A visit task's fields are left out: its status
    /// and note merge by rule (`crate::tasks`: the most final status, every note), and the
    /// rest only the server writes, so two phones working on one task leave nothing for a
    /// person to settle.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = Vec::new();
        for entity in Entity::ALL.into_iter().filter(|e| *e != Entity::Task) {
            for (key, record) in self.records(entity) {
                for (name, field) in record.iter().filter(|(_, f)| f.is_disputed()) {
                    let path = FieldPath {
                        entity,
                        key: key.to_owned(),
                        name,
                    };
                    out.push(Conflict {
                        path: path.to_string(),
                        field: field.clone(),
                    });
                }
            }
        }
        out
    }

    /// The members who live in the household (see [`member_status`]), by key. The others
    /// stay in the view as history, out of counts, searches and rosters.
    pub fn present_members(&self) -> impl Iterator<Item = (&String, &Record)> {
        self.members.iter().filter(|(_, member)| is_present(member))
    }

    /// The name of the present member recorded as head of household (relation 01), if any.
    pub fn head_name(&self) -> Option<&str> {
        self.present_members()
            .map(|(_, member)| member)
            .find(|m| m.get("relation").and_then(|f| f.value.as_text()) == Some("01"))
            .and_then(|m| m.get("name"))
            .and_then(|f| f.value.as_text())
    }

    /// The values a search should find this household by: the present members' names and
    /// ID numbers, and the household number. Someone who moved out is found where they
    /// live now, not in every household they once lived in.
    pub fn search_terms(&self) -> Vec<&str> {
        let household = self.household_text("number");
        let members = self.present_members().flat_map(|(_, m)| {
            ["name", "id_number"]
                .into_iter()
                .filter_map(|name| m.get(name).and_then(|f| f.value.as_text()))
        });
        household.into_iter().chain(members).collect()
    }
}

/// A member's status code (`codes::MEMBER_STATUS`): the `status` field when it holds a
/// value; otherwise moved out for an older document's `left_household` flag, and present
/// for everyone else. A code not in the list is returned as it is, and validation reports it.
pub fn member_status(member: &Record) -> &str {
    let status = member
        .get("status")
        .and_then(|f| f.value.as_text())
        .map(str::trim)
        .filter(|code| !code.is_empty());
    match status {
        Some(code) => code,
        None if member.get("left_household").and_then(|f| f.value.as_bool()) == Some(true) => {
            codes::MOVED_OUT
        }
        None => codes::PRESENT,
    }
}

/// Whether a member lives in the household and so counts: in member counts, searches,
/// rosters, exports and the household rules. A status no list knows counts as present, so
/// a mistyped code hides nobody.
pub fn is_present(member: &Record) -> bool {
    let status = member_status(member);
    status == codes::PRESENT || !codes::MEMBER_STATUS.contains(status)
}
