//! systemd journal entries in the JSON export format
//! (`journalctl -o json`, or systemd-journal-upload's JSON), one entry per
//! line: `__REALTIME_TIMESTAMP`, `MESSAGE`, `_HOSTNAME`,
//! `SYSLOG_IDENTIFIER`, `_PID`, `PRIORITY`, ….
//!
//! Sigma log source: `product: linux`; `service: sshd` or `sudo` for those
//! programs' entries (parsed as their syslog lines are), `syslog` for the
//! rest. Native names are kept.

use serde_json::Value;

use super::native::{self, Keys};
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Level;

/// See the module documentation.
pub struct Journald;

/// An exported journal entry: a `__REALTIME_TIMESTAMP` and a `MESSAGE`.
pub(crate) fn shape(r: &dyn Keys) -> bool {
    r.key("__REALTIME_TIMESTAMP").is_some() && r.key("MESSAGE").is_some()
}

impl Recognizer for Journald {
    fn name(&self) -> &'static str {
        "linux.journald"
    }

    fn claims(&self, event: &Event) -> bool {
        shape(event)
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        native::timestamp(e, "__REALTIME_TIMESTAMP");
        native::copy(e, "MESSAGE", "message");
        native::copy(e, "_HOSTNAME", "host.name");
        native::copy(e, "SYSLOG_IDENTIFIER", "process.name");
        native::copy(e, "_COMM", "process.name");
        native::copy(e, "_EXE", "process.executable");
        native::copy(e, "_CMDLINE", "process.command_line");
        native::copy(e, "_SYSTEMD_UNIT", "systemd.unit");
        native::copy(e, "_BOOT_ID", "host.boot.id");
        native::put(e, "host.os.type", "linux");
        if let Some(pid) = native::text(e, "_PID").and_then(|p| p.parse::<u64>().ok()) {
            e.set("process.pid", Value::from(pid));
        }
        if let Some(p) = native::text(e, "PRIORITY")
            .and_then(|p| p.parse::<u8>().ok())
            .filter(|p| *p < 8)
        {
            let level = Level::from_syslog(p);
            e.set("log.level", Value::from(level.as_str()));
            e.set("event.severity", Value::from(level.severity()));
        }
        let program = native::text(e, "SYSLOG_IDENTIFIER")
            .unwrap_or_default()
            .to_owned();
        let message = native::text(e, "message").map(str::to_owned);
        match (program.as_str(), message) {
            ("sshd", Some(m)) => {
                super::sshd::enrich(e, &m);
                super::sshd::recognition(self.name(), "journald")
            }
            ("sudo", Some(m)) => {
                super::sudo::enrich(e, &m);
                super::sudo::recognition(self.name(), "journald")
            }
            _ => {
                native::kind_event(e);
                Recognition {
                    recognizer: self.name(),
                    product: "linux",
                    service: Some("syslog"),
                    category: None,
                    dataset: "journald",
                }
            }
        }
    }
}
