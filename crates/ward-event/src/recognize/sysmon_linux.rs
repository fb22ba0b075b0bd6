//! Sysmon for Linux: its events as it writes them to syslog, one XML
//! `<Event>` per message (`<Provider Name="Linux-Sysmon"/>`,
//! `<EventID>`, `<EventData><Data Name="Image">…</Data>…`).
//!
//! Sigma log sources: `product: linux` with the category of the event ID
//! (1 `process_creation`, 3 `network_connection`, 5 `process_termination`,
//! 11 `file_event`, 23 `file_delete`, …) and `service: sysmon`. Each
//! `Data` element becomes a top-level field under its own name (`Image`,
//! `CommandLine`, `ParentImage`, `User`, …), as SigmaHQ's Linux rules name
//! them, and its ECS counterpart is added.
//!
//! [`parse`] is bounded ([`MAX_XML`], [`MAX_DATA`]) and reads only the
//! elements it needs; it is not a general XML parser.

use serde_json::Value;

use super::native;
use super::{Recognition, Recognizer};
use crate::event::Event;

/// The longest event accepted, in bytes.
pub const MAX_XML: usize = 64 * 1024;
/// The most `Data` elements read from one event.
pub const MAX_DATA: usize = 128;

/// What [`parse`] reads from one event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SysmonEvent {
    /// `System/EventID`.
    pub event_id: u32,
    /// `System/Computer`.
    pub computer: Option<String>,
    /// `EventData/Data`, name and unescaped text, in order.
    pub data: Vec<(String, String)>,
}

/// Reads a Sysmon for Linux event; `None` when the text is not one.
pub fn parse(xml: &str) -> Option<SysmonEvent> {
    if xml.len() > MAX_XML || !xml.contains("Linux-Sysmon") {
        return None;
    }
    let event_id = element(xml, "EventID")?.trim().parse().ok()?;
    let computer = element(xml, "Computer").map(unescape);
    let mut data = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Data Name=\"") {
        if data.len() >= MAX_DATA {
            break;
        }
        let after = &rest[start + 12..];
        let name_end = after.find('"')?;
        let name = &after[..name_end];
        let tail = &after[name_end + 1..];
        if let Some(empty) = tail.strip_prefix("/>") {
            data.push((name.to_owned(), String::new()));
            rest = empty;
            continue;
        }
        let body = tail.strip_prefix('>')?;
        let end = body.find("</Data>")?;
        data.push((name.to_owned(), unescape(&body[..end])));
        rest = &body[end + 7..];
    }
    Some(SysmonEvent {
        event_id,
        computer,
        data,
    })
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(&xml[start..start + len])
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Sigma's category for a Sysmon event ID.
fn category(id: u32) -> Option<&'static str> {
    Some(match id {
        1 => "process_creation",
        3 => "network_connection",
        4 | 16 => "sysmon_status",
        5 => "process_termination",
        9 => "raw_access_thread",
        11 => "file_event",
        23 | 26 => "file_delete",
        _ => return None,
    })
}

/// See the module documentation.
pub struct SysmonLinux;

fn xml_body(e: &Event) -> Option<&str> {
    e.peek_str("message")
        .filter(|m| m.trim_start().starts_with("<Event>") && m.contains("Linux-Sysmon"))
}

impl Recognizer for SysmonLinux {
    fn name(&self) -> &'static str {
        "linux.sysmon"
    }

    fn claims(&self, event: &Event) -> bool {
        xml_body(event).is_some()
    }

    fn apply(&self, e: &mut Event) -> Recognition {
        let parsed = xml_body(e).and_then(parse);
        let mut cat = None;
        if let Some(ev) = parsed {
            cat = category(ev.event_id);
            e.set("event.code", Value::from(ev.event_id.to_string()));
            e.0.entry("EventID").or_insert(Value::from(ev.event_id));
            if let Some(c) = ev.computer {
                native::put(e, "host.name", &c);
            }
            for (name, value) in ev.data {
                if !name.is_empty() && !name.contains('.') && !e.0.contains_key(&name) {
                    e.0.insert(name, Value::String(value));
                }
            }
        }
        native::put(e, "host.os.type", "linux");
        for (from, to) in [
            ("Image", "process.executable"),
            ("CommandLine", "process.command_line"),
            ("CurrentDirectory", "process.working_directory"),
            ("ParentImage", "process.parent.executable"),
            ("ParentCommandLine", "process.parent.command_line"),
            ("User", "user.name"),
            ("TargetFilename", "file.path"),
            ("DestinationIp", "destination.ip"),
            ("SourceIp", "source.ip"),
        ] {
            native::copy(e, from, to);
        }
        for (from, to) in [
            ("ProcessId", "process.pid"),
            ("ParentProcessId", "process.parent.pid"),
            ("DestinationPort", "destination.port"),
            ("SourcePort", "source.port"),
        ] {
            if let Some(n) = native::text(e, from).and_then(|s| s.parse::<u64>().ok()) {
                e.set(to, Value::from(n));
            }
        }
        match cat {
            Some("process_creation") => native::classify(e, &["process"], &["start"]),
            Some("process_termination") => native::classify(e, &["process"], &["end"]),
            Some("network_connection") => native::classify(e, &["network"], &["connection"]),
            Some("file_event") => native::classify(e, &["file"], &["creation"]),
            Some("file_delete") => native::classify(e, &["file"], &["deletion"]),
            _ => {}
        }
        native::kind_event(e);
        Recognition {
            recognizer: self.name(),
            product: "linux",
            service: Some("sysmon"),
            category: cat,
            dataset: "sysmon_linux",
        }
    }
}
