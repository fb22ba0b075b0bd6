//! PagerDuty Events API v2: `trigger` when a group fires, `acknowledge` when
//! every firing alert of it is acknowledged, `resolve` when it is resolved.
//! The group key is the `dedup_key`, so PagerDuty keeps one incident per
//! group; an SLA breach is its own incident.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::alert::Severity;
use crate::config::{PagerdutyConfig, Problems};
use crate::notify::{Ctx, GroupStatus, Notification, Outcome, Reason, compile_url, post, template};
use crate::secret::Secret;

const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A compiled PagerDuty integration.
#[derive(Debug)]
pub struct Pagerduty {
    routing_key: Secret<String>,
    url: reqwest::Url,
    pub send_resolved: bool,
}

impl Pagerduty {
    pub(crate) fn compile(
        c: &PagerdutyConfig,
        key: &str,
        problems: &mut Problems,
    ) -> Option<Pagerduty> {
        if c.routing_key.expose().is_empty() {
            problems.push(
                format!("{key}.routing_key"),
                "",
                "set the routing key of the PagerDuty integration",
            );
        }
        let url = compile_url(
            c.url.as_deref().unwrap_or(DEFAULT_URL),
            &format!("{key}.url"),
            problems,
        )?;
        Some(Pagerduty {
            routing_key: c.routing_key.clone(),
            url,
            send_resolved: c.send_resolved.unwrap_or(true),
        })
    }

    pub async fn notify(&self, ctx: &Ctx, n: &Notification, key: &str) -> Outcome {
        let body = match serde_json::to_vec(&payload(n, key, self.routing_key.expose())) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("cannot encode the payload: {e}")),
        };
        post(
            ctx,
            &self.url,
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
        Reason::Group => n.group_key.clone(),
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
