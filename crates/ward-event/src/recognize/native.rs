//! What the recognizers of JSON sources share: the test that keeps a
//! record's native field names through normalization, and the small steps
//! that copy native values to ECS names.
//!
//! The generic normalizer moves flat keys such as `eventName`, `action`,
//! `actor`, `category`, `level` or `msg` to ECS names. For a record whose
//! vendor shape is known that would lose the names SigmaHQ rules are written
//! against (and guess wrong categories), so [`is_native`] tells the
//! normalizer to keep every key as it is, and the source's recognizer maps
//! to ECS itself.
//!
//! Invariant: every shape test here looks only at keys that the normalizer
//! places unchanged or defers (so it answers the same before and after
//! normalization), and costs a few map lookups.

use serde_json::Value;

use crate::event::Event;
use crate::normalize::Outcome;

/// A read-only view of a record's top-level keys.
pub(crate) trait Keys {
    /// The value of a top-level key.
    fn key(&self, name: &str) -> Option<&Value>;

    /// The string value of a top-level key.
    fn key_str(&self, name: &str) -> Option<&str> {
        self.key(name).and_then(Value::as_str)
    }
}

impl Keys for serde_json::Map<String, Value> {
    fn key(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Keys for Event {
    fn key(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// Whether a record has the shape of a JSON source whose native names are
/// kept (see the module documentation).
pub(crate) fn is_native(record: &dyn Keys) -> bool {
    super::cloudtrail::shape(record)
        || super::k8s_audit::shape(record)
        || super::github::shape(record)
        || super::gitlab::shape(record)
        || super::azure::shape(record)
        || super::gcp_audit::shape(record)
        || super::m365::shape(record)
        || super::okta::shape(record)
        || super::journald::shape(record)
        || super::auditd::json_shape(record)
}

/// The string at a dotted path.
pub(crate) fn text<'a>(event: &'a Event, path: &str) -> Option<&'a str> {
    event.get(path).and_then(Value::as_str)
}

/// Sets `to` from the value at `from` unless `to` is already set.
pub(crate) fn copy(event: &mut Event, from: &str, to: &str) {
    if event.get(to).is_some() {
        return;
    }
    if let Some(v) = event.get(from).cloned()
        && !v.is_null()
    {
        event.set(to, v);
    }
}

/// [`copy`] for a string value only: a vendor field that is a string in
/// one record type and an object in another (Azure's `identity`) must not
/// put an object under an ECS leaf name.
pub(crate) fn copy_text(event: &mut Event, from: &str, to: &str) {
    if event.get(to).is_some() {
        return;
    }
    if let Some(v) = text(event, from).map(str::to_owned) {
        event.set(to, Value::String(v));
    }
}

/// Sets a string at `path` unless something is already there.
pub(crate) fn put(event: &mut Event, path: &str, value: &str) {
    if event.get(path).is_none() {
        event.set(path, Value::from(value));
    }
}

/// `@timestamp` from a native time field, in Ward's canonical form.
pub(crate) fn timestamp(event: &mut Event, from: &str) {
    if event.peek("@timestamp").is_some() {
        return;
    }
    let parsed = event
        .get(from)
        .and_then(|v| crate::time::parse_value(v, jiff::Timestamp::UNIX_EPOCH));
    if let Some(ts) = parsed {
        event.set("@timestamp", Value::String(crate::time::format_rfc3339(ts)));
    }
}

/// An IP address field, set only when the text is an address (vendors put
/// service names such as `cloudtrail.amazonaws.com` in the same field).
pub(crate) fn ip(event: &mut Event, path: &str, value: Option<&str>) {
    let Some(addr) = value.and_then(|s| s.trim().parse::<std::net::IpAddr>().ok()) else {
        return;
    };
    if event.get(path).is_none() {
        event.set(path, Value::from(addr.to_canonical().to_string()));
    }
}

/// Replaces `event.category` and `event.type`: the source knows what its
/// records are better than a guess from the action's words.
pub(crate) fn classify(event: &mut Event, categories: &[&str], types: &[&str]) {
    let list = |items: &[&str]| Value::Array(items.iter().map(|s| Value::from(*s)).collect());
    event.set("event.category", list(categories));
    if !types.is_empty() {
        event.set("event.type", list(types));
    }
}

/// Sets `event.outcome`.
pub(crate) fn outcome(event: &mut Event, outcome: Outcome) {
    event.set("event.outcome", Value::from(outcome.as_str()));
}

/// `event.kind` `event` unless the sender set one.
pub(crate) fn kind_event(event: &mut Event) {
    put(event, "event.kind", "event");
}

/// The message of a syslog program: the `message` of an event whose
/// `process.name` is `program`, or a message that starts with the
/// program's own tag (`sudo: …`, `sshd[812]: …`), as relays that wrap a
/// whole line in their own header send it.
pub(crate) fn program_body<'a>(event: &'a Event, program: &str) -> Option<&'a str> {
    let message = event.peek_str("message")?;
    if event.peek_str("process.name") == Some(program) {
        return Some(message);
    }
    let rest = message.strip_prefix(program)?;
    let rest = match rest.strip_prefix('[') {
        Some(pid) => {
            let end = pid.find(']')?;
            pid[..end]
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then_some(&pid[end + 1..])?
        }
        None => rest,
    };
    rest.strip_prefix(':').map(str::trim_start)
}

/// A word of `s` after `marker`, up to the next space.
pub(crate) fn word_after<'a>(s: &'a str, marker: &str) -> Option<&'a str> {
    let start = s.find(marker)? + marker.len();
    let rest = &s[start..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Some(&rest[..end]).filter(|w| !w.is_empty())
}
