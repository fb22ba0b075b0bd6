//! Field mapping to ECS: turns a sender's JSON object into an [`Event`].
//!
//! Two shapes are read. ECS itself, nested (`{"source":{"ip":..}}`) or
//! dotted (`{"source.ip":..}`), is kept and takes precedence. The flat keys
//! of the logging standard and of common loggers (`timestamp`, `service`,
//! `event_type`, `severity`, `user_id`, `session_id`, `source_ip`, `action`,
//! `outcome`, `correlation_id`, ...) are moved to their ECS names unless the
//! ECS name is already present, in which case they stay where they were.
//! Every other field is preserved unchanged.
//!
//! After mapping, values are made canonical: `@timestamp` RFC 3339 UTC with
//! milliseconds, `log.level` one of five words with an `event.severity`,
//! `event.outcome` one of three, `source.ip` a valid address, and
//! `event.category`/`event.type` arrays inferred from the action. A value
//! that cannot be made canonical is moved to `ward.invalid.<field>` and a
//! word is added to `ward.flags`, so nothing is lost and nothing invalid is
//! stored under an ECS name.

mod ai;
mod fields;
pub(crate) mod reserved;
pub(crate) mod taxonomy;
mod vocab;

pub use vocab::Level;
pub(crate) use vocab::Outcome;

use crate::event::Event;
use crate::time;
use fields::Alias;
pub(crate) use fields::fill_absent;
use jiff::Timestamp;
use serde_json::{Map, Value};

thread_local! {
    static DECLARED_NATIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Decodes with `f` as for a source that declared its recognizer: every
/// JSON record keeps its native names, as a record of a recognized vendor
/// shape does, for the declared recognizer to map (a re-shaped CloudTrail
/// record's `eventName` stays `eventName`).
pub fn keeping_native_names<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            DECLARED_NATIVE.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(DECLARED_NATIVE.with(|d| d.replace(true)));
    f()
}

/// Maps a JSON object to an [`Event`]; see the module documentation.
pub(crate) fn normalize_object(obj: Map<String, Value>, received: Timestamp) -> Event {
    let mut placer = Placer::with_capacity(obj.len());
    for (key, value) in obj {
        placer.take(key, value);
    }
    placer.finish(received)
}

/// Parses one JSON object and normalizes it as it is read: each field is
/// placed as soon as it is parsed, so no intermediate map is built and torn
/// down. Any input this path does not take (not an object, a syntax error)
/// is handed to [`crate::json::parse_object`], whose message is the one
/// the sender gets. Unlike a map, a key that occurs twice keeps both values
/// (the second beside the first, see [`fields::merge_insert`]).
pub(crate) fn parse_normalized(
    bytes: &[u8],
    max_depth: usize,
    received: Timestamp,
) -> Result<Event, String> {
    let text = std::str::from_utf8(bytes).map_err(crate::json::describe_utf8)?;
    crate::json::check_depth(bytes, max_depth)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let streamed = serde::Deserializer::deserialize_any(&mut de, Streaming { received })
        .and_then(|event| de.end().map(|()| event));
    match streamed {
        Ok(event) => Ok(event),
        Err(_) => {
            crate::json::parse_object(bytes, max_depth).map(|obj| normalize_object(obj, received))
        }
    }
}

struct Streaming {
    received: Timestamp,
}

impl<'de> serde::de::Visitor<'de> for Streaming {
    type Value = Event;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Event, A::Error> {
        let mut placer = Placer::with_capacity(access.size_hint().unwrap_or(12));
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            placer.take(key, value);
        }
        Ok(placer.finish(self.received))
    }
}

/// The first pass over a sender's fields: ECS and unknown fields are placed
/// at once, aliased flat keys wait until every ECS field is in, so that an
/// ECS name always wins over an alias, whatever the field order.
struct Placer {
    out: Map<String, Value>,
    deferred: Vec<(String, Alias, Value)>,
    /// Reserved fields the sender set ([`reserved`]): kept aside, never
    /// merged.
    quarantined: Vec<(String, Value)>,
}

impl Placer {
    fn with_capacity(n: usize) -> Placer {
        Placer {
            out: Map::with_capacity(n + 4),
            deferred: Vec::with_capacity(n.min(16)),
            quarantined: Vec::new(),
        }
    }

    fn take(&mut self, key: String, mut value: Value) {
        if reserved::is_reserved(&key) {
            self.quarantined.push((key, value));
            return;
        }
        if key.trim().eq_ignore_ascii_case("event")
            && let Value::Object(obj) = &mut value
        {
            reserved::take_from_event_object(obj, &mut self.quarantined);
        }
        if let Some(alias) = fields::alias(&key, &value) {
            self.deferred.push((key, alias, value));
        } else if crate::event::has_dot(&key) {
            fields::insert_dotted(&mut self.out, key, value);
        } else {
            fields::merge_insert(&mut self.out, key, value);
        }
    }

    fn finish(self, received: Timestamp) -> Event {
        // A record of a known vendor shape keeps its native names; its
        // recognizer maps them to ECS (see `recognize::native`).
        if DECLARED_NATIVE.with(|d| d.get()) || crate::recognize::native::is_native(&self) {
            let mut out = self.out;
            for (key, _, value) in self.deferred {
                fields::merge_insert(&mut out, key, value);
            }
            let mut event = Event(out);
            canonicalize(&mut event, Vec::new(), received);
            // Sender-set reserved fields are kept under `ward.sender` for
            // vendor records too, never dropped.
            reserved::store(&mut event.0, self.quarantined);
            return event;
        }
        let mut event = Event(self.out);
        let mut event_types = Vec::new();
        for (key, alias, value) in self.deferred {
            place_alias(&mut event, &mut event_types, key, alias, value);
        }
        canonicalize(&mut event, event_types, received);
        reserved::store(&mut event.0, self.quarantined);
        event
    }
}

impl crate::recognize::native::Keys for Placer {
    fn key(&self, name: &str) -> Option<&Value> {
        self.out.get(name).or_else(|| {
            self.deferred
                .iter()
                .find(|(k, _, _)| k == name)
                .map(|(_, _, v)| v)
        })
    }
}

fn place_alias(
    event: &mut Event,
    event_types: &mut Vec<(String, Value)>,
    key: String,
    alias: Alias,
    value: Value,
) {
    match alias {
        Alias::Path(path) => {
            if let Some(value) = fields::set_absent(&mut event.0, path, value) {
                fields::merge_insert(&mut event.0, key, value);
            }
        }
        Alias::EventType => event_types.push((key, value)),
        Alias::Severity => {
            if let Some(n) = value.as_u64().filter(|n| *n > 7) {
                if event.peek("event.severity").is_none() {
                    event.set("event.severity", Value::from(n.min(100)));
                    if event.peek("log.level").is_none() {
                        let level = Level::from_severity(n);
                        event.set("log.level", Value::from(level.as_str()));
                    }
                } else {
                    fields::merge_insert(&mut event.0, key, value);
                }
            } else if event.peek("log.level").is_none() {
                event.set("log.level", value);
            } else {
                fields::merge_insert(&mut event.0, key, value);
            }
        }
        Alias::Success => {
            if event.peek("event.outcome").is_none() {
                let outcome = Outcome::from_value(&value).unwrap_or(Outcome::Unknown);
                event.set("event.outcome", Value::from(outcome.as_str()));
            } else {
                fields::merge_insert(&mut event.0, key, value);
            }
        }
    }
}

/// Makes the ECS values canonical; shared by every decoder after it has
/// placed its fields.
pub(crate) fn canonicalize(
    event: &mut Event,
    event_types: Vec<(String, Value)>,
    received: Timestamp,
) {
    fix_timestamp(event, received);
    fix_level(event);
    fix_outcome(event);
    for path in ["source.ip", "destination.ip", "client.ip"] {
        fields::fix_ip(event, path);
    }
    if event.peek("trace.id").is_none()
        && let Some(v) = event.remove("correlation.id")
    {
        event.set("trace.id", v);
    }
    apply_event_types(event, event_types);
    fix_categories(event);
    ai::normalize(event);
}

fn fix_timestamp(event: &mut Event, received: Timestamp) {
    let Some(value) = event.peek("@timestamp") else {
        return;
    };
    match time::parse_value(value, received) {
        Some(ts) => {
            event
                .0
                .insert("@timestamp".into(), Value::String(time::format_rfc3339(ts)));
        }
        None => {
            if let Some(v) = event.0.remove("@timestamp") {
                fields::keep_invalid(event, "@timestamp", v, "invalid_timestamp");
            }
        }
    }
}

fn fix_level(event: &mut Event) {
    let Some(value) = event.peek("log.level") else {
        return;
    };
    match Level::from_value(value) {
        Some(level) => {
            event.set("log.level", Value::from(level.as_str()));
            if event.peek("event.severity").is_none() {
                event.set("event.severity", Value::from(level.severity()));
            }
        }
        None => {
            if let Some(v) = event.remove("log.level") {
                fields::keep_invalid(event, "log.level", v, "unknown_log_level");
            }
        }
    }
}

fn fix_outcome(event: &mut Event) {
    let Some(value) = event.peek("event.outcome") else {
        return;
    };
    match Outcome::from_value(value) {
        Some(o) => {
            if value.as_str() != Some(o.as_str()) {
                event.set("event.outcome", Value::from(o.as_str()));
            }
        }
        None => {
            if let Some(v) = event.remove("event.outcome") {
                fields::keep_invalid(event, "event.outcome", v, "unknown_outcome");
            }
            event.set("event.outcome", Value::from("unknown"));
        }
    }
}

/// `event_type`-like fields: a family word becomes a category, an ECS type
/// word a type, anything else the action (if none was given); what fits
/// nowhere stays under its own key.
fn apply_event_types(event: &mut Event, event_types: Vec<(String, Value)>) {
    for (key, value) in event_types {
        let Some(s) = value.as_str() else {
            fields::merge_insert(&mut event.0, key, value);
            continue;
        };
        if let Some(cat) = taxonomy::category_of_word(s) {
            fields::push_unique(event, "event.category", cat);
        } else if taxonomy::is_ecs_type(s) {
            fields::push_unique(event, "event.type", s);
        } else if event.peek("event.action").is_none() {
            event.set("event.action", value);
        } else {
            fields::merge_insert(&mut event.0, key, value);
        }
    }
}

/// Arrays for `event.category` and `event.type` (ECS declares both
/// multi-valued), lowercased; inferred from `event.action` when absent.
fn fix_categories(event: &mut Event) {
    for path in ["event.category", "event.type"] {
        if let Some(Value::String(s)) = event.peek(path) {
            let lower = s.trim().to_ascii_lowercase();
            let v = match path {
                "event.category" => {
                    taxonomy::category_of_word(&lower).map_or(lower, ToOwned::to_owned)
                }
                _ => lower,
            };
            event.set(path, Value::Array(vec![Value::String(v)]));
        }
    }
    let Some(action) = event.peek_str("event.action") else {
        return;
    };
    let class = taxonomy::classify(action);
    if event.peek("event.category").is_none() && !class.categories.is_empty() {
        let cats = class.categories.iter().map(|c| Value::from(*c)).collect();
        event.set("event.category", Value::Array(cats));
    }
    if event.peek("event.type").is_none() && !class.types.is_empty() {
        let types = class.types.iter().map(|t| Value::from(*t)).collect();
        event.set("event.type", Value::Array(types));
    }
    if event.peek("event.outcome").is_none()
        && let Some(o) = class.outcome
    {
        event.set("event.outcome", Value::from(o.as_str()));
    }
    if let Some(op) = class.data_operation
        && event.peek("data.operation").is_none()
    {
        event.set("data.operation", Value::from(op));
    }
}

#[cfg(test)]
mod tests;

/// Moves an invalid value to `ward.invalid.<path>` and flags it.
pub(crate) fn keep_invalid(event: &mut Event, path: &str, value: Value, word: &'static str) {
    fields::keep_invalid(event, path, value, word);
}

/// Adds a word to `ward.flags`.
pub(crate) fn flag(event: &mut Event, word: &'static str) {
    fields::add_flag(event, word);
}
