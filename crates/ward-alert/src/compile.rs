//! The compiled form of `[alerting]`: everything checked and cross-checked
//! (receiver and interval names, matchers, durations, URLs), built without
//! I/O. `AlertingConfig::validate` is this compilation's list of problems;
//! the application builds its notifiers from [`Compiled::receivers`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::alert::inhibit::InhibitRule;
use crate::alert::mute::TimeInterval;
use crate::alert::route::Route;
use crate::alert::sla::SlaPolicy;
use crate::config::{AlertingConfig, OwnersConfig, Problem, Problems};
use crate::receiver::{IntegrationSpec, compile_receiver};

/// The receiver used for `WARD_ALERT_WEBHOOK_URL`.
pub const QUICK_RECEIVER: &str = "quick-webhook";
/// The receiver used when nothing is configured (it has no integrations).
pub const FALLBACK_RECEIVER: &str = "default";

/// The compiled configuration.
#[derive(Debug)]
pub struct Compiled {
    pub public_url: String,
    pub default_receiver: String,
    pub escalation_receiver: String,
    pub route: Route,
    /// Receiver name → its integrations.
    pub receivers: BTreeMap<String, Vec<IntegrationSpec>>,
    pub inhibit: Vec<InhibitRule>,
    pub intervals: BTreeMap<String, TimeInterval>,
    pub sla: SlaPolicy,
    pub owners: OwnersConfig,
    /// `allow_private_destinations`.
    pub allow_private: bool,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_age: Duration,
    pub timeout: Duration,
}

impl Compiled {
    /// Compiles `cfg`; `quick_webhook` is `WARD_ALERT_WEBHOOK_URL`.
    pub fn compile(
        cfg: &AlertingConfig,
        quick_webhook: Option<&str>,
    ) -> Result<Compiled, Vec<Problem>> {
        let mut p = Problems::default();
        let mut receivers: BTreeMap<String, Vec<IntegrationSpec>> = BTreeMap::new();
        for (i, r) in cfg.receivers.iter().enumerate() {
            let key = format!("receivers[{i}]");
            if r.name.is_empty() {
                p.push(format!("{key}.name"), "", "give the receiver a name");
            }
            let integrations = compile_receiver(r, &key, &mut p);
            if receivers.insert(r.name.clone(), integrations).is_some() {
                p.push(
                    format!("{key}.name"),
                    &r.name,
                    "another receiver has this name",
                );
            }
        }
        if let Some(url) = quick_webhook {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {
                    receivers
                        .entry(QUICK_RECEIVER.into())
                        .or_insert_with(|| vec![IntegrationSpec::quick_webhook(u)]);
                }
                _ => p.push(
                    "WARD_ALERT_WEBHOOK_URL",
                    "[secret]",
                    "write an absolute http:// or https:// URL",
                ),
            }
        }
        let default_receiver = cfg
            .default_receiver
            .clone()
            .or_else(|| cfg.route.receiver.clone())
            .unwrap_or_else(|| {
                if quick_webhook.is_some() {
                    QUICK_RECEIVER
                } else {
                    FALLBACK_RECEIVER
                }
                .to_string()
            });
        if cfg.default_receiver.is_none() && cfg.route.receiver.is_none() {
            receivers.entry(default_receiver.clone()).or_default();
        }
        let names: BTreeSet<String> = receivers.keys().cloned().collect();
        let known = |key: &str, name: &str, p: &mut Problems| {
            if !names.contains(name) {
                p.push(
                    key,
                    name,
                    "no receiver has this name; define it under [[alerting.receivers]]",
                );
            }
        };
        known("default_receiver", &default_receiver, &mut p);
        let escalation_receiver = cfg
            .escalation_receiver
            .clone()
            .unwrap_or_else(|| default_receiver.clone());
        known("escalation_receiver", &escalation_receiver, &mut p);
        for (team, t) in &cfg.owners.teams {
            if let Some(r) = &t.receiver {
                known(&format!("owners.teams.{team}.receiver"), r, &mut p);
            }
        }
        for (kind, map) in [
            ("services", &cfg.owners.services),
            ("repositories", &cfg.owners.repositories),
            ("hosts", &cfg.owners.hosts),
            ("tenants", &cfg.owners.tenants),
        ] {
            for (k, team) in map {
                if !cfg.owners.teams.contains_key(team) {
                    p.push(
                        format!("owners.{kind}.{k}"),
                        team,
                        "no team has this name; define it under [alerting.owners.teams]",
                    );
                }
            }
        }
        let intervals = TimeInterval::compile_all(&cfg.time_intervals, &mut p);
        let interval_names: BTreeSet<String> = intervals.keys().cloned().collect();
        let route_cfg = cfg.route.clone();
        let route = Route::compile(
            &route_cfg,
            &default_receiver,
            &names,
            &interval_names,
            &mut p,
        );
        let inhibit = cfg
            .inhibit_rules
            .iter()
            .enumerate()
            .map(|(i, r)| InhibitRule::compile(r, &format!("inhibit_rules[{i}]"), &mut p))
            .collect();
        let sla = SlaPolicy::compile(&cfg.sla, &mut p);
        let d = &cfg.delivery;
        let initial_backoff = p
            .duration("delivery.initial_backoff", &d.initial_backoff)
            .unwrap_or(Duration::from_secs(1));
        let max_backoff = p
            .duration("delivery.max_backoff", &d.max_backoff)
            .unwrap_or(Duration::from_secs(120));
        let max_age = p
            .duration("delivery.max_age", &d.max_age)
            .unwrap_or(Duration::from_secs(3 * 86_400));
        let timeout = p
            .duration("delivery.timeout", &d.timeout)
            .unwrap_or(Duration::from_secs(10));
        if initial_backoff.is_zero() {
            p.push(
                "delivery.initial_backoff",
                &d.initial_backoff,
                "must be longer than zero",
            );
        }
        let public_url = cfg
            .public_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        if url::Url::parse(&public_url).is_err() {
            p.push(
                "public_url",
                &public_url,
                "write the absolute URL people open Ward at, e.g. https://ward.example.com",
            );
        }
        if !p.0.is_empty() {
            return Err(p.0);
        }
        Ok(Compiled {
            public_url: public_url.trim_end_matches('/').to_string(),
            default_receiver,
            escalation_receiver,
            route,
            receivers,
            inhibit,
            intervals,
            sla,
            owners: cfg.owners.clone(),
            allow_private: cfg.allow_private_destinations,
            initial_backoff,
            max_backoff: max_backoff.max(initial_backoff),
            max_age,
            timeout,
        })
    }

    /// Whether a route with these interval names is muted at `now`.
    pub fn time_muted(&self, mute: &[String], active: &[String], now: jiff::Timestamp) -> bool {
        let muted = mute
            .iter()
            .any(|n| self.intervals.get(n).is_some_and(|i| i.contains(now)));
        let inactive = !active.is_empty()
            && !active
                .iter()
                .any(|n| self.intervals.get(n).is_some_and(|i| i.contains(now)));
        muted || inactive
    }
}
