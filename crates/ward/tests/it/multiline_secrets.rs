//! Private keys that arrive one line per event never reach the store: real
//! keys made in the test (`openssl` RSA, EC, Ed25519 and encrypted PKCS#8,
//! `ssh-keygen` OpenSSH, `gpg` OpenPGP) are written into a log between
//! ordinary lines and sent line by line over syslog TCP and UDP (`logger`),
//! `text/plain` and NDJSON HTTP, Splunk HEC raw, `ward send` and Kafka, and
//! given to `ward redact`.
//! No 16-character piece of any body line may appear in a stored event, a
//! search answer, a dead letter or Ward's own log; the ordinary lines around
//! the keys are stored unchanged.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::kafka::Broker;

/// Shortest piece of a key line that counts as leaked.
const PIECE: usize = 16;

/// A log file holding several private keys and the pieces of their bodies.
struct KeyLog {
    dir: tempfile::TempDir,
    path: PathBuf,
    pieces: HashSet<String>,
    body_lines: usize,
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(run(Command::new("openssl").args(args).current_dir(dir))).unwrap()
}

/// Generates the keys and writes `keys.log`: each key between two ordinary
/// lines tagged with `tag`.
fn key_log(tag: &str) -> KeyLog {
    for tool in ["openssl", "ssh-keygen", "gpg"] {
        require(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut keys = vec![
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
        ),
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
        ),
        openssl(d, &["genpkey", "-algorithm", "ed25519"]),
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-aes-256-cbc",
                "-pass",
                "pass:test-passphrase",
            ],
        ),
        // The traditional `BEGIN RSA PRIVATE KEY` (PKCS#1) form.
        openssl(d, &["genrsa", "-traditional", "2048"]),
    ];
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(d.join("id_ed25519")));
    run(Command::new("ssh-keygen")
        .args([
            "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "test", "-f",
        ])
        .arg(d.join("id_rsa")));
    keys.push(std::fs::read_to_string(d.join("id_ed25519")).unwrap());
    keys.push(std::fs::read_to_string(d.join("id_rsa")).unwrap());
    let home = d.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args))
    };
    gpg(&[
        "--quick-gen-key",
        "Test <t@example.com>",
        "ed25519",
        "default",
        "never",
    ]);
    gpg(&[
        "--quick-gen-key",
        "Rsa <r@example.com>",
        "rsa2048",
        "default",
        "never",
    ]);
    keys.push(String::from_utf8(gpg(&["--export-secret-keys", "--armor"])).unwrap());
    // gpg started an agent for this home: stop it with the test.
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "all"])
        .status();

    let mut log = String::new();
    let mut pieces = HashSet::new();
    let mut body_lines = 0;
    for (i, key) in keys.iter().enumerate() {
        log.push_str(&format!("{tag} before key {i}: deploy started\n"));
        for line in key.lines() {
            log.push_str(line);
            log.push('\n');
            let body = !line.starts_with("-----") && line.len() >= PIECE;
            if body {
                body_lines += 1;
                for at in 0..=line.len() - PIECE {
                    pieces.insert(line[at..at + PIECE].to_string());
                }
            }
        }
        log.push_str(&format!("{tag} after key {i}: deploy finished\n"));
    }
    let path = d.join("keys.log");
    std::fs::write(&path, log).unwrap();
    KeyLog {
        dir,
        path,
        pieces,
        body_lines,
    }
}

impl KeyLog {
    fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap()
    }

    fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    /// Fails naming where a piece of a key body appears in `text`.
    fn assert_clean(&self, what: &str, text: &str) {
        let b = text.as_bytes();
        for at in 0..b.len().saturating_sub(PIECE - 1) {
            if let Ok(w) = std::str::from_utf8(&b[at..at + PIECE])
                && self.pieces.contains(w)
            {
                let from = at.saturating_sub(200);
                panic!(
                    "a private key line leaked into {what}: …{}…",
                    String::from_utf8_lossy(&b[from..(at + 200).min(b.len())])
                );
            }
        }
    }
}

/// Waits until the ordinary line after the last key is stored, then checks
/// every stored event (dead letters included) and Ward's log.
fn assert_stored_clean(w: &Ward, keys: &KeyLog, tag: &str, what: &str) {
    let last = w.wait_for(&format!("\"{tag} after key 7\""), 1);
    assert!(!last.is_empty(), "{what}: nothing stored\n{}", w.log());
    // Everything sent before the last line is stored by now (one stream).
    std::thread::sleep(Duration::from_millis(300));
    let all = w.search("*");
    assert!(
        all.len() > keys.body_lines,
        "{what}: {} events for {} key lines: the lines must be stored, masked",
        all.len(),
        keys.body_lines
    );
    keys.assert_clean(what, &serde_json::to_string(&all).unwrap());
    keys.assert_clean(&format!("ward's log ({what})"), &w.log());
    let masked = serde_json::to_string(&all)
        .unwrap()
        .matches("[REDACTED:private_key]")
        .count();
    assert!(masked >= keys.body_lines, "{what}: {masked} markers");
    // Each key's header line is stored masked and records the finding.
    let headers = all
        .iter()
        .filter(|e| {
            s(e, "message").contains("[REDACTED:private_key]")
                && field(e, "ward.leak.kinds")
                    .is_some_and(|k| k.to_string().contains("private_key"))
        })
        .count();
    assert!(
        headers >= 8,
        "{what}: {headers} events record a private key"
    );
    let before = w.search(&format!("\"{tag} before key 3: deploy started\""));
    assert_eq!(before.len(), 1, "{what}: ordinary lines are kept");
}

#[test]
fn keys_sent_line_by_line_over_syslog_tcp_and_udp_are_masked() {
    require("logger");
    let w = Ward::start();
    for (proto, tag) in [("--tcp", "tcpkeys"), ("--udp", "udpkeys")] {
        let keys = key_log(tag);
        let port = w.syslog_port.to_string();
        // One logger per protocol: one TCP connection, one UDP sender.
        run(Command::new("logger")
            .args([proto, "--rfc5424", "-n", "127.0.0.1", "-P", &port])
            .args(["-t", "deploy", "-f"])
            .arg(&keys.path));
        assert_stored_clean(&w, &keys, tag, proto);
    }
}

#[test]
fn keys_in_text_ndjson_and_hec_bodies_and_from_ward_send_are_masked() {
    let w = Ward::start();
    let keys = key_log("httpkeys");
    let (status, answer) = w.post("/api/v1/ingest", "text/plain", keys.text());
    assert_eq!(status, 200, "{answer}");
    assert_stored_clean(&w, &keys, "httpkeys", "text/plain ingest");

    // NDJSON, one event per line of the log.
    let keys = key_log("ndjsonkeys");
    let body: String = keys
        .lines()
        .iter()
        .map(|l| serde_json::json!({ "message": l, "service": "deploy" }).to_string() + "\n")
        .collect();
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200, "{answer}");
    assert_stored_clean(&w, &keys, "ndjsonkeys", "NDJSON ingest");

    // Splunk HEC raw.
    let keys = key_log("heckeys");
    let r = Ward::client()
        .post(format!("{}/services/collector/raw?host=hec-host", w.url()))
        .header("authorization", format!("Splunk {TOKEN}"))
        .body(keys.text())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_stored_clean(&w, &keys, "heckeys", "HEC raw");

    // `ward send` with batches of three lines: a key is never cut between
    // two requests.
    let keys = key_log("sendkeys");
    let out = w.cli(
        &[
            "send",
            "--quiet",
            "--batch",
            "3",
            keys.path.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    keys.assert_clean("ward send output", &String::from_utf8_lossy(&out.stderr));
    assert_stored_clean(&w, &keys, "sendkeys", "ward send");
}

#[test]
fn keys_produced_one_line_per_kafka_message_are_masked() {
    let broker = Broker::start();
    broker.create_topic("key-lines", 1);
    let keys = key_log("kafkakeys");
    let messages: Vec<_> = keys
        .lines()
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| (None, Some(l.into_bytes())))
        .collect();
    broker.produce("key-lines", &messages);
    let config = format!(
        r#"
[[kafka]]
brokers = "{}"
topics = ["key-lines"]
group_id = "ward-keys"
source = "kafka-keys"
tenant = "default"
format = "text"
batch_wait = "100ms"
options = {{ "session.timeout.ms" = "6000" }}
"#,
        broker.addr
    );
    let w = Ward::start_with(Some(&config), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.search("\"kafkakeys after key 7\"").is_empty() {
        assert!(
            Instant::now() < deadline,
            "kafka: nothing stored\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_stored_clean(&w, &keys, "kafkakeys", "kafka");
}

#[test]
fn ward_redact_masks_every_line_of_a_key() {
    let keys = key_log("redactkeys");
    let out = Command::new(ward_bin())
        .arg("redact")
        .arg(&keys.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "findings give exit status 1");
    let clean = String::from_utf8(out.stdout).unwrap();
    keys.assert_clean("ward redact output", &clean);
    keys.assert_clean("ward redact summary", &String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        clean.lines().count(),
        keys.lines().len(),
        "one line out per line in"
    );
    assert!(clean.contains("redactkeys after key 7: deploy finished"));

    // Each key whole in one event (a multi-line message).
    let mut events = String::new();
    for key in keys.text().split("deploy started\n").skip(1) {
        let key = key.split("redactkeys after").next().unwrap();
        events.push_str(&serde_json::json!({ "message": key, "service": "deploy" }).to_string());
        events.push('\n');
    }
    let ndjson = keys.dir.path().join("keys.ndjson");
    std::fs::write(&ndjson, events).unwrap();
    let out = Command::new(ward_bin())
        .arg("redact")
        .arg(&ndjson)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let clean = String::from_utf8(out.stdout).unwrap();
    keys.assert_clean("ward redact output of whole-key events", &clean);
    assert_eq!(clean.lines().count(), 8, "one event out per event in");
    assert!(
        clean.lines().all(|l| l.contains("[REDACTED:private_key]")),
        "{clean}"
    );
}
