//! What a redaction removed: per event (`Report`) and over many events
//! (`Summary`, for `ward redact` and metrics). Reports hold kinds, field paths,
//! counts and actions, never a value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::Action;
use crate::kind::Kind;

/// Values of one kind redacted in one field with one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// What was found.
    pub kind: Kind,
    /// Dotted path of the field (array indexes omitted; for JSON carried in a
    /// string, the string field's path followed by the inner path).
    pub field: String,
    /// How many values.
    pub count: u32,
    /// What was done to them.
    pub action: Action,
}

/// A secret or personal value found where none belongs (a prompt, a URL, a
/// message), as opposed to a field whose name says it holds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// What leaked.
    pub kind: Kind,
    /// Where.
    pub field: String,
}

/// The outcome of redacting one event or one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Everything removed, aggregated by (kind, field, action).
    pub redactions: Vec<Redaction>,
    /// Every leak, unique by (kind, field).
    pub leaks: Vec<Leak>,
}

impl Report {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.redactions.is_empty() && self.leaks.is_empty()
    }

    /// Total number of values redacted.
    pub fn total(&self) -> u64 {
        self.redactions.iter().map(|r| u64::from(r.count)).sum()
    }

    pub(crate) fn record(&mut self, kind: Kind, field: &str, action: Action) {
        if let Some(r) = self
            .redactions
            .iter_mut()
            .find(|r| r.kind == kind && r.action == action && r.field == field)
        {
            r.count = r.count.saturating_add(1);
        } else {
            self.redactions.push(Redaction {
                kind,
                field: field.to_string(),
                count: 1,
                action,
            });
        }
    }

    pub(crate) fn leak(&mut self, kind: Kind, field: &str) {
        if !self
            .leaks
            .iter()
            .any(|l| l.kind == kind && l.field == field)
        {
            self.leaks.push(Leak {
                kind,
                field: field.to_string(),
            });
        }
    }

    /// Writes `ward.redactions` (and `ward.leak.kinds` / `ward.leak.fields`
    /// when there are leaks) into `event`, appending to what an earlier pass
    /// wrote.
    pub(crate) fn write_into(&self, event: &mut Map<String, Value>) {
        if self.is_empty() {
            return;
        }
        let ward = event
            .entry("ward")
            .or_insert_with(|| Value::Object(Map::new()));
        if !ward.is_object() {
            *ward = Value::Object(Map::new());
        }
        let Value::Object(ward) = ward else { return };
        if !self.redactions.is_empty() {
            let list = ward
                .entry("redactions")
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            if let Value::Array(list) = list {
                for r in &self.redactions {
                    let mut o = Map::with_capacity(4);
                    o.insert("kind".into(), r.kind.name().into());
                    o.insert("field".into(), r.field.clone().into());
                    o.insert("count".into(), r.count.into());
                    o.insert("action".into(), r.action.name().into());
                    list.push(Value::Object(o));
                }
            }
        }
        if !self.leaks.is_empty() {
            let leak = ward
                .entry("leak")
                .or_insert_with(|| Value::Object(Map::new()));
            if !leak.is_object() {
                *leak = Value::Object(Map::new());
            }
            if let Value::Object(leak) = leak {
                let kinds = self.leaks.iter().map(|l| l.kind.name().to_string());
                add_unique(leak, "kinds", kinds);
                add_unique(leak, "fields", self.leaks.iter().map(|l| l.field.clone()));
            }
        }
    }
}

fn add_unique(obj: &mut Map<String, Value>, key: &str, items: impl Iterator<Item = String>) {
    let list = obj.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Value::Array(list) = list {
        for item in items {
            if !list.iter().any(|v| v.as_str() == Some(item.as_str())) {
                list.push(Value::String(item));
            }
        }
    }
}

/// Counts per kind over many reports, for `ward redact` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Values redacted per kind.
    pub redacted: BTreeMap<Kind, u64>,
    /// Leaks per kind.
    pub leaks: BTreeMap<Kind, u64>,
    /// Records seen.
    pub records: u64,
    /// Records with at least one redaction.
    pub records_redacted: u64,
}

impl Summary {
    /// Adds one record's report.
    pub fn add(&mut self, report: &Report) {
        self.records += 1;
        if !report.redactions.is_empty() {
            self.records_redacted += 1;
        }
        for r in &report.redactions {
            *self.redacted.entry(r.kind).or_default() += u64::from(r.count);
        }
        for l in &report.leaks {
            *self.leaks.entry(l.kind).or_default() += 1;
        }
    }
}

impl std::fmt::Display for Summary {
    /// A table: one row per kind, `kind  redacted  leaks`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<20} {:>10} {:>8}", "kind", "redacted", "leaks")?;
        let mut kinds: Vec<Kind> = self
            .redacted
            .keys()
            .chain(self.leaks.keys())
            .copied()
            .collect();
        kinds.sort();
        kinds.dedup();
        for k in kinds {
            let r = self.redacted.get(&k).copied().unwrap_or(0);
            let l = self.leaks.get(&k).copied().unwrap_or(0);
            writeln!(f, "{:<20} {:>10} {:>8}", k.name(), r, l)?;
        }
        write!(
            f,
            "{} records, {} with redactions",
            self.records, self.records_redacted
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_and_writes() {
        let mut r = Report::default();
        r.record(Kind::Email, "message", Action::Hash);
        r.record(Kind::Email, "message", Action::Hash);
        r.leak(Kind::Jwt, "ai.prompt.text");
        r.leak(Kind::Jwt, "ai.prompt.text");
        assert_eq!(r.redactions.len(), 1);
        assert_eq!(r.redactions[0].count, 2);
        assert_eq!(r.leaks.len(), 1);
        let mut ev = Map::new();
        r.write_into(&mut ev);
        assert_eq!(
            Value::Object(ev),
            serde_json::json!({"ward": {"redactions": [{"kind": "email", "field": "message", "count": 2, "action": "hash"}],
                "leak": {"kinds": ["jwt"], "fields": ["ai.prompt.text"]}}})
        );
        let mut s = Summary::default();
        s.add(&r);
        assert!(s.to_string().contains("email"));
    }
}
