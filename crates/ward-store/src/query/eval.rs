//! Evaluating a query against an event body.
//!
//! Field paths are looked up with [`ward_event::Event::get`], so nested
//! objects and keys that contain dots both answer a dotted path. An array
//! matches if any element does. String matching is case-insensitive.

use super::{Bound, Expr, Pattern, Predicate, Scalar};
use serde_json::Value;
use std::cmp::Ordering;
use std::rc::Rc;
use ward_event::Event;

/// A path and its value in one document.
type LookedUp = (Box<str>, Option<Rc<Value>>);

/// One record as the evaluator sees it: the raw body, parsed only as far
/// as the query needs.
pub struct Doc<'a> {
    body: &'a [u8],
    time_ms: i64,
    parsed: std::cell::OnceCell<Option<Event>>,
    /// The body's top-level members, read at the first lookup: each
    /// further field costs no new walk of the body.
    members: std::cell::OnceCell<super::raw::Members<'a>>,
    /// Values already looked up, by path: a record evaluated against many
    /// queries (or a query naming a field twice) reads each field once.
    looked_up: std::cell::RefCell<Vec<LookedUp>>,
    /// Plain strings already looked up, by path.
    plain: std::cell::RefCell<Vec<(Box<str>, Option<&'a str>)>>,
}

impl<'a> Doc<'a> {
    /// A document over a raw JSON body.
    pub fn new(body: &'a [u8], time_ms: i64) -> Doc<'a> {
        Doc {
            body,
            time_ms,
            parsed: std::cell::OnceCell::new(),
            members: std::cell::OnceCell::new(),
            looked_up: std::cell::RefCell::default(),
            plain: std::cell::RefCell::default(),
        }
    }

    /// The raw JSON body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The record's `@timestamp`, ms.
    pub fn time_ms(&self) -> i64 {
        self.time_ms
    }

    /// The value at a dotted path.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.get_shared(path).map(|v| (*v).clone())
    }

    /// The value at a dotted path, looked up once per document.
    fn get_shared(&self, path: &str) -> Option<Rc<Value>> {
        if let Some((_, v)) = self.looked_up.borrow().iter().find(|(p, _)| &**p == path) {
            return v.clone();
        }
        let v = match self.parsed.get() {
            Some(Some(ev)) => ev.get(path).cloned(),
            _ => self.raw(path).and_then(|v| serde_json::from_slice(v).ok()),
        }
        .map(Rc::new);
        self.looked_up.borrow_mut().push((path.into(), v.clone()));
        v
    }

    /// The raw bytes of the value at a path ([`super::raw::find_path`]).
    fn raw(&self, path: &str) -> Option<&'a [u8]> {
        self.members
            .get_or_init(|| super::raw::Members::of(self.body))
            .find(path)
    }

    /// The value at a path if it is a string without escapes, borrowed
    /// from the body (the aggregation fast path).
    /// Looked up once per document: a query naming a field many times
    /// (hundreds of wildcards on `message`) checks its text once.
    pub fn get_plain_str(&self, path: &str) -> Option<&'a str> {
        if let Some((_, v)) = self.plain.borrow().iter().find(|(p, _)| &**p == path) {
            return *v;
        }
        let v = self.raw(path).and_then(|raw| {
            let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
            if inner.contains(&b'\\') {
                return None;
            }
            std::str::from_utf8(inner).ok()
        });
        self.plain.borrow_mut().push((path.into(), v));
        v
    }

    /// The whole event, parsed once; `None` if the body is not a JSON object.
    pub fn event(&self) -> Option<&Event> {
        self.parsed
            .get_or_init(|| serde_json::from_slice(self.body).ok())
            .as_ref()
    }
}

impl Expr {
    /// Whether the document matches.
    pub fn matches(&self, doc: &Doc<'_>) -> bool {
        match self {
            Expr::All => true,
            Expr::And(xs) => xs.iter().all(|x| x.matches(doc)),
            Expr::Or(xs) => xs.iter().any(|x| x.matches(doc)),
            Expr::Not(x) => !x.matches(doc),
            Expr::Field { field, pred } => {
                if field == "@timestamp"
                    && let Predicate::Range { lo, hi } = pred
                {
                    return in_range(&Value::from(doc.time_ms), lo, hi, true);
                }
                // A plain string (the common case, and a tenant's scope on
                // every record) is matched in the body's bytes: no JSON
                // value is built or kept.
                if let Predicate::Match(p) = pred
                    && field != "@timestamp"
                    && let Some(s) = doc.get_plain_str(field)
                {
                    return pattern_matches(p, s);
                }
                match doc.get_shared(field).as_deref() {
                    None | Some(Value::Null) => false,
                    Some(v) => pred_matches(pred, v, field == "@timestamp"),
                }
            }
            Expr::Text(p) => doc.event().is_some_and(|ev| {
                ev.0.values()
                    .any(|v| any_string(v, &|s| text_matches(p, s)))
            }),
        }
    }
}

fn any_string(v: &Value, f: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => f(s),
        Value::Number(n) => f(&n.to_string()),
        Value::Array(a) => a.iter().any(|x| any_string(x, f)),
        Value::Object(m) => m.values().any(|x| any_string(x, f)),
        _ => false,
    }
}

fn each_leaf(v: &Value, f: &mut dyn FnMut(&Value) -> bool) -> bool {
    match v {
        Value::Array(a) => a.iter().any(|x| each_leaf(x, f)),
        other => f(other),
    }
}

fn pred_matches(pred: &Predicate, v: &Value, is_time: bool) -> bool {
    match pred {
        Predicate::Exists => true,
        Predicate::Match(p) => each_leaf(v, &mut |x| match x {
            Value::String(s) => pattern_matches(p, s),
            Value::Number(n) => match p {
                Pattern::Exact(e) => {
                    e.parse::<f64>().ok() == n.as_f64() || pattern_matches(p, &n.to_string())
                }
                _ => pattern_matches(p, &n.to_string()),
            },
            Value::Bool(b) => pattern_matches(p, if *b { "true" } else { "false" }),
            _ => false,
        }),
        Predicate::Range { lo, hi } => each_leaf(v, &mut |x| in_range(x, lo, hi, is_time)),
        Predicate::Cidr(net) => each_leaf(v, &mut |x| {
            x.as_str()
                .and_then(|s| s.parse::<std::net::IpAddr>().ok())
                .is_some_and(|ip| net.contains(&ip))
        }),
    }
}

fn compare(v: &Value, b: &Scalar, is_time: bool) -> Option<Ordering> {
    match (b, v) {
        (Scalar::Number(n), Value::Number(x)) => x.as_f64()?.partial_cmp(n),
        (Scalar::Number(n), Value::String(s)) => s.parse::<f64>().ok()?.partial_cmp(n),
        (Scalar::Time(t), Value::String(s)) => Some(super::parse::parse_time(s)?.cmp(t)),
        (Scalar::Time(t), Value::Number(x)) if is_time => Some(x.as_i64()?.cmp(t)),
        (Scalar::Ip(ip), Value::String(s)) => Some(s.parse::<std::net::IpAddr>().ok()?.cmp(ip)),
        (Scalar::Text(t), Value::String(s)) => Some(s.to_lowercase().cmp(&t.to_lowercase())),
        _ => None,
    }
}

fn in_range(v: &Value, lo: &Option<Bound>, hi: &Option<Bound>, is_time: bool) -> bool {
    let ok_lo = match lo {
        None => true,
        Some(b) => match compare(v, &b.value, is_time) {
            Some(Ordering::Greater) => true,
            Some(Ordering::Equal) => b.inclusive,
            _ => false,
        },
    };
    let ok_hi = match hi {
        None => true,
        Some(b) => match compare(v, &b.value, is_time) {
            Some(Ordering::Less) => true,
            Some(Ordering::Equal) => b.inclusive,
            _ => false,
        },
    };
    // A value that cannot be compared with any bound never matches.
    ok_lo && ok_hi && (lo.is_some() || hi.is_some() || !v.is_null())
}

fn eq_ci(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn pattern_matches(p: &Pattern, s: &str) -> bool {
    match p {
        Pattern::Exact(e) => eq_ci(s, e),
        Pattern::Phrase(ph) => contains_ci(s, ph),
        Pattern::Wildcard(w) => w.is_match(s),
    }
}

fn text_matches(p: &Pattern, s: &str) -> bool {
    match p {
        Pattern::Exact(e) | Pattern::Phrase(e) => contains_ci(s, e),
        Pattern::Wildcard(w) => w.is_match(s),
    }
}

/// The aggregation keys of a field value: strings as they are, numbers and
/// booleans as text, each element of an array.
pub fn value_keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(a) => {
            for x in a {
                value_keys(x, out);
            }
        }
        _ => {}
    }
}
