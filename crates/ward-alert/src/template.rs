//! The default message texts, shared by e-mail, Slack, PagerDuty and syslog:
//! what happened, who and what is affected, the evidence, a link to the
//! alert in Ward and the rule's runbook.

use std::fmt::Write;

use crate::notification::{AlertSummary, GroupStatus, Notification, Reason};

/// Labels that say who and what is affected, in the order shown.
const AFFECTED: [(&str, &str); 6] = [
    ("tenant", "tenant"),
    ("service", "service"),
    ("host", "host"),
    ("user", "user"),
    ("repository", "repository"),
    ("source.ip", "source ip"),
];

/// One-line summary, e.g. `[FIRING:2] Brute force (high) — owner payments`.
pub fn title(n: &Notification) -> String {
    let firing = n
        .alerts
        .iter()
        .filter(|a| a.status != crate::alert::Status::Resolved)
        .count();
    let head = match (&n.reason, n.status) {
        (Reason::SlaBreach { kind }, _) => format!("[SLA BREACH: {kind}]"),
        (_, GroupStatus::Resolved) => "[RESOLVED]".to_string(),
        (_, GroupStatus::Acknowledged) => format!("[ACKNOWLEDGED:{firing}]"),
        (_, GroupStatus::Firing) => format!("[FIRING:{firing}]"),
    };
    let Some(first) = n.alerts.first() else {
        return head;
    };
    let mut t = format!(
        "{head} {} ({})",
        first.rule_title,
        n.max_severity().as_str()
    );
    if n.alerts.len() > 1 {
        let _ = write!(t, " and {} more", n.alerts.len() - 1);
    }
    if let Some(owner) = &first.owner {
        let _ = write!(t, " — owner {owner}");
    }
    t
}

/// Who and what an alert affects, e.g. `service checkout, host web-1`.
pub fn affected(a: &AlertSummary) -> String {
    let parts: Vec<String> = AFFECTED
        .iter()
        .filter_map(|(label, name)| a.labels.get(*label).map(|v| format!("{name} {v}")))
        .collect();
    if parts.is_empty() {
        "not known".into()
    } else {
        parts.join(", ")
    }
}

/// The plain-text body.
pub fn text(n: &Notification) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", title(n));
    if let Reason::SlaBreach { kind } = &n.reason {
        let _ = writeln!(
            out,
            "\nThe time to {kind} of this alert has passed without it being {}.",
            if kind == "acknowledge" {
                "acknowledged"
            } else {
                "resolved"
            }
        );
    }
    for a in &n.alerts {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} — {} ({}, {})",
            a.rule_title,
            a.id,
            a.severity.as_str(),
            a.status.as_str()
        );
        if !a.description.is_empty() {
            let _ = writeln!(out, "What happened: {}", a.description.trim());
        }
        let _ = writeln!(out, "Affected: {}", affected(a));
        match &a.owner {
            Some(o) if a.owner_contacts.is_empty() => {
                let _ = writeln!(out, "Owner: {o}");
            }
            Some(o) => {
                let _ = writeln!(out, "Owner: {o} ({})", a.owner_contacts.join(", "));
            }
            None => {
                let _ = writeln!(out, "Owner: none registered (coverage gap)");
            }
        }
        if let Some(who) = &a.assignee {
            let _ = writeln!(out, "Assignee: {who}");
        }
        let more = a.evidence_total.saturating_sub(a.evidence.len());
        let _ = writeln!(
            out,
            "Evidence: {} event(s) from {} to {}, {} finding(s): {}{}",
            a.evidence_total,
            a.first_seen,
            a.last_seen,
            a.count,
            a.evidence.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        if let Some(r) = &a.runbook {
            let _ = writeln!(out, "Runbook: {r}");
        }
        let _ = writeln!(out, "Open in Ward: {}", a.url);
    }
    out
}
