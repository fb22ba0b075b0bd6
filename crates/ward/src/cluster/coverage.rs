//! Coverage across the cluster: each node counts the log sources of the
//! events its `<prefix>events` consumer takes (its share of every node's
//! ingest), publishes its counts to `<prefix>coverage` (compacted, keyed
//! by node id) every [`EVERY`] when they changed, and reads every other
//! node's newest counts back, so that `ward rules coverage`,
//! `GET /api/v1/rules/coverage` and `/metrics` on any node report the
//! whole cluster's data, not the node's share.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use tokio_util::sync::CancellationToken;

use super::{Outgoing, Producer, Settings};
use crate::detect::Progress;
use crate::detect::coverage::Share;
use crate::metrics::Metrics;

/// Between two publications of this node's counts.
pub const EVERY: Duration = Duration::from_secs(5);

/// Largest share read (a node's bounded share is well under it).
const MAX_MESSAGE: usize = 4 << 20;

/// Publishes this node's counts every [`EVERY`] while they change, and
/// once more when Ward stops.
pub async fn publish(
    settings: Arc<Settings>,
    producer: Arc<Producer>,
    progress: Arc<Progress>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let topic = settings.coverage_topic();
    let mut last: Option<Share> = None;
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(EVERY) => false,
            () = stop.cancelled() => true,
        };
        let share = progress.coverage.share(&settings.node_id);
        if last.as_ref() != Some(&share) {
            match fitted(share.clone()) {
                Ok(bytes) => {
                    let sent = producer
                        .send_all(&[Outgoing {
                            topic: &topic,
                            partition: Some(0),
                            key: settings.node_id.as_bytes(),
                            payload: &bytes,
                        }])
                        .await;
                    match sent {
                        Ok(()) => {
                            metrics.add("ward_cluster_coverage_published_total", &[], 1);
                            last = Some(share);
                        }
                        Err(e) => {
                            tracing::warn!(topic = %topic, error = %e, "coverage counts not published; retrying");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "coverage counts not serialized"),
            }
        }
        if stopping {
            return;
        }
    }
}

/// Largest share published: inside a broker's default message size.
const MAX_PUBLISHED: usize = 900 << 10;

/// A share serialized within [`MAX_PUBLISHED`] bytes: without its
/// examples, then with fewer (oldest) counts, when it is larger.
fn fitted(mut share: Share) -> serde_json::Result<Vec<u8>> {
    loop {
        let bytes = serde_json::to_vec(&share)?;
        if bytes.len() <= MAX_PUBLISHED {
            return Ok(bytes);
        }
        if share.unseen.iter().any(|u| !u.examples.is_empty()) {
            for u in &mut share.unseen {
                u.examples.clear();
            }
        } else if share.seen.len() > 1 {
            share.seen.truncate(share.seen.len() / 2);
            share.unseen.truncate(share.unseen.len() / 2);
        } else {
            return Ok(bytes);
        }
    }
}

/// A reader of `<prefix>coverage` from its beginning, assigned; [`Follower::run`]
/// hands every other node's newest share to this node's coverage.
pub struct Follower {
    consumer: BaseConsumer,
    topic: String,
    node: String,
    progress: Arc<Progress>,
    metrics: Arc<Metrics>,
}

/// Opens the reader; the topology runs it on a thread of its own.
pub fn follow(
    settings: &Settings,
    progress: Arc<Progress>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Follower> {
    let topic = settings.coverage_topic();
    let consumer = super::follower(settings, &topic)?;
    Ok(Follower {
        consumer,
        topic,
        node: settings.node_id.clone(),
        progress,
        metrics,
    })
}

/// A share read from `<prefix>coverage` under `key`: this node's own is
/// skipped (`Ok(None)`), anything but a share of the node its key names
/// is refused with why.
pub fn read(key: &[u8], payload: Option<&[u8]>, own: &str) -> Result<Option<Share>, String> {
    let key = std::str::from_utf8(key).map_err(|_| "a key that is not UTF-8".to_owned())?;
    let Some(payload) = payload else {
        return Err("a tombstone".into());
    };
    if payload.len() > MAX_MESSAGE {
        return Err(format!("{} bytes, more than a share has", payload.len()));
    }
    let share: Share =
        serde_json::from_slice(payload).map_err(|e| format!("not coverage counts: {e}"))?;
    if share.node != key {
        return Err(format!(
            "counts of node {:?} under the key {key:?}",
            share.node
        ));
    }
    Ok((share.node != own).then_some(share))
}

impl Follower {
    /// Applies shares until `stop`. Messages that are not a node's share
    /// under its own key are counted
    /// (`ward_cluster_bad_messages_total{topic}`), logged and skipped.
    pub fn run(self, stop: &CancellationToken) {
        super::follow_records(
            &self.consumer,
            &self.topic,
            "a node's coverage counts",
            &self.metrics,
            stop,
            |key, payload| {
                read(key, payload, &self.node)?
                    .map_or(Ok(()), |s| self.progress.coverage.set_peer(s))
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::coverage::{SharedCount, SharedUnseen};

    fn share(node: &str) -> Share {
        Share {
            node: node.to_owned(),
            started_ms: 1,
            seen: vec![SharedCount {
                tenant: "acme".into(),
                logsource: "windows/-/process_creation".into(),
                events: 3,
                last_ms: 5,
            }],
            unseen: vec![SharedUnseen {
                tenant: "acme".into(),
                events: 1,
                last_ms: 5,
                examples: Vec::new(),
            }],
        }
    }

    #[test]
    fn a_large_share_is_cut_to_fit_a_message() {
        let mut big = share("n1");
        big.seen = (0..20_000)
            .map(|i| SharedCount {
                tenant: format!("tenant-{i:05}-{}", "x".repeat(40)),
                logsource: "windows/-/process_creation".into(),
                events: 1,
                last_ms: i64::from(i),
            })
            .collect();
        let bytes = fitted(big.clone()).unwrap();
        assert!(bytes.len() <= MAX_PUBLISHED, "{}", bytes.len());
        let back: Share = serde_json::from_slice(&bytes).unwrap();
        assert!(!back.seen.is_empty() && back.seen.len() < big.seen.len());
        // The newest counts are kept (a share lists them newest first).
        assert_eq!(back.seen[0], big.seen[0]);
        let small = share("n1");
        assert_eq!(
            fitted(small.clone()).unwrap(),
            serde_json::to_vec(&small).unwrap()
        );
    }

    #[test]
    fn a_share_must_be_another_node_s_under_its_own_key() {
        let bytes = serde_json::to_vec(&share("n1")).unwrap();
        assert_eq!(read(b"n1", Some(&bytes), "n0"), Ok(Some(share("n1"))));
        assert_eq!(read(b"n1", Some(&bytes), "n1"), Ok(None), "its own");
        let err = |key: &[u8], payload: Option<&[u8]>| read(key, payload, "n0").unwrap_err();
        assert!(err(b"n2", Some(&bytes)).contains("under the key"));
        assert!(err(b"n1", None).contains("tombstone"));
        assert!(err(b"n1", Some(b"[1]")).contains("not coverage counts"));
        assert!(err(b"\xff", Some(&bytes)).contains("UTF-8"));
        let mut extra: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        extra["values"] = serde_json::json!(["a secret"]);
        assert!(err(b"n1", Some(extra.to_string().as_bytes())).contains("unknown field"));
        assert!(err(b"n1", Some(&vec![b' '; MAX_MESSAGE + 1])).contains("bytes"));
    }
}
