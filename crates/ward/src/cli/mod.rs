//! The command line: one file per command. Client commands reach the server
//! through `--url` / `WARD_URL` and `--token` / `WARD_TOKEN`.

pub mod bench;
pub mod client;
pub mod config;
pub mod search;
pub mod send;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ward: security monitoring and alerting.
#[derive(Debug, Parser)]
#[command(name = "ward", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the server is, for client commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// Ward server URL.
    #[arg(long, env = "WARD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Token (ingest or API); `ward serve` prints one at first start.
    #[arg(long, env = "WARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Ward: ingest, store, detect, alert (data in ./ward-data by default).
    Serve(serve::Args),
    /// Print or check configuration.
    #[command(subcommand)]
    Config(config::Command),
    /// Send NDJSON or plain lines from stdin or files to a Ward server.
    Send(send::Args),
    /// Search stored events.
    Search(search::Args),
    /// Benchmarks against a running server.
    #[command(subcommand)]
    Bench(bench::Command),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Config(c) => config::run(c),
        Command::Send(a) => send::run(a),
        Command::Search(a) => search::run(a),
        Command::Bench(c) => bench::run(c),
    }
}

/// Sets up logging to stderr (`RUST_LOG` filters; `WARD_LOG_FORMAT=json`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("WARD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
