#![no_main]
//! NDJSON and plain-text decoding, gzip included, on arbitrary bytes.

use libfuzzer_sys::fuzz_target;
use ward_event::{Limits, gunzip, ndjson, text};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_line_bytes: 4096, max_depth: 16, ..Limits::default() };
    let _ = ndjson::decode(data, &limits);
    let _ = text::decode(data, &limits);
    if let Ok(plain) = gunzip(data, 1 << 20) {
        let _ = ndjson::decode(&plain, &limits);
    }
});
