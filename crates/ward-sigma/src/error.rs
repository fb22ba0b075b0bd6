//! Errors of the crate: every variant says where (file and line) and why.
//!
//! Error messages never contain an event's field values; rule text is the
//! author's own and may be quoted.

use std::path::PathBuf;

/// A rule, filter, correlation or pipeline that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}:{line}: {reason}")]
pub struct RuleError {
    /// File path or other origin label given by the caller.
    pub origin: String,
    /// 1-based line of the offending YAML node (1 when unknown).
    pub line: usize,
    /// What was wrong, in words a rule author can act on.
    pub reason: String,
}

impl RuleError {
    /// An error at `origin:line`.
    pub fn new(origin: &str, line: usize, reason: impl Into<String>) -> Self {
        RuleError {
            origin: origin.to_string(),
            line,
            reason: reason.into(),
        }
    }
}

/// Errors of the crate.
#[derive(Debug, thiserror::Error)]
pub enum SigmaError {
    /// A rule or pipeline document is invalid.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Several rule errors at once.
    #[error("{} rule errors, first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Rules(Vec<RuleError>),
}
