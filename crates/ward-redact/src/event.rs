//! Walks an event and applies the detectors to every field, at any depth.
//!
//! Invariants: the structure of the event is preserved (a field is only ever
//! replaced by a string marker or removed when its action is `drop`); nothing
//! under `ward.redactions` / `ward.leak` is touched; values that are already
//! markers are left alone, so a second pass changes nothing.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Redactor;
use crate::action::{is_marker, render};
use crate::config::Action;
use crate::field::FieldRule;
use crate::kind::{Category, Kind};
use crate::report::Report;
use crate::scan::ScanCtx;

/// Deeper subtrees are not inspected; they are replaced wholesale.
const MAX_DEPTH: usize = 100;

enum Entry {
    Stay,
    Drop,
    RawBody,
}

/// What to do with one string value.
pub(crate) enum Outcome {
    Unchanged,
    Replace(String),
    Drop,
}

pub(crate) struct Walk<'a> {
    pub r: &'a Redactor,
    pub key: &'a [u8],
    pub report: Report,
    pub path: String,
    /// The `mime_type` of the nearest enclosing raw-body owner object.
    pub mime: Option<String>,
}

impl Walk<'_> {
    pub fn map(
        &mut self,
        map: &mut Map<String, Value>,
        parent: Option<&str>,
        inherited: Option<FieldRule>,
        forced: Option<Action>,
        depth: usize,
    ) {
        let owner = self.r.mime_owners.contains(&self.path);
        let saved = if owner {
            let mime = map
                .get("mime_type")
                .and_then(Value::as_str)
                .map(str::to_string);
            std::mem::replace(&mut self.mime, mime)
        } else {
            None
        };
        let mut pending: Vec<(String, String, bool)> = Vec::new();
        for (k, v) in map.iter_mut() {
            let mark = self.path.len();
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(k);
            match self.entry(k, v, parent, inherited, forced, depth) {
                Entry::Stay => {}
                Entry::Drop => pending.push((k.clone(), self.path.clone(), false)),
                Entry::RawBody => pending.push((k.clone(), self.path.clone(), true)),
            }
            self.path.truncate(mark);
        }
        for (k, path, raw) in pending {
            if raw {
                self.raw_body(map, &k, &path);
            } else {
                map.remove(&k);
            }
        }
        if owner {
            self.mime = saved;
        }
    }

    fn entry(
        &mut self,
        k: &str,
        v: &mut Value,
        parent: Option<&str>,
        inherited: Option<FieldRule>,
        forced: Option<Action>,
        depth: usize,
    ) -> Entry {
        if self.path == "ward.redactions" || self.path == "ward.leak" {
            return Entry::Stay;
        }
        let forced = self.r.field_action(&self.path).or(forced);
        if forced == Some(Action::Keep) {
            return Entry::Stay;
        }
        if self.r.raw_body.contains(&self.path)
            && self.r.action(Kind::RawBody, forced) != Action::Keep
        {
            return Entry::RawBody;
        }
        let rule = inherited.or_else(|| self.r.names.classify(k, parent));
        if self.value(v, Some(k), rule, forced, depth) {
            Entry::Drop
        } else {
            Entry::Stay
        }
    }

    /// Redacts one value in place; returns true when the containing field
    /// must be dropped.
    fn value(
        &mut self,
        value: &mut Value,
        key: Option<&str>,
        rule: Option<FieldRule>,
        forced: Option<Action>,
        depth: usize,
    ) -> bool {
        if depth > MAX_DEPTH {
            if value.as_str().is_some_and(is_marker) {
                return false;
            }
            self.report.record(Kind::RawBody, &self.path, Action::Mask);
            *value = Value::String(crate::action::mask(Kind::RawBody));
            return false;
        }
        match value {
            Value::String(s) => match self.string(s, rule, forced, depth) {
                Outcome::Unchanged => false,
                Outcome::Replace(new) => {
                    *s = new;
                    false
                }
                Outcome::Drop => true,
            },
            Value::Number(n) => {
                let whole = match rule {
                    Some(FieldRule::Whole(kind)) => Some(kind),
                    _ => None,
                };
                // Only integers of 12+ digits can be cards; formatting every
                // number would cost an allocation per numeric field.
                let long = n.as_u64().is_some_and(|v| v >= 100_000_000_000);
                if whole.is_none() && !long {
                    return false;
                }
                let text = n.to_string();
                let kind = whole.or_else(|| {
                    let hits = if long {
                        self.r
                            .scanner
                            .scan(&text, &self.r.names, ScanCtx::default())
                    } else {
                        Vec::new()
                    };
                    hits.first()
                        .filter(|h| h.start == 0 && h.end == text.len())
                        .and_then(|h| h.kind)
                });
                let Some(kind) = kind else { return false };
                match self.whole(kind, &text, forced, whole.is_none()) {
                    Outcome::Unchanged => false,
                    Outcome::Replace(new) => {
                        *value = Value::String(new);
                        false
                    }
                    Outcome::Drop => true,
                }
            }
            Value::Object(inner) => {
                let inherit = match rule {
                    Some(FieldRule::Whole(_) | FieldRule::Icd10) => rule,
                    _ => None,
                };
                self.map(inner, key, inherit, forced, depth + 1);
                false
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if self.value(item, key, rule, forced, depth + 1) {
                        let kind = match rule {
                            Some(FieldRule::Whole(k) | FieldRule::Weak(k)) => k,
                            _ => Kind::Secret,
                        };
                        *item = Value::String(crate::action::mask(kind));
                    }
                }
                false
            }
            Value::Bool(_) | Value::Null => false,
        }
    }

    fn string(
        &mut self,
        s: &str,
        rule: Option<FieldRule>,
        forced: Option<Action>,
        depth: usize,
    ) -> Outcome {
        if s.is_empty() || is_marker(s) || self.r.allowed(s) {
            return Outcome::Unchanged;
        }
        match rule {
            Some(FieldRule::Whole(kind)) => return self.whole(kind, s, forced, false),
            Some(FieldRule::Weak(kind)) if crate::scan::looks_random(s.as_bytes()) => {
                return self.whole(kind, s, forced, false);
            }
            _ => {}
        }
        if self.r.cfg.json_in_strings
            && s.len() <= self.r.cfg.max_json_in_string_bytes
            && looks_like_json(s)
            && let Ok(mut inner) = serde_json::from_str::<Value>(s)
            && (inner.is_object() || inner.is_array())
        {
            let before = self.report.total();
            let dropped = self.value(&mut inner, None, None, forced, depth + 1);
            if dropped {
                return Outcome::Drop;
            }
            if self.report.total() == before {
                return Outcome::Unchanged;
            }
            return match serde_json::to_string(&inner) {
                Ok(out) => Outcome::Replace(out),
                Err(_) => Outcome::Replace(crate::action::mask(Kind::Secret)),
            };
        }
        let ctx = ScanCtx {
            icd10_field: rule == Some(FieldRule::Icd10),
        };
        let (out, drop) =
            self.r
                .redact_str(s, self.key, &self.path, forced, ctx, &mut self.report, true);
        if drop {
            Outcome::Drop
        } else {
            out.map_or(Outcome::Unchanged, Outcome::Replace)
        }
    }

    /// The whole value is of `kind` (by field name, or a number that is a card).
    fn whole(&mut self, kind: Kind, s: &str, forced: Option<Action>, by_value: bool) -> Outcome {
        let action = self.r.action(kind, forced);
        if action == Action::Keep {
            return Outcome::Unchanged;
        }
        self.report.record(kind, &self.path, action);
        if by_value {
            self.r.check_leak(kind, &self.path, &mut self.report);
        }
        if action == Action::Drop {
            return Outcome::Drop;
        }
        Outcome::Replace(render(kind, action, s, self.key))
    }

    /// Replaces a raw body by its length, SHA-256 and content type.
    fn raw_body(&mut self, map: &mut Map<String, Value>, k: &str, path: &str) {
        let Some(v) = map.remove(k) else { return };
        let text = match v {
            Value::String(s) => s,
            Value::Null => return,
            other => other.to_string(),
        };
        let prefix = k
            .rsplit_once('.')
            .map(|(p, _)| format!("{p}."))
            .unwrap_or_default();
        let bytes_key = format!("{prefix}bytes");
        if !map.contains_key(&bytes_key) {
            map.insert(bytes_key, text.len().into());
        }
        map.insert(
            format!("{prefix}sha256"),
            hex::encode(Sha256::digest(text.as_bytes())).into(),
        );
        if let Some(mime) = &self.mime {
            map.insert(format!("{prefix}content_type"), mime.clone().into());
        }
        self.report.record(Kind::RawBody, path, Action::Drop);
    }
}

fn looks_like_json(s: &str) -> bool {
    let t = s.trim();
    (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'))
}

/// Whether `kind` found by value in `field` is a leak.
pub(crate) fn is_leak(kind: Kind, leak_field: bool) -> bool {
    leak_field
        || matches!(
            kind.category(),
            Category::Credential | Category::Financial | Category::Health
        )
        || kind == Kind::Ssn
}
