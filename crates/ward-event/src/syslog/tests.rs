use super::*;
use serde_json::json;

fn recv() -> Timestamp {
    "2024-10-12T00:00:00Z".parse().unwrap()
}

fn p(s: &str) -> Event {
    parse(s.as_bytes(), recv()).unwrap()
}

#[test]
fn rfc5424_with_structured_data() {
    let e = p(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high \"x\" \]\\"] BOMAn application event"#,
    );
    assert_eq!(e.get("log.syslog.priority"), Some(&json!(165)));
    assert_eq!(e.get("log.syslog.facility.code"), Some(&json!(20)));
    assert_eq!(e.get_str("log.syslog.facility.name"), Some("local4"));
    assert_eq!(e.get("log.syslog.severity.code"), Some(&json!(5)));
    assert_eq!(e.get_str("log.syslog.severity.name"), Some("notice"));
    assert_eq!(e.get_str("log.level"), Some("INFO"));
    assert_eq!(e.get_str("@timestamp"), Some("2003-10-11T22:14:15.003Z"));
    assert_eq!(e.get_str("host.name"), Some("mymachine.example.com"));
    assert_eq!(e.get_str("process.name"), Some("evntslog"));
    assert_eq!(e.get("process.pid"), Some(&json!(1234)));
    assert_eq!(e.get_str("log.syslog.msgid"), Some("ID47"));
    assert_eq!(
        e.get("syslog.structured_data"),
        Some(&json!({
            "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
            "examplePriority@32473": {"class": "high \"x\" ]\\"}
        }))
    );
    assert_eq!(e.get_str("message"), Some("BOMAn application event"));
    assert_eq!(e.get("log.syslog.version"), Some(&json!(1)));
}

#[test]
fn rfc5424_nil_values_and_bom() {
    let e = p("<34>1 - - - - - - \u{FEFF}hello");
    assert_eq!(e.get("@timestamp"), None);
    assert_eq!(e.get("host.name"), None);
    assert_eq!(e.get_str("message"), Some("hello"));
    assert_eq!(e.get_str("log.level"), Some("CRITICAL"));
    let e = p("<34>1 2024-01-01T00:00:00+01:00 h app proc-x - -");
    assert_eq!(e.get_str("@timestamp"), Some("2023-12-31T23:00:00.000Z"));
    assert_eq!(e.get_str("log.syslog.procid"), Some("proc-x"));
    assert_eq!(e.get("message"), None);
}

#[test]
fn rfc3164_variants() {
    let e = p("<13>Oct 11 22:14:15 host1 sshd[4321]: Failed password for root");
    assert_eq!(e.get_str("@timestamp"), Some("2024-10-11T22:14:15.000Z"));
    assert_eq!(e.get_str("host.name"), Some("host1"));
    assert_eq!(e.get_str("process.name"), Some("sshd"));
    assert_eq!(e.get("process.pid"), Some(&json!(4321)));
    assert_eq!(e.get_str("message"), Some("Failed password for root"));
    assert_eq!(e.get_str("log.syslog.facility.name"), Some("user"));

    let e = p("<86>Oct  1 02:03:04 cron: job done");
    assert_eq!(e.get("host.name"), None);
    assert_eq!(e.get_str("process.name"), Some("cron"));
    assert_eq!(e.get_str("message"), Some("job done"));

    let e = p("<86>Oct 11 2023 22:14:15 web01 nginx: up");
    assert_eq!(e.get_str("@timestamp"), Some("2023-10-11T22:14:15.000Z"));
    assert_eq!(e.get_str("host.name"), Some("web01"));

    let e = p("<30>2024-05-01T10:00:00.5+02:00 db1 postgres[7]: ready");
    assert_eq!(e.get_str("@timestamp"), Some("2024-05-01T08:00:00.500Z"));
    assert_eq!(e.get_str("host.name"), Some("db1"));

    let e = p("<13>Oct 11 22:14:15 host1 just some text");
    assert_eq!(e.get_str("host.name"), Some("host1"));
    assert_eq!(e.get_str("message"), Some("just some text"));

    let e = p("no pri at all");
    assert_eq!(e.get_str("message"), Some("no pri at all"));
    assert_eq!(e.get("log.syslog.priority"), None);
}

#[test]
fn json_payload_is_normalized_and_merged() {
    let e = p(
        r#"<38>Oct 11 22:14:15 host1 app[1]: @cee: {"event_type":"login_failed","user_id":"u1","source_ip":"10.0.0.9","msg":"no","host":"inner"}"#,
    );
    assert_eq!(e.get_str("event.action"), Some("login_failed"));
    assert_eq!(e.get("event.category"), Some(&json!(["authentication"])));
    assert_eq!(e.get_str("user.id"), Some("u1"));
    assert_eq!(e.get_str("source.ip"), Some("10.0.0.9"));
    assert_eq!(e.get_str("message"), Some("no"));
    assert_eq!(e.get_str("host.name"), Some("inner"));
    assert_eq!(e.get_str("process.name"), Some("app"));
    assert_eq!(e.get_str("log.level"), Some("INFO"));
    assert_eq!(e.get_str("@timestamp"), Some("2024-10-11T22:14:15.000Z"));
}

#[test]
fn bad_headers_are_errors_without_content() {
    assert_eq!(parse(b"<999>x", recv()).unwrap_err(), "PRI 999 is over 191");
    assert_eq!(parse(b"<ab>x", recv()).unwrap_err(), "PRI is not a number");
    assert_eq!(parse(b"", recv()).unwrap_err(), "empty syslog message");
    let err = parse(b"<13>1 - h a p m [id k=\"secret", recv()).unwrap_err();
    assert!(
        err.starts_with("malformed structured data at byte"),
        "{err}"
    );
    assert!(!err.contains("secret"));
}

#[test]
fn invalid_utf8_is_replaced() {
    let e = parse(b"<13>Oct 11 22:14:15 h t: caf\xe9", recv()).unwrap();
    assert_eq!(e.get_str("message"), Some("caf\u{FFFD}"));
}
