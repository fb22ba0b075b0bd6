//! Slack incoming webhook: `text` (the fallback and notification line) plus
//! Block Kit `blocks` with one section per alert (at most 10 are shown).

use serde_json::{Value, json};

use ward_alert::receiver::SlackSpec;

use crate::notify::{Ctx, Notification, Outcome, post, template};

/// Slack's limits on block texts.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const MAX_ALERT_BLOCKS: usize = 10;

/// A Slack integration.
#[derive(Debug)]
pub struct Slack(pub SlackSpec);

impl Slack {
    pub async fn notify(&self, ctx: &Ctx, n: &Notification, key: &str) -> Outcome {
        let body = match serde_json::to_vec(&payload(n, key, self.0.channel.as_deref())) {
            Ok(b) => b,
            Err(e) => return Outcome::Failed(format!("cannot encode the payload: {e}")),
        };
        post(
            ctx,
            self.0.url.expose(),
            &[("idempotency-key".into(), key.to_string())],
            "application/json",
            body,
        )
        .await
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes Slack's mrkdwn control characters.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The webhook body.
pub fn payload(n: &Notification, key: &str, channel: Option<&str>) -> Value {
    let title = template::title(n);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&title, HEADER_MAX)}}),
    ];
    for a in n.alerts.iter().take(MAX_ALERT_BLOCKS) {
        let mut text = format!(
            "*<{}|{}>* — {} ({})\n",
            a.url,
            esc(&a.rule_title),
            a.severity.as_str(),
            a.status.as_str()
        );
        if !a.description.is_empty() {
            text.push_str(&format!("{}\n", esc(a.description.trim())));
        }
        text.push_str(&format!("*Affected:* {}\n", esc(&template::affected(a))));
        text.push_str(&format!(
            "*Owner:* {}\n",
            esc(a
                .owner
                .as_deref()
                .unwrap_or("none registered (coverage gap)"))
        ));
        text.push_str(&format!(
            "*Evidence:* {} event(s), {} to {}",
            a.evidence_total, a.first_seen, a.last_seen
        ));
        if let Some(r) = &a.runbook {
            text.push_str(&format!("\n*Runbook:* {}", esc(r)));
        }
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, SECTION_MAX)}}),
        );
    }
    if n.alerts.len() > MAX_ALERT_BLOCKS {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": format!("…and {} more alerts", n.alerts.len() - MAX_ALERT_BLOCKS)}}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("Ward notification {key}")}]}));
    let mut v = json!({"text": title, "blocks": blocks});
    if let (Some(c), Some(obj)) = (channel, v.as_object_mut()) {
        obj.insert("channel".into(), json!(c));
    }
    v
}
