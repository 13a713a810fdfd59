use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// The CPU check runs before DuckDB's static constructors, not in `main`:
/// compiled for x86-64-v3, some of them already use AVX instructions. An
/// `.init_array` entry of the first user priority (101) runs before every
/// constructor of default priority, which is all of DuckDB's.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[used]
#[unsafe(link_section = ".init_array.00101")]
static CHECK_CPU_FIRST: extern "C" fn() = check_cpu_first;

/// Exits 2, naming what is missing, on a CPU without the instructions
/// DuckDB was compiled for.
extern "C" fn check_cpu_first() {
    if let Err(why) = olap::cpu_supports_build() {
        let _ = writeln!(std::io::stderr(), "olap: error: {why}");
        std::process::exit(2);
    }
}

/// jemalloc for every allocation of the process, DuckDB's C++ included
/// (its `malloc` and `free` replace glibc's): see Cargo.toml.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Where no `.init_array` entry ran it.
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    check_cpu_first();
    // Ctrl-C (and SIGTERM/SIGHUP): remove the run's temporary directory so an
    // interrupted run leaves nothing behind, then exit like a shell does.
    let _ = ctrlc::set_handler(|| {
        if olap::util::stops_itself() && !olap::util::stop_requested() {
            // `olap serve` and `olap fuzz` stop themselves (running queries
            // end first); a second Ctrl-C ends the process.
            olap::util::request_stop();
            return;
        }
        olap::storage::publish::remove_live_staging();
        eprintln!("\nolap: interrupted; nothing was changed");
        std::process::exit(130);
    });
    let cli = match olap::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // Usage errors in one line: clap's first line, without colours.
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            let _ = writeln!(std::io::stderr(), "olap: error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    // Notes and progress at info (-q: warnings only; -v: stage timings);
    // RUST_LOG overrides.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.log_level()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_level(false)
        .init();
    match olap::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`olap ... | head`) is not an error.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            // One line, whatever the source (DuckDB's messages span several).
            let text = format!("{err:#}").replace(": Error code 1: Unknown error code", "");
            let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(std::io::stderr(), "olap: error: {one_line}");
            ExitCode::from(olap::error::exit_code(&err))
        }
    }
}
