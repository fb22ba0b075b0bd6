#![no_main]
//! The access-log (combined/common format) parser and the Sysmon for Linux
//! reader, and every text recognizer, on arbitrary lines.

use libfuzzer_sys::fuzz_target;
use ward_event::Event;
use ward_event::recognize::{RECOGNIZERS, access_log, sysmon_linux};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Some(l) = access_log::parse(line) {
        assert!((100..600).contains(&l.status));
    }
    if let Some(e) = sysmon_linux::parse(line) {
        assert!(e.data.len() <= sysmon_linux::MAX_DATA);
    }
    for tag in ["nginx", "sshd", "sudo", "sysmon"] {
        let mut event = Event::default();
        event.set("message", line.into());
        event.set("process.name", tag.into());
        for r in RECOGNIZERS {
            if r.claims(&event) {
                r.apply(&mut event.clone());
            }
        }
    }
});
