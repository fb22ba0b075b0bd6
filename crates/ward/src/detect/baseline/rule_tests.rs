//! The built-in `rules/baseline/` pack against events enriched here: every
//! rule fires on its deviation after learning, and none fires while the
//! entities are still learning. The test events need history, so they are
//! generated rather than kept as files.

use std::path::PathBuf;

use serde_json::json;
use ward_sigma::{Engine, Pipeline, RuleSet};

use super::tests::{DAY, HOUR, alice_history, event, service_history, shop, t0};
use super::*;

fn engine() -> Engine {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pipeline = Pipeline::load(&root.join("pipelines/ward-ecs.yml")).unwrap();
    let (set, errors) = RuleSet::load_paths(&[root.join("rules/baseline")], &[pipeline]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(set.len(), 8);
    Engine::new(&set)
}

fn titles(engine: &Engine, e: &Event) -> Vec<String> {
    let mut t: Vec<String> = engine
        .matches(&e.0)
        .iter()
        .filter_map(|m| engine.rule(m.rule).map(|r| r.title.clone()))
        .collect();
    t.sort();
    t
}

/// The planted deviations, at `day` (days after `t0`).
fn deviations(day: i64) -> Vec<(&'static str, Event)> {
    let d = t0() + day * DAY;
    let files: Vec<String> = (0..400).map(|i| format!("vault/src/m{i}.rs")).collect();
    vec![
        (
            "unusual hour",
            event(
                d + 3 * HOUR,
                json!({"user.id": "alice", "event.category": ["ai"], "repository.name": "web",
                                       "source.ip": "10.1.2.3", "ai.tool.name": "copilot"}),
            ),
        ),
        (
            "new network and repository",
            event(
                d + 11 * HOUR,
                json!({"user.id": "alice", "event.category": ["ai"], "source.ip": "198.51.100.4",
                                        "repository.name": "billing", "ai.tool.name": "copilot"}),
            ),
        ),
        (
            "login from new network at night",
            event(
                d + 2 * HOUR,
                json!({"user.id": "alice", "event.category": ["authentication"],
                                       "event.type": ["start"], "event.outcome": "success",
                                       "source.ip": "203.0.113.50"}),
            ),
        ),
        (
            "AI bulk access, sensitive repository, at night",
            event(
                d + 2 * HOUR + 60_000,
                json!({"user.id": "alice", "event.category": ["ai"],
                "source.ip": "203.0.113.50", "ai.tool.name": "copilot", "repository.name": "vault",
                "repository.sensitivity": "high", "ai.context.files": files}),
            ),
        ),
    ]
}

#[test]
fn every_baseline_rule_fires_after_learning_and_none_before() {
    let engine = engine();
    let cfg = BaselineConfig::default();

    let mut young = Baselines::default();
    alice_history(&mut young, &cfg, 3);
    for (name, mut e) in deviations(3) {
        young.observe(&cfg, &mut e);
        assert!(
            titles(&engine, &e).is_empty(),
            "{name} while learning: {:?}",
            titles(&engine, &e)
        );
    }

    let mut b = Baselines::default();
    alice_history(&mut b, &cfg, 14);
    let fired: Vec<Vec<String>> = deviations(14)
        .into_iter()
        .map(|(_, mut e)| {
            b.observe(&cfg, &mut e);
            titles(&engine, &e)
        })
        .collect();
    let unusual = "Activity at an unusual hour for this account";
    let network = "Account used from a network never seen for it";
    let resource = "Repository, AI tool or client never used before by this entity";
    assert_eq!(fired[0], [unusual]);
    assert_eq!(fired[1], [network, resource]);
    assert_eq!(
        fired[2],
        [
            network,
            unusual,
            "Login from a new network at an unusual hour for the account"
        ]
    );
    assert_eq!(
        fired[3],
        [
            "AI bulk code access to a sensitive repository at an unusual hour",
            unusual,
            "Bulk access far above this entity's usual volume",
            resource,
        ]
    );

    let mut s = Baselines::default();
    service_history(&mut s, &cfg, 14);
    let spike = "Event rate far above this entity's usual rate for the hour";
    let hits = (0..200)
        .filter(|i| {
            let mut e = event(
                t0() + 14 * DAY + 11 * HOUR + i * 10_000,
                json!({"service.name": "auth", "event.category": ["authentication"]}),
            );
            s.observe(&cfg, &mut e);
            titles(&engine, &e).contains(&spike.to_owned())
        })
        .count();
    assert_eq!(hits, 1);

    let ai = "AI-generated endpoint fails significantly more often than human-written code";
    let bad = shop(&cfg, 9, 80);
    let fired = bad
        .iter()
        .filter(|e| titles(&engine, e).contains(&ai.to_owned()))
        .count();
    assert_eq!(fired, 1);
    let fine = shop(&cfg, 9, 12);
    assert!(fine.iter().all(|e| titles(&engine, e).is_empty()));
}

#[test]
fn baseline_rules_fire_alike_on_one_thread_and_shared_over_several() {
    use crate::detect::evaluate::Evaluator;
    use crate::detect::workers::Workers;
    // The built-in pack with its baseline rules: on several threads the
    // rules that need no state are matched ahead of the baselines and the
    // baseline rules after them, in log order.
    let fresh = || {
        let loaded = crate::detect::rules::load(true, &[], &[]);
        Evaluator::new(loaded, Some(BaselineConfig::default()))
    };
    // Alice's usual weekday work for 14 days, then the planted deviations.
    let mut stream = Vec::new();
    for d in 0..14 {
        if d % 7 >= 5 {
            continue;
        }
        for h in 9..18 {
            for i in 0..3 {
                stream.push(event(
                    t0() + d * DAY + h * HOUR + i * 1_000_000,
                    json!({"user.id": "alice", "source.ip": "10.1.2.3", "repository.name": "web",
                           "ai.tool.name": "copilot", "ai.context.files": ["src/a.rs", "src/b.rs"],
                           "event.category": ["ai"]}),
                ));
            }
        }
    }
    stream.extend(deviations(14).into_iter().map(|(_, e)| e));
    let mut one = fresh();
    let mut expected = Vec::new();
    for e in &stream {
        let mut e = e.clone();
        let id = e.get_str("event.id").unwrap_or_default().to_owned();
        for d in one.evaluate(&mut e, &id) {
            expected.push((d.finding.id, d.finding.rule_title));
        }
    }
    let stateful = [
        "Bulk access far above this entity's usual volume",
        "Account used from a network never seen for it",
    ];
    assert!(
        expected.iter().any(|(_, t)| stateful.contains(&t.as_str())),
        "a baseline rule fires: {:?}",
        expected
            .iter()
            .map(|(_, t)| t)
            .collect::<std::collections::BTreeSet<_>>()
    );
    for count in [2, 3] {
        let workers = Workers::new(count);
        let mut shared = fresh();
        let mut got = Vec::new();
        for chunk in stream.chunks(100) {
            shared.evaluate_events(chunk.to_vec(), &workers, |_, _, found| {
                got.extend(
                    found
                        .into_iter()
                        .map(|d| (d.finding.id, d.finding.rule_title)),
                );
            });
        }
        assert_eq!(got, expected, "{count} threads");
    }
}
