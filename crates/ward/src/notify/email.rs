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

use ward_alert::Secret;
use ward_alert::config::SmtpTls;
use ward_alert::receiver::EmailSpec;

use crate::notify::{Ctx, Notification, Outcome, template};

/// An e-mail integration.
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
    /// Parses the checked addresses into the mailer's form.
    pub fn new(spec: &EmailSpec) -> Result<Email, String> {
        let mailbox = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| format!("e-mail address {a:?}: {e}"))
        };
        Ok(Email {
            host: spec.host.clone(),
            port: spec.port,
            tls: spec.tls,
            credentials: spec.credentials.clone(),
            from: mailbox(&spec.from)?,
            to: spec
                .to
                .iter()
                .map(|a| mailbox(a))
                .collect::<Result<_, _>>()?,
            send_resolved: spec.send_resolved,
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
