//! `olap validate` output: one row per check.

use comfy_table::Cell;

use super::{OutputFormat, grid, json};
use crate::validate::Validation;

/// The validation in `format`.
pub fn render(v: &Validation, format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        return json(v) + "\n";
    }
    let mut g = grid(format);
    g.set_header(vec!["check", "", "detail"]);
    for c in &v.checks {
        g.add_row(vec![
            Cell::new(&c.name),
            Cell::new(if c.passed { "ok" } else { "FAIL" }),
            Cell::new(&c.detail),
        ]);
    }
    let mut s = format!("{g}\n");
    if v.violations == 0 {
        s.push_str(&format!("{}: every check passed\n", v.data_dir));
    }
    s
}
