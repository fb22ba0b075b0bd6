//! Every built-in control against its fixtures (`compliance/tests/<ID>.json`):
//! a map from the state expected to a case of events (stored in a real
//! store), Ward facts and an attestation. Times are written relative to
//! the evaluation: `now-2h`, `now+20d`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use ward_store::{Store, StoreConfig};

use super::*;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compliance/tests")
}

/// Replaces every `now±<duration>` string with a timestamp.
fn resolve(v: &mut Value, now: jiff::Timestamp) {
    match v {
        Value::String(s) if s.starts_with("now-") || s.starts_with("now+") => {
            let d = crate::config::parse_duration(&s[4..]).unwrap();
            let d = jiff::SignedDuration::try_from(d).unwrap();
            let t = if s.starts_with("now-") {
                now.checked_sub(d).unwrap()
            } else {
                now.checked_add(d).unwrap()
            };
            *s = t.to_string();
        }
        Value::Array(a) => a.iter_mut().for_each(|x| resolve(x, now)),
        Value::Object(o) => o.values_mut().for_each(|x| resolve(x, now)),
        _ => {}
    }
}

fn store_with(dir: &Path, events: &[Value]) -> Store {
    let cfg = StoreConfig {
        dir: dir.into(),
        ..StoreConfig::default()
    };
    let (store, _) = Store::open(cfg).unwrap();
    let mut records = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Value::Object(map) = e.clone() else {
            panic!("an event is a JSON object")
        };
        let mut ev = crate::model::Event(map);
        ev.set("event.id", format!("fixture-{i}").into());
        records.push(crate::store::record(&mut ev, Duration::from_secs(3600)).unwrap());
    }
    if !records.is_empty() {
        store.append(records).unwrap();
    }
    store
}

/// Evaluates one case of a fixture.
fn run_case(control: &Control, case: &Value, now: jiff::Timestamp) -> Outcome {
    let mut case = case.clone();
    resolve(&mut case, now);
    let dir = tempfile::tempdir().unwrap();
    let events = case["events"].as_array().cloned().unwrap_or_default();
    let store = store_with(dir.path(), &events);
    let facts: Facts = match case.get("facts") {
        Some(f) => serde_json::from_value(f.clone()).unwrap(),
        None => Facts::default(),
    };
    let att: Option<Attestation> = case
        .get("attestation")
        .map(|a| serde_json::from_value(a.clone()).unwrap());
    let out = evaluate::evaluate(control, &store, &facts, att.as_ref(), now);
    store.close().unwrap();
    out
}

#[test]
fn every_builtin_control_passes_and_fails_on_its_fixtures() {
    let pack = control::load(true, &[]);
    assert!(pack.errors.is_empty(), "{:#?}", pack.errors);
    let now = jiff::Timestamp::now();
    let mut failures = Vec::new();
    for c in &pack.controls {
        let path = fixtures_dir().join(format!("{}.json", c.id));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: every control ships fixtures: {e}", path.display()));
        let fixture: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
        assert!(
            fixture.contains_key("pass") && fixture.contains_key("fail"),
            "{}: needs a pass and a fail case",
            path.display()
        );
        for (want, case) in &fixture {
            let out = run_case(c, case, now);
            if out.state.as_str() != want {
                failures.push(format!(
                    "{} case {want}: got {} ({})",
                    c.id,
                    out.state.as_str(),
                    out.reason
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_builtin_pack_covers_every_framework_id_the_issue_names() {
    let pack = control::load(true, &[]);
    let want = [
        ("iso42001", "A.6.2.6"),
        ("iso27001", "A.8.16"),
        ("eu-ai-act", "Art.15"),
        ("eu-ai-act", "Art.72(1)"),
        ("eu-ai-act", "Art.72(2)"),
        ("nist-ai-600-1", "MG-3.2-006"),
        ("nist-ai-600-1", "MG-4.1-002"),
        ("nist-ai-600-1", "GV-1.5-001"),
        ("nist-ai-600-1", "GV-6.2-004"),
        ("nist-ai-600-1", "MP-4.1-001"),
        ("bsi-c5", "OPS-13"),
        ("bsi-c5", "OPS-15"),
        ("bsi-c5", "RE-01"),
        ("bsi-c5", "RE-02"),
        ("bsi-c5", "BC-04"),
        ("pci-dss", "10.2.1"),
        ("pci-dss", "11.5.1"),
        ("pci-dss", "11.5.2"),
        ("soc2", "CC7.2"),
        ("soc2", "CC7.3"),
        ("nist-800-53", "AU-2"),
        ("nist-800-53", "AU-6"),
        ("nist-800-53", "AU-9"),
        ("nist-800-53", "AU-11"),
        ("nist-800-53", "SI-4"),
        ("nist-800-53", "IR-4"),
    ];
    for (fw, id) in want {
        assert!(
            pack.controls
                .iter()
                .any(|c| c.mappings.iter().any(|m| m.framework == fw && m.id == id)),
            "no control maps to {fw} {id}"
        );
    }
}

fn one_control(pack: &Pack, id: &str) -> Pack {
    Pack {
        controls: vec![pack.control(id).unwrap().clone()],
        catalogs: pack.catalogs.clone(),
        errors: Vec::new(),
    }
}

#[test]
fn a_passing_control_that_fails_raises_one_damped_gap_to_its_owner() {
    let all = control::load(true, &[]);
    let pack = one_control(&all, "STO-03");
    let data = tempfile::tempdir().unwrap();
    let store = store_with(&data.path().join("store"), &[]);
    let c = Compliance::new(pack, data.path(), Duration::from_secs(3600));
    let t0 = jiff::Timestamp::now();
    let good = Facts {
        retention_security_days: Some(400),
        ..Facts::default()
    };
    let bad = Facts {
        retention_security_days: Some(10),
        ..Facts::default()
    };
    let hour = jiff::SignedDuration::from_hours(1);
    assert!(c.tick(&store, &good, t0, None).is_empty());
    // Not due again before its cadence (1h).
    let soon = t0.checked_add(jiff::SignedDuration::from_mins(5)).unwrap();
    assert!(c.tick(&store, &bad, soon, None).is_empty());
    assert_eq!(c.results(soon)[0].state, State::Pass);
    let t1 = t0.checked_add(hour).unwrap();
    let gaps = c.tick(&store, &bad, t1, None);
    assert_eq!(gaps.len(), 1);
    let f = gaps[0].finding.as_ref().unwrap();
    assert_eq!(
        f.labels[ward_alert::state::OWNER_LABEL],
        "security-platform"
    );
    assert_eq!(f.rule_id, "compliance:STO-03");
    assert_eq!(f.level, "high");
    // Back to pass and failing again within the damping: no new alert.
    let t2 = t1.checked_add(jiff::SignedDuration::from_mins(10)).unwrap();
    assert!(c.tick(&store, &good, t2, Some("STO-03")).is_empty());
    let t3 = t2.checked_add(jiff::SignedDuration::from_mins(1)).unwrap();
    let gaps = c.tick(&store, &bad, t3, Some("STO-03"));
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0].finding.is_none(), "damped");
    // After the damping, a new change alerts again.
    let t4 = t3.checked_add(hour).unwrap();
    assert!(c.tick(&store, &good, t4, Some("STO-03")).is_empty());
    let gaps = c.tick(&store, &bad, t4, Some("STO-03"));
    assert!(gaps[0].finding.is_some(), "no longer damped");
    // The history has every evaluation, and a restart keeps the state.
    let h = history::read(data.path(), "STO-03", None).unwrap();
    assert_eq!(
        h.iter().map(|e| e.state).collect::<Vec<_>>(),
        vec![
            State::Pass,
            State::Fail,
            State::Pass,
            State::Fail,
            State::Pass,
            State::Fail
        ]
    );
    let again = Compliance::new(
        one_control(&all, "STO-03"),
        data.path(),
        Duration::from_secs(3600),
    );
    assert_eq!(again.results(t4)[0].state, State::Fail);
    // Stale evidence is unknown, never the last state.
    let late = t4
        .checked_add(jiff::SignedDuration::from_hours(25))
        .unwrap();
    assert_eq!(again.results(late)[0].state, State::Unknown);
    store.close().unwrap();
}

#[test]
fn scores_count_only_evaluated_controls_and_report_coverage() {
    let all = control::load(true, &[]);
    let mut results: Vec<ControlResult> = ["STO-02", "STO-03", "STO-01", "ALR-01"]
        .iter()
        .map(|id| blank(all.control(id).unwrap()))
        .collect();
    results[0].state = State::Pass;
    results[1].state = State::Fail;
    results[2].state = State::Unknown;
    results[3].state = State::NotApplicable;
    let s = scores(&all, &results);
    let nist = s.iter().find(|f| f.framework == "nist-800-53").unwrap();
    // AU-9 (STO-02 pass, STO-01 unknown), AU-11 (STO-03 fail), IR-4 (ALR-01 n/a).
    assert_eq!(nist.controls, 4);
    assert_eq!(nist.score, Some(0.5));
    assert!((nist.coverage - 2.0 / 3.0).abs() < 1e-9);
    let soc2 = s.iter().find(|f| f.framework == "soc2").unwrap();
    assert_eq!(
        soc2.score, None,
        "nothing evaluated is no score, never 100%"
    );
}

#[test]
fn an_exception_in_force_excepts_a_failing_control_until_it_expires() {
    let all = control::load(true, &[]);
    let mut c = all.control("STO-03").unwrap().clone();
    let now = jiff::Timestamp::now();
    c.exceptions.push(control::Exception {
        owner: "ciso".into(),
        reason: "migration".into(),
        expires: now
            .checked_add(jiff::SignedDuration::from_hours(1))
            .unwrap(),
    });
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &[]);
    let bad = Facts {
        retention_security_days: Some(10),
        ..Facts::default()
    };
    let out = evaluate::evaluate(&c, &store, &bad, None, now);
    assert_eq!(out.state, State::Excepted);
    assert!(out.reason.contains("underlying: fail"), "{}", out.reason);
    let later = now
        .checked_add(jiff::SignedDuration::from_hours(2))
        .unwrap();
    assert_eq!(
        evaluate::evaluate(&c, &store, &bad, None, later).state,
        State::Fail
    );
    store.close().unwrap();
}

/// A random event of the last 30 hours.
fn random_event(rng: &mut rand::rngs::StdRng, now: jiff::Timestamp) -> Value {
    use rand::Rng as _;
    let ago = jiff::SignedDuration::from_secs(rng.gen_range(0..30 * 3600));
    let category = ["authentication", "web", "iam"][rng.gen_range(0..3)];
    let outcome = ["success", "failure"][rng.gen_range(0..2)];
    let mut e = serde_json::json!({
        "@timestamp": now.checked_sub(ago).unwrap().to_string(),
        "event": {
            "category": category,
            "action": "request",
            "outcome": outcome,
        },
        "service": {"name": format!("svc-{}", rng.gen_range(0..6))},
        "ward": {"source": "test"},
    });
    if rng.gen_bool(0.85) {
        e["user"] = serde_json::json!({"name": format!("user{}", rng.gen_range(0..9))});
    }
    if rng.gen_bool(0.3) {
        e["host"] = serde_json::json!({"name": format!("h{}", rng.gen_range(0..4))});
    }
    e
}

/// A random event control over the fields of [`random_event`].
fn random_control(rng: &mut rand::rngs::StdRng, i: usize) -> String {
    use rand::Rng as _;
    let filters = [
        "*",
        "event.category:authentication",
        "event.category:web AND event.outcome:failure",
        "service.name:svc-1 OR service.name:svc-2",
        "NOT host.name:*",
        "user.name:user3",
    ];
    let windows = ["15m", "1h", "6h", "24h"];
    let pick = |rng: &mut rand::rngs::StdRng, xs: &[&'static str]| xs[rng.gen_range(0..xs.len())];
    let (query, window) = (pick(rng, &filters), pick(rng, &windows));
    let condition = match rng.gen_range(0..4) {
        0 => format!("    at_least: {}\n", rng.gen_range(0..40)),
        1 => format!("    at_most: {}\n", rng.gen_range(0..40)),
        2 => format!(
            "    every:\n      field: {}\n      population: \"{}\"\n      population_window: {}\n",
            pick(rng, &["service.name", "user.name"]),
            pick(rng, &filters),
            pick(rng, &windows)
        ),
        _ => format!(
            "    missing:\n      fields: [{}]\n      max_ratio: 0.{}\n",
            pick(rng, &["user.name", "user.name, host.name", "event.outcome"]),
            rng.gen_range(0..4)
        ),
    };
    let requires = if rng.gen_bool(0.3) {
        format!("    requires: \"{}\"\n", pick(rng, &filters))
    } else {
        String::new()
    };
    format!(
        "id: RAND-{i:03}\ntitle: random {i}\nowner: test\nseverity: low\ncadence: 1m\nevidence_lifetime: 1h\ncheck:\n  events:\n    query: \"{query}\"\n    window: {window}\n{condition}{requires}mappings:\n  - {{framework: soc2, id: CC7.2, relationship: intersects}}\n"
    )
}

#[test]
fn the_shared_pass_and_each_control_alone_agree_on_random_events_and_controls() {
    use rand::SeedableRng as _;
    for seed in 0..3u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let now = jiff::Timestamp::now();
        let events: Vec<Value> = (0..1500).map(|_| random_event(&mut rng, now)).collect();
        let data = tempfile::tempdir().unwrap();
        let store = store_with(&data.path().join("store"), &events);
        let mut files: Vec<(String, String, bool)> = control::builtin_files()
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned(), true))
            .collect();
        files.extend(
            (0..60).map(|i| (format!("rand-{i}.yaml"), random_control(&mut rng, i), false)),
        );
        let pack = control::load_texts(&files, Vec::new());
        assert!(pack.errors.is_empty(), "{:?}", pack.errors);
        let facts = Facts::default();
        let cache = evaluate::QueryCache::default();
        evaluate::prefetch(&pack.controls, &store, now, &cache);
        let answered = cache.len();
        assert!(
            answered > 60,
            "seed {seed}: {answered} aggregations answered"
        );
        let mut states = std::collections::BTreeSet::new();
        for c in &pack.controls {
            let alone = evaluate::evaluate(c, &store, &facts, None, now);
            let shared = evaluate::evaluate_cached(c, &store, &facts, None, now, &cache);
            assert_eq!(shared, alone, "seed {seed}: {}", c.id);
            states.insert(alone.state);
        }
        assert_eq!(
            cache.len(),
            answered,
            "seed {seed}: every question was answered by the pass"
        );
        for s in [State::Pass, State::Fail, State::NotApplicable] {
            assert!(states.contains(&s), "seed {seed}: the mix reaches {s:?}");
        }
        store.close().unwrap();
    }
}

#[test]
fn new_events_evaluate_event_controls_before_their_cadence_and_history_keeps_changes() {
    let catalogs: Vec<(String, String, bool)> = control::builtin_files()
        .iter()
        .filter(|(p, _)| p.contains("/catalogs/"))
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned(), true))
        .collect();
    let mut files = catalogs;
    files.push((
        "GAP-01.yaml".into(),
        "id: GAP-01\ntitle: no forbidden action\nowner: sec\nseverity: high\ncadence: 1h\nevidence_lifetime: 2h\ncheck:\n  events:\n    query: \"event.action:forbidden\"\n    window: 1h\n    at_most: 0\nmappings:\n  - {framework: soc2, id: CC7.2, relationship: intersects}\n".into(),
        false,
    ));
    let pack = control::load_texts(&files, Vec::new());
    assert!(pack.errors.is_empty(), "{:?}", pack.errors);
    let data = tempfile::tempdir().unwrap();
    let t0 = jiff::Timestamp::now();
    let event = |action: &str, t: jiff::Timestamp| serde_json::json!({"@timestamp": t.to_string(), "event": {"action": action}, "service": {"name": "api"}});
    let store = store_with(&data.path().join("store"), &[event("login", t0)]);
    let c = Compliance::new(pack, data.path(), Duration::from_secs(3600));
    let facts = Facts::default();
    let min = |n| t0.checked_add(jiff::SignedDuration::from_mins(n)).unwrap();
    assert!(c.tick(&store, &facts, t0, None).is_empty());
    assert_eq!(c.results(t0)[0].state, State::Pass);
    // Nothing stored since: not due before its cadence.
    assert!(c.tick(&store, &facts, min(1), None).is_empty());
    assert_eq!(c.results(min(1))[0].evaluated_at, Some(t0));
    // A harmless event: evaluated again, same state, no history line.
    let more = |e: Value| {
        let Value::Object(map) = e else { panic!() };
        let mut ev = crate::model::Event(map);
        ev.set("event.id", format!("more-{}", store.next_offset().0).into());
        store
            .append(vec![
                crate::store::record(&mut ev, Duration::from_secs(3600)).unwrap(),
            ])
            .unwrap();
    };
    more(event("logout", min(2)));
    assert!(c.tick(&store, &facts, min(2), None).is_empty());
    assert_eq!(c.results(min(2))[0].evaluated_at, Some(min(2)));
    // The violation: evaluated at the next tick, not an hour later.
    more(event("forbidden", min(3)));
    let gaps = c.tick(&store, &facts, min(3), None);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].to, State::Fail);
    assert!(gaps[0].finding.is_some());
    let h = history::read(data.path(), "GAP-01", None).unwrap();
    assert_eq!(
        h.iter().map(|e| (e.state, e.time)).collect::<Vec<_>>(),
        vec![(State::Pass, t0), (State::Fail, min(3))]
    );
    store.close().unwrap();
}
