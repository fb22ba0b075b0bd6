//! OTLP/JSON: the protobuf messages in JSON, with lowerCamelCase names
//! (snake_case accepted too), 64-bit integers as strings or numbers,
//! `bytesValue` in base64 and `traceId`/`spanId` in hex.

use super::{Record, to_event};
use crate::json::{describe_serde, describe_utf8};
use crate::{DecodeError, Event, Limits, RecordError};
use serde_json::{Map, Value};

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`. A body that is not a
/// JSON object fails as a whole; a record that cannot be mapped fails alone.
///
/// ```
/// use ward_event::{Limits, otlp};
/// let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
///   "scopeLogs":[{"logRecords":[{"timeUnixNano":"1706263200000000000","severityNumber":17,
///   "body":{"stringValue":"boom"}}]}]}]}"#;
/// let out = otlp::decode_json(body, &Limits::default()).unwrap();
/// let e = out[0].as_ref().unwrap();
/// assert_eq!(e.get_str("service.name"), Some("api"));
/// assert_eq!(e.get_str("log.level"), Some("ERROR"));
/// assert_eq!(e.get_str("message"), Some("boom"));
/// assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:00.000Z"));
/// ```
pub fn decode_json(
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<Result<Event, RecordError>>, DecodeError> {
    let json_err = |reason: String| DecodeError::Json { reason };
    let text = std::str::from_utf8(body).map_err(|e| json_err(describe_utf8(e)))?;
    // The envelope and AnyValue wrappers add levels; values themselves are
    // held to the limit when converted below.
    crate::json::check_depth(body, limits.max_depth.saturating_mul(4)).map_err(json_err)?;
    let root: Value = serde_json::from_str(text).map_err(|e| json_err(describe_serde(&e)))?;
    let Value::Object(root) = root else {
        return Err(json_err("expected a JSON object".into()));
    };
    let mut out = Vec::new();
    for rl in list(&root, "resourceLogs", "resource_logs") {
        let resource = rl
            .get("resource")
            .and_then(Value::as_object)
            .map(|r| attributes(r, limits.max_depth))
            .unwrap_or(Ok(Vec::new()));
        for sl in list(rl, "scopeLogs", "scope_logs") {
            let scope = sl
                .get("scope")
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            for lr in list(sl, "logRecords", "log_records") {
                let number = out.len() + 1;
                let event = resource
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|res| Ok(to_event(record(lr, limits)?, res, scope, limits)));
                out.push(event.map_err(|r| RecordError::new(number, r)));
            }
        }
    }
    Ok(out)
}

fn field<'a>(m: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    m.get(camel).or_else(|| m.get(snake))
}

fn list<'a>(
    m: &'a Map<String, Value>,
    camel: &str,
    snake: &str,
) -> impl Iterator<Item = &'a Map<String, Value>> {
    field(m, camel, snake)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

fn u64_of(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn record(lr: &Map<String, Value>, limits: &Limits) -> Result<Record, String> {
    let severity_number = match field(lr, "severityNumber", "severity_number") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => severity_name(s),
        _ => 0,
    };
    let str_of = |camel, snake| {
        field(lr, camel, snake)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let id = |camel, snake| {
        let s = str_of(camel, snake).to_ascii_lowercase();
        if s.bytes().all(|b| b == b'0') {
            String::new()
        } else {
            s
        }
    };
    Ok(Record {
        time_unix_nano: u64_of(field(lr, "timeUnixNano", "time_unix_nano")),
        observed_time_unix_nano: u64_of(field(
            lr,
            "observedTimeUnixNano",
            "observed_time_unix_nano",
        )),
        severity_number,
        severity_text: str_of("severityText", "severity_text"),
        body: lr
            .get("body")
            .map(|b| any_value(b, limits.max_depth))
            .transpose()?,
        attributes: attributes(lr, limits.max_depth)?,
        trace_id: id("traceId", "trace_id"),
        span_id: id("spanId", "span_id"),
        event_name: str_of("eventName", "event_name"),
    })
}

/// `SEVERITY_NUMBER_WARN2` and the like, for senders that write the enum
/// by name.
fn severity_name(s: &str) -> i64 {
    let name = s.trim_start_matches("SEVERITY_NUMBER_");
    let (base, step) = match name.trim_end_matches(|c: char| c.is_ascii_digit()) {
        "TRACE" => (1, name),
        "DEBUG" => (5, name),
        "INFO" => (9, name),
        "WARN" => (13, name),
        "ERROR" => (17, name),
        "FATAL" => (21, name),
        _ => return s.parse().unwrap_or(0),
    };
    let extra = step
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse::<i64>()
        .map_or(0, |n| (n - 1).clamp(0, 3));
    base + extra
}

fn attributes(m: &Map<String, Value>, depth: usize) -> Result<Vec<(String, Value)>, String> {
    let Some(Value::Array(kvs)) = m.get("attributes") else {
        return Ok(Vec::new());
    };
    kvs.iter()
        .filter_map(Value::as_object)
        .map(|kv| {
            let key = kv
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let value = kv.get("value").map(|v| any_value(v, depth)).transpose()?;
            Ok((key, value.unwrap_or(Value::Null)))
        })
        .collect()
}

fn any_value(v: &Value, depth: usize) -> Result<Value, String> {
    if depth == 0 {
        return Err("attribute or body nesting exceeds the depth limit".into());
    }
    let Some(m) = v.as_object() else {
        return Ok(Value::Null);
    };
    let Some((kind, inner)) = m.iter().next() else {
        return Ok(Value::Null);
    };
    Ok(match kind.as_str() {
        "stringValue" | "string_value" | "boolValue" | "bool_value" => inner.clone(),
        "intValue" | "int_value" => match inner {
            Value::String(s) => s.parse::<i64>().map_or_else(|_| inner.clone(), Value::from),
            _ => inner.clone(),
        },
        "doubleValue" | "double_value" => match inner {
            Value::String(s) => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
            _ => inner.clone(),
        },
        "bytesValue" | "bytes_value" => inner.clone(),
        "arrayValue" | "array_value" => Value::Array(
            inner
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|v| any_value(v, depth - 1))
                .collect::<Result<_, _>>()?,
        ),
        "kvlistValue" | "kvlist_value" => {
            let mut out = Map::new();
            for kv in inner
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                let key = kv
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let value = kv
                    .get("value")
                    .map(|v| any_value(v, depth - 1))
                    .transpose()?;
                out.insert(key, value.unwrap_or(Value::Null));
            }
            Value::Object(out)
        }
        _ => Value::Null,
    })
}
