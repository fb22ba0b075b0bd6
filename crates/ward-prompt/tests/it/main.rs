//! Integration tests of ward-prompt through its public API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod heldout;
mod parity;
mod properties;
mod sample;

use std::path::PathBuf;

/// A file under `tests/data/`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Reads a JSON-lines file into values.
pub fn jsonl(name: &str) -> Vec<serde_json::Value> {
    let path = data(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}
