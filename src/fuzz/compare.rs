//! Two answers to one question, compared as a user would judge them.
//!
//! Rows are compared as multisets unless the question's ORDER BY fixes their
//! order. NULLs, integers, decimals, dates and strings compare exactly.
//! Doubles compare to a relative 1e-9 (or an absolute 1e-9 near zero): a
//! double aggregate (AVG, a quantile, a ratio of sums) adds its inputs in
//! whatever order the threads deliver them, so two runs of the same plan
//! may differ in the last bits; 1e-9 is far above that rounding (about
//! 1e-16 per addition) and far below any real difference in a sum of money.

use std::cmp::Ordering;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// One value of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Float(f64),
    /// Every other type, as DuckDB's Arrow output prints it (exact).
    Exact(String),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Null => write!(f, "NULL"),
            Cell::Float(x) => write!(f, "{x}"),
            Cell::Exact(s) => write!(f, "{s}"),
        }
    }
}

pub type Row = Vec<Cell>;

/// The rows of an answer.
pub fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    let options = FormatOptions::default().with_null("NULL");
    for b in batches {
        let columns: Vec<Vec<Cell>> = b
            .columns()
            .iter()
            .map(|a| {
                let float = |i: usize| -> Option<f64> {
                    match a.data_type() {
                        DataType::Float64 => Some(a.as_primitive::<Float64Type>().value(i)),
                        DataType::Float32 => {
                            Some(f64::from(a.as_primitive::<Float32Type>().value(i)))
                        }
                        _ => None,
                    }
                };
                let formatter = ArrayFormatter::try_new(a.as_ref(), &options).ok();
                (0..a.len())
                    .map(|i| {
                        if a.is_null(i) {
                            Cell::Null
                        } else if let Some(x) = float(i) {
                            Cell::Float(x)
                        } else {
                            Cell::Exact(
                                formatter
                                    .as_ref()
                                    .map(|f| f.value(i).to_string())
                                    .unwrap_or_else(|| "?".into()),
                            )
                        }
                    })
                    .collect()
            })
            .collect();
        for i in 0..b.num_rows() {
            out.push(columns.iter().map(|c| c[i].clone()).collect());
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    a == b
        || (a.is_nan() && b.is_nan())
        || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
        || (a - b).abs() <= 1e-9
}

fn cell_eq(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => close(*x, *y),
        _ => a == b,
    }
}

fn row_eq(a: &Row, b: &Row) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| cell_eq(x, y))
}

fn cell_cmp(a: &Cell, b: &Cell) -> Ordering {
    let rank = |c: &Cell| match c {
        Cell::Null => 0,
        Cell::Float(_) => 1,
        Cell::Exact(_) => 2,
    };
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => x.total_cmp(y),
        (Cell::Exact(x), Cell::Exact(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Exact cells first: rows that differ only in a double's last bits sort
/// next to each other.
fn row_cmp(a: &Row, b: &Row) -> Ordering {
    let exact = |r: &Row| -> Vec<Cell> {
        r.iter()
            .map(|c| match c {
                Cell::Float(_) => Cell::Null,
                c => c.clone(),
            })
            .collect()
    };
    let (ea, eb) = (exact(a), exact(b));
    for (x, y) in ea.iter().zip(&eb) {
        let o = cell_cmp(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    for (x, y) in a.iter().zip(b) {
        let o = cell_cmp(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Whether two answers are the same: in order when `ordered`, else as
/// multisets.
pub fn same(a: &[Row], b: &[Row], ordered: bool) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if ordered {
        return a.iter().zip(b).all(|(x, y)| row_eq(x, y));
    }
    let mut a: Vec<&Row> = a.iter().collect();
    let mut b: Vec<&Row> = b.iter().collect();
    a.sort_by(|x, y| row_cmp(x, y));
    b.sort_by(|x, y| row_cmp(x, y));
    if a.iter().zip(&b).all(|(x, y)| row_eq(x, y)) {
        return true;
    }
    // Doubles within tolerance can still sort apart: match each row to any
    // equal one left (quadratic, so only for answers of modest size).
    if a.len() > 20_000 {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(
        |x| match (0..b.len()).find(|&j| !used[j] && row_eq(x, b[j])) {
            Some(j) => {
                used[j] = true;
                true
            }
            None => false,
        },
    )
}

/// The first rows of an answer, for a failure report.
pub fn preview(rows: &[Row], n: usize) -> String {
    let mut s = String::new();
    for r in rows.iter().take(n) {
        let cells: Vec<String> = r.iter().map(Cell::to_string).collect();
        s.push_str(&format!("  ({})\n", cells.join(", ")));
    }
    if rows.len() > n {
        s.push_str(&format!("  … {} rows in all\n", rows.len()));
    }
    if rows.is_empty() {
        s.push_str("  (no rows)\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> Cell {
        Cell::Float(x)
    }
    fn e(s: &str) -> Cell {
        Cell::Exact(s.into())
    }

    #[test]
    fn doubles_compare_to_a_relative_tolerance_and_the_rest_exactly() {
        let a = vec![vec![e("x"), f(1.0 / 3.0)], vec![e("y"), f(2.0)]];
        let b = vec![
            vec![e("y"), f(2.0 + 1e-13)],
            vec![e("x"), f(0.333_333_333_333_333_4)],
        ];
        assert!(same(&a, &b, false));
        assert!(!same(&a, &b, true), "order matters when ordered");
        let c = vec![vec![e("y"), f(2.001)], vec![e("x"), f(1.0 / 3.0)]];
        assert!(!same(&a, &c, false));
        let d = vec![vec![e("y"), Cell::Null], vec![e("x"), f(1.0 / 3.0)]];
        assert!(!same(&a, &d, false), "NULL is not a number");
        assert!(!same(&[vec![e("1")]], &[vec![e("1.0")]], false));
    }

    #[test]
    fn multisets_count_duplicates() {
        let a = vec![vec![e("x")], vec![e("x")], vec![e("y")]];
        let b = vec![vec![e("x")], vec![e("y")], vec![e("y")]];
        assert!(!same(&a, &b, false));
        assert!(same(&a, &a, false));
    }

    #[test]
    fn rows_within_tolerance_that_sort_apart_still_match() {
        // 1.0 and 1.0+1e-12 sort around 1.0000000000005 differently.
        let a = vec![vec![f(1.0)], vec![f(1.000_000_000_000_5)]];
        let b = vec![vec![f(1.000_000_000_001)], vec![f(1.0)]];
        assert!(same(&a, &b, false));
    }
}
