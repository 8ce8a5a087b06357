//! The register read API for staff, in JSON: household lists by area and search, and one
//! household in full.

use super::error::{ApiError, ApiResult};
use super::principal::{self, Client, area_in_scope};
use super::{AppState, page_limit, page_offset};
use crate::access::privacy::{Seen, Sight};
use crate::access::roles::Permission;
use crate::storage::register::{self, HouseholdPage};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use schema::Message;
use schema::ids::AreaCode;
use schema::layout::{Conflict, HouseholdView};
use schema::validation::{self, Issue};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct HouseholdListParams {
    /// A province, city, county, township or village code; the staff member's whole scope when
    /// absent.
    pub area: Option<String>,
    /// Part of a name or household number, or a whole ID number.
    pub search: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
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
    let area = area_in_scope(&state, &staff, &client, params.area.as_deref(), action).await?;
    let (limit, offset) = (page_limit(params.limit), page_offset(params.offset));
    let page = register::list(
        &state.ledger.db().pool,
        state.ledger.vault(),
        &area,
        params.search.as_deref(),
        limit,
        offset,
    )
    .await?;
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
    let not_found = || {
        ApiError::not_found(Message::new(
            format!("没有户“{id}”，或不在您的区划内"),
            format!("No household \"{id}\" in your area"),
        ))
    };
    let (village, view) = state.ledger.read(&id).await?.ok_or_else(not_found)?;
    let in_scope = AreaCode::parse(&village).is_ok_and(|v| staff.scope.contains(&v));
    if !in_scope {
        principal::refused(
            &state,
            &staff,
            &client,
            action,
            &id,
            "outside the account's area",
        )
        .await?;
        return Err(not_found());
    }
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
