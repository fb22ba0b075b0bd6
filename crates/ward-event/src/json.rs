//! JSON checks that run before serde: UTF-8, nesting depth (a cheap byte
//! scan, so that a 10,000-deep document is refused without recursion), and
//! splitting of concatenated top-level objects (Splunk HEC).

use serde_json::{Map, Value};

/// Why a JSON record was refused. The text never quotes the input.
pub(crate) fn describe_utf8(err: std::str::Utf8Error) -> String {
    format!("invalid UTF-8 at byte {}", err.valid_up_to())
}

/// Refuses nesting deeper than `max_depth`, reporting the depth reached and
/// the byte offset where it was exceeded.
pub(crate) fn check_depth(bytes: &[u8], max_depth: usize) -> Result<(), String> {
    // A document cannot be deeper than its number of opening brackets, and
    // counting them is a vectorized scan: the exact walk runs only when the
    // count alone cannot prove the document shallow.
    let opens = memchr::memchr2_iter(b'{', b'[', bytes).count();
    if opens <= max_depth {
        return Ok(());
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(format!(
                        "JSON nesting depth {depth} at byte {offset} exceeds the limit of {max_depth}"
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Describes a serde_json error by kind and position. serde_json's messages
/// for untyped parsing name only the syntax fault, never input text.
pub(crate) fn describe_serde(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let what = full.split(" at line ").next().unwrap_or("syntax error");
    if err.line() <= 1 {
        format!(
            "invalid JSON at byte {}: {what}",
            err.column().saturating_sub(1)
        )
    } else {
        format!(
            "invalid JSON at line {} column {}: {what}",
            err.line(),
            err.column()
        )
    }
}

/// The JSON type name for messages ("expected an object, found an array").
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses one JSON object with every check applied.
pub(crate) fn parse_object(bytes: &[u8], max_depth: usize) -> Result<Map<String, Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(describe_utf8)?;
    check_depth(bytes, max_depth)?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("expected a JSON object, found {}", kind_of(&other))),
        Err(e) => Err(describe_serde(&e)),
    }
}

/// Finds the end of the top-level JSON value that starts at `start` (which
/// must be `{` or `[`): the offset one past its closing bracket, or `None`
/// when the input ends first.
pub(crate) fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Lines of a body: `(1-based number, byte offset, line without its line
/// ending)`. Blank lines are included; callers decide.
pub(crate) fn lines(body: &[u8]) -> impl Iterator<Item = (usize, usize, &[u8])> {
    let mut start = 0usize;
    let mut number = 0usize;
    std::iter::from_fn(move || {
        if start >= body.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |p| start + p);
        let mut line = &body[start..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        let offset = start;
        start = end + 1;
        number += 1;
        Some((number, offset, line))
    })
}

/// True when a line holds only whitespace.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_refused_with_position() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = check_depth(deep.as_bytes(), 64).unwrap_err();
        assert_eq!(
            err,
            "JSON nesting depth 65 at byte 64 exceeds the limit of 64"
        );
        let ok = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        assert!(check_depth(ok.as_bytes(), 64).is_ok());
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let s = format!(r#"{{"a":"{}"}}"#, "[".repeat(100));
        assert!(check_depth(s.as_bytes(), 2).is_ok());
        let s = format!(r#"{{"a":"\"{}"}}"#, "{".repeat(100));
        assert!(check_depth(s.as_bytes(), 2).is_ok());
    }

    #[test]
    fn parse_object_errors_name_position_not_content() {
        assert_eq!(
            parse_object(b"[1,2]", 64).unwrap_err(),
            "expected a JSON object, found an array"
        );
        assert_eq!(
            parse_object(b"{\"a\":\"x\xff\"}", 64).unwrap_err(),
            "invalid UTF-8 at byte 7"
        );
        let err = parse_object(br#"{"password":"hunter2" "x":1}"#, 64).unwrap_err();
        assert!(
            err.starts_with("invalid JSON at byte 22: expected `,` or `}`"),
            "{err}"
        );
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn value_end_skips_strings() {
        let b = br#"{"a":"}{"} {"b":1}"#;
        assert_eq!(value_end(b, 0), Some(10));
        assert_eq!(value_end(b, 11), Some(18));
        assert_eq!(value_end(br#"{"a":1"#, 0), None);
    }

    #[test]
    fn lines_strip_crlf() {
        let got: Vec<_> = lines(b"a\r\n\nb").collect();
        assert_eq!(
            got,
            vec![(1, 0, &b"a"[..]), (2, 3, &b""[..]), (3, 4, &b"b"[..])]
        );
    }
}
