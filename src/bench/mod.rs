//! Measuring: rounds and percentiles, SLA checks, baselines and regression
//! detection, storage / scaling / concurrency studies, and reports (JSON,
//! Markdown, SVG charts).

pub mod chart;
pub mod compare;
pub mod result;
pub mod run;
pub mod stats;
pub mod studies;
