//! Envelopes that carry many records in one JSON object, split into one
//! record each before normalization, so that each becomes its own event:
//!
//! | envelope | shape | sender |
//! |---|---|---|
//! | CloudTrail file | `{"Records":[…]}` | CloudTrail's S3 objects |
//! | Event Hubs | `{"records":[…]}` | Azure diagnostic settings |
//! | `EventList` | `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[…]}` | the Kubernetes audit webhook |
//! | EventBridge | `{"detail-type":"AWS API Call via CloudTrail","detail":{…},…}` | Amazon EventBridge |
//!
//! Invariants: pure (no I/O), bounded by [`Limits::max_envelope_records`]
//! (an envelope over it is one clear error and no record of it is kept as
//! an event, while the other records of the input are unaffected); an item
//! that is not an object is an error of its own; an object that is not an
//! envelope passes through unchanged. Fuzzed by
//! `fuzz/fuzz_targets/decode_envelope.rs`.

use serde_json::{Map, Value};

use crate::json::{is_blank, kind_of};
use crate::{Event, Limits, RecordError, normalize};

/// Quick byte test for the keys of an envelope: only a line that has one
/// is parsed as a whole object and split; every other line takes the
/// streaming path.
pub(crate) fn may_be_envelope(line: &[u8]) -> bool {
    memchr::memmem::find(line, b"\"Records\"").is_some()
        || memchr::memmem::find(line, b"\"records\"").is_some()
        || memchr::memmem::find(line, b"\"EventList\"").is_some()
        || memchr::memmem::find(line, b"\"detail-type\"").is_some()
}

/// The records of an envelope, each an object or why the item is not one.
pub type Records = Vec<Result<Map<String, Value>, String>>;

/// Splits an object into the records it carries: the object itself when it
/// is not an envelope, its items when it is. `Err` when the envelope holds
/// more than `max_records` items; an item that is not an object is an
/// `Err` in its place.
///
/// ```
/// use serde_json::json;
/// let obj = json!({"Records": [{"eventName": "A"}, 3]}).as_object().unwrap().clone();
/// let out = ward_event::envelope::split(obj, 10).unwrap();
/// assert_eq!(out[0].as_ref().unwrap()["eventName"], "A");
/// assert_eq!(out[1].as_ref().unwrap_err(), "envelope item 2 is a number, not an object");
/// ```
pub fn split(mut obj: Map<String, Value>, max_records: usize) -> Result<Records, String> {
    let (key, fill) = match envelope_kind(&obj) {
        Some(kind) => kind,
        None => return Ok(vec![Ok(obj)]),
    };
    if key == "detail" {
        return match obj.remove("detail") {
            Some(Value::Object(detail)) => Ok(vec![Ok(detail)]),
            _ => Ok(vec![Ok(obj)]),
        };
    }
    let Some(Value::Array(items)) = obj.remove(key) else {
        return Ok(vec![Ok(obj)]);
    };
    if items.len() > max_records {
        return Err(format!(
            "envelope `{key}` holds {} records, over the limit of {max_records} (limits.max_envelope_records); none of its records was kept, send smaller files",
            items.len()
        ));
    }
    let api_version = obj.get("apiVersion").cloned();
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(mut record) => {
                if fill {
                    record.entry("kind").or_insert_with(|| Value::from("Event"));
                    if let Some(v) = &api_version {
                        record.entry("apiVersion").or_insert_with(|| v.clone());
                    }
                }
                Ok(record)
            }
            other => Err(format!(
                "envelope item {} is {}, not an object",
                i + 1,
                kind_of(&other)
            )),
        })
        .collect())
}

/// The key that holds an envelope's records, and whether the items get
/// the list's `kind`/`apiVersion` (a Kubernetes `EventList`).
fn envelope_kind(obj: &Map<String, Value>) -> Option<(&'static str, bool)> {
    let is_array = |k: &str| obj.get(k).is_some_and(Value::is_array);
    if is_array("Records") && obj.len() <= 2 {
        return Some(("Records", false));
    }
    if is_array("records") && obj.len() <= 2 {
        return Some(("records", false));
    }
    if obj.get("kind").and_then(Value::as_str) == Some("EventList")
        && obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("audit.k8s.io/"))
        && is_array("items")
    {
        return Some(("items", true));
    }
    if obj
        .get("detail-type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with("via CloudTrail"))
        && obj.get("detail").is_some_and(Value::is_object)
    {
        return Some(("detail", false));
    }
    None
}

/// Decodes a line that may be an envelope: one result per record, each
/// normalized; `Err` for the whole line when it is not a JSON object or an
/// envelope is over the limit.
pub(crate) fn decode_line(
    line: &[u8],
    limits: &Limits,
    received: jiff::Timestamp,
) -> Result<Vec<Result<Event, String>>, String> {
    let obj = crate::json::parse_object(line, limits.max_depth)?;
    Ok(split(obj, limits.max_envelope_records)?
        .into_iter()
        .map(|r| r.map(|m| normalize::normalize_object(m, received)))
        .collect())
}

/// Decodes a body that is one JSON document (the Kubernetes audit webhook's
/// `EventList`, a GitHub webhook delivery, a CloudTrail file), laid out over
/// any number of lines: one result per record it carries, numbered from 1.
/// A body that is not one object is one error.
///
/// ```
/// use ward_event::{Limits, envelope};
/// let body = br#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1",
///   "items":[{"auditID":"a","verb":"get"},{"auditID":"b","verb":"create"}]}"#;
/// let out = envelope::decode_document(body, &Limits::default());
/// assert_eq!(out.len(), 2);
/// assert_eq!(out[1].as_ref().unwrap().get_str("verb"), Some("create"));
/// ```
pub fn decode_document(body: &[u8], limits: &Limits) -> Vec<Result<Event, RecordError>> {
    if is_blank(body) {
        return Vec::new();
    }
    let whole = 0..body.len();
    if body.len() > limits.max_request_bytes {
        return vec![Err(RecordError::new(
            1,
            format!(
                "document is {} bytes, over the {}-byte limit",
                body.len(),
                limits.max_request_bytes
            ),
        )
        .at(whole))];
    }
    match decode_line(body, limits, jiff::Timestamp::now()) {
        Err(reason) => vec![Err(RecordError::new(1, reason).at(whole))],
        Ok(records) => records
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.map_err(|reason| RecordError::new(i + 1, reason)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn plain_objects_pass_through() {
        let o = obj(json!({"records": "not an array", "a": 1}));
        assert_eq!(split(o.clone(), 5).unwrap(), vec![Ok(o)]);
        // An application's own `records` field beside others is no envelope.
        let o = obj(json!({"records": [1], "service": "x", "user": "y"}));
        assert_eq!(split(o.clone(), 5).unwrap(), vec![Ok(o)]);
    }

    #[test]
    fn event_list_items_get_kind_and_version() {
        let o = obj(json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
            "metadata": {}, "items": [{"auditID": "1"}]}));
        let out = split(o, 5).unwrap();
        let item = out[0].as_ref().unwrap();
        assert_eq!(item["kind"], "Event");
        assert_eq!(item["apiVersion"], "audit.k8s.io/v1");
    }

    #[test]
    fn eventbridge_is_unwrapped() {
        let o = obj(
            json!({"version": "0", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.cloudtrail", "detail": {"eventName": "StopLogging"}}),
        );
        let out = split(o, 5).unwrap();
        assert_eq!(out, vec![Ok(obj(json!({"eventName": "StopLogging"})))]);
    }

    #[test]
    fn oversized_envelope_is_one_error_without_values() {
        let items: Vec<Value> = (0..11)
            .map(|i| json!({"secret": format!("s{i}")}))
            .collect();
        let err = split(obj(json!({"Records": items})), 10).unwrap_err();
        assert!(
            err.starts_with("envelope `Records` holds 11 records, over the limit of 10"),
            "{err}"
        );
        assert!(!err.contains("s1"));
    }
}
