//! Windows event log records, in the three shapes shippers send them:
//!
//! | recognizer | shape | system fields | event data |
//! |---|---|---|---|
//! | `windows.evtx` | `evtx_dump` / `evtx` crate JSON | `Event.System.{Channel, EventID, Computer, Provider.#attributes.Name, TimeCreated.#attributes.SystemTime}` | `Event.EventData.*`, `Event.UserData.*.*` |
//! | `windows.winlogbeat` | Winlogbeat 7 and 8 | `winlog.{channel, event_id, provider_name, computer_name}` (+ ECS) | `winlog.event_data.*`, `winlog.user_data.*` |
//! | `windows.flat` | NXLog `im_msvistalog`, Logstash, Winlogbeat raw | `Channel`, `EventID`, `SourceName` / `Provider_Name`, `Hostname` / `Computer` | top-level keys |
//!
//! The channel gives Sigma's service and the event id its category
//! ([`channel`]). Native fields are never removed: Sigma rules read them
//! through `pipelines/ward-logsource.yml`. ECS fields are filled where the
//! sender left them out: `@timestamp` (from `TimeCreated`), `host.name`,
//! `host.os.type`, `event.code`, `event.provider`, `user.name` /
//! `user.domain`, and `process.*` for process creation.
//!
//! A Security 4688 event (process creation without Sysmon) also gets the
//! Sysmon names of its fields, as pySigma's Windows audit pipeline maps
//! them, so `process_creation` rules run on it unmodified: `Image` from
//! `NewProcessName`, `ParentImage` from `ParentProcessName`,
//! `ParentProcessId` from `ProcessId`, `LogonId` from `SubjectLogonId`,
//! `IntegrityLevel` from `MandatoryLabel` and `User` from the target (else
//! subject) account. A name already present is left alone; 4688's own
//! `ProcessId` (the creator's) keeps its meaning.
//!
//! Invariant: a record is claimed only when its channel is a string and its
//! event id a number (or a decimal string, or evtx's `{"#text": n}`), in one
//! of the shapes above; a `Linux-` channel (Sysmon for Linux, which writes
//! the same record shape) is not a Windows one.

mod channel;

use serde_json::{Map, Value};

use super::{Recognition, Recognizer};
use crate::event::Event;

/// Where one shape keeps the system fields and the event data.
struct Shape {
    name: &'static str,
    channel: &'static str,
    event_id: &'static [&'static str],
    provider: &'static [&'static str],
    computer: &'static [&'static str],
    time: &'static [&'static str],
    /// Object paths holding event data, first present wins; empty: the
    /// top level.
    data: &'static [&'static str],
}

const EVTX: Shape = Shape {
    name: "windows.evtx",
    channel: "Event.System.Channel",
    event_id: &["Event.System.EventID"],
    provider: &["Event.System.Provider.#attributes.Name"],
    computer: &["Event.System.Computer"],
    time: &["Event.System.TimeCreated.#attributes.SystemTime"],
    data: &["Event.EventData"],
};

const WINLOGBEAT: Shape = Shape {
    name: "windows.winlogbeat",
    channel: "winlog.channel",
    event_id: &["winlog.event_id", "event.code"],
    provider: &["winlog.provider_name"],
    computer: &["winlog.computer_name", "host.name"],
    time: &[],
    data: &["winlog.event_data"],
};

const FLAT: Shape = Shape {
    name: "windows.flat",
    channel: "Channel",
    event_id: &["EventID"],
    provider: &["SourceName", "Provider_Name", "ProviderName"],
    computer: &["Hostname", "Computer"],
    time: &["EventTime", "TimeCreated"],
    data: &[],
};

/// evtx_dump JSON.
pub struct Evtx;
/// Winlogbeat 7 and 8.
pub struct Winlogbeat;
/// Flat NXLog / Logstash JSON.
pub struct Flat;

impl Recognizer for Evtx {
    fn name(&self) -> &'static str {
        EVTX.name
    }
    fn claims(&self, event: &Event) -> bool {
        EVTX.claims(event)
    }
    fn apply(&self, event: &mut Event) -> Recognition {
        EVTX.apply(event)
    }
}

impl Recognizer for Winlogbeat {
    fn name(&self) -> &'static str {
        WINLOGBEAT.name
    }
    fn claims(&self, event: &Event) -> bool {
        WINLOGBEAT.claims(event)
    }
    fn apply(&self, event: &mut Event) -> Recognition {
        WINLOGBEAT.apply(event)
    }
}

impl Recognizer for Flat {
    fn name(&self) -> &'static str {
        FLAT.name
    }
    fn claims(&self, event: &Event) -> bool {
        FLAT.claims(event) && FLAT.first_str(event, FLAT.provider).is_some()
    }
    fn apply(&self, event: &mut Event) -> Recognition {
        FLAT.apply(event)
    }
}

/// An event id as Windows writes it: a number, a decimal string, or an
/// object whose `#text` is one (evtx with `Qualifiers`).
fn event_id(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) if !s.is_empty() && s.len() <= 10 => s.parse().ok(),
        Value::Object(m) => m.get("#text").and_then(event_id),
        _ => None,
    }
}

impl Shape {
    fn first<'e>(&self, event: &'e Event, paths: &[&str]) -> Option<&'e Value> {
        paths.iter().find_map(|p| event.peek(p))
    }

    fn first_str<'e>(&self, event: &'e Event, paths: &[&str]) -> Option<&'e str> {
        paths
            .iter()
            .find_map(|p| event.peek(p).and_then(Value::as_str))
    }

    fn claims(&self, event: &Event) -> bool {
        // Sysmon for Linux writes the same record shape on a Linux channel.
        let windows_channel = |c: &str| {
            !c.is_empty() && !c.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("Linux-"))
        };
        event.peek_str(self.channel).is_some_and(windows_channel)
            && self
                .first(event, self.event_id)
                .and_then(event_id)
                .is_some()
    }

    fn data<'e>(&self, event: &'e Event) -> Option<&'e Map<String, Value>> {
        if self.data.is_empty() {
            return Some(&event.0);
        }
        self.data
            .iter()
            .find_map(|p| event.peek(p).and_then(Value::as_object))
    }

    fn data_mut<'e>(&self, event: &'e mut Event) -> Option<&'e mut Map<String, Value>> {
        let Some(path) = self.data.first() else {
            return Some(&mut event.0);
        };
        let mut map = &mut event.0;
        for seg in path.split('.') {
            map = map.get_mut(seg)?.as_object_mut()?;
        }
        Some(map)
    }

    fn apply(&self, event: &mut Event) -> Recognition {
        let channel = event.peek_str(self.channel).unwrap_or_default().to_owned();
        let id = self
            .first(event, self.event_id)
            .and_then(event_id)
            .unwrap_or_default();
        let (service, dataset) = match channel::service(&channel) {
            Some((s, d)) => (Some(s), d),
            None => (None, "windows.eventlog"),
        };
        let event_type = self
            .data(event)
            .and_then(|d| d.get("EventType"))
            .and_then(Value::as_str);
        let category = channel::category(service, id, event_type);
        if service == Some("security") && id == 4688 {
            self.audit_process_names(event);
        }
        self.fill_ecs(event, id, category);
        Recognition {
            recognizer: self.name,
            product: "windows",
            service,
            category,
            dataset,
        }
    }

    /// The Sysmon names of a 4688 event's fields (see the module docs).
    fn audit_process_names(&self, event: &mut Event) {
        let Some(data) = self.data_mut(event) else {
            return;
        };
        let text = |d: &Map<String, Value>, k: &str| {
            d.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && *s != "-")
                .map(str::to_owned)
        };
        let account = |d: &Map<String, Value>, user: &str, domain: &str| {
            let name = text(d, user)?;
            Some(match text(d, domain) {
                Some(dom) => format!("{dom}\\{name}"),
                None => name,
            })
        };
        let mut add = Vec::new();
        for (sysmon, audit) in [
            ("Image", "NewProcessName"),
            ("ParentImage", "ParentProcessName"),
            ("ParentProcessId", "ProcessId"),
            ("LogonId", "SubjectLogonId"),
        ] {
            if let Some(v) = data.get(audit) {
                add.push((sysmon, v.clone()));
            }
        }
        if let Some(label) = data.get("MandatoryLabel").and_then(Value::as_str) {
            let level = match label {
                "S-1-16-0" => "Untrusted",
                "S-1-16-4096" => "Low",
                "S-1-16-8192" => "Medium",
                "S-1-16-8448" => "MediumPlus",
                "S-1-16-12288" => "High",
                "S-1-16-16384" => "System",
                "S-1-16-20480" => "ProtectedProcess",
                _ => label,
            };
            add.push(("IntegrityLevel", Value::from(level)));
        }
        let user = account(data, "TargetUserName", "TargetDomainName")
            .or_else(|| account(data, "SubjectUserName", "SubjectDomainName"));
        if let Some(user) = user {
            add.push(("User", Value::from(user)));
        }
        for (k, v) in add {
            if !data.contains_key(k) {
                data.insert(k.to_owned(), v);
            }
        }
    }

    fn fill_ecs(&self, event: &mut Event, id: u32, category: Option<&str>) {
        let mut fill: Vec<(&str, Value)> = vec![
            ("event.code", Value::from(id.to_string())),
            ("host.os.type", Value::from("windows")),
            ("host.os.family", Value::from("windows")),
        ];
        if let Some(p) = self.first_str(event, self.provider) {
            fill.push(("event.provider", Value::from(p)));
        }
        if let Some(c) = self.first_str(event, self.computer) {
            fill.push(("host.name", Value::from(c)));
        }
        if let Some(t) = self
            .first(event, self.time)
            .and_then(|v| crate::time::parse_value(v, jiff::Timestamp::UNIX_EPOCH))
        {
            fill.push(("@timestamp", Value::from(crate::time::format_rfc3339(t))));
        }
        if let Some(data) = self.data(event) {
            let user = ["User", "TargetUserName", "SubjectUserName"]
                .iter()
                .find_map(|k| data.get(*k).and_then(Value::as_str))
                .filter(|u| !u.is_empty() && *u != "-");
            if let Some(user) = user {
                match user.split_once('\\') {
                    Some((domain, name)) => {
                        fill.push(("user.name", Value::from(name)));
                        fill.push(("user.domain", Value::from(domain)));
                    }
                    None => fill.push(("user.name", Value::from(user))),
                }
            }
            for (ecs, native) in [
                ("process.executable", "Image"),
                ("process.command_line", "CommandLine"),
                ("process.working_directory", "CurrentDirectory"),
                ("process.parent.executable", "ParentImage"),
                ("process.parent.command_line", "ParentCommandLine"),
            ] {
                if let Some(v) = data.get(native).and_then(Value::as_str) {
                    fill.push((ecs, Value::from(v)));
                }
            }
            if let Some(image) = data.get("Image").and_then(Value::as_str)
                && let Some(name) = image.rsplit(['\\', '/']).next().filter(|n| !n.is_empty())
            {
                fill.push(("process.name", Value::from(name)));
            }
            let new_pid = if id == 4688 {
                "NewProcessId"
            } else {
                "ProcessId"
            };
            for (ecs, native) in [
                ("process.pid", new_pid),
                ("process.parent.pid", "ParentProcessId"),
            ] {
                if let Some(pid) = data.get(native).and_then(pid) {
                    fill.push((ecs, Value::from(pid)));
                }
            }
        }
        if category == Some("process_creation") {
            fill.push(("event.category", Value::from(vec!["process"])));
            fill.push(("event.type", Value::from(vec!["start"])));
        }
        for (path, value) in fill {
            if event.peek(path).is_none() {
                event.set(path, value);
            }
        }
    }
}

/// A process id as Windows writes it: a number, a decimal string or a
/// `0x` hexadecimal string (Security events).
fn pid(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests;
