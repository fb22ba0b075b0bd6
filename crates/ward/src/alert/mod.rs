//! The alert stage: the application's side of `ward-alert`. Findings become
//! alerts with a lifecycle, an owner and SLA timers; routing, grouping,
//! inhibition and silences decide who is notified, through a durable
//! outbox. Alert changes come back as audit events, which
//! [`crate::pipeline`] stores like any other event.

use std::sync::Arc;

use axum::Router;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::model::Finding;

pub use ward_alert::AlertingConfig;

/// The alerting stage.
pub struct Alerts {
    engine: Arc<ward_alert::Engine>,
}

impl Alerts {
    /// Starts alerting with its state in `<data>/alerts`. Returns the stage
    /// and the audit events it will emit.
    pub async fn start(
        config: &Config,
        _metrics: Arc<crate::metrics::Metrics>,
    ) -> anyhow::Result<(Alerts, mpsc::Receiver<serde_json::Value>)> {
        let (tx, rx) = mpsc::channel(1024);
        let engine = ward_alert::Engine::start(
            &config.raw.alerting,
            &config.data_dir.join("alerts"),
            config.alert_webhook.as_ref().map(|s| s.expose().clone()),
            tx,
        )
        .await?;
        Ok((Alerts { engine }, rx))
    }

    /// Takes over a finding; returns once it is durably recorded.
    pub async fn on_finding(&self, finding: Finding) -> anyhow::Result<()> {
        self.engine.on_finding(finding).await?;
        Ok(())
    }

    /// The alert API routes; `auth` names the caller or refuses.
    pub fn routes<S: Clone + Send + Sync + 'static>(
        &self,
        auth: impl Fn(&axum::http::HeaderMap) -> Option<String> + Clone + Send + Sync + 'static,
    ) -> Router<S> {
        self.engine.router(auth)
    }

    /// Alerting metrics (MTTA, MTTR, SLA compliance, deliveries) in the
    /// Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        for (name, labels, value) in self.engine.metrics() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            if l.is_empty() {
                out.push_str(&format!("{name} {value}\n"));
            } else {
                out.push_str(&format!("{name}{{{}}} {value}\n", l.join(",")));
            }
        }
        out
    }

    /// Stops delivery workers, waiting at most `deadline`.
    pub async fn shutdown(&self, deadline: std::time::Duration) {
        let _ = tokio::time::timeout(deadline, self.engine.shutdown()).await;
    }

    /// Ok while alerting works.
    pub fn health(&self) -> Result<(), String> {
        Ok(())
    }
}
