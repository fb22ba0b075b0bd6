#![no_main]
//! Envelope splitting (CloudTrail Records, Event Hubs records, Kubernetes
//! EventList, EventBridge) on arbitrary documents, and recognition of what
//! comes out.

use libfuzzer_sys::fuzz_target;
use ward_event::{Limits, envelope, finalize};

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_depth: 16, max_envelope_records: 8, ..Limits::default() };
    let ctx = ward_event::Context {
        input: "fuzz".into(),
        source: "fuzz".into(),
        tenant: "fuzz".into(),
        received: ward_event::Timestamp::UNIX_EPOCH,
    };
    for mut event in envelope::decode_document(data, &limits).into_iter().flatten() {
        finalize(&mut event, &ctx);
    }
    for mut event in ward_event::ndjson::decode(data, &limits).into_iter().flatten() {
        finalize(&mut event, &ctx);
    }
});
