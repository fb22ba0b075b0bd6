//! The crate's error type: what went wrong, with the key, id or receiver a
//! person needs to act on it, and never a secret (URLs, keys, passwords).

use thiserror::Error;

/// Everything that can fail in `ward-alert`.
#[derive(Debug, Error)]
pub enum AlertError {
    /// The `[alerting]` configuration has problems; each names its key.
    #[error("invalid [alerting] configuration: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Config(Vec<crate::config::Problem>),
    /// The state database in the data directory could not be used.
    #[error("alert state database {path}: {reason}")]
    Store { path: String, reason: String },
    /// The disk holding the state database is full (or was at start, and
    /// the database is open for reading only): nothing was changed.
    #[error("alert state database {path}: the disk is full; free space and retry")]
    NoSpace { path: String },
    /// A stored record could not be decoded (the database is from a newer
    /// version or damaged).
    #[error("alert state database: record {what} is unreadable: {reason}")]
    Corrupt { what: String, reason: String },
    /// The data directory could not be created.
    #[error("alert data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A finding was not usable; `field` names what was wrong.
    #[error("finding {finding_id}: field {field}: {reason}")]
    InvalidFinding {
        finding_id: String,
        field: &'static str,
        reason: String,
    },
    /// No alert has this id.
    #[error("no alert with id {0}")]
    UnknownAlert(String),
    /// No silence has this id.
    #[error("no silence with id {0}")]
    UnknownSilence(String),
    /// No receiver has this name.
    #[error("no receiver named {0}")]
    UnknownReceiver(String),
    /// A request to change state was not valid (bad transition, bad input).
    #[error("{0}")]
    Invalid(String),
    /// The change conflicts with the current state (acknowledging a resolved alert).
    #[error("{0}")]
    Conflict(String),
    /// Alerting is shutting down and takes no more findings.
    #[error("the alerting engine is shut down")]
    Shutdown,
}
