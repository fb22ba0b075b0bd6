//! Integration tests of ward-sigma: SigmaHQ conformance, golden cases,
//! the specification's correlation fixtures and the public API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod close;
mod conformance;
mod corpus;
mod crosscheck;
mod golden;
mod separable;
mod spec_correlation;
mod split;
