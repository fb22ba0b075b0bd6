//! What `ward cluster status` shows: the newest heartbeat of every node,
//! read from `<prefix>nodes`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use super::Settings;
use super::corr::{HEARTBEAT, Heartbeat};

/// Heartbeats read back (the newest per node, at most this many messages
/// from the end of the topic).
const LOOK_BACK: i64 = 2000;

/// A node is gone when its newest heartbeat is older than this many
/// heartbeat intervals.
const GONE_AFTER: u32 = 5;

/// The newest heartbeat of each node.
pub fn read(s: &Settings, timeout: Duration) -> anyhow::Result<BTreeMap<String, Heartbeat>> {
    let topic = s.nodes_topic();
    let c: BaseConsumer = s
        .reader()
        .create()
        .map_err(|e| anyhow::anyhow!("cannot create a Kafka client for {}: {e}", s.brokers))?;
    let (low, high) = c
        .fetch_watermarks(&topic, 0, timeout)
        .map_err(|e| anyhow::anyhow!("cannot read {topic} on {}: {e}", s.brokers))?;
    let mut out = BTreeMap::new();
    if high <= low {
        return Ok(out);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(low.max(high - LOOK_BACK)))?;
    c.assign(&tpl)?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                if let Some(hb) = m
                    .payload()
                    .and_then(|p| serde_json::from_slice::<Heartbeat>(p).ok())
                {
                    out.insert(hb.node.clone(), hb);
                }
                if m.offset() + 1 >= high {
                    return Ok(out);
                }
            }
            Some(Err(e)) => anyhow::bail!("reading {topic}: {e}"),
            None => {}
        }
    }
    anyhow::bail!("{topic} not read to its end within {timeout:?}")
}

/// The messages behind over partitions; `?` when a partition's position
/// is not known yet.
fn lag(m: &BTreeMap<i32, i64>) -> String {
    let known: i64 = m.values().filter(|v| **v >= 0).sum();
    if m.values().any(|v| *v < 0) {
        format!("{known}+?")
    } else {
        known.to_string()
    }
}

/// The table `ward cluster status` prints.
pub fn render(nodes: &BTreeMap<String, Heartbeat>, now_ms: i64) -> String {
    use std::fmt::Write as _;
    let gone_ms = i64::try_from((HEARTBEAT * GONE_AFTER).as_millis()).unwrap_or(i64::MAX);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<20} {:<6} {:>6} {:<24} {:>9} {:<24} {:>9} {:>12} {:>10} {:>14}",
        "NODE",
        "STATE",
        "SEEN",
        "EVENTS PARTITIONS",
        "LAG",
        "CORR PARTITIONS",
        "LAG",
        "SNAPSHOT AGE",
        "REBALANCES",
        "UPLOAD LAG"
    );
    for hb in nodes.values() {
        let age = (now_ms - hb.time_ms).max(0);
        let state = if age > gone_ms { "gone" } else { "up" };
        let list = |m: &BTreeMap<i32, i64>| {
            let v: Vec<String> = m.keys().map(ToString::to_string).collect();
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(",")
            }
        };
        let snap = hb.snapshot_age_s.values().copied().max();
        let _ = writeln!(
            t,
            "{:<20} {:<6} {:>5}s {:<24} {:>9} {:<24} {:>9} {:>12} {:>10} {:>14}",
            hb.node,
            state,
            age / 1000,
            list(&hb.events_lag),
            lag(&hb.events_lag),
            list(&hb.corr_lag),
            lag(&hb.corr_lag),
            snap.map_or("-".to_owned(), |s| if s < 0 {
                "none".into()
            } else {
                format!("{s}s")
            }),
            hb.rebalances,
            hb.segments_lag
                .map_or("-".to_owned(), |(n, age)| format!("{n} seg/{age}s")),
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_node_is_shown_gone() {
        let hb = |node: &str, time_ms: i64| Heartbeat {
            node: node.into(),
            time_ms,
            events_lag: BTreeMap::from([(0, 3), (2, 4)]),
            corr_lag: BTreeMap::from([(5, 0)]),
            snapshot_age_s: BTreeMap::from([(5, 2)]),
            rebalances: 3,
            segments_lag: (node == "a").then_some((2, 40)),
        };
        let nodes = BTreeMap::from([
            ("a".to_owned(), hb("a", 100_000)),
            ("b".to_owned(), hb("b", 10_000)),
        ]);
        let t = render(&nodes, 101_000);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(
            lines[1].starts_with("a ") && lines[1].contains(" up "),
            "{t}"
        );
        assert!(lines[1].contains("0,2") && lines[1].contains(" 7 "), "{t}");
        assert!(lines[1].ends_with(" 2 seg/40s"), "{t}");
        assert!(lines[2].ends_with(" -"), "{t}");
        assert!(
            lines[2].starts_with("b ") && lines[2].contains(" gone "),
            "{t}"
        );
    }
}
