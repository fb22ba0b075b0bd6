//! Prometheus metrics: counters and gauges keyed by name and labels, and
//! latency histograms, rendered in the text exposition format at `/metrics`.
//! Names follow `ward_<stage>_<thing>_total`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use parking_lot::Mutex;

type Key = (&'static str, Vec<(&'static str, String)>);

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// The process's metrics.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<Key, u64>>,
    gauges: Mutex<BTreeMap<Key, f64>>,
    histograms: Mutex<BTreeMap<Key, Histogram>>,
    help: Mutex<BTreeMap<&'static str, &'static str>>,
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    (
        name,
        labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
    )
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        *self.counters.lock().entry(key(name, labels)).or_default() += n;
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], v: f64) {
        self.gauges.lock().insert(key(name, labels), v);
    }

    /// Records one observation of a duration.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], d: Duration) {
        let secs = d.as_secs_f64();
        let mut h = self.histograms.lock();
        let h = h.entry(key(name, labels)).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Documents a metric in the `# HELP` line.
    pub fn describe(&self, name: &'static str, help: &'static str) {
        self.help.lock().insert(name, help);
    }

    /// The current value of a counter (for tests and status pages).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        self.counters
            .lock()
            .get(&key(name, labels))
            .copied()
            .unwrap_or(0)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let help = self.help.lock().clone();
        let mut out = String::new();
        let header = |out: &mut String, name: &str, kind: &str, last: &mut String| {
            if last != name {
                if let Some(h) = help.get(name) {
                    let _ = writeln!(out, "# HELP {name} {h}");
                }
                let _ = writeln!(out, "# TYPE {name} {kind}");
                *last = name.to_owned();
            }
        };
        let mut last = String::new();
        for ((name, labels), v) in self.counters.lock().iter() {
            header(&mut out, name, "counter", &mut last);
            let _ = writeln!(out, "{name}{} {v}", fmt_labels(labels, None));
        }
        for ((name, labels), v) in self.gauges.lock().iter() {
            header(&mut out, name, "gauge", &mut last);
            let _ = writeln!(out, "{name}{} {v}", fmt_labels(labels, None));
        }
        for ((name, labels), h) in self.histograms.lock().iter() {
            header(&mut out, name, "histogram", &mut last);
            for (i, b) in BUCKETS.iter().enumerate() {
                let le = b.to_string();
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    fmt_labels(labels, Some(&le)),
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                fmt_labels(labels, Some("+Inf")),
                h.count
            );
            let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(labels, None), h.sum);
            let _ = writeln!(out, "{name}_count{} {}", fmt_labels(labels, None), h.count);
        }
        out
    }
}

fn fmt_labels(labels: &[(&'static str, String)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let m = Metrics::default();
        m.describe("ward_ingest_events_total", "events received");
        m.add("ward_ingest_events_total", &[("input", "http")], 3);
        m.add("ward_ingest_events_total", &[("input", "http")], 2);
        m.set("ward_pipeline_queue_depth", &[], 4.0);
        m.observe(
            "ward_pipeline_latency_seconds",
            &[],
            Duration::from_millis(3),
        );
        let text = m.render();
        assert!(text.contains("# HELP ward_ingest_events_total events received"));
        assert!(text.contains("ward_ingest_events_total{input=\"http\"} 5"));
        assert!(text.contains("ward_pipeline_queue_depth 4"));
        assert!(text.contains("ward_pipeline_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("ward_pipeline_latency_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("ward_pipeline_latency_seconds_count 1"));
    }
}
