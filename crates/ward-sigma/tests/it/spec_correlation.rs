//! The specification's correlation fixtures (`tests/schema/correlation`)
//! parse, and behave as the specification documents when fed events.

use serde_json::{Value, json};
use ward_sigma::{CorrelationFinding, Correlator, Engine, RuleSet};

use crate::corpus;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        corpus::spec_dir()
            .join("tests/schema/correlation")
            .join(name),
    )
    .unwrap()
}

/// A base rule named/identified `key` matching events with `rule: key`.
fn base(key: &str) -> String {
    format!(
        "title: {key}\nid: {key}\nname: {key}\nlogsource:\n    product: test\ndetection:\n    sel:\n        rule: {key}\n    condition: sel\n"
    )
}

fn setup(fixture_name: &str, bases: &[&str]) -> (Engine, Correlator) {
    let mut text = fixture(fixture_name);
    for b in bases {
        text.push_str("\n---\n");
        text.push_str(&base(b));
    }
    let set = RuleSet::from_yaml_str(&text, fixture_name, &[]).unwrap();
    let engine = Engine::new(&set);
    let correlator = Correlator::new(&set, &engine);
    assert_eq!(correlator.len(), 1);
    (engine, correlator)
}

fn feed(
    engine: &Engine,
    c: &mut Correlator,
    t_ms: i64,
    id: &str,
    ev: Value,
) -> Vec<CorrelationFinding> {
    let m = engine.matches(&ev);
    c.observe(t_ms, id, &ev, &m)
}

const FAILED: &str = "5638f7c0-ac70-491d-8465-2a65075e0d86";

#[test]
fn all_fixtures_parse_with_their_rules() {
    for (f, bases) in [
        ("event_count.yml", vec![FAILED]),
        ("event_count_ecs.yml", vec![FAILED]),
        ("value_count.yml", vec![FAILED]),
        (
            "temporal.yml",
            vec!["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"],
        ),
        (
            "temporal_ordered.yml",
            vec!["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"],
        ),
        ("value_sum.yml", vec!["website_access"]),
        ("value_avg.yml", vec!["rule_a_id"]),
        ("value_percentile.yml", vec!["process_creation"]),
    ] {
        setup(f, &bases);
        // Without its referenced rules, a correlation is reported, not loaded.
        let err = RuleSet::from_yaml_str(&fixture(f), f, &[]).unwrap_err();
        assert!(err[0].reason.contains("unknown rule"), "{f}: {err:?}");
    }
}

#[test]
fn event_count_needs_100_in_an_hour_per_computer() {
    let (e, mut c) = setup("event_count.yml", &[FAILED]);
    for i in 0..99 {
        assert!(
            feed(
                &e,
                &mut c,
                i * 1000,
                &format!("a{i}"),
                json!({"rule": FAILED, "ComputerName": "A"})
            )
            .is_empty()
        );
        assert!(
            feed(
                &e,
                &mut c,
                i * 1000,
                &format!("b{i}"),
                json!({"rule": FAILED, "ComputerName": "B"})
            )
            .is_empty()
        );
    }
    let f = feed(
        &e,
        &mut c,
        99_000,
        "a99",
        json!({"rule": FAILED, "ComputerName": "A"}),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].value, 100.0);
    assert_eq!(
        f[0].group.get("ComputerName").map(String::as_str),
        Some("A")
    );
    // B's 100th event comes more than an hour after its first: no finding.
    assert!(
        feed(
            &e,
            &mut c,
            3_600_000 + 1_000,
            "b99",
            json!({"rule": FAILED, "ComputerName": "B"})
        )
        .is_empty()
    );
}

#[test]
fn value_count_counts_distinct_users() {
    let (e, mut c) = setup("value_count.yml", &[FAILED]);
    let ev = |u: i64| json!({"rule": FAILED, "ComputerName": "A", "WorkstationName": "W", "User": format!("u{u}")});
    for i in 0..99 {
        assert!(feed(&e, &mut c, i, &format!("e{i}"), ev(i)).is_empty());
        assert!(
            feed(&e, &mut c, i, &format!("d{i}"), ev(i)).is_empty(),
            "repeated user counted twice"
        );
    }
    assert_eq!(feed(&e, &mut c, 100, "e99", ev(99)).len(), 1);
}

#[test]
fn temporal_needs_all_rules_within_5m_same_group() {
    let (e, mut c) = setup(
        "temporal.yml",
        &["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"],
    );
    let ev = |r: &str, user: &str| json!({"rule": r, "ComputerName": "A", "User": user});
    assert!(feed(&e, &mut c, 0, "1", ev("recon_cmd_c", "bob")).is_empty());
    assert!(feed(&e, &mut c, 1_000, "2", ev("recon_cmd_a", "bob")).is_empty());
    assert!(
        feed(&e, &mut c, 2_000, "3", ev("recon_cmd_b", "eve")).is_empty(),
        "other user is another group"
    );
    let f = feed(&e, &mut c, 3_000, "4", ev("recon_cmd_b", "bob"));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].evidence, vec!["1", "2", "4"]);
    // Spread over more than 5 minutes: nothing.
    assert!(feed(&e, &mut c, 10_000, "5", ev("recon_cmd_a", "x")).is_empty());
    assert!(feed(&e, &mut c, 200_000, "6", ev("recon_cmd_b", "x")).is_empty());
    assert!(feed(&e, &mut c, 400_000, "7", ev("recon_cmd_c", "x")).is_empty());
}

#[test]
fn temporal_ordered_requires_the_order() {
    let (e, mut c) = setup(
        "temporal_ordered.yml",
        &["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"],
    );
    let ev = |r: &str| json!({"rule": r, "ComputerName": "A", "User": "bob"});
    assert!(feed(&e, &mut c, 0, "1", ev("recon_cmd_c")).is_empty());
    assert!(feed(&e, &mut c, 1, "2", ev("recon_cmd_b")).is_empty());
    assert!(feed(&e, &mut c, 2, "3", ev("recon_cmd_a")).is_empty());
    assert!(
        feed(&e, &mut c, 3, "4", ev("recon_cmd_c")).is_empty(),
        "b came before a"
    );
    assert!(feed(&e, &mut c, 4, "5", ev("recon_cmd_b")).is_empty());
    assert_eq!(feed(&e, &mut c, 5, "6", ev("recon_cmd_c")).len(), 1);
}

#[test]
fn value_sum_avg_percentile() {
    let (e, mut c) = setup("value_sum.yml", &["website_access"]);
    let ev = |b: i64| json!({"rule": "website_access", "SourceIP": "1.1.1.1", "User": "u", "bytes_sent": b});
    assert!(feed(&e, &mut c, 0, "1", ev(600_000)).is_empty());
    let f = feed(&e, &mut c, 1, "2", ev(400_001));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].value, 1_000_001.0);

    let (e, mut c) = setup("value_avg.yml", &["rule_a_id"]);
    let ev =
        |b: i64| json!({"rule": "rule_a_id", "SourceIP": "1.1.1.1", "User": "u", "BytesOut": b});
    assert!(feed(&e, &mut c, 0, "1", ev(400)).is_empty());
    assert_eq!(
        feed(&e, &mut c, 1, "2", ev(700)).len(),
        1,
        "average 550 > 500"
    );

    let (e, mut c) = setup("value_percentile.yml", &["process_creation"]);
    let ev = |img: &str| json!({"rule": "process_creation", "ComputerName": "A", "Image": img});
    for i in 0..150 {
        assert!(feed(&e, &mut c, i, &i.to_string(), ev("svchost.exe")).is_empty());
    }
    let f = feed(&e, &mut c, 200, "rare", ev("evil.exe"));
    assert_eq!(f.len(), 1, "a value seen in under 1% of the group's events");
}
