//! The analyst console against a real `ward serve`: its routes (status,
//! security headers on every answer, the login redirect, the CSRF check,
//! permissions, another tenant's alert answering 404), and Debian's
//! chromium driven by `playwright-core` (`tests/it/browser/console.mjs`):
//! a keyboard-only triage, and an XSS corpus stored in events, rule titles,
//! labels and comments that must render as text.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TOKEN, Ward, s};

const PASSWORD: &str = "correct horse battery staple";

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn add_user(w: &Ward, name: &str, role: &str, tenant: &str) {
    use std::io::Write as _;
    let mut child = Command::new(crate::harness::ward_bin())
        .args(["users", "add", name, "--role", role, "--tenant", tenant])
        .arg("--password-stdin")
        .env("WARD_DATA_DIR", w.data_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A browser session: cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

fn login(w: &Ward, name: &str) -> Session {
    let r = Ward::client()
        .post(format!("{}/api/v1/login", w.url()))
        .header("content-type", "application/json")
        .header("origin", w.url())
        .body(json!({"name": name, "password": PASSWORD}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body: Value = r.json().unwrap();
    Session {
        cookie,
        csrf: s(&body, "csrf_token").to_owned(),
    }
}

/// An answer: status, headers, body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// A request as the console's page makes it: the session's cookie, and
/// for a form the same-origin headers and (when `csrf`) the token.
fn page(
    w: &Ward,
    who: Option<&Session>,
    method: &str,
    path: &str,
    form: Option<&str>,
    csrf: bool,
) -> Answer {
    let c = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = format!("{}{path}", w.url());
    let mut rb = if method == "GET" {
        c.get(url)
    } else {
        c.post(url)
    };
    rb = rb.header("accept", "text/html");
    if let Some(sess) = who {
        rb = rb.header("cookie", &sess.cookie);
        if csrf {
            rb = rb.header("x-csrf-token", &sess.csrf);
        }
    }
    if let Some(f) = form {
        rb = rb
            .header("origin", w.url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(f.to_owned());
    }
    let r = rb.send().unwrap();
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.text().unwrap(),
    }
}

/// The headers every console answer carries.
fn assert_secured(a: &Answer, what: &str) {
    let h = |n: &str| {
        a.headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let csp = h("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("referrer-policy"), "same-origin", "{what}");
}

/// Sends NDJSON with the ingest token of tenant `default`.
fn ingest(w: &Ward, body: String) {
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", body);
    assert_eq!(status, 200, "{answer}");
}

/// Waits until the admin sees at least `n` alerts; returns them.
fn wait_alerts(w: &Ward, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = Ward::client()
            .get(format!("{}/api/v1/alerts", w.url()))
            .bearer_auth(&w.admin)
            .send()
            .unwrap();
        let v: Value = r.json().unwrap();
        let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
        if alerts.len() >= n {
            return alerts;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} alerts:\n{}",
            alerts.len(),
            w.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn alert(w: &Ward, id: &str) -> Value {
    Ward::client()
        .get(format!("{}/api/v1/alerts/{id}", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn brute_force() -> String {
    std::fs::read_to_string(rules_dir().join("authentication/brute_force.pos.jsonl")).unwrap()
}

#[test]
fn console_routes_are_secured_scoped_and_answer_browsers_and_elasticsearch() {
    let w = Ward::start();
    add_user(&w, "ana", "analyst", "default");
    add_user(&w, "eve", "engineer", "acme");
    ingest(&w, brute_force());
    let id = s(&wait_alerts(&w, 1)[0], "id").to_owned();

    // Without a session: every page sends the browser to the login form,
    // with the headers.
    for path in [
        "/",
        "/console/alerts",
        "/console/search?q=*",
        &format!("/console/alerts/{id}"),
    ] {
        let a = page(&w, None, "GET", path, None, false);
        assert_eq!(a.status, 303, "{path}");
        assert_eq!(a.headers["location"], "/login", "{path}");
        assert_secured(&a, path);
    }
    let a = page(
        &w,
        None,
        "POST",
        &format!("/console/alerts/{id}/ack"),
        Some(""),
        false,
    );
    assert_eq!(a.status, 303);
    assert_eq!(s(&alert(&w, &id), "status"), "open");
    // An Elasticsearch client keeps its banner at `/`.
    let banner: Value = Ward::client()
        .get(format!("{}/", w.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(banner["tagline"], "You Know, for Search");

    let ana = login(&w, "ana");
    for path in [
        "/".to_owned(),
        "/console/alerts?status=open&severity=medium&sort=deadline".to_owned(),
        format!("/console/alerts/{id}"),
        "/console/search?q=event.outcome:failure&since=30d".to_owned(),
    ] {
        let a = page(&w, Some(&ana), "GET", &path, None, false);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_secured(&a, &path);
        assert_eq!(a.headers["cache-control"], "no-store", "{path}");
        assert!(a.body.contains("ana (analyst, default)"), "{path}");
        assert!(!a.body.contains("<script>"), "no inline script: {path}");
        assert!(!a.body.contains("<style"), "no inline style: {path}");
        assert!(!a.body.contains(" style="), "no style attribute: {path}");
    }
    let queue = page(&w, Some(&ana), "GET", "/console/alerts", None, false);
    assert!(queue.body.contains(&format!("data-alert=\"{id}\"")));
    assert!(
        queue.body.contains("ack due in"),
        "the SLA deadline is shown"
    );
    let detail = page(
        &w,
        Some(&ana),
        "GET",
        &format!("/console/alerts/{id}"),
        None,
        false,
    );
    assert!(detail.body.contains("Brute force against one account"));
    assert!(detail.body.contains("attack.t1110.001"), "tags");
    assert_eq!(detail.body.matches(">verified</span>").count(), 20);
    assert!(!detail.body.contains("NOT verified"));
    assert!(
        !detail.body.contains("silence-form"),
        "an analyst may not silence"
    );
    let search = page(
        &w,
        Some(&ana),
        "GET",
        "/console/search?q=event.action:login_failed+|+count&since=30d",
        None,
        false,
    );
    assert!(
        search.body.contains("<span id=\"matched\">25</span>"),
        "the count the API calls `matched`"
    );
    assert!(search.body.contains("<strong id=\"agg-count\">25</strong>"));
    // A `| count by` of 1,005 values lists the 1,000 most frequent and
    // counts the other 5 under other values.
    let now = jiff::Timestamp::now().to_string();
    let lines: Vec<String> = (0..1005)
        .map(|i| {
            json!({"@timestamp": now, "event": {"action": "bucket-probe"}, "user": {"name": format!("u{i:04}")},
                   "source": {"ip": if i < 3 { "198.51.100.1" } else { "198.51.100.2" }}})
            .to_string()
        })
        .collect();
    ingest(&w, lines.join("\n"));
    w.wait_for("event.action:bucket-probe AND user.name:u1004", 1);
    let by = page(
        &w,
        Some(&ana),
        "GET",
        "/console/search?q=event.action:bucket-probe+|+count+by+user.name&since=1h",
        None,
        false,
    );
    assert_eq!(by.status, 200, "{}", by.body);
    let list = &by.body[by.body.find("id=\"buckets\"").unwrap()..];
    assert_eq!(
        list[..list.find("</ol>").unwrap()].matches("<li>").count(),
        1000
    );
    assert_eq!(span_number(&by.body, "agg-other"), 5);
    assert_eq!(span_number(&by.body, "agg-unlisted"), 5);
    let few = page(
        &w,
        Some(&ana),
        "GET",
        "/console/search?q=event.action:bucket-probe+|+count+by+source.ip&since=1h",
        None,
        false,
    );
    assert_eq!(span_number(&few.body, "agg-other"), 0);
    assert!(!few.body.contains("agg-unlisted"), "{}", few.body);

    // Bad input is answered with a page that names it.
    let bad = page(
        &w,
        Some(&ana),
        "GET",
        "/console/alerts?status=opened",
        None,
        false,
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("status must be open"), "{}", bad.body);
    assert_secured(&bad, "bad filter");
    let bad = page(&w, Some(&ana), "GET", "/console/search?q=(((", None, false);
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("query syntax error"));
    let bad = page(
        &w,
        Some(&ana),
        "GET",
        "/console/search?q=*&since=yesterday-ish",
        None,
        false,
    );
    assert_eq!(bad.status, 400, "{}", bad.body);

    // Changes need the CSRF token; the resolve needs a verdict and a reason.
    let ack = format!("/console/alerts/{id}/ack");
    let a = page(&w, Some(&ana), "POST", &ack, Some(""), false);
    assert_eq!(a.status, 403);
    assert_secured(&a, "csrf refusal");
    assert_eq!(s(&alert(&w, &id), "status"), "open");
    let resolve = format!("/console/alerts/{id}/resolve");
    let a = page(
        &w,
        Some(&ana),
        "POST",
        &resolve,
        Some("resolution=false_positive"),
        true,
    );
    assert_eq!(a.status, 400);
    assert!(a.body.contains("a reason is required"), "{}", a.body);
    let a = page(
        &w,
        Some(&ana),
        "POST",
        &resolve,
        Some("resolution=maybe&reason=x"),
        true,
    );
    assert_eq!(a.status, 400);
    let a = page(
        &w,
        Some(&ana),
        "POST",
        &resolve,
        Some("resolution=benign&reason=x&role=admin"),
        true,
    );
    assert_eq!(a.status, 400, "unknown fields are refused");
    assert_eq!(s(&alert(&w, &id), "status"), "open");
    let a = page(&w, Some(&ana), "POST", &ack, Some(""), true);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Acknowledged."));
    let a = page(
        &w,
        Some(&ana),
        "POST",
        &format!("/console/alerts/{id}/silence"),
        Some("duration=1h&comment=x"),
        true,
    );
    assert_eq!(a.status, 403, "analysts hold no silences:write");
    assert_secured(&a, "permission refusal");

    // Operations need metrics:read (engineers, not analysts).
    let a = page(&w, Some(&ana), "GET", "/console/operations", None, false);
    assert_eq!(a.status, 403);
    assert_secured(&a, "operations refused");

    // Another tenant's engineer: the alert does not exist for them.
    let eve = login(&w, "eve");
    let other = page(&w, Some(&eve), "GET", "/console/alerts", None, false);
    assert_eq!(other.status, 200);
    assert!(
        !other.body.contains(&id),
        "another tenant's alert is not listed"
    );
    for (method, path, form) in [
        ("GET", format!("/console/alerts/{id}"), None),
        ("POST", format!("/console/alerts/{id}/ack"), Some("")),
        (
            "POST",
            format!("/console/alerts/{id}/comment"),
            Some("text=mine"),
        ),
        (
            "POST",
            format!("/console/alerts/{id}/silence"),
            Some("duration=1h&comment=x"),
        ),
    ] {
        let a = page(&w, Some(&eve), method, &path, form, true);
        assert_eq!(a.status, 404, "{method} {path}: {}", a.body);
        assert_secured(&a, &path);
    }
    let evidence = alert(&w, &id)["evidence"][0].as_str().unwrap().to_owned();
    let a = page(
        &w,
        Some(&eve),
        "GET",
        &format!("/console/events/{evidence}"),
        None,
        false,
    );
    assert_eq!(a.status, 404, "another tenant's event");
    let a = page(
        &w,
        Some(&eve),
        "GET",
        "/console/search?q=event.action:login_failed&since=30d",
        None,
        false,
    );
    assert!(
        a.body.contains("<span id=\"matched\">0</span>"),
        "{}",
        a.body
    );
    assert!(alert(&w, &id)["comments"].as_array().unwrap().is_empty());
    let ops = page(&w, Some(&eve), "GET", "/console/operations", None, false);
    assert_eq!(ops.status, 200, "{}", ops.body);
    assert_secured(&ops, "operations");
    assert!(ops.body.contains("Unsigned tail"));

    // The assets: versioned names, cached for a year, the right types.
    let css = detail
        .body
        .split('"')
        .find(|p| p.starts_with("/console/assets/console-") && p.ends_with(".css"))
        .unwrap()
        .to_owned();
    let a = page(&w, None, "GET", &css, None, false);
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "text/css; charset=utf-8");
    assert!(
        a.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let htmx = page(
        &w,
        None,
        "GET",
        "/console/assets/htmx-2.0.11.min.js",
        None,
        false,
    );
    assert_eq!(htmx.status, 200);
    assert!(htmx.body.starts_with("var htmx"));
    assert_eq!(
        page(&w, None, "GET", "/console/assets/x.js", None, false).status,
        404
    );
}

const ACME_TOKEN: &str = "acme-ingest-token-0123456789";

/// The row of rule `id` on a rules page: its `<li>` up to the next one.
fn rule_row<'a>(body: &'a str, id: &str) -> &'a str {
    let start = body
        .find(&format!("data-rule=\"{id}\""))
        .unwrap_or_else(|| panic!("rule {id} not listed:\n{body}"));
    let rest = &body[start..];
    &rest[..rest.find("</li>").unwrap()]
}

#[test]
fn the_rules_view_counts_the_callers_alerts_noise_coverage_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    // A rule that does not load: its condition names no selection.
    std::fs::write(
        dir.path().join("broken.yml"),
        "title: Broken on purpose\nid: 7f000000-0000-4000-8000-000000000001\n\
         logsource:\n  product: ward\ndetection:\n  selection:\n    event.action: x\n  \
         condition: selection and nowhere\nlevel: low\n",
    )
    .unwrap();
    let config = format!(
        "[[sources]]\nname = \"acme-app\"\ntenant = \"acme\"\ntoken = \"{ACME_TOKEN}\"\n\
         [detect]\nrules = [{}]\n",
        serde_json::to_string(dir.path().to_str().unwrap()).unwrap()
    );
    let w = Ward::start_with(Some(&config), &[]);
    add_user(&w, "ana", "analyst", "default");
    add_user(&w, "vic", "viewer", "default");
    add_user(&w, "eve", "engineer", "acme");

    // Without a session: the login form; without rules:read: 403.
    let a = page(&w, None, "GET", "/console/rules", None, false);
    assert_eq!(a.status, 303);
    assert_eq!(a.headers["location"], "/login");
    assert_secured(&a, "rules, no session");
    let vic = login(&w, "vic");
    let a = page(&w, Some(&vic), "GET", "/console/rules", None, false);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("rules:read"), "{}", a.body);
    assert_secured(&a, "rules, viewer");

    // The same attack in two tenants: each counts only its own alerts.
    ingest(&w, brute_force());
    let mine = wait_alerts(&w, 1);
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .bearer_auth(ACME_TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(brute_force())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let all = wait_alerts(&w, 2 * mine.len());
    let tenant_of = |a: &Value| a["labels"]["tenant"].as_str().unwrap_or("").to_owned();
    let default: Vec<&Value> = all.iter().filter(|a| tenant_of(a) == "default").collect();
    let acme: Vec<&Value> = all.iter().filter(|a| tenant_of(a) == "acme").collect();
    assert_eq!(default.len(), acme.len(), "{all:#?}");
    let rule = s(default[0], "rule_id").to_owned();
    let of_rule = default
        .iter()
        .filter(|a| a["rule_id"] == rule.as_str())
        .count();

    let ana = login(&w, "ana");
    // One alert closed as false positive, through the console.
    let closed = s(default[0], "id").to_owned();
    let a = page(
        &w,
        Some(&ana),
        "POST",
        &format!("/console/alerts/{closed}/resolve"),
        Some("resolution=false_positive&reason=test+traffic"),
        true,
    );
    assert_eq!(a.status, 200, "{}", a.body);

    let a = page(&w, Some(&ana), "GET", "/console/rules", None, false);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_secured(&a, "rules");
    assert_eq!(a.headers["cache-control"], "no-store");
    assert!(a.body.contains("aria-current=\"page\">Rules</a>"));
    let row = rule_row(&a.body, &rule);
    assert!(
        row.contains(&format!(
            "data-alerts=\"{of_rule}\" data-firing=\"{}\"",
            of_rule - 1
        )),
        "only the default tenant's alerts, one closed: {row}"
    );
    assert!(
        row.contains("100% false positive (1 of 1 verdicts)"),
        "{row}"
    );
    assert!(row.contains("last fired 2026-"), "{row}");
    let link = format!("href=\"/console/alerts?rule={rule}\"");
    assert!(row.contains(&link), "{row}");
    let queue = page(
        &w,
        Some(&ana),
        "GET",
        &format!("/console/alerts?rule={rule}"),
        None,
        false,
    );
    assert!(queue.body.contains(&format!("data-alert=\"{closed}\"")));
    assert!(
        !acme.iter().any(|x| queue
            .body
            .contains(&format!("data-alert=\"{}\"", s(x, "id")))),
        "the queue the link opens is the caller's"
    );
    // The load error, with its file and line.
    let at = a.body.find("broken.yml:").expect("the broken rule's file");
    assert!(
        a.body[at + "broken.yml:".len()..].starts_with(|c: char| c.is_ascii_digit()),
        "{}",
        &a.body[at..at + 40]
    );
    // Coverage: the failed-login rule saw data, some other rule is blind.
    let failed_login = "00ab3331-9017-41ff-8555-bf1ee5c28d01";
    assert!(rule_row(&a.body, failed_login).contains(">data<"));
    assert!(a.body.contains("<span class=\"blind\">blind</span>"));

    // The filters.
    let get = |who: &Session, q: &str| {
        let a = page(
            &w,
            Some(who),
            "GET",
            &format!("/console/rules?{q}"),
            None,
            false,
        );
        assert_eq!(a.status, 200, "{q}: {}", a.body);
        a.body
    };
    let firing = get(&ana, "status=firing");
    assert_eq!(
        firing.contains(&format!("data-rule=\"{rule}\"")),
        of_rule > 1,
        "firing while one of its alerts is open"
    );
    assert!(!firing.contains(&format!("data-rule=\"{failed_login}\"")));
    assert!(get(&ana, "status=noisy").contains(&format!("data-rule=\"{rule}\"")));
    let blind = get(&ana, "status=blind");
    assert!(blind.contains("data-rule="));
    assert!(!blind.contains(&format!("data-rule=\"{failed_login}\"")));
    let errors = get(&ana, "status=errors");
    assert!(errors.contains("broken.yml:"));
    assert!(!errors.contains("data-rule="), "errors only");
    let text = get(&ana, "q=FAILED+LOGIN");
    assert!(text.contains(&format!("data-rule=\"{failed_login}\"")));
    assert!(!text.contains(&format!("data-rule=\"{rule}\"")) || rule == failed_login);
    assert!(!text.contains("broken.yml"), "the text filters errors too");
    let bad = page(
        &w,
        Some(&ana),
        "GET",
        "/console/rules?status=loud",
        None,
        false,
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("status must be"), "{}", bad.body);
    assert_secured(&bad, "rules, bad filter");
    let bad = page(
        &w,
        Some(&ana),
        "GET",
        "/console/rules?tenant=acme",
        None,
        false,
    );
    assert_eq!(bad.status, 400, "unknown fields are refused");

    // Another tenant: its own alerts, none of default's, no verdicts; a
    // silence it makes is its own.
    let eve = login(&w, "eve");
    let a = page(
        &w,
        Some(&eve),
        "POST",
        &format!("/console/alerts/{}/silence", s(acme[0], "id")),
        Some("duration=2h&comment=acme+maintenance"),
        true,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    // Its preview on the rules view: eve's alerts of the last 7 days it
    // matches (rule and group key), what the alert page showed for it.
    let group = acme[0]["group_key"].as_object().unwrap();
    let silenced = acme
        .iter()
        .filter(|x| {
            x["rule_id"] == acme[0]["rule_id"] && group.iter().all(|(k, v)| x["labels"][k] == *v)
        })
        .count();
    assert!(silenced >= 1);
    assert!(
        a.body
            .contains(&format!("id=\"silence-preview\">{silenced}</strong>")),
        "{}",
        a.body
    );
    let theirs = get(&eve, "");
    assert!(
        theirs.contains(&format!(
            "matches <span class=\"silence-matches\">{silenced}</span> of your alert"
        )),
        "{silenced} alerts: {theirs}"
    );
    let row = rule_row(&theirs, &rule);
    assert!(
        row.contains(&format!(
            "data-alerts=\"{of_rule}\" data-firing=\"{of_rule}\""
        )),
        "{row}"
    );
    assert!(row.contains("none closed"), "{row}");
    assert!(get(&eve, "status=firing").contains(&format!("data-rule=\"{rule}\"")));
    assert!(theirs.contains("acme maintenance"));
    assert!(theirs.contains("by eve"));
    assert!(
        theirs.contains("tenant=&#34;acme&#34;"),
        "its matchers: {theirs}"
    );
    let ours = get(&ana, "");
    assert!(
        !ours.contains("acme maintenance"),
        "another tenant's silence"
    );
    assert!(ours.contains("No silences."));
}

#[test]
fn the_entity_timeline_shows_one_users_events_and_alerts_in_the_callers_tenant() {
    let w = Ward::start();
    add_user(&w, "ana", "analyst", "default");
    add_user(&w, "eve", "engineer", "acme");
    ingest(&w, brute_force());
    let alerts = wait_alerts(&w, 1);
    let alice: Vec<&Value> = alerts
        .iter()
        .filter(|a| {
            ["user.name", "user.id"]
                .iter()
                .any(|f| a["group_key"][f] == "alice")
        })
        .collect();
    assert!(!alice.is_empty(), "{alerts:#?}");
    let url = "/console/entity?kind=user&value=alice&since=30d";
    let a = page(&w, None, "GET", url, None, false);
    assert_eq!(a.status, 303);
    assert_eq!(a.headers["location"], "/login");
    assert_secured(&a, "entity, no session");

    let ana = login(&w, "ana");
    let a = page(&w, Some(&ana), "GET", url, None, false);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_secured(&a, "entity");
    assert_eq!(a.headers["cache-control"], "no-store");
    let events = w.search("user.name:alice OR user.id:alice").len();
    assert!(events > 0);
    assert!(
        a.body
            .contains(&format!("<span id=\"n-events\">{events}</span>")),
        "{events} events: {}",
        a.body
    );
    assert!(
        a.body
            .contains(&format!("<span id=\"n-alerts\">{}</span>", alice.len())),
        "{}",
        a.body
    );
    for x in &alice {
        assert!(
            a.body
                .contains(&format!("href=\"/console/alerts/{}\"", s(x, "id")))
        );
    }
    assert_eq!(
        a.body.matches("data-what=\"event\"").count(),
        events,
        "no baseline deviations here"
    );
    // The chart: every event and alert in one bar, each bar's link
    // searching exactly its events.
    assert_eq!(span_number(&a.body, "chart-events"), events as u64);
    assert_eq!(span_number(&a.body, "chart-alerts"), alice.len() as u64);
    let chart = &a.body[a.body.find("id=\"entity-chart\"").unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    let sum = |attr: &str| -> u64 {
        chart
            .split(&format!("{attr}=\""))
            .skip(1)
            .map(|x| x[..x.find('"').unwrap()].parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(sum("data-events"), events as u64, "{chart}");
    assert_eq!(sum("data-alerts"), alice.len() as u64, "{chart}");
    let bar = chart
        .split("<a href=\"")
        .skip(1)
        .find(|x| !x.contains("data-events=\"0\""))
        .expect("a bar with events");
    let n: u64 = bar[bar.find("data-events=\"").unwrap() + 13..]
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let search = page(
        &w,
        Some(&ana),
        "GET",
        &unescape(&bar[..bar.find('"').unwrap()]),
        None,
        false,
    );
    assert_eq!(search.status, 200, "{}", search.body);
    assert_eq!(span_number(&search.body, "matched"), n, "{}", search.body);
    assert!(
        a.body.contains("<table id=\"chart-table\">"),
        "a text alternative"
    );
    // Another user: nothing of alice's.
    let other = page(
        &w,
        Some(&ana),
        "GET",
        "/console/entity?kind=user&value=mallory&since=30d",
        None,
        false,
    );
    assert!(other.body.contains("<span id=\"n-events\">0</span>"));
    assert!(other.body.contains("<span id=\"n-alerts\">0</span>"));
    assert_eq!(span_number(&other.body, "chart-events"), 0);
    // The alert page links the entity to its timeline.
    let detail = page(
        &w,
        Some(&ana),
        "GET",
        &format!("/console/alerts/{}", s(alice[0], "id")),
        None,
        false,
    );
    assert!(
        detail
            .body
            .contains("href=\"/console/entity?kind=user&#38;value=alice&#38;since=30d\""),
        "{}",
        detail.body
    );
    // Bad input is named.
    for (q, what) in [
        ("kind=printer&value=x", "kind must be"),
        ("kind=user&value=alice&since=yesterday-ish", ""),
        ("kind=user&value=alice&tenant=acme", ""),
    ] {
        let a = page(
            &w,
            Some(&ana),
            "GET",
            &format!("/console/entity?{q}"),
            None,
            false,
        );
        assert_eq!(a.status, 400, "{q}: {}", a.body);
        assert!(a.body.contains(what), "{q}: {}", a.body);
        assert_secured(&a, q);
    }
    // Another tenant sees none of it.
    let eve = login(&w, "eve");
    let theirs = page(&w, Some(&eve), "GET", url, None, false);
    assert_eq!(theirs.status, 200);
    assert!(
        theirs.body.contains("<span id=\"n-events\">0</span>"),
        "{}",
        theirs.body
    );
    assert!(theirs.body.contains("<span id=\"n-alerts\">0</span>"));
    assert_eq!(span_number(&theirs.body, "chart-events"), 0);
    assert_eq!(span_number(&theirs.body, "chart-alerts"), 0);
}

fn browser_dir() -> PathBuf {
    crate::harness::require("node");
    crate::harness::require("chromium");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// Runs `console.mjs` and returns its observations.
fn drive(w: &Ward, args: &[&str]) -> Value {
    let _ = browser_dir();
    let seen = crate::harness::node_script(w, "console.mjs", args);
    assert!(seen.get("error").is_none(), "{seen:#}");
    seen
}

/// Every screenshot the script names is a PNG in `dir`.
fn assert_screenshots(seen: &Value, dir: &Path, at_least: usize) {
    let shots = seen["shots"].as_array().unwrap();
    assert!(shots.len() >= at_least, "{shots:?}");
    for p in shots {
        let p = Path::new(p.as_str().unwrap());
        assert!(p.starts_with(dir));
        let bytes = std::fs::read(p).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{}", p.display());
    }
}

#[test]
fn a_keyboard_only_triage_in_chromium() {
    browser_dir();
    let w = Ward::start();
    add_user(&w, "ana", "engineer", "default");
    ingest(&w, brute_force());
    let id = s(&wait_alerts(&w, 1)[0], "id").to_owned();
    let shots = shots_dir("triage");
    let more = rules_dir().join("authentication/mfa_fatigue.pos.jsonl");
    let seen = drive(
        &w,
        &[
            "triage",
            &w.url(),
            "ana",
            PASSWORD,
            shots.to_str().unwrap(),
            TOKEN,
            more.to_str().unwrap(),
        ],
    );
    assert_eq!(seen["csp"], json!([]), "no CSP violation on any view");
    assert_eq!(seen["overflow"], json!([]), "no view wider than 390 px");
    assert_eq!(
        seen["axe"],
        json!([]),
        "axe-core: no WCAG 2.2 A/AA violation"
    );
    assert_eq!(seen["dialogs"], 0);
    assert_eq!(seen["unauthenticated_landing"], "/login");
    assert_eq!(seen["top_alert"], json!(id));
    assert_eq!(seen["opened"], json!(id));
    assert_eq!(seen["help_open"], true);
    assert!(s(&seen, "queue_sla").starts_with("ack due in"), "{seen}");
    assert_eq!(seen["evidence"], json!(vec!["verified"; 20]));
    assert_eq!(seen["focus_after_c"], "resolution");
    assert_eq!(seen["verdict"], "false positive");
    assert_eq!(seen["silence_preview"], 1);
    assert_eq!(seen["matched"], 25);
    assert_eq!(seen["count_result"], 25);
    assert_eq!(seen["top_buckets"], 1);
    assert!(
        seen["event_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("event.outcome"))
    );
    assert_eq!(seen["event_proof"], "verified");
    assert_eq!(seen["live"]["after"], 2, "{seen}");
    assert_eq!(seen["live"]["reloads"], 0, "updated in place");
    assert_eq!(seen["local_storage"], 0);
    assert!(s(&seen, "operations_ready").starts_with("Ready"), "{seen}");
    assert!(
        seen["operations_store"]
            .as_array()
            .unwrap()
            .contains(&json!("Unsigned tail"))
    );
    assert_screenshots(&seen, &shots, 14);

    // The API confirms the state and who acted.
    let a = alert(&w, &id);
    assert_eq!(a["status"], "resolved", "{a}");
    assert_eq!(a["resolution"], "false_positive");
    assert_eq!(a["acknowledged_by"], "ana");
    assert_eq!(a["resolved_by"], "ana");
    assert_eq!(a["assignee"], "bob");
    let comments: Vec<(&str, &str)> = a["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(c, "author"), s(c, "text")))
        .collect();
    assert!(comments.contains(&("ana", "checked the source address: our scanner")));
    assert!(comments.contains(&("ana", "internal vulnerability scanner, ticket SEC-42")));
    let silences: Value = Ward::client()
        .get(format!("{}/api/v1/silences", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let silence = &silences["silences"][0];
    assert_eq!(silence["created_by"], "ana", "{silences}");
    assert!(
        silence["matchers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "rule_id" && m["value"] == a["rule_id"]),
        "{silence}"
    );
}

/// The brute-force fixture as one more user's attack (its own alert).
fn brute_force_on(user: &str) -> String {
    brute_force()
        .replace("\"alice\"", &format!("\"{user}\""))
        .replace("req-", &format!("{user}-req-"))
}

/// Where a browser test keeps its screenshots: under `target/`, fresh.
fn shots_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("console-shots")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BRUTE_FORCE_RULE: &str = "05ff88fc-b465-4185-b0df-8338f700f0ef";

#[test]
fn bulk_actions_need_a_reason_the_callers_alerts_and_a_count_not_exceeded() {
    let w = Ward::start();
    add_user(&w, "ana", "analyst", "default");
    add_user(&w, "vic", "viewer", "default");
    add_user(&w, "eve", "engineer", "acme");
    for u in ["alice", "bob", "carol"] {
        ingest(&w, brute_force_on(u));
    }
    let alerts = wait_alerts(&w, 3);
    let ids: Vec<String> = alerts.iter().map(|a| s(a, "id").to_owned()).collect();
    let ana = login(&w, "ana");
    let bulk = |who: &Session, form: &str, csrf: bool| {
        page(
            &w,
            Some(who),
            "POST",
            "/console/alerts/bulk",
            Some(form),
            csrf,
        )
    };
    let query =
        format!("scope=query&rule={BRUTE_FORCE_RULE}&action=close&resolution=false_positive");

    // Without the CSRF token, or as a viewer: refused, nothing changes.
    let a = bulk(&ana, &format!("{query}&matched=3&reason=x"), false);
    assert_eq!(a.status, 403);
    assert_secured(&a, "bulk without csrf");
    let vic = login(&w, "vic");
    assert_eq!(
        bulk(&vic, &format!("{query}&matched=3&reason=x"), true).status,
        403
    );
    // No reason, no verdict, an unknown field, a stale count: 400, named.
    for (form, says) in [
        (format!("{query}&matched=3"), "closing needs a reason"),
        (
            format!("scope=query&rule={BRUTE_FORCE_RULE}&action=close&matched=3&reason=x"),
            "closing needs a verdict",
        ),
        (
            format!("{query}&matched=3&reason=x&role=admin"),
            "unexpected form field",
        ),
        (
            format!("{query}&matched=2&reason=x"),
            "3 alerts match now, more than the 2 shown",
        ),
        (format!("{query}&reason=x"), "matched"),
        (
            "scope=selected&action=ack".to_owned(),
            "select alerts first",
        ),
    ] {
        let a = bulk(&ana, &form, true);
        assert_eq!(a.status, 400, "{form}: {}", a.body);
        assert!(a.body.contains(says), "{form}: {}", a.body);
        assert_secured(&a, &form);
    }
    // Another tenant's engineer cannot reach these alerts by id.
    let eve = login(&w, "eve");
    let a = bulk(
        &eve,
        &format!("scope=selected&action=ack&id={}", ids[0]),
        true,
    );
    assert_eq!(a.status, 400);
    assert!(a.body.contains("is not found"), "{}", a.body);
    for id in &ids {
        assert_eq!(s(&alert(&w, id), "status"), "open");
    }

    // Acknowledge one by selection, then close all three by query.
    let a = bulk(
        &ana,
        &format!("scope=selected&action=ack&id={}", ids[0]),
        true,
    );
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.headers["location"], "/console/alerts?done=acknowledged-1");
    assert_eq!(s(&alert(&w, &ids[0]), "status"), "acknowledged");
    let a = bulk(
        &ana,
        &format!("{query}&matched=3&reason=lab+accounts"),
        true,
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let to = a.headers["location"].to_str().unwrap().to_owned();
    assert!(to.ends_with("done=closed-3"), "{to}");
    let shown = page(&w, Some(&ana), "GET", &to, None, false);
    assert!(shown.body.contains("Closed 3 alerts."), "{}", shown.body);
    for id in &ids {
        let a = alert(&w, id);
        assert_eq!(a["status"], "resolved");
        assert_eq!(a["resolution"], "false_positive");
        assert_eq!(a["resolved_by"], "ana");
        let reasons: Vec<&str> = a["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| s(c, "text"))
            .collect();
        assert!(reasons.contains(&"lab accounts"), "{a}");
    }
    // Closed alerts are left as they are by a second close.
    let a = bulk(
        &ana,
        &format!("{query}&matched=3&reason=again&resolution=benign"),
        true,
    );
    assert_eq!(a.status, 400, "a repeated field");
    let a = bulk(
        &ana,
        &format!(
            "scope=query&rule={BRUTE_FORCE_RULE}&action=close&resolution=benign&matched=3&reason=again"
        ),
        true,
    );
    assert!(
        a.headers["location"]
            .to_str()
            .unwrap()
            .ends_with("done=closed-0")
    );
    assert_eq!(alert(&w, &ids[1])["resolution"], "false_positive");

    // Grouping by rule and by entity.
    let g = page(
        &w,
        Some(&ana),
        "GET",
        "/console/alerts?group=entity",
        None,
        false,
    );
    for u in ["alice", "bob", "carol"] {
        assert!(
            g.body.contains(&format!("user.id={u}")) || g.body.contains(&format!("user.name={u}")),
            "{u}: {}",
            g.body
        );
    }
    let g = page(
        &w,
        Some(&ana),
        "GET",
        "/console/alerts?group=rule",
        None,
        false,
    );
    assert_eq!(
        g.body.matches("class=\"group-name\"").count(),
        1,
        "{}",
        g.body
    );
    let bad = page(
        &w,
        Some(&ana),
        "GET",
        "/console/alerts?group=tenant",
        None,
        false,
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("group must be rule or entity"));

    // Saved views and settings belong to the person, on the server.
    let save =
        |who: &Session, form: &str| page(&w, Some(who), "POST", "/console/views", Some(form), true);
    assert_eq!(
        save(&ana, "name=mine&status=resolved&group=rule").status,
        200
    );
    assert_eq!(save(&ana, "name=&status=resolved").status, 400);
    assert_eq!(save(&ana, "name=x&status=closed").status, 400);
    let prefs = |who: &Session, form: &str| {
        page(&w, Some(who), "POST", "/console/prefs", Some(form), true).status
    };
    assert_eq!(prefs(&ana, "theme=dark"), 204);
    assert_eq!(prefs(&ana, "theme=purple"), 400);
    assert_eq!(prefs(&ana, "density=compact&role=admin"), 400);
    let mine = page(&w, Some(&ana), "GET", "/console/alerts", None, false);
    assert!(mine.body.contains("data-theme=\"dark\""));
    assert!(
        mine.body
            .contains("href=\"/console/alerts?status=resolved&#38;group=rule\""),
        "{}",
        mine.body
    );
    let theirs = page(&w, Some(&vic), "GET", "/console/alerts", None, false);
    assert!(theirs.body.contains("data-theme=\"system\""));
    assert!(!theirs.body.contains("class=\"view\""));
    let file: Value =
        serde_json::from_slice(&std::fs::read(w.data_dir().join("console-prefs.json")).unwrap())
            .unwrap();
    assert_eq!(file["session:ana"]["theme"], "dark", "{file}");
}

#[test]
fn bulk_close_grouping_saved_views_themes_and_accessibility_in_chromium() {
    browser_dir();
    let w = Ward::start();
    add_user(&w, "ana", "engineer", "default");
    for u in ["alice", "bob", "carol", "dave", "erin"] {
        ingest(&w, brute_force_on(u));
    }
    ingest(
        &w,
        std::fs::read_to_string(rules_dir().join("authentication/mfa_fatigue.pos.jsonl")).unwrap(),
    );
    let alerts = wait_alerts(&w, 6);
    let shots = shots_dir("bulk");
    let seen = drive(
        &w,
        &[
            "bulk",
            &w.url(),
            "ana",
            PASSWORD,
            shots.to_str().unwrap(),
            BRUTE_FORCE_RULE,
        ],
    );
    assert_eq!(seen["csp"], json!([]), "no CSP violation on any view");
    assert_eq!(
        seen["axe"],
        json!([]),
        "axe-core: no WCAG 2.2 A/AA violation"
    );
    assert!(seen["axe_runs"].as_u64().unwrap() >= 8, "{seen}");
    assert_eq!(seen["overflow"], json!([]));
    assert_eq!(seen["rule_groups"].as_array().unwrap().len(), 2, "{seen}");
    assert_eq!(seen["entity_groups"].as_array().unwrap().len(), 6, "{seen}");
    assert_eq!(seen["picked"], 2);
    assert_eq!(seen["focus_after_c"], "bulk-resolution");
    assert_eq!(seen["selected_flash"], "Closed 2 alerts.", "{seen}");
    assert!(
        s(&seen, "no_reason").contains("closing needs a reason"),
        "{seen}"
    );
    assert_eq!(seen["query_flash"], "Closed 3 alerts.", "{seen}");
    assert_eq!(seen["views"], json!(["brute force, newest"]));
    assert!(s(&seen, "view_url").contains("sort=newest"), "{seen}");
    assert_eq!(seen["theme_now"], "dark");
    assert_eq!(seen["theme_after_reload"], "dark");
    assert_eq!(seen["density_after_reload"], "compact");
    assert_eq!(
        seen["background"], "rgb(20, 23, 29)",
        "dark although the system is light"
    );
    assert_eq!(seen["local_storage"], 0);
    assert_screenshots(&seen, &shots, 8);

    let mut verdicts: Vec<String> = alerts
        .iter()
        .map(|a| alert(&w, s(a, "id")))
        .filter(|a| a["rule_id"] == BRUTE_FORCE_RULE)
        .map(|a| format!("{} {}", s(&a, "resolution"), s(&a, "resolved_by")))
        .collect();
    verdicts.sort();
    assert_eq!(
        verdicts,
        [
            "benign ana",
            "benign ana",
            "benign ana",
            "false_positive ana",
            "false_positive ana"
        ]
    );
}

/// At least 100 XSS payloads: script, img, svg, iframe, event-handler,
/// `javascript:` and foreign-URL variants, htmx attributes, each in
/// several spellings; each marks an element it would inject with
/// `data-xss`, and names `xss.invalid` where it would load something.
fn corpus() -> Vec<String> {
    let shapes: Vec<Box<dyn Fn(usize) -> String>> = vec![
        Box::new(|i| format!("<script data-xss>alert({i})</script>")),
        Box::new(|i| format!("<img src=x onerror=alert({i}) data-xss>")),
        Box::new(|i| format!("\"><img src=https://xss.invalid/{i}.png data-xss>")),
        Box::new(|i| format!("'><svg onload=alert({i}) data-xss>")),
        Box::new(|i| format!("<a href=\"javascript:alert({i})\" data-xss>click</a>")),
        Box::new(|i| format!("<iframe src=\"javascript:alert({i})\" data-xss></iframe>")),
        Box::new(|i| format!("<details open ontoggle=alert({i}) data-xss>")),
        Box::new(|i| format!("</title></textarea><script data-xss>alert({i})</script>")),
        Box::new(|i| format!("<body onload=alert({i}) data-xss>")),
        Box::new(|i| format!("<input autofocus onfocus=alert({i}) data-xss>")),
        Box::new(|i| format!("<link rel=stylesheet href=https://xss.invalid/{i}.css data-xss>")),
        Box::new(|i| {
            format!("<meta http-equiv=refresh content=\"0;url=https://xss.invalid/{i}\" data-xss>")
        }),
        Box::new(|i| {
            format!("<div hx-get=\"https://xss.invalid/{i}\" hx-trigger=load data-xss-hx>x</div>")
        }),
        Box::new(|i| format!("<object data=\"https://xss.invalid/{i}\" data-xss></object>")),
        Box::new(|i| format!("<style data-xss>@import 'https://xss.invalid/{i}.css';</style>")),
    ];
    let spell: [fn(String) -> String; 8] = [
        |p| p,
        |p| p.to_uppercase().replace("DATA-XSS", "data-xss"),
        |p| format!("\"'>{p}"),
        |p| format!("</dd></dl>{p}"),
        |p| format!("{p}\u{1b}[31m\r\nnext line"),
        |p| p.replace(' ', "\t"),
        |p| format!("{{{{7*7}}}}{p}"),
        |p| format!("<!--{p}-->{p}"),
    ];
    let mut out = Vec::new();
    for (n, shape) in shapes.iter().enumerate() {
        for (m, f) in spell.iter().enumerate() {
            out.push(f(shape(n * 10 + m)));
        }
    }
    out
}

#[test]
fn an_xss_corpus_in_events_rule_titles_labels_and_comments_stays_text() {
    browser_dir();
    let payloads = corpus();
    assert!(payloads.len() >= 100, "{}", payloads.len());
    // Rules whose titles, descriptions and runbooks are payloads.
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::new();
    for (i, p) in payloads.iter().take(12).enumerate() {
        let q = serde_json::to_string(p).unwrap();
        rules.push_str(&format!(
            "title: {q}\nid: 00000000-0000-4000-8000-{i:012}\nstatus: test\ndescription: {q}\n\
             logsource:\n  product: ward\ndetection:\n  selection:\n    event.action: xss-probe\n  \
             condition: selection\nlevel: high\n---\n"
        ));
    }
    let rules_file = dir.path().join("xss.yml");
    std::fs::write(&rules_file, rules).unwrap();
    let config = format!(
        "[detect]\nbuiltin_rules = false\nrules = [{}]\n",
        serde_json::to_string(rules_file.to_str().unwrap()).unwrap()
    );
    let w = Ward::start_with(Some(&config), &[]);
    add_user(&w, "ana", "analyst", "default");
    // Events with a payload in each field the console shows.
    let now = jiff::Timestamp::now();
    let lines: Vec<String> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "@timestamp": (now - jiff::SignedDuration::from_secs(i as i64)).to_string(),
                "event": {"action": "xss-probe", "outcome": "failure"},
                "message": p,
                "user": {"name": p},
                "host": {"name": p},
                "service": {"name": p},
                "source": {"ip": "198.51.100.7"},
                "url": {"full": format!("javascript:alert({i})")},
                "labels": { p.clone(): p },
            })
            .to_string()
        })
        .collect();
    ingest(&w, lines.join("\n"));
    let alerts = wait_alerts(&w, 12);
    assert_eq!(alerts[0]["labels"]["tenant"], "default", "{:#}", alerts[0]);
    // Comments and an assignee that are payloads, through the API.
    let first = s(&alerts[0], "id").to_owned();
    for p in &payloads {
        let r = Ward::client()
            .post(format!("{}/api/v1/alerts/{first}/comment", w.url()))
            .bearer_auth(&w.admin)
            .json(&json!({ "text": p }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = Ward::client()
        .post(format!("{}/api/v1/alerts/{first}/assign", w.url()))
        .bearer_auth(&w.admin)
        .json(&json!({ "assignee": payloads[1] }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let ids: Vec<Value> = w
        .wait_for("event.action:xss-probe", payloads.len())
        .iter()
        .take(30)
        .map(|h| h["event"]["id"].clone())
        .collect();
    let ids_file = dir.path().join("ids.json");
    std::fs::write(
        &ids_file,
        json!({ "events": ids, "alerts": [first], "users": &payloads[..6] }).to_string(),
    )
    .unwrap();
    let shots = shots_dir("xss");
    let seen = drive(
        &w,
        &[
            "xss",
            &w.url(),
            "ana",
            PASSWORD,
            shots.to_str().unwrap(),
            ids_file.to_str().unwrap(),
        ],
    );
    assert_eq!(seen["dialogs"], 0, "{seen}");
    assert_eq!(seen["injected"], json!([]), "{seen}");
    assert_eq!(seen["payload_requests"], json!([]), "{seen}");
    assert_eq!(seen["csp"], json!([]), "{seen}");
    assert!(seen["alerts"].as_u64().unwrap() >= 12, "{seen}");
    assert_eq!(
        seen["rules_titles"], 12,
        "the rules view lists them: {seen}"
    );
    assert_eq!(seen["overflow"], json!([]), "long payloads wrap");
    // The payloads were shown, as text, on the pages that hold them.
    assert!(seen["shown_as_text"].as_u64().unwrap() >= 40, "{seen}");
    assert!(seen["payload_groups"].as_u64().unwrap() >= 2, "{seen}");
    assert_eq!(seen["entity_charts"], 6, "a chart per payload user: {seen}");
    assert_eq!(seen["payload_views"], 1, "{seen}");
    assert_eq!(seen["payload_searches"], 1, "{seen}");
    assert!(seen["sidebar_fields"].as_u64().unwrap() >= 10, "{seen}");
    assert_screenshots(&seen, &shots, 8);
}

/// `i` × 90 s (and one minute) ago.
fn probe_time(i: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60 + i * 90)).to_string()
}

/// 30 events `event.action:export-probe` of the last 45 minutes, users
/// `ana`, a spreadsheet formula and `bo b` in turn, messages and tags
/// that a spreadsheet would run.
fn probe_events() -> String {
    let users = [
        "ana",
        "=HYPERLINK(\"https://xss.invalid/x\",\"click\")",
        "bo b",
    ];
    let lines: Vec<String> = (0..30)
        .map(|i| {
            json!({
                "@timestamp": probe_time(i),
                "event": {"action": "export-probe", "outcome": "failure"},
                "user": {"name": users[i as usize % 3]},
                "message": if i % 2 == 0 { "+cmd|' /C calc'!A0" } else { "@SUM(1+1)" },
                "tags": ["-2+3", "plain"],
            })
            .to_string()
        })
        .collect();
    lines.join("\n")
}

/// The `href` of the link whose `aria-label` is `label`, unescaped.
fn link_by_label(body: &str, label: &str) -> String {
    let at = body
        .find(&format!("aria-label=\"{label}\""))
        .unwrap_or_else(|| panic!("no link {label:?} in\n{body}"));
    let start = body[..at].rfind("href=\"").unwrap() + 6;
    let end = start + body[start..].find('"').unwrap();
    unescape(&body[start..end])
}

/// Text of an HTML attribute as askama escapes it, unescaped.
fn unescape(t: &str) -> String {
    t.replace("&#38;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

/// The number in `<span id="{id}">N</span>`.
fn span_number(body: &str, id: &str) -> u64 {
    let tag = format!("id=\"{id}\">");
    let at = body
        .find(&tag)
        .unwrap_or_else(|| panic!("no #{id} in\n{body}"))
        + tag.len();
    body[at..at + body[at..].find('<').unwrap()]
        .parse()
        .unwrap()
}

#[test]
fn search_histogram_sidebar_export_saved_searches_and_expand_keep_to_the_callers_tenant() {
    let config =
        format!("[[sources]]\nname = \"acme-app\"\ntenant = \"acme\"\ntoken = \"{ACME_TOKEN}\"\n");
    let w = Ward::start_with(Some(&config), &[]);
    add_user(&w, "ana", "analyst", "default");
    add_user(&w, "eve", "engineer", "acme");
    let at = probe_time;
    ingest(&w, probe_events());
    let big = "x".repeat(70 * 1024) + "END-OF-BIG";
    ingest(
        &w,
        json!({"@timestamp": at(1), "event": {"action": "export-big"}, "message": big}).to_string(),
    );
    let theirs: Vec<String> = (0..5)
        .map(|i| {
            json!({"@timestamp": at(i), "event": {"action": "export-probe"}, "user": {"name": "acme-only"}})
                .to_string()
        })
        .collect();
    let r = Ward::client()
        .post(format!("{}/api/v1/ingest", w.url()))
        .bearer_auth(ACME_TOKEN)
        .header("content-type", "application/x-ndjson")
        .body(theirs.join("\n"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(w.wait_for("event.action:export-probe", 35).len(), 35);
    let ana = login(&w, "ana");
    let eve = login(&w, "eve");
    let q = "q=event.action%3Aexport-probe&since=2h&until=";

    // The sidebar: fields of the newest matches; + narrows to a value.
    let a = page(
        &w,
        Some(&ana),
        "GET",
        &format!("/console/search?{q}"),
        None,
        false,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_secured(&a, "search");
    assert_eq!(span_number(&a.body, "matched"), 30);
    assert!(a.body.contains("In the newest 30 matches"), "{}", a.body);
    let only_ana = link_by_label(&a.body, "Only user.name ana");
    let narrowed = page(&w, Some(&ana), "GET", &only_ana, None, false);
    assert_eq!(span_number(&narrowed.body, "matched"), 10, "{only_ana}");
    let without = link_by_label(&a.body, "Without user.name bo b");
    let without = page(&w, Some(&ana), "GET", &without, None, false);
    assert_eq!(span_number(&without.body, "matched"), 20);
    assert!(!a.body.contains("acme-only"), "another tenant's values");
    let e = page(
        &w,
        Some(&eve),
        "GET",
        &format!("/console/search?{q}"),
        None,
        false,
    );
    assert_eq!(span_number(&e.body, "matched"), 5);
    assert!(!e.body.contains("Only user.name ana"));

    // The histogram: its bars add up to the matches, per tenant.
    let bars = |who: &Session, q: &str| {
        let a = page(
            &w,
            Some(who),
            "GET",
            &format!("/console/search/histogram?{q}"),
            None,
            false,
        );
        assert_eq!(a.status, 200, "{}", a.body);
        assert_secured(&a, "histogram");
        let counts: Vec<u64> = a
            .body
            .split("data-n=\"")
            .skip(1)
            .map(|x| x[..x.find('"').unwrap()].parse().unwrap())
            .collect();
        assert!(
            !counts.is_empty() && counts.len() <= 120,
            "{}",
            counts.len()
        );
        assert_eq!(
            counts.iter().sum::<u64>(),
            span_number(&a.body, "hist-matched")
        );
        (counts, a.body)
    };
    let (counts, body) = bars(&ana, q);
    assert_eq!(counts.iter().sum::<u64>(), 30);
    assert!(counts.iter().filter(|n| **n > 0).count() > 1, "{counts:?}");
    // A bar's link narrows the range to its bucket, and its search agrees.
    let i = counts.iter().position(|n| *n > 0).unwrap();
    let bar = body.split("<a href=\"").nth(i + 1).unwrap();
    let zoom = unescape(&bar[..bar.find('"').unwrap()]);
    let z = page(&w, Some(&ana), "GET", &zoom, None, false);
    assert_eq!(z.status, 200);
    assert_eq!(span_number(&z.body, "matched"), counts[i], "{zoom}");
    assert_eq!(bars(&eve, q).0.iter().sum::<u64>(), 5);
    let bad = page(
        &w,
        Some(&ana),
        "GET",
        "/console/search/histogram?q=x&since=yesterday",
        None,
        false,
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("is not a time"), "{}", bad.body);

    // Export: NDJSON and CSV of the caller's tenant only, formulas
    // neutralised, recorded in the audit trail.
    let nd = page(
        &w,
        Some(&ana),
        "GET",
        &format!("/console/search/export?{q}&format=ndjson"),
        None,
        false,
    );
    assert_eq!(nd.status, 200, "{}", nd.body);
    assert_secured(&nd, "export");
    assert_eq!(nd.headers["content-type"], "application/x-ndjson");
    assert!(
        nd.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"ward-events-")
    );
    assert_eq!(nd.headers["x-ward-export-rows"], "30");
    assert_eq!(nd.headers["x-ward-export-complete"], "true");
    let lines: Vec<Value> = nd
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    assert!(
        lines.iter().all(|e| e["tenant"]["id"] == "default"),
        "{:?}",
        lines[0]
    );
    let theirs = page(
        &w,
        Some(&eve),
        "GET",
        &format!("/console/search/export?{q}&format=ndjson"),
        None,
        false,
    );
    assert_eq!(theirs.body.lines().count(), 5);
    assert!(!theirs.body.contains("\"ana\""));
    let csv = page(
        &w,
        Some(&ana),
        "GET",
        &format!("/console/search/export?{q}&format=csv"),
        None,
        false,
    );
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let rows: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 31, "a header and 30 rows");
    assert!(
        rows[0].starts_with("\"@timestamp\",\"event.id\","),
        "{}",
        rows[0]
    );
    for row in &rows {
        for bad in ["\"=", "\"+", "\"@S", "\"-2"] {
            assert!(
                !row.contains(&format!(",{bad}")) && !row.starts_with(bad),
                "{bad} in {row}"
            );
        }
    }
    assert!(
        csv.body
            .contains("\"'=HYPERLINK(\"\"https://xss.invalid/x\"\",\"\"click\"\")\"")
    );
    assert!(csv.body.contains("\"'+cmd|' /C calc'!A0\""));
    assert!(csv.body.contains("\"'@SUM(1+1)\""));
    for (query, why) in [
        (format!("{q}&format=xml"), "format must be ndjson or csv"),
        ("q=*+|+count&format=csv".to_owned(), "aggregation"),
        (format!("{q}&format=csv&limit=1"), "unknown field"),
    ] {
        let r = page(
            &w,
            Some(&ana),
            "GET",
            &format!("/console/search/export?{query}"),
            None,
            false,
        );
        assert_eq!(r.status, 400, "{query}");
        assert!(r.body.contains(why), "{query}: {}", r.body);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r: Value = Ward::client()
            .get(format!("{}/api/v1/audit", w.url()))
            .bearer_auth(&w.admin)
            .query(&[
                (
                    "q",
                    "audit.route:\"/console/search/export\" AND user.name:ana",
                ),
                ("since", "1h"),
                ("limit", "100"),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let queries: Vec<String> = r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| s(&h["event"], "url.query").to_owned())
            .collect();
        if queries
            .iter()
            .any(|q| q.contains("format=csv") && q.contains("export-probe"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the export is not in the audit trail: {r:#}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Saved searches: per person, on the server, CSRF-checked, checked.
    let form = "name=probes&q=event.action%3Aexport-probe&since=2h&until=";
    let no_csrf = page(
        &w,
        Some(&ana),
        "POST",
        "/console/searches",
        Some(form),
        false,
    );
    assert_eq!(no_csrf.status, 403);
    let saved = page(
        &w,
        Some(&ana),
        "POST",
        "/console/searches",
        Some(form),
        true,
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_secured(&saved, "save search");
    assert!(
        unescape(&saved.body).contains("Search \"probes\" saved."),
        "{}",
        saved.body
    );
    let broken = page(
        &w,
        Some(&ana),
        "POST",
        "/console/searches",
        Some("name=x&q=%28"),
        true,
    );
    assert_eq!(broken.status, 400);
    assert!(
        broken.body.contains("not saved: query syntax error"),
        "{}",
        broken.body
    );
    let extra = page(
        &w,
        Some(&ana),
        "POST",
        "/console/searches",
        Some("name=x&q=a&role=admin"),
        true,
    );
    assert_eq!(extra.status, 400);
    let listed = page(&w, Some(&ana), "GET", "/console/search", None, false);
    assert!(unescape(&listed.body).contains("class=\"saved-search\" href=\"/console/search?q=event.action%3Aexport-probe&since=2h&until=\">probes</a>"), "{}", listed.body);
    let hers = page(&w, Some(&eve), "GET", "/console/search", None, false);
    assert!(
        !hers.body.contains("class=\"saved-search\""),
        "saved searches are per person"
    );
    let gone = page(
        &w,
        Some(&eve),
        "POST",
        "/console/searches/delete",
        Some("name=probes"),
        true,
    );
    assert_eq!(gone.status, 400, "not hers to delete");
    let gone = page(
        &w,
        Some(&ana),
        "POST",
        "/console/searches/delete",
        Some("name=probes"),
        true,
    );
    assert!(gone.body.contains("deleted"), "{}", gone.body);
    assert!(!gone.body.contains("class=\"saved-search\""));

    // A value over 64 KiB is cut with a link that shows it whole.
    let id = s(&w.wait_for("event.action:export-big", 1)[0]["event"], "id").to_owned();
    let ev = page(
        &w,
        Some(&ana),
        "GET",
        &format!("/console/events/{id}"),
        None,
        false,
    );
    assert_eq!(ev.status, 200);
    assert!(
        ev.body.contains("cut at 64 KiB of 71 KiB"),
        "{}",
        &ev.body[..2000]
    );
    assert!(!ev.body.contains("END-OF-BIG"));
    let whole = page(
        &w,
        Some(&ana),
        "GET",
        &link_of_class(&ev.body, "expand"),
        None,
        false,
    );
    assert_eq!(whole.status, 200);
    assert!(whole.body.contains("END-OF-BIG"));
    let hidden = page(
        &w,
        Some(&eve),
        "GET",
        &format!("/console/events/{id}?full=message"),
        None,
        false,
    );
    assert_eq!(hidden.status, 404, "another tenant's event");
}

/// The `href` of the first link of class `class`, unescaped.
fn link_of_class(body: &str, class: &str) -> String {
    let tag = format!("class=\"{class}\" href=\"");
    let start = body.find(&tag).unwrap_or_else(|| panic!("no .{class}")) + tag.len();
    unescape(&body[start..start + body[start..].find('"').unwrap()])
}

#[test]
fn search_histogram_brushing_sidebar_and_saved_searches_in_chromium() {
    browser_dir();
    let w = Ward::start();
    add_user(&w, "ana", "analyst", "default");
    ingest(&w, probe_events());
    assert_eq!(w.wait_for("event.action:export-probe", 30).len(), 30);
    let shots = shots_dir("search");
    let seen = drive(
        &w,
        &["search", &w.url(), "ana", PASSWORD, shots.to_str().unwrap()],
    );
    assert_eq!(seen["csp"], json!([]), "no CSP violation on any view");
    assert_eq!(
        seen["axe"],
        json!([]),
        "axe-core: no WCAG 2.2 A/AA violation"
    );
    assert!(seen["axe_runs"].as_u64().unwrap() >= 6, "{seen}");
    assert_eq!(seen["overflow"], json!([]), "no view wider than 390 px");
    assert_eq!(seen["dialogs"], 0);
    assert_eq!(seen["matched"], 30);
    assert_eq!(seen["hist_matched"], 30);
    assert!(seen["bars"].as_u64().unwrap() >= 30, "{seen}");
    let expected = seen["brushed_expected"].as_u64().unwrap();
    assert!(expected > 0 && expected < 30, "{seen}");
    assert_eq!(seen["brushed_matched"], expected, "{seen}");
    assert_eq!(seen["brushed_hist_matched"], expected, "{seen}");
    assert!(s(&seen, "brushed_url").contains("since=20"), "{seen}");
    assert_eq!(
        seen["bar_key"]["matched"], seen["bar_key"]["expected"],
        "{seen}"
    );
    assert_eq!(
        seen["filtered_q"],
        "(event.action:export-probe) AND user.name:ana"
    );
    assert_eq!(seen["filtered_matched"], 10);
    assert_eq!(seen["filtered_users"], json!(["ana"]));
    assert_eq!(seen["saved_flash"], "Search \"ana probes\" saved.");
    assert_eq!(seen["saved"], json!(["ana probes"]));
    assert!(
        seen["event_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("user.name"))
    );
    assert_eq!(seen["completions"], json!(["user.name"]), "{seen}");
    assert_eq!(seen["completion_expanded"], "true");
    assert_eq!(
        seen["completed"],
        "event.action:export-probe AND user.name:"
    );
    assert_eq!(seen["completed_matched"], 10);
    assert_eq!(seen["local_storage"], 0);
    assert_eq!(seen["histogram_aborted_before_next_page"], true, "{seen}");
    assert_screenshots(&seen, &shots, 12);
}

#[test]
fn operations_show_response_figures_per_team_and_the_compliance_posture() {
    let w = Ward::start();
    add_user(&w, "dan", "engineer", "default");
    add_user(&w, "eve", "engineer", "acme");
    ingest(&w, brute_force());
    let id = s(&wait_alerts(&w, 1)[0], "id").to_owned();
    for (action, body) in [
        ("ack", json!({})),
        (
            "resolve",
            json!({"resolution": "false_positive", "comment": "scanner"}),
        ),
    ] {
        let r = Ward::client()
            .post(format!("{}/api/v1/alerts/{id}/{action}", w.url()))
            .bearer_auth(&w.admin)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{action}: {}", r.text().unwrap());
    }
    let stats: Value = Ward::client()
        .get(format!("{}/api/v1/alerts/metrics", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let all = stats["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["team"] == "*" && s["severity"] == "*")
        .unwrap()
        .clone();
    let team = stats["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["team"] != "*")
        .map(|s| s["team"].as_str().unwrap().to_owned())
        .unwrap();

    let dan = login(&w, "dan");
    let a = page(&w, Some(&dan), "GET", "/console/operations", None, false);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_secured(&a, "operations");
    // The same figures as the API, per team and overall.
    let mtta = all["mtta_seconds"].as_f64().unwrap();
    let mttr = all["mttr_seconds"].as_f64().unwrap();
    let row = |team: &str, sev: &str| {
        format!(
            "<th scope=\"row\" class=\"text\">{team}</th><td>{sev}</td><td>1</td><td>0</td><td>{}</td><td>{}</td>",
            ward::console::operations::duration(Some(mtta)),
            ward::console::operations::duration(Some(mttr)),
        )
    };
    assert!(a.body.contains(&row("all teams", "all")), "{}", a.body);
    assert!(a.body.contains(&row(&team, "all")), "{team}: {}", a.body);
    // The compliance posture: the frameworks' scores and what fails.
    let posture: Value = Ward::client()
        .get(format!("{}/api/v1/compliance", w.url()))
        .bearer_auth(&w.admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let frameworks = posture["frameworks"].as_array().unwrap();
    assert!(!frameworks.is_empty(), "{posture}");
    let table = &a.body[a.body.find("id=\"frameworks\"").expect("posture shown")..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(
        table.matches("<tr>").count(),
        frameworks.len() + 1,
        "{table}"
    );
    for f in frameworks {
        assert!(table.contains(s(f, "title")), "{f}");
    }
    let not_passing = posture["controls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| ["fail", "error", "unknown"].contains(&s(c, "state")))
        .count();
    assert_eq!(
        a.body.matches("<li><strong class=\"text\">").count(),
        not_passing.min(50),
        "{}",
        a.body
    );

    // Another tenant sees none of these alerts; the posture is Ward-wide.
    let eve = login(&w, "eve");
    let theirs = page(&w, Some(&eve), "GET", "/console/operations", None, false);
    assert!(theirs.body.contains("No alerts yet."), "{}", theirs.body);
    assert!(theirs.body.contains("id=\"frameworks\""));
}
