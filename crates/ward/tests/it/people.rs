//! People: local users added with the real `ward users` command, logging
//! in over HTTP to a real `ward serve`, the session cookie's flags, wrong
//! passwords and the lockout, session expiry, revocation (logout,
//! disabling, a new password), CSRF refusals, the tenant boundary for
//! session callers, the audit trail naming the person, the person named
//! in the notification of an acknowledged and resolved alert and in the
//! notices of a silence and of a routing change, a headless
//! chromium logging in through the form, and the password typed at a
//! pseudo-terminal without echo.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TOKEN, Ward, field, s, ward_bin};

const PASSWORD: &str = "correct horse battery staple";

/// `ward users <args>` on the server's data directory, with `stdin`.
fn users(w: &Ward, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(ward_bin())
        .arg("users")
        .args(args)
        .env("WARD_DATA_DIR", w.data_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn add_user(w: &Ward, name: &str, role: &str, tenant: &str) {
    let out = users(
        w,
        &[
            "add",
            name,
            "--role",
            role,
            "--tenant",
            tenant,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains(PASSWORD), "the password is never printed");
}

/// A logged-in browser: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

/// The answer to a login: status, `Set-Cookie`, body.
fn login_raw(w: &Ward, name: &str, password: &str) -> (u16, Option<String>, Value) {
    let r = Ward::client()
        .post(format!("{}/api/v1/login", w.url()))
        .header("content-type", "application/json")
        .header("origin", w.url())
        .body(json!({"name": name, "password": password}).to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().unwrap();
    (
        status,
        cookie,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn login(w: &Ward, name: &str) -> Browser {
    let (status, cookie, body) = login_raw(w, name, PASSWORD);
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    let pair = cookie.split(';').next().unwrap().trim().to_owned();
    Browser {
        cookie: pair,
        csrf: s(&body, "csrf_token").to_owned(),
    }
}

/// A request from the browser: cookie, and for changes the same-origin
/// headers a browser sends; `csrf` adds the token.
fn call(
    w: &Ward,
    b: &Browser,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let c = Ward::client();
    let url = format!("{}{path}", w.url());
    let mut rb = match method {
        "GET" => c.get(url),
        "POST" => c.post(url),
        "PUT" => c.put(url),
        "DELETE" => c.delete(url),
        m => panic!("method {m}"),
    };
    rb = rb.header("cookie", &b.cookie);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(body) = body {
        rb = rb
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The headers of a same-origin change from the web page.
fn same_origin<'a>(w: &'a str, b: &'a Browser) -> [(&'static str, &'a str); 3] {
    [
        ("origin", w),
        ("sec-fetch-site", "same-origin"),
        ("x-csrf-token", b.csrf.as_str()),
    ]
}

fn me(w: &Ward, b: &Browser) -> u16 {
    call(w, b, "GET", "/api/v1/me", None, &[]).0
}

/// Waits until `me` answers `want` (the server re-reads the users file
/// within a second): less than the 4s absolute timeout of the test that
/// uses it, so that a session must end for another reason.
fn wait_me(w: &Ward, b: &Browser, want: u16) {
    let deadline = Instant::now() + Duration::from_millis(2500);
    while me(w, b) != want {
        assert!(
            Instant::now() < deadline,
            "GET /api/v1/me never gave {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_cli_user_logs_in_with_a_strict_cookie_and_csrf_guards_changes() {
    let w = Ward::start();
    add_user(&w, "erin", "engineer", "default");
    let file = w.data_dir().join("users.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("$argon2id$v=19$m=19456,t=2,p=1$"), "{text}");
    assert!(!text.contains("horse"));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let listed = users(&w, &["list"], "");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("erin"));

    // The form page: no script, no outside asset.
    let page = Ward::client()
        .get(format!("{}/login", w.url()))
        .send()
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(page.text().unwrap().contains("action=\"/api/v1/login\""));

    let (status, cookie, body) = login_raw(&w, "erin", "correct horse battery stapler");
    assert_eq!((status, cookie), (401, None), "{body}");
    let (status, _, unknown) = login_raw(&w, "nobody", PASSWORD);
    assert_eq!(status, 401);
    assert_eq!(unknown, body, "an unknown user hears the same words");

    let (status, cookie, body) = login_raw(&w, "erin", PASSWORD);
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    // Plain http: no Secure (the browser would drop it), so no __Host-.
    assert!(cookie.starts_with("ward_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let b = Browser {
        cookie: cookie.split(';').next().unwrap().to_owned(),
        csrf: s(&body, "csrf_token").to_owned(),
    };
    let (status, who) = call(&w, &b, "GET", "/api/v1/me", None, &[]);
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["kind"], "session");
    assert_eq!(who["name"], "erin");
    assert_eq!(who["role"], "engineer");
    assert_eq!(who["csrf_token"], json!(b.csrf));

    // A login again gives a new id.
    let again = login(&w, "erin");
    assert_ne!(again.cookie, b.cookie);

    let silence = json!({"matchers": ["alertname=\"noisy\""], "duration": "1h"});
    let url = w.url();
    let cross = [
        ("origin", "https://evil.example"),
        ("x-csrf-token", b.csrf.as_str()),
    ];
    let (status, v) = call(
        &w,
        &b,
        "POST",
        "/api/v1/silences",
        Some(silence.clone()),
        &cross,
    );
    assert_eq!(status, 403, "cross-site Origin: {v}");
    let fetch_cross = [
        ("sec-fetch-site", "cross-site"),
        ("x-csrf-token", b.csrf.as_str()),
    ];
    let (status, v) = call(
        &w,
        &b,
        "POST",
        "/api/v1/silences",
        Some(silence.clone()),
        &fetch_cross,
    );
    assert_eq!(status, 403, "cross-site Sec-Fetch-Site: {v}");
    let no_token = [("origin", url.as_str()), ("sec-fetch-site", "same-origin")];
    let (status, v) = call(
        &w,
        &b,
        "POST",
        "/api/v1/silences",
        Some(silence.clone()),
        &no_token,
    );
    assert_eq!(status, 403, "no CSRF token: {v}");
    let wrong = [
        ("origin", url.as_str()),
        ("x-csrf-token", again.csrf.as_str()),
    ];
    let (status, v) = call(
        &w,
        &b,
        "POST",
        "/api/v1/silences",
        Some(silence.clone()),
        &wrong,
    );
    assert_eq!(status, 403, "another session's token: {v}");
    let (status, v) = call(
        &w,
        &b,
        "POST",
        "/api/v1/silences",
        Some(silence.clone()),
        &same_origin(&url, &b),
    );
    assert_eq!(status, 201, "same origin with the token: {v}");
    assert_eq!(v["created_by"], "erin", "the silence names the person");
    // A bearer caller needs no CSRF token.
    let r = Ward::client()
        .post(format!("{url}/api/v1/silences"))
        .bearer_auth(&w.admin)
        .header("content-type", "application/json")
        .body(silence.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    // A login posted from another site is refused (login CSRF).
    let r = Ward::client()
        .post(format!("{url}/api/v1/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(format!("name=erin&password={}", PASSWORD.replace(' ', "+")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // The form posted from the page itself logs in and goes to the page.
    let r = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{url}/api/v1/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", url.as_str())
        .body(format!("name=erin&password={}", PASSWORD.replace(' ', "+")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/");
    assert!(r.headers().contains_key("set-cookie"));

    // Logout ends the session, and it stays ended.
    let (status, _) = call(
        &w,
        &b,
        "POST",
        "/api/v1/logout",
        None,
        &same_origin(&url, &b),
    );
    assert_eq!(status, 204);
    assert_eq!(me(&w, &b), 401);
    assert_eq!(me(&w, &again), 200, "other sessions live on");

    // Logging in again from a browser that has a session gives a new id
    // and ends the old session.
    let r = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{url}/api/v1/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", url.as_str())
        .header("sec-fetch-site", "same-origin")
        .header("cookie", &again.cookie)
        .body(format!("name=erin&password={}", PASSWORD.replace(' ', "+")))
        .send()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        303,
        "a cookie is no reason for a CSRF token here"
    );
    let rotated = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!rotated.starts_with(&again.cookie), "{rotated}");
    assert_eq!(me(&w, &again), 401, "the session it came with ended");
}

#[test]
fn wrong_passwords_lock_the_name_and_the_address_and_are_audited_per_minute() {
    let w = Ward::start_with(
        Some("[access.sessions]\nmax_failed_logins = 3\nlockout = \"8s\"\n"),
        &[],
    );
    add_user(&w, "ana", "analyst", "default");
    // Twelve guesses at once: the lockout is checked when a verification
    // slot (one per core) is free, so at most one per slot gets past it.
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let guesses: Vec<_> = (0..12)
            .map(|_| scope.spawn(|| login_raw(&w, "ana", "not the password at all").0))
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let tried = answers.iter().filter(|s| **s == 401).count();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert!(
        (3..=3 + cores).contains(&tried),
        "{tried} guesses were checked: {answers:?}"
    );
    assert!(
        answers.iter().all(|s| *s == 401 || *s == 429),
        "{answers:?}"
    );
    let (status, _, body) = login_raw(&w, "ana", PASSWORD);
    assert_eq!(status, 429, "locked, even with the right password: {body}");
    let (status, _, _) = login_raw(&w, "someone-else", PASSWORD);
    assert_eq!(status, 429, "the address is locked too");
    std::thread::sleep(Duration::from_millis(8200));
    login(&w, "ana");

    // Fourteen refusals, at most two records per minute (the first at
    // once, the rest counted when the minute turns), never one per attempt.
    let failed = w.wait_for("event.action:login_failed", 1);
    assert!(
        (1..=2).contains(&failed.len()),
        "{} records: {failed:?}",
        failed.len()
    );
    assert_eq!(s(&failed[0], "source.ip"), "127.0.0.1");
    let logins = w.wait_for("event.action:login AND user.name:ana", 1);
    assert_eq!(logins.len(), 1, "{logins:?}");
}

#[test]
fn sessions_expire_and_end_when_the_user_is_disabled_or_changes_password() {
    let w = Ward::start_with(
        Some("[access.sessions]\nidle_timeout = \"2s\"\nabsolute_timeout = \"4s\"\n"),
        &[],
    );
    add_user(&w, "ana", "analyst", "default");
    // Idle timeout.
    let b = login(&w, "ana");
    assert_eq!(me(&w, &b), 200);
    std::thread::sleep(Duration::from_millis(2300));
    assert_eq!(me(&w, &b), 401, "idle longer than 2s");
    // Absolute timeout, however busy.
    let b = login(&w, "ana");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(3600) {
        assert_eq!(me(&w, &b), 200);
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(me(&w, &b), 401, "older than 4s");

    // Disabling ends the session, and the user cannot log in.
    let b = login(&w, "ana");
    let out = users(&w, &["disable", "ana"], "");
    assert!(out.status.success());
    wait_me(&w, &b, 401);
    assert_eq!(login_raw(&w, "ana", PASSWORD).0, 401);
    assert!(users(&w, &["enable", "ana"], "").status.success());
    std::thread::sleep(Duration::from_millis(1100));
    // A new password ends the sessions opened with the old one.
    let b = login(&w, "ana");
    let out = users(
        &w,
        &["passwd", "ana", "--password-stdin"],
        "a brand new long password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_me(&w, &b, 401);
    assert_eq!(login_raw(&w, "ana", PASSWORD).0, 401);
    assert_eq!(login_raw(&w, "ana", "a brand new long password").0, 200);
    // Removed: gone.
    let b = login_raw(&w, "ana", "a brand new long password");
    let b = Browser {
        cookie: b.1.unwrap().split(';').next().unwrap().to_owned(),
        csrf: String::new(),
    };
    assert!(users(&w, &["remove", "ana"], "").status.success());
    wait_me(&w, &b, 401);
    let short = users(
        &w,
        &["add", "bo", "--role", "viewer", "--password-stdin"],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12"));
}

#[test]
fn a_session_sees_only_its_users_tenant() {
    let acme_token = "acme-ingest-token-0123456789";
    let cfg =
        format!("[[sources]]\nname = \"acme-app\"\ntenant = \"acme\"\ntoken = \"{acme_token}\"\n");
    let w = Ward::start_with(Some(&cfg), &[]);
    add_user(&w, "ana", "analyst", "acme");
    let send = |token: &str, marker: &str| {
        let r = Ward::client()
            .post(format!("{}/api/v1/ingest", w.url()))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(json!({"message": marker, "tenant.id": "acme"}).to_string())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    };
    send(acme_token, "acme-marker");
    send(TOKEN, "default-marker");
    let other = w.wait_for("message:default-marker", 1);
    assert_eq!(other.len(), 1);
    w.wait_for("message:acme-marker", 1);
    let b = login(&w, "ana");
    let (status, found) = call(
        &w,
        &b,
        "GET",
        "/api/v1/events/search?q=message:*marker&since=1h",
        None,
        &[],
    );
    assert_eq!(status, 200, "{found}");
    let hits = found["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{found}");
    assert!(found.to_string().contains("acme-marker"));
    let id = s(&other[0], "event.id").to_owned();
    let (status, _) = call(&w, &b, "GET", &format!("/api/v1/events/{id}"), None, &[]);
    assert_eq!(status, 404, "another tenant's event does not exist for her");
    let (status, _) = call(&w, &b, "GET", "/api/v1/audit", None, &[]);
    assert_eq!(status, 403, "an analyst does not read the audit trail");
}

/// A `ward serve` that sends every notification to a local webhook
/// receiver, with the alert the brute-force sample opens, seen by `person`
/// (a user of the default tenant with `role`).
fn alerting_ward(person: &str, role: &str) -> (Ward, Arc<Mutex<Vec<String>>>, Browser, String) {
    let (url, bodies) = crate::alerts::receiver();
    let w = Ward::start_with(
        Some(
            "[alerting]\nallow_private_destinations = true\n[alerting.route]\n\
             group_wait = \"0s\"\ngroup_interval = \"1s\"\n",
        ),
        &[("WARD_ALERT_WEBHOOK_URL", url.as_str())],
    );
    add_user(&w, person, role, "default");
    let events = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/authentication/brute_force.pos.jsonl"
    ))
    .unwrap();
    let (status, answer) = w.post("/api/v1/ingest", "application/x-ndjson", events);
    assert_eq!(status, 200, "{answer}");
    let b = login(&w, person);
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let (_, list) = call(&w, &b, "GET", "/api/v1/alerts", None, &[]);
        let alerts = list.get("alerts").unwrap_or(&list).clone();
        if let Some(a) = alerts.as_array().and_then(|a| a.first()) {
            break s(a, "id").to_owned();
        }
        assert!(Instant::now() < deadline, "no alert:\n{}", w.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    (w, bodies, b, id)
}

/// Waits for a notification the receiver got that `pick` accepts.
fn notified(bodies: &Mutex<Vec<String>>, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = bodies
            .lock()
            .unwrap()
            .iter()
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .find(|n| pick(n));
        if let Some(n) = found {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "no notification {what}: {:?}",
            bodies.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A change made by browser `b`: same origin, with its CSRF token.
fn change(w: &Ward, b: &Browser, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let page = w.url();
    call(w, b, method, path, body, &same_origin(&page, b))
}

#[test]
fn the_person_who_acknowledges_and_resolves_is_audited_and_notified() {
    let (w, bodies, b, id) = alerting_ward("ana", "analyst");
    let (status, v) = change(
        &w,
        &b,
        "POST",
        &format!("/api/v1/alerts/{id}/ack"),
        Some(json!({"comment": "mine"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["acknowledged_by"], "ana");
    let (status, v) = change(
        &w,
        &b,
        "POST",
        &format!("/api/v1/alerts/{id}/resolve"),
        Some(json!({"resolution": "true_positive"})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["resolved_by"], "ana");

    let is_resolved = |a: &Value| a["id"] == json!(id) && a["status"] == "resolved";
    let n = notified(&bodies, "of the resolution", |n| {
        n["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(is_resolved))
    });
    let a = n["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| is_resolved(a))
        .unwrap();
    assert_eq!(a["acknowledged_by"], "ana", "{a}");
    assert_eq!(a["resolved_by"], "ana", "{a}");
    let acted = w.wait_for(
        "event.dataset:ward.access AND user.name:ana AND http.request.method:POST",
        2,
    );
    assert_eq!(acted.len(), 2, "{acted:?}");
    for a in &acted {
        assert_eq!(s(a, "audit.kind"), "session");
        assert_eq!(field(a, "user.roles"), Some(&json!(["analyst"])), "{a}");
    }
    let changes = w.wait_for(
        "event.dataset:ward.alert AND event.action:alert_acknowledged AND user.name:ana",
        1,
    );
    assert_eq!(changes.len(), 1);
}

/// Silencing a firing alert, ending the silence and changing the owner
/// registry each send a notice that names the person, to the receivers
/// concerned, besides the audit event.
#[test]
fn the_person_who_silences_or_changes_routing_is_notified() {
    let (w, bodies, eve, id) = alerting_ward("eve", "engineer");
    let (status, v) = change(
        &w,
        &eve,
        "POST",
        "/api/v1/silences",
        Some(json!({"matchers": ["alertname=~\".+\""], "duration": "1h",
                    "comment": "maintenance window"})),
    );
    assert_eq!(status, 201, "{v}");
    let silence = s(&v, "id").to_owned();
    let has_alert = |n: &Value| {
        n["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["id"] == json!(id)))
    };
    let n = notified(&bodies, "of the silence", |n| {
        n["reason"]["type"] == "silenced" && has_alert(n)
    });
    assert_eq!(n["reason"]["by"], "eve", "{n}");
    assert_eq!(n["reason"]["silence"], json!(silence), "{n}");
    assert_eq!(n["reason"]["comment"], "maintenance window", "{n}");

    let (status, v) = change(
        &w,
        &eve,
        "DELETE",
        &format!("/api/v1/silences/{silence}"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    let n = notified(&bodies, "of the silence's end", |n| {
        n["reason"]["type"] == "silence_expired" && has_alert(n)
    });
    assert_eq!(n["reason"]["by"], "eve", "{n}");
    assert_eq!(n["reason"]["silence"], json!(silence), "{n}");

    add_user(&w, "ada", "admin", "default");
    let ada = login(&w, "ada");
    let (status, v) = change(
        &w,
        &ada,
        "PUT",
        "/api/v1/owners/teams/core",
        Some(json!({"contacts": ["core-oncall@example.com"]})),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = change(
        &w,
        &ada,
        "PUT",
        "/api/v1/owners/services/checkout",
        Some(json!({"team": "core"})),
    );
    assert_eq!(status, 200, "{v}");
    let n = notified(&bodies, "of the owner change", |n| {
        n["reason"]["type"] == "routing_changed"
            && n["reason"]["change"] == "services checkout: owner none -> core"
    });
    assert_eq!(n["reason"]["by"], "ada", "{n}");
    let n = notified(&bodies, "of the team change", |n| {
        n["reason"]["type"] == "routing_changed"
            && n["reason"]["change"]
                .as_str()
                .is_some_and(|c| c.starts_with("team core now reaches core-oncall@example.com"))
    });
    assert_eq!(n["reason"]["by"], "ada", "{n}");

    let audited = w.wait_for(
        "event.dataset:ward.alert AND (event.action:silence_created OR event.action:silence_expired) AND user.name:eve",
        2,
    );
    assert_eq!(audited.len(), 2, "{audited:?}");
    let audited = w.wait_for(
        "event.dataset:ward.alert AND (event.action:owner_team_updated OR event.action:owner_mapping_updated) AND user.name:ada",
        2,
    );
    assert_eq!(audited.len(), 2, "{audited:?}");
}

/// Debian's chromium, driven by `playwright-core` (pinned in
/// `tests/it/browser/package.json`, installed by `npm ci` in
/// scripts/test.sh), logs in through the form and uses the page.
#[test]
fn a_browser_logs_in_through_the_form_and_out_with_the_button() {
    crate::harness::require("node");
    crate::harness::require("chromium");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    let w = Ward::start();
    add_user(&w, "ana", "analyst", "default");
    let seen = crate::harness::node_script(&w, "login.mjs", &[w.url().as_str(), "ana", PASSWORD]);
    assert!(
        s(&seen, "login_csp").starts_with("default-src 'none'"),
        "{seen}"
    );
    assert_eq!(
        seen["form_background"], "rgb(255, 255, 255)",
        "style by hash"
    );
    assert_eq!(seen["wrong_status"], 401, "{seen}");
    assert_eq!(seen["after_wrong"], "wrong user name or password", "{seen}");
    assert_eq!(seen["landed"], format!("{}/", w.url()));
    assert_eq!(seen["who"], "ana (analyst, default)");
    assert_eq!(
        seen["cookies"],
        json!([{"name": "ward_session", "httpOnly": true, "sameSite": "Strict", "path": "/"}])
    );
    assert_eq!(seen["script_sees_cookie"], false, "HttpOnly");
    assert_eq!(seen["search_status"], 200);
    assert_eq!(seen["post_without_token"], 403);
    assert_eq!(seen["cookies_after_logout"], 0);
    assert_eq!(seen["after_logout"], 401, "the old cookie is dead");
}

#[test]
fn an_https_public_url_gives_a_secure_host_prefixed_cookie() {
    let w = Ward::start_with(
        Some("[server]\npublic_url = \"https://ward.example.com/\"\n"),
        &[],
    );
    add_user(&w, "ana", "analyst", "default");
    let post = |origin: &str| {
        Ward::client()
            .post(format!("{}/api/v1/login", w.url()))
            .header("content-type", "application/json")
            .header("origin", origin)
            .body(json!({"name": "ana", "password": PASSWORD}).to_string())
            .send()
            .unwrap()
    };
    // The public origin is the one that counts, not the address used.
    assert_eq!(post(&w.url()).status().as_u16(), 403);
    let r = post("https://ward.example.com");
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-ward_session="), "{cookie}");
    for flag in ["; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let value = cookie.split(';').next().unwrap();
    let b = Browser {
        cookie: value.to_owned(),
        csrf: String::new(),
    };
    assert_eq!(me(&w, &b), 200);
    // The unprefixed name is not accepted in its place.
    let plain = Browser {
        cookie: value.replacen("__Host-", "", 1),
        csrf: String::new(),
    };
    assert_eq!(me(&w, &plain), 401);
}

/// `ward users add` at a real terminal (a pseudo-terminal): the password
/// is asked twice and never echoed.
#[test]
fn the_password_is_typed_at_the_terminal_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let script = r#"
import os, pty, sys, time
ward, data, password = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execv(ward, [ward, "users", "add", "tty-user", "--role", "viewer", "--data-dir", data])
seen = b""
def read_until(marker):
    global seen
    deadline = time.time() + 20
    while marker not in seen:
        if time.time() > deadline:
            sys.exit("timed out waiting for %r; saw %r" % (marker, seen))
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
read_until(b"Password: ")
os.write(fd, password.encode() + b"\n")
read_until(b"Again: ")
os.write(fd, password.encode() + b"\n")
read_until(b"added user")
_, status = os.waitpid(pid, 0)
print(repr(seen))
print("exit", os.waitstatus_to_exitcode(status))
"#;
    let out = crate::harness::python(
        script,
        &[
            ward_bin().to_str().unwrap(),
            data.to_str().unwrap(),
            PASSWORD,
        ],
    );
    assert!(out.contains("added user tty-user"), "{out}");
    assert!(out.trim_end().ends_with("exit 0"), "{out}");
    assert!(!out.contains("horse"), "the password was echoed: {out}");
    let stored = std::fs::read_to_string(data.join("users.json")).unwrap();
    assert!(stored.contains("\"tty-user\""));
}

/// `ward users sessions` on the server's data directory: the id of the
/// first session of `name`, if any.
fn session_id(w: &Ward, name: &str) -> Option<String> {
    let out = users(w, &["sessions", "--user", name], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
}

#[test]
fn sessions_survive_a_restart_and_end_when_revoked() {
    let mut w = Ward::start();
    add_user(&w, "ana", "analyst", "default");
    add_user(&w, "bo", "viewer", "default");
    let b = login(&w, "ana");
    let file = w.data_dir().join("sessions.sqlite3");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let token = b.cookie.split_once('=').unwrap().1.to_owned();
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        !bytes.windows(token.len()).any(|x| x == token.as_bytes()),
        "only the id's hash is stored"
    );

    w.stop();
    w.spawn();
    assert_eq!(me(&w, &b), 200, "still logged in after a restart");
    let (_, who) = call(&w, &b, "GET", "/api/v1/me", None, &[]);
    assert_eq!(who["csrf_token"], b.csrf.as_str());

    // Revoked from the command line while the server runs: at once.
    let id = session_id(&w, "ana").unwrap();
    assert_eq!(id.len(), 16);
    let out = users(&w, &["revoke-session", &id], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(me(&w, &b), 401);
    assert!(session_id(&w, "ana").is_none());
    assert!(!users(&w, &["revoke-session", &id], "").status.success());

    // Every session of a person; disabling a user removes theirs.
    let b1 = login(&w, "ana");
    let b2 = login(&w, "ana");
    let bo = login(&w, "bo");
    let out = users(&w, &["revoke-session", "--user", "ana"], "");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ended 2 sessions"
    );
    assert_eq!((me(&w, &b1), me(&w, &b2), me(&w, &bo)), (401, 401, 200));
    assert!(users(&w, &["disable", "bo"], "").status.success());
    assert!(session_id(&w, "bo").is_none());
    assert_eq!(me(&w, &bo), 401);
    // Logout ends a stored session too, across a restart.
    let b = login(&w, "ana");
    let h = same_origin(&w.url(), &b).map(|(k, v)| (k, v.to_owned()));
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(call(&w, &b, "POST", "/api/v1/logout", None, &h).0, 204);
    w.stop();
    w.spawn();
    assert_eq!(me(&w, &b), 401);
}

#[test]
fn a_person_makes_api_keys_no_wider_than_themselves() {
    let w = Ward::start();
    add_user(&w, "ana", "analyst", "acme");
    add_user(&w, "ada", "admin", "default");
    let ana = login(&w, "ana");
    let url = w.url();
    let post = |b: &Browser, body: Value| {
        call(
            &w,
            b,
            "POST",
            "/api/v1/apikeys",
            Some(body),
            &same_origin(&url, b),
        )
    };
    for (body, words) in [
        (json!({"name": "k", "role": "admin"}), "never wider"),
        (json!({"name": "k", "role": "engineer"}), "never wider"),
        (
            json!({"name": "k", "role": "viewer", "tenant": "globex"}),
            "not globex",
        ),
        (json!({"name": "k", "tenant": "default"}), "not default"),
    ] {
        let (status, said) = post(&ana, body.clone());
        assert_eq!(status, 403, "{body}: {said}");
        assert!(said.to_string().contains(words), "{body}: {said}");
    }
    for body in [
        json!({"name": "k", "expires": "never"}),
        json!({"name": "k", "expires": "400d"}),
        json!({"name": "k", "role": "nope"}),
        json!({"name": "k", "owner": "ada"}),
    ] {
        assert_eq!(post(&ana, body.clone()).0, 400, "{body}");
    }
    // Without the CSRF token: refused before anything is made.
    let (status, _) = call(
        &w,
        &ana,
        "POST",
        "/api/v1/apikeys",
        Some(json!({"name": "k"})),
        &[("origin", url.as_str())],
    );
    assert_eq!(status, 403);

    let (status, made) = post(&ana, json!({"name": "ana-script", "role": "viewer"}));
    assert_eq!(status, 201, "{made}");
    let key = s(&made, "key").to_owned();
    let expires: jiff::Timestamp = s(&made, "expires_at").parse().unwrap();
    let days = (expires - jiff::Timestamp::now()).get_seconds() as f64 / 86_400.0;
    assert!((89.9..=90.1).contains(&days), "expires by default: {days}");
    let with_key = |method: reqwest::Method, path: &str| {
        Ward::client()
            .request(method, format!("{url}{path}"))
            .bearer_auth(&key)
    };
    // The key works (within the second the server takes to re-read keys).
    let deadline = Instant::now() + Duration::from_secs(3);
    let me = loop {
        let r = with_key(reqwest::Method::GET, "/api/v1/me").send().unwrap();
        if r.status() == 200 || Instant::now() > deadline {
            break r.json::<Value>().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (s(&me, "role"), s(&me, "tenant")),
        ("viewer", "acme"),
        "{me}"
    );
    // A key cannot make keys.
    let r = with_key(reqwest::Method::POST, "/api/v1/apikeys")
        .json(&json!({"name": "child", "role": "viewer"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);

    // Listed without the key or its hash; not in another person's list.
    let (_, listed) = call(&w, &ana, "GET", "/api/v1/apikeys", None, &[]);
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{listed}");
    assert!(!listed.to_string().contains(&key[10..]), "{listed}");
    assert!(keys[0].get("sha256").is_none());
    let bo = login(&w, "ada");
    let (status, admin_key) = post(
        &bo,
        json!({"name": "acme-admin", "role": "admin", "tenant": "acme", "expires": "1d"}),
    );
    assert_eq!(status, 201, "an admin sees every tenant: {admin_key}");
    let (_, listed) = call(&w, &ana, "GET", "/api/v1/apikeys", None, &[]);
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
    // Someone else's key is unknown to ana.
    let other = format!("/api/v1/apikeys/{}", s(&admin_key, "id"));
    let (status, _) = call(&w, &ana, "DELETE", &other, None, &same_origin(&url, &ana));
    assert_eq!(status, 404);

    // Revoked: the key stops working.
    let mine = format!("/api/v1/apikeys/{}", s(&made, "id"));
    let (status, gone) = call(&w, &ana, "DELETE", &mine, None, &same_origin(&url, &ana));
    assert_eq!(status, 200, "{gone}");
    assert!(gone["revoked_at"].is_string());
    let deadline = Instant::now() + Duration::from_secs(3);
    while with_key(reqwest::Method::GET, "/api/v1/me")
        .send()
        .unwrap()
        .status()
        != 401
    {
        assert!(Instant::now() < deadline, "a revoked key still works");
        std::thread::sleep(Duration::from_millis(100));
    }
}
