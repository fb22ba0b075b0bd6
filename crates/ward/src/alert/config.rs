//! `[alerting]` configuration.

use serde::Deserialize;

use crate::config::Problem;

/// `[alerting]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {}

impl AlertingConfig {
    /// Every problem at once.
    pub fn validate(&self) -> Vec<Problem> {
        Vec::new()
    }
}
