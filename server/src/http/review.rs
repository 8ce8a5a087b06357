//! The review API for county staff, in JSON: the queue by area, kind and status; one item
//! with everything needed to decide it (for a duplicate, both households side by side);
//! deciding; merging duplicate households, moving a person between them, or settling them as
//! not the same household; and the open items of each village.

use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, area_in_scope};
use super::{AppState, filter_param, page_limit, page_offset};
use crate::access::accounts::Account;
use crate::access::privacy::{DecidedValue, DecisionDetail, HistoryStep, Seen, Shown, Sight};
use crate::access::roles::Permission;
use crate::decisions::dismiss::{self, DismissOutcome};
use crate::decisions::merge::{self, MergeOutcome};
use crate::decisions::move_member::{self, MoveOutcome};
use crate::decisions::resolve::{self, Choice};
use crate::decisions::review::{self, ItemPage, ItemRow, Kind, ReviewFilter, ReviewStatus};
use crate::decisions::workflow::{covers, item_not_found};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use schema::Message;
use schema::fields::FieldPath;
use schema::layout::{self, ActorInfo, HouseholdView};
use schema::validation::{self, Issue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct ReviewListParams {
    pub area: Option<String>,
    pub kind: Option<String>,
    /// `open` (the default), `resolved` or `settled`.
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<ReviewListParams>,
) -> ApiResult<Json<ItemPage>> {
    let action = "review.list";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ResolveReview, action).await?;
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let kind = filter_param(
        params.kind.as_deref(),
        ("类别", "kind"),
        &Kind::ALL,
        Kind::as_str,
    )?;
    let status = filter_param(
        params.status.as_deref(),
        ("状态", "status"),
        &ReviewStatus::ALL,
        ReviewStatus::as_str,
    )?
    .unwrap_or(ReviewStatus::Open);
    let filter = ReviewFilter {
        area: area.as_str().to_owned(),
        kind,
        status,
        limit: page_limit(params.limit),
        offset: page_offset(params.offset),
    };
    Ok(Json(review::list(&state.ledger.db().pool, &filter).await?))
}

/// One candidate of a disputed field, numbered for `--pick`.
#[derive(Debug, Serialize)]
pub struct CandidateView {
    pub number: usize,
    #[serde(flatten)]
    pub value: Seen<Shown>,
    pub actor: String,
    pub device: Option<String>,
    pub volunteer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// The writer's device clock.
    pub time: Option<i64>,
    /// When the server received it.
    pub received_at: Option<i64>,
    pub visit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    #[serde(flatten)]
    pub step: Seen<HistoryStep>,
    pub received_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct HouseholdPart {
    pub id: String,
    pub village: String,
    #[serde(flatten)]
    pub view: Seen<HouseholdView>,
    /// Who first recorded each member (by member key), so that staff comparing two
    /// households see whose word each person rests on. Visits name their own volunteer.
    pub members_recorded_by: BTreeMap<String, ActorInfo>,
    pub issues: Seen<Vec<Issue>>,
}

/// One step of an item's history, as the reader may see what it recorded.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub at: i64,
    pub who: String,
    pub action: String,
    pub detail: Seen<DecisionDetail>,
}

/// One item, with everything a clerk needs to decide it.
#[derive(Debug, Serialize)]
pub struct ItemDetail {
    pub item: ItemRow,
    /// Where the item is, in words: "member 张三's employment status".
    pub place: Message,
    pub label: Option<Message>,
    /// The value the field shows now (for a disputed field, only one of the candidates).
    pub current: Option<Seen<Shown>>,
    pub candidates: Vec<CandidateView>,
    /// Every value the field has had, oldest first.
    pub history: Vec<HistoryView>,
    pub household: Option<HouseholdPart>,
    /// The other household of a duplicate.
    pub other_household: Option<HouseholdPart>,
    /// The version of the household this view shows; send it back when deciding, so that a
    /// decision made on an old view is recognised as such.
    pub heads: Vec<String>,
    pub events: Vec<EventView>,
}

/// A household of an item as read, before it is seen by anyone.
struct PartRead {
    id: String,
    village: String,
    view: HouseholdView,
    members_recorded_by: BTreeMap<String, ActorInfo>,
    issues: Vec<Issue>,
}

impl PartRead {
    fn seen(self, sight: Sight) -> HouseholdPart {
        HouseholdPart {
            id: self.id,
            village: self.village,
            view: Seen::new(self.view, sight),
            members_recorded_by: self.members_recorded_by,
            issues: Seen::new(self.issues, sight),
        }
    }
}

async fn household_part(
    state: &AppState,
    id: &str,
) -> ApiResult<Option<(PartRead, automerge::AutoCommit)>> {
    let Some((village, mut doc)) = state.ledger.document(id).await? else {
        return Ok(None);
    };
    let Ok(view) = layout::read_household(doc.document()) else {
        return Ok(None);
    };
    let issues = validation::validate(&view, state.clock().today());
    let members_recorded_by = view
        .members
        .keys()
        .filter_map(|key| {
            let path = FieldPath::parse(&format!("members.{key}.name")).ok()?;
            let first = layout::field_history(doc.document(), &path, &view.actors)
                .into_iter()
                .next()?;
            Some((
                key.clone(),
                ActorInfo {
                    device: first.device,
                    volunteer: first.volunteer,
                    staff: first.staff,
                },
            ))
        })
        .collect();
    Ok(Some((
        PartRead {
            id: id.to_owned(),
            village,
            view,
            members_recorded_by,
            issues,
        },
        doc,
    )))
}

pub async fn show(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<principal::RevealParam>,
) -> ApiResult<Json<ItemDetail>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ResolveReview,
        "review.read",
    )
    .await?;
    Ok(Json(
        item_detail(&state, &staff, &client, &id, params.reveal).await?,
    ))
}

/// One item of `staff`'s area with everything needed to decide it, seen as they may see it
/// (in full only when `reveal` is asked and their role allows it; audited): what the API's
/// item and the console's item page both show.
pub async fn item_detail(
    state: &AppState,
    staff: &Account,
    client: &Client,
    id: &str,
    reveal: bool,
) -> ApiResult<ItemDetail> {
    let mut conn = state.ledger.db().pool.acquire().await?;
    let item = review::item(&mut conn, id)
        .await?
        .filter(|item| covers(staff, &item.village))
        .ok_or_else(|| item_not_found(id))?;
    let events = review::events(&mut conn, id).await?;
    let Some((household, mut doc)) = household_part(state, &item.household_id).await? else {
        return Err(item_not_found(id).into());
    };
    let other_household = match &item.other_household_id {
        Some(other) => household_part(state, other).await?.map(|(part, _)| part),
        None => None,
    };
    let path = FieldPath::parse(&item.path).ok();
    let place = review::describe(&household.view, &item.path);
    // Read first, then seen: the reveal is asked (and audited) only of an item that exists.
    let (mut current, mut candidates, mut history) = (None, Vec::new(), Vec::new());
    if let Some(path) = &path {
        let kind = path.spec().kind;
        if let Some(field) = household.view.field(path) {
            current = Some(Shown::new(
                &item.path,
                field.value.clone(),
                field.value.readable(kind),
            ));
            let hashes: Vec<String> = field
                .candidates
                .iter()
                .filter_map(|c| c.change.clone())
                .collect();
            let times = review::received_at(&mut conn, &hashes).await?;
            candidates = field
                .candidates
                .iter()
                .map(|c| {
                    let shown = Shown::new(&item.path, c.value.clone(), c.value.readable(kind));
                    let received_at = c.change.as_ref().and_then(|h| times.get(h).copied());
                    (shown, c.clone(), received_at)
                })
                .collect();
        }
        let entries = layout::field_history(doc.document(), path, &household.view.actors);
        let hashes: Vec<String> = entries.iter().map(|e| e.change.clone()).collect();
        let times = review::received_at(&mut conn, &hashes).await?;
        history = entries
            .into_iter()
            .map(|entry| {
                let received_at = times.get(&entry.change).copied();
                let readable = entry.value.as_ref().map(|v| v.readable(kind));
                (HistoryStep::new(&item.path, entry, readable), received_at)
            })
            .collect();
    }
    let heads = doc.get_heads().iter().map(|h| h.to_string()).collect();
    let sight = principal::sight(state, staff, client, reveal, id).await?;
    Ok(ItemDetail {
        label: path.as_ref().map(|p| p.spec().label()),
        place,
        current: current.map(|shown| Seen::new(shown, sight)),
        candidates: candidates
            .into_iter()
            .enumerate()
            .map(|(i, (shown, c, received_at))| CandidateView {
                number: i + 1,
                value: Seen::new(shown, sight),
                actor: c.actor,
                device: c.device,
                volunteer: c.volunteer,
                staff: c.staff,
                time: c.time,
                received_at,
                visit: c.visit,
                review: c.review,
            })
            .collect(),
        history: history
            .into_iter()
            .map(|(step, received_at)| HistoryView {
                step: Seen::new(step, sight),
                received_at,
            })
            .collect(),
        household: Some(household.seen(sight)),
        other_household: other_household.map(|part| part.seen(sight)),
        heads,
        events: events
            .into_iter()
            .map(|event| EventView {
                at: event.at,
                who: event.who,
                action: event.action,
                detail: Seen::new(DecisionDetail::new(&item.path, event.detail), sight),
            })
            .collect(),
        item,
    })
}

#[derive(Debug, Deserialize)]
pub struct ResolveRequest {
    /// The number of the candidate chosen, as the item showed it.
    pub pick: Option<usize>,
    /// A new value, typed as on the phone.
    pub value: Option<String>,
    pub comment: Option<String>,
    /// The `heads` of the item as the staff member saw it.
    #[serde(default)]
    pub heads: Vec<String>,
}

/// What a decision answers: the item as it now stands, and the value decided.
#[derive(Debug, Serialize)]
pub struct Resolved {
    pub item: ItemRow,
    pub value: Seen<DecidedValue>,
    /// The field had changed since the view the decision was made on.
    pub stale: bool,
    /// What happened, for the staff member.
    pub message: Message,
}

pub async fn resolve(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(request): Json<ResolveRequest>,
) -> ApiResult<Json<Resolved>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ResolveReview,
        "review.resolve",
    )
    .await?;
    let choice = match (request.pick, request.value) {
        (Some(pick), None) => Choice::Pick(pick),
        (None, Some(value)) => Choice::Value(value),
        _ => {
            return Err(ApiError::bad_request(Message::new(
                "请选择一个候选值（pick）或输入一个新值（value），二者选一",
                "Give either a candidate to pick or a new value, not both",
            )));
        }
    };
    let outcome = resolve::resolve(
        &state.ledger,
        &staff,
        &client.0,
        &id,
        &choice,
        request.comment.as_deref(),
        &request.heads,
    )
    .await?;
    // The answer shows the value decided masked, whoever decided it.
    Ok(Json(Resolved {
        value: Seen::new(
            DecidedValue::new(&outcome.item.path, outcome.value),
            Sight::MASKED,
        ),
        item: outcome.item,
        stale: outcome.stale,
        message: outcome.message,
    }))
}

#[derive(Debug, Deserialize)]
pub struct MergeRequest {
    /// The household that stays.
    pub keep: String,
    /// The household that becomes a tombstone pointing to `keep`.
    pub absorb: String,
    pub comment: Option<String>,
}

pub async fn merge(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Json(request): Json<MergeRequest>,
) -> ApiResult<Json<MergeOutcome>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ResolveReview,
        "review.merge",
    )
    .await?;
    let outcome = merge::merge_households(
        &state.ledger,
        &staff,
        &client.0,
        &request.keep,
        &request.absorb,
        request.comment.as_deref(),
    )
    .await?;
    Ok(Json(outcome))
}

#[derive(Debug, Deserialize)]
pub struct MoveRequest {
    /// The member key of the person, in the household they are wrongly recorded in.
    pub member: String,
    /// The household of the pair the person belongs to.
    pub to: String,
    pub comment: Option<String>,
}

pub async fn move_member(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(request): Json<MoveRequest>,
) -> ApiResult<Json<MoveOutcome>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ResolveReview,
        "review.move",
    )
    .await?;
    let outcome = move_member::move_member_between(
        &state.ledger,
        &staff,
        &client.0,
        &id,
        &request.member,
        &request.to,
        request.comment.as_deref(),
    )
    .await?;
    Ok(Json(outcome))
}

#[derive(Debug, Deserialize)]
pub struct DismissRequest {
    /// Why the two are not the same household; required.
    #[serde(default)]
    pub comment: String,
}

pub async fn dismiss(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(request): Json<DismissRequest>,
) -> ApiResult<Json<DismissOutcome>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ResolveReview,
        "review.dismiss",
    )
    .await?;
    let outcome = dismiss::dismiss(&state.ledger, &staff, &client.0, &id, &request.comment).await?;
    Ok(Json(outcome))
}

#[derive(Debug, Deserialize)]
pub struct VillageListParams {
    pub area: Option<String>,
}

/// One village of the register, with the work its review queue holds.
#[derive(Debug, Serialize)]
pub struct VillageSummary {
    pub village: String,
    pub households: i64,
    /// Households with at least one disputed field.
    pub disputed_households: i64,
    pub open_review_items: i64,
}

pub async fn villages(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<VillageListParams>,
) -> ApiResult<Json<Vec<VillageSummary>>> {
    let action = "register.villages";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let pool = &state.ledger.db().pool;
    let mut summaries: BTreeMap<String, VillageSummary> = BTreeMap::new();
    for counts in review::household_counts(pool, area.as_str()).await? {
        summaries.insert(
            counts.village.clone(),
            VillageSummary {
                village: counts.village,
                households: counts.households,
                disputed_households: counts.disputed,
                open_review_items: 0,
            },
        );
    }
    for count in review::open_by_village(pool, area.as_str()).await? {
        summaries
            .entry(count.village.clone())
            .or_insert_with(|| VillageSummary {
                village: count.village.clone(),
                households: 0,
                disputed_households: 0,
                open_review_items: 0,
            })
            .open_review_items = count.open;
    }
    Ok(Json(summaries.into_values().collect()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::access::privacy::tests::{ID_NUMBER, household, json};
    use schema::layout::{FieldValue, HistoryEntry};

    #[test]
    fn test_review_item_of_a_disputed_poverty_attribute_shows_no_value() {
        let (view, _) = household();
        let path = "household.poverty_attribute".to_owned();
        let field = view
            .field(&FieldPath::parse(&path).unwrap())
            .unwrap()
            .clone();
        let sight = Sight::MASKED;
        let shown = |value: &FieldValue| {
            let readable = Message::new(value.display(), value.display());
            Seen::new(Shown::new(&path, value.clone(), readable), sight)
        };
        let detail = ItemDetail {
            item: ItemRow {
                id: "i".to_owned(),
                kind: Kind::Conflict,
                status: ReviewStatus::Open,
                household_id: "h".to_owned(),
                household_number: None,
                head_name: None,
                other_household_id: None,
                village: "141124100201".to_owned(),
                path: path.clone(),
                rule: String::new(),
                summary: Message::new("", ""),
                opened_at: 0,
                updated_at: 0,
                closed_at: None,
            },
            place: Message::new("", ""),
            label: None,
            current: Some(shown(&field.value)),
            candidates: field
                .candidates
                .iter()
                .enumerate()
                .map(|(i, c)| CandidateView {
                    number: i + 1,
                    value: shown(&c.value),
                    actor: c.actor.clone(),
                    device: None,
                    volunteer: None,
                    staff: None,
                    time: None,
                    received_at: None,
                    visit: None,
                    review: None,
                })
                .collect(),
            history: vec![HistoryView {
                step: Seen::new(
                    HistoryStep::new(
                        &path,
                        HistoryEntry {
                            value: Some(FieldValue::Text("3".to_owned())),
                            code: None,
                            actor: "a".to_owned(),
                            device: None,
                            volunteer: None,
                            staff: None,
                            time: 0,
                            origin: layout::ChangeOrigin::of_message(None),
                            change: "c".to_owned(),
                        },
                        Some(Message::new("低保户", "Subsistence allowance")),
                    ),
                    sight,
                ),
                received_at: None,
            }],
            household: Some(
                PartRead {
                    id: "h".to_owned(),
                    village: "141124100201".to_owned(),
                    issues: Vec::new(),
                    view,
                    members_recorded_by: Default::default(),
                }
                .seen(sight),
            ),
            other_household: None,
            heads: Vec::new(),
            events: vec![EventView {
                at: 0,
                who: "staff".to_owned(),
                action: "resolved".to_owned(),
                detail: Seen::new(
                    DecisionDetail::new(
                        &path,
                        serde_json::json!({
                            "value": "3",
                            "readable": {"zh": "低保户", "en": "Subsistence allowance"},
                            "comment": "ok"
                        }),
                    ),
                    sight,
                ),
            }],
        };
        let shown = json(&detail);
        for secret in ["\"2\"", "\"3\"", "低保", "Subsistence", "\"04\"", ID_NUMBER] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(
            detail.candidates.len(),
            2,
            "the candidates stay, to pick from"
        );
        assert_eq!(
            serde_json::to_value(&detail.events[0].detail).unwrap()["comment"],
            "ok"
        );
    }
}
