//! Cluster mode: several Ward nodes share their inputs through Kafka.
//!
//! ```text
//!  any node's inputs ─► redact, enrich ─► <prefix>events (key tenant+source, acks=all, idempotent) ─► ack
//!  <prefix>events ─► one consumer group ─► each node stores its share ─► <prefix>corr (partition by tenant) ─► commit
//!  <prefix>corr ─► one consumer group ─► the owner of a partition evaluates its events in order
//!                                         (rules, correlations, metric rules, baselines) ─► local alerting
//!                 state snapshots ─► <prefix>corr-state (one partition per corr partition), then commit
//!  every node ─► <prefix>nodes (heartbeats) ◄─ `ward cluster status`
//!  any node's alert, silence and notification log changes ─► <prefix>alerts ─► every node's
//!      SQLite; the owner of the alert's partition notifies ([`alerts`])
//! ```
//!
//! No consensus of Ward's own: Kafka's consumer groups decide who owns
//! which partition. A sender is acknowledged only after the brokers
//! acknowledged its batch; a node commits `<prefix>events` offsets only
//! after its store made the events durable and their copies reached
//! `<prefix>corr`, and `<prefix>corr` offsets only up to a snapshot of the
//! partition's state. A node taking over a correlation partition restores
//! the last snapshot and replays the messages after it; finding ids come
//! from (rule, group key, window), so the replay finds the same alerts.

pub mod alerts;
pub mod corr;
pub mod coverage;
pub mod events;
pub mod repartition;
pub mod search;
pub mod segments;
pub mod split;
pub mod status;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::secret::Secret;

/// `[cluster]`, validated.
#[derive(Debug)]
pub struct Settings {
    pub node_id: String,
    pub brokers: String,
    pub prefix: String,
    pub events_partitions: i32,
    pub corr_partitions: i32,
    pub produce_timeout: Duration,
    pub snapshot_interval: Duration,
    pub session_timeout: Duration,
    pub batch_max: usize,
    pub match_where_consumed: bool,
    pub options: Vec<(String, Secret<String>)>,
    /// `cluster.segments_bucket`, when set.
    pub segments: Option<SegmentsSettings>,
}

/// Where sealed segments go and how often ([`segments`]).
#[derive(Debug, Clone)]
pub struct SegmentsSettings {
    /// The bucket and the cluster's prefix in it.
    pub location: crate::store::s3::Location,
    /// Between two looks for newly sealed segments.
    pub interval: Duration,
}

impl Settings {
    /// How long a node given an `<prefix>events` partition lets its former
    /// owner finish the batch it may still hold before it reads the
    /// partition's committed offset again, and a node given `<prefix>corr`
    /// partitions lets their former owner log the notifications it may
    /// still send before it reads `<prefix>alerts` to its end and routes
    /// their alerts: a third of the session timeout.
    pub fn handover_grace(&self) -> Duration {
        self.session_timeout / 3
    }

    /// Where every node's ingest goes.
    pub fn events_topic(&self) -> String {
        format!("{}events", self.prefix)
    }

    /// Events re-keyed for the stateful rules.
    pub fn corr_topic(&self) -> String {
        format!("{}corr", self.prefix)
    }

    /// Snapshots of each correlation partition's state (same partitioning).
    pub fn state_topic(&self) -> String {
        format!("{}corr-state", self.prefix)
    }

    /// Alert changes, applied by every node (compacted, keyed by alert id).
    pub fn alerts_topic(&self) -> String {
        format!("{}alerts", self.prefix)
    }

    /// Heartbeats: what each node owns and how far behind it is.
    pub fn nodes_topic(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    /// Each uploaded sealed segment (compacted, keyed `<node>/<first offset>`).
    pub fn segments_topic(&self) -> String {
        format!("{}segments", self.prefix)
    }

    /// Each node's coverage counts (compacted, keyed by node id).
    pub fn coverage_topic(&self) -> String {
        format!("{}coverage", self.prefix)
    }

    /// The consumer group of a topic.
    pub fn group(&self, topic: &str) -> String {
        format!("{topic}.group")
    }

    /// A client configuration with the brokers and the extra options.
    pub fn client(&self) -> ClientConfig {
        let mut cc = ClientConfig::new();
        for (k, v) in &self.options {
            cc.set(k, v.expose());
        }
        cc.set("bootstrap.servers", &self.brokers)
            .set("client.id", format!("ward-{}", self.node_id));
        cc
    }

    /// A consumer configuration for one of the cluster's groups: manual
    /// commits only, from the beginning for a new group.
    pub fn consumer(&self, topic: &str) -> ClientConfig {
        let mut cc = self.client();
        let session = self.session_timeout.as_millis().to_string();
        cc.set("group.id", self.group(topic))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", &session)
            // Also the time a rebalance waits for members to rejoin: a
            // member that died is dropped from the group after it.
            .set(
                "max.poll.interval.ms",
                (self.session_timeout.as_millis() * 3).to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (self.session_timeout.as_millis() / 5).to_string(),
            );
        cc
    }

    /// A consumer that reads assigned partitions and never joins a group
    /// or commits (librdkafka still wants a group name).
    pub fn reader(&self) -> ClientConfig {
        let mut cc = self.client();
        cc.set("group.id", format!("{}reader", self.prefix))
            .set("enable.auto.commit", "false")
            .set("fetch.message.max.bytes", MAX_MESSAGE_BYTES.to_string())
            .set(
                "receive.message.max.bytes",
                (MAX_MESSAGE_BYTES * 2).to_string(),
            );
        cc
    }

    /// A producer that gets the brokers' acknowledgement from all replicas,
    /// without duplicates or reordering on retries.
    pub fn producer(&self) -> anyhow::Result<Producer> {
        let inner: FutureProducer = self
            .client()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                self.produce_timeout.as_millis().to_string(),
            )
            .set("linger.ms", "2")
            .set("message.max.bytes", MAX_MESSAGE_BYTES.to_string())
            .create()
            .map_err(|e| {
                anyhow::anyhow!("cannot create a Kafka producer for {}: {e}", self.brokers)
            })?;
        Ok(Producer {
            inner,
            timeout: self.produce_timeout,
        })
    }
}

/// Most partitions of a cluster topic (`cluster.*_partitions`).
pub const MAX_PARTITIONS: i32 = 1024;

/// Largest message a cluster producer sends (a state snapshot included).
pub const MAX_MESSAGE_BYTES: usize = 32 << 20;

/// A message to produce: topic, partition (`None`: by key), key, payload.
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    pub key: &'a [u8],
    pub payload: &'a [u8],
}

/// A producer whose sends return once the brokers acknowledged.
pub struct Producer {
    inner: FutureProducer,
    timeout: Duration,
}

impl Producer {
    /// Sends every message and waits until the brokers acknowledged all of
    /// them (`acks=all`), or fails naming the first error. The messages of
    /// one call keep their order within a partition.
    pub async fn send_all(&self, messages: &[Outgoing<'_>]) -> Result<(), String> {
        self.send_headed(messages, &[]).await
    }

    /// [`Producer::send_all`], message `i` carrying the record headers
    /// `headers[i]` (name, value).
    pub async fn send_headed(
        &self,
        messages: &[Outgoing<'_>],
        headers: &[Vec<(&str, &[u8])>],
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut pending = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let mut rec = FutureRecord::to(m.topic).key(m.key).payload(m.payload);
            if let Some(p) = m.partition {
                rec = rec.partition(p);
            }
            if let Some(list) = headers.get(i).filter(|l| !l.is_empty()) {
                let mut owned = rdkafka::message::OwnedHeaders::new_with_capacity(list.len());
                for (name, value) in list {
                    owned = owned.insert(rdkafka::message::Header {
                        key: name,
                        value: Some(*value),
                    });
                }
                rec = rec.headers(owned);
            }
            loop {
                match self.inner.send_result(rec) {
                    Ok(f) => {
                        pending.push(f);
                        break;
                    }
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        back,
                    )) if tokio::time::Instant::now() < deadline => {
                        rec = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(format!("kafka refused a message: {e}")),
                }
            }
        }
        for f in pending {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(format!("the brokers did not acknowledge: {e}")),
                Err(_) => return Err("the kafka producer was closed".into()),
            }
        }
        Ok(())
    }
}

/// A reader of partition 0 of `topic` from its beginning, assigned (no
/// group, no commits): how every node follows a compacted record topic.
pub fn follower(s: &Settings, topic: &str) -> anyhow::Result<rdkafka::consumer::BaseConsumer> {
    use rdkafka::consumer::Consumer as _;
    let consumer: rdkafka::consumer::BaseConsumer = s
        .reader()
        .create()
        .map_err(|e| anyhow::anyhow!("cannot create the {topic} reader: {e}"))?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)?;
    consumer
        .assign(&tpl)
        .map_err(|e| anyhow::anyhow!("cannot read {topic}: {e}"))?;
    Ok(consumer)
}

/// Applies every message a [`follower`] reads until `stop`. A message
/// `apply` refuses (key, payload) is counted
/// (`ward_cluster_bad_messages_total{topic}`), logged as not `what`, and
/// skipped.
pub fn follow_records(
    consumer: &rdkafka::consumer::BaseConsumer,
    topic: &str,
    what: &str,
    metrics: &crate::metrics::Metrics,
    stop: &tokio_util::sync::CancellationToken,
    apply: impl Fn(&[u8], Option<&[u8]>) -> Result<(), String>,
) {
    use rdkafka::message::Message as _;
    while !stop.is_cancelled() {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                if let Err(why) = apply(m.key().unwrap_or_default(), m.payload()) {
                    metrics.add("ward_cluster_bad_messages_total", &[("topic", topic)], 1);
                    tracing::warn!(topic = %topic, offset = m.offset(), reason = %why,
                        "a message that is not {what} was skipped");
                }
            }
            Some(Err(e)) => {
                tracing::warn!(topic = %topic, error = %e, "reading {what} failed; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            None => {}
        }
    }
}

/// The `<prefix>corr` partition of a tenant: a fixed hash (FNV-1a), the
/// same on every node and every version, modulo the partition count.
pub fn corr_partition(tenant: &str, partitions: i32) -> i32 {
    let h = crate::detect::baseline::value_hash(tenant);
    let n = u64::try_from(partitions.max(1)).unwrap_or(1);
    i32::try_from(h % n).unwrap_or(0)
}

/// The `<prefix>corr` partition of a correlation window: a fixed hash
/// (FNV-1a) of the correlation's rule key and the window's group key (its
/// group-by values and tenant), modulo the partition count.
pub fn window_partition(rule_id: &str, group_key: &str, partitions: i32) -> i32 {
    let h = crate::detect::baseline::value_hash(&format!("{rule_id}\u{1f}{group_key}"));
    let n = u64::try_from(partitions.max(1)).unwrap_or(1);
    i32::try_from(h % n).unwrap_or(0)
}

/// Creates the cluster's topics that are missing and checks that
/// `<prefix>corr` and its state topic have the configured partitions
/// (correlation state is kept per partition: a different count is a
/// migration, not a restart).
pub async fn ensure_topics(s: &Settings) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = s.client().create().map_err(|e| {
        anyhow::anyhow!("cannot create a Kafka admin client for {}: {e}", s.brokers)
    })?;
    let wanted = [
        (s.events_topic(), s.events_partitions),
        (s.corr_topic(), s.corr_partitions),
        (s.state_topic(), s.corr_partitions),
        (s.nodes_topic(), 1),
        (s.alerts_topic(), alerts::ALERTS_PARTITIONS),
        (s.segments_topic(), 1),
        (s.coverage_topic(), 1),
    ];
    let compacted = [s.alerts_topic(), s.segments_topic(), s.coverage_topic()];
    let topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|(t, n)| {
            let topic = NewTopic::new(t, *n, TopicReplication::Fixed(1));
            // The newest state of each alert (and the record of each
            // uploaded segment) is what a starting node needs.
            if compacted.contains(t) {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let created =
        tokio::time::timeout(Duration::from_secs(30), admin.create_topics(&topics, &opts))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the cluster brokers {} did not answer within 30 s",
                    s.brokers
                )
            })?
            .map_err(|e| {
                anyhow::anyhow!("cannot create the cluster topics on {}: {e}", s.brokers)
            })?;
    for r in created {
        match r {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => anyhow::bail!("cannot create cluster topic {t} on {}: {e}", s.brokers),
        }
    }
    let meta = tokio::task::spawn_blocking({
        let cc = s.client();
        move || -> anyhow::Result<Vec<(String, usize)>> {
            use rdkafka::consumer::Consumer as _;
            let c: rdkafka::consumer::BaseConsumer = cc.create()?;
            let m = c.fetch_metadata(None, Duration::from_secs(10))?;
            Ok(m.topics()
                .iter()
                .map(|t| (t.name().to_owned(), t.partitions().len()))
                .collect())
        }
    })
    .await??;
    for (topic, want) in [
        (s.corr_topic(), s.corr_partitions),
        (s.state_topic(), s.corr_partitions),
    ] {
        let have = meta.iter().find(|(t, _)| *t == topic).map(|(_, n)| *n);
        if have.is_some_and(|n| i32::try_from(n).ok() != Some(want)) {
            anyhow::bail!(
                "topic {topic} has {} partitions but cluster.corr_partitions = {want}: \
                 correlation state is kept per partition, so changing the count is a \
                 migration (`ward cluster repartition`), not a restart",
                have.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// The key of a `<prefix>events` message: tenant and source.
pub fn events_key(tenant: &str, source: &str) -> String {
    format!("{tenant}\u{1f}{source}")
}

/// The tenant named by a `<prefix>events` key.
pub fn tenant_of_key(key: &[u8]) -> &str {
    let key = std::str::from_utf8(key).unwrap_or_default();
    key.split('\u{1f}').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corr_and_window_partitions_are_fixed_and_spread() {
        // Fixed: the same tenant lands on the same partition on every node
        // and every version (a change would move state without a migration).
        assert_eq!(corr_partition("default", 12), corr_partition("default", 12));
        assert_eq!(corr_partition("", 1), 0);
        let mut used = std::collections::BTreeSet::new();
        for i in 0..200 {
            let p = corr_partition(&format!("tenant-{i}"), 12);
            assert!((0..12).contains(&p));
            used.insert(p);
        }
        assert_eq!(used.len(), 12, "200 tenants reach every partition");
        assert_eq!(tenant_of_key(events_key("acme", "web").as_bytes()), "acme");
        // A window's partition is as fixed (FNV-1a of "rule \x1f group").
        assert_eq!(
            window_partition("rule-1", "tenant.id=default\u{1f}user.name=bob", 12),
            8
        );
        assert_eq!(window_partition("rule-1", "g", 1), 0);
        assert_eq!(tenant_of_key(b"\xff\xfe"), "");
    }
}

/// What this node owns, for heartbeats and metrics: partition → the next
/// offset it will process (-1 until it processed one).
#[derive(Debug, Default)]
pub struct Owned {
    pub events: parking_lot::Mutex<std::collections::BTreeMap<i32, i64>>,
    pub corr: parking_lot::Mutex<std::collections::BTreeMap<i32, CorrPart>>,
    /// Sealed segments not yet uploaded, and the age (s) of the oldest
    /// (`None` when uploads are off or before the first round).
    pub segments_lag: parking_lot::Mutex<Option<(u64, i64)>>,
    /// How many times `<prefix>corr` partitions were assigned to this node
    /// (the alerts of partitions given are routed after each).
    pub corr_assignments: std::sync::atomic::AtomicU64,
}

/// One owned correlation partition.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorrPart {
    /// The next offset to evaluate (-1 before the state was restored).
    pub next: i64,
    /// Wall time (ms) of the last snapshot written, 0 if none.
    pub snapshot_ms: i64,
}

/// The consumer context of a cluster group: logs and counts rebalances,
/// keeps [`Owned`] up to date, and moves a partition's epoch when it is
/// revoked so that its messages read before are not processed (the new
/// owner reads them from the committed offset).
pub struct GroupContext {
    pub topic: String,
    pub node: String,
    epochs: parking_lot::Mutex<std::collections::HashMap<i32, u64>>,
    /// When each partition was last assigned to this consumer.
    assigned: parking_lot::Mutex<std::collections::HashMap<i32, std::time::Instant>>,
    pub owned: std::sync::Arc<Owned>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl rdkafka::client::ClientContext for GroupContext {}

impl GroupContext {
    /// The epoch of `partition`: how many times it was revoked from this
    /// consumer. A message read in an older epoch is not processed.
    pub fn epoch(&self, partition: i32) -> u64 {
        self.epochs.lock().get(&partition).copied().unwrap_or(0)
    }

    /// When `partition` was last assigned to this consumer.
    pub fn assigned_at(&self, partition: i32) -> Option<std::time::Instant> {
        self.assigned.lock().get(&partition).copied()
    }
}

/// A consumer of `topic` in its group, subscribed, with a [`GroupContext`].
pub fn join<C>(
    s: &Settings,
    topic: &str,
    owned: &std::sync::Arc<Owned>,
    metrics: &std::sync::Arc<crate::metrics::Metrics>,
) -> anyhow::Result<C>
where
    C: rdkafka::consumer::Consumer<GroupContext>
        + rdkafka::config::FromClientConfigAndContext<GroupContext>,
{
    let ctx = GroupContext {
        topic: topic.to_owned(),
        node: s.node_id.clone(),
        epochs: parking_lot::Mutex::default(),
        assigned: parking_lot::Mutex::default(),
        owned: std::sync::Arc::clone(owned),
        metrics: std::sync::Arc::clone(metrics),
    };
    let consumer: C = s
        .consumer(topic)
        .create_with_context(ctx)
        .map_err(|e| anyhow::anyhow!("cannot create the {topic} consumer: {e}"))?;
    consumer
        .subscribe(&[topic])
        .map_err(|e| anyhow::anyhow!("cannot subscribe to {topic}: {e}"))?;
    Ok(consumer)
}

impl rdkafka::consumer::ConsumerContext for GroupContext {
    fn post_rebalance(
        &self,
        _: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        use rdkafka::consumer::Rebalance;
        let events = self.topic.ends_with("events");
        let list = |tpl: &rdkafka::TopicPartitionList| -> Vec<i32> {
            tpl.elements()
                .iter()
                .map(rdkafka::topic_partition_list::TopicPartitionListElem::partition)
                .collect()
        };
        match rebalance {
            Rebalance::Assign(tpl) => {
                let parts = list(tpl);
                {
                    let now = std::time::Instant::now();
                    let mut assigned = self.assigned.lock();
                    for p in &parts {
                        assigned.insert(*p, now);
                    }
                }
                self.metrics.add(
                    "ward_cluster_rebalances_total",
                    &[("topic", &self.topic)],
                    1,
                );
                tracing::info!(topic = %self.topic, node = %self.node, partitions = ?parts, "cluster partitions assigned");
                for p in parts {
                    if events {
                        self.owned.events.lock().insert(p, -1);
                    } else {
                        self.owned.corr.lock().entry(p).or_insert(CorrPart {
                            next: -1,
                            snapshot_ms: 0,
                        });
                    }
                    let ps = p.to_string();
                    let labels = [("topic", self.topic.as_str()), ("partition", ps.as_str())];
                    self.metrics
                        .set("ward_cluster_partition_owned", &labels, 1.0);
                }
                if !events {
                    self.owned
                        .corr_assignments
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            Rebalance::Revoke(tpl) => {
                let parts = list(tpl);
                {
                    let mut epochs = self.epochs.lock();
                    for p in &parts {
                        *epochs.entry(*p).or_default() += 1;
                    }
                }
                tracing::info!(topic = %self.topic, node = %self.node, partitions = ?parts, "cluster partitions revoked");
                for p in parts {
                    if events {
                        self.owned.events.lock().remove(&p);
                    } else {
                        self.owned.corr.lock().remove(&p);
                    }
                    let ps = p.to_string();
                    let labels = [("topic", self.topic.as_str()), ("partition", ps.as_str())];
                    self.metrics
                        .set("ward_cluster_partition_owned", &labels, 0.0);
                }
            }
            Rebalance::Error(e) => {
                tracing::warn!(topic = %self.topic, error = %e, "cluster rebalance failed");
            }
        }
    }
}
