//! Prometheus metrics: counters and gauges keyed by name and labels, and
//! latency histograms, exposed at `/metrics` in the OpenMetrics text format.
//! Names follow `ward_<stage>_<thing>_total`.
//!
//! Built on `prometheus-client`, which owns the exposition format (escaping,
//! suffixes, `# EOF`). Each name is one metric family, created the first time
//! the name is used; `render` registers every family with its current help
//! text in a fresh registry, so a `describe` that comes after first use still
//! counts. Recording takes a read lock on the name map and the family's own
//! lock, never a lock shared by all metrics.
//!
//! Invariants: a name keeps the kind it was first used with (a later use as
//! another kind is ignored); counter names end in `_total`, which the family
//! is registered without because the encoder appends it again.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use parking_lot::RwLock;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// CPU time the calling thread has used so far (its
/// `CLOCK_THREAD_CPUTIME_ID`), for [`Metrics::stage_cpu`].
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Label names and values in the order the call site gives them.
type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The metric family behind one name.
#[derive(Clone)]
enum Series {
    Counter(Family<Labels, Counter>),
    Gauge(Family<Labels, Gauge<f64, AtomicU64>>),
    Histogram(Family<Labels, Histogram, fn() -> Histogram>),
}

/// The process's metrics.
#[derive(Default)]
pub struct Metrics {
    series: RwLock<HashMap<&'static str, Series>>,
    help: RwLock<HashMap<&'static str, &'static str>>,
}

fn label_set(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Metrics {
    /// Runs `f` on the family named `name`, creating it with `new` on first
    /// use. The common case, a family that exists, takes only a read lock.
    fn with(&self, name: &'static str, new: fn() -> Series, f: impl FnOnce(&Series)) {
        if let Some(s) = self.series.read().get(name) {
            return f(s);
        }
        let s = self.series.write().entry(name).or_insert_with(new).clone();
        f(&s)
    }

    /// Adds `n` to a counter.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        self.with(
            name,
            || Series::Counter(Family::default()),
            |s| match s {
                Series::Counter(f) => {
                    f.get_or_create(&label_set(labels)).inc_by(n);
                }
                _ => mismatch(name),
            },
        );
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], v: f64) {
        self.with(
            name,
            || Series::Gauge(Family::default()),
            |s| match s {
                Series::Gauge(f) => {
                    f.get_or_create(&label_set(labels)).set(v);
                }
                _ => mismatch(name),
            },
        );
    }

    /// Records one observation of a duration.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], d: Duration) {
        self.with(
            name,
            || Series::Histogram(Family::new_with_constructor(latency_histogram)),
            |s| match s {
                Series::Histogram(f) => {
                    f.get_or_create(&label_set(labels)).observe(d.as_secs_f64())
                }
                _ => mismatch(name),
            },
        );
    }

    /// Adds the CPU time the calling thread used since `since` (a
    /// [`thread_cpu`] reading taken on the same thread) to the stage's
    /// `ward_stage_cpu_nanoseconds_total`: divided by the events counted
    /// through the stage, the CPU per event of each stage, so that a
    /// regression shows where it happened.
    pub fn stage_cpu(&self, stage: &'static str, since: Duration) {
        self.add_cpu(stage, thread_cpu().saturating_sub(since));
    }

    /// Adds `used` (measured with [`thread_cpu`]) to the stage's
    /// `ward_stage_cpu_nanoseconds_total`, as [`Metrics::stage_cpu`] does.
    pub fn add_cpu(&self, stage: &'static str, used: Duration) {
        self.add(
            "ward_stage_cpu_nanoseconds_total",
            &[("stage", stage)],
            u64::try_from(used.as_nanos()).unwrap_or(u64::MAX),
        );
    }

    /// Documents a metric in the `# HELP` line; a metric never described is
    /// documented by its name.
    pub fn describe(&self, name: &'static str, help: &'static str) {
        self.help.write().insert(name, help);
    }

    /// The current value of a counter (for tests and status pages).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        match self.series.read().get(name) {
            Some(Series::Counter(f)) => f.get(&label_set(labels)).map_or(0, |c| c.get()),
            _ => 0,
        }
    }

    /// The current value of a gauge, if it was ever set.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Option<f64> {
        match self.series.read().get(name) {
            Some(Series::Gauge(f)) => f.get(&label_set(labels)).map(|g| g.get()),
            _ => None,
        }
    }

    /// The OpenMetrics text exposition ([`CONTENT_TYPE`]), families sorted
    /// by name.
    pub fn render(&self) -> String {
        let series: BTreeMap<&'static str, Series> = self
            .series
            .read()
            .iter()
            .map(|(name, s)| (*name, s.clone()))
            .collect();
        let help = self.help.read().clone();
        let mut registry = Registry::default();
        for (name, s) in series {
            let text = help.get(name).copied().unwrap_or(name);
            match s {
                Series::Counter(f) => {
                    registry.register(name.strip_suffix("_total").unwrap_or(name), text, f)
                }
                Series::Gauge(f) => registry.register(name, text, f),
                Series::Histogram(f) => registry.register(name, text, f),
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// A name used as two kinds of metric is a bug at the call site; outside
/// debug builds the second use is dropped rather than corrupt the exposition.
fn mismatch(name: &'static str) {
    debug_assert!(false, "metric {name} used as two kinds");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample lines of `text`, without HELP, TYPE and EOF.
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

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
        assert!(text.contains("# HELP ward_ingest_events events received."));
        assert!(text.contains("ward_ingest_events_total{input=\"http\"} 5\n"));
        assert!(text.contains("ward_pipeline_queue_depth 4.0\n"));
        assert!(text.contains("ward_pipeline_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("ward_pipeline_latency_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("ward_pipeline_latency_seconds_count 1\n"));
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(
            m.counter("ward_ingest_events_total", &[("input", "http")]),
            5
        );
        assert_eq!(
            m.counter("ward_ingest_events_total", &[("input", "kafka")]),
            0
        );
        assert_eq!(m.counter("ward_pipeline_queue_depth", &[]), 0);
    }

    #[test]
    fn counter_names_are_exposed_unchanged() {
        let m = Metrics::default();
        m.add(
            "ward_ingest_received_total",
            &[("input", "http"), ("source", "default")],
            2,
        );
        m.add("ward_alert_findings_total", &[], 0);
        let text = m.render();
        assert_eq!(
            samples(&text),
            [
                "ward_alert_findings_total 0",
                "ward_ingest_received_total{input=\"http\",source=\"default\"} 2",
            ],
            "{text}"
        );
        assert!(
            text.contains("# TYPE ward_ingest_received counter\n"),
            "{text}"
        );
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.add(
            "ward_ingest_received_total",
            &[("source", "a\"b\\c\nd} 99\nward_fake_total 1")],
            1,
        );
        let text = m.render();
        assert_eq!(
            samples(&text),
            [r#"ward_ingest_received_total{source="a\"b\\c\nd} 99\nward_fake_total 1"} 1"#],
            "{text}"
        );
        assert_eq!(
            m.counter(
                "ward_ingest_received_total",
                &[("source", "a\"b\\c\nd} 99\nward_fake_total 1")]
            ),
            1
        );
    }

    #[test]
    fn histograms_keep_the_latency_buckets() {
        let m = Metrics::default();
        for ms in [0, 3, 30, 20_000] {
            m.observe(
                "ward_pipeline_latency_seconds",
                &[("input", "http")],
                Duration::from_millis(ms),
            );
        }
        let text = m.render();
        // The encoder puts `le` first among the labels.
        let buckets: Vec<(&str, u64)> = samples(&text)
            .into_iter()
            .filter_map(|l| l.strip_prefix("ward_pipeline_latency_seconds_bucket{le=\""))
            .filter_map(|l| {
                let (le, n) = l.split_once("\",input=\"http\"} ")?;
                Some((le, n.parse().ok()?))
            })
            .collect();
        assert_eq!(
            buckets,
            [
                ("0.001", 1),
                ("0.0025", 1),
                ("0.005", 2),
                ("0.01", 2),
                ("0.025", 2),
                ("0.05", 3),
                ("0.1", 3),
                ("0.25", 3),
                ("0.5", 3),
                ("1.0", 3),
                ("2.5", 3),
                ("10.0", 3),
                ("+Inf", 4),
            ],
            "{text}"
        );
        assert!(
            text.contains("ward_pipeline_latency_seconds_sum{input=\"http\"} 20.033\n"),
            "{text}"
        );
        assert!(
            text.contains("ward_pipeline_latency_seconds_count{input=\"http\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE ward_pipeline_latency_seconds histogram\n"),
            "{text}"
        );
    }

    #[test]
    fn gauges_hold_the_last_value_set() {
        let m = Metrics::default();
        m.set("ward_store_records", &[], 7.0);
        m.set("ward_store_records", &[], 3.0);
        m.set(
            "ward_alert_sla_compliance_ratio",
            &[("severity", "high")],
            0.25,
        );
        let text = m.render();
        assert!(text.contains("# TYPE ward_store_records gauge\n"), "{text}");
        assert_eq!(
            samples(&text),
            [
                "ward_alert_sla_compliance_ratio{severity=\"high\"} 0.25",
                "ward_store_records 3.0",
            ],
            "{text}"
        );
    }

    #[test]
    fn help_comes_from_describe_whenever_it_is_called() {
        let m = Metrics::default();
        m.set("ward_ready", &[], 1.0);
        m.set("ward_pipeline_queue_depth", &[], 0.0);
        m.describe("ward_pipeline_queue_depth", "batches waiting");
        let text = m.render();
        assert!(text.contains("# HELP ward_ready ward_ready.\n"), "{text}");
        assert!(
            text.contains("# HELP ward_pipeline_queue_depth batches waiting.\n"),
            "{text}"
        );
    }
}
