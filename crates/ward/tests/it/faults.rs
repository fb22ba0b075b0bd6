//! The fault suite: what Ward promises when a sender, the disk or a client
//! misbehaves, each driven through a real `ward serve`. Bounded in time
//! (a few minutes in all); the README lists what it covers.

use serde_json::json;

use crate::harness::{Ward, s};

/// One event with a 5,000-character `user.name` and 40 categories between
/// two good ones: all three are stored and acknowledged (200), the
/// neighbours are searchable, the poison one is found by its whole name and
/// carries `ward.index.truncated`.
#[test]
fn fault_poison_record_does_not_block_its_batch() {
    let ward = Ward::start();
    let long = format!("p{}", "o".repeat(4999));
    let cats: Vec<String> = (0..40).map(|i| format!("cat{i}")).collect();
    let body = [
        json!({"message": "before poison", "user": {"name": "alice"}}),
        json!({"message": "the poison", "user": {"name": long}, "event": {"category": cats}}),
        json!({"message": "after poison", "user": {"name": "bob"}}),
    ]
    .iter()
    .map(|e| format!("{e}\n"))
    .collect::<String>();
    for attempt in 0..2 {
        let (status, v) = ward.post("/api/v1/ingest", "application/x-ndjson", body.clone());
        assert_eq!(status, 200, "attempt {attempt}: {v}");
        assert_eq!(v["accepted"], 3, "{v}");
    }
    assert_eq!(ward.wait_for("user.name:alice", 2).len(), 2);
    assert_eq!(ward.wait_for("user.name:bob", 2).len(), 2);
    let poison = ward.wait_for(&format!("user.name:{long}"), 2);
    assert_eq!(
        poison.len(),
        2,
        "the poison event is found by its whole name"
    );
    assert_eq!(s(&poison[0], "message"), "the poison");
    let flagged = ward.search("ward.index.truncated:*");
    assert_eq!(flagged.len(), 2);
    assert_eq!(
        crate::harness::field(&flagged[0], "ward.index.truncated"),
        Some(&json!(["event.category", "user.name"]))
    );
}
