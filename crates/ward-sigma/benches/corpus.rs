//! The benchmark corpus: the SigmaHQ regression events (raw Windows JSON)
//! plus generated ECS events, shared by the criterion bench and the
//! `throughput` example.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/sigma")
}

pub fn pipelines_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../pipelines")
}

/// A pipeline file: this crate's `pipelines/` (raw Windows JSON) or
/// Ward's built-in `pipelines/`.
#[allow(dead_code)]
pub fn pipeline_path(name: &str) -> PathBuf {
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(name);
    if own.exists() {
        own
    } else {
        pipelines_dir().join(name)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

/// Regression events, as stored (raw Windows JSON).
pub fn regression_events() -> Vec<Value> {
    let mut files = Vec::new();
    walk(&data_dir().join("regression_data"), &mut files);
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        out.extend(
            serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .flatten(),
        );
    }
    out
}

/// Generated Ward ECS events: process starts, logins, network flows.
pub fn ecs_events(n: usize) -> Vec<Value> {
    let exes = [
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Program Files\\App\\app.exe",
        "/usr/bin/python3",
        "C:\\Windows\\System32\\cmd.exe",
        "/usr/sbin/sshd",
    ];
    let cmds = [
        "svchost.exe -k netsvcs",
        "app.exe --update",
        "python3 manage.py runserver",
        "cmd.exe /c dir C:\\Users",
        "sshd -D",
    ];
    (0..n)
        .map(|i| match i % 3 {
            0 => json!({"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process", "type": "start", "action": "exec"},
                "host": {"name": format!("host{}", i % 17), "os": {"type": if i % 2 == 0 { "windows" } else { "linux" }}},
                "process": {"executable": exes[i % exes.len()], "command_line": cmds[i % cmds.len()], "pid": i,
                    "parent": {"executable": exes[(i + 1) % exes.len()]}},
                "user": {"name": format!("user{}", i % 23)}}),
            1 => json!({"@timestamp": "2026-01-01T00:00:01Z", "event": {"category": "authentication", "action": "login", "outcome": if i % 5 == 0 { "failure" } else { "success" }},
                "service": {"name": "api"}, "user": {"name": format!("user{}", i % 23)}, "source": {"ip": format!("10.0.{}.{}", i % 7, i % 250)}}),
            _ => json!({"@timestamp": "2026-01-01T00:00:02Z", "event": {"category": "network", "action": "connection"}, "host": {"os": {"type": "windows"}},
                "source": {"ip": "10.0.0.5", "port": 50000 + (i % 1000)}, "destination": {"ip": format!("93.184.{}.{}", i % 3, i % 200), "port": 443},
                "process": {"executable": exes[i % exes.len()]}}),
        })
        .collect()
}

/// Raw Windows events flattened to top-level Sigma names (EventData and
/// System keys), for engines run without a mapping pipeline.
pub fn flatten_windows(ev: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(e) = ev.get("Event") {
        if let Some(Value::Object(sys)) = e.get("System") {
            for (k, v) in sys {
                if !v.is_object() {
                    out.insert(k.clone(), v.clone());
                }
            }
            if let Some(name) = sys
                .get("Provider")
                .and_then(|p| p.get("#attributes"))
                .and_then(|a| a.get("Name"))
            {
                out.insert("Provider_Name".into(), name.clone());
            }
        }
        if let Some(Value::Object(data)) = e.get("EventData") {
            for (k, v) in data {
                out.insert(k.replace(' ', ""), v.clone());
            }
        }
        return Value::Object(out);
    }
    ev.clone()
}

/// The mixed corpus: regression events and as many ECS events.
pub fn mixed() -> Vec<Value> {
    let mut events = regression_events();
    let n = events.len();
    events.extend(ecs_events(n));
    events
}
