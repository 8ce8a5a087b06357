//! The quarantine API for county staff, in JSON: changes devices sent that screening held
//! back, by area and status; one change with what it writes; releasing or discarding it.

use super::error::ApiResult;
use super::principal::{self, Client, area_in_scope};
use super::{AppState, filter_param, page_limit, page_offset};
use crate::access::accounts::Account;
use crate::access::roles::Permission;
use crate::decisions::quarantine::{
    self, Decided, HoldDecision, HoldDetail, HoldFilter, HoldPage, HoldStatus,
};
use crate::decisions::workflow::covers;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use schema::quarantine::Rule;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct HoldListParams {
    pub area: Option<String>,
    /// `open` (the default), `released`, `discarded` or `accepted`.
    pub status: Option<String>,
    /// One rule's code, e.g. `moves_household`.
    pub rule: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<HoldListParams>,
) -> ApiResult<Json<HoldPage>> {
    let action = "quarantine.list";
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::DecideQuarantine,
        action,
    )
    .await?;
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let status = filter_param(
        params.status.as_deref(),
        ("状态", "status"),
        &HoldStatus::ALL,
        HoldStatus::as_str,
    )?
    .unwrap_or(HoldStatus::Open);
    let rule = filter_param(
        params.rule.as_deref(),
        ("规则", "rule"),
        &Rule::ALL,
        Rule::as_str,
    )?;
    let filter = HoldFilter {
        area: area.as_str().to_owned(),
        status,
        rule,
        limit: page_limit(params.limit),
        offset: page_offset(params.offset),
    };
    Ok(Json(
        quarantine::list(&state.ledger.db().pool, &filter).await?,
    ))
}

pub async fn show(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<HoldDetail>> {
    let action = "quarantine.read";
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::DecideQuarantine,
        action,
    )
    .await?;
    Ok(Json(held_change(&state, &staff, &client, &id).await?))
}

/// One held change of `staff`'s area, with what it writes; a change of another area answers
/// as unknown, and the attempt is audited.
pub async fn held_change(
    state: &AppState,
    staff: &Account,
    client: &Client,
    id: &str,
) -> ApiResult<HoldDetail> {
    let detail = quarantine::detail(&state.ledger, id).await?;
    match detail {
        Some(detail) if covers(staff, &detail.item.village) => Ok(detail),
        Some(_) => {
            principal::refused(
                state,
                staff,
                client,
                "quarantine.read",
                id,
                "outside the account's area",
            )
            .await?;
            Err(quarantine::not_found(id).into())
        }
        None => Err(quarantine::not_found(id).into()),
    }
}

/// The body of a release or discard: JSON like every state-changing request's, `{}` without a
/// comment.
#[derive(Debug, Default, Deserialize)]
pub struct DecideRequest {
    /// Why, for the history: kept with the item, in the audit log and, for a discard, in
    /// the message of the change that undoes it.
    pub comment: Option<String>,
}

pub async fn release(
    state: State<AppState>,
    client: Client,
    headers: HeaderMap,
    id: Path<String>,
    request: Json<DecideRequest>,
) -> ApiResult<Json<Decided>> {
    decide(state, client, headers, id, request, HoldDecision::Release).await
}

pub async fn discard(
    state: State<AppState>,
    client: Client,
    headers: HeaderMap,
    id: Path<String>,
    request: Json<DecideRequest>,
) -> ApiResult<Json<Decided>> {
    decide(state, client, headers, id, request, HoldDecision::Discard).await
}

async fn decide(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Json<DecideRequest>,
    decision: HoldDecision,
) -> ApiResult<Json<Decided>> {
    let action = decision_action(decision);
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::DecideQuarantine,
        action,
    )
    .await?;
    let Json(DecideRequest { comment }) = request;
    Ok(Json(
        decide_held(&state, &staff, &client, &id, decision, comment.as_deref()).await?,
    ))
}

/// The audit action of a decision on a held change.
pub fn decision_action(decision: HoldDecision) -> &'static str {
    match decision {
        HoldDecision::Release => "quarantine.release",
        HoldDecision::Discard => "quarantine.discard",
    }
}

/// Releases or discards a held change for `staff`; a decision refused because the change
/// was decided already is audited.
pub async fn decide_held(
    state: &AppState,
    staff: &Account,
    client: &Client,
    id: &str,
    decision: HoldDecision,
    comment: Option<&str>,
) -> ApiResult<Decided> {
    let decided = quarantine::decide(&state.ledger, staff, &client.0, id, decision, comment).await;
    match decided {
        Ok(decided) => Ok(decided),
        Err(err) => {
            if let quarantine::QuarantineError::Conflict(message) = &err {
                let action = decision_action(decision);
                principal::refused(state, staff, client, action, id, &message.en).await?;
            }
            Err(err.into())
        }
    }
}
