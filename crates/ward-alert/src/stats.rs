//! Response figures: MTTA (mean time to acknowledge, counted to the first
//! acknowledgement or resolution), MTTR (mean time to resolve), SLA
//! compliance (met / decided, where an open alert past its deadline counts as
//! missed), open alerts, per team and per severity. Computed from the
//! alerts at a given `now`; the application exports them as metrics.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::alert::{Alert, Status, sla};

/// Figures for one (team, severity) cell, or an aggregate with `*`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ResponseStats {
    pub team: String,
    pub severity: String,
    pub alerts: u64,
    pub open: u64,
    pub acknowledged: u64,
    pub resolved: u64,
    pub mtta_seconds: Option<f64>,
    pub mttr_seconds: Option<f64>,
    pub ack_sla_met: u64,
    pub ack_sla_missed: u64,
    pub resolve_sla_met: u64,
    pub resolve_sla_missed: u64,
    /// Met / decided over both kinds; None when nothing is decided yet.
    pub sla_compliance: Option<f64>,
    #[serde(skip)]
    tta_sum: f64,
    #[serde(skip)]
    tta_n: u64,
    #[serde(skip)]
    ttr_sum: f64,
    #[serde(skip)]
    ttr_n: u64,
}

impl ResponseStats {
    fn add(&mut self, a: &Alert, now: jiff::Timestamp) {
        self.alerts += 1;
        match a.status {
            Status::Open => self.open += 1,
            Status::Acknowledged => self.acknowledged += 1,
            Status::Resolved => self.resolved += 1,
        }
        let secs = |t: jiff::Timestamp| t.duration_since(a.created_at).as_secs_f64().max(0.0);
        if let Some(t) = a.acknowledged_at.or(a.resolved_at) {
            self.tta_sum += secs(t);
            self.tta_n += 1;
        }
        if let Some(t) = a.resolved_at {
            self.ttr_sum += secs(t);
            self.ttr_n += 1;
        }
        match sla::met_acknowledge(a, now) {
            Some(true) => self.ack_sla_met += 1,
            Some(false) => self.ack_sla_missed += 1,
            None => {}
        }
        match sla::met_resolve(a, now) {
            Some(true) => self.resolve_sla_met += 1,
            Some(false) => self.resolve_sla_missed += 1,
            None => {}
        }
    }

    fn finish(&mut self) {
        self.mtta_seconds = (self.tta_n > 0).then(|| self.tta_sum / self.tta_n as f64);
        self.mttr_seconds = (self.ttr_n > 0).then(|| self.ttr_sum / self.ttr_n as f64);
        let met = self.ack_sla_met + self.resolve_sla_met;
        let decided = met + self.ack_sla_missed + self.resolve_sla_missed;
        self.sla_compliance = (decided > 0).then(|| met as f64 / decided as f64);
    }
}

/// Response figures per (team, severity), per team (`severity = "*"`),
/// per severity (`team = "*"`) and overall (`*`, `*`).
pub fn response_stats<'a>(
    alerts: impl IntoIterator<Item = &'a Alert>,
    now: jiff::Timestamp,
) -> Vec<ResponseStats> {
    let mut cells: BTreeMap<(String, String), ResponseStats> = BTreeMap::new();
    for a in alerts {
        let team = a.team().to_string();
        let sev = a.severity.as_str().to_string();
        for key in [
            (team.clone(), sev.clone()),
            (team, "*".into()),
            ("*".into(), sev),
            ("*".into(), "*".into()),
        ] {
            cells
                .entry(key.clone())
                .or_insert_with(|| ResponseStats {
                    team: key.0.clone(),
                    severity: key.1.clone(),
                    ..Default::default()
                })
                .add(a, now);
        }
    }
    cells
        .into_values()
        .map(|mut c| {
            c.finish();
            c
        })
        .collect()
}
