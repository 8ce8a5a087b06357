//! A household's register rows, computed from its merged view.

use jiff::civil::Date;
use schema::layout::{self, FieldValue, HouseholdView, Record};
use schema::tasks::Task;
use schema::validation::{self, Issue, Severity};
use std::collections::BTreeMap;

fn text(record: &Record, name: &str) -> Option<String> {
    record.get(name).map(|field| field.value.display())
}

fn flag(record: &Record, name: &str) -> Option<i64> {
    record
        .get(name)
        .and_then(|field| field.value.as_bool())
        .map(i64::from)
}

fn integer(record: &Record, name: &str) -> Option<i64> {
    record.get(name).and_then(|field| match field.value {
        FieldValue::Integer(number) => Some(number),
        _ => None,
    })
}

/// One household's register rows, computed from its merged view, ready to be written.
#[derive(Debug, Clone)]
pub struct Projection {
    pub household: String,
    /// The view's validation issues, which the household row counts.
    pub issues: Vec<Issue>,
    pub(super) row: HouseholdValues,
    pub(super) members: Vec<MemberValues>,
    pub(super) visits: Vec<VisitValues>,
    pub(super) trainings: Vec<TrainingValues>,
    pub(super) subsidies: Vec<SubsidyValues>,
    pub(super) tasks: Vec<Task>,
}

#[derive(Debug, Clone)]
pub(super) struct HouseholdValues {
    pub(super) village: String,
    pub(super) number: String,
    pub(super) head_name: Option<String>,
    pub(super) address: Option<String>,
    pub(super) member_count: i64,
    pub(super) visit_count: i64,
    pub(super) last_visit_at: Option<i64>,
    pub(super) error_count: i64,
    pub(super) warning_count: i64,
    pub(super) conflict_count: i64,
    pub(super) search_text: String,
    /// Set on a household merged into another: it leaves the lists, not the database.
    pub(super) merged_into: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct MemberValues {
    pub(super) key: String,
    pub(super) name: Option<String>,
    pub(super) id_number: Option<String>,
    pub(super) sex: Option<String>,
    pub(super) birth_date: Option<String>,
    /// The year of a birth date that is a date; plain, unlike the whole date.
    pub(super) birth_year: Option<i64>,
    /// Its month and day, `MM-DD`, plain too: with the year they give an exact age at any
    /// date in SQL (docs/SECURITY.md).
    pub(super) birth_month_day: Option<String>,
    pub(super) relation: Option<String>,
    pub(super) labour_capacity: Option<String>,
    pub(super) employment_status: Option<String>,
    pub(super) employer: Option<String>,
    pub(super) employment_channel: Option<String>,
    pub(super) employment_place_area: Option<String>,
    pub(super) wants_work: Option<i64>,
    pub(super) wants_training: Option<i64>,
    /// The member status code, present when the document has none.
    pub(super) status: String,
    pub(super) left_on: Option<String>,
    pub(super) moved_to: Option<String>,
    pub(super) moved_to_area: Option<String>,
    /// The member's [`DETAIL_FIELDS`] that hold a value, as stored; sealed together.
    pub(super) details: MemberDetails,
}

/// A member's fields that the rosters show and no query filters on (field name → value as
/// stored: a code, a date, a number, `true`/`false`). Stored sealed, as one JSON object.
pub type MemberDetails = BTreeMap<String, String>;

/// The member fields kept in [`MemberDetails`]: what the village rosters show beyond the
/// register's plain columns. A field added here reaches rows as their households are
/// projected again (a migration lists them in `register_refill`).
pub const DETAIL_FIELDS: &[&str] = &[
    "education",
    "health",
    "phone",
    "employment.place",
    "employment.trade",
    "employment.start_date",
    "employment.months_worked",
    "employment.monthly_income",
    "employment.contract_signed",
    "employment.social_insurance",
    "employment.labour_brand",
    "employment.not_employed_reason",
    "intent.region",
    "intent.trade",
    "intent.expected_income",
    "intent.training_trades",
    "intent.training_model",
];

#[derive(Debug, Clone)]
pub(super) struct VisitValues {
    pub(super) key: String,
    pub(super) volunteer: Option<String>,
    pub(super) device: Option<String>,
    pub(super) started_at: Option<i64>,
    pub(super) finished_at: Option<i64>,
    pub(super) outcome: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct TrainingValues {
    pub(super) key: String,
    pub(super) member: Option<String>,
    pub(super) institution: Option<String>,
    pub(super) trade: Option<String>,
    pub(super) model: Option<String>,
    pub(super) start_date: Option<String>,
    pub(super) end_date: Option<String>,
    pub(super) completed: Option<i64>,
    pub(super) certificate: Option<String>,
    pub(super) employed_on: Option<String>,
    pub(super) months_to_employment: Option<i64>,
}

#[derive(Debug, Clone)]
pub(super) struct SubsidyValues {
    pub(super) key: String,
    pub(super) member: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) year: Option<i64>,
    pub(super) amount: Option<i64>,
    pub(super) status: Option<String>,
    pub(super) insurance_type: Option<String>,
    pub(super) contribution_base: Option<i64>,
    pub(super) contribution: Option<i64>,
}

/// A field that holds a date, as a date; a text that is no date is none.
fn date(record: &Record, name: &str) -> Option<Date> {
    text(record, name).and_then(|value| value.trim().parse::<Date>().ok())
}

/// The fewest whole months after `ended` by which `employed` had come: 0 when employed on
/// or before the end (the models that employ first, then train), else the smallest `n` with
/// `employed <= ended + n months`, months added as the calendar does (31 January plus one
/// month is the last day of February).
pub(super) fn months_to_employment(ended: Date, employed: Date) -> i64 {
    if employed <= ended {
        return 0;
    }
    let months = i64::from(employed.year() - ended.year()) * 12
        + i64::from(employed.month() - ended.month());
    let reached = ended
        .checked_add(jiff::Span::new().months(months))
        .is_ok_and(|date| date >= employed);
    if reached { months } else { months + 1 }
}

impl Projection {
    /// The rows of a household's merged view, validated as of `today`.
    pub fn of(household: &str, view: &HouseholdView, today: jiff::civil::Date) -> Projection {
        let issues = validation::validate(view, today);
        let errors = issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count() as i64;
        let row = HouseholdValues {
            village: view
                .household_text("village")
                .unwrap_or_default()
                .to_owned(),
            number: view.household_text("number").unwrap_or_default().to_owned(),
            head_name: view.head_name().map(str::to_owned),
            address: view.household_text("address").map(str::to_owned),
            member_count: view.present_members().count() as i64,
            visit_count: view.visits.len() as i64,
            last_visit_at: view
                .visits
                .values()
                .filter_map(|visit| {
                    integer(visit, "finished_at").or_else(|| integer(visit, "started_at"))
                })
                .max(),
            error_count: errors,
            warning_count: issues.len() as i64 - errors,
            conflict_count: view.conflicts().len() as i64,
            search_text: search_text(view),
            merged_into: view.household_text("merged_into").map(str::to_owned),
        };
        let members = view
            .members
            .iter()
            .map(|(key, member)| MemberValues {
                key: key.clone(),
                name: text(member, "name"),
                id_number: text(member, "id_number"),
                sex: text(member, "sex"),
                birth_date: text(member, "birth_date"),
                birth_year: date(member, "birth_date").map(|date| i64::from(date.year())),
                birth_month_day: date(member, "birth_date")
                    .map(|date| format!("{:02}-{:02}", date.month(), date.day())),
                relation: text(member, "relation"),
                labour_capacity: text(member, "labour_capacity"),
                employment_status: text(member, "employment.status"),
                employer: text(member, "employment.employer"),
                employment_channel: text(member, "employment.channel"),
                employment_place_area: text(member, "employment.place_area"),
                wants_work: flag(member, "intent.wants_work"),
                wants_training: flag(member, "intent.wants_training"),
                status: layout::member_status(member).to_owned(),
                left_on: text(member, "left_on"),
                moved_to: text(member, "moved_to"),
                moved_to_area: text(member, "moved_to_area"),
                details: DETAIL_FIELDS
                    .iter()
                    .filter_map(|name| {
                        text(member, name)
                            .filter(|value| !value.trim().is_empty())
                            .map(|value| ((*name).to_owned(), value))
                    })
                    .collect(),
            })
            .collect();
        let visits = view
            .visits
            .iter()
            .map(|(key, visit)| VisitValues {
                key: key.clone(),
                volunteer: text(visit, "volunteer"),
                device: text(visit, "device"),
                started_at: integer(visit, "started_at"),
                finished_at: integer(visit, "finished_at"),
                outcome: text(visit, "outcome"),
            })
            .collect();
        let trainings = view
            .trainings
            .iter()
            .map(|(key, training)| TrainingValues {
                key: key.clone(),
                member: text(training, "member"),
                institution: text(training, "institution"),
                trade: text(training, "trade"),
                model: text(training, "model"),
                start_date: text(training, "start_date"),
                end_date: text(training, "end_date"),
                completed: flag(training, "completed"),
                certificate: text(training, "certificate"),
                employed_on: text(training, "employed_on"),
                months_to_employment: date(training, "end_date")
                    .zip(date(training, "employed_on"))
                    .map(|(ended, employed)| months_to_employment(ended, employed)),
            })
            .collect();
        let subsidies = view
            .subsidies
            .iter()
            .map(|(key, subsidy)| SubsidyValues {
                key: key.clone(),
                member: text(subsidy, "member"),
                kind: text(subsidy, "kind"),
                year: integer(subsidy, "year"),
                amount: integer(subsidy, "amount"),
                status: text(subsidy, "status"),
                insurance_type: text(subsidy, "insurance_type"),
                contribution_base: integer(subsidy, "contribution_base"),
                contribution: integer(subsidy, "contribution"),
            })
            .collect();
        Projection {
            household: household.to_owned(),
            issues,
            row,
            members,
            visits,
            trainings,
            subsidies,
            tasks: schema::tasks::tasks(view),
        }
    }
}

/// The text a household is found by on the server: its number and its present members'
/// names, one per line, lowercase. Unlike the phone's index it leaves ID numbers out, which
/// would otherwise lie in the clear in this column; a whole ID number is found by its hash.
fn search_text(view: &HouseholdView) -> String {
    let names = view
        .present_members()
        .filter_map(|(_, m)| m.get("name").and_then(|f| f.value.as_text()));
    view.household_text("number")
        .into_iter()
        .chain(names)
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}
