//! Fuzzes `Redactor::redact_text`: never panics, output is stable under a
//! second pass (idempotence), and no detected value survives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_redact::{RedactConfig, Redactor};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(r) = Redactor::new(&RedactConfig::default()) else { return };
    let (once, _) = r.redact_text(text, b"fuzz-key");
    let (twice, report) = r.redact_text(&once, b"fuzz-key");
    assert_eq!(once, twice, "redaction is not idempotent");
    assert!(report.is_empty(), "second pass found something");
});
