//! Correlation rules at run time: the stateful [`Correlator`].
//!
//! State is a time-ordered window of observations per (correlation, group),
//! in event time (not wall time, so replays and tests are deterministic).
//! A condition that a growing window can only reach (`gt`, `gte`, `neq`,
//! and every condition of `value_avg` and `value_percentile`) is evaluated
//! when each observation arrives, over the sliding window of the last
//! `timespan`. A condition with an upper bound (`lt`, `lte`, `eq`) on a
//! count, distinct count, sum or number of rules cannot be decided before
//! the window is over: such a window starts at the group's first
//! observation and is evaluated when it closes, that is when an event (of
//! any group) at or after its end is observed, or on [`Correlator::advance`].
//! When the condition holds a finding is emitted and that group's window
//! restarts, so one burst yields one finding. A firing correlation feeds the correlations that
//! refer to it (chaining). The whole correlator is serde-serializable, to be
//! checkpointed with the log offset it reflects.
//!
//! Bounds: at most [`MAX_WINDOW_EVENTS`] observations per group and
//! [`MAX_GROUPS`] groups per correlation; beyond, the oldest are dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::{Engine, Match};
use crate::event::EventFields;
use crate::pipeline::FieldMap;
use crate::rule::{RuleBody, RuleKind};
use crate::ruleset::RuleSet;

mod def;

pub(crate) use def::parse_def;
pub use def::{Cmp, CorrelationDef, CorrelationType, parse_timespan};

pub const MAX_WINDOW_EVENTS: usize = 10_000;
pub const MAX_GROUPS: usize = 100_000;
const MAX_EVIDENCE: usize = 100;
const MAX_CHAIN_DEPTH: usize = 16;

/// A correlation that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationFinding {
    pub finding_id: String,
    pub rule_id: String,
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub kind: CorrelationType,
    /// group-by field -> value.
    pub group: BTreeMap<String, String>,
    pub group_key: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    /// Ids of the events (or child findings) in the window, oldest first.
    pub evidence: Vec<String>,
    /// The count, distinct count, sum, average or percentile that held.
    pub value: f64,
}

/// Deterministic finding id: replaying the same events gives the same id.
pub fn finding_id(rule_id: &str, group_key: &str, window_start_ms: i64) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(group_key.as_bytes());
    h.update([0]);
    h.update(window_start_ms.to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

/// A member of a correlation: a detection rule or another correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Member {
    Rule(usize),
    Correlation(usize),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CorrSpec {
    rule_id: String,
    names: Vec<String>,
    title: String,
    level: Option<String>,
    tags: Vec<String>,
    def: CorrelationDef,
    members: Vec<Member>,
    /// For each member, the key used in `aliases` (its name, else id).
    member_keys: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Obs {
    t: i64,
    id: String,
    member: usize,
    text: Option<String>,
    num: Option<f64>,
}

/// Open windows of a correlation decided at close: close time -> (group
/// key, group fields).
type Closing = BTreeMap<i64, Vec<(String, BTreeMap<String, String>)>>;

/// Correlation state, keyed by correlation and group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlator {
    specs: Vec<CorrSpec>,
    mappings: Vec<FieldMap>,
    windows: Vec<HashMap<String, VecDeque<Obs>>>,
    /// Per correlation evaluated at window close: close time -> (group key,
    /// group fields) of every open window.
    #[serde(default)]
    closing: Vec<Closing>,
    /// Observations dropped by the bounds.
    pub dropped: u64,
    /// A field every correlation is also grouped by, whatever its
    /// `group-by` says (Ward's tenant): events of different values never
    /// share a window.
    #[serde(default)]
    partition: Option<String>,
}

fn group_key(group: &BTreeMap<String, String>) -> String {
    group
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

impl Correlator {
    /// Builds an empty correlator for the correlations of `set`, reading
    /// event fields through the engine's pipelines.
    pub fn new(set: &RuleSet, engine: &Engine) -> Correlator {
        let metas: Vec<_> = set.rules().collect();
        let refers = |name: &str, i: usize| {
            metas
                .get(i)
                .is_some_and(|m| m.id.as_deref() == Some(name) || m.name.as_deref() == Some(name))
        };
        let corr_indices: Vec<usize> = (0..set.len())
            .filter(|&i| {
                metas
                    .get(i)
                    .is_some_and(|m| m.kind == RuleKind::Correlation)
            })
            .collect();
        let mut specs = Vec::new();
        for &ci in &corr_indices {
            let (Some(meta), Some(RuleBody::Correlation(def))) =
                (metas.get(ci), set.rule(ci).map(|r| &r.body))
            else {
                continue;
            };
            let mut members = Vec::new();
            let mut member_keys = Vec::new();
            for name in &def.rules {
                for i in (0..set.len()).filter(|&i| refers(name, i)) {
                    let Some(m) = metas.get(i) else { continue };
                    let member = match m.kind {
                        RuleKind::Correlation => corr_indices
                            .iter()
                            .position(|&c| c == i)
                            .map(Member::Correlation),
                        RuleKind::Detection => Some(Member::Rule(i)),
                        RuleKind::Filter => None,
                    };
                    if let Some(member) = member {
                        members.push(member);
                        member_keys.push(
                            [m.name.clone(), m.id.clone()]
                                .into_iter()
                                .flatten()
                                .collect(),
                        );
                    }
                }
            }
            specs.push(CorrSpec {
                rule_id: meta.key(),
                names: [meta.id.clone(), meta.name.clone()]
                    .into_iter()
                    .flatten()
                    .collect(),
                title: meta.title.clone(),
                level: meta.level.clone(),
                tags: meta.tags.clone(),
                def: def.clone(),
                members,
                member_keys,
            });
        }
        let n = specs.len();
        Correlator {
            specs,
            mappings: engine.mappings().to_vec(),
            windows: vec![HashMap::new(); n],
            closing: vec![BTreeMap::new(); n],
            dropped: 0,
            partition: None,
        }
    }

    /// Groups every correlation also by the event field `field` (read as
    /// is, not through pipelines), kept in each finding's group. Windows
    /// restored from state saved without a partition keep their groups.
    #[must_use]
    pub fn partitioned_by(mut self, field: &str) -> Correlator {
        self.partition = Some(field.to_owned());
        self
    }

    /// The partition field, if any.
    pub fn partition(&self) -> Option<&str> {
        self.partition.as_deref()
    }

    /// Closes every window (of correlations evaluated at close) that ends at
    /// or before `now_ms`, and returns the findings whose condition held.
    /// [`Correlator::observe`] calls it with each event's time; call it
    /// with the current time when events may stop arriving.
    pub fn advance(&mut self, now_ms: i64) -> Vec<CorrelationFinding> {
        let mut findings = Vec::new();
        if self.closing.len() < self.specs.len() {
            // State from before close-evaluated windows existed.
            self.closing.resize(self.specs.len(), BTreeMap::new());
        }
        for ci in 0..self.specs.len() {
            while let Some((close_at, due)) = self
                .closing
                .get_mut(ci)
                .and_then(|c| c.first_entry())
                .filter(|e| *e.key() <= now_ms)
                .map(|e| e.remove_entry())
            {
                for (key, group) in due {
                    let Some(window) = self.windows.get_mut(ci).and_then(|w| w.remove(&key)) else {
                        continue;
                    };
                    let Some(spec) = self.specs.get(ci) else {
                        continue;
                    };
                    if let Some(value) = evaluate(spec, &window, window.len().saturating_sub(1)) {
                        self.emit(ci, group, key, &window, value, close_at, 0, &mut findings);
                    }
                }
            }
        }
        findings
    }

    /// Number of correlation rules tracked.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether there are no correlation rules.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Feeds one event and the detection matches the engine found for it.
    pub fn observe(
        &mut self,
        event_time_ms: i64,
        event_id: &str,
        event: &impl EventFields,
        base_matches: &[Match],
    ) -> Vec<CorrelationFinding> {
        self.observe_where(event_time_ms, event_id, event, base_matches, &|_, _| true)
    }

    /// [`Correlator::observe`] feeding only the windows `keep` accepts, by
    /// correlation index and group key (see [`Correlator::windows_fed`]):
    /// the windows of one correlation can be kept by several correlators,
    /// each its share of the groups, and together they find what one
    /// correlator finds (for correlations that [`Correlator::separable`]
    /// allows; a chained parent is fed where its child fires).
    pub fn observe_where(
        &mut self,
        event_time_ms: i64,
        event_id: &str,
        event: &impl EventFields,
        base_matches: &[Match],
        keep: &dyn Fn(usize, &str) -> bool,
    ) -> Vec<CorrelationFinding> {
        let mut findings = self.advance(event_time_ms);
        for ci in 0..self.specs.len() {
            for m in base_matches {
                let Some((member, group)) = self.group_of(ci, event, m) else {
                    continue;
                };
                if !keep(ci, &group_key(&group)) {
                    continue;
                }
                let spec = &self.specs[ci];
                let text = (!spec.def.field.is_empty()).then(|| {
                    spec.def
                        .field
                        .iter()
                        .map(|f| self.lookup(event, m, f).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join("\u{1f}")
                });
                let obs = Obs {
                    t: event_time_ms,
                    id: event_id.to_string(),
                    member,
                    num: text.as_deref().and_then(|t| t.trim().parse().ok()),
                    text,
                };
                self.push(ci, group, obs, 0, &mut findings);
            }
        }
        findings
    }

    /// The windows an event's matches feed: (correlation index, group
    /// key), in the order [`Correlator::observe`] feeds them.
    pub fn windows_fed(
        &self,
        event: &impl EventFields,
        base_matches: &[Match],
    ) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for ci in 0..self.specs.len() {
            for m in base_matches {
                if let Some((_, group)) = self.group_of(ci, event, m) {
                    out.push((ci, group_key(&group)));
                }
            }
        }
        out
    }

    /// Which correlations (by index) can have their windows kept apart,
    /// by group, by several correlators: those whose members are all
    /// detection rules for which `apart(rule index)` holds, whose group-by
    /// fields, aliases and value fields all satisfy `field`, and that no
    /// other correlation refers to (a parent is fed by its child's
    /// findings, where the child's window is).
    pub fn separable(
        &self,
        apart: impl Fn(usize) -> bool,
        field: impl Fn(&str) -> bool,
    ) -> Vec<bool> {
        let referred: Vec<bool> = (0..self.specs.len())
            .map(|ci| {
                self.specs
                    .iter()
                    .any(|s| s.members.contains(&Member::Correlation(ci)))
            })
            .collect();
        self.specs
            .iter()
            .enumerate()
            .map(|(ci, s)| {
                let d = &s.def;
                !referred.get(ci).copied().unwrap_or(true)
                    && d.group_by.iter().all(|f| field(f))
                    && d.field.iter().all(|f| field(f))
                    && d.aliases
                        .values()
                        .flat_map(|m| m.values())
                        .all(|f| field(f))
                    && !s.members.is_empty()
                    && s.members.iter().all(|m| match m {
                        Member::Rule(r) => apart(*r),
                        Member::Correlation(_) => false,
                    })
            })
            .collect()
    }

    /// The detection rules (by index) that correlation `ci` refers to.
    pub fn member_rules(&self, ci: usize) -> Vec<usize> {
        self.specs.get(ci).map_or_else(Vec::new, |s| {
            s.members
                .iter()
                .filter_map(|m| match m {
                    Member::Rule(r) => Some(*r),
                    Member::Correlation(_) => None,
                })
                .collect()
        })
    }

    /// The rule key of correlation `ci`.
    pub fn rule_id(&self, ci: usize) -> Option<&str> {
        self.specs.get(ci).map(|s| s.rule_id.as_str())
    }

    /// A field of the event as match `m`'s pipeline maps it.
    fn lookup(&self, event: &impl EventFields, m: &Match, field: &str) -> Option<String> {
        let map = m.pipeline.and_then(|p| self.mappings.get(p));
        let paths = map.map_or_else(|| vec![field.to_string()], |mp| mp.resolve(field));
        paths
            .iter()
            .find_map(|p| event.field(p))
            .and_then(|v| v.as_text().map(|t| t.into_owned()))
    }

    /// The member and group fields match `m` feeds correlation `ci` with,
    /// if its rule is a member.
    fn group_of(
        &self,
        ci: usize,
        event: &impl EventFields,
        m: &Match,
    ) -> Option<(usize, BTreeMap<String, String>)> {
        let spec = self.specs.get(ci)?;
        let member = spec
            .members
            .iter()
            .position(|x| *x == Member::Rule(m.rule))?;
        let mut group: BTreeMap<String, String> = spec
            .def
            .group_by
            .iter()
            .map(|g| {
                let field = alias_field(spec, member, g);
                (g.clone(), self.lookup(event, m, &field).unwrap_or_default())
            })
            .collect();
        if let Some(p) = &self.partition {
            group.entry(p.clone()).or_insert_with(|| {
                event
                    .field(p)
                    .and_then(|v| v.as_text().map(|t| t.into_owned()))
                    .unwrap_or_default()
            });
        }
        Some((member, group))
    }

    fn push(
        &mut self,
        ci: usize,
        group: BTreeMap<String, String>,
        obs: Obs,
        depth: usize,
        findings: &mut Vec<CorrelationFinding>,
    ) {
        let Some(spec) = self.specs.get(ci) else {
            return;
        };
        let key = group_key(&group);
        let windows = &mut self.windows[ci];
        if !windows.contains_key(&key) && windows.len() >= MAX_GROUPS {
            self.dropped += 1;
            return;
        }
        let window = windows.entry(key.clone()).or_default();
        let t = obs.t;
        if at_close(&spec.def) {
            // A tumbling window from the group's first observation, decided
            // when it closes (see `advance`).
            if window.is_empty() {
                let close_at = t.saturating_add(spec.def.timespan_ms);
                if self.closing.len() <= ci {
                    self.closing.resize(ci + 1, BTreeMap::new());
                }
                if let Some(c) = self.closing.get_mut(ci) {
                    c.entry(close_at).or_default().push((key, group));
                }
            }
            let pos = window.iter().rposition(|o| o.t <= t).map_or(0, |p| p + 1);
            window.insert(pos, obs);
            if window.len() > MAX_WINDOW_EVENTS {
                window.pop_front();
                self.dropped += 1;
            }
            return;
        }
        let pos = window.iter().rposition(|o| o.t <= t).map_or(0, |p| p + 1);
        window.insert(pos, obs);
        while window
            .front()
            .is_some_and(|o| o.t < t - spec.def.timespan_ms)
        {
            window.pop_front();
        }
        if window.len() > MAX_WINDOW_EVENTS {
            window.pop_front();
            self.dropped += 1;
        }
        let Some(value) = evaluate(spec, window, pos) else {
            return;
        };
        let closed = std::mem::take(window);
        self.emit(ci, group, key, &closed, value, t, depth, findings);
    }

    /// Emits the finding of a window whose condition held (`t`: the time
    /// it was decided) and feeds it to the correlations that refer to it.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        ci: usize,
        group: BTreeMap<String, String>,
        key: String,
        window: &VecDeque<Obs>,
        value: f64,
        t: i64,
        depth: usize,
        findings: &mut Vec<CorrelationFinding>,
    ) {
        let Some(spec) = self.specs.get(ci) else {
            return;
        };
        let start = window.front().map_or(t, |o| o.t);
        let end = window.back().map_or(t, |o| o.t).max(t);
        let evidence: Vec<String> = window
            .iter()
            .take(MAX_EVIDENCE)
            .map(|o| o.id.clone())
            .collect();
        let id = finding_id(&spec.rule_id, &key, start);
        let finding = CorrelationFinding {
            finding_id: id.clone(),
            rule_id: spec.rule_id.clone(),
            title: spec.title.clone(),
            level: spec.level.clone(),
            tags: spec.tags.clone(),
            kind: spec.def.kind,
            group: group.clone(),
            group_key: key,
            window_start_ms: start,
            window_end_ms: end,
            evidence,
            value,
        };
        findings.push(finding);
        if depth >= MAX_CHAIN_DEPTH {
            return;
        }
        // Chaining: parents see this finding as an observation whose group
        // fields come from this group (through the parent's aliases).
        for pi in 0..self.specs.len() {
            let Some(member) = self.specs[pi]
                .members
                .iter()
                .position(|x| *x == Member::Correlation(ci))
            else {
                continue;
            };
            let parent = &self.specs[pi];
            let mut pgroup: BTreeMap<String, String> = parent
                .def
                .group_by
                .iter()
                .map(|g| {
                    (
                        g.clone(),
                        group
                            .get(&alias_field(parent, member, g))
                            .cloned()
                            .unwrap_or_default(),
                    )
                })
                .collect();
            if let Some(v) = self
                .partition
                .as_ref()
                .and_then(|p| Some((p, group.get(p)?)))
            {
                pgroup.entry(v.0.clone()).or_insert_with(|| v.1.clone());
            }
            let obs = Obs {
                t,
                id: id.clone(),
                member,
                text: None,
                num: Some(value),
            };
            self.push(pi, pgroup, obs, depth + 1, findings);
        }
    }
}

/// Whether a correlation's condition is decided when its window closes: an
/// upper bound (`lt`, `lte`, `eq`) on a value that only grows as the
/// window fills.
fn at_close(def: &CorrelationDef) -> bool {
    let grows = matches!(
        def.kind,
        CorrelationType::EventCount
            | CorrelationType::ValueCount
            | CorrelationType::ValueSum
            | CorrelationType::Temporal
            | CorrelationType::TemporalOrdered
    );
    grows
        && def
            .condition
            .iter()
            .any(|(c, _)| matches!(c, Cmp::Lt | Cmp::Lte | Cmp::Eq))
}

fn alias_field(spec: &CorrSpec, member: usize, group_field: &str) -> String {
    spec.def
        .aliases
        .get(group_field)
        .and_then(|per_rule| {
            spec.member_keys
                .get(member)?
                .iter()
                .find_map(|k| per_rule.get(k))
        })
        .cloned()
        .unwrap_or_else(|| group_field.to_string())
}

/// The aggregate value if the condition holds for the window.
fn evaluate(spec: &CorrSpec, window: &VecDeque<Obs>, newest: usize) -> Option<f64> {
    let def = &spec.def;
    let value = match def.kind {
        CorrelationType::EventCount => window.len() as f64,
        CorrelationType::ValueCount => {
            let mut distinct: Vec<&str> = window
                .iter()
                .filter_map(|o| o.text.as_deref())
                .filter(|t| !t.is_empty())
                .collect();
            distinct.sort_unstable();
            distinct.dedup();
            distinct.len() as f64
        }
        CorrelationType::ValueSum => window.iter().filter_map(|o| o.num).sum(),
        CorrelationType::ValueAvg => {
            let nums: Vec<f64> = window.iter().filter_map(|o| o.num).collect();
            if nums.is_empty() {
                return None;
            }
            nums.iter().sum::<f64>() / nums.len() as f64
        }
        CorrelationType::ValuePercentile => {
            // Share (in percent) of the window's events whose value equals
            // the newest event's value: how rare this value is in its group.
            let current = window.get(newest)?.text.as_deref()?;
            let same = window
                .iter()
                .filter(|o| o.text.as_deref() == Some(current))
                .count();
            100.0 * same as f64 / window.len() as f64
        }
        CorrelationType::Temporal => {
            let mut seen: Vec<usize> = window.iter().map(|o| o.member).collect();
            seen.sort_unstable();
            seen.dedup();
            let distinct_rules = distinct_rule_names(spec, &seen);
            if def.condition.is_empty() {
                return (distinct_rules >= def.rules.len()).then_some(distinct_rules as f64);
            }
            distinct_rules as f64
        }
        CorrelationType::TemporalOrdered => {
            // Greedy scan for the rules in order: earliest occurrence of each
            // step after the previous one.
            let mut step = 0;
            for o in window {
                if spec
                    .member_keys
                    .get(o.member)
                    .is_some_and(|keys| def.rules.get(step).is_some_and(|r| keys.contains(r)))
                {
                    step += 1;
                    if step == def.rules.len() {
                        break;
                    }
                }
            }
            if def.condition.is_empty() {
                return (step == def.rules.len()).then_some(step as f64);
            }
            step as f64
        }
    };
    def.condition
        .iter()
        .all(|(cmp, n)| cmp.test(value, *n))
        .then_some(value)
}

fn distinct_rule_names(spec: &CorrSpec, members: &[usize]) -> usize {
    spec.def
        .rules
        .iter()
        .filter(|r| {
            members
                .iter()
                .any(|m| spec.member_keys.get(*m).is_some_and(|k| k.contains(r)))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("5m"), Some(300_000));
        assert_eq!(parse_timespan("1h"), Some(3_600_000));
        assert_eq!(parse_timespan("0s"), None);
        assert_eq!(parse_timespan("5x"), None);
    }

    #[test]
    fn finding_ids_are_stable() {
        assert_eq!(finding_id("r", "g", 1), finding_id("r", "g", 1));
        assert_ne!(finding_id("r", "g", 1), finding_id("r", "g", 2));
        assert_eq!(finding_id("r", "g", 1).len(), 32);
    }
}
