//! Compliance posture from Ward's own data: controls as data
//! ([`control`]), evaluated continuously against the stored events and
//! Ward's state ([`evaluate`]), with a history per control ([`history`]),
//! scores per framework, and a gap finding when a passing control stops
//! passing.
//!
//! States are never optimistic: no data is `unknown`, evidence older than a
//! control's lifetime is `unknown`, and a framework's score is
//! pass / (pass + fail + error), reported beside its coverage (the share of
//! its applicable controls evaluated to pass, fail or error).

pub mod control;
pub mod evaluate;
pub mod evidence;
pub mod facts;
pub mod history;
pub mod live;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ward_store::Store;

pub use control::{Check, Control, Pack};
pub use evaluate::{Attestation, Facts, Outcome, QueryRun, State};
pub use live::Live;

use crate::model::Finding;

/// `[compliance]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComplianceConfig {
    /// Evaluate controls at all.
    pub enabled: bool,
    /// Load the built-in control pack (`compliance/` in the repository).
    pub builtin_controls: bool,
    /// Directories of more controls and framework catalogs (YAML); a
    /// control with the id of a built-in one replaces it.
    pub controls: Vec<PathBuf>,
    /// How often Ward looks for controls due (each control runs on its own
    /// cadence), e.g. "15s".
    pub tick: String,
    /// After a gap alert for a control, how long further pass→fail changes
    /// of that control raise no new alert (flapping), e.g. "1h".
    pub alert_damping: String,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        ComplianceConfig {
            enabled: true,
            builtin_controls: true,
            controls: Vec::new(),
            tick: "15s".into(),
            alert_damping: "1h".into(),
        }
    }
}

/// A control's current result, as the API and CLI show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub severity: control::Severity,
    pub check: String,
    pub mappings: Vec<control::Mapping>,
    pub state: State,
    pub reason: String,
    pub evaluated_at: Option<jiff::Timestamp>,
    #[serde(default)]
    pub observed: Value,
    #[serde(default)]
    pub queries: Vec<QueryRun>,
}

/// A framework's posture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameworkScore {
    pub framework: String,
    pub version: String,
    pub title: String,
    /// Controls mapped to it.
    pub controls: usize,
    /// Count per state (every state present, zeros included).
    pub states: BTreeMap<String, usize>,
    /// pass / (pass + fail + error); none when nothing was evaluated.
    pub score: Option<f64>,
    /// (pass + fail + error) / (controls − not_applicable).
    pub coverage: f64,
}

/// Scores of every framework of the pack over `results`.
pub fn scores(pack: &Pack, results: &[ControlResult]) -> Vec<FrameworkScore> {
    pack.catalogs
        .values()
        .map(|cat| {
            let mut states: BTreeMap<String, usize> = State::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), 0))
                .collect();
            let mut n = 0;
            for r in results
                .iter()
                .filter(|r| r.mappings.iter().any(|m| m.framework == cat.framework))
            {
                n += 1;
                *states.entry(r.state.as_str().to_owned()).or_default() += 1;
            }
            let get = |s: State| states.get(s.as_str()).copied().unwrap_or(0);
            let evaluated = get(State::Pass) + get(State::Fail) + get(State::Error);
            let applicable = n - get(State::NotApplicable);
            #[allow(clippy::cast_precision_loss)]
            FrameworkScore {
                framework: cat.framework.clone(),
                version: cat.version.clone(),
                title: cat.title.clone(),
                controls: n,
                score: (evaluated > 0).then(|| get(State::Pass) as f64 / evaluated as f64),
                coverage: if applicable == 0 {
                    0.0
                } else {
                    evaluated as f64 / applicable as f64
                },
                states,
            }
        })
        .collect()
}

/// A control that stopped passing.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub control: String,
    pub from: State,
    pub to: State,
    /// The finding to hand to alerting; none while damped.
    pub finding: Option<Finding>,
}

/// The running compliance evaluation.
pub struct Compliance {
    data_dir: PathBuf,
    pack: Arc<Pack>,
    damping: Duration,
    results: RwLock<BTreeMap<String, ControlResult>>,
    alerted: Mutex<HashMap<String, jiff::Timestamp>>,
    /// Serialises evaluations (ticks and attestations).
    running: Mutex<()>,
    /// The store's size at the last tick: when it grew, the event and
    /// scanner checks are evaluated again before their cadence.
    last_size: Mutex<Option<u64>>,
}

impl Compliance {
    /// Loads the controls and the last state of each from its history.
    pub fn new(pack: Pack, data_dir: &Path, damping: Duration) -> Compliance {
        let mut results = BTreeMap::new();
        for c in &pack.controls {
            let last = history::read(data_dir, &c.id, None)
                .ok()
                .and_then(|mut h| h.pop());
            let mut r = blank(c);
            if let Some(e) = last {
                r.state = e.state;
                r.reason = e.reason;
                r.observed = e.observed;
                r.evaluated_at = Some(e.time);
            }
            results.insert(c.id.clone(), r);
        }
        Compliance {
            data_dir: data_dir.to_owned(),
            pack: Arc::new(pack),
            damping,
            results: RwLock::new(results),
            alerted: Mutex::new(HashMap::new()),
            running: Mutex::new(()),
            last_size: Mutex::new(None),
        }
    }

    pub fn pack(&self) -> &Arc<Pack> {
        &self.pack
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Evaluates every control due at `now` (never evaluated, or its
    /// cadence passed, or, for event and scanner checks, events were
    /// stored since the last tick), or only `only`; records each in its
    /// history (an evaluation before the control's cadence only when its
    /// state changed) and returns the controls that stopped passing.
    pub fn tick(
        &self,
        store: &Store,
        facts: &Facts,
        now: jiff::Timestamp,
        only: Option<&str>,
    ) -> Vec<Gap> {
        let mut gaps = Vec::new();
        self.tick_each(store, facts, now, only, &mut |g| gaps.push(g));
        gaps
    }

    /// [`Compliance::tick`], handing each control that stopped passing to
    /// `on_gap` as soon as it is evaluated, so its alert does not wait for
    /// the rest of the cycle.
    pub fn tick_each(
        &self,
        store: &Store,
        facts: &Facts,
        now: jiff::Timestamp,
        only: Option<&str>,
        on_gap: &mut dyn FnMut(Gap),
    ) {
        let _running = self.running.lock();
        let attestations = history::attestations(&self.data_dir).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read compliance attestations");
            BTreeMap::new()
        });
        let cache = evaluate::QueryCache::default();
        let size = store.next_offset().0;
        let grew = self.last_size.lock().replace(size) != Some(size);
        let on_cadence = |c: &Control, at: Option<jiff::Timestamp>| {
            at.is_none_or(|at| now.duration_since(at).unsigned_abs() >= c.cadence)
        };
        let due: Vec<&Control> = {
            let results = self.results.read();
            self.pack
                .controls
                .iter()
                .filter(|c| {
                    let at = results.get(&c.id).and_then(|r| r.evaluated_at);
                    match only {
                        Some(id) => id == c.id,
                        None => {
                            on_cadence(c, at)
                                || (grew && matches!(c.check, Check::Events(_) | Check::Scanner(_)))
                        }
                    }
                })
                .collect()
        };
        // The event checks' aggregations, answered in one pass over the
        // store rather than one pass each.
        evaluate::prefetch(due.iter().copied(), store, now, &cache);
        for c in due {
            let previous = self.results.read().get(&c.id).cloned();
            let out =
                evaluate::evaluate_cached(c, store, facts, attestations.get(&c.id), now, &cache);
            let entry = history::Entry {
                time: now,
                state: out.state,
                reason: out.reason.clone(),
                observed: out.observed.clone(),
            };
            let from = previous.as_ref().map_or(State::Unknown, |p| p.state);
            let scheduled = only.is_some() || on_cadence(c, previous.and_then(|p| p.evaluated_at));
            if (scheduled || from != out.state)
                && let Err(e) = history::append(&self.data_dir, &c.id, &entry)
            {
                tracing::error!(control = %c.id, error = %e, "cannot append to the compliance history");
            }
            if from == State::Pass
                && matches!(out.state, State::Fail | State::Unknown | State::Error)
            {
                on_gap(self.gap(c, from, &out, now));
            }
            let mut r = blank(c);
            r.state = out.state;
            r.reason = out.reason;
            r.observed = out.observed;
            r.queries = out.queries;
            r.evaluated_at = Some(now);
            self.results.write().insert(c.id.clone(), r);
        }
    }

    fn gap(&self, c: &Control, from: State, out: &Outcome, now: jiff::Timestamp) -> Gap {
        let mut alerted = self.alerted.lock();
        let damped = alerted
            .get(&c.id)
            .is_some_and(|t| now.duration_since(*t).unsigned_abs() < self.damping);
        let finding = (!damped).then(|| {
            alerted.insert(c.id.clone(), now);
            gap_finding(c, out, now)
        });
        Gap {
            control: c.id.clone(),
            from,
            to: out.state,
            finding,
        }
    }

    /// Every control's result at `now`: a result older than its control's
    /// evidence lifetime is `unknown`.
    pub fn results(&self, now: jiff::Timestamp) -> Vec<ControlResult> {
        let results = self.results.read();
        self.pack
            .controls
            .iter()
            .filter_map(|c| {
                let mut r = results.get(&c.id)?.clone();
                let stale = match r.evaluated_at {
                    None => Some("not evaluated yet".to_owned()),
                    Some(at) if now.duration_since(at).unsigned_abs() > c.evidence_lifetime => {
                        Some(format!(
                            "the last evaluation ({at}) is older than the evidence lifetime of {}",
                            evaluate::human(c.evidence_lifetime)
                        ))
                    }
                    Some(_) => None,
                };
                if let Some(why) = stale
                    && r.state != State::Manual
                {
                    r.state = State::Unknown;
                    r.reason = why;
                }
                Some(r)
            })
            .collect()
    }
}

fn blank(c: &Control) -> ControlResult {
    ControlResult {
        id: c.id.clone(),
        title: c.title.clone(),
        owner: c.owner.clone(),
        severity: c.severity,
        check: c.check.kind().to_owned(),
        mappings: c.mappings.clone(),
        state: State::Unknown,
        reason: "not evaluated yet".into(),
        evaluated_at: None,
        observed: Value::Null,
        queries: Vec::new(),
    }
}

/// The finding of a control that stopped passing, routed to its owner.
fn gap_finding(c: &Control, out: &Outcome, now: jiff::Timestamp) -> Finding {
    let time = now.to_string();
    let mut labels = BTreeMap::new();
    labels.insert(ward_alert::state::OWNER_LABEL.to_owned(), c.owner.clone());
    labels.insert("compliance.control".to_owned(), c.id.clone());
    labels.insert("compliance.state".to_owned(), out.state.as_str().to_owned());
    let mut group_key = BTreeMap::new();
    group_key.insert("compliance.control".to_owned(), c.id.clone());
    Finding {
        id: format!("compliance:{}:{}", c.id, now.as_millisecond()),
        rule_id: format!("compliance:{}", c.id),
        rule_title: format!(
            "Compliance control {} is {}: {}",
            c.id,
            out.state.as_str(),
            c.title
        ),
        level: c.severity.as_str().to_owned(),
        tags: c
            .mappings
            .iter()
            .map(|m| format!("{}:{}", m.framework, m.id))
            .collect(),
        description: out.reason.clone(),
        group_key,
        evidence: Vec::new(),
        first_seen: time.clone(),
        last_seen: time,
        labels,
        runbook: None,
        value: None,
    }
}

#[cfg(test)]
mod tests;
