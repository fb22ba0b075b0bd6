#![no_main]
//! Elasticsearch `_bulk` decoding and the response built from it.

use libfuzzer_sys::fuzz_target;
use ward_event::{Limits, bulk};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_line_bytes: 4096, max_depth: 16, ..Limits::default() };
    let items = bulk::decode(data, &limits);
    let outcomes: Vec<_> = items.iter().filter_map(bulk::BulkItem::rejection).collect();
    let _ = bulk::response(&outcomes, 1);
});
