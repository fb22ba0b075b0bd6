//! Throughput of the engine on an NDJSON file, measured the way a
//! command-line peer is measured: parse each line and match it.
//!
//! ```text
//! cargo run --release -p ward-sigma --example throughput -- corpus OUT.ndjson [raw|flat] [COPIES]
//! cargo run --release -p ward-sigma --example throughput -- run RULES_DIR EVENTS.ndjson [--pipelines]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use ward_sigma::{Engine, Pipeline, RuleSet};

#[path = "../benches/corpus.rs"]
mod corpus;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("corpus") => {
            let flat = args.get(2).map(String::as_str) == Some("flat");
            let copies: usize = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(1);
            let mut out = std::io::BufWriter::new(std::fs::File::create(&args[1]).unwrap());
            let events = corpus::mixed();
            for _ in 0..copies {
                for e in &events {
                    let e = if flat {
                        corpus::flatten_windows(e)
                    } else {
                        e.clone()
                    };
                    writeln!(out, "{e}").unwrap();
                }
            }
        }
        Some("run") => {
            let pipelines: Vec<Pipeline> = if args.iter().any(|a| a == "--pipelines") {
                ["windows-raw.yml", "ward-ecs.yml"]
                    .iter()
                    .map(|f| Pipeline::load(&corpus::pipeline_path(f)).unwrap())
                    .collect()
            } else {
                Vec::new()
            };
            let t0 = Instant::now();
            let (set, errors) = RuleSet::load_paths(&[PathBuf::from(&args[1])], &pipelines);
            let engine = Engine::new(&set);
            let load = t0.elapsed();
            let text = std::fs::read_to_string(&args[2]).unwrap();
            let t1 = Instant::now();
            let (mut n, mut hits) = (0usize, 0usize);
            for line in text.lines() {
                let ev: serde_json::Value = serde_json::from_str(line).unwrap();
                hits += engine.matches(&ev).len();
                n += 1;
            }
            let el = t1.elapsed();
            println!(
                "rules={} errors={} load={:.2}s events={n} matches={hits} match_time={:.3}s events_per_s={:.0}",
                set.len(),
                errors.len(),
                load.as_secs_f64(),
                el.as_secs_f64(),
                n as f64 / el.as_secs_f64()
            );
        }
        _ => eprintln!(
            "usage: throughput corpus OUT [raw|flat] [COPIES] | run RULES EVENTS [--pipelines]"
        ),
    }
}
