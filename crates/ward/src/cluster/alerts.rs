//! Alerts across nodes: every alert a node saves (raised, re-fired,
//! acknowledged, assigned, commented, resolved, an SLA breach recorded) is
//! produced to `<prefix>alerts` keyed by the alert's id, and every node
//! applies that topic, in its order, to its local SQLite. So the API of
//! any node shows the same alerts, and an acknowledgement made on one node
//! reaches the node that notifies.
//!
//! Only the owner of the alert's `<prefix>corr` partition (by the alert's
//! `tenant.id`) routes it: it alone sends its notifications, reminders and
//! escalations. Notification ids, and so the idempotency keys sent with
//! every delivery, come from what is notified (group, alerts, status, the
//! previous notification), so a node that takes a partition over and
//! notifies what the former owner had notified sends the same key.
//!
//! ```text
//!  any node: alert saved ─► <prefix>alerts (key alert id, acks=all) ─► every node applies it
//!                                                                    └─► the owner routes it
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Outgoing, Owned, Producer, Settings};
use crate::alert::engine::Replicated;
use crate::alert::{Engine, engine::Replica};
use crate::detect::evaluate::TENANT_FIELD;
use crate::metrics::Metrics;
use ward_alert::alert::silence::Silence;

/// One `<prefix>alerts` message: an alert (key: its id) or a silence
/// (key: `silence/` and its id).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    /// The node that saved it (for logs).
    node: String,
    /// The finding newly applied to the alert, if any: a node that later
    /// evaluates the same finding (a replay after a takeover) knows it.
    #[serde(default)]
    finding: Option<String>,
    #[serde(default)]
    alert: Option<ward_alert::Alert>,
    #[serde(default)]
    silence: Option<Silence>,
    /// Who created or expired the silence.
    #[serde(default)]
    by: Option<String>,
    /// The alert's version (with `node`, orders its changes the same on
    /// every node).
    #[serde(default)]
    version: i64,
}

const SILENCE_KEY: &str = "silence/";

/// Which alerts this node notifies for: those whose tenant's `<prefix>corr`
/// partition it owns now.
pub fn owner_test(
    s: &Settings,
    owned: &Arc<Owned>,
) -> Box<dyn Fn(&ward_alert::Alert) -> bool + Send + Sync> {
    let (owned, partitions) = (Arc::clone(owned), s.corr_partitions);
    Box::new(move |a| {
        let p = super::corr_partition(tenant_of(a), partitions);
        owned.corr.lock().contains_key(&p)
    })
}

fn tenant_of(a: &ward_alert::Alert) -> &str {
    a.labels.get(TENANT_FIELD).map_or("default", String::as_str)
}

/// The producer of this node's alert changes: cancel `stop` and await
/// `task` at the end of a graceful stop, so that changes saved until then
/// reach the brokers.
pub struct Publisher {
    pub task: tokio::task::JoinHandle<()>,
    pub stop: CancellationToken,
}

/// Joins alerting to the cluster and starts the producer of this node's
/// alert changes.
pub fn start(
    s: &Arc<Settings>,
    producer: &Arc<Producer>,
    owned: &Arc<Owned>,
    engine: &Engine,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Publisher> {
    let (tx, rx) = mpsc::channel(crate::alert::engine::REPLICA_CAPACITY);
    engine.join_cluster(Replica::new(tx, owner_test(s, owned), &s.node_id))?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(publish(
        Arc::clone(s),
        Arc::clone(producer),
        rx,
        Arc::clone(metrics),
        stop.clone(),
    ));
    Ok(Publisher { task, stop })
}

/// Produces each saved alert in the order saved; a failed produce is
/// retried (later changes wait behind it, so the order holds). After
/// `stop`, what is waiting is produced, then it ends.
async fn publish(
    s: Arc<Settings>,
    producer: Arc<Producer>,
    mut rx: mpsc::Receiver<Replicated>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let topic = s.alerts_topic();
    loop {
        let next = tokio::select! {
            biased;
            r = rx.recv() => r,
            () = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(r) = next else {
            return;
        };
        let (key, record) = match r {
            Replicated::Alert {
                alert,
                finding,
                version,
            } => (
                alert.id.clone(),
                Record {
                    node: s.node_id.clone(),
                    finding,
                    alert: Some(*alert),
                    silence: None,
                    by: None,
                    version,
                },
            ),
            Replicated::Silence { silence, by } => (
                format!("{SILENCE_KEY}{}", silence.id),
                Record {
                    node: s.node_id.clone(),
                    finding: None,
                    alert: None,
                    silence: Some(silence),
                    by: Some(by),
                    version: 0,
                },
            ),
        };
        let payload = match serde_json::to_vec(&record) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(%key, error = %e, "alert change not serializable");
                continue;
            }
        };
        let mut wait = Duration::from_millis(200);
        loop {
            let sent = producer
                .send_all(&[Outgoing {
                    topic: &topic,
                    partition: None,
                    key: key.as_bytes(),
                    payload: &payload,
                }])
                .await;
            match sent {
                Ok(()) => break,
                Err(e) => {
                    metrics.add("ward_cluster_alert_publish_failures_total", &[], 1);
                    tracing::warn!(%key, error = %e, "alert change not produced; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        metrics.add("ward_cluster_alert_changes_published_total", &[], 1);
    }
}

/// Applies `<prefix>alerts` from its beginning (the topic is compacted:
/// the newest state of each alert) until `stop`, and routes the firing
/// alerts of partitions this node is given (their reminders, escalations
/// and resolutions are its business from then on).
pub async fn apply(
    s: Arc<Settings>,
    engine: Arc<Engine>,
    owned: Arc<Owned>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let topic = s.alerts_topic();
    let consumer: StreamConsumer = match s.reader().create() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot create the {topic} reader: alerts of other nodes are not seen here");
            return;
        }
    };
    let mut tpl = TopicPartitionList::new();
    let assigned = (0..ALERTS_PARTITIONS)
        .try_for_each(|p| tpl.add_partition_offset(&topic, p, Offset::Beginning))
        .and_then(|()| consumer.assign(&tpl));
    if let Err(e) = assigned {
        tracing::error!(error = %e, "cannot read {topic}: alerts of other nodes are not seen here");
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut routed: BTreeSet<i32> = BTreeSet::new();
    loop {
        tokio::select! {
            m = consumer.recv() => match m {
                Ok(m) => apply_one(&engine, &metrics, &topic, m.key(), m.payload()),
                Err(e) => {
                    tracing::warn!(error = %e, "{topic} reader error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
            _ = tick.tick() => {
                let now: BTreeSet<i32> = owned.corr.lock().keys().copied().collect();
                if now.difference(&routed).next().is_some() {
                    engine.route_owned();
                }
                routed = now;
            }
            () = stop.cancelled() => return,
        }
    }
}

/// Partitions of `<prefix>alerts`: one, so every node applies every
/// change in the same order (alert changes are few).
pub const ALERTS_PARTITIONS: i32 = 1;

fn apply_one(
    engine: &Engine,
    metrics: &Metrics,
    topic: &str,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
) {
    let bad = |why: String| {
        metrics.add("ward_cluster_bad_messages_total", &[("topic", topic)], 1);
        tracing::warn!(%topic, reason = %why, "alert change skipped");
    };
    let Some(payload) = payload.filter(|p| !p.is_empty()) else {
        return bad("empty message or tombstone".into());
    };
    let record: Record = match serde_json::from_slice(payload) {
        Ok(r) => r,
        Err(e) => return bad(format!("not an alert change: {e}")),
    };
    let applied = match (record.alert, record.silence) {
        (Some(alert), None) => {
            if key != Some(alert.id.as_bytes()) {
                return bad(format!(
                    "key is not the alert's id {:?}",
                    alert.id.chars().take(80).collect::<String>()
                ));
            }
            if alert.id.is_empty() || alert.id.len() > 512 || alert.id.starts_with(SILENCE_KEY) {
                return bad("alert id must be 1 to 512 bytes, not a silence's key".into());
            }
            if let Some(f) = &record.finding
                && (f.is_empty() || f.len() > 512)
            {
                return bad("finding id must be 1 to 512 bytes".into());
            }
            let version = (record.version, record.node.clone());
            engine.apply_remote(alert, record.finding.as_deref(), version)
        }
        (None, Some(silence)) => {
            let want = format!("{SILENCE_KEY}{}", silence.id);
            if key != Some(want.as_bytes()) || silence.id.is_empty() || silence.id.len() > 512 {
                return bad("key is not `silence/` and the silence's id (1 to 512 bytes)".into());
            }
            let by = record.by.unwrap_or_default();
            if by.len() > 512 {
                return bad("`by` must be at most 512 bytes".into());
            }
            engine.apply_remote_silence(silence, &by)
        }
        _ => return bad("neither one alert nor one silence".into()),
    };
    match applied {
        Ok(true) => metrics.add("ward_cluster_alert_changes_applied_total", &[], 1),
        Ok(false) => {}
        Err(e) => {
            metrics.add("ward_cluster_alert_apply_failures_total", &[], 1);
            tracing::error!(from = %record.node, error = %e, "alert change of another node not applied");
        }
    }
}
