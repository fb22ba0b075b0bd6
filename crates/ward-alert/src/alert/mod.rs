//! Alerts: what a finding becomes, with an owner, a status, a history and
//! SLA deadlines; and the concepts that decide who hears about it
//! (`route`, `group`, `inhibit`, `silence`, `mute`) and how fast (`sla`).
//!
//! Identity: an alert is the pair (rule, group key). A finding for an open or
//! acknowledged alert updates it; a finding whose id was already applied
//! changes nothing (a replay of the log is harmless). A finding for a
//! resolved alert opens a **new** alert, linked through `previous`: the
//! resolution (true or false positive, benign) and its response times were
//! judgements about the first incident and must not change after the fact.

pub mod group;
pub mod inhibit;
pub mod lifecycle;
pub mod matcher;
pub mod mute;
pub mod owner;
pub mod route;
pub mod silence;
pub mod sla;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The input from detection: a rule matched, for a group of events, in a
/// window. Its `id` is derived from (rule, group key, window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub group_key: BTreeMap<String, String>,
    /// `event.id` of the events that made the finding.
    pub evidence: Vec<String>,
    /// Event time of the first and last evidence (RFC 3339 UTC).
    pub first_seen: String,
    pub last_seen: String,
    /// Labels for routing and ownership (service.name, host.name, user.name,
    /// tenant.id, repository.name, …) taken from the evidence.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub runbook: Option<String>,
    /// Correlation value (count, sum, …) where the rule has one.
    #[serde(default)]
    pub value: Option<f64>,
}

/// An alert's id: 16 hex digits derived from the finding that opened it.
pub type AlertId = String;

/// How urgent an alert is (Sigma's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, least urgent first.
    pub const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Parses a Sigma level (case-insensitive).
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Open, Status::Acknowledged, Status::Resolved]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The verdict given when an alert is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    TruePositive,
    FalsePositive,
    Benign,
}

/// A comment on an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub at: Timestamp,
    pub author: String,
    pub text: String,
}

/// One entry of an alert's history: who did what, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub at: Timestamp,
    pub actor: String,
    /// `alert_opened`, `alert_refired`, `alert_acknowledged`, `alert_resolved`,
    /// `alert_assigned`, `alert_commented`, `alert_sla_breached`.
    pub action: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// The most evidence ids an alert keeps (the first ones, which explain it).
pub const MAX_EVIDENCE: usize = 1000;

/// An alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    /// Hash of (rule, group key): alerts with the same identity are the same
    /// incident while open.
    pub identity: String,
    /// The alert this one follows, when the same identity fired after resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<AlertId>,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    pub description: String,
    pub group_key: BTreeMap<String, String>,
    /// Labels used for routing, silences and inhibition.
    pub labels: BTreeMap<String, String>,
    pub status: Status,
    pub resolution: Option<Resolution>,
    /// Owning team (None: a coverage gap).
    pub owner: Option<String>,
    pub assignee: Option<String>,
    pub evidence: Vec<String>,
    /// Number of distinct findings merged into this alert.
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub runbook: Option<String>,
    pub value: Option<f64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    /// Who acknowledged it: a user's or an API key's name.
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    /// Who resolved it: a user's or an API key's name (`ward` when Ward
    /// resolved it itself).
    #[serde(default)]
    pub resolved_by: Option<String>,
    pub ack_deadline: Timestamp,
    pub resolve_deadline: Timestamp,
    /// SLA kinds breached so far: `acknowledge`, `resolve`.
    pub sla_breaches: Vec<String>,
    pub comments: Vec<Comment>,
    pub history: Vec<Change>,
}

impl Alert {
    /// Whether the alert still fires (open or acknowledged).
    pub fn is_firing(&self) -> bool {
        self.status != Status::Resolved
    }

    /// The team label used in metrics: the owner, or `none`.
    pub fn team(&self) -> &str {
        self.owner.as_deref().unwrap_or("none")
    }
}

/// The identity of a finding's (tenant, rule, group key): findings of one
/// rule and group key in different tenants are different alerts, whatever
/// the rule groups by.
pub fn identity(f: &Finding) -> String {
    let tenant = f
        .labels
        .get("tenant.id")
        .or_else(|| f.group_key.get("tenant.id"));
    let mut h = Sha256::new();
    if let Some(t) = tenant {
        h.update([2]);
        h.update(t.as_bytes());
        h.update([2]);
    }
    h.update(f.rule_id.as_bytes());
    let group_key = &f.group_key;
    for (k, v) in group_key {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([1]);
        h.update(v.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The id of an alert opened by `finding_id` for `identity`: deterministic,
/// so replaying the log after a crash finds the same alert.
pub fn alert_id(identity: &str, finding_id: &str) -> AlertId {
    let mut h = Sha256::new();
    h.update(identity.as_bytes());
    h.update([0]);
    h.update(finding_id.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// The routing labels of an alert: Ward's own names first (alertname,
/// rule_id, severity, owner, tenant, service, host, user), then the
/// finding's labels and group key under their own (dotted) names.
pub fn labels_of(f: &Finding, severity: Severity, owner: Option<&str>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    // The group key first: a correlation's group is what it is about.
    for (k, v) in f.group_key.iter().chain(f.labels.iter()) {
        l.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let short = [
        ("tenant", "tenant.id"),
        ("service", "service.name"),
        ("host", "host.name"),
        ("user", "user.name"),
        ("repository", "repository.name"),
    ];
    for (name, ecs) in short {
        if let Some(v) = l.get(ecs).cloned() {
            l.insert(name.to_string(), v);
        }
    }
    l.insert("alertname".into(), f.rule_title.clone());
    l.insert("rule_id".into(), f.rule_id.clone());
    l.insert("severity".into(), severity.as_str().into());
    if let Some(o) = owner {
        l.insert("owner".into(), o.to_string());
        l.insert("team".into(), o.to_string());
    }
    l
}

/// What silences and inhibitions have in common (Alertmanager's `Muter`):
/// given an alert's labels, say whether it must not be notified now.
pub trait Muter {
    fn mutes(&self, alert_id: &str, labels: &BTreeMap<String, String>) -> bool;
}
