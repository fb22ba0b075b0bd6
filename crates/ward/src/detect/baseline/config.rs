//! `[detect.baseline]`: which entities are learned, for how long, and how
//! far from its own habits an entity must stray before a deviation is
//! written. Every setting has a default that suits a small company; the
//! defaults are documented in `docs/baselines.md`.

use serde::Deserialize;

use crate::config::{Problem, parse_duration};

/// `[detect.baseline]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Learn baselines and write `ward.baseline.*` deviation fields.
    pub enabled: bool,
    /// Event time over which an entity must have been seen before any of its
    /// deviations is written, e.g. "7d" (one full week of habits).
    pub learning_period: String,
    /// Events an entity must have before any of its deviations is written.
    pub min_events: u64,
    /// The entities learned, in order; the first one present in an event is
    /// its primary entity (`ward.baseline.entity`).
    pub entities: Vec<EntityConfig>,
    /// An hour of the day is unusual for an entity when the entity's
    /// smoothed share of events in that hour is below this probability.
    pub unusual_hour_probability: f64,
    /// Poisson z-score of the events in the current hour, against the
    /// entity's usual count for this hour of the week, that makes a spike.
    pub rate_zscore: f64,
    /// A spike also needs at least this many events in the hour.
    pub rate_min_events: u64,
    /// A spike also needs this many times the usual count for the hour.
    pub rate_min_ratio: f64,
    /// Fields whose size is the volume an event accessed: an array counts
    /// its items (`ai.context.files`), a number its value.
    pub volume_fields: Vec<String>,
    /// Length of one volume interval, e.g. "1h".
    pub volume_interval: String,
    /// z-score of the current interval's volume, against the entity's past
    /// active intervals, that makes bulk access.
    pub volume_zscore: f64,
    /// Bulk access also needs at least this volume in the interval.
    pub volume_min_items: f64,
    /// Bulk access also needs this many times the largest past interval.
    pub volume_max_ratio: f64,
    /// Past active intervals an entity needs before bulk access is judged.
    pub volume_min_intervals: u64,
    /// Significance level of the one-sided test "AI-generated endpoints fail
    /// more often than human-written ones of the same service".
    pub error_rate_alpha: f64,
    /// Requests an endpoint's AI-generated code, and the human-written code
    /// it is compared with, each need before the test runs.
    pub error_rate_min_requests: u64,
    /// Counts are halved when a group passes this many requests, so that
    /// the test follows recent behaviour.
    pub error_rate_window: u64,
    /// Most entities kept; the least recently seen are forgotten first.
    pub max_entities: usize,
    /// Most remembered values per entity and first-seen field; the least
    /// recently seen are forgotten first.
    pub max_values: usize,
    /// Most endpoints and services kept for the error-rate test.
    pub max_endpoints: usize,
}

/// One kind of entity, e.g. `{ kind = "user", fields = ["user.id", "user.name"] }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityConfig {
    /// Name of the kind, used in `ward.baseline.*.entity` (`user`, `ai_tool`).
    pub kind: String,
    /// Fields that identify the entity; the first one present is used.
    pub fields: Vec<String>,
    /// Learn the entity's usual hours and report unusual ones.
    #[serde(default)]
    pub hours: bool,
    /// Learn the event rate by hour of week and report spikes.
    #[serde(default)]
    pub rate: bool,
    /// Fields whose values are remembered; a value never seen before is
    /// reported. `source.network` is the /24 (IPv4) or /48 (IPv6) of
    /// `source.ip`.
    #[serde(default)]
    pub first_seen: Vec<String>,
    /// Learn the volume accessed per interval and report bulk access.
    #[serde(default)]
    pub volume: bool,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        BaselineConfig {
            enabled: true,
            learning_period: "7d".into(),
            min_events: 50,
            entities: vec![
                EntityConfig {
                    kind: "user".into(),
                    fields: strings(&["user.id", "user.name"]),
                    hours: true,
                    rate: true,
                    first_seen: strings(&[
                        "source.network",
                        "repository.name",
                        "ai.tool.name",
                        "user_agent.original",
                    ]),
                    volume: true,
                },
                EntityConfig {
                    kind: "ai_tool".into(),
                    fields: strings(&["ai.tool.name"]),
                    hours: false,
                    rate: true,
                    first_seen: strings(&["repository.name"]),
                    volume: true,
                },
                EntityConfig {
                    kind: "source".into(),
                    fields: strings(&["source.ip"]),
                    hours: false,
                    rate: true,
                    first_seen: Vec::new(),
                    volume: false,
                },
                EntityConfig {
                    kind: "service".into(),
                    fields: strings(&["service.name"]),
                    hours: false,
                    rate: true,
                    first_seen: Vec::new(),
                    volume: false,
                },
            ],
            unusual_hour_probability: 0.01,
            rate_zscore: 6.0,
            rate_min_events: 30,
            rate_min_ratio: 3.0,
            volume_fields: strings(&["ai.context.files", "data.records"]),
            volume_interval: "1h".into(),
            volume_zscore: 4.0,
            volume_min_items: 100.0,
            volume_max_ratio: 2.0,
            volume_min_intervals: 10,
            error_rate_alpha: 0.001,
            error_rate_min_requests: 30,
            error_rate_window: 10_000,
            max_entities: 10_000,
            max_values: 256,
            max_endpoints: 2_000,
        }
    }
}

impl BaselineConfig {
    /// Every problem at once; keys are relative to `[detect.baseline]`.
    pub fn validate(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: &str, value: String, fix: &str| {
            out.push(Problem {
                key: key.into(),
                value,
                fix: fix.into(),
            });
        };
        for (key, text) in [
            ("learning_period", &self.learning_period),
            ("volume_interval", &self.volume_interval),
        ] {
            match parse_duration(text) {
                Ok(d) if d.as_millis() == 0 => {
                    bad(key, text.clone(), "must be longer than zero, e.g. 7d or 1h");
                }
                Ok(_) => {}
                Err(e) => bad(key, text.clone(), &e),
            }
        }
        let p = self.unusual_hour_probability;
        if !(p > 0.0 && p < 1.0) {
            bad(
                "unusual_hour_probability",
                p.to_string(),
                "must be between 0 and 1, e.g. 0.01",
            );
        }
        let a = self.error_rate_alpha;
        if !(a > 0.0 && a < 0.5) {
            bad(
                "error_rate_alpha",
                a.to_string(),
                "must be between 0 and 0.5, e.g. 0.001",
            );
        }
        for (key, v) in [
            ("rate_zscore", self.rate_zscore),
            ("rate_min_ratio", self.rate_min_ratio),
            ("volume_zscore", self.volume_zscore),
            ("volume_max_ratio", self.volume_max_ratio),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bad(key, v.to_string(), "must be a positive number");
            }
        }
        if !(self.volume_min_items.is_finite() && self.volume_min_items >= 0.0) {
            bad(
                "volume_min_items",
                self.volume_min_items.to_string(),
                "must be zero or more",
            );
        }
        if self.error_rate_min_requests < 2 {
            bad(
                "error_rate_min_requests",
                self.error_rate_min_requests.to_string(),
                "must be at least 2 (30 or more gives a meaningful test)",
            );
        }
        if self.error_rate_window < 2 * self.error_rate_min_requests {
            bad(
                "error_rate_window",
                self.error_rate_window.to_string(),
                "must be at least twice error_rate_min_requests",
            );
        }
        for (key, v) in [
            ("max_entities", self.max_entities),
            ("max_values", self.max_values),
            ("max_endpoints", self.max_endpoints),
        ] {
            if v == 0 {
                bad(key, v.to_string(), "must be at least 1");
            }
        }
        let mut kinds = std::collections::BTreeSet::new();
        for (i, e) in self.entities.iter().enumerate() {
            if e.kind.trim().is_empty() || !kinds.insert(e.kind.as_str()) {
                bad(
                    &format!("entities[{i}].kind"),
                    format!("{:?}", e.kind),
                    "must be a non-empty name used by no other entity",
                );
            }
            if e.fields.is_empty() || e.fields.iter().any(|f| f.trim().is_empty()) {
                bad(
                    &format!("entities[{i}].fields"),
                    format!("{:?}", e.fields),
                    "list one or more field names, e.g. [\"user.id\", \"user.name\"]",
                );
            }
        }
        out
    }

    /// The learning period in milliseconds (validated at start-up; an
    /// unparsable value falls back to the default).
    pub(crate) fn learning_ms(&self) -> i64 {
        duration_ms(&self.learning_period, 7 * 86_400_000)
    }

    /// The volume interval in milliseconds.
    pub(crate) fn volume_interval_ms(&self) -> i64 {
        duration_ms(&self.volume_interval, 3_600_000)
    }
}

fn duration_ms(text: &str, fallback: i64) -> i64 {
    parse_duration(text)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .filter(|ms| *ms > 0)
        .unwrap_or(fallback)
}
