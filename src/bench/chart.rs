//! Charts (plotters, SVG): latency against data size, bars with a target
//! line, a latency strip per query, a plan as an icicle chart, and the
//! partition grid. One palette, a light mesh, every chart with its target
//! and units. Each returns the SVG text; the file writers wrap them.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

/// A palette that reads on white (no yellow), for series in order.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];
const TARGET: RGBColor = RGBColor(214, 39, 40);
const GRID: RGBColor = RGBColor(225, 225, 225);
const MUTED: RGBColor = RGBColor(200, 200, 200);

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

fn draw<F>(size: (u32, u32), f: F) -> Result<String>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        f(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn save(path: &Path, svg: &str) -> Result<()> {
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
}

/// p50 latency against data size, one line per query, with the target's
/// curve: at most `max_growth` times slower per doubling from the smallest size.
pub fn latency_svg(
    title: &str,
    series: &[(String, Vec<(u64, f64)>)],
    max_growth: f64,
) -> Result<String> {
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
    draw((900, 560), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..max_x * 1.05, 0f64..max_y * 1.25)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_desc("fact rows (millions)")
            .y_desc("p50 latency (ms)")
            .draw()
            .map_err(err)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let data: Vec<(f64, f64)> = pts.iter().map(|(r, ms)| (*r as f64 / 1e6, *ms)).collect();
            chart
                .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(data.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(err)?;
            // The target from this query's smallest point: growth per doubling.
            if let Some(&(x0, y0)) = data.first()
                && i == 0
            {
                let curve: Vec<(f64, f64)> = (0..=40)
                    .map(|k| {
                        let x = x0 + (max_x - x0) * k as f64 / 40.0;
                        (x, y0 * max_growth.powf((x / x0).log2()))
                    })
                    .filter(|p| p.1 <= max_y * 1.25)
                    .collect();
                chart
                    .draw_series(LineSeries::new(curve, TARGET.mix(0.6).stroke_width(1)))
                    .map_err(err)?
                    .label(format!(
                        "target: < {max_growth}x per doubling (from {name})"
                    ))
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], TARGET.mix(0.6)));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(MUTED)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// Writes [`latency_svg`] to `path`.
pub fn latency_chart(
    path: &Path,
    title: &str,
    series: &[(String, Vec<(u64, f64)>)],
    max_growth: f64,
) -> Result<()> {
    save(path, &latency_svg(title, series, max_growth)?)
}

/// One bar per (label, value), with an optional target line.
pub fn bar_svg(
    title: &str,
    y_desc: &str,
    bars: &[(String, f64)],
    target: Option<(f64, &str)>,
) -> Result<String> {
    let max_y = bars
        .iter()
        .map(|b| b.1)
        .chain(target.map(|t| t.0))
        .fold(1.0, f64::max);
    let n = bars.len().max(1);
    draw((900, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(90)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n as f64, 0f64..max_y * 1.2)
            .map_err(err)?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .y_desc(y_desc)
            .x_labels(2 * n + 1)
            .x_label_formatter(&|v| {
                let i = (*v - 0.5).round();
                if (*v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                Rectangle::new(
                    [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, *v)],
                    PALETTE[0].filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                Text::new(
                    format!("{v:.1}"),
                    (i as f64 + 0.42, *v + max_y * 0.02),
                    ("sans-serif", 14),
                )
            }))
            .map_err(err)?;
        if let Some((t, label)) = target {
            chart
                .draw_series(LineSeries::new(
                    vec![(0.0, t), (n as f64, t)],
                    TARGET.stroke_width(2),
                ))
                .map_err(err)?
                .label(label.to_string())
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], TARGET.stroke_width(2))
                });
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(MUTED)
                .draw()
                .map_err(err)?;
        }
        Ok(())
    })
}

/// Writes [`bar_svg`] to `path`.
pub fn bar_chart(
    path: &Path,
    title: &str,
    y_desc: &str,
    bars: &[(String, f64)],
    target: Option<(f64, &str)>,
) -> Result<()> {
    save(path, &bar_svg(title, y_desc, bars, target)?)
}

/// Every round of one query as a dot on a latency axis (one row per run:
/// the current one, and the baseline's when there is one), with p50, p95
/// and the target marked.
pub fn strip_svg(
    runs: &[(&str, &[f64])],
    p50: f64,
    p95: Option<f64>,
    target: Option<f64>,
) -> Result<String> {
    let max_x = runs
        .iter()
        .flat_map(|r| r.1.iter().copied())
        .chain(target)
        .fold(1e-3, f64::max);
    let height = 80 + 44 * runs.len() as u32;
    draw((760, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..max_x * 1.1, 0f64..runs.len() as f64)
            .map_err(err)?;
        let names: Vec<String> = runs.iter().map(|r| r.0.to_string()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 15))
            .x_desc("latency (ms)")
            .y_labels(2 * runs.len() + 1)
            .y_label_formatter(&|v| {
                let i = (*v - 0.5).round();
                if (*v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(err)?;
        for (row, (_, samples)) in runs.iter().enumerate() {
            let color = PALETTE[row % PALETTE.len()];
            let n = samples.len().max(1) as f64;
            chart
                .draw_series(samples.iter().enumerate().map(|(i, &x)| {
                    // Jitter rows so equal samples stay visible.
                    let y = row as f64 + 0.25 + 0.5 * (i as f64 + 0.5) / n;
                    Circle::new((x, y), 4, color.mix(0.75).filled())
                }))
                .map_err(err)?;
        }
        let top = runs.len() as f64;
        let mut line = |x: f64, style: ShapeStyle, label: String| -> Result<()> {
            chart
                .draw_series(LineSeries::new(vec![(x, 0.0), (x, top)], style))
                .map_err(err)?
                .label(label)
                .legend(move |(lx, ly)| PathElement::new(vec![(lx, ly), (lx + 18, ly)], style));
            Ok(())
        };
        line(p50, BLACK.stroke_width(2), format!("p50 {p50:.1} ms"))?;
        if let Some(p) = p95 {
            line(p, BLACK.mix(0.45).stroke_width(2), format!("p95 {p:.1} ms"))?;
        }
        if let Some(t) = target {
            line(t, TARGET.stroke_width(2), format!("p95 target {t:.1} ms"))?;
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(MUTED)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// One box of an icicle chart: its span (0..1 of the root), depth, and text.
#[derive(Debug, Clone)]
pub struct Icicle {
    pub start: f64,
    pub end: f64,
    pub depth: usize,
    pub label: String,
    /// Index into [`PALETTE`] by operator kind.
    pub kind: usize,
}

/// A plan as an icicle chart: the root across the top, each operator's
/// children below it, every box as wide as its share of the time.
pub fn icicle_svg(boxes: &[Icicle]) -> Result<String> {
    let depth = boxes.iter().map(|b| b.depth).max().unwrap_or(0) + 1;
    let row = 26u32;
    draw((900, row * depth as u32 + 8), |root| {
        let (w, _) = root.dim_in_pixel();
        for b in boxes {
            let x0 = (b.start * w as f64) as i32;
            let x1 = ((b.end * w as f64) as i32).max(x0 + 1);
            let y0 = (b.depth as u32 * row) as i32 + 4;
            let color = PALETTE[b.kind % PALETTE.len()];
            root.draw(&Rectangle::new(
                [(x0, y0), (x1 - 1, y0 + row as i32 - 3)],
                color.mix(0.55).filled(),
            ))
            .map_err(err)?;
            // A label where it fits (about 7 px a character).
            let room = ((x1 - x0 - 8) / 7).max(0) as usize;
            if room >= 4 {
                let text: String = if b.label.chars().count() > room {
                    b.label.chars().take(room - 1).chain(['…']).collect()
                } else {
                    b.label.clone()
                };
                root.draw(&Text::new(text, (x0 + 4, y0 + 8), ("sans-serif", 12)))
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}

/// The partitions of a data set as a grid (rows by year, columns by the
/// inner keys), those a query read highlighted.
pub fn partition_grid_svg(cells: &[(String, String, bool)]) -> Result<String> {
    let mut rows: Vec<&str> = cells.iter().map(|c| c.0.as_str()).collect();
    rows.dedup();
    let mut cols: Vec<&str> = cells.iter().map(|c| c.1.as_str()).collect();
    cols.sort();
    cols.dedup();
    let (cw, ch) = (64i32, 26i32);
    let width = 70 + cw * cols.len().max(1) as i32 + 10;
    let height = 24 + ch * rows.len().max(1) as i32 + 10;
    draw((width as u32, height as u32), |root| {
        for (j, c) in cols.iter().enumerate() {
            root.draw(&Text::new(
                c.to_string(),
                (70 + j as i32 * cw + 6, 4),
                ("sans-serif", 12),
            ))
            .map_err(err)?;
        }
        for (i, r) in rows.iter().enumerate() {
            let y = 22 + i as i32 * ch;
            root.draw(&Text::new(r.to_string(), (4, y + 6), ("sans-serif", 12)))
                .map_err(err)?;
            for (row, col, read) in cells.iter().filter(|c| c.0 == *r) {
                let j = cols.iter().position(|c| c == col).unwrap_or(0) as i32;
                let x = 70 + j * cw;
                let fill = if *read {
                    PALETTE[0].mix(0.85)
                } else {
                    MUTED.mix(0.5)
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + cw - 4, y + ch - 4)],
                    fill.filled(),
                ))
                .map_err(err)?;
                let _ = row;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_targets() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("c.svg");
        latency_chart(
            &p,
            "scaling",
            &[("q".into(), vec![(10_000_000, 100.0), (20_000_000, 190.0)])],
            2.5,
        )
        .unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("fact rows (millions)"));
        assert!(svg.contains("target: &lt; 2.5x per doubling") || svg.contains("target: < 2.5x"));
        let b = bar_svg(
            "speedup",
            "x",
            &[("a".into(), 3.0), ("b".into(), 5.0)],
            Some((10.0, "target 10x")),
        )
        .unwrap();
        assert!(b.contains("<rect") && b.contains("target 10x"));
        let s = strip_svg(&[("now", &[1.0, 2.0, 3.0])], 2.0, None, Some(5.0)).unwrap();
        assert!(s.contains("p50 2.0 ms") && s.contains("p95 target 5.0 ms"));
        let i = icicle_svg(&[Icicle {
            start: 0.0,
            end: 1.0,
            depth: 0,
            label: "HASH_GROUP_BY 12 ms".into(),
            kind: 1,
        }])
        .unwrap();
        assert!(i.contains("HASH_GROUP_BY"));
        let g = partition_grid_svg(&[
            ("2023".into(), "Q3".into(), false),
            ("2023".into(), "Q4".into(), true),
        ])
        .unwrap();
        assert_eq!(g.matches("<rect").count(), 3, "background and two cells");
    }
}
