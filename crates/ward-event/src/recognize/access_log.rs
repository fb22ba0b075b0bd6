//! Web server access logs in the NCSA combined format that nginx and
//! Apache httpd write by default
//! (`203.0.113.9 - bob [10/Oct/2024:13:55:36 -0700] "GET /a?b=c HTTP/1.1" 200 2326 "ref" "agent"`,
//! and the common format without the last two fields), as lines through
//! syslog or a text input.
//!
//! Sigma log source: `category: webserver`, `product` `nginx` or `apache`
//! when the syslog program says which (`webserver` otherwise). The parts go
//! to ECS (`source.ip`, `http.request.method`, `url.original`,
//! `url.query`, `http.response.status_code`, `user_agent.original`, …),
//! which the built-in pipeline maps Sigma's W3C names (`cs-method`,
//! `c-uri`, `cs-uri-query`, `sc-status`, `cs-user-agent`) to.
//!
//! [`parse`] is bounded ([`MAX_LINE`]), allocation-free and fuzzed
//! (`fuzz/fuzz_targets/recognize_access_log.rs`).

use serde_json::Value;

use super::native;
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// The longest line accepted, in bytes.
pub const MAX_LINE: usize = 32 * 1024;

/// The parts of one access-log line, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLine<'a> {
    /// The client address.
    pub client: &'a str,
    /// The authenticated user (`-` when none).
    pub user: &'a str,
    /// The time between the brackets.
    pub time: &'a str,
    /// The method of the request line.
    pub method: &'a str,
    /// The target of the request line (path and query).
    pub target: &'a str,
    /// The protocol of the request line, e.g. `HTTP/1.1`.
    pub protocol: Option<&'a str>,
    /// The status code.
    pub status: u16,
    /// The response size (`-` gives `None`).
    pub bytes: Option<u64>,
    /// The referrer (combined format only).
    pub referrer: Option<&'a str>,
    /// The user agent (combined format only).
    pub user_agent: Option<&'a str>,
}

/// Parses one line in the combined or common format; `None` when it is
/// not one.
///
/// ```
/// use ward_event::recognize::access_log::parse;
/// let l = parse(r#"192.0.2.1 - - [10/Oct/2024:13:55:36 +0000] "GET /a?q=1 HTTP/1.1" 404 12 "-" "curl/8""#).unwrap();
/// assert_eq!((l.method, l.target, l.status), ("GET", "/a?q=1", 404));
/// ```
pub fn parse(line: &str) -> Option<AccessLine<'_>> {
    if line.len() > MAX_LINE {
        return None;
    }
    let (client, rest) = line.trim().split_once(' ')?;
    let (_ident, rest) = rest.split_once(' ')?;
    let (user, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix('[')?;
    let (time, rest) = rest.split_once("] ")?;
    let (request, rest) = quoted(rest)?;
    let mut words = request.split(' ');
    let method = words
        .next()
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()))?;
    let target = words.next()?;
    let protocol = words.next();
    let rest = rest.trim_start();
    let (status, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let status: u16 = status.parse().ok().filter(|s| (100..600).contains(s))?;
    let rest = rest.trim_start();
    let (size, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let bytes = if size == "-" {
        None
    } else {
        Some(size.parse().ok()?)
    };
    let (referrer, user_agent) = match quoted(rest.trim_start()) {
        Some((referrer, rest)) => (Some(referrer), quoted(rest.trim_start()).map(|(ua, _)| ua)),
        None => (None, None),
    };
    if client.is_empty() || time.is_empty() {
        return None;
    }
    Some(AccessLine {
        client,
        user,
        time,
        method,
        target,
        protocol,
        status,
        bytes,
        referrer,
        user_agent,
    })
}

/// A `"…"` string (with `\"` escapes as nginx writes them) and the rest.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('"')?;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some((&body[..i], &body[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// See the module documentation.
pub struct AccessLog;

fn line_of(e: &Event) -> Option<&str> {
    let m = e.peek_str("message")?;
    // Cheap refusals first: the line has a bracketed time and a quoted
    // request.
    (m.contains(" [") && m.contains("] \"")).then_some(m)
}

impl Recognizer for AccessLog {
    fn name(&self) -> &'static str {
        "webserver.access"
    }

    fn claims(&self, event: &Event) -> bool {
        line_of(event).and_then(parse).is_some()
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        let product = match e.peek_str("process.name") {
            Some("nginx") => "nginx",
            Some("httpd" | "apache" | "apache2") => "apache",
            _ => "webserver",
        };
        let Some(line) = line_of(e).map(str::to_owned) else {
            return recognition(self.name(), product);
        };
        if let Some(l) = parse(&line) {
            native::ip(e, "source.ip", Some(l.client));
            if l.user != "-" {
                native::put(e, "user.name", l.user);
            }
            if e.peek("@timestamp").is_none()
                && let Some(ts) = crate::time::parse_str(l.time, jiff::Timestamp::UNIX_EPOCH)
            {
                e.set("@timestamp", Value::String(crate::time::format_rfc3339(ts)));
            }
            e.set("http.request.method", Value::from(l.method));
            e.set("url.original", Value::from(l.target));
            let (path, query) = l.target.split_once('?').unwrap_or((l.target, ""));
            e.set("url.path", Value::from(path));
            if !query.is_empty() {
                e.set("url.query", Value::from(query));
            }
            if let Some(v) = l.protocol.and_then(|p| p.strip_prefix("HTTP/")) {
                e.set("http.version", Value::from(v));
            }
            e.set("http.response.status_code", Value::from(l.status));
            if let Some(b) = l.bytes {
                e.set("http.response.body.bytes", Value::from(b));
            }
            if let Some(r) = l.referrer.filter(|r| *r != "-") {
                e.set("http.request.referrer", Value::from(r));
            }
            if let Some(ua) = l.user_agent.filter(|u| *u != "-") {
                e.set("user_agent.original", Value::from(ua));
            }
            e.set("event.action", Value::from("http_request"));
            native::outcome(
                e,
                if l.status < 400 {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            );
            native::classify(e, &["web"], &["access"]);
            native::kind_event(e);
        }
        recognition(self.name(), product)
    }
}

fn recognition(recognizer: &'static str, product: &'static str) -> Recognition {
    Recognition {
        recognizer,
        product,
        service: None,
        category: Some("webserver"),
        dataset: match product {
            "nginx" => "nginx.access",
            "apache" => "apache.access",
            _ => "webserver.access",
        },
    }
}
