//! Continuous evaluation inside `ward serve`: every tick, the controls due
//! are evaluated off the async runtime; the posture goes to `/metrics`;
//! a control that stopped passing is handed to alerting as a finding.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use ward_store::Store;

use super::{Compliance, Facts, State, scores};
use crate::metrics::Metrics;
use crate::model::Finding;

/// Gathers [`Facts`] at evaluation time.
pub type FactSource = Arc<dyn Fn() -> Facts + Send + Sync>;

/// What the evaluation reaches.
#[derive(Clone)]
pub struct Live {
    pub compliance: Arc<Compliance>,
    pub store: Arc<Store>,
    pub facts: FactSource,
    /// Gap findings, to the alert stage.
    pub gaps: mpsc::Sender<Finding>,
    pub metrics: Arc<Metrics>,
}

impl Live {
    /// Evaluates the controls due (or only `only`), then publishes.
    pub async fn evaluate(&self, only: Option<String>) -> anyhow::Result<()> {
        let (c, store, facts) = (
            Arc::clone(&self.compliance),
            Arc::clone(&self.store),
            Arc::clone(&self.facts),
        );
        let tx = self.gaps.clone();
        tokio::task::spawn_blocking(move || {
            let f = facts();
            // Each gap goes to alerting at once: the controls evaluated
            // after it in the cycle do not delay its alert.
            c.tick_each(&store, &f, jiff::Timestamp::now(), only.as_deref(), &mut |g| {
                tracing::warn!(control = %g.control, from = g.from.as_str(), to = g.to.as_str(), damped = g.finding.is_none(), "compliance control stopped passing");
                if let Some(f) = g.finding
                    && tx.blocking_send(f).is_err()
                {
                    tracing::error!(control = %g.control, "alerting has stopped: gap alert not raised");
                }
            });
        })
        .await?;
        self.publish();
        Ok(())
    }

    /// Gauges per framework: score, coverage and controls per state.
    pub fn publish(&self) {
        let now = jiff::Timestamp::now();
        let results = self.compliance.results(now);
        for s in scores(self.compliance.pack(), &results) {
            let fw = [("framework", s.framework.as_str())];
            self.metrics
                .set("ward_compliance_score", &fw, s.score.unwrap_or(f64::NAN));
            self.metrics
                .set("ward_compliance_coverage", &fw, s.coverage);
            for st in State::ALL {
                let n = s.states.get(st.as_str()).copied().unwrap_or(0);
                #[allow(clippy::cast_precision_loss)]
                self.metrics.set(
                    "ward_compliance_controls",
                    &[("framework", s.framework.as_str()), ("state", st.as_str())],
                    n as f64,
                );
            }
        }
    }

    /// Evaluates on every tick until `stop`.
    pub async fn run(self, tick: Duration, stop: CancellationToken) {
        self.metrics.describe(
            "ward_compliance_score",
            "Compliance score per framework: pass / (pass + fail + error); NaN when nothing was evaluated",
        );
        self.metrics.describe(
            "ward_compliance_coverage",
            "Share of a framework's applicable controls evaluated to pass, fail or error",
        );
        self.metrics.describe(
            "ward_compliance_controls",
            "Controls per framework and state",
        );
        let mut every = tokio::time::interval(tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = stop.cancelled() => return,
            }
            if let Err(e) = self.evaluate(None).await {
                tracing::error!(error = %format!("{e:#}"), "compliance evaluation failed");
            }
        }
    }
}
