//! The detect stage: reads the stored log in order from a checkpointed
//! offset, runs every event through the one evaluation path
//! ([`evaluate::Evaluator`]: baselines, Sigma rules, correlations, Ward
//! metric rules) and hands findings to alerting. Finding ids come from
//! (rule, group key, window) or (rule, event), so replaying the log after a
//! crash never duplicates a finding; the checkpoint (offset + correlation,
//! metric and baseline state) is written atomically after the findings it
//! covers were taken over.
//!
//! The events an ingest worker just stored come from memory when detection
//! is where they start ([`recent::Recent`]: the very events serialized
//! into the records, so nothing is parsed back); everything else (a
//! backlog, a replay after a restart) is read from the store.
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
pub mod recent;
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
    ///
    /// `recent` holds events just appended: those detection takes from
    /// memory instead of the store.
    pub fn run(
        mut self,
        store: &Store,
        recent: Option<&recent::Recent>,
        appended: &Appended,
        sink: &FindingSink,
        stop: &Stop,
    ) {
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
            let mut stale = Vec::new();
            let next_up = match recent {
                Some(r) => r.take(self.state.offset, &mut stale),
                None => recent::Next::Store(None),
            };
            if !stale.is_empty() {
                // Batches read from the store instead: freed off this thread.
                self.workers.discard(0, stale);
            }
            let input = match next_up {
                recent::Next::Events { first, events } => Read::Events(first, events),
                recent::Next::Store(limit) => {
                    let max = limit.map_or(READ_MAX, |n| {
                        usize::try_from(n).unwrap_or(READ_MAX).min(READ_MAX)
                    });
                    match store.read_from(Offset(self.state.offset), max) {
                        Ok(b) => Read::Records(b),
                        Err(e) => {
                            tracing::error!(error = %e, "detection cannot read the log");
                            if stop.token.is_cancelled() {
                                break;
                            }
                            std::thread::sleep(Duration::from_secs(1));
                            continue;
                        }
                    }
                }
            };
            let caught_up = input.is_empty();
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
            let now_ms = jiff::Timestamp::now().as_millisecond();
            let coverage = &self.progress.coverage;
            let each = |event: &crate::model::Event, seen: &[ward_sigma::Seen], found| {
                out.extend(alertable(found));
                coverage.record(event, seen, now_ms);
            };
            let (next, read) = match input {
                Read::Events(first, events) => {
                    let read = events.len() as u64;
                    self.metrics.add("ward_detect_from_memory_total", &[], read);
                    self.evaluator.evaluate_events(events, &self.workers, each);
                    (first + read, read)
                }
                Read::Records(batch) => {
                    let next = batch.last().map_or(self.state.offset, |l| l.offset.0 + 1);
                    let read = batch.len() as u64;
                    let bodies: Vec<Vec<u8>> = batch.into_iter().map(|r| r.body).collect();
                    self.evaluator.evaluate_records(bodies, &self.workers, each);
                    (next, read)
                }
            };
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

/// Records read from the store at a time.
const READ_MAX: usize = 1000;

/// What one turn of the loop evaluates.
enum Read {
    /// Events just stored, from memory, starting at this offset.
    Events(u64, Vec<crate::model::Event>),
    /// Records read from the store.
    Records(Vec<ward_store::StoredRecord>),
}

impl Read {
    fn is_empty(&self) -> bool {
        match self {
            Read::Events(_, e) => e.is_empty(),
            Read::Records(r) => r.is_empty(),
        }
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

#[cfg(test)]
mod tests {
    //! Detection takes the events an ingest worker just stored from memory
    //! ([`recent::Recent`]) or reads them from the store: the same events
    //! and the same finding ids either way, across a restart, whatever the
    //! queue held.

    use std::path::Path;
    use std::sync::Arc;

    use serde_json::json;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;
    use ward_store::{Store, StoreConfig};

    use super::recent::Recent;
    use super::*;
    use crate::model::Event;

    /// A stream that raises single-event detections, correlations (bursts
    /// of failed logins) and moves the baselines; its second half a day
    /// after the first, so that no correlation window spans both.
    fn stream(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let outcome = if i % 3 == 0 { "success" } else { "failure" };
                let day = if i < n / 2 { 1 } else { 2 };
                let v = json!({
                    "@timestamp": format!("2026-11-0{day}T10:{:02}:{:02}Z", i / 60 % 60, i % 60),
                    "event": {"id": format!("e{i}"), "category": ["authentication"],
                              "action": "user_login", "outcome": outcome,
                              "ingested": "2026-11-01T11:00:00Z"},
                    "user": {"name": format!("u{}", i % 7)},
                    "source": {"ip": format!("10.0.{}.{}", i % 3, i % 5)},
                    "service": {"name": "sso"},
                    "tenant": {"id": "default"}
                });
                let serde_json::Value::Object(map) = v else {
                    unreachable!()
                };
                Event(map)
            })
            .collect()
    }

    fn open(dir: &Path) -> Store {
        let (store, _) = Store::open(StoreConfig {
            dir: dir.join("events"),
            ..StoreConfig::default()
        })
        .unwrap();
        store
    }

    /// Stores `events` in batches of `batch`, as an ingest worker does,
    /// offering batch `i` to `recent` when `offered(i)`.
    fn ingest(
        store: &Store,
        events: Vec<Event>,
        batch: usize,
        recent: Option<&Recent>,
        offered: impl Fn(usize) -> bool,
    ) {
        let mut events = events.into_iter();
        for i in 0.. {
            let mut chunk: Vec<Event> = events.by_ref().take(batch).collect();
            if chunk.is_empty() {
                break;
            }
            let records = chunk
                .iter_mut()
                .map(|e| crate::store::record(e, Duration::from_secs(300)).unwrap())
                .collect();
            let offsets = store.append(records).unwrap();
            if let Some(r) = recent
                && offered(i)
            {
                r.offer(offsets[0].0, chunk).unwrap();
            }
        }
    }

    /// Runs a detector (its checkpoint in `dir`) over what `store` holds,
    /// as a stop does: to the end of the log, then the checkpoint. The ids
    /// of the findings handed over, in order, and the events it took from
    /// memory.
    fn detect(
        dir: &Path,
        store: &Store,
        recent: Option<&Recent>,
        workers: usize,
    ) -> (Vec<String>, u64) {
        let settings = Settings {
            builtin_rules: true,
            rules: Vec::new(),
            pipelines: Vec::new(),
            hot_reload: false,
            workers,
            baseline: baseline::BaselineConfig::default(),
            checkpoint: dir.join("detect").join("checkpoint.json"),
        };
        let metrics = Arc::new(Metrics::default());
        let detector = Detector::new(settings, Arc::clone(&metrics), Arc::default());
        let (tx, mut rx) = mpsc::channel::<Handover>(4);
        let alerting = std::thread::spawn(move || {
            let mut ids = Vec::new();
            while let Some((found, reply)) = rx.blocking_recv() {
                ids.extend(found.into_iter().map(|f| f.id));
                let _ = reply.send(Ok(()));
            }
            ids
        });
        let stop = Stop {
            token: CancellationToken::new(),
            deadline: Arc::default(),
        };
        stop.token.cancel();
        detector.run(store, recent, &Appended::default(), &FindingSink(tx), &stop);
        let ids = alerting.join().unwrap();
        (ids, metrics.counter("ward_detect_from_memory_total", &[]))
    }

    #[test]
    fn findings_are_the_same_from_memory_and_from_the_store() {
        const N: usize = 1200;
        for workers in [1, 2] {
            let from_store = tempfile::tempdir().unwrap();
            let store = open(from_store.path());
            ingest(&store, stream(N), 100, None, |_| false);
            let (expected, memory) = detect(from_store.path(), &store, None, workers);
            assert_eq!(memory, 0);
            assert!(expected.len() > 20, "findings: {}", expected.len());

            let from_memory = tempfile::tempdir().unwrap();
            let store = open(from_memory.path());
            let recent = Recent::new(N);
            ingest(&store, stream(N), 100, Some(&recent), |_| true);
            let (got, memory) = detect(from_memory.path(), &store, Some(&recent), workers);
            assert_eq!(memory, N as u64, "every event from memory");
            assert_eq!(got, expected, "{workers} workers");
            assert_eq!(recent.held(), 0);

            // Some batches not offered (a dead letter, a full queue): those
            // come from the store, the rest from memory.
            let mixed = tempfile::tempdir().unwrap();
            let store = open(mixed.path());
            let recent = Recent::new(N);
            ingest(&store, stream(N), 100, Some(&recent), |i| i % 3 != 1);
            let (got, memory) = detect(mixed.path(), &store, Some(&recent), workers);
            assert_eq!(memory, 800);
            assert_eq!(got, expected, "{workers} workers, mixed");
        }
    }

    #[test]
    fn a_restart_mid_stream_replays_from_the_store_with_the_same_ids() {
        const N: usize = 1200;
        let whole = tempfile::tempdir().unwrap();
        let store = open(whole.path());
        ingest(&store, stream(N), 100, None, |_| false);
        let (mut expected, _) = detect(whole.path(), &store, None, 2);
        expected.sort();

        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut events = stream(N);
        let second = events.split_off(N / 2);
        let recent = Recent::new(N);
        ingest(&store, events, 100, Some(&recent), |_| true);
        // Stopped once the first half is stored: its checkpoint is there.
        let (mut got, memory) = detect(dir.path(), &store, Some(&recent), 2);
        assert_eq!(memory, (N / 2) as u64);
        // After the restart the queue is empty and new batches are offered
        // again; one from before the checkpoint is passed over.
        let recent = Recent::new(N);
        recent.offer(100, stream(N)[100..200].to_vec()).unwrap();
        ingest(&store, second, 100, Some(&recent), |i| i != 2);
        let (after, memory) = detect(dir.path(), &store, Some(&recent), 2);
        assert_eq!(memory, (N / 2 - 100) as u64);
        got.extend(after);
        got.sort();
        assert_eq!(got, expected);

        // Without a checkpoint (lost, or rules changed) the whole log is
        // read from the store again: the same ids.
        std::fs::remove_file(dir.path().join("detect").join("checkpoint.json")).unwrap();
        let (mut again, memory) = detect(dir.path(), &store, Some(&Recent::new(N)), 2);
        assert_eq!(memory, 0);
        again.sort();
        assert_eq!(again, expected);
    }
}
