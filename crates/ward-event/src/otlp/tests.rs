use super::proto::{self, any_value::Value as V};
use super::*;
use serde_json::json;

fn kv(key: &str, v: V) -> proto::KeyValue {
    proto::KeyValue {
        key: key.into(),
        value: Some(proto::AnyValue { value: Some(v) }),
    }
}

fn s(x: &str) -> V {
    V::StringValue(x.into())
}

fn request(records: Vec<proto::LogRecord>) -> Vec<u8> {
    proto::ExportLogsServiceRequest {
        resource_logs: vec![proto::ResourceLogs {
            resource: Some(proto::Resource {
                attributes: vec![
                    kv("service.name", s("checkout")),
                    kv("host.name", s("node-1")),
                ],
            }),
            scope_logs: vec![proto::ScopeLogs {
                scope: Some(proto::InstrumentationScope {
                    name: "com.example.auth".into(),
                    version: "1.0".into(),
                }),
                log_records: records,
            }],
        }],
    }
    .encode_to_vec()
}

#[test]
fn protobuf_record_maps_to_ecs() {
    let body = request(vec![proto::LogRecord {
        time_unix_nano: 1_706_263_200_123_000_000,
        severity_number: 13,
        body: Some(proto::AnyValue {
            value: Some(s("login failed")),
        }),
        attributes: vec![
            kv("enduser.id", s("u-1")),
            kv("client.address", s("2001:db8::7")),
            kv("event.action", s("login_failed")),
            kv("retries", V::IntValue(3)),
            kv("blob", V::BytesValue(vec![1, 2, 3])),
            kv(
                "nested",
                V::KvlistValue(proto::KeyValueList {
                    values: vec![kv(
                        "list",
                        V::ArrayValue(proto::ArrayValue {
                            values: vec![proto::AnyValue {
                                value: Some(V::BoolValue(true)),
                            }],
                        }),
                    )],
                }),
            ),
        ],
        trace_id: vec![0xab; 16],
        span_id: vec![0x01; 8],
        ..Default::default()
    }]);
    let out = decode_protobuf(&body, &Limits::default()).unwrap();
    let e = out[0].as_ref().unwrap();
    assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:00.123Z"));
    assert_eq!(e.get_str("log.level"), Some("WARN"));
    assert_eq!(e.get_str("message"), Some("login failed"));
    assert_eq!(e.get_str("service.name"), Some("checkout"));
    assert_eq!(e.get_str("host.name"), Some("node-1"));
    assert_eq!(e.get_str("user.id"), Some("u-1"));
    assert_eq!(e.get_str("source.ip"), Some("2001:db8::7"));
    assert_eq!(e.get("event.category"), Some(&json!(["authentication"])));
    assert_eq!(e.get_str("event.outcome"), Some("failure"));
    assert_eq!(e.get("retries"), Some(&json!(3)));
    assert_eq!(e.get_str("blob"), Some("AQID"));
    assert_eq!(e.get("nested.list"), Some(&json!([true])));
    assert_eq!(
        e.get_str("trace.id"),
        Some("abababababababababababababababab")
    );
    assert_eq!(e.get_str("span.id"), Some("0101010101010101"));
    assert_eq!(e.get_str("log.logger"), Some("com.example.auth"));
}

#[test]
fn protobuf_genai_event_body_becomes_prompt() {
    let body = request(vec![proto::LogRecord {
        observed_time_unix_nano: 1_706_263_200_000_000_000,
        event_name: "gen_ai.user.message".into(),
        body: Some(proto::AnyValue {
            value: Some(V::KvlistValue(proto::KeyValueList {
                values: vec![kv("content", s("summarize the payroll file"))],
            })),
        }),
        attributes: vec![
            kv("gen_ai.provider.name", s("anthropic")),
            kv("gen_ai.request.model", s("claude-sonnet")),
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.usage.input_tokens", V::IntValue(120)),
        ],
        ..Default::default()
    }]);
    let out = decode_protobuf(&body, &Limits::default()).unwrap();
    let e = out[0].as_ref().unwrap();
    assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:00.000Z"));
    assert_eq!(
        e.get_str("ai.prompt.text"),
        Some("summarize the payroll file")
    );
    assert_eq!(e.get_str("ai.provider.name"), Some("anthropic"));
    assert_eq!(e.get_str("ai.model.name"), Some("claude-sonnet"));
    assert_eq!(e.get_str("event.action"), Some("chat"));
    assert_eq!(e.get("ai.usage.input_tokens"), Some(&json!(120)));
    assert_eq!(e.get("event.category"), Some(&json!(["ai"])));
    assert_eq!(e.get_str("otel.event_name"), Some("gen_ai.user.message"));
}

#[test]
fn protobuf_garbage_and_depth() {
    assert!(matches!(
        decode_protobuf(b"\xff\xff\xff\xff", &Limits::default()),
        Err(DecodeError::Protobuf { .. })
    ));
    let nest = |n: usize| {
        let mut v = proto::AnyValue {
            value: Some(s("x")),
        };
        for _ in 0..n {
            v = proto::AnyValue {
                value: Some(V::ArrayValue(proto::ArrayValue { values: vec![v] })),
            };
        }
        v
    };
    let body = request(vec![proto::LogRecord {
        body: Some(nest(70)),
        ..Default::default()
    }]);
    let err = decode_protobuf(&body, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("recursion limit reached"), "{err}");
    assert!(err.len() < 200, "{err}");
    let body = request(vec![
        proto::LogRecord {
            body: Some(nest(20)),
            ..Default::default()
        },
        proto::LogRecord {
            body: Some(proto::AnyValue {
                value: Some(s("fine")),
            }),
            ..Default::default()
        },
    ]);
    let limits = Limits {
        max_depth: 16,
        ..Limits::default()
    };
    let out = decode_protobuf(&body, &limits).unwrap();
    let err = out[0].as_ref().unwrap_err();
    assert_eq!(
        (err.record, err.reason.as_str()),
        (1, "attribute or body nesting exceeds the depth limit")
    );
    assert_eq!(out[1].as_ref().unwrap().get_str("message"), Some("fine"));
}

#[test]
fn json_encoding_variants() {
    let body = br#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"api"}}]},
      "scopeLogs":[{"scope":{"name":"s"},"logRecords":[
        {"timeUnixNano":1706263200000000000,"severityText":"warning",
         "body":{"stringValue":"{\"event_type\":\"role_assigned\",\"user_id\":\"u2\"}"},
         "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"m","value":{"intValue":7}},
                       {"key":"d","value":{"doubleValue":1.5}},{"key":"b","value":{"bytesValue":"AQID"}},
                       {"key":"kv","value":{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":true}}]}}},
                       {"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}}],
         "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"},
        {"observed_time_unix_nano":"1706263201000000000","severity_number":"SEVERITY_NUMBER_FATAL",
         "body":{"kvlistValue":{"values":[{"key":"msg","value":{"stringValue":"down"}}]}}}
      ]}]}]}"#;
    let out = decode_json(body, &Limits::default()).unwrap();
    let e = out[0].as_ref().unwrap();
    assert_eq!(e.get_str("log.level"), Some("WARN"));
    assert_eq!(e.get_str("event.action"), Some("role_assigned"));
    assert_eq!(e.get("event.category"), Some(&json!(["iam"])));
    assert_eq!(e.get_str("user.id"), Some("u2"));
    assert_eq!(e.get("n"), Some(&json!(42)));
    assert_eq!(e.get("m"), Some(&json!(7)));
    assert_eq!(e.get("d"), Some(&json!(1.5)));
    assert_eq!(e.get_str("b"), Some("AQID"));
    assert_eq!(e.get("kv"), Some(&json!({"a": true})));
    assert_eq!(e.get("arr"), Some(&json!(["x"])));
    assert_eq!(
        e.get_str("trace.id"),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(e.get_str("span.id"), Some("eee19b7ec3c1b174"));
    let e = out[1].as_ref().unwrap();
    assert_eq!(e.get_str("log.level"), Some("CRITICAL"));
    assert_eq!(e.get_str("message"), Some("down"));
    assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:01.000Z"));
}

#[test]
fn json_errors() {
    assert!(matches!(
        decode_json(b"[1]", &Limits::default()),
        Err(DecodeError::Json { .. })
    ));
    let err = decode_json(b"{\"resourceLogs\":", &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid JSON body: invalid JSON at byte 15: EOF while parsing a value"
    );
    assert_eq!(decode_json(b"{}", &Limits::default()).unwrap().len(), 0);
}

#[test]
fn response_encoding() {
    assert!(response_protobuf(0, "").is_empty());
    let bytes = response_protobuf(2, "2 records over the size limit");
    let decoded = proto::ExportLogsServiceResponse::decode(bytes.as_slice()).unwrap();
    let ps = decoded.partial_success.unwrap();
    assert_eq!(ps.rejected_log_records, 2);
    assert_eq!(ps.error_message, "2 records over the size limit");
}
