//! OpenTelemetry logs (OTLP/HTTP `/v1/logs`): protobuf
//! `ExportLogsServiceRequest` and its JSON encoding.
//!
//! Each log record becomes one event. Record attributes and then resource
//! attributes (`service.name`, `host.name`, ...) are placed under their
//! dotted names, which mostly are ECS names already; a few OpenTelemetry
//! names are renamed (`enduser.id` → `user.id`, `client.address` /
//! `source.address` / `network.peer.address` holding an IP → `source.ip`,
//! `exception.*` → `error.*`). The body becomes `message`, or, when it is a
//! map or a JSON object in a string, its fields. `severityText` or else
//! `severityNumber` gives `log.level`; `timeUnixNano` (else
//! `observedTimeUnixNano`) gives `@timestamp`; `traceId`/`spanId` give
//! `trace.id`/`span.id`; the scope name gives `log.logger`. Then the event
//! is normalized like any JSON event, which maps the GenAI conventions
//! (`gen_ai.*`) onto `ai.*`; the body of a GenAI event
//! (`gen_ai.user.message`, `gen_ai.choice`, ...) becomes the prompt or
//! response text.

mod json;
pub mod proto;

use crate::normalize::{Level, normalize_object};
use crate::time::format_rfc3339;
use crate::{DecodeError, Event, Limits, RecordError};
use prost::Message;
use serde_json::{Map, Value};

pub use json::decode_json;

/// A log record in the form both encodings are read into.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub severity_number: i64,
    pub severity_text: String,
    pub body: Option<Value>,
    pub attributes: Vec<(String, Value)>,
    pub trace_id: String,
    pub span_id: String,
    pub event_name: String,
}

/// Decodes a protobuf `ExportLogsServiceRequest`. A message that is not
/// valid protobuf fails as a whole; a record that cannot be mapped (too
/// deep) fails alone.
pub fn decode_protobuf(
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<Result<Event, RecordError>>, DecodeError> {
    let request =
        proto::ExportLogsServiceRequest::decode(body).map_err(|e| DecodeError::Protobuf {
            reason: short_reason(&e.to_string()),
        })?;
    let mut out = Vec::new();
    for rl in request.resource_logs {
        let resource: Result<Vec<(String, Value)>, String> = rl
            .resource
            .map(|r| attributes(r.attributes, limits.max_depth))
            .unwrap_or(Ok(Vec::new()));
        for sl in rl.scope_logs {
            let scope = sl.scope.map(|s| s.name).unwrap_or_default();
            for lr in sl.log_records {
                let number = out.len() + 1;
                let record = (|| -> Result<Event, String> {
                    let resource = resource.as_ref().map_err(Clone::clone)?;
                    let record = Record {
                        time_unix_nano: lr.time_unix_nano,
                        observed_time_unix_nano: lr.observed_time_unix_nano,
                        severity_number: i64::from(lr.severity_number),
                        severity_text: lr.severity_text,
                        body: lr
                            .body
                            .map(|b| any_value(b, limits.max_depth))
                            .transpose()?,
                        attributes: attributes(lr.attributes, limits.max_depth)?,
                        trace_id: id_hex(&lr.trace_id),
                        span_id: id_hex(&lr.span_id),
                        event_name: lr.event_name,
                    };
                    Ok(to_event(record, resource, &scope, limits))
                })();
                out.push(record.map_err(|r| RecordError::new(number, r)));
            }
        }
    }
    Ok(out)
}

/// prost names every message on the path to a fault; a deep path makes a
/// long message, so only its ends are kept.
fn short_reason(full: &str) -> String {
    const KEEP: usize = 60;
    if full.len() <= 2 * KEEP + 20 {
        return full.to_owned();
    }
    let head_end = full.char_indices().nth(KEEP).map_or(full.len(), |(i, _)| i);
    let tail_start = full.char_indices().rev().nth(KEEP).map_or(0, |(i, _)| i);
    let depth = full.matches(": ").count();
    format!(
        "{} … ({depth} levels) … {}",
        &full[..head_end],
        &full[tail_start..]
    )
}

fn id_hex(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        String::new()
    } else {
        hex::encode(bytes)
    }
}

fn attributes(kvs: Vec<proto::KeyValue>, depth: usize) -> Result<Vec<(String, Value)>, String> {
    kvs.into_iter()
        .map(|kv| {
            let v = kv.value.map(|v| any_value(v, depth)).transpose()?;
            Ok((kv.key, v.unwrap_or(Value::Null)))
        })
        .collect()
}

fn any_value(v: proto::AnyValue, depth: usize) -> Result<Value, String> {
    use base64::Engine as _;
    use proto::any_value::Value as V;
    if depth == 0 {
        return Err("attribute or body nesting exceeds the depth limit".into());
    }
    Ok(match v.value {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::from(i),
        Some(V::DoubleValue(d)) => {
            serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
        }
        Some(V::BytesValue(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(V::ArrayValue(a)) => Value::Array(
            a.values
                .into_iter()
                .map(|v| any_value(v, depth - 1))
                .collect::<Result<_, _>>()?,
        ),
        Some(V::KvlistValue(kv)) => {
            let mut m = Map::new();
            for kv in kv.values {
                let v = kv.value.map(|v| any_value(v, depth - 1)).transpose()?;
                m.insert(kv.key, v.unwrap_or(Value::Null));
            }
            Value::Object(m)
        }
    })
}

/// The ECS name of an OpenTelemetry attribute, when they differ.
fn rename(key: &str, value: &Value) -> Option<&'static str> {
    Some(match key {
        "enduser.id" => "user.id",
        "enduser.name" => "user.name",
        "client.address" | "source.address" | "network.peer.address"
            if value
                .as_str()
                .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()) =>
        {
            "source.ip"
        }
        "exception.message" => "error.message",
        "exception.type" => "error.type",
        "exception.stacktrace" => "error.stack_trace",
        "log.record.uid" => "event.id",
        _ => return None,
    })
}

/// Maps one record to an event; shared by both encodings.
pub(crate) fn to_event(
    record: Record,
    resource: &[(String, Value)],
    scope: &str,
    limits: &Limits,
) -> Event {
    let mut map = Map::new();
    let gen_ai_event = record.event_name.starts_with("gen_ai.");
    match record.body {
        Some(Value::Object(m)) if !gen_ai_event => map = m,
        Some(Value::String(s)) if !gen_ai_event => {
            let t = s.trim_start();
            match t
                .starts_with('{')
                .then(|| crate::json::parse_object(t.as_bytes(), limits.max_depth))
            {
                Some(Ok(m)) => map = m,
                _ => {
                    map.insert("message".into(), Value::String(s));
                }
            }
        }
        Some(Value::Null) | None => {}
        Some(body) if gen_ai_event => {
            let key = match record.event_name.as_str() {
                "gen_ai.choice" | "gen_ai.assistant.message" => "gen_ai.completion",
                _ => "gen_ai.prompt",
            };
            map.insert(key.into(), body);
        }
        Some(other) => {
            map.insert("message".into(), Value::String(other.to_string()));
        }
    }
    let mut place = |key: &str, value: Value| {
        let name = rename(key, &value).unwrap_or(key);
        if !map.contains_key(name) {
            map.insert(name.to_owned(), value);
        }
    };
    for (k, v) in record.attributes {
        place(&k, v);
    }
    for (k, v) in resource {
        place(k, v.clone());
    }
    let level =
        Level::parse(&record.severity_text).or_else(|| Level::from_otel(record.severity_number));
    if let Some(level) = level {
        map.entry("log.level")
            .or_insert_with(|| Value::from(level.as_str()));
    }
    let nanos = if record.time_unix_nano != 0 {
        record.time_unix_nano
    } else {
        record.observed_time_unix_nano
    };
    if nanos != 0
        && let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(nanos))
    {
        map.entry("@timestamp")
            .or_insert_with(|| Value::String(format_rfc3339(ts)));
    }
    if !record.trace_id.is_empty() {
        map.entry("trace.id")
            .or_insert(Value::String(record.trace_id));
    }
    if !record.span_id.is_empty() {
        map.entry("span.id")
            .or_insert(Value::String(record.span_id));
    }
    if !scope.is_empty() {
        map.entry("log.logger")
            .or_insert_with(|| Value::from(scope));
    }
    if !record.event_name.is_empty() {
        let key = if gen_ai_event {
            "otel.event_name"
        } else {
            "event_name"
        };
        map.entry(key).or_insert(Value::String(record.event_name));
    }
    normalize_object(map, jiff::Timestamp::now())
}

/// The protobuf `ExportLogsServiceResponse`: empty on full success, with
/// `partial_success` when records were rejected or there is a message.
pub fn response_protobuf(rejected: i64, message: &str) -> Vec<u8> {
    let partial_success =
        (rejected != 0 || !message.is_empty()).then(|| proto::ExportLogsPartialSuccess {
            rejected_log_records: rejected,
            error_message: message.to_owned(),
        });
    proto::ExportLogsServiceResponse { partial_success }.encode_to_vec()
}

#[cfg(test)]
mod tests;
