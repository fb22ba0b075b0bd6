#![no_main]
//! OTLP logs, protobuf and JSON.

use libfuzzer_sys::fuzz_target;
use ward_event::{Limits, otlp};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_depth: 16, ..Limits::default() };
    let _ = otlp::decode_protobuf(data, &limits);
    let _ = otlp::decode_json(data, &limits);
});
