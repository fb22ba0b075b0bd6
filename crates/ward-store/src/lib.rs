//! Ward's event store: a durable, tamper-evident, append-only log of events
//! with retention and search. No async: every call blocks; the application
//! calls it from dedicated threads.
//!
//! - **Durable**: [`Store::append`] returns only after the records are
//!   fsynced; concurrent appenders share one fsync (group commit). Start-up
//!   cuts a torn tail and reports it ([`OpenReport`]).
//! - **Tamper-evident**: every record is a leaf of an RFC 6962/9162 Merkle
//!   tree; signed checkpoints (C2SP signed notes, Ed25519) are written at
//!   intervals and at every sealed segment; [`verify`] recomputes everything
//!   and names what is wrong; inclusion and consistency proofs check offline
//!   with only [`Store::public_key`].
//! - **Immutable**: sealed segments are compressed, indexed and 0444;
//!   [`archive`] copies them to a write-once layout.
//! - **Retention**: [`Store::apply_retention`] deletes whole expired
//!   segments, leaving signed deletion records that keep the tree checkable.
//! - **Search**: [`query::parse`] + [`Store::search`], pruning blocks by time
//!   and bloom filters over the common fields; [`remote`] searches a sealed
//!   segment kept elsewhere (a bucket) by ranged reads, believing nothing
//!   its signature and Merkle summary do not vouch for.
//!
//! ```
//! use ward_store::{Record, Store, StoreConfig, query};
//! let dir = tempfile::tempdir().unwrap();
//! let cfg = StoreConfig { dir: dir.path().into(), ..StoreConfig::default() };
//! let (store, _report) = Store::open(cfg).unwrap();
//! let offsets = store.append(vec![Record {
//!     id: "e1".into(),
//!     time_ms: 1_700_000_000_000,
//!     category: vec!["authentication".into()],
//!     terms: vec![("user.name".into(), "alice".into())],
//!     body: br#"{"user":{"name":"alice"},"event":{"action":"login"}}"#.to_vec(),
//! }]).unwrap();
//! assert_eq!(offsets[0].0, 0);
//! let hits = store.search(&query::parse("user.name:ALICE").unwrap(), &Default::default()).unwrap();
//! assert_eq!(hits.hits.len(), 1);
//! let proof = store.inclusion_proof("e1").unwrap();
//! ward_store::verify_inclusion(&proof, &store.public_key()).unwrap();
//! ```

mod archive;
mod checkpoint;
mod config;
mod counter;
mod damage;
mod deletion;
mod disk;
mod error;
pub mod format;
mod index;
pub mod merkle;
mod proof;
pub mod query;
mod record;
mod recovery;
pub mod remote;
mod retention;
mod seal;
mod search;
mod segment;
mod store;
#[cfg(test)]
mod testing;
mod tree;
mod verify;
pub mod witness;
mod writer;

pub use archive::{
    ArchiveReport, ArchiveTarget, ArchivedSegment, DirTarget, Manifest, ManifestEntry, archive,
    archive_segment, archive_to, sealed_segments, segment_retention,
};
pub use checkpoint::Checkpoint;
pub use config::{LegalHold, MIN_SECURITY_DAYS, RetentionPolicy, SECURITY_CATEGORIES, StoreConfig};
pub use damage::{Acknowledgement, QuarantineHeader, acknowledge};
pub use error::{ErrorClass, ProofError, StoreError};
pub use index::INDEXED_FIELDS;
pub use index::signature::path_for as index_signature_path;
pub use proof::{
    ConsistencyProof, InclusionProof, open_note, verify_consistency, verify_inclusion,
};
pub use query::Query;
pub use record::{Offset, Record, StoredRecord, check_record, fit_index};
pub use retention::{RetentionAction, RetentionDecision, retention_plan};
pub use search::{
    AggregationResult, Bucket, Histogram, Hit, MAX_AGGREGATIONS, MAX_HISTOGRAM_BUCKETS,
    SearchOptions, SearchResult, SearchStop,
};
pub use store::{
    DamagedRange, IndexRebuilt, OpenReport, Store, StoreStats, TornTail, WriteFailure,
};
pub use verify::{
    Problem, ProblemKind, VerifyReport, verify, verify_with_key, verify_with_threads,
    verify_with_witness,
};
pub use witness::{DirWitness, Witness};
