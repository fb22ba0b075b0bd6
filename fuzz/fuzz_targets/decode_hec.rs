#![no_main]
//! Splunk HEC `/event` and `/raw` decoding.

use libfuzzer_sys::fuzz_target;
use ward_event::hec::{self, RawParams};
use ward_event::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_line_bytes: 4096, max_depth: 16, ..Limits::default() };
    let _ = hec::decode_event(data, &limits);
    let params = RawParams { sourcetype: Some("_json".into()), ..RawParams::default() };
    let _ = hec::decode_raw(data, &params, &limits);
});
