//! Throughput of `redact_event` and `redact_text` with every detector on.
//!
//! Input: typical ~400-byte ECS events, mostly benign (1 in 20 carries a
//! secret or personal value), parsed beforehand so that only redaction is
//! measured. Run: `cargo bench -p ward-redact --bench redact`.
#![allow(clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value};
use ward_redact::{RedactConfig, Redactor};

// The allocator the `ward` binary runs with: redaction rebuilds the
// strings it changes, so the figure depends on it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn event(i: usize) -> String {
    let secret = match i % 20 {
        0 => format!(
            r#", "url": {{"full": "https://api.example.com/v1/orders?token=tk_{i:08}a9Fq2Lx7&page=2"}}"#
        ),
        10 => r#", "error": {"message": "charge failed for card 4242 4242 4242 4242"}"#.to_string(),
        _ => String::new(),
    };
    format!(
        r#"{{"@timestamp": "2026-11-22T10:{:02}:{:02}.{:03}Z", "service": {{"name": "checkout-api"}}, "event": {{"category": ["web"], "type": ["access"], "action": "http_request", "outcome": "success"}}, "log": {{"level": "INFO"}}, "user": {{"id": "u-{:06}", "name": "user{}"}}, "session": {{"id": "s-{:012x}"}}, "source": {{"ip": "10.{}.{}.{}"}}, "http": {{"request": {{"method": "GET"}}, "response": {{"status_code": 200}}}}, "trace": {{"id": "{:032x}"}}, "message": "GET /api/v1/orders/{} completed in {} ms"{}}}"#,
        i % 60,
        (i / 60) % 60,
        i % 1000,
        i,
        i % 977,
        i * 7919,
        i % 256,
        (i / 256) % 256,
        i % 200,
        i as u128 * 0x9e37_79b9_7f4a_7c15,
        i * 31,
        i % 500,
        secret
    )
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::new(&RedactConfig::default()).expect("default config is valid");
    let texts: Vec<String> = (0..1000).map(event).collect();
    let events: Vec<Map<String, Value>> = texts
        .iter()
        .map(|t| serde_json::from_str(t).expect("valid json"))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("event_1000_typical", |b| {
        b.iter_batched(
            || events.clone(),
            |mut evs| {
                for ev in &mut evs {
                    std::hint::black_box(redactor.redact_event(ev, b"tenant-key"));
                }
                evs
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("text_1000_typical", |b| {
        b.iter(|| {
            for t in &texts {
                std::hint::black_box(redactor.redact_text(t, b"tenant-key"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
