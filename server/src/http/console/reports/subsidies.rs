//! Subsidies (`/reports/subsidies?area=&year=`): eligibility, claims and payments of each
//! subsidy in a year, and the claims that break a rule, from the API's subsidy report; for a
//! county admin, the year's settings (caps, shares, the provincial average wage) as a form
//! (`POST /reports/subsidies/settings`), checked field by field by the same bounds the API
//! applies (`decisions::subsidy_settings`), saved and audited by the same edit.

use super::{Crumb, Tab, given, tabs, way_down};
use crate::access::devices::By;
use crate::access::roles::Permission;
use crate::decisions::subsidy_settings;
use crate::http::AppState;
use crate::http::console::frame::{Frame, Lang};
use crate::http::console::guard::{Posted, Reader};
use crate::http::console::page::{PageResult, refused_for_input, render};
use crate::http::console::shown::VillageNames;
use crate::http::error::ApiError;
use crate::http::reports::{SubsidyParams, subsidies_of};
use crate::reports::subsidies::{Figures, InsuranceFigures};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use schema::Message;
use schema::codes::SUBSIDY_KIND;
use schema::ids::AreaCode;
use schema::validation::subsidy::SubsidyParameters;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Default, Deserialize)]
pub struct SubsidyQuery {
    #[serde(default)]
    area: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    saved: String,
}

#[derive(Debug)]
struct RuleLine {
    label: String,
    count: i64,
}

#[derive(Debug)]
struct BreachLine {
    village: String,
    household: String,
    number: String,
    name: String,
    kind: String,
    rule: String,
    message: String,
}

/// A field of the settings form: its name, label, what it holds and what is wrong with it.
#[derive(Debug)]
struct SettingField {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
    required: bool,
    error: Option<Message>,
}

#[derive(Template)]
#[template(path = "console/reports_subsidies.html")]
struct SubsidiesPage {
    frame: Frame,
    tabs: Vec<Tab>,
    crumbs: Vec<Crumb>,
    title: String,
    area: String,
    year: i64,
    has_parameters: bool,
    base_floor: Option<i64>,
    transport: Figures,
    service: Figures,
    insurance: InsuranceFigures,
    rules: Vec<RuleLine>,
    breaches: Vec<BreachLine>,
    may_edit: bool,
    form_token: String,
    fields: Vec<SettingField>,
    saved: bool,
    form_error: Option<Message>,
}

/// The settings' fields in the form's order: the name the API's body uses, labels, a hint.
const FIELDS: [(&str, &str, &str, &str, &str); 7] = [
    (
        "transport_cap",
        "一次性交通补助上限（元/人）",
        "Transport subsidy cap (yuan a person)",
        "政策为 800",
        "The policy says 800",
    ),
    (
        "service_cap",
        "就业服务补贴上限（元/人·年）",
        "Service subsidy cap (yuan a person a year)",
        "政策为 300",
        "The policy says 300",
    ),
    (
        "insurance_share_numerator",
        "社保补贴比例：分子",
        "Insurance share: numerator",
        "政策为 2/3 中的 2",
        "The policy's 2 of 2/3",
    ),
    (
        "insurance_share_denominator",
        "社保补贴比例：分母",
        "Insurance share: denominator",
        "政策为 2/3 中的 3",
        "The policy's 3 of 2/3",
    ),
    (
        "insurance_max_years",
        "社保补贴最多年数",
        "Most years of the insurance subsidy",
        "政策为 3",
        "The policy says 3",
    ),
    (
        "base_floor_percent",
        "缴费基数下限（占全省平均工资 %）",
        "Contribution base floor (% of the average wage)",
        "政策为 40",
        "The policy says 40",
    ),
    (
        "average_wage",
        "全省在岗职工平均工资（元/年）",
        "Provincial average wage (yuan a year)",
        "未公布时留空：届时不核对基数下限",
        "Leave empty until published: the base floor is not checked until then",
    ),
];

fn rule_label(lang: Lang, rule: &str) -> String {
    let (zh, en) = match rule {
        "subsidy.over_cap" => ("超过补贴上限", "Over the cap"),
        "subsidy.twice_in_year" => ("同一年重复领取", "Twice in a year"),
        "subsidy.beyond_max_years" => ("超过最多年数", "Beyond the most years"),
        "subsidy.base_below_floor" => ("缴费基数低于下限", "Base below the floor"),
        "subsidy.over_share" => ("超过补贴比例", "Over the share"),
        other => return other.to_owned(),
    };
    lang.t(zh, en).to_owned()
}

fn parameter_values(p: &SubsidyParameters) -> HashMap<&'static str, String> {
    HashMap::from([
        ("transport_cap", p.transport_cap.to_string()),
        ("service_cap", p.service_cap.to_string()),
        (
            "insurance_share_numerator",
            p.insurance_share_numerator.to_string(),
        ),
        (
            "insurance_share_denominator",
            p.insurance_share_denominator.to_string(),
        ),
        ("insurance_max_years", p.insurance_max_years.to_string()),
        ("base_floor_percent", p.base_floor_percent.to_string()),
        (
            "average_wage",
            p.average_wage.map(|w| w.to_string()).unwrap_or_default(),
        ),
    ])
}

/// `/reports/subsidies`: the reader's area, or `?area=`; this year, or `?year=`.
pub async fn page(
    State(state): State<AppState>,
    reader: Reader,
    Query(query): Query<SubsidyQuery>,
) -> PageResult {
    let saved = query.saved == "1";
    show(
        state,
        reader,
        query.area,
        query.year,
        Edit {
            saved,
            ..Edit::default()
        },
    )
    .await
}

/// What the settings form holds when it comes back: the values typed and what is wrong.
#[derive(Debug, Default)]
struct Edit {
    typed: Option<HashMap<&'static str, String>>,
    errors: HashMap<&'static str, Message>,
    form_error: Option<Message>,
    saved: bool,
}

async fn show(
    state: AppState,
    reader: Reader,
    area: String,
    year: String,
    edit: Edit,
) -> PageResult {
    reader
        .must(&state, Permission::ReadRegister, "report.subsidies")
        .await?;
    let lang = reader.lang;
    let params = SubsidyParams {
        area: given(&area).map(str::to_owned),
        year: given(&year).map(|y| y.chars().take(16).collect()),
    };
    let report = subsidies_of(&state, &reader.staff, &reader.client, &params).await?;
    let area = AreaCode::parse(&report.area).map_err(|err| ApiError::internal(err.message.en))?;
    let (title, crumbs) =
        way_down(&state, &reader.staff.scope, &area, "/reports/subsidies").await?;
    let may_edit = reader.staff.may(Permission::ManageSettings);
    // The form starts from the year's settings, else from the latest earlier year's.
    let values = match (&edit.typed, &report.parameters) {
        (Some(typed), _) => typed.clone(),
        (None, Some(parameters)) => parameter_values(parameters),
        (None, None) if may_edit => subsidy_settings::list(&state.ledger)
            .await
            .map_err(ApiError::from)?
            .iter()
            .filter(|p| p.year < report.year)
            .max_by_key(|p| p.year)
            .map(|p| {
                let mut values = parameter_values(p);
                // A wage is the year's own, never carried over.
                values.insert("average_wage", String::new());
                values
            })
            .unwrap_or_default(),
        (None, None) => HashMap::new(),
    };
    let villages: Vec<&str> = report.breaches.iter().map(|b| b.village.as_str()).collect();
    let names = VillageNames::of(&state, &villages).await?;
    let mut errors = edit.errors;
    render(&SubsidiesPage {
        frame: reader
            .frame_answering(
                &state,
                "/reports",
                format!("/reports/subsidies?area={area}&year={}", report.year),
            )
            .await?,
        tabs: tabs(lang, &area, "/reports/subsidies"),
        crumbs,
        title,
        area: area.to_string(),
        year: report.year,
        has_parameters: report.parameters.is_some(),
        base_floor: report
            .parameters
            .as_ref()
            .and_then(SubsidyParameters::base_floor),
        transport: report.transport.clone(),
        service: report.service.clone(),
        insurance: report.social_insurance.clone(),
        rules: report
            .breaches_by_rule
            .iter()
            .map(|r| RuleLine {
                label: rule_label(lang, r.rule),
                count: r.count,
            })
            .collect(),
        breaches: report
            .breaches
            .iter()
            .map(|b| BreachLine {
                village: names.label(&b.village),
                household: b.household.clone(),
                number: b.number.clone(),
                name: b.name.clone().unwrap_or_default(),
                kind: SUBSIDY_KIND
                    .get(&b.kind)
                    .map_or_else(|| b.kind.clone(), |k| lang.t(k.zh, k.en).to_owned()),
                rule: rule_label(lang, b.rule),
                message: lang.msg(&b.message).to_owned(),
            })
            .collect(),
        may_edit,
        form_token: reader.form_token(),
        fields: FIELDS
            .iter()
            .map(|(name, zh, en, hint_zh, hint_en)| SettingField {
                name,
                label: lang.t(zh, en),
                hint: lang.t(hint_zh, hint_en),
                value: values.get(name).cloned().unwrap_or_default(),
                required: *name != "average_wage",
                error: errors.remove(name),
            })
            .collect(),
        saved: edit.saved,
        form_error: edit.form_error,
    })
}

/// The settings form: the year, the area to come back to, and every parameter as typed.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    area: String,
    #[serde(default)]
    year: String,
    #[serde(flatten)]
    values: HashMap<String, String>,
}

/// The longest number a field takes: nine digits hold the largest amount allowed.
const MAX_FIELD_CHARS: usize = 12;

/// Reads a field: a whole number, or empty where that means "not set".
fn whole_number(text: &str, required: bool) -> Result<Option<i64>, Message> {
    let text = text.trim();
    if text.is_empty() {
        return if required {
            Err(Message::new("请填写此项", "This field is required"))
        } else {
            Ok(None)
        };
    }
    if text.chars().count() > MAX_FIELD_CHARS || !text.chars().all(|c| c.is_ascii_digit()) {
        let shown: String = text
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_FIELD_CHARS)
            .collect();
        return Err(Message::new(
            format!("“{shown}”不是整数：请只填数字"),
            format!("\"{shown}\" is not a whole number: digits only"),
        ));
    }
    text.parse()
        .map(Some)
        .map_err(|_| Message::new("数字太大", "The number is too large"))
}

/// `POST /reports/subsidies/settings`: a county admin sets a year's parameters; each wrong
/// field comes back with why, in both languages.
pub async fn save(State(state): State<AppState>, posted: Posted<SettingsForm>) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ManageSettings, "settings.subsidies")
        .await?;
    let mut typed = HashMap::new();
    let mut errors = HashMap::new();
    let mut numbers = HashMap::new();
    for (name, ..) in FIELDS {
        let text = form
            .values
            .get(name)
            .map(String::as_str)
            .unwrap_or_default();
        typed.insert(
            name,
            text.chars()
                .filter(|c| !c.is_control())
                .take(MAX_FIELD_CHARS)
                .collect(),
        );
        match whole_number(text, name != "average_wage") {
            Ok(number) => {
                numbers.insert(name, number);
            }
            Err(message) => {
                errors.insert(name, message);
            }
        }
    }
    let year_error = || {
        Message::new(
            "年度应为四位数字，如 2026",
            "The year must be four digits, such as 2026",
        )
    };
    let year: Option<i64> = form.year.trim().parse().ok();
    let form_error = match year {
        None => Some(year_error()),
        Some(year) => subsidy_settings::check_year(year).err(),
    };
    let number = |name: &str| numbers.get(name).copied().flatten().unwrap_or_default();
    let parameters = SubsidyParameters {
        year: year.unwrap_or_default(),
        transport_cap: number("transport_cap"),
        service_cap: number("service_cap"),
        insurance_share_numerator: number("insurance_share_numerator"),
        insurance_share_denominator: number("insurance_share_denominator"),
        insurance_max_years: number("insurance_max_years"),
        base_floor_percent: number("base_floor_percent"),
        average_wage: numbers.get("average_wage").copied().flatten(),
    };
    // Every field is judged at once: a field that could not be read keeps that error, and
    // the bounds speak for the others.
    for (name, message) in subsidy_settings::problems(&parameters) {
        errors.entry(name).or_insert(message);
    }
    if errors.is_empty()
        && form_error.is_none()
        && let Some(year) = year
    {
        let by = By::staff(&reader.staff, &reader.client.0);
        match subsidy_settings::edit(&state.ledger, &by, parameters)
            .await
            .map_err(ApiError::from)
        {
            Ok(saved) => {
                let back = form_urlencoded::Serializer::new(String::new())
                    .append_pair("area", form.area.trim())
                    .append_pair("year", &saved.year.to_string())
                    .append_pair("saved", "1")
                    .finish();
                return Ok(Redirect::to(&format!("/reports/subsidies?{back}")).into_response());
            }
            Err(err) if refused_for_input(&err) => {
                return show(
                    state,
                    reader,
                    form.area,
                    year.to_string(),
                    Edit {
                        typed: Some(typed),
                        form_error: Some(err.message),
                        ..Edit::default()
                    },
                )
                .await;
            }
            Err(err) => return Err(err.into()),
        }
    }
    let year_text = year.map(|y| y.to_string()).unwrap_or_default();
    show(
        state,
        reader,
        form.area,
        year_text,
        Edit {
            typed: Some(typed),
            errors,
            form_error,
            saved: false,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_field_takes_a_whole_number_or_empty_where_allowed() {
        assert_eq!(whole_number(" 800 ", true), Ok(Some(800)));
        assert_eq!(whole_number("", false), Ok(None));
        assert!(whole_number("", true).is_err());
        assert!(whole_number("8e2", true).is_err());
        assert!(whole_number("-1", true).is_err());
        assert!(whole_number("1234567890123", true).is_err());
    }
}
