//! Plain text lines: each non-blank line becomes an event whose `message`
//! is the line. Nothing is parsed out of the text.

use crate::json::{is_blank, lines};
use crate::{Event, Limits, RecordError};
use serde_json::Value;

/// Decodes plain lines into message events.
///
/// ```
/// use ward_event::{Limits, text};
/// let out = text::decode(b"first\r\nsecond\n", &Limits::default());
/// assert_eq!(out[1].as_ref().unwrap().get_str("message"), Some("second"));
/// ```
pub fn decode(body: &[u8], limits: &Limits) -> Vec<Result<Event, RecordError>> {
    lines(body)
        .filter(|(_, _, line)| !is_blank(line))
        .map(|(number, offset, line)| {
            decode_line(number, line, limits).map_err(|e| e.at(offset..offset + line.len()))
        })
        .collect()
}

pub(crate) fn decode_line(
    number: usize,
    line: &[u8],
    limits: &Limits,
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
    let text = std::str::from_utf8(line)
        .map_err(|e| RecordError::new(number, crate::json::describe_utf8(e)))?;
    let mut event = Event::default();
    event
        .0
        .insert("message".into(), Value::String(text.to_owned()));
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_errors() {
        let limits = Limits {
            max_line_bytes: 8,
            ..Limits::default()
        };
        let out = decode(b"ok line\n\nway too long line\nbad \xff\nlast", &limits);
        assert_eq!(out[0].as_ref().unwrap().get_str("message"), Some("ok line"));
        assert_eq!(out[1].as_ref().unwrap_err().record, 3);
        assert_eq!(
            out[2].as_ref().unwrap_err().reason,
            "invalid UTF-8 at byte 4"
        );
        assert_eq!(out[3].as_ref().unwrap().get_str("message"), Some("last"));
    }
}
