//! sudo's messages through syslog (or journald): commands run, wrong
//! passwords, users not in sudoers, and its PAM lines.
//!
//! `bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ;
//! USER=root ; COMMAND=/bin/ls` gives `user.name` `bob`,
//! `user.effective.name` `root`, `process.command_line` `/bin/ls` and
//! `event.outcome` `failure`.
//!
//! Sigma log source: `product: linux`, `service: sudo`.

use serde_json::Value;

use super::native;
use super::{Recognition, Recognizer};
use crate::event::Event;
use crate::normalize::Outcome;

/// See the module documentation.
pub struct Sudo;

impl Recognizer for Sudo {
    fn name(&self) -> &'static str {
        "linux.sudo"
    }

    fn claims(&self, event: &Event) -> bool {
        native::program_body(event, "sudo").is_some()
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        if let Some(body) = native::program_body(e, "sudo").map(str::to_owned) {
            enrich(e, &body);
        }
        recognition(self.name(), "linux.sudo")
    }
}

pub(crate) fn recognition(recognizer: &'static str, dataset: &'static str) -> Recognition {
    Recognition {
        recognizer,
        product: "linux",
        service: Some("sudo"),
        category: None,
        dataset,
    }
}

/// Parses one sudo message into ECS fields.
pub(crate) fn enrich(e: &mut Event, body: &str) {
    native::put(e, "process.name", "sudo");
    native::kind_event(e);
    if let Some(pam) = body.strip_prefix("pam_unix(sudo:") {
        if pam.contains("authentication failure") {
            if let Some(user) =
                native::word_after(pam, " ruser=").or_else(|| native::word_after(pam, " logname="))
            {
                native::put(e, "user.name", user);
            }
            e.set("event.action", Value::from("sudo_auth_failure"));
            native::outcome(e, Outcome::Failure);
            native::classify(e, &["authentication"], &["start"]);
        } else if let Some(by) = native::word_after(pam, " by ") {
            let user = by.split('(').next().unwrap_or(by).to_owned();
            native::put(e, "user.name", &user);
            e.set("event.action", Value::from("sudo_session"));
            native::classify(e, &["session"], &["start"]);
        }
        return;
    }
    // `<user> : <what happened> ; KEY=value ; …` or `<user> : KEY=value ; …`.
    let Some((user, rest)) = body.split_once(" : ") else {
        return;
    };
    let user = user.trim();
    if user.is_empty() || user.contains(' ') {
        return;
    }
    native::put(e, "user.name", user);
    let mut problem = None;
    for part in rest.split(" ; ") {
        let part = part.trim();
        match part.split_once('=') {
            Some(("USER", v)) => native::put(e, "user.effective.name", v),
            Some(("COMMAND", v)) => native::put(e, "process.command_line", v),
            Some(("PWD", v)) => native::put(e, "process.working_directory", v),
            Some(("TTY", v)) => native::put(e, "process.tty.name", v),
            Some(_) => {}
            None => problem = problem.or(Some(part.to_owned())),
        }
    }
    match problem.as_deref() {
        None => {
            e.set("event.action", Value::from("sudo_command"));
            native::outcome(e, Outcome::Success);
            native::classify(e, &["process"], &["start"]);
        }
        Some(p) if p.contains("incorrect password") || p.contains("password attempt") => {
            e.set("event.action", Value::from("sudo_auth_failure"));
            native::outcome(e, Outcome::Failure);
            native::classify(e, &["authentication"], &["start"]);
        }
        Some(_) => {
            // `user NOT in sudoers`, `command not allowed`, …
            e.set("event.action", Value::from("sudo_denied"));
            native::outcome(e, Outcome::Failure);
            native::classify(e, &["iam"], &["denied"]);
        }
    }
}
