//! The quarantine: changes phones sent that screening held back, by status, rule and village;
//! one held change in readable form (what it writes, beside what the field held), from which
//! device and under which rule; releasing or discarding it (`decisions::quarantine`, as the
//! API does).

use super::frame::{Frame, local_time};
use super::guard::{Posted, Reader};
use super::page::{PageResult, refused_for_input, render};
use super::shown::{SelectOption, VillageNames, value_text};
use crate::access::privacy::Sight;
use crate::access::roles::Permission;
use crate::decisions::quarantine::{self, HoldDecision, HoldFilter, HoldStatus};
use crate::http::quarantine::{decide_held, decision_action, held_change};
use crate::http::{AppState, filter_param, page_offset, principal};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use schema::Message;
use schema::fields::FieldPath;
use schema::layout::FieldValue;
use schema::quarantine::Rule;
use serde::Deserialize;

const PAGE_SIZE: i64 = 50;

fn status_label(status: HoldStatus) -> Message {
    match status {
        HoldStatus::Open => Message::new("待处理", "Held"),
        HoldStatus::Released => Message::new("已放行", "Released"),
        HoldStatus::Discarded => Message::new("已丢弃", "Discarded"),
        HoldStatus::Accepted => Message::new("已接受", "Accepted"),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct HoldListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    village: String,
    offset: Option<i64>,
    done: Option<String>,
}

#[derive(Debug)]
struct HoldLine {
    link: String,
    village: String,
    device: String,
    rule: String,
    reason: String,
    received: String,
    status: String,
}

#[derive(Template)]
#[template(path = "console/quarantine_list.html")]
struct HoldListPage {
    frame: Frame,
    notice: Option<String>,
    statuses: Vec<SelectOption>,
    rules: Vec<SelectOption>,
    village: String,
    counts: Vec<(String, i64)>,
    items: Vec<HoldLine>,
    total: i64,
    previous: Option<String>,
    next: Option<String>,
}

/// `/quarantine`: the held changes of the reader's area.
pub async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<HoldListQuery>,
) -> PageResult {
    let action = "quarantine.list";
    reader
        .must(&state, Permission::DecideQuarantine, action)
        .await?;
    let lang = reader.lang;
    let village = Some(params.village.trim()).filter(|v| !v.is_empty());
    let area =
        principal::area_in_scope(&state, &reader.staff, &reader.client, village, action).await?;
    let status = filter_param(
        Some(&params.status),
        ("状态", "status"),
        &HoldStatus::ALL,
        HoldStatus::as_str,
    )?
    .unwrap_or(HoldStatus::Open);
    let rule = filter_param(
        Some(&params.rule),
        ("规则", "rule"),
        &Rule::ALL,
        Rule::as_str,
    )?;
    let offset = page_offset(params.offset);
    let page = quarantine::list(
        &state.ledger.db().pool,
        &HoldFilter {
            area: area.as_str().to_owned(),
            status,
            rule,
            limit: PAGE_SIZE,
            offset,
        },
    )
    .await?;
    let codes: Vec<&str> = page.items.iter().map(|i| i.village.as_str()).collect();
    let names = VillageNames::of(&state, &codes).await?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("status", status.as_str())
        .append_pair("rule", rule.map_or("", Rule::as_str))
        .append_pair("village", &params.village)
        .finish();
    let mut rules = vec![SelectOption {
        value: String::new(),
        label: lang.t("全部规则", "All rules").to_owned(),
        selected: rule.is_none(),
    }];
    rules.extend(Rule::ALL.into_iter().map(|r| SelectOption {
        value: r.as_str().to_owned(),
        label: r.as_str().to_owned(),
        selected: rule == Some(r),
    }));
    let shown = page.items.len() as i64;
    render(&HoldListPage {
        frame: reader.frame(&state, "/quarantine").await?,
        notice: match params.done.as_deref() {
            Some("release") => Some(lang.t("已放行", "Released").to_owned()),
            Some("discard") => Some(lang.t("已丢弃", "Discarded").to_owned()),
            _ => None,
        },
        statuses: HoldStatus::ALL
            .into_iter()
            .map(|s| SelectOption {
                value: s.as_str().to_owned(),
                label: lang.msg(&status_label(s)).to_owned(),
                selected: s == status,
            })
            .collect(),
        rules,
        village: params.village.clone(),
        counts: HoldStatus::ALL
            .into_iter()
            .map(|s| {
                let n = page.counts.get(s.as_str()).copied().unwrap_or(0);
                (lang.msg(&status_label(s)).to_owned(), n)
            })
            .collect(),
        items: page
            .items
            .iter()
            .map(|item| HoldLine {
                link: format!("/quarantine/{}", item.id),
                village: names.label(&item.village),
                device: item
                    .device_name
                    .clone()
                    .unwrap_or_else(|| item.device_id.clone()),
                rule: item.rule.clone(),
                reason: lang.msg(&item.reason).to_owned(),
                received: local_time(item.received_at),
                status: lang.msg(&status_label(item.status)).to_owned(),
            })
            .collect(),
        total: page.total,
        previous: (offset > 0)
            .then(|| format!("/quarantine?{query}&offset={}", (offset - PAGE_SIZE).max(0))),
        next: (offset + shown < page.total)
            .then(|| format!("/quarantine?{query}&offset={}", offset + PAGE_SIZE)),
    })
}

#[derive(Debug)]
struct KeyLine {
    label: String,
    key: String,
    before: String,
    after: String,
}

#[derive(Template)]
#[template(path = "console/quarantine_item.html")]
struct HoldPage {
    frame: Frame,
    form_token: String,
    id: String,
    open: bool,
    status: String,
    village: String,
    household: String,
    household_exists: bool,
    device: String,
    device_id: String,
    actor: String,
    rule: String,
    reason: String,
    message: String,
    written_at: String,
    received_at: String,
    keys: Vec<KeyLine>,
    waiting: Vec<String>,
    decided: Option<String>,
    comment_error: Option<Message>,
}

/// `/quarantine/{id}`: one held change, readable.
pub async fn item(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> PageResult {
    render(&hold_page(&state, &reader, &id, None).await?)
}

async fn hold_page(
    state: &AppState,
    reader: &Reader,
    id: &str,
    comment_error: Option<Message>,
) -> Result<HoldPage, super::page::ConsoleError> {
    reader
        .must(state, Permission::DecideQuarantine, "quarantine.read")
        .await?;
    let lang = reader.lang;
    let detail = held_change(state, &reader.staff, &reader.client, id).await?;
    let names = VillageNames::of(state, &[detail.item.village.as_str()]).await?;
    let readable = |key: &str, value: Option<&FieldValue>| match value {
        None => "—".to_owned(),
        Some(value) => match FieldPath::parse(key) {
            Ok(path) => value_text(lang, path.entity, path.name, value, Sight::MASKED),
            Err(_) => value.display(),
        },
    };
    let item = &detail.item;
    Ok(HoldPage {
        frame: reader.frame(state, "/quarantine").await?,
        form_token: reader.form_token(),
        id: item.id.clone(),
        open: item.status == HoldStatus::Open,
        status: lang.msg(&status_label(item.status)).to_owned(),
        village: names.label(&item.village),
        household: item.household_id.clone(),
        household_exists: detail.household_exists,
        device: item
            .device_name
            .clone()
            .unwrap_or_else(|| item.device_id.clone()),
        device_id: item.device_id.clone(),
        actor: item.actor.chars().take(8).collect(),
        rule: item.rule.clone(),
        reason: lang.msg(&item.reason).to_owned(),
        message: detail.message.clone().unwrap_or_default(),
        written_at: local_time(detail.time),
        received_at: local_time(item.received_at),
        keys: detail
            .keys
            .iter()
            .map(|k| KeyLine {
                label: k
                    .label
                    .as_ref()
                    .map_or_else(|| k.key.clone(), |l| lang.msg(l).to_owned()),
                key: k.key.clone(),
                before: readable(&k.key, k.previous.as_ref()),
                after: match &k.value {
                    Some(value) => readable(&k.key, Some(value)),
                    None => lang.t("（清除）", "(cleared)").to_owned(),
                },
            })
            .collect(),
        waiting: detail.waiting.clone(),
        decided: match (&item.decided_by, item.decided_at) {
            (Some(by), Some(at)) => Some(format!(
                "{} · {by}{}",
                local_time(at),
                item.comment
                    .as_deref()
                    .map(|c| format!(" · “{c}”"))
                    .unwrap_or_default()
            )),
            _ => None,
        },
        comment_error,
    })
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    comment: String,
}

pub async fn release(
    state: State<AppState>,
    id: Path<String>,
    posted: Posted<DecideForm>,
) -> PageResult {
    decide(state, id, posted, HoldDecision::Release).await
}

pub async fn discard(
    state: State<AppState>,
    id: Path<String>,
    posted: Posted<DecideForm>,
) -> PageResult {
    decide(state, id, posted, HoldDecision::Discard).await
}

/// Releases or discards, then back to the held changes; a refusal comes back beside the form.
async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<DecideForm>,
    decision: HoldDecision,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(
            &state,
            Permission::DecideQuarantine,
            decision_action(decision),
        )
        .await?;
    let comment = Some(form.comment.trim()).filter(|c| !c.is_empty());
    match decide_held(
        &state,
        &reader.staff,
        &reader.client,
        &id,
        decision,
        comment,
    )
    .await
    {
        Ok(_) => {
            let done = match decision {
                HoldDecision::Release => "release",
                HoldDecision::Discard => "discard",
            };
            Ok(Redirect::to(&format!("/quarantine?done={done}")).into_response())
        }
        Err(err) if refused_for_input(&err) => {
            render(&hold_page(&state, &reader, &id, Some(err.message)).await?)
        }
        Err(err) => Err(err.into()),
    }
}
