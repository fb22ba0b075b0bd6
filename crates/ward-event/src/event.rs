//! The [`Event`]: a JSON object whose ECS dotted names are stored nested
//! (`source.ip` lives at `{"source": {"ip": ...}}`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One event in Ward's model.
///
/// ```
/// use ward_event::Event;
/// let mut e = Event::default();
/// e.set("source.ip", "10.0.0.1".into());
/// assert_eq!(e.get_str("source.ip"), Some("10.0.0.1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Event(pub Map<String, Value>);

impl Event {
    /// The value at a dotted path. Nested objects are walked first; a key
    /// that itself contains dots (as some shippers send) is found as well.
    pub fn get(&self, path: &str) -> Option<&Value> {
        lookup(&self.0, path)
    }

    /// The value at a dotted path through nested objects only. Events built
    /// by this crate keep ECS fields nested, so the normalizer looks fields
    /// up this way: it hashes each segment once instead of also trying
    /// every dotted-key split, which matters for the many absent fields.
    pub(crate) fn peek(&self, path: &str) -> Option<&Value> {
        let mut map = &self.0;
        let mut rest = path;
        loop {
            match split_dot(rest) {
                None => return map.get(rest),
                Some((head, tail)) => match map.get(head) {
                    Some(Value::Object(inner)) => {
                        map = inner;
                        rest = tail;
                    }
                    _ => return None,
                },
            }
        }
    }

    /// [`Event::peek`] for a string value.
    pub(crate) fn peek_str(&self, path: &str) -> Option<&str> {
        self.peek(path).and_then(Value::as_str)
    }

    /// The string at a dotted path, if it is a string.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// Sets the value at a dotted path, creating intermediate objects and
    /// replacing any non-object that stands in the way. New objects start
    /// with room for a few fields: ECS groups are small, and growing an
    /// index map from empty costs a reallocation per doubling.
    pub fn set(&mut self, path: &str, value: Value) {
        let mut map = &mut self.0;
        let mut rest = path;
        while let Some((head, tail)) = split_dot(rest) {
            if !matches!(map.get(head), Some(Value::Object(_))) {
                map.insert(head.to_owned(), Value::Object(Map::with_capacity(4)));
            }
            let Some(Value::Object(inner)) = map.get_mut(head) else {
                return;
            };
            map = inner;
            rest = tail;
        }
        // One search: the key is usually new, and replacing keeps the old key.
        map.insert(rest.to_owned(), value);
    }

    /// Removes and returns the value at a dotted path. An object that the
    /// removal leaves empty is removed too, so no `{}` husks remain.
    pub fn remove(&mut self, path: &str) -> Option<Value> {
        if let Some(v) = self.0.remove(path) {
            return Some(v);
        }
        let (head, rest) = split_dot(path)?;
        let Some(Value::Object(inner)) = self.0.get_mut(head) else {
            return None;
        };
        let mut sub = Event(std::mem::take(inner));
        let out = sub.remove(rest);
        if out.is_some() && sub.0.is_empty() {
            self.0.remove(head);
        } else if let Some(Value::Object(inner)) = self.0.get_mut(head) {
            *inner = sub.0;
        }
        out
    }
}

/// `path` split at its first dot. A byte loop: paths are short, and this
/// runs for every field of every event, where `str::split_once` costs more
/// in set-up than in searching.
#[inline]
pub(crate) fn split_dot(path: &str) -> Option<(&str, &str)> {
    let i = path.bytes().position(|b| b == b'.')?;
    // A '.' byte is a whole character in UTF-8, so both sides are str.
    Some((path.get(..i)?, path.get(i + 1..)?))
}

/// Whether `path` has a dot (see [`split_dot`]).
#[inline]
pub(crate) fn has_dot(path: &str) -> bool {
    path.bytes().any(|b| b == b'.')
}

fn lookup<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    // Events are nested (the normalizer nests dotted keys wherever no
    // value stands in the way), so walk the nesting first: one hash per
    // segment. Only a path not found that way can be a key with dots in
    // it, which the normalizer leaves flat only where a non-object stands
    // in the way, so both spellings of one path never coexist.
    if has_dot(path) {
        let mut inner = map;
        let mut rest = path;
        while let Some((head, tail)) = split_dot(rest) {
            match inner.get(head) {
                Some(Value::Object(m)) => {
                    inner = m;
                    rest = tail;
                }
                // `a.b` with no object `a`: only the flat key is left.
                _ if rest.len() == path.len() && !has_dot(tail) => return map.get(path),
                _ => return lookup_dotted(map, path),
            }
        }
        if let Some(v) = inner.get(rest) {
            return Some(v);
        }
    }
    lookup_dotted(map, path)
}

/// [`lookup`] trying the whole path as one key first, then every split.
fn lookup_dotted<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = map.get(path) {
        return Some(v);
    }
    let mut rest = path;
    while let Some(pos) = rest.find('.') {
        let split = path.len() - rest.len() + pos;
        let (head, tail) = (&path[..split], &path[split + 1..]);
        if let Some(Value::Object(inner)) = map.get(head)
            && let Some(v) = lookup(inner, tail)
        {
            return Some(v);
        }
        rest = &rest[pos + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_walks_nested_and_dotted_keys() {
        let e: Event = serde_json::from_value(json!({
            "source": {"ip": "1.2.3.4"},
            "user.name": "alice",
            "a": {"b.c": {"d": 1}}
        }))
        .unwrap();
        assert_eq!(e.get_str("source.ip"), Some("1.2.3.4"));
        assert_eq!(e.get_str("user.name"), Some("alice"));
        assert_eq!(e.get("a.b.c.d"), Some(&json!(1)));
        assert_eq!(e.get("source.port"), None);
        // A flat key behind a non-object, and one beside a missing parent.
        let e: Event = serde_json::from_value(json!({
            "host": "h1",
            "host.name": "h2",
            "ward.x": {"y": 2},
            "ward": {"z": 3}
        }))
        .unwrap();
        assert_eq!(e.get_str("host.name"), Some("h2"));
        assert_eq!(e.get("ward.x.y"), Some(&json!(2)));
        assert_eq!(e.get("ward.z"), Some(&json!(3)));
        assert_eq!(e.get("ward.q"), None);
        assert_eq!(e.get("nothing.here"), None);
    }

    #[test]
    fn set_and_remove_round_trip() {
        let mut e = Event::default();
        e.set("event.category", json!("authentication"));
        e.set("event.action", json!("login"));
        assert_eq!(
            e.0,
            json!({"event": {"category": "authentication", "action": "login"}})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(e.remove("event.action"), Some(json!("login")));
        assert_eq!(e.get("event.action"), None);
        assert_eq!(e.get_str("event.category"), Some("authentication"));
        assert_eq!(e.remove("event.category"), Some(json!("authentication")));
        assert_eq!(e.0, Map::new());
    }
}
