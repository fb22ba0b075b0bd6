//! Decode + normalize throughput per core, reported as events/s.
//!
//! Run: `cargo bench -p ward-event --bench decode`
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use ward_event::{Limits, bulk, hec, ndjson, otlp, syslog};

// The allocator the `ward` binary runs with: decoding allocates for every
// field, so the figure depends on it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 1000;

/// ~300-byte events in the logging standard's flat shape, varied so that
/// every family and several spellings are exercised.
fn flat_events() -> Vec<String> {
    let actions = [
        "login_failed",
        "role_assigned",
        "file_export",
        "config_change",
        "ai.prompt",
        "service_stop",
    ];
    let levels = ["info", "WARNING", "err", "INFO", "debug", "critical"];
    (0..N)
        .map(|i| {
            format!(
                concat!(
                    r#"{{"timestamp":"2024-01-26T10:{:02}:{:02}.{:03}Z","service":"auth-api-{}","event_type":"{}","#,
                    r#""severity":"{}","user_id":"user-{:05}","session_id":"sess-{:08x}","source_ip":"10.{}.{}.{}","#,
                    r#""outcome":"{}","correlation_id":"3f2a9c1e-{:04x}-4e1b-9a77-{:012x}","#,
                    r#""message":"request handled by worker {} in {} ms","http_status":{}}}"#
                ),
                i / 60 % 60, i % 60, i % 1000, i % 7, actions[i % actions.len()], levels[i % levels.len()],
                i, i * 7919, i % 256, (i / 3) % 256, (i / 7) % 256,
                if i % 3 == 0 { "failure" } else { "success" }, i, i * 31, i % 16, i % 900, 200 + i % 4
            )
        })
        .collect()
}

fn ecs_events() -> Vec<String> {
    (0..N)
        .map(|i| {
            format!(
                concat!(
                    r#"{{"@timestamp":"2024-01-26T10:00:{:02}.{:03}Z","service":{{"name":"gateway"}},"#,
                    r#""event":{{"action":"user.login","outcome":"success","category":["authentication"]}},"#,
                    r#""log":{{"level":"INFO"}},"user":{{"id":"u-{}","name":"user{}"}},"#,
                    r#""source":{{"ip":"192.0.2.{}","port":{}}},"trace":{{"id":"{:032x}"}},"message":"login ok"}}"#
                ),
                i % 60, i % 1000, i, i, i % 256, 1024 + i, i * 7777
            )
        })
        .collect()
}

fn bench_ndjson(c: &mut Criterion) {
    let limits = Limits::default();
    let flat = flat_events().join("\n");
    let ecs = ecs_events().join("\n");
    let mut g = c.benchmark_group("ndjson");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(format!("flat_{}B", flat.len() / N), |b| {
        b.iter(|| ndjson::decode(black_box(flat.as_bytes()), &limits))
    });
    g.bench_function(format!("ecs_{}B", ecs.len() / N), |b| {
        b.iter(|| ndjson::decode(black_box(ecs.as_bytes()), &limits))
    });
    g.bench_function("serde_json_value_only", |b| {
        b.iter(|| {
            flat.lines()
                .filter(|l| serde_json::from_str::<serde_json::Value>(black_box(l)).is_ok())
                .count()
        })
    });
    g.finish();
}

fn bench_syslog(c: &mut Criterion) {
    let received = "2024-10-12T00:00:00Z".parse().unwrap();
    let rfc5424: Vec<String> = (0..N)
        .map(|i| format!(
            "<165>1 2024-10-11T22:14:{:02}.003Z host-{}.example.com sshd {} ID47 [origin ip=\"192.0.2.{}\" seq=\"{}\"] Accepted publickey for deploy from 192.0.2.{} port {} ssh2",
            i % 60, i % 10, 1000 + i, i % 256, i, i % 256, 40000 + i
        ))
        .collect();
    let rfc3164: Vec<String> = (0..N)
        .map(|i| format!(
            "<38>Oct 11 22:14:{:02} host-{} sshd[{}]: Failed password for invalid user admin from 192.0.2.{} port {} ssh2",
            i % 60, i % 10, 1000 + i, i % 256, 40000 + i
        ))
        .collect();
    let mut g = c.benchmark_group("syslog");
    g.throughput(Throughput::Elements(N as u64));
    for (name, lines) in [("rfc5424", &rfc5424), ("rfc3164", &rfc3164)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                lines
                    .iter()
                    .filter(|l| syslog::parse(black_box(l.as_bytes()), received).is_ok())
                    .count()
            })
        });
    }
    let mut stream = Vec::new();
    for l in &rfc5424 {
        stream.extend_from_slice(format!("{} {l}", l.len()).as_bytes());
    }
    g.bench_function("framer_octet_counted", |b| {
        b.iter(|| {
            let mut f = syslog::Framer::new(&Limits::default());
            stream
                .chunks(16 * 1024)
                .map(|c| f.push(black_box(c)).len())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn bench_other(c: &mut Criterion) {
    let limits = Limits::default();
    let events = flat_events();
    let bulk_body: String = events
        .iter()
        .map(|e| format!("{{\"index\":{{\"_index\":\"logs\"}}}}\n{e}\n"))
        .collect();
    let hec_body: String = events
        .iter()
        .map(|e| format!("{{\"event\":{e},\"host\":\"h\"}}"))
        .collect();
    let otlp_body = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"api"}}}}]}},"scopeLogs":[{{"logRecords":[{}]}}]}}]}}"#,
        (0..N)
            .map(|i| format!(
                r#"{{"timeUnixNano":"{}","severityNumber":9,"body":{{"stringValue":"request {i} done"}},"attributes":[{{"key":"enduser.id","value":{{"stringValue":"u{i}"}}}},{{"key":"event.action","value":{{"stringValue":"login"}}}}],"traceId":"5b8efff798038103d269b633813fc60c"}}"#,
                1_706_263_200_000_000_000u64 + i as u64
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut g = c.benchmark_group("other");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("bulk", |b| {
        b.iter(|| bulk::decode(black_box(bulk_body.as_bytes()), &limits))
    });
    g.bench_function("hec_event", |b| {
        b.iter(|| hec::decode_event(black_box(hec_body.as_bytes()), &limits))
    });
    g.bench_function("otlp_json", |b| {
        b.iter(|| otlp::decode_json(black_box(otlp_body.as_bytes()), &limits))
    });
    g.finish();
}

/// The decoded (not yet recognized) fixture records of each recognizer in
/// `tests/fixtures/recognize/`, decoded as their input would be.
fn recognizer_fixtures() -> Vec<(String, Vec<ward_event::Event>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recognize");
    let limits = Limits::default();
    let received = "2023-10-16T00:00:00Z".parse().unwrap();
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let mut events = Vec::new();
            for file in std::fs::read_dir(&dir).unwrap() {
                let file = file.unwrap().path();
                let body = std::fs::read(&file).unwrap();
                match file.extension().and_then(|e| e.to_str()) {
                    Some("ndjson") => {
                        events.extend(ndjson::decode(&body, &limits).into_iter().flatten())
                    }
                    Some("log") => events.extend(
                        ward_event::text::decode(&body, &limits)
                            .into_iter()
                            .flatten(),
                    ),
                    Some("syslog") => events.extend(
                        body.split(|b| *b == b'\n')
                            .filter(|l| !l.is_empty())
                            .filter_map(|l| syslog::parse(l, received).ok()),
                    ),
                    _ => {}
                }
            }
            (
                dir.file_name().unwrap().to_string_lossy().into_owned(),
                events,
            )
        })
        .collect()
}

/// Recognition alone (`ward_event::recognize::recognize`, as `finalize`
/// runs it), per event of each source; `unrecognized` is what an ordinary
/// application event pays for every recognizer to decline it.
fn bench_recognize(c: &mut Criterion) {
    use criterion::BatchSize;
    let mut g = c.benchmark_group("recognize");
    let mut sources = recognizer_fixtures();
    let limits = Limits::default();
    let plain: Vec<_> = ndjson::decode(flat_events().join("\n").as_bytes(), &limits)
        .into_iter()
        .take(64)
        .flatten()
        .collect();
    sources.push(("unrecognized".into(), plain));
    for (name, events) in sources {
        if events.is_empty() {
            continue;
        }
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_function(name, |b| {
            b.iter_batched(
                || events.clone(),
                |mut batch| {
                    for e in &mut batch {
                        black_box(ward_event::recognize::recognize(e, None));
                    }
                    batch
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench_ndjson, bench_syslog, bench_other, bench_recognize
}
criterion_main!(benches);
