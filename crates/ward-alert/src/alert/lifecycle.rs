//! The lifecycle: open → acknowledged → resolved (true positive, false
//! positive, benign), with assignee and comments. Every change appends a
//! [`Change`] to the alert's history and returns it, so the engine can emit
//! the same change as an audit event. Transitions that make no sense
//! (acknowledging a resolved alert) are refused with a reason.

use jiff::Timestamp;

use crate::alert::sla::SlaPolicy;
use crate::alert::{
    Alert, Change, Comment, Finding, MAX_EVIDENCE, Resolution, Severity, Status, labels_of,
};
use crate::error::AlertError;

/// History entries kept for re-firing (state changes are always kept).
const MAX_REFIRE_HISTORY: usize = 100;
/// Longest comment accepted.
pub const MAX_COMMENT: usize = 16 * 1024;

/// What opens an alert.
pub struct Opening<'a> {
    pub finding: &'a Finding,
    pub id: String,
    pub identity: String,
    pub severity: Severity,
    pub owner: Option<String>,
    pub previous: Option<String>,
    pub now: Timestamp,
}

/// A new alert from its first finding.
pub fn open(o: Opening<'_>, sla: &SlaPolicy) -> (Alert, Change) {
    let f = o.finding;
    let (ack_deadline, resolve_deadline) = sla.deadlines(o.severity, o.now);
    let change = Change {
        at: o.now,
        actor: "ward".into(),
        action: "alert_opened".into(),
        detail: serde_json::json!({"finding_id": f.id, "owner": o.owner, "previous": o.previous}),
    };
    let alert = Alert {
        id: o.id,
        identity: o.identity,
        previous: o.previous,
        rule_id: f.rule_id.clone(),
        rule_title: f.rule_title.clone(),
        severity: o.severity,
        tags: f.tags.clone(),
        description: f.description.clone(),
        group_key: f.group_key.clone(),
        labels: labels_of(f, o.severity, o.owner.as_deref()),
        status: Status::Open,
        resolution: None,
        owner: o.owner,
        assignee: None,
        evidence: f.evidence.iter().take(MAX_EVIDENCE).cloned().collect(),
        count: 1,
        first_seen: f.first_seen.clone(),
        last_seen: f.last_seen.clone(),
        runbook: f.runbook.clone(),
        value: f.value,
        created_at: o.now,
        updated_at: o.now,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_by: None,
        resolved_at: None,
        ack_deadline,
        resolve_deadline,
        sla_breaches: Vec::new(),
        comments: Vec::new(),
        history: vec![change.clone()],
    };
    (alert, change)
}

/// Merges a finding into a firing alert. `new` is false for a finding
/// already applied (a replay), which only adds evidence it did not have.
pub fn refire(a: &mut Alert, f: &Finding, new: bool, now: Timestamp) -> Option<Change> {
    for e in &f.evidence {
        if a.evidence.len() >= MAX_EVIDENCE {
            break;
        }
        if !a.evidence.contains(e) {
            a.evidence.push(e.clone());
        }
    }
    // RFC 3339 UTC strings of one format order like the times they hold.
    if f.last_seen > a.last_seen {
        a.last_seen = f.last_seen.clone();
    }
    if f.first_seen < a.first_seen {
        a.first_seen = f.first_seen.clone();
    }
    if f.value.is_some() {
        a.value = f.value;
    }
    a.updated_at = now;
    if !new {
        return None;
    }
    a.count += 1;
    let change = Change {
        at: now,
        actor: "ward".into(),
        action: "alert_refired".into(),
        detail: serde_json::json!({"finding_id": f.id, "count": a.count}),
    };
    let refires = a
        .history
        .iter()
        .filter(|c| c.action == "alert_refired")
        .count();
    if refires < MAX_REFIRE_HISTORY {
        a.history.push(change.clone());
    }
    Some(change)
}

fn record(
    a: &mut Alert,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
    now: Timestamp,
) -> Change {
    let c = Change {
        at: now,
        actor: actor.to_string(),
        action: action.to_string(),
        detail,
    };
    a.updated_at = now;
    a.history.push(c.clone());
    c
}

fn add_comment(
    a: &mut Alert,
    actor: &str,
    text: Option<&str>,
    now: Timestamp,
) -> Result<(), AlertError> {
    if let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) {
        if t.len() > MAX_COMMENT {
            return Err(AlertError::Invalid(format!(
                "comment is longer than {MAX_COMMENT} bytes"
            )));
        }
        a.comments.push(Comment {
            at: now,
            author: actor.to_string(),
            text: t.to_string(),
        });
    }
    Ok(())
}

/// Open → acknowledged.
pub fn acknowledge(
    a: &mut Alert,
    actor: &str,
    comment: Option<&str>,
    now: Timestamp,
) -> Result<Change, AlertError> {
    match a.status {
        Status::Open => {}
        Status::Acknowledged => {
            return Err(AlertError::Conflict(format!(
                "alert {} is already acknowledged",
                a.id
            )));
        }
        Status::Resolved => {
            return Err(AlertError::Conflict(format!("alert {} is resolved", a.id)));
        }
    }
    add_comment(a, actor, comment, now)?;
    a.status = Status::Acknowledged;
    a.acknowledged_at = Some(now);
    a.acknowledged_by = Some(actor.to_string());
    if a.assignee.is_none() {
        a.assignee = Some(actor.to_string());
    }
    Ok(record(
        a,
        actor,
        "alert_acknowledged",
        serde_json::json!({"comment": comment}),
        now,
    ))
}

/// Open or acknowledged → resolved, with a verdict.
pub fn resolve(
    a: &mut Alert,
    actor: &str,
    resolution: Resolution,
    comment: Option<&str>,
    now: Timestamp,
) -> Result<Change, AlertError> {
    if a.status == Status::Resolved {
        return Err(AlertError::Conflict(format!(
            "alert {} is already resolved",
            a.id
        )));
    }
    add_comment(a, actor, comment, now)?;
    a.status = Status::Resolved;
    a.resolution = Some(resolution);
    a.resolved_at = Some(now);
    a.resolved_by = Some(actor.to_string());
    Ok(record(
        a,
        actor,
        "alert_resolved",
        serde_json::json!({"resolution": resolution, "comment": comment}),
        now,
    ))
}

/// Sets (or with an empty name clears) the assignee.
pub fn assign(
    a: &mut Alert,
    actor: &str,
    assignee: &str,
    now: Timestamp,
) -> Result<Change, AlertError> {
    let assignee = assignee.trim();
    if assignee.len() > 256 {
        return Err(AlertError::Invalid(
            "assignee is longer than 256 bytes".into(),
        ));
    }
    let previous = a.assignee.take();
    a.assignee = (!assignee.is_empty()).then(|| assignee.to_string());
    Ok(record(
        a,
        actor,
        "alert_assigned",
        serde_json::json!({"assignee": a.assignee, "previous": previous}),
        now,
    ))
}

/// Adds a comment.
pub fn comment(
    a: &mut Alert,
    actor: &str,
    text: &str,
    now: Timestamp,
) -> Result<Change, AlertError> {
    if text.trim().is_empty() {
        return Err(AlertError::Invalid("the comment is empty".into()));
    }
    add_comment(a, actor, Some(text), now)?;
    Ok(record(
        a,
        actor,
        "alert_commented",
        serde_json::json!({"text": text.trim()}),
        now,
    ))
}

/// Records an SLA breach of `kind`.
pub fn breach(a: &mut Alert, kind: &str, now: Timestamp) -> Change {
    a.sla_breaches.push(kind.to_string());
    let deadline = if kind == crate::alert::sla::ACKNOWLEDGE {
        a.ack_deadline
    } else {
        a.resolve_deadline
    };
    record(
        a,
        "ward",
        "alert_sla_breached",
        serde_json::json!({"sla": kind, "deadline": deadline}),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Problems, SlaConfig};

    fn finding() -> Finding {
        Finding {
            id: "f1".into(),
            rule_id: "r1".into(),
            rule_title: "Brute force".into(),
            level: "high".into(),
            tags: vec![],
            description: "many failed logins".into(),
            group_key: [("user.name".to_string(), "bob".to_string())].into(),
            evidence: vec!["e1".into(), "e2".into()],
            first_seen: "2026-01-01T00:00:00Z".into(),
            last_seen: "2026-01-01T00:01:00Z".into(),
            labels: Default::default(),
            runbook: None,
            value: Some(12.0),
        }
    }

    #[test]
    fn lifecycle_and_history() {
        let now: Timestamp = "2026-01-01T00:02:00Z".parse().unwrap();
        let sla = SlaPolicy::compile(&SlaConfig::default(), &mut Problems::default());
        let f = finding();
        let (mut a, _) = open(
            Opening {
                finding: &f,
                id: "a1".into(),
                identity: "i".into(),
                severity: Severity::High,
                owner: None,
                previous: None,
                now,
            },
            &sla,
        );
        let mut f2 = f.clone();
        f2.id = "f2".into();
        f2.evidence = vec!["e2".into(), "e3".into()];
        f2.last_seen = "2026-01-01T00:05:00Z".into();
        assert!(refire(&mut a, &f2, true, now).is_some());
        assert!(refire(&mut a, &f2, false, now).is_none());
        assert_eq!(
            (a.count, a.evidence.len(), a.last_seen.as_str()),
            (2, 3, "2026-01-01T00:05:00Z")
        );
        acknowledge(&mut a, "ana", Some("looking"), now).unwrap();
        assert!(acknowledge(&mut a, "ana", None, now).is_err());
        assert_eq!(a.assignee.as_deref(), Some("ana"));
        resolve(&mut a, "ana", Resolution::FalsePositive, None, now).unwrap();
        assert!(resolve(&mut a, "ana", Resolution::Benign, None, now).is_err());
        let actions: Vec<_> = a.history.iter().map(|c| c.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "alert_opened",
                "alert_refired",
                "alert_acknowledged",
                "alert_resolved"
            ]
        );
        assert_eq!(a.comments.len(), 1);
    }
}
