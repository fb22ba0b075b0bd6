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
//!
//! ```
//! use ward_sigma::{Correlator, Engine, RuleSet};
//!
//! let rule = "title: Whoami\nid: r1\nlogsource: {product: test}\ndetection:\n  sel:\n    CommandLine|contains: whoami\n  condition: sel\n";
//! let set = RuleSet::from_yaml_str(rule, "inline.yml", &[]).unwrap();
//! let engine = Engine::new(&set);
//! let event = serde_json::json!({"CommandLine": "cmd /c WHOAMI /all"});
//! let hits = engine.matches(&event);
//! assert_eq!(hits[0].rule_id, "r1");
//! assert_eq!(hits[0].fields[0].field, "CommandLine");
//!
//! // Correlations see every event with its detection matches.
//! let mut correlator = Correlator::new(&set, &engine);
//! assert!(correlator.observe(0, "event-1", &event, &hits).is_empty());
//! ```

mod condition;
mod correlation;
mod dispatch;
mod engine;
mod error;
mod event;
pub mod lint;
mod modifier;
mod pattern;
mod pipeline;
mod prefilter;
mod resolve;
mod rule;
mod ruleset;
mod value;
pub mod yaml;

pub use correlation::{
    Cmp, CorrelationDef, CorrelationFinding, CorrelationType, Correlator, finding_id,
    parse_timespan,
};
pub use engine::{Engine, Match, MatchedField, Seen};
pub use error::{RuleError, SigmaError};
pub use event::{EventFields, FieldValue, lookup};
pub use pipeline::{FieldMap, LogSourceFields, Pipeline};
pub use rule::{LogSource, Rule, RuleBody, RuleKind, RuleMeta};
pub use ruleset::RuleSet;
