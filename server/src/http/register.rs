//! The register read API for staff, in JSON: household lists by area and search, and one
//! household in full.

use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, area_in_scope};
use super::{AppState, filter_param, page_limit};
use crate::access::accounts::Account;
use crate::access::privacy::{Seen, Sight};
use crate::access::roles::Permission;
use crate::storage::register::{self, After, Attention, HouseholdPage, HouseholdQuery};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use schema::Message;
use schema::codes;
use schema::ids::AreaCode;
use schema::layout::{Conflict, HouseholdView};
use schema::validation::{self, Issue};
use serde::{Deserialize, Serialize};

/// Which households to list, as the query string of the JSON list and of the console's
/// register page says it.
#[derive(Debug, Default, Deserialize)]
pub struct HouseholdListParams {
    /// A province, city, county, township or village code; the staff member's whole scope when
    /// absent.
    pub area: Option<String>,
    /// Part of a name or household number, or a whole ID number.
    pub search: Option<String>,
    /// Households with a member of this status code (`member_status`).
    pub status: Option<String>,
    /// Households that need a clerk: `review` (open review items), `errors` or `conflicts`.
    pub issue: Option<String>,
    /// Where the page starts: the `next` of the page before.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// The households of `params` that `staff` may list, a page of `limit`; a bad filter or an
/// area outside the staff member's own is refused (the latter audited as `action`).
pub async fn households(
    state: &AppState,
    staff: &Account,
    client: &Client,
    params: &HouseholdListParams,
    limit: i64,
    action: &'static str,
) -> ApiResult<HouseholdPage> {
    // A form's empty choice is no choice.
    let area = params.area.as_deref().filter(|a| !a.trim().is_empty());
    let area = area_in_scope(state, staff, client, area, action).await?;
    let statuses: Vec<&'static str> = codes::MEMBER_STATUS.codes.iter().map(|c| c.code).collect();
    let member_status = filter_param(
        params.status.as_deref(),
        ("成员状态", "member status"),
        &statuses,
        |code| code,
    )?;
    let attention = filter_param(
        params.issue.as_deref(),
        ("问题", "issue"),
        &Attention::ALL,
        Attention::as_str,
    )?;
    let after = match params.after.as_deref().filter(|a| !a.is_empty()) {
        Some(text) => Some(After::parse(text).ok_or_else(|| {
            ApiError::bad_request(Message::new(
                "翻页位置无效，请从第一页重新开始",
                "The page position is not valid; start again from the first page",
            ))
        })?),
        None => None,
    };
    let query = HouseholdQuery {
        area: &area,
        search: params.search.as_deref(),
        member_status,
        attention,
        after: after.as_ref(),
        limit,
    };
    Ok(register::list(state.ledger.db(), state.ledger.vault(), &query).await?)
}

pub async fn list(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Query(params): Query<HouseholdListParams>,
) -> ApiResult<Json<HouseholdPage>> {
    let action = "register.list";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let limit = page_limit(params.limit);
    let page = households(&state, &staff, &client, &params, limit, action).await?;
    Ok(Json(page))
}

/// One household as the register holds it, as the reader may see it.
#[derive(Debug, Serialize)]
pub struct HouseholdDetail {
    pub id: String,
    pub village: String,
    #[serde(flatten)]
    pub view: Seen<HouseholdView>,
    pub issues: Seen<Vec<Issue>>,
    /// Fields that hold different concurrent values, with every candidate.
    pub conflicts: Seen<Vec<Conflict>>,
}

impl HouseholdDetail {
    pub fn new(
        id: String,
        village: String,
        view: HouseholdView,
        today: jiff::civil::Date,
        sight: Sight,
    ) -> HouseholdDetail {
        let issues = validation::validate(&view, today);
        let conflicts = view.conflicts();
        HouseholdDetail {
            id,
            village,
            issues: Seen::new(issues, sight),
            conflicts: Seen::new(conflicts, sight),
            view: Seen::new(view, sight),
        }
    }
}

/// A household `staff` may read: its village and what `then` makes of its document and
/// view. Outside the staff member's area it is not found, and the refusal audited as
/// `action`.
pub async fn household_in_scope<T>(
    state: &AppState,
    staff: &Account,
    client: &Client,
    id: &str,
    action: &'static str,
    then: impl FnOnce(&automerge::Automerge, HouseholdView) -> T,
) -> ApiResult<(String, T)> {
    let not_found = || {
        ApiError::not_found(Message::new(
            format!("没有户“{id}”，或不在您的区划内"),
            format!("No household \"{id}\" in your area"),
        ))
    };
    let (village, read) = state.ledger.read(id, then).await?.ok_or_else(not_found)?;
    let in_scope = AreaCode::parse(&village).is_ok_and(|v| staff.scope.contains(&v));
    if !in_scope {
        principal::refused(
            state,
            staff,
            client,
            action,
            id,
            "outside the account's area",
        )
        .await?;
        return Err(not_found());
    }
    Ok((village, read))
}

pub async fn detail(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<principal::RevealParam>,
) -> ApiResult<Json<HouseholdDetail>> {
    let action = "register.read";
    let staff =
        principal::staff(&state, &headers, &client, Permission::ReadRegister, action).await?;
    let (village, view) =
        household_in_scope(&state, &staff, &client, &id, action, |_, view| view).await?;
    let sight = principal::sight(&state, &staff, &client, params.reveal, &id).await?;
    Ok(Json(HouseholdDetail::new(
        id,
        village,
        view,
        state.clock().today(),
        sight,
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::access::privacy::WITHHELD;
    use crate::access::privacy::tests::{ID_NUMBER, household, json};
    use crate::clock::Clock;
    use schema::layout::FieldValue;

    #[test]
    fn test_household_detail_shows_no_id_number_health_or_poverty_status() {
        let (view, key) = household();
        assert!(
            json(&view).contains(ID_NUMBER),
            "the test household holds one"
        );
        let detail = HouseholdDetail::new(
            "h".to_owned(),
            "141124100201".to_owned(),
            view,
            Clock::system().today(),
            Sight::MASKED,
        );
        let shown = json(&detail);
        assert!(
            !shown.contains(ID_NUMBER) && !shown.contains(&ID_NUMBER[..17]),
            "{shown}"
        );
        assert!(shown.contains("1101**********002X"));
        let member = &detail.view.get().members[key.as_str()];
        assert_eq!(member["name"].value, FieldValue::Text("王芳".to_owned()));
        assert_eq!(member["relation"].value, FieldValue::Text("01".to_owned()));
        assert_eq!(
            member["health"].value,
            FieldValue::Text(WITHHELD.to_owned())
        );
        let poverty = &detail.view.get().household["poverty_attribute"];
        assert_eq!(poverty.value, FieldValue::Text(WITHHELD.to_owned()));
        assert_eq!(poverty.candidates.len(), 2);
        assert!(
            poverty
                .candidates
                .iter()
                .all(|c| c.value == FieldValue::Text(WITHHELD.to_owned()))
        );
        let conflict = &detail.conflicts.get()[0];
        assert_eq!(conflict.path, "household.poverty_attribute");
        assert!(!json(conflict).contains("\"3\""), "{}", json(conflict));
        assert!(
            !shown.contains("\"04\"") && !shown.contains("\"3\""),
            "{shown}"
        );
    }
}
