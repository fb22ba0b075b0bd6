//! The Elasticsearch `_bulk` API, so that shippers built for Elasticsearch
//! (Beats, Logstash, Fluent Bit, rsyslog omelasticsearch, syslog-ng
//! elasticsearch-http, the Python `elasticsearch` client's `helpers.bulk`)
//! can send to Ward unchanged.
//!
//! The body is NDJSON: an action line (`{"index":{"_index":..,"_id":..}}`
//! or `create`) followed by a source line; blank lines are allowed. Ward's
//! store is append-only, so `update` and `delete` are answered per item
//! with status 400, as Elasticsearch answers an item it refuses, and the
//! rest of the request is processed. [`response`] builds the response body
//! in Elasticsearch's exact shape.

use crate::json::{is_blank, lines, parse_object};
use crate::{Event, Limits, RecordError, ndjson};
use serde_json::{Map, Value, json};

/// One item of a bulk request.
#[derive(Debug)]
pub struct BulkItem {
    /// `index`, `create`, `update` or `delete` (the key of the response
    /// item); `index` when the action line itself was unreadable.
    pub action: String,
    /// `_index` from the action line.
    pub index: Option<String>,
    /// `_id` from the action line.
    pub id: Option<String>,
    /// The decoded source, or why the item is refused.
    pub doc: Result<Event, RecordError>,
    /// Elasticsearch's error type for a refused item; empty when `doc` is
    /// `Ok`.
    pub error_type: &'static str,
}

impl BulkItem {
    /// The response entry for a refused item (status 400); `None` when the
    /// item decoded and its outcome depends on storing it.
    pub fn rejection(&self) -> Option<ItemOutcome> {
        let err = self.doc.as_ref().err()?;
        Some(ItemOutcome::Rejected {
            action: self.action.clone(),
            index: self.index.clone(),
            id: self.id.clone(),
            status: 400,
            error_type: self.error_type.to_owned(),
            reason: err.to_string(),
        })
    }
}

/// What happened to one item, for [`response`].
#[derive(Clone, Debug, PartialEq)]
pub enum ItemOutcome {
    /// Stored: answered `201 created`.
    Created {
        /// The item's action (`index` or `create`).
        action: String,
        /// The index name to echo.
        index: String,
        /// The document id (the sender's `_id` or the one Ward assigned).
        id: String,
        /// The item's sequence number (its position in the log).
        seq_no: u64,
    },
    /// Refused.
    Rejected {
        /// The item's action.
        action: String,
        /// The index name to echo.
        index: Option<String>,
        /// The document id to echo.
        id: Option<String>,
        /// HTTP-style status (400 for a bad item, 429 when Ward is busy).
        status: u16,
        /// Elasticsearch's error type, such as `document_parsing_exception`.
        error_type: String,
        /// What was wrong; never contains field values.
        reason: String,
    },
}

const PARSE_ERROR: &str = "document_parsing_exception";
const VALIDATION_ERROR: &str = "action_request_validation_exception";
const ACTION_ERROR: &str = "illegal_argument_exception";

/// Decodes a bulk body into items, in request order.
///
/// ```
/// use ward_event::{Limits, bulk};
/// let body = b"{\"index\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n{\"message\":\"hi\"}\n{\"delete\":{\"_id\":\"2\"}}\n";
/// let items = bulk::decode(body, &Limits::default());
/// assert_eq!(items[0].index.as_deref(), Some("logs"));
/// assert_eq!(items[0].doc.as_ref().unwrap().get_str("message"), Some("hi"));
/// assert_eq!(items[1].action, "delete");
/// assert!(items[1].doc.is_err());
/// ```
pub fn decode(body: &[u8], limits: &Limits) -> Vec<BulkItem> {
    let received = jiff::Timestamp::now();
    let mut items = Vec::new();
    let mut it = lines(body).filter(|(_, _, l)| !is_blank(l)).peekable();
    while let Some((number, offset, line)) = it.next() {
        let span = offset..offset + line.len();
        let refuse = |action: &str, index, id, error_type, reason: String| BulkItem {
            action: action.to_owned(),
            index,
            id,
            doc: Err(RecordError::new(number, reason).at(span.clone())),
            error_type,
        };
        let parsed = if line.len() > limits.max_line_bytes {
            Err(format!(
                "action line is {} bytes, over the {}-byte limit",
                line.len(),
                limits.max_line_bytes
            ))
        } else {
            parse_object(line, limits.max_depth).and_then(action_of)
        };
        let (action, meta) = match parsed {
            Ok(a) => a,
            Err(reason) => {
                // The pair is broken; skip its source line unless the next
                // line is itself an action.
                if it
                    .peek()
                    .is_some_and(|(_, _, next)| !looks_like_action(next))
                {
                    it.next();
                }
                items.push(refuse(
                    "index",
                    None,
                    None,
                    ACTION_ERROR,
                    format!("malformed action line: {reason}"),
                ));
                continue;
            }
        };
        let index = meta_string(&meta, "_index");
        let id = meta_string(&meta, "_id");
        match action.as_str() {
            "index" | "create" => {
                let Some((src_number, src_offset, src)) = it.next() else {
                    items.push(refuse(
                        &action,
                        index,
                        id,
                        PARSE_ERROR,
                        "action line has no source line after it".into(),
                    ));
                    continue;
                };
                let doc = ndjson::decode_line(src_number, src, limits, received)
                    .map_err(|e| e.at(src_offset..src_offset + src.len()));
                let error_type = if doc.is_ok() { "" } else { PARSE_ERROR };
                items.push(BulkItem {
                    action,
                    index,
                    id,
                    doc,
                    error_type,
                });
            }
            "update" | "delete" => {
                if action == "update"
                    && it
                        .peek()
                        .is_some_and(|(_, _, next)| !looks_like_action(next))
                {
                    it.next();
                }
                let reason = format!("{action} is not supported: events are append-only");
                items.push(refuse(&action, index, id, VALIDATION_ERROR, reason));
            }
            _ => {
                if it
                    .peek()
                    .is_some_and(|(_, _, next)| !looks_like_action(next))
                {
                    it.next();
                }
                items.push(refuse(
                    "index",
                    index,
                    id,
                    ACTION_ERROR,
                    "unknown action, expected index, create, update or delete".into(),
                ));
            }
        }
    }
    items
}

fn action_of(obj: Map<String, Value>) -> Result<(String, Map<String, Value>), String> {
    if obj.len() != 1 {
        return Err(format!("expected one action key, found {}", obj.len()));
    }
    let Some((action, meta)) = obj.into_iter().next() else {
        return Err("empty action".into());
    };
    match meta {
        Value::Object(m) => Ok((action, m)),
        _ => Err("action metadata is not an object".into()),
    }
}

fn meta_string(meta: &Map<String, Value>, key: &str) -> Option<String> {
    match meta.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// True for a line that starts like `{"index":`, `{"create":`, `{"update":`
/// or `{"delete":`.
fn looks_like_action(line: &[u8]) -> bool {
    let s = line.trim_ascii_start();
    let Some(s) = s.strip_prefix(b"{") else {
        return false;
    };
    let s = s.trim_ascii_start();
    [
        &b"\"index\""[..],
        b"\"create\"",
        b"\"update\"",
        b"\"delete\"",
    ]
    .iter()
    .any(|k| {
        s.strip_prefix(*k)
            .is_some_and(|r| r.trim_ascii_start().starts_with(b":"))
    })
}

/// The bulk response body, in Elasticsearch's shape: `took`, `errors` (true
/// when any item failed) and one entry per item, keyed by its action.
///
/// ```
/// use ward_event::bulk::{ItemOutcome, response};
/// let r = response(&[ItemOutcome::Created { action: "index".into(), index: "logs".into(), id: "a".into(), seq_no: 7 }], 3);
/// assert_eq!(r["items"][0]["index"]["status"], 201);
/// assert_eq!(r["items"][0]["index"]["result"], "created");
/// assert_eq!(r["errors"], false);
/// ```
pub fn response(items: &[ItemOutcome], took_ms: u64) -> Value {
    let mut errors = false;
    let entries: Vec<Value> = items
        .iter()
        .map(|item| match item {
            ItemOutcome::Created {
                action,
                index,
                id,
                seq_no,
            } => json!({ action.clone(): {
                "_index": index,
                "_id": id,
                "_version": 1,
                "result": "created",
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": seq_no,
                "_primary_term": 1,
                "status": 201
            }}),
            ItemOutcome::Rejected {
                action,
                index,
                id,
                status,
                error_type,
                reason,
            } => {
                errors = true;
                json!({ action.clone(): {
                    "_index": index.clone().unwrap_or_default(),
                    "_id": id,
                    "status": status,
                    "error": {"type": error_type, "reason": reason}
                }})
            }
        })
        .collect();
    json!({"took": took_ms, "errors": errors, "items": entries})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_blank_lines_and_refusals() {
        let body = concat!(
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n",
            "{\"event_type\":\"login_failed\",\"user_id\":\"u\"}\n",
            "\n",
            "{\"create\":{\"_index\":\"logs\"}}\n",
            "{\"message\":\"second\"}\n",
            "{\"update\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n",
            "{\"doc\":{\"a\":1}}\n",
            "{\"delete\":{\"_index\":\"logs\",\"_id\":7}}\n",
            "{\"index\":{}}\n",
            "[1,2]\n",
            "{bad action\n",
            "{\"message\":\"orphan source\"}\n",
            "{\"index\":{}}\n",
            "{\"message\":\"last\"}\n",
        );
        let items = decode(body.as_bytes(), &Limits::default());
        let summary: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.action.as_str(),
                    i.id.as_deref(),
                    i.doc.is_ok(),
                    i.error_type,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("index", Some("1"), true, ""),
                ("create", None, true, ""),
                ("update", Some("1"), false, VALIDATION_ERROR),
                ("delete", Some("7"), false, VALIDATION_ERROR),
                ("index", None, false, PARSE_ERROR),
                ("index", None, false, ACTION_ERROR),
                ("index", None, true, ""),
            ]
        );
        let first = items[0].doc.as_ref().unwrap();
        assert_eq!(first.get_str("event.action"), Some("login_failed"));
        assert_eq!(
            items[1].doc.as_ref().unwrap().get_str("message"),
            Some("second")
        );
        assert_eq!(
            items[6].doc.as_ref().unwrap().get_str("message"),
            Some("last")
        );
        let err = items[4].doc.as_ref().unwrap_err();
        assert_eq!(
            (err.record, err.reason.as_str()),
            (10, "expected a JSON object, found an array")
        );
        let rej = items[2].rejection().unwrap();
        let r = response(&[rej], 1);
        assert_eq!(r["errors"], true);
        assert_eq!(r["items"][0]["update"]["status"], 400);
        assert_eq!(r["items"][0]["update"]["error"]["type"], VALIDATION_ERROR);
        assert_eq!(
            r["items"][0]["update"]["error"]["reason"],
            "record 6: update is not supported: events are append-only"
        );
    }

    #[test]
    fn missing_source_line() {
        let items = decode(b"{\"index\":{\"_index\":\"x\"}}\n", &Limits::default());
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].doc.as_ref().unwrap_err().reason,
            "action line has no source line after it"
        );
    }

    #[test]
    fn response_shape_matches_elasticsearch() {
        let r = response(
            &[ItemOutcome::Created {
                action: "create".into(),
                index: "logs".into(),
                id: "abc".into(),
                seq_no: 3,
            }],
            12,
        );
        assert_eq!(
            r,
            json!({"took": 12, "errors": false, "items": [{"create": {
                "_index": "logs", "_id": "abc", "_version": 1, "result": "created",
                "_shards": {"total": 1, "successful": 1, "failed": 0},
                "_seq_no": 3, "_primary_term": 1, "status": 201
            }}]})
        );
    }
}
