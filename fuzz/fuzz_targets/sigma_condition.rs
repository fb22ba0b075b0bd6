//! Fuzz condition expressions inside an otherwise valid rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_sigma::{Engine, EventFields, FieldValue, RuleSet};

/// A small fixed event, implemented directly on the trait.
struct Event;

impl EventFields for Event {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        Some(match name {
            "CommandLine" => FieldValue::Str("cmd.exe /c whoami".into()),
            "Image" => FieldValue::Str("C:\\Windows\\cmd.exe".into()),
            "EventID" | "a" => FieldValue::Int(1),
            "b" => FieldValue::Str("xx".into()),
            "n" => FieldValue::Float(5.5),
            _ => return None,
        })
    }

    fn keywords(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        visit("cmd.exe /c whoami") || visit("xx")
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(cond) = std::str::from_utf8(data) else {
        return;
    };
    if cond.contains(['\n', '\r', '\'']) {
        return;
    }
    let rule = format!(
        "title: t\nlogsource:\n    product: x\ndetection:\n    sel_a:\n        a: 1\n    sel_b:\n        b|contains: x\n    filter:\n        c: null\n    condition: '{cond}'\n"
    );
    if let Ok(set) = RuleSet::from_yaml_str(&rule, "fuzz.yml", &[]) {
        let _ = Engine::new(&set).matches(&Event);
    }
});
