//! Syslog forwarding in ArcSight CEF, one message per alert:
//! `<PRI>1 TIMESTAMP HOST ward - - - CEF:0|Ward|Ward|0.1|rule_id|title|severity|ext`
//! over UDP (one datagram each) or TCP (newline-framed, one connection per
//! notification). Header fields escape `\` and `|`; extension values escape
//! `\`, `=` and line breaks, as the CEF specification requires.

use std::fmt::Write;

use tokio::io::AsyncWriteExt;

use ward_alert::Severity;
use ward_alert::config::SyslogProtocol;
use ward_alert::receiver::SyslogSpec;

use crate::notify::{AlertSummary, Ctx, Notification, Outcome, Reason};

/// The largest UDP message sent; longer ones are cut (syslog over UDP is lossy anyway).
const MAX_UDP: usize = 8192;

/// A syslog integration.
#[derive(Debug)]
pub struct Syslog(pub SyslogSpec);

impl Syslog {
    pub async fn notify(&self, ctx: &Ctx, n: &Notification, key: &str) -> Outcome {
        let addrs = match ctx.guard.resolve(&self.0.host, self.0.port).await {
            Ok(a) => a,
            Err(e) if e.contains("refused") => return Outcome::Failed(e),
            Err(e) => return Outcome::Retry(e),
        };
        let Some(addr) = addrs.first().copied() else {
            return Outcome::Retry("no address".into());
        };
        let lines: Vec<String> = n.alerts.iter().map(|a| line(n, a, key)).collect();
        let sent = match self.0.protocol {
            SyslogProtocol::Udp => {
                async {
                    let bind = if addr.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let sock = tokio::net::UdpSocket::bind(bind).await?;
                    for l in &lines {
                        let b = l.as_bytes();
                        sock.send_to(&b[..b.len().min(MAX_UDP)], addr).await?;
                    }
                    Ok::<_, std::io::Error>(())
                }
                .await
            }
            SyslogProtocol::Tcp => {
                async {
                    let mut s =
                        tokio::time::timeout(ctx.timeout, tokio::net::TcpStream::connect(addr))
                            .await
                            .map_err(|_| {
                                std::io::Error::new(
                                    std::io::ErrorKind::TimedOut,
                                    "connect timed out",
                                )
                            })??;
                    for l in &lines {
                        s.write_all(l.as_bytes()).await?;
                        s.write_all(b"\n").await?;
                    }
                    s.shutdown().await
                }
                .await
            }
        };
        match sent {
            Ok(()) => Outcome::Delivered(format!("{} message(s)", lines.len())),
            Err(e) => Outcome::Retry(format!("syslog: {e}")),
        }
    }
}

fn cef_severity(s: Severity) -> u8 {
    match s {
        Severity::Informational => 1,
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Informational => 6,
    }
}

fn header_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

fn ext_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// One RFC 5424 line carrying a CEF record for an alert.
pub fn line(n: &Notification, a: &AlertSummary, key: &str) -> String {
    // local4 (20), as SIEM inputs commonly expect security feeds there.
    let pri = 20 * 8 + u32::from(syslog_severity(a.severity));
    let mut ext = String::new();
    let mut kv = |k: &str, v: &str| {
        if !v.is_empty() {
            let _ = write!(
                ext,
                "{}{k}={}",
                if ext.is_empty() { "" } else { " " },
                ext_escape(v)
            );
        }
    };
    kv("rt", &a.created_at.as_millisecond().to_string());
    kv("externalId", &a.id);
    kv("act", a.status.as_str());
    kv("msg", &a.description);
    kv("cnt", &a.count.to_string());
    kv(
        "suser",
        a.labels.get("user").map(String::as_str).unwrap_or(""),
    );
    kv(
        "shost",
        a.labels.get("host").map(String::as_str).unwrap_or(""),
    );
    kv(
        "src",
        a.labels.get("source.ip").map(String::as_str).unwrap_or(""),
    );
    kv("cs1Label", "owner");
    kv("cs1", a.owner.as_deref().unwrap_or("none"));
    kv("cs2Label", "service");
    kv(
        "cs2",
        a.labels.get("service").map(String::as_str).unwrap_or(""),
    );
    kv("cs3Label", "tenant");
    kv(
        "cs3",
        a.labels.get("tenant").map(String::as_str).unwrap_or(""),
    );
    kv("cs4Label", "idempotencyKey");
    kv("cs4", key);
    kv("cs5Label", "reason");
    kv(
        "cs5",
        match &n.reason {
            Reason::Group => "alert",
            Reason::SlaBreach { kind } => kind,
            other => other.as_str(),
        },
    );
    if let Some(by) = n.reason.changed_by() {
        kv("cs6Label", "changedBy");
        kv("cs6", by);
    }
    kv("request", &a.url);
    format!(
        "<{pri}>1 {} - ward - - - CEF:0|Ward|Ward|{}|{}|{}|{}|{ext}",
        n.created_at,
        env!("CARGO_PKG_VERSION"),
        header_escape(&a.rule_id),
        header_escape(&a.rule_title),
        cef_severity(a.severity),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_per_cef() {
        assert_eq!(header_escape(r"a|b\c"), r"a\|b\\c");
        assert_eq!(ext_escape("a=b\nc\\"), r"a\=b\nc\\");
    }
}
