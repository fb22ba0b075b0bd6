//! What a group flush or an SLA breach sends: a [`Notification`] to one
//! receiver, with a summary of each alert in it; and how one notification
//! fans out to a receiver's integrations ([`fan_out`]), each under its own
//! idempotency key. Pure data: sending is the application's business.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::alert::{Alert, Resolution, Severity, Status};

/// The state of a notified group as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    /// At least one alert is open.
    Firing,
    /// Every alert still firing has been acknowledged.
    Acknowledged,
    /// No alert fires any more.
    Resolved,
}

/// Why a notification is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Reason {
    /// A group's alerts changed, or the repeat interval passed.
    Group,
    /// An alert breached its SLA (`acknowledge` or `resolve`).
    SlaBreach { kind: String },
    /// A person created a silence that takes these firing alerts.
    Silenced {
        by: String,
        silence: String,
        starts_at: Timestamp,
        ends_at: Timestamp,
        comment: String,
    },
    /// A person ended a silence early: these firing alerts notify again.
    SilenceExpired { by: String, silence: String },
    /// A person changed who is paged: an owner mapping or a team.
    RoutingChanged { by: String, change: String },
}

impl Reason {
    /// The person whose change this notice reports; None for Ward's own
    /// notifications (a group's, an SLA breach).
    pub fn changed_by(&self) -> Option<&str> {
        match self {
            Reason::Group | Reason::SlaBreach { .. } => None,
            Reason::Silenced { by, .. }
            | Reason::SilenceExpired { by, .. }
            | Reason::RoutingChanged { by, .. } => Some(by),
        }
    }

    /// A short name: `group`, `sla_breach`, `silenced`, `silence_expired`,
    /// `routing_changed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Group => "group",
            Reason::SlaBreach { .. } => "sla_breach",
            Reason::Silenced { .. } => "silenced",
            Reason::SilenceExpired { .. } => "silence_expired",
            Reason::RoutingChanged { .. } => "routing_changed",
        }
    }
}

/// What an alert looks like in a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSummary {
    pub id: String,
    pub fingerprint: String,
    pub status: Status,
    pub severity: Severity,
    pub rule_id: String,
    pub rule_title: String,
    pub description: String,
    pub labels: BTreeMap<String, String>,
    pub owner: Option<String>,
    pub owner_contacts: Vec<String>,
    pub assignee: Option<String>,
    /// The first evidence event ids (at most 20) and how many there are.
    pub evidence: Vec<String>,
    pub evidence_total: usize,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub created_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub resolution: Option<Resolution>,
    /// Who acknowledged the alert (a user's or an API key's name).
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    /// Who resolved the alert.
    #[serde(default)]
    pub resolved_by: Option<String>,
    pub runbook: Option<String>,
    /// Link to the alert in Ward.
    pub url: String,
}

impl AlertSummary {
    pub fn of(a: &Alert, contacts: Vec<String>, public_url: &str) -> AlertSummary {
        AlertSummary {
            id: a.id.clone(),
            fingerprint: a.identity.clone(),
            status: a.status,
            severity: a.severity,
            rule_id: a.rule_id.clone(),
            rule_title: a.rule_title.clone(),
            description: a.description.clone(),
            labels: a.labels.clone(),
            owner: a.owner.clone(),
            owner_contacts: contacts,
            assignee: a.assignee.clone(),
            evidence: a.evidence.iter().take(20).cloned().collect(),
            evidence_total: a.evidence.len(),
            count: a.count,
            first_seen: a.first_seen.clone(),
            last_seen: a.last_seen.clone(),
            created_at: a.created_at,
            resolved_at: a.resolved_at,
            resolution: a.resolution,
            acknowledged_by: a.acknowledged_by.clone(),
            resolved_by: a.resolved_by.clone(),
            runbook: a.runbook.clone(),
            url: format!("{}/#/alerts/{}", public_url.trim_end_matches('/'), a.id),
        }
    }
}

/// One notification to one receiver, as queued in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique id (UUIDv7); the idempotency key of each integration derives from it.
    pub id: String,
    pub receiver: String,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub status: GroupStatus,
    pub reason: Reason,
    pub alerts: Vec<AlertSummary>,
    /// Ward's public URL.
    pub external_url: String,
    pub created_at: Timestamp,
}

impl Notification {
    /// Labels every alert shares.
    pub fn common_labels(&self) -> BTreeMap<String, String> {
        let mut it = self.alerts.iter();
        let Some(first) = it.next() else {
            return BTreeMap::new();
        };
        let mut common = first.labels.clone();
        for a in it {
            common.retain(|k, v| a.labels.get(k) == Some(v));
        }
        common
    }

    /// The most urgent severity in the notification.
    pub fn max_severity(&self) -> Severity {
        self.alerts
            .iter()
            .map(|a| a.severity)
            .max()
            .unwrap_or(Severity::Informational)
    }
}

/// A stable idempotency key for one notification on one integration.
pub fn idempotency_key(notification_id: &str, integration: &str) -> String {
    let mut h = Sha256::new();
    h.update(notification_id.as_bytes());
    h.update([0]);
    h.update(integration.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// One integration as [`fan_out`] sees it: its id (`receiver/kind/index`)
/// and whether it wants resolutions.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub id: &'a str,
    pub send_resolved: bool,
}

/// What one integration gets of a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub integration: String,
    pub idempotency_key: String,
    pub notification: Notification,
}

/// The deliveries of `n` to its receiver's integrations. An integration
/// with `send_resolved = false` gets the notification without its resolved
/// alerts (Alertmanager drops them the same way), or nothing when only
/// resolved alerts are left.
pub fn fan_out<'a>(
    n: &Notification,
    integrations: impl IntoIterator<Item = Recipient<'a>>,
) -> Vec<Delivery> {
    let firing_only = if n.alerts.iter().any(|a| a.status == Status::Resolved) {
        let alerts: Vec<_> = n
            .alerts
            .iter()
            .filter(|a| a.status != Status::Resolved)
            .cloned()
            .collect();
        (!alerts.is_empty()).then(|| Notification {
            alerts,
            ..n.clone()
        })
    } else {
        Some(n.clone())
    };
    let mut out = Vec::new();
    for r in integrations {
        let notification = if r.send_resolved {
            n.clone()
        } else {
            match (&n.status, &firing_only) {
                (GroupStatus::Resolved, _) | (_, None) => continue,
                (_, Some(f)) => f.clone(),
            }
        };
        out.push(Delivery {
            integration: r.id.to_string(),
            idempotency_key: idempotency_key(&n.id, r.id),
            notification,
        });
    }
    out
}
