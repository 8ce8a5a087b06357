//! `POST /api/v1/households/{id}/members/{key}/remove`: county staff remove a member entered
//! by mistake (`member_removal.rs`), with the permission of any other review decision.

use super::AppState;
use super::error::ApiResult;
use super::principal::{self, Client};
use crate::access::roles::Permission;
use crate::decisions::member_removal::{self, RemovalOutcome};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct RemoveRequest {
    /// Why, kept in the document with the removal.
    pub comment: Option<String>,
}

pub async fn remove(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path((household, member)): Path<(String, String)>,
    Json(request): Json<RemoveRequest>,
) -> ApiResult<Json<RemovalOutcome>> {
    let staff = principal::staff(
        &state,
        &headers,
        &client,
        Permission::ResolveReview,
        "member.remove",
    )
    .await?;
    let outcome = member_removal::remove_member(
        &state.ledger,
        &staff,
        &client.0,
        &household,
        &member,
        request.comment.as_deref(),
    )
    .await?;
    Ok(Json(outcome))
}
