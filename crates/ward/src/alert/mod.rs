//! The alert stage: the application's side of `ward-alert`. Findings become
//! alerts with a lifecycle, an owner and SLA timers; `ward-alert`'s engines
//! decide routing, grouping, inhibition and silences; this stage persists
//! their decisions in SQLite ([`store`]), runs the timers ([`group`],
//! [`sla`]) and hands notifications to the durable outbox of
//! [`crate::notify`]. Changes made by people come back as audit events,
//! which the pipeline stores like any other event; Ward's own changes stay
//! in each alert's history.
//!
//! - [`engine`]: the runtime (state machine + store + tasks);
//! - [`admin`]: silences, owners, delivery logs;
//! - [`metrics`]: reported through the application's registry.

pub mod admin;
pub mod engine;
mod group;
mod metrics;
mod sla;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::Finding;

pub use engine::{Engine, EngineOptions};
pub use ward_alert::AlertingConfig;

/// How long the oldest pending notification may wait before [`Alerts::health`]
/// reports the outbox as stuck (at least; twice `delivery.max_backoff` when
/// that is longer).
pub const STUCK_AFTER: Duration = Duration::from_secs(15 * 60);

/// The alerting stage.
pub struct Alerts {
    engine: Arc<Engine>,
}

impl Alerts {
    /// Starts alerting with its state in `<data>/alerts`; returns the stage
    /// and the receiver of the audit events (people's actions only) it will
    /// emit.
    pub async fn start(
        config: &Config,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<(Alerts, mpsc::Receiver<serde_json::Value>)> {
        let (tx, rx) = mpsc::channel(1024);
        let engine = Engine::start(
            &config.raw.alerting,
            &config.data_dir.join("alerts"),
            config.alert_webhook.as_ref().map(|s| s.expose().clone()),
            tx,
            metrics,
            EngineOptions::default(),
        )
        .await?;
        Ok((Alerts { engine }, rx))
    }

    /// Takes over a finding; returns once it is durably recorded.
    pub async fn on_finding(&self, finding: Finding) -> anyhow::Result<()> {
        self.engine.on_finding(finding).await?;
        Ok(())
    }

    /// Takes over a detection batch's findings, each alert they touch
    /// saved once; returns once all are durably recorded (or none is).
    pub async fn on_findings(&self, findings: Vec<Finding>) -> anyhow::Result<()> {
        self.engine.on_findings(findings).await?;
        Ok(())
    }

    /// Every alert not resolved (open or acknowledged).
    pub fn firing(&self) -> Vec<ward_alert::Alert> {
        self.engine.alerts(&ward_alert::AlertFilter {
            status: Some("firing".into()),
            ..Default::default()
        })
    }

    /// The alert API routes with the permission each needs.
    pub fn routes<S: Clone + Send + Sync + 'static>(
        &self,
        silence_limits: crate::api::silences::SilenceLimits,
    ) -> (Router<S>, Vec<crate::access::RouteSpec>) {
        crate::api::alerts::router(self.engine.clone(), silence_limits)
    }

    /// Graceful stop: stop taking findings, let the outbox workers try
    /// pending deliveries until `deadline` passes, then stop every task.
    /// Anything not delivered stays in the durable outbox and is sent after
    /// the next start. Returns within `deadline` plus the time to abort the
    /// tasks, even when a receiver never answers.
    pub async fn shutdown(&self, deadline: Duration) {
        self.engine.shutdown(deadline).await;
    }

    /// Ok while alerting works; Err(reason) when the outbox is stuck: a
    /// delivery worker died, or the oldest pending delivery is older than
    /// [`STUCK_AFTER`] (or twice `delivery.max_backoff`, if longer).
    pub fn health(&self) -> Result<(), String> {
        self.engine.health()
    }

    /// The engine, for the API and tests.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}
