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
use crate::compliance::{Compliance, Facts, control};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Controls evaluated in the cycle.
    #[arg(long, default_value_t = 200)]
    pub controls: usize,
    /// Events stored before the cycle, spread over the last 24 hours.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Where to build the store (a temporary directory by default).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Ask every distinct aggregation of the cycle on its own, one pass
    /// over the store each, instead of in the cycle's shared pass: the
    /// evaluation before the shared pass, for comparison.
    #[arg(long)]
    pub alone: bool,
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

fn fill(store: &Store, n: u64, now: jiff::Timestamp) -> anyhow::Result<()> {
    let day_ms = 86_400_000i64;
    let mut i = 0u64;
    while i < n {
        let end = (i + 10_000).min(n);
        let mut batch = Vec::with_capacity((end - i) as usize);
        for k in i..end {
            let t = now.as_millisecond() - (k.wrapping_mul(7919) % day_ms as u64) as i64;
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
    store.seal_now()?;
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let own = a.dir.is_none();
    let base = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ward-bench-compliance-{}", std::process::id()))
    });
    let (store, _) = Store::open(StoreConfig {
        dir: base.join("events"),
        ..StoreConfig::default()
    })
    .with_context(|| format!("cannot open a store in {}", base.display()))?;
    let now = jiff::Timestamp::now();
    let filling = Instant::now();
    fill(&store, a.events, now)?;
    let fill_time = filling.elapsed();
    let mut files: Vec<(String, String, bool)> = control::builtin_files()
        .iter()
        .filter(|(p, _)| p.contains("/catalogs/"))
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned(), true))
        .collect();
    files.extend((0..a.controls).map(|i| (format!("bench-{i}.yaml"), control_yaml(i), false)));
    let pack = control::load_texts(&files, Vec::new());
    anyhow::ensure!(pack.errors.is_empty(), "bench controls: {:?}", pack.errors);
    let facts = Facts::default();
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    if a.alone {
        let (now, cache) = (jiff::Timestamp::now(), QueryCache::default());
        for control in &pack.controls {
            evaluate_cached(control, &store, &facts, None, now, &cache);
        }
    } else {
        let c = Compliance::new(pack, &base, Duration::from_secs(3600));
        c.tick(&store, &facts, jiff::Timestamp::now(), None);
    }
    let (cpu, wall) = (cpu_time().saturating_sub(cpu0), wall0.elapsed());
    let mut out = super::out();
    writeln!(
        out,
        "{} controls over {} events (stored in {:.1?}): one cycle{} {:.2?} CPU, {:.2?} wall, {} cores",
        a.controls,
        a.events,
        fill_time,
        if a.alone {
            " (each aggregation alone)"
        } else {
            ""
        },
        cpu,
        wall,
        std::thread::available_parallelism().map_or(1, usize::from)
    )?;
    out.flush()?;
    store.close()?;
    if own {
        std::fs::remove_dir_all(&base)
            .with_context(|| format!("cannot remove {}", base.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
