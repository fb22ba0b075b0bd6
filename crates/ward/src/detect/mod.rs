//! The detect stage: reads the stored log in order from a checkpointed
//! offset, runs every event through the one evaluation path
//! ([`evaluate::Evaluator`]: baselines, Sigma rules, correlations, Ward
//! metric rules) and hands findings to alerting. Finding ids come from
//! (rule, group key, window) or (rule, event), so replaying the log after a
//! crash never duplicates a finding; the checkpoint (offset + correlation,
//! metric and baseline state) is written atomically after the findings it
//! covers were taken over.
//!
//! The loop runs on its own thread and needs no async runtime: it waits on
//! [`Appended`] for new records and hands findings over through a
//! [`FindingSink`]. On stop it reads up to the end of the log (within the
//! drain deadline), writes its checkpoint and returns.

pub mod baseline;
pub mod checkpoint;
pub mod coverage;
pub mod enrich;
pub mod evaluate;
pub mod metric;
pub mod rules;
pub mod workers;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use ward_store::{Offset, Store};

use crate::metrics::Metrics;
use crate::model::Finding;
use crate::pipeline::Appended;

pub use evaluate::{Evaluator, LABEL_FIELDS};

/// What live detection needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub builtin_rules: bool,
    pub rules: Vec<PathBuf>,
    pub pipelines: Vec<PathBuf>,
    pub hot_reload: bool,
    /// Threads for the stateless part of detection (0: one per core).
    pub workers: usize,
    pub baseline: baseline::BaselineConfig,
    /// Where the detection checkpoint is kept.
    pub checkpoint: PathBuf,
}

/// A batch of findings on its way to alerting, with the answer once they
/// are durably taken over.
pub type Handover = (Vec<Finding>, oneshot::Sender<anyhow::Result<()>>);

/// The detection side of the channel to alerting. Its calls block the
/// detection thread until alerting answered; they fail (never panic) once
/// alerting is gone.
pub struct FindingSink(pub mpsc::Sender<Handover>);

impl FindingSink {
    /// Hands findings over and waits until alerting recorded them.
    pub(crate) fn hand_over(&self, findings: Vec<Finding>) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.0
            .blocking_send((findings, tx))
            .map_err(|_| anyhow::anyhow!("alerting has stopped"))?;
        rx.blocking_recv()
            .map_err(|_| anyhow::anyhow!("alerting has stopped"))?
    }
}

/// How a stop is carried out: detection catches up with the log until the
/// deadline, then writes its checkpoint.
pub struct Stop {
    pub token: CancellationToken,
    /// Set when the stop begins: the time by which the loop must return.
    pub deadline: Arc<parking_lot::Mutex<Option<Instant>>>,
}

/// How long after its end, by the wall clock, a correlation window decided
/// at close waits for late events when no events arrive.
pub(crate) const CLOSE_GRACE_MS: i64 = 60_000;

/// Where live detection is, for `/readyz`.
#[derive(Debug, Default)]
pub struct Progress {
    /// The next log offset detection will read.
    pub offset: std::sync::atomic::AtomicU64,
    /// Wall time (ms) of the loop's last turn: a loop that stops turning is
    /// stuck or dead.
    pub turned_ms: std::sync::atomic::AtomicI64,
    /// Which log sources arrived, so which rules could fire.
    pub coverage: coverage::Coverage,
}

/// Live detection: reads the log and hands findings to `sink` until `stop`.
pub struct Detector {
    settings: Settings,
    evaluator: Evaluator,
    state: checkpoint::State,
    metrics: Arc<Metrics>,
    progress: Arc<Progress>,
    /// Threads parsing and matching each batch, kept for the detector's
    /// life.
    workers: workers::Workers,
}

impl Detector {
    /// Loads the rules and the checkpoint. Correlation and metric-rule
    /// state is kept only when the rules are the same.
    pub fn new(settings: Settings, metrics: Arc<Metrics>, progress: Arc<Progress>) -> Detector {
        let loaded = rules::load(settings.builtin_rules, &settings.rules, &settings.pipelines);
        report(&loaded, &metrics);
        progress.coverage.set_rules(&loaded);
        let mut state = checkpoint::State::load(&settings.checkpoint).unwrap_or_else(|e| {
            tracing::error!(error = %e, "detection checkpoint unreadable: starting from the beginning of the log");
            checkpoint::State::default()
        });
        let same_rules = state.rules_digest == digest(&loaded);
        let mut evaluator = Evaluator::new(loaded, Some(settings.baseline.clone()));
        if let (true, Some(c)) = (same_rules, state.correlator.take()) {
            evaluator.correlator = c.partitioned_by(evaluate::TENANT_FIELD);
        }
        if let (true, Some(m)) = (same_rules, state.metric.take()) {
            evaluator.loaded.metric.restore(m);
        }
        if let Some((_, b)) = &mut evaluator.baselines {
            *b = std::mem::take(&mut state.baselines);
        }
        state.correlator = None;
        state.metric = None;
        state.rules_digest = digest(&evaluator.loaded);
        let workers = match settings.workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        let workers = workers::Workers::new(workers);
        Detector {
            settings,
            evaluator,
            state,
            metrics,
            progress,
            workers,
        }
    }

    /// The loop. Returns after a stop, once the log is read to its end (or
    /// the stop's deadline passed) and the checkpoint is written.
    pub fn run(mut self, store: &Store, appended: &Appended, sink: &FindingSink, stop: &Stop) {
        let mut fingerprint = rules::fingerprint(&self.settings.rules);
        let mut last_reload_check = Instant::now();
        let mut last_save = Instant::now();
        let mut save_gap = SAVE_INTERVAL;
        let mut dirty = false;
        loop {
            use std::sync::atomic::Ordering::Relaxed;
            self.progress.offset.store(self.state.offset, Relaxed);
            self.progress
                .turned_ms
                .store(jiff::Timestamp::now().as_millisecond(), Relaxed);
            let seen = appended.generation();
            let cpu = crate::metrics::thread_cpu();
            let batch = match store.read_from(Offset(self.state.offset), 1000) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "detection cannot read the log");
                    if stop.token.is_cancelled() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let caught_up = batch.is_empty();
            // Silence is judged by the wall clock only once the backlog is
            // read, or a catch-up after downtime would look like silence.
            let mut out = if caught_up {
                let now = jiff::Timestamp::now().as_millisecond();
                let decided = self.evaluator.advance(now, CLOSE_GRACE_MS);
                dirty |= !decided.is_empty();
                alertable(decided)
            } else {
                Vec::new()
            };
            let mut next = self.state.offset;
            let now_ms = jiff::Timestamp::now().as_millisecond();
            if let Some(last) = batch.last() {
                next = last.offset.0 + 1;
            }
            let read = batch.len() as u64;
            let bodies: Vec<Vec<u8>> = batch.into_iter().map(|r| r.body).collect();
            let coverage = &self.progress.coverage;
            self.evaluator
                .evaluate_records(bodies, &self.workers, |event, seen, found| {
                    out.extend(alertable(found));
                    coverage.record(event, seen, now_ms);
                });
            if !out.is_empty() && !hand_over(sink, out, stop, &self.metrics) {
                // Alerting is gone: stop without moving the checkpoint past
                // findings it did not take (a restart replays them).
                return;
            }
            self.state.offset = next;
            if read > 0 {
                dirty = true;
                self.metrics.add("ward_detect_events_total", &[], read);
                self.metrics
                    .set("ward_detect_offset", &[], self.state.offset as f64);
            }
            if stop.token.is_cancelled() && (caught_up || past(stop)) {
                break;
            }
            // At most one checkpoint a second, and fewer when they are
            // costly ([`next_save_after`]): writing one serializes every
            // correlation window and baseline, which under a steady stream
            // (caught up after every batch) cost more than evaluating the
            // events. An idle detector writes it once the gap has passed; a
            // restart replays what came after it, with the same finding ids.
            if dirty && last_save.elapsed() > save_gap {
                save_gap = next_save_after(self.save());
                dirty = false;
                last_save = Instant::now();
            }
            if read > 0 {
                // The workers' shares count too.
                let used = crate::metrics::thread_cpu().saturating_sub(cpu);
                self.metrics
                    .add_cpu("detect", used + self.workers.take_cpu());
            }
            if self.settings.hot_reload && last_reload_check.elapsed() > Duration::from_secs(2) {
                last_reload_check = Instant::now();
                let fp = rules::fingerprint(&self.settings.rules);
                if fp != fingerprint {
                    fingerprint = fp;
                    self.reload();
                }
            }
            if caught_up && !stop.token.is_cancelled() {
                appended.wait(seen, Duration::from_millis(500));
            }
        }
        self.save();
        tracing::info!(offset = self.state.offset, "detection stopped");
    }

    fn reload(&mut self) {
        let s = &self.settings;
        let loaded = rules::load(s.builtin_rules, &s.rules, &s.pipelines);
        report(&loaded, &self.metrics);
        self.progress.coverage.set_rules(&loaded);
        let baselines = self.evaluator.baselines.take();
        self.evaluator = Evaluator::new(loaded, None);
        self.evaluator.baselines = baselines;
        self.state.rules_digest = digest(&self.evaluator.loaded);
        tracing::info!(rules = self.evaluator.loaded.engine.len(), "rules reloaded");
    }

    /// Writes the checkpoint from the live state (borrowed, not cloned);
    /// returns how long it took.
    fn save(&mut self) -> Duration {
        let started = Instant::now();
        let state = checkpoint::StateRef {
            offset: self.state.offset,
            rules_digest: &self.state.rules_digest,
            correlator: Some(&self.evaluator.correlator),
            metric: Some(&self.evaluator.loaded.metric),
            baselines: match &self.evaluator.baselines {
                Some((_, b)) => b,
                None => &self.state.baselines,
            },
        };
        if let Err(e) = state.save(&self.settings.checkpoint) {
            tracing::error!(error = %e, "cannot write the detection checkpoint");
        }
        let took = started.elapsed();
        self.metrics
            .observe("ward_detect_checkpoint_seconds", &[], took);
        took
    }
}

/// Shortest time between two detection checkpoints while events arrive.
const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// A checkpoint serializes every correlation window and baseline entity,
/// so with much state it costs more than a second's evaluation: the next
/// one waits this many times as long as the last one took, which keeps
/// checkpoints under a twentieth of detection's time (a restart replays
/// the events after the checkpoint, with the same finding ids).
const SAVE_COST_FACTOR: u32 = 20;

/// When the next checkpoint may be written, after one that took `took`.
fn next_save_after(took: Duration) -> Duration {
    SAVE_INTERVAL.max(took.saturating_mul(SAVE_COST_FACTOR))
}

/// Hands findings to alerting, retrying until it took them: the
/// checkpoint must not move past findings alerting has not recorded (a
/// replay gives the same finding ids). False when alerting is gone.
pub(crate) fn hand_over(
    sink: &FindingSink,
    out: Vec<Finding>,
    stop: &Stop,
    metrics: &Metrics,
) -> bool {
    let n = out.len() as u64;
    loop {
        match sink.hand_over(out.clone()) {
            Ok(()) => break,
            Err(e) if stop.token.is_cancelled() && past(stop) => {
                tracing::error!(error = %format!("{e:#}"), "findings not taken over before the stop deadline; they are replayed after the restart");
                return false;
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "findings not taken over; retrying");
                if sink.0.is_closed() {
                    return false;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    metrics.add("ward_detect_findings_total", &[], n);
    true
}

fn past(stop: &Stop) -> bool {
    stop.deadline.lock().is_some_and(|d| Instant::now() >= d)
}

/// Findings live detection alerts on: building blocks only feed
/// correlations.
pub(crate) fn alertable(found: Vec<evaluate::Detection>) -> Vec<Finding> {
    found
        .into_iter()
        .filter(|d| !d.building_block)
        .map(|d| d.finding)
        .collect()
}

pub(crate) fn report(loaded: &rules::Loaded, metrics: &Metrics) {
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
pub(crate) fn digest(loaded: &rules::Loaded) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    for r in loaded.set.rules() {
        h.update(r.key().as_bytes());
        h.update(r.title.as_bytes());
        h.update(b"\x1f");
    }
    hex::encode(&h.finalize()[..16])
}
