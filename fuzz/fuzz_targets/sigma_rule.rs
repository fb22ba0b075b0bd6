//! Fuzz the Sigma rule parser and compiler: any bytes as a rule file must
//! yield rules or errors, never a panic; a rule that loads must evaluate
//! against a small event without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_sigma::{Correlator, Engine, EventFields, FieldValue, RuleSet};

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
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(set) = RuleSet::from_yaml_str(text, "fuzz.yml", &[]) else {
        return;
    };
    let engine = Engine::new(&set);
    let event = Event;
    let matches = engine.matches(&event);
    let mut correlator = Correlator::new(&set, &engine);
    let _ = correlator.observe(0, "e0", &event, &matches);
    let _ = ward_sigma::lint::check(&set);
});
