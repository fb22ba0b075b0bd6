//! Ward metric rules: the alerts Sigma correlation cannot express.
//!
//! A metric-rule file is YAML with a top-level `ward_rule:` key (Sigma rules
//! never have one), and otherwise the metadata of a Sigma rule (`id`,
//! `title`, `level`, `tags`, `runbook`, ...). Two kinds exist:
//!
//! - `flatline`: a source (the values of `group-by`, e.g. `service.name`)
//!   that has sent at least `min_events` events sends nothing for longer
//!   than `timespan`. Silence is noticed two ways: [`MetricRules::tick`]
//!   compares the wall clock with the last arrival (`event.ingested`), and
//!   [`MetricRules::observe`] sees a gap longer than the timespan between two
//!   events of a group in the log itself, so a replay or an outage of Ward
//!   finds it too. Both give the same finding id for the same silence.
//! - `ratio`: among a group's events in a sliding window of `timespan` (the
//!   `population`, all events by default), the share matching `detection`
//!   reaches `condition` (`gte: 0.2`), once at least `min_events` were seen.
//!   As with Sigma correlations, the group's window restarts after firing.
//!
//! `detection` and `population` are Sigma detections over the stored event's
//! field names (no pipeline mapping). Finding ids are the hex SHA-256 prefix
//! of (rule id, group key, window start), so a replay of the log never makes
//! a second finding. State is bounded ([`MAX_GROUPS`] groups per rule,
//! [`MAX_WINDOW_EVENTS`] observations per ratio window) and serializable, to
//! be checkpointed with the log offset it reflects; compiled matchers are
//! rebuilt from the stored definitions after a restore.

mod parse;

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
// The one definition of a windowed finding's id, shared with Sigma
// correlations: replay safety depends on both using it.
use ward_sigma::{Engine, RuleSet, finding_id};

use crate::model::{Event, Finding};

pub use parse::{MetricDef, MetricKind, is_metric_rule};

/// Groups tracked per rule; beyond, new groups are ignored and counted.
pub const MAX_GROUPS: usize = 100_000;
/// Observations kept per ratio window; beyond, the oldest are dropped.
pub const MAX_WINDOW_EVENTS: usize = 50_000;

/// Per-group state of a flatline rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Source {
    group: BTreeMap<String, String>,
    /// Event time of the newest event.
    last_event_ms: i64,
    /// Receive time of the newest event (`event.ingested`, else event time).
    last_arrival_ms: i64,
    last_event_id: String,
    count: u64,
    /// `last_event_ms` of the silence already reported.
    reported: Option<i64>,
}

/// Per-group state of a ratio rule, in time order: (event time, the
/// event id if it matched, else `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Window {
    group: BTreeMap<String, String>,
    obs: VecDeque<(i64, Option<String>)>,
    /// Matched observations in `obs`, kept so a check costs O(1).
    #[serde(default)]
    hits: u64,
}

/// An event of an unanswered rule still waiting for its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    key: String,
    group: BTreeMap<String, String>,
    time_ms: i64,
    event_id: String,
}

/// State of an unanswered rule: the newest answer per group (event time),
/// and the events waiting, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Answers {
    answered: HashMap<String, i64>,
    pending: VecDeque<Pending>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
enum State {
    #[default]
    Empty,
    Flatline(HashMap<String, Source>),
    Ratio(HashMap<String, Window>),
    Unanswered(Answers),
}

/// The selections a metric rule may have, in [`Compiled::slots`] order.
const SELECTIONS: [&str; 3] = ["detection", "population", "answer"];

/// Every rule's Sigma selections (detection, population, answer) compiled
/// into one engine, so that an event is matched once for all metric rules.
/// A rule's verdict does not depend on the rules compiled beside it, so each
/// selection holds exactly where its own engine would.
#[derive(Debug, Clone)]
struct Compiled {
    engine: Option<Engine>,
    /// Per rule, per selection: its index among the engine's rules; `None`
    /// where the rule has no such selection (or it does not compile).
    slots: Vec<[Option<usize>; 3]>,
}

impl Compiled {
    fn new(rules: &[MetricRule]) -> Compiled {
        let mut docs: Vec<(String, String)> = Vec::new();
        let mut wanted: Vec<[Option<String>; 3]> = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let def = &rule.def;
            let texts = [&def.detection, &def.population, &def.answer];
            let mut ids: [Option<String>; 3] = Default::default();
            for (k, text) in texts.into_iter().enumerate() {
                let Some(text) = text.as_deref() else {
                    continue;
                };
                let id = format!("metric-{i}-{}", SELECTIONS[k]);
                docs.push((
                    def.origin.clone(),
                    parse::sigma_doc(text, SELECTIONS[k], &id),
                ));
                ids[k] = Some(id);
            }
            wanted.push(ids);
        }
        if docs.is_empty() {
            return Compiled {
                engine: None,
                slots: vec![[None; 3]; rules.len()],
            };
        }
        // A document that does not compile is left out alone (its id is
        // then not found below), never taking the others with it.
        let (set, _) = RuleSet::load_sources(&docs, &[]);
        let index: HashMap<&str, usize> = set
            .rules()
            .enumerate()
            .filter_map(|(n, meta)| Some((meta.id.as_deref()?, n)))
            .collect();
        let slots = wanted
            .iter()
            .map(|ids| {
                let mut slot = [None; 3];
                for (k, id) in ids.iter().enumerate() {
                    slot[k] = id.as_deref().and_then(|id| index.get(id).copied());
                }
                slot
            })
            .collect();
        Compiled {
            engine: Some(Engine::new(&set)),
            slots,
        }
    }

    /// Which of the engine's rules hold for `event`, by index.
    fn hits(&self, event: &Event) -> Vec<bool> {
        let mut hit = vec![false; self.engine.as_ref().map_or(0, Engine::len)];
        if let Some(engine) = &self.engine {
            for m in engine.matches(&event.0) {
                if let Some(h) = hit.get_mut(m.rule) {
                    *h = true;
                }
            }
        }
        hit
    }
}

/// Whether selection `k` of rule `i` holds: `None` when the rule has none.
fn selected(compiled: &Compiled, hit: &[bool], i: usize, k: usize) -> Option<bool> {
    compiled
        .slots
        .get(i)
        .and_then(|s| s[k])
        .map(|j| hit.get(j).copied().unwrap_or(false))
}

/// One metric rule with its state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MetricRule {
    def: MetricDef,
    state: State,
}

/// The loaded metric rules and their state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricRules {
    rules: Vec<MetricRule>,
    /// Built from `rules` when first needed (also after a restore).
    #[serde(skip)]
    compiled: Option<Compiled>,
    /// Groups not tracked because a rule reached [`MAX_GROUPS`].
    pub dropped: u64,
}

impl MetricRules {
    /// Parses metric rules from (origin, YAML text) pairs. Every bad document
    /// is reported as `origin:line: reason`; the good ones load.
    pub fn load(docs: &[(String, String)]) -> (MetricRules, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (origin, text) in docs {
            let (defs, errs) = parse::parse_file(origin, text);
            errors.extend(errs);
            for def in defs {
                if rules.iter().any(|r: &MetricRule| r.def.id == def.id) {
                    errors.push(format!(
                        "{}:{}: duplicate rule id `{}`",
                        def.origin, def.line, def.id
                    ));
                    continue;
                }
                rules.push(MetricRule {
                    def,
                    state: State::Empty,
                });
            }
        }
        let compiled = Some(Compiled::new(&rules));
        (
            MetricRules {
                rules,
                compiled,
                dropped: 0,
            },
            errors,
        )
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The definitions, in load order.
    pub fn defs(&self) -> impl Iterator<Item = &MetricDef> {
        self.rules.iter().map(|r| &r.def)
    }

    /// Takes over the state `saved` kept for rules whose definition is
    /// unchanged; other rules start empty.
    pub fn restore(&mut self, saved: MetricRules) {
        for old in saved.rules {
            if let Some(r) = self.rules.iter_mut().find(|r| r.def == old.def) {
                r.state = old.state;
            }
        }
        self.dropped = saved.dropped;
    }

    /// Feeds one event (after enrichment), at its event time.
    pub fn observe(&mut self, event: &Event, event_time_ms: i64) -> Vec<Finding> {
        let arrival_ms = event
            .get_str("event.ingested")
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(event_time_ms, |t| t.as_millisecond());
        let event_id = event.get_str("event.id").unwrap_or_default();
        let mut out = Vec::new();
        let compiled = &*self
            .compiled
            .get_or_insert_with(|| Compiled::new(&self.rules));
        let hit = compiled.hits(event);
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let sel = |k: usize| selected(compiled, &hit, i, k);
            let def = &rule.def;
            if def.kind == MetricKind::Unanswered {
                if !matches!(rule.state, State::Unanswered(_)) {
                    rule.state = State::Unanswered(Answers::default());
                }
                let State::Unanswered(st) = &mut rule.state else {
                    continue;
                };
                let is_answer = sel(2) == Some(true);
                let is_event = sel(0) == Some(true);
                if is_answer
                    && let Some((key, _)) =
                        parse::group_as(event, &def.answer_group_by, &def.group_by)
                {
                    self.dropped += answer_observe(def, st, key, event_time_ms);
                }
                if is_event && let Some((key, group)) = parse::group_of(event, &def.group_by) {
                    self.dropped +=
                        unanswered_observe(def, st, key, group, event_time_ms, event_id);
                }
                if is_answer || is_event {
                    out.extend(unanswered_due(def, st, event_time_ms));
                }
                continue;
            }
            let Some((key, group)) = parse::group_of(event, &def.group_by) else {
                continue;
            };
            match def.kind {
                MetricKind::Flatline => {
                    if sel(0) == Some(false) {
                        continue;
                    }
                    if !matches!(rule.state, State::Flatline(_)) {
                        rule.state = State::Flatline(HashMap::new());
                    }
                    let State::Flatline(sources) = &mut rule.state else {
                        continue;
                    };
                    self.dropped += flatline_observe(
                        def,
                        sources,
                        key,
                        group,
                        event_time_ms,
                        arrival_ms,
                        event_id,
                        &mut out,
                    );
                }
                MetricKind::Unanswered => {}
                MetricKind::Ratio => {
                    if sel(1) == Some(false) {
                        continue;
                    }
                    let matched = sel(0) == Some(true);
                    if !matches!(rule.state, State::Ratio(_)) {
                        rule.state = State::Ratio(HashMap::new());
                    }
                    let State::Ratio(windows) = &mut rule.state else {
                        continue;
                    };
                    self.dropped += ratio_observe(
                        def,
                        windows,
                        key,
                        group,
                        event_time_ms,
                        matched,
                        event_id,
                        &mut out,
                    );
                }
            }
        }
        out
    }

    /// Reports the sources silent for longer than their timespan at wall
    /// time `now_ms`. Call it when detection has caught up with the log, so
    /// that events still waiting to be read do not count as silence.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Finding> {
        let mut out = Vec::new();
        for rule in &mut self.rules {
            if let State::Unanswered(st) = &mut rule.state {
                out.extend(unanswered_due(&rule.def, st, now_ms));
                continue;
            }
            let State::Flatline(sources) = &mut rule.state else {
                continue;
            };
            let mut keys: Vec<&String> = sources.keys().collect();
            keys.sort();
            let silent: Vec<String> = keys
                .into_iter()
                .filter(|k| {
                    sources.get(*k).is_some_and(|s| {
                        s.count >= rule.def.min_events
                            && s.reported != Some(s.last_event_ms)
                            && now_ms - s.last_arrival_ms > rule.def.timespan_ms
                    })
                })
                .cloned()
                .collect();
            for key in silent {
                let Some(s) = sources.get_mut(&key) else {
                    continue;
                };
                s.reported = Some(s.last_event_ms);
                let silence_ms = now_ms - s.last_arrival_ms;
                out.push(silence_finding(
                    &rule.def,
                    &key,
                    s,
                    s.last_event_ms + silence_ms,
                    silence_ms,
                ));
            }
        }
        out
    }
}

/// Whether an answer at `answer_ms` answers an event at `event_ms`: at most
/// `timespan` before it, or at most `grace` after it.
fn answers(def: &MetricDef, answer_ms: i64, event_ms: i64) -> bool {
    answer_ms <= event_ms + def.grace_ms && event_ms - answer_ms <= def.timespan_ms
}

fn answer_observe(def: &MetricDef, st: &mut Answers, key: String, t: i64) -> u64 {
    st.pending
        .retain(|p| !(p.key == key && answers(def, t, p.time_ms)));
    if let Some(prev) = st.answered.get_mut(&key) {
        *prev = (*prev).max(t);
        return 0;
    }
    if st.answered.len() >= MAX_GROUPS {
        // Forget answers too old to answer anything from now on.
        st.answered.retain(|_, a| t - *a <= def.timespan_ms);
        if st.answered.len() >= MAX_GROUPS {
            return 1;
        }
    }
    st.answered.insert(key, t);
    0
}

fn unanswered_observe(
    def: &MetricDef,
    st: &mut Answers,
    key: String,
    group: BTreeMap<String, String>,
    t: i64,
    event_id: &str,
) -> u64 {
    if st.answered.get(&key).is_some_and(|a| answers(def, *a, t)) {
        return 0;
    }
    if st.pending.len() >= MAX_GROUPS {
        return 1;
    }
    st.pending.push_back(Pending {
        key,
        group,
        time_ms: t,
        event_id: event_id.to_owned(),
    });
    0
}

/// The waiting events whose grace ended before `now_ms`, as findings.
fn unanswered_due(def: &MetricDef, st: &mut Answers, now_ms: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    st.pending.retain(|p| {
        if now_ms <= p.time_ms + def.grace_ms {
            return true;
        }
        let mut f = finding(def, &p.key, &p.group, p.time_ms, p.time_ms);
        if !p.event_id.is_empty() {
            f.evidence = vec![p.event_id.clone()];
        }
        out.push(f);
        false
    });
    out
}

#[allow(clippy::too_many_arguments)]
fn flatline_observe(
    def: &MetricDef,
    sources: &mut HashMap<String, Source>,
    key: String,
    group: BTreeMap<String, String>,
    t: i64,
    arrival_ms: i64,
    event_id: &str,
    out: &mut Vec<Finding>,
) -> u64 {
    if let Some(s) = sources.get_mut(&key) {
        if t > s.last_event_ms {
            let gap = t - s.last_event_ms;
            if gap > def.timespan_ms
                && s.count >= def.min_events
                && s.reported != Some(s.last_event_ms)
            {
                out.push(silence_finding(def, &key, s, t, gap));
            }
            s.last_event_ms = t;
            s.last_event_id = event_id.to_owned();
            s.reported = None;
        }
        s.last_arrival_ms = s.last_arrival_ms.max(arrival_ms);
        s.count = s.count.saturating_add(1);
        return 0;
    }
    if sources.len() >= MAX_GROUPS {
        return 1;
    }
    let source = Source {
        group,
        last_event_ms: t,
        last_arrival_ms: arrival_ms,
        last_event_id: event_id.to_owned(),
        count: 1,
        reported: None,
    };
    sources.insert(key, source);
    0
}

fn silence_finding(
    def: &MetricDef,
    key: &str,
    s: &Source,
    until_ms: i64,
    silence_ms: i64,
) -> Finding {
    let mut f = finding(def, key, &s.group, s.last_event_ms, until_ms);
    f.evidence = vec![s.last_event_id.clone()]
        .into_iter()
        .filter(|e| !e.is_empty())
        .collect();
    f.value = Some(silence_ms as f64 / 1000.0);
    f
}

#[allow(clippy::too_many_arguments)]
fn ratio_observe(
    def: &MetricDef,
    windows: &mut HashMap<String, Window>,
    key: String,
    group: BTreeMap<String, String>,
    t: i64,
    matched: bool,
    event_id: &str,
    out: &mut Vec<Finding>,
) -> u64 {
    let mut dropped = 0;
    if !windows.contains_key(&key) && windows.len() >= MAX_GROUPS {
        return 1;
    }
    let w = windows.entry(key.clone()).or_insert_with(|| Window {
        group,
        ..Window::default()
    });
    let pos = w
        .obs
        .iter()
        .rposition(|(ot, _)| *ot <= t)
        .map_or(0, |p| p + 1);
    w.obs.insert(pos, (t, matched.then(|| event_id.to_owned())));
    w.hits += u64::from(matched);
    let newest = w.obs.back().map_or(t, |o| o.0);
    while w
        .obs
        .front()
        .is_some_and(|(ot, _)| *ot < newest - def.timespan_ms)
    {
        if w.obs.pop_front().is_some_and(|(_, id)| id.is_some()) {
            w.hits = w.hits.saturating_sub(1);
        }
    }
    if w.obs.len() > MAX_WINDOW_EVENTS {
        if w.obs.pop_front().is_some_and(|(_, id)| id.is_some()) {
            w.hits = w.hits.saturating_sub(1);
        }
        dropped += 1;
    }
    let total = w.obs.len() as u64;
    let hits = w.hits as f64;
    if total < def.min_events || total == 0 {
        return dropped;
    }
    let share = hits / total as f64;
    let fires = if def.inclusive {
        share >= def.threshold
    } else {
        share > def.threshold
    };
    if fires && hits > 0.0 {
        let start = w.obs.front().map_or(t, |o| o.0);
        let mut f = finding(def, &key, &w.group, start, newest);
        f.evidence = w
            .obs
            .iter()
            .filter_map(|(_, id)| id.clone())
            .filter(|id| !id.is_empty())
            .take(100)
            .collect();
        f.value = Some((share * 1000.0).round() / 1000.0);
        out.push(f);
        w.obs.clear();
        w.hits = 0;
    }
    dropped
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn finding(
    def: &MetricDef,
    key: &str,
    group: &BTreeMap<String, String>,
    start_ms: i64,
    end_ms: i64,
) -> Finding {
    Finding {
        id: finding_id(&def.id, key, start_ms),
        rule_id: def.id.clone(),
        rule_title: def.title.clone(),
        level: def.level.clone(),
        tags: def.tags.clone(),
        description: def.description.clone(),
        group_key: group.clone(),
        evidence: Vec::new(),
        first_seen: rfc3339(start_ms),
        last_seen: rfc3339(end_ms),
        labels: group.clone(),
        runbook: def.runbook.clone(),
        value: None,
    }
}

#[cfg(test)]
mod tests;
