//! E-mail over SMTP (lettre, rustls): STARTTLS (required, not opportunistic),
//! implicit TLS, or plain for a trusted relay; optional authentication.
//!
//! The server's host name is resolved and checked by the destination guard,
//! and the connection goes to the checked address while TLS verifies the
//! certificate against the host name, so DNS cannot be switched in between.
//! The `Message-ID` is derived from the idempotency key, which is how mail
//! systems recognise a duplicate.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailConfig, Problems, SmtpTls};
use crate::notify::{Ctx, Notification, Outcome, template};
use crate::secret::Secret;

/// A compiled e-mail integration.
#[derive(Debug)]
pub struct Email {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<(String, Secret<String>)>,
    from: Mailbox,
    to: Vec<Mailbox>,
    pub send_resolved: bool,
}

impl Email {
    pub(crate) fn compile(c: &EmailConfig, key: &str, problems: &mut Problems) -> Option<Email> {
        if c.host.is_empty() {
            problems.push(format!("{key}.host"), "", "set the SMTP server's host name");
        }
        let from = c.from.parse::<Mailbox>();
        if from.is_err() {
            problems.push(
                format!("{key}.from"),
                &c.from,
                "write an e-mail address such as ward@example.com",
            );
        }
        let mut to = Vec::new();
        for (i, addr) in c.to.iter().enumerate() {
            match addr.parse::<Mailbox>() {
                Ok(m) => to.push(m),
                Err(_) => problems.push(
                    format!("{key}.to[{i}]"),
                    addr,
                    "write an e-mail address such as soc@example.com",
                ),
            }
        }
        if c.to.is_empty() {
            problems.push(format!("{key}.to"), "", "list at least one recipient");
        }
        let credentials = match (&c.username, &c.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, None) => None,
            _ => {
                problems.push(
                    format!("{key}.username"),
                    c.username.clone().unwrap_or_default(),
                    "set both username and password, or neither",
                );
                None
            }
        };
        let port = c.port.unwrap_or(match c.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        });
        Some(Email {
            host: c.host.clone(),
            port,
            tls: c.tls,
            credentials,
            from: from.ok()?,
            to,
            send_resolved: c.send_resolved.unwrap_or(true),
        })
    }

    /// The message for a notification.
    pub fn message(&self, n: &Notification, key: &str) -> Result<Message, String> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(template::title(n))
            .message_id(Some(format!("<{key}@ward>")))
            .header(ContentType::TEXT_PLAIN);
        for t in &self.to {
            b = b.to(t.clone());
        }
        b.body(format!(
            "{}\n-- \nWard notification {key}\n",
            template::text(n)
        ))
        .map_err(|e| format!("cannot build the message: {e}"))
    }

    pub async fn notify(&self, ctx: &Ctx, n: &Notification, key: &str) -> Outcome {
        let message = match self.message(n, key) {
            Ok(m) => m,
            Err(e) => return Outcome::Failed(e),
        };
        let addrs = match ctx.guard.resolve(&self.host, self.port).await {
            Ok(a) => a,
            Err(e) if e.contains("refused") => return Outcome::Failed(e),
            Err(e) => return Outcome::Retry(e),
        };
        let mut last = String::new();
        for addr in addrs {
            let tls = match self.tls {
                SmtpTls::None => Tls::None,
                mode => match TlsParameters::new(self.host.clone()) {
                    Ok(p) if mode == SmtpTls::Tls => Tls::Wrapper(p),
                    Ok(p) => Tls::Required(p),
                    Err(e) => return Outcome::Failed(format!("TLS setup: {e}")),
                },
            };
            let mut builder =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
                    .port(addr.port())
                    .tls(tls)
                    .timeout(Some(ctx.timeout));
            if let Some((user, pass)) = &self.credentials {
                builder =
                    builder.credentials(Credentials::new(user.clone(), pass.expose().clone()));
            }
            match builder.build().send(message.clone()).await {
                Ok(r) => return Outcome::Delivered(format!("SMTP {}", r.code())),
                Err(e) if e.is_permanent() => return Outcome::Failed(format!("SMTP: {e}")),
                Err(e) => last = format!("SMTP: {e}"),
            }
        }
        Outcome::Retry(last)
    }
}
