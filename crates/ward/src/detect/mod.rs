//! The detect stage: tails the log from a checkpointed offset, runs the
//! enrichers and the compiled Sigma rules, and hands findings to alerting.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::alert::Alerts;
use crate::config::Config;
use crate::metrics::Metrics;

/// Starts live detection.
pub fn start(
    _config: &Config,
    _store: Arc<ward_store::Store>,
    _appended: Arc<Notify>,
    _alerts: Arc<Alerts>,
    _metrics: Arc<Metrics>,
) -> anyhow::Result<()> {
    Ok(())
}
