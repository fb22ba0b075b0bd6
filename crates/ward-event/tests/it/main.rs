//! The integration tests of ward-event: golden cases, property tests and
//! limits, through the public API only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod golden;
mod limits;
mod props;
mod recognize;
mod reserved;
