//! Events per second of `Engine::matches` over the mixed corpus (SigmaHQ
//! regression events + ECS events), with 100 rules and with every SigmaHQ
//! rule, through the Windows and ECS pipelines.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ward_sigma::{Engine, Pipeline, RuleSet};

// The allocator the `ward` binary runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "corpus.rs"]
mod corpus;

fn pipelines() -> Vec<Pipeline> {
    ["windows-raw.yml", "ward-ecs.yml"]
        .iter()
        .filter_map(|f| Pipeline::load(&corpus::pipeline_path(f)).ok())
        .collect()
}

fn rule_dirs() -> Vec<PathBuf> {
    [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
        "rules-placeholder",
    ]
    .iter()
    .map(|d| corpus::data_dir().join(d))
    .collect()
}

fn bench(c: &mut Criterion) {
    let events = corpus::mixed();
    let (all, _) = RuleSet::load_paths(&rule_dirs(), &pipelines());
    // 100 rules: the first 100 process_creation rules in load order.
    let dir = tempfile::tempdir().ok();
    let (hundred, _) = match &dir {
        Some(d) => {
            let mut n = 0;
            for m in all.rules() {
                if n >= 100 || m.logsource.category.as_deref() != Some("process_creation") {
                    continue;
                }
                if let Ok(text) = std::fs::read_to_string(&m.origin) {
                    let _ = std::fs::write(d.path().join(format!("{n}.yml")), text);
                    n += 1;
                }
            }
            RuleSet::load_paths(&[d.path().to_path_buf()], &pipelines())
        }
        None => (RuleSet::default(), Vec::new()),
    };
    let mut g = c.benchmark_group("matches");
    g.throughput(Throughput::Elements(events.len() as u64));
    for (name, set) in [("100_rules", &hundred), ("all_sigmahq_rules", &all)] {
        let engine = Engine::new(set);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut hits = 0;
                for e in &events {
                    hits += engine.matches(black_box(e)).len();
                }
                hits
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
