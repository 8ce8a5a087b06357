//! How the work pages (review, quarantine, devices, accounts, audit) put things into words: a
//! village by its name, who wrote a value, a household's fields and members as a column, a
//! choice of a select.

use super::frame::Lang;
use super::page::ConsoleError;
use crate::access::privacy::Sight;
use crate::http::AppState;
use crate::http::review::HouseholdPart;
use crate::storage::areas;
use schema::fields::{self, Entity};
use schema::ids::{AreaCode, AreaLevel};
use schema::layout::{self, Field, FieldValue};
use std::collections::HashMap;

/// A choice of a select.
#[derive(Debug)]
pub struct SelectOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// An area as a select lists it: a village indented under its township, which comes first.
pub fn area_label(area: &areas::Area) -> String {
    let indent = if area.code.level() == AreaLevel::Village {
        "\u{3000}"
    } else {
        ""
    };
    format!("{indent}{} {}", area.name, area.code)
}

/// A select of the reader's area (`scope`, labelled `scope_label`) and every area `inside`
/// it, with `chosen` selected.
pub fn area_choices(
    lang: Lang,
    scope: &AreaCode,
    scope_label: &str,
    inside: &[areas::Area],
    chosen: &AreaCode,
) -> Vec<SelectOption> {
    let mut choices = vec![SelectOption {
        value: scope.to_string(),
        label: format!("{} {scope_label}", lang.t("全部", "All of")),
        selected: chosen == scope,
    }];
    choices.extend(inside.iter().map(|area| SelectOption {
        value: area.code.to_string(),
        label: area_label(area),
        selected: area.code == *chosen,
    }));
    choices
}

/// The names of the villages a page shows, read at once.
pub struct VillageNames(HashMap<String, String>);

impl VillageNames {
    pub async fn of(state: &AppState, codes: &[&str]) -> Result<VillageNames, ConsoleError> {
        let mut codes: Vec<&str> = codes.iter().copied().filter(|c| !c.is_empty()).collect();
        codes.sort_unstable();
        codes.dedup();
        Ok(VillageNames(areas::names(state.ledger.db(), &codes).await?))
    }

    /// "name code", or the code alone when the area list does not know it.
    pub fn label(&self, code: &str) -> String {
        match self.0.get(code) {
            Some(name) => format!("{name} {code}"),
            None => code.to_owned(),
        }
    }

    /// The names of a list of codes, joined.
    pub fn labels(&self, codes: &[String]) -> String {
        codes
            .iter()
            .map(|code| self.label(code))
            .collect::<Vec<_>>()
            .join("、")
    }
}

/// Who wrote a value: the volunteer, else the staff member who decided it, else the actor.
pub fn actor_label(
    lang: Lang,
    volunteer: Option<&str>,
    staff: Option<&str>,
    actor: &str,
) -> String {
    match (volunteer, staff) {
        (Some(volunteer), _) => volunteer.to_owned(),
        (None, Some(staff)) => format!("{}{staff}", lang.t("工作人员 ", "staff ")),
        (None, None) => actor.chars().take(8).collect(),
    }
}

/// A field's value as a clerk reads it. A masked value is shown as masked; its code lists do
/// not know it.
pub fn field_text(lang: Lang, entity: Entity, name: &str, field: &Field, sight: Sight) -> String {
    value_text(lang, entity, name, &field.value, sight)
}

pub fn value_text(
    lang: Lang,
    entity: Entity,
    name: &str,
    value: &FieldValue,
    sight: Sight,
) -> String {
    match fields::spec(entity, name) {
        Some(spec) if !spec.sensitive || sight.reveals() => {
            lang.msg(&value.readable(spec.kind)).to_owned()
        }
        _ => value.display(),
    }
}

/// A labelled value of a record.
#[derive(Debug)]
pub struct FieldLine {
    pub label: String,
    pub value: String,
    /// Devices disagree on it.
    pub disputed: bool,
}

/// A person of a household, as a column shows them.
#[derive(Debug)]
pub struct MemberLine {
    pub key: String,
    pub name: String,
    pub fields: Vec<FieldLine>,
    pub recorded_by: String,
    /// Moved out or died.
    pub left: bool,
}

/// One household of an item, as a column of the page.
#[derive(Debug)]
pub struct HouseholdColumn {
    pub id: String,
    /// Its number and head, or its id.
    pub title: String,
    pub village: String,
    pub fields: Vec<FieldLine>,
    pub members: Vec<MemberLine>,
    pub issues: Vec<String>,
}

/// The member fields a column shows beside the name: who the person is.
const MEMBER_FIELDS: &[&str] = &[
    "id_number",
    "relation",
    "sex",
    "birth_date",
    "phone",
    "left_on",
];

fn lines<'a>(
    lang: Lang,
    entity: Entity,
    record: impl Iterator<Item = (&'a &'static str, &'a Field)>,
    sight: Sight,
) -> Vec<FieldLine> {
    record
        .filter_map(|(name, field)| {
            let spec = fields::spec(entity, name)?;
            Some(FieldLine {
                label: lang.msg(&spec.label()).to_owned(),
                value: field_text(lang, entity, name, field, sight),
                disputed: field.is_disputed(),
            })
        })
        .collect()
}

impl HouseholdColumn {
    pub fn of(part: &HouseholdPart, sight: Sight, lang: Lang, names: &VillageNames) -> Self {
        let view = part.view.get();
        let household = lines(
            lang,
            Entity::Household,
            view.household
                .iter()
                .filter(|(name, _)| !matches!(**name, "id" | "village" | "created_at")),
            sight,
        );
        let members: Vec<MemberLine> = view
            .members
            .iter()
            .map(|(key, record)| {
                let recorded_by = part
                    .members_recorded_by
                    .get(key)
                    .map(|actor| {
                        let who = actor_label(
                            lang,
                            actor.volunteer.as_deref(),
                            actor.staff.as_deref(),
                            "—",
                        );
                        match &actor.device {
                            Some(device) => format!("{who} · {device}"),
                            None => who,
                        }
                    })
                    .unwrap_or_else(|| "—".to_owned());
                MemberLine {
                    key: key.clone(),
                    name: record
                        .get("name")
                        .map_or_else(|| "—".to_owned(), |f| f.value.display()),
                    fields: lines(
                        lang,
                        Entity::Member,
                        record
                            .iter()
                            .filter(|(name, _)| MEMBER_FIELDS.contains(name)),
                        sight,
                    ),
                    recorded_by,
                    left: !layout::is_present(record),
                }
            })
            .collect();
        let number = view.household_text("number");
        // The head as the register names it (relation 01), not whoever was added first.
        let head = view.head_name();
        let title = match (number, head) {
            (Some(number), Some(head)) => format!("{number} {head}"),
            (Some(one), None) | (None, Some(one)) => one.to_owned(),
            (None, None) => part.id.chars().take(8).collect(),
        };
        HouseholdColumn {
            id: part.id.clone(),
            title,
            village: names.label(&part.village),
            fields: household,
            members,
            issues: part
                .issues
                .get()
                .iter()
                .map(|issue| lang.msg(&issue.message).to_owned())
                .collect(),
        }
    }
}
