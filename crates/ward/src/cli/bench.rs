//! `ward bench ingest`: a load generator for HTTP ingest end to end. It
//! posts typical ~300-byte JSON events from concurrent senders to a running
//! Ward and reports events/s and request latency percentiles. Run it
//! against `ward serve` built with `--release`, on the same machine.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::Remote;
use super::client::Client;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// HTTP NDJSON ingest, end to end (acknowledged only after fsync).
    Ingest(IngestArgs),
    /// Ingest-to-notification latency under background load (starts its own server).
    AlertLatency(super::bench_alert::Args),
    /// One compliance evaluation cycle: N controls over M stored events (offline).
    Compliance(super::bench_compliance::Args),
    /// Deploy-gate decisions and SARIF imports against a running server
    /// holding many events and findings.
    Gate(super::bench_gate::Args),
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Events to send in total.
    #[arg(long, default_value_t = 500_000)]
    pub events: u64,
    /// Concurrent senders.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Events per request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

/// A typical application security event of about 300 bytes.
pub fn typical_event(i: u64) -> String {
    let users = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ];
    let actions = [
        ("login", "authentication", "success"),
        ("login", "authentication", "failure"),
        ("file_read", "file", "success"),
        ("role_assigned", "iam", "success"),
        ("config_change", "configuration", "success"),
    ];
    let (action, cat, outcome) = actions[(i % actions.len() as u64) as usize];
    format!(
        "{{\"timestamp\":\"2026-11-22T10:{:02}:{:02}.{:03}Z\",\"service\":\"checkout-api\",\"event_type\":\"{cat}\",\"severity\":\"info\",\"user_id\":\"{}\",\"session_id\":\"sess-{:08x}\",\"source_ip\":\"10.{}.{}.{}\",\"action\":\"{action}\",\"outcome\":\"{outcome}\",\"correlation_id\":\"{:016x}\",\"message\":\"request handled\"}}\n",
        (i / 60_000) % 60,
        (i / 1000) % 60,
        i % 1000,
        users[(i % users.len() as u64) as usize],
        i.wrapping_mul(2_654_435_761) & 0xffff_ffff,
        (i >> 16) & 255,
        (i >> 8) & 255,
        i & 255,
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    )
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let a = match cmd {
        Command::Ingest(a) => a,
        Command::AlertLatency(a) => return super::bench_alert::run(a),
        Command::Compliance(a) => return super::bench_compliance::run(a),
        Command::Gate(a) => return super::bench_gate::run(a),
    };
    let (elapsed, lat, n) = load(&a)?;
    let pct = |p: f64| -> Duration {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let mut out = super::out();
    writeln!(out, "events:       {n}")?;
    writeln!(out, "elapsed:      {:.2} s", elapsed.as_secs_f64())?;
    writeln!(
        out,
        "throughput:   {:.0} events/s",
        n as f64 / elapsed.as_secs_f64()
    )?;
    writeln!(
        out,
        "request p50:  {:.1} ms   p99: {:.1} ms   ({} events per request, {} senders)",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        a.batch,
        a.concurrency
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Sends `a.events` typical events; the time it took, each request's
/// latency (sorted) and the events acknowledged.
pub fn load(a: &IngestArgs) -> anyhow::Result<(Duration, Vec<Duration>, u64)> {
    let next = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let results: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..a.concurrency.max(1))
            .map(|_| {
                let next = Arc::clone(&next);
                let sent = Arc::clone(&sent);
                let remote = a.remote.clone();
                let (batch, total) = (a.batch as u64, a.events);
                sc.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let client = Client::new(&remote)?;
                    let mut lat = Vec::new();
                    loop {
                        let first = next.fetch_add(batch, Ordering::Relaxed);
                        if first >= total {
                            return Ok(lat);
                        }
                        let n = batch.min(total - first);
                        let body: String = (first..first + n).map(typical_event).collect();
                        loop {
                            let t = Instant::now();
                            let (status, retry, _) = client.post_bytes(
                                "/api/v1/ingest",
                                "application/x-ndjson",
                                body.clone().into_bytes(),
                            )?;
                            match status {
                                200 => {
                                    lat.push(t.elapsed());
                                    sent.fetch_add(n, Ordering::Relaxed);
                                    break;
                                }
                                429 | 503 => std::thread::sleep(Duration::from_millis(
                                    retry.map_or(50, |s| s * 1000).min(1000),
                                )),
                                401 => bail!(
                                    "the server refused the token (set --token or WARD_TOKEN)"
                                ),
                                s => bail!("the server answered {s}"),
                            }
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("sender thread failed")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut lat = Vec::new();
    for r in results {
        lat.extend(r?);
    }
    lat.sort();
    Ok((elapsed, lat, sent.load(Ordering::Relaxed)))
}
