//! Alerts across cluster nodes, with two engines in one process: the test
//! hands each engine's saved changes to the other (and back to itself) in
//! chosen orders, as `<prefix>alerts` would; both end with the same alert,
//! an old copy coming back changes nothing, and only the owner notifies.

use std::sync::Arc;

use tokio::sync::mpsc;
use ward::alert::Engine;
use ward::alert::engine::{Replica, Replicated, Version};
use ward_alert::Alert;

use super::routing::BASE;
use super::{config, engine, finding, queued};

struct Node {
    e: Arc<Engine>,
    rx: mpsc::Receiver<Replicated>,
    name: &'static str,
    _dir: tempfile::TempDir,
}

async fn node(name: &'static str, owner: bool) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine(&config(BASE), dir.path(), false).await;
    let (tx, rx) = mpsc::channel(100);
    e.join_cluster(Replica::new(tx, Box::new(move |_| owner), name))
        .unwrap();
    Node {
        e,
        rx,
        name,
        _dir: dir,
    }
}

type Change = (Alert, Option<String>, Version);

/// The alert changes a node handed over since the last call.
fn taken(n: &mut Node) -> Vec<Change> {
    let mut out = Vec::new();
    while let Ok(r) = n.rx.try_recv() {
        if let Replicated::Alert {
            alert,
            finding,
            version,
        } = r
        {
            out.push((*alert, finding, (version, n.name.to_owned())));
        }
    }
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
