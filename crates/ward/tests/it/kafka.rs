//! Kafka input against a real Kafka-compatible broker (`tansu`, installed
//! by scripts/test.sh) on loopback, with librdkafka as the producer:
//! JSON, syslog, undecodable and empty messages; redaction on this path;
//! offsets committed only after storage, so a restart neither loses nor
//! re-reads.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use serde_json::Value;

use crate::harness::{Ward, field, free_port, require, s};

/// A `tansu` broker in its own empty directory (also used by
/// `multiline_secrets`).
pub struct Broker {
    child: Child,
    _dir: tempfile::TempDir,
    pub addr: String,
}

impl Broker {
    pub fn start() -> Broker {
        require("tansu");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Broker::launch(dir.path(), &addr);
        Broker {
            child,
            _dir: dir,
            addr,
        }
    }

    /// Starts `tansu` on `addr` with its storage in `dir`; returns once it
    /// listens.
    fn launch(dir: &std::path::Path, addr: &str) -> Child {
        let url = format!("tcp://{addr}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("tansu.log"))
            .unwrap();
        let child = Command::new("tansu")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://./t.db"])
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {addr}:\n{}",
                std::fs::read_to_string(dir.join("tansu.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// Kills the broker (SIGKILL); its storage stays for [`Broker::restart`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the broker again on the same address and storage.
    pub fn restart(&mut self) {
        self.child = Broker::launch(self._dir.path(), &self.addr);
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .create()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let res = rt
            .block_on(admin.create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            ))
            .unwrap();
        for r in res {
            r.unwrap();
        }
    }

    /// Produces messages (key, payload; `None` payload = tombstone) and
    /// waits until the broker has them all.
    pub fn produce(&self, topic: &str, messages: &[(Option<String>, Option<Vec<u8>>)]) {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("acks", "all")
            .create()
            .unwrap();
        for (key, payload) in messages {
            let mut rec: BaseRecord<'_, String, Vec<u8>> = BaseRecord::to(topic);
            if let Some(k) = key {
                rec = rec.key(k);
            }
            if let Some(b) = payload {
                rec = rec.payload(b);
            }
            p.send(rec).map_err(|(e, _)| e).unwrap();
            p.poll(Duration::ZERO);
        }
        p.flush(Duration::from_secs(30)).unwrap();
    }
}

impl Broker {
    /// Every message of partition 0 of `topic`, from its beginning to its
    /// end when called: (key, payload).
    pub fn read_all(&self, topic: &str) -> Vec<(String, Option<Vec<u8>>)> {
        use rdkafka::consumer::{BaseConsumer, Consumer as _};
        use rdkafka::message::Message as _;
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let (low, high) = c
            .fetch_watermarks(topic, 0, Duration::from_secs(10))
            .unwrap();
        let mut out = Vec::new();
        if high <= low {
            return out;
        }
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, rdkafka::Offset::Offset(low))
            .unwrap();
        c.assign(&tpl).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                out.push((key, m.payload().map(<[u8]>::to_vec)));
                if m.offset() + 1 >= high {
                    return out;
                }
            }
        }
        panic!("{topic} not read to its end");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_event(i: usize) -> (Option<String>, Option<Vec<u8>>) {
    let line = format!(
        r#"{{"timestamp":"2026-11-20T10:00:{:02}Z","service":"shop","event_type":"login_failed","severity":"warning","user_id":"user-{i}","source_ip":"10.1.0.{}","outcome":"failure","correlation_id":"c-{i}","password":"hunter2-kafka-{i}"}}"#,
        i % 60,
        i % 250
    );
    (Some(format!("user-{i}")), Some(line.into_bytes()))
}

/// Searches until exactly `n` events match (or fails after 60 s), then
/// checks that no more arrive.
fn expect_exactly(ward: &Ward, q: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let hits = ward.search(q);
        assert!(
            hits.len() <= n,
            "{} events for {q}, expected {n}",
            hits.len()
        );
        if hits.len() == n {
            std::thread::sleep(Duration::from_secs(1));
            let again = ward.search(q);
            assert_eq!(again.len(), n, "more events arrived for {q}");
            return again;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} events for {q} after 60 s:\n{}",
            hits.len(),
            ward.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kafka_topics_are_consumed_stored_and_committed_after_storage() {
    let broker = Broker::start();
    broker.create_topic("app-logs", 2);
    let mut first: Vec<_> = (0..100).map(json_event).collect();
    first.push((None, Some(b"{\"broken\": ".to_vec())));
    first.push((
        None,
        Some(b"<34>1 2026-11-20T10:01:00Z web01 sshd 42 - - kafka syslog line".to_vec()),
    ));
    first.push((Some("gone".into()), None));
    broker.produce("app-logs", &first);

    let config = format!(
        r#"
[[kafka]]
brokers = "{}"
topics = ["app-logs"]
group_id = "ward-test"
source = "kafka-apps"
tenant = "acme"
batch_wait = "100ms"
options = {{ "session.timeout.ms" = "6000" }}
"#,
        broker.addr
    );
    let mut ward = Ward::start_with(Some(&config), &[]);
    let all = expect_exactly(&ward, "ward.source:kafka-apps", 102);

    let logins = ward.search("kafka.topic:app-logs AND event.action:login_failed");
    assert_eq!(logins.len(), 100);
    let e = logins
        .iter()
        .find(|e| s(e, "user.id") == "user-7")
        .expect("user-7's event");
    assert_eq!(s(e, "tenant.id"), "acme");
    assert_eq!(s(e, "source.ip"), "10.1.0.7");
    assert_eq!(s(e, "kafka.key"), "user-7");
    assert!(field(e, "kafka.partition").unwrap().is_i64());
    assert!(field(e, "kafka.offset").unwrap().is_i64());
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains("hunter2-kafka"), "a password was stored");

    let syslog = ward.search("kafka.topic:app-logs AND host.name:web01");
    assert_eq!(syslog.len(), 1, "the syslog message");
    let dead = ward.search("ward.source:kafka-apps AND event.kind:pipeline_error");
    assert_eq!(dead.len(), 1, "the undecodable message is a dead letter");

    // Stopped and restarted: only the new messages are read.
    std::thread::sleep(Duration::from_millis(500));
    ward.stop();
    broker.produce("app-logs", &(100..120).map(json_event).collect::<Vec<_>>());
    ward.spawn();
    expect_exactly(&ward, "ward.source:kafka-apps", 122);
    let log = ward.log();
    assert!(!log.contains("hunter2"), "the log echoes a secret");
}
