//! The notify stage: the integrations that send a [`Notification`] (an
//! explicit registry: [`Integration`] is an enum, one variant and one file
//! per kind, built from `ward-alert`'s checked [`IntegrationSpec`]), the
//! destination guard every connection goes through, and the durable
//! outbox workers that retry them. It knows nothing of alerts' state: the
//! outbox reads and records through the [`outbox::Queue`] the alert stage
//! gives it.
//!
//! A notifier is one method, [`Integration::notify`], whose [`Outcome`] says
//! whether the outbox should retry. Every payload carries the idempotency key
//! (header `Idempotency-Key` and in the body where the format allows), so a
//! receiver can drop the duplicates at-least-once delivery may produce.

pub mod alertmanager;
pub mod destination;
pub mod email;
pub mod outbox;
pub mod pagerduty;
pub mod slack;
pub mod syslog;
pub mod webhook;

use std::time::Duration;

use destination::Guard;
pub use ward_alert::notification::{AlertSummary, GroupStatus, Notification, Reason};
use ward_alert::receiver::IntegrationSpec;
pub use ward_alert::template;

/// What a delivery attempt came to; tells the outbox whether to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered(String),
    /// Worth retrying (timeouts, 5xx, 429, connection refused).
    Retry(String),
    /// Retrying cannot help (4xx, refused destination, bad payload).
    Failed(String),
}

/// What integrations share: the guarded HTTP client and the policy.
pub struct Ctx {
    pub http: reqwest::Client,
    pub guard: Guard,
    pub timeout: Duration,
}

/// One integration of a receiver. Adding a kind: its file, a variant here,
/// and a line in [`Integration::from_spec`].
#[derive(Debug)]
pub enum Integration {
    Webhook(webhook::Webhook),
    Alertmanager(alertmanager::AlertmanagerApi),
    Slack(slack::Slack),
    Email(email::Email),
    Pagerduty(pagerduty::Pagerduty),
    Syslog(syslog::Syslog),
}

impl Integration {
    /// The notifier for a checked integration; fails only where the
    /// mailer parses more strictly than the configuration check.
    pub fn from_spec(spec: &IntegrationSpec) -> Result<Integration, String> {
        Ok(match spec {
            IntegrationSpec::Webhook(w) => Integration::Webhook(webhook::Webhook(w.clone())),
            IntegrationSpec::Alertmanager(a) => {
                Integration::Alertmanager(alertmanager::AlertmanagerApi(a.clone()))
            }
            IntegrationSpec::Slack(sl) => Integration::Slack(slack::Slack(sl.clone())),
            IntegrationSpec::Email(e) => Integration::Email(email::Email::new(e)?),
            IntegrationSpec::Pagerduty(p) => {
                Integration::Pagerduty(pagerduty::Pagerduty(p.clone()))
            }
            IntegrationSpec::Syslog(sy) => Integration::Syslog(syslog::Syslog(sy.clone())),
        })
    }

    /// The kind, as used in integration names (`webhook`, `email`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Alertmanager(_) => "alertmanager",
            Integration::Slack(_) => "slack",
            Integration::Email(_) => "email",
            Integration::Pagerduty(_) => "pagerduty",
            Integration::Syslog(_) => "syslog",
        }
    }

    /// Whether resolutions are sent too.
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(w) => w.0.send_resolved,
            Integration::Alertmanager(_) => true,
            Integration::Slack(s) => s.0.send_resolved,
            Integration::Email(e) => e.send_resolved,
            Integration::Pagerduty(p) => p.0.send_resolved,
            Integration::Syslog(s) => s.0.send_resolved,
        }
    }

    /// Whether the notices of a person's change (a silence, a routing
    /// change) are sent: not to PagerDuty, where any event opens or moves
    /// an incident, nor to Alertmanager's API, which takes alerts only.
    pub fn takes_changes(&self) -> bool {
        !matches!(
            self,
            Integration::Pagerduty(_) | Integration::Alertmanager(_)
        )
    }

    /// Sends one notification; the outcome says whether to retry.
    pub async fn notify(&self, ctx: &Ctx, n: &Notification, idempotency_key: &str) -> Outcome {
        match self {
            Integration::Webhook(w) => w.notify(ctx, n, idempotency_key).await,
            Integration::Alertmanager(a) => a.notify(ctx, n, idempotency_key).await,
            Integration::Slack(s) => s.notify(ctx, n, idempotency_key).await,
            Integration::Email(e) => e.notify(ctx, n, idempotency_key).await,
            Integration::Pagerduty(p) => p.notify(ctx, n, idempotency_key).await,
            Integration::Syslog(s) => s.notify(ctx, n, idempotency_key).await,
        }
    }
}

/// POSTs a body and classifies the answer. Errors never include the URL.
pub(crate) async fn post(
    ctx: &Ctx,
    url: &reqwest::Url,
    headers: &[(String, String)],
    content_type: &str,
    body: Vec<u8>,
) -> Outcome {
    if let Err(e) = ctx.guard.check_url(url) {
        return Outcome::Failed(e);
    }
    let mut req = ctx
        .http
        .post(url.clone())
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match req.send().await {
        Ok(resp) => classify(resp.status()),
        Err(e) => {
            let refused = std::error::Error::source(&e)
                .map(|s| chain(s).contains("destination refused"))
                .unwrap_or(false);
            let source = std::error::Error::source(&e).map(chain).unwrap_or_default();
            let msg = format!("{}: {source}", e.without_url());
            if refused {
                Outcome::Failed(msg)
            } else {
                Outcome::Retry(msg)
            }
        }
    }
}

/// The status classes: 2xx delivered; 408, 429 and 5xx retried; the rest failed.
pub(crate) fn classify(status: reqwest::StatusCode) -> Outcome {
    let code = status.as_u16();
    if status.is_success() {
        Outcome::Delivered(format!("HTTP {code}"))
    } else if code == 408 || code == 429 || status.is_server_error() {
        Outcome::Retry(format!("HTTP {code}"))
    } else if status.is_redirection() {
        Outcome::Failed(format!("HTTP {code}: redirects are not followed"))
    } else {
        Outcome::Failed(format!("HTTP {code}"))
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}
