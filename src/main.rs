use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Ctrl-C (and SIGTERM/SIGHUP): remove the run's temporary directory so an
    // interrupted run leaves nothing behind, then exit like a shell does.
    let _ = ctrlc::set_handler(|| {
        olap::storage::publish::remove_live_staging();
        eprintln!("\nolap: interrupted; nothing was changed");
        std::process::exit(130);
    });
    let cli = match olap::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
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
            let _ = writeln!(std::io::stderr(), "olap: error: {err:#}");
            ExitCode::from(olap::error::exit_code(&err))
        }
    }
}
