//! Who may do what, against a real `ward serve` with two tenants: the
//! authorization matrix generated from the server's own route table
//! (every route × every built-in role × no credential), tenant isolation of
//! events, proofs and silences, forged attribution through every ingest
//! path that runs here (HTTP NDJSON, bulk, HEC, OTLP, syslog, Kubernetes,
//! GitHub, Kafka), a duplicate event id reported, the audit trail of every mutating route, and API keys created while the
//! server runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TOKEN, Ward, create_key};

const ACME: &str = "acme-ingest-token-0123456789";
const GLOBEX: &str = "globex-ingest-token-0123456789";
const ROLES: [&str; 6] = [
    "viewer", "analyst", "engineer", "auditor", "admin", "ingest",
];

fn start() -> (Ward, BTreeMap<&'static str, String>) {
    start_with("")
}

/// [`start`] with more configuration after the sources.
fn start_with(extra: &str) -> (Ward, BTreeMap<&'static str, String>) {
    let cfg = format!(
        "{extra}\n[[sources]]\nname = \"acme-app\"\ntenant = \"acme\"\ntoken = \"{ACME}\"\n\
         [[sources]]\nname = \"globex-app\"\ntenant = \"globex\"\ntoken = \"{GLOBEX}\"\n\
         [access]\nmax_silences_per_tenant = 3\nmax_silence_duration = \"7d\"\n\
         [webhooks.github]\nsecret = \"github-webhook-secret-0123456789\"\n\
         [webhooks.k8s_audit]\ntoken = \"k8s-audit-token-0123456789abcdef\"\n"
    );
    let w = Ward::start_with(Some(&cfg), &[]);
    let keys = ROLES
        .iter()
        .map(|r| {
            (
                *r,
                create_key(&w.data_dir(), &format!("{r}-key"), r, "acme"),
            )
        })
        .collect::<BTreeMap<_, _>>();
    for k in keys.values() {
        wait_key(&w, k);
    }
    (w, keys)
}

fn call(
    w: &Ward,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    // Not following redirects: the console sends browsers without a
    // session to /login.
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}{path}", w.url());
    let mut rb = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "PUT" => c.put(url),
        "DELETE" => c.delete(url),
        m => panic!("method {m}"),
    };
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    if let Some(b) = body {
        rb = rb
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    if r.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        == Some("text/event-stream")
    {
        // The console's live stream stays open; its status is the answer.
        return (status, Value::Null);
    }
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Waits until the key works (the server re-reads the key file within a
/// second).
fn wait_key(w: &Ward, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while call(w, "GET", "/api/v1/me", Some(key), None).0 != 200 {
        assert!(Instant::now() < deadline, "the new key is not accepted");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A concrete path for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0000000000000000")
        .replace("{index}", "logs")
        .replace("{name}", "matrix-team")
        .replace("{kind}", "tenants")
        .replace("{key}", "acme")
}

/// Routes that need more than their permission for a caller bound to a
/// tenant: they act on every tenant at once.
fn needs_all_tenants(method: &str, path: &str) -> bool {
    (method == "PUT" && path == "/api/v1/owners/teams/{name}")
        || path == "/api/v1/receivers/{name}/deliveries"
        || path == "/api/v1/evidence/export"
}

#[test]
fn authorization_matrix_from_the_route_table_and_audit_of_every_change() {
    let (w, keys) = start();
    let (s, table) = call(&w, "GET", "/api/v1/routes", Some(&keys["admin"]), None);
    assert_eq!(s, 200, "{table}");
    let routes = table["routes"].as_array().unwrap().clone();
    assert!(routes.len() >= 35, "{} routes", routes.len());
    let (_, me) = call(&w, "GET", "/api/v1/me", Some(&keys["viewer"]), None);
    let perms = |role: &str| -> Vec<String> {
        let (_, me) = call(&w, "GET", "/api/v1/me", Some(&keys[role]), None);
        serde_json::from_value(me["permissions"].clone()).unwrap()
    };
    assert_eq!(me["tenants"], json!(["acme"]));
    let granted: BTreeMap<&str, Vec<String>> = ROLES.iter().map(|r| (*r, perms(r))).collect();
    assert_eq!(granted["ingest"], vec!["ingest:write"]);
    let mut failures = Vec::new();
    let mut changed_by: Vec<(String, String, String)> = Vec::new();
    for r in &routes {
        let (method, path, needs) = (
            r["method"].as_str().unwrap(),
            r["path"].as_str().unwrap(),
            r["needs"].as_str().unwrap(),
        );
        assert_ne!(needs, "", "{method} {path} declares no permission");
        let body = (method != "GET").then(|| json!({}));
        for role in std::iter::once(None).chain(ROLES.iter().map(Some)) {
            let key = role.map(|r| keys[r].as_str());
            let (status, answer) = call(&w, method, &concrete(path), key, body.clone());
            let expected: &[u16] = match (needs, role) {
                ("public", _) => &[],
                // The webhooks check their own secret or token: no Ward
                // credential, of any role, opens them.
                ("own credential", _) => &[401],
                // A console page sends a browser without a session to the
                // login form.
                (_, None) if path.starts_with("/console/") => &[303],
                (_, None) => &[401],
                ("authenticated", Some(_)) => &[],
                (p, Some(r)) if !granted[r].iter().any(|g| g == p) => &[403],
                (_, Some(r)) if r != &"admin" && needs_all_tenants(method, path) => &[403],
                _ => &[],
            };
            let ok = if expected.is_empty() {
                status != 401 && status != 403
            } else {
                expected.contains(&status)
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} as {role:?}: {status} (expected {expected:?}) {answer}"
                ));
            }
            if let Some(r) = role
                && method != "GET"
                && needs != "ingest:write"
                && status != 401
                && status != 403
            {
                changed_by.push((
                    format!("{method} {path}"),
                    format!("{r}-key"),
                    r.to_string(),
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Every mutating route reached by a role is in the audit trail with
    // the acting key.
    assert!(changed_by.len() > 10);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, audit) = call(
            &w,
            "GET",
            "/api/v1/audit?since=1h&limit=10000&q=event.dataset:ward.access",
            Some(&keys["admin"]),
            None,
        );
        assert_eq!(s, 200, "{audit}");
        let hits = audit["hits"].as_array().unwrap();
        let seen = |action: &str, who: &str| {
            hits.iter().any(|h| {
                let e = h.get("event").unwrap_or(h);
                e["event"]["action"] == action && e["user"]["name"] == who
            })
        };
        let missing: Vec<_> = changed_by
            .iter()
            .filter(|(a, who, _)| !seen(a, who))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not audited: {missing:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // An auditor of acme reads acme's records only.
    let (s, audit) = call(
        &w,
        "GET",
        "/api/v1/audit?since=1h&limit=10000",
        Some(&keys["auditor"]),
        None,
    );
    assert_eq!(s, 200);
    for h in audit["hits"].as_array().unwrap() {
        assert_eq!(h["event"]["tenant"]["id"], "acme", "{h}");
    }
}

fn ingest(w: &Ward, token: &str, line: &Value) {
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .bearer_auth(token)
        .body(format!("{line}\n"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

fn search(w: &Ward, key: &str, q: &str) -> Vec<Value> {
    let (s, v) = call(
        w,
        "GET",
        &format!(
            "/api/v1/events/search?since=3650d&limit=1000&q={}",
            urlencode(q)
        ),
        Some(key),
        None,
    );
    assert_eq!(s, 200, "{v}");
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.get("event").cloned().unwrap_or_else(|| h.clone()))
        .collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn tenants_are_a_hard_boundary() {
    let (w, keys) = start();
    let admin = &w.admin;
    ingest(
        &w,
        GLOBEX,
        &json!({"service": "iso", "message": "globex secret"}),
    );
    let globex = w.wait_for("service.name:iso", 1);
    let globex_id = globex[0]["event"]["id"].as_str().unwrap().to_owned();
    // acme forges globex's tenant, Ward's source and globex's event id, in
    // both spellings.
    ingest(
        &w,
        ACME,
        &json!({"service": "iso", "message": "forged", "tenant.id": "globex",
                "tenant": {"id": "globex"}, "ward.source": "globex-app",
                "ward": {"input": "kafka"}, "event.id": globex_id, "event": {"id": globex_id}}),
    );
    let all = w.wait_for("service.name:iso", 2);
    assert_eq!(all.len(), 2);
    let forged = all.iter().find(|e| e["message"] == "forged").unwrap();
    assert_eq!(forged["tenant"]["id"], "acme");
    assert_eq!(forged["ward"]["source"], "acme-app");
    assert_eq!(forged["ward"]["input"], "http");
    assert_ne!(forged["event"]["id"], globex_id.as_str());
    assert_eq!(forged["ward"]["sender"]["tenant.id"], "globex");
    assert_eq!(
        w.search("tenant.id:globex").len(),
        1,
        "only the real globex event"
    );
    // The event id still names globex's event, for the event and its proof.
    let (s, e) = call(
        &w,
        "GET",
        &format!("/api/v1/events/{globex_id}"),
        Some(admin),
        None,
    );
    assert_eq!(
        (s, e["event"]["message"].clone()),
        (200, json!("globex secret"))
    );
    let (s, _) = call(
        &w,
        "GET",
        &format!("/api/v1/events/{globex_id}/proof"),
        Some(admin),
        None,
    );
    assert_eq!(s, 200);
    // acme's keys see acme only; globex's event is as absent as a missing one.
    for role in ["viewer", "auditor"] {
        let hits = search(&w, &keys[role], "service.name:iso");
        assert_eq!(hits.len(), 1, "{role}");
        assert_eq!(hits[0]["tenant"]["id"], "acme");
        assert_eq!(search(&w, &keys[role], "tenant.id:globex").len(), 0);
    }
    let (s, _) = call(
        &w,
        "GET",
        &format!("/api/v1/events/{globex_id}"),
        Some(&keys["viewer"]),
        None,
    );
    assert_eq!(s, 404);
    let (s, _) = call(
        &w,
        "GET",
        &format!("/api/v1/events/{globex_id}/proof"),
        Some(&keys["auditor"]),
        None,
    );
    assert_eq!(s, 404);
    // An ingest token can do nothing but ingest.
    for (m, p, b) in [
        ("GET", "/api/v1/events/search?q=", None),
        ("GET", "/api/v1/alerts", None),
        (
            "POST",
            "/api/v1/silences",
            Some(json!({"matchers": ["alertname=~\".+\""], "duration": "1h"})),
        ),
        (
            "PUT",
            "/api/v1/owners/tenants/acme",
            Some(json!({"team": "x"})),
        ),
        ("GET", "/metrics", None),
    ] {
        let (s, v) = call(&w, m, p, Some(ACME), b);
        assert_eq!(s, 403, "{m} {p}: {v}");
    }
    // /readyz says only ready without a credential; /metrics needs one.
    let (s, text) = call(&w, "GET", "/readyz", None, None);
    assert_eq!((s, text), (200, json!("ready\n")));
    assert_eq!(call(&w, "GET", "/metrics", None, None).0, 401);
    let (s, m) = call(&w, "GET", "/metrics", Some(&keys["engineer"]), None);
    assert_eq!(s, 200);
    assert!(
        !m.as_str().unwrap().contains("source=\""),
        "sources are hidden from one tenant"
    );
    let (_, m) = call(&w, "GET", "/metrics", Some(admin), None);
    assert!(
        m.as_str()
            .unwrap()
            .contains("ward_ingest_quarantined_total"),
        "quarantine is counted"
    );
}

#[test]
fn silences_stay_in_their_tenant_and_are_bounded() {
    let (w, keys) = start();
    let engineer = &keys["engineer"];
    let globex_engineer = create_key(&w.data_dir(), "g-eng", "engineer", "globex");
    wait_key(&w, &globex_engineer);
    let everything = json!({"matchers": ["alertname=~\".+\""], "duration": "87600h"});
    let (s, v) = call(
        &w,
        "POST",
        "/api/v1/silences",
        Some(engineer),
        Some(everything),
    );
    assert_eq!(s, 400, "ten years is refused: {v}");
    let day = json!({"matchers": ["alertname=~\".+\""], "duration": "24h"});
    let (s, v) = call(
        &w,
        "POST",
        "/api/v1/silences",
        Some(engineer),
        Some(day.clone()),
    );
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(
        v["matchers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "tenant" && m["value"] == "acme"),
        "{v}"
    );
    let (_, list) = call(&w, "GET", "/api/v1/silences", Some(&globex_engineer), None);
    assert_eq!(
        list["silences"],
        json!([]),
        "globex does not see acme's silence"
    );
    let (s, _) = call(
        &w,
        "POST",
        &format!("/api/v1/silences/{id}/expire"),
        Some(&globex_engineer),
        None,
    );
    assert_eq!(s, 404);
    for _ in 0..2 {
        assert_eq!(
            call(
                &w,
                "POST",
                "/api/v1/silences",
                Some(engineer),
                Some(day.clone())
            )
            .0,
            201
        );
    }
    let (s, v) = call(
        &w,
        "POST",
        "/api/v1/silences",
        Some(engineer),
        Some(day.clone()),
    );
    assert_eq!(s, 409, "at most 3 per tenant: {v}");
    assert_eq!(
        call(
            &w,
            "POST",
            "/api/v1/silences",
            Some(&globex_engineer),
            Some(day)
        )
        .0,
        201
    );
    let (s, _) = call(
        &w,
        "POST",
        &format!("/api/v1/silences/{id}/expire"),
        Some(engineer),
        None,
    );
    assert_eq!(s, 200);
}

#[test]
fn api_keys_work_and_stop_working_without_a_restart() {
    let w = Ward::start();
    let key = create_key(&w.data_dir(), "late", "viewer", "default");
    wait_key(&w, &key);
    let (_, me) = call(&w, "GET", "/api/v1/me", Some(&key), None);
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["name"], "late");
    let out = std::process::Command::new(crate::harness::ward_bin())
        .args(["apikey", "list"])
        .env("WARD_DATA_DIR", w.data_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("late") && !text.contains(&key[20..]),
        "{text}"
    );
    let out = std::process::Command::new(crate::harness::ward_bin())
        .args(["apikey", "revoke", "late"])
        .env("WARD_DATA_DIR", w.data_dir())
        .output()
        .unwrap();
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while call(&w, "GET", "/api/v1/me", Some(&key), None).0 != 401 {
        assert!(Instant::now() < deadline, "a revoked key still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The environment's ingest token is role ingest.
    let (s, me) = call(&w, "GET", "/api/v1/me", Some(TOKEN), None);
    assert_eq!((s, me["role"].clone()), (200, json!("ingest")));
    // Data directory and key file are private.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o077;
    assert_eq!(mode(w.data_dir()), 0);
    assert_eq!(mode(w.data_dir().join("apikeys.json")), 0);
}

/// Every reserved field, nested, flat dotted and in other letter cases, as
/// a sender would forge it.
fn forged_fields() -> Value {
    json!({
        "tenant.id": "globex", "Tenant": {"ID": "globex", "name": "Globex"},
        "ward.source": "globex-app",
        "ward": {"input": "kafka", "logsource": {"product": "forged"}},
        "event.id": "forged-id", "Event.Ingested": "2000-01-01T00:00:00Z",
        "event": {"id": "forged-id", "ingested": "2000-01-01T00:00:00Z", "action": "kept"},
    })
}

/// An event that arrived with [`forged_fields`] keeps Ward's own tenant
/// (`tenant`), source, id, ingest time and recognizer fields.
fn assert_own_attribution(e: &Value, tenant: &str) {
    assert_eq!(e["tenant"]["id"].as_str().unwrap_or(""), tenant, "{e:#}");
    assert_ne!(e["event"]["id"], "forged-id", "{e:#}");
    assert!(
        e["event"]["id"].as_str().is_some_and(|i| !i.is_empty()),
        "{e:#}"
    );
    assert_ne!(e["event"]["ingested"], "2000-01-01T00:00:00Z", "{e:#}");
    assert_ne!(e["ward"]["source"], "globex-app", "{e:#}");
    assert!(
        e["ward"]
            .get("logsource")
            .is_none_or(|l| l["product"] != "forged"),
        "{e:#}"
    );
    assert!(
        e.get("Tenant").is_none() && e.get("tenant.id").is_none(),
        "{e:#}"
    );
}

/// Every reserved field, nested and flat dotted (and in another letter
/// case), forged through every ingest path that runs here: HTTP NDJSON,
/// Elasticsearch bulk, Splunk HEC (event and its indexed `fields`, and
/// raw), OTLP/HTTP JSON (record and resource attributes), syslog over TCP
/// (a JSON body), and the GitHub and Kubernetes audit webhooks. Each event keeps
/// Ward's own tenant, source, input, id and ingest time, and the forged
/// values under `ward.sender`. (Kafka: the next test; S3 shares the
/// decoder path of both.)
#[test]
fn forged_attribution_is_quarantined_on_every_ingest_path() {
    let (w, _) = start();
    let forged = forged_fields();
    let doc = |path: &str| {
        let mut d = forged.clone();
        d["message"] = json!(format!("forged via {path}"));
        d
    };
    let post = |path: &str, auth: &str, ctype: &str, body: String| {
        let r = Ward::client()
            .post(format!("{}{path}", w.url()))
            .header("authorization", auth)
            .header("content-type", ctype)
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(status, 200, "{path}: {}", r.text().unwrap());
    };
    let acme = format!("Bearer {ACME}");
    post(
        "/api/v1/ingest",
        &acme,
        "application/x-ndjson",
        doc("ndjson").to_string(),
    );
    post(
        "/_bulk",
        &acme,
        "application/x-ndjson",
        format!("{{\"index\":{{\"_index\":\"logs\"}}}}\n{}\n", doc("bulk")),
    );
    post(
        "/services/collector/event",
        &format!("Splunk {ACME}"),
        "application/json",
        json!({"event": doc("hec"), "fields": {"tenant.id": "globex", "event.id": "forged-id",
               "ward.source": "globex-app"}})
        .to_string(),
    );
    post(
        "/services/collector/event",
        &format!("Splunk {ACME}"),
        "application/json",
        json!({"event": "forged via hec fields", "fields": forged}).to_string(),
    );
    post(
        "/services/collector/raw",
        &format!("Splunk {ACME}"),
        "text/plain",
        doc("hec raw").to_string(),
    );
    let attrs: Vec<Value> = [
        ("tenant.id", "globex"),
        ("ward.source", "globex-app"),
        ("event.id", "forged-id"),
        ("event.ingested", "2000-01-01T00:00:00Z"),
    ]
    .iter()
    .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
    .collect();
    post(
        "/v1/logs",
        &acme,
        "application/json",
        json!({"resourceLogs": [{"resource": {"attributes": attrs},
            "scopeLogs": [{"logRecords": [{"body": {"stringValue": "forged via otlp"},
                "attributes": [{"key": "tenant", "value": {"kvlistValue": {"values": [
                    {"key": "id", "value": {"stringValue": "globex"}}]}}}]}]}]}]})
        .to_string(),
    );
    post(
        "/api/v1/ingest/k8s-audit",
        "Bearer k8s-audit-token-0123456789abcdef",
        "application/json",
        json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [{
            "auditID": "forged-k8s", "verb": "get", "stage": "ResponseComplete",
            "objectRef": {"resource": "pods"}, "tenant.id": "globex",
            "tenant": {"id": "globex"}, "ward.source": "globex-app",
            "event.id": "forged-id", "ward": {"input": "kafka"}}]})
        .to_string(),
    );
    {
        use hmac::{Hmac, Mac};
        let mut body = doc("github");
        body["action"] = json!("member_added");
        let body = body.to_string();
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(b"github-webhook-secret-0123456789").unwrap();
        mac.update(body.as_bytes());
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let r = Ward::client()
            .post(format!("{}/api/v1/ingest/github", w.url()))
            .header("x-hub-signature-256", sig)
            .header("x-github-event", "organization")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    {
        use std::io::Write as _;
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", w.syslog_port)).unwrap();
        let line = format!(
            "<134>1 2026-12-06T10:00:00Z web-1 app - - - {}\n",
            doc("syslog")
        );
        tcp.write_all(line.as_bytes()).unwrap();
    }

    // Eight events with forged fields (a raw HEC line is text: below), none
    // of them globex's, none with a forged id.
    let mut all = w.wait_for(
        "ward.sender.tenant.id:globex OR ward.sender.Tenant.ID:globex",
        8,
    );
    let seen: Vec<(&Value, &Value)> = all
        .iter()
        .map(|e| (&e["ward"]["input"], &e["message"]))
        .collect();
    assert_eq!(all.len(), 8, "{seen:?}");
    let inputs: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|e| e["ward"]["input"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        inputs,
        [
            "bulk",
            "github",
            "hec",
            "http",
            "k8s-audit",
            "otlp",
            "syslog-tcp"
        ]
        .into(),
        "every path: {seen:?}"
    );
    let raw = w
        .wait_for("ward.input:hec", 3)
        .into_iter()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("forged via hec raw"))
        })
        .expect("the raw HEC line");
    all.push(raw);
    for e in &all {
        let input = e["ward"]["input"].as_str().unwrap_or("");
        let want = if ["syslog-tcp", "k8s-audit", "github"].contains(&input) {
            "default"
        } else {
            "acme"
        };
        assert_own_attribution(e, want);
    }
    assert!(
        w.search("tenant.id:globex").is_empty(),
        "no event became globex's"
    );
    let (s, _) = call(&w, "GET", "/api/v1/events/forged-id", Some(&w.admin), None);
    assert_eq!(s, 404, "the forged id names no event");
}

/// The same forged fields through a real Kafka broker (`tansu`), as JSON
/// records, a record in other letter cases, and a syslog line with a JSON
/// body: every event is the configured tenant's and source's, with Ward's
/// own id and Kafka coordinates, and the forged values under `ward.sender`.
#[test]
fn forged_attribution_is_quarantined_on_the_kafka_path() {
    let broker = crate::kafka::Broker::start();
    broker.create_topic("forged", 1);
    let mut json_doc = forged_fields();
    json_doc["message"] = json!("forged via kafka json");
    json_doc["kafka.topic"] = json!("other-topic");
    let cased = json!({"TENANT.ID": "globex", "Ward.Source": "globex-app",
        "EVENT": {"ID": "forged-id"}, "tenant": {"id": "globex"},
        "message": "forged via kafka cased"});
    let mut syslog_doc = forged_fields();
    syslog_doc["message"] = json!("forged via kafka syslog");
    let syslog = format!("<134>1 2026-12-06T10:00:00Z web-1 app - - - {syslog_doc}");
    broker.produce(
        "forged",
        &[json_doc, cased]
            .iter()
            .map(|d| (None, Some(d.to_string().into_bytes())))
            .chain([(None, Some(syslog.into_bytes()))])
            .collect::<Vec<_>>(),
    );
    let (w, _) = start_with(&format!(
        "[[kafka]]\nbrokers = \"{}\"\ntopics = [\"forged\"]\ngroup_id = \"ward-forged\"\n\
         source = \"kafka-apps\"\ntenant = \"acme\"\nbatch_wait = \"100ms\"\n\
         options = {{ \"session.timeout.ms\" = \"6000\" }}\n",
        broker.addr
    ));
    let all = w.wait_for("ward.input:kafka", 3);
    assert_eq!(all.len(), 3, "{all:#?}");
    for e in &all {
        assert_own_attribution(e, "acme");
        assert_eq!(e["ward"]["source"], "kafka-apps", "{e:#}");
        assert_eq!(e["kafka"]["topic"], "forged", "{e:#}");
        let sender = &e["ward"]["sender"];
        assert!(
            sender["tenant.id"] == "globex"
                || sender["TENANT.ID"] == "globex"
                || sender["Tenant"]["ID"] == "globex",
            "the forged tenant is kept under ward.sender: {e:#}"
        );
        assert!(
            sender["event.id"] == "forged-id" || sender["event.ID"] == "forged-id",
            "the forged id is kept under ward.sender: {e:#}"
        );
    }
    assert!(w.search("tenant.id:globex").is_empty());
    assert!(w.search("event.id:forged-id").is_empty());
    assert_eq!(w.search("ward.sender.event.id:forged-id").len(), 2);
    let quarantined: u64 = w
        .metrics()
        .lines()
        .filter(|l| l.starts_with("ward_ingest_quarantined_total") && l.contains("kafka"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(quarantined, 3, "{}", w.metrics());
}

/// Two stored records with one event id (written straight into the store:
/// a sender cannot, Ward assigns every id): the event and its proof are the
/// first-written record's, and both answers name the other offset and
/// warn, as does `ward verify --proof`; neither ever hides the duplicate.
#[test]
fn a_duplicate_event_id_is_reported_never_hidden() {
    let (mut w, _) = start();
    let acme = format!("Bearer {ACME}");
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .header("authorization", &acme)
        .header("content-type", "application/x-ndjson")
        .body(r#"{"message":"the genuine one","service":"dup"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let first = w.wait_for("service.name:dup", 1).remove(0);
    let id = first["event"]["id"].as_str().unwrap().to_owned();
    w.stop();
    let mut second = first.clone();
    second["message"] = json!("written later with the same id");
    let (store, _) = ward_store::Store::open(ward_store::StoreConfig {
        dir: w.data_dir().join("events"),
        ..ward_store::StoreConfig::default()
    })
    .unwrap();
    let offsets = store
        .append(vec![ward_store::Record {
            id: id.clone(),
            time_ms: 1_765_000_000_000,
            category: Vec::new(),
            terms: vec![("tenant.id".into(), "acme".into())],
            body: second.to_string().into_bytes(),
        }])
        .unwrap();
    store.close().unwrap();
    let later = offsets[0].0;
    w.spawn();

    let (s, v) = call(
        &w,
        "GET",
        &format!("/api/v1/events/{id}"),
        Some(&w.admin),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["event"]["message"], "the genuine one", "{v:#}");
    assert_ne!(v["offset"], json!(later));
    assert_eq!(v["duplicate_offsets"], json!([later]), "{v:#}");
    assert!(
        v["warning"]
            .as_str()
            .is_some_and(|t| t.contains("1 other stored record")),
        "{v:#}"
    );
    let (s, proof) = call(
        &w,
        "GET",
        &format!("/api/v1/events/{id}/proof"),
        Some(&w.admin),
        None,
    );
    assert_eq!(s, 200, "{proof}");
    assert_eq!(proof["leaf_index"], v["offset"]);
    assert_eq!(proof["duplicate_offsets"], json!([later]), "{proof:#}");
    assert!(proof["warning"].is_string(), "{proof:#}");

    let out = crate::harness::verify_proof(&w, &proof.to_string());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "warning: 1 other stored record(s) carry event id {id:?} (offsets [{later}])"
        )) && text.contains("ok: the event is included"),
        "{text}"
    );
}
