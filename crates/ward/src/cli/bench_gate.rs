//! `ward bench gate`: deploy-gate decisions and SARIF imports against a
//! running Ward. It fills the server with `--events` typical events (HTTP
//! ingest), imports a SARIF log of `--findings` results for the gated
//! service (a tenth error-level, so the gate has reasons to report), then
//! times `--decisions` gate decisions one after another (`POST
//! /api/v1/gate/evaluate`, each stored as an event like any decision) and
//! an import of a `--sarif-results`-result log. Run it against a `ward
//! serve` built with `--release` on a fresh data directory.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};

use super::Remote;
use super::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// An API key with ingest and gate permissions (admin), and the URL.
    #[command(flatten)]
    pub remote: Remote,
    /// Events to store first (0: use what the server holds).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Results of the SARIF log imported for the gated service.
    #[arg(long, default_value_t = 10_000)]
    pub findings: usize,
    /// Gate decisions to time.
    #[arg(long, default_value_t = 200)]
    pub decisions: usize,
    /// Results of the SARIF log whose import is timed.
    #[arg(long, default_value_t = 25_000)]
    pub sarif_results: usize,
}

/// A SARIF log of `n` results of one tool, every tenth error-level, each
/// with its own file, line and snippet.
pub fn sarif_log(tool: &str, n: usize) -> Vec<u8> {
    let rules: Vec<Value> = (0..50)
        .map(|r| json!({"id": format!("rule-{r}"), "defaultConfiguration": {"level": if r % 10 == 0 { "error" } else { "warning" }}}))
        .collect();
    let results: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "ruleId": format!("rule-{}", i % 50),
                "message": {"text": format!("finding {i}: user input reaches a sink without validation")},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": format!("src/module_{}/file_{}.py", i % 97, i / 50)},
                    "region": {"startLine": 10 + i % 400, "snippet": {"text": format!("value_{i} = handler(request.args['{i}'])")}}
                }}]
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": tool, "rules": rules}}, "results": results}]
    }))
    .unwrap_or_default()
}

fn import(
    client: &Client,
    service: &str,
    commit: &str,
    body: Vec<u8>,
) -> anyhow::Result<(Duration, Value)> {
    let t = Instant::now();
    let (status, _, v) = client.post_bytes(
        &format!("/api/v1/import/sarif?service={service}&commit={commit}"),
        "application/sarif+json",
        body,
    )?;
    let took = t.elapsed();
    if status != 200 {
        bail!("the SARIF import answered {status}: {v}");
    }
    Ok((took, v))
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut out = super::out();
    let client = Client::new(&a.remote)?;
    if a.events > 0 {
        let (elapsed, _, n) = super::bench::load(&super::bench::IngestArgs {
            remote: a.remote.clone(),
            events: a.events,
            concurrency: 8,
            batch: 1000,
        })?;
        writeln!(
            out,
            "stored:        {n} events in {:.1} s",
            elapsed.as_secs_f64()
        )?;
    }
    let (took, v) = import(
        &client,
        "bench-gated",
        "c1",
        sarif_log("bench-scanner", a.findings),
    )?;
    writeln!(
        out,
        "findings:      {} results imported for the gated service in {:.2} s ({} new)",
        a.findings,
        took.as_secs_f64(),
        v["new"]
    )?;
    out.flush()?;
    let body = json!({
        "service": "bench-gated",
        "commit": "c1",
        "environment": "production",
        "require_signoff": true,
    });
    let mut lat = Vec::with_capacity(a.decisions);
    let mut reasons = 0;
    for _ in 0..a.decisions {
        let t = Instant::now();
        let v = client.post_json("/api/v1/gate/evaluate", &body)?;
        lat.push(t.elapsed());
        reasons = v["reasons"].as_array().map_or(0, Vec::len);
        if v["decision"] != "fail" {
            bail!("expected a failing decision: {v}");
        }
    }
    lat.sort();
    let pct = |p: f64| -> f64 {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    };
    writeln!(
        out,
        "gate decision: p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} decisions, {reasons} reasons each)",
        pct(0.5),
        pct(0.95),
        pct(0.99),
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        lat.len()
    )?;
    out.flush()?;
    let log = sarif_log("bench-import", a.sarif_results);
    let size = log.len();
    let (took, v) = import(&client, "bench-import", "c1", log)?;
    writeln!(
        out,
        "SARIF import:  {} results ({:.1} MB) in {:.2} s ({} new, each stored as an event)",
        a.sarif_results,
        size as f64 / 1e6,
        took.as_secs_f64(),
        v["new"]
    )?;
    let (took, v) = import(
        &client,
        "bench-import",
        "c2",
        sarif_log("bench-import", a.sarif_results),
    )?;
    writeln!(
        out,
        "SARIF again:   {} results in {:.2} s ({} unchanged)",
        a.sarif_results,
        took.as_secs_f64(),
        v["unchanged"]
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
