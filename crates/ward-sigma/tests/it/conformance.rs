//! SigmaHQ conformance: every rule parses (except the listed, explained
//! failures) and every rule with regression data matches its events.

use std::collections::BTreeMap;

use crate::corpus;

/// Rules the engine rejects, each with the reason (file name suffix, reason
/// substring). Keep this list exact: a new failure or a fixed one fails.
const ALLOWED_PARSE_FAILURES: &[(&str, &str)] = &[];

#[test]
fn sigmahq_rules_parse() {
    let (set, errors, _) = corpus::sigmahq();
    let total = set.len() + errors.len();
    println!("SigmaHQ rules parsed: {}/{}", set.len(), total);
    for e in errors {
        println!("  failed: {e}");
    }
    let unexpected: Vec<_> = errors
        .iter()
        .filter(|e| {
            !ALLOWED_PARSE_FAILURES
                .iter()
                .any(|(f, r)| e.origin.ends_with(f) && e.reason.contains(r))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected parse failures: {unexpected:#?}"
    );
    assert_eq!(
        errors.len(),
        ALLOWED_PARSE_FAILURES.len(),
        "an allowed failure now parses: update the list"
    );
    assert!(set.len() > 3_700, "only {} rules loaded", set.len());
}

#[test]
fn sigmahq_regression_events_match() {
    let (set, _errors, engine) = corpus::sigmahq();
    let cases = corpus::regression_cases();
    assert!(
        cases.len() >= 200,
        "regression data missing: {} cases",
        cases.len()
    );
    let mut missed = Vec::new();
    let mut others: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        let mut hit = false;
        for ev in &case.events {
            for m in engine.matches(ev) {
                if m.rule_id == case.rule_id {
                    hit = true;
                } else {
                    *others.entry(m.rule_id.clone()).or_default() += 1;
                }
            }
        }
        if !hit {
            missed.push(format!("{} ({})", case.rule_id, case.file.display()));
        }
    }
    println!(
        "regression cases matched: {}/{}",
        cases.len() - missed.len(),
        cases.len()
    );
    let mut top: Vec<_> = others.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    println!(
        "other rules matching regression events: {} rules, {} matches",
        others.len(),
        others.values().sum::<usize>()
    );
    for (rule, n) in top.iter().take(15) {
        let title = set
            .rules()
            .find(|m| m.id.as_deref() == Some(rule.as_str()))
            .map(|m| m.title.clone())
            .unwrap_or_default();
        println!("  {n:4}  {rule}  {title}");
    }
    assert!(
        missed.is_empty(),
        "rules not matching their regression events:\n{}",
        missed.join("\n")
    );
}

/// The literal prefilter never changes a result: on the regression events
/// and ECS events, prefiltered matching equals exhaustive matching.
#[test]
fn prefilter_equals_exhaustive_evaluation() {
    let (_, _, engine) = corpus::sigmahq();
    let mut events: Vec<serde_json::Value> = corpus::regression_cases()
        .into_iter()
        .flat_map(|c| c.events)
        .collect();
    events.extend(corpus::ecs_events());
    let mut total = 0;
    for ev in &events {
        let fast: Vec<usize> = engine.matches(ev).iter().map(|m| m.rule).collect();
        let slow: Vec<usize> = engine
            .matches_exhaustive(ev)
            .iter()
            .map(|m| m.rule)
            .collect();
        assert_eq!(fast, slow, "prefilter changed the result for {ev}");
        total += fast.len();
    }
    assert!(
        total > events.len() / 2,
        "too few matches ({total}) for the comparison to mean anything"
    );
}
