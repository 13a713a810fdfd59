//! Integration tests: they run the real `olap` binary on small data.

mod analyze;
mod benchmark;
mod card;
mod common;
mod concurrency;
mod dataset;
mod export;
mod faults;
mod fuzz;
mod generate;
mod guard;
mod layout;
mod properties;
mod reliability;
mod remote;
mod report;
mod serve;
