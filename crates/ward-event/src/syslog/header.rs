//! The syslog header grammars. Everything here borrows from the message.

use jiff::Timestamp;
use serde_json::{Map, Value};

/// The parts of a header, before they become fields.
#[derive(Debug, Default)]
pub(super) struct Parsed<'a> {
    pub version: Option<u8>,
    /// An RFC 3339 timestamp to parse.
    pub timestamp: Option<&'a str>,
    /// A BSD timestamp already read.
    pub bsd_time: Option<Timestamp>,
    pub hostname: Option<&'a str>,
    pub app: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    pub structured_data: Map<String, Value>,
    pub message: &'a str,
}

/// `<PRI>`: returns the priority (0–191) and the rest. A message without
/// `<` has no PRI; a malformed one is an error.
pub(super) fn pri(text: &str) -> Result<(Option<u8>, &str), String> {
    let Some(rest) = text.strip_prefix('<') else {
        return Ok((None, text));
    };
    let close = rest
        .bytes()
        .take(4)
        .position(|b| b == b'>')
        .ok_or("PRI is not closed by '>' within 3 digits")?;
    let digits = &rest[..close];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("PRI is not a number".into());
    }
    let value: u16 = digits.parse().map_err(|_| "PRI is not a number")?;
    let value = u8::try_from(value)
        .ok()
        .filter(|v| *v <= 191)
        .ok_or_else(|| format!("PRI {value} is over 191"))?;
    Ok((Some(value), &rest[close + 1..]))
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// Splits off the next space-delimited field.
fn field(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((f, rest)) => (f, rest),
        None => (s, ""),
    }
}

/// RFC 5424 after `<PRI>1 `.
pub(super) fn rfc5424(rest: &str) -> Result<Parsed<'_>, String> {
    let (ts, rest) = field(rest);
    let (host, rest) = field(rest);
    let (app, rest) = field(rest);
    let (procid, rest) = field(rest);
    let (msgid, rest) = field(rest);
    let (structured_data, message) = if let Some(after) = rest.strip_prefix('-') {
        (Map::new(), after.strip_prefix(' ').unwrap_or(after))
    } else if rest.starts_with('[') {
        let (sd, used) = structured_data(rest)?;
        let after = &rest[used..];
        (sd, after.strip_prefix(' ').unwrap_or(after))
    } else if rest.is_empty() {
        (Map::new(), "")
    } else {
        return Err("RFC 5424 structured data is neither '-' nor '['".into());
    };
    Ok(Parsed {
        version: Some(1),
        timestamp: nil(ts),
        hostname: nil(host),
        app: nil(app),
        procid: nil(procid),
        msgid: nil(msgid),
        structured_data,
        message,
        ..Parsed::default()
    })
}

/// `[id k="v" ...][id2 ...]`, with `\"`, `\\` and `\]` escapes in values.
/// Returns the elements by SD-ID (a repeated parameter becomes an array)
/// and the bytes used.
fn structured_data(s: &str) -> Result<(Map<String, Value>, usize), String> {
    let b = s.as_bytes();
    let mut out = Map::new();
    let mut i = 0;
    let bad = |i: usize, what: &str| format!("malformed structured data at byte {i}: {what}");
    while b.get(i) == Some(&b'[') {
        i += 1;
        let start = i;
        while i < b.len() && !matches!(b[i], b' ' | b']' | b'=' | b'"') {
            i += 1;
        }
        if i == start {
            return Err(bad(i, "empty SD-ID"));
        }
        let id = s[start..i].to_owned();
        let mut params = Map::new();
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => i += 1,
                Some(_) => return Err(bad(i, "expected ' ' or ']'")),
                None => return Err(bad(i, "element is not closed")),
            }
            let name_start = i;
            while i < b.len() && !matches!(b[i], b' ' | b']' | b'=' | b'"') {
                i += 1;
            }
            if i == name_start {
                continue;
            }
            let name = s[name_start..i].to_owned();
            if b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                return Err(bad(i, "expected '=\"' after a parameter name"));
            }
            i += 2;
            let mut value = String::new();
            let mut seg = i;
            loop {
                match b.get(i) {
                    Some(b'\\') if matches!(b.get(i + 1), Some(b'"' | b'\\' | b']')) => {
                        value.push_str(&s[seg..i]);
                        seg = i + 1;
                        i += 2;
                    }
                    Some(b'"') => {
                        value.push_str(&s[seg..i]);
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                    None => return Err(bad(i, "parameter value is not closed")),
                }
            }
            match params.get_mut(&name) {
                None => {
                    params.insert(name, Value::String(value));
                }
                Some(Value::Array(a)) => a.push(Value::String(value)),
                Some(prev) => {
                    let first = prev.take();
                    *prev = Value::Array(vec![first, Value::String(value)]);
                }
            }
        }
        out.insert(id, Value::Object(params));
    }
    Ok((out, i))
}

/// RFC 3164 after `<PRI>`.
pub(super) fn rfc3164(rest: &str, received: Timestamp) -> Parsed<'_> {
    let mut p = Parsed::default();
    let mut rest = rest;
    if let Some((ts, used)) = crate::time::parse_bsd_prefix(rest, received) {
        p.bsd_time = Some(ts);
        rest = rest[used..].trim_start_matches(' ');
    } else {
        let (first, after) = field(rest);
        if first.len() >= 19 && first.as_bytes()[4] == b'-' && first.as_bytes()[10] == b'T' {
            p.timestamp = Some(first);
            rest = after;
        }
    }
    let has_time = p.bsd_time.is_some() || p.timestamp.is_some();
    let (w1, after1) = field(rest);
    if let Some((tag, pid)) = tag(w1) {
        p.app = Some(tag);
        p.procid = pid;
        p.message = after1;
        return p;
    }
    let (w2, after2) = field(after1);
    if let Some((tag, pid)) = tag(w2) {
        p.hostname = nil(w1);
        p.app = Some(tag);
        p.procid = pid;
        p.message = after2;
        return p;
    }
    if has_time && !w1.is_empty() && is_hostname(w1) {
        p.hostname = Some(w1);
        p.message = after1;
    } else {
        p.message = rest;
    }
    p
}

/// `name[pid]:` or `name:`; returns the name and pid.
fn tag(word: &str) -> Option<(&str, Option<&str>)> {
    let word = word.strip_suffix(':')?;
    let (name, pid) = match word.strip_suffix(']').and_then(|w| w.split_once('[')) {
        Some((name, pid)) => (name, Some(pid)),
        None => (word, None),
    };
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'@'));
    ok.then_some((name, pid.filter(|p| !p.is_empty())))
}

fn is_hostname(w: &str) -> bool {
    w.len() <= 255
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}
