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
    /// Import an SBOM (CycloneDX JSON 1.4 to 1.6, SPDX 2.3 JSON): its
    /// components are matched against the server's OSV records; each
    /// critical or high vulnerability is an event.
    Sbom {
        file: PathBuf,
        #[arg(long)]
        service: String,
        #[arg(long)]
        commit: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Import a VEX document (CycloneDX VEX or OpenVEX) for a service:
    /// `not_affected`, `resolved` and `false_positive` statements suppress
    /// the vulnerability in its SBOMs and at the gate.
    Vex {
        file: PathBuf,
        #[arg(long)]
        service: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `ward osv`.
#[derive(Debug, Clone, Subcommand)]
pub enum OsvCommand {
    /// Replace a directory of OSV records with those of a mirror: a
    /// directory of `*.json` records and `*.zip` archives (such as the
    /// per-ecosystem `all.zip`), or an http(s) URL of a zip or a record.
    /// Each record is checked; refused ones are listed. The directory is
    /// replaced only when at least one record is valid.
    Sync {
        /// A directory, a file, or an http(s) URL.
        #[arg(long)]
        from: String,
        /// The directory `[gate] osv_dir` names.
        #[arg(long)]
        into: PathBuf,
    },
}

pub fn osv(cmd: OsvCommand) -> anyhow::Result<ExitCode> {
    let OsvCommand::Sync { from, into } = cmd;
    let r = crate::gate::osv::sync(&from, &into)?;
    let mut out = super::out();
    writeln!(
        out,
        "{} records written to {}, {} refused",
        r.written,
        into.display(),
        r.rejects.len()
    )?;
    out.flush()?;
    let mut err = std::io::stderr().lock();
    for (what, why) in r.rejects.iter().take(50) {
        writeln!(
            err,
            "refused {}: {}",
            super::escape::cell(what),
            super::escape::cell(why)
        )?;
    }
    if r.rejects.len() > 50 {
        writeln!(err, "… and {} more refused", r.rejects.len() - 50)?;
    }
    Ok(ExitCode::SUCCESS)
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
    let mut out = super::out();
    match cmd {
        ImportCommand::Sarif {
            file,
            service,
            commit,
            repository,
            remote,
        } => {
            let mut q = vec![("service", service), ("commit", commit)];
            if let Some(r) = repository {
                q.push(("repository", r));
            }
            let v = post_file(&remote, "sarif", "application/sarif+json", &file, &q)?;
            writeln!(
                out,
                "{} results: {} new, {} unchanged, {} fixed",
                v["results"], v["new"], v["unchanged"], v["fixed"]
            )?;
        }
        ImportCommand::Sbom {
            file,
            service,
            commit,
            remote,
        } => {
            let mut q = vec![("service", service)];
            if let Some(c) = commit {
                q.push(("commit", c));
            }
            let v = post_file(&remote, "sbom", "application/json", &file, &q)?;
            writeln!(
                out,
                "{} with {} components: {} vulnerabilities ({} suppressed by VEX, {} critical): {} new, {} unchanged, {} fixed",
                v["format"].as_str().unwrap_or(""),
                v["components"],
                v["vulnerabilities"],
                v["suppressed"],
                v["critical"],
                v["new"],
                v["unchanged"],
                v["fixed"]
            )?;
        }
        ImportCommand::Vex {
            file,
            service,
            remote,
        } => {
            let q = vec![("service", service)];
            let v = post_file(&remote, "vex", "application/json", &file, &q)?;
            writeln!(
                out,
                "{} statements imported; {} kept for the service",
                v["statements"], v["kept"]
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Posts `file` to `/api/v1/import/{what}` and returns the answer, or an
/// error naming the file with the server's reason.
fn post_file(
    remote: &Remote,
    what: &str,
    content_type: &str,
    file: &std::path::Path,
    q: &[(&str, String)],
) -> anyhow::Result<Value> {
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let query = q
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let client = Client::new(remote)?;
    let (status, _, v) = client.post_bytes(
        &format!("/api/v1/import/{what}?{query}"),
        content_type,
        body,
    )?;
    if status != 200 {
        let msg = v.get("error").and_then(Value::as_str).unwrap_or("");
        bail!("{}: {status}: {msg}", file.display());
    }
    Ok(v)
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
