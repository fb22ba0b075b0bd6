//! `[alerting]` configuration: the raw TOML structs (serde, unknown keys
//! refused, a default for everything so that no configuration works) and
//! `validate()`, which reports every problem at once, each with the key that
//! holds it and how to fix it.
//!
//! Durations and matchers stay strings here and are compiled by the module
//! that owns the concept (`alert::route`, `alert::inhibit`, `alert::mute`,
//! `alert::sla`, `receiver`), so one bad value cannot hide the next.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The `[alerting]` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Base URL of the Ward UI, for links in messages (`{public_url}/#/alerts/{id}`).
    pub public_url: Option<String>,
    /// Receiver for alerts that no route and no owning team sends elsewhere.
    /// Defaults to the root route's receiver, then to the quick webhook.
    pub default_receiver: Option<String>,
    /// Receiver notified once per SLA breach; defaults to `default_receiver`.
    pub escalation_receiver: Option<String>,
    /// Allow notifications to private, loopback and link-local addresses.
    /// Off by default so that a webhook URL cannot reach internal services.
    pub allow_private_destinations: bool,
    /// Who owns what: teams, their contacts, and what they own.
    pub owners: OwnersConfig,
    /// Where notifications go, each with one or more integrations.
    pub receivers: Vec<ReceiverConfig>,
    /// The routing tree (Alertmanager's `route`).
    pub route: RouteConfig,
    /// Alerts that mute other alerts while they fire.
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// Named time intervals, for routes' `mute_time_intervals` and
    /// `active_time_intervals`.
    pub time_intervals: Vec<TimeIntervalConfig>,
    /// Time to acknowledge and to resolve, per severity.
    pub sla: SlaConfig,
    /// How notifications are retried.
    pub delivery: DeliveryConfig,
}

/// Teams and the services, repositories, hosts and tenants they own.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OwnersConfig {
    /// Teams by name.
    pub teams: BTreeMap<String, TeamConfig>,
    /// `service.name` → team.
    pub services: BTreeMap<String, String>,
    /// `repository.name` → team.
    pub repositories: BTreeMap<String, String>,
    /// `host.name` → team.
    pub hosts: BTreeMap<String, String>,
    /// `tenant.id` → team.
    pub tenants: BTreeMap<String, String>,
}

/// A team that owns systems.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TeamConfig {
    /// How to reach the team (e-mail addresses, chat handles, phone), shown in messages.
    pub contacts: Vec<String>,
    /// Receiver for this team's alerts when no child route matches.
    pub receiver: Option<String>,
}

/// A named receiver (Alertmanager's `receivers[]`): every integration in it
/// gets every notification, each through its own outbox queue.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverConfig {
    /// Unique name that routes refer to.
    pub name: String,
    /// Generic JSON webhooks (Ward's format or Alertmanager's webhook format).
    pub webhook_configs: Vec<WebhookConfig>,
    /// Prometheus Alertmanagers, posted to on their `/api/v2/alerts`.
    pub alertmanager_configs: Vec<AlertmanagerConfig>,
    /// Slack incoming webhooks.
    pub slack_configs: Vec<SlackConfig>,
    /// E-mail over SMTP.
    pub email_configs: Vec<EmailConfig>,
    /// PagerDuty Events API v2.
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    /// Syslog in ArcSight CEF.
    pub syslog_configs: Vec<SyslogConfig>,
}

/// The body format of a webhook.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Ward's own JSON (the whole notification).
    #[default]
    Ward,
    /// Alertmanager's webhook payload (version "4"), for existing receivers.
    Alertmanager,
}

/// A generic webhook.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where to POST (may carry a token, so it is a secret).
    pub url: Secret<String>,
    /// Key for `X-Ward-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub secret: Option<Secret<String>>,
    /// Extra request headers (values are secrets: they often hold tokens).
    pub headers: BTreeMap<String, Secret<String>>,
    /// `ward` (default) or `alertmanager` (Alertmanager's webhook payload).
    pub format: WebhookFormat,
    /// Also notify when alerts are resolved (default true).
    pub send_resolved: Option<bool>,
}

/// A Prometheus Alertmanager that receives our alerts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerConfig {
    /// Base URL, e.g. `http://alertmanager:9093` (`/api/v2/alerts` is appended).
    pub url: Secret<String>,
    /// Extra request headers.
    pub headers: BTreeMap<String, Secret<String>>,
}

/// A Slack incoming webhook.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// The incoming-webhook URL (holds a token).
    pub url: Secret<String>,
    /// Channel override, for webhooks that allow it.
    pub channel: Option<String>,
    /// Also notify when alerts are resolved (default true).
    pub send_resolved: Option<bool>,
}

/// Transport security for SMTP.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), port 587 by default.
    #[default]
    Starttls,
    /// TLS from the first byte, port 465 by default.
    Tls,
    /// No encryption, port 25 by default: only for a relay on a trusted network.
    None,
}

/// E-mail over SMTP.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub host: String,
    /// SMTP port; defaults by `tls`: 587, 465 or 25.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    pub tls: SmtpTls,
    /// User for SMTP authentication (with `password`).
    pub username: Option<String>,
    /// Password for SMTP authentication.
    pub password: Option<Secret<String>>,
    /// Allow `username`/`password` with `tls = "none"`, which sends the
    /// password in clear text (refused unless set).
    pub allow_insecure_auth: bool,
    /// Sender address.
    pub from: String,
    /// Recipient addresses.
    pub to: Vec<String>,
    /// Also notify when alerts are resolved (default true).
    pub send_resolved: Option<bool>,
}

/// PagerDuty Events API v2.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyConfig {
    /// The integration's routing key.
    pub routing_key: Secret<String>,
    /// Events API endpoint; defaults to `https://events.pagerduty.com/v2/enqueue`.
    pub url: Option<String>,
    /// Also resolve the incident when alerts are resolved (default true).
    pub send_resolved: Option<bool>,
}

/// Transport for syslog.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    /// One datagram per alert.
    #[default]
    Udp,
    /// Newline-framed messages over one connection per notification.
    Tcp,
}

/// Syslog forwarding in ArcSight CEF.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// `host:port` of the collector.
    pub address: String,
    /// `udp` (default) or `tcp`.
    pub protocol: SyslogProtocol,
    /// Also forward resolutions (default true).
    pub send_resolved: Option<bool>,
}

/// A node of the routing tree. Unset fields inherit from the parent.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Receiver for alerts this route takes.
    pub receiver: Option<String>,
    /// Label matchers, all of which must match (`severity=~"high|critical"`).
    pub matchers: Vec<String>,
    /// Labels that split alerts into groups; `["..."]` groups by all labels.
    pub group_by: Option<Vec<String>>,
    /// How long a new group waits for more alerts before its first notification.
    pub group_wait: Option<String>,
    /// How long a group waits before notifying about new or changed alerts.
    pub group_interval: Option<String>,
    /// How long before an unchanged firing group is notified again.
    pub repeat_interval: Option<String>,
    /// Keep looking at the following sibling routes after this one matched.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// Names of time intervals during which this route sends nothing.
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which this route sends nothing.
    pub active_time_intervals: Vec<String>,
    /// Child routes, tried in order.
    pub routes: Vec<RouteConfig>,
}

/// An inhibition: while an alert matching `source_matchers` fires, alerts
/// matching `target_matchers` with equal values for `equal` are muted.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InhibitRuleConfig {
    /// Matchers for the muting alert.
    pub source_matchers: Vec<String>,
    /// Matchers for the muted alerts.
    pub target_matchers: Vec<String>,
    /// Labels that must have the same value in source and target.
    pub equal: Vec<String>,
}

/// A named set of time ranges (Alertmanager's `time_intervals`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeIntervalConfig {
    /// Name that routes refer to.
    pub name: String,
    /// The interval is active when any of these matches.
    pub time_intervals: Vec<TimeIntervalSpec>,
}

/// One time range; every listed part must match, an empty part matches always.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeIntervalSpec {
    /// Times of day, `start_time` inclusive to `end_time` exclusive, "HH:MM".
    pub times: Vec<TimeRangeConfig>,
    /// Days of the week or ranges: `monday`, `monday:friday`.
    pub weekdays: Vec<String>,
    /// Days of the month or ranges, negative from the end: `1:5`, `-1`.
    pub days_of_month: Vec<String>,
    /// Months by name or number, or ranges: `january:march`, `12`.
    pub months: Vec<String>,
    /// Years or ranges: `2026:2027`.
    pub years: Vec<String>,
    /// IANA time zone the above are in; UTC by default.
    pub location: Option<String>,
}

/// A time-of-day range.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeRangeConfig {
    /// "HH:MM", inclusive.
    pub start_time: String,
    /// "HH:MM", exclusive; "24:00" is the end of the day.
    pub end_time: String,
}

/// Time to acknowledge and to resolve, per severity.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// Default 15m / 4h.
    pub critical: SlaTarget,
    /// Default 1h / 24h.
    pub high: SlaTarget,
    /// Default 8h / 3d.
    pub medium: SlaTarget,
    /// Default 24h / 7d.
    pub low: SlaTarget,
    /// Default 7d / 30d.
    pub informational: SlaTarget,
}

impl Default for SlaConfig {
    fn default() -> Self {
        let t = |a: &str, r: &str| SlaTarget {
            acknowledge: a.into(),
            resolve: r.into(),
        };
        SlaConfig {
            critical: t("15m", "4h"),
            high: t("1h", "24h"),
            medium: t("8h", "3d"),
            low: t("24h", "7d"),
            informational: t("7d", "30d"),
        }
    }
}

/// Deadlines for one severity, counted from when the alert opened.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTarget {
    /// Time to acknowledge, e.g. "15m".
    pub acknowledge: String,
    /// Time to resolve, e.g. "4h".
    pub resolve: String,
}

/// Retry policy of the outbox.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// First retry delay; doubles on each failure, with jitter. Default "1s".
    pub initial_backoff: String,
    /// Longest retry delay. Default "2m".
    pub max_backoff: String,
    /// Give up on a notification this long after it was queued. Default "3d".
    pub max_age: String,
    /// Timeout of one delivery attempt. Default "10s".
    pub timeout: String,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            initial_backoff: "1s".into(),
            max_backoff: "2m".into(),
            max_age: "3d".into(),
            timeout: "10s".into(),
        }
    }
}

/// One configuration problem: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Key path under `[alerting]`, e.g. `route.routes[2].matchers[0]`.
    pub key: String,
    /// The offending value (secrets are never put here).
    pub value: String,
    /// What is wrong and what to do.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "alerting.{} = {:?}: {}", self.key, self.value, self.fix)
    }
}

/// Collects problems while compiling a configuration.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.0.push(Problem {
            key: key.into(),
            value: value.into(),
            fix: fix.into(),
        });
    }

    /// Parses a duration, recording a problem under `key` when it is bad.
    pub fn duration(&mut self, key: &str, value: &str) -> Option<Duration> {
        match parse_duration(value) {
            Ok(d) => Some(d),
            Err(e) => {
                self.push(key, value, e);
                None
            }
        }
    }
}

impl AlertingConfig {
    /// Every problem of the configuration at once (empty when it is good).
    pub fn validate(&self) -> Vec<Problem> {
        match crate::compile::Compiled::compile(self, None) {
            Ok(_) => Vec::new(),
            Err(problems) => problems,
        }
    }
}

/// Parses durations like `30s`, `5m`, `1h30m`, `3d`, `1w`, `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let fix = "write a duration such as 30s, 5m, 1h30m, 3d (units ms, s, m, h, d, w)";
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return Err(fix.into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(fix.into());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| fix.to_string())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms_per = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(fix.into()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(ms_per)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "duration is too long".to_string())?;
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration("3d").unwrap(),
            Duration::from_secs(3 * 86400)
        );
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "m", "5x", "-5m", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_config_is_valid_and_unknown_keys_are_refused() {
        let c: AlertingConfig = toml::from_str("").unwrap();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let err = toml::from_str::<AlertingConfig>("[route]\nrecevier = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("recevier"), "{err}");
    }
}
