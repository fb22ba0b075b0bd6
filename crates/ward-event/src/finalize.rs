//! The last step of every decoder's output: the receive context stamped on
//! the event, the required fields checked, and dead letters for records
//! that could not be decoded at all.

use crate::event::Event;
use crate::time::format_rfc3339;
use crate::{Context, Limits};
use serde_json::{Map, Value};

/// The required fields of the logging standard as they appear in
/// `ward.schema.missing`, in this order. Each is satisfied as follows:
///
/// | name | satisfied by |
/// |---|---|
/// | `@timestamp` | a timestamp sent by the sender (not the receive time filled in) |
/// | `service.name` | `service.name` |
/// | `event.category` | `event.category` (sent or inferred) or `event.action` |
/// | `log.level` | `log.level` (any spelling, or a syslog severity) |
/// | `user.id` | `user.id`, `user.name` or `session.id` |
/// | `source.ip` | a valid `source.ip` |
/// | `event.action` | `event.action` |
/// | `event.outcome` | `event.outcome` |
/// | `trace.id` | `trace.id` (or one of its aliases, such as `correlation_id`) |
pub const REQUIRED_FIELDS: [&str; 9] = [
    "@timestamp",
    "service.name",
    "event.category",
    "log.level",
    "user.id",
    "source.ip",
    "event.action",
    "event.outcome",
    "trace.id",
];

/// Recognizes the event's source ([`crate::recognize`]), then stamps the
/// receive context on it: `event.ingested`,
/// `tenant.id`, `ward.input`, `ward.source`; fills a missing `@timestamp`
/// with the receive time and adds the flag `timestamp_from_received` to
/// `ward.flags`; lists the required fields the sender left out in
/// `ward.schema.missing` (see [`REQUIRED_FIELDS`]).
pub fn finalize(event: &mut Event, ctx: &Context) {
    crate::recognize::recognize(event, ctx.declared.as_deref());
    let missing: Vec<Value> = missing_fields(event).map(Value::from).collect();
    let received = format_rfc3339(ctx.received);
    if event.peek("@timestamp").is_none() {
        event
            .0
            .insert("@timestamp".into(), Value::String(received.clone()));
        crate::normalize::flag(event, "timestamp_from_received");
    }
    stamp(event, ctx, received);
    event.set("ward.schema.missing", Value::Array(missing));
}

fn stamp(event: &mut Event, ctx: &Context, received: String) {
    event.set("event.ingested", Value::String(received));
    event.set("tenant.id", Value::String(ctx.tenant.clone()));
    event.set("ward.input", Value::String(ctx.input.clone()));
    event.set("ward.source", Value::String(ctx.source.clone()));
}

fn missing_fields(event: &Event) -> impl Iterator<Item = &'static str> + '_ {
    let present = |p: &str| event.peek(p).is_some_and(|v| !v.is_null());
    REQUIRED_FIELDS.into_iter().filter(move |name| {
        let ok = match *name {
            "event.category" => present("event.category") || present("event.action"),
            "user.id" => present("user.id") || present("user.name") || present("session.id"),
            other => present(other),
        };
        !ok
    })
}

/// A dead-letter event for a record that could not be decoded: it keeps the
/// raw bytes (lossy UTF-8, truncated to `limits.max_original_bytes`) in
/// `event.original` for redaction and storage, the reason in
/// `error.message`, `event.kind` `pipeline_error` and `ward.dead_letter`
/// true. The event is already finalized.
///
/// ```
/// use ward_event::{Context, Limits, dead_letter};
/// let ctx = Context { input: "http".into(), source: "peer".into(), tenant: "t".into(),
///                     received: "2024-01-26T10:00:00Z".parse().unwrap(), declared: None };
/// let e = dead_letter(&ctx, "record 1: invalid JSON at byte 3", b"{x", &Limits::default());
/// assert_eq!(e.get_str("event.original"), Some("{x"));
/// assert_eq!(e.get("ward.dead_letter"), Some(&serde_json::json!(true)));
/// ```
pub fn dead_letter(ctx: &Context, reason: &str, raw: &[u8], limits: &Limits) -> Event {
    let keep = &raw[..raw.len().min(limits.max_original_bytes)];
    let mut text = String::from_utf8_lossy(keep).into_owned();
    let truncated = keep.len() < raw.len();
    if truncated {
        // A cut inside a multi-byte character shows as U+FFFD; drop it.
        while text.ends_with('\u{FFFD}') && !text.is_empty() {
            text.pop();
        }
    }
    let mut event = Event(Map::new());
    let received = format_rfc3339(ctx.received);
    event
        .0
        .insert("@timestamp".into(), Value::String(received.clone()));
    event.set("event.kind", Value::from("pipeline_error"));
    event.set("error.message", Value::from(reason));
    event.set("event.original", Value::String(text));
    event.set("ward.dead_letter", Value::Bool(true));
    event.set("ward.original.bytes", Value::from(raw.len()));
    if truncated {
        event.set("ward.original.truncated", Value::Bool(true));
    }
    stamp(&mut event, ctx, received);
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context {
            input: "http".into(),
            source: "10.1.1.1".into(),
            tenant: "acme".into(),
            received: "2024-01-26T10:00:05.5Z".parse().unwrap(),
            declared: None,
        }
    }

    #[test]
    fn finalize_stamps_and_lists_missing() {
        let mut e = Event::default();
        e.set("service.name", json!("api"));
        e.set("session.id", json!("s"));
        e.set("event.action", json!("x"));
        finalize(&mut e, &ctx());
        assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:05.500Z"));
        assert_eq!(
            e.get_str("event.ingested"),
            Some("2024-01-26T10:00:05.500Z")
        );
        assert_eq!(e.get_str("tenant.id"), Some("acme"));
        assert_eq!(e.get_str("ward.input"), Some("http"));
        assert_eq!(e.get_str("ward.source"), Some("10.1.1.1"));
        assert_eq!(
            e.get("ward.flags"),
            Some(&json!(["timestamp_from_received"]))
        );
        assert_eq!(
            e.get("ward.schema.missing"),
            Some(&json!([
                "@timestamp",
                "log.level",
                "source.ip",
                "event.outcome",
                "trace.id"
            ]))
        );
    }

    #[test]
    fn complete_event_misses_nothing() {
        let mut e = Event::default();
        for (p, v) in [
            ("@timestamp", "2024-01-26T10:00:00.000Z"),
            ("service.name", "a"),
            ("event.action", "login"),
            ("log.level", "INFO"),
            ("user.name", "u"),
            ("source.ip", "1.1.1.1"),
            ("event.outcome", "success"),
            ("trace.id", "t"),
        ] {
            e.set(p, json!(v));
        }
        finalize(&mut e, &ctx());
        assert_eq!(e.get("ward.schema.missing"), Some(&json!([])));
        assert_eq!(e.get("ward.flags"), None);
        assert_eq!(e.get_str("@timestamp"), Some("2024-01-26T10:00:00.000Z"));
    }

    #[test]
    fn dead_letter_truncates_on_a_char_boundary() {
        let limits = Limits {
            max_original_bytes: 4,
            ..Limits::default()
        };
        let e = dead_letter(&ctx(), "bad", "abcé…".as_bytes(), &limits);
        assert_eq!(e.get_str("event.original"), Some("abc"));
        assert_eq!(e.get_str("event.kind"), Some("pipeline_error"));
        assert_eq!(e.get_str("error.message"), Some("bad"));
        assert_eq!(e.get("ward.original.bytes"), Some(&json!(8)));
        assert_eq!(e.get("ward.original.truncated"), Some(&json!(true)));
        assert_eq!(e.get_str("tenant.id"), Some("acme"));
    }
}
