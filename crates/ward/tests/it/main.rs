//! End-to-end tests: each starts a real `ward serve` on free loopback ports
//! in a temporary directory and drives it with real clients (curl, logger,
//! rsyslog, the Python Elasticsearch and OpenTelemetry clients, a Kafka
//! broker).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod access;
mod alerting;
mod alerts;
mod cli;
mod cluster;
mod compliance;
mod config;
mod console;
mod coverage;
mod demo;
mod durability;
mod faults;
mod gate;
mod ingest;
mod kafka;
mod leaks;
mod multiline_secrets;
mod people;
mod provenance;
mod rules;
mod s3;
mod sbom;
mod scanners;
mod shippers;
mod sources;
mod sso;
mod supply;
mod topology;
mod windows;
mod witness;
