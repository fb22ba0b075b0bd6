//! `ward bench alert-latency`: ingest-to-notification latency. It starts a
//! webhook receiver and a child `ward serve` (this binary) on loopback with
//! `group_wait = "0s"`, sends background load at a fixed rate, and every
//! interval one event that a built-in rule turns into a new alert; the
//! latency is from sending that event to the webhook receiving its alert.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::Remote;
use super::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Background events per second.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Alert-raising events to send (one per interval).
    #[arg(long, default_value_t = 50)]
    pub alerts: usize,
    /// Milliseconds between alert-raising events.
    #[arg(long, default_value_t = 200)]
    pub interval_ms: u64,
}

pub(super) const TOKEN: &str = "bench-token-0123456789abcdef";

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Records when each marker (`prefix` and what follows it of letters,
/// digits and `-`) first appears in a webhook body.
pub(super) fn receiver(
    markers: Arc<Mutex<HashMap<String, Instant>>>,
    prefix: &'static str,
) -> anyhow::Result<String> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", l.local_addr()?);
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            let markers = Arc::clone(&markers);
            std::thread::spawn(move || {
                let Ok(mut w) = stream.try_clone() else {
                    return;
                };
                let mut r = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let t = line.trim_end();
                        if t.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = t.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let now = Instant::now();
                    let text = String::from_utf8_lossy(&body);
                    let mut m = markers.lock().unwrap_or_else(|e| e.into_inner());
                    for (i, _) in text.match_indices(prefix) {
                        let id: String = text[i..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                            .collect();
                        m.entry(id).or_insert(now);
                    }
                    drop(m);
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    Ok(url)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let received = Arc::new(Mutex::new(HashMap::new()));
    let hook = receiver(Arc::clone(&received), "latency-probe-")?;
    let dir = std::env::temp_dir().join(format!("ward-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cfg = dir.join("ward.toml");
    std::fs::write(
        &cfg,
        "[alerting]\nallow_private_destinations = true\n[alerting.route]\ngroup_wait = \"0s\"\ngroup_by = [\"...\"]\n",
    )?;
    let http = free_port()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("WARD_DATA_DIR", dir.join("data"))
        .env("WARD_HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("WARD_SYSLOG_ADDR", format!("127.0.0.1:{}", free_port()?))
        .env("WARD_INGEST_TOKEN", TOKEN)
        .env("WARD_ALERT_WEBHOOK_URL", &hook)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start ward serve")?;
    let remote = Remote {
        url: format!("http://127.0.0.1:{http}"),
        token: Some(TOKEN.into()),
    };
    let result = measure(&a, &remote, &received);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(
    a: &Args,
    remote: &Remote,
    received: &Mutex<HashMap<String, Instant>>,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get_json("/api/v1/alerts", &[]).is_err() {
        if Instant::now() > deadline {
            bail!("ward serve did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let stop = Arc::clone(&stop);
        let remote = remote.clone();
        let rate = a.rate;
        std::thread::spawn(move || -> anyhow::Result<u64> {
            let client = Client::new(&remote)?;
            let tick = Duration::from_millis(100);
            let per_tick = (rate / 10).max(1);
            let mut sent = 0u64;
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let body: String = (sent..sent + per_tick)
                    .map(super::bench::typical_event)
                    .collect();
                client.post_bytes("/api/v1/ingest", "application/x-ndjson", body.into_bytes())?;
                sent += per_tick;
                let due = start + tick * (sent / per_tick) as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            Ok(sent)
        })
    };
    let mut sent_at = HashMap::new();
    let bench_start = Instant::now();
    for i in 0..a.alerts {
        let id = format!("latency-probe-{i}");
        let now = jiff::Timestamp::now();
        let event = format!(
            "{{\"timestamp\":\"{now}\",\"service\":\"admin-console\",\"event_type\":\"audit_log_disabled\",\"severity\":\"warn\",\"username\":\"{id}\",\"source_ip\":\"10.2.0.5\",\"category\":\"configuration\"}}\n"
        );
        let t = Instant::now();
        let (status, _, _) =
            client.post_bytes("/api/v1/ingest", "application/x-ndjson", event.into_bytes())?;
        if status != 200 {
            bail!("ingest answered {status}");
        }
        sent_at.insert(id, t);
        std::thread::sleep(Duration::from_millis(a.interval_ms));
    }
    let wait_until = Instant::now() + Duration::from_secs(10);
    while received.lock().map(|m| m.len()).unwrap_or(0) < a.alerts && Instant::now() < wait_until {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let bg = background
        .join()
        .map_err(|_| anyhow::anyhow!("background sender failed"))??;
    let got = received.lock().map(|m| m.clone()).unwrap_or_default();
    let mut lat: Vec<Duration> = sent_at
        .iter()
        .filter_map(|(id, t)| got.get(id).map(|r| r.saturating_duration_since(*t)))
        .collect();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let secs = bench_start.elapsed().as_secs_f64();
    println!(
        "background load:  {:.0} events/s ({bg} events)",
        bg as f64 / secs
    );
    println!("alerts delivered: {} of {}", lat.len(), a.alerts);
    println!(
        "ingest to webhook: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(if lat.len() == a.alerts {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
