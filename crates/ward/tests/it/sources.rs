//! Recognized sources through the live ingest paths: the vendors'
//! documented examples (ward-event's `tests/fixtures/recognize/`) go to a
//! running `ward serve` the way each vendor sends them (HTTP NDJSON and
//! text, Splunk HEC, syslog over TCP, the GitHub (signed deliveries) and
//! Kubernetes webhooks),
//! with SigmaHQ rules for those sources loaded from `../shared/data/sigma`.
//! Every rule stays silent while only the negative records are sent (those
//! of every other source included), and fires once its positive record
//! arrives. Bad input on the new paths gets a clear error and loses no
//! other record.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{TOKEN, Ward, s};

const GITHUB_SECRET: &str = "github-webhook-secret-0123456789";
const K8S_TOKEN: &str = "k8s-audit-token-0123456789abcdef";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ward-event/tests/fixtures/recognize")
}

fn sigma_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/sigma/rules")
}

/// A SigmaHQ rule, its id, and the texts (`|` between alternatives) that
/// mark its positive record(s) among the fixture lines.
const RULES: &[(&str, &str, &str)] = &[
    (
        "cloud/aws/cloudtrail/aws_cloudtrail_disable_logging.yml",
        "4db60cc0-36fb-42b7-9b58-a5b53019fb74",
        "\"StopLogging\"|\"DeleteTrail\"|\"UpdateTrail\"",
    ),
    (
        "application/github/audit/github_disable_high_risk_configuration.yml",
        "8622c92d-c00e-463c-b09d-fd06166f6794",
        "org.disable_two_factor_requirement|org.disable_oauth_app_restrictions",
    ),
    (
        "application/kubernetes/audit/kubernetes_audit_exec_into_container.yml",
        "a1b0ca4e-7835-413e-8471-3ff2b8a66be6",
        "\"subresource\":\"exec\"",
    ),
    (
        "cloud/azure/activity_logs/azure_kubernetes_pods_deleted.yml",
        "b02f9591-12c3-4965-986a-88028629b2e1",
        "PODS/DELETE",
    ),
    (
        "cloud/azure/signin_logs/azure_account_lockout.yml",
        "2b7d6fc0-71ac-4cf7-8ed1-b5788ee5257a",
        "\"resultType\":\"50053\"",
    ),
    (
        "cloud/gcp/audit/gcp_bucket_modified_or_deleted.yml",
        "4d9f2ee2-c903-48ab-b9c1-8c0f474913d0",
        "storage.buckets.delete",
    ),
    (
        "cloud/m365/threat_management/microsoft365_activity_by_terminated_user.yml",
        "2e669ed8-742e-4fe5-b3c4-5a59b486c2ee",
        "Activity performed by terminated user",
    ),
    (
        "identity/okta/okta_admin_role_assigned_to_user_or_group.yml",
        "413d4a81-6c98-4479-9863-014785fd579c",
        "user.account.privilege.grant",
    ),
    (
        "linux/auditd/execve/lnx_auditd_chattr_immutable_removal.yml",
        "a5b977d6-8a81-4475-91b9-49dbfcd941f7",
        "\"a0\":\"chattr\"",
    ),
    (
        "linux/builtin/sshd/lnx_sshd_susp_ssh.yml",
        "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc",
        "bad string",
    ),
    (
        "linux/process_creation/proc_creation_lnx_base64_decode.yml",
        "e2072cab-8c9a-459b-b63c-40ae79e27031",
        "/usr/bin/base64",
    ),
    (
        "web/webserver_generic/web_path_traversal_exploitation_attempt.yml",
        "7745c2ea-24a5-4290-b680-04359cb84b35",
        "../../../../etc/passwd",
    ),
];

/// The second marker of the sshd rule: through journald.
const EXTRA_POSITIVES: &[&str] = &["Corrupted MAC on input"];

fn is_positive(line: &str) -> bool {
    RULES
        .iter()
        .any(|(_, _, m)| m.split('|').any(|m| line.contains(m)))
        || EXTRA_POSITIVES.iter().any(|m| line.contains(m))
}

fn config(extra: &str) -> String {
    let rules: Vec<String> = RULES
        .iter()
        .map(|(p, _, _)| format!("\"{}\"", sigma_rules().join(p).display()))
        .collect();
    format!(
        "[detect]\nbuiltin_rules = false\nrules = [{}]\n\n[webhooks.github]\nsecret = \"{GITHUB_SECRET}\"\n\n[webhooks.k8s_audit]\ntoken = \"{K8S_TOKEN}\"\n{extra}",
        rules.join(", ")
    )
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn post_with(w: &Ward, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let mut r = Ward::client().post(format!("{}{path}", w.url()));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let resp = r.body(body).send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Sends fixture lines of one folder the way that source sends them;
/// returns how many events Ward accepted (syslog: lines sent).
fn send(w: &Ward, folder: &str, file: &Path, lines: &[&str]) -> usize {
    if lines.is_empty() {
        return 0;
    }
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let accepted = |(status, answer): (u16, Value)| {
        assert_eq!(status, 200, "{folder}/{}: {answer}", file.display());
        assert_eq!(answer["rejected"], json!([]), "{answer}");
        answer["accepted"].as_u64().unwrap() as usize
    };
    match (folder, ext) {
        ("github.audit", _) => {
            // Audit-log streaming to the Splunk HEC endpoint.
            let body: String = lines
                .iter()
                .map(|l| format!("{{\"event\":{l},\"sourcetype\":\"github_audit\"}}"))
                .collect();
            let (status, answer) = w.post("/services/collector/event", "application/json", body);
            assert_eq!((status, &answer["code"]), (200, &json!(0)), "{answer}");
            lines.len()
        }
        ("github.webhook", _) => lines
            .iter()
            .map(|l| {
                // The payload as GitHub posts it, the event name in its header.
                let mut payload: Value = serde_json::from_str(l).unwrap();
                let kind = payload["github"]["webhook"]["event"].as_str().unwrap().to_owned();
                payload.as_object_mut().unwrap().remove("github");
                let body = payload.to_string().into_bytes();
                let sig = sign(&body);
                accepted(post_with(
                    w,
                    "/api/v1/ingest/github",
                    &[("x-hub-signature-256", &sig), ("x-github-event", &kind), ("content-type", "application/json")],
                    body,
                ))
            })
            .sum(),
        ("kubernetes.audit", _) => lines
            .iter()
            .map(|l| {
                // The API server's webhook posts an EventList.
                let body = if l.contains("\"EventList\"") {
                    l.to_string()
                } else {
                    format!("{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{{}},\"items\":[{l}]}}")
                };
                accepted(post_with(
                    w,
                    "/api/v1/ingest/k8s-audit",
                    &[("authorization", &format!("Bearer {K8S_TOKEN}")), ("content-type", "application/json")],
                    body.into_bytes(),
                ))
            })
            .sum(),
        (_, "syslog") => {
            let mut tcp = std::net::TcpStream::connect(("127.0.0.1", w.syslog_port)).unwrap();
            for l in lines {
                tcp.write_all(format!("{l}\n").as_bytes()).unwrap();
            }
            tcp.flush().unwrap();
            lines.len()
        }
        (_, "log") => accepted(w.post("/api/v1/ingest", "text/plain", lines.join("\n"))),
        _ => accepted(w.post("/api/v1/ingest", "application/x-ndjson", lines.join("\n"))),
    }
}

/// The first refusal recorded for `route` (Ward's access audit trail).
fn wait_refused(w: &Ward, route: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hits = w.search("event.action:ingest_token_rejected");
        if let Some(h) = hits.iter().find(|h| s(h, "url.path") == route) {
            return h.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no refusal recorded for {route}: {hits:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every fixture file with its lines split into negatives and positives.
fn fixture_files() -> Vec<(String, PathBuf, Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|f| f.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let (pos, neg): (Vec<String>, Vec<String>) = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .partition(|l| is_positive(l));
            out.push((folder.clone(), file, neg, pos));
        }
    }
    out
}

fn detect_offset(w: &Ward) -> u64 {
    let m = Ward::client()
        .get(format!("{}/metrics", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .text()
        .unwrap();
    m.lines()
        .find(|l| l.starts_with("ward_detect_offset "))
        .and_then(|l| l.split(' ').nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// Waits until detection has read `n` events (the search window would
/// miss the vendors' oldest examples, so the offset is what counts).
fn wait_detected(w: &Ward, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while (detect_offset(w) as usize) < n {
        assert!(
            Instant::now() < deadline,
            "detection read {} of {n} events:\n{}",
            detect_offset(w),
            w.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
}

/// The rule ids of every alert raised so far.
pub(crate) fn fired(w: &Ward) -> BTreeSet<String> {
    let alerts: Value = Ward::client()
        .get(format!("{}/api/v1/alerts", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn sigmahq_rules_fire_on_recognized_sources_through_live_ingest() {
    let w = Ward::start_with(Some(&config("")), &[]);
    let files = fixture_files();
    let mut expected = 0;
    for (folder, file, neg, _) in &files {
        let lines: Vec<&str> = neg.iter().map(String::as_str).collect();
        expected += send(&w, folder, file, &lines);
    }
    wait_detected(&w, expected);
    assert_eq!(
        fired(&w),
        BTreeSet::new(),
        "rules fired on negative records"
    );

    // Recognition on the way: records split out of envelopes, native names
    // kept, the log source stamped.
    let described = w.search("eventName:DescribeTrails");
    assert_eq!(described.len(), 1);
    assert_eq!(s(&described[0], "ward.logsource.product"), "aws");
    assert_eq!(described[0]["event"]["category"], json!(["configuration"]));
    let sudo = w.search("event.action:sudo_auth_failure");
    assert!(
        sudo.iter().any(|e| s(e, "process.name") == "myapp"
            && s(e, "user.name") == "bob"
            && s(e, "event.outcome") == "failure"),
        "the README's sudo example: {sudo:?}"
    );

    for (folder, file, _, pos) in &files {
        let lines: Vec<&str> = pos.iter().map(String::as_str).collect();
        expected += send(&w, folder, file, &lines);
    }
    // GitHub retries a streamed event: the copy is dropped.
    let dup = files
        .iter()
        .find(|(f, _, _, p)| f == "github.audit" && !p.is_empty())
        .unwrap();
    let again: Vec<&str> = dup.3.iter().map(String::as_str).collect();
    let (status, answer) = w.post(
        "/services/collector/event",
        "application/json",
        format!("{{\"event\":{}}}", again[0]),
    );
    assert_eq!(status, 200, "{answer}");
    wait_detected(&w, expected);
    let want: BTreeSet<String> = RULES.iter().map(|(_, id, _)| (*id).to_owned()).collect();
    let got = fired(&w);
    assert_eq!(
        got,
        want,
        "missing: {:?}",
        want.difference(&got).collect::<Vec<_>>()
    );
    assert_eq!(
        w.search("_document_id:aBcDeFgHiJkLmNoPqRsTu1").len(),
        1,
        "duplicate stored"
    );
    // One event per record of a CloudTrail file.
    let ran = w.search("eventName:RunInstances");
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(s(&ran[0], "user.name"), "app");
}

#[test]
fn webhooks_and_envelopes_refuse_bad_input_without_losing_records() {
    let w = Ward::start_with(Some(&config("\n[limits]\nmax_envelope_records = 2\n")), &[]);

    // A CloudTrail file over the envelope limit is one dead letter; the
    // records beside it are kept.
    let record = |name: &str, id: &str| {
        format!(
            "{{\"eventVersion\":\"1.08\",\"eventTime\":\"2023-07-19T21:11:57Z\",\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"{name}\",\"eventID\":\"{id}\",\"awsRegion\":\"us-east-1\"}}"
        )
    };
    let big = format!(
        "{{\"Records\":[{},{},{}]}}",
        record("A", "1"),
        record("B", "2"),
        record("C", "3")
    );
    let body = format!(
        "{}\n{big}\n{}\n",
        record("Before", "0"),
        record("After", "4")
    );
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 2, "{answer}");
    let reason = answer["rejected"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("holds 3 records, over the limit of 2 (limits.max_envelope_records)"),
        "{reason}"
    );
    assert_eq!(answer["rejected"][0]["line"], 2);
    assert_eq!(w.wait_for("eventName:Before", 1).len(), 1);
    assert_eq!(w.wait_for("eventName:After", 1).len(), 1);

    // GitHub webhook: a bad signature is 401 and an authentication event.
    let delivery = br#"{"action":"member_added","organization":{"login":"example-org"},"sender":{"login":"octocat"}}"#.to_vec();
    for sig in ["sha256=0000", "sha1=abcd", ""] {
        let mut headers = vec![
            ("content-type", "application/json"),
            ("x-github-event", "organization"),
        ];
        if !sig.is_empty() {
            headers.push(("x-hub-signature-256", sig));
        }
        let (status, answer) = post_with(&w, "/api/v1/ingest/github", &headers, delivery.clone());
        assert_eq!(status, 401, "{answer}");
    }
    // A body changed after signing fails too.
    let signed = sign(&delivery);
    let mut forged = delivery.clone();
    forged.extend_from_slice(b" ");
    let (status, _) = post_with(
        &w,
        "/api/v1/ingest/github",
        &[("x-hub-signature-256", &signed)],
        forged,
    );
    assert_eq!(status, 401);
    let (status, answer) = post_with(
        &w,
        "/api/v1/ingest/github",
        &[
            ("x-hub-signature-256", &signed),
            ("x-github-event", "organization"),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ],
        delivery,
    );
    assert_eq!((status, &answer["accepted"]), (200, &json!(1)), "{answer}");
    let hook = w.wait_for("github.webhook.event:organization", 1);
    assert_eq!(s(&hook[0], "event.action"), "organization.member_added");
    // Refusals go to Ward's access audit trail, aggregated per peer, route
    // and minute: the first at once.
    let denied = wait_refused(&w, "/api/v1/ingest/github");
    assert_eq!(s(&denied, "source.ip"), "127.0.0.1");
    assert_eq!(s(&denied, "event.outcome"), "failure");

    // Kubernetes webhook: only its own token; the ingest token is refused.
    let list = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"x1","verb":"get","stage":"ResponseComplete","objectRef":{"resource":"pods"}}]}"#.to_vec();
    for auth in [
        format!("Bearer {TOKEN}"),
        "Bearer nope".into(),
        String::new(),
    ] {
        let headers: Vec<(&str, &str)> = if auth.is_empty() {
            vec![]
        } else {
            vec![("authorization", auth.as_str())]
        };
        let (status, _) = post_with(&w, "/api/v1/ingest/k8s-audit", &headers, list.clone());
        assert_eq!(status, 401);
    }
    let denied = wait_refused(&w, "/api/v1/ingest/k8s-audit");
    assert_eq!(s(&denied, "message"), "request with an invalid token");
    assert!(
        !serde_json::to_string(&denied).unwrap().contains(TOKEN),
        "the presented token must not be stored"
    );

    // An EventList over the envelope limit: one clear error.
    let items = (0..3)
        .map(|i| format!("{{\"auditID\":\"big{i}\",\"verb\":\"get\"}}"))
        .collect::<Vec<_>>()
        .join(",");
    let big = format!(
        "{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[{items}]}}"
    );
    let bearer = format!("Bearer {K8S_TOKEN}");
    let (status, answer) = post_with(
        &w,
        "/api/v1/ingest/k8s-audit",
        &[("authorization", &bearer)],
        big.into_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 0);
    assert!(
        answer["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("over the limit of 2"),
        "{answer}"
    );

    // A gzip bomb: 64 MiB of zeros in about 64 KiB.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    for path in ["/api/v1/ingest/k8s-audit", "/api/v1/ingest/github"] {
        let sig = sign(&bomb);
        let (status, answer) = post_with(
            &w,
            path,
            &[
                ("authorization", &bearer),
                ("x-hub-signature-256", &sig),
                ("content-encoding", "gzip"),
            ],
            bomb.clone(),
        );
        // The gzip limits of every HTTP input apply.
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("decompressed body exceeds the 16777216-byte limit"),
            "{answer}"
        );
    }
    // The webhook still takes the next list.
    let (status, answer) = post_with(
        &w,
        "/api/v1/ingest/k8s-audit",
        &[("authorization", &bearer)],
        list,
    );
    assert_eq!((status, &answer["accepted"]), (200, &json!(1)), "{answer}");
    let got = w.wait_for("auditID:x1", 1);
    assert_eq!(s(&got[0], "ward.logsource.product"), "kubernetes");
    assert_eq!(s(&got[0], "ward.source"), "kubernetes");
}

/// SigmaHQ's whole `rules/` folder loaded in one configuration line, and an
/// ingest source that declares its recognizer: CloudTrail records a
/// collector re-shipped without `eventVersion` and `eventID` are not
/// CloudTrail by their shape, but are for the source that says so.
#[test]
fn sigmahq_loads_in_one_step_and_a_source_declares_its_recognizer() {
    const TRAIL_TOKEN: &str = "trail-export-token-0123456789";
    let config = format!(
        "[detect]\nbuiltin_rules = false\nrules = [\"{}\"]\n\n\
         [[sources]]\nname = \"trail-export\"\ntoken = \"{TRAIL_TOKEN}\"\nrecognizer = \"aws.cloudtrail\"\n",
        sigma_rules().display()
    );
    let w = Ward::start_with(Some(&config), &[]);
    let stripped = json!({
        "eventTime": "2026-12-01T10:00:00Z",
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": "StopLogging",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userIdentity": {"type": "IAMUser", "userName": "mallory"},
        "requestParameters": {"name": "org-trail"},
    })
    .to_string();
    // The same record from the default token: no log source, no alert.
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", stripped.clone());
    assert_eq!(status, 200, "{answer}");
    let mut sent = 1;
    wait_detected(&w, sent);
    assert_eq!(fired(&w), BTreeSet::new());
    // Unrecognized, it is normalized like any application event.
    let plain = w.search("event.action:StopLogging");
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert!(plain[0]["ward"]["logsource"].is_null(), "{}", plain[0]);

    let (status, answer) = w.post_as(
        TRAIL_TOKEN,
        "/api/v1/ingest",
        "application/x-ndjson",
        stripped,
    );
    assert_eq!(status, 200, "{answer}");
    sent += 1;
    // Rules from three of the folders, through the one configured path: a
    // Windows regression event (its file is named by its rule's id) and a
    // GitHub audit-log event.
    let windows = "windows/process_creation/proc_creation_win_curl_custom_user_agent";
    let windows_rule = "85de1f22-d189-44e4-8239-dc276b45379b";
    let event = std::fs::read_to_string(
        sigma_rules()
            .join("../regression_data/rules")
            .join(windows)
            .join(format!("{windows_rule}.json")),
    )
    .unwrap();
    let event: Value = serde_json::from_str(&event).unwrap();
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", event.to_string());
    assert_eq!(status, 200, "{answer}");
    sent += 1;
    let github = json!({"event": {
        "action": "org.disable_two_factor_requirement", "actor": "mallory", "org": "acme",
        "@timestamp": 1764583200000u64, "_document_id": "one-step-0001", "business": "acme-inc",
        "operation_type": "modify", "actor_location": {"country_code": "DE"}
    }, "sourcetype": "github_audit"})
    .to_string();
    let (status, answer) = w.post("/services/collector/event", "application/json", github);
    assert_eq!(status, 200, "{answer}");
    sent += 1;
    wait_detected(&w, sent);

    let declared = w.search("eventName:StopLogging AND ward.source:trail-export");
    assert_eq!(declared.len(), 1);
    assert_eq!(s(&declared[0], "ward.logsource.product"), "aws");
    assert_eq!(s(&declared[0], "ward.recognizer"), "aws.cloudtrail");
    assert_eq!(s(&declared[0], "event.dataset"), "aws.cloudtrail");
    assert_eq!(s(&declared[0], "user.name"), "mallory");
    let want: BTreeSet<String> = [
        "4db60cc0-36fb-42b7-9b58-a5b53019fb74",
        windows_rule,
        "8622c92d-c00e-463c-b09d-fd06166f6794",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let got = fired(&w);
    assert!(
        want.is_subset(&got),
        "missing: {:?} (fired {got:?})\n{}",
        want.difference(&got).collect::<Vec<_>>(),
        w.log()
    );
}

/// An unknown recognizer is a configuration error that lists the known ones.
#[test]
fn an_unknown_declared_recognizer_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ward.toml");
    std::fs::write(
        &cfg,
        "[[sources]]\nname = \"trail\"\ntoken = \"trail-export-token-0123456789\"\nrecognizer = \"cloudtrail\"\n\n[syslog]\nrecognizer = \"linux.sshd\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::harness::ward_bin())
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("sources[0].recognizer = cloudtrail") && text.contains("aws.cloudtrail"),
        "{text}"
    );
    assert!(
        !text.contains("syslog.recognizer"),
        "a known name is accepted: {text}"
    );
}
