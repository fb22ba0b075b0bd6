//! Single sign-on against a real OpenID Connect provider on loopback: the
//! npm package `oidc-provider` (pinned in `tests/it/browser/package-lock.json`,
//! installed by `npm ci` in scripts/test.sh) started by `provider.mjs`, and
//! Debian's chromium driven by `playwright-core` through Ward's login page.
//! A login maps claims to a role and a tenant; a replayed callback, a code
//! of another login, a state of another browser or none, a forged code, an
//! expired ID token, an ID token naming another issuer (signed with the
//! provider's key), an earlier login's ID token with its nonce, a person
//! mapped to no role, and a provider naming another issuer in discovery
//! are all refused, and each attempt is in Ward's audit trail.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::harness::{Ward, free_port, s};

const SECRET: &str = "ward-test-secret-0123456789";

fn browser_dir() -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/browser");
    assert!(
        dir.join("node_modules/oidc-provider").is_dir()
            && dir.join("node_modules/playwright-core").is_dir(),
        "run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// `provider.mjs` running; killed when dropped.
struct Provider(Child);

impl Provider {
    fn start(port: u16, callback: &str, issuer: Option<&str>) -> Provider {
        crate::harness::require("node");
        let mut cmd = Command::new("node");
        cmd.arg(browser_dir().join("provider.mjs"))
            .arg(port.to_string())
            .arg(callback);
        if let Some(i) = issuer {
            cmd.arg(i);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(line.starts_with("ready "), "provider.mjs said {line:?}");
        // The provider's later notices: read, so that it never writes to a
        // closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Provider(child)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Ward on `port` with `[access.oidc]` for the provider at `issuer`.
fn ward(port: u16, issuer: &str, extra: &str) -> Ward {
    let config = format!(
        r#"
[access.oidc]
issuer = "{issuer}"
client_id = "ward"
client_secret_env = "WARD_TEST_OIDC_SECRET"
redirect_url = "http://127.0.0.1:{port}/api/v1/oidc/callback"
scopes = ["profile", "groups"]
display_name = "Test IdP"
tenant_claim = "org"
{extra}

[[access.oidc.roles]]
value = "ward-admins"
role = "admin"

[[access.oidc.roles]]
value = "soc"
role = "analyst"

[[access.oidc.tenants]]
value = "acme"
tenant = "acme"
"#
    );
    Ward::start_on(port, Some(&config), &[("WARD_TEST_OIDC_SECRET", SECRET)])
}

fn refused(seen: &Value, case: &str, status: u64, words: &str) {
    assert_eq!(seen[case]["status"], status, "{case}: {seen}");
    let why = seen[case]["why"].as_str().unwrap_or("");
    assert!(why.contains(words), "{case}: {why:?}");
}

#[test]
fn people_sign_in_through_a_real_provider_and_every_forgery_is_refused() {
    crate::harness::require("chromium");
    let (wp, pp) = (free_port(), free_port());
    let _provider = Provider::start(
        pp,
        &format!("http://127.0.0.1:{wp}/api/v1/oidc/callback"),
        None,
    );
    let w = ward(
        wp,
        &format!("http://127.0.0.1:{pp}"),
        "allow_local_provider = true",
    );
    let url = format!("http://127.0.0.1:{wp}");
    let seen = crate::harness::node_script(&w, "sso.mjs", &[url.as_str()]);
    assert_eq!(seen["button"], "Sign in with Test IdP", "{seen}");

    // The authorization request: code flow, PKCE S256, state and nonce.
    let auth = url::Url::parse(s(&seen, "authorize")).unwrap();
    let q: std::collections::HashMap<String, String> = auth.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 16 && q["nonce"].len() >= 16, "{q:?}");
    assert_eq!(q["scope"], "openid profile groups");

    // alice: groups ward-admins and staff, org acme.
    assert_eq!(seen["who"], "alice (admin, acme)", "{seen}\n{}", w.log());
    assert_eq!(seen["me"]["kind"], "session");
    assert_eq!(seen["me"]["tenant"], "acme");
    assert!(
        seen["cookies"]
            .as_array()
            .unwrap()
            .contains(&Value::from("ward_session")),
        "{seen}"
    );
    let again = "not started in this browser, or has expired";
    refused(&seen, "replay", 401, again);
    refused(&seen, "code_reuse", 401, "could not be checked");
    refused(&seen, "wrong_state", 401, again);
    refused(&seen, "forged_code", 401, "could not be checked");
    refused(&seen, "after_forged", 401, again);
    refused(&seen, "other_browser", 401, again);
    refused(&seen, "after_other_browser", 401, again);
    // bob: groups staff and soc; the first mapping that matches wins.
    assert_eq!(seen["bob_who"], "bob (analyst, acme)", "{seen}");
    refused(
        &seen,
        "unmapped",
        403,
        "mallory: your account at Test IdP is given no role",
    );
    refused(&seen, "expired", 401, "could not be checked");
    refused(&seen, "wrong_issuer", 401, "could not be checked");
    // echo's first login works; its ID token again, in a later login, not.
    assert_eq!(seen["echo_first"]["status"], 200, "{seen}");
    refused(&seen, "replayed_nonce", 401, "could not be checked");
    let log = w.log();
    assert!(
        log.contains("expired"),
        "the expired token is named in the log:\n{log}"
    );
    assert!(
        log.contains("issuer: expected") && log.contains("another-issuer"),
        "the wrong issuer is named in the log:\n{log}"
    );
    assert!(
        log.contains("nonce mismatch"),
        "the replayed nonce is named in the log:\n{log}"
    );

    // Ward's audit trail: the logins through single sign-on, and failures.
    let logins = w.wait_for("event.action:login AND message:\"single sign-on\"", 2);
    let names: Vec<&str> = logins.iter().map(|e| s(e, "user.name")).collect();
    assert!(
        names.contains(&"alice") && names.contains(&"bob"),
        "{logins:?}"
    );
    let failed = w.wait_for("event.action:login_failed", 1);
    assert!(
        failed
            .iter()
            .any(|e| s(e, "url.path") == "/api/v1/oidc/callback"),
        "{failed:?}"
    );

    // The sessions, as `ward users sessions` shows them: the browser's
    // last login (echo's first; each login ends the one before).
    let out = Command::new(crate::harness::ward_bin())
        .args(["users", "sessions"])
        .env("WARD_DATA_DIR", w.data_dir())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.contains("echo") && l.contains("oidc") && l.contains("analyst")),
        "{table}"
    );
}

/// `GET /api/v1/oidc/login` of the Ward on `port`, which must fail (502).
fn start_login(port: u16) -> reqwest::blocking::Response {
    let r = Ward::client()
        .get(format!("http://127.0.0.1:{port}/api/v1/oidc/login"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 502);
    r
}

#[test]
fn a_provider_naming_another_issuer_or_on_loopback_unannounced_is_refused() {
    let (wp, pp) = (free_port(), free_port());
    // The provider says it is `localhost`; Ward is configured for 127.0.0.1.
    let _provider = Provider::start(
        pp,
        &format!("http://127.0.0.1:{wp}/api/v1/oidc/callback"),
        Some(&format!("http://localhost:{pp}")),
    );
    let w = ward(
        wp,
        &format!("http://127.0.0.1:{pp}"),
        "allow_local_provider = true",
    );
    let r = start_login(wp);
    assert!(
        r.text()
            .unwrap()
            .contains("cannot be reached or answered wrongly")
    );
    assert!(w.log().contains("issuer"), "{}", w.log());
    drop(w);

    // Without allow_local_provider, a provider on loopback is refused by
    // the outbound policy, even by https and even by a name.
    let wp = free_port();
    let w = ward(wp, &format!("https://localhost:{pp}"), "");
    start_login(wp);
    assert!(
        w.log().contains("allow_local_provider"),
        "the log names the setting:\n{}",
        w.log()
    );
    // Plain http is refused at start-up unless the provider is local.
    let out = Command::new(crate::harness::ward_bin())
        .args(["config", "check"])
        .arg({
            let p = tempfile::NamedTempFile::new().unwrap().into_temp_path();
            std::fs::write(
                &p,
                "[access.oidc]\nissuer = \"http://idp.example.com\"\nclient_id = \"ward\"\n\
                 redirect_url = \"https://ward.example.com/api/v1/oidc/callback\"\n\
                 [[access.oidc.roles]]\nvalue = \"x\"\nrole = \"viewer\"\n",
            )
            .unwrap();
            p.keep().unwrap()
        })
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("access.oidc.issuer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
