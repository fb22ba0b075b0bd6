//! Sigma detection engine: parse -> compile -> match, plus correlation.
//!
//! ```text
//! yaml ──> rule (metadata, detection, correlation, filter)
//!            │   modifier + pattern: one compiled Leaf per detection item
//!            ▼
//!        RuleSet (load files, report file:line errors, link references)
//!            │   pipeline: logsource recognition + field mapping (data files)
//!            ▼
//!        Engine (one plan per pipeline, prefilter) ── matches(event) ──> Match
//!            ▼
//!        Correlator (windows keyed by group, serde state) ──> CorrelationFinding
//! ```
//!
//! The crate does no I/O beyond reading rule and pipeline files, and no
//! async. Events are seen only through the [`EventFields`] trait.

mod condition;
mod correlation;
mod engine;
mod error;
mod event;
pub mod lint;
mod modifier;
mod pattern;
mod pipeline;
mod prefilter;
mod rule;
mod ruleset;
mod value;
mod yaml;

pub use correlation::{Cmp, CorrelationDef, CorrelationFinding, CorrelationType, Correlator, finding_id, parse_timespan};
pub use engine::{Engine, Match, MatchedField};
pub use error::{RuleError, SigmaError};
pub use event::{EventFields, FieldValue, lookup};
pub use pipeline::{FieldMap, Pipeline};
pub use rule::{LogSource, Rule, RuleKind, RuleMeta};
pub use ruleset::RuleSet;
