//! The crate's error type. Errors describe configuration, never event values.

use crate::config::ConfigProblem;

/// Why a [`crate::Redactor`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// The configuration has problems; each names its key and the fix.
    #[error("invalid redaction settings:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    InvalidConfig(Vec<ConfigProblem>),
    /// A detector automaton could not be compiled (a bug, not a user error).
    #[error("building the {what} automaton failed: {source}")]
    Build {
        /// Which automaton.
        what: &'static str,
        /// The underlying error.
        source: aho_corasick::BuildError,
    },
}
