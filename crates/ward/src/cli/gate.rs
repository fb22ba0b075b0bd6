//! `ward import sarif|sbom|vex|provenance`, `ward gate check` and `ward
//! signoff`: scan results in, a deploy decision out, through a running
//! server. `ward gate check` exits 0 on pass or warn, 1 on fail, 2 on an
//! error.

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
    /// Import a provenance attestation: a DSSE envelope of an in-toto
    /// Statement (SLSA provenance) or link, verified against the server's
    /// `[[gate.keys]]`. Exit 0 when verified, 1 when refused (recorded as
    /// an event), 2 on an error.
    Provenance {
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
#[derive(Debug, Clone, Subcommand)]
pub enum GateCommand {
    /// Ask the gate about a deploy: pass (exit 0), warn (exit 0, the
    /// reasons printed), fail (exit 1), or an error (exit 2). The server's
    /// `[gate.policy]` decides what each reason does; the flags here can
    /// only tighten it.
    Check(GateArgs),
}

/// `ward gate check`.
#[derive(Debug, Clone, clap::Args)]
pub struct GateArgs {
    #[arg(long)]
    pub service: String,
    #[arg(long)]
    pub commit: Option<String>,
    /// The deploy environment: chooses the policy's section.
    #[arg(long)]
    pub environment: Option<String>,
    /// An artefact to deploy, by digest (`sha256:HEX`); repeatable.
    #[arg(long = "artifact")]
    pub artifacts: Vec<String>,
    /// An artefact to deploy, by file (its SHA-256 is sent); repeatable.
    #[arg(long = "artifact-file")]
    pub artifact_files: Vec<PathBuf>,
    /// Open alerts at or above this severity count (lower than the
    /// policy's only).
    #[arg(long)]
    pub max_severity: Option<String>,
    /// Require a security sign-off of the commit.
    #[arg(long)]
    pub require_signoff: bool,
    /// Require verified provenance of the artefacts (or of the commit).
    #[arg(long)]
    pub require_provenance: bool,
    /// Break-glass: pass whatever the reasons, saying why. Needs an API key
    /// with gate:override; recorded as an event and raises an alert.
    #[arg(long, value_name = "REASON")]
    pub break_glass: Option<String>,
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
        ImportCommand::Provenance {
            file,
            service,
            commit,
            remote,
        } => {
            let mut q = vec![("service", service)];
            if let Some(c) = commit {
                q.push(("commit", c));
            }
            let body =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let client = Client::new(&remote)?;
            let (status, _, v) = client.post_bytes(
                &format!("/api/v1/import/provenance?{}", query_string(&q)),
                "application/json",
                body,
            )?;
            match status {
                200 => {
                    let subjects = v["subjects"].as_array().map_or(0, Vec::len);
                    writeln!(
                        out,
                        "verified with key {}: {subjects} artefact(s) attested for {}",
                        super::escape::cell(v["keyid"].as_str().unwrap_or("")),
                        super::escape::cell(v["service"].as_str().unwrap_or(""))
                    )?;
                }
                422 => {
                    out.flush()?;
                    eprintln!(
                        "{}: {}",
                        file.display(),
                        super::escape::cell(v["error"].as_str().unwrap_or("refused"))
                    );
                    return Ok(ExitCode::from(1));
                }
                _ => {
                    let msg = v.get("error").and_then(Value::as_str).unwrap_or("");
                    bail!("{}: {status}: {msg}", file.display());
                }
            }
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
    let query = query_string(q);
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

/// The SHA-256 of a file, streamed.
fn file_digest(path: &std::path::Path) -> anyhow::Result<String> {
    use sha2::Digest as _;
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

pub fn gate(cmd: GateCommand) -> anyhow::Result<ExitCode> {
    let GateCommand::Check(a) = cmd;
    let client = Client::new(&a.remote)?;
    let mut artifacts = a.artifacts.clone();
    for f in &a.artifact_files {
        artifacts.push(file_digest(f)?);
    }
    let mut body = json!({
        "service": a.service,
        "require_signoff": a.require_signoff,
        "require_provenance": a.require_provenance,
    });
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            body[k] = Value::String(v);
        }
    };
    set("commit", a.commit);
    set("environment", a.environment);
    set("max_severity", a.max_severity);
    set("break_glass", a.break_glass);
    if !artifacts.is_empty() {
        body["artifacts"] = json!(artifacts);
    }
    let v = client.post_json("/api/v1/gate/evaluate", &body)?;
    let decision = match v["decision"].as_str() {
        Some(d @ ("pass" | "warn" | "fail")) => d,
        _ => bail!("the server answered no decision: {v}"),
    };
    let mut out = super::out();
    match a.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?,
        Format::Table => {
            writeln!(
                out,
                "{}: {}{} (policy {}{})",
                decision.to_uppercase(),
                super::escape::cell(v["service"].as_str().unwrap_or("")),
                v["environment"]
                    .as_str()
                    .map(|e| format!(" to {}", super::escape::cell(e)))
                    .unwrap_or_default(),
                super::escape::cell(v["policy"]["version"].as_str().unwrap_or("")),
                if v["override"].is_object() {
                    format!(
                        "; BREAK-GLASS over a {} verdict",
                        v["verdict"].as_str().unwrap_or("")
                    )
                } else {
                    String::new()
                }
            )?;
            for r in v["reasons"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "  {} {}: {}",
                    r["action"].as_str().unwrap_or(""),
                    r["code"].as_str().unwrap_or(""),
                    super::escape::cell(r["detail"].as_str().unwrap_or(""))
                )?;
            }
        }
    }
    out.flush()?;
    Ok(if decision == "fail" {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
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

fn query_string(q: &[(&str, String)]) -> String {
    q.iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
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
