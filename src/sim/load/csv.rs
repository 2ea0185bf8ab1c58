//! A `csv` load segment's trace: the file read once (bounded, numbers checked) and looked up per second.

use std::path::Path;

use crate::sim::SimError;

pub(super) fn series_at(rows: &[(f64, f64)], t: f64) -> f64 {
    match rows.partition_point(|(rt, _)| *rt <= t) {
        0 => 0.0,
        i => rows[i - 1].1,
    }
}

pub(super) fn read_csv(path: &Path, column: &str) -> Result<Vec<(f64, f64)>, SimError> {
    let text = crate::sim::read_text(path, "load trace", crate::sim::TRACE_MAX_BYTES)?;
    let err = |line: usize, what: String| {
        SimError::Scenario(format!("{}: line {line}: {what}", path.display()))
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty file".into()))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = names
        .iter()
        .position(|n| *n == column)
        .filter(|&i| i > 0)
        .ok_or_else(|| err(1, format!("no column {column:?} in header {names:?}")))?;
    let mut rows = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let num = |j: usize| -> Result<f64, SimError> {
            let cell = cells.get(j).copied().unwrap_or("");
            cell.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| err(i + 1, format!("{cell:?} is not a number ≥ 0")))
        };
        let t = num(0)?;
        if rows.last().is_some_and(|(prev, _)| *prev >= t) {
            return Err(err(i + 1, "times must increase".into()));
        }
        rows.push((t, num(col)?));
    }
    Ok(rows)
}
