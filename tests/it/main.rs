//! Integration tests: they run the real `olap` binary on small data.

mod common;
mod faults;
mod generate;
