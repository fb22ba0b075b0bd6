//! The public API as the application uses it: loading with errors, lint,
//! pipelines over ECS and raw Windows events, matched fields, correlator
//! checkpoints.

use std::path::PathBuf;

use serde_json::json;
use ward_sigma::{Correlator, Engine, EventFields, Pipeline, RuleSet, finding_id, lint};

use crate::corpus;

const GOOD: &str = "title: Whoami\nid: 11111111-1111-1111-1111-111111111111\nstatus: test\nlevel: medium\ndescription: d\nrunbook: https://wiki/runbook\nowner: secops\ntags:\n    - attack.t1033\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    selection:\n        Image|endswith: '\\whoami.exe'\n    condition: selection\n";

#[test]
fn bad_rules_are_reported_with_file_and_line_and_good_ones_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yml"), GOOD).unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "title: Bad\nlogsource:\n    product: windows\ndetection:\n    selection:\n        Image|nosuchmod: x\n    condition: selection\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.yml"), "title: [unclosed\n").unwrap();
    std::fs::write(dir.path().join("cond.yml"), "title: C\nlogsource:\n    product: x\ndetection:\n    sel:\n        a: 1\n    condition: sel and missing\n").unwrap();
    let (set, errors) = RuleSet::load_paths(&[dir.path().to_path_buf()], &[]);
    assert_eq!(set.len(), 1);
    let meta = set.rules().next().unwrap();
    assert_eq!(
        meta.custom.get("runbook"),
        Some(&json!("https://wiki/runbook"))
    );
    assert_eq!(meta.custom.get("owner"), Some(&json!("secops")));
    assert_eq!(meta.tags, vec!["attack.t1033"]);
    assert_eq!(errors.len(), 3, "{errors:?}");
    let bad = errors
        .iter()
        .find(|e| e.origin.ends_with("bad.yml"))
        .unwrap();
    assert_eq!(bad.line, 6);
    assert!(bad.reason.contains("unknown modifier `nosuchmod`"), "{bad}");
    assert!(bad.to_string().contains("bad.yml:6:"));
    let cond = errors
        .iter()
        .find(|e| e.origin.ends_with("cond.yml"))
        .unwrap();
    assert_eq!(cond.line, 7);
    assert!(cond.reason.contains("unknown selection `missing`"));
    assert!(
        errors
            .iter()
            .any(|e| e.origin.ends_with("broken.yml") && e.reason.contains("invalid YAML"))
    );
}

#[test]
fn lint_reports_missing_metadata_and_unused_selections() {
    let set = RuleSet::from_yaml_str(
        "title: T\nlogsource:\n    product: x\ndetection:\n    sel:\n        a|all: 1\n    unused:\n        b: 2\n    condition: sel\n",
        "t.yml",
        &[],
    )
    .unwrap();
    let msgs: Vec<String> = lint::check(&set).into_iter().map(|l| l.message).collect();
    for want in [
        "missing `id`",
        "missing `level`",
        "missing `status`",
        "selection `unused` is not used",
        "`all` on a single value",
    ] {
        assert!(
            msgs.iter().any(|m| m.contains(want)),
            "{want} not in {msgs:?}"
        );
    }
    let clean = RuleSet::from_yaml_str(GOOD, "good.yml", &[]).unwrap();
    assert!(lint::check(&clean).is_empty());
}

#[test]
fn ecs_pipeline_maps_fields_and_logsource() {
    let set = RuleSet::from_yaml_str(GOOD, "good.yml", &corpus::pipelines()).unwrap();
    let engine = Engine::new(&set);
    let ecs = json!({"event": {"category": "process", "type": "start"}, "host": {"os": {"type": "windows"}},
        "process": {"executable": "C:\\Windows\\System32\\whoami.exe"}});
    let m = engine.matches(&ecs);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].fields[0].field, "Image");
    assert_eq!(m[0].fields[0].event_field, "process.executable");
    assert_eq!(m[0].fields[0].value, "C:\\Windows\\System32\\whoami.exe");
    // Same executable but a network event: the logsource does not apply.
    let net = json!({"event": {"category": "network"}, "host": {"os": {"type": "windows"}},
        "process": {"executable": "C:\\Windows\\System32\\whoami.exe"}});
    assert!(engine.matches(&net).is_empty());
    // Linux process: product differs.
    let linux = json!({"event": {"category": "process", "type": "start"}, "host": {"os": {"type": "linux"}},
        "process": {"executable": "C:\\whoami.exe"}});
    assert!(engine.matches(&linux).is_empty());
    // Raw Sysmon event 1.
    let raw = json!({"Event": {"System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1},
        "EventData": {"Image": "C:\\Windows\\System32\\whoami.exe"}}});
    assert_eq!(
        engine.matches(&raw)[0].fields[0].event_field,
        "Event.EventData.Image"
    );
    let raw_other = json!({"Event": {"System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3},
        "EventData": {"Image": "C:\\Windows\\System32\\whoami.exe"}}});
    assert!(engine.matches(&raw_other).is_empty());
}

#[test]
fn expand_uses_pipeline_placeholders() {
    let pipeline = Pipeline::from_yaml_str(
        "name: p\nplaceholders:\n    Admins: [root, admin]\n",
        "p.yml",
    )
    .unwrap();
    let rule = "title: t\nid: t\nlogsource:\n    product: x\ndetection:\n    sel:\n        user|expand: '%Admins%'\n    condition: sel\n";
    let set = RuleSet::from_yaml_str(rule, "t.yml", &[pipeline]).unwrap();
    let engine = Engine::new(&set);
    // No logsources in the pipeline: it recognises nothing, so nothing runs.
    assert!(engine.matches(&json!({"user": "root"})).is_empty());
    let pipeline = Pipeline::from_yaml_str(
        "name: p\nlogsources:\n    - {product: x, when: {kind: x}}\nplaceholders:\n    Admins: [root, admin]\n",
        "p.yml",
    )
    .unwrap();
    let set = RuleSet::from_yaml_str(rule, "t.yml", &[pipeline]).unwrap();
    let engine = Engine::new(&set);
    assert_eq!(
        engine.matches(&json!({"kind": "x", "user": "ADMIN"})).len(),
        1
    );
    assert!(
        engine
            .matches(&json!({"kind": "x", "user": "bob"}))
            .is_empty()
    );
}

#[test]
fn pipeline_errors_name_the_line() {
    let err = Pipeline::from_yaml_str("name: p\nfieldmapings:\n  a: b\n", "p.yml").unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.reason.contains("unknown pipeline key"));
    assert!(Pipeline::load(&PathBuf::from("/nonexistent/p.yml")).is_err());
}

#[test]
fn correlator_checkpoint_round_trips() {
    let text = "title: f\nid: f\nlogsource:\n    product: x\ndetection:\n    sel:\n        a: fail\n    condition: sel\n---\ntitle: c\nid: c\ncorrelation:\n    type: event_count\n    rules: [f]\n    group-by: [user]\n    timespan: 1m\n    condition:\n        gte: 2\n";
    let set = RuleSet::from_yaml_str(text, "c.yml", &[]).unwrap();
    let engine = Engine::new(&set);
    let mut c = Correlator::new(&set, &engine);
    let ev = json!({"a": "fail", "user": "u"});
    assert!(c.observe(1_000, "e1", &ev, &engine.matches(&ev)).is_empty());
    let saved = serde_json::to_string(&c).unwrap();
    let mut restored: Correlator = serde_json::from_str(&saved).unwrap();
    let f = restored.observe(2_000, "e2", &ev, &engine.matches(&ev));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].finding_id, finding_id("c", "user=u", 1_000));
    assert_eq!(f[0].evidence, vec!["e1", "e2"]);
    // Replaying the same events from the checkpoint gives the same id.
    let mut replay: Correlator = serde_json::from_str(&saved).unwrap();
    assert_eq!(
        replay.observe(2_000, "e2", &ev, &engine.matches(&ev))[0].finding_id,
        f[0].finding_id
    );
}

#[test]
fn json_map_lookup_and_keywords() {
    let v = json!({"a": {"b": 1}, "x.y": "z"});
    let map = v.as_object().unwrap();
    assert!(map.field("a.b").is_some());
    assert!(map.field("x.y").is_some());
    assert!(map.keywords(&mut |s| s == "z"));
}

const LOGSOURCE_PIPELINE: &str = "name: stated\npriority: 100\napplies_when:\n  ls.product|exists: true\nlogsource_fields:\n  product: ls.product\n  service: ls.service\n  category: ls.category\nlogsources:\n  - {product: windows, category: registry_event, when: {ls.product: windows, ls.category: [registry_set, registry_add]}}\nfield_prefixes: [data.]\n";

fn rule(id: &str, logsource: &str, field: &str) -> String {
    format!(
        "title: {id}\nid: {id}\nlogsource: {logsource}\ndetection:\n    sel:\n        {field}|contains: evil\n    condition: sel\n"
    )
}

fn ids(engine: &Engine, ev: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = engine.matches(ev).into_iter().map(|m| m.rule_id).collect();
    v.sort();
    v
}

#[test]
fn logsource_fields_derive_an_entry_per_rule_logsource() {
    let p = Pipeline::from_yaml_str(LOGSOURCE_PIPELINE, "stated.yml").unwrap();
    let rules = [
        rule(
            "proc",
            "{product: windows, category: process_creation}",
            "Image",
        ),
        rule("sec", "{product: windows, service: security}", "Image"),
        rule(
            "reg",
            "{product: windows, category: registry_event}",
            "TargetObject",
        ),
        rule("aws", "{product: aws, service: cloudtrail}", "eventName"),
    ]
    .join("---\n");
    let (set, errors) = RuleSet::load_sources(&[("r.yml".into(), rules)], &[p]);
    assert!(errors.is_empty(), "{errors:?}");
    let engine = Engine::new(&set);
    let proc = json!({"ls": {"product": "windows", "service": "security", "category": "process_creation"},
        "data": {"Image": "evil.exe"}});
    assert_eq!(ids(&engine, &proc), ["proc", "sec"]);
    let sysmon = json!({"ls": {"product": "windows", "service": "sysmon", "category": "process_creation"},
        "data": {"Image": "evil.exe"}});
    assert_eq!(ids(&engine, &sysmon), ["proc"]);
    let reg = json!({"ls": {"product": "windows", "category": "registry_set"}, "data": {"TargetObject": "evil"}});
    assert_eq!(ids(&engine, &reg), ["reg"], "alias entry");
    let aws = json!({"ls": {"product": "aws", "service": "cloudtrail"}, "eventName": "evil"});
    assert_eq!(ids(&engine, &aws), ["aws"]);
    let mut seen = Vec::new();
    engine.matches_seen(&json!({"eventName": "evil"}), &mut seen);
    assert!(
        seen.is_empty(),
        "an unrecognized event is visible to no rule"
    );
    engine.matches_seen(&aws, &mut seen);
    assert_eq!(seen.len(), 1);
    assert_eq!(engine.pipeline_name(seen[0].pipeline), Some("stated"));
    let ls = engine
        .entry_logsource(seen[0].pipeline, seen[0].entries[0])
        .unwrap();
    assert_eq!(ls.product.as_deref(), Some("aws"));
}

#[test]
fn the_most_specific_pipeline_evaluates_each_rule_once() {
    // Both pipelines see the event; the generic one maps `Image` to a field
    // where the value is benign, the specific one to where it is evil.
    let generic = "name: generic\napplies_when:\n  any|exists: true\nlogsources:\n  - {product: windows, when: {any: 1}}\nfieldmappings:\n  Image: benign\n";
    let specific = "name: specific\npriority: 10\napplies_when:\n  any|exists: true\nlogsources:\n  - {product: windows, when: {any: 1}}\nfieldmappings:\n  Image: evil\n";
    let ev = json!({"any": 1, "benign": "fine", "evil": "evil.exe"});
    let load = |ps: Vec<Pipeline>| {
        let src = rule("r", "{product: windows}", "Image");
        let (set, errors) = RuleSet::load_sources(&[("r.yml".into(), src)], &ps);
        assert!(errors.is_empty(), "{errors:?}");
        Engine::new(&set)
    };
    let g = || Pipeline::from_yaml_str(generic, "g.yml").unwrap();
    let s = || Pipeline::from_yaml_str(specific, "s.yml").unwrap();
    // Priority decides, whatever the order given; the rule runs once.
    assert_eq!(load(vec![g(), s()]).matches(&ev).len(), 1);
    assert_eq!(load(vec![s(), g()]).matches(&ev).len(), 1);
    // At equal priority a configured pipeline goes before a built-in one.
    let mut builtin = s();
    builtin.priority = 0;
    builtin.builtin = true;
    assert!(load(vec![builtin.clone(), g()]).matches(&ev).is_empty());
    let mut configured = g();
    configured.builtin = true;
    builtin.builtin = false;
    assert_eq!(load(vec![configured, builtin]).matches(&ev).len(), 1);
}
