//! Routing features under paused tokio time: grouping, group_wait,
//! group_interval, repeat_interval, continue, inhibition, silences, mute
//! time intervals, resolution and SLA escalation. Delivery is off, so the
//! test reads what each receiver's outbox got.

use std::time::Duration;

use serde_json::json;
use ward_alert::alert::silence::{MatcherInput, NewSilence};
use ward_alert::{AlertFilter, Resolution};

use super::{config, engine, finding, ids, queued};

pub(super) const BASE: &str = r#"
allow_private_destinations = true
escalation_receiver = "pager"
[[receivers]]
name = "team"
[[receivers.webhook_configs]]
url = "http://127.0.0.1:9/team"
[[receivers]]
name = "pager"
[[receivers.webhook_configs]]
url = "http://127.0.0.1:9/pager"
[route]
receiver = "team"
group_by = ["alertname"]
group_wait = "30s"
group_interval = "5m"
repeat_interval = "4h"
"#;

async fn sleep(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn grouping_waits_then_batches_by_group_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    let a = e
        .on_finding(finding("f1", "brute", "high", &[("host.name", "a")]))
        .await
        .unwrap();
    sleep(10).await;
    let b = e
        .on_finding(finding("f2", "brute", "high", &[("host.name", "b")]))
        .await
        .unwrap();
    let c = e
        .on_finding(finding("f3", "exfil", "high", &[("host.name", "a")]))
        .await
        .unwrap();
    assert_ne!(a, b);
    sleep(15).await;
    assert!(queued(&e, "team").is_empty(), "nothing before group_wait");
    sleep(10).await; // 35s: the first group flushed at 30s
    let q = queued(&e, "team");
    assert_eq!(q.len(), 1, "{q:#?}");
    assert_eq!(ids(&q[0]), sorted(&[&a, &b]));
    assert_eq!(q[0]["group_labels"], json!({"alertname": "Rule brute"}));
    sleep(10).await; // 45s: the second group (created at 10s) flushed at 40s
    let q = queued(&e, "team");
    assert_eq!(q.len(), 2);
    assert_eq!(ids(&q[1]), [c]);
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test(start_paused = true)]
async fn group_interval_and_repeat_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    let a = e
        .on_finding(finding("f1", "brute", "high", &[("host.name", "a")]))
        .await
        .unwrap();
    sleep(31).await;
    assert_eq!(queued(&e, "team").len(), 1);
    // A new alert in the group waits for the next group_interval tick (30s + 5m).
    let b = e
        .on_finding(finding("f2", "brute", "high", &[("host.name", "b")]))
        .await
        .unwrap();
    sleep(60).await;
    assert_eq!(queued(&e, "team").len(), 1, "not before group_interval");
    sleep(240).await; // 331s
    let q = queued(&e, "team");
    assert_eq!(q.len(), 2);
    assert_eq!(ids(&q[1]), sorted(&[&a, &b]));
    // The same alert firing again changes nothing to notify.
    e.on_finding(finding("f3", "brute", "high", &[("host.name", "a")]))
        .await
        .unwrap();
    assert_eq!(e.alert(&a).unwrap().count, 2);
    sleep(3600).await;
    assert_eq!(
        queued(&e, "team").len(),
        2,
        "unchanged group is not repeated before repeat_interval"
    );
    sleep(3 * 3600).await; // past 4h after the last notification
    let q = queued(&e, "team");
    assert_eq!(q.len(), 3, "repeat_interval re-notifies");
    assert_eq!(ids(&q[2]), sorted(&[&a, &b]));
}

#[tokio::test(start_paused = true)]
async fn continue_sends_to_every_matching_route() {
    let cfg = format!(
        "{BASE}{}",
        r#"
[[route.routes]]
receiver = "pager"
matchers = ['severity=~"high|critical"']
continue = true
group_wait = "0s"
[[route.routes]]
receiver = "team"
matchers = ['service="db"']
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(&cfg), dir.path(), false).await;
    let crit = e
        .on_finding(finding("f1", "r", "critical", &[("service.name", "db")]))
        .await
        .unwrap();
    let low = e
        .on_finding(finding("f2", "r2", "low", &[("service.name", "web")]))
        .await
        .unwrap();
    sleep(31).await;
    let pager: Vec<Vec<String>> = queued(&e, "pager").iter().map(ids).collect();
    let team: Vec<Vec<String>> = queued(&e, "team").iter().map(ids).collect();
    assert_eq!(pager, [vec![crit.clone()]]);
    assert_eq!(team.len(), 2, "{team:?}");
    assert!(team.contains(&vec![crit]) && team.contains(&vec![low]));
}

#[tokio::test(start_paused = true)]
async fn inhibition_mutes_targets_with_equal_labels() {
    let cfg = format!(
        "{BASE}{}",
        r#"
[[inhibit_rules]]
source_matchers = ['alertname="Rule db_down"']
target_matchers = ['severity!="critical"']
equal = ["host"]
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(&cfg), dir.path(), false).await;
    e.on_finding(finding(
        "f1",
        "db_down",
        "critical",
        &[("host.name", "db1")],
    ))
    .await
    .unwrap();
    let muted = e
        .on_finding(finding("f2", "slow", "high", &[("host.name", "db1")]))
        .await
        .unwrap();
    let other = e
        .on_finding(finding("f3", "slow", "high", &[("host.name", "db2")]))
        .await
        .unwrap();
    sleep(31).await;
    let slow: Vec<_> = queued(&e, "team")
        .into_iter()
        .filter(|n| n["group_labels"]["alertname"] == "Rule slow")
        .collect();
    assert_eq!(slow.len(), 1);
    assert_eq!(ids(&slow[0]), [other]);
    assert!(!ids(&slow[0]).contains(&muted));
}

#[tokio::test(start_paused = true)]
async fn silence_mutes_until_it_expires_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    let s = e
        .add_silence(
            NewSilence {
                matchers: vec![MatcherInput::Text(r#"service="db""#.into())],
                starts_at: None,
                ends_at: None,
                duration: Some("1h".into()),
                comment: "maintenance".into(),
            },
            "ana",
        )
        .await
        .unwrap();
    assert_eq!(s.created_by, "ana");
    let a = e
        .on_finding(finding("f1", "r", "high", &[("service.name", "db")]))
        .await
        .unwrap();
    sleep(31).await;
    assert!(queued(&e, "team").is_empty(), "silenced");
    sleep(3600).await;
    let q = queued(&e, "team");
    assert_eq!(
        q.len(),
        1,
        "notified at the first flush after the silence ended"
    );
    assert_eq!(ids(&q[0]), [a]);
    assert_eq!(
        e.silences()[0].state,
        ward_alert::alert::silence::SilenceState::Expired
    );
}

#[tokio::test(start_paused = true)]
async fn mute_time_interval_holds_notifications_until_it_ends() {
    let cfg = format!(
        "{BASE}{}",
        r#"
[[time_intervals]]
name = "monday-morning"
[[time_intervals.time_intervals]]
weekdays = ["monday"]
times = [{ start_time = "09:00", end_time = "10:00" }]
[[route.routes]]
receiver = "pager"
matchers = ['severity="low"']
mute_time_intervals = ["monday-morning"]
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(&cfg), dir.path(), false).await;
    let low = e.on_finding(finding("f1", "r", "low", &[])).await.unwrap();
    let high = e
        .on_finding(finding("f2", "r2", "high", &[]))
        .await
        .unwrap();
    sleep(31).await;
    assert!(
        queued(&e, "pager").is_empty(),
        "muted on Monday 09:00-10:00"
    );
    assert_eq!(
        ids(&queued(&e, "team")[0]),
        [high],
        "other routes are not muted"
    );
    sleep(3600).await; // 10:00:31, flushes happen every 5 minutes
    let q = queued(&e, "pager");
    assert_eq!(q.len(), 1);
    assert_eq!(ids(&q[0]), [low]);
    let at: jiff::Timestamp = q[0]["created_at"].as_str().unwrap().parse().unwrap();
    assert!(
        at >= "2026-01-05T10:00:00Z".parse().unwrap(),
        "sent after the interval: {at}"
    );
}

#[tokio::test(start_paused = true)]
async fn resolution_is_notified_and_refire_opens_a_new_alert() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    let a = e.on_finding(finding("f1", "r", "high", &[])).await.unwrap();
    sleep(31).await;
    e.resolve(&a, "ana", Resolution::TruePositive, Some("blocked the IP"))
        .await
        .unwrap();
    sleep(300).await;
    let q = queued(&e, "team");
    assert_eq!(q.len(), 2);
    assert_eq!(q[1]["status"], "resolved");
    assert_eq!(q[1]["alerts"][0]["resolution"], "true_positive");
    // Replaying the same finding changes nothing; a new one opens a new alert.
    assert_eq!(
        e.on_finding(finding("f1", "r", "high", &[])).await.unwrap(),
        a
    );
    let b = e.on_finding(finding("f9", "r", "high", &[])).await.unwrap();
    assert_ne!(a, b);
    let nb = e.alert(&b).unwrap();
    assert_eq!(nb.previous.as_deref(), Some(a.as_str()));
    assert_eq!(e.alert(&a).unwrap().status, ward_alert::Status::Resolved);
}

#[tokio::test(start_paused = true)]
async fn acknowledgement_of_the_whole_group_is_notified() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    let a = e.on_finding(finding("f1", "r", "high", &[])).await.unwrap();
    sleep(31).await;
    e.acknowledge(&a, "ana", None).await.unwrap();
    sleep(300).await;
    let q = queued(&e, "team");
    assert_eq!(q.len(), 2);
    assert_eq!(q[1]["status"], "acknowledged");
}

#[tokio::test(start_paused = true)]
async fn sla_breach_escalates_once() {
    let dir = tempfile::tempdir().unwrap();
    let (e, mut audit) = engine(&config(BASE), dir.path(), false).await;
    let late = e
        .on_finding(finding("f1", "r", "critical", &[]))
        .await
        .unwrap();
    let prompt = e
        .on_finding(finding("f2", "r2", "critical", &[]))
        .await
        .unwrap();
    sleep(600).await;
    e.acknowledge(&prompt, "ana", None).await.unwrap();
    sleep(600).await; // 20 minutes: past the 15m acknowledge SLA
    let breaches: Vec<_> = super::all_queued(&e, "pager")
        .into_iter()
        .filter(|n| n["reason"]["type"] == "sla_breach")
        .collect();
    assert_eq!(breaches.len(), 1, "{breaches:#?}");
    assert_eq!(breaches[0]["reason"]["kind"], "acknowledge");
    assert_eq!(ids(&breaches[0]), std::slice::from_ref(&late));
    sleep(1800).await;
    let again = super::all_queued(&e, "pager")
        .into_iter()
        .filter(|n| n["reason"]["type"] == "sla_breach")
        .count();
    assert_eq!(again, 1, "a breach is escalated once");
    assert_eq!(e.alert(&late).unwrap().sla_breaches, ["acknowledge"]);
    let stats = e.response_stats();
    let crit = stats
        .iter()
        .find(|s| s.team == "none" && s.severity == "critical")
        .unwrap();
    assert_eq!((crit.ack_sla_met, crit.ack_sla_missed), (1, 1));
    assert_eq!(crit.mtta_seconds, Some(600.0));
    let mut actions = Vec::new();
    while let Ok(v) = audit.try_recv() {
        actions.push(v["event"]["action"].as_str().unwrap().to_string());
    }
    // A breach is Ward's own change: in the alert's history, not audited.
    assert!(
        !actions.contains(&"alert_sla_breached".to_string()),
        "{actions:?}"
    );
    assert!(
        e.alert(&late)
            .unwrap()
            .history
            .iter()
            .any(|c| c.action == "alert_sla_breached" && c.actor == "ward")
    );
    let ratio = super::metric(
        &e,
        "ward_alert_sla_compliance_ratio",
        &[("team", "none"), ("severity", "critical")],
    )
    .unwrap();
    assert!((ratio - 0.5).abs() < 1e-9, "{ratio}");
}

#[tokio::test(start_paused = true)]
async fn owner_team_receiver_and_coverage_gap() {
    let cfg = format!(
        "{BASE}{}",
        r#"
[owners.teams.payments]
contacts = ["payments@example.com"]
receiver = "pager"
[owners.services]
checkout = "payments"
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(&cfg), dir.path(), false).await;
    let owned = e
        .on_finding(finding("f1", "r", "high", &[("service.name", "checkout")]))
        .await
        .unwrap();
    let orphan = e
        .on_finding(finding("f2", "r", "high", &[("service.name", "unknown")]))
        .await
        .unwrap();
    assert_eq!(e.alert(&owned).unwrap().owner.as_deref(), Some("payments"));
    assert_eq!(e.alert(&owned).unwrap().labels["owner"], "payments");
    assert_eq!(e.alert(&orphan).unwrap().owner, None);
    sleep(31).await;
    assert_eq!(ids(&queued(&e, "pager")[0]), [owned]);
    assert_eq!(
        queued(&e, "pager")[0]["alerts"][0]["owner_contacts"],
        json!(["payments@example.com"])
    );
    assert_eq!(
        ids(&queued(&e, "team")[0]),
        [orphan],
        "no owner: the default receiver"
    );
    let gaps = super::metric(&e, "ward_alert_coverage_gaps_total", &[]).unwrap();
    assert_eq!(gaps, 1.0);
    let open = e.alerts(&AlertFilter {
        owner: Some("none".into()),
        ..Default::default()
    });
    assert_eq!(open.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn state_survives_a_restart_without_renotifying() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let (e, mut audit) = engine(&config(BASE), dir.path(), false).await;
        let a = e
            .on_finding(finding("f1", "r", "high", &[("user.name", "bob")]))
            .await
            .unwrap();
        sleep(31).await;
        e.acknowledge(&a, "ana", Some("on it")).await.unwrap();
        // Opening is Ward's own change: kept in the history, not audited,
        // so the first audit event is the person's acknowledgement.
        let history = e.alert(&a).unwrap().history;
        assert_eq!(history[0].action, "alert_opened");
        assert_eq!(history[0].actor, "ward");
        let acked = audit.recv().await.unwrap();
        assert_eq!(acked["event"]["action"], "alert_acknowledged");
        assert_eq!(acked["user"]["name"], "ana");
        assert_eq!(acked["ward"]["alert"]["id"], a.as_str());
        e.shutdown(std::time::Duration::from_secs(1)).await;
        a
    };
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    let alert = e.alert(&a).unwrap();
    assert_eq!(alert.status, ward_alert::Status::Acknowledged);
    assert_eq!(alert.comments[0].text, "on it");
    assert_eq!(alert.labels["user"], "bob");
    sleep(31).await;
    let q = queued(&e, "team");
    assert_eq!(
        q.len(),
        2,
        "the acknowledgement, not a repeat of the first notification"
    );
    assert_eq!(q[1]["status"], "acknowledged");
    // A replayed finding after the restart still maps to the same alert.
    assert_eq!(
        e.on_finding(finding("f1", "r", "high", &[])).await.unwrap(),
        a
    );
    assert_eq!(e.alert(&a).unwrap().count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_resolution_pending_at_a_stop_is_sent_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
        let a = e
            .on_finding(finding("f1", "r", "high", &[("user.name", "bob")]))
            .await
            .unwrap();
        sleep(31).await;
        assert_eq!(queued(&e, "team").len(), 1, "the firing notification");
        // Resolved, then stopped before the group's next flush.
        e.resolve(&a, "ana", Resolution::TruePositive, None)
            .await
            .unwrap();
        e.shutdown(std::time::Duration::from_secs(1)).await;
        a
    };
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    sleep(31).await;
    let q = queued(&e, "team");
    assert_eq!(
        q.len(),
        2,
        "the resolution is sent after the restart: {q:#?}"
    );
    assert_eq!(q[1]["status"], "resolved");
    assert_eq!(ids(&q[1]), vec![a.clone()]);
    // And only once: a second restart has nothing left to send.
    e.shutdown(std::time::Duration::from_millis(500)).await;
    drop(e);
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    sleep(400).await;
    assert_eq!(queued(&e, "team").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn send_resolved_false_leaves_resolved_alerts_out_of_firing_groups() {
    let cfg = r#"
allow_private_destinations = true
[[receivers]]
name = "team"
[[receivers.webhook_configs]]
url = "http://127.0.0.1:9/all"
[[receivers.webhook_configs]]
url = "http://127.0.0.1:9/firing-only"
send_resolved = false
[route]
receiver = "team"
group_by = ["alertname"]
group_wait = "30s"
group_interval = "5m"
repeat_interval = "4h"
"#;
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(cfg), dir.path(), false).await;
    let a = e
        .on_finding(finding("f1", "brute", "high", &[("host.name", "a")]))
        .await
        .unwrap();
    sleep(31).await;
    e.resolve(&a, "ana", Resolution::TruePositive, None)
        .await
        .unwrap();
    let b = e
        .on_finding(finding("f2", "brute", "high", &[("host.name", "b")]))
        .await
        .unwrap();
    sleep(300).await;
    let views = e.queue("team", 100).unwrap();
    let by_integration = |suffix: &str| -> Vec<serde_json::Value> {
        let mut v: Vec<_> = views
            .iter()
            .filter(|q| q.integration.ends_with(suffix))
            .map(|q| q.notification.clone())
            .collect();
        v.reverse();
        v
    };
    let all = by_integration("/0");
    let firing_only = by_integration("/1");
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(firing_only.len(), 2, "{firing_only:#?}");
    assert_eq!(ids(&all[1]), sorted(&[&a, &b]), "resolved a rides along");
    assert_eq!(ids(&firing_only[1]), vec![b.clone()], "without a");
    assert!(
        firing_only[1]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] != "resolved")
    );
}
