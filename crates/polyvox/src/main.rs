//! The `polyvox` binary: argument parsing, logging, and the mapping of errors to exit codes.
//! Each subcommand lives in its own module.

mod bench;
mod bench_capacity;
mod cli;
mod health;
mod infra;
mod keys;
mod models;
mod plan;
mod runtime;
mod say;
mod sentence_cache;
mod serve;
mod telemetry;
mod worker;

use clap::Parser;
use cli::{Cli, Command, LogFormat, ModelsAction};
use std::process::ExitCode;

/// How a command failed: bad input (exit 2, with a stable code) or a runtime failure (exit 1).
pub enum Failure {
    Input(polyvox_core::Error),
    Runtime(anyhow::Error),
}

impl From<polyvox_core::Error> for Failure {
    fn from(e: polyvox_core::Error) -> Self {
        Failure::Input(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

/// `default` applies when POLYVOX_LOG is unset: terminal commands stay quiet, servers log info.
fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POLYVOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = match cli.command {
        Command::Serve(_) | Command::Worker(_) => "info,ort=warn",
        _ => "warn",
    };
    init_logging(cli.log_format, default_log);
    if matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        // Before the model loads, so the engine's start-up gauges are not recorded into the void.
        if let Err(e) = telemetry::install() {
            tracing::warn!(error = %e, "metrics exporter not installed");
        }
    }
    let result: Result<(), Failure> = match cli.command {
        Command::Say(args) => say::run(args),
        Command::Serve(args) => serve::run(args).map_err(Failure::Runtime),
        Command::Worker(args) => worker::run(args).map_err(Failure::Runtime),
        Command::Migrate(args) => infra::migrate(&args.infra).map_err(Failure::Runtime),
        Command::Keys { action, infra } => keys::run(action, &infra).map_err(Failure::Runtime),
        Command::Plan(args) => plan::run(&args).map_err(|e| Failure::Input(e.into())),
        Command::Bench { action } => bench::run(action).map_err(Failure::Runtime),
        Command::Models { action, assets } => {
            let dir = runtime::asset_dir(&assets);
            match action {
                ModelsAction::Fetch => models::fetch(&dir),
                ModelsAction::Verify => models::verify(&dir),
                ModelsAction::List => {
                    models::list(&dir);
                    Ok(())
                }
            }
            .map_err(Failure::Runtime)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(e)) => {
            eprintln!("error[{}]: {}", e.code, e.message);
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
