use serde_json::{Value, json};

use super::error_rate::{fisher_greater, one_sided_p, upper_normal_tail, z_test_greater};
use super::*;

pub(super) const HOUR: i64 = 3_600_000;
pub(super) const DAY: i64 = 24 * HOUR;

/// Monday 2026-01-05 00:00:00 UTC.
pub(super) fn t0() -> i64 {
    "2026-01-05T00:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

fn at(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

pub(super) fn event(ms: i64, fields: Value) -> Event {
    let mut e = Event::default();
    e.set("@timestamp", json!(at(ms)));
    for (k, v) in fields.as_object().unwrap() {
        e.set(k, v.clone());
    }
    e
}

/// A small deterministic generator, so tests need no crate.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Alice works 09:00–17:59 UTC on weekdays for `days` days from `t0`, from
/// one network, on one repository, with a few files per AI prompt.
pub(super) fn alice_history(b: &mut Baselines, cfg: &BaselineConfig, days: i64) {
    let mut rng = Lcg(7);
    for d in 0..days {
        if d % 7 >= 5 {
            continue;
        }
        for h in 9..18 {
            for i in 0..3 {
                let ms = t0() + d * DAY + h * HOUR + i * 1_000_000 + rng.next(600_000) as i64;
                let files: Vec<String> = (0..(2 + rng.next(5)))
                    .map(|f| format!("src/f{f}.rs"))
                    .collect();
                let mut e = event(
                    ms,
                    json!({"user.id": "alice", "source.ip": "10.1.2.3", "repository.name": "web",
                           "ai.tool.name": "copilot", "ai.context.files": files,
                           "event.category": ["ai"]}),
                );
                b.observe(cfg, &mut e);
            }
        }
    }
}

#[test]
fn unusual_hour_only_after_learning() {
    let cfg = BaselineConfig::default();
    let mut b = Baselines::default();
    alice_history(&mut b, &cfg, 3);
    let mut early = event(t0() + 3 * DAY + 3 * HOUR, json!({"user.id": "alice"}));
    b.observe(&cfg, &mut early);
    assert_eq!(early.get("ward.baseline.learning"), Some(&json!(true)));
    assert_eq!(early.get("ward.baseline.unusual_hour"), None);

    let mut b = Baselines::default();
    alice_history(&mut b, &cfg, 14);
    let mut night = event(t0() + 14 * DAY + 3 * HOUR, json!({"user.id": "alice"}));
    b.observe(&cfg, &mut night);
    assert_eq!(night.get("ward.baseline.learning"), None);
    assert_eq!(night.get("ward.baseline.unusual_hour"), Some(&json!(true)));
    assert!(
        night
            .get("ward.baseline.hour_probability")
            .unwrap()
            .as_f64()
            .unwrap()
            < 0.01
    );
    let mut day = event(t0() + 14 * DAY + 11 * HOUR, json!({"user.id": "alice"}));
    b.observe(&cfg, &mut day);
    assert_eq!(day.get("ward.baseline.unusual_hour"), Some(&json!(false)));
    // Starting an hour early is not unusual (neighbouring hours count).
    let mut early_start = event(t0() + 14 * DAY + 8 * HOUR, json!({"user.id": "alice"}));
    b.observe(&cfg, &mut early_start);
    assert_eq!(
        early_start.get("ward.baseline.unusual_hour"),
        Some(&json!(false))
    );
}

#[test]
fn another_tenants_user_of_the_same_name_has_its_own_baseline() {
    let cfg = BaselineConfig::default();
    let mut b = Baselines::default();
    alice_history(&mut b, &cfg, 14);
    // The default tenant's alice is learned; globex's alice is new.
    let mut ours = event(t0() + 14 * DAY + 3 * HOUR, json!({"user.id": "alice"}));
    b.observe(&cfg, &mut ours);
    assert_eq!(ours.get("ward.baseline.unusual_hour"), Some(&json!(true)));
    let mut theirs = event(
        t0() + 14 * DAY + 3 * HOUR,
        json!({"user.id": "alice", "tenant.id": "globex"}),
    );
    b.observe(&cfg, &mut theirs);
    assert_eq!(theirs.get("ward.baseline.learning"), Some(&json!(true)));
    assert_eq!(theirs.get("ward.baseline.unusual_hour"), None);
    assert_eq!(scoped("default", "user\u{1f}alice"), "user\u{1f}alice");
    assert_ne!(scoped("globex", "x"), scoped("acme", "x"));
}

#[test]
fn first_seen_values_after_learning() {
    let cfg = BaselineConfig::default();
    let mut b = Baselines::default();
    alice_history(&mut b, &cfg, 2);
    let mut e = event(
        t0() + 2 * DAY + 10 * HOUR,
        json!({"user.id": "alice", "source.ip": "203.0.113.9"}),
    );
    b.observe(&cfg, &mut e);
    assert_eq!(
        e.get("ward.baseline.first_seen"),
        None,
        "no first-seen while learning"
    );

    let mut b = Baselines::default();
    alice_history(&mut b, &cfg, 14);
    let when = t0() + 14 * DAY + 10 * HOUR;
    let mut known = event(
        when,
        json!({"user.id": "alice", "source.ip": "10.1.2.200", "repository.name": "web"}),
    );
    b.observe(&cfg, &mut known);
    assert_eq!(
        known.get("ward.baseline.first_seen"),
        None,
        "same /24, same repository"
    );
    let mut new = event(
        when + 1000,
        json!({"user.id": "alice", "source.ip": "203.0.113.9", "repository.name": "payments-vault",
               "ai.tool.name": "copilot"}),
    );
    b.observe(&cfg, &mut new);
    assert_eq!(
        new.get("ward.baseline.first_seen"),
        Some(&json!(["repository.name", "source.network"]))
    );
    assert_eq!(
        new.get("ward.baseline.first_seen_by"),
        Some(&json!(["ai_tool", "user"]))
    );
    // Once seen, a value is no longer new.
    let mut again = event(
        when + 2000,
        json!({"user.id": "alice", "source.ip": "203.0.113.10"}),
    );
    b.observe(&cfg, &mut again);
    assert_eq!(again.get("ward.baseline.first_seen"), None);
}

/// The auth service sees about ten events an hour, every hour.
pub(super) fn service_history(b: &mut Baselines, cfg: &BaselineConfig, days: i64) {
    let mut rng = Lcg(11);
    for h in 0..days * 24 {
        for _ in 0..(8 + rng.next(5)) {
            let ms = t0() + h * HOUR + rng.next(HOUR as u64) as i64;
            let mut e = event(ms, json!({"service.name": "auth"}));
            b.observe(cfg, &mut e);
        }
    }
}

fn burst(b: &mut Baselines, cfg: &BaselineConfig, start: i64, n: i64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut e = event(start + i * 10_000, json!({"service.name": "auth"}));
            b.observe(cfg, &mut e);
            e
        })
        .collect()
}

#[test]
fn rate_spike_after_learning_once_per_hour() {
    let cfg = BaselineConfig::default();
    let mut b = Baselines::default();
    service_history(&mut b, &cfg, 2);
    let events = burst(&mut b, &cfg, t0() + 2 * DAY + 10 * HOUR, 200);
    assert!(
        events
            .iter()
            .all(|e| e.get("ward.baseline.rate.spike").is_none())
    );

    let mut b = Baselines::default();
    service_history(&mut b, &cfg, 14);
    let normal = burst(&mut b, &cfg, t0() + 14 * DAY + 10 * HOUR, 10);
    assert!(
        normal
            .iter()
            .all(|e| e.get("ward.baseline.rate.spike").is_none())
    );
    let spiked = burst(&mut b, &cfg, t0() + 14 * DAY + 11 * HOUR, 200);
    let flagged: Vec<usize> = spiked
        .iter()
        .enumerate()
        .filter(|(_, e)| e.get("ward.baseline.rate.spike").is_some())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(flagged.len(), 1, "one spike per hour, not one per event");
    assert!(flagged[0] >= 29, "needs rate_min_events");
    let last = spiked.last().unwrap();
    assert!(
        last.get("ward.baseline.rate.zscore")
            .unwrap()
            .as_f64()
            .unwrap()
            > 30.0
    );
    assert_eq!(
        last.get_str("ward.baseline.rate.entity"),
        Some("service.name=auth")
    );
}

#[test]
fn bulk_access_after_learning() {
    let cfg = BaselineConfig::default();
    let bulk = |b: &mut Baselines, ms: i64| {
        let files: Vec<String> = (0..400).map(|f| format!("src/f{f}.rs")).collect();
        let mut e = event(
            ms,
            json!({"user.id": "alice", "ai.context.files": files, "ai.tool.name": "copilot"}),
        );
        b.observe(&cfg, &mut e);
        e
    };
    let mut b = Baselines::default();
    alice_history(&mut b, &cfg, 2);
    let e = bulk(&mut b, t0() + 2 * DAY + 10 * HOUR);
    assert_eq!(e.get("ward.baseline.bulk_access"), None);

    let mut b = Baselines::default();
    alice_history(&mut b, &cfg, 14);
    let e = bulk(&mut b, t0() + 14 * DAY + 10 * HOUR);
    assert_eq!(e.get("ward.baseline.bulk_access"), Some(&json!(true)));
    assert!(
        e.get("ward.baseline.volume.zscore")
            .unwrap()
            .as_f64()
            .unwrap()
            > 10.0
    );
    let e = bulk(&mut b, t0() + 14 * DAY + 10 * HOUR + 60_000);
    assert_eq!(
        e.get("ward.baseline.bulk_access"),
        None,
        "once per interval"
    );
    // Usual volume is not bulk.
    let mut normal = event(
        t0() + 14 * DAY + 12 * HOUR,
        json!({"user.id": "alice", "ai.context.files": ["a.rs", "b.rs", "c.rs"]}),
    );
    b.observe(&cfg, &mut normal);
    assert_eq!(normal.get("ward.baseline.bulk_access"), None);
    assert!(normal.get("ward.baseline.volume.zscore").is_some());
}

/// Requests to the shop: human endpoints fail at 1 %, the AI endpoint at
/// `ai_error_permille`. Returns every event of the AI endpoint.
pub(super) fn shop(cfg: &BaselineConfig, days: i64, ai_error_permille: u64) -> Vec<Event> {
    let mut rng = Lcg(3);
    let mut b = Baselines::default();
    let mut out = Vec::new();
    for i in 0..days * 24 * 20 {
        let ms = t0() + i * (HOUR / 20);
        let ai = i % 4 == 0;
        let error = rng.next(1000) < if ai { ai_error_permille } else { 10 };
        let mut e = event(
            ms,
            json!({"service.name": "shop", "event.category": ["web"], "http.route": if ai { "/api/coupons" } else { "/api/cart" },
                   "code.origin": if ai { "ai" } else { "human" },
                   "http.response.status_code": if error { 503 } else { 200 }}),
        );
        b.observe(cfg, &mut e);
        if ai {
            out.push(e);
        }
    }
    out
}

#[test]
fn ai_error_rate_significant_for_a_clear_difference_only() {
    let cfg = BaselineConfig::default();
    let bad = shop(&cfg, 9, 80);
    let flagged = bad
        .iter()
        .filter(|e| e.get("ward.baseline.ai_error_rate.significant").is_some())
        .count();
    assert_eq!(flagged, 1, "reported once when it becomes significant");
    let last = bad.last().unwrap();
    assert!(
        last.get("ward.baseline.ai_error_rate.p_value")
            .unwrap()
            .as_f64()
            .unwrap()
            < 1e-6
    );
    assert_eq!(
        last.get_str("ward.baseline.ai_error_rate.endpoint"),
        Some("shop /api/coupons")
    );
    // Before the learning period nothing is tested.
    let first_day = t0() + 7 * DAY;
    assert!(bad.iter().all(|e| {
        let ms = event_time_ms(e).unwrap();
        ms >= first_day || e.get("ward.baseline.ai_error_rate.p_value").is_none()
    }));

    let same = shop(&cfg, 9, 12);
    assert!(
        same.iter()
            .all(|e| e.get("ward.baseline.ai_error_rate.significant").is_none())
    );
    assert!(
        same.last()
            .unwrap()
            .get("ward.baseline.ai_error_rate.p_value")
            .unwrap()
            .as_f64()
            .unwrap()
            > 0.01
    );
}

#[test]
fn statistical_tests_match_known_values() {
    // Fisher's tea-tasting table [[3,1],[1,3]]: P(X >= 3) = 17/70.
    assert!((fisher_greater(3, 4, 1, 4) - 17.0 / 70.0).abs() < 1e-9);
    assert!((fisher_greater(0, 4, 4, 4) - 1.0).abs() < 1e-9);
    assert!((upper_normal_tail(1.959_964) - 0.025).abs() < 1e-6);
    assert!((upper_normal_tail(0.0) - 0.5).abs() < 1e-7);
    assert!((upper_normal_tail(-1.644_854) - 0.95).abs() < 1e-6);
    // 30/200 against 10/200: pooled 0.1, se 0.03, z = 3.333, p ≈ 0.000429.
    let p = z_test_greater(30.0, 200.0, 10.0, 200.0);
    assert!((p - 0.000_429).abs() < 0.000_002, "{p}");
    // Rare errors use the exact test.
    assert_eq!(one_sided_p(3.0, 40.0, 1.0, 400.0).1, "fisher");
    assert_eq!(one_sided_p(30.0, 200.0, 10.0, 200.0).1, "z");
    // A lower AI error rate is never significant.
    assert!(one_sided_p(1.0, 200.0, 30.0, 200.0).0 > 0.5);
}

/// A mixed stream: history plus a day with every kind of deviation.
fn mixed_stream() -> Vec<Event> {
    let mut events = Vec::new();
    let mut rng = Lcg(5);
    for i in 0..4000 {
        // Working hours only: 08:00 to 18:00 UTC on twelve days.
        let ms = t0() + (i * 12 / 4000) * DAY + 8 * HOUR + rng.next(10 * HOUR as u64) as i64;
        let user = ["alice", "bob", "carol"][rng.next(3) as usize];
        let ip = format!("10.0.{}.{}", rng.next(3), rng.next(250));
        let repo = ["web", "api"][rng.next(2) as usize];
        let files = vec!["x"; 1 + rng.next(6) as usize];
        let origin = ["ai", "human"][rng.next(2) as usize];
        let status = if rng.next(20) == 0 { 500 } else { 200 };
        let e = event(
            ms,
            json!({"user.id": user, "service.name": "web", "source.ip": ip,
                   "repository.name": repo, "ai.context.files": files,
                   "http.route": "/x", "code.origin": origin,
                   "http.response.status_code": status}),
        );
        events.push(e);
    }
    let late = t0() + 12 * DAY + 3 * HOUR;
    for i in 0..50 {
        events.push(event(
            late + i * 1000,
            json!({"user.id": "alice", "source.ip": "198.51.100.7", "ai.context.files": vec!["y"; 300]}),
        ));
    }
    events
}

fn run(b: &mut Baselines, cfg: &BaselineConfig, events: &[Event]) -> Vec<Option<Value>> {
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            b.observe(cfg, &mut e);
            e.get("ward.baseline").cloned()
        })
        .collect()
}

#[test]
fn replay_from_a_checkpoint_gives_identical_fields() {
    let cfg = BaselineConfig::default();
    let events = mixed_stream();
    let whole = run(&mut Baselines::default(), &cfg, &events);
    assert!(
        whole
            .iter()
            .any(|f| f.as_ref().is_some_and(|v| v["unusual_hour"] == json!(true)))
    );
    assert!(
        whole
            .iter()
            .any(|f| f.as_ref().is_some_and(|v| v["bulk_access"] == json!(true)))
    );
    assert_eq!(
        whole,
        run(&mut Baselines::default(), &cfg, &events),
        "same input, same output"
    );

    // Stop at a checkpoint, persist, restore, and continue.
    let cut = 2500;
    let mut first = Baselines::default();
    let mut fields = run(&mut first, &cfg, &events[..cut]);
    let saved = serde_json::to_vec(&first).unwrap();
    let mut restored: Baselines = serde_json::from_slice(&saved).unwrap();
    assert_eq!(restored, first, "state round-trips through serde");
    fields.extend(run(&mut restored, &cfg, &events[cut..]));
    assert_eq!(fields, whole);
}

#[test]
fn sender_cannot_forge_baseline_fields() {
    let cfg = BaselineConfig::default();
    let mut b = Baselines::default();
    let mut e = event(
        t0(),
        json!({"user.id": "mallory", "ward.baseline.bulk_access": true}),
    );
    b.observe(&cfg, &mut e);
    assert_eq!(e.get("ward.baseline.bulk_access"), None);
    assert_eq!(e.get("ward.baseline.learning"), Some(&json!(true)));
}

#[test]
fn memory_is_bounded() {
    let cfg = BaselineConfig {
        max_entities: 100,
        max_values: 10,
        ..BaselineConfig::default()
    };
    let mut b = Baselines::default();
    for i in 0..1000 {
        let mut e = event(
            t0() + i * 1000,
            json!({"user.id": format!("u{i}"), "source.ip": format!("10.{}.{}.1", i / 250, i % 250)}),
        );
        b.observe(&cfg, &mut e);
        let mut e = event(
            t0() + i * 1000 + 1,
            json!({"user.id": "busy", "user_agent.original": format!("ua{i}")}),
        );
        b.observe(&cfg, &mut e);
    }
    assert!(b.len() <= 100, "{}", b.len());
    let busy = b.entities.get("user\u{1f}busy").unwrap();
    assert!(busy.seen["user_agent.original"].len() <= 10);
}

#[test]
fn the_least_recently_seen_entities_are_forgotten_first() {
    let cfg = BaselineConfig {
        max_entities: 10,
        ..BaselineConfig::default()
    };
    let mut b = Baselines::default();
    // Seen in the order u3, u7, u0, ... (not the order of their names).
    let order = [3, 7, 0, 9, 1, 10, 5, 2, 8, 4, 6];
    for (at, i) in order.iter().enumerate() {
        let mut e = event(t0() + at as i64 * 1000, json!({"user.id": format!("u{i}")}));
        b.observe(&cfg, &mut e);
    }
    // Eleven over ten: down to nine, the two seen longest ago gone.
    let mut kept: Vec<&str> = b.entities.keys().map(String::as_str).collect();
    kept.sort_unstable();
    let mut want: Vec<String> = order[2..]
        .iter()
        .map(|i| format!("user\u{1f}u{i}"))
        .collect();
    want.sort_unstable();
    assert_eq!(kept, want);
}

#[test]
fn events_without_time_or_entity_are_left_alone() {
    let cfg = BaselineConfig::default();
    let mut b = Baselines::default();
    let mut e = Event::default();
    e.set("user.id", json!("alice"));
    b.observe(&cfg, &mut e);
    assert_eq!(e.get("ward"), None);
    assert!(b.is_empty());
}

#[test]
fn validate_reports_every_problem() {
    assert!(BaselineConfig::default().validate().is_empty());
    let cfg = BaselineConfig {
        learning_period: "seven days".into(),
        unusual_hour_probability: 1.5,
        error_rate_alpha: 0.0,
        max_entities: 0,
        entities: vec![EntityConfig {
            kind: String::new(),
            fields: Vec::new(),
            hours: false,
            rate: false,
            first_seen: Vec::new(),
            volume: false,
        }],
        ..BaselineConfig::default()
    };
    let keys: Vec<String> = cfg.validate().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "learning_period",
            "unusual_hour_probability",
            "error_rate_alpha",
            "max_entities",
            "entities[0].kind",
            "entities[0].fields"
        ]
    );
    let parsed: BaselineConfig =
        toml::from_str("learning_period = \"3d\"\nmin_events = 5\n").unwrap();
    assert_eq!(parsed.learning_ms(), 3 * DAY);
    assert!(toml::from_str::<BaselineConfig>("learning = \"3d\"").is_err());
}

#[test]
fn networks() {
    assert_eq!(network_of("10.1.2.3").as_deref(), Some("10.1.2.0/24"));
    assert_eq!(
        network_of("2001:db8:1:2::5").as_deref(),
        Some("2001:db8:1::/48")
    );
    assert_eq!(network_of("nope"), None);
}
