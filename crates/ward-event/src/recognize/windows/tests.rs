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

#[test]
fn sysmon_for_linux_is_not_windows() {
    for v in [
        json!({"Event": {"System": {"Provider": {"#attributes": {"Name": "Linux-Sysmon"}},
            "EventID": 1, "Channel": "Linux-Sysmon/Operational", "Computer": "web1"},
            "EventData": {"Image": "/usr/bin/curl"}}}),
        json!({"Channel": "Linux-Sysmon/Operational", "EventID": 3, "SourceName": "Linux-Sysmon"}),
    ] {
        assert!(
            !RECOGNIZERS_WINDOWS
                .iter()
                .any(|r| r.claims(&event(v.clone()))),
            "{v}"
        );
    }
}

const RECOGNIZERS_WINDOWS: [&dyn Recognizer; 3] = [&Evtx, &Winlogbeat, &Flat];

fn event(v: Value) -> Event {
    match v {
        Value::Object(m) => Event(m),
        _ => Event::default(),
    }
}

/// Records of other sources, as their vendors document them, and every
/// event of Ward's own rule pack: no Windows recognizer claims one.
#[test]
fn other_sources_are_never_claimed() {
    let mut others = vec![
        json!({"eventVersion": "1.08", "eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
            "awsRegion": "us-east-1", "userIdentity": {"type": "IAMUser", "userName": "mallory"}}),
        json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "verb": "create",
            "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "default"}}),
        json!({"@timestamp": 1700000000000u64, "action": "org.disable_two_factor_requirement", "actor": "octocat",
            "org": "acme", "_document_id": "abc"}),
        json!({"eventType": "user.session.start", "actor": {"alternateId": "a@b.c"}, "outcome": {"result": "SUCCESS"}}),
        json!({"type": "SYSCALL", "msg": "audit(1700000000.123:42)", "syscall": "59", "exe": "/usr/bin/id"}),
        json!({"operationName": "Microsoft.Compute/virtualMachines/delete", "category": "Administrative",
            "resourceId": "/subscriptions/x", "properties": {"eventCategory": "Administrative"}}),
        json!({"protoPayload": {"methodName": "SetIamPolicy", "serviceName": "iam.googleapis.com"}}),
        json!({"Workload": "Exchange", "Operation": "New-InboxRule", "RecordType": 1, "UserId": "a@b.c"}),
        json!({"Channel": "Security"}),
        json!({"EventID": 4688, "SourceName": "Microsoft-Windows-Security-Auditing"}),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                others.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
        }
    }
    assert!(others.len() > 100, "{} records", others.len());
    for v in others {
        let e = event(v.clone());
        assert!(!RECOGNIZERS_WINDOWS.iter().any(|r| r.claims(&e)), "{v}");
    }
}

/// JSON objects over the keys and values the Windows shapes use.
fn shaped() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let key = prop_oneof![
        Just("Event"),
        Just("System"),
        Just("EventData"),
        Just("UserData"),
        Just("Channel"),
        Just("EventID"),
        Just("SourceName"),
        Just("Provider_Name"),
        Just("winlog"),
        Just("channel"),
        Just("event_id"),
        Just("event_data"),
        Just("#text"),
        Just("#attributes"),
        Just("Image"),
        Just("NewProcessName"),
        Just("ProcessId"),
        Just("NewProcessId"),
        Just("MandatoryLabel"),
        Just("User"),
        Just("TargetUserName"),
        Just("EventType"),
        Just("TimeCreated"),
        Just("SystemTime"),
        Just("Computer"),
        Just("event"),
        Just("code"),
        Just("host"),
        Just("name"),
        Just("process"),
    ]
    .prop_map(str::to_owned);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u32>().prop_map(|n| json!(n.to_string())),
        prop_oneof![
            Just("Security"),
            Just("Microsoft-Windows-Sysmon/Operational"),
            Just("4688"),
            Just("0x1a"),
            Just("0xZZ"),
            Just("S-1-16-12288"),
            Just("DOM\\user"),
            Just("\\"),
            Just("-"),
            Just(""),
            Just("Linux-Sysmon/Operational"),
            Just("2024-01-01T00:00:00Z"),
        ]
        .prop_map(|s| json!(s)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::btree_map(key.clone(), inner.clone(), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            proptest::collection::vec(inner, 0..3).prop_map(Value::Array),
        ]
    })
}

proptest::proptest! {
    /// Recognition never panics, and a Windows claim always stamps a
    /// Windows log source on a record that has a channel and an event id.
    #[test]
    fn recognition_never_panics(v in shaped()) {
        let mut e = event(v);
        let claimed = RECOGNIZERS_WINDOWS.iter().any(|r| r.claims(&e));
        let r = recognize(&mut e, None);
        if claimed {
            let r = r.unwrap();
            proptest::prop_assert_eq!(r.product, "windows");
            proptest::prop_assert!(e.get_str("event.code").is_some());
        }
    }
}
