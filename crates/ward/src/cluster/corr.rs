//! The owner of `<prefix>corr` partitions: every stateful rule
//! (correlations, metric rules, behavioural baselines) and the Sigma rules
//! run here, on each owned partition's events in partition order, with one
//! state per partition.
//!
//! Each partition's state (its next offset, correlation windows, metric
//! and baseline state, and the last origin offset seen per
//! `<prefix>events` partition) is snapshotted to `<prefix>corr-state`
//! (same partition number) at most every `cluster.snapshot_interval`; the
//! partition's offset is committed only after its snapshot was
//! acknowledged. A node that is given a partition restores the newest
//! snapshot and replays from its offset; a state always reflects exactly
//! the messages before its offset, so any node's snapshot is a valid
//! starting point. A copy sent twice by `<prefix>events` consumers (a
//! crash between their store and their commit) carries the same origin
//! offset and is evaluated once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use ward_sigma::Correlator;

use super::split::{self, AtConsumer, Consumed, CopyKind, Router};
use super::{GroupContext, Outgoing, Owned, Producer, Settings};
use crate::detect::baseline::Baselines;
use crate::detect::evaluate::{Evaluator, TENANT_FIELD, WindowScope};
use crate::detect::metric::MetricRules;
use crate::detect::{FindingSink, Progress, Stop};
use crate::metrics::Metrics;
use crate::model::Finding;

/// How often a node publishes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// One partition's state.
struct Part {
    /// The next offset to evaluate; -1: the first message read.
    next: i64,
    /// `<prefix>events` partition → the last origin offset evaluated.
    seen: BTreeMap<i32, i64>,
    correlator: Correlator,
    metric: MetricRules,
    baselines: Baselines,
    dirty: bool,
    snapshot_at: Instant,
}

/// A snapshot as written (borrowing the live state).
#[derive(Serialize)]
struct SnapshotRef<'a> {
    partition: i32,
    offset: i64,
    node: &'a str,
    time_ms: i64,
    rules_digest: &'a str,
    seen: &'a BTreeMap<i32, i64>,
    correlator: &'a Correlator,
    metric: &'a MetricRules,
    baselines: &'a Baselines,
}

/// A snapshot as read back.
#[derive(Deserialize)]
struct Snapshot {
    offset: i64,
    node: String,
    rules_digest: String,
    seen: BTreeMap<i32, i64>,
    correlator: Correlator,
    metric: MetricRules,
    baselines: Baselines,
}

/// What a heartbeat says (also what `ward cluster status` reads).
#[derive(Debug, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: String,
    pub time_ms: i64,
    /// Owned `<prefix>events` partitions → messages not yet processed
    /// (-1: not known before the partition's first batch).
    pub events_lag: BTreeMap<i32, i64>,
    /// Owned `<prefix>corr` partitions → messages not yet evaluated (-1: not known yet).
    pub corr_lag: BTreeMap<i32, i64>,
    /// Owned `<prefix>corr` partitions → age of the last snapshot (s), -1: none yet.
    pub snapshot_age_s: BTreeMap<i32, i64>,
    pub rebalances: u64,
    /// Sealed segments not yet uploaded to `cluster.segments_bucket`, and
    /// the age (s) of the oldest; `None` when uploads are off.
    #[serde(default)]
    pub segments_lag: Option<(u64, i64)>,
}

/// The worker; runs on its own thread.
pub struct CorrWorker {
    settings: Arc<Settings>,
    consumer: BaseConsumer<GroupContext>,
    reader: BaseConsumer,
    producer: Producer,
    rt: tokio::runtime::Runtime,
    evaluator: Evaluator,
    fresh_correlator: Correlator,
    fresh_metric: MetricRules,
    digest: String,
    parts: HashMap<i32, Part>,
    metrics: Arc<Metrics>,
    progress: Arc<Progress>,
    store: Arc<ward_store::Store>,
    owned: Arc<Owned>,
    /// What this node's consumer does to each event ([`super::split`]),
    /// and which rules need the state.
    consumed: Arc<AtConsumer>,
    stateful: Vec<bool>,
    /// Which correlations keep their windows by group key.
    scope: WindowScope,
    /// When a refused `ward-matches` header was last logged.
    refused_logged: Option<Instant>,
}

impl CorrWorker {
    pub fn new(
        settings: Arc<Settings>,
        detect: &crate::detect::Settings,
        metrics: Arc<Metrics>,
        progress: Arc<Progress>,
        store: Arc<ward_store::Store>,
        owned: Arc<Owned>,
    ) -> anyhow::Result<CorrWorker> {
        let consumer: BaseConsumer<GroupContext> =
            super::join(&settings, &settings.corr_topic(), &owned, &metrics)?;
        let reader: BaseConsumer = settings
            .reader()
            .create()
            .map_err(|e| anyhow::anyhow!("cannot create the snapshot reader: {e}"))?;
        let loaded =
            crate::detect::rules::load(detect.builtin_rules, &detect.rules, &detect.pipelines);
        crate::detect::report(&loaded, &metrics);
        progress.coverage.set_rules(&loaded);
        let digest = crate::detect::digest(&loaded);
        let stateful = split::stateful_rules(&loaded);
        // Whatever this node's consumer does, as an owner it takes the
        // matches other nodes' consumers send.
        let owner = split::owner_engine(&loaded, &stateful);
        let mut evaluator = Evaluator::new(loaded, Some(detect.baseline.clone()));
        evaluator.set_owner_engine(owner);
        let consumed = Arc::new(AtConsumer {
            consumed: settings
                .match_where_consumed
                .then(|| Consumed::new(&evaluator.loaded, &stateful)),
            router: Router::new(
                &evaluator.loaded,
                &stateful,
                &evaluator.correlator,
                settings.corr_partitions,
            ),
            progress: Arc::clone(&progress),
        });
        let scope = split::window_scope(
            &evaluator.loaded.set,
            &evaluator.correlator,
            &stateful,
            settings.corr_partitions,
        );
        Ok(CorrWorker {
            producer: settings.producer()?,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            fresh_correlator: evaluator.correlator.clone(),
            fresh_metric: evaluator.loaded.metric.clone(),
            evaluator,
            digest,
            parts: HashMap::new(),
            settings,
            consumer,
            reader,
            metrics,
            progress,
            store,
            owned,
            consumed,
            stateful,
            scope,
            refused_logged: None,
        })
    }

    /// What this node's `<prefix>events` consumer does to each event:
    /// route its windows, and match the rules that need no state when
    /// matching is split (`cluster.match_where_consumed`).
    pub fn consumed(&self) -> Option<Arc<AtConsumer>> {
        Some(Arc::clone(&self.consumed))
    }

    /// Evaluates owned partitions until `stop`; then snapshots them and
    /// leaves the group.
    pub fn run(mut self, sink: &FindingSink, stop: &Stop) {
        let mut heartbeat = Instant::now()
            .checked_sub(HEARTBEAT)
            .unwrap_or_else(Instant::now);
        while !stop.token.is_cancelled() {
            self.progress
                .offset
                .store(self.store.next_offset().0, Ordering::Relaxed);
            self.progress
                .turned_ms
                .store(jiff::Timestamp::now().as_millisecond(), Ordering::Relaxed);
            let batch = self.read();
            let mut findings = Vec::new();
            let caught_up = batch.is_empty();
            let mut by_part: BTreeMap<i32, Vec<Msg>> = BTreeMap::new();
            for m in batch {
                by_part.entry(m.partition).or_default().push(m);
            }
            for (p, msgs) in by_part {
                self.evaluate(p, msgs, &mut findings);
            }
            if caught_up {
                self.advance(&mut findings);
            }
            if !findings.is_empty()
                && !crate::detect::hand_over(sink, findings, stop, &self.metrics)
            {
                return;
            }
            self.snapshots(false);
            if heartbeat.elapsed() >= HEARTBEAT {
                heartbeat = Instant::now();
                self.heartbeat();
            }
        }
        self.snapshots(true);
        self.consumer.unsubscribe();
        tracing::info!(node = %self.settings.node_id, "correlation partitions released");
    }

    /// Up to `batch_max` messages of the current assignment.
    fn read(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        let mut wait = Duration::from_millis(100);
        while out.len() < self.settings.batch_max {
            match self.consumer.poll(wait) {
                Some(Ok(m)) => out.push(Msg {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().unwrap_or_default().to_vec(),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    matches: header(&m, split::HEADER),
                    windows: header(&m, split::WINDOWS_HEADER),
                    epoch: self.consumer.context().epoch(m.partition()),
                }),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "correlation consumer error");
                    break;
                }
                None => break,
            }
            wait = Duration::ZERO;
        }
        let ctx = self.consumer.context();
        out.retain(|m| m.epoch == ctx.epoch(m.partition));
        out
    }

    /// Evaluates one partition's messages in order.
    fn evaluate(&mut self, p: i32, msgs: Vec<Msg>, findings: &mut Vec<Finding>) {
        if !self.parts.contains_key(&p) {
            let part = self.restore(p);
            self.parts.insert(p, part);
        }
        let topic = self.settings.corr_topic();
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        let started = Instant::now();
        let mut evaluated = 0u64;
        let (mut prematched, mut refused, mut windows_only, mut foreign) = (0u64, 0u64, 0u64, 0u64);
        swap(&mut self.evaluator, part);
        for m in msgs {
            if part.next >= 0 && m.offset < part.next {
                continue;
            }
            if part.next >= 0 && m.offset > part.next {
                // The state is older than where the group's offset is (a
                // late snapshot of a former owner): read the gap.
                tracing::warn!(
                    partition = p,
                    from = part.next,
                    at = m.offset,
                    "correlation state behind the partition's position; replaying the gap"
                );
                if let Err(e) =
                    self.consumer
                        .seek(&topic, p, Offset::Offset(part.next), Duration::from_secs(5))
                {
                    tracing::error!(partition = p, error = %e, "cannot seek; evaluating on from the later offset");
                } else {
                    break;
                }
            }
            part.next = m.offset + 1;
            part.dirty = true;
            let (origin_p, origin_o) = origin(&m.key);
            if let Some(o) = origin_p.and_then(|q| part.seen.get(&q)).copied()
                && origin_o.is_some_and(|x| x <= o)
            {
                continue;
            }
            if let (Some(q), Some(o)) = (origin_p, origin_o) {
                part.seen.insert(q, o);
            }
            let kind =
                split::windows_kind(m.windows.as_deref(), &self.evaluator.loaded.source_digest);
            if kind == CopyKind::Foreign {
                foreign += 1;
                continue;
            }
            let Ok(map) = serde_json::from_slice(&m.payload) else {
                continue;
            };
            let mut event = ward_event::Event(map);
            let id = event.get_str("event.id").unwrap_or_default().to_owned();
            let pre = match m.matches.as_deref() {
                None => None,
                Some(h) => match split::read(h, &self.evaluator.loaded, &self.stateful) {
                    Ok(pre) => Some(pre),
                    Err(why) => {
                        refused += 1;
                        if self
                            .refused_logged
                            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
                        {
                            self.refused_logged = Some(Instant::now());
                            tracing::warn!(partition = p, offset = m.offset, reason = %why,
                                "matches found where the event was consumed not used; matching every rule here");
                        }
                        None
                    }
                },
            };
            self.evaluator.windows = match kind {
                CopyKind::Tenant | CopyKind::Foreign => None,
                CopyKind::Routed | CopyKind::Windows => Some(WindowScope {
                    here: p,
                    whole: kind == CopyKind::Routed,
                    ..self.scope.clone()
                }),
            };
            if pre.is_some() {
                prematched += 1;
            }
            let found = match (kind, pre) {
                (CopyKind::Windows, pre) => {
                    windows_only += 1;
                    self.evaluator.evaluate_windows(&mut event, &id, pre)
                }
                (_, Some(pre)) => self.evaluator.evaluate_prematched(&mut event, &id, pre),
                (_, None) => self.evaluator.evaluate(&mut event, &id),
            };
            self.evaluator.windows = None;
            findings.extend(crate::detect::alertable(found));
            evaluated += 1;
        }
        swap(&mut self.evaluator, part);
        if prematched > 0 {
            self.metrics.add(
                "ward_cluster_matched_total",
                &[("where", "consumer")],
                prematched,
            );
        }
        if evaluated > prematched {
            self.metrics.add(
                "ward_cluster_matched_total",
                &[("where", "owner")],
                evaluated - prematched,
            );
        }
        if refused > 0 {
            self.metrics
                .add("ward_cluster_match_headers_refused_total", &[], refused);
        }
        if foreign > 0 {
            self.metrics
                .add("ward_cluster_window_copies_refused_total", &[], foreign);
            tracing::warn!(
                partition = p,
                count = foreign,
                "copies for correlation windows routed with other rules not used; load the same rules on every node"
            );
        }
        if windows_only > 0 {
            self.metrics.add(
                "ward_cluster_window_copies_evaluated_total",
                &[("partition", &p.to_string())],
                windows_only,
            );
        }
        if let Some(o) = self.owned.corr.lock().get_mut(&p) {
            o.next = part.next;
        }
        if evaluated > 0 {
            let ps = p.to_string();
            self.metrics.add(
                "ward_cluster_consumed_total",
                &[("topic", &topic), ("partition", &ps)],
                evaluated,
            );
            // Copies for other partitions' windows are not events more.
            self.metrics
                .add("ward_detect_events_total", &[], evaluated - windows_only);
            self.metrics.add_cpu("detect", started.elapsed());
        }
    }

    /// Windows decided by the wall clock, on every owned partition.
    fn advance(&mut self, findings: &mut Vec<Finding>) {
        let now = jiff::Timestamp::now().as_millisecond();
        let owned: Vec<i32> = self.owned.corr.lock().keys().copied().collect();
        for p in owned {
            let Some(part) = self.parts.get_mut(&p) else {
                continue;
            };
            swap(&mut self.evaluator, part);
            let decided = self.evaluator.advance(now, crate::detect::CLOSE_GRACE_MS);
            if !decided.is_empty() {
                part.dirty = true;
            }
            findings.extend(crate::detect::alertable(decided));
            swap(&mut self.evaluator, part);
        }
    }

    /// The newest snapshot of partition `p`, or a fresh state.
    fn restore(&mut self, p: i32) -> Part {
        let started = Instant::now();
        let fresh = Part {
            next: -1,
            seen: BTreeMap::new(),
            correlator: self.fresh_correlator.clone(),
            metric: self.fresh_metric.clone(),
            baselines: Baselines::default(),
            dirty: false,
            snapshot_at: Instant::now(),
        };
        let snap = match self.last_snapshot(p) {
            Ok(Some(s)) => s,
            Ok(None) => return fresh,
            Err(e) => {
                // Without the snapshot the partition is evaluated from the
                // group's offset: windows open before it are incomplete.
                tracing::error!(partition = p, error = %format!("{e:#}"), "correlation snapshot unreadable; starting the partition empty");
                self.metrics
                    .add("ward_cluster_restore_failures_total", &[], 1);
                return fresh;
            }
        };
        let same_rules = snap.rules_digest == self.digest;
        let mut part = fresh;
        part.next = snap.offset;
        part.seen = snap.seen;
        part.baselines = snap.baselines;
        if same_rules {
            part.correlator = snap.correlator.partitioned_by(TENANT_FIELD);
            part.metric.restore(snap.metric);
        }
        let took = started.elapsed();
        tracing::info!(partition = p, offset = snap.offset, from = %snap.node, same_rules, ?took,
            "correlation partition restored from its snapshot");
        self.metrics
            .observe("ward_cluster_restore_seconds", &[], took);
        if let Some(o) = self.owned.corr.lock().get_mut(&p) {
            o.next = part.next;
        }
        part
    }

    fn last_snapshot(&self, p: i32) -> anyhow::Result<Option<Snapshot>> {
        let topic = self.settings.state_topic();
        let (low, high) = self
            .reader
            .fetch_watermarks(&topic, p, Duration::from_secs(10))?;
        if high <= low {
            return Ok(None);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, p, Offset::Offset(high - 1))?;
        self.reader.assign(&tpl)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.reader.poll(Duration::from_millis(200)) {
                Some(Ok(m)) if m.partition() == p && m.offset() == high - 1 => {
                    let bytes = m.payload().unwrap_or_default();
                    return Ok(Some(serde_json::from_slice(bytes)?));
                }
                Some(Err(e)) => anyhow::bail!("reading {topic}[{p}]: {e}"),
                _ => {}
            }
        }
        anyhow::bail!("{topic}[{p}] offset {} not read within 30 s", high - 1)
    }

    /// Snapshots owned partitions whose state changed (`all`: without
    /// waiting for the interval), then commits their offsets.
    fn snapshots(&mut self, all: bool) {
        let owned: Vec<i32> = self.owned.corr.lock().keys().copied().collect();
        for p in owned {
            let due = self.parts.get(&p).is_some_and(|s| {
                s.dirty
                    && s.next >= 0
                    && (all || s.snapshot_at.elapsed() >= self.settings.snapshot_interval)
            });
            if due {
                self.snapshot(p);
            }
        }
        // States of partitions given away are kept: each reflects exactly
        // the messages before its offset, so it stays valid if the
        // partition comes back.
    }

    fn snapshot(&mut self, p: i32) {
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        let started = Instant::now();
        let now = jiff::Timestamp::now().as_millisecond();
        let bytes = match serde_json::to_vec(&SnapshotRef {
            partition: p,
            offset: part.next,
            node: &self.settings.node_id,
            time_ms: now,
            rules_digest: &self.digest,
            seen: &part.seen,
            correlator: &part.correlator,
            metric: &part.metric,
            baselines: &part.baselines,
        }) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(partition = p, error = %e, "correlation snapshot not serializable");
                return;
            }
        };
        let topic = self.settings.state_topic();
        let key = p.to_string();
        let sent = self.rt.block_on(self.producer.send_all(&[Outgoing {
            topic: &topic,
            partition: Some(p),
            key: key.as_bytes(),
            payload: &bytes,
        }]));
        part.snapshot_at = Instant::now();
        if let Err(e) = sent {
            self.metrics
                .add("ward_cluster_snapshot_failures_total", &[], 1);
            tracing::error!(partition = p, bytes = bytes.len(), error = %e,
                "correlation snapshot not written; the offset is not committed");
            return;
        }
        part.dirty = false;
        let mut tpl = TopicPartitionList::new();
        let _ = tpl.add_partition_offset(&self.settings.corr_topic(), p, Offset::Offset(part.next));
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
            tracing::warn!(partition = p, error = %e, "correlation offset not committed after its snapshot");
        }
        if let Some(o) = self.owned.corr.lock().get_mut(&p) {
            o.snapshot_ms = now;
        }
        self.metrics
            .observe("ward_cluster_snapshot_seconds", &[], started.elapsed());
        self.metrics.set(
            "ward_cluster_snapshot_bytes",
            &[("partition", &key)],
            bytes.len() as f64,
        );
    }

    /// Publishes what this node owns and how far behind it is, and sets
    /// the per-partition lag gauges.
    fn heartbeat(&self) {
        let lag = |topic: &str, parts: Vec<(i32, i64)>| -> BTreeMap<i32, i64> {
            let mut out = BTreeMap::new();
            for (p, next) in parts {
                let Ok((_, high)) = self
                    .reader
                    .fetch_watermarks(topic, p, Duration::from_secs(2))
                else {
                    // The brokers do not answer: no lag this time, rather
                    // than holding detection for every partition's timeout.
                    break;
                };
                // Before the first batch the position is not known here.
                let lag = if next < 0 { -1 } else { high - next };
                let ps = p.to_string();
                self.metrics.set(
                    "ward_cluster_partition_lag",
                    &[("topic", topic), ("partition", &ps)],
                    lag as f64,
                );
                out.insert(p, lag);
            }
            out
        };
        let events: Vec<(i32, i64)> = self
            .owned
            .events
            .lock()
            .iter()
            .map(|(p, n)| (*p, *n))
            .collect();
        let corr: Vec<(i32, i64)> = self
            .owned
            .corr
            .lock()
            .iter()
            .map(|(p, c)| (*p, c.next))
            .collect();
        let now = jiff::Timestamp::now().as_millisecond();
        let hb = Heartbeat {
            segments_lag: *self.owned.segments_lag.lock(),
            node: self.settings.node_id.clone(),
            time_ms: now,
            events_lag: lag(&self.settings.events_topic(), events),
            corr_lag: lag(&self.settings.corr_topic(), corr),
            snapshot_age_s: self
                .owned
                .corr
                .lock()
                .iter()
                .map(|(p, c)| {
                    (
                        *p,
                        if c.snapshot_ms == 0 {
                            -1
                        } else {
                            (now - c.snapshot_ms) / 1000
                        },
                    )
                })
                .collect(),
            rebalances: [self.settings.events_topic(), self.settings.corr_topic()]
                .iter()
                .map(|topic| {
                    self.metrics
                        .counter("ward_cluster_rebalances_total", &[("topic", topic)])
                })
                .sum(),
        };
        let Ok(bytes) = serde_json::to_vec(&hb) else {
            return;
        };
        let topic = self.settings.nodes_topic();
        if let Err(e) = self.rt.block_on(self.producer.send_all(&[Outgoing {
            topic: &topic,
            partition: Some(0),
            key: self.settings.node_id.as_bytes(),
            payload: &bytes,
        }])) {
            tracing::warn!(error = %e, "cluster heartbeat not sent");
        }
    }
}

/// One `<prefix>corr` message.
struct Msg {
    partition: i32,
    offset: i64,
    key: Vec<u8>,
    payload: Vec<u8>,
    /// The `ward-matches` header, if any.
    matches: Option<Vec<u8>>,
    /// The `ward-windows` header, if any.
    windows: Option<Vec<u8>>,
    epoch: u64,
}

/// A record header's value.
fn header(m: &rdkafka::message::BorrowedMessage<'_>, name: &str) -> Option<Vec<u8>> {
    m.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value.map(<[u8]>::to_vec))
    })
}

/// The `<prefix>events` partition and offset a copy came from (its key is
/// `tenant \x1f partition \x1f offset`).
fn origin(key: &[u8]) -> (Option<i32>, Option<i64>) {
    let key = std::str::from_utf8(key).unwrap_or_default();
    let mut it = key.rsplit('\u{1f}');
    let o = it.next().and_then(|s| s.parse().ok());
    let p = it.next().and_then(|s| s.parse().ok());
    (p, o)
}

/// Exchanges the evaluator's state with a partition's.
fn swap(ev: &mut Evaluator, part: &mut Part) {
    std::mem::swap(&mut ev.correlator, &mut part.correlator);
    std::mem::swap(&mut ev.loaded.metric, &mut part.metric);
    if let Some((_, b)) = &mut ev.baselines {
        std::mem::swap(b, &mut part.baselines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_read_from_the_key() {
        assert_eq!(origin(b"acme\x1f3\x1f42"), (Some(3), Some(42)));
        assert_eq!(origin(b"a\x1fb\x1fc\x1f3\x1f42"), (Some(3), Some(42)));
        assert_eq!(origin(b"acme"), (None, None));
        assert_eq!(origin(b"\xff"), (None, None));
    }
}
