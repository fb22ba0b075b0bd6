//! Routing through the public API: the tree picks receivers, `continue`
//! fans out, a team's receiver replaces the root's, and inhibition mutes a
//! target while its source fires. No runtime: `now` is given.

use ward_alert::alert::owner::Registry;
use ward_alert::state::State;
use ward_alert::{Compiled, Finding};

use crate::config;

fn finding(id: &str, rule: &str, level: &str, labels: &[(&str, &str)]) -> Finding {
    let l: std::collections::BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Finding {
        id: id.into(),
        rule_id: rule.into(),
        rule_title: format!("Rule {rule}"),
        level: level.into(),
        tags: vec![],
        description: String::new(),
        group_key: l.clone(),
        evidence: vec![format!("{id}-e1")],
        first_seen: "2026-01-05T08:59:00Z".into(),
        last_seen: "2026-01-05T08:59:30Z".into(),
        labels: l,
        runbook: None,
        value: None,
    }
}

const CFG: &str = r#"
[[receivers]]
name = "default"
[[receivers]]
name = "pager"
[[receivers]]
name = "audit"
[[receivers]]
name = "payments"
[owners.teams.payments]
receiver = "payments"
[owners.services]
checkout = "payments"
[route]
receiver = "default"
group_by = ["alertname"]
[[route.routes]]
receiver = "audit"
matchers = ['severity=~"high|critical"']
continue = true
[[route.routes]]
receiver = "pager"
matchers = ['severity="critical"']
[[inhibit_rules]]
source_matchers = ['alertname="Rule outage"']
target_matchers = ['severity!="critical"']
equal = ["host"]
"#;

/// The receivers that get a notification for each finding taken at `now`.
fn receivers_of(findings: &[Finding]) -> Vec<Vec<String>> {
    let c = Compiled::compile(&config(CFG), None).unwrap();
    let mut st = State::new(Registry(c.owners.clone()));
    let now: jiff::Timestamp = "2026-01-05T09:00:00Z".parse().unwrap();
    let mut out = Vec::new();
    for f in findings {
        let step = st.take_finding(f, None, &c.sla, now).unwrap();
        st.commit_alert(step.alert.unwrap(), false);
        st.route(&step.id, &c, None);
    }
    let mut keys: Vec<String> = st.groups.keys().cloned().collect();
    keys.sort();
    for f in findings {
        let id = st.current[&ward_alert::alert::identity(f)].clone();
        let mut got = Vec::new();
        for k in &keys {
            if st.groups[k].members.contains(&id) {
                let flush = st.flush(k, None, &c, now, format!("n-{k}"));
                if let Some((n, _)) = flush.notification
                    && n.alerts.iter().any(|a| a.id == id)
                {
                    got.push(n.receiver);
                }
            }
        }
        got.sort();
        out.push(got);
    }
    out
}

#[test]
fn the_tree_continue_and_team_receivers_pick_who_hears() {
    let got = receivers_of(&[
        finding("f1", "low", "low", &[("host.name", "h1")]),
        finding("f2", "crit", "critical", &[("host.name", "h2")]),
        finding("f3", "pay", "medium", &[("service.name", "checkout")]),
    ]);
    assert_eq!(got[0], ["default"]);
    assert_eq!(got[1], ["audit", "pager"], "continue = true fans out");
    assert_eq!(
        got[2],
        ["payments"],
        "the owning team's receiver replaces the root"
    );
}

#[test]
fn inhibition_mutes_targets_on_the_same_host_only() {
    let got = receivers_of(&[
        finding("o1", "outage", "critical", &[("host", "h1")]),
        finding("t1", "noise", "high", &[("host", "h1")]),
        finding("t2", "noise", "high", &[("host", "h2")]),
    ]);
    assert_eq!(got[0], ["audit", "pager"]);
    assert!(
        got[1].is_empty(),
        "muted while the outage fires: {:?}",
        got[1]
    );
    assert_eq!(got[2], ["audit"]);
}

#[test]
fn one_rule_and_group_in_two_tenants_are_two_alerts() {
    let c = Compiled::compile(&config(CFG), None).unwrap();
    let mut st = State::new(Registry(c.owners.clone()));
    let now: jiff::Timestamp = "2026-01-05T09:00:00Z".parse().unwrap();
    let group = [("host.name", "build-1"), ("user.name", "mallory")];
    let mut ids = Vec::new();
    for (id, tenant) in [("f1", "globex"), ("f2", "acme"), ("f3", "globex")] {
        let mut f = finding(id, "audit", "high", &group);
        f.labels.insert("tenant.id".into(), tenant.into());
        let step = st.take_finding(&f, None, &c.sla, now).unwrap();
        let alert = step.alert.unwrap();
        assert_eq!(alert.labels["tenant"], tenant);
        ids.push(alert.id.clone());
        st.commit_alert(alert, false);
        st.route(&step.id, &c, None);
    }
    assert_ne!(ids[0], ids[1], "acme's finding opened globex's alert");
    // The root route groups by alertname only, yet no notification group
    // holds both tenants' alerts.
    for (key, g) in &st.groups {
        let tenants: std::collections::BTreeSet<&str> = g
            .members
            .iter()
            .map(|id| st.alerts[id].labels["tenant"].as_str())
            .collect();
        assert_eq!(tenants.len(), 1, "group {key} mixes {tenants:?}");
    }
    assert_eq!(ids[0], ids[2], "globex's second finding refires its alert");
    assert_eq!(st.alerts[&ids[0]].count, 2);
    assert_eq!(st.alerts[&ids[1]].count, 1);
}
