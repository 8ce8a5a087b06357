//! One set of indicators as a page shows it: cards, a line per part with its drill-down link,
//! breakdowns labelled in the reader's language, training figures, and charts drawn by
//! `chart.rs`. The same for the figures now and for a closed month's, so a reprint reads
//! exactly as the page did.

use super::super::chart::{self, Bar};
use super::super::frame::{Lang, local_time};
use crate::reports::indicators::{Count, Indicators, Part, TrainingFigures};

#[derive(Debug)]
pub struct Line {
    pub label: String,
    pub count: i64,
}

#[derive(Debug)]
pub struct PartRow {
    pub name: String,
    pub code: String,
    /// The part's own indicators.
    pub link: String,
    pub part: Part,
}

#[derive(Debug)]
pub struct TrainingRow {
    pub group: String,
    pub figures: TrainingFigures,
    /// Employed within N months of the cohort, as a percentage; a dash when none ended.
    pub share: String,
}

#[derive(Debug)]
pub struct VisitorRow {
    pub volunteer: String,
    pub households: i64,
    pub last_visit: String,
}

/// What the page shows of one set of indicators.
#[derive(Debug)]
pub struct FiguresView {
    pub date: String,
    pub within: u32,
    pub households: i64,
    pub visited: i64,
    pub verified: i64,
    pub present_members: i64,
    pub without_birth_date: i64,
    pub labour: i64,
    pub employed: i64,
    pub outside_province: i64,
    /// Employed of the labour resource, as a percentage.
    pub employed_share: String,
    pub failing: i64,
    pub untrained: i64,
    /// One level down; empty for a village.
    pub parts: Vec<PartRow>,
    /// Per part, the labour resource (light) and of it the employed (dark).
    pub parts_chart: Option<String>,
    /// Per part, households (light) and visited (dark).
    pub coverage_chart: Option<String>,
    pub by_capacity: Vec<Line>,
    pub by_sex: Vec<Line>,
    pub by_age_band: Vec<Line>,
    pub by_status: Vec<Line>,
    pub status_chart: Option<String>,
    pub training_total: TrainingRow,
    pub by_model: Vec<TrainingRow>,
    pub by_institution: Vec<TrainingRow>,
    pub visitors: Vec<VisitorRow>,
}

fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".to_owned();
    }
    // Tenths of a percent, rounded half up, in integers.
    let tenths = (part * 1000 + whole / 2) / whole;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// The widest label a chart's label column holds (`chart.rs` gives it 150 px at 15 px type),
/// in half-width units: a Latin letter one, a Chinese character two.
const CHART_LABEL_UNITS: usize = 19;

/// A label as a chart's row shows it: cut short with "…" when wider than its column, which
/// would clip it at the left edge; the table beside the chart has it whole.
fn chart_label(label: &str) -> String {
    let width = |c: char| if c.is_ascii() { 1 } else { 2 };
    if label.chars().map(width).sum::<usize>() <= CHART_LABEL_UNITS {
        return label.to_owned();
    }
    let mut used = 0;
    let mut short: String = label
        .chars()
        .take_while(|c| {
            used += width(*c);
            used < CHART_LABEL_UNITS
        })
        .collect();
    short.push('…');
    short
}

fn lines(lang: Lang, counts: &[Count]) -> Vec<Line> {
    counts
        .iter()
        .map(|count| Line {
            label: lang.t(&count.zh, &count.en).to_owned(),
            count: count.count,
        })
        .collect()
}

fn training_row(lang: Lang, figures: &TrainingFigures, unnamed: &str) -> TrainingRow {
    let group = match (&figures.label, figures.group.as_str()) {
        (Some(label), code) if lang == Lang::Zh => format!("{label} {code}"),
        (_, "") => unnamed.to_owned(),
        (_, group) => group.to_owned(),
    };
    TrainingRow {
        group,
        share: figures.employed_share_permille.map_or_else(
            || "—".to_owned(),
            |permille| format!("{}.{}%", permille / 10, permille % 10),
        ),
        figures: figures.clone(),
    }
}

impl FiguresView {
    /// `link` makes a part's drill-down address from its code.
    pub fn of(lang: Lang, figures: &Indicators, link: impl Fn(&str) -> String) -> FiguresView {
        let parts: Vec<PartRow> = figures
            .parts
            .iter()
            .map(|part| PartRow {
                name: part.name.clone().unwrap_or_else(|| part.code.clone()),
                code: part.code.clone(),
                link: link(&part.code),
                part: part.clone(),
            })
            .collect();
        // A county's townships with nobody recorded yet would be rows of nothing: the chart
        // shows the parts that have households, the table every part.
        let bars = |whole: fn(&Part) -> i64, done: fn(&Part) -> i64| {
            chart::bars(
                &parts
                    .iter()
                    .filter(|row| row.part.households > 0)
                    .map(|row| Bar {
                        label: chart_label(&row.name),
                        whole: whole(&row.part),
                        done: done(&row.part),
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let parts_chart = bars(|p| p.labour, |p| p.employed);
        let coverage_chart = bars(|p| p.households, |p| p.visited);
        // Only the statuses someone has: twelve rows of nothing say nothing.
        let status_chart = chart::bars(
            &figures
                .employment
                .by_status
                .iter()
                .filter(|count| count.count > 0)
                .map(|count| Bar {
                    label: chart_label(lang.t(&count.zh, &count.en)),
                    whole: count.count,
                    done: count.count,
                })
                .collect::<Vec<_>>(),
        );
        let unrecorded = lang.t("未填写", "Not recorded");
        FiguresView {
            date: figures.date.clone(),
            within: figures.employed_within_months,
            households: figures.coverage.households,
            visited: figures.coverage.visited,
            verified: figures.coverage.verified,
            present_members: figures.coverage.present_members,
            without_birth_date: figures.coverage.members_without_birth_date,
            labour: figures.labour.total,
            employed: figures.employment.employed,
            outside_province: figures.employment.outside_province,
            employed_share: percent(figures.employment.employed, figures.labour.total),
            failing: figures.failing_households.len() as i64,
            untrained: figures.untrained.len() as i64,
            parts,
            parts_chart,
            coverage_chart,
            by_capacity: lines(lang, &figures.labour.by_capacity),
            by_sex: lines(lang, &figures.labour.by_sex),
            by_age_band: lines(lang, &figures.labour.by_age_band),
            by_status: lines(lang, &figures.employment.by_status),
            status_chart,
            training_total: training_row(lang, &figures.training.total, lang.t("合计", "Total")),
            by_model: figures
                .training
                .by_model
                .iter()
                .map(|f| training_row(lang, f, unrecorded))
                .collect(),
            by_institution: figures
                .training
                .by_institution
                .iter()
                .map(|f| training_row(lang, f, unrecorded))
                .collect(),
            visitors: figures
                .coverage
                .visitors
                .iter()
                .map(|visitor| VisitorRow {
                    volunteer: visitor.volunteer.clone(),
                    households: visitor.households,
                    last_visit: visitor
                        .last_visit_at
                        .map_or_else(|| "—".to_owned(), local_time),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_percentage_rounds_to_tenths_and_has_no_whole_of_zero() {
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(2, 3), "66.7%");
        assert_eq!(percent(3, 3), "100.0%");
        assert_eq!(percent(0, 0), "—");
    }

    #[test]
    fn test_a_chart_label_wider_than_its_column_is_cut_short() {
        assert_eq!(chart_label("前麻峪村委会"), "前麻峪村委会");
        assert_eq!(chart_label("Public welfare post"), "Public welfare post");
        assert_eq!(
            chart_label("Working outside the province"),
            "Working outside th…"
        );
        assert_eq!(
            chart_label("就业扶贫车间或基地和其他"),
            "就业扶贫车间或基地…"
        );
    }
}
