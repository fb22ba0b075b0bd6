//! Reserved fields: what Ward itself stamps on an event, and a sender may
//! therefore never set. `tenant.*` and `ward.*` (the receive context, the
//! recognizer's `ward.logsource.*`, flags, invalid values…), `event.id` and
//! `event.ingested`. A sender's field with such a name, in any spelling
//! (nested, flat dotted, any letter case), is moved under
//! [`QUARANTINE`] with its key as sent, so it is kept and searchable but can
//! never be read as Ward's own field; [`QUARANTINE`] is how the number of
//! such events is counted.

use serde_json::{Map, Value};

use crate::event::Event;

/// Where sender-set reserved fields go: `ward.sender.<key as sent>`.
pub const QUARANTINE: &str = "ward.sender";

/// Top-level names a sender may not use at all.
const RESERVED_ROOTS: [&str; 2] = ["tenant", "ward"];
/// Fields of the `event` object Ward stamps.
const RESERVED_EVENT_FIELDS: [&str; 2] = ["id", "ingested"];

/// Whether a top-level key (possibly dotted) names a reserved field.
pub(crate) fn is_reserved(key: &str) -> bool {
    let mut parts = key.split('.');
    let root = parts.next().unwrap_or_default().trim();
    if RESERVED_ROOTS.iter().any(|r| root.eq_ignore_ascii_case(r)) {
        return true;
    }
    root.eq_ignore_ascii_case("event")
        && parts.next().is_some_and(|f| {
            RESERVED_EVENT_FIELDS
                .iter()
                .any(|r| f.trim().eq_ignore_ascii_case(r))
        })
}

/// Takes the reserved fields out of a sender's `event` object, returning
/// them under their dotted names.
pub(crate) fn take_from_event_object(obj: &mut Map<String, Value>, out: &mut Vec<(String, Value)>) {
    let keys: Vec<String> = obj
        .keys()
        .filter(|k| is_reserved(&format!("event.{k}")))
        .cloned()
        .collect();
    for k in keys {
        if let Some(v) = obj.remove(&k) {
            out.push((format!("event.{k}"), v));
        }
    }
}

/// Puts quarantined fields under `ward.sender`, each under its key as sent.
pub(crate) fn store(event: &mut Map<String, Value>, quarantined: Vec<(String, Value)>) {
    if quarantined.is_empty() {
        return;
    }
    let ward = event
        .entry("ward")
        .or_insert_with(|| Value::Object(Map::new()));
    if !ward.is_object() {
        *ward = Value::Object(Map::new());
    }
    let Value::Object(ward) = ward else { return };
    let sender = ward
        .entry("sender")
        .or_insert_with(|| Value::Object(Map::new()));
    if !sender.is_object() {
        *sender = Value::Object(Map::new());
    }
    let Value::Object(sender) = sender else {
        return;
    };
    for (k, v) in quarantined {
        let mut key = k;
        while sender.contains_key(&key) {
            key.push('_');
        }
        sender.insert(key, v);
    }
}

/// Puts quarantined fields back where the sender wrote them, for input
/// that is trusted as it is: an analyst's own files hunted offline (`ward
/// detect`), which are often events exported from Ward with its fields.
/// Never for what arrives over the network.
pub fn restore(event: &mut Event) {
    let Some(Value::Object(sender)) = event.remove(QUARANTINE) else {
        return;
    };
    for (key, value) in sender {
        if crate::event::has_dot(&key) {
            event.set(&key, value);
        } else {
            event.0.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_in_every_spelling() {
        for k in [
            "tenant",
            "tenant.id",
            "Tenant.ID",
            " tenant .id",
            "ward",
            "ward.source",
            "ward.logsource.product",
            "ward.recognizer",
            "WARD.input",
            "event.id",
            "Event.Id",
            "event.ingested",
        ] {
            assert!(is_reserved(k), "{k}");
        }
        for k in [
            "event",
            "event.action",
            "event.identity",
            "tenants",
            "warden",
            "organization.id",
            "user.tenant",
            "message",
        ] {
            assert!(!is_reserved(k), "{k}");
        }
    }

    #[test]
    fn restore_puts_trusted_fields_back() {
        let mut e = crate::ndjson::normalize_json(
            serde_json::from_str(
                r#"{"ward": {"baseline": {"x": 1}}, "event.id": "e1", "tenant": {"id": "t"}}"#,
            )
            .unwrap(),
        );
        assert!(e.get("ward.baseline.x").is_none());
        restore(&mut e);
        assert_eq!(e.get("ward.baseline.x"), Some(&Value::from(1)));
        assert_eq!(e.get_str("event.id"), Some("e1"));
        assert_eq!(e.get_str("tenant.id"), Some("t"));
        assert!(e.get("ward.sender").is_none());
    }
}
