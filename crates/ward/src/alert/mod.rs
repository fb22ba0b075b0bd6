//! Alerts: findings become alerts with a lifecycle, an owner and SLA timers;
//! routing, grouping, inhibition and silences decide who is notified.

pub mod api;
pub mod config;

use std::sync::Arc;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::Finding;
use crate::pipeline::Pipeline;

/// The alerting stage.
pub struct Alerts {
    findings: parking_lot::Mutex<Vec<Finding>>,
}

impl Alerts {
    /// Starts the alerting stage.
    pub async fn start(
        _config: &Config,
        _store: Arc<ward_store::Store>,
        _pipeline: Pipeline,
        _metrics: Arc<Metrics>,
    ) -> anyhow::Result<Alerts> {
        Ok(Alerts {
            findings: parking_lot::Mutex::new(Vec::new()),
        })
    }

    /// Takes a finding from detection.
    pub async fn on_finding(&self, finding: Finding) -> anyhow::Result<()> {
        self.findings.lock().push(finding);
        Ok(())
    }

    /// Exports alert metrics.
    pub fn export_metrics(&self, metrics: &Metrics) {
        metrics.set("ward_alert_findings", &[], self.findings.lock().len() as f64);
    }
}
