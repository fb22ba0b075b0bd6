//! Real shippers and client libraries: util-linux `logger` (UDP, TCP,
//! octet-counted, RFC 5424 and 3164), rsyslog forwarding a file over TCP,
//! the Python Elasticsearch client's `helpers.bulk`, and the OpenTelemetry
//! Python SDK's OTLP/HTTP log exporter. Each checks field values.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;

fn logger(w: &Ward, args: &[&str], msg: &str) {
    require("logger");
    let port = w.syslog_port.to_string();
    let st = Command::new("logger")
        .args(["--server", "127.0.0.1", "--port", &port])
        .args(args)
        .arg(msg)
        .status()
        .unwrap();
    assert!(st.success(), "logger {args:?} failed");
}

#[test]
fn logger_over_udp_and_tcp_in_both_formats() {
    let w = Ward::start();
    logger(
        &w,
        &[
            "--udp",
            "--rfc5424",
            "-t",
            "udp5424",
            "-p",
            "auth.err",
            "--sd-id",
            "origin@32473",
            "--sd-param",
            "team=\"payments\"",
        ],
        "udp 5424 message",
    );
    logger(
        &w,
        &["--udp", "--rfc3164", "-t", "udp3164", "-p", "user.warning"],
        "udp 3164 message",
    );
    logger(
        &w,
        &["--tcp", "--rfc5424", "-t", "tcp5424", "-p", "local0.info"],
        "tcp 5424 message",
    );
    logger(
        &w,
        &[
            "--tcp",
            "--octet-count",
            "--rfc5424",
            "-t",
            "tcpoctet",
            "-p",
            "daemon.crit",
        ],
        "octet counted message",
    );
    logger(
        &w,
        &["--tcp", "--rfc3164", "-t", "jsonapp"],
        r#"{"event_type":"login_failure","user_id":"mallory","source_ip":"192.0.2.77"}"#,
    );

    let e = &w.wait_for("process.name:udp5424", 1)[0];
    assert_eq!(s(e, "message"), "udp 5424 message");
    assert_eq!(s(e, "log.level"), "ERROR");
    assert_eq!(s(e, "ward.input"), "syslog-udp");
    assert_eq!(
        s(e, "syslog.structured_data.origin@32473.team"),
        "payments",
        "{e}"
    );
    assert_eq!(field(e, "log.syslog.facility.code").unwrap(), 4);

    let e = &w.wait_for("process.name:udp3164", 1)[0];
    assert_eq!(s(e, "message"), "udp 3164 message");
    assert_eq!(s(e, "log.level"), "WARN");

    let e = &w.wait_for("process.name:tcp5424", 1)[0];
    assert_eq!(s(e, "message"), "tcp 5424 message");
    assert_eq!(s(e, "ward.input"), "syslog-tcp");
    assert_eq!(s(e, "log.level"), "INFO");

    let e = &w.wait_for("process.name:tcpoctet", 1)[0];
    assert_eq!(s(e, "message"), "octet counted message");
    assert_eq!(s(e, "log.level"), "CRITICAL");

    let e = &w.wait_for("process.name:jsonapp", 1)[0];
    assert_eq!(s(e, "user.id"), "mallory");
    assert_eq!(s(e, "source.ip"), "192.0.2.77");
    assert_eq!(s(e, "event.outcome"), "failure");
}

#[test]
fn a_syslog_frame_that_lies_about_its_length_loses_nothing_else() {
    use std::io::Write as _;
    let w = Ward::start_with(Some("[limits]\nmax_frame_bytes = 1024\n"), &[]);
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", w.syslog_port)).unwrap();
    let good1 = "<13>1 2026-01-26T10:00:00Z h1 liar1 - - - before the lie";
    let good2 = "<13>1 2026-01-26T10:00:01Z h1 liar2 - - - after the lie";
    let stream = format!(
        "{} {good1}99999999 <13>1 2026-01-26T10:00:00Z h1 x - - - short\n{} {good2}",
        good1.len(),
        good2.len()
    );
    sock.write_all(stream.as_bytes()).unwrap();
    drop(sock);
    assert_eq!(w.wait_for("process.name:liar1", 1).len(), 1);
    assert_eq!(w.wait_for("process.name:liar2", 1).len(), 1);
    let dead = w.wait_for("ward.dead_letter:true", 1);
    assert!(!dead.is_empty(), "the lying frame is kept as a dead letter");
}

/// One connection carrying many read batches at once (both framings, cut
/// at arbitrary byte boundaries): every message is stored exactly once,
/// whichever batch it fell in and however the batches overtook each other.
#[test]
fn a_long_syslog_tcp_stream_is_stored_exactly_once() {
    use std::io::Write as _;
    let w = Ward::start();
    let mut stream = Vec::new();
    let n = 30_000;
    for i in 0..n {
        let msg = format!(
            "<38>1 2026-01-26T10:{:02}:{:02}.{:03}Z h{} bulkapp {i} - - line {i} of the stream",
            (i / 60_000) % 60,
            (i / 1000) % 60,
            i % 1000,
            i % 50
        );
        if i % 3 == 0 {
            stream.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
        } else {
            stream.extend_from_slice(msg.as_bytes());
            stream.push(b'\n');
        }
    }
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", w.syslog_port)).unwrap();
    for piece in stream.chunks(7_777) {
        sock.write_all(piece).unwrap();
    }
    drop(sock);
    let count_by_host = || w.count_by("process.name:bulkapp | count by host.name");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut counts = count_by_host();
    while counts.values().sum::<u64>() < n as u64 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        counts = count_by_host();
    }
    // Let any duplicate land before judging.
    std::thread::sleep(Duration::from_millis(500));
    counts = count_by_host();
    assert_eq!(counts.len(), 50, "{counts:?}");
    for (host, c) in &counts {
        assert_eq!(*c, (n / 50) as u64, "{host}: {counts:?}");
    }
    let dead = w.search("ward.dead_letter:true");
    assert!(dead.is_empty(), "{dead:?}");
    // Every stage that carried them reports its CPU time.
    let metrics = Ward::client()
        .get(format!("{}/metrics", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    for stage in ["frame", "decode", "redact", "record", "append", "detect"] {
        let line = format!("ward_stage_cpu_nanoseconds_total{{stage=\"{stage}\"}} ");
        let ns: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no CPU time for {stage}: {metrics}"));
        assert!(ns > 0, "{stage}");
    }
}

#[test]
fn rsyslog_forwards_a_file_over_tcp() {
    require("rsyslogd");
    let w = Ward::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        "user alice logged in from 203.0.113.5\n{\"event_type\":\"privilege_change\",\"user_id\":\"root-wannabe\",\"outcome\":\"success\"}\n",
    )
    .unwrap();
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}")
module(load="imfile" PollingInterval="1")
input(type="imfile" File="{log}" Tag="fileapp" Facility="local3" Severity="notice")
action(type="omfwd" Target="127.0.0.1" Port="{port}" Protocol="tcp" TCP_Framing="octet-counted" Template="RSYSLOG_SyslogProtocol23Format")
"#,
            dir = dir.path().display(),
            log = log.display(),
            port = w.syslog_port
        ),
    )
    .unwrap();
    let mut rs = Command::new("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslog.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let hits = w.wait_for("process.name:fileapp", 2);
    let _ = rs.kill();
    let _ = rs.wait();
    assert_eq!(hits.len(), 2, "rsyslog did not forward both lines");
    let plain = hits
        .iter()
        .find(|e| s(e, "message").contains("alice logged in"))
        .expect("plain line");
    assert_eq!(s(plain, "log.syslog.facility.name"), "local3");
    let json = hits
        .iter()
        .find(|e| s(e, "user.id") == "root-wannabe")
        .expect("json line");
    assert_eq!(s(json, "event.outcome"), "success");
    assert_eq!(s(json, "event.action"), "privilege_change");
}

const ES_SCRIPT: &str = r#"
import sys
from elasticsearch import Elasticsearch, helpers
es = Elasticsearch(sys.argv[1], api_key=sys.argv[2], request_timeout=30)
info = es.info()
assert info["version"]["number"].startswith("8"), info
docs = [{"_index": "app-logs", "_source": {"@timestamp": "2026-01-26T10:00:%02dZ" % i, "service": {"name": "es-client"}, "event": {"action": "file_export", "category": ["file"], "outcome": "success"}, "user": {"name": "frank"}, "file": {"path": "/exports/customers-%d.csv" % i}}} for i in range(50)]
ok, errors = helpers.bulk(es, docs, chunk_size=20)
print(ok, len(errors))
"#;

#[test]
fn python_elasticsearch_helpers_bulk() {
    let w = Ward::start();
    let out = python(ES_SCRIPT, &[&w.url(), TOKEN]);
    assert_eq!(out.trim(), "50 0");
    let hits = w.wait_for("service.name:es-client", 50);
    assert_eq!(hits.len(), 50);
    let e = hits
        .iter()
        .find(|e| s(e, "file.path") == "/exports/customers-7.csv")
        .unwrap();
    assert_eq!(s(e, "@timestamp"), "2026-01-26T10:00:07.000Z");
    assert_eq!(s(e, "user.name"), "frank");
    assert_eq!(s(e, "event.action"), "file_export");
    assert_eq!(s(e, "ward.input"), "bulk");
}

const OTEL_SCRIPT: &str = r#"
import logging, sys
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk.resources import Resource
provider = LoggerProvider(resource=Resource.create({"service.name": "otel-app", "host.name": "otel-host"}))
exporter = OTLPLogExporter(endpoint=sys.argv[1] + "/v1/logs", headers={"authorization": "Bearer " + sys.argv[2]})
provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
log = logging.getLogger("otel-test")
log.propagate = False
log.addHandler(handler)
log.setLevel(logging.INFO)
log.warning("user login failed", extra={"user.id": "erin", "source.ip": "192.0.2.5", "event.action": "login", "event.outcome": "failure", "attempts": 3})
log.info("model call", extra={"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 42, "user.id": "erin"})
provider.shutdown()
print("sent")
"#;

#[test]
fn opentelemetry_sdk_otlp_http_exporter() {
    let w = Ward::start();
    let out = python(OTEL_SCRIPT, &[&w.url(), TOKEN]);
    assert_eq!(out.trim(), "sent");
    let hits = w.wait_for("service.name:otel-app", 2);
    assert_eq!(hits.len(), 2, "{hits:?}");
    let login = hits
        .iter()
        .find(|e| s(e, "message") == "user login failed")
        .unwrap();
    assert_eq!(s(login, "user.id"), "erin");
    assert_eq!(s(login, "source.ip"), "192.0.2.5");
    assert_eq!(s(login, "log.level"), "WARN");
    assert_eq!(s(login, "host.name"), "otel-host");
    assert_eq!(s(login, "ward.input"), "otlp");
    let ai = hits
        .iter()
        .find(|e| s(e, "message") == "model call")
        .unwrap();
    assert_eq!(s(ai, "ai.model.name"), "gpt-4o");
    let cat = field(ai, "event.category").unwrap().to_string();
    assert!(cat.contains("ai"), "{ai}");
    std::thread::sleep(Duration::from_millis(10));
}
