//! SVG charts (plotters): latency against data size, one line per query.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

/// Writes a line chart of `series` (name, [(rows, ms)]) to `path`.
pub fn latency_chart(path: &Path, title: &str, series: &[(String, Vec<(u64, f64)>)]) -> Result<()> {
    let max_x = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.0))
        .max()
        .unwrap_or(1) as f64
        / 1e6;
    let max_y = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_x * 1.05, 0f64..max_y * 1.15)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("fact rows (millions)")
        .y_desc("p50 latency (ms)")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let data: Vec<(f64, f64)> = pts.iter().map(|(r, ms)| (*r as f64 / 1e6, *ms)).collect();
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(data.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// A bar chart: one bar per (label, value).
pub fn bar_chart(path: &Path, title: &str, y_desc: &str, bars: &[(String, f64)]) -> Result<()> {
    let max_y = bars.iter().map(|b| b.1).fold(1.0, f64::max);
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let n = bars.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(90)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..max_y * 1.15)
        .map_err(|e| anyhow!("{e}"))?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .y_desc(y_desc)
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                Palette99::pick(i).filled(),
            );
            r.set_margin(0, 0, 12, 12);
            r
        }))
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.svg");
        latency_chart(
            &p,
            "scaling",
            &[("q".into(), vec![(10_000_000, 100.0), (20_000_000, 190.0)])],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("fact rows (millions)"));
        let b = t.path().join("b.svg");
        bar_chart(&b, "speedup", "x", &[("a".into(), 3.0), ("b".into(), 5.0)]).unwrap();
        assert!(std::fs::read_to_string(&b).unwrap().contains("<rect"));
    }
}
