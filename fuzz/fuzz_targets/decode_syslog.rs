#![no_main]
//! Syslog framing and parsing: the first byte picks the chunk size the
//! stream is pushed in, so that splits are explored too.

use libfuzzer_sys::fuzz_target;
use ward_event::{Limits, syslog};

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else { return };
    let received = ward_event::Timestamp::UNIX_EPOCH;
    let _ = syslog::parse(stream, received);
    let limits = Limits { max_frame_bytes: 512, ..Limits::default() };
    let mut framer = syslog::Framer::new(&limits);
    let chunk = usize::from(first % 64) + 1;
    for piece in stream.chunks(chunk) {
        for frame in framer.push(piece).into_iter().flatten() {
            assert!(frame.len() <= limits.max_frame_bytes);
            let _ = syslog::parse(&frame, received);
        }
    }
    while let Some(frame) = framer.finish() {
        if let Ok(frame) = frame {
            let _ = syslog::parse(&frame, received);
        }
    }
});
