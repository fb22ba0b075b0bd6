//! `ward bench compliance`: one evaluation cycle of N event controls over a
//! store of M events, offline in a temporary directory. The store is filled
//! first (not measured), then every control is evaluated once; the figure
//! is the process CPU time of that cycle (all threads) and its wall time.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ward_store::{Store, StoreConfig};

use crate::compliance::evaluate::{QueryCache, evaluate_cached};
use crate::compliance::{Compliance, Facts, State, control};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Controls evaluated in a cycle: the built-in pack, then generated
    /// event controls up to this number.
    #[arg(long, default_value_t = 200)]
    pub controls: usize,
    /// Events stored before the first cycle, in time order (with a few
    /// seconds of jitter) over the last 24 hours.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Cycles after the first, a simulated minute apart, each after
    /// `--new-events` more events were stored.
    #[arg(long, default_value_t = 5)]
    pub cycles: usize,
    /// Events stored between two cycles.
    #[arg(long, default_value_t = 10_000)]
    pub new_events: u64,
    /// Where to build the store (a temporary directory by default, deleted
    /// afterwards).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Ask every distinct aggregation of the first cycle on its own, one
    /// pass over the store each, instead of in the cycle's shared pass:
    /// the evaluation before the shared pass, for comparison.
    #[arg(long)]
    pub alone: bool,
    /// Then start `ward serve` on the store with a webhook receiver on
    /// loopback, and time, for this many probe controls, from sending one
    /// event that makes the control fail to its alert at the webhook.
    #[arg(long, default_value_t = 0)]
    pub alerts: usize,
    /// `[alerting.route] group_wait` of that `ward serve` (Ward's default
    /// is 30s: a new alert group waits that long for more alerts).
    #[arg(long, default_value = "30s")]
    pub group_wait: String,
    /// `[compliance] tick` of that `ward serve` (Ward's default is 15s).
    #[arg(long, default_value = "15s")]
    pub tick: String,
    /// Only the `--alerts` probe, on the store a run with the same `--dir`
    /// left (no filling, no cycles).
    #[arg(long, requires = "dir")]
    pub probe_only: bool,
}

/// What the probes' events carry, different in every run, so that a store
/// already probed passes again.
fn probe_action(i: usize) -> String {
    format!("probe_violation_{}_{i}", std::process::id())
}

const SERVICES: u64 = 50;
const CATEGORIES: [&str; 5] = ["authentication", "web", "configuration", "ai", "iam"];

/// CPU time of the whole process (user + system, every thread).
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) end with ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn control_yaml(i: usize) -> String {
    let cat = CATEGORIES[i % CATEGORIES.len()];
    let service = format!("svc-{}", i as u64 % SERVICES);
    let check = match i % 4 {
        0 => format!("    query: \"event.category:{cat}\"\n    window: 24h\n    at_least: 1\n"),
        1 => format!(
            "    query: \"event.category:{cat} AND event.outcome:failure\"\n    window: 1h\n    at_most: 1000000\n"
        ),
        2 => format!(
            "    query: \"event.category:{cat}\"\n    window: 6h\n    every:\n      field: service.name\n      population: \"event.category:{cat}\"\n      population_window: 24h\n"
        ),
        _ => format!(
            "    query: \"service.name:{service}\"\n    window: 24h\n    missing:\n      fields: [user.name, event.outcome]\n      max_ratio: 0.01\n"
        ),
    };
    format!(
        "id: BENCH-{i:04}\ntitle: bench {i}\nowner: bench\nseverity: low\ncadence: 1m\nevidence_lifetime: 1h\ncheck:\n  events:\n{check}mappings:\n  - {{framework: soc2, id: CC7.2, relationship: intersects}}\n"
    )
}

/// A control that passes until an event with action [`probe_action`]
/// is stored; its cadence is an hour, so only new events make it run
/// sooner.
fn probe_yaml(i: usize) -> String {
    format!(
        "id: PROBE-{i}\ntitle: probe {i}\nowner: bench\nseverity: high\ncadence: 1h\nevidence_lifetime: 2h\ncheck:\n  events:\n    query: \"event.action:{}\"\n    window: 1h\n    at_most: 0\nmappings:\n  - {{framework: soc2, id: CC7.2, relationship: intersects}}\n",
        probe_action(i)
    )
}

/// Stores events `from..to` of `total`, their times spread evenly over
/// `[start, start + span]` in order, each moved by up to 5 s.
fn fill(
    store: &Store,
    from: u64,
    to: u64,
    total: u64,
    start: i64,
    span: i64,
) -> anyhow::Result<()> {
    let mut i = from;
    while i < to {
        let end = (i + 10_000).min(to);
        let mut batch = Vec::with_capacity((end - i) as usize);
        for k in i..end {
            let step = i128::from(span) * i128::from(k - from) / i128::from((to - from).max(1));
            let jitter = (k.wrapping_mul(7919) % 10_000) as i64 - 5_000;
            let t = (start + step as i64 + jitter).min(start + span);
            let _ = total;
            let mut e = crate::model::Event::default();
            e.set(
                "@timestamp",
                jiff::Timestamp::from_millisecond(t)?.to_string().into(),
            );
            e.set("event.id", format!("bench-{k}").into());
            e.set("event.category", CATEGORIES[(k % 5) as usize].into());
            e.set("event.action", "request".into());
            e.set(
                "event.outcome",
                if k % 10 == 0 { "failure" } else { "success" }.into(),
            );
            e.set("service.name", format!("svc-{}", k % SERVICES).into());
            e.set("ward.source", "bench".into());
            if k % 200 != 0 {
                e.set("user.name", format!("user{}", k % 1000).into());
            }
            e.set(
                "source.ip",
                format!("10.0.{}.{}", (k >> 8) & 255, k & 255).into(),
            );
            batch.push(
                crate::store::record(&mut e, Duration::from_secs(3600))
                    .map_err(anyhow::Error::msg)?,
            );
        }
        store.append(batch)?;
        i = end;
    }
    Ok(())
}

/// Stores `n` events over the day before `now` on both cores.
fn fill_day(store: &Store, n: u64, now: i64) -> anyhow::Result<()> {
    let day = 86_400_000;
    let threads = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|w| {
                let (from, to) = ((w * per).min(n), ((w + 1) * per).min(n));
                s.spawn(move || fill(store, from, to, n, now - day, day))
            })
            .collect();
        parts.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a fill thread failed"))?
        })
    })?;
    store.seal_now()?;
    Ok(())
}

/// The controls of a cycle: the built-in pack, generated event controls
/// up to `n`, and the probes; as (file, text, built in).
fn control_files(n: usize, probes: usize) -> Vec<(String, String, bool)> {
    let mut files: Vec<(String, String, bool)> = control::builtin_files()
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned(), true))
        .collect();
    let builtin = control::load_texts(&files, Vec::new()).controls.len();
    files.extend(
        (0..n.saturating_sub(builtin + probes))
            .map(|i| (format!("bench-{i}.yaml"), control_yaml(i), false)),
    );
    files.extend((0..probes).map(|i| (format!("probe-{i}.yaml"), probe_yaml(i), false)));
    files
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let own = a.dir.is_none();
    let base = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ward-bench-compliance-{}", std::process::id()))
    });
    let result = cycles(&a, &base);
    if own {
        std::fs::remove_dir_all(&base)
            .with_context(|| format!("cannot remove {}", base.display()))?;
    }
    result
}

fn cycles(a: &Args, base: &std::path::Path) -> anyhow::Result<ExitCode> {
    if a.probe_only {
        // An earlier probe's alerts are still open, and a gap of the same
        // control would only update them: start without them.
        let alerts = base.join("alerts");
        if alerts.exists() {
            std::fs::remove_dir_all(&alerts)
                .with_context(|| format!("cannot remove {}", alerts.display()))?;
        }
        return alert_latency(a, base, &control_files(a.controls, a.alerts));
    }
    let (store, _) = Store::open(StoreConfig {
        dir: base.join("events"),
        ..StoreConfig::default()
    })
    .with_context(|| format!("cannot open a store in {}", base.display()))?;
    let now = jiff::Timestamp::now();
    let filling = Instant::now();
    fill_day(&store, a.events, now.as_millisecond())?;
    let fill_time = filling.elapsed();
    let files = control_files(a.controls, a.alerts);
    let pack = control::load_texts(&files, Vec::new());
    anyhow::ensure!(pack.errors.is_empty(), "bench controls: {:?}", pack.errors);
    let controls = pack.controls.len();
    let facts = Facts::default();
    let mut out = super::out();
    writeln!(
        out,
        "{controls} controls ({} event checks) over {} events (stored in {fill_time:.1?}), {} cores",
        pack.controls
            .iter()
            .filter(|c| matches!(c.check, control::Check::Events(_)))
            .count(),
        a.events,
        std::thread::available_parallelism().map_or(1, usize::from)
    )?;
    if a.alone {
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        let cache = QueryCache::default();
        for control in &pack.controls {
            evaluate_cached(control, &store, &facts, None, now, &cache);
        }
        let (cpu, wall) = (cpu_time().saturating_sub(cpu0), wall0.elapsed());
        writeln!(
            out,
            "one cycle, each aggregation alone: {cpu:.2?} CPU, {wall:.2?} wall"
        )?;
        store.close()?;
        return Ok(ExitCode::SUCCESS);
    }
    let c = Compliance::new(pack, base, Duration::from_secs(3600));
    let mut steady = Vec::new();
    let mut fails = 0;
    for cycle in 0..=a.cycles {
        let minute = jiff::SignedDuration::from_mins(cycle as i64);
        let at = now.checked_add(minute)?;
        if cycle > 0 {
            let from = a.events + (cycle as u64 - 1) * a.new_events;
            let prev = at.as_millisecond() - 60_000;
            fill(&store, from, from + a.new_events, 0, prev, 60_000)?;
        }
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        c.tick(&store, &facts, at, None);
        let (cpu, wall) = (cpu_time().saturating_sub(cpu0), wall0.elapsed());
        let evaluated = c
            .results(at)
            .iter()
            .filter(|r| r.evaluated_at == Some(at))
            .count();
        fails += c
            .results(at)
            .iter()
            .filter(|r| r.id.starts_with("BENCH-") && r.state != State::Pass)
            .count();
        writeln!(
            out,
            "cycle {cycle}{}: {evaluated} controls evaluated, {cpu:.2?} CPU, {wall:.2?} wall",
            if cycle == 0 {
                " (nothing kept yet)".to_owned()
            } else {
                format!(" ({} new events)", a.new_events)
            }
        )?;
        if cycle > 0 {
            steady.push(cpu);
        }
    }
    if !steady.is_empty() {
        writeln!(
            out,
            "steady state: median {:.2?} CPU per cycle, max {:.2?}",
            median(steady.clone()),
            steady.iter().max().copied().unwrap_or_default()
        )?;
    }
    anyhow::ensure!(
        fails == 0,
        "{fails} generated control results were not pass"
    );
    out.flush()?;
    store.close()?;
    drop(c);
    // A restart: the store and the evaluation open again; the kept
    // aggregates are read back from beside the segments.
    let (store, _) = Store::open(StoreConfig {
        dir: base.join("events"),
        ..StoreConfig::default()
    })?;
    let c = Compliance::new(
        control::load_texts(&files, Vec::new()),
        base,
        Duration::from_secs(3600),
    );
    let at = now.checked_add(jiff::SignedDuration::from_mins(a.cycles as i64 + 1))?;
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    c.tick(&store, &facts, at, None);
    let (cpu, wall) = (cpu_time().saturating_sub(cpu0), wall0.elapsed());
    let results = c.results(at);
    let evaluated = results
        .iter()
        .filter(|r| r.evaluated_at == Some(at))
        .count();
    let fails = results
        .iter()
        .filter(|r| r.id.starts_with("BENCH-") && r.state != State::Pass)
        .count();
    writeln!(
        out,
        "first cycle after a restart: {evaluated} controls evaluated, {cpu:.2?} CPU, {wall:.2?} wall"
    )?;
    anyhow::ensure!(
        fails == 0,
        "after the restart, {fails} generated control results were not pass"
    );
    out.flush()?;
    store.close()?;
    drop(c);
    if a.alerts > 0 {
        return alert_latency(a, base, &files);
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts `ward serve` on the store built above and times, per probe,
/// from storing its violation to its gap alert at a loopback webhook.
fn alert_latency(
    a: &Args,
    base: &std::path::Path,
    files: &[(String, String, bool)],
) -> anyhow::Result<ExitCode> {
    use super::bench_alert::{TOKEN, free_port, receiver};
    let controls = base.join("bench-controls");
    std::fs::create_dir_all(&controls)?;
    for (name, text, builtin) in files {
        if !builtin {
            std::fs::write(controls.join(name), text)?;
        }
    }
    let received = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let hook = receiver(std::sync::Arc::clone(&received), "PROBE-")?;
    let cfg = base.join("ward.toml");
    std::fs::write(
        &cfg,
        format!(
            "[alerting]\nallow_private_destinations = true\n[alerting.route]\ngroup_wait = {:?}\ngroup_by = [\"...\"]\n[compliance]\ntick = {:?}\ncontrols = [{:?}]\n",
            a.group_wait,
            a.tick,
            controls.display().to_string()
        ),
    )?;
    let exe = std::env::current_exe()?;
    let key = std::process::Command::new(&exe)
        .args(["apikey", "create", "--name", "bench", "--role", "viewer"])
        .env("WARD_DATA_DIR", base)
        .output()?;
    anyhow::ensure!(key.status.success(), "ward apikey create failed");
    let key = String::from_utf8(key.stdout)?.trim().to_owned();
    let http = free_port()?;
    let started = jiff::Timestamp::now();
    let mut child = std::process::Command::new(&exe)
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("WARD_DATA_DIR", base)
        .env("WARD_HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("WARD_SYSLOG_ADDR", format!("127.0.0.1:{}", free_port()?))
        .env("WARD_INGEST_TOKEN", TOKEN)
        .env("WARD_ALERT_WEBHOOK_URL", &hook)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start ward serve")?;
    let result = probe(a, http, &key, started, &received);
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// A control's state and evaluation time as `GET /api/v1/compliance/ID`
/// gives them.
fn control_state(reader: &super::client::Client, id: &str) -> Option<(String, jiff::Timestamp)> {
    let v = reader
        .get_json(&format!("/api/v1/compliance/{id}"), &[])
        .ok()?;
    let c = &v["control"];
    Some((
        c["state"].as_str()?.to_owned(),
        c["evaluated_at"].as_str()?.parse().ok()?,
    ))
}

fn probe(
    a: &Args,
    http: u16,
    key: &str,
    started: jiff::Timestamp,
    received: &std::sync::Mutex<std::collections::HashMap<String, Instant>>,
) -> anyhow::Result<ExitCode> {
    let url = format!("http://127.0.0.1:{http}");
    let reader = super::client::Client::new(&super::Remote {
        url: url.clone(),
        token: Some(key.to_owned()),
    })?;
    let sender = super::client::Client::new(&super::Remote {
        url,
        token: Some(super::bench_alert::TOKEN.into()),
    })?;
    let mut out = super::out();
    writeln!(
        out,
        "ward serve: [compliance] tick = {}, [alerting.route] group_wait = {}",
        a.tick, a.group_wait
    )?;
    // Probe the steady state: wait for the first evaluation after start.
    let waited = Instant::now();
    let deadline = waited + Duration::from_secs(1800);
    while control_state(&reader, "PROBE-0").is_none_or(|(_, t)| t <= started) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "ward serve never evaluated PROBE-0"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    writeln!(
        out,
        "ward serve: first evaluation done {:.1?} after start",
        waited.elapsed()
    )?;
    out.flush()?;
    let (mut to_fail, mut to_hook) = (Vec::new(), Vec::new());
    for i in 0..a.alerts {
        let id = format!("PROBE-{i}");
        anyhow::ensure!(
            control_state(&reader, &id).is_some_and(|(s, _)| s == "pass"),
            "{id} does not pass before its violation is sent"
        );
        let now = jiff::Timestamp::now();
        let event = format!(
            "{{\"@timestamp\":\"{now}\",\"event\":{{\"action\":\"{}\",\"category\":\"web\",\"outcome\":\"success\"}},\"service\":{{\"name\":\"svc-0\"}},\"user\":{{\"name\":\"user0\"}}}}\n",
            probe_action(i)
        );
        let t = Instant::now();
        let (status, _, _) =
            sender.post_bytes("/api/v1/ingest", "application/x-ndjson", event.into_bytes())?;
        anyhow::ensure!(status == 200, "ingest answered {status}");
        let deadline = t + Duration::from_secs(300);
        let mut failed = None;
        let hook = loop {
            if failed.is_none() && control_state(&reader, &id).is_some_and(|(s, _)| s == "fail") {
                failed = Some(t.elapsed());
            }
            if let Some(r) = received.lock().ok().and_then(|m| m.get(&id).copied()) {
                break Some(r.saturating_duration_since(t));
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let show = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), |d| format!("{d:.2?}"));
        writeln!(
            out,
            "{id}: violation stored to control fail {}, to alert at the webhook {}",
            show(failed),
            show(hook)
        )?;
        to_fail.extend(failed);
        to_hook.extend(hook);
        out.flush()?;
    }
    for (what, v) in [
        ("state change (API)", &to_fail),
        ("alert at the webhook", &to_hook),
    ] {
        if !v.is_empty() {
            writeln!(
                out,
                "violation to {what}: median {:.2?}, max {:.2?} ({} of {})",
                median(v.clone()),
                v.iter().max().copied().unwrap_or_default(),
                v.len(),
                a.alerts
            )?;
        }
    }
    Ok(if to_hook.len() == a.alerts {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
