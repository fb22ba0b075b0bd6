//! Alertmanager compatibility, both ways:
//!
//! - [`webhook_payload`]: the body Alertmanager's own webhook receiver sends
//!   (version "4"), so existing webhook consumers take Ward's notifications;
//! - [`AlertmanagerApi`]: Ward as an alert source of a Prometheus
//!   Alertmanager, posting to its `POST /api/v2/alerts`.
//!
//! Label names are made Prometheus-valid (`service.name` → `service_name`).
//! A firing alert is posted with `endsAt` 24 hours ahead, so Alertmanager
//! keeps it active between Ward's repeats; a resolved one with its
//! resolution time.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use ward_alert::Status;
use ward_alert::receiver::AlertmanagerSpec;

use crate::notify::{AlertSummary, Ctx, GroupStatus, Notification, Outcome, post, template};

/// The zero time Alertmanager writes for "not ended".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A Prometheus-valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn labels(l: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    l.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (label_name(k), v.clone()))
        .collect()
}

/// The annotations that say which person changed what (a silence, the
/// routing), on the notices of such a change.
fn change_annotations(n: &Notification, m: &mut BTreeMap<String, String>) {
    if let (Some(by), Some(line)) = (n.reason.changed_by(), template::change_line(n)) {
        m.insert("changed_by".into(), by.to_owned());
        m.insert("ward_change".into(), line);
        m.insert("ward_reason".into(), n.reason.as_str().to_owned());
    }
}

fn annotations(n: &Notification, a: &AlertSummary) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    change_annotations(n, &mut m);
    m.insert(
        "summary".into(),
        format!("{} ({})", a.rule_title, a.severity.as_str()),
    );
    if !a.description.is_empty() {
        m.insert("description".into(), a.description.clone());
    }
    m.insert("affected".into(), template::affected(a));
    if let Some(r) = &a.runbook {
        m.insert("runbook_url".into(), r.clone());
    }
    m.insert("ward_url".into(), a.url.clone());
    m.insert("ward_alert_id".into(), a.id.clone());
    m.insert("evidence".into(), a.evidence.join(","));
    if !a.owner_contacts.is_empty() {
        m.insert("owner_contacts".into(), a.owner_contacts.join(", "));
    }
    if let Some(who) = &a.acknowledged_by {
        m.insert("acknowledged_by".into(), who.clone());
    }
    if let Some(who) = &a.resolved_by {
        m.insert("resolved_by".into(), who.clone());
    }
    m
}

fn status(a: &AlertSummary) -> &'static str {
    if a.status == Status::Resolved {
        "resolved"
    } else {
        "firing"
    }
}

/// Alertmanager's webhook payload (version "4") plus `idempotencyKey`.
pub fn webhook_payload(n: &Notification, key: &str) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": status(a),
                "labels": labels(&a.labels),
                "annotations": annotations(n, a),
                "startsAt": a.created_at.to_string(),
                "endsAt": a.resolved_at.map(|t| t.to_string()).unwrap_or_else(|| ZERO_TIME.to_string()),
                "generatorURL": a.url,
                "fingerprint": a.fingerprint,
            })
        })
        .collect();
    let annotation_maps: Vec<_> = n.alerts.iter().map(|a| annotations(n, a)).collect();
    let mut common_annotations = annotation_maps.first().cloned().unwrap_or_default();
    for m in &annotation_maps[1.min(annotation_maps.len())..] {
        common_annotations.retain(|k, v| m.get(k) == Some(v));
    }
    change_annotations(n, &mut common_annotations);
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": if n.status == GroupStatus::Resolved { "resolved" } else { "firing" },
        "receiver": n.receiver,
        "groupLabels": labels(&n.group_labels),
        "commonLabels": labels(&n.common_labels()),
        "commonAnnotations": common_annotations,
        "externalURL": n.external_url,
        "alerts": alerts,
        "idempotencyKey": key,
    })
}

/// The `POST /api/v2/alerts` body.
pub fn api_payload(n: &Notification) -> Value {
    let ends_firing = n
        .created_at
        .checked_add(SignedDuration::from_hours(24))
        .unwrap_or(Timestamp::MAX);
    Value::Array(
        n.alerts
            .iter()
            .map(|a| {
                let mut l = labels(&a.labels);
                l.insert("ward_alert_id".into(), a.id.clone());
                json!({
                    "labels": l,
                    "annotations": annotations(n, a),
                    "startsAt": a.created_at.to_string(),
                    "endsAt": a.resolved_at.unwrap_or(ends_firing).to_string(),
                    "generatorURL": a.url,
                })
            })
            .collect(),
    )
}

/// A Prometheus Alertmanager as a receiver.
#[derive(Debug)]
pub struct AlertmanagerApi(pub AlertmanagerSpec);

impl AlertmanagerApi {
    pub async fn notify(&self, ctx: &Ctx, n: &Notification, key: &str) -> Outcome {
        let body = match serde_json::to_vec(&api_payload(n)) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("cannot encode the payload: {e}")),
        };
        let mut headers: Vec<(String, String)> = self
            .0
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().clone()))
            .collect();
        headers.push(("idempotency-key".into(), key.to_string()));
        post(ctx, self.0.url.expose(), &headers, "application/json", body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_become_prometheus_valid() {
        assert_eq!(label_name("service.name"), "service_name");
        assert_eq!(label_name("1x"), "_1x");
        assert_eq!(label_name("a-b"), "a_b");
    }
}
