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

/// POSTs NDJSON events with the given messages; the status and the
/// `Retry-After` header.
fn post_messages(ward: &Ward, messages: &[String]) -> (u16, Option<String>) {
    let body: String = messages
        .iter()
        .map(|m| format!("{}\n", json!({"message": m, "service": {"name": "fill"}})))
        .collect();
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", ward.url()))
        .bearer_auth(crate::harness::TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    let after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status().as_u16(), after)
}

/// Posts one event at a time until one is accepted (space has returned),
/// within 15 s; each message lands in `acked` or `refused`.
fn await_ingest(ward: &Ward, prefix: &str, acked: &mut Vec<String>, refused: &mut Vec<String>) {
    let started = std::time::Instant::now();
    for n in 0.. {
        let msg = format!("{prefix}-{n}");
        match post_messages(ward, std::slice::from_ref(&msg)).0 {
            200 => {
                acked.push(msg);
                return;
            }
            507 => refused.push(msg),
            other => panic!("unexpected status {other} after freeing space"),
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "ingest did not resume within 15 s of space returning"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn get(ward: &Ward, path: &str) -> (u16, String) {
    let r = Ward::client()
        .get(format!("{}{path}", ward.url()))
        .bearer_auth(&ward.admin)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// Every stored event of the `fill` service (HTTP) or host (syslog), by
/// message.
fn stored_messages(ward: &Ward) -> Vec<String> {
    let r = Ward::client()
        .get(format!("{}/api/v1/events/search", ward.url()))
        .bearer_auth(&ward.admin)
        .query(&[
            ("q", "service.name:fill OR host.name:fill-host"),
            ("since", "3650d"),
            ("limit", "100000"),
        ])
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let v: serde_json::Value = r.json().unwrap();
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| s(&h["event"], "message").to_owned())
        .collect()
}

/// A full disk: HTTP answers 507 with Retry-After, `/readyz`, the
/// metrics and an alert say why, syslog TCP holds its sender instead of dropping;
/// once the ballast is deleted ingest resumes by itself, and every
/// acknowledged event is stored exactly once (the refused ones never).
/// Restarted on the 100% full disk, Ward serves searches and refuses
/// changes with 507 until space returns.
#[test]
fn fault_full_disk_answers_507_and_heals_without_restart() {
    use std::io::Write as _;
    let Some(fs) = crate::harness::Tmpfs::mount("16m") else {
        return;
    };
    let data_env = fs.path.join("data").to_string_lossy().into_owned();
    let ward = Ward::start_with(None, &[("WARD_DATA_DIR", data_env.as_str())]);
    let (mut acked, mut refused) = (Vec::new(), Vec::new());
    let (status, _) = post_messages(&ward, &["warm-up".to_owned()]);
    assert_eq!(status, 200);
    acked.push("warm-up".to_owned());

    fs.fill(256 << 10);
    let mut saw_507 = false;
    for batch in 0..400 {
        let msgs: Vec<String> = (0..50)
            .map(|i| format!("full-{batch}-{i} {}", "x".repeat(300)))
            .collect();
        let (status, after) = post_messages(&ward, &msgs);
        match status {
            200 => acked.extend(msgs),
            507 => {
                assert_eq!(after.as_deref(), Some("5"), "507 carries Retry-After");
                refused.extend(msgs);
                saw_507 = true;
                break;
            }
            other => panic!("unexpected status {other} while filling the disk"),
        }
    }
    assert!(saw_507, "the disk never filled");
    // Still full: another try is refused the same way, and says so.
    let more: Vec<String> = (0..50)
        .map(|i| format!("again-{i} {}", "x".repeat(300)))
        .collect();
    assert_eq!(post_messages(&ward, &more).0, 507);
    refused.extend(more);
    let (ready, text) = get(&ward, "/readyz");
    assert_eq!(ready, 503, "{text}");
    assert!(text.contains("store"), "{text}");
    let (_, metrics) = get(&ward, "/metrics");
    assert!(
        metrics.contains("ward_store_write_failing{reason=\"no_space\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ward_store_write_failures_total"));

    // Syslog over TCP while the disk is full: held, not dropped.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", ward.syslog_port)).unwrap();
    let syslog: Vec<String> = (0..20).map(|i| format!("held-{i}")).collect();
    for m in &syslog {
        writeln!(tcp, "<134>1 2026-01-01T00:00:00Z fill-host fill - - - {m}").unwrap();
    }
    tcp.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));

    // Space returns: ingest resumes within seconds, without a restart.
    fs.free();
    await_ingest(&ward, "after", &mut acked, &mut refused);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while get(&ward, "/readyz").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "not ready again");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(tcp);
    // An alert says why (at the latest once the alert database, on the
    // same full disk here, can be written again).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, alerts) = get(&ward, "/api/v1/alerts");
        if alerts.contains("Event store cannot write: the disk is full") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no alert that the store cannot write: {alerts}\n{}",
            ward.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Exactly once each; the refused ones never; the held syslog lines all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let stored = loop {
        let stored = stored_messages(&ward);
        let held = syslog.iter().filter(|m| stored.contains(m)).count();
        if held == syslog.len() || std::time::Instant::now() > deadline {
            break stored;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let mut counts = std::collections::HashMap::new();
    for m in &stored {
        *counts.entry(m.as_str()).or_insert(0) += 1;
    }
    for m in &acked {
        assert_eq!(
            counts.get(m.as_str()),
            Some(&1),
            "acknowledged {m:.20} stored once"
        );
    }
    for m in &refused {
        assert_eq!(counts.get(m.as_str()), None, "refused {m:.20} was stored");
    }
    for m in &syslog {
        assert_eq!(
            counts.get(m.as_str()).copied().unwrap_or(0),
            1,
            "syslog line {m} held during the full disk is stored once"
        );
    }
    // A restart on a 100% full disk: Ward starts read only. Search and
    // the alert list work, `/readyz` says the store cannot write, ingest
    // and alert changes answer 507; once space returns both resume
    // without another restart.
    let mut ward = ward;
    ward.stop();
    fs.fill(0);
    ward.spawn();
    let (ready, text) = get(&ward, "/readyz");
    assert_eq!(ready, 503, "{text}");
    assert!(text.contains("store"), "{text}");
    assert!(
        stored_messages(&ward).contains(&"warm-up".to_owned()),
        "search works on the full disk"
    );
    let (_, alerts) = get(&ward, "/api/v1/alerts");
    assert!(
        alerts.contains("Event store cannot write: the disk is full"),
        "{alerts}"
    );
    let more: Vec<String> = (0..50)
        .map(|i| format!("restarted-{i} {}", "x".repeat(300)))
        .collect();
    assert_eq!(post_messages(&ward, &more).0, 507);
    refused.extend(more);
    let silence = || {
        Ward::client()
            .post(format!("{}/api/v1/silences", ward.url()))
            .bearer_auth(&ward.admin)
            .json(&json!({"matchers": ["alertname=full-disk-test"], "duration": "1h"}))
            .send()
            .unwrap()
    };
    let r = silence();
    assert_eq!(r.status().as_u16(), 507, "an alert change on the full disk");
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    assert!(r.text().unwrap().contains("the disk is full"));
    fs.free();
    await_ingest(&ward, "after-restart", &mut acked, &mut refused);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        let status = silence().status().as_u16();
        if status != 507 || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(status, 201, "alert changes resume once space returns");
    let stored = stored_messages(&ward);
    for m in &acked {
        assert!(stored.contains(m), "acknowledged {m:.20} kept");
    }
    for m in &refused {
        assert!(!stored.contains(m), "refused {m:.20} was stored");
    }
    eprintln!(
        "full disk: {} acknowledged, {} refused with 507, {} syslog lines held",
        acked.len(),
        refused.len(),
        syslog.len()
    );
}

const HOSTILE_CONFIG: &str = r#"
[server]
http_header_timeout = "1s"
http_body_timeout = "1s"
[syslog]
max_connections_per_address = 5
idle_timeout = "1s"
[limits]
max_records_per_request = 10
max_future_skew = "1h"
"#;

/// Whether the server closed a socket (a read sees the end or an error
/// rather than timing out).
fn closed_by_server(sock: &mut std::net::TcpStream, within: std::time::Duration) -> bool {
    use std::io::Read as _;
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an error response before the close
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// Slowloris on HTTP: 300 sockets that never finish their headers do not
/// stop a real sender, and each is closed after the header-read timeout;
/// an idle kept-alive connection too, and one whose body never finishes.
#[test]
fn fault_slowloris_http_is_cut_off_and_ingest_still_works() {
    use std::io::Write as _;
    let ward = Ward::start_with(Some(HOSTILE_CONFIG), &[]);
    let mut slow: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", ward.http_port)).unwrap();
            s.write_all(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    let (status, v) = ward.post(
        "/api/v1/ingest",
        "application/x-ndjson",
        "{\"message\":\"through the slowloris\"}\n",
    );
    assert_eq!(status, 200, "{v}");
    let closed = slow
        .iter_mut()
        .map(|s| closed_by_server(s, std::time::Duration::from_secs(5)))
        .filter(|c| *c)
        .count();
    assert_eq!(
        closed, 300,
        "every partial-header socket is closed by the server"
    );
    // A kept-alive connection that sends nothing after its request.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", ward.http_port)).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_by_server(
        &mut idle,
        std::time::Duration::from_secs(5)
    ));
    assert_eq!(
        ward.wait_for("message:\"through the slowloris\"", 1).len(),
        1
    );
    // Headers sent in full, then a body that never finishes.
    let mut trickle = std::net::TcpStream::connect(("127.0.0.1", ward.http_port)).unwrap();
    write!(
        trickle,
        "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{{\"mess",
        crate::harness::TOKEN
    )
    .unwrap();
    assert!(
        closed_by_server(&mut trickle, std::time::Duration::from_secs(5)),
        "a trickled body is cut off at server.http_body_timeout"
    );
}

/// Syslog TCP: one address cannot take more than its share of
/// connections, and silent connections are closed after the idle timeout,
/// so a real sender gets in.
#[test]
fn fault_syslog_tcp_caps_per_address_and_closes_idle() {
    use std::io::Write as _;
    let ward = Ward::start_with(Some(HOSTILE_CONFIG), &[]);
    let connect = || std::net::TcpStream::connect(("127.0.0.1", ward.syslog_port)).unwrap();
    let mut idle: Vec<_> = (0..5).map(|_| connect()).collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut sixth = connect();
    assert!(
        closed_by_server(&mut sixth, std::time::Duration::from_millis(900)),
        "a sixth connection from one address is refused"
    );
    for s in &mut idle {
        assert!(
            closed_by_server(s, std::time::Duration::from_secs(5)),
            "idle connection closed"
        );
    }
    let mut sender = connect();
    writeln!(
        sender,
        "<134>1 2026-01-01T00:00:00Z h app - - - after the idle ones"
    )
    .unwrap();
    drop(sender);
    assert_eq!(ward.wait_for("message:\"after the idle ones\"", 1).len(), 1);
}

/// A request with more records than `limits.max_records_per_request` is
/// refused whole with 413 and a message naming the setting; nothing of it
/// is stored.
#[test]
fn fault_too_many_records_in_one_request_is_413() {
    let ward = Ward::start_with(Some(HOSTILE_CONFIG), &[]);
    let body: String = (0..11)
        .map(|i| format!("{}\n", json!({"message": format!("over-{i}")})))
        .collect();
    let (status, v) = ward.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 413, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("limits.max_records_per_request"),
        "{v}"
    );
    let body: String = (0..10)
        .map(|i| format!("{}\n", json!({"message": format!("fits-{i}")})))
        .collect();
    assert_eq!(
        ward.post("/api/v1/ingest", "application/x-ndjson", body).0,
        200
    );
    assert_eq!(ward.wait_for("message:fits*", 10).len(), 10);
    assert!(ward.search("message:over*").is_empty());
}

/// An event dated in year 5138 (epoch 1e20, read as nanoseconds) is
/// stored at its receive time, its sent time kept and flagged, so it does
/// not sit on top of every search.
#[test]
fn fault_far_future_timestamp_is_clamped() {
    let ward = Ward::start_with(Some(HOSTILE_CONFIG), &[]);
    let body = concat!(
        r#"{"message": "from the future", "@timestamp": 100000000000000000000}"#,
        "\n",
        r#"{"message": "from now"}"#,
        "\n"
    );
    assert_eq!(
        ward.post("/api/v1/ingest", "application/x-ndjson", body).0,
        200
    );
    let hits = ward.wait_for("message:from*", 2);
    assert_eq!(hits.len(), 2);
    let future = hits
        .iter()
        .find(|h| s(h, "message") == "from the future")
        .unwrap();
    let ts: jiff::Timestamp = s(future, "@timestamp").parse().unwrap();
    assert!(
        (jiff::Timestamp::now() - ts).get_seconds().abs() < 60,
        "{future}"
    );
    assert!(
        s(future, "event.original_timestamp").starts_with("5138-"),
        "{future}"
    );
    assert_eq!(
        crate::harness::field(future, "ward.flags"),
        Some(&json!(["timestamp_in_future"]))
    );
}

/// A pathological wildcard (`*aaaa…ab`, 1,000 characters) over ~2 MB of
/// messages finishes inside the search deadline (the server answers 200,
/// not "search stopped"): wildcards are matched by an automaton, linear in
/// the text.
#[test]
fn fault_pathological_wildcard_search_finishes_within_the_deadline() {
    let ward = Ward::start();
    let big = "a".repeat(1000 << 10);
    let body: String = (0..2)
        .map(|i| format!("{}\n", json!({"message": big, "labels": {"n": i}})))
        .collect();
    assert_eq!(
        ward.post("/api/v1/ingest", "application/x-ndjson", body).0,
        200
    );
    assert_eq!(ward.wait_for("labels.n:*", 2).len(), 2);
    let q = format!("message:*{}b", "a".repeat(1000));
    let r = Ward::client()
        .get(format!("{}/api/v1/events/search", ward.url()))
        .bearer_auth(&ward.admin)
        .query(&[("q", q.as_str()), ("since", "1d")])
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["hits"].as_array().map(Vec::len), Some(0));
    // The two events, and the audit records of the searches before.
    assert!(v["records_scanned"].as_u64().unwrap() >= 2, "{v}");
}

/// `ward retention --dry-run` beside a running server: it reads the sealed
/// segments without opening the store, says what would go and why, and
/// changes nothing (no checkpoint, no lock, no file).
#[test]
fn fault_retention_dry_run_works_beside_the_server_and_changes_nothing() {
    let config = "[store]\nsegment_max_age = \"1s\"\n[retention]\ndefault_days = 400\n";
    let ward = Ward::start_with(Some(config), &[]);
    let body: String = (0..20)
        .map(|i| {
            format!(
                "{}\n",
                json!({"@timestamp": "2020-03-01T00:00:00Z", "message": format!("old {i}")})
            )
        })
        .collect();
    let (status, v) = ward.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200, "{v}");
    let events = ward.data_dir().join("events");
    let listing = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = ["segments", "checkpoints", "deletions"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(d.join(sub)).into_iter().flatten())
            .flatten()
            .map(|e| e.path().display().to_string())
            .collect();
        v.sort();
        v
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !listing(&events).iter().any(|p| p.ends_with(".seg")) {
        assert!(std::time::Instant::now() < deadline, "nothing was sealed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let before = listing(&events);
    let cfg = ward.dir.path().join("ward.toml");
    let out = std::process::Command::new(crate::harness::ward_bin())
        .args(["retention", "--dry-run", "--config"])
        .arg(&cfg)
        .env("WARD_DATA_DIR", ward.data_dir())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("would delete"), "{text}");
    assert!(
        text.contains("records without category (400 days)"),
        "{text}"
    );
    assert_eq!(listing(&events), before, "a dry run changed the store");
    assert_eq!(ward.search("message:old*").len(), 20);
}

/// CPU time (user + system, in clock ticks) the process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): utime is
    // the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// A search that would run for many seconds stops using CPU soon after its
/// client hangs up, and the next search is served.
#[test]
fn fault_search_stops_when_the_client_disconnects() {
    // Unsealed: the write-ahead segment's blocks hold 1,024 records each.
    let ward = Ward::start();
    // 8 MB of text in 1 KB messages.
    let text = "a".repeat(1000);
    for part in 0..2 {
        let body: String = (0..4000)
            .map(|i| {
                let n = part * 4000 + i;
                format!("{}\n", json!({"message": text, "labels": {"n": n}}))
            })
            .collect();
        let (status, v) = ward.post("/api/v1/ingest", "application/x-ndjson", body);
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(ward.wait_for("labels.n:3", 1).len(), 1);
    // Hundreds of wildcards, each a pass over 8 MB of text.
    let q = (0..450)
        .map(|i| format!("message:*a{i}b"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let pid = ward.child.as_ref().unwrap().id();
    // Quiet first: detection has read what was ingested.
    let quiet = std::time::Instant::now();
    let idle = loop {
        let before = cpu_ticks(pid);
        std::thread::sleep(std::time::Duration::from_millis(1000));
        let used = cpu_ticks(pid) - before;
        if used < 15 || quiet.elapsed() > std::time::Duration::from_secs(60) {
            break used;
        }
    };
    let (url, admin, query) = (ward.url(), ward.admin.clone(), q.clone());
    let client = std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(4))
            .build()
            .unwrap()
            .get(format!("{url}/api/v1/events/search"))
            .bearer_auth(admin)
            .query(&[("q", query.as_str()), ("since", "1d")])
            .send()
            .map(|r| r.status().as_u16())
    });
    let at = |secs: f64| {
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        cpu_ticks(pid)
    };
    let start = at(1.0);
    let searching = at(2.5) - start;
    let outcome = client.join().unwrap();
    assert!(
        outcome.is_err(),
        "the search answered within 4 s: {outcome:?}"
    );
    // After the hang-up, one second of grace, then seconds until one
    // uses less than a quarter of the search's rate. Uncancelled, the
    // search would run to its 30 s deadline and every second would be
    // busy; a second taken by other background work (sealing, say, on a
    // loaded machine) is followed by a quiet one.
    let mut last = at(1.0);
    let mut after = Vec::new();
    for _ in 0..4 {
        let now = at(1.0);
        let used = now - last;
        after.push(used);
        last = now;
        if used * 10 < searching {
            break;
        }
    }
    assert!(
        searching >= 20 && after.iter().any(|t| t * 10 < searching),
        "CPU ticks over 2.5 s: {searching} while searching; in each second after the client hung up: {after:?} ({idle} in 1 s before)\n{}",
        ward.log()
    );
    assert_eq!(ward.search("labels.n:3").len(), 1);
}
