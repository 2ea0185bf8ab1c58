//! The SVG plot of one function (or of a fleet): offered load, replicas and true p95 over time, one line per
//! policy, and a strip per policy marking the seconds its SLO was violated.
//!
//! Made to be read: every panel has a y-axis label; replica ticks are integers; each policy has its own colour
//! *and* dash pattern, and replica lines are offset by a few hundredths of a replica so that policies that
//! agree stay visible; the legend sits in its own column, never over data.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::engine::{Row, Simulation};

const COLORS: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

/// Dash (length, gap) in pixels per policy; (0, 0) is solid.
const DASHES: [(u32, u32); 8] = [
    (0, 0),
    (10, 4),
    (4, 4),
    (14, 4),
    (2, 5),
    (8, 8),
    (6, 2),
    (1, 3),
];

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Points = Vec<(f64, f64)>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One policy's series for one panel: contiguous stretches of defined values.
fn stretches(rows: &[&Row], pick: impl Fn(&Row) -> f64, offset: f64, cap: f64) -> Vec<Points> {
    let mut out: Vec<Points> = vec![Vec::new()];
    for r in rows {
        let v = pick(r);
        if v.is_finite() {
            if let Some(s) = out.last_mut() {
                s.push((r.t as f64, v.min(cap) + offset));
            }
        } else if out.last().is_some_and(|s| !s.is_empty()) {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn line<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    points: Points,
    j: usize,
) -> Result<(), String> {
    let style = COLORS[j % COLORS.len()].stroke_width(2);
    let (dash, gap) = DASHES[j % DASHES.len()];
    if dash == 0 {
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(err)?;
    } else {
        chart
            .draw_series(DashedLineSeries::new(points, dash, gap, style))
            .map_err(err)?;
    }
    Ok(())
}

/// Draw the plot of `function` (`None`: fleet sums) into `path`.
pub fn plot(
    sim: &Simulation,
    function: Option<usize>,
    name: &str,
    path: &Path,
) -> Result<(), String> {
    let root = SVGBackend::new(path, (1100, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (plots, legend) = root.split_horizontally(900);
    let heights = [220, 250, 250];
    let (load, rest) = plots.split_vertically(heights[0]);
    let (replicas, rest) = rest.split_vertically(heights[1]);
    let (latency, strip) = rest.split_vertically(heights[2]);
    let runs: Vec<(&str, Vec<&Row>)> = sim
        .runs
        .iter()
        .map(|run| {
            let rows = run.rows.iter().filter(|r| r.function == function).collect();
            (run.policy.name, rows)
        })
        .collect();
    let duration = sim.scenario.duration_secs as f64;
    let target = function
        .map(|i| sim.scenario.functions[i % sim.scenario.functions.len()].latency_target_ms);
    draw_load(&load, name, &runs, duration)?;
    draw_replicas(&replicas, &runs, duration)?;
    draw_latency(&latency, &runs, duration, target)?;
    draw_violations(&strip, &runs, duration)?;
    draw_legend(&legend, &runs, target)?;
    root.present().map_err(err)
}

fn draw_load(
    area: &Area,
    name: &str,
    runs: &[(&str, Vec<&Row>)],
    duration: f64,
) -> Result<(), String> {
    // The offered load is the same for every policy (open loop) or nearly (closed loop): drawn once, dark grey.
    let rows = runs.first().map(|r| r.1.clone()).unwrap_or_default();
    let points: Points = rows
        .iter()
        .map(|r| (r.t as f64, r.second.offered_rps))
        .collect();
    let top = points.iter().map(|p| p.1).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{name}: offered load"), ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(110)
        .build_cartesian_2d(0.0..duration, 0.0..top * 1.08)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("requests/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            points,
            RGBColor(60, 60, 60).stroke_width(2),
        ))
        .map_err(err)?;
    Ok(())
}

fn draw_replicas(area: &Area, runs: &[(&str, Vec<&Row>)], duration: f64) -> Result<(), String> {
    let top = runs
        .iter()
        .flat_map(|r| r.1.iter().map(|row| row.replicas))
        .max()
        .unwrap_or(1)
        .max(1);
    let ticks = (top as usize + 1).min(12);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "replicas (lines offset by a few hundredths where policies agree)",
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(110)
        .build_cartesian_2d(0.0..duration, 0.0..f64::from(top) + 0.6)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("replicas")
        .y_labels(ticks)
        .y_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    let n = runs.len() as f64;
    for (j, (_, rows)) in runs.iter().enumerate() {
        let offset = (j as f64 - (n - 1.0) / 2.0) * 0.06;
        for points in stretches(rows, |r| f64::from(r.replicas), offset, f64::INFINITY) {
            line(&mut chart, points, j)?;
        }
    }
    Ok(())
}

fn draw_latency(
    area: &Area,
    runs: &[(&str, Vec<&Row>)],
    duration: f64,
    target: Option<f64>,
) -> Result<(), String> {
    // Clipped at 10× the target so that one overloaded policy does not flatten the others.
    let cap = target.map_or(f64::INFINITY, |t| t * 10.0);
    let series: Vec<Vec<Points>> = runs
        .iter()
        .map(|(_, rows)| stretches(rows, |r| r.second.p95 * 1000.0, 0.0, cap))
        .collect();
    let top = series
        .iter()
        .flatten()
        .flatten()
        .map(|p| p.1)
        .fold(target.unwrap_or(1.0) * 1.5, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "true p95 latency per second (clipped at 10× the target)",
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(110)
        .build_cartesian_2d(0.0..duration, 0.0..top * 1.05)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("p95 (ms)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    if let Some(t) = target {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, t), (duration, t)],
                6,
                6,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
    }
    for (j, stretches) in series.into_iter().enumerate() {
        for points in stretches {
            line(&mut chart, points, j)?;
        }
    }
    Ok(())
}

/// One row per policy: the seconds its SLO was violated, shaded in its colour.
fn draw_violations(area: &Area, runs: &[(&str, Vec<&Row>)], duration: f64) -> Result<(), String> {
    let n = runs.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption("SLO violated (shaded seconds)", ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(110)
        .build_cartesian_2d(0.0..duration, 0.0..n as f64)
        .map_err(err)?;
    let names: Vec<String> = runs.iter().map(|r| r.0.to_string()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|v| {
            let k = v - 0.5;
            if (k - k.round()).abs() < 1e-6 && k >= 0.0 {
                names
                    .get(n - 1 - k.round() as usize)
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc("simulated seconds")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    for (j, (_, rows)) in runs.iter().enumerate() {
        let y = (n - 1 - j) as f64;
        let color = COLORS[j % COLORS.len()];
        let bars = rows.iter().filter(|r| r.second.violation).map(|r| {
            Rectangle::new(
                [(r.t as f64 - 1.0, y + 0.15), (r.t as f64, y + 0.85)],
                color.filled(),
            )
        });
        chart.draw_series(bars).map_err(err)?;
    }
    Ok(())
}

fn draw_legend(area: &Area, runs: &[(&str, Vec<&Row>)], target: Option<f64>) -> Result<(), String> {
    let font = ("sans-serif", 15).into_font();
    area.draw(&Text::new("policies", (10, 40), font.clone()))
        .map_err(err)?;
    for (j, (name, _)) in runs.iter().enumerate() {
        let y = 70 + 26 * j as i32;
        let style = COLORS[j % COLORS.len()].stroke_width(3);
        let (dash, gap) = DASHES[j % DASHES.len()];
        if dash == 0 {
            area.draw(&PathElement::new(vec![(10, y), (60, y)], style))
                .map_err(err)?;
        } else {
            let mut x = 10;
            while x < 60 {
                let end = (x + dash as i32).min(60);
                area.draw(&PathElement::new(vec![(x, y), (end, y)], style))
                    .map_err(err)?;
                x = end + gap as i32;
            }
        }
        area.draw(&Text::new(name.to_string(), (68, y - 8), font.clone()))
            .map_err(err)?;
    }
    if target.is_some() {
        let y = 70 + 26 * runs.len() as i32 + 10;
        area.draw(&PathElement::new(
            vec![(10, y), (20, y)],
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
        area.draw(&PathElement::new(
            vec![(26, y), (36, y)],
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
        area.draw(&Text::new("p95 target", (68, y - 8), font))
            .map_err(err)?;
    }
    Ok(())
}
