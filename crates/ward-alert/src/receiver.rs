//! A receiver's integrations, checked and compiled from their configuration
//! without I/O: URLs parsed (http and https only, never echoed in a problem
//! since they often hold a token), header names and e-mail addresses
//! checked, ports defaulted. The application turns each [`IntegrationSpec`]
//! into a notifier that sends.

use crate::config::{
    AlertmanagerConfig, EmailConfig, PagerdutyConfig, Problems, ReceiverConfig, SlackConfig,
    SmtpTls, SyslogConfig, SyslogProtocol, WebhookConfig, WebhookFormat,
};
use crate::secret::Secret;

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A generic webhook.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    pub url: Secret<url::Url>,
    pub secret: Option<Secret<String>>,
    pub headers: Vec<(String, Secret<String>)>,
    pub format: WebhookFormat,
    pub send_resolved: bool,
}

/// A Prometheus Alertmanager; `url` already ends in `/api/v2/alerts`.
#[derive(Debug, Clone)]
pub struct AlertmanagerSpec {
    pub url: Secret<url::Url>,
    pub headers: Vec<(String, Secret<String>)>,
}

/// A Slack incoming webhook.
#[derive(Debug, Clone)]
pub struct SlackSpec {
    pub url: Secret<url::Url>,
    pub channel: Option<String>,
    pub send_resolved: bool,
}

/// E-mail over SMTP; addresses are checked for shape here and parsed by the
/// mailer.
#[derive(Debug, Clone)]
pub struct EmailSpec {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, Secret<String>)>,
    pub from: String,
    pub to: Vec<String>,
    pub send_resolved: bool,
}

/// PagerDuty Events API v2.
#[derive(Debug, Clone)]
pub struct PagerdutySpec {
    pub routing_key: Secret<String>,
    pub url: url::Url,
    pub send_resolved: bool,
}

/// Syslog in CEF.
#[derive(Debug, Clone)]
pub struct SyslogSpec {
    pub host: String,
    pub port: u16,
    pub protocol: SyslogProtocol,
    pub send_resolved: bool,
}

/// One integration of a receiver. Adding a kind: a variant here, a line in
/// [`compile_receiver`], and its notifier in the application.
#[derive(Debug, Clone)]
pub enum IntegrationSpec {
    Webhook(WebhookSpec),
    Alertmanager(AlertmanagerSpec),
    Slack(SlackSpec),
    Email(EmailSpec),
    Pagerduty(PagerdutySpec),
    Syslog(SyslogSpec),
}

impl IntegrationSpec {
    /// The kind, as used in integration ids (`webhook`, `email`...).
    pub fn kind(&self) -> &'static str {
        match self {
            IntegrationSpec::Webhook(_) => "webhook",
            IntegrationSpec::Alertmanager(_) => "alertmanager",
            IntegrationSpec::Slack(_) => "slack",
            IntegrationSpec::Email(_) => "email",
            IntegrationSpec::Pagerduty(_) => "pagerduty",
            IntegrationSpec::Syslog(_) => "syslog",
        }
    }

    /// Whether resolutions are sent too.
    pub fn send_resolved(&self) -> bool {
        match self {
            IntegrationSpec::Webhook(w) => w.send_resolved,
            IntegrationSpec::Alertmanager(_) => true,
            IntegrationSpec::Slack(s) => s.send_resolved,
            IntegrationSpec::Email(e) => e.send_resolved,
            IntegrationSpec::Pagerduty(p) => p.send_resolved,
            IntegrationSpec::Syslog(s) => s.send_resolved,
        }
    }

    /// A plain webhook for `WARD_ALERT_WEBHOOK_URL`.
    pub fn quick_webhook(url: url::Url) -> IntegrationSpec {
        IntegrationSpec::Webhook(WebhookSpec {
            url: Secret::new(url),
            secret: None,
            headers: Vec::new(),
            format: WebhookFormat::Ward,
            send_resolved: true,
        })
    }
}

/// Builds a receiver's integrations, recording problems under `key`.
pub(crate) fn compile_receiver(
    cfg: &ReceiverConfig,
    key: &str,
    p: &mut Problems,
) -> Vec<IntegrationSpec> {
    let mut out = Vec::new();
    for (i, c) in cfg.webhook_configs.iter().enumerate() {
        out.extend(
            webhook(c, &format!("{key}.webhook_configs[{i}]"), p).map(IntegrationSpec::Webhook),
        );
    }
    for (i, c) in cfg.alertmanager_configs.iter().enumerate() {
        out.extend(
            alertmanager(c, &format!("{key}.alertmanager_configs[{i}]"), p)
                .map(IntegrationSpec::Alertmanager),
        );
    }
    for (i, c) in cfg.slack_configs.iter().enumerate() {
        out.extend(slack(c, &format!("{key}.slack_configs[{i}]"), p).map(IntegrationSpec::Slack));
    }
    for (i, c) in cfg.email_configs.iter().enumerate() {
        out.extend(email(c, &format!("{key}.email_configs[{i}]"), p).map(IntegrationSpec::Email));
    }
    for (i, c) in cfg.pagerduty_configs.iter().enumerate() {
        out.extend(
            pagerduty(c, &format!("{key}.pagerduty_configs[{i}]"), p)
                .map(IntegrationSpec::Pagerduty),
        );
    }
    for (i, c) in cfg.syslog_configs.iter().enumerate() {
        out.extend(
            syslog(c, &format!("{key}.syslog_configs[{i}]"), p).map(IntegrationSpec::Syslog),
        );
    }
    out
}

/// Checks that a URL parses and uses http(s); returns it parsed.
pub(crate) fn compile_url(url: &str, key: &str, problems: &mut Problems) -> Option<url::Url> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
        // The URL may hold a token: never echo it.
        _ => {
            problems.push(key, "[secret]", "write an absolute http:// or https:// URL");
            None
        }
    }
}

/// An HTTP header name is a token (RFC 9110 section 5.6.2).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn headers(
    h: &std::collections::BTreeMap<String, Secret<String>>,
    key: &str,
    p: &mut Problems,
) -> Vec<(String, Secret<String>)> {
    for name in h.keys() {
        if !is_header_name(name) {
            p.push(
                format!("{key}.headers"),
                name,
                "not a valid HTTP header name",
            );
        }
    }
    h.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The shape of an address, `local@domain` or `Name <local@domain>`: what
/// a mailer can parse.
pub fn is_mailbox(s: &str) -> bool {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => &s[i + 1..s.len() - 1],
        (None, false) => s,
        _ => return false,
    };
    match addr.rsplit_once('@') {
        Some((local, domain)) => {
            let ok = |t: &str| {
                !t.is_empty()
                    && !t.chars().any(|c| {
                        c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"@".contains(c)
                    })
            };
            ok(local) && ok(domain) && !domain.starts_with('.') && !domain.ends_with('.')
        }
        None => false,
    }
}

fn webhook(c: &WebhookConfig, key: &str, p: &mut Problems) -> Option<WebhookSpec> {
    let url = compile_url(c.url.expose(), &format!("{key}.url"), p);
    let headers = headers(&c.headers, key, p);
    Some(WebhookSpec {
        url: Secret::new(url?),
        secret: c.secret.clone(),
        headers,
        format: c.format,
        send_resolved: c.send_resolved.unwrap_or(true),
    })
}

fn alertmanager(c: &AlertmanagerConfig, key: &str, p: &mut Problems) -> Option<AlertmanagerSpec> {
    let headers = headers(&c.headers, key, p);
    let mut url = compile_url(c.url.expose(), &format!("{key}.url"), p)?;
    let path = format!("{}/api/v2/alerts", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Some(AlertmanagerSpec {
        url: Secret::new(url),
        headers,
    })
}

fn slack(c: &SlackConfig, key: &str, p: &mut Problems) -> Option<SlackSpec> {
    let url = compile_url(c.url.expose(), &format!("{key}.url"), p)?;
    Some(SlackSpec {
        url: Secret::new(url),
        channel: c.channel.clone(),
        send_resolved: c.send_resolved.unwrap_or(true),
    })
}

fn email(c: &EmailConfig, key: &str, p: &mut Problems) -> Option<EmailSpec> {
    if c.host.is_empty() {
        p.push(format!("{key}.host"), "", "set the SMTP server's host name");
    }
    let from_ok = is_mailbox(&c.from);
    if !from_ok {
        p.push(
            format!("{key}.from"),
            &c.from,
            "write an e-mail address such as ward@example.com",
        );
    }
    let mut to = Vec::new();
    for (i, addr) in c.to.iter().enumerate() {
        if is_mailbox(addr) {
            to.push(addr.clone());
        } else {
            p.push(
                format!("{key}.to[{i}]"),
                addr,
                "write an e-mail address such as soc@example.com",
            );
        }
    }
    if c.to.is_empty() {
        p.push(format!("{key}.to"), "", "list at least one recipient");
    }
    let credentials = match (&c.username, &c.password) {
        (Some(u), Some(pw)) => Some((u.clone(), pw.clone())),
        (None, None) => None,
        _ => {
            p.push(
                format!("{key}.username"),
                c.username.clone().unwrap_or_default(),
                "set both username and password, or neither",
            );
            None
        }
    };
    if credentials.is_some() && c.tls == SmtpTls::None && !c.allow_insecure_auth {
        p.push(
            format!("{key}.tls"),
            "none",
            "SMTP authentication over plain text sends the password in clear: use tls = \"starttls\" or \"tls\", or set allow_insecure_auth = true",
        );
    }
    let port = c.port.unwrap_or(match c.tls {
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    });
    from_ok.then(|| EmailSpec {
        host: c.host.clone(),
        port,
        tls: c.tls,
        credentials,
        from: c.from.clone(),
        to,
        send_resolved: c.send_resolved.unwrap_or(true),
    })
}

fn pagerduty(c: &PagerdutyConfig, key: &str, p: &mut Problems) -> Option<PagerdutySpec> {
    if c.routing_key.expose().is_empty() {
        p.push(
            format!("{key}.routing_key"),
            "",
            "set the routing key of the PagerDuty integration",
        );
    }
    let url = compile_url(
        c.url.as_deref().unwrap_or(PAGERDUTY_URL),
        &format!("{key}.url"),
        p,
    )?;
    Some(PagerdutySpec {
        routing_key: c.routing_key.clone(),
        url,
        send_resolved: c.send_resolved.unwrap_or(true),
    })
}

fn syslog(c: &SyslogConfig, key: &str, p: &mut Problems) -> Option<SyslogSpec> {
    let parsed = c.address.rsplit_once(':').and_then(|(h, port)| {
        Some((
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            port.parse::<u16>().ok()?,
        ))
    });
    match parsed {
        Some((host, port)) if !host.is_empty() => Some(SyslogSpec {
            host,
            port,
            protocol: c.protocol,
            send_resolved: c.send_resolved.unwrap_or(true),
        }),
        _ => {
            p.push(
                format!("{key}.address"),
                &c.address,
                "write host:port, e.g. siem.example.com:514",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_auth_in_clear_text_is_refused_unless_allowed() {
        let toml_src = |tls: &str, allow: bool| {
            format!(
                "[[receivers]]\nname = \"m\"\n[[receivers.email_configs]]\nhost = \"mail.example.com\"\n\
                 tls = \"{tls}\"\nusername = \"u\"\npassword = \"p\"\nallow_insecure_auth = {allow}\n\
                 from = \"w@example.com\"\nto = [\"s@example.com\"]\n[route]\nreceiver = \"m\"\n"
            )
        };
        let check = |tls: &str, allow: bool| {
            let cfg: crate::AlertingConfig = toml::from_str(&toml_src(tls, allow)).unwrap();
            cfg.validate()
        };
        let problems = check("none", false);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].to_string().contains("allow_insecure_auth"));
        assert!(!problems[0].to_string().contains("\"p\""), "no password");
        assert!(check("none", true).is_empty());
        assert!(check("starttls", false).is_empty());
    }

    #[test]
    fn mailboxes_and_header_names() {
        for good in [
            "soc@example.com",
            "Ward <ward@example.com>",
            "a.b+c@mail.example",
        ] {
            assert!(is_mailbox(good), "{good}");
        }
        for bad in [
            "not-an-address",
            "",
            "@example.com",
            "a@",
            "a b@example.com",
            "<a@b",
        ] {
            assert!(!is_mailbox(bad), "{bad}");
        }
        assert!(is_header_name("X-Api-Key"));
        assert!(!is_header_name("bad header"));
        assert!(!is_header_name(""));
    }

    #[test]
    fn alertmanager_url_gets_the_api_path() {
        let c = AlertmanagerConfig {
            url: Secret::new("http://am:9093/prefix/".into()),
            headers: Default::default(),
        };
        let spec = alertmanager(&c, "k", &mut Problems::default()).unwrap();
        assert_eq!(
            spec.url.expose().as_str(),
            "http://am:9093/prefix/api/v2/alerts"
        );
    }
}
