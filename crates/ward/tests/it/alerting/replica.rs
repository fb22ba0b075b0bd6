//! Alerts across cluster nodes, with two engines in one process: the test
//! hands each engine's saved changes to the other (and back to itself) in
//! chosen orders, as `<prefix>alerts` would; both end with the same alert,
//! an old copy coming back changes nothing, and only the owner notifies.
//! Notification log entries travel the same way: the newest wins, and a
//! node that takes a group over does not notify again what the former
//! owner notified, and uses the key that owner would have.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ward::alert::Engine;
use ward::alert::engine::{Replica, Replicated, Version};
use ward_alert::Alert;
use ward_alert::alert::group::NotifiedState;

use super::routing::BASE;
use super::{config, engine, finding, queued};

struct Node {
    e: Arc<Engine>,
    name: &'static str,
    owner: Arc<AtomicBool>,
    /// Notification log entries taken from it by [`taken`].
    notified: Vec<Notified>,
    _dir: tempfile::TempDir,
}

type Notified = (String, NotifiedState, Version);

async fn node(name: &'static str, owner: bool) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    let owner = Arc::new(AtomicBool::new(owner));
    let owns = Arc::clone(&owner);
    e.join_cluster(Replica::new(
        Arc::new(tokio::sync::Notify::new()),
        Box::new(move |_| owns.load(Ordering::SeqCst)),
        name,
    ))
    .unwrap();
    Node {
        e,
        name,
        owner,
        notified: Vec::new(),
        _dir: dir,
    }
}

type Change = (Alert, Option<String>, Version);

/// The alert changes a node saved for the others since the last call,
/// cleared as the brokers' acknowledgement would (its notification log
/// entries go to `n.notified`).
fn taken(n: &mut Node) -> Vec<Change> {
    let mut out = Vec::new();
    let saved = n.e.unpublished(10_000).unwrap();
    if let Some((last, _)) = saved.last() {
        n.e.published(*last).unwrap();
    }
    for (_, r) in saved {
        match r.expect("readable") {
            Replicated::Alert {
                alert,
                finding,
                version,
            } => out.push((*alert, finding, (version, n.name.to_owned()))),
            Replicated::Notified {
                group,
                state,
                version,
            } => n
                .notified
                .push((group, state, (version, n.name.to_owned()))),
            Replicated::Silence { .. } => {}
        }
    }
    assert!(n.e.unpublished(10).unwrap().is_empty());
    out
}

fn apply(to: &Node, changes: &[Change]) {
    for (a, f, v) in changes {
        to.e.apply_remote(a.clone(), f.as_deref(), v.clone())
            .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn two_nodes_agree_on_an_alert_whatever_order_its_changes_arrive_in() {
    let (mut a, mut b) = (node("a", true).await, node("b", false).await);
    let labels = [("host.name", "h1")];
    let id =
        a.e.on_finding(finding("f1", "brute", "high", &labels))
            .await
            .unwrap();
    let raised = taken(&mut a);
    assert_eq!(raised.len(), 1);
    apply(&b, &raised);
    assert_eq!(b.e.alert(&id), a.e.alert(&id), "b holds a's alert");
    // The same finding evaluated again on b (a replay after a takeover)
    // is known there: no second alert, no count.
    b.e.on_finding(finding("f1", "brute", "high", &labels))
        .await
        .unwrap();
    assert_eq!(b.e.alert(&id).unwrap().count, 1);
    apply(&a, &taken(&mut b));
    // Only the owner notifies.
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    assert_eq!(queued(&a.e, "team").len(), 1);
    assert!(queued(&b.e, "team").is_empty(), "b does not own the alert");

    // Acknowledged on b while a re-fires it: two changes at once, each
    // node gets the other's first and its own back after.
    b.e.acknowledge(&id, "bob", None).await.unwrap();
    a.e.on_finding(finding("f2", "brute", "high", &labels))
        .await
        .unwrap();
    let (from_a, from_b) = (taken(&mut a), taken(&mut b));
    apply(&a, &from_b);
    apply(&a, &from_a);
    apply(&b, &from_a);
    apply(&b, &from_b);
    let (on_a, on_b) = (a.e.alert(&id).unwrap(), b.e.alert(&id).unwrap());
    assert_eq!(on_a, on_b, "the nodes agree");
    let newest = from_a
        .iter()
        .chain(&from_b)
        .max_by(|x, y| x.2.cmp(&y.2))
        .unwrap();
    assert_eq!(on_a, newest.0, "the newest copy wins");

    // The alert as first raised, delivered again: an older copy.
    apply(&a, &raised);
    apply(&b, &raised);
    assert_eq!(a.e.alert(&id).unwrap(), on_a);
    assert_eq!(b.e.alert(&id).unwrap(), on_a);
    // Acknowledged on a now: b follows even though a's copy is newer only
    // by a's own clock.
    a.e.acknowledge(&id, "alice", None).await.ok();
    a.e.comment(&id, "alice", "checked").await.unwrap();
    apply(&b, &taken(&mut a));
    assert_eq!(b.e.alert(&id), a.e.alert(&id));
}

fn apply_notified(to: &Node, entries: &[Notified]) {
    for (g, st, v) in entries {
        to.e.apply_remote_notified(g, st, v.clone()).unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_owner_takes_the_newest_notification_log_and_notifies_nothing_again() {
    let (mut a, mut b) = (node("a", true).await, node("b", false).await);
    let labels = [("host.name", "h1")];
    let id =
        a.e.on_finding(finding("f1", "brute", "high", &labels))
            .await
            .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    let fired = queued(&a.e, "team");
    assert_eq!(fired.len(), 1, "a notifies the firing group");
    a.e.acknowledge(&id, "alice", None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(301)).await;
    let acked = queued(&a.e, "team");
    assert_eq!(acked.len(), 2, "a notifies the acknowledgement");
    assert_eq!(acked[1]["status"], "acknowledged");
    let changes = taken(&mut a);
    assert_eq!(a.notified.len(), 2, "one log entry per notification");
    let (first, second) = (a.notified[0].clone(), a.notified[1].clone());
    assert!(first.2 < second.2, "later entries have greater versions");

    // b gets the alert's changes, and the log entries newest first: the
    // older one arriving after changes nothing.
    apply(&b, &changes);
    apply_notified(&b, &[second.clone(), first.clone()]);
    assert!(
        !b.e.apply_remote_notified(&first.0, &first.1, first.2.clone())
            .unwrap(),
        "an older entry is not applied"
    );
    assert!(
        !b.e.apply_remote_notified(&second.0, &second.1, second.2.clone())
            .unwrap(),
        "the same entry twice is applied once"
    );

    // The partition moves from a to b: b routes the alert and, its log
    // saying the acknowledged group was notified, sends nothing.
    a.owner.store(false, Ordering::SeqCst);
    b.owner.store(true, Ordering::SeqCst);
    b.e.route_owned();
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    assert!(
        queued(&b.e, "team").is_empty(),
        "b does not notify again what a notified: {:#?}",
        queued(&b.e, "team")
    );
    assert!(taken(&mut b).is_empty() && b.notified.is_empty());

    // A node whose log held the older entry only would have notified the
    // acknowledgement again.
    let mut c = node("c", false).await;
    apply(&c, &changes);
    apply_notified(&c, std::slice::from_ref(&first));
    c.owner.store(true, Ordering::SeqCst);
    c.e.route_owned();
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    let again = queued(&c.e, "team");
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(
        again[0]["id"], acked[1]["id"],
        "under the key the former owner used, derived from the replicated log"
    );
    taken(&mut c);

    // Resolved on b, the owner now: b notifies the resolution (its key
    // names a's acknowledgement notification, from a's log entry); a gets
    // the alert and b's log entry.
    b.e.resolve(
        &id,
        "bob",
        ward_alert::alert::Resolution::TruePositive,
        None,
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(301)).await;
    let resolved = queued(&b.e, "team");
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert_eq!(resolved[0]["status"], "resolved");
    let from_b = taken(&mut b);
    apply(&a, &from_b);
    assert_eq!(a.e.alert(&id), b.e.alert(&id));
    // a, which lost the partition, dropped the alert from its group: the
    // resolution it learns is not notified from there too.
    tokio::time::sleep(std::time::Duration::from_secs(301)).await;
    assert_eq!(queued(&a.e, "team").len(), 2, "{:#?}", queued(&a.e, "team"));
    apply_notified(&a, &b.notified);
}

/// A detection batch taken at once in cluster mode: one versioned record
/// per finding (the alert as that finding left it), so the other node ends
/// with the same alerts and knows every finding (a replay there after a
/// takeover counts nothing).
#[tokio::test(start_paused = true)]
async fn a_batch_of_findings_reaches_the_other_node_finding_by_finding() {
    let (mut a, b) = (node("a", true).await, node("b", false).await);
    let h1 = [("host.name", "h1")];
    let h2 = [("host.name", "h2")];
    let batch = || {
        vec![
            finding("f1", "brute", "high", &h1),
            finding("f2", "brute", "high", &h1),
            finding("f3", "brute", "high", &h2),
            finding("f4", "brute", "high", &h1),
        ]
    };
    a.e.on_findings(batch()).await.unwrap();
    let changes = taken(&mut a);
    let findings: Vec<_> = changes.iter().filter_map(|c| c.1.clone()).collect();
    assert_eq!(findings, ["f1", "f2", "f3", "f4"]);
    let counts: Vec<u64> = changes.iter().map(|c| c.0.count).collect();
    assert_eq!(
        counts,
        [1, 2, 1, 3],
        "each record as its finding left the alert"
    );
    let versions: Vec<&Version> = changes.iter().map(|c| &c.2).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    apply(&b, &changes);
    let all = ward_alert::AlertFilter::default();
    let (mut on_a, mut on_b) = (a.e.alerts(&all), b.e.alerts(&all));
    on_a.sort_by(|x, y| x.id.cmp(&y.id));
    on_b.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(on_a.len(), 2);
    assert_eq!(on_a, on_b, "b holds a's alerts");
    // Replayed on b after a takeover: nothing counted again.
    b.e.on_findings(batch()).await.unwrap();
    let mut again = b.e.alerts(&all);
    again.sort_by(|x, y| x.id.cmp(&y.id));
    let counts: Vec<u64> = again.iter().map(|x| x.count).collect();
    let want: Vec<u64> = on_a.iter().map(|x| x.count).collect();
    assert_eq!(counts, want);
}
