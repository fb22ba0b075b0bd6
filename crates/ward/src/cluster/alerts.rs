//! Alerts across nodes: every alert a node saves (raised, re-fired,
//! acknowledged, assigned, commented, resolved, an SLA breach recorded),
//! every silence created or expired and every group's notification log
//! entry (what it notified last, and when) is produced to `<prefix>alerts`
//! (keyed by the alert's id, `silence/<id>`, `notify/<group key>`), and
//! every node applies that topic, in its order, to its local SQLite. So
//! the API of any node shows the same alerts, and an acknowledgement made
//! on one node reaches the node that notifies.
//!
//! A change is saved with a mark "unpublished" in the transaction that
//! saves it and produced from the store ([`publish`]: at the start, when a
//! change is saved, every second); the mark is cleared once the brokers
//! acknowledged it. A node killed before producing a change produces it
//! when it is back. Alert changes and notification log entries carry a
//! version (a hybrid clock and the node's name): every node keeps the
//! newest copy whatever order copies arrive in, and the versions held are
//! in the store, so reading the topic again at a start, or a change
//! produced twice, changes nothing.
//!
//! Only the owner of the alert's `<prefix>corr` partition (by the alert's
//! `tenant.id`) routes it: it alone sends its notifications, reminders and
//! escalations. Notification ids, and so the idempotency keys sent with
//! every delivery, come from what is notified (group, alerts, status, the
//! time of the previous notification). A node given partitions reads the
//! topic to its end before it routes or escalates any alert ([`apply`];
//! alerts saved meanwhile are routed then), so it holds
//! the former owner's notification log: it does not notify again what that
//! owner notified, notifies what changed under the key that owner would
//! have used, and reminds from that owner's time. The end is read only
//! after the handover grace ([`Settings::handover_grace`]): a broker may
//! give the partition before its former owner was told to let it go, and
//! that owner may still notify and log what it notified meanwhile. Left:
//! a log entry that reaches the brokers later than that (a former owner
//! stalled past the grace) lets the new owner notify that state once
//! more, under the same key when both held the same previous entry.
//!
//! ```text
//!  any node: change saved (+ unpublished mark) ─► <prefix>alerts (acks=all) ─► mark cleared
//!                                                        └─► every node applies it; the owner routes it
//! ```

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Outgoing, Owned, Producer, Settings};
use crate::alert::engine::{NOTIFY_KEY, Replicated, Version, notify_key};
use crate::alert::{Engine, engine::Replica};
use crate::detect::evaluate::TENANT_FIELD;
use crate::metrics::Metrics;
use ward_alert::alert::group::NotifiedState;
use ward_alert::alert::silence::Silence;

/// One `<prefix>alerts` message: an alert (key: its id), a silence (key:
/// `silence/` and its id) or a group's notification log entry (key:
/// `notify/` and the group key).
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
    /// What the group notified last.
    #[serde(default)]
    notified: Option<NotifiedState>,
    /// The version of the alert or notification log entry (with `node`,
    /// orders its changes the same on every node).
    #[serde(default)]
    version: i64,
}

const SILENCE_KEY: &str = "silence/";

/// Longest group key a notification log entry may carry.
const MAX_GROUP_KEY: usize = 16 * 1024;

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

/// The producer of this node's changes: cancel `stop` and await `task` at
/// the end of a graceful stop, so that changes saved until then reach the
/// brokers (what it could not produce stays saved and is produced at the
/// next start).
pub struct Publisher {
    pub task: tokio::task::JoinHandle<()>,
    pub stop: CancellationToken,
}

/// Joins alerting to the cluster and starts the producer of this node's
/// changes.
pub fn start(
    s: &Arc<Settings>,
    producer: &Arc<Producer>,
    owned: &Arc<Owned>,
    engine: &Arc<Engine>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Publisher> {
    let wake = Arc::new(tokio::sync::Notify::new());
    engine.join_cluster(Replica::new(
        Arc::clone(&wake),
        owner_test(s, owned),
        &s.node_id,
    ))?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(publish(
        Arc::clone(s),
        Arc::clone(producer),
        Arc::clone(engine),
        wake,
        Arc::clone(metrics),
        stop.clone(),
    ));
    Ok(Publisher { task, stop })
}

/// Changes produced per round.
const PUBLISH_BATCH: usize = 200;

/// Produces the changes saved here and not yet acknowledged by the brokers
/// (the store's `unpublished` table), oldest first, and clears them once
/// the brokers acknowledged them: at the start (what a killed node had
/// saved), when woken by a save, and every second. A failed produce is
/// retried (later changes wait behind it, so the order holds; a change
/// produced twice is harmless, its version decides). After `stop`, what
/// is saved is produced, then it ends.
async fn publish(
    s: Arc<Settings>,
    producer: Arc<Producer>,
    engine: Arc<Engine>,
    wake: Arc<tokio::sync::Notify>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let topic = s.alerts_topic();
    let mut wait = Duration::from_millis(200);
    loop {
        let batch = match engine.unpublished(PUBLISH_BATCH) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the alert changes to produce");
                Vec::new()
            }
        };
        if let Ok(n) = engine.unpublished_count() {
            metrics.set("ward_cluster_alert_changes_unpublished", &[], n as f64);
        }
        let Some(last) = batch.last().map(|(seq, _)| *seq) else {
            if stop.is_cancelled() {
                return;
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stop.cancelled() => {}
            }
            continue;
        };
        let records: Vec<(String, Vec<u8>)> = batch
            .into_iter()
            .filter_map(|(_, r)| r)
            .filter_map(|r| {
                let (key, record) = record_of(&s.node_id, r);
                match serde_json::to_vec(&record) {
                    Ok(p) => Some((key, p)),
                    Err(e) => {
                        tracing::error!(%key, error = %e, "alert change not serializable");
                        None
                    }
                }
            })
            .collect();
        let outgoing: Vec<Outgoing<'_>> = records
            .iter()
            .map(|(key, payload)| Outgoing {
                topic: &topic,
                partition: None,
                key: key.as_bytes(),
                payload,
            })
            .collect();
        match producer.send_all(&outgoing).await {
            Ok(()) => {
                wait = Duration::from_millis(200);
                if let Err(e) = engine.published(last) {
                    // Produced again later: harmless, the versions decide.
                    tracing::error!(error = %e, "produced alert changes not cleared");
                }
                metrics.add(
                    "ward_cluster_alert_changes_published_total",
                    &[],
                    records.len() as u64,
                );
            }
            Err(e) => {
                metrics.add("ward_cluster_alert_publish_failures_total", &[], 1);
                tracing::warn!(error = %e, "alert changes not produced; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The key and message of a saved change.
fn record_of(node: &str, r: Replicated) -> (String, Record) {
    let mut record = Record {
        node: node.to_owned(),
        finding: None,
        alert: None,
        silence: None,
        by: None,
        notified: None,
        version: 0,
    };
    let key = match r {
        Replicated::Alert {
            alert,
            finding,
            version,
        } => {
            let key = alert.id.clone();
            (record.alert, record.finding, record.version) = (Some(*alert), finding, version);
            key
        }
        Replicated::Silence { silence, by } => {
            let key = format!("{SILENCE_KEY}{}", silence.id);
            (record.silence, record.by) = (Some(silence), Some(by));
            key
        }
        Replicated::Notified {
            group,
            state,
            version,
        } => {
            (record.notified, record.version) = (Some(state), version);
            notify_key(&group)
        }
    };
    (key, record)
}

/// Applies `<prefix>alerts` from its beginning (the topic is compacted:
/// the newest state of each alert) until `stop`, and routes the firing
/// alerts of partitions this node is given (their reminders, escalations
/// and resolutions are its business from then on) once it has applied
/// every change produced before it was given them: the notification log
/// entries of the former owner included, so that it does not notify again
/// what that owner notified.
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
    let consumer = Arc::new(consumer);
    let mut tpl = TopicPartitionList::new();
    let assigned = (0..ALERTS_PARTITIONS)
        .try_for_each(|p| tpl.add_partition_offset(&topic, p, Offset::Beginning))
        .and_then(|()| consumer.assign(&tpl));
    if let Err(e) = assigned {
        tracing::error!(error = %e, "cannot read {topic}: alerts of other nodes are not seen here");
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    // The assignments of `<prefix>corr` routed so far.
    let mut routed = 0u64;
    // The next offset to apply, and the offset to reach before routing
    // (asked for once the handover grace after the assignment passed;
    // with when the assignment was seen and the assignment it routes).
    let mut next = 0i64;
    let mut catch_up: Option<(Option<i64>, Instant, u64)> = None;
    let grace = s.handover_grace();
    loop {
        tokio::select! {
            m = consumer.recv() => match m {
                Ok(m) => {
                    next = m.offset() + 1;
                    apply_one(&engine, &metrics, &topic, m.key(), m.payload());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "{topic} reader error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
            _ = tick.tick() => {
                let now = owned.corr_assignments.load(Ordering::SeqCst);
                if now != routed && catch_up.is_none_or(|(_, _, a)| a != now) {
                    engine.hold_routing();
                    catch_up = Some((None, Instant::now(), now));
                }
                // The brokers may give a partition to this node before its
                // former owner was told to let it go (tansu does, in a
                // rolling restart): that owner may still notify and log it.
                // The end is asked for once it had the grace to finish, so
                // that its log entries are read before anything is routed.
                if let Some((None, seen, assignment)) = catch_up
                    && seen.elapsed() >= grace
                {
                    catch_up = Some((Some(end_of(&consumer, &topic).await), seen, assignment));
                }
                if let Some((Some(end), seen, assignment)) = catch_up {
                    let late = seen.elapsed() > grace + CATCH_UP_LIMIT;
                    if next >= end || late {
                        if late {
                            tracing::warn!(%topic, next, end, "{topic} not read up to its end within {CATCH_UP_LIMIT:?}: routing the partitions given anyway");
                        }
                        engine.route_owned();
                        routed = assignment;
                        catch_up = None;
                    }
                }
            }
            () = stop.cancelled() => return,
        }
    }
}

/// How long a node given partitions waits (after the handover grace) to
/// have read `<prefix>alerts` up to its end before it routes their alerts
/// anyway.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(20);

/// The end of `<prefix>alerts` now (the offset its next message will
/// have); 0 when the brokers do not say (nothing to wait for).
async fn end_of(consumer: &Arc<StreamConsumer>, topic: &str) -> i64 {
    let (c, t) = (Arc::clone(consumer), topic.to_owned());
    let asked =
        tokio::task::spawn_blocking(move || c.fetch_watermarks(&t, 0, Duration::from_secs(5)))
            .await;
    match asked {
        Ok(Ok((_, high))) => high,
        Ok(Err(e)) => {
            tracing::warn!(%topic, error = %e, "cannot read the end of {topic}");
            0
        }
        Err(_) => 0,
    }
}

/// Partitions of `<prefix>alerts`: one, so every node applies every
/// change in the same order (alert changes are few).
pub const ALERTS_PARTITIONS: i32 = 1;

/// A checked `<prefix>alerts` message.
#[derive(Debug)]
enum Change {
    Alert {
        alert: Box<ward_alert::Alert>,
        finding: Option<String>,
        version: Version,
    },
    Silence {
        silence: Silence,
        by: String,
        node: String,
    },
    Notified {
        group: String,
        state: NotifiedState,
        version: Version,
    },
}

/// Reads one `<prefix>alerts` message: one alert under its id, one silence
/// under `silence/` and its id, or one notification log entry under
/// `notify/` and its group key; anything else is refused with the reason.
fn check(key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<Change, String> {
    let Some(payload) = payload.filter(|p| !p.is_empty()) else {
        return Err("empty message or tombstone".into());
    };
    let record: Record =
        serde_json::from_slice(payload).map_err(|e| format!("not an alert change: {e}"))?;
    if record.node.len() > 512 {
        return Err("node must be at most 512 bytes".into());
    }
    let node = record.node.clone();
    let version = (record.version, record.node);
    match (record.alert, record.silence, record.notified) {
        (Some(alert), None, None) => {
            if key != Some(alert.id.as_bytes()) {
                return Err(format!(
                    "key is not the alert's id {:?}",
                    alert.id.chars().take(80).collect::<String>()
                ));
            }
            if alert.id.is_empty()
                || alert.id.len() > 512
                || alert.id.starts_with(SILENCE_KEY)
                || alert.id.starts_with(NOTIFY_KEY)
            {
                return Err(
                    "alert id must be 1 to 512 bytes, not a silence's or a group's key".into(),
                );
            }
            if let Some(f) = &record.finding
                && (f.is_empty() || f.len() > 512)
            {
                return Err("finding id must be 1 to 512 bytes".into());
            }
            Ok(Change::Alert {
                alert: Box::new(alert),
                finding: record.finding,
                version,
            })
        }
        (None, Some(silence), None) => {
            let want = format!("{SILENCE_KEY}{}", silence.id);
            if key != Some(want.as_bytes()) || silence.id.is_empty() || silence.id.len() > 512 {
                return Err("key is not `silence/` and the silence's id (1 to 512 bytes)".into());
            }
            let by = record.by.unwrap_or_default();
            if by.len() > 512 {
                return Err("`by` must be at most 512 bytes".into());
            }
            Ok(Change::Silence { silence, by, node })
        }
        (None, None, Some(state)) => {
            let group = key
                .and_then(|k| k.strip_prefix(NOTIFY_KEY.as_bytes()))
                .and_then(|g| std::str::from_utf8(g).ok())
                .filter(|g| !g.is_empty() && g.len() <= MAX_GROUP_KEY)
                .ok_or_else(|| {
                    format!("key is not `notify/` and a group key (1 to {MAX_GROUP_KEY} bytes)")
                })?;
            if record.finding.is_some() || record.by.is_some() {
                return Err("a notification log entry has no finding and no `by`".into());
            }
            if version.0 <= 0 {
                return Err("a notification log entry needs a version".into());
            }
            if state
                .firing
                .iter()
                .chain(&state.resolved)
                .any(|id| id.is_empty() || id.len() > 512)
            {
                return Err("alert ids must be 1 to 512 bytes".into());
            }
            Ok(Change::Notified {
                group: group.to_owned(),
                state,
                version,
            })
        }
        _ => Err("not one alert, one silence or one notification log entry".into()),
    }
}

fn apply_one(
    engine: &Engine,
    metrics: &Metrics,
    topic: &str,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
) {
    let change = match check(key, payload) {
        Ok(c) => c,
        Err(why) => {
            metrics.add("ward_cluster_bad_messages_total", &[("topic", topic)], 1);
            tracing::warn!(%topic, reason = %why, "alert change skipped");
            return;
        }
    };
    let (applied, from) = match change {
        Change::Alert {
            alert,
            finding,
            version,
        } => {
            let from = version.1.clone();
            (
                engine.apply_remote(*alert, finding.as_deref(), version),
                from,
            )
        }
        Change::Silence { silence, by, node } => (engine.apply_remote_silence(silence, &by), node),
        Change::Notified {
            group,
            state,
            version,
        } => {
            let from = version.1.clone();
            (engine.apply_remote_notified(&group, &state, version), from)
        }
    };
    match applied {
        Ok(true) => metrics.add("ward_cluster_alert_changes_applied_total", &[], 1),
        Ok(false) => {}
        Err(e) => {
            metrics.add("ward_cluster_alert_apply_failures_total", &[], 1);
            tracing::error!(%from, error = %e, "alert change of another node not applied");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notified(version: i64) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "node": "n1",
            "notified": {"firing": ["a1"], "resolved": [], "status": "firing", "at": "2026-01-01T00:00:00Z"},
            "version": version,
        }))
        .unwrap()
    }

    use serde_json::json;

    #[test]
    fn a_notification_log_entry_is_read_under_its_group_key() {
        let key = br#"notify/r0:{alertname="Burst"}"#;
        match check(Some(key), Some(&notified(17))) {
            Ok(Change::Notified {
                group,
                state,
                version,
            }) => {
                assert_eq!(group, r#"r0:{alertname="Burst"}"#);
                assert!(state.firing.contains("a1"));
                assert_eq!(version, (17, "n1".to_owned()));
            }
            other => panic!("{other:?}"),
        }
        // What this node produces reads back the same.
        let (k, r) = record_of(
            "n2",
            Replicated::Notified {
                group: "g".into(),
                state: serde_json::from_value(json!({"firing": [], "resolved": ["a1"], "status": "resolved", "at": "2026-01-01T00:00:00Z"})).unwrap(),
                version: 5,
            },
        );
        let payload = serde_json::to_vec(&r).unwrap();
        assert!(matches!(
            check(Some(k.as_bytes()), Some(&payload)),
            Ok(Change::Notified { ref group, version: (5, ref n), .. }) if group == "g" && n == "n2"
        ));
    }

    #[test]
    fn bad_notification_log_entries_are_refused() {
        let refused = |key: &[u8], payload: &[u8]| {
            let r = check(Some(key), Some(payload));
            assert!(
                r.is_err(),
                "{:?} accepted: {r:?}",
                String::from_utf8_lossy(payload)
            );
        };
        // Not under `notify/`, no group key, a group key that is not UTF-8
        // or too long, no version.
        refused(b"a1", &notified(1));
        refused(b"silence/s1", &notified(1));
        refused(b"notify/", &notified(1));
        refused(b"notify/\xff\xfe", &notified(1));
        let long = format!("notify/{}", "g".repeat(MAX_GROUP_KEY + 1));
        refused(long.as_bytes(), &notified(1));
        refused(b"notify/g", &notified(0));
        refused(b"notify/g", &notified(-3));
        // An entry with an alert, a finding or `by`; an empty or too long
        // alert id; a field no node writes; a state that is not one.
        let with = |extra: serde_json::Value| {
            let mut v: serde_json::Value = serde_json::from_slice(&notified(1)).unwrap();
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            serde_json::to_vec(&v).unwrap()
        };
        refused(b"notify/g", &with(json!({"finding": "f1"})));
        refused(b"notify/g", &with(json!({"by": "bob"})));
        refused(b"notify/g", &with(json!({"silence": {"id": "s1"}})));
        refused(b"notify/g", &with(json!({"extra": 1})));
        refused(
            b"notify/g",
            &with(
                json!({"notified": {"firing": [""], "resolved": [], "status": "firing", "at": "2026-01-01T00:00:00Z"}}),
            ),
        );
        refused(
            b"notify/g",
            &with(
                json!({"notified": {"firing": ["x".repeat(513)], "resolved": [], "status": "firing", "at": "2026-01-01T00:00:00Z"}}),
            ),
        );
        refused(b"notify/g", &with(json!({"notified": {"firing": []}})));
        refused(b"notify/g", &with(json!({"notified": "firing"})));
        refused(b"notify/g", &with(json!({"node": "n".repeat(513)})));
        assert!(check(Some(b"notify/g"), None).is_err());
        assert!(check(Some(b"notify/g"), Some(b"")).is_err());
    }
}
