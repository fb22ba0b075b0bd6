//! Reading event files for offline detection, streamed in constant memory:
//! NDJSON, a JSON array, concatenated JSON objects (as `evtx_dump -o json`
//! writes them, with its `Record N` lines), binary `.evtx` files, and any of
//! the JSON shapes gzip-compressed. Each event keeps its position
//! (`file:line`, `file[index]` or `file#record`) for the findings that cite
//! it.
//!
//! A bad line of an NDJSON file, a bad object of a stream, a bad element of
//! an array and a damaged evtx record are reported and skipped; a syntax
//! error that leaves no place to resume at ends that file, and what was
//! read before it is kept. Errors never quote event content.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

/// Largest single event (NDJSON line or JSON object), in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// One event read from a file, with where it was.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub position: String,
    pub body: Body,
}

/// An event as read: JSON text (as a sender would post it) or an object.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Vec<u8>),
    Object(Map<String, Value>),
}

impl RawEvent {
    /// The event as JSON text.
    pub fn into_json(self) -> Result<Vec<u8>, String> {
        match self.body {
            Body::Json(b) => Ok(b),
            Body::Object(m) => {
                serde_json::to_vec(&m).map_err(|e| format!("{}: {e}", self.position))
            }
        }
    }

    /// The event as an object; an error names the position.
    pub fn into_object(self) -> Result<Map<String, Value>, String> {
        match self.body {
            Body::Object(m) => Ok(m),
            Body::Json(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err(format!("{}: not a JSON object, skipped", self.position)),
                Err(e) => Err(format!(
                    "{}: invalid JSON at column {}: {}, skipped",
                    self.position,
                    e.column(),
                    e.classify_text()
                )),
            },
        }
    }
}

/// What reading yields: an event, or a problem as `file:line: reason`.
pub type Item = Result<RawEvent, String>;

/// Streams every event of a file to `sink`.
pub fn read_file(path: &Path, sink: &mut dyn FnMut(Item)) {
    let name = path.display().to_string();
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return sink(Err(format!("{name}: cannot read: {e}"))),
    };
    let mut head = [0u8; 8];
    let n = read_head(&mut file, &mut head);
    let head = head.get(..n).unwrap_or_default();
    if ward_event::evtx::is_evtx(head) {
        return evtx(&name, path, sink);
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return sink(Err(format!("{name}: cannot read: {e}"))),
    };
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        return read_json(&name, BufReader::with_capacity(1 << 16, gz), sink);
    }
    read_json(&name, BufReader::with_capacity(1 << 16, file), sink)
}

fn read_head(file: &mut File, head: &mut [u8]) -> usize {
    let mut n = 0;
    while n < head.len() {
        match file.read(head.get_mut(n..).unwrap_or_default()) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

fn evtx(name: &str, path: &Path, sink: &mut dyn FnMut(Item)) {
    let file = match File::open(path) {
        Ok(f) => BufReader::new(f),
        Err(e) => return sink(Err(format!("{name}: cannot read: {e}"))),
    };
    let done = ward_event::evtx::read(file, |r| {
        sink(match r {
            Ok(r) => Ok(RawEvent {
                position: format!("{name}#{}", r.record_id),
                body: Body::Object(r.object),
            }),
            Err(e) => Err(format!("{name}: {e}")),
        })
    });
    if let Err(e) = done {
        sink(Err(format!("{name}: {e}")));
    }
}

/// Every event of a file and the problems met (small files: `rules test`).
pub fn read_all(path: &Path) -> (Vec<RawEvent>, Vec<String>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    read_file(path, &mut |i| match i {
        Ok(e) => events.push(e),
        Err(e) => errors.push(e),
    });
    (events, errors)
}

/// Like [`read_file`] over bytes in memory (a JSON shape); collects.
pub fn read_bytes(name: &str, bytes: &[u8]) -> (Vec<RawEvent>, Vec<String>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    read_json(name, bytes, &mut |i| match i {
        Ok(e) => events.push(e),
        Err(e) => errors.push(e),
    });
    (events, errors)
}

/// One line (without its `\n`), at most `MAX_LINE_BYTES`; Ok(None) at the
/// end, Err(()) for a longer line (consumed).
fn next_line(r: &mut impl BufRead, line: &mut Vec<u8>) -> Option<Result<(), ()>> {
    line.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(_) => return any.then_some(Err(())),
        };
        if buf.is_empty() {
            return any.then_some(if too_long { Err(()) } else { Ok(()) });
        }
        any = true;
        let (chunk, found) = match memchr::memchr(b'\n', buf) {
            Some(i) => (buf.get(..i).unwrap_or_default(), Some(i + 1)),
            None => (buf, None),
        };
        if !too_long && line.len() + chunk.len() <= MAX_LINE_BYTES {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
            line.clear();
        }
        let used = found.unwrap_or(buf.len());
        r.consume(used);
        if found.is_some() {
            return Some(if too_long { Err(()) } else { Ok(()) });
        }
    }
}

fn blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn read_json(name: &str, mut r: impl BufRead, sink: &mut dyn FnMut(Item)) {
    // The first non-blank line decides: `[` an array, a whole object
    // NDJSON, anything else a stream of objects.
    let mut line = Vec::new();
    let mut n = 0usize;
    let first = loop {
        n += 1;
        match next_line(&mut r, &mut line) {
            None => return,
            Some(Err(())) => {
                sink(Err(format!(
                    "{name}:{n}: line longer than {MAX_LINE_BYTES} bytes, skipped"
                )));
            }
            Some(Ok(())) if blank(&line) => {}
            Some(Ok(())) => break n,
        }
    };
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let prefix = std::io::Cursor::new(line.clone());
    if line.get(start) == Some(&b'[') {
        let mut chained = BufReader::new(prefix.chain(r));
        return array(name, &mut chained, sink);
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_ok()
        && line.get(start) == Some(&b'{')
    {
        sink(Ok(RawEvent {
            position: format!("{name}:{first}"),
            body: Body::Json(line),
        }));
        return ndjson(name, r, first, sink);
    }
    let mut prefix = prefix.into_inner();
    prefix.push(b'\n');
    stream(name, std::io::Cursor::new(prefix).chain(r), first, sink);
}

fn ndjson(name: &str, mut r: impl BufRead, after: usize, sink: &mut dyn FnMut(Item)) {
    let mut n = after;
    let mut line = Vec::new();
    loop {
        n += 1;
        match next_line(&mut r, &mut line) {
            None => return,
            Some(Err(())) => {
                sink(Err(format!(
                    "{name}:{n}: line longer than {MAX_LINE_BYTES} bytes, skipped"
                )));
            }
            Some(Ok(())) if blank(&line) => {}
            Some(Ok(())) => {
                let first = line.iter().find(|b| !b.is_ascii_whitespace());
                if first == Some(&b'{') {
                    sink(Ok(RawEvent {
                        position: format!("{name}:{n}"),
                        body: Body::Json(std::mem::take(&mut line)),
                    }));
                } else if serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_ok() {
                    sink(Err(format!("{name}:{n}: not a JSON object, skipped")));
                } else {
                    sink(Err(format!("{name}:{n}: invalid JSON, skipped")));
                }
            }
        }
    }
}

fn array(name: &str, r: &mut impl Read, sink: &mut dyn FnMut(Item)) {
    struct Elements<'a> {
        name: &'a str,
        sink: &'a mut dyn FnMut(Item),
    }
    impl<'de> serde::de::Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0usize;
            while let Some(v) = seq.next_element::<Value>()? {
                (self.sink)(match v {
                    Value::Object(m) => Ok(RawEvent {
                        position: format!("{}[{i}]", self.name),
                        body: Body::Object(m),
                    }),
                    _ => Err(format!("{}[{i}]: not a JSON object, skipped", self.name)),
                });
                i += 1;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_reader(r);
    let res = serde::Deserializer::deserialize_seq(
        &mut de,
        Elements {
            name,
            sink: &mut *sink,
        },
    );
    if let Err(e) = res {
        sink(Err(format!(
            "{name}:{}: invalid JSON array: {}; the rest of the file is skipped",
            e.line(),
            e.classify_text()
        )));
    }
}

/// Concatenated JSON objects, split by brace depth (strings and escapes
/// tracked) so each is handed on as its own one-line text; `Record N`
/// lines and blank space between them are skipped.
fn stream(name: &str, r: impl Read, first_line: usize, sink: &mut dyn FnMut(Item)) {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let mut line = first_line;
    let mut obj: Vec<u8> = Vec::new();
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    let mut start_line = line;
    let mut skipping_line = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) if !b.is_empty() => b,
            _ => break,
        };
        let len = buf.len();
        for &b in buf {
            if b == b'\n' {
                line += 1;
            }
            if depth == 0 {
                if skipping_line {
                    skipping_line = b != b'\n';
                    continue;
                }
                match b {
                    b'{' => {
                        depth = 1;
                        start_line = line;
                        obj.clear();
                        obj.push(b);
                    }
                    b if b.is_ascii_whitespace() => {}
                    b'R' => skipping_line = true,
                    _ => {
                        sink(Err(format!(
                            "{name}:{line}: not a JSON object, line skipped"
                        )));
                        skipping_line = b != b'\n';
                    }
                }
                continue;
            }
            if obj.len() < MAX_LINE_BYTES {
                // One line per event, as a sender posts it: raw line breaks
                // are only ever whitespace between tokens.
                obj.push(if b == b'\n' || b == b'\r' { b' ' } else { b });
            }
            if in_str {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_str = false;
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        let position = format!("{name}:{start_line}");
                        if obj.len() >= MAX_LINE_BYTES {
                            sink(Err(format!(
                                "{position}: object larger than {MAX_LINE_BYTES} bytes, skipped"
                            )));
                        } else {
                            sink(Ok(RawEvent {
                                position,
                                body: Body::Json(std::mem::take(&mut obj)),
                            }));
                        }
                    }
                }
                _ => {}
            }
        }
        r.consume(len);
    }
    if depth > 0 {
        sink(Err(format!(
            "{name}:{start_line}: unexpected end of input inside an object"
        )));
    }
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

    fn positions(ev: &[RawEvent]) -> Vec<&str> {
        ev.iter().map(|e| e.position.as_str()).collect()
    }

    #[test]
    fn ndjson_skips_bad_lines_with_their_number() {
        let (ev, errs) = read_bytes("f", b"{\"a\":1}\n\nnot json\n[1]\n{\"b\":2}\n");
        assert_eq!(positions(&ev), ["f:1", "f:5"]);
        assert_eq!(errs.len(), 2);
        assert!(errs[0].starts_with("f:3: invalid JSON"), "{}", errs[0]);
        assert!(!errs[0].contains("not json"), "errors never quote content");
        assert_eq!(errs[1], "f:4: not a JSON object, skipped");
    }

    #[test]
    fn array_and_evtx_dump_shapes() {
        let (ev, errs) = read_bytes("a", b" [{\"x\":1}, 2, {\"y\":2}]");
        assert_eq!(positions(&ev), ["a[0]", "a[2]"]);
        assert_eq!(errs, ["a[1]: not a JSON object, skipped"]);
        let dump = b"Record 1\n{\n  \"Event\": {\"System\": {\"EventID\": 1, \"s\": \"}{\\\"\"}}\n}\nRecord 2\n{\n  \"Event\": {}\n}\n";
        let (ev, errs) = read_bytes("e", dump);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(positions(&ev), ["e:2", "e:6"]);
        let obj = ev[0].clone().into_object().unwrap();
        assert_eq!(obj["Event"]["System"]["s"], "}{\"");
        let (ev, errs) = read_bytes("p", b"{\n \"a\": 1\n}\n{\n \"b\": \n");
        assert_eq!(ev.len(), 1);
        assert!(errs[0].starts_with("p:4"), "{errs:?}");
    }

    #[test]
    fn gzip_files_are_read_as_their_content() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.json.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let mut n = 0;
        read_file(&path, &mut |i| {
            assert!(i.is_ok(), "{i:?}");
            n += 1;
        });
        assert_eq!(n, 2);
    }
}
