//! Integration tests of ward-redact: the labelled corpus gate, event
//! behaviour, configuration, and properties.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod corpus;
mod event;
mod props;
