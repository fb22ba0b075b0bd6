//! `ward cluster repartition`: changes the number of `<prefix>corr`
//! partitions. Correlation state is kept per partition and a tenant's
//! partition is its hash modulo the count, so a new count is a new
//! layout: with every node stopped and every copy in `<prefix>corr`
//! evaluated, `<prefix>corr` and `<prefix>corr-state` are deleted with the
//! group's offsets and created again with the new count. Open windows,
//! metric rules and baselines start empty; stored events are untouched,
//! and `<prefix>events` messages not yet consumed are copied with the new
//! layout when the nodes start again.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::Settings;

/// A node whose last heartbeat is younger than this is taken as running.
const RUNNING_WITHIN_MS: i64 = 10_000;

/// What a repartition did.
#[derive(Debug)]
pub struct Done {
    pub from: usize,
    pub to: i32,
    /// Copies in `<prefix>corr` that were not evaluated and were dropped
    /// (only with `discard_unevaluated`).
    pub discarded: i64,
}

/// Repartitions `<prefix>corr` to `to` partitions; refuses while a node
/// runs, or while copies wait to be evaluated unless `discard_unevaluated`.
pub async fn run(s: &Settings, to: i32, discard_unevaluated: bool) -> anyhow::Result<Done> {
    anyhow::ensure!(
        (1..=super::MAX_PARTITIONS).contains(&to),
        "--corr-partitions must be 1 to {}",
        super::MAX_PARTITIONS
    );
    let now = jiff::Timestamp::now().as_millisecond();
    let running: Vec<String> = super::status::read(s, Duration::from_secs(15))?
        .into_values()
        .filter(|h| now - h.time_ms < RUNNING_WITHIN_MS)
        .map(|h| h.node)
        .collect();
    anyhow::ensure!(
        running.is_empty(),
        "node(s) {} reported to {} within the last {} s: stop every node first",
        running.join(", "),
        s.nodes_topic(),
        RUNNING_WITHIN_MS / 1000
    );
    let (from, waiting) = tokio::task::spawn_blocking({
        let cc = s.consumer(&s.corr_topic());
        let topic = s.corr_topic();
        move || unevaluated(&cc, &topic)
    })
    .await??;
    let discarded: i64 = waiting.iter().map(|(_, n)| n).sum();
    anyhow::ensure!(
        discarded == 0 || discard_unevaluated,
        "{} copies in {} were not evaluated yet (partition: count {:?}): start the nodes \
         until their lag is 0 and stop them again, or pass --discard-unevaluated",
        discarded,
        s.corr_topic(),
        waiting
    );
    let admin: AdminClient<DefaultClientContext> = s.client().create().map_err(|e| {
        anyhow::anyhow!("cannot create a Kafka admin client for {}: {e}", s.brokers)
    })?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let (corr, state) = (s.corr_topic(), s.state_topic());
    for r in admin.delete_topics(&[&corr, &state], &opts).await? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((t, e)) => anyhow::bail!("cannot delete {t} on {}: {e}", s.brokers),
        }
    }
    let group = s.group(&corr);
    for r in admin.delete_groups(&[&group], &opts).await? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::GroupIdNotFound)) => {}
            Err((g, e)) => anyhow::bail!("cannot delete the consumer group {g}: {e}"),
        }
    }
    // A deleted topic may take a moment to go; creating it meanwhile is
    // refused as existing.
    let topics = [
        NewTopic::new(&corr, to, TopicReplication::Fixed(1)),
        NewTopic::new(&state, to, TopicReplication::Fixed(1)),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut pending: Vec<&NewTopic<'_>> = topics.iter().collect();
    while !pending.is_empty() {
        let results = admin.create_topics(pending.iter().copied(), &opts).await?;
        let mut again = Vec::new();
        for (t, r) in pending.iter().zip(results) {
            match r {
                Ok(_) => {}
                Err((_, RDKafkaErrorCode::TopicAlreadyExists))
                    if tokio::time::Instant::now() < deadline =>
                {
                    again.push(*t);
                }
                Err((name, e)) => anyhow::bail!("cannot create {name} on {}: {e}", s.brokers),
            }
        }
        if !again.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        pending = again;
    }
    Ok(Done {
        from,
        to,
        discarded,
    })
}

/// The partition count of `topic` and, per partition, the messages after
/// the group's committed offset.
fn unevaluated(
    cc: &rdkafka::ClientConfig,
    topic: &str,
) -> anyhow::Result<(usize, Vec<(i32, i64)>)> {
    let c: BaseConsumer = cc.create()?;
    let timeout = Duration::from_secs(10);
    let meta = c.fetch_metadata(Some(topic), timeout)?;
    let parts: Vec<i32> = meta
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        tpl.add_partition(topic, *p);
    }
    let committed = c.committed_offsets(tpl, timeout)?;
    let mut waiting = Vec::new();
    for p in &parts {
        let (low, high) = c.fetch_watermarks(topic, *p, timeout)?;
        let at = match committed.find_partition(topic, *p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o.max(low),
            _ => low,
        };
        if high > at {
            waiting.push((*p, high - at));
        }
    }
    Ok((parts.len(), waiting))
}
