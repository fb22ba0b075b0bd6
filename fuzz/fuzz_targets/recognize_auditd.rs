#![no_main]
//! The auditd text parser and the auditd recognizer on arbitrary lines.

use libfuzzer_sys::fuzz_target;
use ward_event::Event;
use ward_event::recognize::{RECOGNIZERS, auditd};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok(record) = auditd::parse(line) {
        assert!(record.fields.len() <= auditd::MAX_FIELDS);
    }
    let mut event = Event::default();
    event.set("message", line.into());
    for r in RECOGNIZERS {
        if r.claims(&event) {
            r.apply(&mut event.clone());
        }
    }
});
