//! Sigma detection engine.
mod condition;
mod error;
mod modifier;
mod pattern;
mod yaml;
