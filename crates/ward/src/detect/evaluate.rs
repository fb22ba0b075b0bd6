//! The one evaluation path: an event goes through the stateful enrichers
//! (behavioural baselines, when enabled), every Sigma rule, the
//! correlations and the Ward metric rules, and comes out as findings. Live
//! detection ([`super::run`]) and the offline commands (`ward detect`,
//! `ward rules test`) both call [`Evaluator::evaluate`], so a rule behaves
//! the same on a file as on the live log.
//!
//! Finding ids come from (rule, event) for single-event rules and from
//! (rule, group key, window) for correlations and metric rules
//! ([`ward_sigma::finding_id`], the one definition), so replaying the same
//! events gives the same ids.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ward_sigma::{Correlator, Engine, MatchedField};

use super::baseline::{BaselineConfig, Baselines};
use super::rules::Loaded;
use super::workers::Workers;
use crate::model::{Event, Finding};

/// The field that keeps tenants apart: correlations and baselines never
/// mix events of two tenants.
pub const TENANT_FIELD: &str = "tenant.id";

/// Fields copied from evidence into finding labels, for routing and owners.
pub const LABEL_FIELDS: [&str; 10] = [
    "tenant.id",
    "service.name",
    "host.name",
    "user.name",
    "user.id",
    "source.ip",
    "repository.name",
    "ai.tool.name",
    "event.category",
    "event.action",
];

/// Entity fields that separate alerts of one single-event rule.
const ENTITY_FIELDS: [&str; 4] = ["service.name", "host.name", "user.name", "user.id"];

/// What kind of rule produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Sigma detection on one event.
    Detection,
    /// A Sigma correlation over several events.
    Correlation,
    /// A Ward metric rule (threshold, flatline…).
    Metric,
}

impl Kind {
    /// The name used in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Detection => "detection",
            Kind::Correlation => "correlation",
            Kind::Metric => "metric",
        }
    }
}

/// One finding with what the offline commands show beside it.
#[derive(Debug, Clone)]
pub struct Detection {
    pub finding: Finding,
    pub kind: Kind,
    /// Fields that matched (detections only).
    pub fields: Vec<MatchedField>,
    /// The rule only feeds correlations (Sigma's `generate: false`): live
    /// detection does not alert on it.
    pub building_block: bool,
}

/// What [`Evaluator::evaluate_input`] takes: stored records' bodies, or
/// the events whose serializations they are.
enum Input {
    Bodies(Vec<Vec<u8>>),
    Events(Vec<Event>),
}

/// Cluster mode: which correlation windows an evaluation feeds. The
/// windows of a separable correlation
/// ([`ward_sigma::Correlator::separable`]) are kept on the `<prefix>corr`
/// partition of their (rule, group key); the other correlations, the
/// single-event findings, metric rules and baselines on the tenant's.
#[derive(Debug, Clone)]
pub struct WindowScope {
    /// By correlation index: whether its windows are kept by group key.
    pub separable: Arc<Vec<bool>>,
    /// By correlation index: its rule key.
    pub rule_ids: Arc<Vec<String>>,
    /// `<prefix>corr` partitions.
    pub partitions: i32,
    /// The partition being evaluated.
    pub here: i32,
    /// The tenant's copy of the event (every finding, and the windows of
    /// the correlations that are not separable), or a copy for this
    /// partition's windows only.
    pub whole: bool,
}

impl WindowScope {
    /// The partition of a window of correlation `ci`, if it is separable.
    pub fn partition_of(&self, ci: usize, group_key: &str) -> Option<i32> {
        if !self.separable.get(ci).copied().unwrap_or(false) {
            return None;
        }
        let rule = self.rule_ids.get(ci).map_or("", String::as_str);
        Some(crate::cluster::window_partition(
            rule,
            group_key,
            self.partitions,
        ))
    }

    /// Whether this evaluation feeds the window (`ci`, `group_key`).
    pub fn keeps(&self, ci: usize, group_key: &str) -> bool {
        match self.partition_of(ci, group_key) {
            Some(p) => p == self.here,
            None => self.whole,
        }
    }
}

/// Rules, correlation windows, metric-rule state and (optionally)
/// baselines over a stream of events in log order.
pub struct Evaluator {
    pub loaded: Loaded,
    pub correlator: Correlator,
    /// Baseline settings and learned state; `None` leaves baseline fields
    /// as the events carry them.
    pub baselines: Option<(BaselineConfig, Baselines)>,
    /// Which pipelines and log sources the last evaluated event got.
    pub seen: Vec<ward_sigma::Seen>,
    /// The workers' copy of `loaded.engine` (its automata are shared),
    /// made at the first batch shared out.
    shared_engine: Option<Arc<Engine>>,
    /// Cluster mode: the rules that need the state
    /// ([`crate::cluster::split`]), for events whose other matches were
    /// found where they were consumed.
    owner_engine: Option<Engine>,
    /// Cluster mode: the windows the next evaluation feeds (`None`: all,
    /// with every finding).
    pub windows: Option<WindowScope>,
}

impl Evaluator {
    /// Fresh state for a loaded rule set.
    pub fn new(loaded: Loaded, baselines: Option<BaselineConfig>) -> Evaluator {
        let correlator = Correlator::new(&loaded.set, &loaded.engine).partitioned_by(TENANT_FIELD);
        Evaluator {
            loaded,
            correlator,
            baselines: baselines.map(|cfg| (cfg, Baselines::default())),
            seen: Vec::new(),
            shared_engine: None,
            owner_engine: None,
            windows: None,
        }
    }

    /// Cluster mode: [`Evaluator::evaluate_prematched`] will match only the
    /// rules `owner` holds (those that need the state).
    pub fn set_owner_engine(&mut self, owner: Engine) {
        self.owner_engine = Some(owner);
    }

    /// [`Evaluator::evaluate`] for an event whose matches of the rules that
    /// need no state were found elsewhere (`found`): the baselines enrich
    /// it, the rules that read them run here, then every match is
    /// concluded in log order. Without an owner engine, every rule runs
    /// here and `found` is ignored.
    pub fn evaluate_prematched(
        &mut self,
        event: &mut Event,
        event_id: &str,
        mut found: Vec<ward_sigma::Match>,
    ) -> Vec<Detection> {
        if self.owner_engine.is_none() {
            return self.evaluate(event, event_id);
        }
        self.observe(event);
        if let Some(owner) = &self.owner_engine {
            found.extend(owner.matches(&event.0));
        }
        self.seen.clear();
        self.conclude(event, event_id, &found)
    }

    /// Cluster mode: a copy of an event for the correlation windows of one
    /// partition ([`WindowScope`] with `whole` false): no baseline, no
    /// single-event or metric finding, only the windows `self.windows`
    /// keeps, fed with `found` (the matches made where the event was
    /// consumed) or, without them, with every rule matched here.
    pub fn evaluate_windows(
        &mut self,
        event: &mut Event,
        event_id: &str,
        found: Option<Vec<ward_sigma::Match>>,
    ) -> Vec<Detection> {
        let found = found.unwrap_or_else(|| self.loaded.engine.matches(&event.0));
        self.seen.clear();
        self.conclude(event, event_id, &found)
    }

    /// Enriches one event and runs every rule on it. `event_id` names the
    /// event in findings (its `event.id`, or its position in a file).
    pub fn evaluate(&mut self, event: &mut Event, event_id: &str) -> Vec<Detection> {
        self.observe(event);
        let mut seen = std::mem::take(&mut self.seen);
        let matches = self.loaded.engine.matches_seen(&event.0, &mut seen);
        self.seen = seen;
        self.conclude(event, event_id, &matches)
    }

    /// [`Evaluator::evaluate`] over events in log order, with the work
    /// that keeps no state shared out over `workers`: the kept threads
    /// parse the stored JSON of the next chunks while this thread takes a
    /// chunk through the baselines (in log order), has its Sigma matches
    /// found on every thread, then concludes correlations and metric rules
    /// in log order. The findings are those of evaluating one by one.
    /// `each` gets every parsed event with the logsources it was seen as,
    /// and its findings; a record that is not a JSON object is skipped.
    pub fn evaluate_records(
        &mut self,
        bodies: Vec<Vec<u8>>,
        workers: &Workers,
        each: impl FnMut(&Event, &[ward_sigma::Seen], Vec<Detection>),
    ) {
        self.evaluate_input(Input::Bodies(bodies), workers, each);
    }

    /// [`Evaluator::evaluate_records`] for events already built: those an
    /// ingest worker just stored (each record's body is their
    /// serialization), so nothing is parsed.
    pub fn evaluate_events(
        &mut self,
        events: Vec<Event>,
        workers: &Workers,
        each: impl FnMut(&Event, &[ward_sigma::Seen], Vec<Detection>),
    ) {
        self.evaluate_input(Input::Events(events), workers, each);
    }

    fn evaluate_input(
        &mut self,
        input: Input,
        workers: &Workers,
        mut each: impl FnMut(&Event, &[ward_sigma::Seen], Vec<Detection>),
    ) {
        if workers.count() <= 1 {
            // One event through every step while it is in the cache.
            let mut one = |this: &mut Self, mut event: Event| {
                let id = event.get_str("event.id").unwrap_or_default().to_owned();
                let found = this.evaluate(&mut event, &id);
                each(&event, &this.seen, found);
            };
            match input {
                Input::Bodies(bodies) => {
                    for body in &bodies {
                        if let Ok(map) = serde_json::from_slice(body) {
                            one(self, Event(map));
                        }
                    }
                }
                Input::Events(events) => {
                    for event in events {
                        one(self, event);
                    }
                }
            }
            return;
        }
        /// Events per chunk: small enough that a chunk's events stay in
        /// the cache from one step to the next.
        const CHUNK: usize = 128;
        let parse: Arc<dyn Fn(Vec<u8>) -> Option<Event> + Send + Sync> = Arc::new(|body| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
                .ok()
                .map(Event)
        });
        let engine = self
            .shared_engine
            .get_or_insert_with(|| Arc::new(self.loaded.engine.clone()))
            .clone();
        type Matched = (
            Option<Event>,
            Option<(Vec<ward_sigma::Match>, Vec<ward_sigma::Seen>)>,
        );
        let matching: Arc<dyn Fn(Option<Event>) -> Matched + Send + Sync> =
            Arc::new(move |e: Option<Event>| {
                let m = e.as_ref().map(|e| {
                    let mut seen = Vec::new();
                    let m = engine.matches_seen(&e.0, &mut seen);
                    (m, seen)
                });
                (e, m)
            });
        let (mut bodies, mut events) = match input {
            Input::Bodies(b) => (b.into_iter(), Vec::new().into_iter()),
            Input::Events(e) => (Vec::new().into_iter(), e.into_iter()),
        };
        // Built events need no parsing: their chunks are ready at once.
        let mut chunks = std::iter::from_fn(|| {
            let ready: Vec<Option<Event>> = events.by_ref().take(CHUNK).map(Some).collect();
            if !ready.is_empty() {
                return Some(Err(ready));
            }
            let c: Vec<Vec<u8>> = bodies.by_ref().take(CHUNK).collect();
            (!c.is_empty()).then_some(Ok(c))
        });
        // One chunk being parsed ahead per kept thread.
        let ahead = workers.count() - 1;
        let mut parsing = std::collections::VecDeque::with_capacity(ahead);
        let mut started = 0;
        loop {
            while parsing.len() < ahead
                && let Some(c) = chunks.next()
            {
                let pending = match c {
                    Ok(bodies) => workers.start(started, bodies, parse.clone()),
                    Err(ready) => super::workers::Pending::Ready(ready),
                };
                parsing.push_back((started, pending));
                started += 1;
            }
            let Some((parser, next)) = parsing.pop_front() else {
                break;
            };
            let mut events = next.wait();
            for e in events.iter_mut().flatten() {
                self.observe(e);
            }
            let mut done = Vec::with_capacity(CHUNK);
            for (event, m) in workers.map(events, matching.clone()) {
                let (Some(mut event), Some((matches, seen))) = (event, m) else {
                    continue;
                };
                let id = event.get_str("event.id").unwrap_or_default().to_owned();
                let found = self.conclude(&mut event, &id, &matches);
                each(&event, &seen, found);
                done.push(event);
            }
            // Freed off this thread (where they were allocated, for
            // parsed ones), and without the allocator's cross-thread
            // hand-back to this one.
            workers.discard(parser, done);
        }
    }

    /// Whether an event's Sigma matches can be found apart from (and
    /// before) the state: without baselines, which enrich each event in
    /// log order before its rules see it.
    pub fn matches_apart(&self) -> bool {
        self.baselines.is_none()
    }

    /// [`Evaluator::evaluate`] for an event whose Sigma matches and seen
    /// log sources were found on another thread
    /// ([`ward_sigma::Engine::matches_seen`]; only when
    /// [`Evaluator::matches_apart`]): the detections, correlations and
    /// metric rules, in log order.
    pub fn evaluate_matched(
        &mut self,
        event: &mut Event,
        event_id: &str,
        matches: &[ward_sigma::Match],
        seen: Vec<ward_sigma::Seen>,
    ) -> Vec<Detection> {
        self.seen = seen;
        self.conclude(event, event_id, matches)
    }

    /// The stateful enrichers: behavioural baselines, when enabled.
    fn observe(&mut self, event: &mut Event) {
        if let Some((cfg, state)) = &mut self.baselines {
            state.observe(cfg, event);
        }
    }

    /// Findings of an event whose Sigma matches are known: the detections,
    /// then the correlations and metric rules it moves (in log order).
    fn conclude(
        &mut self,
        event: &mut Event,
        event_id: &str,
        matches: &[ward_sigma::Match],
    ) -> Vec<Detection> {
        let time_ms = event_time_ms(event);
        let time = event.get_str("@timestamp").unwrap_or_default().to_owned();
        let engine: &Engine = &self.loaded.engine;
        let mut out = Vec::new();
        let whole = self.windows.as_ref().is_none_or(|w| w.whole);
        for m in matches.iter().filter(|_| whole) {
            let Some(meta) = engine.rule(m.rule) else {
                continue;
            };
            let mut group = BTreeMap::new();
            for f in ENTITY_FIELDS {
                if let Some(v) = event.get_str(f) {
                    group.insert(f.to_owned(), v.to_owned());
                }
            }
            out.push(Detection {
                finding: Finding {
                    id: ward_sigma::finding_id(&m.rule_id, event_id, 0),
                    rule_id: m.rule_id.clone(),
                    rule_title: meta.title.clone(),
                    level: meta.level.clone().unwrap_or_else(|| "medium".into()),
                    tags: meta.tags.clone(),
                    description: meta.description.clone().unwrap_or_default(),
                    group_key: group,
                    evidence: vec![event_id.to_owned()],
                    first_seen: time.clone(),
                    last_seen: time.clone(),
                    labels: labels(event),
                    runbook: runbook(meta),
                    value: None,
                },
                kind: Kind::Detection,
                fields: m.fields.clone(),
                building_block: self.loaded.building_blocks.contains(&m.rule_id),
            });
        }
        let fired = match &self.windows {
            None => self
                .correlator
                .observe(time_ms, event_id, &event.0, matches),
            Some(scope) => {
                self.correlator
                    .observe_where(time_ms, event_id, &event.0, matches, &|ci, key| {
                        scope.keeps(ci, key)
                    })
            }
        };
        for c in fired {
            // A window closed by an event of another group (a window
            // decided at its end, closed by a later event of any group,
            // on this partition of any tenant) is not that event's: it
            // takes the labels of its group key only.
            let own = c.evidence.iter().any(|e| e == event_id)
                && c.group.get(TENANT_FIELD).map(String::as_str)
                    == Some(event.get_str(TENANT_FIELD).unwrap_or_default());
            let labels = if own { labels(event) } else { BTreeMap::new() };
            let finding = self.correlation_finding(c, labels);
            out.push(self.derived(finding, Kind::Correlation));
        }
        if whole {
            for f in self.loaded.metric.observe(event, time_ms) {
                out.push(self.derived(f, Kind::Metric));
            }
        }
        out
    }

    /// Findings decided by the passage of time at `now_ms` (wall clock or
    /// the end of input): flatline metric rules, and correlation windows
    /// decided at their end (`lt`, `lte`, `eq`) that closed `grace_ms`
    /// before `now_ms`.
    pub fn advance(&mut self, now_ms: i64, grace_ms: i64) -> Vec<Detection> {
        let mut out: Vec<Detection> = self
            .loaded
            .metric
            .tick(now_ms)
            .into_iter()
            .map(|f| self.derived(f, Kind::Metric))
            .collect();
        for c in self.correlator.advance(now_ms - grace_ms) {
            let finding = self.correlation_finding(c, BTreeMap::new());
            out.push(self.derived(finding, Kind::Correlation));
        }
        out
    }

    fn derived(&self, finding: Finding, kind: Kind) -> Detection {
        Detection {
            building_block: self.loaded.building_blocks.contains(&finding.rule_id),
            finding,
            kind,
            fields: Vec::new(),
        }
    }

    fn correlation_finding(
        &self,
        c: ward_sigma::CorrelationFinding,
        labels: BTreeMap<String, String>,
    ) -> Finding {
        let meta = self.loaded.set.rules().find(|r| r.key() == c.rule_id);
        Finding {
            id: c.finding_id,
            rule_id: c.rule_id,
            rule_title: c.title,
            level: c.level.unwrap_or_else(|| "medium".into()),
            tags: c.tags,
            description: meta.and_then(|m| m.description.clone()).unwrap_or_default(),
            group_key: c.group,
            evidence: c.evidence,
            first_seen: ms_to_rfc3339(c.window_start_ms),
            last_seen: ms_to_rfc3339(c.window_end_ms),
            labels,
            runbook: meta.and_then(runbook),
            value: Some(c.value),
        }
    }
}

/// Event time in milliseconds: `@timestamp`, else the Windows
/// `TimeCreated`, else `timestamp`, else 0.
pub fn event_time_ms(event: &Event) -> i64 {
    [
        "@timestamp",
        "Event.System.TimeCreated.#attributes.SystemTime",
        "timestamp",
    ]
    .iter()
    .find_map(|f| event.get_str(f)?.parse::<jiff::Timestamp>().ok())
    .map_or(0, |t| t.as_millisecond())
}

fn labels(event: &Event) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for f in LABEL_FIELDS {
        match event.get(f) {
            Some(serde_json::Value::String(s)) => {
                out.insert(f.to_owned(), s.clone());
            }
            Some(serde_json::Value::Array(a)) => {
                let parts: Vec<&str> = a.iter().filter_map(|v| v.as_str()).collect();
                if !parts.is_empty() {
                    out.insert(f.to_owned(), parts.join(","));
                }
            }
            _ => {}
        }
    }
    out
}

fn runbook(meta: &ward_sigma::RuleMeta) -> Option<String> {
    meta.custom
        .get("runbook")
        .and_then(|v| v.as_str().map(str::to_owned))
}

fn ms_to_rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULE: &str = r#"
title: Failed login
id: 0b1d6c38-5f1e-4c1b-9d55-2f4c1c6a0001
logsource: { category: authentication }
detection:
  sel: { event.outcome: failure }
  condition: sel
level: high
"#;

    fn evaluator() -> Evaluator {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yml");
        std::fs::write(&path, RULE).unwrap();
        let loaded = super::super::rules::load(false, &[path], &[]);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        Evaluator::new(loaded, None)
    }

    #[test]
    fn a_window_closed_by_another_tenant_s_event_keeps_its_own_labels() {
        let rules = format!(
            "{RULE}---\ntitle: Lone failure\nid: lone\ncorrelation:\n  type: event_count\n  \
             rules: [0b1d6c38-5f1e-4c1b-9d55-2f4c1c6a0001]\n  group-by: [user.name]\n  \
             timespan: 5m\n  condition: {{ lt: 2 }}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yml");
        std::fs::write(&path, rules).unwrap();
        let loaded = super::super::rules::load(false, &[path], &[]);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let mut ev = Evaluator::new(loaded, None);
        let mut b = event("failure");
        b.set(TENANT_FIELD, json!("bravo"));
        b.set("host.name", json!("bravo-host"));
        assert!(
            ev.evaluate(&mut b, "b1")
                .iter()
                .all(|d| d.kind != Kind::Correlation)
        );
        // Ten minutes later an event of another tenant closes bravo's window.
        let mut a = event("failure");
        a.set("@timestamp", json!("2026-11-01T10:10:00Z"));
        a.set(TENANT_FIELD, json!("alpha"));
        a.set("host.name", json!("alpha-host"));
        a.set("user.name", json!("mallory"));
        let found = ev.evaluate(&mut a, "a1");
        let lone: Vec<&Finding> = found
            .iter()
            .filter(|d| d.kind == Kind::Correlation)
            .map(|d| &d.finding)
            .collect();
        assert_eq!(lone.len(), 1, "{found:?}");
        assert_eq!(lone[0].evidence, ["b1"]);
        assert_eq!(lone[0].group_key.get(TENANT_FIELD).unwrap(), "bravo");
        assert!(
            lone[0].labels.values().all(|v| !v.contains("alpha")),
            "labels of the event that closed it: {:?}",
            lone[0].labels
        );
    }

    fn event(outcome: &str) -> Event {
        let mut e = Event::default();
        e.set("@timestamp", json!("2026-11-01T10:00:00Z"));
        e.set("event.category", json!(["authentication"]));
        e.set("event.outcome", json!(outcome));
        e.set("user.name", json!("alice"));
        e
    }

    #[test]
    fn a_match_is_a_finding_with_a_stable_id_and_entity_group() {
        let mut ev = evaluator();
        let got = ev.evaluate(&mut event("failure"), "e1");
        assert_eq!(got.len(), 1);
        let f = &got[0].finding;
        assert_eq!(got[0].kind, Kind::Detection);
        assert_eq!(f.level, "high");
        assert_eq!(f.evidence, vec!["e1".to_owned()]);
        assert_eq!(
            f.group_key.get("user.name").map(String::as_str),
            Some("alice")
        );
        assert_eq!(f.first_seen, "2026-11-01T10:00:00Z");
        let again = evaluator().evaluate(&mut event("failure"), "e1");
        assert_eq!(again[0].finding.id, f.id, "replay gives the same id");
        assert!(ev.evaluate(&mut event("success"), "e2").is_empty());
    }

    #[test]
    fn a_batch_spread_over_threads_finds_what_one_by_one_finds() {
        // The built-in pack, baselines on, and a stream that moves
        // correlations (bursts of failed logins) and baselines.
        let stream: Vec<Vec<u8>> = (0..900)
            .map(|i| {
                let user = format!("u{}", i % 7);
                let outcome = if i % 3 == 0 { "success" } else { "failure" };
                serde_json::to_vec(&json!({
                    "@timestamp": format!("2026-11-01T10:{:02}:{:02}Z", i / 60 % 60, i % 60),
                    "event": {"id": format!("e{i}"), "category": ["authentication"],
                              "action": "user_login", "outcome": outcome},
                    "user": {"name": user},
                    "source": {"ip": format!("10.0.0.{}", i % 5)},
                    "service": {"name": "sso"},
                    "tenant": {"id": "default"}
                }))
                .unwrap()
            })
            .chain([b"not json".to_vec()])
            .collect();
        let fresh = || {
            let loaded = super::super::rules::load(true, &[], &[]);
            Evaluator::new(loaded, Some(BaselineConfig::default()))
        };
        let mut one = fresh();
        let mut expected = Vec::new();
        let mut expected_seen = Vec::new();
        for body in &stream {
            if let Ok(map) = serde_json::from_slice(body) {
                let mut e = Event(map);
                let id = e.get_str("event.id").unwrap_or_default().to_owned();
                expected.extend(one.evaluate(&mut e, &id).into_iter().map(|d| d.finding.id));
                expected_seen.push(one.seen.clone());
            }
        }
        assert!(
            expected.len() > 5,
            "the stream raises findings: {}",
            expected.len()
        );
        assert!(expected_seen.iter().all(|s| !s.is_empty()));
        for count in [1, 2, 3] {
            let workers = Workers::new(count);
            // Stored records (parsed on the workers) and built events.
            for built in [false, true] {
                let mut batched = fresh();
                let mut got = Vec::new();
                let mut seen = Vec::new();
                for chunk in stream.chunks(250) {
                    let each = |_: &Event, s: &[ward_sigma::Seen], found: Vec<Detection>| {
                        seen.push(s.to_vec());
                        got.extend(found.into_iter().map(|d| d.finding.id));
                    };
                    if built {
                        let events = chunk
                            .iter()
                            .filter_map(|b| serde_json::from_slice(b).ok().map(Event))
                            .collect();
                        batched.evaluate_events(events, &workers, each);
                    } else {
                        batched.evaluate_records(chunk.to_vec(), &workers, each);
                    }
                }
                assert_eq!(seen.len(), 900, "the record that is not JSON is skipped");
                assert_eq!(got, expected, "{count} workers, built {built}");
                assert_eq!(seen, expected_seen, "{count} workers, built {built}");
            }
        }
    }

    #[test]
    fn baselines_run_only_when_asked() {
        let mut carried = event("failure");
        carried.set("ward.baseline.first_seen", json!(["source.ip"]));
        let mut ev = evaluator();
        ev.evaluate(&mut carried, "e1");
        assert!(carried.get("ward.baseline.first_seen").is_some());
        let mut ev = evaluator();
        ev.baselines = Some((BaselineConfig::default(), Baselines::default()));
        ev.evaluate(&mut carried, "e1");
        assert!(
            carried.get("ward.baseline.first_seen").is_none(),
            "the learned baselines replace what the event carried"
        );
    }
}
