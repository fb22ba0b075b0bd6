//! Syslog: RFC 5424 and RFC 3164 (BSD) messages, and RFC 6587 stream
//! framing ([`Framer`]).
//!
//! A message becomes an event with `log.syslog.priority`,
//! `log.syslog.facility.code/name`, `log.syslog.severity.code/name`,
//! `log.level`, `host.name`, `process.name`, `process.pid` (or
//! `log.syslog.procid` when not numeric), `log.syslog.msgid`,
//! `syslog.structured_data.<sd-id>.<param>` and `message`. A message body
//! that is a JSON object (also after a `@cee:` cookie) is normalized as the
//! JSON decoder would and the syslog header fills what it lacks.
//!
//! RFC 3164 is loose; the parser accepts a missing PRI, a timestamp with or
//! without a year (or an RFC 3339 one, as rsyslog sends), a missing
//! hostname, and a `tag[pid]:` or `tag:` prefix. A yearless timestamp gets
//! its year from the receive time and is read as UTC.

mod framer;
mod header;

pub use framer::Framer;

use crate::event::Event;
use crate::normalize::{self, Level, fill_absent};
use crate::time::{self, format_rfc3339};
use jiff::Timestamp;
use serde_json::{Value, json};

/// The deepest JSON accepted in a message body.
const MAX_DEPTH: usize = 64;

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Parses one syslog message (without its framing). `received` is the
/// receive time, used for yearless timestamps.
///
/// ```
/// let received = "2024-10-12T00:00:00Z".parse().unwrap();
/// let e = ward_event::syslog::parse(b"<34>Oct 11 22:14:15 mymachine su[42]: 'su root' failed", received).unwrap();
/// assert_eq!(e.get_str("host.name"), Some("mymachine"));
/// assert_eq!(e.get_str("process.name"), Some("su"));
/// assert_eq!(e.get_str("log.level"), Some("CRITICAL"));
/// assert_eq!(e.get_str("@timestamp"), Some("2024-10-11T22:14:15.000Z"));
/// ```
pub fn parse(msg: &[u8], received: Timestamp) -> Result<Event, String> {
    let mut end = msg.len();
    while end > 0 && matches!(msg[end - 1], b'\n' | b'\r' | b'\0') {
        end -= 1;
    }
    let text = String::from_utf8_lossy(&msg[..end]);
    let text: &str = &text;
    if text.trim().is_empty() {
        return Err("empty syslog message".into());
    }
    let (pri, rest) = header::pri(text)?;
    let mut fields = Event::default();
    if let Some(pri) = pri {
        // Built in one piece: these groups are new, and path-by-path
        // insertion would walk and hash `log.syslog` five times.
        let (facility, severity) = (pri / 8, pri % 8);
        let level = Level::from_syslog(severity);
        fields.0.insert(
            "log".into(),
            json!({
                "syslog": {
                    "priority": pri,
                    "facility": {"code": facility, "name": FACILITIES[usize::from(facility)]},
                    "severity": {"code": severity, "name": SEVERITIES[usize::from(severity)]},
                },
                "level": level.as_str(),
            }),
        );
        fields
            .0
            .insert("event".into(), json!({"severity": level.severity()}));
    }
    let mut put = |path: &str, v: Value| fields.set(path, v);
    let parsed = match rest.strip_prefix("1 ") {
        Some(rest5424) => header::rfc5424(rest5424)?,
        None => header::rfc3164(rest, received),
    };
    if let Some(v) = parsed.version {
        put("log.syslog.version", Value::from(v));
    }
    let mut flags = Vec::new();
    match parsed.timestamp {
        Some(raw) => match time::parse_str(raw, received) {
            Some(ts) => put("@timestamp", Value::String(format_rfc3339(ts))),
            None => flags.push(raw.to_owned()),
        },
        None => {
            if let Some(ts) = parsed.bsd_time {
                put("@timestamp", Value::String(format_rfc3339(ts)));
            }
        }
    }
    if let Some(h) = parsed.hostname {
        put("host.name", Value::from(h));
    }
    if let Some(app) = parsed.app {
        put("process.name", Value::from(app));
    }
    if let Some(pid) = parsed.procid {
        match pid.parse::<u64>() {
            Ok(n) => put("process.pid", Value::from(n)),
            Err(_) => put("log.syslog.procid", Value::from(pid)),
        }
    }
    if let Some(id) = parsed.msgid {
        put("log.syslog.msgid", Value::from(id));
    }
    if !parsed.structured_data.is_empty() {
        put(
            "syslog.structured_data",
            Value::Object(parsed.structured_data),
        );
    }
    let body = parsed
        .message
        .strip_prefix('\u{FEFF}')
        .unwrap_or(parsed.message);
    let mut event = match json_body(body, received) {
        Some(mut json_event) => {
            fill_absent(&mut json_event.0, fields.0);
            json_event
        }
        None => {
            let mut e = fields;
            if !body.is_empty() {
                e.0.insert("message".into(), Value::from(body));
            }
            e
        }
    };
    for raw in flags {
        normalize::keep_invalid(
            &mut event,
            "@timestamp",
            Value::String(raw),
            "invalid_timestamp",
        );
    }
    Ok(event)
}

/// A JSON object body (after an optional `@cee:` cookie), normalized.
fn json_body(body: &str, received: Timestamp) -> Option<Event> {
    let trimmed = body.trim();
    let trimmed = trimmed
        .strip_prefix("@cee:")
        .map_or(trimmed, str::trim_start);
    if !trimmed.starts_with('{') {
        return None;
    }
    let obj = crate::json::parse_object(trimmed.as_bytes(), MAX_DEPTH).ok()?;
    Some(normalize::normalize_object(obj, received))
}

#[cfg(test)]
mod tests;
