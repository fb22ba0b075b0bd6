#![no_main]
//! OpenSCAP XCCDF results and ARF documents: never a panic, bounded output.

use libfuzzer_sys::fuzz_target;
use ward_event::{Limits, xccdf};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_envelope_records: 64, ..Limits::default() };
    if let Ok(events) = xccdf::decode(data, &limits) {
        assert!(events.len() <= 64);
    }
});
