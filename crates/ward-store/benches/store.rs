//! ward-store benchmarks: durable append with 32 sender threads, selective
//! search, `count by` aggregation, `verify` throughput, bytes per event.
//!
//! Data sets are generated once into `$CARGO_TARGET_DIR/ward-store-bench/`
//! and reused. Sizes: `WARD_BENCH_EVENTS` (default 1,000,000) for the
//! aggregation and verify sets, `WARD_BENCH_BIG_EVENTS` (default 1,000,000;
//! 10,000,000 for the README figures) for the rare-user search.
//!
//! `verify` throughput is in MB/s of uncompressed record bytes (the data
//! that is checksummed and hashed); the file bytes are printed beside it.
//! `primitives` measures SHA-256 and crc32c on one core, the ceiling of
//! `verify` per core. `WARD_BENCH_ONCE=verify|count_by` runs one operation
//! once and exits, for `valgrind --tool=callgrind`.
//!
//! `cargo bench -p ward-store --bench store`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ward_store::{Record, SearchOptions, Store, StoreConfig, query};

const T0: i64 = 1_767_225_600_000;
const RARE_USER: &str = "mallory.rare";
/// Ten rare events per million.
const RARE_EVERY: u64 = 100_000;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Safari/605.1.15",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
];
const ACTIONS: &[(&str, &str)] = &[
    ("authentication", "login"),
    ("authentication", "logout"),
    ("web", "request"),
    ("iam", "role-assigned"),
    ("file", "read"),
    ("database", "query"),
];

/// A realistic ~400-byte event: random ids, times, addresses and numbers.
fn event(rng: &mut Rng, i: u64, user_override: Option<&str>) -> Record {
    let id = format!("{:016x}{:016x}", i, rng.next());
    let time_ms = T0 + i as i64 * 3 + rng.below(1000) as i64;
    let user = user_override.map_or_else(|| format!("user{}", rng.below(20_000)), str::to_owned);
    let ip = format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.below(256)
    );
    let host = format!("web-{:03}", rng.below(200));
    let (cat, action) = ACTIONS[rng.below(ACTIONS.len() as u64) as usize];
    let status = [200, 200, 200, 201, 302, 401, 403, 404, 500][rng.below(9) as usize];
    let ts = jiff::Timestamp::from_millisecond(time_ms).unwrap();
    let service = ["checkout", "auth", "search", "billing"][rng.below(4) as usize];
    let body = serde_json::json!({
        "@timestamp": ts.to_string(),
        "event": {"id": id, "category": [cat], "action": action, "outcome": if status < 400 {"success"} else {"failure"}, "duration": rng.below(5_000_000)},
        "user": {"name": user, "id": format!("u{}", rng.below(100_000))},
        "source": {"ip": ip, "port": 1024 + rng.below(60_000)},
        "host": {"name": host},
        "service": {"name": service},
        "http": {"request": {"method": "GET"}, "response": {"status_code": status, "bytes": rng.below(100_000)}},
        "url": {"path": format!("/api/v1/orders/{}", rng.below(1_000_000))},
        "user_agent": {"original": AGENTS[rng.below(AGENTS.len() as u64) as usize]},
        "trace": {"id": format!("{:016x}", rng.next())},
        "log": {"level": "INFO"}
    });
    let b = &body;
    let s = |p: &[&str]| {
        let mut v = b;
        for k in p {
            v = &v[*k];
        }
        v.as_str().unwrap_or_default().to_owned()
    };
    Record {
        id,
        time_ms,
        category: vec![cat.to_owned()],
        terms: vec![
            ("user.name".into(), s(&["user", "name"])),
            ("user.id".into(), s(&["user", "id"])),
            ("source.ip".into(), s(&["source", "ip"])),
            ("host.name".into(), s(&["host", "name"])),
            ("service.name".into(), s(&["service", "name"])),
            ("event.action".into(), action.to_owned()),
        ],
        body: serde_json::to_vec(&body).unwrap(),
    }
}

fn bench_dir(name: &str) -> PathBuf {
    let base =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| PathBuf::from("target"), PathBuf::from);
    base.join("ward-store-bench").join(name)
}

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        dir: dir.to_owned(),
        ..StoreConfig::default()
    }
}

/// Opens the data set of `n` events, generating it if needed.
fn dataset(n: u64, rare_every: u64) -> (Store, PathBuf) {
    let dir = bench_dir(&format!("events-{n}"));
    if dir.exists() {
        let (store, report) = Store::open(config(&dir)).unwrap();
        if report.records == n {
            return (store, dir);
        }
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!("generating {n} events in {}", dir.display());
    let started = Instant::now();
    let (store, _) = Store::open(config(&dir)).unwrap();
    let store = Arc::new(store);
    let threads = 2u64;
    let per = n / threads;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                let mut i = t * per;
                let end = if t == threads - 1 { n } else { (t + 1) * per };
                while i < end {
                    let batch_end = (i + 5000).min(end);
                    let batch: Vec<Record> = (i..batch_end)
                        .map(|k| {
                            let rare = rare_every > 0 && k % rare_every == rare_every / 2;
                            event(&mut rng, k, rare.then_some(RARE_USER))
                        })
                        .collect();
                    s.append(batch).unwrap();
                    i = batch_end;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    store.seal_now().unwrap();
    eprintln!("generated {n} events in {:?}", started.elapsed());
    let store = Arc::into_inner(store).unwrap();
    store.close().unwrap();
    let (store, _) = Store::open(config(&dir)).unwrap();
    (store, dir)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn append(c: &mut Criterion) {
    // tmpfs shows the CPU cost of the append path with fsync made free.
    let mut cases = vec![("disk", 1usize), ("disk", 16)];
    if Path::new("/dev/shm").is_dir() {
        cases.push(("tmpfs", 16));
    }
    for (medium, batch) in cases {
        let mut g = c.benchmark_group("append_fsync_32_threads");
        g.sample_size(10).measurement_time(Duration::from_secs(10));
        let per_thread = 2000 / batch as u64;
        g.throughput(Throughput::Elements(32 * per_thread * batch as u64));
        let dir = if medium == "tmpfs" {
            tempfile::tempdir_in("/dev/shm").unwrap()
        } else {
            std::fs::create_dir_all(bench_dir("")).unwrap();
            tempfile::tempdir_in(bench_dir("")).unwrap()
        };
        let (store, _) = Store::open(config(dir.path())).unwrap();
        let store = Arc::new(store);
        let mut rng = Rng(7);
        let template: Vec<Record> = (0..batch as u64)
            .map(|i| event(&mut rng, i, None))
            .collect();
        g.bench_function(format!("{medium}_batch_{batch}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Batches are built before the clock starts: only the
                    // store's work (and 32 thread starts) is measured.
                    let work: Vec<Vec<Vec<Record>>> = (0..32)
                        .map(|_| (0..per_thread).map(|_| template.clone()).collect())
                        .collect();
                    let started = Instant::now();
                    let hs: Vec<_> = work
                        .into_iter()
                        .map(|batches| {
                            let s = store.clone();
                            std::thread::spawn(move || {
                                for b in batches {
                                    s.append(b).unwrap();
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap();
                    }
                    total += started.elapsed();
                }
                total
            })
        });
        let st = store.stats();
        eprintln!(
            "append {medium} batch {batch}: {} fsyncs, mean group {:.1} records, max group {}",
            st.fsyncs, st.mean_group, st.max_group
        );
        g.finish();
    }
}

fn search_and_verify(c: &mut Criterion) {
    let n = env_u64("WARD_BENCH_EVENTS", 1_000_000);
    let (store, dir) = dataset(n, RARE_EVERY);
    let st = store.stats();
    eprintln!(
        "{n} events: {} bytes in {} segments = {:.1} bytes/event on disk",
        st.bytes,
        st.segments,
        st.bytes as f64 / n as f64
    );
    let mut g = c.benchmark_group("aggregate");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n));
    let q = query::parse("| count by source.ip").unwrap();
    g.bench_function(format!("count_by_source_ip_{n}"), |b| {
        b.iter(|| store.search(&q, &SearchOptions::default()).unwrap())
    });
    g.finish();

    // Throughput is reported in MB/s (10^6 bytes) of uncompressed record
    // bytes, the leaf data that is checksummed and hashed; the file bytes
    // read (compressed) are printed so the figure can be converted.
    let key = std::fs::read_to_string(dir.join("key/verifier.pub")).unwrap();
    let probe = ward_store::verify(&dir).unwrap();
    assert!(probe.ok(), "{:?}", probe.problems);
    eprintln!(
        "verify reads {} records: {} record bytes (uncompressed), {} file bytes; throughput below is record bytes",
        probe.records, probe.record_bytes, probe.bytes
    );
    let mut g = c.benchmark_group("verify");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::BytesDecimal(probe.record_bytes));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [cores, 1] {
        let name = if threads == cores {
            format!("verify_{n}")
        } else {
            format!("verify_{n}_1_thread")
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = ward_store::verify_with_threads(&dir, &key, threads).unwrap();
                assert!(r.ok());
                r
            })
        });
    }
    g.finish();
    drop(store);

    let big = env_u64("WARD_BENCH_BIG_EVENTS", 1_000_000);
    let (store, _) = dataset(big, RARE_EVERY);
    let mut g = c.benchmark_group("search");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let q = query::parse(&format!("user.name:{RARE_USER}")).unwrap();
    let res = store.search(&q, &SearchOptions::default()).unwrap();
    eprintln!(
        "rare user over {big}: {} hits, {} blocks scanned, {} skipped",
        res.hits.len(),
        res.blocks_scanned,
        res.blocks_skipped
    );
    assert_eq!(res.hits.len() as u64, (big / RARE_EVERY).min(100));
    g.bench_function(format!("rare_user_{big}"), |b| {
        b.iter(|| store.search(&q, &SearchOptions::default()).unwrap())
    });
    g.finish();
}

/// Raw speed of the primitives `verify` is built from, on one core: the
/// ceiling for its per-core throughput.
fn primitives(c: &mut Criterion) {
    use sha2::Digest;
    let mut g = c.benchmark_group("primitives");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    g.throughput(Throughput::BytesDecimal(data.len() as u64));
    g.bench_function("sha256_1MiB", |b| b.iter(|| sha2::Sha256::digest(&data)));
    g.bench_function("crc32c_1MiB", |b| b.iter(|| crc32c::crc32c(&data)));
    g.finish();
}

/// `WARD_BENCH_ONCE=verify|count_by` runs that operation once on the
/// default data set and exits: a fixed amount of work for
/// `valgrind --tool=callgrind` instruction counts.
fn once(what: &str) {
    let n = env_u64("WARD_BENCH_EVENTS", 1_000_000);
    let (store, dir) = dataset(n, RARE_EVERY);
    let started = Instant::now();
    match what {
        "verify" => {
            drop(store);
            let r = ward_store::verify(&dir).unwrap();
            assert!(r.ok(), "{:?}", r.problems);
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "verify: {} records in {secs:.3} s: {:.0} MB/s of records ({} bytes), {:.0} MB/s of files ({} bytes)",
                r.records,
                r.record_bytes as f64 / secs / 1e6,
                r.record_bytes,
                r.bytes as f64 / secs / 1e6,
                r.bytes
            );
        }
        "count_by" => {
            let q = query::parse("| count by source.ip").unwrap();
            let r = store.search(&q, &SearchOptions::default()).unwrap();
            eprintln!("count by: {} matched in {:?}", r.matched, started.elapsed());
        }
        other => panic!("WARD_BENCH_ONCE: unknown operation {other:?}"),
    }
}

criterion_group!(benches, append, search_and_verify, primitives);

fn main() {
    if let Ok(what) = std::env::var("WARD_BENCH_ONCE") {
        once(&what);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
