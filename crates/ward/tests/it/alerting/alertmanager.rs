//! Ward as an alert source of a real Prometheus Alertmanager (Debian's
//! `prometheus-alertmanager`, from scripts/apt-packages.txt): alerts posted
//! to its `/api/v2/alerts` must show up there with our labels.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use ward_alert::Resolution;

use super::{config, engine_now, finding};

struct Alertmanager {
    child: Child,
    port: u16,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Alertmanager {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run prometheus-alertmanager ({e}); install the Debian package prometheus-alertmanager (scripts/apt-packages.txt)")
        });
    let mut am = Alertmanager { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::blocking::get(format!("http://127.0.0.1:{port}/-/ready"))
            && r.status().is_success()
        {
            return am;
        }
        if let Ok(Some(status)) = am.child.try_wait() {
            panic!("prometheus-alertmanager exited: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager not ready within 30s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn am_alerts(port: u16) -> Vec<Value> {
    let v: Value = reqwest::get(format!("http://127.0.0.1:{port}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_arrive_in_a_real_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let am = tokio::task::block_in_place(|| start(dir.path()));
    let cfg = format!(
        r#"
allow_private_destinations = true
[[receivers]]
name = "am"
[[receivers.alertmanager_configs]]
url = "http://127.0.0.1:{}"
[route]
receiver = "am"
group_wait = "0s"
group_interval = "200ms"
"#,
        am.port
    );
    let (e, _audit) = engine_now(&config(&cfg), &dir.path().join("data")).await;
    let id = e
        .on_finding(finding(
            "f1",
            "brute",
            "critical",
            &[("service.name", "checkout"), ("tenant.id", "acme")],
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        if let Some(a) = am_alerts(am.port)
            .await
            .into_iter()
            .find(|a| a["labels"]["ward_alert_id"] == id.as_str())
        {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "alert not in Alertmanager; deliveries: {:?}",
            e.deliveries("am", 10)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let l = &alert["labels"];
    assert_eq!(l["alertname"], "Rule brute");
    assert_eq!(l["severity"], "critical");
    assert_eq!(l["rule_id"], "brute");
    assert_eq!(l["service"], "checkout");
    assert_eq!(l["service_name"], "checkout");
    assert_eq!(l["tenant"], "acme");
    assert_eq!(alert["annotations"]["summary"], "Rule brute (critical)");
    assert_eq!(alert["status"]["state"], "active");
    // Resolving ends it in Alertmanager too.
    e.resolve(&id, "ana", Resolution::TruePositive, None)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let still = am_alerts(am.port)
            .await
            .into_iter()
            .any(|a| a["labels"]["ward_alert_id"] == id.as_str());
        if !still {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "resolved alert still active in Alertmanager"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    e.shutdown(std::time::Duration::from_millis(500)).await;
}
