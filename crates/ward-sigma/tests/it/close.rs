//! Correlations with an upper bound (`lt`, `lte`, `eq`) are decided when
//! their window closes, not when the first event arrives.

use serde_json::{Value, json};
use ward_sigma::{CorrelationFinding, Correlator, Engine, RuleSet, finding_id};

const MIN: i64 = 60_000;

fn setup(kind: &str, condition: &str) -> (Engine, Correlator) {
    let text = format!(
        "title: login\nid: login\nlogsource:\n    product: x\ndetection:\n    sel:\n        action: login\n    condition: sel\n---\n\
         title: few\nid: few\ncorrelation:\n    type: {kind}\n    rules: [login]\n    group-by: [user]\n    timespan: 10m\n    condition:\n        {condition}\n{field}",
        field = if kind == "value_count" {
            "        field: host\n"
        } else {
            ""
        },
    );
    let set = RuleSet::from_yaml_str(&text, "few.yml", &[]).unwrap();
    let engine = Engine::new(&set);
    let c = Correlator::new(&set, &engine);
    (engine, c)
}

fn feed(e: &Engine, c: &mut Correlator, t: i64, id: &str, user: &str) -> Vec<CorrelationFinding> {
    let ev: Value = json!({"action": "login", "user": user, "host": id});
    c.observe(t, id, &ev, &e.matches(&ev))
}

#[test]
fn lt_fires_at_window_close_only_for_groups_below_the_bound() {
    let (e, mut c) = setup("event_count", "lt: 3");
    // Nothing fires on arrival, even though one event is fewer than three.
    assert!(feed(&e, &mut c, 0, "a1", "alice").is_empty());
    for i in 0..4 {
        assert!(feed(&e, &mut c, MIN + i, &format!("b{i}"), "bob").is_empty());
    }
    assert!(feed(&e, &mut c, 5 * MIN, "a2", "alice").is_empty());
    // An event after alice's window (0..10m) closes it: 2 < 3.
    let f = feed(&e, &mut c, 10 * MIN, "c1", "carol");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].group_key, "user=alice");
    assert_eq!(f[0].value, 2.0);
    assert_eq!(f[0].evidence, vec!["a1", "a2"]);
    assert_eq!(f[0].window_start_ms, 0);
    assert_eq!(f[0].window_end_ms, 10 * MIN);
    assert_eq!(f[0].finding_id, finding_id("few", "user=alice", 0));
    // Bob had four: his window closes without a finding; carol's one event
    // fires when time is advanced past her window.
    assert!(c.advance(11 * MIN + 3).is_empty());
    let f = c.advance(20 * MIN);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].group_key, "user=carol");
    assert!(c.advance(i64::MAX).is_empty());
}

#[test]
fn eq_and_value_count_are_decided_at_close() {
    let (e, mut c) = setup("event_count", "eq: 2");
    feed(&e, &mut c, 0, "a1", "alice");
    feed(&e, &mut c, 1, "a2", "alice");
    feed(&e, &mut c, 2, "a3", "alice");
    feed(&e, &mut c, 0, "b1", "bob");
    feed(&e, &mut c, 1, "b2", "bob");
    let f = c.advance(10 * MIN);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].group_key, "user=bob");

    let (e, mut c) = setup("value_count", "lte: 1");
    feed(&e, &mut c, 0, "h1", "alice");
    feed(&e, &mut c, 1, "h2", "alice");
    feed(&e, &mut c, 0, "h1", "bob");
    let f = c.advance(10 * MIN);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].group_key, "user=bob");
}

#[test]
fn open_windows_survive_a_checkpoint() {
    let (e, mut c) = setup("event_count", "lt: 3");
    feed(&e, &mut c, 0, "a1", "alice");
    let saved = serde_json::to_string(&c).unwrap();
    let mut restored: Correlator = serde_json::from_str(&saved).unwrap();
    let f = restored.advance(10 * MIN);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].finding_id, finding_id("few", "user=alice", 0));
    // A checkpoint written before close-evaluated windows existed loads.
    let mut old: Value = serde_json::from_str(&saved).unwrap();
    old.as_object_mut().unwrap().remove("closing");
    let mut from_old: Correlator = serde_json::from_value(old).unwrap();
    assert!(from_old.advance(10 * MIN).is_empty());
    assert!(feed(&e, &mut from_old, 11 * MIN, "a2", "alice").is_empty());
}

#[test]
fn gte_still_fires_on_arrival() {
    let (e, mut c) = setup("event_count", "gte: 2");
    assert!(feed(&e, &mut c, 0, "a1", "alice").is_empty());
    assert_eq!(feed(&e, &mut c, 1, "a2", "alice").len(), 1);
}

#[test]
fn a_partition_keeps_tenants_apart_in_every_window_and_chain() {
    let text = "title: login\nid: login\nlogsource:\n    product: x\ndetection:\n    sel:\n        action: login\n    condition: sel\n---\n\
         title: many\nid: many\nname: many\ncorrelation:\n    type: event_count\n    rules: [login]\n    group-by: [user]\n    timespan: 10m\n    condition:\n        gte: 3\n---\n\
         title: few\nid: few\ncorrelation:\n    type: event_count\n    rules: [login]\n    group-by: [user]\n    timespan: 10m\n    condition:\n        lt: 2\n---\n\
         title: again\nid: again\ncorrelation:\n    type: event_count\n    rules: [many]\n    group-by: [user]\n    timespan: 1h\n    condition:\n        gte: 1\n";
    let set = RuleSet::from_yaml_str(text, "p.yml", &[]).unwrap();
    let e = Engine::new(&set);
    let mut c = Correlator::new(&set, &e).partitioned_by("tenant.id");
    assert_eq!(c.partition(), Some("tenant.id"));
    let mut feed = |t: i64, id: &str, tenant: &str| {
        let ev: Value = json!({"action": "login", "user": "alice", "tenant": {"id": tenant}});
        c.observe(t, id, &ev, &e.matches(&ev))
    };
    // Two of acme's and one of globex's: three alices, but never three in
    // one tenant.
    let mut f = feed(0, "a1", "acme");
    f.extend(feed(1, "a2", "acme"));
    f.extend(feed(2, "g1", "globex"));
    assert!(f.iter().all(|f| f.rule_id != "many"), "{f:?}");
    // A third of acme's fires for acme alone, and its chain stays acme's.
    let f = feed(3, "a3", "acme");
    let rules: Vec<&str> = f.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(rules, vec!["many", "again"], "{f:?}");
    for x in &f {
        assert_eq!(x.group.get("tenant.id").map(String::as_str), Some("acme"));
        assert!(x.group_key.contains("tenant.id=acme"), "{}", x.group_key);
    }
    assert_eq!(f[0].evidence, vec!["a1", "a2", "a3"]);
    // Windows decided at close keep the tenant too: globex's one login.
    let f = c.advance(11 * MIN);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule_id, "few");
    assert_eq!(
        f[0].group.get("tenant.id").map(String::as_str),
        Some("globex")
    );
    // Without the partition the same events are one group.
    let mut c = Correlator::new(&set, &e);
    let mut n = 0;
    for (t, id, tenant) in [(0, "a1", "acme"), (1, "a2", "acme"), (2, "g1", "globex")] {
        let ev: Value = json!({"action": "login", "user": "alice", "tenant": {"id": tenant}});
        n += c
            .observe(t, id, &ev, &e.matches(&ev))
            .iter()
            .filter(|f| f.rule_id == "many")
            .count();
    }
    assert_eq!(n, 1);
}
