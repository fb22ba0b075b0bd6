//! PagerDuty Events API v2: `trigger` when a group fires, `acknowledge` when
//! every firing alert of it is acknowledged, `resolve` when it is resolved.
//! The group key is the `dedup_key`, so PagerDuty keeps one incident per
//! group; an SLA breach is its own incident.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use ward_alert::Severity;
use ward_alert::receiver::PagerdutySpec;

use crate::notify::{Ctx, GroupStatus, Notification, Outcome, Reason, post, template};

/// A PagerDuty integration.
#[derive(Debug)]
pub struct Pagerduty(pub PagerdutySpec);

impl Pagerduty {
    pub async fn notify(&self, ctx: &Ctx, n: &Notification, key: &str) -> Outcome {
        let body = match serde_json::to_vec(&payload(n, key, self.0.routing_key.expose())) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("cannot encode the payload: {e}")),
        };
        post(
            ctx,
            &self.0.url,
            &[("idempotency-key".into(), key.to_string())],
            "application/json",
            body,
        )
        .await
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "info",
    }
}

/// The event body.
pub fn payload(n: &Notification, key: &str, routing_key: &str) -> Value {
    let dedup_source = match &n.reason {
        Reason::Group
        | Reason::Silenced { .. }
        | Reason::SilenceExpired { .. }
        | Reason::RoutingChanged { .. } => n.group_key.clone(),
        Reason::SlaBreach { kind } => format!(
            "sla/{kind}/{}",
            n.alerts.first().map(|a| a.id.as_str()).unwrap_or("")
        ),
    };
    let dedup_key = hex::encode(&Sha256::digest(dedup_source.as_bytes())[..16]);
    let action = match n.status {
        GroupStatus::Firing => "trigger",
        GroupStatus::Acknowledged => "acknowledge",
        GroupStatus::Resolved => "resolve",
    };
    let first = n.alerts.first();
    let source = first
        .and_then(|a| a.labels.get("host").or(a.labels.get("service")).cloned())
        .unwrap_or_else(|| "ward".into());
    let summary: String = template::title(n).chars().take(1024).collect();
    let mut v = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
        "client": "Ward",
        "client_url": n.external_url,
        "payload": {
            "summary": summary,
            "source": source,
            "severity": severity(n.max_severity()),
            "timestamp": n.created_at.to_string(),
            "component": first.and_then(|a| a.labels.get("service").cloned()),
            "group": first.and_then(|a| a.owner.clone()),
            "class": first.map(|a| a.rule_id.clone()),
            "custom_details": {
                "idempotency_key": key,
                "group_labels": n.group_labels,
                "text": template::text(n),
            },
        },
    });
    if let (Some(a), Some(obj)) = (first, v.as_object_mut()) {
        obj.insert(
            "links".into(),
            json!([{"href": a.url, "text": "Open in Ward"}]),
        );
    }
    v
}
