//! Reading event files for offline detection: NDJSON, a JSON array, or
//! concatenated JSON objects (as `evtx_dump -o json` writes them, with its
//! `Record N` lines). Each event keeps its position (`file:line` or
//! `file[index]`) for the findings that cite it.
//!
//! A bad line of an NDJSON file is reported and skipped; in the other
//! shapes a syntax error ends that file (there is no line to resume at), and
//! what was read before it is kept. Errors never quote event content.

use std::path::Path;

use serde_json::{Map, Value};

/// Largest event file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Largest single NDJSON line, in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// One event read from a file, with where it was.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub position: String,
    pub object: Map<String, Value>,
}

/// Every event of a file and the problems met, as `file:line: reason`.
pub fn read_file(path: &Path) -> (Vec<RawEvent>, Vec<String>) {
    let name = path.display().to_string();
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => return (Vec::new(), vec![format!("{name}: cannot read: {e}")]),
    };
    if size > MAX_FILE_BYTES {
        return (
            Vec::new(),
            vec![format!(
                "{name}: file is larger than {MAX_FILE_BYTES} bytes; split it"
            )],
        );
    }
    match std::fs::read(path) {
        Ok(bytes) => read_bytes(&name, &bytes),
        Err(e) => (Vec::new(), vec![format!("{name}: cannot read: {e}")]),
    }
}

/// Like [`read_file`], over bytes already in memory; `name` labels positions.
pub fn read_bytes(name: &str, bytes: &[u8]) -> (Vec<RawEvent>, Vec<String>) {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| bytes[i]) {
        None => (Vec::new(), Vec::new()),
        Some(b'[') => array(name, bytes),
        _ if looks_like_ndjson(bytes) => ndjson(name, bytes),
        _ => stream(name, bytes),
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + memchr::memchr_iter(b'\n', &bytes[..offset.min(bytes.len())]).count()
}

fn object(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// NDJSON when the first non-blank line is a whole JSON object.
fn looks_like_ndjson(bytes: &[u8]) -> bool {
    bytes
        .split(|b| *b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .is_some_and(|l| serde_json::from_slice::<Map<String, Value>>(l).is_ok())
}

fn ndjson(name: &str, bytes: &[u8]) -> (Vec<RawEvent>, Vec<String>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let n = i + 1;
        if line.len() > MAX_LINE_BYTES {
            errors.push(format!(
                "{name}:{n}: line longer than {MAX_LINE_BYTES} bytes, skipped"
            ));
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v) => match object(v) {
                Some(object) => events.push(RawEvent {
                    position: format!("{name}:{n}"),
                    object,
                }),
                None => errors.push(format!("{name}:{n}: not a JSON object, skipped")),
            },
            Err(e) => errors.push(format!(
                "{name}:{n}: invalid JSON at column {}: {}, skipped",
                e.column(),
                e.classify_text()
            )),
        }
    }
    (events, errors)
}

fn array(name: &str, bytes: &[u8]) -> (Vec<RawEvent>, Vec<String>) {
    match serde_json::from_slice::<Vec<Value>>(bytes) {
        Ok(items) => {
            let mut events = Vec::new();
            let mut errors = Vec::new();
            for (i, v) in items.into_iter().enumerate() {
                match object(v) {
                    Some(object) => events.push(RawEvent {
                        position: format!("{name}[{i}]"),
                        object,
                    }),
                    None => errors.push(format!("{name}[{i}]: not a JSON object, skipped")),
                }
            }
            (events, errors)
        }
        Err(e) => (
            Vec::new(),
            vec![format!(
                "{name}:{}: invalid JSON array: {}",
                e.line(),
                e.classify_text()
            )],
        ),
    }
}

/// Concatenated JSON values; `Record N` lines between them are skipped.
fn stream(name: &str, bytes: &[u8]) -> (Vec<RawEvent>, Vec<String>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let skip = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        pos += skip;
        if pos >= bytes.len() {
            break;
        }
        if bytes[pos..].starts_with(b"Record ") {
            pos += memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len() - pos, |n| n + 1);
            continue;
        }
        let line = line_of(bytes, pos);
        let mut de = serde_json::Deserializer::from_slice(&bytes[pos..]).into_iter::<Value>();
        match de.next() {
            Some(Ok(v)) => {
                pos += de.byte_offset();
                match object(v) {
                    Some(object) => events.push(RawEvent {
                        position: format!("{name}:{line}"),
                        object,
                    }),
                    None => errors.push(format!("{name}:{line}: not a JSON object, skipped")),
                }
            }
            Some(Err(e)) => {
                errors.push(format!(
                    "{name}:{}: invalid JSON: {}; the rest of the file is skipped",
                    line + e.line() - 1,
                    e.classify_text()
                ));
                break;
            }
            None => break,
        }
    }
    (events, errors)
}

trait Classify {
    fn classify_text(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_text(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end of input",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_skips_bad_lines_with_their_number() {
        let (ev, errs) = read_bytes("f", b"{\"a\":1}\n\nnot json\n[1]\n{\"b\":2}\n");
        assert_eq!(
            ev.iter().map(|e| e.position.as_str()).collect::<Vec<_>>(),
            ["f:1", "f:5"]
        );
        assert_eq!(errs.len(), 2);
        assert!(errs[0].starts_with("f:3: invalid JSON"), "{}", errs[0]);
        assert!(!errs[0].contains("not json"), "errors never quote content");
        assert_eq!(errs[1], "f:4: not a JSON object, skipped");
    }

    #[test]
    fn array_and_evtx_dump_shapes() {
        let (ev, errs) = read_bytes("a", b" [{\"x\":1}, 2, {\"y\":2}]");
        assert_eq!(
            ev.iter().map(|e| e.position.as_str()).collect::<Vec<_>>(),
            ["a[0]", "a[2]"]
        );
        assert_eq!(errs, ["a[1]: not a JSON object, skipped"]);
        let dump = b"Record 1\n{\n  \"Event\": {\"System\": {\"EventID\": 1}}\n}\nRecord 2\n{\n  \"Event\": {}\n}\n";
        let (ev, errs) = read_bytes("e", dump);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            ev.iter().map(|e| e.position.as_str()).collect::<Vec<_>>(),
            ["e:2", "e:6"]
        );
        let (ev, errs) = read_bytes("p", b"{\n \"a\": 1\n}\n{\n \"b\": \n");
        assert_eq!(ev.len(), 1);
        assert!(errs[0].starts_with("p:"), "{errs:?}");
    }
}
