//! Finding → alert → routed → notification handed to a local webhook
//! (in-process axum server on loopback), end to end through the durable
//! outbox. Prints p50/p99 besides criterion's mean.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::mpsc;
use ward_alert::{AlertingConfig, Engine, Finding};

fn finding(i: u64) -> Finding {
    Finding {
        id: format!("bench-{i}"),
        rule_id: "bench".into(),
        rule_title: "Bench rule".into(),
        level: "high".into(),
        tags: vec![],
        description: "bench".into(),
        group_key: BTreeMap::from([("user.name".to_string(), format!("u{i}"))]),
        evidence: vec![format!("e{i}")],
        first_seen: "2026-01-05T08:59:00Z".into(),
        last_seen: "2026-01-05T08:59:30Z".into(),
        labels: BTreeMap::from([("service.name".to_string(), "checkout".to_string())]),
        runbook: None,
        value: None,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (got_tx, mut got_rx) = mpsc::unbounded_channel::<()>();
    let (engine, _audit_rx) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(move || {
            let tx = got_tx.clone();
            async move {
                let _ = tx.send(());
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let cfg: AlertingConfig = toml::from_str(&format!(
            r#"
allow_private_destinations = true
[[receivers]]
name = "hook"
[[receivers.webhook_configs]]
url = "http://{addr}/hook"
secret = "k"
[route]
receiver = "hook"
group_by = ["..."]
group_wait = "0s"
"#
        ))
        .unwrap();
        let (tx, rx) = mpsc::channel(1 << 20);
        (Engine::start(&cfg, dir.path(), None, tx).await.unwrap(), rx)
    });
    let mut n = 0u64;
    let mut samples = Vec::new();
    c.bench_function("finding_to_webhook", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let f = finding(n);
                let t = Instant::now();
                rt.block_on(async {
                    engine.on_finding(f).await.unwrap();
                    got_rx.recv().await.unwrap();
                });
                let d = t.elapsed();
                samples.push(d);
                total += d;
            }
            total
        })
    });
    samples.sort();
    if !samples.is_empty() {
        let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
        println!(
            "finding_to_webhook: n={} p50={:?} p99={:?} max={:?}",
            samples.len(),
            p(0.50),
            p(0.99),
            samples[samples.len() - 1]
        );
    }
    rt.block_on(engine.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(10));
    targets = bench
}
criterion_main!(benches);
