//! The state machine's decisions, step by step, with `now` given.

use super::*;
use crate::alert::Resolution;
use crate::config::AlertingConfig;
use crate::notification::{Recipient, fan_out};

fn compiled(src: &str) -> Compiled {
    let cfg: AlertingConfig = toml::from_str(src).unwrap();
    Compiled::compile(&cfg, None).unwrap()
}

const CFG: &str = r#"
[[receivers]]
name = "team"
[owners.teams.payments]
contacts = ["p@example.com"]
[owners.services]
checkout = "payments"
[route]
receiver = "team"
group_by = ["alertname"]
group_wait = "0s"
repeat_interval = "1h"
"#;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn finding(id: &str, user: &str) -> Finding {
    Finding {
        id: id.into(),
        rule_id: "brute".into(),
        rule_title: "Brute force".into(),
        level: "high".into(),
        tags: vec![],
        description: String::new(),
        group_key: [("user.name".to_string(), user.to_string())].into(),
        evidence: vec![format!("{id}-e")],
        first_seen: "2026-01-05T08:59:00Z".into(),
        last_seen: "2026-01-05T08:59:30Z".into(),
        labels: [("service.name".to_string(), "checkout".to_string())].into(),
        runbook: None,
        value: None,
    }
}

/// Takes a finding and commits it as the application does after saving.
fn take(st: &mut State, c: &Compiled, f: &Finding, now: Timestamp) -> (FindingStep, Vec<NewGroup>) {
    let step = st.take_finding(f, None, &c.sla, now).unwrap();
    let a = step.alert.clone().unwrap();
    st.commit_alert(a, step.replayed);
    let groups = st.route(&step.id, c, None);
    (step, groups)
}

#[test]
fn findings_open_refire_and_reopen_after_resolution() {
    let c = compiled(CFG);
    let mut st = State::new(Registry(c.owners.clone()));
    let now = t("2026-01-05T09:00:00Z");
    let (first, groups) = take(&mut st, &c, &finding("f1", "bob"), now);
    assert_eq!(first.change.as_ref().unwrap().action, "alert_opened");
    assert_eq!(groups.len(), 1, "a new group starts a timer");
    assert_eq!(
        first.alert.as_ref().unwrap().owner.as_deref(),
        Some("payments")
    );

    let (again, groups) = take(&mut st, &c, &finding("f2", "bob"), now);
    assert_eq!(again.id, first.id);
    assert_eq!(again.change.unwrap().action, "alert_refired");
    assert!(groups.is_empty(), "the group exists already");

    let replay = st
        .take_finding(&finding("f2", "bob"), Some(first.id.clone()), &c.sla, now)
        .unwrap();
    assert!(replay.replayed && replay.change.is_none());
    assert_eq!(replay.alert.unwrap().count, 2, "a replay counts nothing");

    let (a, _) = st
        .change(&first.id, now, |a, now| {
            lifecycle::resolve(a, "ana", Resolution::TruePositive, None, now)
        })
        .unwrap();
    st.commit_alert(a, false);
    let (next, _) = take(&mut st, &c, &finding("f3", "bob"), now);
    assert_ne!(next.id, first.id);
    assert_eq!(
        next.alert.unwrap().previous.as_deref(),
        Some(first.id.as_str())
    );
    assert!(
        st.take_finding(
            &Finding {
                level: "severe".into(),
                ..finding("f4", "x")
            },
            None,
            &c.sla,
            now
        )
        .is_err()
    );
}

#[test]
fn flush_notifies_changes_and_drops_resolved_members() {
    let c = compiled(CFG);
    let mut st = State::new(Registry(c.owners.clone()));
    let now = t("2026-01-05T09:00:00Z");
    let (a, groups) = take(&mut st, &c, &finding("f1", "bob"), now);
    let key = groups[0].key.clone();
    let f1 = st.flush(&key, None, &c, now, "n1".into());
    let (n, log) = f1.notification.unwrap();
    assert_eq!(
        (n.receiver.as_str(), n.status, n.alerts.len()),
        ("team", GroupStatus::Firing, 1)
    );
    assert_eq!(n.alerts[0].owner_contacts, ["p@example.com"]);
    assert!(!f1.removed);
    assert!(
        st.flush(&key, Some(&log), &c, now, "n2".into())
            .notification
            .is_none()
    );

    let (resolved, _) = st
        .change(&a.id, now, |a, now| {
            lifecycle::resolve(a, "ana", Resolution::Benign, None, now)
        })
        .unwrap();
    st.commit_alert(resolved, false);
    let f2 = st.flush(&key, Some(&log), &c, now, "n3".into());
    assert_eq!(f2.notification.unwrap().0.status, GroupStatus::Resolved);
    assert!(f2.removed && st.groups.is_empty());
}

#[test]
fn silenced_alerts_are_left_out_of_a_flush() {
    let c = compiled(CFG);
    let mut st = State::new(Registry(c.owners.clone()));
    let now = t("2026-01-05T09:00:00Z");
    let (_, groups) = take(&mut st, &c, &finding("f1", "bob"), now);
    let req: crate::alert::silence::NewSilence =
        serde_json::from_value(serde_json::json!({"matchers": ["user=bob"], "duration": "1h"}))
            .unwrap();
    let s = crate::alert::silence::create(req, "ana", "s1".into(), now).unwrap();
    st.silences.insert(s.id.clone(), s);
    let f = st.flush(&groups[0].key, None, &c, now, "n1".into());
    assert!(f.notification.is_none(), "nothing visible, nothing to say");
    let later = st.flush(
        &groups[0].key,
        None,
        &c,
        t("2026-01-05T10:00:00Z"),
        "n2".into(),
    );
    assert!(later.notification.is_some(), "the silence has ended");
}

#[test]
fn sla_breach_is_escalated_once() {
    let c = compiled(CFG);
    let mut st = State::new(Registry(c.owners.clone()));
    let now = t("2026-01-05T09:00:00Z");
    take(&mut st, &c, &finding("f1", "bob"), now);
    let before = st.check_sla(&c, now, || "x".into());
    assert!(before.breached.is_empty());
    assert_eq!(
        before.next,
        Some(t("2026-01-05T10:00:00Z")),
        "high: 1h to acknowledge"
    );
    let mut n = 0;
    let at = st.check_sla(&c, t("2026-01-05T10:00:00Z"), || {
        n += 1;
        format!("sla-{n}")
    });
    assert_eq!(at.breached.len(), 1);
    let (a, note) = &at.breached[0];
    assert_eq!(a.sla_breaches, ["acknowledge"]);
    assert_eq!(note.receiver, "team");
    assert_eq!(
        note.reason,
        Reason::SlaBreach {
            kind: "acknowledge".into()
        }
    );
    assert!(
        st.check_sla(&c, t("2026-01-05T10:00:01Z"), || "y".into())
            .breached
            .is_empty()
    );
}

#[test]
fn fan_out_leaves_resolutions_to_those_who_want_them() {
    let c = compiled(CFG);
    let mut st = State::new(Registry(c.owners.clone()));
    let now = t("2026-01-05T09:00:00Z");
    let (a, groups) = take(&mut st, &c, &finding("f1", "bob"), now);
    take(&mut st, &c, &finding("f2", "eve"), now);
    let (r, _) = st
        .change(&a.id, now, |a, now| {
            lifecycle::resolve(a, "ana", Resolution::Benign, None, now)
        })
        .unwrap();
    st.commit_alert(r, false);
    let (n, _) = st
        .flush(&groups[0].key, None, &c, now, "n1".into())
        .notification
        .unwrap();
    assert_eq!(n.alerts.len(), 2);
    let out = fan_out(
        &n,
        [
            Recipient {
                id: "team/webhook/0",
                send_resolved: true,
            },
            Recipient {
                id: "team/slack/1",
                send_resolved: false,
            },
        ],
    );
    assert_eq!(out[0].notification.alerts.len(), 2);
    assert_eq!(
        out[1].notification.alerts.len(),
        1,
        "the resolved alert is dropped"
    );
    assert_ne!(out[0].idempotency_key, out[1].idempotency_key);
    let mut resolved_only = n.clone();
    resolved_only.status = GroupStatus::Resolved;
    assert_eq!(
        fan_out(
            &resolved_only,
            [Recipient {
                id: "x",
                send_resolved: false
            }]
        )
        .len(),
        0
    );
}

#[test]
fn a_ward_owner_label_names_the_owner_outright() {
    let c = compiled(CFG);
    let mut st = State::new(Registry(c.owners.clone()));
    let now = t("2026-01-05T09:00:00Z");
    let mut f = finding("f9", "carol");
    f.rule_id = "compliance:STO-03".into();
    f.labels
        .insert(OWNER_LABEL.to_string(), "security-platform".to_string());
    let (step, _) = take(&mut st, &c, &f, now);
    let a = step.alert.unwrap();
    assert_eq!(a.owner.as_deref(), Some("security-platform"));
    assert_eq!(a.labels["owner"], "security-platform");
    // Without it the registry decides (checkout belongs to payments).
    let (step, _) = take(&mut st, &c, &finding("f10", "dave"), now);
    assert_eq!(step.alert.unwrap().owner.as_deref(), Some("payments"));
}
