//! The detect stage: reads the stored log in order from a checkpointed
//! offset, runs the stateful enrichers (baselines), the compiled Sigma rules
//! and correlations and the Ward metric rules, and hands findings to
//! alerting. Finding ids come from (rule, group key, window) or (rule,
//! event), so replaying the log after a crash never duplicates a finding;
//! the checkpoint (offset + correlation and baseline state) is written
//! atomically after the findings it covers were handed over.

pub mod baseline;
pub mod checkpoint;
pub mod enrich;
pub mod metric;
pub mod rules;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use ward_sigma::{Correlator, Engine};
use ward_store::{Offset, Store};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::{Event, Finding};

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

/// Where findings go. It returns once they are durably taken over (the
/// checkpoint advances only after that), or an error to retry later.
pub type FindingSink = Box<dyn Fn(Vec<Finding>) -> anyhow::Result<()> + Send>;

/// Starts live detection on its own thread. Findings go to `sink`.
pub fn start(
    config: &Config,
    store: Arc<Store>,
    appended: Arc<Notify>,
    sink: FindingSink,
    metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    let cfg = &config.raw.detect;
    let paths = cfg.rules.clone();
    let pipeline_paths = cfg.pipelines.clone();
    let builtin = cfg.builtin_rules;
    let hot_reload = cfg.hot_reload;
    let baseline_cfg = cfg.baseline.clone();
    let state_path = config.data_dir.join("detect").join("checkpoint.json");
    let rt = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("ward-detect".into())
        .spawn(move || {
            let mut d = Detector::new(
                builtin,
                paths,
                pipeline_paths,
                baseline_cfg,
                state_path,
                metrics,
            );
            d.run(&store, &appended, &sink, hot_reload, &rt);
        })?;
    Ok(())
}

struct Detector {
    builtin: bool,
    paths: Vec<PathBuf>,
    pipeline_paths: Vec<PathBuf>,
    loaded: rules::Loaded,
    correlator: Correlator,
    baseline_cfg: baseline::BaselineConfig,
    state: checkpoint::State,
    state_path: PathBuf,
    metrics: Arc<Metrics>,
}

impl Detector {
    fn new(
        builtin: bool,
        paths: Vec<PathBuf>,
        pipeline_paths: Vec<PathBuf>,
        baseline_cfg: baseline::BaselineConfig,
        state_path: PathBuf,
        metrics: Arc<Metrics>,
    ) -> Detector {
        let mut loaded = rules::load(builtin, &paths, &pipeline_paths);
        report(&loaded, &metrics);
        let mut state = checkpoint::State::load(&state_path).unwrap_or_else(|e| {
            tracing::error!(error = %e, "detection checkpoint unreadable: starting from the beginning of the log");
            checkpoint::State::default()
        });
        // Correlation and metric-rule state is kept only for the same rules.
        let same_rules = state.rules_digest == digest(&loaded);
        let correlator = match (same_rules, state.correlator.take()) {
            (true, Some(c)) => c,
            _ => Correlator::new(&loaded.set, &loaded.engine),
        };
        if let (true, Some(m)) = (same_rules, state.metric.take()) {
            loaded.metric.restore(m);
        }
        state.metric = None;
        state.rules_digest = digest(&loaded);
        Detector {
            builtin,
            paths,
            pipeline_paths,
            loaded,
            correlator,
            baseline_cfg,
            state,
            state_path,
            metrics,
        }
    }

    fn run(
        &mut self,
        store: &Store,
        appended: &Notify,
        sink: &FindingSink,
        hot_reload: bool,
        rt: &tokio::runtime::Handle,
    ) {
        let mut fingerprint = rules::fingerprint(&self.paths);
        let mut last_reload_check = Instant::now();
        let mut last_save = Instant::now();
        let mut dirty = false;
        loop {
            let batch = match store.read_from(Offset(self.state.offset), 1000) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "detection cannot read the log");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            // Silence is judged by the wall clock only once the backlog is
            // read, or a catch-up after downtime would look like silence.
            let mut out = if batch.is_empty() {
                let now = jiff::Timestamp::now().as_millisecond();
                let mut out = self.loaded.metric.tick(now);
                // Correlation windows decided at their end (`lt`, `lte`,
                // `eq`) close by event time; when events stop, by the wall
                // clock, a grace period after their end for late events.
                let closed = self.correlator.advance(now - CLOSE_GRACE_MS);
                if !closed.is_empty() {
                    dirty = true;
                }
                out.extend(
                    closed
                        .into_iter()
                        .map(|c| self.correlation_finding(c, BTreeMap::new())),
                );
                out
            } else {
                Vec::new()
            };
            let mut next = self.state.offset;
            for rec in &batch {
                if let Ok(map) =
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&rec.body)
                {
                    let mut event = Event(map);
                    out.extend(self.evaluate(&mut event));
                }
                next = rec.offset.0 + 1;
            }
            if !out.is_empty() {
                let n = out.len() as u64;
                // Until the sink has them, the checkpoint must not move:
                // retry (a replay gives the same finding ids).
                while let Err(e) = sink(out.clone()) {
                    tracing::error!(error = %format!("{e:#}"), "findings not taken over; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
                self.metrics.add("ward_detect_findings_total", &[], n);
            }
            self.state.offset = next;
            if !batch.is_empty() {
                dirty = true;
                self.metrics
                    .add("ward_detect_events_total", &[], batch.len() as u64);
                self.metrics
                    .set("ward_detect_offset", &[], self.state.offset as f64);
            }
            if dirty && (last_save.elapsed() > Duration::from_secs(1) || batch.is_empty()) {
                self.save();
                dirty = false;
                last_save = Instant::now();
            }
            if hot_reload && last_reload_check.elapsed() > Duration::from_secs(2) {
                last_reload_check = Instant::now();
                let fp = rules::fingerprint(&self.paths);
                if fp != fingerprint {
                    fingerprint = fp;
                    self.reload();
                }
            }
            if batch.is_empty() {
                rt.block_on(async {
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), appended.notified()).await;
                });
            }
        }
    }

    fn reload(&mut self) {
        let loaded = rules::load(self.builtin, &self.paths, &self.pipeline_paths);
        report(&loaded, &self.metrics);
        self.correlator = Correlator::new(&loaded.set, &loaded.engine);
        self.loaded = loaded;
        self.state.rules_digest = digest(&self.loaded);
        tracing::info!(rules = self.loaded.engine.len(), "rules reloaded");
    }

    fn save(&mut self) {
        self.state.correlator = Some(self.correlator.clone());
        self.state.metric = Some(self.loaded.metric.clone());
        if let Err(e) = self.state.save(&self.state_path) {
            tracing::error!(error = %e, "cannot write the detection checkpoint");
        }
        self.state.correlator = None;
        self.state.metric = None;
    }

    /// Enriches one event and runs every rule on it.
    fn evaluate(&mut self, event: &mut Event) -> Vec<Finding> {
        if is_own_alert_audit(event) {
            return Vec::new();
        }
        self.state.baselines.observe(&self.baseline_cfg, event);
        let time_ms = event
            .get_str("@timestamp")
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(0, |t| t.as_millisecond());
        let event_id = event.get_str("event.id").unwrap_or_default().to_owned();
        let engine: &Engine = &self.loaded.engine;
        let matches = engine.matches(&event.0);
        let mut out = Vec::new();
        for m in &matches {
            let Some(meta) = engine.rule(m.rule) else {
                continue;
            };
            if self.loaded.building_blocks.contains(&m.rule_id) {
                continue;
            }
            let mut group = BTreeMap::new();
            for f in ENTITY_FIELDS {
                if let Some(v) = event.get_str(f) {
                    group.insert(f.to_owned(), v.to_owned());
                }
            }
            out.push(Finding {
                id: ward_sigma::finding_id(&m.rule_id, &event_id, 0),
                rule_id: m.rule_id.clone(),
                rule_title: meta.title.clone(),
                level: meta.level.clone().unwrap_or_else(|| "medium".into()),
                tags: meta.tags.clone(),
                description: meta.description.clone().unwrap_or_default(),
                group_key: group,
                evidence: vec![event_id.clone()],
                first_seen: event.get_str("@timestamp").unwrap_or_default().to_owned(),
                last_seen: event.get_str("@timestamp").unwrap_or_default().to_owned(),
                labels: labels(event),
                runbook: runbook(meta),
                value: None,
            });
        }
        for c in self
            .correlator
            .observe(time_ms, &event_id, &event.0, &matches)
        {
            out.push(self.correlation_finding(c, labels(event)));
        }
        out.extend(self.loaded.metric.observe(event, time_ms));
        out
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

/// How long after its end, by the wall clock, a correlation window decided
/// at close waits for late events when no events arrive.
const CLOSE_GRACE_MS: i64 = 60_000;

/// Audit events of alerting's own automatic changes (an alert opened or
/// re-fired by Ward itself) are stored but not detected on: a rule on
/// configuration changes would otherwise alert on alerts, without end.
/// Changes made by people (acknowledge, resolve, silence) are detected on.
fn is_own_alert_audit(event: &Event) -> bool {
    event.get_str("event.dataset") == Some("ward.alert")
        && event.get_str("user.name") == Some("ward")
}

fn report(loaded: &rules::Loaded, metrics: &Metrics) {
    let mut errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    errors.extend(loaded.metric_errors.iter().cloned());
    for e in &errors {
        tracing::warn!(error = %e, "rule not loaded");
    }
    metrics.set("ward_detect_rules", &[], loaded.engine.len() as f64);
    metrics.set("ward_detect_rule_errors", &[], errors.len() as f64);
}

/// Identifies the loaded rules, so that correlation state saved for other
/// rules is not reused.
fn digest(loaded: &rules::Loaded) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    for r in loaded.set.rules() {
        h.update(r.key().as_bytes());
        h.update(r.title.as_bytes());
        h.update(b"\x1f");
    }
    hex::encode(&h.finalize()[..16])
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
