//! E-mail over SMTP to a real server: Python's `aiosmtpd` (from
//! scripts/requirements.txt) writing what it receives to a Maildir.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{config, engine_now, finding};

/// An aiosmtpd server on 127.0.0.1 storing mail in `maildir`; killed on drop.
struct Smtpd {
    child: Child,
    port: u16,
}

impl Smtpd {
    fn start(maildir: &Path) -> Smtpd {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 for the aiosmtpd SMTP server ({e}); install Python 3 and `pip install -r scripts/requirements.txt`"));
        let mut s = Smtpd { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = s.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = s.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "aiosmtpd exited ({status}): {err}\nInstall it with `pip install -r scripts/requirements.txt` (aiosmtpd is pinned there)"
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {port} within 20s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cfg(port: u16, tls: &str) -> String {
    format!(
        r#"
allow_private_destinations = true
public_url = "https://ward.example.com"
[delivery]
initial_backoff = "50ms"
max_backoff = "100ms"
[owners.teams.payments]
contacts = ["payments-oncall@example.com"]
[owners.services]
checkout = "payments"
[[receivers]]
name = "mail"
[[receivers.email_configs]]
host = "127.0.0.1"
port = {port}
tls = "{tls}"
from = "Ward <ward@example.com>"
to = ["soc@example.com", "payments@example.com"]
[route]
receiver = "mail"
group_wait = "0s"
"#
    )
}

fn messages(maildir: &Path) -> Vec<String> {
    std::fs::read_dir(maildir.join("new"))
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let smtpd = Smtpd::start(&maildir);
    let (e, _audit) = engine_now(&config(&cfg(smtpd.port, "none")), &dir.path().join("data")).await;
    let id = e
        .on_finding(finding(
            "f1",
            "brute",
            "high",
            &[("service.name", "checkout"), ("user.name", "bob")],
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let msg = loop {
        if let Some(m) = messages(&maildir).pop() {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no e-mail arrived; deliveries: {:?}",
            e.deliveries("mail", 10)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The server may hold the message before the delivery is recorded.
    let key = loop {
        if let Some(d) = e.deliveries("mail", 10).unwrap().first() {
            break d.idempotency_key.clone();
        }
        assert!(Instant::now() < deadline, "the delivery was never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        msg.contains("Subject: [FIRING:1] Rule brute (high) =?utf-8?")
            || msg.contains("Subject: [FIRING:1] Rule brute (high)"),
        "{msg}"
    );
    assert!(msg.contains("From: Ward <ward@example.com>"), "{msg}");
    assert!(
        msg.contains("soc@example.com") && msg.contains("payments@example.com"),
        "{msg}"
    );
    assert!(msg.contains(&format!("Message-ID: <{key}@ward>")), "{msg}");
    let body = msg.replace("=\r\n", "").replace("\r\n", "\n");
    assert!(body.contains("What happened: brute matched"), "{body}");
    assert!(
        body.contains("Affected: service checkout, user bob"),
        "{body}"
    );
    assert!(
        body.contains("Owner: payments (payments-oncall@example.com)"),
        "{body}"
    );
    assert!(
        body.contains(&format!("https://ward.example.com/#/alerts/{id}")),
        "{body}"
    );
    assert!(
        body.contains("Runbook: https://runbooks.example/brute-force"),
        "{body}"
    );
    e.shutdown(std::time::Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_is_required_not_opportunistic() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let smtpd = Smtpd::start(&maildir);
    let (e, _audit) = engine_now(
        &config(&cfg(smtpd.port, "starttls")),
        &dir.path().join("data"),
    )
    .await;
    e.on_finding(finding("f1", "brute", "high", &[]))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while e.deliveries("mail", 10).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no delivery attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = &e.deliveries("mail", 10).unwrap()[0];
    assert_ne!(d.outcome, "delivered", "{d:?}");
    assert!(
        messages(&maildir).is_empty(),
        "nothing may be sent without TLS"
    );
    e.shutdown(std::time::Duration::from_millis(500)).await;
}
