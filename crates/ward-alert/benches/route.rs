//! The pure routing path: a finding becomes an alert, joins its groups
//! through the routing tree, and its group is flushed into a notification
//! (silences, inhibition and the notification log consulted), with no I/O.
//! The end-to-end figure, from ingest to a webhook, is `ward bench alert-latency`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ward_alert::alert::owner::Registry;
use ward_alert::state::State;
use ward_alert::{AlertingConfig, Compiled, Finding};

fn finding(i: u64) -> Finding {
    Finding {
        id: format!("bench-{i}"),
        rule_id: "bench".into(),
        rule_title: "Bench rule".into(),
        level: if i.is_multiple_of(5) {
            "critical"
        } else {
            "high"
        }
        .into(),
        tags: vec![],
        description: "bench".into(),
        group_key: BTreeMap::from([("user.name".to_string(), format!("u{i}"))]),
        evidence: vec![format!("e{i}")],
        first_seen: "2026-01-05T08:59:00Z".into(),
        last_seen: "2026-01-05T08:59:30Z".into(),
        labels: BTreeMap::from([
            ("service.name".to_string(), format!("svc{}", i % 20)),
            ("host.name".to_string(), format!("h{}", i % 50)),
        ]),
        runbook: None,
        value: None,
    }
}

fn bench(c: &mut Criterion) {
    let cfg: AlertingConfig = toml::from_str(
        r#"
[[receivers]]
name = "default"
[[receivers]]
name = "pager"
[[receivers]]
name = "audit"
[route]
receiver = "default"
group_by = ["alertname", "host"]
[[route.routes]]
receiver = "audit"
matchers = ['severity=~"high|critical"', 'service=~"svc1.*"']
continue = true
[[route.routes]]
receiver = "pager"
matchers = ['severity="critical"']
[[inhibit_rules]]
source_matchers = ['alertname="Outage"']
target_matchers = ['severity="high"']
equal = ["host"]
"#,
    )
    .unwrap();
    let compiled = Compiled::compile(&cfg, None).unwrap();
    let now: jiff::Timestamp = "2026-01-05T09:00:00Z".parse().unwrap();
    let mut state = State::new(Registry(compiled.owners.clone()));
    let mut n = 0u64;
    c.bench_function("finding_routed_and_flushed", |b| {
        b.iter(|| {
            n += 1;
            let step = state
                .take_finding(&finding(n), None, &compiled.sla, now)
                .unwrap();
            let id = step.id.clone();
            state.commit_alert(step.alert.unwrap(), false);
            let created = state.route(&id, &compiled, None);
            for g in created {
                black_box(state.flush(&g.key, None, &compiled, now, format!("n{n}")));
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
