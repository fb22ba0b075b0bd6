//! Linux audit records: raw lines as auditd writes them
//! (`type=EXECVE msg=audit(1700000000.123:42): argc=2 a0="ls" a1="-l"`,
//! through syslog, a text input or a file shipper, also with the
//! `node=` prefix and the enriched `\x1d`-separated fields), and the same
//! records as flat JSON objects (`{"type":"EXECVE","msg":"audit(…):",…}`).
//!
//! Sigma log source: `product: linux`, `service: auditd`. Every key of the
//! record becomes a top-level field under its own name (`type`, `a0`,
//! `exe`, `key`, `SYSCALL`, …), as SigmaHQ's auditd rules name them.
//!
//! [`parse`] is the one text parser: bounded ([`MAX_LINE`], [`MAX_FIELDS`]),
//! no allocation per byte, and fuzzed (`fuzz/fuzz_targets/recognize_auditd.rs`).

use serde_json::Value;

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// The longest record accepted, in bytes.
pub const MAX_LINE: usize = 64 * 1024;
/// The most `key=value` fields accepted in one record.
pub const MAX_FIELDS: usize = 512;

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    /// The record type, e.g. `SYSCALL`, `EXECVE`, `USER_AUTH`.
    pub kind: &'a str,
    /// The `audit(<seconds>.<millis>:<serial>)` stamp, without `audit(`
    /// and `):`.
    pub stamp: &'a str,
    /// The fields in their order. The `key=value` pairs inside a
    /// single-quoted `msg='…'` are included.
    pub fields: Vec<AuditField<'a>>,
}

/// One `key=value` field of an audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditField<'a> {
    /// The key.
    pub key: &'a str,
    /// The value without its quotes.
    pub value: &'a str,
    /// Whether the value was quoted; auditd writes a value that needs
    /// quoting but has spaces or control characters as bare hex instead.
    pub quoted: bool,
}

/// Parses one raw audit record; the error says what is wrong and where
/// (never quoting the input).
///
/// ```
/// let r = ward_event::recognize::auditd::parse(
///     r#"type=EXECVE msg=audit(1700000000.123:42): argc=2 a0="ls" a1="-l""#,
/// ).unwrap();
/// assert_eq!(r.kind, "EXECVE");
/// assert_eq!((r.fields[1].key, r.fields[1].value), ("a0", "ls"));
/// ```
pub fn parse(line: &str) -> Result<AuditRecord<'_>, String> {
    if line.len() > MAX_LINE {
        return Err(format!(
            "audit record is {} bytes, over the {MAX_LINE}-byte limit",
            line.len()
        ));
    }
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix("node=") {
        let end = after
            .find(' ')
            .ok_or("audit record has nothing after `node=`")?;
        rest = after[end..].trim_start();
    }
    let after = rest
        .strip_prefix("type=")
        .ok_or("audit record does not start with `type=`")?;
    let end = after.find(' ').ok_or("audit record ends after its type")?;
    let kind = &after[..end];
    if kind.is_empty()
        || !kind
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err("audit record type is not an upper-case word".into());
    }
    let after = after[end..]
        .trim_start()
        .strip_prefix("msg=audit(")
        .ok_or("audit record has no `msg=audit(` after its type")?;
    let close = after.find(')').ok_or("audit record stamp is not closed")?;
    let stamp = &after[..close];
    let body = after[close + 1..]
        .strip_prefix(':')
        .unwrap_or(&after[close + 1..]);
    let mut fields = Vec::new();
    pairs(body, &mut fields, true)?;
    Ok(AuditRecord {
        kind,
        stamp,
        fields,
    })
}

/// Reads `key=value` pairs: values bare, `"double"` or `'single'` quoted;
/// the group separator `\x1d` counts as a space. A single-quoted `msg`
/// (user-space records) has its own pairs read too, one level deep.
fn pairs<'a>(mut s: &'a str, out: &mut Vec<AuditField<'a>>, outer: bool) -> Result<(), String> {
    loop {
        s = s.trim_start_matches([' ', '\x1d', '\t']);
        if s.is_empty() {
            return Ok(());
        }
        if out.len() >= MAX_FIELDS {
            return Err(format!("audit record has more than {MAX_FIELDS} fields"));
        }
        let Some(eq) = s.find(['=', ' ', '\x1d']) else {
            return Ok(()); // a trailing word without a value
        };
        if s.as_bytes()[eq] != b'=' {
            s = &s[eq..]; // a word without a value (`grantors=?` has one)
            continue;
        }
        let key = &s[..eq];
        let v = &s[eq + 1..];
        let (value, next, quote) = match v.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => match v[1..].find(q as char) {
                Some(end) => (&v[1..1 + end], &v[2 + end..], Some(q)),
                None => {
                    return Err(format!(
                        "audit record: quote of field {} not closed",
                        out.len() + 1
                    ));
                }
            },
            _ => {
                let end = v.find([' ', '\x1d', '\t']).unwrap_or(v.len());
                (&v[..end], &v[end..], None)
            }
        };
        if !key.is_empty() {
            if outer && key == "msg" && quote == Some(b'\'') {
                pairs(value, out, false)?;
            } else {
                out.push(AuditField {
                    key,
                    value,
                    quoted: quote.is_some(),
                });
            }
        }
        s = next;
    }
}

/// See the module documentation.
pub struct Auditd;

/// A raw record in `message`: cheap prefix checks only.
fn text_shape(e: &Event) -> bool {
    e.peek_str("message").is_some_and(|m| {
        let m = m.trim_start();
        (m.starts_with("type=") || m.starts_with("node=")) && m.contains(" msg=audit(")
    })
}

/// A record as a flat JSON object: an upper-case `type` and an
/// `audit(…)` `msg`.
pub(crate) fn json_shape(r: &dyn Keys) -> bool {
    r.key_str("msg").is_some_and(|m| m.starts_with("audit("))
        && r.key_str("type").is_some_and(|t| {
            !t.is_empty() && t.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
}

impl Recognizer for Auditd {
    fn name(&self) -> &'static str {
        "linux.auditd"
    }

    fn claims(&self, event: &Event) -> bool {
        json_shape(event) || text_shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        if !json_shape(e)
            && let Some(line) = e.peek_str("message").map(str::to_owned)
            && let Ok(record) = parse(&line)
        {
            set_native(e, "type", record.kind);
            set_native(e, "msg", &format!("audit({}):", record.stamp));
            for f in &record.fields {
                // An unquoted EXECVE argument is hex: the native field
                // keeps it, the decoded text goes to `process.args`.
                set_native(e, f.key, f.value);
            }
            if record.kind == "EXECVE" {
                let args: Vec<String> = record
                    .fields
                    .iter()
                    .filter(|f| is_arg(f.key))
                    .map(|f| {
                        if f.quoted {
                            f.value.to_owned()
                        } else {
                            decode_hex(f.value)
                        }
                    })
                    .collect();
                set_args(e, args);
            }
        }
        let stamp = native::text(e, "msg")
            .and_then(|m| m.strip_prefix("audit("))
            .and_then(|m| m.split(':').next())
            .map(str::to_owned);
        if let Some(secs) = stamp
            && e.peek("@timestamp").is_none()
            && let Some(ts) = crate::time::parse_str(&secs, jiff::Timestamp::UNIX_EPOCH)
        {
            e.set("@timestamp", Value::String(crate::time::format_rfc3339(ts)));
        }
        map_ecs(e);
        Recognition {
            recognizer: self.name(),
            product: "linux",
            service: Some("auditd"),
            category: None,
            dataset: "auditd.log",
        }
    }
}

/// A native field, unless the name is taken (by an ECS group such as
/// `host` or `process`): then it goes under `auditd.`.
fn set_native(e: &mut Event, key: &str, value: &str) {
    if key.is_empty() || key.contains('.') {
        return;
    }
    if e.0.contains_key(key) {
        let path = format!("auditd.{key}");
        if e.get(&path).is_none() {
            e.set(&path, Value::from(value));
        }
        return;
    }
    e.0.insert(key.to_owned(), Value::from(value));
}

fn map_ecs(e: &mut Event) {
    let kind = native::text(e, "type").unwrap_or_default().to_owned();
    e.set("event.action", Value::from(kind.to_ascii_lowercase()));
    native::copy(e, "exe", "process.executable");
    native::copy(e, "comm", "process.name");
    native::copy(e, "key", "tags");
    for (from, to) in [
        ("pid", "process.pid"),
        ("ppid", "process.parent.pid"),
        ("uid", "user.id"),
    ] {
        if let Some(n) = native::text(e, from).and_then(|s| s.parse::<u64>().ok())
            && e.get(to).is_none()
        {
            e.set(to, Value::from(n));
        }
    }
    for from in ["acct", "AUID", "UID", "id"] {
        if let Some(name) = native::text(e, from).filter(|n| *n != "?" && *n != "unset") {
            let name = name.to_owned();
            native::put(e, "user.name", &name);
        }
    }
    let addr = native::text(e, "addr").map(str::to_owned);
    native::ip(e, "source.ip", addr.as_deref());
    if kind == "EXECVE" {
        if e.peek("process.args").is_none() {
            let argc = native::text(e, "argc")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0);
            let args: Vec<String> = (0..argc.min(MAX_FIELDS))
                .map_while(|i| native::text(e, &format!("a{i}")).map(str::to_owned))
                .collect();
            set_args(e, args);
        }
        native::classify(e, &["process"], &["start"]);
    } else if kind.starts_with("USER_") || kind.starts_with("CRED_") || kind == "LOGIN" {
        let types: &[&str] = if kind.contains("LOGIN") || kind.contains("START") {
            &["start"]
        } else {
            &["info"]
        };
        native::classify(e, &["authentication"], types);
    } else if kind == "SYSCALL" && native::text(e, "SYSCALL").is_some_and(|s| s == "execve") {
        native::classify(e, &["process"], &["start"]);
    }
    let success = native::text(e, "success").or_else(|| native::text(e, "res"));
    match success {
        Some("yes" | "success" | "1") => native::outcome(e, Outcome::Success),
        Some("no" | "failed" | "0") => native::outcome(e, Outcome::Failure),
        _ => {}
    }
    native::kind_event(e);
}

/// `a0`, `a1`, …: an EXECVE argument (not `argc`, not `a0_len`).
fn is_arg(key: &str) -> bool {
    key.len() > 1 && key.starts_with('a') && key[1..].bytes().all(|b| b.is_ascii_digit())
}

fn set_args(e: &mut Event, args: Vec<String>) {
    if !args.is_empty() {
        e.set("process.command_line", Value::from(args.join(" ")));
        e.set("process.args", Value::from(args));
    }
}

/// An unquoted EXECVE argument: auditd writes one with spaces, quotes or
/// control characters as upper-case hex.
fn decode_hex(raw: &str) -> String {
    match hex::decode(raw) {
        Ok(bytes) if !raw.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => raw.to_owned(),
    }
}
