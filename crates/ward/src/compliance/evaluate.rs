//! Evaluates one control against the store and Ward's state, never
//! optimistically: no data is `unknown`, never `pass`; stale evidence is
//! `unknown`; a check that cannot run is `error`.
//!
//! Every query an evaluation runs is recorded with its exact text and time
//! window ([`QueryRun`]), so that evidence can show what was asked.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use ward_store::{AggregationResult, SearchOptions, Store};

use super::control::{Check, Condition, Control, EventCheck, Fact, ScannerCheck, StateCheck};

/// A control's state. Only `pass`, `fail` and `error` enter a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pass,
    Fail,
    Error,
    /// No data, or evidence older than the control's lifetime.
    Unknown,
    NotApplicable,
    /// Waiting for a person's attestation.
    Manual,
    /// Not passing, under an exception in force.
    Excepted,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Pass,
        State::Fail,
        State::Error,
        State::Unknown,
        State::NotApplicable,
        State::Manual,
        State::Excepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pass => "pass",
            State::Fail => "fail",
            State::Error => "error",
            State::Unknown => "unknown",
            State::NotApplicable => "not_applicable",
            State::Manual => "manual",
            State::Excepted => "excepted",
        }
    }
}

/// One query an evaluation ran: its exact text and window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryRun {
    pub query: String,
    /// Window start and end (RFC 3339, inclusive).
    pub since: String,
    pub until: String,
    pub result: Value,
}

/// What an evaluation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub state: State,
    /// Why, in one line; never an event's field value.
    pub reason: String,
    /// Figures behind the state (counts, missing groups, fact values).
    pub observed: Value,
    pub queries: Vec<QueryRun>,
}

impl Outcome {
    fn new(
        state: State,
        reason: impl Into<String>,
        observed: Value,
        queries: Vec<QueryRun>,
    ) -> Outcome {
        Outcome {
            state,
            reason: reason.into(),
            observed,
            queries,
        }
    }
}

/// The result of the last `ward verify`, kept in
/// `<data>/compliance/last-verify.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRecord {
    pub time: jiff::Timestamp,
    pub ok: bool,
    pub problems: usize,
    pub records: u64,
}

/// High and critical alerts over a window and which missed their
/// acknowledgement SLA.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertFacts {
    pub considered: usize,
    pub late: Vec<String>,
}

/// Rule packs: rules loaded and load errors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleFacts {
    pub loaded: u64,
    pub errors: u64,
}

/// Ward's own state as state checks see it; `None` is unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Facts {
    pub retention_security_days: Option<u32>,
    /// Detector kinds and fields configured to be kept unredacted.
    pub redaction_kept: Option<Vec<String>>,
    pub last_verify: Option<VerifyRecord>,
    /// Per window length in days (the check's window).
    pub alerts: Option<AlertFacts>,
    pub rules: Option<RuleFacts>,
}

/// A person's attestation of a manual control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub control: String,
    /// `pass` or `fail`.
    pub result: State,
    pub by: String,
    pub note: String,
    pub at: jiff::Timestamp,
    pub expires: jiff::Timestamp,
}

/// Aggregations already run in one evaluation cycle, by query text and
/// window: controls of a cycle share one `now`, so the same question (the
/// events stored in the last 24 h, asked by every event control) is asked
/// of the store once.
#[derive(Default)]
pub struct QueryCache(parking_lot::Mutex<HashMap<(String, i64, i64), AggregationResult>>);

impl QueryCache {
    /// Aggregations held.
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Evaluates `control` at `now`.
pub fn evaluate(
    control: &Control,
    store: &Store,
    facts: &Facts,
    attestation: Option<&Attestation>,
    now: jiff::Timestamp,
) -> Outcome {
    evaluate_cached(
        control,
        store,
        facts,
        attestation,
        now,
        &QueryCache::default(),
    )
}

/// [`evaluate`], sharing the aggregations of a cycle through `cache`.
pub fn evaluate_cached(
    control: &Control,
    store: &Store,
    facts: &Facts,
    attestation: Option<&Attestation>,
    now: jiff::Timestamp,
    cache: &QueryCache,
) -> Outcome {
    let raw = match &control.check {
        Check::Events(c) => events(c, store, now, cache),
        Check::State(c) => state(c, facts, now),
        Check::Scanner(c) => scanner(c, store, now, cache),
        Check::Manual { .. } => manual(attestation, now),
    };
    match control.exception_at(now) {
        Some(e) if raw.state != State::Pass && raw.state != State::NotApplicable => Outcome {
            state: State::Excepted,
            reason: format!(
                "excepted until {} (owner {}): {}; underlying: {} — {}",
                e.expires,
                e.owner,
                e.reason,
                raw.state.as_str(),
                raw.reason
            ),
            ..raw
        },
        _ => raw,
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs `query | aggregation` over `[now - window, now]`.
struct Runner<'a> {
    store: &'a Store,
    now: jiff::Timestamp,
    runs: Vec<QueryRun>,
    cache: &'a QueryCache,
}

impl Runner<'_> {
    fn aggregate(
        &mut self,
        filter: &str,
        agg: &str,
        window: Duration,
    ) -> Result<AggregationResult, String> {
        let key = cache_key(filter, agg, window, self.now);
        let (text, since, until) = key.clone();
        if let Some(agg) = self.cache.0.lock().get(&key).cloned() {
            self.runs.push(QueryRun {
                query: text,
                since: rfc3339(since),
                until: rfc3339(until),
                result: serde_json::to_value(&agg).unwrap_or(Value::Null),
            });
            return Ok(agg);
        }
        let q = ward_store::query::parse(&text).map_err(|e| format!("query {text:?}: {e}"))?;
        let opts = SearchOptions {
            since: Some(since),
            until: Some(until),
            limit: 0,
            ..SearchOptions::default()
        };
        let res = self
            .store
            .search(&q, &opts)
            .map_err(|e| format!("search failed: {e}"))?;
        if !res.warnings.is_empty() {
            return Err(format!(
                "{} damaged block(s) could not be read; the result would be incomplete",
                res.warnings.len()
            ));
        }
        let agg = res
            .aggregation
            .ok_or_else(|| "the search returned no aggregation".to_owned())?;
        self.runs.push(QueryRun {
            query: text,
            since: rfc3339(since),
            until: rfc3339(until),
            result: serde_json::to_value(&agg).unwrap_or(Value::Null),
        });
        self.cache.0.lock().insert(key, agg.clone());
        Ok(agg)
    }

    fn count(&mut self, filter: &str, window: Duration) -> Result<u64, String> {
        match self.aggregate(filter, "| count", window)? {
            AggregationResult::Count(n) => Ok(n),
            AggregationResult::Buckets { .. } => Err("count returned buckets".into()),
        }
    }

    fn values(
        &mut self,
        filter: &str,
        field: &str,
        window: Duration,
    ) -> Result<BTreeSet<String>, String> {
        match self.aggregate(filter, &format!("| count by {field}"), window)? {
            AggregationResult::Buckets { buckets, other, .. } => {
                if other > 0 {
                    return Err(format!(
                        "too many values of {field}: coverage cannot be decided"
                    ));
                }
                Ok(buckets.into_iter().map(|b| b.value).collect())
            }
            AggregationResult::Count(_) => Err("count by returned a count".into()),
        }
    }
}

/// The text and window of `filter | agg` over `[now - window, now]`: the
/// cache key of the aggregation.
fn cache_key(
    filter: &str,
    agg: &str,
    window: Duration,
    now: jiff::Timestamp,
) -> (String, i64, i64) {
    let text = match filter_of(filter) {
        None => agg.to_owned(),
        Some(f) => format!("({f}) {agg}"),
    };
    let until = now.as_millisecond();
    (text, until.saturating_sub(ms(window)), until)
}

/// The aggregations an event check may ask, as [`events_inner`] words
/// them (some are asked only when an earlier answer allows).
fn planned(c: &EventCheck, now: jiff::Timestamp, out: &mut Vec<(String, i64, i64)>) {
    let count = |filter: &str, window| cache_key(filter, "| count", window, now);
    let values = |filter: &str, field: &str, window| {
        cache_key(filter, &format!("| count by {field}"), window, now)
    };
    out.push(count("*", c.window));
    if let Some(req) = &c.requires {
        out.push(count(req, c.window));
    }
    match &c.condition {
        Condition::AtLeast(_) | Condition::AtMost(_) => out.push(count(&c.query, c.window)),
        Condition::Every {
            field,
            population,
            population_window,
        } => {
            out.push(values(population, field, *population_window));
            out.push(values(&c.query, field, c.window));
        }
        Condition::Missing { fields, .. } => {
            out.push(count(&c.query, c.window));
            out.push(count(&missing_filter(&c.query, fields), c.window));
        }
    }
}

/// Answers, in one pass over the store, every aggregation the event checks
/// of `controls` may ask at `now`, into `cache`; [`evaluate_cached`] then
/// finds them there. Whatever cannot be answered here (a query that does
/// not parse, a damaged block, a store error) is left to the evaluation,
/// which asks it alone and reports the problem as the control's error.
pub fn prefetch<'a>(
    controls: impl IntoIterator<Item = &'a Control>,
    store: &Store,
    now: jiff::Timestamp,
    cache: &QueryCache,
) {
    let mut keys = Vec::new();
    for c in controls {
        match &c.check {
            Check::Events(e) => planned(e, now, &mut keys),
            // The count that tells whether any result is there to look up.
            Check::Scanner(s) => keys.push(cache_key(&s.query, "| count", s.window, now)),
            _ => {}
        }
    }
    keys.sort();
    keys.dedup();
    let known = cache.0.lock();
    keys.retain(|k| !known.contains_key(k));
    drop(known);
    let mut asked = Vec::with_capacity(keys.len());
    let mut parsed_keys = Vec::with_capacity(keys.len());
    for key in keys {
        let Ok(q) = ward_store::query::parse(&key.0) else {
            continue;
        };
        let opts = SearchOptions {
            since: Some(key.1),
            until: Some(key.2),
            limit: 0,
            ..SearchOptions::default()
        };
        asked.push((q, opts));
        parsed_keys.push(key);
    }
    for (keys, asked) in parsed_keys
        .chunks(ward_store::MAX_AGGREGATIONS)
        .zip(asked.chunks(ward_store::MAX_AGGREGATIONS))
    {
        let results = match store.aggregate_many(asked) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "compliance: the shared pass failed; each query runs alone");
                return;
            }
        };
        let mut cache = cache.0.lock();
        for (key, r) in keys.iter().zip(results) {
            if let (true, Some(agg)) = (r.warnings.is_empty(), r.aggregation) {
                cache.insert(key.clone(), agg);
            }
        }
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

fn events(c: &EventCheck, store: &Store, now: jiff::Timestamp, cache: &QueryCache) -> Outcome {
    let mut r = Runner {
        store,
        now,
        runs: Vec::new(),
        cache,
    };
    let outcome = events_inner(c, &mut r);
    let (state, reason, observed) = match outcome {
        Ok(x) => x,
        Err(e) => (State::Error, e, Value::Null),
    };
    Outcome::new(state, reason, observed, r.runs)
}

type Found = Result<(State, String, Value), String>;

fn events_inner(c: &EventCheck, r: &mut Runner<'_>) -> Found {
    let stored = r.count("*", c.window)?;
    if stored == 0 {
        return Ok((
            State::Unknown,
            format!("no events stored in the last {}", human(c.window)),
            json!({"stored": 0}),
        ));
    }
    if let Some(req) = &c.requires {
        let n = r.count(req, c.window)?;
        if n == 0 {
            return Ok((
                State::NotApplicable,
                format!(
                    "nothing in the last {} matches what the control requires",
                    human(c.window)
                ),
                json!({"stored": stored, "required": 0}),
            ));
        }
    }
    match &c.condition {
        Condition::AtLeast(n) => {
            let got = r.count(&c.query, c.window)?;
            let state = if got >= *n { State::Pass } else { State::Fail };
            Ok((
                state,
                format!(
                    "{got} matching events in the last {} (need at least {n})",
                    human(c.window)
                ),
                json!({"stored": stored, "matched": got, "at_least": n}),
            ))
        }
        Condition::AtMost(n) => {
            let got = r.count(&c.query, c.window)?;
            let state = if got <= *n { State::Pass } else { State::Fail };
            Ok((
                state,
                format!(
                    "{got} matching events in the last {} (allowed at most {n})",
                    human(c.window)
                ),
                json!({"stored": stored, "matched": got, "at_most": n}),
            ))
        }
        Condition::Every {
            field,
            population,
            population_window,
        } => {
            let expected = r.values(population, field, *population_window)?;
            if expected.is_empty() {
                return Ok((
                    State::Unknown,
                    format!(
                        "no value of {field} in the population of the last {}",
                        human(*population_window)
                    ),
                    json!({"stored": stored, "expected": 0}),
                ));
            }
            let seen = r.values(&c.query, field, c.window)?;
            let missing: Vec<&String> = expected.difference(&seen).collect();
            let state = if missing.is_empty() {
                State::Pass
            } else {
                State::Fail
            };
            Ok((
                state,
                format!(
                    "{} of {} values of {field} seen in the last {}",
                    expected.len() - missing.len(),
                    expected.len(),
                    human(c.window)
                ),
                json!({
                    "stored": stored,
                    "expected": expected.len(),
                    "missing": missing.iter().take(100).collect::<Vec<_>>(),
                    "missing_count": missing.len(),
                }),
            ))
        }
        Condition::Missing { fields, max_ratio } => {
            let population = r.count(&c.query, c.window)?;
            if population == 0 {
                return Ok((
                    State::Unknown,
                    format!("no matching events in the last {}", human(c.window)),
                    json!({"stored": stored, "population": 0}),
                ));
            }
            let lacking = r.count(&missing_filter(&c.query, fields), c.window)?;
            #[allow(clippy::cast_precision_loss)]
            let ratio = lacking as f64 / population as f64;
            let state = if ratio <= *max_ratio {
                State::Pass
            } else {
                State::Fail
            };
            Ok((
                state,
                format!(
                    "{lacking} of {population} events lack a required field ({:.2}%, allowed {:.2}%)",
                    ratio * 100.0,
                    max_ratio * 100.0
                ),
                json!({"population": population, "lacking": lacking, "ratio": ratio, "max_ratio": max_ratio, "fields": fields}),
            ))
        }
    }
}

/// The events of `query` that lack one of `fields`.
fn missing_filter(query: &str, fields: &[String]) -> String {
    let all_present = fields
        .iter()
        .map(|f| format!("{f}:*"))
        .collect::<Vec<_>>()
        .join(" AND ");
    match filter_of(query) {
        None => format!("NOT ({all_present})"),
        Some(q) => format!("({q}) AND NOT ({all_present})"),
    }
}

/// A control's filter; `*` (or nothing) is every event.
fn filter_of(q: &str) -> Option<&str> {
    let q = q.trim();
    (q != "*" && !q.is_empty()).then_some(q)
}

fn scanner(c: &ScannerCheck, store: &Store, now: jiff::Timestamp, cache: &QueryCache) -> Outcome {
    let mut r = Runner {
        store,
        now,
        runs: Vec::new(),
        cache,
    };
    let found = (|| -> Found {
        // Counted in the cycle's shared pass (sealed segments counted once
        // and kept): with no result in the window, which is what a store
        // that never received one holds, the newest-first search below
        // would read every block of the window, every cycle.
        let latest = if r.count(&c.query, c.window)? == 0 {
            None
        } else {
            latest_run(r.store, &c.query, c.window, now)?
        };
        let Some(run) = latest else {
            return Ok((
                State::Unknown,
                format!("no scanner results in the last {}", human(c.window)),
                json!({"results": 0}),
            ));
        };
        let population = match &run {
            Some(id) => format!("({}) AND labels.scan_id:\"{id}\"", c.query),
            None => c.query.clone(),
        };
        let total = r.count(&population, c.window)?;
        let failed = r.count(&format!("{population} AND event.outcome:failure"), c.window)?;
        let state = if total == 0 {
            State::Unknown
        } else if failed == 0 {
            State::Pass
        } else {
            State::Fail
        };
        Ok((
            state,
            format!("{failed} of {total} scanner results failed in the latest run"),
            json!({"scan_id": run, "results": total, "failed": failed}),
        ))
    })();
    let (state, reason, observed) = found.unwrap_or_else(|e| (State::Error, e, Value::Null));
    Outcome::new(state, reason, observed, r.runs)
}

/// The newest scanner result's run id (`labels.scan_id`): Ok(None) when no
/// result; Ok(Some(None)) when results carry no run id.
fn latest_run(
    store: &Store,
    query: &str,
    window: Duration,
    now: jiff::Timestamp,
) -> Result<Option<Option<String>>, String> {
    let q = ward_store::query::parse(query).map_err(|e| e.to_string())?;
    let until = now.as_millisecond();
    let opts = SearchOptions {
        since: Some(until.saturating_sub(ms(window))),
        until: Some(until),
        limit: 1,
        ..SearchOptions::default()
    };
    let res = store
        .search(&q, &opts)
        .map_err(|e| format!("search failed: {e}"))?;
    let Some(hit) = res.hits.first() else {
        return Ok(None);
    };
    let id = hit.event.pointer("/labels/scan_id").and_then(Value::as_str);
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
        {
            Ok(Some(Some(id.to_owned())))
        }
        Some(_) => Err("the latest scanner result has an unusable labels.scan_id".into()),
        None => Ok(Some(None)),
    }
}

fn state(c: &StateCheck, f: &Facts, now: jiff::Timestamp) -> Outcome {
    let unknown = |what: &str| {
        Outcome::new(
            State::Unknown,
            format!("{what} is not known"),
            Value::Null,
            Vec::new(),
        )
    };
    let (state, reason, observed) = match c.fact {
        Fact::RetentionSecurityDays => {
            let Some(days) = f.retention_security_days else {
                return unknown("the retention of security categories");
            };
            let need = c
                .at_least
                .unwrap_or(u64::from(ward_store::MIN_SECURITY_DAYS));
            let state = if u64::from(days) >= need {
                State::Pass
            } else {
                State::Fail
            };
            (
                state,
                format!("security categories are kept {days} days (need at least {need})"),
                json!({"days": days, "at_least": need}),
            )
        }
        Fact::RedactionEnabled => {
            let Some(kept) = &f.redaction_kept else {
                return unknown("the redaction configuration");
            };
            if kept.is_empty() {
                (
                    State::Pass,
                    "redaction runs and nothing is kept unredacted".into(),
                    json!({"kept": []}),
                )
            } else {
                (
                    State::Fail,
                    format!(
                        "redaction is configured to keep {} unredacted",
                        kept.join(", ")
                    ),
                    json!({"kept": kept}),
                )
            }
        }
        Fact::VerifyPassed => {
            let Some(v) = &f.last_verify else {
                return Outcome::new(
                    State::Unknown,
                    "ward verify has not run",
                    Value::Null,
                    Vec::new(),
                );
            };
            let age = now.duration_since(v.time);
            let max = c.max_age.unwrap_or(Duration::from_secs(7 * 86_400));
            let observed =
                json!({"time": v.time, "ok": v.ok, "problems": v.problems, "records": v.records});
            if !v.ok {
                (
                    State::Fail,
                    format!(
                        "the last ward verify ({}) found {} problems",
                        v.time, v.problems
                    ),
                    observed,
                )
            } else if age.is_negative() || age.unsigned_abs() > max {
                (
                    State::Unknown,
                    format!(
                        "the last ward verify passed at {} but is older than {}",
                        v.time,
                        human(max)
                    ),
                    observed,
                )
            } else {
                (
                    State::Pass,
                    format!("ward verify passed at {}", v.time),
                    observed,
                )
            }
        }
        Fact::AlertsAcknowledgedWithinSla => {
            let Some(a) = &f.alerts else {
                return unknown("alert acknowledgement");
            };
            if a.considered == 0 {
                (
                    State::NotApplicable,
                    format!("no high or critical alerts in the last {}", human(c.window)),
                    json!({"considered": 0}),
                )
            } else if a.late.is_empty() {
                (
                    State::Pass,
                    format!(
                        "all {} high or critical alerts acknowledged within SLA",
                        a.considered
                    ),
                    json!({"considered": a.considered, "late": []}),
                )
            } else {
                (
                    State::Fail,
                    format!(
                        "{} of {} high or critical alerts missed their acknowledgement SLA",
                        a.late.len(),
                        a.considered
                    ),
                    json!({"considered": a.considered, "late": a.late.iter().take(100).collect::<Vec<_>>()}),
                )
            }
        }
        Fact::RulesLoaded => {
            let Some(r) = &f.rules else {
                return unknown("the rule packs");
            };
            let observed = json!({"loaded": r.loaded, "errors": r.errors});
            if r.errors > 0 {
                (
                    State::Fail,
                    format!("{} rules failed to load", r.errors),
                    observed,
                )
            } else if r.loaded == 0 {
                (State::Fail, "no rules are loaded".into(), observed)
            } else {
                (
                    State::Pass,
                    format!("{} rules loaded without errors", r.loaded),
                    observed,
                )
            }
        }
    };
    Outcome::new(state, reason, observed, Vec::new())
}

fn manual(a: Option<&Attestation>, now: jiff::Timestamp) -> Outcome {
    let Some(a) = a else {
        return Outcome::new(
            State::Manual,
            "awaiting an attestation",
            Value::Null,
            Vec::new(),
        );
    };
    let observed =
        json!({"by": a.by, "at": a.at, "expires": a.expires, "result": a.result, "note": a.note});
    if a.expires <= now {
        return Outcome::new(
            State::Unknown,
            format!("the attestation by {} expired at {}", a.by, a.expires),
            observed,
            Vec::new(),
        );
    }
    let state = if a.result == State::Pass {
        State::Pass
    } else {
        State::Fail
    };
    Outcome::new(
        state,
        format!("attested {} by {} at {}", state.as_str(), a.by, a.at),
        observed,
        Vec::new(),
    )
}

/// `90d`, `6h`, `15m` for reasons.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
