//! The register: households of the reader's area found by name, household number or whole
//! ID number, by village, by a member's status and by what needs a clerk; paged by key
//! (`after`), as the JSON list is, through the same function (`http::register::households`).

use super::frame::{Frame, Lang, local_time};
use super::guard::Reader;
use super::page::{PageResult, render};
use super::shown::area_label;
use crate::access::roles::Permission;
use crate::http::AppState;
use crate::http::register::{HouseholdListParams, households};
use crate::storage::areas;
use crate::storage::register::Attention;
use askama::Template;
use axum::extract::{Query, State};
use schema::codes;
use schema::ids::AreaLevel;

/// Households on a page of the register.
pub const PAGE_SIZE: i64 = 25;

/// An option of a filter's list.
#[derive(Debug)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug)]
struct Row {
    link: String,
    village: String,
    number: String,
    head: String,
    members: i64,
    visits: i64,
    last_visit: String,
    errors: i64,
    conflicts: i64,
}

#[derive(Template)]
#[template(path = "console/register.html")]
struct RegisterPage {
    frame: Frame,
    search: String,
    areas: Vec<Choice>,
    statuses: Vec<Choice>,
    issues: Vec<Choice>,
    total: i64,
    rows: Vec<Row>,
    /// The first page of the same search, shown once past it.
    first: Option<String>,
    next: Option<String>,
}

fn attention_label(attention: Attention) -> (&'static str, &'static str) {
    match attention {
        Attention::OpenReview => ("有待审核事项", "Open review items"),
        Attention::Errors => ("有错误", "Errors"),
        Attention::Conflicts => ("有冲突", "Conflicts"),
    }
}

/// The register's address for the same filters, from `after` on.
fn link(params: &HouseholdListParams, after: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("search", &params.search),
        ("area", &params.area),
        ("status", &params.status),
        ("issue", &params.issue),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            query.append_pair(name, value);
        }
    }
    if let Some(after) = after {
        query.append_pair("after", after);
    }
    format!("/register?{}", query.finish())
}

fn choices<T: Copy>(
    all: &[T],
    chosen: Option<&str>,
    value: impl Fn(T) -> String,
    label: impl Fn(T) -> String,
    lang: Lang,
) -> Vec<Choice> {
    std::iter::once(Choice {
        value: String::new(),
        label: lang.t("全部", "All").to_owned(),
        selected: chosen.is_none_or(str::is_empty),
    })
    .chain(all.iter().map(|item| {
        let value = value(*item);
        Choice {
            selected: chosen == Some(value.as_str()),
            label: label(*item),
            value,
        }
    }))
    .collect()
}

pub async fn search(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<HouseholdListParams>,
) -> PageResult {
    let action = "register.list";
    reader
        .must(&state, Permission::ReadRegister, action)
        .await?;
    let lang = reader.lang;
    let page = households(
        &state,
        &reader.staff,
        &reader.client,
        &params,
        PAGE_SIZE,
        action,
    )
    .await?;
    let db = state.ledger.db();
    let scope = &reader.staff.scope;
    let inside = if scope.level() == AreaLevel::Village {
        Vec::new()
    } else {
        areas::within(db, scope).await?
    };
    let villages: Vec<&str> = page.households.iter().map(|h| h.village.as_str()).collect();
    let names = areas::names(db, &villages).await?;
    let areas = choices(
        &inside.iter().collect::<Vec<_>>(),
        params.area.as_deref(),
        |area| area.code.to_string(),
        area_label,
        lang,
    );
    let statuses = choices(
        codes::MEMBER_STATUS.codes,
        params.status.as_deref(),
        |code| code.code.to_owned(),
        |code| {
            format!(
                "{} {}",
                lang.t(code.zh, code.en),
                lang.t("的成员", "members")
            )
        },
        lang,
    );
    let issues = choices(
        &Attention::ALL,
        params.issue.as_deref(),
        |attention| attention.as_str().to_owned(),
        |attention| {
            let (zh, en) = attention_label(attention);
            lang.t(zh, en).to_owned()
        },
        lang,
    );
    let rows = page
        .households
        .iter()
        .map(|household| Row {
            link: format!("/register/{}", household.id),
            village: names
                .get(&household.village)
                .map_or_else(|| household.village.clone(), |name| name.clone()),
            number: household.number.clone(),
            head: household.head_name.clone().unwrap_or_default(),
            members: household.member_count,
            visits: household.visit_count,
            last_visit: household
                .last_visit_at
                .map_or_else(|| "—".to_owned(), local_time),
            errors: household.error_count,
            conflicts: household.conflict_count,
        })
        .collect();
    render(&RegisterPage {
        frame: reader.frame(&state, "/register").await?,
        search: params.search.clone().unwrap_or_default(),
        areas,
        statuses,
        issues,
        total: page.total,
        rows,
        first: params
            .after
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|_| link(&params, None)),
        next: page.next.as_deref().map(|after| link(&params, Some(after))),
    })
}
