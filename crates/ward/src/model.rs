//! The messages passed between stages: [`Event`] (from `ward-event`),
//! [`Batch`] (events on their way to the store, with the sender waiting for
//! the acknowledgement), and the ids that name them.

use std::time::Instant;

pub use ward_event::Event;

/// A time-ordered event id (UUIDv7), assigned when the event enters Ward.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Events from one request or frame burst, with where they came from.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    /// The input that produced them, for metrics (`http`, `bulk`, `syslog-tcp`…).
    pub input: String,
    pub source: String,
    pub tenant: String,
    /// When the request arrived, for the pipeline latency histogram.
    pub received: Instant,
}

/// What the sender is told once a batch is durable.
#[derive(Debug, Clone)]
pub struct Ack {
    /// `event.id` of every stored event, in batch order.
    pub ids: Vec<String>,
}

/// What detection produces: a rule (or enricher) matched, for a group of
/// events, in a window. Its id is derived from (rule, group key, window),
/// so a replay of the log never makes a second one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub id: String,
    pub rule_id: String,
    pub rule_title: String,
    /// Sigma level: informational, low, medium, high, critical.
    pub level: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// `field=value` pairs the rule grouped by (empty for single-event rules).
    #[serde(default)]
    pub group_key: std::collections::BTreeMap<String, String>,
    /// `event.id` of the events that made the finding.
    pub evidence: Vec<String>,
    /// Event time of the first and last evidence (RFC 3339 UTC).
    pub first_seen: String,
    pub last_seen: String,
    /// Labels for routing and ownership (service.name, host.name, user.name,
    /// tenant.id, repository.name, …) taken from the evidence.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub runbook: Option<String>,
    /// Correlation value (count, sum, …) where the rule has one.
    #[serde(default)]
    pub value: Option<f64>,
}
