//! The flat-key aliases and the helpers that place values in an event
//! without losing any.

use crate::event::{Event, has_dot, split_dot};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Where a flat key goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alias {
    /// To this ECS path, unless the path is already set.
    Path(&'static str),
    /// An event type: a family, an ECS type, or an action.
    EventType,
    /// A level word, a syslog severity, or a 0–100 severity.
    Severity,
    /// A boolean success flag.
    Success,
}

/// The ECS name of a flat key of the logging standard or a common logger.
/// Keys that name an object (`{"service": {...}}`) are ECS already and have
/// no alias.
pub(crate) fn alias(key: &str, value: &Value) -> Option<Alias> {
    if value.is_object() {
        return None;
    }
    Some(Alias::Path(match key {
        "timestamp" | "time" | "ts" | "datetime" | "date" | "event_time" | "eventTime"
        | "timestamp_utc" | "logged_at" | "Timestamp" | "TimeCreated" => "@timestamp",
        "service" | "service_name" | "serviceName" | "app" | "app_name" | "appName"
        | "application" => "service.name",
        "event_type" | "eventType" | "event_name" | "eventName" | "event" | "category"
        | "event_category" => return Some(Alias::EventType),
        "action" | "event_action" | "eventAction" | "activity" => "event.action",
        "severity" | "level" | "log_level" | "loglevel" | "logLevel" | "lvl" | "levelname"
        | "severity_text" | "SeverityText" => return Some(Alias::Severity),
        "user_id" | "userId" | "userid" | "uid" | "actor_id" | "principal_id" => "user.id",
        "user" | "username" | "user_name" | "userName" | "actor" | "principal" => "user.name",
        "user_email" | "email" => "user.email",
        "session_id" | "sessionId" | "session" | "sid" => "session.id",
        "source_ip" | "sourceIp" | "src_ip" | "srcip" | "client_ip" | "clientIp" | "ip"
        | "ip_address" | "remote_addr" | "remoteAddr" | "remote_ip" | "remoteIp" => "source.ip",
        "source_port" | "src_port" | "client_port" => "source.port",
        "dest_ip" | "dst_ip" | "destination_ip" => "destination.ip",
        "dest_port" | "dst_port" | "destination_port" => "destination.port",
        "outcome" | "result" | "event_outcome" => "event.outcome",
        "status" if is_outcome_word(value) => "event.outcome",
        "success" | "succeeded" if value.is_boolean() => return Some(Alias::Success),
        "correlation_id" | "correlationId" | "request_id" | "requestId" | "trace_id"
        | "traceId" | "traceid" | "x_request_id" | "xRequestId" | "x-request-id"
        | "transaction_id" => "trace.id",
        "span_id" | "spanId" => "span.id",
        "message" | "msg" | "log" | "text" | "Message" => "message",
        "host" | "hostname" | "host_name" | "hostName" => "host.name",
        "pid" => "process.pid",
        "process" | "process_name" | "proc" => "process.name",
        "error" | "err" | "error_message" | "exception" => "error.message",
        "user_agent" | "userAgent" | "ua" => "user_agent.original",
        "url" => "url.original",
        "tenant" | "tenant_id" => "organization.id",
        _ => return None,
    }))
}

fn is_outcome_word(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| super::Outcome::parse(s).is_some())
}

/// Sets `path` (dotted, nested objects) unless something is already there or
/// a non-object stands in the way; then the value is handed back. One walk,
/// and missing groups are built in one piece, because this runs for every
/// aliased field of every event.
pub(crate) fn set_absent(map: &mut Map<String, Value>, path: &str, value: Value) -> Option<Value> {
    match split_dot(path) {
        None => {
            if map.contains_key(path) {
                return Some(value);
            }
            map.insert(path.to_owned(), value);
            None
        }
        Some((head, tail)) => match map.get_mut(head) {
            None => {
                map.insert(head.to_owned(), nested(tail, value));
                None
            }
            Some(Value::Object(inner)) => set_absent(inner, tail, value),
            Some(_) => Some(value),
        },
    }
}

/// `{"a":{"b":value}}` for `a.b`.
fn nested(path: &str, value: Value) -> Value {
    let mut inner = Map::with_capacity(4);
    match split_dot(path) {
        None => {
            inner.insert(path.to_owned(), value);
        }
        Some((head, tail)) => {
            inner.insert(head.to_owned(), nested(tail, value));
        }
    }
    Value::Object(inner)
}

/// Inserts a dotted key (`source.ip`) as nested objects. When a non-object
/// stands in the way, or the leaf is already set, the flat key is kept as
/// it is ([`Event::get`] finds dotted keys too).
pub(crate) fn insert_dotted(map: &mut Map<String, Value>, key: String, value: Value) {
    if let Some(slot) = dotted_slot(map, &key) {
        *slot = value;
    } else {
        merge_insert(map, key, value);
    }
}

fn dotted_slot<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    let (head, rest) = split_dot(key)?;
    if head.is_empty() || rest.is_empty() {
        return None;
    }
    let entry = map
        .entry(head.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(inner) = entry else {
        return None;
    };
    if has_dot(rest) {
        return dotted_slot(inner, rest);
    }
    if inner.contains_key(rest) {
        return None;
    }
    Some(inner.entry(rest.to_owned()).or_insert(Value::Null))
}

/// Inserts a key, merging objects with an existing object. A clash of two
/// non-object values keeps the first and stores the second beside it, under
/// the key with `_` appended, so neither is lost.
pub(crate) fn merge_insert(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, value);
        }
        Some(Value::Object(existing)) if value.is_object() => {
            if let Value::Object(incoming) = value {
                for (k, v) in incoming {
                    merge_insert(existing, k, v);
                }
            }
        }
        Some(_) => {
            let mut name = key;
            while map.contains_key(&name) {
                name.push('_');
            }
            map.insert(name, value);
        }
    }
}

/// Copies every field of `src` that `dst` lacks, recursing into objects
/// both have; `dst` wins every clash.
pub(crate) fn fill_absent(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (k, v) in src {
        match dst.get_mut(&k) {
            None => {
                dst.insert(k, v);
            }
            Some(Value::Object(d)) => {
                if let Value::Object(s) = v {
                    fill_absent(d, s);
                }
            }
            Some(_) => {}
        }
    }
}

/// Moves an invalid value to `ward.invalid.<path>` and adds `flag` to
/// `ward.flags`.
pub(crate) fn keep_invalid(event: &mut Event, path: &str, value: Value, flag: &'static str) {
    let ward = event
        .0
        .entry("ward")
        .or_insert_with(|| Value::Object(Map::new()));
    if !ward.is_object() {
        *ward = Value::Object(Map::new());
    }
    if let Value::Object(ward) = ward {
        let invalid = ward
            .entry("invalid")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(invalid) = invalid {
            invalid.insert(path.to_owned(), value);
        }
    }
    add_flag(event, flag);
}

/// Adds a word to `ward.flags`.
pub(crate) fn add_flag(event: &mut Event, flag: &'static str) {
    push_unique(event, "ward.flags", flag);
}

/// Appends a string to the array at `path` unless present; a string already
/// there becomes the first element.
pub(crate) fn push_unique(event: &mut Event, path: &str, item: &str) {
    let mut items = match event.remove(path) {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    };
    if !items.iter().any(|v| v.as_str() == Some(item)) {
        items.push(Value::from(item));
    }
    event.set(path, Value::Array(items));
}

/// Validates an IP field. `1.2.3.4:80` and `[::1]:80` are split into the
/// address and `<prefix>.port`; an IPv6 address is stored in its canonical
/// form. Anything else moves to `ward.invalid` with flag `invalid_ip`.
pub(crate) fn fix_ip(event: &mut Event, path: &'static str) {
    let Some(value) = event.peek(path) else {
        return;
    };
    // A plain dotted quad is already canonical (the parser refuses leading
    // zeros and anything else), which is the common case: nothing to do.
    if value
        .as_str()
        .is_some_and(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
    {
        return;
    }
    let parsed = value.as_str().and_then(parse_ip);
    match parsed {
        Some((ip, port)) => {
            // An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is the IPv4
            // address; rules and searches compare the plain form.
            let canonical = ip.to_canonical().to_string();
            if value.as_str() != Some(canonical.as_str()) {
                event.set(path, Value::String(canonical));
            }
            if let Some(port) = port {
                let port_path = match path {
                    "source.ip" => "source.port",
                    "destination.ip" => "destination.port",
                    _ => "client.port",
                };
                if event.peek(port_path).is_none() {
                    event.set(port_path, Value::from(port));
                }
            }
        }
        None => {
            if let Some(v) = event.remove(path) {
                keep_invalid(event, path, v, "invalid_ip");
            }
        }
    }
}

fn parse_ip(s: &str) -> Option<(IpAddr, Option<u16>)> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some((sa.ip(), Some(sa.port())));
    }
    // IPv4-mapped and zone-less forms are handled above; a zone index
    // (`fe80::1%eth0`) is dropped, as ECS `ip` fields cannot hold it.
    let (addr, _zone) = s.split_once('%')?;
    addr.parse::<IpAddr>().ok().map(|ip| (ip, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_and_nested_merge_without_loss() {
        let mut m = Map::new();
        insert_dotted(&mut m, "source.ip".into(), json!("1.1.1.1"));
        merge_insert(
            &mut m,
            "source".into(),
            json!({"port": 80, "ip": "2.2.2.2"}),
        );
        insert_dotted(&mut m, "source.ip".into(), json!("3.3.3.3"));
        assert_eq!(
            m["source"],
            json!({"ip": "1.1.1.1", "port": 80, "ip_": "2.2.2.2"})
        );
        assert_eq!(m["source.ip"], json!("3.3.3.3"));
    }

    #[test]
    fn dotted_key_behind_a_string_stays_flat() {
        let mut m = Map::new();
        merge_insert(&mut m, "source".into(), json!("web"));
        insert_dotted(&mut m, "source.ip".into(), json!("1.1.1.1"));
        assert_eq!(
            Value::Object(m),
            json!({"source": "web", "source.ip": "1.1.1.1"})
        );
    }

    #[test]
    fn ip_validation() {
        let mut e = Event::default();
        e.set("source.ip", json!("2001:DB8::1"));
        fix_ip(&mut e, "source.ip");
        assert_eq!(e.get_str("source.ip"), Some("2001:db8::1"));
        e.set("source.ip", json!("10.0.0.1:4431"));
        fix_ip(&mut e, "source.ip");
        assert_eq!(e.get_str("source.ip"), Some("10.0.0.1"));
        assert_eq!(e.get("source.port"), Some(&json!(4431)));
        e.set("source.ip", json!("999.1.1.1"));
        fix_ip(&mut e, "source.ip");
        assert_eq!(e.get("source.ip"), None);
        assert_eq!(e.get("ward.invalid.source.ip"), Some(&json!("999.1.1.1")));
        assert_eq!(e.get("ward.flags"), Some(&json!(["invalid_ip"])));
    }
}
