//! Charts as SVG drawn on the server by plotters, placed inside the page. Text stays SVG
//! `<text>` (plotters without its font feature), so the browser renders the Chinese names
//! with its own fonts and the server needs none.

use plotters::prelude::*;

/// One bar of a chart: a label, the whole and the part done (drawn over the whole).
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub whole: i64,
    pub done: i64,
}

// Narrow enough that on a phone, scaled to its width (or scrolled), the labels stay legible.
const WIDTH: u32 = 600;
const ROW_HEIGHT: u32 = 26;
const WHOLE_COLOUR: RGBColor = RGBColor(0xb8, 0xcc, 0xe0);
const DONE_COLOUR: RGBColor = RGBColor(0x0b, 0x5c, 0xad);

/// Horizontal bars, one row per item: `whole` in light blue, `done` in dark blue over it.
/// `None` when there is nothing to draw, or plotters fails (the page then shows the table
/// alone).
pub fn bars(bars: &[Bar]) -> Option<String> {
    if bars.is_empty() {
        return None;
    }
    let height = 44 + ROW_HEIGHT * bars.len() as u32;
    let max = bars
        .iter()
        .map(|bar| bar.whole.max(bar.done))
        .max()
        .unwrap_or(0)
        .max(1) as u64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(150)
            .build_cartesian_2d(
                0u64..max + max / 10 + 1,
                // An integer range includes its end, and each value is a row: `0..last`
                // makes one row per bar (`0..len` drew an empty one on top). A single bar
                // keeps two rows, since plotters cannot map a range of one value.
                (0usize..(bars.len() - 1).max(1)).into_segmented(),
            )
            .ok()?;
        let labels = |value: &SegmentValue<usize>| match value {
            SegmentValue::CenterOf(index) => bars
                .get(*index)
                .map(|bar| bar.label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(bars.len())
            .y_label_formatter(&labels)
            .label_style(("sans-serif", 15))
            .draw()
            .ok()?;
        for (colour, value) in [
            (WHOLE_COLOUR, (|bar: &Bar| bar.whole) as fn(&Bar) -> i64),
            (DONE_COLOUR, |bar: &Bar| bar.done),
        ] {
            chart
                .draw_series(
                    Histogram::horizontal(&chart)
                        .style(colour.filled())
                        .margin(3)
                        .data(
                            bars.iter()
                                .enumerate()
                                .map(|(index, bar)| (index, value(bar).max(0) as u64)),
                        ),
                )
                .ok()?;
        }
        root.present().ok()?;
    }
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_bar_chart_is_svg_with_its_labels_as_text() {
        let svg = bars(&[
            Bar {
                label: "城庄镇".to_owned(),
                whole: 10,
                done: 4,
            },
            Bar {
                label: "<b>".to_owned(),
                whole: 0,
                done: 0,
            },
        ])
        .unwrap_or_default();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("城庄镇"), "{svg}");
        assert!(!svg.contains("<b>"), "labels are escaped: {svg}");
        assert!(bars(&[]).is_none());
    }
}
