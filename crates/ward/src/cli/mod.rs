//! The command line: one file per command. Client commands reach the server
//! through `--url` / `WARD_URL` and `--token` / `WARD_TOKEN`.

pub mod alerts;
pub mod apikey;
pub mod audit;
pub mod bench;
pub mod bench_alert;
pub mod bench_compliance;
pub mod bench_gate;
pub mod client;
pub mod cluster;
pub mod compliance;
pub mod config;
pub mod coverage;
pub mod demo;
pub mod detect;
pub mod escape;
pub mod evidence;
pub mod gate;
pub mod inspect;
pub mod redact;
pub mod rules;
pub mod search;
pub mod send;
pub mod serve;
pub mod store;
pub mod users;

use std::io::{BufWriter, StdoutLock};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A command's standard output: see [`out`].
pub type Out = BufWriter<StdoutLock<'static>>;

/// Standard output for a command's results: locked, buffered, and every
/// write returns its error instead of panicking as `println!` does. A
/// command writes with `writeln!(out, ...)?` and ends with `out.flush()?`
/// (a `BufWriter` dropped unflushed loses the error). `main` treats a
/// closed pipe anywhere in the error chain as a quiet exit with status 0
/// ([`is_broken_pipe`]), so `ward search ... | head -1` stops quietly.
pub fn out() -> Out {
    BufWriter::new(std::io::stdout().lock())
}

/// Whether the error, or anything in its chain, is a write to a closed
/// pipe (also when wrapped by `serde_json`, whose error hides the io error
/// from the chain).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind);
        let json = cause
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}

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
    /// Inspect text offline: `ward inspect prompt` scores prompt injection.
    #[command(subcommand)]
    Inspect(inspect::Command),
    /// Redact secrets and personal data from a file or stdin, offline.
    Redact(redact::Args),
    /// Verify the store (or an archive) and every checkpoint; or one proof offline.
    Verify(store::VerifyArgs),
    /// Copy sealed segments and checkpoints to a write-once layout.
    Archive(store::ArchiveArgs),
    /// A Ward cluster on Kafka: `status` shows nodes, partitions and lag.
    #[command(subcommand)]
    Cluster(cluster::Command),
    /// Apply retention now (or show what it would delete).
    Retention(store::RetentionArgs),
    /// Print the public key that verifies checkpoints and proofs.
    Key(store::DataDir),
    /// Acknowledge damage `ward verify` reported, with a signed record
    /// naming who and why: verify then warns instead of failing.
    AcknowledgeDamage(store::AckArgs),
    /// Validate rules, or test them on events.
    #[command(subcommand)]
    Rules(rules::Command),
    /// Hunt offline: run rules over NDJSON, JSON arrays or EVTX-as-JSON files.
    Detect(detect::Args),
    /// Work with alerts: list, show, acknowledge, resolve, assign, comment.
    Alerts {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: alerts::AlertsCommand,
    },
    /// Compliance posture: status, show, diff against a baseline, attest.
    Compliance {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: compliance::Command,
    },
    /// Evidence bundles: export (signed, from the server), verify offline.
    #[command(subcommand)]
    Evidence(evidence::Command),
    /// Silence alerts by matchers for a while.
    Silences {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: alerts::SilencesCommand,
    },
    /// Replay a realistic day of a small company with planted attacks.
    Demo(demo::Args),
    /// API keys: create (printed once), list, revoke; works on the data
    /// directory with or without the server running.
    #[command(subcommand)]
    Apikey(apikey::Command),
    /// Local users who log in with a password (browser sessions): add,
    /// list, disable, enable, passwd, remove; works on the data directory
    /// with or without the server running.
    #[command(subcommand)]
    Users(users::Command),
    /// Show Ward's own audit trail (who did what).
    Audit(audit::Args),
    /// Import scan results, SBOMs, VEX and provenance: `ward import sarif
    /// FILE --service S --commit SHA`, `ward import sbom FILE --service S`,
    /// `ward import vex FILE --service S`, `ward import provenance FILE
    /// --service S`.
    #[command(subcommand)]
    Import(gate::ImportCommand),
    /// The local OSV database SBOMs are matched against: `ward osv sync
    /// --from MIRROR --into DIR`.
    #[command(subcommand)]
    Osv(gate::OsvCommand),
    /// Deploy gate: `ward gate check --service S [--commit SHA]
    /// [--environment E] [--artifact sha256:…]`: pass or warn (exit 0),
    /// fail (exit 1), error (exit 2).
    #[command(subcommand)]
    Gate(gate::GateCommand),
    /// Give the security sign-off of a service's commit.
    Signoff(gate::SignoffArgs),
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
        Command::Inspect(c) => inspect::run(c),
        Command::Redact(a) => redact::run(a),
        Command::Rules(c) => rules::run(c),
        Command::Detect(a) => detect::run(a),
        Command::Alerts { remote, command } => {
            alerts::run_alerts(command, &remote.url, remote.token.as_deref())
        }
        Command::Compliance { remote, command } => compliance::run(command, &remote),
        Command::Evidence(c) => evidence::run(c),
        Command::Silences { remote, command } => {
            alerts::run_silences(command, &remote.url, remote.token.as_deref())
        }
        Command::Demo(a) => demo::run(a),
        Command::Import(c) => gate::import(c),
        Command::Osv(c) => gate::osv(c),
        Command::Gate(a) => gate::gate(a),
        Command::Signoff(a) => gate::signoff(a),
        Command::Apikey(c) => apikey::run(c),
        Command::Users(c) => users::run(c),
        Command::Audit(a) => audit::show(a),
        Command::Verify(a) => store::verify(a),
        Command::Archive(a) => store::archive(a),
        Command::Cluster(c) => cluster::run(c),
        Command::Retention(a) => store::retention(a),
        Command::Key(d) => store::key(d),
        Command::AcknowledgeDamage(a) => store::acknowledge_damage(a),
    }
}

/// Sets up logging to stderr (`RUST_LOG` filters; `WARD_LOG_FORMAT=json`),
/// every line redacted first.
pub fn init_logging() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::redact::log::LogWriter::stderr()?);
    let _ = if std::env::var("WARD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    fn pipe_error() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::BrokenPipe)
    }

    #[test]
    fn broken_pipe_is_found_anywhere_in_the_chain() {
        let direct = anyhow::Error::from(pipe_error());
        assert!(is_broken_pipe(&direct));
        let wrapped = Err::<(), _>(pipe_error())
            .context("writing results")
            .context("ward search")
            .unwrap_err();
        assert!(is_broken_pipe(&wrapped));
        let json = anyhow::Error::from(serde_json::Error::io(pipe_error()));
        assert!(is_broken_pipe(&json));
    }

    #[test]
    fn other_errors_are_not_a_closed_pipe() {
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(!is_broken_pipe(&anyhow::Error::from(other)));
        assert!(!is_broken_pipe(&anyhow::anyhow!("broken pipe")));
    }
}
