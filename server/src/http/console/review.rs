//! The review queue: open items by kind, village and status with the counts per village; one
//! item with everything needed to decide it (a conflict's candidates and the field's history,
//! a duplicate's two households side by side, a rule's finding); and the decisions, after
//! which the clerk goes on to the next item of the same filter.
//!
//! What an item shows is what the API's item shows (`http::review::item_detail`), and every
//! decision is the one `decisions/` makes for the API: this file only lays them out.

use super::frame::{Frame, local_time};
use super::guard::{Posted, Reader};
use super::page::{ConsoleError, PageResult, refused_for_input, render};
use super::shown::{HouseholdColumn, SelectOption, VillageNames, actor_label};
use crate::access::privacy::Sight;
use crate::access::roles::Permission;
use crate::decisions::dismiss;
use crate::decisions::merge;
use crate::decisions::move_member;
use crate::decisions::resolve::{self, Choice};
use crate::decisions::review::{self, Kind, ReviewFilter, ReviewStatus};
use crate::http::error::ApiError;
use crate::http::review::{ItemDetail, item_detail};
use crate::http::{AppState, filter_param, page_offset, principal};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use schema::Message;
use serde::Deserialize;

/// Items on a page of the queue.
const PAGE_SIZE: i64 = 50;

/// The queue's filter, as the query string and every decision's form carry it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct QueueFilter {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    village: String,
    #[serde(default)]
    status: String,
}

impl QueueFilter {
    /// The filter as a query string (without `?`), for links that keep it.
    fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("kind", &self.kind)
            .append_pair("village", &self.village)
            .append_pair("status", &self.status)
            .finish()
    }

    /// What the filter selects, checked: the area (a village of the reader's, or their whole
    /// area), the kind and the status.
    async fn read(
        &self,
        state: &AppState,
        reader: &Reader,
    ) -> Result<(String, Option<Kind>, ReviewStatus), ConsoleError> {
        let village = Some(self.village.trim()).filter(|v| !v.is_empty());
        let area =
            principal::area_in_scope(state, &reader.staff, &reader.client, village, "review.list")
                .await?;
        let kind = filter_param(Some(&self.kind), ("类别", "kind"), &Kind::ALL, Kind::as_str)?;
        let status = filter_param(
            Some(&self.status),
            ("状态", "status"),
            &ReviewStatus::ALL,
            ReviewStatus::as_str,
        )?
        .unwrap_or(ReviewStatus::Open);
        Ok((area.as_str().to_owned(), kind, status))
    }
}

pub fn kind_label(kind: Kind) -> Message {
    match kind {
        Kind::Conflict => Message::new("冲突", "Conflict"),
        Kind::Rule => Message::new("规则", "Rule"),
        Kind::Duplicate => Message::new("重复", "Duplicate"),
    }
}

pub fn status_label(status: ReviewStatus) -> Message {
    match status {
        ReviewStatus::Open => Message::new("待处理", "Open"),
        ReviewStatus::Resolved => Message::new("已裁定", "Resolved"),
        ReviewStatus::Settled => Message::new("已自行消除", "Settled"),
        ReviewStatus::Dismissed => Message::new("非同一户", "Not the same"),
    }
}

#[derive(Debug)]
struct VillageRow {
    label: String,
    open: i64,
    link: String,
    current: bool,
}

#[derive(Debug)]
struct ItemLine {
    kind: String,
    kind_code: &'static str,
    village: String,
    household: String,
    summary: String,
    opened: String,
    link: String,
}

#[derive(Template)]
#[template(path = "console/review_list.html")]
struct QueuePage {
    frame: Frame,
    notice: Option<String>,
    kinds: Vec<SelectOption>,
    statuses: Vec<SelectOption>,
    villages: Vec<VillageRow>,
    village_choices: Vec<SelectOption>,
    kind_counts: Vec<(String, i64)>,
    items: Vec<ItemLine>,
    total: i64,
    first: i64,
    last: i64,
    previous: Option<String>,
    next: Option<String>,
}

/// The rest of the queue's query string: the filter is read on its own (`QueueFilter`), since
/// a flattened struct would read numbers as text.
#[derive(Debug, Deserialize)]
pub struct QueueParams {
    offset: Option<i64>,
    /// What the clerk just did, when the queue is where the next item would have been.
    done: Option<String>,
}

/// `/review`: the queue of the reader's area.
pub async fn queue(
    State(state): State<AppState>,
    reader: Reader,
    Query(filter): Query<QueueFilter>,
    Query(params): Query<QueueParams>,
) -> PageResult {
    reader
        .must(&state, Permission::ResolveReview, "review.list")
        .await?;
    let lang = reader.lang;
    let (area, kind, status) = filter.read(&state, &reader).await?;
    let offset = page_offset(params.offset);
    let page = review::list(
        &state.ledger.db().pool,
        &ReviewFilter {
            area,
            kind,
            status,
            limit: PAGE_SIZE,
            offset,
        },
    )
    .await?;
    // Every village in the reader's area with open items, whichever one the filter names.
    let open_villages =
        review::open_by_village(&state.ledger.db().pool, reader.staff.scope.as_str()).await?;
    let mut codes: Vec<&str> = open_villages.iter().map(|v| v.village.as_str()).collect();
    codes.extend(page.items.iter().map(|item| item.village.as_str()));
    codes.push(filter.village.as_str());
    let names = VillageNames::of(&state, &codes).await?;
    let filter = &filter;
    let with = |village: &str| {
        QueueFilter {
            village: village.to_owned(),
            ..filter.clone()
        }
        .query()
    };
    let villages = open_villages
        .iter()
        .map(|count| VillageRow {
            label: names.label(&count.village),
            open: count.open,
            link: format!("/review?{}", with(&count.village)),
            current: count.village == filter.village,
        })
        .collect();
    let mut village_choices = vec![SelectOption {
        value: String::new(),
        label: lang.t("全部村", "All villages").to_owned(),
        selected: filter.village.is_empty(),
    }];
    village_choices.extend(open_villages.iter().map(|count| SelectOption {
        value: count.village.clone(),
        label: names.label(&count.village),
        selected: count.village == filter.village,
    }));
    if !filter.village.is_empty() && !open_villages.iter().any(|v| v.village == filter.village) {
        village_choices.push(SelectOption {
            value: filter.village.clone(),
            label: names.label(&filter.village),
            selected: true,
        });
    }
    let mut kinds = vec![SelectOption {
        value: String::new(),
        label: lang.t("全部类别", "All kinds").to_owned(),
        selected: kind.is_none(),
    }];
    kinds.extend(Kind::ALL.into_iter().map(|k| SelectOption {
        value: k.as_str().to_owned(),
        label: lang.msg(&kind_label(k)).to_owned(),
        selected: kind == Some(k),
    }));
    let statuses = ReviewStatus::ALL
        .into_iter()
        .map(|s| SelectOption {
            value: s.as_str().to_owned(),
            label: lang.msg(&status_label(s)).to_owned(),
            selected: s == status,
        })
        .collect();
    let kind_counts = Kind::ALL
        .into_iter()
        .map(|k| {
            let open = page
                .counts
                .get(k.as_str())
                .and_then(|by| by.get(status.as_str()))
                .copied()
                .unwrap_or(0);
            (lang.msg(&kind_label(k)).to_owned(), open)
        })
        .collect();
    let item_query = filter.query();
    let items = page
        .items
        .iter()
        .map(|item| ItemLine {
            kind: lang.msg(&kind_label(item.kind)).to_owned(),
            kind_code: item.kind.as_str(),
            village: names.label(&item.village),
            household: household_line(item.household_number.as_deref(), item.head_name.as_deref()),
            summary: lang.msg(&item.summary).to_owned(),
            opened: local_time(item.opened_at),
            link: format!("/review/{}?{item_query}", item.id),
        })
        .collect();
    let page_link = |offset: i64| format!("/review?{}&offset={offset}", filter.query());
    let shown = page.items.len() as i64;
    render(&QueuePage {
        frame: reader.frame(&state, "/review").await?,
        notice: params
            .done
            .as_deref()
            .and_then(|done| done_notice(done, true))
            .map(|m| lang.msg(&m).to_owned()),
        kinds,
        statuses,
        villages,
        village_choices,
        kind_counts,
        items,
        total: page.total,
        first: if shown == 0 { 0 } else { offset + 1 },
        last: offset + shown,
        previous: (offset > 0).then(|| page_link((offset - PAGE_SIZE).max(0))),
        next: (offset + shown < page.total).then(|| page_link(offset + PAGE_SIZE)),
    })
}

fn household_line(number: Option<&str>, head: Option<&str>) -> String {
    match (number, head) {
        (Some(number), Some(head)) => format!("{number} {head}"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => "—".to_owned(),
    }
}

/// A step of an item's history as people say it.
fn event_label(action: &str) -> Message {
    match action {
        "opened" => Message::new("发现", "found"),
        "reopened" => Message::new("重新打开", "reopened"),
        "resolved" => Message::new("已裁定", "decided"),
        "settled" => Message::new("已自行消除", "settled by a later edit"),
        "merged" => Message::new("合并", "merged"),
        "moved" => Message::new("移动成员", "person moved"),
        "dismissed" => Message::new("确定不是同一户", "not the same household"),
        other => Message::new(other, other),
    }
}

/// What the clerk is told after a decision; `queue_empty` when no item of the filter is left.
fn done_notice(done: &str, queue_empty: bool) -> Option<Message> {
    let did = match done {
        "resolved" => Message::new("已裁定", "Decided"),
        "merged" => Message::new("两户已合并", "The households were merged"),
        "moved" => Message::new(
            "成员已移到另一户",
            "The person was moved to the other household",
        ),
        "dismissed" => Message::new("已确定不是同一户", "Settled as not the same household"),
        _ => return None,
    };
    Some(if queue_empty {
        Message::new(
            format!("{}。此筛选下已没有待处理项。", did.zh),
            format!("{}. No open item is left under this filter.", did.en),
        )
    } else {
        Message::new(
            format!("{}。这是下一项。", did.zh),
            format!("{}. Here is the next item.", did.en),
        )
    })
}

#[derive(Debug, Deserialize)]
pub struct NextParams {
    done: Option<String>,
}

/// `/review/next`: the first open item of the filter, or the queue when none is left.
pub async fn next(
    State(state): State<AppState>,
    reader: Reader,
    Query(filter): Query<QueueFilter>,
    Query(params): Query<NextParams>,
) -> PageResult {
    reader
        .must(&state, Permission::ResolveReview, "review.list")
        .await?;
    let filter = QueueFilter {
        status: String::new(),
        ..filter
    };
    let (area, kind, _) = filter.read(&state, &reader).await?;
    let page = review::list(
        &state.ledger.db().pool,
        &ReviewFilter {
            area,
            kind,
            status: ReviewStatus::Open,
            limit: 1,
            offset: 0,
        },
    )
    .await?;
    let done = params.done.unwrap_or_default();
    let done_query = form_urlencoded::Serializer::new(String::new())
        .append_pair("done", &done)
        .finish();
    let to = match page.items.first() {
        Some(item) => format!("/review/{}?{}&{done_query}", item.id, filter.query()),
        None => format!("/review?{}&{done_query}", filter.query()),
    };
    Ok(Redirect::to(&to).into_response())
}

#[derive(Debug)]
struct CandidateRow {
    number: usize,
    value: String,
    who: String,
    device: String,
    time: String,
    received: String,
}

#[derive(Debug)]
struct HistoryRow {
    value: String,
    who: String,
    device: String,
    time: String,
    received: String,
}

#[derive(Debug)]
struct EventRow {
    at: String,
    who: String,
    action: String,
    comment: String,
}

/// A person of a duplicate pair who may be moved to the other household.
#[derive(Debug)]
struct MovableMember {
    /// `KEY@TO`: the member's key and the household they move to.
    value: String,
    label: String,
}

/// A form of the item page, which its error is shown beside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Pick,
    Value,
    Merge,
    Move,
    Dismiss,
}

/// Why a decision was refused, and at which form.
#[derive(Debug)]
struct Refusal {
    form: Form,
    message: Message,
}

#[derive(Template)]
#[template(path = "console/review_item.html")]
struct ItemPage {
    frame: Frame,
    form_token: String,
    notice: Option<String>,
    id: String,
    kind: Kind,
    kind_label: String,
    status_label: String,
    open: bool,
    village: String,
    summary: String,
    place: String,
    field_label: Option<String>,
    rule: String,
    current: Option<String>,
    candidates: Vec<CandidateRow>,
    history: Vec<HistoryRow>,
    households: Vec<HouseholdColumn>,
    movable: Vec<MovableMember>,
    events: Vec<EventRow>,
    heads: String,
    filter: QueueFilter,
    back: String,
    revealed: bool,
    may_reveal: bool,
    reveal_link: String,
    refusal: Option<Refusal>,
    comment: String,
    typed: String,
}

impl ItemPage {
    /// The refusal of the form named `form` (`pick`, `value`, `merge`, `move`, `dismiss`).
    fn error(&self, form: &str) -> Option<&Message> {
        let form = match form {
            "pick" => Form::Pick,
            "value" => Form::Value,
            "merge" => Form::Merge,
            "move" => Form::Move,
            _ => Form::Dismiss,
        };
        self.refusal
            .as_ref()
            .filter(|refusal| refusal.form == form)
            .map(|refusal| &refusal.message)
    }
}

#[derive(Debug, Deserialize)]
pub struct ItemParams {
    #[serde(default)]
    reveal: bool,
    done: Option<String>,
}

/// `/review/{id}`: one item, ready to decide.
pub async fn item(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
    Query(filter): Query<QueueFilter>,
    Query(params): Query<ItemParams>,
) -> PageResult {
    reader
        .must(&state, Permission::ResolveReview, "review.read")
        .await?;
    let notice = params
        .done
        .as_deref()
        .and_then(|done| done_notice(done, false))
        .map(|m| reader.lang.msg(&m).to_owned());
    let page = item_page(&state, &reader, &id, filter, params.reveal, None, notice).await?;
    render(&page)
}

async fn item_page(
    state: &AppState,
    reader: &Reader,
    id: &str,
    filter: QueueFilter,
    reveal: bool,
    refusal: Option<Refusal>,
    notice: Option<String>,
) -> Result<ItemPage, ConsoleError> {
    let detail = item_detail(state, &reader.staff, &reader.client, id, reveal).await?;
    let sight = if reveal {
        Sight::revealed_to(&reader.staff).unwrap_or(Sight::MASKED)
    } else {
        Sight::MASKED
    };
    let lang = reader.lang;
    let ItemDetail {
        item,
        place,
        label,
        current,
        candidates,
        history,
        household,
        other_household,
        heads,
        events,
    } = detail;
    let mut codes = vec![item.village.as_str()];
    for part in [&household, &other_household].into_iter().flatten() {
        codes.push(part.village.as_str());
    }
    let names = VillageNames::of(state, &codes).await?;
    let households: Vec<HouseholdColumn> = [household, other_household]
        .into_iter()
        .flatten()
        .map(|part| HouseholdColumn::of(&part, sight, lang, &names))
        .collect();
    let movable = match households.as_slice() {
        [first, second] => [(first, second), (second, first)]
            .into_iter()
            .flat_map(|(from, to)| {
                from.members
                    .iter()
                    .filter(|m| !m.left)
                    .map(move |member| MovableMember {
                        value: format!("{}@{}", member.key, to.id),
                        label: format!("{}（{}）→ {}", member.name, from.title, to.title),
                    })
            })
            .collect(),
        _ => Vec::new(),
    };
    let query = filter.query();
    let reveal_query = form_urlencoded::Serializer::new(String::new())
        .append_pair("reveal", if reveal { "false" } else { "true" })
        .finish();
    Ok(ItemPage {
        frame: reader.frame(state, "/review").await?,
        form_token: reader.form_token(),
        notice,
        id: item.id.clone(),
        kind: item.kind,
        kind_label: lang.msg(&kind_label(item.kind)).to_owned(),
        status_label: lang.msg(&status_label(item.status)).to_owned(),
        open: item.status == ReviewStatus::Open,
        village: names.label(&item.village),
        summary: lang.msg(&item.summary).to_owned(),
        place: lang.msg(&place).to_owned(),
        field_label: label.map(|l| lang.msg(&l).to_owned()),
        rule: item.rule.clone(),
        current: current.map(|c| lang.msg(&c.get().readable).to_owned()),
        candidates: candidates
            .iter()
            .map(|c| CandidateRow {
                number: c.number,
                value: lang.msg(&c.value.get().readable).to_owned(),
                who: actor_label(lang, c.volunteer.as_deref(), c.staff.as_deref(), &c.actor),
                device: c.device.clone().unwrap_or_else(|| "—".to_owned()),
                time: c.time.map_or_else(|| "—".to_owned(), local_time),
                received: c.received_at.map_or_else(|| "—".to_owned(), local_time),
            })
            .collect(),
        history: history
            .iter()
            .map(|step| {
                let step_seen = step.step.get();
                let entry = &step_seen.entry;
                let value = match (&step_seen.readable, &entry.value) {
                    (Some(readable), _) => lang.msg(readable).to_owned(),
                    (None, Some(value)) => value.display(),
                    (None, None) => lang.t("（清除）", "(cleared)").to_owned(),
                };
                HistoryRow {
                    value,
                    who: actor_label(
                        lang,
                        entry.volunteer.as_deref(),
                        entry.staff.as_deref(),
                        &entry.actor,
                    ),
                    device: entry.device.clone().unwrap_or_else(|| "—".to_owned()),
                    time: local_time(entry.time),
                    received: step.received_at.map_or_else(|| "—".to_owned(), local_time),
                }
            })
            .collect(),
        households,
        movable,
        events: events
            .iter()
            .map(|event| {
                let detail = serde_json::to_value(&event.detail).unwrap_or_default();
                let text = |key: &str| detail[key].as_str().unwrap_or_default().to_owned();
                let who = match text("staff") {
                    _ if event.who == review::SYSTEM => lang.t("系统", "system").to_owned(),
                    staff if staff.is_empty() => event.who.clone(),
                    staff => staff,
                };
                EventRow {
                    at: local_time(event.at),
                    who,
                    action: lang.msg(&event_label(&event.action)).to_owned(),
                    comment: text("comment"),
                }
            })
            .collect(),
        heads: heads.join(" "),
        back: format!("/review?{query}"),
        reveal_link: format!("/review/{}?{query}&{reveal_query}", item.id),
        filter,
        revealed: sight.reveals(),
        may_reveal: reader.staff.may(Permission::RevealSensitive),
        refusal,
        comment: String::new(),
        typed: String::new(),
    })
}

/// What a decision's form carried, to go on from it.
struct Posting<'a> {
    id: &'a str,
    filter: QueueFilter,
    form: Form,
    /// What the clerk typed, kept when the form comes back with a refusal.
    comment: &'a str,
    typed: &'a str,
    /// What the next page tells the clerk was done.
    done: &'static str,
}

/// Answers a decision: on to the next item of the queue's filter, or, when the decision was
/// refused for what the clerk typed or chose, the item again with the reason beside the form.
async fn decided<T>(
    state: &AppState,
    reader: &Reader,
    posting: Posting<'_>,
    outcome: Result<T, ApiError>,
) -> PageResult {
    match outcome {
        Ok(_) => {
            let done_query = form_urlencoded::Serializer::new(String::new())
                .append_pair("done", posting.done)
                .finish();
            let to = format!("/review/next?{}&{done_query}", posting.filter.query());
            Ok(Redirect::to(&to).into_response())
        }
        Err(err) if refused_for_input(&err) => {
            let refusal = Refusal {
                form: posting.form,
                message: err.message,
            };
            let mut page = item_page(
                state,
                reader,
                posting.id,
                posting.filter,
                false,
                Some(refusal),
                None,
            )
            .await?;
            page.comment = posting.comment.to_owned();
            page.typed = posting.typed.to_owned();
            render(&page)
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    #[serde(flatten)]
    filter: QueueFilter,
    #[serde(default)]
    pick: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    heads: String,
}

/// Settles a conflict or a rule: a candidate picked, or a value typed.
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<ResolveForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ResolveReview, "review.resolve")
        .await?;
    let typed = form.value.trim();
    let pick = form.pick.trim();
    let choice = match (pick.is_empty(), typed.is_empty()) {
        (false, true) => pick.parse::<usize>().map(Choice::Pick).map_err(|_| {
            (
                Form::Pick,
                Message::new("请选择一个候选值", "Choose one of the values"),
            )
        }),
        (true, false) => Ok(Choice::Value(typed.to_owned())),
        (false, false) => Err((
            Form::Value,
            Message::new(
                "请只选一个候选值，或只填写新值，二者选一",
                "Choose one of the values or type a new one, not both",
            ),
        )),
        (true, true) => Err((
            Form::Pick,
            Message::new(
                "请选择一个候选值，或填写一个新值",
                "Choose one of the values, or type a new one",
            ),
        )),
    };
    let mut posting = Posting {
        id: &id,
        filter: form.filter.clone(),
        form: Form::Pick,
        comment: &form.comment,
        typed,
        done: "resolved",
    };
    let choice = match choice {
        Ok(choice) => choice,
        Err((place, message)) => {
            posting.form = place;
            return decided::<()>(
                &state,
                &reader,
                posting,
                Err(ApiError::bad_request(message)),
            )
            .await;
        }
    };
    if matches!(choice, Choice::Value(_)) {
        posting.form = Form::Value;
    }
    let heads: Vec<String> = form.heads.split_whitespace().map(str::to_owned).collect();
    let outcome = resolve::resolve(
        &state.ledger,
        &reader.staff,
        &reader.client.0,
        &id,
        &choice,
        Some(form.comment.trim()).filter(|c| !c.is_empty()),
        &heads,
    )
    .await
    .map_err(ApiError::from);
    decided(&state, &reader, posting, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct MergeForm {
    #[serde(flatten)]
    filter: QueueFilter,
    /// The household that stays; the other of the pair is absorbed.
    #[serde(default)]
    keep: String,
    #[serde(default)]
    comment: String,
}

/// Merges the two households of a duplicate.
pub async fn merge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<MergeForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ResolveReview, "review.merge")
        .await?;
    let mut conn = state.ledger.db().pool.acquire().await?;
    let item = review::item(&mut conn, &id).await?;
    drop(conn);
    let pair: Vec<String> = item
        .map(|item| [Some(item.household_id), item.other_household_id])
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let keep = form.keep.trim();
    let absorb = pair.iter().find(|household| household.as_str() != keep);
    let outcome = match absorb {
        Some(absorb) if pair.iter().any(|h| h == keep) => merge::merge_households(
            &state.ledger,
            &reader.staff,
            &reader.client.0,
            keep,
            absorb,
            Some(form.comment.trim()).filter(|c| !c.is_empty()),
        )
        .await
        .map_err(ApiError::from),
        _ => Err(ApiError::bad_request(Message::new(
            "请选择保留哪一户",
            "Choose which household stays",
        ))),
    };
    let posting = Posting {
        id: &id,
        filter: form.filter.clone(),
        form: Form::Merge,
        comment: &form.comment,
        typed: "",
        done: "merged",
    };
    decided(&state, &reader, posting, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    #[serde(flatten)]
    filter: QueueFilter,
    /// `KEY@TO`: the person and the household they belong to.
    #[serde(default)]
    member: String,
    #[serde(default)]
    comment: String,
}

/// Moves a person of a duplicate pair into the other household.
pub async fn move_member(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<MoveForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ResolveReview, "review.move")
        .await?;
    let outcome = match form.member.trim().split_once('@') {
        Some((member, to)) => move_member::move_member_between(
            &state.ledger,
            &reader.staff,
            &reader.client.0,
            &id,
            member,
            to,
            Some(form.comment.trim()).filter(|c| !c.is_empty()),
        )
        .await
        .map_err(ApiError::from),
        None => Err(ApiError::bad_request(Message::new(
            "请选择要移动的成员",
            "Choose the person to move",
        ))),
    };
    let posting = Posting {
        id: &id,
        filter: form.filter.clone(),
        form: Form::Move,
        comment: &form.comment,
        typed: "",
        done: "moved",
    };
    decided(&state, &reader, posting, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct DismissForm {
    #[serde(flatten)]
    filter: QueueFilter,
    #[serde(default)]
    comment: String,
}

/// Settles a duplicate as not the same household.
pub async fn dismiss(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<DismissForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ResolveReview, "review.dismiss")
        .await?;
    let outcome = dismiss::dismiss(
        &state.ledger,
        &reader.staff,
        &reader.client.0,
        &id,
        &form.comment,
    )
    .await
    .map_err(ApiError::from);
    let posting = Posting {
        id: &id,
        filter: form.filter.clone(),
        form: Form::Dismiss,
        comment: &form.comment,
        typed: "",
        done: "dismissed",
    };
    decided(&state, &reader, posting, outcome).await
}
