//! Newline-delimited JSON (`/api/v1/ingest`): one JSON object per line, in
//! the logging standard's flat shape or in ECS shape.

use crate::json::{is_blank, lines};
use crate::{Event, Limits, RecordError, normalize};
use serde_json::{Map, Value};

/// Decodes a body of JSON lines. Blank lines are skipped; every other line
/// gives one result, numbered by its line, except an envelope
/// ([`crate::envelope`]), which gives one per record it carries.
///
/// ```
/// use ward_event::{Limits, ndjson};
/// let out = ndjson::decode(b"{\"msg\":\"a\"}\n[1]\n", &Limits::default());
/// assert_eq!(out[0].as_ref().unwrap().get_str("message"), Some("a"));
/// assert_eq!(out[1].as_ref().unwrap_err().reason, "expected a JSON object, found an array");
/// ```
pub fn decode(body: &[u8], limits: &Limits) -> Vec<Result<Event, RecordError>> {
    let received = jiff::Timestamp::now();
    let mut out = Vec::with_capacity(body.len() / 256 + 1);
    for (number, offset, line) in lines(body) {
        if is_blank(line) {
            continue;
        }
        let span = offset..offset + line.len();
        if line.len() <= limits.max_line_bytes && crate::envelope::may_be_envelope(line) {
            match crate::envelope::decode_line(line, limits, received) {
                Ok(records) => out.extend(records.into_iter().map(|r| {
                    r.map_err(|reason| RecordError::new(number, reason).at(span.clone()))
                })),
                Err(reason) => out.push(Err(RecordError::new(number, reason).at(span))),
            }
            continue;
        }
        out.push(decode_line(number, line, limits, received).map_err(|e| e.at(span)));
    }
    out
}

pub(crate) fn decode_line(
    number: usize,
    line: &[u8],
    limits: &Limits,
    received: jiff::Timestamp,
) -> Result<Event, RecordError> {
    if line.len() > limits.max_line_bytes {
        return Err(RecordError::new(
            number,
            format!(
                "line is {} bytes, over the {}-byte limit",
                line.len(),
                limits.max_line_bytes
            ),
        ));
    }
    normalize::parse_normalized(line, limits.max_depth, received)
        .map_err(|r| RecordError::new(number, r))
}

/// Maps one JSON object to an [`Event`]: ECS names kept, the logging
/// standard's flat names moved to ECS, values made canonical, the event
/// family inferred, everything else preserved.
pub fn normalize_json(obj: Map<String, Value>) -> Event {
    normalize::normalize_object(obj, jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_lines_do_not_affect_good_ones() {
        let limits = Limits {
            max_line_bytes: 64,
            ..Limits::default()
        };
        let long = format!("{{\"message\":\"{}\"}}", "x".repeat(100));
        let body = format!(
            "{{\"user_id\":\"a\"}}\r\n\n  \n{long}\n{{\"user_id\":\"b\"\n\"str\"\n{{\"k\":\"\u{e9}\"}}\n"
        );
        let mut bytes = body.into_bytes();
        bytes.extend_from_slice(b"{\"k\":\"\xc3\x28\"}\n{\"user_id\":\"c\"}");
        let out = decode(&bytes, &limits);
        assert_eq!(out[0].as_ref().unwrap().get_str("user.id"), Some("a"));
        let e = out[1].as_ref().unwrap_err();
        assert_eq!(e.record, 4);
        assert_eq!(e.reason, "line is 114 bytes, over the 64-byte limit");
        let e = out[2].as_ref().unwrap_err();
        assert_eq!(e.record, 5);
        assert_eq!(
            e.reason,
            "invalid JSON at byte 13: EOF while parsing an object"
        );
        assert_eq!(
            out[3].as_ref().unwrap_err().reason,
            "expected a JSON object, found a string"
        );
        assert_eq!(out[4].as_ref().unwrap().get_str("k"), Some("\u{e9}"));
        let e = out[5].as_ref().unwrap_err();
        assert_eq!(
            (e.record, e.reason.as_str()),
            (8, "invalid UTF-8 at byte 6")
        );
        assert_eq!(out[6].as_ref().unwrap().get_str("user.id"), Some("c"));
        assert_eq!(out.len(), 7);
    }

    #[test]
    fn deep_json_is_refused_cheaply() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        let out = decode(deep.as_bytes(), &Limits::default());
        assert_eq!(
            out[0].as_ref().unwrap_err().reason,
            "JSON nesting depth 65 at byte 68 exceeds the limit of 64"
        );
    }

    #[test]
    fn normalize_json_is_public() {
        let Value::Object(m) = json!({"lvl": "fatal"}) else {
            unreachable!()
        };
        assert_eq!(normalize_json(m).get_str("log.level"), Some("CRITICAL"));
    }
}
