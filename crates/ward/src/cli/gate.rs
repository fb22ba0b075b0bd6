//! `ward import sarif`, `ward gate` and `ward signoff`: scan results in,
//! a deploy decision out, through a running server. `ward gate` exits 0
//! when the deploy is allowed, 1 when it is denied, 2 on an error.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::Remote;
use super::alerts::Format;
use super::client::Client;

/// `ward import`.
#[derive(Debug, Clone, Subcommand)]
pub enum ImportCommand {
    /// Import a SARIF 2.1.0 log (any tool): one event per result, each
    /// marked new, unchanged or fixed against the previous import.
    Sarif {
        file: PathBuf,
        #[arg(long)]
        service: String,
        #[arg(long)]
        commit: String,
        #[arg(long)]
        repository: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `ward gate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    #[arg(long)]
    pub service: String,
    #[arg(long)]
    pub commit: Option<String>,
    /// Open alerts at or above this severity deny.
    #[arg(long, default_value = "high")]
    pub max_severity: String,
    /// Deny without a security sign-off of the commit.
    #[arg(long)]
    pub require_signoff: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub remote: Remote,
}

/// `ward signoff`.
#[derive(Debug, Clone, clap::Args)]
pub struct SignoffArgs {
    #[arg(long)]
    pub service: String,
    #[arg(long)]
    pub commit: String,
    /// What was reviewed.
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub remote: Remote,
}

pub fn import(cmd: ImportCommand) -> anyhow::Result<ExitCode> {
    let ImportCommand::Sarif {
        file,
        service,
        commit,
        repository,
        remote,
    } = cmd;
    let body = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut q = vec![("service", service), ("commit", commit)];
    if let Some(r) = repository {
        q.push(("repository", r));
    }
    let query = q
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let client = Client::new(&remote)?;
    let (status, _, v) = client.post_bytes(
        &format!("/api/v1/import/sarif?{query}"),
        "application/sarif+json",
        body,
    )?;
    if status != 200 {
        let msg = v.get("error").and_then(Value::as_str).unwrap_or("");
        bail!("{}: {status}: {msg}", file.display());
    }
    let mut out = super::out();
    writeln!(
        out,
        "{} results: {} new, {} unchanged, {} fixed",
        v["results"], v["new"], v["unchanged"], v["fixed"]
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn gate(a: GateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&a.remote)?;
    let mut q = vec![
        ("service", a.service),
        ("max_severity", a.max_severity),
        ("require_signoff", a.require_signoff.to_string()),
    ];
    if let Some(c) = a.commit {
        q.push(("commit", c));
    }
    let v = client.get_json("/api/v1/gate", &q)?;
    let allow = match v["decision"].as_str() {
        Some("allow") => true,
        Some("deny") => false,
        _ => bail!("the server answered no decision: {v}"),
    };
    let mut out = super::out();
    match a.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?,
        Format::Table => {
            writeln!(
                out,
                "{}: {}",
                if allow { "ALLOW" } else { "DENY" },
                super::escape::cell(v["service"].as_str().unwrap_or(""))
            )?;
            for r in v["reasons"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "  {}: {}",
                    r["code"].as_str().unwrap_or(""),
                    super::escape::cell(r["detail"].as_str().unwrap_or(""))
                )?;
            }
        }
    }
    out.flush()?;
    Ok(if allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn signoff(a: SignoffArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&a.remote)?;
    let v = client.post_json(
        "/api/v1/gate/signoff",
        &json!({"service": a.service, "commit": a.commit, "reason": a.reason}),
    )?;
    let mut out = super::out();
    writeln!(
        out,
        "signed off {} at {} by {}",
        super::escape::cell(v["service"].as_str().unwrap_or("")),
        super::escape::cell(v["commit"].as_str().unwrap_or("")),
        super::escape::cell(v["by"].as_str().unwrap_or(""))
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
