//! The Splunk HTTP Event Collector (`/services/collector/event` and
//! `/services/collector/raw`), so that Splunk forwarders and logging
//! libraries can send to Ward unchanged.
//!
//! An event body is one or more JSON objects, concatenated with or without
//! whitespace between them, each `{event, time, host, source, sourcetype,
//! index, fields}`. `event` may be a string (a JSON object in a string is
//! read as JSON) or an object, normalized like any JSON event; `fields` are
//! added where the event lacks them (a clash is kept in `splunk.fields`);
//! `time` (epoch seconds, a number or a string, fractions allowed) becomes
//! `@timestamp` unless the event carries its own; `host` becomes
//! `host.name`, and `source`, `sourcetype`, `index`
//! become `splunk.source`, `splunk.sourcetype`, `splunk.index`.

use crate::json::{parse_object, value_end};
use crate::normalize::normalize_object;
use crate::time::{format_rfc3339, parse_value};
use crate::{Event, Limits, RecordError, ndjson, text};
use serde_json::{Map, Value};

/// Query-string parameters of `/services/collector/raw`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawParams {
    /// `source`
    pub source: Option<String>,
    /// `sourcetype`; `_json` or `json` makes each line a JSON event.
    pub sourcetype: Option<String>,
    /// `host`
    pub host: Option<String>,
    /// `channel` (the sender's HEC channel id)
    pub channel: Option<String>,
    /// `index`
    pub index: Option<String>,
}

/// Decodes an `/event` body. Objects are numbered from 1; a bad object is
/// reported and the next one decoded, except when the body stops being
/// JSON objects at all (then the rest cannot be split and is reported once).
///
/// ```
/// use ward_event::{Limits, hec};
/// let out = hec::decode_event(br#"{"event":"hi","host":"h1","time":1706263200.5}{"event":{"user_id":"u"}}"#, &Limits::default());
/// let first = out[0].as_ref().unwrap();
/// assert_eq!(first.get_str("message"), Some("hi"));
/// assert_eq!(first.get_str("host.name"), Some("h1"));
/// assert_eq!(first.get_str("@timestamp"), Some("2024-01-26T10:00:00.500Z"));
/// assert_eq!(out[1].as_ref().unwrap().get_str("user.id"), Some("u"));
/// ```
pub fn decode_event(body: &[u8], limits: &Limits) -> Vec<Result<Event, RecordError>> {
    let received = jiff::Timestamp::now();
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut item = 0usize;
    loop {
        while pos < body.len() && body[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= body.len() {
            break;
        }
        item += 1;
        if body[pos] != b'{' {
            out.push(Err(RecordError::new(
                item,
                format!("expected a JSON object at byte {pos}; the rest of the body is skipped"),
            )
            .at(pos..body.len())));
            break;
        }
        let Some(end) = value_end(body, pos) else {
            out.push(Err(RecordError::new(
                item,
                format!("JSON object starting at byte {pos} is not terminated"),
            )
            .at(pos..body.len())));
            break;
        };
        let slice = &body[pos..end];
        let result = if slice.len() > limits.max_line_bytes {
            Err(format!(
                "object at byte {pos} is {} bytes, over the {}-byte limit",
                slice.len(),
                limits.max_line_bytes
            ))
        } else {
            parse_object(slice, limits.max_depth)
                .map_err(|r| format!("object at byte {pos}: {r}"))
                .and_then(|obj| split_event(obj, limits))
        };
        match result {
            Ok(objs) => out.extend(objs.into_iter().map(|r| {
                r.and_then(|obj| hec_event(obj, limits, received))
                    .map_err(|r| RecordError::new(item, r).at(pos..end))
            })),
            Err(r) => out.push(Err(RecordError::new(item, r).at(pos..end))),
        }
        pos = end;
    }
    out
}

/// A HEC event whose `event` is an envelope ([`crate::envelope`]) becomes
/// one HEC event per record, each with the same metadata.
fn split_event(
    mut obj: Map<String, Value>,
    limits: &Limits,
) -> Result<crate::envelope::Records, String> {
    let Some(Value::Object(inner)) = obj.get("event") else {
        return Ok(vec![Ok(obj)]);
    };
    if !inner.contains_key("Records")
        && !inner.contains_key("records")
        && !inner.contains_key("items")
        && !inner.contains_key("detail")
    {
        return Ok(vec![Ok(obj)]);
    }
    let Some(Value::Object(inner)) = obj.remove("event") else {
        return Ok(vec![Ok(obj)]);
    };
    let records = crate::envelope::split(inner, limits.max_envelope_records)
        .map_err(|r| format!("event field: {r}"))?;
    Ok(records
        .into_iter()
        .map(|r| {
            r.map(|record| {
                let mut one = obj.clone();
                one.insert("event".into(), Value::Object(record));
                one
            })
        })
        .collect())
}

fn hec_event(
    mut obj: Map<String, Value>,
    limits: &Limits,
    received: jiff::Timestamp,
) -> Result<Event, String> {
    let base = match obj.remove("event") {
        None | Some(Value::Null) => return Err("Event field is required".into()),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err("Event field cannot be blank".into());
        }
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) => {
            let t = s.trim_start();
            match t
                .starts_with('{')
                .then(|| parse_object(t.as_bytes(), limits.max_depth))
            {
                Some(Ok(m)) => m,
                _ => Map::from_iter([("message".to_owned(), Value::String(s))]),
            }
        }
        Some(other) => Map::from_iter([("message".to_owned(), Value::String(other.to_string()))]),
    };
    let mut base = base;
    let mut clashes = Map::new();
    if let Some(Value::Object(fields)) = obj.remove("fields") {
        for (k, v) in fields {
            if base.contains_key(&k) {
                clashes.insert(k, v);
            } else {
                base.insert(k, v);
            }
        }
    }
    let mut event = normalize_object(base, received);
    if !clashes.is_empty() {
        event.set("splunk.fields", Value::Object(clashes));
    }
    if event.peek("@timestamp").is_none()
        && let Some(t) = obj.get("time")
    {
        match parse_value(t, received) {
            Some(ts) => event.set("@timestamp", Value::String(format_rfc3339(ts))),
            None => return Err("time is not epoch seconds".into()),
        }
    }
    apply_meta(
        &mut event,
        [
            ("host.name", obj.remove("host")),
            ("splunk.source", obj.remove("source")),
            ("splunk.sourcetype", obj.remove("sourcetype")),
            ("splunk.index", obj.remove("index")),
        ],
    );
    Ok(event)
}

fn apply_meta<const N: usize>(event: &mut Event, meta: [(&str, Option<Value>); N]) {
    for (path, value) in meta {
        if let Some(v @ Value::String(_)) = value
            && event.peek(path).is_none()
        {
            event.set(path, v);
        }
    }
}

/// Decodes a `/raw` body: one event per non-blank line (a JSON event per
/// line when `sourcetype` is `_json` or `json`), with the query-string
/// parameters applied.
pub fn decode_raw(
    body: &[u8],
    params: &RawParams,
    limits: &Limits,
) -> Vec<Result<Event, RecordError>> {
    let json_lines = matches!(params.sourcetype.as_deref(), Some("_json" | "json"));
    let mut out = if json_lines {
        ndjson::decode(body, limits)
    } else {
        text::decode(body, limits)
    };
    for event in out.iter_mut().flatten() {
        let s = |o: &Option<String>| o.clone().map(Value::String);
        apply_meta(
            event,
            [
                ("host.name", s(&params.host)),
                ("splunk.source", s(&params.source)),
                ("splunk.sourcetype", s(&params.sourcetype)),
                ("splunk.channel", s(&params.channel)),
                ("splunk.index", s(&params.index)),
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn concatenated_objects_with_meta_and_fields() {
        let body = br#"{"event": {"action": "login", "outcome": "success"}, "time": "1706263200",
            "host": "web1", "source": "app.log", "sourcetype": "auth", "index": "main",
            "fields": {"user_id": "u7", "action": "ignored"}}
            {"event":"{\"message\":\"json in a string\",\"severity\":\"err\"}"}{"event":42}"#;
        let out = decode_event(body, &Limits::default());
        let e = out[0].as_ref().unwrap();
        assert_eq!(e.get_str("event.action"), Some("login"));
        assert_eq!(e.get_str("user.id"), Some("u7"));
        assert_eq!(e.get_str("splunk.fields.action"), Some("ignored"));
        assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:00.000Z"));
        assert_eq!(e.get_str("host.name"), Some("web1"));
        assert_eq!(e.get_str("splunk.source"), Some("app.log"));
        assert_eq!(e.get_str("splunk.sourcetype"), Some("auth"));
        assert_eq!(e.get_str("splunk.index"), Some("main"));
        let e = out[1].as_ref().unwrap();
        assert_eq!(e.get_str("message"), Some("json in a string"));
        assert_eq!(e.get_str("log.level"), Some("ERROR"));
        assert_eq!(out[2].as_ref().unwrap().get_str("message"), Some("42"));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn splunk_errors() {
        let out = decode_event(
            br#"{"host":"x"} {"event":""} {"event":"ok"} {"event":[1,"#,
            &Limits::default(),
        );
        let reasons: Vec<_> = out
            .iter()
            .map(|r| {
                r.as_ref()
                    .map(|e| e.get_str("message").unwrap_or(""))
                    .map_err(|e| (e.record, e.reason.clone()))
            })
            .collect();
        assert_eq!(
            reasons,
            vec![
                Err((1, "Event field is required".into())),
                Err((2, "Event field cannot be blank".into())),
                Ok("ok"),
                Err((
                    4,
                    "JSON object starting at byte 41 is not terminated".into()
                )),
            ]
        );
        let out = decode_event(b"{\"event\":\"a\"} garbage", &Limits::default());
        assert_eq!(
            out[1].as_ref().unwrap_err().reason,
            "expected a JSON object at byte 14; the rest of the body is skipped"
        );
    }

    #[test]
    fn raw_lines_with_params() {
        let params = RawParams {
            host: Some("h".into()),
            sourcetype: Some("syslog".into()),
            channel: Some("0C2A".into()),
            ..RawParams::default()
        };
        let out = decode_raw(b"line one\nline two\n", &params, &Limits::default());
        let e = out[1].as_ref().unwrap();
        assert_eq!(e.get_str("message"), Some("line two"));
        assert_eq!(e.get_str("host.name"), Some("h"));
        assert_eq!(e.get_str("splunk.channel"), Some("0C2A"));
        let params = RawParams {
            sourcetype: Some("_json".into()),
            ..RawParams::default()
        };
        let out = decode_raw(b"{\"user\":\"bob\"}\n", &params, &Limits::default());
        assert_eq!(out[0].as_ref().unwrap().get_str("user.name"), Some("bob"));
    }
}
