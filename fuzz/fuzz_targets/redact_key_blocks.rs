//! Fuzzes `BlockTracker` over the lines of an input, with a clock that
//! advances by the first byte of each line: never panics, masked ranges lie
//! on character boundaries inside the line and do not overlap, a masked
//! line stays unchanged when fed again to a tracker in the same state, and a
//! tracker stays inside its limits (it leaves a block at most `max_lines`
//! lines after entering it).
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ward_redact::{BlockLimits, BlockTracker};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let limits = BlockLimits {
        max_lines: 8,
        max_bytes: 4096,
        max_duration: Duration::from_secs(60),
    };
    let mut t = BlockTracker::with_limits(limits);
    let mut now = Instant::now();
    let mut in_block_for = 0usize;
    for line in text.split('\n') {
        now += Duration::from_secs(u64::from(line.bytes().next().unwrap_or(0) % 8));
        let before = t.clone();
        let blocks = t.blocks();
        let ranges = t.feed(line, now);
        let mut last = 0;
        for r in &ranges {
            assert!(r.start >= last && r.start <= r.end && r.end <= line.len());
            assert!(line.is_char_boundary(r.start) && line.is_char_boundary(r.end));
            last = r.end;
        }
        let masked = before.clone().redact_line(line, now).into_owned();
        let mut again = before;
        assert_eq!(again.redact_line(&masked, now), masked, "masking is not stable");
        // A new BEGIN (or first body line) starts a new block.
        in_block_for = match (t.in_block(), t.blocks() != blocks) {
            (false, _) => 0,
            (true, true) => 1,
            (true, false) => in_block_for + 1,
        };
        assert!(in_block_for <= limits.max_lines + 1, "a block outlived its limit");
    }
});
