//! Ward's redaction engine: finds secrets and personal data in events and
//! text, and removes or pseudonymises them before anything is stored.
//!
//! Pure code, no I/O. The application calls [`Redactor::redact_event`]
//! between normalize and store, and [`Redactor::redact_text`] on any plain
//! text that may carry event data (dead letters, its own log lines).
//!
//! Detection runs two ways:
//! - **by field name**: `password`,
//!   `X-Api-Key`, `sessionToken`, `card_number`... at any depth, including
//!   inside JSON carried in a string;
//! - **by value**, in every string: credentials with a literal anchor (JWT,
//!   `Bearer`, PEM keys, AWS, GitHub, Slack, Stripe, OpenAI...), `name=value`
//!   assignments with a secret-like name, and validated numbers (Luhn cards
//!   in real issuer ranges, SSNs, IBANs, NPI, DEA, phone numbers, e-mail).
//!
//! A private key split one line per event is followed across the events
//! of a stream by a [`BlockTracker`], which the inputs keep per stream.
//!
//! Invariants: no error or report ever contains a value; a redacted event
//! keeps its structure (values become string markers, fields are removed only
//! for the `drop` action); redacting twice equals redacting once.
//!
//! ```
//! use ward_redact::{RedactConfig, Redactor};
//! let r = Redactor::new(&RedactConfig::default()).unwrap();
//! let (out, report) = r.redact_text("login ok password=hunter2 for bob@example.com", b"tenant-key");
//! assert!(out.starts_with("login ok password=[REDACTED:password] for [HASH:email:"));
//! assert_eq!(report.redactions.len(), 2);
//! ```

mod action;
mod block;
mod checks;
pub mod config;
mod error;
mod event;
mod field;
mod kind;
mod report;
mod scan;

use std::collections::{HashMap, HashSet};

/// The JSON types of the API, re-exported so callers use the same version.
pub use serde_json;

use serde_json::{Map, Value};

pub use action::is_marker;
pub use block::{BlockLimits, BlockTracker, KEY_MARKER};
pub use config::{Action, ConfigProblem, RedactConfig};
pub use error::RedactError;
pub use kind::{Category, Kind};
pub use report::{Leak, Redaction, Report, Summary};

use field::FieldNames;
use scan::{ScanCtx, Scanner};

/// Raw-body fields dropped by default.
const RAW_BODY_FIELDS: &[&str] = &["http.request.body.content", "http.response.body.content"];
/// Fields where any finding is a leak (data sent to or produced by a model).
const LEAK_FIELDS: &[&str] = &["ai.prompt.text", "ai.completion.text", "ai.response.text"];
/// Most scan passes over one string (see [`Redactor::redact_str`]).
const MAX_PASSES: usize = 4;
/// Field path recorded for [`Redactor::redact_text`].
pub const TEXT_FIELD: &str = "text";

/// A compiled redaction configuration. Cheap to share between threads.
#[derive(Debug)]
pub struct Redactor {
    cfg: RedactConfig,
    names: FieldNames,
    scanner: Scanner,
    actions: Vec<Action>,
    field_exact: HashMap<String, Action>,
    field_prefix: Vec<(String, Action)>,
    raw_body: Vec<String>,
    /// Objects whose `mime_type` describes a raw body below them
    /// (`http.request` for `http.request.body.content`).
    mime_owners: Vec<String>,
    leak_fields: Vec<String>,
    allow: HashSet<String>,
}

impl Redactor {
    /// Validates `cfg` and compiles the detectors.
    pub fn new(cfg: &RedactConfig) -> Result<Redactor, RedactError> {
        cfg.validate().map_err(RedactError::InvalidConfig)?;
        let names =
            FieldNames::new(&cfg.extra_secret_fields).map_err(|source| RedactError::Build {
                what: "field name",
                source,
            })?;
        let scanner = Scanner::new().map_err(|source| RedactError::Build {
            what: "anchor",
            source,
        })?;
        let actions = Kind::ALL
            .iter()
            .map(|k| {
                cfg.actions
                    .get(k.name())
                    .copied()
                    .unwrap_or_else(|| k.default_action())
            })
            .collect();
        let mut field_exact = HashMap::new();
        let mut field_prefix = Vec::new();
        for (path, action) in &cfg.fields {
            match path.strip_suffix(".*") {
                Some(prefix) => field_prefix.push((format!("{prefix}."), *action)),
                None => {
                    field_exact.insert(path.clone(), *action);
                }
            }
        }
        // Longest prefix first, so the most specific setting wins.
        field_prefix.sort_by_key(|(p, _): &(String, Action)| std::cmp::Reverse(p.len()));
        let raw_body: Vec<String> = RAW_BODY_FIELDS
            .iter()
            .map(|s| s.to_string())
            .chain(cfg.extra_raw_body_fields.iter().cloned())
            .collect();
        let leak_fields = LEAK_FIELDS
            .iter()
            .map(|s| s.to_string())
            .chain(cfg.extra_leak_fields.iter().cloned())
            .collect();
        let mime_owners = raw_body
            .iter()
            .filter_map(|p: &String| Some(p.rsplit_once('.')?.0.rsplit_once('.')?.0.to_string()))
            .collect();
        Ok(Redactor {
            mime_owners,
            cfg: cfg.clone(),
            names,
            scanner,
            actions,
            field_exact,
            field_prefix,
            raw_body,
            leak_fields,
            allow: cfg.allow_values.iter().cloned().collect(),
        })
    }

    /// Redacts `event` in place and records what was removed in
    /// `ward.redactions` (and leaks in `ward.leak.kinds` / `ward.leak.fields`).
    /// `tenant_key` keys the hashes; pass a secret per-tenant key.
    pub fn redact_event(&self, event: &mut Map<String, Value>, tenant_key: &[u8]) -> Report {
        let mut walk = event::Walk {
            r: self,
            key: tenant_key,
            report: Report::default(),
            path: String::with_capacity(128),
            mime: None,
        };
        walk.map(event, None, None, None, 0);
        let report = walk.report;
        report.write_into(event);
        report
    }

    /// Redacts plain text (a log line, an error message, a dead letter).
    /// The `drop` action masks here, as there is no field to remove.
    pub fn redact_text(&self, text: &str, tenant_key: &[u8]) -> (String, Report) {
        let mut report = Report::default();
        let forced = self.field_action(TEXT_FIELD);
        let (out, _) = self.redact_str(
            text,
            tenant_key,
            TEXT_FIELD,
            forced,
            ScanCtx::default(),
            &mut report,
            false,
        );
        (out.unwrap_or_else(|| text.to_string()), report)
    }

    /// The action for `kind`, unless a field setting forces one.
    fn action(&self, kind: Kind, forced: Option<Action>) -> Action {
        let action = forced.unwrap_or_else(|| {
            self.actions
                .get(kind as usize)
                .copied()
                .unwrap_or(Action::Mask)
        });
        if action == Action::Partial && !kind.supports_partial() {
            Action::Mask
        } else {
            action
        }
    }

    fn field_action(&self, path: &str) -> Option<Action> {
        if self.field_exact.is_empty() && self.field_prefix.is_empty() {
            return None;
        }
        self.field_exact.get(path).copied().or_else(|| {
            self.field_prefix
                .iter()
                .find(|(p, _)| path.starts_with(p.as_str()))
                .map(|(_, a)| *a)
        })
    }

    fn allowed(&self, value: &str) -> bool {
        !self.allow.is_empty() && self.allow.contains(value)
    }

    fn check_leak(&self, kind: Kind, path: &str, report: &mut Report) {
        let leak_field = self.leak_fields.iter().any(|f| f == path);
        if event::is_leak(kind, leak_field) {
            report.leak(kind, path);
        }
    }

    /// Scans `s` and builds its redacted form. Returns `(None, false)` when
    /// nothing changed and `(_, true)` when a finding's action drops the field.
    #[allow(clippy::too_many_arguments)]
    fn redact_str(
        &self,
        s: &str,
        key: &[u8],
        path: &str,
        forced: Option<Action>,
        ctx: ScanCtx,
        report: &mut Report,
        can_drop: bool,
    ) -> (Option<String>, bool) {
        // A replacement can expose a value its neighbour hid (a card number
        // glued to an e-mail address stands alone once the address is a
        // marker), so passes repeat until nothing changes: the result is a
        // fixed point, which is what makes redaction idempotent.
        let mut current: Option<String> = None;
        for _ in 0..MAX_PASSES {
            let text = current.as_deref().unwrap_or(s);
            match self.redact_pass(text, key, path, forced, ctx, report, can_drop) {
                (_, true) => return (None, true),
                (None, false) => break,
                (Some(next), false) => current = Some(next),
            }
        }
        (current, false)
    }

    /// One scan-and-replace pass of [`Redactor::redact_str`].
    #[allow(clippy::too_many_arguments)]
    fn redact_pass(
        &self,
        s: &str,
        key: &[u8],
        path: &str,
        forced: Option<Action>,
        ctx: ScanCtx,
        report: &mut Report,
        can_drop: bool,
    ) -> (Option<String>, bool) {
        let hits = self.scanner.scan(s, &self.names, ctx);
        let mut out = String::new();
        let mut last = 0;
        let mut changed = false;
        for h in hits {
            let Some(kind) = h.kind else { continue };
            let value = &s[h.start..h.end];
            if self.allowed(value) {
                continue;
            }
            let action = self.action(kind, forced);
            if action == Action::Keep {
                continue;
            }
            report.record(kind, path, action);
            self.check_leak(kind, path, report);
            if action == Action::Drop && can_drop {
                return (None, true);
            }
            if !changed {
                out.reserve(s.len());
                changed = true;
            }
            out.push_str(&s[last..h.start]);
            out.push_str(&action::render(kind, action, value, key));
            last = h.end;
        }
        if !changed {
            return (None, false);
        }
        out.push_str(&s[last..]);
        (Some(out), false)
    }
}
