//! `loadtest`: the load-generation harness for tlsterm (see loadtest/README.md).
//!
//! Layout:
//! - `cli` (flags as typed) → `plan` (checked `Plan`; `parse` holds the value parsers);
//! - `run` (main thread: window, CPU/memory samples, progress) → `shard` (one pinned glommio
//!   executor per `--cpus` CPU) → `scenario::{oneshot, keepalive, idle, h2}` (connection tasks) over
//!   `conn` (connect + TLS, I/O helpers), `tls` (rustls client config), `http1` (sans-IO
//!   response framing), and for h2 `h2head` (the checked request) and `compat` (futures-io →
//!   tokio-io for the h2 crate);
//! - `schedule` (intended send times, coordinated-omission-corrected latency) and `stats`
//!   (what counts) are pure and unit-tested;
//! - `report`, `json`, `hgrm`, `plot`: output; `procstat`, `sys`: /proc and libc;
//! - `origin`: the `loadtest origin` subcommand;
//! - `uring`: tlsterm's io_uring ring-flags hook (src/uring.rs, the same file: see `build.rs`).
//!
//! Exit codes: 0 success; 1 the run could not be carried out (setup error); 2 more errors than
//! `--max-errors`; 64 bad command line (`--help` and `--version` exit 0).
#![deny(unsafe_code)]

mod cli;
mod clock;
mod compat;
mod conn;
mod h2head;
mod hgrm;
mod http1;
mod json;
mod origin;
mod parse;
mod plan;
mod plot;
mod procstat;
mod report;
mod run;
mod scenario;
mod schedule;
mod sessions;
mod shard;
mod stats;
mod sys;
mod tls;
// One source for the hook in both binaries: tlsterm's module, compiled here as well.
#[path = "../../src/uring.rs"]
mod uring;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::plan::Plan;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(64);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let plain_rings = match &cli.command {
        Some(Command::Origin(args)) => args.plain_rings,
        None => cli.load.plain_rings,
    };
    // Before any executor exists: every ring of this process gets the flags, or none does.
    uring::set_enabled(!plain_rings);
    match cli.command {
        Some(Command::Origin(args)) => match origin::serve(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loadtest origin: {e}");
                ExitCode::from(1)
            }
        },
        None => load(&cli.load),
    }
}

fn load(args: &cli::LoadArgs) -> ExitCode {
    let plan = match Plan::from_args(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(64);
        }
    };
    let result = match run::run(plan) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(1);
        }
    };
    let figures = report::Figures::from(&result);
    let table = report::human(&result, &figures);
    let outputs = &result.plan.outputs;
    if outputs.json {
        eprint!("{table}");
        print!("{}", report::json(&result, &figures));
    } else {
        print!("{table}");
    }
    let mut failed_output = false;
    if let Some(path) = &outputs.hgrm {
        if let Err(e) = std::fs::write(path, hgrm::render(&result.stats.latency)) {
            eprintln!("loadtest: cannot write {}: {e}", path.display());
            failed_output = true;
        }
    }
    if let Some(path) = &outputs.plot {
        let title = format!(
            "loadtest {} — latency by percentile ({} ok)",
            result.plan.scenario.name(),
            result.stats.latency.len()
        );
        if let Err(e) = std::fs::write(path, plot::render(&result.stats.latency, &title)) {
            eprintln!("loadtest: cannot write {}: {e}", path.display());
            failed_output = true;
        }
    }
    if figures.errors > result.plan.max_errors {
        ExitCode::from(2)
    } else if failed_output {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
