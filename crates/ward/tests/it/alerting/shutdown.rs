//! A graceful stop with a receiver that accepts connections and never
//! answers: the stop returns by its deadline, the notification stays in the
//! outbox, and the next start delivers it once a working receiver listens
//! at the same address.

use std::time::{Duration, Instant};

use super::{Receiver, config, engine_now, finding};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_meets_its_deadline_and_the_outbox_keeps_the_notification() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    // Accept and hold every connection without reading or answering.
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
            let _ = accepted_tx.send(());
        }
    });
    let cfg = config(&format!(
        r#"
allow_private_destinations = true
[[receivers]]
name = "hook"
[[receivers.webhook_configs]]
url = "http://{addr}/hook"
[route]
receiver = "hook"
group_wait = "0s"
[delivery]
timeout = "30s"
"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let (e, _audit) = engine_now(&cfg, dir.path()).await;
    let id = e
        .on_finding(finding("f1", "brute", "high", &[("user.name", "bob")]))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), accepted.recv())
        .await
        .expect("the webhook was never called")
        .unwrap();

    let t = Instant::now();
    e.shutdown(Duration::from_secs(2)).await;
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "shutdown took {took:?} with a 2s deadline"
    );
    assert!(
        e.on_finding(finding("f2", "brute", "high", &[]))
            .await
            .is_err(),
        "no findings are taken after the stop"
    );
    let queue = e.queue("hook", 10).unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].state, "pending", "{queue:?}");
    assert_eq!(queue[0].attempts, 0, "the cut-off attempt is not recorded");
    drop(e);
    hold.abort();
    let _ = hold.await;

    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let rx = Receiver::on(listener);
    let (e, _audit) = engine_now(&cfg, dir.path()).await;
    let got = rx.wait_for(1, 20).await;
    let body = got[0].json();
    assert_eq!(body["alerts"][0]["id"], id.as_str());
    assert_eq!(
        got[0].headers["idempotency-key"].to_str().unwrap(),
        queue[0].idempotency_key
    );
    for _ in 0..100 {
        if e.queue("hook", 10).unwrap()[0].state == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(e.queue("hook", 10).unwrap()[0].state, "delivered");
    assert!(e.health().is_ok(), "{:?}", e.health());
    e.shutdown(Duration::from_secs(2)).await;
}
