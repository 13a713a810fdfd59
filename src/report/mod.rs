//! Rendering: every table, Markdown and JSON view of the library's values
//! (generation summaries, query reports, benchmark outcomes, validations).
//! One grid style for terminals, real Markdown tables for `--format markdown`.

pub mod analyze;
pub mod bench;
pub mod fuzz;
pub mod generate;
pub mod html;
pub mod plan;
pub mod stream;
pub mod validate;

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{Cell, CellAlignment, Table as Grid};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tables for a person at a terminal.
    Table,
    /// Typed, versioned JSON for programs (docs/json-output.md).
    Json,
    /// Markdown that renders on any Markdown viewer.
    Markdown,
    /// A result's rows as CSV, streamed (`olap analyze --sql`).
    Csv,
}

impl OutputFormat {
    pub const NAMES: [&'static str; 3] = ["table", "json", "markdown"];

    pub fn parse(s: &str) -> Option<OutputFormat> {
        match s {
            "table" => Some(OutputFormat::Table),
            "json" => Some(OutputFormat::Json),
            "markdown" => Some(OutputFormat::Markdown),
            "csv" => Some(OutputFormat::Csv),
            _ => None,
        }
    }
}

/// A grid in the style of `format`: box drawing for terminals, a Markdown
/// table for Markdown.
pub fn grid(format: OutputFormat) -> Grid {
    let mut g = Grid::new();
    g.load_style(if format == OutputFormat::Markdown {
        ASCII_MARKDOWN
    } else {
        UTF8_FULL_CONDENSED
    });
    g
}

/// A right-aligned cell (numbers).
pub fn right(s: impl Into<String>) -> Cell {
    Cell::new(s.into()).set_alignment(CellAlignment::Right)
}

/// "1 row", "2 rows".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// Pretty JSON of a value that always serialises.
pub fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("report values serialise")
}

/// "met" / "NOT met".
pub fn met(b: bool) -> &'static str {
    if b { "met" } else { "NOT met" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_grids_are_markdown_tables() {
        let mut g = grid(OutputFormat::Markdown);
        g.set_header(vec!["a", "b"]);
        g.add_row(vec!["1", "2"]);
        let text = g.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("| a") && lines[1].starts_with("|--"),
            "{text}"
        );
    }
}
