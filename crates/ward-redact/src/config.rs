//! Configuration of the redaction stage (`[redact]` in Ward's TOML file):
//! the raw serde struct, its defaults, and `validate()`, which reports every
//! problem at once with the key and the fix.
//!
//! Every default is the safe choice: all detectors on, secrets masked,
//! correlation identifiers keyed-hashed, cards reduced to their last four
//! digits, raw bodies dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kind::Kind;

/// What happens to a value a detector found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace with `[REDACTED:kind]`.
    Mask,
    /// Replace with `[HASH:kind:<16 hex>]`, an HMAC-SHA256 under the tenant's
    /// key, so equal values correlate across events without being stored.
    Hash,
    /// Keep a suffix that is not sensitive on its own: `[CARD:…4242]`,
    /// `[IBAN:…5432]`. Only for `card` and `iban`.
    Partial,
    /// Remove the whole field from the event (in plain text: mask).
    Drop,
    /// Leave the value as it is and record nothing. Use sparingly.
    Keep,
}

impl Action {
    /// The snake_case name written in `ward.redactions`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Mask => "mask",
            Action::Hash => "hash",
            Action::Partial => "partial",
            Action::Drop => "drop",
            Action::Keep => "keep",
        }
    }
}

/// Settings of the redaction stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactConfig {
    /// Action per detector kind, overriding the kind's default, e.g.
    /// `email = "mask"` or `phone = "keep"`. Keys are kind names
    /// (`password`, `card`, `email`, `jwt`, `github_token`, ...).
    pub actions: BTreeMap<String, Action>,
    /// Action per field path, overriding everything else for any finding in
    /// that field, e.g. `"user.email" = "keep"` or `"url.query" = "drop"`.
    /// A path ending in `.*` covers every field below it.
    pub fields: BTreeMap<String, Action>,
    /// Extra field names whose values are always secrets (matched like the
    /// built-in names: case- and separator-insensitive, at any depth).
    pub extra_secret_fields: Vec<String>,
    /// Extra raw-body fields (full dotted paths) to drop and replace with
    /// length and SHA-256, in addition to `http.request.body.content` and
    /// `http.response.body.content`.
    pub extra_raw_body_fields: Vec<String>,
    /// Exact values never redacted (documentation examples, test card
    /// numbers you deliberately log). At least 4 characters each.
    pub allow_values: Vec<String>,
    /// Fields where any finding, not only a credential, is a leak (data
    /// sent to an AI model). Added to `ai.prompt.text`, `ai.completion.text`.
    pub extra_leak_fields: Vec<String>,
    /// Parse strings that hold JSON and redact them structurally.
    pub json_in_strings: bool,
    /// Largest string parsed as JSON, in bytes; larger ones are scanned as text.
    pub max_json_in_string_bytes: usize,
}

impl Default for RedactConfig {
    fn default() -> Self {
        RedactConfig {
            actions: BTreeMap::new(),
            fields: BTreeMap::new(),
            extra_secret_fields: Vec::new(),
            extra_raw_body_fields: Vec::new(),
            allow_values: Vec::new(),
            extra_leak_fields: Vec::new(),
            json_in_strings: true,
            max_json_in_string_bytes: 1 << 20,
        }
    }
}

/// One problem in the configuration: the key, the value given, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The offending key relative to the `[redact]` section, e.g.
    /// `actions.emial` (the application prefixes `redact.`).
    pub key: String,
    /// The value given, as written; allow-listed values are not echoed (they
    /// may be real data), only their length.
    pub value: String,
    /// What is wrong and what to do.
    pub fix: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redact.{} = {}: {}", self.key, self.value, self.fix)
    }
}

fn valid_path(p: &str) -> bool {
    let p = p.strip_suffix(".*").unwrap_or(p);
    !p.is_empty() && p.split('.').all(|seg| !seg.is_empty())
}

impl RedactConfig {
    /// Checks every setting and returns every problem found.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem = |key: String, value: String, fix: String| {
            problems.push(ConfigProblem { key, value, fix })
        };
        let kinds = || {
            Kind::ALL
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (name, action) in &self.actions {
            let key = format!("actions.{name}");
            let value = format!("\"{}\"", action.name());
            match Kind::from_name(name) {
                None => problem(
                    key,
                    value,
                    format!("unknown detector kind; use one of: {}", kinds()),
                ),
                Some(kind) if *action == Action::Partial && !kind.supports_partial() => problem(
                    key,
                    value,
                    "`partial` only applies to `card` and `iban`; use `mask` or `hash`".into(),
                ),
                Some(Kind::RawBody) if !matches!(action, Action::Drop | Action::Keep) => problem(
                    key,
                    value,
                    "raw bodies can only be dropped (replaced by metadata) or kept; use `drop`"
                        .into(),
                ),
                Some(_) => {}
            }
        }
        for (path, action) in &self.fields {
            let key = format!("fields.\"{path}\"");
            let value = format!("\"{}\"", action.name());
            if !valid_path(path) {
                problem(key, value, "not a field path; write dotted ECS names such as `user.email` or `http.request.*`".into());
            } else if *action == Action::Partial {
                problem(
                    key,
                    value,
                    "`partial` depends on the kind, not the field; set it under `redact.actions`"
                        .into(),
                );
            }
        }
        for (i, name) in self.extra_secret_fields.iter().enumerate() {
            if crate::field::normalize(name).is_empty() {
                problem(
                    format!("extra_secret_fields[{i}]"),
                    format!("{name:?}"),
                    "empty field name; remove it or write a name such as `x_signing_key`".into(),
                );
            }
        }
        for (list, key) in [
            (&self.extra_raw_body_fields, "extra_raw_body_fields"),
            (&self.extra_leak_fields, "extra_leak_fields"),
        ] {
            for (i, path) in list.iter().enumerate() {
                if !valid_path(path) || path.ends_with(".*") {
                    problem(format!("{key}[{i}]"), format!("{path:?}"), "not a field path; write a full dotted ECS name such as `http.request.body.content`".into());
                }
            }
        }
        for (i, v) in self.allow_values.iter().enumerate() {
            if v.chars().count() < 4 {
                problem(
                    format!("allow_values[{i}]"),
                    format!("({} characters, not shown)", v.chars().count()),
                    "allow-listed values must be at least 4 characters, or they would let real data through; remove it".into(),
                );
            }
        }
        if self.max_json_in_string_bytes == 0 || self.max_json_in_string_bytes > 64 << 20 {
            problem(
                "max_json_in_string_bytes".into(),
                self.max_json_in_string_bytes.to_string(),
                "must be between 1 and 67108864; the default is 1048576".into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(RedactConfig::default().validate(), Ok(()));
    }

    #[test]
    fn every_problem_at_once() {
        let cfg: RedactConfig = toml::from_str(
            r#"
            allow_values = ["abc"]
            max_json_in_string_bytes = 0
            [actions]
            emial = "mask"
            ssn = "partial"
            [fields]
            "user..email" = "keep"
            "#,
        )
        .unwrap();
        let problems = cfg.validate().unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "actions.emial",
                "actions.ssn",
                "fields.\"user..email\"",
                "allow_values[0]",
                "max_json_in_string_bytes"
            ]
        );
        assert!(problems[0].fix.contains("email"));
        assert_eq!(problems[1].value, "\"partial\"");
        assert_eq!(problems[3].value, "(3 characters, not shown)");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<RedactConfig>("colour = 1").unwrap_err();
        assert!(err.to_string().contains("colour"));
    }
}
