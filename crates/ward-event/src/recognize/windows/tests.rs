use serde_json::{Value, json};

use super::*;
use crate::recognize::recognize;

fn recognized(v: Value) -> (Event, Option<Recognition>) {
    let Value::Object(m) = v else {
        panic!("object")
    };
    let mut e = Event(m);
    let r = recognize(&mut e, None);
    (e, r)
}

#[test]
fn evtx_sysmon_process_creation() {
    let (e, r) = recognized(json!({"Event": {"System": {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "ws1", "TimeCreated": {"#attributes": {"SystemTime": "2025-12-25T14:30:27.369114Z"}}},
        "EventData": {"Image": "C:\\Windows\\System32\\reg.exe", "CommandLine": "reg add x",
            "ProcessId": 14144, "ParentImage": "C:\\p.exe", "User": "WS1\\bob"}}}));
    let r = r.unwrap();
    assert_eq!(
        (r.recognizer, r.product, r.service, r.category),
        (
            "windows.evtx",
            "windows",
            Some("sysmon"),
            Some("process_creation")
        )
    );
    assert_eq!(
        e.get_str("ward.logsource.category"),
        Some("process_creation")
    );
    assert_eq!(e.get_str("event.dataset"), Some("windows.sysmon"));
    assert_eq!(e.get_str("@timestamp"), Some("2025-12-25T14:30:27.369Z"));
    assert_eq!(e.get_str("host.name"), Some("ws1"));
    assert_eq!(e.get_str("event.code"), Some("1"));
    assert_eq!(e.get_str("process.name"), Some("reg.exe"));
    assert_eq!(e.get("process.pid"), Some(&json!(14144)));
    assert_eq!(e.get_str("user.name"), Some("bob"));
    assert_eq!(e.get_str("user.domain"), Some("WS1"));
    assert_eq!(
        e.get_str("Event.EventData.Image"),
        Some("C:\\Windows\\System32\\reg.exe"),
        "native fields are kept"
    );
}

#[test]
fn security_4688_gets_sysmon_names() {
    let (e, r) = recognized(json!({"Event": {"System": {
        "EventID": 4688, "Channel": "Security", "Computer": "dc1"},
        "EventData": {"NewProcessName": "C:\\Windows\\System32\\whoami.exe",
            "NewProcessId": "0x1a2c", "ProcessId": "0x10", "ParentProcessName": "C:\\cmd.exe",
            "CommandLine": "whoami /all", "SubjectUserName": "alice", "SubjectDomainName": "CORP",
            "TargetUserName": "-", "MandatoryLabel": "S-1-16-12288", "SubjectLogonId": "0x3e7"}}}));
    let r = r.unwrap();
    assert_eq!(
        (r.service, r.category),
        (Some("security"), Some("process_creation"))
    );
    assert_eq!(
        e.get_str("Event.EventData.Image"),
        Some("C:\\Windows\\System32\\whoami.exe")
    );
    assert_eq!(
        e.get_str("Event.EventData.ParentImage"),
        Some("C:\\cmd.exe")
    );
    assert_eq!(e.get_str("Event.EventData.ParentProcessId"), Some("0x10"));
    assert_eq!(
        e.get_str("Event.EventData.ProcessId"),
        Some("0x10"),
        "native kept"
    );
    assert_eq!(e.get_str("Event.EventData.IntegrityLevel"), Some("High"));
    assert_eq!(e.get_str("Event.EventData.User"), Some("CORP\\alice"));
    assert_eq!(e.get_str("Event.EventData.LogonId"), Some("0x3e7"));
    assert_eq!(e.get("process.pid"), Some(&json!(0x1a2c)));
    assert_eq!(e.get("process.parent.pid"), Some(&json!(0x10)));
    assert_eq!(e.get("event.category"), Some(&json!(["process"])));
}

#[test]
fn winlogbeat_8_keeps_its_ecs_fields() {
    let (e, r) = recognized(json!({
        "@timestamp": "2024-03-01T10:00:00.000Z",
        "host": {"name": "win-host"},
        "event": {"code": "4104", "provider": "Microsoft-Windows-PowerShell"},
        "winlog": {"channel": "Microsoft-Windows-PowerShell/Operational", "event_id": "4104",
            "provider_name": "Microsoft-Windows-PowerShell", "computer_name": "win-host.corp",
            "event_data": {"ScriptBlockText": "IEX (New-Object Net.WebClient)"}}}));
    let r = r.unwrap();
    assert_eq!(
        (r.recognizer, r.service, r.category),
        ("windows.winlogbeat", Some("powershell"), Some("ps_script"))
    );
    assert_eq!(
        e.get_str("host.name"),
        Some("win-host"),
        "the sender's ECS wins"
    );
    assert_eq!(e.get_str("@timestamp"), Some("2024-03-01T10:00:00.000Z"));
}

#[test]
fn flat_nxlog_and_unknown_channels() {
    let (e, r) = recognized(
        json!({"EventTime": "2024-03-01 10:00:00", "Hostname": "ws2",
        "SourceName": "Microsoft-Windows-Sysmon", "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 13, "EventType": "SetValue", "TargetObject": "HKLM\\x"}),
    );
    let r = r.unwrap();
    assert_eq!(
        (r.recognizer, r.service, r.category),
        ("windows.flat", Some("sysmon"), Some("registry_set"))
    );
    assert_eq!(e.get_str("host.name"), Some("ws2"));
    let (e, r) = recognized(json!({"Channel": "Vendor/Custom", "EventID": "7",
        "Provider_Name": "Vendor"}));
    let r = r.unwrap();
    assert_eq!(
        (r.service, r.category, r.dataset),
        (None, None, "windows.eventlog")
    );
    assert_eq!(e.get_str("ward.logsource.product"), Some("windows"));
    assert!(e.get("ward.logsource.service").is_none());
}

#[test]
fn not_windows() {
    for v in [
        json!({"Channel": "x", "EventID": 1}),
        json!({"Channel": "Security", "EventID": "four", "SourceName": "x"}),
        json!({"Channel": "Linux-Sysmon/Operational", "EventID": 1}),
        json!({"Event": {"System": {"Channel": 5, "EventID": 1}}}),
        json!({"Event": {"System": {"Channel": "Security", "EventID": -1}}}),
        json!({"winlog": {"channel": "Security"}}),
        json!({"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"}),
    ] {
        let (_, r) = recognized(v.clone());
        assert!(r.is_none(), "{v}");
    }
}

#[test]
fn evtx_event_id_with_qualifiers() {
    let (_, r) = recognized(json!({"Event": {"System": {"Channel": "System",
        "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045}}}}));
    assert_eq!(r.unwrap().service, Some("system"));
}
