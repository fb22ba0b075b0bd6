//! Configuration validation (every problem at once, naming the key) and the
//! default message text.

use std::collections::BTreeMap;

use ward_alert::notification::{AlertSummary, GroupStatus, Notification, Reason};
use ward_alert::template;
use ward_alert::{Severity, Status};

use crate::config;

#[test]
fn every_problem_is_reported_with_its_key() {
    let cfg = config(
        r#"
default_receiver = "nobody"
public_url = "not a url"
[[receivers]]
name = "hook"
[[receivers.webhook_configs]]
url = "ftp://secret-token@example.com/x"
[[receivers.email_configs]]
host = ""
from = "not-an-address"
to = []
[[receivers.syslog_configs]]
address = "siem"
[owners.services]
checkout = "ghosts"
[route]
group_wait = "soon"
[[route.routes]]
receiver = "hook"
matchers = ['severity=~"high|critical"', 'team']
[[route.routes.routes]]
receiver = "pager"
[[inhibit_rules]]
source_matchers = ['alertname="A"']
[sla.critical]
acknowledge = "15 minutes"
resolve = "4h"
"#,
    );
    let problems: Vec<String> = cfg.validate().iter().map(|p| p.to_string()).collect();
    insta::assert_snapshot!(problems.join("\n"));
    assert!(
        !problems.join("\n").contains("secret-token"),
        "URLs are never echoed"
    );
}

#[test]
fn default_message_text() {
    let t = |s: &str| -> jiff::Timestamp { s.parse().unwrap() };
    let alert = AlertSummary {
        id: "3f2a9c0d1e2b4a5c".into(),
        fingerprint: "f".into(),
        status: Status::Open,
        severity: Severity::High,
        rule_id: "sso-brute".into(),
        rule_title: "Brute force against SSO".into(),
        description: "40 failed logins for one user within 5 minutes".into(),
        labels: BTreeMap::from([
            ("service".to_string(), "sso".to_string()),
            ("user".to_string(), "bob".to_string()),
            ("source.ip".to_string(), "203.0.113.7".to_string()),
        ]),
        owner: Some("identity".into()),
        owner_contacts: vec!["identity-oncall@example.com".into()],
        assignee: None,
        acknowledged_by: None,
        resolved_by: None,
        evidence: vec!["0190a1b2-0001".into(), "0190a1b2-0002".into()],
        evidence_total: 40,
        count: 2,
        first_seen: "2026-01-05T08:55:00Z".into(),
        last_seen: "2026-01-05T08:59:30Z".into(),
        created_at: t("2026-01-05T09:00:00Z"),
        resolved_at: None,
        resolution: None,
        runbook: Some("https://runbooks.example/sso-brute".into()),
        url: "https://ward.example.com/#/alerts/3f2a9c0d1e2b4a5c".into(),
    };
    let n = Notification {
        id: "n1".into(),
        receiver: "identity".into(),
        group_key: "route:{}".into(),
        group_labels: BTreeMap::new(),
        status: GroupStatus::Firing,
        reason: Reason::Group,
        alerts: vec![alert],
        external_url: "https://ward.example.com".into(),
        created_at: t("2026-01-05T09:00:00Z"),
    };
    insta::assert_snapshot!(template::text(&n));
}
