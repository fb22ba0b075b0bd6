//! A Ward cluster on Kafka with real parts: a `tansu` broker on loopback
//! and three `ward serve` processes. Every acknowledged event is stored
//! once across the nodes; the correlation alerts of a stream spread over
//! all nodes' inputs are those one node raises; a node killed (SIGKILL)
//! in the middle of the windows loses and duplicates nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Ward, s};
use crate::kafka::Broker;

const FAILED: &str = "0c1a5e3e-7d2b-4f43-9a1e-5b0c3a9d1001";
const BURST: &str = "0c1a5e3e-7d2b-4f43-9a1e-5b0c3a9d1002";

/// A base rule and a correlation: four or more failed logins of one user
/// within ten minutes.
fn rules() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("burst.yml"),
        format!(
            "title: Failed login\nid: {FAILED}\nname: failed_login\nlogsource:\n    category: authentication\n\
             detection:\n    sel:\n        event.action: login\n        event.outcome: failure\n    condition: sel\nlevel: low\n---\n\
             title: Burst of failed logins\nid: {BURST}\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n\
             \x20   group-by: [user.name]\n    timespan: 10m\n    condition:\n        gte: 4\nlevel: high\n"
        ),
    )
    .unwrap();
    dir
}

/// Users × `per_user` failed logins, 20 s apart, two hours ago; user `u{i}`
/// with i % 4 == 3 stays under the threshold (3 events).
fn stream(users: usize, per_user: usize) -> Vec<Value> {
    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    let base = base.as_second() / 600 * 600; // the start of a 10-minute window
    let mut out = Vec::new();
    for k in 0..per_user {
        for u in 0..users {
            if u % 4 == 3 && k >= 3 {
                continue;
            }
            let t = jiff::Timestamp::from_second(base + 20 * k as i64 + u as i64).unwrap();
            out.push(json!({
                "@timestamp": t.to_string(),
                "event": {"category": "authentication", "action": "login", "outcome": "failure"},
                "user": {"name": format!("u{u}")},
                "service": {"name": "cluster-test"},
                "message": format!("login failed for u{u} attempt {k}"),
                "labels": {"seq": format!("{u}-{k}")},
            }));
        }
    }
    out
}

/// Ingest sources: `<prefix>events` is keyed by tenant and source, so
/// several sources spread the stream over the partitions.
const SOURCES: usize = 12;

fn token(j: usize) -> String {
    format!("cluster-source-{j:02}-0123456789abcdef")
}

fn cluster_config(rules: &std::path::Path, node: &str, brokers: &str, prefix: &str) -> String {
    let sources: String = (0..SOURCES)
        .map(|j| {
            format!(
                "[[sources]]\nname = \"app-{j}\"\ntoken = \"{}\"\n",
                token(j)
            )
        })
        .collect();
    sources
        + &format!(
            "[detect]\nbuiltin_rules = false\nrules = [\"{}\"]\n\
         [cluster]\nenabled = true\nnode_id = \"{node}\"\nbrokers = \"{brokers}\"\ntopic_prefix = \"{prefix}\"\n\
         events_partitions = 6\ncorr_partitions = 6\nsnapshot_interval = \"300ms\"\nsession_timeout = \"6s\"\n",
            rules.display()
        )
}

/// Sends each event to the next node in turn, one request each, as the
/// next source (`tokens`; none: the default token); every request must be
/// acknowledged.
fn send_spread(nodes: &[&Ward], events: &[Value], tokens: bool) {
    for (i, e) in events.iter().enumerate() {
        let w = nodes[i % nodes.len()];
        let body = format!("{e}\n");
        let (status, answer) = if tokens {
            w.post_as(
                &token(i % SOURCES),
                "/api/v1/ingest",
                "application/x-ndjson",
                body,
            )
        } else {
            w.post("/api/v1/ingest", "application/x-ndjson", body)
        };
        assert_eq!(status, 200, "node {} refused: {answer}", i % nodes.len());
    }
}

/// `labels.seq` → how many copies are stored on each node.
fn stored(nodes: &[&Ward]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for w in nodes {
        for e in w.search("service.name:cluster-test") {
            *out.entry(s(&e, "labels.seq").to_owned()).or_insert(0) += 1;
        }
    }
    out
}

/// The correlation alerts of a node: (group, window start, value). The
/// time of the event that completed a window (`last_seen`) depends on the
/// order concurrent senders' events arrive in, on one node as on several.
fn bursts(w: &Ward) -> Vec<(String, String, String)> {
    burst_alerts(w)
        .iter()
        .map(|a| {
            (
                a["group_key"].to_string(),
                s(a, "first_seen").to_owned(),
                a["value"].to_string(),
            )
        })
        .collect()
}

/// The correlation alerts of a node as `ward alerts list` shows them.
fn burst_alerts(w: &Ward) -> Vec<Value> {
    let out = w.cli(&["alerts", "list", "--format", "json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let list = v
        .as_array()
        .cloned()
        .or_else(|| v["alerts"].as_array().cloned())
        .unwrap_or_default();
    list.into_iter().filter(|a| a["rule_id"] == BURST).collect()
}

/// What one node raises for the stream.
fn reference(rules: &std::path::Path, events: &[Value]) -> BTreeSet<(String, String, String)> {
    let config = format!(
        "[detect]\nbuiltin_rules = false\nrules = [\"{}\"]\n",
        rules.display()
    );
    let w = Ward::start_with(Some(&config), &[]);
    send_spread(&[&w], events, false);
    let want = events
        .iter()
        .map(|e| e["user"]["name"].as_str().unwrap())
        .collect::<BTreeSet<_>>()
        .len();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = bursts(&w);
        // Users with 4 or more events: three of every four.
        if got.len() >= want - want / 4 || Instant::now() > deadline {
            return got.into_iter().collect();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until every node reports through `ward cluster status` and each
/// owns some `events` partitions (the group is settled).
fn settled(nodes: &[&Ward], config: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = nodes[0].cli(
            &["cluster", "status", "--config", config.to_str().unwrap()],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let rows: Vec<&str> = text
            .lines()
            .skip(1)
            .filter(|l| l.contains(" up "))
            .collect();
        if out.status.success()
            && rows.len() == nodes.len()
            && rows.iter().all(|r| {
                let cols: Vec<&str> = r.split_whitespace().collect();
                cols.len() > 5 && cols[3] != "-" && cols[5] != "-"
            })
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not settle:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn wait_for_bursts(
    nodes: &[&Ward],
    want: &BTreeSet<(String, String, String)>,
    within: Duration,
) -> Vec<(String, String, String)> {
    let deadline = Instant::now() + within;
    loop {
        let all: Vec<_> = nodes.iter().flat_map(|w| bursts(w)).collect();
        let distinct: BTreeSet<_> = all.iter().cloned().collect();
        if &distinct == want || Instant::now() > deadline {
            return all;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn three_nodes(
    broker: &Broker,
    rules: &std::path::Path,
    prefix: &str,
) -> (Vec<Ward>, std::path::PathBuf) {
    three_nodes_with(broker, rules, prefix, "", &[])
}

/// Three nodes with `extra` configuration and `env`.
fn three_nodes_with(
    broker: &Broker,
    rules: &std::path::Path,
    prefix: &str,
    extra: &str,
    env: &[(&str, &str)],
) -> (Vec<Ward>, std::path::PathBuf) {
    three_nodes_each(broker, rules, prefix, |_| extra, env)
}

/// Three nodes, node `i` with `extra(i)` configuration, all with `env`.
fn three_nodes_each<'a>(
    broker: &Broker,
    rules: &std::path::Path,
    prefix: &str,
    extra: impl Fn(usize) -> &'a str,
    env: &[(&str, &str)],
) -> (Vec<Ward>, std::path::PathBuf) {
    let nodes: Vec<Ward> = (0..3)
        .map(|i| {
            Ward::start_with(
                Some(&(cluster_config(rules, &format!("n{i}"), &broker.addr, prefix) + extra(i))),
                env,
            )
        })
        .collect();
    let config = rules.join(format!("{prefix}status.toml"));
    std::fs::write(
        &config,
        cluster_config(rules, "status", &broker.addr, prefix),
    )
    .unwrap();
    (nodes, config)
}

/// Waits until every node shows exactly the correlation alerts `want`,
/// each once (alerts reach every node through `<prefix>alerts`).
fn everywhere(nodes: &[&Ward], want: &BTreeSet<(String, String, String)>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let per_node: Vec<Vec<_>> = nodes.iter().map(|w| bursts(w)).collect();
        if per_node
            .iter()
            .all(|b| b.len() == want.len() && b.iter().cloned().collect::<BTreeSet<_>>() == *want)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "every node shows the cluster's alerts, each once: want {want:?}, got {per_node:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The first three attempts of every user (no window complete yet) and
/// the rest.
fn halves(events: &[Value]) -> (Vec<Value>, Vec<Value>) {
    events.iter().cloned().partition(|e| {
        e["labels"]["seq"]
            .as_str()
            .unwrap()
            .ends_with(|c: char| c < '3')
    })
}

/// Waits until the nodes together evaluated `n` events for the stateful
/// rules, then past a snapshot interval; returns the node that owns the
/// default tenant's `<prefix>corr` partition.
fn evaluated(nodes: &[&Ward], n: usize, prefix: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts: Vec<f64> = nodes
            .iter()
            .map(|w| metric_sum(&w.metrics(), "ward_detect_events_total"))
            .collect();
        if counts.iter().sum::<f64>() >= n as f64 {
            std::thread::sleep(Duration::from_secs(2));
            break;
        }
        assert!(Instant::now() < deadline, "not evaluated: {counts:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let owners = corr_owners(nodes, prefix);
    assert_eq!(
        owners.len(),
        1,
        "one owner of the default tenant's {prefix}corr partition: {owners:?}"
    );
    owners[0]
}

/// The nodes that own the default tenant's `<prefix>corr` partition.
fn corr_owners(nodes: &[&Ward], prefix: &str) -> Vec<usize> {
    let p = ward::cluster::corr_partition("default", 6);
    let (topic, part) = (
        format!("topic=\"{prefix}corr\""),
        format!("partition=\"{p}\""),
    );
    (0..nodes.len())
        .filter(|i| {
            nodes[*i].metrics().lines().any(|l| {
                l.starts_with("ward_cluster_partition_owned{")
                    && l.contains(&topic)
                    && l.contains(&part)
                    && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) == Some(1.0)
            })
        })
        .collect()
}

/// Every event stored across the nodes: exactly once (`once`), or at
/// least once with at most a tenth stored twice. A node that stops or dies
/// between its fsync and its offset commit leaves that batch to the next
/// owner, which stores it again (and tansu's rebalance does not wait for a
/// member busy with a batch).
fn stored_all(nodes: &[&Ward], events: &[Value], once: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let copies = loop {
        let c = stored(nodes);
        if c.len() >= events.len() || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        copies.len(),
        events.len(),
        "every acknowledged event stored"
    );
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    if once {
        assert!(twice.is_empty(), "stored once: {twice:?}");
    } else {
        eprintln!("stored again after the membership change: {twice:?}");
        assert!(
            twice.iter().all(|(_, n)| **n == 2) && twice.len() <= events.len() / 10,
            "at most a batch in flight is stored twice: {twice:?}"
        );
    }
}

#[test]
fn a_cluster_raises_the_alerts_of_one_node_and_hands_windows_over() {
    let broker = Broker::start();
    let rules = rules();
    let events = stream(8, 6);
    let want = reference(rules.path(), &events);
    assert_eq!(
        want.len(),
        6,
        "the reference raises a burst for 6 of 8 users: {want:?}"
    );
    let (first, rest) = halves(&events);

    let (mut nodes, config) = three_nodes(&broker, rules.path(), "t1.");
    let owner = {
        let refs: Vec<&Ward> = nodes.iter().collect();
        let status = settled(&refs, &config);
        send_spread(&refs, &first, true);
        let owner = evaluated(&refs, first.len(), "t1.");
        stored_all(&refs, &first, true);
        assert!(
            refs.iter().all(|w| bursts(w).is_empty()),
            "no window complete yet\n{status}"
        );
        windows_spread(&refs, 8);
        coverage_everywhere(&refs, first.len());
        let per_node: Vec<usize> = refs
            .iter()
            .map(|w| w.search("service.name:cluster-test").len())
            .collect();
        assert!(
            per_node.iter().filter(|n| **n > 0).count() >= 2,
            "stored spread over the nodes: {per_node:?}\n{status}"
        );
        // The Sigma rules ran where the events were consumed, on every
        // node that stored some; the owner only concluded them.
        let (consumer, owner_side, refused) = matched_where(&refs);
        assert!(
            consumer >= first.len() as f64 && owner_side == 0.0 && refused == 0.0,
            "matched where consumed: {consumer}, by the owner: {owner_side}, refused: {refused}"
        );
        let matching = refs
            .iter()
            .filter(|w| {
                metric_labelled(
                    &w.metrics(),
                    "ward_stage_cpu_nanoseconds_total",
                    "stage=\"detect_consumed\"",
                ) > 0.0
            })
            .count();
        assert!(matching >= 2, "rules matched on {matching} nodes\n{status}");
        let metrics = refs[owner].metrics();
        assert!(
            metrics.contains("ward_cluster_partition_owned"),
            "per-partition metrics"
        );
        assert!(
            metrics.contains("ward_cluster_rebalances_total"),
            "rebalances counted"
        );
        owner
    };
    // The node holding the open windows stops cleanly (a rolling restart):
    // it snapshots, leaves the groups, and another node takes the windows.
    assert!(nodes[owner].terminate().success());
    let stopped = Instant::now();
    let alive = others(&nodes, owner);
    send_spread(&alive, &rest, true);
    let all = wait_for_bursts(&alive, &want, Duration::from_secs(90));
    eprintln!(
        "windows complete on another node {:?} after the owner stopped",
        stopped.elapsed()
    );
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(
        distinct,
        want,
        "the cluster's alerts are one node's\n{}",
        alive[0].log()
    );
    everywhere(&alive, &want);
    assert!(
        alive
            .iter()
            .any(|w| w.metrics().contains("ward_cluster_restore_seconds")),
        "the new owner restored the windows from the snapshot"
    );
    nodes[owner].spawn();
    let refs: Vec<&Ward> = nodes.iter().collect();
    stored_all(&refs, &events, false);
}

#[test]
fn a_node_killed_mid_window_loses_and_duplicates_nothing() {
    let broker = Broker::start();
    let rules = rules();
    let events = stream(8, 6);
    let want = reference(rules.path(), &events);
    let (first, rest) = halves(&events);
    // Node n0 matches no rule where it consumes (as a node of an older
    // version would): the owner matches its copies wholly, the others'
    // with their headers, and the alerts are still one node's.
    let (mut nodes, config) = three_nodes_each(
        &broker,
        rules.path(),
        "t2.",
        |i| {
            if i == 0 {
                "match_where_consumed = false\n"
            } else {
                ""
            }
        },
        &[],
    );
    let owner = {
        let refs: Vec<&Ward> = nodes.iter().collect();
        settled(&refs, &config);
        send_spread(&refs, &first, true);
        let owner = evaluated(&refs, first.len(), "t2.");
        stored_all(&refs, &first, true);
        owner
    };
    // SIGKILL the node that holds the open windows, then send the rest to
    // the others, which acknowledge it (the brokers have it).
    nodes[owner].kill();
    let alive = others(&nodes, owner);
    send_spread(&alive, &rest, true);
    // tansu 0.6 keeps a member that died in the group (its session
    // timeout does not evict it), so its partitions wait for it to come
    // back; Apache Kafka moves them after `cluster.session_timeout`.
    let restarted = Instant::now();
    nodes[owner].spawn();
    let refs: Vec<&Ward> = nodes.iter().collect();
    let all = wait_for_bursts(&refs, &want, Duration::from_secs(90));
    eprintln!(
        "windows complete {:?} after the restart",
        restarted.elapsed()
    );
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(
        distinct,
        want,
        "the windows completed after the kill:\n{}",
        refs[owner].log()
    );
    everywhere(&refs, &want);
    stored_all(&refs, &events, false);
    let (consumer, owner_side, refused) = matched_where(&refs);
    assert!(
        consumer > 0.0 && owner_side > 0.0 && refused == 0.0,
        "matched where consumed: {consumer}, by the owner: {owner_side}, refused: {refused}"
    );
}

#[test]
fn a_sender_is_answered_503_while_the_brokers_are_down() {
    let broker = Broker::start();
    let rules = rules();
    let config = cluster_config(rules.path(), "solo", &broker.addr, "t3.")
        .replace("[cluster]\n", "[cluster]\nproduce_timeout = \"2s\"\n");
    let w = Ward::start_with(Some(&config), &[]);
    let events = stream(2, 1);
    let send = |e: &Value| {
        w.post_as(
            &token(0),
            "/api/v1/ingest",
            "application/x-ndjson",
            format!("{e}\n"),
        )
    };
    let (status, answer) = send(&events[0]);
    assert_eq!(status, 200, "{answer}");
    drop(broker);
    let asked = Instant::now();
    let (status, answer) = send(&events[1]);
    assert_eq!(
        status, 503,
        "not acknowledged without the brokers: {answer}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
}

#[test]
fn messages_that_are_not_ward_events_are_counted_and_skipped() {
    let broker = Broker::start();
    let rules = rules();
    let w = Ward::start_with(
        Some(&cluster_config(rules.path(), "solo", &broker.addr, "t4.")),
        &[],
    );
    // Written to the events topic by something other than a Ward node:
    // not JSON, a JSON array, an empty message, a tombstone.
    broker.produce(
        "t4.events",
        &[
            (
                Some("default\u{1f}x".into()),
                Some(b"\xff\xfe not json".to_vec()),
            ),
            (Some("default\u{1f}x".into()), Some(b"[1,2,3]".to_vec())),
            (None, Some(Vec::new())),
            (None, None),
        ],
    );
    let events = stream(1, 1);
    let (status, answer) = w.post_as(
        &token(0),
        "/api/v1/ingest",
        "application/x-ndjson",
        format!("{}\n", events[0]),
    );
    assert_eq!(status, 200, "{answer}");
    stored_all(&[&w], &events, true);
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric_sum(&w.metrics(), "ward_cluster_bad_messages_total") < 4.0 {
        assert!(Instant::now() < deadline, "{}", w.metrics());
        std::thread::sleep(Duration::from_millis(200));
    }
    // And on the alerts topic: not JSON, a tombstone, neither an alert nor
    // a silence, an incomplete alert, an incomplete silence under a key
    // that is not its own, a field no node writes; notification log
    // entries under no group key, without a version, with an alert beside.
    broker.produce(
        "t4.alerts",
        &[
            (Some("a1".into()), Some(b"\xff not json".to_vec())),
            (Some("a1".into()), None),
            (Some("a1".into()), Some(br#"{"node":"x"}"#.to_vec())),
            (
                Some("a1".into()),
                Some(br#"{"node":"x","alert":{"id":"a2"}}"#.to_vec()),
            ),
            (
                Some("silence/s2".into()),
                Some(br#"{"node":"x","silence":{"id":"s1"}}"#.to_vec()),
            ),
            (
                Some("a1".into()),
                Some(br#"{"node":"x","alert":null,"extra":1}"#.to_vec()),
            ),
            (
                Some("notify/".into()),
                Some(format!(r#"{{"node":"x","version":5,"notified":{NOTIFIED}}}"#).into_bytes()),
            ),
            (
                Some("notify/g".into()),
                Some(format!(r#"{{"node":"x","notified":{NOTIFIED}}}"#).into_bytes()),
            ),
            (
                Some("notify/g".into()),
                Some(
                    format!(
                        r#"{{"node":"x","version":5,"notified":{NOTIFIED},"alert":{{"id":"a2"}}}}"#
                    )
                    .into_bytes(),
                ),
            ),
        ],
    );
    let alerts_bad = || {
        w.metrics()
            .lines()
            .filter(|l| {
                l.starts_with("ward_cluster_bad_messages_total{") && l.contains("t4.alerts")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    while alerts_bad() < 9.0 {
        assert!(Instant::now() < deadline, "{}", w.metrics());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(burst_alerts(&w).is_empty());
    let out = w.cli(&["alerts", "list", "--format", "json"], None);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("a2"),
        "nothing applied"
    );
}

/// A notification log entry's state, as a node writes it.
const NOTIFIED: &str =
    r#"{"firing":["a2"],"resolved":[],"status":"firing","at":"2026-01-01T00:00:00Z"}"#;

/// Alerting of the alert test: each alert its own group, notified at
/// once, reminded after an hour; a high alert must be acknowledged within
/// `ack`.
fn alerting(ack: &str) -> String {
    format!(
        "[alerting]\nallow_private_destinations = true\n\
         [alerting.route]\ngroup_by = [\"...\"]\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n\
         [alerting.sla.high]\nacknowledge = \"{ack}\"\nresolve = \"24h\"\n"
    )
}

/// One webhook delivery of correlation alerts.
#[derive(Debug, Clone)]
struct Delivery {
    key: String,
    reason: String,
    status: String,
    alerts: Vec<String>,
}

/// The webhook's deliveries that speak of correlation alerts.
fn deliveries(bodies: &std::sync::Mutex<Vec<String>>) -> Vec<Delivery> {
    bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap())
        .map(|v| Delivery {
            key: s(&v, "idempotency_key").to_owned(),
            reason: s(&v, "reason.type").to_owned(),
            status: s(&v, "status").to_owned(),
            alerts: v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["rule_id"] == BURST)
                .map(|a| s(a, "id").to_owned())
                .collect(),
        })
        .filter(|d| !d.alerts.is_empty())
        .collect()
}

/// Waits until `ok` holds for the deliveries.
fn delivered(
    bodies: &std::sync::Mutex<Vec<String>>,
    within: Duration,
    what: &str,
    ok: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let deadline = Instant::now() + within;
    loop {
        let d = deliveries(bodies);
        if ok(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "{what}: {d:#?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn an_alert_is_notified_once_and_acknowledged_on_any_node() {
    let broker = Broker::start();
    let rules = rules();
    let (url, bodies) = crate::alerts::receiver();
    let events = stream(8, 6);
    let (nodes, config) = three_nodes_with(
        &broker,
        rules.path(),
        "t5.",
        &alerting("60s"),
        &[("WARD_ALERT_WEBHOOK_URL", url.as_str())],
    );
    let refs: Vec<&Ward> = nodes.iter().collect();
    settled(&refs, &config);
    // Every window's events spread over the three nodes' inputs.
    send_spread(&refs, &events, true);
    let owner = evaluated(&refs, events.len(), "t5.");
    let firing = |d: &Delivery| d.reason == "group" && d.status == "firing";
    let first = delivered(
        &bodies,
        Duration::from_secs(90),
        "six bursts notified",
        |d| {
            d.iter()
                .filter(|d| firing(d))
                .flat_map(|d| d.alerts.iter())
                .collect::<BTreeSet<_>>()
                .len()
                >= 6
        },
    );
    let ids: BTreeSet<String> = first
        .iter()
        .filter(|d| firing(d))
        .flat_map(|d| d.alerts.clone())
        .collect();
    assert_eq!(ids.len(), 6, "{first:#?}");
    let want: BTreeSet<_> = bursts(refs[owner]).into_iter().collect();
    everywhere(&refs, &want);

    // Acknowledged through a node that does not notify; one alert is left
    // open to show that escalation works.
    let (b, c) = ((owner + 1) % 3, (owner + 2) % 3);
    let (left, acked) = ids
        .iter()
        .collect::<Vec<_>>()
        .split_first()
        .map(|(l, r)| (*l, r.to_vec()))
        .unwrap();
    for id in &acked {
        let out = refs[b].cli(&["alerts", "ack", id, "--comment", "seen on b"], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let acked_at = Instant::now();
    for w in [c, owner] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let acknowledged = burst_alerts(refs[w])
                .iter()
                .filter(|a| a["status"] == "acknowledged" && !s(a, "acknowledged_by").is_empty())
                .count();
            if acknowledged == acked.len() {
                eprintln!(
                    "node {w} shows the acknowledgements made on node {b} {:?} after the last",
                    acked_at.elapsed()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {w} shows {acknowledged} acknowledged"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    // The owner saw the acknowledgements: it says so, once per group.
    delivered(
        &bodies,
        Duration::from_secs(30),
        "acknowledgements notified",
        |d| {
            acked.iter().all(|id| {
                d.iter()
                    .any(|d| d.status == "acknowledged" && d.alerts.contains(id))
            })
        },
    );
    // A silence made on node C reaches the others; the owner tells the
    // muted alert's receiver, once.
    let muted = acked[0];
    let user = burst_alerts(refs[owner])
        .iter()
        .find(|a| s(a, "id") == muted.as_str())
        .map(|a| s(a, "labels.user.name").to_owned())
        .unwrap();
    let out = refs[c].cli(
        &[
            "silences",
            "add",
            &format!("user.name=\"{user}\""),
            "--duration",
            "1h",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let silence = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    delivered(
        &bodies,
        Duration::from_secs(30),
        "the silence notified",
        |d| {
            d.iter()
                .any(|d| d.reason == "silenced" && d.alerts.contains(muted))
        },
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(
        &refs[b]
            .cli(&["silences", "list", "--format", "json"], None)
            .stdout,
    )
    .contains(&silence)
    {
        assert!(
            Instant::now() < deadline,
            "node B lists the silence made on C"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Past the acknowledgement deadline, the one left open is escalated
    // once, the others not at all.
    let escalated = |d: &Delivery| d.reason == "sla_breach";
    delivered(
        &bodies,
        Duration::from_secs(120),
        "the open alert escalated",
        |d| d.iter().any(|d| escalated(d) && d.alerts.contains(left)),
    );
    // The others' deadlines were as close; a wrong escalation would be here.
    std::thread::sleep(Duration::from_secs(5));
    let all = deliveries(&bodies);
    let mut keys: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &all {
        *keys.entry(&d.key).or_default() += 1;
    }
    assert!(
        keys.values().all(|n| *n == 1),
        "each notification sent by one node, once: {all:#?}"
    );
    for id in &ids {
        let of = |f: &dyn Fn(&Delivery) -> bool| {
            all.iter().filter(|d| f(d) && d.alerts.contains(id)).count()
        };
        assert_eq!(of(&firing), 1, "{id} notified firing once: {all:#?}");
        assert_eq!(
            of(&escalated),
            usize::from(id == left),
            "{id} escalated: {all:#?}"
        );
    }
    // The breach, recorded by the owner, is seen on every node.
    for w in &refs {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let breached: Vec<String> = burst_alerts(w)
                .iter()
                .filter(|a| a["sla_breaches"].as_array().is_some_and(|b| !b.is_empty()))
                .map(|a| s(a, "id").to_owned())
                .collect();
            if breached == [left.clone()] {
                break;
            }
            assert!(Instant::now() < deadline, "breaches {breached:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Batches of `per_batch` events that no rule takes (`service.name`
/// cluster-roll, unique `labels.seq`), with the correlation stream `burst`
/// spread evenly over them.
fn load(batches: usize, per_batch: usize, burst: &[Value]) -> Vec<Vec<Value>> {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(30);
    let mut out: Vec<Vec<Value>> = (0..batches)
        .map(|b| {
            (0..per_batch)
                .map(|i| {
                    json!({
                        "@timestamp": t.to_string(),
                        "event": {"category": "web", "action": "request"},
                        "service": {"name": "cluster-roll"},
                        "message": format!("GET /item/{b}/{i}"),
                        "labels": {"seq": format!("r{b}-{i}")},
                    })
                })
                .collect()
        })
        .collect();
    for (k, e) in burst.iter().enumerate() {
        out[k * batches / burst.len()].push(e.clone());
    }
    out
}

/// Sends the batches from two threads, each batch to the next node in
/// turn, at about `pace` per batch and thread; a batch not acknowledged
/// (refused, or the node is down) goes to the next node until one does.
fn send_under_restarts(
    urls: &[String],
    batches: Vec<Vec<Value>>,
    pace: Duration,
) -> std::thread::JoinHandle<usize> {
    let queue = std::sync::Arc::new(std::sync::Mutex::new(
        batches
            .into_iter()
            .enumerate()
            .collect::<std::collections::VecDeque<_>>(),
    ));
    let urls = urls.to_vec();
    std::thread::spawn(move || {
        let senders: Vec<_> = (0..2)
            .map(|t| {
                let (queue, urls) = (std::sync::Arc::clone(&queue), urls.clone());
                std::thread::spawn(move || {
                    let client = Ward::client();
                    let mut retries = 0;
                    let mut next = t;
                    loop {
                        let Some((i, batch)) = queue.lock().unwrap().pop_front() else {
                            return retries;
                        };
                        let body: String = batch.iter().map(|e| format!("{e}\n")).collect();
                        let deadline = Instant::now() + Duration::from_secs(120);
                        loop {
                            let url = &urls[next % urls.len()];
                            next += 1;
                            let sent = client
                                .post(format!("{url}/api/v1/ingest"))
                                .bearer_auth(token(i % SOURCES))
                                .header("content-type", "application/x-ndjson")
                                .body(body.clone())
                                .send();
                            if sent.is_ok_and(|r| r.status().as_u16() == 200) {
                                break;
                            }
                            retries += 1;
                            assert!(Instant::now() < deadline, "batch {i} never acknowledged");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        std::thread::sleep(pace);
                    }
                })
            })
            .collect();
        senders.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

#[test]
fn a_rolling_restart_under_load_loses_no_acknowledged_event() {
    let broker = Broker::start();
    let rules = rules();
    let burst = stream(8, 6);
    let want = reference(rules.path(), &burst);
    let (url, bodies) = crate::alerts::receiver();
    let (mut nodes, config) = three_nodes_with(
        &broker,
        rules.path(),
        "t6.",
        &alerting("1h"),
        &[("WARD_ALERT_WEBHOOK_URL", url.as_str())],
    );
    {
        let refs: Vec<&Ward> = nodes.iter().collect();
        settled(&refs, &config);
    }
    let urls: Vec<String> = nodes.iter().map(Ward::url).collect();
    let (batches, per_batch) = (120, 25);
    let senders = send_under_restarts(
        &urls,
        load(batches, per_batch, &burst),
        Duration::from_millis(300),
    );
    // Each node in turn stops cleanly and comes back while the senders
    // keep sending to all three.
    let started = Instant::now();
    for node in &mut nodes {
        std::thread::sleep(Duration::from_secs(3));
        assert!(node.terminate().success(), "{}", node.log());
        std::thread::sleep(Duration::from_secs(2));
        node.spawn();
    }
    let retries = senders.join().unwrap();
    eprintln!(
        "rolling restart of 3 nodes took {:?}; {retries} sends retried on another node",
        started.elapsed()
    );
    let refs: Vec<&Ward> = nodes.iter().collect();
    // Every acknowledged event stored: once, or twice for a batch a
    // member held longer than the handover grace after tansu moved its
    // partition (none in the runs written in the README).
    let expected = batches * per_batch;
    let deadline = Instant::now() + Duration::from_secs(90);
    let copies = loop {
        let mut copies: BTreeMap<String, u64> = BTreeMap::new();
        for w in &refs {
            for (seq, n) in w.count_by("service.name:cluster-roll | count by labels.seq") {
                *copies.entry(seq).or_default() += n;
            }
        }
        if copies.len() >= expected || Instant::now() > deadline {
            break copies;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(copies.len(), expected, "every acknowledged event stored");
    let twice = copies.values().filter(|n| **n > 1).count();
    eprintln!("stored twice after the rolling restart: {twice} of {expected}");
    assert!(
        copies.values().all(|n| *n <= 2) && twice <= expected / 10,
        "at most a batch in flight per membership change stored twice: {twice}"
    );
    stored_all(&refs, &burst, false);
    // The alerts of one node, on every node, each notified under one
    // idempotency key.
    let all = wait_for_bursts(&refs, &want, Duration::from_secs(90));
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(distinct, want, "no alert lost");
    everywhere(&refs, &want);
    let ids: BTreeSet<String> = burst_alerts(refs[0])
        .iter()
        .map(|a| s(a, "id").to_owned())
        .collect();
    delivered(
        &bodies,
        Duration::from_secs(30),
        "every alert notified",
        |d| {
            ids.iter().all(|id| {
                d.iter()
                    .any(|d| d.status == "firing" && d.alerts.contains(id))
            })
        },
    );
    // Notification logs travel with the alerts: a node that takes a
    // partition over does not notify again what the former owner notified.
    // So each alert is notified firing once, under one key, whatever
    // owners its partition had.
    let firing = |d: &Delivery, id: &String| {
        d.reason == "group" && d.status == "firing" && d.alerts.contains(id)
    };
    let once = |sent: &[Delivery], when: &str| {
        for id in &ids {
            let of: Vec<&Delivery> = sent.iter().filter(|d| firing(d, id)).collect();
            let keys: BTreeSet<&str> = of.iter().map(|d| d.key.as_str()).collect();
            assert!(
                of.len() == 1 && keys.len() == 1,
                "{id} notified firing once, under one key, {when}: {sent:#?}"
            );
        }
    };
    // Anything sent again by a late owner change arrives meanwhile.
    std::thread::sleep(Duration::from_secs(3));
    let sent = deliveries(&bodies);
    eprintln!("{} deliveries of {} alerts", sent.len(), ids.len());
    once(&sent, "across the rolling restart");
    // Once more, with every alert notified: the owner of their partition
    // stops; the node given it sends nothing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let owner = loop {
        let owners = corr_owners(&refs, "t6.");
        if let [owner] = owners[..] {
            break owner;
        }
        assert!(Instant::now() < deadline, "one owner: {owners:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(refs);
    assert!(nodes[owner].terminate().success());
    let rest = others(&nodes, owner);
    let stopped = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while corr_owners(&rest, "t6.").is_empty() {
        assert!(Instant::now() < deadline, "no node took the partition over");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "node {owner} stopped; another owned its partition {:?} later",
        stopped.elapsed()
    );
    // Past the new owner's catch-up, group_wait (0 s) and group_interval
    // (1 s).
    std::thread::sleep(Duration::from_secs(6));
    let after = deliveries(&bodies);
    once(&after, "after the owner of every alert stopped");
    assert_eq!(after.len(), sent.len(), "nothing sent again: {after:#?}");
}

/// A node killed (SIGKILL) right after an acknowledgement was saved on it,
/// while the brokers were down so that it could not be produced: once the
/// node is back, the acknowledgement reaches every node.
#[test]
fn an_acknowledgement_saved_just_before_a_kill_reaches_the_other_nodes() {
    let mut broker = Broker::start();
    let rules = rules();
    let events = stream(4, 6);
    let (mut nodes, config) = three_nodes(&broker, rules.path(), "t9.");
    let b = {
        let refs: Vec<&Ward> = nodes.iter().collect();
        settled(&refs, &config);
        send_spread(&refs, &events, true);
        let owner = evaluated(&refs, events.len(), "t9.");
        let want: BTreeSet<_> = bursts(refs[owner]).into_iter().collect();
        assert_eq!(want.len(), 3, "three users over the threshold");
        everywhere(&refs, &want);
        (owner + 1) % 3
    };
    let id = s(&burst_alerts(&nodes[b])[0], "id").to_owned();
    broker.stop();
    let out = nodes[b].cli(
        &["alerts", "ack", &id, "--comment", "before the kill"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The producer tries (and fails) meanwhile.
    std::thread::sleep(Duration::from_secs(1));
    nodes[b].kill();
    broker.restart();
    let restarted = Instant::now();
    nodes[b].spawn();
    eprintln!(
        "node {b} answers {:?} after it was started again",
        restarted.elapsed()
    );
    for (i, w) in nodes.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let acked = burst_alerts(w)
                .iter()
                .any(|a| s(a, "id") == id && a["status"] == "acknowledged");
            if acked {
                eprintln!(
                    "node {i} shows the acknowledgement {:?} after node {b} was started again",
                    restarted.elapsed()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} does not show the acknowledgement made on node {b} before it was killed:\n{}",
                nodes[b].log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn a_node_verifies_the_segments_another_node_archived() {
    let s3 = crate::s3::S3Server::start(false);
    s3.boto("s3.create_bucket(Bucket='ward-cluster', ObjectLockEnabledForBucket=True)");
    let broker = Broker::start();
    let rules = rules();
    let sealing = "[store]\nsegment_max_age = \"1s\"\n";
    let mut a = Ward::start_with(
        Some(&(cluster_config(rules.path(), "a", &broker.addr, "t7.") + sealing)),
        &[],
    );
    let mut b = Ward::start_with(
        Some(&(cluster_config(rules.path(), "b", &broker.addr, "t7.") + sealing)),
        &[],
    );
    let events = stream(4, 6);
    send_spread(&[&a, &b], &events, true);
    stored_all(&[&a, &b], &events, true);
    let on_a = a.search("service.name:cluster-test").len();
    assert!(on_a > 0, "node a stored its share");
    std::thread::sleep(Duration::from_secs(2));
    assert!(a.terminate().success(), "{}", a.log());
    assert!(b.terminate().success(), "{}", b.log());
    let (ad, bd) = (a.data_dir(), b.data_dir());
    let dest = "s3://ward-cluster/node-a";
    let (ok, text) = crate::s3::ward(
        &["archive", "--data-dir", ad.to_str().unwrap(), "--to", dest],
        &s3.url,
        "k",
    );
    assert!(ok, "{text}");
    // Node b checks what node a archived with a's public key only.
    let key = String::from_utf8(
        a.cli(&["key", "--data-dir", ad.to_str().unwrap()], None)
            .stdout,
    )
    .unwrap();
    let verify = |key: &str| s3.verify(bd.to_str().unwrap(), dest, key);
    let (ok, text) = verify(&key);
    assert!(ok, "{text}");
    let records: usize = text
        .split(" records")
        .next()
        .and_then(|t| t.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    assert!(
        records >= on_a,
        "all {on_a} events a stored are verified: {text}"
    );
    // b's own key does not verify a's segments.
    let own = String::from_utf8(
        b.cli(&["key", "--data-dir", bd.to_str().unwrap()], None)
            .stdout,
    )
    .unwrap();
    let (ok, text) = verify(&own);
    assert!(!ok, "a's segments verified with b's key: {text}");
}

#[test]
fn repartition_changes_the_correlation_partitions_with_every_node_stopped() {
    let broker = Broker::start();
    let rules = rules();
    let config_for = |n: usize| {
        cluster_config(rules.path(), "solo", &broker.addr, "t8.")
            .replace("corr_partitions = 6", &format!("corr_partitions = {n}"))
    };
    let cfg = rules.path().join("t8.toml");
    std::fs::write(&cfg, config_for(6)).unwrap();
    let mut w = Ward::start_with(Some(&config_for(6)), &[]);
    let events = stream(2, 6);
    let (first, _) = halves(&events);
    send_spread(&[&w], &first, true);
    evaluated(&[&w], first.len(), "t8.");
    let repartition = |w: &Ward, extra: &[&str]| {
        let mut args = vec![
            "cluster",
            "repartition",
            "--config",
            cfg.to_str().unwrap(),
            "--corr-partitions",
            "3",
        ];
        args.extend(extra);
        let out = w.cli(&args, None);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = repartition(&w, &[]);
    assert!(
        !ok && text.contains("solo") && text.contains("stop every node first"),
        "{text}"
    );
    assert!(w.terminate().success(), "{}", w.log());
    // A copy written after the stop, which no node evaluated.
    broker.produce("t8.corr", &[(Some("default".into()), Some(b"{}".to_vec()))]);
    std::thread::sleep(Duration::from_secs(11));
    let (ok, text) = repartition(&w, &[]);
    assert!(
        !ok && text.contains("1 copies in t8.corr were not evaluated"),
        "{text}"
    );
    let (ok, text) = repartition(&w, &["--discard-unevaluated"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("6 partitions, now 3; 1 unevaluated"),
        "{text}"
    );
    // The old count is refused; the new one runs and raises the alerts of
    // windows opened after the change.
    let data = tempfile::tempdir().unwrap();
    let old = std::process::Command::new(crate::harness::ward_bin())
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .env("WARD_DATA_DIR", data.path())
        .env(
            "WARD_HTTP_ADDR",
            format!("127.0.0.1:{}", crate::harness::free_port()),
        )
        .env(
            "WARD_SYSLOG_ADDR",
            format!("127.0.0.1:{}", crate::harness::free_port()),
        )
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&old.stderr);
    assert!(
        !old.status.success() && said.contains("ward cluster repartition"),
        "{said}"
    );
    let w = Ward::start_with(Some(&config_for(3)), &[]);
    send_spread(&[&w], &events, true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while bursts(&w).len() < 2 {
        assert!(Instant::now() < deadline, "{}", w.log());
        std::thread::sleep(Duration::from_millis(250));
    }
    let owned = w
        .metrics()
        .lines()
        .filter(|l| {
            l.starts_with("ward_cluster_partition_owned{") && l.contains("topic=\"t8.corr\"")
        })
        .count();
    assert_eq!(owned, 3, "{}", w.metrics());
}

/// Every node but one.
fn others(nodes: &[Ward], but: usize) -> Vec<&Ward> {
    nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != but)
        .map(|(_, w)| w)
        .collect()
}

/// The sum of a metric's samples with label `label` (`key="value"`).
fn metric_labelled(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the burst windows of the `users` are evaluated on the
/// `<prefix>corr` partitions of their group keys: every partition other
/// than the tenant's that keeps one evaluated copies for it, so one
/// tenant's windows are spread over the partitions (and their owners).
fn windows_spread(nodes: &[&Ward], users: usize) {
    let home = ward::cluster::corr_partition("default", 6);
    let want: BTreeSet<String> = (0..users)
        .map(|u| {
            ward::cluster::window_partition(
                BURST,
                &format!("tenant.id=default\u{1f}user.name=u{u}"),
                6,
            )
        })
        .filter(|p| *p != home)
        .map(|p| p.to_string())
        .collect();
    assert!(want.len() >= 2, "the users' windows fall on {want:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut got = BTreeSet::new();
        let mut copies = 0.0;
        for w in nodes {
            let m = w.metrics();
            copies += metric_sum(&m, "ward_cluster_window_copies_total");
            for l in m.lines() {
                if let Some(rest) =
                    l.strip_prefix("ward_cluster_window_copies_evaluated_total{partition=\"")
                    && let Some((p, _)) = rest.split_once('"')
                {
                    got.insert(p.to_owned());
                }
            }
        }
        if got == want && copies > 0.0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "window copies evaluated on partitions {got:?}, want {want:?} ({copies} copies made)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until `ward rules coverage` on every node counts the cluster's
/// `n` events (each node consumed only its share) in the log source of
/// the failed-login rule, which then is no blind rule anywhere.
fn coverage_everywhere(nodes: &[&Ward], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let per_node: Vec<(u64, usize)> = nodes
            .iter()
            .map(|w| {
                let out = w.cli(&["rules", "coverage", "--json"], None);
                let r: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                // An event counts once in each log source it was seen as.
                let events = r["sources"]
                    .as_array()
                    .and_then(|s| s.iter().filter_map(|x| x["events_total"].as_u64()).max())
                    .unwrap_or(0);
                let blind = r["blind_rules"].as_array().map_or(usize::MAX, Vec::len);
                (events, blind)
            })
            .collect();
        if per_node.iter().all(|(e, b)| *e == n as u64 && *b == 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "every node's coverage counts the cluster's {n} events: (events, blind rules) per node {per_node:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Events whose Sigma matches the correlation owners took from the
/// consumer's header, and events they matched wholly themselves.
fn matched_where(nodes: &[&Ward]) -> (f64, f64, f64) {
    let mut out = (0.0, 0.0, 0.0);
    for w in nodes {
        let m = w.metrics();
        out.0 += metric_labelled(&m, "ward_cluster_matched_total", "where=\"consumer\"");
        out.1 += metric_labelled(&m, "ward_cluster_matched_total", "where=\"owner\"");
        out.2 += metric_sum(&m, "ward_cluster_match_headers_refused_total");
    }
    out
}

/// The sum of a metric's samples in `/metrics` text.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A node of a cluster that uploads its sealed segments to `ward-segs`
/// under `c1/`: the sources alternate between tenants acme (even) and
/// globex (odd).
fn segments_config(rules: &std::path::Path, node: &str, brokers: &str) -> String {
    let sources: String = (0..SOURCES)
        .map(|j| {
            let tenant = if j % 2 == 0 { "acme" } else { "globex" };
            format!(
                "[[sources]]\nname = \"app-{j}\"\ntenant = \"{tenant}\"\ntoken = \"{}\"\n",
                token(j)
            )
        })
        .collect();
    sources
        + &format!(
            "[detect]\nbuiltin_rules = false\nrules = [\"{}\"]\n\
         [store]\nsegment_max_age = \"1s\"\n\
         [cluster]\nenabled = true\nnode_id = \"{node}\"\nbrokers = \"{brokers}\"\ntopic_prefix = \"t9.\"\n\
         events_partitions = 6\ncorr_partitions = 6\nsession_timeout = \"6s\"\n\
         segments_bucket = \"s3://ward-segs/c1\"\nsegments_interval = \"300ms\"\n",
            rules.display()
        )
}

/// `GET /api/v1/events/search?cluster=true` with `key`: (hits, the whole answer).
fn cluster_search(w: &Ward, key: &str, q: &str) -> (Vec<Value>, Value) {
    let r = Ward::client()
        .get(format!("{}/api/v1/events/search", w.url()))
        .bearer_auth(key)
        .query(&[
            ("q", q),
            ("since", "3650d"),
            ("limit", "1000"),
            ("cluster", "true"),
        ])
        .send()
        .unwrap();
    let status = r.status();
    let v: Value = r.json().unwrap();
    assert!(status.is_success(), "{v}");
    let hits = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].clone())
        .collect();
    (hits, v)
}

fn ids(hits: &[Value]) -> BTreeSet<String> {
    hits.iter().map(|h| s(h, "event.id").to_owned()).collect()
}

#[test]
fn sealed_segments_go_to_the_bucket_and_any_node_searches_them() {
    let s3 = crate::s3::S3Server::start(false);
    s3.boto("s3.create_bucket(Bucket='ward-segs', ObjectLockEnabledForBucket=True)");
    let broker = Broker::start();
    let rules = rules();
    let env = [
        ("AWS_ENDPOINT_URL", s3.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "k"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-value"),
        ("AWS_REGION", "us-east-1"),
    ];
    let mut a = Ward::start_with(
        Some(&segments_config(rules.path(), "a", &broker.addr)),
        &env,
    );
    let b = Ward::start_with(
        Some(&segments_config(rules.path(), "b", &broker.addr)),
        &env,
    );
    let acme = crate::harness::create_key(&b.data_dir(), "acme-viewer", "viewer", "acme");
    let config = a.config.clone().unwrap();
    settled(&[&a, &b], &config);
    let events = stream(8, 6);
    send_spread(&[&a, &b], &events, true);
    stored_all(&[&a, &b], &events, true);
    let on_a = ids(&a.search("service.name:cluster-test"));
    let on_b = ids(&b.search("service.name:cluster-test"));
    assert!(
        !on_a.is_empty() && !on_b.is_empty(),
        "both nodes store a share"
    );
    // Bulk beside them, so that blocks are worth skipping: 480 events of
    // 1 KB of digits that do not compress, from every source.
    let mut x: u64 = 7;
    for j in 0..SOURCES {
        let body: String = (0..40)
            .map(|i| {
                let pad: String = (0..1000)
                    .map(|_| {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        char::from(b'0' + ((x >> 33) % 10) as u8)
                    })
                    .collect();
                format!("{}\n", json!({"service": {"name": "filler"}, "labels": {"n": format!("{j}-{i}")}, "message": pad}))
            })
            .collect();
        let w = if j % 2 == 0 { &a } else { &b };
        let (status, answer) = w.post_as(&token(j), "/api/v1/ingest", "application/x-ndjson", body);
        assert_eq!(status, 200, "{answer}");
    }
    let acme_on_a = a
        .search("service.name:cluster-test AND tenant.id:acme")
        .len();
    let globex_on_a = a
        .search("service.name:cluster-test AND tenant.id:globex")
        .len();
    assert!(
        acme_on_a > 0 && globex_on_a > 0,
        "a stores both tenants' events"
    );

    // Without any command, every event ends up in a sealed segment in the
    // bucket: b's search of the cluster finds all of them.
    let all = events.len();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (hits, v) = cluster_search(&b, &b.admin, "service.name:cluster-test");
        if hits.len() == all {
            assert_eq!(ids(&hits).len(), all, "no event twice: {v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {all}: {v}\n{}",
            hits.len(),
            a.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric_sum(&a.metrics(), "ward_cluster_segments_upload_lag_segments") > 0.0 {
        assert!(Instant::now() < deadline, "{}", a.metrics());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(metric_sum(&a.metrics(), "ward_cluster_segments_uploaded_total") > 0.0);
    // A node reads its segments' locks back: one of a's shortened on the
    // test server (which allows it; S3 refuses) is found and reported, and
    // no longer once the lock is moved back.
    let out = s3.boto(
        "import datetime\n\
         r = s3.list_objects_v2(Bucket='ward-segs', Prefix='c1/a/segments/')\n\
         key = sorted(o['Key'] for o in r['Contents'] if o['Key'].endswith('.seg'))[0]\n\
         old = s3.head_object(Bucket='ward-segs', Key=key)['ObjectLockRetainUntilDate']\n\
         soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)\n\
         s3.put_object_retention(Bucket='ward-segs', Key=key, Retention={'Mode': 'COMPLIANCE', 'RetainUntilDate': soon})\n\
         print('old', old.isoformat())\n\
         print('key', key)",
    );
    let line = |p: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(p))
            .unwrap()
            .to_owned()
    };
    let (short, old) = (line("key "), line("old "));
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric_sum(&a.metrics(), "ward_cluster_segments_locks_short") != 1.0 {
        assert!(Instant::now() < deadline, "{}\n{}", a.metrics(), a.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let object = short.trim_start_matches("c1/a/");
    assert!(
        a.log()
            .contains("Object Lock no longer covers its retention")
            && a.log().contains(object),
        "{}",
        a.log()
    );
    assert_eq!(
        metric_sum(&b.metrics(), "ward_cluster_segments_locks_short"),
        0.0
    );
    s3.boto(&format!(
        "import datetime\n\
         s3.put_object_retention(Bucket='ward-segs', Key='{short}', Retention={{'Mode': 'COMPLIANCE', 'RetainUntilDate': datetime.datetime.fromisoformat('{old}')}})"
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric_sum(&a.metrics(), "ward_cluster_segments_locks_short") != 0.0 {
        assert!(Instant::now() < deadline, "{}", a.metrics());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(metric_sum(&a.metrics(), "ward_cluster_segments_lock_checks_total") > 0.0);
    // `ward cluster status` shows each node's upload lag.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = a.cli(
            &["cluster", "status", "--config", config.to_str().unwrap()],
            None,
        );
        let status = String::from_utf8_lossy(&out.stdout).into_owned();
        let row = status
            .lines()
            .find(|l| l.starts_with("a "))
            .unwrap_or_default();
        if status.contains("UPLOAD LAG") && row.contains(" 0 seg/") {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(500));
    }

    // Node a goes away with its data directory.
    assert!(a.terminate().success(), "{}", a.log());
    std::fs::remove_dir_all(a.data_dir()).unwrap();
    let local = ids(&b.search("service.name:cluster-test"));
    assert!(local.is_disjoint(&on_a), "b never stored a's events itself");
    let t = Instant::now();
    let (hits, v) = cluster_search(&b, &b.admin, "service.name:cluster-test");
    eprintln!(
        "cluster search over {} segments: {:?}, {}",
        v["cluster"]["segments_searched"],
        t.elapsed(),
        v["cluster"]
    );
    assert_eq!(ids(&hits).len(), all, "{v}");
    assert!(on_a.is_subset(&ids(&hits)), "{v}");
    assert_eq!(
        v["cluster"]["hits_added"].as_u64(),
        Some(on_a.len() as u64),
        "{v}"
    );
    assert!(v["warnings"].as_array().is_none_or(Vec::is_empty), "{v}");
    // A narrow query reads the footers and indexes, and only the blocks
    // that can match: ranged GETs, far fewer bytes than the segments hold.
    let one = on_a.iter().next().unwrap();
    let (hits, v) = cluster_search(&b, &b.admin, &format!("event.id:{one}"));
    assert_eq!(ids(&hits), BTreeSet::from([one.clone()]), "{v}");
    let c = &v["cluster"];
    let (fetched, held) = (
        c["bytes_fetched"].as_u64().unwrap(),
        c["bytes_in_segments"].as_u64().unwrap(),
    );
    eprintln!("event.id search: {fetched} of {held} bytes read, {c}");
    assert!(c["ranged_gets"].as_u64().unwrap() > 0, "{v}");
    assert!(c["blocks_skipped"].as_u64().unwrap() > 0, "{v}");
    assert!(fetched * 3 < held, "{fetched} of {held} bytes read: {v}");
    assert!(metric_sum(&b.metrics(), "ward_cluster_search_ranged_gets_total") > 0.0);

    // Tenant scope holds in the bucket as on the node.
    let want_acme = events
        .iter()
        .enumerate()
        .filter(|(i, _)| (i % SOURCES).is_multiple_of(2))
        .count();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (hits, v) = loop {
        let r = Ward::client()
            .get(format!("{}/api/v1/me", b.url()))
            .bearer_auth(&acme)
            .send()
            .unwrap();
        if r.status() == 200 {
            break cluster_search(&b, &acme, "service.name:cluster-test");
        }
        assert!(Instant::now() < deadline, "the acme key is not accepted");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(hits.len(), want_acme, "{v}");
    assert!(hits.iter().all(|h| s(h, "tenant.id") == "acme"), "{v}");
    assert!(v["cluster"]["hits_added"].as_u64().unwrap() > 0, "{v}");
    let (hits, v) = cluster_search(&b, &acme, "tenant.id:globex");
    assert!(hits.is_empty(), "{v}");

    // In the bucket: COMPLIANCE retention, deletion refused; the topic
    // records exactly the objects.
    let out = s3.boto(
        "r = s3.list_objects_v2(Bucket='ward-segs', Prefix='c1/a/segments/')\n\
         keys = [o['Key'] for o in r['Contents'] if o['Key'].endswith('.seg')]\n\
         for k in keys: print('seg', k)\n\
         v = s3.head_object(Bucket='ward-segs', Key=keys[0])\n\
         print('mode', v['ObjectLockMode'])\n\
         try:\n    s3.delete_object(Bucket='ward-segs', Key=keys[0], VersionId=v['VersionId'])\n    print('deleted')\n\
         except ClientError as e:\n    print('delete refused', e.response['Error']['Code'])",
    );
    assert!(out.contains("mode COMPLIANCE"), "{out}");
    assert!(out.contains("delete refused AccessDenied"), "{out}");
    let in_bucket: BTreeSet<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("seg "))
        .map(str::to_owned)
        .collect();
    let recorded: BTreeMap<String, Value> = broker
        .read_all("t9.segments")
        .into_iter()
        .filter_map(|(k, p)| Some((k, serde_json::from_slice(&p?).ok()?)))
        .collect();
    let of_a: BTreeSet<String> = recorded
        .iter()
        .filter(|(k, _)| k.starts_with("a/"))
        .map(|(_, r)| format!("c1/a/{}", s(r, "segment.object")))
        .collect();
    assert_eq!(of_a, in_bucket, "{recorded:?}");
    assert!(recorded.keys().any(|k| k.starts_with("b/")), "{recorded:?}");
    let r = recorded.values().next().unwrap();
    assert!(
        s(r, "segment.checkpoint_note").contains("ward"),
        "the signed checkpoint is recorded: {r}"
    );

    // Messages that are not segment records, or that point a node's
    // record elsewhere, are counted and skipped.
    let mut forged = r.clone();
    forged["prefix"] = json!("c1/b");
    let key = format!(
        "{}/{:020}",
        s(r, "node"),
        r["segment"]["first"].as_u64().unwrap()
    );
    broker.produce(
        "t9.segments",
        &[
            (Some("a/x".into()), Some(b"not json".to_vec())),
            (Some(key), Some(forged.to_string().into_bytes())),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric_sum(&b.metrics(), "ward_cluster_bad_messages_total") < 2.0 {
        assert!(Instant::now() < deadline, "{}", b.metrics());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (hits, _) = cluster_search(&b, &b.admin, "service.name:cluster-test");
    assert_eq!(hits.len(), all, "the good records are kept");

    // Changed segments in the bucket (new versions of the objects, the
    // locked ones kept) are reported by name and their events left out.
    let list: Vec<String> = in_bucket.iter().map(|k| format!("'{k}'")).collect();
    s3.boto(&format!(
        "for k in [{}]:\n\
         \x20   body = bytearray(s3.get_object(Bucket='ward-segs', Key=k)['Body'].read())\n\
         \x20   body[42] ^= 1\n\
         \x20   s3.put_object(Bucket='ward-segs', Key=k, Body=bytes(body))",
        list.join(", ")
    ));
    let (hits, v) = cluster_search(&b, &b.admin, "service.name:cluster-test");
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(!warnings.is_empty(), "{v}");
    for w in &warnings {
        assert!(
            w.contains("left out")
                && in_bucket
                    .iter()
                    .any(|k| w.contains(&format!("s3://ward-segs/{k} "))),
            "{w}"
        );
    }
    assert!(ids(&hits).is_subset(&on_b), "{v}");
    assert_eq!(hits.len(), on_b.len(), "{v}");
    let victim = in_bucket
        .iter()
        .find(|k| warnings.iter().any(|w| w.contains(k.as_str())))
        .unwrap();
    let out = b.cli(
        &[
            "search",
            "--cluster",
            "--since",
            "3650d",
            "--limit",
            "1000",
            "service.name:cluster-test",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains(victim.as_str()),
        "{err}"
    );
}
