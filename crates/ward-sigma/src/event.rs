//! How the engine sees an event: a field lookup by name and a walk over all
//! string values for keyword search. The application implements
//! [`EventFields`] for its own event type; implementations for
//! `serde_json::Value` and `serde_json::Map` are provided.
//!
//! JSON lookup takes a dotted path (`process.parent.executable`) and also
//! finds keys that contain dots literally (`{"process.executable": ..}`):
//! the whole remaining path as one key first, then nested objects split at
//! each dot from the left. A `*` segment matches any key.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// A field value as the engine compares it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// A list: a test holds when it holds for any element.
    List(Vec<FieldValue<'a>>),
    /// A nested object: present, but never equal to a string.
    Object,
}

impl FieldValue<'_> {
    /// Text form used by string matching (None for null, lists, objects).
    pub fn as_text(&self) -> Option<Cow<'_, str>> {
        match self {
            FieldValue::Str(s) => Some(Cow::Borrowed(s)),
            FieldValue::Int(i) => Some(Cow::Owned(i.to_string())),
            FieldValue::Float(f) => Some(Cow::Owned(f.to_string())),
            FieldValue::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            FieldValue::Null | FieldValue::List(_) | FieldValue::Object => None,
        }
    }

    /// Numeric form: numbers, and strings that parse as numbers.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Int(i) => Some(*i as f64),
            FieldValue::Float(f) => Some(*f),
            FieldValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Field access the engine needs from an event.
pub trait EventFields {
    /// The value of a field, by the (already mapped) event field name.
    fn field(&self, name: &str) -> Option<FieldValue<'_>>;

    /// Calls `visit` with every string value of the event (for keyword
    /// search) until it returns true; returns whether it did.
    fn keywords(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool;

    /// The event as a JSON object, when it is one: the engine then resolves
    /// every field a plan reads in one walk over it instead of one lookup
    /// per field. Must agree with [`EventFields::field`] (as [`lookup`]).
    fn as_json(&self) -> Option<&Map<String, Value>> {
        None
    }
}

const MAX_WALK_DEPTH: usize = 32;

pub(crate) fn convert(v: &Value) -> FieldValue<'_> {
    match v {
        Value::Null => FieldValue::Null,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::Int(i),
            None => FieldValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => FieldValue::Str(Cow::Borrowed(s)),
        Value::Array(items) => FieldValue::List(items.iter().map(convert).collect()),
        Value::Object(_) => FieldValue::Object,
    }
}

/// Maps up to this many keys are searched by comparing keys (length
/// first) instead of hashing the name: cheaper for the small objects most
/// events are made of, and most probes are misses.
const LINEAR_KEYS: usize = 8;

fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= LINEAR_KEYS {
        map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// Looks up a dotted path, allowing literal dots in keys.
/// A `*` segment matches any key (`Event.UserData.*.Operation`).
pub fn lookup<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = get(map, path) {
        return Some(v);
    }
    if let Some(rest) = path.strip_prefix("*.") {
        return map.values().find_map(|v| match v {
            Value::Object(inner) => lookup(inner, rest),
            _ => None,
        });
    }
    // Nested objects first (the common shape), then keys with literal dots:
    // split at each dot from the left.
    let mut start = 0;
    while let Some(off) = path[start..].find('.') {
        let dot = start + off;
        if let Some(Value::Object(inner)) = get(map, &path[..dot])
            && let Some(v) = lookup(inner, &path[dot + 1..])
        {
            return Some(v);
        }
        start = dot + 1;
    }
    None
}

/// Decimal text of an integer `n` (as `n.to_string()` writes it), or None
/// for floats.
fn int_text<'b>(n: &serde_json::Number, buf: &'b mut [u8; 48]) -> Option<&'b str> {
    let (neg, mut u) = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => (false, u),
        (None, Some(i)) => (true, i.unsigned_abs()),
        (None, None) => return None,
    };
    let mut at = buf.len();
    loop {
        at -= 1;
        *buf.get_mut(at)? = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        at -= 1;
        *buf.get_mut(at)? = b'-';
    }
    std::str::from_utf8(buf.get(at..)?).ok()
}

fn walk_strings(v: &Value, depth: usize, visit: &mut dyn FnMut(&str) -> bool) -> bool {
    if depth > MAX_WALK_DEPTH {
        return false;
    }
    match v {
        Value::String(s) => visit(s),
        Value::Array(items) => items.iter().any(|i| walk_strings(i, depth + 1, visit)),
        Value::Object(m) => m.values().any(|i| walk_strings(i, depth + 1, visit)),
        Value::Number(n) => {
            // Numbers are searched as text, formatted on the stack; integers
            // (nearly all of them) without the formatting machinery.
            use std::io::Write as _;
            let mut buf = [0u8; 48];
            if let Some(text) = int_text(n, &mut buf) {
                return visit(text);
            }
            let mut cur = std::io::Cursor::new(&mut buf[..]);
            if write!(cur, "{n}").is_err() {
                return false;
            }
            let len = usize::try_from(cur.position()).unwrap_or(0);
            std::str::from_utf8(&buf[..len]).is_ok_and(visit)
        }
        Value::Bool(_) | Value::Null => false,
    }
}

impl EventFields for Map<String, Value> {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        lookup(self, name).map(convert)
    }

    fn as_json(&self) -> Option<&Map<String, Value>> {
        Some(self)
    }

    fn keywords(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        self.values().any(|v| walk_strings(v, 0, visit))
    }
}

impl EventFields for Value {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        match self {
            Value::Object(m) => m.field(name),
            _ => None,
        }
    }

    fn keywords(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        walk_strings(self, 0, visit)
    }

    fn as_json(&self) -> Option<&Map<String, Value>> {
        self.as_object()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_and_literal_dots() {
        let v = json!({"process": {"executable": "a"}, "user.name": "bob", "a": {"b.c": {"d": 1}}});
        assert_eq!(
            v.field("process.executable"),
            Some(FieldValue::Str("a".into()))
        );
        assert_eq!(v.field("user.name"), Some(FieldValue::Str("bob".into())));
        assert_eq!(v.field("a.b.c.d"), Some(FieldValue::Int(1)));
        assert_eq!(v.field("process.missing"), None);
        assert_eq!(v.field("a.*.d"), Some(FieldValue::Int(1)));
    }

    #[test]
    fn integers_as_text() {
        for n in [0i64, 7, -7, 1234567890, i64::MIN, i64::MAX] {
            let mut buf = [0u8; 48];
            let v = serde_json::Number::from(n);
            assert_eq!(int_text(&v, &mut buf), Some(n.to_string().as_str()));
        }
        let mut buf = [0u8; 48];
        let big = serde_json::Number::from(u64::MAX);
        assert_eq!(
            int_text(&big, &mut buf),
            Some(u64::MAX.to_string().as_str())
        );
        let float = serde_json::Number::from_f64(1.5).unwrap();
        assert_eq!(int_text(&float, &mut buf), None);
    }

    #[test]
    fn keywords_walk() {
        let v = json!({"a": ["x", {"b": "needle"}]});
        assert!(v.keywords(&mut |s| s == "needle"));
        assert!(!v.keywords(&mut |s| s == "nope"));
    }
}
