//! The `sargdb` binary: parse the command line, set up logging, run the server.
//!
//! Exit code 0 after a clean shutdown (SIGINT/SIGTERM, final checkpoint), 1 when
//! the server cannot start (data directory locked, address in use, ...).

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use sargdb_server::{run, shutdown_signal, Config};
use tracing_subscriber::EnvFilter;

// The executor allocates small rows and values at a high rate, from several
// threads; mimalloc's thread-local free lists serve that far faster than the
// system allocator (measured in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cfg = Config::parse();
    // RUST_LOG, when set, refines logging per module; --log-level otherwise.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(cfg.log_level.as_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sargdb: could not start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cfg, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Printed once, plainly: the log may be filtered or not set up for
            // the user who just ran the command.
            eprintln!("sargdb: {e}");
            ExitCode::from(1)
        }
    }
}
