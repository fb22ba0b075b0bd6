//! OpenSSH server messages through syslog (or journald): logins accepted
//! and failed, invalid users, disconnections, and sshd's errors.
//!
//! Sigma log source: `product: linux`, `service: sshd`. The message stays
//! as it is (SigmaHQ's sshd rules are keyword rules); the user, address and
//! port of a login are parsed into ECS fields.

use serde_json::Value;

use super::native;
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct Sshd;

impl Recognizer for Sshd {
    fn name(&self) -> &'static str {
        "linux.sshd"
    }

    fn claims(&self, event: &Event) -> bool {
        native::program_body(event, "sshd").is_some()
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        if let Some(body) = native::program_body(e, "sshd").map(str::to_owned) {
            enrich(e, &body);
        }
        recognition(self.name(), "linux.sshd")
    }
}

pub(crate) fn recognition(recognizer: &'static str, dataset: &'static str) -> Recognition {
    Recognition {
        recognizer,
        product: "linux",
        service: Some("sshd"),
        category: None,
        dataset,
    }
}

/// Parses one sshd message into ECS fields.
pub(crate) fn enrich(e: &mut Event, body: &str) {
    let login = |e: &mut Event, action: &str, outcome: Outcome, rest: &str| {
        // `<user> from <ip> port <port>`; `invalid user <user>` first when
        // the account does not exist.
        let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
        if let Some((user, tail)) = rest.split_once(" from ") {
            native::put(e, "user.name", user);
            let addr = tail.split(' ').next();
            native::ip(e, "source.ip", addr);
            if let Some(port) =
                native::word_after(tail, " port ").and_then(|p| p.parse::<u16>().ok())
            {
                e.set("source.port", Value::from(port));
            }
        }
        e.set("event.action", Value::from(action));
        native::outcome(e, outcome);
        native::classify(e, &["authentication"], &["start"]);
    };
    for (prefix, action, outcome) in [
        ("Accepted password for ", "ssh_login", Outcome::Success),
        ("Accepted publickey for ", "ssh_login", Outcome::Success),
        (
            "Accepted keyboard-interactive/pam for ",
            "ssh_login",
            Outcome::Success,
        ),
        ("Failed password for ", "ssh_login_failed", Outcome::Failure),
        (
            "Failed publickey for ",
            "ssh_login_failed",
            Outcome::Failure,
        ),
        (
            "Failed keyboard-interactive/pam for ",
            "ssh_login_failed",
            Outcome::Failure,
        ),
        ("Invalid user ", "ssh_invalid_user", Outcome::Failure),
    ] {
        if let Some(rest) = body.strip_prefix(prefix) {
            login(e, action, outcome, rest);
            native::put(e, "process.name", "sshd");
            native::kind_event(e);
            return;
        }
    }
    if let Some(rest) = body.strip_prefix("Disconnected from user ") {
        let user = rest.split(' ').next().unwrap_or_default().to_owned();
        native::put(e, "user.name", &user);
        let addr = rest.split(' ').nth(1);
        native::ip(e, "source.ip", addr);
        e.set("event.action", Value::from("ssh_logout"));
        native::classify(e, &["session"], &["end"]);
    } else if body.starts_with("error:") || body.starts_with("fatal:") {
        e.set("event.action", Value::from("ssh_error"));
        native::classify(e, &["network"], &["error"]);
    }
    native::put(e, "process.name", "sshd");
    native::kind_event(e);
}
