use super::*;
use serde_json::json;

fn norm(v: Value) -> Event {
    let Value::Object(m) = v else { unreachable!() };
    normalize_object(m, "2024-03-10T12:00:00Z".parse().unwrap())
}

#[test]
fn logging_standard_flat_shape() {
    let e = norm(json!({
        "timestamp": "2024-01-26T10:00:00Z",
        "service": "auth-api",
        "event_type": "login_failed",
        "severity": "warning",
        "user_id": "u-42",
        "session_id": "s-9",
        "source_ip": "203.0.113.7",
        "outcome": "FAILED",
        "correlation_id": "c-1",
        "message": "bad password",
        "custom": {"x": 1}
    }));
    assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:00.000Z"));
    assert_eq!(e.get_str("service.name"), Some("auth-api"));
    assert_eq!(e.get_str("event.action"), Some("login_failed"));
    assert_eq!(e.get("event.category"), Some(&json!(["authentication"])));
    assert_eq!(e.get("event.type"), Some(&json!(["start"])));
    assert_eq!(e.get_str("log.level"), Some("WARN"));
    assert_eq!(e.get("event.severity"), Some(&json!(40)));
    assert_eq!(e.get_str("user.id"), Some("u-42"));
    assert_eq!(e.get_str("session.id"), Some("s-9"));
    assert_eq!(e.get_str("source.ip"), Some("203.0.113.7"));
    assert_eq!(e.get_str("event.outcome"), Some("failure"));
    assert_eq!(e.get_str("trace.id"), Some("c-1"));
    assert_eq!(e.get_str("message"), Some("bad password"));
    assert_eq!(e.get("custom.x"), Some(&json!(1)));
    assert_eq!(e.get("timestamp"), None);
    assert_eq!(e.get("ward"), None);
}

#[test]
fn ecs_shape_wins_over_aliases() {
    let e = norm(json!({
        "user_id": "flat",
        "user": {"id": "nested", "name": "alice"},
        "event.action": "role_assigned",
        "log.level": "err",
        "@timestamp": 1706263200
    }));
    assert_eq!(e.get_str("user.id"), Some("nested"));
    assert_eq!(e.get_str("user_id"), Some("flat"));
    assert_eq!(e.get_str("user.name"), Some("alice"));
    assert_eq!(e.get("event.category"), Some(&json!(["iam"])));
    assert_eq!(e.get_str("log.level"), Some("ERROR"));
    assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:00.000Z"));
}

#[test]
fn invalid_values_are_kept_aside_and_flagged() {
    let e = norm(json!({
        "timestamp": "not a time",
        "source_ip": "300.1.2.3",
        "level": "loud",
        "outcome": "sort of"
    }));
    assert_eq!(e.get("@timestamp"), None);
    assert_eq!(e.get("source.ip"), None);
    assert_eq!(e.get("log.level"), None);
    assert_eq!(e.get_str("event.outcome"), Some("unknown"));
    assert_eq!(e.get_str("ward.invalid.@timestamp"), Some("not a time"));
    assert_eq!(e.get_str("ward.invalid.source.ip"), Some("300.1.2.3"));
    assert_eq!(e.get_str("ward.invalid.log.level"), Some("loud"));
    assert_eq!(e.get_str("ward.invalid.event.outcome"), Some("sort of"));
    assert_eq!(
        e.get("ward.flags"),
        Some(&json!([
            "invalid_timestamp",
            "unknown_log_level",
            "unknown_outcome",
            "invalid_ip"
        ]))
    );
}

#[test]
fn event_type_family_word_and_action() {
    let e = norm(json!({"event_type": "authorization", "action": "access_granted"}));
    assert_eq!(e.get("event.category"), Some(&json!(["iam"])));
    assert_eq!(e.get_str("event.action"), Some("access_granted"));
    assert_eq!(e.get("event.type"), Some(&json!(["access", "allowed"])));
    assert_eq!(e.get_str("event.outcome"), Some("success"));
    let e = norm(json!({"event_type": "user.login", "action": "login"}));
    assert_eq!(e.get_str("event.action"), Some("login"));
    assert_eq!(e.get_str("event_type"), Some("user.login"));
}

#[test]
fn numeric_severity() {
    let e = norm(json!({"severity": 73}));
    assert_eq!(e.get("event.severity"), Some(&json!(73)));
    assert_eq!(e.get_str("log.level"), Some("ERROR"));
    let e = norm(json!({"level": 30}));
    assert_eq!(e.get_str("log.level"), Some("INFO"));
    let e = norm(json!({"severity": 2}));
    assert_eq!(e.get_str("log.level"), Some("CRITICAL"));
}

#[test]
fn trace_aliases() {
    for key in ["correlation_id", "request_id", "traceId", "correlationId"] {
        let e = norm(json!({key: "abc"}));
        assert_eq!(e.get_str("trace.id"), Some("abc"), "{key}");
    }
    let e = norm(json!({"correlation": {"id": "n"}}));
    assert_eq!(e.get_str("trace.id"), Some("n"));
    assert_eq!(e.get("correlation.id"), None);
}

#[test]
fn data_event_gets_operation() {
    let e = norm(json!({"action": "file_export", "outcome": "success"}));
    assert_eq!(e.get("event.category"), Some(&json!(["file"])));
    assert_eq!(e.get_str("data.operation"), Some("export"));
}

#[test]
fn ai_tool_invocation() {
    let e = norm(json!({
        "event_type": "ai_tool_invocation",
        "tool": "copilot",
        "model": "gpt-4o",
        "user": "alice",
        "repository": "payments",
        "repo_sensitivity": "high"
    }));
    assert_eq!(e.get("event.category"), Some(&json!(["ai"])));
    assert_eq!(e.get_str("ai.tool.name"), Some("copilot"));
    assert_eq!(e.get_str("ai.model.name"), Some("gpt-4o"));
    assert_eq!(e.get_str("repository.name"), Some("payments"));
    assert_eq!(e.get_str("repository.sensitivity"), Some("high"));
    assert_eq!(e.get_str("user.name"), Some("alice"));
}

#[test]
fn ai_code_generation_and_config_change() {
    let e = norm(json!({
        "action": "ai.code_generated",
        "context_files": "src/a.rs, src/b.rs",
        "generated_code": "fn x() {}",
        "ai_tool": "cursor"
    }));
    assert_eq!(
        e.get("ai.context.files"),
        Some(&json!(["src/a.rs", "src/b.rs"]))
    );
    assert_eq!(e.get_str("ai.code.generated"), Some("fn x() {}"));
    assert_eq!(e.get_str("code.origin"), Some("ai"));
    let e = norm(json!({
        "action": "ai_config_change",
        "tool": "copilot",
        "setting": "telemetry",
        "before": {"enabled": true},
        "after": {"enabled": false}
    }));
    assert_eq!(e.get("event.category"), Some(&json!(["ai"])));
    assert_eq!(e.get_str("ai.config.setting"), Some("telemetry"));
    assert_eq!(
        e.get("ai.config.change.before"),
        Some(&json!({"enabled": true}))
    );
    assert_eq!(
        e.get("ai.config.change.after"),
        Some(&json!({"enabled": false}))
    );
}

#[test]
fn generic_ai_keys_untouched_on_other_events() {
    let e = norm(json!({"action": "login", "model": "X1 printer", "files": 3}));
    assert_eq!(e.get_str("model"), Some("X1 printer"));
    assert_eq!(e.get("ai"), None);
}

#[test]
fn gen_ai_semantic_conventions() {
    let e = norm(json!({
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 8,
        "gen_ai.input.messages": "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"Hello\"}]}]",
        "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "Hi!"}]}]
    }));
    assert_eq!(e.get_str("ai.provider.name"), Some("openai"));
    assert_eq!(e.get_str("ai.tool.name"), Some("openai"));
    assert_eq!(e.get_str("ai.model.name"), Some("gpt-4o-2024-08-06"));
    assert_eq!(e.get_str("event.action"), Some("chat"));
    assert_eq!(e.get("ai.usage.input_tokens"), Some(&json!(12)));
    assert_eq!(e.get_str("ai.prompt.text"), Some("Hello"));
    assert_eq!(e.get_str("ai.response.text"), Some("Hi!"));
    assert_eq!(e.get("gen_ai.input.messages"), None);
    assert_eq!(e.get("event.category"), Some(&json!(["ai"])));
}

#[test]
fn a_key_given_twice_keeps_both_values() {
    let e = crate::normalize::parse_normalized(
        br#"{"user_id":"alice","user_id":"mallory","x":1,"x":2}"#,
        64,
        "2024-03-10T12:00:00Z".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(e.get_str("user.id"), Some("alice"));
    assert_eq!(e.get_str("user_id"), Some("mallory"));
    assert_eq!(e.get("x"), Some(&serde_json::json!(1)));
    assert_eq!(e.get("x_"), Some(&serde_json::json!(2)));
}

#[test]
fn streaming_and_map_normalization_agree() {
    let received = "2024-03-10T12:00:00Z".parse().unwrap();
    for line in [
        r#"{"timestamp":"2024-01-26T10:00:01Z","service":"auth","event_type":"login_failed","severity":"WARNING","user_id":"u1","source_ip":"10.0.0.1","outcome":"failure","correlation_id":"c1"}"#,
        r#"{"@timestamp":"2024-01-26T10:00:01Z","event":{"action":"user.login","category":["authentication"]},"source.ip":"::ffff:10.0.0.2","user":{"name":"bob"},"user_id":"shadowed"}"#,
        r#"{"level":30,"msg":"hi","success":true,"source":{"ip":"bad ip"}}"#,
    ] {
        let streamed = crate::normalize::parse_normalized(line.as_bytes(), 64, received).unwrap();
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        assert_eq!(
            streamed,
            crate::normalize::normalize_object(obj, received),
            "{line}"
        );
    }
}

#[test]
fn of_two_aliases_for_one_field_the_first_given_wins() {
    let received = "2024-03-10T12:00:00Z".parse().unwrap();
    let e =
        crate::normalize::parse_normalized(br#"{"success":true,"status":"failed"}"#, 64, received)
            .unwrap();
    assert_eq!(e.get_str("event.outcome"), Some("success"));
    assert_eq!(e.get_str("status"), Some("failed"));
}

#[test]
fn streaming_errors_are_the_map_path_errors() {
    let received = "2024-03-10T12:00:00Z".parse().unwrap();
    for (line, want) in [
        ("[1,2]", "expected a JSON object, found an array"),
        ("\"text\"", "expected a JSON object, found a string"),
        ("{\"a\":1} x", "invalid JSON at byte"),
        ("{\"a\":", "invalid JSON at byte"),
    ] {
        let err = crate::normalize::parse_normalized(line.as_bytes(), 64, received).unwrap_err();
        assert!(err.starts_with(want), "{line}: {err}");
    }
}
