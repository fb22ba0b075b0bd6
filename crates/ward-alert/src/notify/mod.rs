//! Notification: what a group flush or an SLA breach sends ([`Notification`]),
//! the integrations that send it (an explicit registry: [`Integration`] is an
//! enum, one variant and one file per kind), and the durable outbox that
//! retries them.
//!
//! A notifier is one method, [`Integration::notify`], whose [`Outcome`] says
//! whether the outbox should retry. Every payload carries the idempotency key
//! (header `Idempotency-Key` and in the body where the format allows), so a
//! receiver can drop the duplicates at-least-once delivery may produce.

pub mod alertmanager;
pub mod destination;
pub mod email;
pub mod outbox;
pub mod pagerduty;
pub mod slack;
pub mod syslog;
pub mod template;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Resolution, Severity, Status};
use crate::config::{Problems, ReceiverConfig};
use destination::Guard;

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

/// What a delivery attempt came to; tells the outbox whether to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered(String),
    /// Worth retrying (timeouts, 5xx, 429, connection refused).
    Retry(String),
    /// Retrying cannot help (4xx, refused destination, bad payload).
    Failed(String),
}

/// What integrations share: the guarded HTTP client and the policy.
pub struct Ctx {
    pub http: reqwest::Client,
    pub guard: Guard,
    pub timeout: Duration,
}

/// One integration of a receiver. Adding a kind: its file, a variant here,
/// and a line in [`Integration::compile_receiver`].
#[derive(Debug)]
pub enum Integration {
    Webhook(webhook::Webhook),
    Alertmanager(alertmanager::AlertmanagerApi),
    Slack(slack::Slack),
    Email(email::Email),
    Pagerduty(pagerduty::Pagerduty),
    Syslog(syslog::Syslog),
}

impl Integration {
    /// Builds a receiver's integrations, recording problems under `key`.
    pub(crate) fn compile_receiver(
        cfg: &ReceiverConfig,
        key: &str,
        problems: &mut Problems,
    ) -> Vec<Integration> {
        let mut out = Vec::new();
        for (i, c) in cfg.webhook_configs.iter().enumerate() {
            out.extend(
                webhook::Webhook::compile(c, &format!("{key}.webhook_configs[{i}]"), problems)
                    .map(Integration::Webhook),
            );
        }
        for (i, c) in cfg.alertmanager_configs.iter().enumerate() {
            out.extend(
                alertmanager::AlertmanagerApi::compile(
                    c,
                    &format!("{key}.alertmanager_configs[{i}]"),
                    problems,
                )
                .map(Integration::Alertmanager),
            );
        }
        for (i, c) in cfg.slack_configs.iter().enumerate() {
            out.extend(
                slack::Slack::compile(c, &format!("{key}.slack_configs[{i}]"), problems)
                    .map(Integration::Slack),
            );
        }
        for (i, c) in cfg.email_configs.iter().enumerate() {
            out.extend(
                email::Email::compile(c, &format!("{key}.email_configs[{i}]"), problems)
                    .map(Integration::Email),
            );
        }
        for (i, c) in cfg.pagerduty_configs.iter().enumerate() {
            out.extend(
                pagerduty::Pagerduty::compile(
                    c,
                    &format!("{key}.pagerduty_configs[{i}]"),
                    problems,
                )
                .map(Integration::Pagerduty),
            );
        }
        for (i, c) in cfg.syslog_configs.iter().enumerate() {
            out.extend(
                syslog::Syslog::compile(c, &format!("{key}.syslog_configs[{i}]"), problems)
                    .map(Integration::Syslog),
            );
        }
        out
    }

    /// The kind, as used in integration names (`webhook`, `email`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Alertmanager(_) => "alertmanager",
            Integration::Slack(_) => "slack",
            Integration::Email(_) => "email",
            Integration::Pagerduty(_) => "pagerduty",
            Integration::Syslog(_) => "syslog",
        }
    }

    /// Whether resolutions are sent too.
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(w) => w.send_resolved,
            Integration::Alertmanager(_) => true,
            Integration::Slack(s) => s.send_resolved,
            Integration::Email(e) => e.send_resolved,
            Integration::Pagerduty(p) => p.send_resolved,
            Integration::Syslog(s) => s.send_resolved,
        }
    }

    /// Sends one notification; the outcome says whether to retry.
    pub async fn notify(&self, ctx: &Ctx, n: &Notification, idempotency_key: &str) -> Outcome {
        match self {
            Integration::Webhook(w) => w.notify(ctx, n, idempotency_key).await,
            Integration::Alertmanager(a) => a.notify(ctx, n, idempotency_key).await,
            Integration::Slack(s) => s.notify(ctx, n, idempotency_key).await,
            Integration::Email(e) => e.notify(ctx, n, idempotency_key).await,
            Integration::Pagerduty(p) => p.notify(ctx, n, idempotency_key).await,
            Integration::Syslog(s) => s.notify(ctx, n, idempotency_key).await,
        }
    }
}

/// Checks that a URL parses and uses http(s); returns it parsed.
pub(crate) fn compile_url(url: &str, key: &str, problems: &mut Problems) -> Option<reqwest::Url> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
        // The URL may hold a token: never echo it.
        _ => {
            problems.push(key, "[secret]", "write an absolute http:// or https:// URL");
            None
        }
    }
}

/// POSTs a body and classifies the answer. Errors never include the URL.
pub(crate) async fn post(
    ctx: &Ctx,
    url: &reqwest::Url,
    headers: &[(String, String)],
    content_type: &str,
    body: Vec<u8>,
) -> Outcome {
    if let Err(e) = ctx.guard.check_url(url) {
        return Outcome::Failed(e);
    }
    let mut req = ctx
        .http
        .post(url.clone())
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match req.send().await {
        Ok(resp) => classify(resp.status()),
        Err(e) => {
            let refused = std::error::Error::source(&e)
                .map(|s| chain(s).contains("destination refused"))
                .unwrap_or(false);
            let source = std::error::Error::source(&e).map(chain).unwrap_or_default();
            let msg = format!("{}: {source}", e.without_url());
            if refused {
                Outcome::Failed(msg)
            } else {
                Outcome::Retry(msg)
            }
        }
    }
}

/// The status classes: 2xx delivered; 408, 429 and 5xx retried; the rest failed.
pub(crate) fn classify(status: reqwest::StatusCode) -> Outcome {
    let code = status.as_u16();
    if status.is_success() {
        Outcome::Delivered(format!("HTTP {code}"))
    } else if code == 408 || code == 429 || status.is_server_error() {
        Outcome::Retry(format!("HTTP {code}"))
    } else if status.is_redirection() {
        Outcome::Failed(format!("HTTP {code}: redirects are not followed"))
    } else {
        Outcome::Failed(format!("HTTP {code}"))
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}
