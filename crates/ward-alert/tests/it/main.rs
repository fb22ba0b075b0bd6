//! Integration tests of ward-alert's public API, without I/O: configuration
//! validation (every problem at once, naming the key), message text, and
//! routing decisions through the state machine. Delivery, the API, the CLI
//! and timers are tested in the application (`crates/ward/tests/it`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config;
mod routing;

use ward_alert::AlertingConfig;

pub fn config(toml_src: &str) -> AlertingConfig {
    toml::from_str(toml_src).unwrap_or_else(|e| panic!("test config: {e}"))
}
