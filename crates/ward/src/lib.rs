//! Ward: security monitoring and alerting in one program.
//!
//! The modules follow the data flow (ARCHITECTURE.md section 1):
//!
//! ```text
//! source ─► normalize ─► redact ─► store ─► detect ─► alert ─► notify
//! ```
//!
//! - [`source`]: the inputs (HTTP NDJSON, Elasticsearch `_bulk`, Splunk HEC,
//!   OTLP, syslog, Kafka, Ward's own audit trail) turn bytes into events
//!   with `ward-event`'s decoders and submit them to the [`pipeline`];
//! - [`normalize`]: finishes each event (ids, tenant, required fields);
//! - [`redact`]: removes secrets and personal data with `ward-redact`;
//! - [`store`]: appends to the tamper-evident log of `ward-store` and
//!   acknowledges only after fsync;
//! - [`detect`]: tails the log, runs Sigma rules and enrichers;
//! - [`alert`] and [`notify`]: alerts, routing, durable delivery.
//!
//! People and programs reach it through [`api`] (JSON, the ingest
//! endpoints) and [`console`] (server-rendered pages), both behind the one
//! permission check of [`access`].
//!
//! [`topology`] is the one place where the stages are built, connected and
//! stopped; [`serve`] is: load config → build topology → run until a
//! signal → drain.

pub mod clock;
pub mod config;
pub mod metrics;
pub mod model;
pub mod secret;

pub mod alert;
pub mod cluster;
pub mod detect;
pub mod normalize;
pub mod notify;
pub mod redact;
pub mod source;
pub mod store;

pub mod compliance;
pub mod gate;

pub mod access;
pub mod api;
pub mod cli;
pub mod console;
pub mod pipeline;
pub mod serve;
pub mod topology;
