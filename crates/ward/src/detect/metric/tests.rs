use serde_json::json;

use super::*;

const FLATLINE: &str = "\
ward_rule: flatline
id: 11111111-1111-4111-8111-111111111111
title: Source silent
level: medium
runbook: check the shipper
group-by:
  - service.name
timespan: 10m
min_events: 2
";

const RATIO: &str = "\
ward_rule: ratio
id: 22222222-2222-4222-8222-222222222222
title: Error rate
level: medium
detection:
  selection:
    event.outcome: failure
  condition: selection
population:
  selection:
    event.category: web
  condition: selection
group-by:
  - service.name
timespan: 5m
min_events: 10
condition:
  gte: 0.5
";

const MIN: i64 = 60_000;

fn load(text: &str) -> MetricRules {
    let (rules, errors) = MetricRules::load(&[("t.yml".into(), text.into())]);
    assert!(errors.is_empty(), "{errors:?}");
    rules
}

fn event(service: &str, t_ms: i64, extra: serde_json::Value) -> Event {
    let mut e = Event::default();
    e.set("service.name", json!(service));
    e.set("event.id", json!(format!("{service}-{t_ms}")));
    e.set("event.ingested", json!(rfc3339(t_ms)));
    if let serde_json::Value::Object(m) = extra {
        for (k, v) in m {
            e.set(&k, v);
        }
    }
    e
}

#[test]
fn flatline_fires_once_on_tick_and_again_after_recovery() {
    let mut r = load(FLATLINE);
    let t0 = 1_700_000_000_000;
    assert!(r.observe(&event("api", t0, json!({})), t0).is_empty());
    // One event is below min_events: no silence reported for it.
    assert!(r.tick(t0 + 20 * MIN).is_empty());
    r.observe(&event("api", t0 + MIN, json!({})), t0 + MIN);
    assert!(r.tick(t0 + 5 * MIN).is_empty(), "not silent yet");
    let f = r.tick(t0 + 12 * MIN);
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].group_key.get("service.name").map(String::as_str),
        Some("api")
    );
    assert_eq!(f[0].evidence, vec![format!("api-{}", t0 + MIN)]);
    assert_eq!(f[0].runbook.as_deref(), Some("check the shipper"));
    assert_eq!(f[0].value, Some(660.0));
    assert!(r.tick(t0 + 30 * MIN).is_empty(), "one finding per silence");
    // The source comes back: the gap seen in the log has the same id.
    let back = r.observe(&event("api", t0 + 40 * MIN, json!({})), t0 + 40 * MIN);
    assert_eq!(back.len(), 0, "already reported by tick");
    let again = r.tick(t0 + 60 * MIN);
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, f[0].id);
}

#[test]
fn flatline_gap_in_the_log_gives_the_tick_id() {
    let t0 = 1_700_000_000_000;
    let mut a = load(FLATLINE);
    let mut b = load(FLATLINE);
    for r in [&mut a, &mut b] {
        r.observe(&event("api", t0, json!({})), t0);
        r.observe(&event("api", t0 + MIN, json!({})), t0 + MIN);
    }
    let ticked = a.tick(t0 + 15 * MIN);
    let replayed = b.observe(&event("api", t0 + 15 * MIN, json!({})), t0 + 15 * MIN);
    assert_eq!(ticked.len(), 1);
    assert_eq!(replayed.len(), 1);
    assert_eq!(ticked[0].id, replayed[0].id);
    // Steady traffic never fires.
    let mut c = load(FLATLINE);
    for i in 0..50 {
        assert!(
            c.observe(&event("api", t0 + i * MIN, json!({})), t0 + i * MIN)
                .is_empty()
        );
    }
    assert!(c.tick(t0 + 55 * MIN).is_empty());
}

#[test]
fn flatline_state_survives_a_checkpoint() {
    let t0 = 1_700_000_000_000;
    let mut r = load(FLATLINE);
    r.observe(&event("api", t0, json!({})), t0);
    r.observe(&event("api", t0 + MIN, json!({})), t0 + MIN);
    let saved: MetricRules = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    let mut fresh = load(FLATLINE);
    fresh.restore(saved.clone());
    assert_eq!(fresh.tick(t0 + 20 * MIN).len(), 1);
    let mut deserialized = saved;
    assert_eq!(deserialized.tick(t0 + 20 * MIN).len(), 1);
}

#[test]
fn ratio_fires_at_the_threshold_and_restarts() {
    let t0 = 1_700_000_000_000;
    let mut r = load(RATIO);
    let mut fired = Vec::new();
    for i in 0..10 {
        let outcome = if i % 2 == 0 { "failure" } else { "success" };
        let e = event(
            "shop",
            t0 + i * 1000,
            json!({"event.category": ["web"], "event.outcome": outcome}),
        );
        fired.extend(r.observe(&e, t0 + i * 1000));
    }
    assert_eq!(fired.len(), 1, "5 of 10 failed: 50%");
    assert_eq!(fired[0].value, Some(0.5));
    assert_eq!(fired[0].evidence.len(), 5);
    // Events outside the population are ignored; a healthy window is quiet.
    let mut quiet = load(RATIO);
    for i in 0..100 {
        let outcome = if i % 10 == 0 { "failure" } else { "success" };
        let e = event(
            "shop",
            t0 + i * 1000,
            json!({"event.category": ["web"], "event.outcome": outcome}),
        );
        assert!(quiet.observe(&e, t0 + i * 1000).is_empty());
        let other = event(
            "shop",
            t0 + i * 1000,
            json!({"event.category": ["host"], "event.outcome": "failure"}),
        );
        assert!(quiet.observe(&other, t0 + i * 1000).is_empty());
    }
}

#[test]
fn bad_documents_are_reported_with_lines_and_good_ones_load() {
    let text = format!(
        "{FLATLINE}---\nward_rule: flatline\nid: x\ntitle: t\nlevel: loud\ntimespan: 5m\ngroup-by: [host.name]\n---\n{}",
        RATIO.replace("2222", "3333").replace("gte: 0.5", "gte: 5")
    );
    let (rules, errors) = MetricRules::load(&[("f.yml".into(), text)]);
    assert_eq!(rules.len(), 1);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("f.yml:14: unknown level `loud`"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("share between 0 and 1"), "{}", errors[1]);
    let bad_detection = RATIO.replace(
        "    event.outcome: failure\n",
        "    event.outcome|nosuch: failure\n",
    );
    let (_, errors) = MetricRules::load(&[("d.yml".into(), bad_detection)]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("d.yml:7:"), "{}", errors[0]);
    let (_, errors) =
        MetricRules::load(&[("u.yml".into(), FLATLINE.replace("min_events", "min_event"))]);
    assert!(
        errors[0].starts_with("u.yml:9: unknown key `min_event`"),
        "{}",
        errors[0]
    );
    let (_, errors) =
        MetricRules::load(&[("y.yml".into(), "ward_rule: flatline\nid: [x\n".into())]);
    assert!(errors[0].starts_with("y.yml:"), "{}", errors[0]);
    assert!(is_metric_rule(FLATLINE));
    assert!(!is_metric_rule("title: x\ndetection:\n  ward_rule: 1\n"));
}

#[test]
fn another_tenants_source_of_the_same_name_is_its_own_group() {
    let mut r = load(FLATLINE);
    let t0 = 1_700_000_000_000;
    for i in 0..2 {
        r.observe(&event("api", t0 + i * MIN, json!({})), t0 + i * MIN);
        r.observe(
            &event("api", t0 + i * MIN, json!({"tenant.id": "globex"})),
            t0 + i * MIN,
        );
    }
    // Only the default tenant's api keeps sending: globex's api is silent.
    for i in 2..14 {
        let t = t0 + i * MIN;
        assert!(r.observe(&event("api", t, json!({})), t).is_empty());
    }
    let f = r.tick(t0 + 14 * MIN);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        f[0].group_key.get("tenant.id").map(String::as_str),
        Some("globex")
    );
    assert_eq!(
        f[0].labels.get("tenant.id").map(String::as_str),
        Some("globex")
    );
}

const UNANSWERED: &str = "\
ward_rule: unanswered
id: 33333333-3333-4333-8333-333333333333
title: Deploy without a gate decision
level: high
detection:
  selection:
    event.action: deploy
  condition: selection
answer:
  selection:
    event.action: gate_decision
    ward.gate.decision:
      - pass
      - warn
  condition: selection
group-by:
  - service.name
  - commit
answer-group-by:
  - service.name
  - ward.gate.commit
timespan: 1h
grace: 5m
";

#[test]
fn unanswered_fires_for_an_event_without_its_answer() {
    let mut r = load(UNANSWERED);
    let t0 = 1_700_000_000_000;
    let decision = |c: &str, d: &str, t: i64| {
        event(
            "shop",
            t,
            json!({"event.action": "gate_decision", "ward.gate.commit": c, "ward.gate.decision": d}),
        )
    };
    let deploy = |c: &str, t: i64| event("shop", t, json!({"event.action": "deploy", "commit": c}));
    // Answered before: nothing.
    assert!(r.observe(&decision("c1", "pass", t0), t0).is_empty());
    assert!(r.observe(&deploy("c1", t0 + MIN), t0 + MIN).is_empty());
    // A failing decision is no answer; another commit's pass neither.
    r.observe(&decision("c2", "fail", t0 + MIN), t0 + MIN);
    r.observe(&decision("c9", "pass", t0 + MIN), t0 + MIN);
    assert!(
        r.observe(&deploy("c2", t0 + 2 * MIN), t0 + 2 * MIN)
            .is_empty()
    );
    // An answer arriving within the grace after the event counts.
    r.observe(&deploy("c3", t0 + 2 * MIN), t0 + 2 * MIN);
    r.observe(&decision("c3", "warn", t0 + 4 * MIN), t0 + 4 * MIN);
    assert!(r.tick(t0 + 6 * MIN).is_empty(), "within the grace");
    let f = r.tick(t0 + 8 * MIN);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].group_key.get("commit").map(String::as_str), Some("c2"));
    assert_eq!(f[0].evidence, vec![format!("shop-{}", t0 + 2 * MIN)]);
    assert!(r.tick(t0 + 60 * MIN).is_empty(), "once");
    // An answer older than the timespan does not count.
    r.observe(&deploy("c1", t0 + 90 * MIN), t0 + 90 * MIN);
    let f = r.observe(&deploy("c1", t0 + 100 * MIN), t0 + 100 * MIN);
    assert_eq!(f.len(), 1, "the first redeploy's grace ended: {f:?}");
    // The state survives a checkpoint.
    let saved: MetricRules = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    let mut again = load(UNANSWERED);
    again.restore(saved);
    assert_eq!(again.tick(t0 + 200 * MIN).len(), 1);
}

#[test]
fn unanswered_rules_are_checked() {
    let (_, errors) = MetricRules::load(&[(
        "u.yml".into(),
        UNANSWERED.replace("  - ward.gate.commit\n", ""),
    )]);
    assert!(errors[0].contains("answer-group-by"), "{errors:?}");
    let no_answer = UNANSWERED.split("answer:").next().unwrap().to_owned()
        + "group-by:\n  - service.name\ntimespan: 1h\n";
    let (_, errors) = MetricRules::load(&[("u.yml".into(), no_answer)]);
    assert!(errors[0].contains("needs `detection`"), "{errors:?}");
    let (_, errors) = MetricRules::load(&[("f.yml".into(), format!("{FLATLINE}grace: 5m\n"))]);
    assert!(errors[0].contains("unanswered"), "{errors:?}");
}

#[test]
fn rules_matched_by_one_shared_engine_find_what_each_finds_alone() {
    // The three kinds side by side share one engine; each alone has its
    // own. A mixed stream: web requests that fail or succeed, deploys with
    // and without a gate decision, and a source that goes silent.
    let docs: Vec<(String, String)> = [FLATLINE, RATIO, UNANSWERED]
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("r{i}.yml"), (*t).to_owned()))
        .collect();
    let (mut together, errors) = MetricRules::load(&docs);
    assert!(errors.is_empty(), "{errors:?}");
    let mut alone: Vec<MetricRules> = docs
        .iter()
        .map(|d| MetricRules::load(std::slice::from_ref(d)).0)
        .collect();
    let t0 = 1_700_000_000_000;
    let mut stream = Vec::new();
    for i in 0..120_i64 {
        let t = t0 + i * 7_000;
        let service = ["api", "shop", "batch"][(i % 3) as usize];
        let extra = match i % 5 {
            0 | 1 => json!({"event.category": "web", "event.outcome": "failure"}),
            2 => json!({"event.category": "web", "event.outcome": "success"}),
            3 => json!({"event.action": "deploy", "commit": format!("c{}", i % 4)}),
            _ => json!({"event.action": "gate_decision", "ward.gate.commit": format!("c{}", i % 8),
                        "ward.gate.decision": if i % 2 == 0 { "pass" } else { "fail" }}),
        };
        if service == "batch" && i > 60 {
            continue;
        }
        stream.push((event(service, t, extra), t));
    }
    let ids = |f: Vec<Finding>| f.into_iter().map(|f| f.id).collect::<Vec<_>>();
    let mut fired = 0;
    for (e, t) in &stream {
        let got = ids(together.observe(e, *t));
        let want: Vec<String> = alone
            .iter_mut()
            .flat_map(|r| ids(r.observe(e, *t)))
            .collect();
        assert_eq!(got, want, "at {t}");
        fired += got.len();
    }
    // A restored copy (no compiled engine) rebuilds it and goes on alike.
    let mut restored: MetricRules =
        serde_json::from_str(&serde_json::to_string(&together).unwrap()).unwrap();
    let later = t0 + 3_600_000;
    let e = event(
        "api",
        later,
        json!({"event.category": "web", "event.outcome": "failure"}),
    );
    let got = ids(restored.observe(&e, later));
    assert_eq!(got, ids(together.observe(&e, later)));
    let want: Vec<String> = alone
        .iter_mut()
        .flat_map(|r| ids(r.observe(&e, later)))
        .collect();
    assert_eq!(got, want);
    let tick = t0 + 2 * 3_600_000;
    let got = ids(together.tick(tick));
    let want: Vec<String> = alone.iter_mut().flat_map(|r| ids(r.tick(tick))).collect();
    assert_eq!(got, want);
    fired += got.len();
    assert!(fired >= 3, "the stream must make each kind fire: {fired}");
}
