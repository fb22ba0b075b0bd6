//! The store's error types: [`StoreError`] for everything the store does,
//! [`ProofError`] for offline proof checks.
//!
//! Errors carry where a problem is (file, byte offset, record offset) but
//! never an event's field values.

use std::path::PathBuf;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the store was doing ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A setting is invalid; the message names the key and the fix.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// A file does not follow the on-disk format.
    #[error("{path}: corrupt at byte {byte}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte position in the file where the problem starts.
        byte: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record given to `append` breaks a limit.
    #[error("record {index} of the batch: {reason}")]
    InvalidRecord {
        /// Position in the batch.
        index: usize,
        /// Which limit.
        reason: String,
    },
    /// The signing key could not be created or read.
    #[error("key file {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The device holding the store is full (or the quota is reached). The
    /// failed group commit was cut back to the last durable byte and
    /// nothing of it is acknowledged; appends work again once space is
    /// freed, without a restart.
    #[error(
        "no space left for the event store in {path}: {reason}; appends resume once space is freed"
    )]
    NoSpace {
        /// The directory or file that could not grow.
        path: PathBuf,
        /// The operating system's error.
        reason: String,
    },
    /// A previous write or fsync failed; the store refuses further appends
    /// because the state of the file after a failed fsync is unknown.
    #[error("store is failed after an earlier write error: {0}")]
    Failed(String),
    /// Another `Store` (in this or another process) has the directory open.
    #[error("{path} is locked: the store is already open (one process at a time)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The requested event id is not in the store.
    #[error("no event with id {0} in the store")]
    NotFound(String),
    /// A tree size beyond the durable log was asked for.
    #[error("tree size {requested} is not valid for a log of {size} records")]
    TreeSize {
        /// The size asked for.
        requested: u64,
        /// The durable size.
        size: u64,
    },
    /// The records needed for a proof were deleted by retention and their
    /// hashes are unavailable.
    #[error("records {first}..={last} are unavailable: {reason}")]
    Unavailable {
        /// First offset.
        first: u64,
        /// Last offset.
        last: u64,
        /// Why.
        reason: String,
    },
    /// An archive destination already holds a different object at a path.
    #[error("archive destination {path} already exists with different content (write-once)")]
    ArchiveConflict {
        /// The existing object.
        path: PathBuf,
    },
    /// A search was stopped before it finished.
    #[error("search stopped: {0}")]
    SearchStopped(String),
    /// The search query could not be parsed.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
}

/// What the caller of [`crate::Store::append`] should do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// A record of the batch breaks a limit: retrying the same batch can
    /// never succeed (the rest of the batch was not stored either).
    InvalidRecord,
    /// The disk is full: retry later, the store heals itself.
    NoSpace,
    /// Anything else: the store may be unusable until someone looks.
    Unavailable,
}

/// Whether an OS error means "out of space" (a full device or a quota).
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

impl StoreError {
    /// What a caller should do about this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::InvalidRecord { .. } => ErrorClass::InvalidRecord,
            StoreError::NoSpace { .. } => ErrorClass::NoSpace,
            StoreError::Io { source, .. } if is_no_space(source) => ErrorClass::NoSpace,
            _ => ErrorClass::Unavailable,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, byte: u64, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            path: path.into(),
            byte,
            reason: reason.into(),
        }
    }
}

/// Why an inclusion or consistency proof does not check out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The public key text is not a signed-note verifier key.
    #[error("bad public key: {0}")]
    BadKey(String),
    /// The checkpoint is not a well-formed signed note.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// No valid signature by the given key on the checkpoint.
    #[error("checkpoint signature does not verify with the given key")]
    BadSignature,
    /// The proof's fields are inconsistent (index beyond size, bad hash text).
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The hashes do not lead to the signed root.
    #[error("proof does not lead to the checkpoint's root hash")]
    RootMismatch,
}
