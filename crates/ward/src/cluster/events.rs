//! The `<prefix>events` consumer: this node's share of every node's
//! ingest, stored locally and copied to `<prefix>corr` for the stateful
//! rules. Offsets are committed only after both (at least once: a crash
//! between the store and the commit stores that batch again, the copies in
//! `<prefix>corr` are recognised by their origin and evaluated once).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use ward_store::Store;

use super::split::AtConsumer;
use super::{GroupContext, Outgoing, Owned, Producer, Settings};
use crate::metrics::Metrics;
use crate::store::AppendError;

/// One message read, with the epoch it was read in.
struct Read {
    partition: i32,
    offset: i64,
    key: Vec<u8>,
    payload: Vec<u8>,
    epoch: u64,
}

/// The consumer, subscribed.
pub struct EventsConsumer {
    settings: Arc<Settings>,
    consumer: StreamConsumer<GroupContext>,
    store: Arc<Store>,
    producer: Arc<Producer>,
    metrics: Arc<Metrics>,
    owned: Arc<Owned>,
    max_future_skew: Duration,
    /// What is done to each event before it is copied
    /// ([`super::split`]): its windows routed, the rules that need no
    /// state matched (without, the owner of each copy matches every
    /// rule). None only for a node without detection.
    consumed: Option<Arc<AtConsumer>>,
}

impl EventsConsumer {
    pub fn new(
        settings: Arc<Settings>,
        store: Arc<Store>,
        producer: Arc<Producer>,
        metrics: Arc<Metrics>,
        owned: Arc<Owned>,
        max_future_skew: Duration,
        consumed: Option<Arc<AtConsumer>>,
    ) -> anyhow::Result<EventsConsumer> {
        let consumer: StreamConsumer<GroupContext> =
            super::join(&settings, &settings.events_topic(), &owned, &metrics)?;
        Ok(EventsConsumer {
            settings,
            consumer,
            store,
            producer,
            metrics,
            owned,
            max_future_skew,
            consumed,
        })
    }

    /// Reads, stores, copies and commits until `stop`. A batch read when
    /// the stop comes is finished first.
    pub async fn run(self, stop: CancellationToken) {
        let mut last_error: Option<Instant> = None;
        // Per partition: the epoch it was checked in and the offset its
        // former owner had committed by then (see `hand_over`).
        let mut floors: HashMap<i32, (u64, i64)> = HashMap::new();
        loop {
            let first = tokio::select! {
                m = self.consumer.recv() => m,
                () = stop.cancelled() => return,
            };
            let mut batch = Vec::new();
            match first {
                Ok(m) => batch.push(self.read(&m)),
                Err(e) => {
                    self.error(&e, &mut last_error).await;
                    continue;
                }
            }
            let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
            while batch.len() < self.settings.batch_max {
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(Ok(m)) => batch.push(self.read(&m)),
                    Ok(Err(e)) => {
                        self.error(&e, &mut last_error).await;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !self.hand_over(&mut batch, &mut floors, &stop).await {
                return;
            }
            if batch.is_empty() {
                continue;
            }
            if !self.handle(&batch, &stop).await {
                return;
            }
        }
    }

    /// Leaves out of `batch` what is not this node's to store. Messages
    /// read before their partition was revoked belong to its new owner, who
    /// reads them from the committed offset. And what the former owner of
    /// a partition stored after this node was given it: a broker may hand a partition over
    /// before its former owner rejoined (tansu 0.6 does, where Kafka waits
    /// for every member), and a member stalled past its session goes on
    /// with the batch in its hands too; either one stores and commits that
    /// batch while this node reads it from the older committed offset. So
    /// the first messages of a partition given within `handover_grace` wait
    /// for the rest of it, then the partition's committed offset is read
    /// again and whatever lies below it is skipped (counted in
    /// `ward_cluster_handover_skipped_total`) for as long as the node keeps
    /// the partition. False when Ward stops while waiting.
    async fn hand_over(
        &self,
        batch: &mut Vec<Read>,
        floors: &mut HashMap<i32, (u64, i64)>,
        stop: &CancellationToken,
    ) -> bool {
        let ctx = self.consumer.context();
        batch.retain(|r| r.epoch == ctx.epoch(r.partition));
        let unchecked: BTreeSet<i32> = batch
            .iter()
            .filter(|r| floors.get(&r.partition).is_none_or(|(e, _)| *e != r.epoch))
            .map(|r| r.partition)
            .collect();
        if !unchecked.is_empty() {
            // The assignment checked: one revoked and given again while
            // this waits has a grace of its own, checked with a later batch.
            let epochs: Vec<(i32, u64)> = unchecked.iter().map(|p| (*p, ctx.epoch(*p))).collect();
            let grace = self.settings.handover_grace();
            let until = unchecked
                .iter()
                .filter_map(|p| ctx.assigned_at(*p))
                .max()
                .map(|at| at + grace);
            if let Some(until) = until.filter(|u| *u > Instant::now()) {
                tokio::select! {
                    () = tokio::time::sleep_until(until.into()) => {}
                    () = stop.cancelled() => return false,
                }
            }
            let topic = self.settings.events_topic();
            let mut tpl = TopicPartitionList::new();
            for p in &unchecked {
                tpl.add_partition(&topic, *p);
            }
            match tokio::task::block_in_place(|| {
                self.consumer
                    .committed_offsets(tpl, Duration::from_secs(10))
            }) {
                Ok(committed) => {
                    for (p, epoch) in epochs {
                        if ctx.epoch(p) != epoch {
                            continue;
                        }
                        let floor = committed
                            .find_partition(&topic, p)
                            .and_then(|e| match e.offset() {
                                Offset::Offset(o) => Some(o),
                                _ => None,
                            })
                            .unwrap_or(-1);
                        floors.insert(p, (epoch, floor));
                    }
                }
                Err(e) => {
                    // Read from where the group said when it assigned them:
                    // at least once, as without the check.
                    tracing::warn!(%topic, error = %e, "committed offsets of partitions given not read again");
                    for (p, epoch) in epochs {
                        if ctx.epoch(p) == epoch {
                            floors.insert(p, (epoch, -1));
                        }
                    }
                }
            }
        }
        // Revoked while this waited.
        batch.retain(|r| r.epoch == ctx.epoch(r.partition));
        let before = batch.len();
        batch.retain(|r| {
            floors
                .get(&r.partition)
                .is_none_or(|(e, floor)| *e != r.epoch || r.offset >= *floor)
        });
        let skipped = (before - batch.len()) as u64;
        if skipped > 0 {
            self.metrics
                .add("ward_cluster_handover_skipped_total", &[], skipped);
            tracing::info!(
                count = skipped,
                "messages the former owner stored after the handover skipped"
            );
        }
        true
    }

    fn read(&self, m: &rdkafka::message::BorrowedMessage<'_>) -> Read {
        Read {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().unwrap_or_default().to_vec(),
            payload: m.payload().unwrap_or_default().to_vec(),
            epoch: self.consumer.context().epoch(m.partition()),
        }
    }

    async fn error(&self, e: &rdkafka::error::KafkaError, last: &mut Option<Instant>) {
        self.metrics
            .add("ward_kafka_errors_total", &[("source", "cluster")], 1);
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            tracing::warn!(topic = %self.settings.events_topic(), error = %e, "cluster consumer error");
            *last = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Stores the batch, copies it to `<prefix>corr`, commits. False when
    /// Ward stops before (nothing is committed: the batch is read again).
    async fn handle(&self, batch: &[Read], stop: &CancellationToken) -> bool {
        let mut records = Vec::with_capacity(batch.len());
        let mut headers: Vec<Option<Vec<u8>>> = vec![None; batch.len()];
        // Per read: the partitions of the correlation windows it feeds
        // (None: not examined here, every window kept by the tenant's owner).
        let mut windows: Vec<Option<Vec<i32>>> = vec![None; batch.len()];
        let mut bad = 0u64;
        let mut oversized = 0u64;
        let started = Instant::now();
        let now_ms = jiff::Timestamp::now().as_millisecond();
        // Matching is CPU work: off the async threads.
        tokio::task::block_in_place(|| {
            for ((r, header), fed) in batch.iter().zip(&mut headers).zip(&mut windows) {
                let Ok(map) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(
                    &r.payload,
                ) else {
                    bad += 1;
                    continue;
                };
                let mut event = ward_event::Event(map);
                // Matched as the owner will read the copy: before the
                // store's own fields are added.
                if let Some(at) = &self.consumed {
                    let mut seen = Vec::new();
                    let matches = match &at.consumed {
                        Some(c) => {
                            let (matches, h) = c.examine(&event, &mut seen);
                            *header = h;
                            if header.is_none() {
                                oversized += 1;
                            }
                            Some(matches)
                        }
                        None => None,
                    };
                    *fed = Some(at.router.windows(&event, matches.as_deref(), &mut seen));
                    at.progress.coverage.record(&event, &seen, now_ms);
                }
                match crate::store::record_or_dead_letter(&mut event, self.max_future_skew) {
                    Ok((rec, _)) => records.push(rec),
                    Err(e) => {
                        tracing::error!(error = %e, "cluster event refused by the store");
                        bad += 1;
                    }
                }
            }
        });
        if self
            .consumed
            .as_ref()
            .is_some_and(|at| at.consumed.is_some())
        {
            self.metrics.add_cpu("detect_consumed", started.elapsed());
            if oversized > 0 {
                self.metrics
                    .add("ward_cluster_match_headers_oversized_total", &[], oversized);
            }
        }
        if bad > 0 {
            // Only Ward nodes write this topic; anything else is counted.
            self.metrics
                .add("ward_cluster_bad_messages_total", &[], bad);
            tracing::warn!(count = bad, topic = %self.settings.events_topic(),
                "messages that are not Ward events skipped");
        }
        let n = records.len() as u64;
        let mut backoff = Duration::from_millis(100);
        loop {
            match crate::store::append(&self.store, records.clone(), &self.metrics).await {
                Ok(_) => break,
                Err(AppendError::Invalid(reason)) => {
                    tracing::error!(%reason, "cluster batch refused by the store as invalid; skipped");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cluster batch could not be stored; retrying, offsets not committed");
                    if !pause(&mut backoff, stop).await {
                        return false;
                    }
                }
            }
        }
        self.metrics.add(
            "ward_store_events_total",
            &[("input", "cluster"), ("source", "cluster")],
            n,
        );
        let corr = self.settings.corr_topic();
        // The tenant's copy of each event, and one copy for each other
        // partition that keeps windows the event feeds.
        let parts = self.settings.corr_partitions;
        let mut copies: Vec<(usize, i32, bool)> = Vec::with_capacity(batch.len());
        for (i, r) in batch.iter().enumerate() {
            let home = super::corr_partition(super::tenant_of_key(&r.key), parts);
            copies.push((i, home, true));
            if let Some(Some(fed)) = windows.get(i) {
                copies.extend(fed.iter().filter(|q| **q != home).map(|q| (i, *q, false)));
            }
        }
        let keys: Vec<String> = batch
            .iter()
            .map(|r| {
                format!(
                    "{}\u{1f}{}\u{1f}{}",
                    super::tenant_of_key(&r.key),
                    r.partition,
                    r.offset
                )
            })
            .collect();
        let marks = self
            .consumed
            .as_ref()
            .map(|at| (at.router.mark(true), at.router.mark(false)));
        let apart = copies.iter().filter(|c| !c.2).count() as u64;
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut out: Vec<Outgoing<'_>> = Vec::with_capacity(copies.len());
            let mut hdrs: Vec<Vec<(&str, &[u8])>> = Vec::with_capacity(copies.len());
            for &(i, p, whole) in &copies {
                let (Some(r), Some(k)) = (batch.get(i), keys.get(i)) else {
                    continue;
                };
                out.push(Outgoing {
                    topic: &corr,
                    partition: Some(p),
                    key: k.as_bytes(),
                    payload: &r.payload,
                });
                let mut h: Vec<(&str, &[u8])> = Vec::with_capacity(2);
                if let Some(m) = headers.get(i).and_then(Option::as_deref) {
                    h.push((super::split::HEADER, m));
                }
                if let Some((routed, only)) = &marks {
                    let mark = if whole { routed } else { only };
                    h.push((super::split::WINDOWS_HEADER, mark.as_slice()));
                }
                hdrs.push(h);
            }
            match self.producer.send_headed(&out, &hdrs).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, "stored events not yet copied to {corr}; retrying, offsets not committed");
                    if !pause(&mut backoff, stop).await {
                        return false;
                    }
                }
            }
        }
        if apart > 0 {
            self.metrics
                .add("ward_cluster_window_copies_total", &[], apart);
        }
        self.commit(batch).await;
        true
    }

    async fn commit(&self, batch: &[Read]) {
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for r in batch {
            let slot = next.entry(r.partition).or_insert(r.offset + 1);
            *slot = (*slot).max(r.offset + 1);
        }
        let topic = self.settings.events_topic();
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &next {
            let _ = tpl.add_partition_offset(&topic, *p, Offset::Offset(*o));
        }
        // A synchronous commit waits for the broker: off the async threads.
        match tokio::task::block_in_place(|| self.consumer.commit(&tpl, CommitMode::Sync)) {
            Ok(()) => {
                let mut owned = self.owned.events.lock();
                for (p, o) in &next {
                    if let Some(slot) = owned.get_mut(p) {
                        *slot = *o;
                    }
                    let ps = p.to_string();
                    self.metrics.add(
                        "ward_cluster_consumed_total",
                        &[("topic", &topic), ("partition", &ps)],
                        batch.iter().filter(|r| r.partition == *p).count() as u64,
                    );
                }
            }
            Err(e) => {
                self.metrics.add(
                    "ward_kafka_commit_failures_total",
                    &[("source", "cluster")],
                    1,
                );
                tracing::warn!(error = %e, "cluster offsets not committed; these events may be stored again");
            }
        }
    }
}

/// Waits `backoff` (doubling, up to 10 s) unless Ward stops: false then.
async fn pause(backoff: &mut Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = stop.cancelled() => return false,
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(10));
    true
}
