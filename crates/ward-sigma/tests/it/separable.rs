//! Correlation windows kept apart by group: several correlators, each
//! feeding only its share of the groups of the correlations
//! [`Correlator::separable`] allows (and the first also every other
//! correlation), find together exactly what one correlator finds, as a
//! cluster whose partitions each keep some groups' windows must.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use ward_sigma::{CorrelationFinding, Correlator, Engine, RuleSet};

const RULES: &str = r#"
title: A
id: rule-a
name: rule_a
logsource: { product: test }
detection: { sel: { rule: a }, condition: sel }
---
title: B
id: rule-b
name: rule_b
logsource: { product: test }
detection: { sel: { rule: b }, condition: sel }
---
title: C
id: rule-c
name: rule_c
logsource: { product: test }
detection: { sel: { rule: c }, condition: sel }
---
title: Three A per host in 5 minutes
id: count-a
correlation: { type: event_count, rules: [rule_a], group-by: [host], timespan: 5m, condition: { gte: 3 } }
---
title: Fewer than two users of B per host in 10 minutes
id: few-users
correlation: { type: value_count, rules: [rule_b], group-by: [host], timespan: 10m, condition: { field: user, lt: 2 } }
---
title: A then B for one user on one host
id: a-then-b
correlation: { type: temporal_ordered, rules: [rule_a, rule_b], group-by: [host, user], timespan: 2m }
---
title: Bytes of C per user
id: bytes-c
correlation: { type: value_sum, rules: [rule_c], group-by: [user], timespan: 10m, condition: { field: bytes, gt: 900 } }
---
title: C of a user, aliased
id: c-alias
correlation:
  type: event_count
  rules: [rule_c, rule_b]
  group-by: [who]
  aliases: { who: { rule_c: user, rule_b: actor } }
  timespan: 3m
  condition: { gte: 3 }
---
title: Counted C bursts
id: c-burst
name: c_burst
correlation: { type: event_count, rules: [rule_c], group-by: [host], timespan: 3m, condition: { gte: 2 } }
---
title: Bursts of bursts
id: burst-of-bursts
correlation: { type: event_count, rules: [c_burst], group-by: [host], timespan: 30m, condition: { gte: 2 } }
---
title: Bursts on several hosts
id: bursts-anywhere
correlation: { type: event_count, rules: [c_burst], group-by: [], timespan: 30m, condition: { gte: 3 } }
"#;

/// A deterministic stream: rules, hosts, users, tenants and bytes drawn
/// from a linear congruential generator, times rising by 0–19 s.
fn stream(n: usize) -> Vec<(i64, Value)> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    let mut t = 1_700_000_000_000i64;
    (0..n)
        .map(|_| {
            t += next(20) as i64 * 1000;
            let rule = ["a", "b", "c"][next(3) as usize];
            let user = format!("u{}", next(5));
            let e = json!({
                "rule": rule,
                "host": format!("h{}", next(8)),
                "user": user,
                "actor": user,
                "bytes": next(400),
                "tenant": format!("t{}", next(2)),
            });
            (t, e)
        })
        .collect()
}

fn key(f: &CorrelationFinding) -> String {
    format!(
        "{} {} {} {} {} {:?} {}",
        f.finding_id,
        f.rule_id,
        f.group_key,
        f.window_start_ms,
        f.window_end_ms,
        f.evidence,
        f.value
    )
}

fn share(rule_id: &str, group: &str, parts: u64) -> u64 {
    // FNV-1a: any fixed hash of the window's identity will do.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rule_id.bytes().chain([0x1f]).chain(group.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h % parts
}

#[test]
fn correlators_each_keeping_some_groups_find_what_one_finds() {
    let set = RuleSet::from_yaml_str(RULES, "separable.yml", &[]).unwrap();
    let engine = Engine::new(&set);
    let one = Correlator::new(&set, &engine).partitioned_by("tenant");
    assert_eq!(one.len(), 8);
    let separable = one.separable(|_| true, |_| true);
    let ids: Vec<&str> = (0..one.len()).map(|i| one.rule_id(i).unwrap()).collect();
    let apart: BTreeSet<&str> = ids
        .iter()
        .zip(&separable)
        .filter(|(_, s)| **s)
        .map(|(id, _)| *id)
        .collect();
    // A chained child feeds its parent where it fires, so neither is kept
    // apart; every other correlation is.
    assert_eq!(
        apart,
        BTreeSet::from(["count-a", "few-users", "a-then-b", "bytes-c", "c-alias"]),
        "{ids:?}"
    );
    // A correlation over a rule that must stay together is not either.
    let rule_b = (0..set.len())
        .find(|&i| {
            set.rules()
                .nth(i)
                .is_some_and(|m| m.id.as_deref() == Some("rule-b"))
        })
        .unwrap();
    let stay = |flags: Vec<bool>| -> Vec<&str> {
        ids.iter()
            .zip(&flags)
            .filter(|(_, s)| !**s)
            .map(|(id, _)| *id)
            .collect()
    };
    assert_eq!(
        stay(one.separable(|r| r != rule_b, |_| true)),
        [
            "few-users",
            "a-then-b",
            "c-alias",
            "c-burst",
            "burst-of-bursts",
            "bursts-anywhere"
        ]
    );

    // Nor one that groups by or reads a field that must stay together.
    assert_eq!(
        stay(one.separable(|_| true, |f| f != "user")),
        [
            "few-users",
            "a-then-b",
            "bytes-c",
            "c-alias",
            "c-burst",
            "burst-of-bursts",
            "bursts-anywhere"
        ]
    );

    const PARTS: u64 = 3;
    let events = stream(3000);
    let mut whole = one.clone();
    let mut want = Vec::new();
    for (i, (t, e)) in events.iter().enumerate() {
        let m = engine.matches(e);
        want.extend(whole.observe(*t, &i.to_string(), e, &m));
    }
    want.extend(whole.advance(i64::MAX));

    let mut parts: Vec<Correlator> = (0..PARTS).map(|_| one.clone()).collect();
    let mut got = Vec::new();
    let mut fed = vec![0usize; PARTS as usize];
    for (i, (t, e)) in events.iter().enumerate() {
        let m = engine.matches(e);
        let windows = one.windows_fed(e, &m);
        for (p, c) in parts.iter_mut().enumerate() {
            let p = p as u64;
            let keep = |ci: usize, group: &str| {
                if separable[ci] {
                    share(ids[ci], group, PARTS) == p
                } else {
                    p == 0
                }
            };
            // Part 0 gets every event (the tenant's copy); the others
            // only the events that feed one of their windows.
            if p != 0 && !windows.iter().any(|(ci, g)| keep(*ci, g)) {
                continue;
            }
            if windows.iter().any(|(ci, g)| separable[*ci] && keep(*ci, g)) {
                fed[p as usize] += 1;
            }
            got.extend(c.observe_where(*t, &i.to_string(), e, &m, &keep));
        }
    }
    for c in &mut parts {
        got.extend(c.advance(i64::MAX));
    }
    let mut want: Vec<String> = want.iter().map(key).collect();
    let mut got: Vec<String> = got.iter().map(key).collect();
    want.sort();
    got.sort();
    let rules: BTreeSet<&str> = want.iter().filter_map(|k| k.split(' ').nth(1)).collect();
    assert_eq!(
        rules.len(),
        8,
        "every correlation fires on the stream: {rules:?}"
    );
    assert!(
        fed.iter().all(|n| *n > 100),
        "every part keeps windows: {fed:?}"
    );
    assert_eq!(got.len(), want.len(), "as many findings");
    assert_eq!(got, want);
}
