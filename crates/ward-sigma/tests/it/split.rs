//! Two engines over disjoint halves of a rule set find, together, exactly
//! what the whole set's engine finds: each rule is judged on its own, so a
//! deployment can match some rules in one place and the rest in another.

use ward_sigma::{Engine, Match};

use crate::corpus;

fn sorted(mut m: Vec<Match>) -> Vec<(usize, String, Option<usize>, String)> {
    m.sort_by_key(|a| (a.rule, a.pipeline));
    m.into_iter()
        .map(|m| (m.rule, m.rule_id, m.pipeline, format!("{:?}", m.fields)))
        .collect()
}

#[test]
fn two_engines_over_a_split_rule_set_find_what_the_whole_set_finds() {
    let (set, _, whole) = corpus::sigmahq();
    // Split by a hash of the index (not by kind): any split must hold.
    let first = |i: usize| (i.wrapping_mul(2_654_435_761) >> 7).is_multiple_of(3);
    let a = Engine::with_rules(set, first);
    let b = Engine::with_rules(set, |i| !first(i));
    let mut events: Vec<serde_json::Value> = corpus::regression_cases()
        .into_iter()
        .flat_map(|c| c.events)
        .collect();
    events.extend(corpus::ecs_events());
    let mut matched = 0;
    let (mut in_a, mut in_b) = (0, 0);
    let (mut seen_whole, mut seen_a, mut seen_b) = (Vec::new(), Vec::new(), Vec::new());
    for e in &events {
        let want = whole.matches_seen(e, &mut seen_whole);
        let (ma, mb) = (
            a.matches_seen(e, &mut seen_a),
            b.matches_seen(e, &mut seen_b),
        );
        // Each half sees the logsources the whole set sees, numbered alike.
        assert_eq!(seen_a, seen_whole, "seen by the first half, event {e}");
        assert_eq!(seen_b, seen_whole, "seen by the second half, event {e}");
        // Merged by (pipeline, rule), the halves' matches come in the
        // whole set's order.
        let mut merged = ma.clone();
        merged.extend(mb.clone());
        merged.sort_by_key(|m| (m.pipeline, m.rule));
        assert_eq!(
            merged
                .iter()
                .map(|m| (m.pipeline, m.rule))
                .collect::<Vec<_>>(),
            want.iter()
                .map(|m| (m.pipeline, m.rule))
                .collect::<Vec<_>>(),
            "order, event {e}"
        );
        assert!(
            ma.iter().all(|m| first(m.rule)),
            "a rule outside the first half matched"
        );
        assert!(
            mb.iter().all(|m| !first(m.rule)),
            "a rule outside the second half matched"
        );
        in_a += ma.len();
        in_b += mb.len();
        let mut got = ma;
        got.extend(mb);
        matched += want.len();
        assert_eq!(sorted(got), sorted(want), "event {e}");
    }
    assert!(
        matched > 300,
        "only {matched} matches: the corpus did not load"
    );
    assert!(
        in_a > 0 && in_b > 0,
        "one half found nothing ({in_a}, {in_b})"
    );
}

#[test]
fn fields_read_lists_items_keywords_fieldrefs_and_filters() {
    let rules = r#"
title: Items
id: r-items
logsource: {product: test}
detection:
  sel:
    CommandLine|contains: whoami
    User|fieldref: TargetUser
  alt:
    - Image|endswith: '\x.exe'
    - ParentImage|endswith: '\y.exe'
  condition: sel or alt
---
title: Keywords
id: r-keywords
logsource: {product: test}
detection:
  kw:
    - mimikatz
  condition: kw
---
title: Not on hosts
name: f-hosts
filter:
  rules: [r-items]
  selection:
    ward.baseline.learning: true
  condition: not selection
logsource: {product: test}
"#;
    let set = ward_sigma::RuleSet::from_yaml_str(rules, "inline.yml", &[]).unwrap();
    let index = |id: &str| set.rules().position(|m| m.key() == id).unwrap();
    let items = set.fields_read(index("r-items"));
    for f in [
        "CommandLine",
        "User",
        "TargetUser",
        "Image",
        "ParentImage",
        "ward.baseline.learning",
    ] {
        assert!(items.contains(&Some(f)), "{f} missing from {items:?}");
    }
    assert!(!items.contains(&None));
    assert_eq!(set.fields_read(index("r-keywords")), vec![None]);
    assert!(set.fields_read(index("f-hosts")).is_empty());
}
