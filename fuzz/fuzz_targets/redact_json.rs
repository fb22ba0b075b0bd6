//! Fuzzes `Redactor::redact_event` on arbitrary JSON objects: never panics,
//! the result is still an object, and a second pass changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_redact::serde_json::{self, Map, Value};
use ward_redact::{RedactConfig, Redactor};

fuzz_target!(|data: &[u8]| {
    let Ok(mut event) = serde_json::from_slice::<Map<String, Value>>(data) else { return };
    let Ok(r) = Redactor::new(&RedactConfig::default()) else { return };
    r.redact_event(&mut event, b"fuzz-key");
    let once = event.clone();
    let again = r.redact_event(&mut event, b"fuzz-key");
    assert!(again.is_empty(), "second pass found {again:?}");
    assert_eq!(event, once, "redaction is not idempotent");
});
