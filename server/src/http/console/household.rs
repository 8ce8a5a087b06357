//! One household of the register: its fields by their catalog labels with codes read out,
//! its members present and left, visits, trainings and subsidies, its open review items, and
//! each field's history (who, when in local time, from which device). It is the JSON API's
//! household detail (`http::register::HouseholdDetail`, masked by `Seen`), read through the
//! same function; a county role reveals ID numbers with a form, audited as the API's
//! `?reveal=true` is.

use super::frame::{Frame, Lang, local_time};
use super::guard::{Posted, Reader};
use super::page::{PageResult, render};
use crate::access::privacy::{HistoryStep, Seen, Sight};
use crate::access::roles::Permission;
use crate::decisions::review;
use crate::http::AppState;
use crate::http::principal;
use crate::http::register::{HouseholdDetail, household_in_scope};
use crate::storage::areas;
use askama::Template;
use axum::extract::{Path, State};
use schema::codes;
use schema::fields::{self, Entity, FieldKind, FieldPath};
use schema::layout::{self, FieldValue, HistoryEntry, Record};
use schema::validation::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One value a field has had, as the page lists it.
#[derive(Debug)]
struct Step {
    at: String,
    who: String,
    device: String,
    value: String,
}

#[derive(Debug)]
struct FieldRow {
    /// The field's name in the catalog.
    name: &'static str,
    label: String,
    value: String,
    disputed: bool,
    history: Vec<Step>,
}

/// A member, visit, training or subsidy.
#[derive(Debug)]
struct RecordBlock {
    title: String,
    /// A member's status, read out.
    status: Option<String>,
    left: bool,
    fields: Vec<FieldRow>,
}

/// A part of the page: the household's own fields, members present, members who left,
/// visits, trainings, subsidies.
#[derive(Debug)]
struct Section {
    heading: String,
    /// Whether the heading counts the blocks (not for the household's own fields).
    counted: bool,
    blocks: Vec<RecordBlock>,
}

#[derive(Debug)]
struct IssueRow {
    error: bool,
    text: String,
}

#[derive(Debug)]
struct ItemLink {
    link: String,
    summary: String,
    opened: String,
}

#[derive(Template)]
#[template(path = "console/household.html")]
struct HouseholdPage {
    frame: Frame,
    id: String,
    title: String,
    village: String,
    sections: Vec<Section>,
    issues: Vec<IssueRow>,
    items: Vec<ItemLink>,
    revealed: bool,
    may_reveal: bool,
    form_token: String,
    photos: Vec<super::photos::PhotoTile>,
}

pub async fn show(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> PageResult {
    page(state, reader, id, false).await
}

/// The reveal button's form: nothing but its token.
#[derive(Debug, Deserialize)]
pub struct RevealForm {}

pub async fn reveal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<RevealForm>,
) -> PageResult {
    page(state, posted.reader, id, true).await
}

async fn page(state: AppState, reader: Reader, id: String, reveal: bool) -> PageResult {
    let household_path = format!("/register/{id}");
    let action = "register.read";
    reader
        .must(&state, Permission::ReadRegister, action)
        .await?;
    let (village, (view, history, photo_references)) = household_in_scope(
        &state,
        &reader.staff,
        &reader.client,
        &id,
        action,
        |doc, view| {
            let history = layout::histories(doc, &view.actors);
            let photos = layout::photo_references(&view);
            (view, history, photos)
        },
    )
    .await?;
    let sight = principal::sight(&state, &reader.staff, &reader.client, reveal, &id).await?;
    let items = review::open_of_household(&state.ledger.db().pool, &id).await?;
    let may_reveal = Sight::revealed_to(&reader.staff).is_some();
    let photos = super::photos::tiles(
        &state,
        &id,
        photo_references,
        sight,
        may_reveal,
        reader.lang,
    )
    .await?;
    let names = areas::names(state.ledger.db(), &[village.as_str()]).await?;
    let detail = HouseholdDetail::new(
        id.clone(),
        village.clone(),
        view,
        state.clock().today(),
        sight,
    );
    let mut history: BTreeMap<String, Vec<Seen<HistoryStep>>> = history
        .into_iter()
        .map(|(path, entries)| {
            let steps = entries
                .into_iter()
                .map(|entry| seen_step(&path, entry, sight))
                .collect();
            (path, steps)
        })
        .collect();
    let lang = reader.lang;
    let view = detail.view.get();
    let mut rows = |entity: Entity, key: &str, record: &Record| -> Vec<FieldRow> {
        field_rows(entity, key, record, &mut history, lang)
    };
    let village_named = names
        .get(&village)
        .map_or_else(|| village.clone(), |name| format!("{name} {village}"));
    let mut household_fields = rows(Entity::Household, "", &view.household);
    for row in household_fields
        .iter_mut()
        .filter(|row| row.name == "village")
    {
        row.value = village_named.clone();
    }
    let household = RecordBlock {
        title: String::new(),
        status: None,
        left: false,
        fields: household_fields,
    };
    let (mut present, mut left) = (Vec::new(), Vec::new());
    for (key, member) in &view.members {
        let status = layout::member_status(member);
        let block = RecordBlock {
            title: text_of(member, "name")
                .unwrap_or_else(|| lang.t("（未填姓名）", "(no name)").to_owned()),
            status: Some(
                codes::MEMBER_STATUS
                    .label(status)
                    .map_or_else(|| status.to_owned(), |label| lang.msg(&label).to_owned()),
            ),
            left: !layout::is_present(member),
            fields: rows(Entity::Member, key, member),
        };
        if block.left {
            left.push(block);
        } else {
            present.push(block);
        }
    }
    let mut blocks = |entity: Entity, records: &BTreeMap<String, Record>, title: &str| {
        records
            .iter()
            .map(|(key, record)| RecordBlock {
                title: record_title(record, title),
                status: None,
                left: false,
                fields: rows(entity, key, record),
            })
            .collect::<Vec<_>>()
    };
    let visits = blocks(Entity::Visit, &view.visits, lang.t("走访", "Visit"));
    let trainings = blocks(
        Entity::Training,
        &view.trainings,
        lang.t("培训", "Training"),
    );
    let subsidies = blocks(Entity::Subsidy, &view.subsidies, lang.t("补贴", "Subsidy"));
    let number = view.household_text("number").unwrap_or_default().to_owned();
    let head = view.head_name().unwrap_or_default().to_owned();
    let issues = detail
        .issues
        .get()
        .iter()
        .map(|issue| IssueRow {
            error: issue.severity == Severity::Error,
            text: lang.msg(&issue.message).to_owned(),
        })
        .collect();
    render(&HouseholdPage {
        // The toggle on a revealed page comes back to the household, masked again.
        frame: reader
            .frame_answering(&state, "/register", household_path)
            .await?,
        title: format!("{number} {head}"),
        village: village_named,
        sections: [
            (lang.t("户信息", "Household"), vec![household]),
            (lang.t("在户成员", "Members present"), present),
            (lang.t("已不在户的成员", "Members who left"), left),
            (lang.t("走访", "Visits"), visits),
            (lang.t("培训", "Trainings"), trainings),
            (lang.t("补贴", "Subsidies"), subsidies),
        ]
        .into_iter()
        .enumerate()
        .map(|(index, (heading, blocks))| Section {
            heading: heading.to_owned(),
            counted: index > 0,
            blocks,
        })
        .collect(),
        issues,
        items: items
            .into_iter()
            .map(|item| ItemLink {
                link: format!("/review/{}", item.id),
                summary: lang.msg(&item.summary).to_owned(),
                opened: local_time(item.opened_at),
            })
            .collect(),
        revealed: sight.reveals(),
        may_reveal,
        form_token: reader.form_token(),
        photos,
        id,
    })
}

fn seen_step(path: &str, entry: HistoryEntry, sight: Sight) -> Seen<HistoryStep> {
    let kind = FieldPath::parse(path).map(|p| p.spec().kind).ok();
    let readable = match (&entry.value, &entry.code, kind) {
        // A multi-select's step chose or cleared one code: read the code.
        (_, Some(code), Some(FieldKind::Codes(list))) => list.label(code),
        (Some(value), None, Some(kind)) => Some(value.readable(kind)),
        (Some(value), _, _) => Some(FieldValue::readable(value, FieldKind::Text)),
        (None, _, _) => None,
    };
    Seen::new(HistoryStep::new(path, entry, readable), sight)
}

/// The record's fields by their catalog labels, with each field's history.
fn field_rows(
    entity: Entity,
    key: &str,
    record: &Record,
    history: &mut BTreeMap<String, Vec<Seen<HistoryStep>>>,
    lang: Lang,
) -> Vec<FieldRow> {
    // In the catalog's order, which is the survey's.
    let mut in_order: Vec<_> = record.iter().collect();
    in_order.sort_by_key(|(name, _)| {
        fields::CATALOG
            .iter()
            .position(|spec| spec.entity == entity && spec.name == **name)
    });
    in_order
        .into_iter()
        .filter_map(|(name, field)| {
            let spec = fields::spec(entity, name)?;
            let path = FieldPath {
                entity,
                key: key.to_owned(),
                name: spec.name,
            }
            .to_string();
            let value = match (spec.kind, &field.value) {
                (FieldKind::Timestamp, FieldValue::Integer(seconds)) => local_time(*seconds),
                (kind, value) => lang.msg(&value.readable(kind)).to_owned(),
            };
            let steps = history.remove(&path).unwrap_or_default();
            Some(FieldRow {
                name: spec.name,
                label: lang.msg(&spec.label()).to_owned(),
                value,
                disputed: field.is_disputed(),
                history: steps
                    .iter()
                    .map(|step| {
                        let step = step.get();
                        let entry = &step.entry;
                        Step {
                            at: local_time(entry.time),
                            who: entry
                                .staff
                                .clone()
                                .or_else(|| entry.volunteer.clone())
                                .unwrap_or_else(|| "—".to_owned()),
                            device: entry.device.clone().unwrap_or_else(|| "—".to_owned()),
                            value: match (&step.readable, &entry.code) {
                                (Some(readable), _) => lang.msg(readable).to_owned(),
                                (None, Some(code)) => {
                                    format!("{code} {}", lang.t("（已取消）", "(cleared)"))
                                }
                                (None, None) => lang.t("（已清除）", "(cleared)").to_owned(),
                            },
                        }
                    })
                    .collect(),
            })
        })
        .collect()
}

fn text_of(record: &Record, name: &str) -> Option<String> {
    record
        .get(name)
        .map(|field| field.value.display())
        .filter(|text| !text.trim().is_empty())
}

/// A visit's, training's or subsidy's heading: what it is and when.
fn record_title(record: &Record, what: &str) -> String {
    let when = ["started_at", "date", "year"].into_iter().find_map(|name| {
        match record.get(name).map(|f| &f.value) {
            Some(FieldValue::Integer(seconds)) if name == "started_at" => {
                Some(local_time(*seconds))
            }
            Some(value) => Some(value.display()),
            None => None,
        }
    });
    match when {
        Some(when) => format!("{what} · {when}"),
        None => what.to_owned(),
    }
}
