//! Kafka: one consumer group per `[[kafka]]` entry (librdkafka through
//! `rdkafka`), reading messages in batches into the pipeline.
//!
//! Delivery is at least once and never lossy: automatic commits are off and
//! a batch's offsets are committed (synchronously) only after the pipeline
//! acknowledged the batch as durably stored. A failed store is retried with
//! back-off on the same batch instead of reading on; a crash between the
//! store and the commit re-reads those messages after the restart. Each
//! event records where it came from in `kafka.topic`, `kafka.partition`,
//! `kafka.offset` (and `kafka.key` when the message has one), so such
//! repeats can be recognised.
//!
//! A message is read by the configured format: JSON (one object or JSON
//! lines), syslog (RFC 5424/3164) or plain text. A message that cannot be
//! decoded becomes a dead-letter event, as with every other input.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use super::keyblock::{self, MAX_SENDERS, Trackers};
use super::{Origin, SourceContext, Wait};
use crate::config::KafkaConfig;
use crate::model::Event;
use crate::normalize;
use crate::pipeline::SubmitError;

/// How message payloads are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Auto,
    Json,
    Syslog,
    Text,
}

impl Format {
    fn parse(s: &str) -> Format {
        match s {
            "json" => Format::Json,
            "syslog" => Format::Syslog,
            "text" => Format::Text,
            _ => Format::Auto,
        }
    }

    /// The format of one payload: `auto` looks at its first byte.
    fn of(self, payload: &[u8]) -> Format {
        if self != Format::Auto {
            return self;
        }
        match payload.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Json,
            Some(b'<') => Format::Syslog,
            _ => Format::Text,
        }
    }
}

/// One configured consumer, ready to run.
pub struct KafkaSource {
    consumer: Arc<StreamConsumer>,
    cfg: Arc<KafkaSettings>,
}

struct KafkaSettings {
    name: String,
    source: String,
    tenant: String,
    recognizer: Option<String>,
    format: Format,
    batch_max: usize,
    batch_wait: Duration,
}

impl KafkaSource {
    /// Creates the consumer and subscribes to the topics. Connecting to the
    /// brokers happens in the background; an unreachable broker is retried
    /// by librdkafka and reported in the log and metrics, not at start.
    pub fn new(k: &KafkaConfig) -> anyhow::Result<KafkaSource> {
        let mut cc = ClientConfig::new();
        for (name, value) in &k.options {
            cc.set(name, value.expose());
        }
        cc.set("bootstrap.servers", &k.brokers)
            .set("group.id", &k.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", &k.start);
        let consumer: StreamConsumer = cc.create().map_err(|e| {
            anyhow::anyhow!(
                "kafka consumer for {} (group {}) cannot be created: {e}",
                k.brokers,
                k.group_id
            )
        })?;
        let topics: Vec<&str> = k.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| anyhow::anyhow!("cannot subscribe to kafka topics {topics:?}: {e}"))?;
        Ok(KafkaSource {
            consumer: Arc::new(consumer),
            cfg: Arc::new(KafkaSettings {
                name: format!("{} {}", k.brokers, k.topics.join(",")),
                source: k.source.clone(),
                tenant: k.tenant.clone(),
                recognizer: k.recognizer.clone(),
                format: Format::parse(&k.format),
                batch_max: k.batch_max.max(1),
                batch_wait: crate::config::parse_duration(&k.batch_wait)
                    .unwrap_or(Duration::from_millis(200)),
            }),
        })
    }

    /// A description for the start-up banner.
    pub fn describe(&self) -> String {
        self.cfg.name.clone()
    }

    /// Reads, stores and commits until Ward stops. A batch being filled
    /// when the stop comes is stored and committed first.
    pub async fn run(self, st: SourceContext) {
        let mut last_error: Option<Instant> = None;
        // Key blocks are followed per partition, across batches.
        let mut keys = Trackers::new(MAX_SENDERS);
        loop {
            let first = tokio::select! {
                m = self.consumer.recv() => m,
                () = st.stop.cancelled() => return,
            };
            let first = match first {
                Ok(m) => m,
                Err(e) => {
                    self.consumer_error(&st, &e, &mut last_error).await;
                    continue;
                }
            };
            let received = Instant::now();
            let mut ctx = normalize::context("kafka", &self.cfg.source, &self.cfg.tenant);
            ctx.declared = self.cfg.recognizer.clone();
            let mut pending = Pending::default();
            pending.add(&first, self.cfg.format, &ctx, &st.limits, &mut keys);
            drop(first);
            let deadline = tokio::time::Instant::now() + self.cfg.batch_wait;
            while pending.messages < self.cfg.batch_max && !st.stop.is_cancelled() {
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(Ok(m)) => pending.add(&m, self.cfg.format, &ctx, &st.limits, &mut keys),
                    Ok(Err(e)) => {
                        self.consumer_error(&st, &e, &mut last_error).await;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !self.store(&st, &mut pending, received).await {
                return;
            }
            self.commit(&st, &pending.next_offsets).await;
        }
    }

    async fn consumer_error(
        &self,
        st: &SourceContext,
        e: &rdkafka::error::KafkaError,
        last: &mut Option<Instant>,
    ) {
        st.metrics.add(
            "ward_kafka_errors_total",
            &[("source", self.cfg.source.as_str())],
            1,
        );
        // One line per ten seconds at most: a broker outage is not a flood.
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            tracing::warn!(consumer = %self.cfg.name, error = %e, "kafka consumer error");
            *last = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Hands the batch to the pipeline until it is stored; false when Ward
    /// is shutting down (nothing is committed then).
    async fn store(&self, st: &SourceContext, pending: &mut Pending, received: Instant) -> bool {
        let origin = Origin {
            input: "kafka",
            source: &self.cfg.source,
            tenant: &self.cfg.tenant,
        };
        let events = std::mem::take(&mut pending.events);
        st.count_received(origin, &events, pending.bad, pending.bytes);
        let mut backoff = Duration::from_millis(100);
        loop {
            match st
                .submit(origin, events.clone(), pending.bad, received, Wait::Yes)
                .await
            {
                Ok(_) => return true,
                Err(SubmitError::Closed) => return false,
                Err(SubmitError::Invalid(reason)) => {
                    // Retrying the same batch can never succeed; skipping
                    // it (counted as lost) keeps the partition moving.
                    tracing::error!(consumer = %self.cfg.name, %reason,
                        "kafka batch refused by the store as invalid; skipped");
                    return true;
                }
                Err(e) => {
                    st.metrics.add(
                        "ward_kafka_store_retries_total",
                        &[("input", "kafka"), ("source", self.cfg.source.as_str())],
                        1,
                    );
                    tracing::error!(consumer = %self.cfg.name, error = %e,
                        "kafka batch could not be stored; retrying, offsets not committed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = st.stop.cancelled() => return false,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Commits the next offsets synchronously (off the async threads). A
    /// failed commit only means those messages are read again.
    async fn commit(&self, st: &SourceContext, next: &BTreeMap<(String, i32), i64>) {
        if next.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset)) {
                tracing::warn!(error = %e, "kafka offset not committed");
                return;
            }
        }
        let consumer = Arc::clone(&self.consumer);
        let done =
            tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync)).await;
        let failed = match done {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            st.metrics.add(
                "ward_kafka_commit_failures_total",
                &[("source", self.cfg.source.as_str())],
                1,
            );
            tracing::warn!(consumer = %self.cfg.name, error = %e,
                "kafka offsets not committed; these messages will be read again after a restart");
        }
    }
}

/// The batch being filled.
#[derive(Default)]
struct Pending {
    events: Vec<Event>,
    messages: usize,
    bad: usize,
    bytes: usize,
    /// (topic, partition) → the offset to commit (last read + 1).
    next_offsets: BTreeMap<(String, i32), i64>,
}

impl Pending {
    fn add(
        &mut self,
        m: &BorrowedMessage<'_>,
        format: Format,
        ctx: &ward_event::Context,
        limits: &ward_event::Limits,
        keys: &mut Trackers<(String, i32)>,
    ) {
        self.messages += 1;
        let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
        let slot = self
            .next_offsets
            .entry((topic.to_owned(), partition))
            .or_insert(offset + 1);
        *slot = (*slot).max(offset + 1);
        // A message without a payload (a tombstone) carries no event.
        let Some(payload) = m.payload() else { return };
        self.bytes += payload.len();
        let start = self.events.len();
        let results = if payload.len() > limits.max_request_bytes {
            vec![Err(ward_event::RecordError::new(
                1,
                format!(
                    "message is {} bytes, over the {}-byte limit (limits.max_request_bytes)",
                    payload.len(),
                    limits.max_request_bytes
                ),
            )
            .at(0..payload.len()))]
        } else {
            match format.of(payload) {
                Format::Json | Format::Auto if ctx.declared.is_some() => {
                    ward_event::keeping_native_names(|| ward_event::ndjson::decode(payload, limits))
                }
                Format::Json | Format::Auto => ward_event::ndjson::decode(payload, limits),
                Format::Text => ward_event::text::decode(payload, limits),
                Format::Syslog => vec![
                    ward_event::syslog::parse(trim_end(payload), ctx.received).map_err(|reason| {
                        ward_event::RecordError::new(1, reason).at(0..payload.len())
                    }),
                ],
            }
        };
        let mut out = normalize::collect(results, payload, ctx, limits);
        keyblock::mask_events(
            keys.get(&(topic.to_owned(), partition)),
            &mut out.events,
            Instant::now(),
        );
        self.bad += out.rejected.len();
        self.events.extend(out.events);
        let key = m.key().and_then(|k| std::str::from_utf8(k).ok());
        for e in &mut self.events[start..] {
            e.set("kafka.topic", Value::from(topic));
            e.set("kafka.partition", Value::from(partition));
            e.set("kafka.offset", Value::from(offset));
            if let Some(k) = key {
                e.set(
                    "kafka.key",
                    Value::from(k.chars().take(256).collect::<String>()),
                );
            }
        }
    }
}

fn trim_end(b: &[u8]) -> &[u8] {
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    &b[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_format_looks_at_the_first_byte() {
        assert_eq!(Format::Auto.of(b"  {\"a\":1}"), Format::Json);
        assert_eq!(
            Format::Auto.of(b"<34>1 2026-01-01T00:00:00Z h a - - - m"),
            Format::Syslog
        );
        assert_eq!(Format::Auto.of(b"plain words"), Format::Text);
        assert_eq!(Format::Text.of(b"{}"), Format::Text);
    }
}
