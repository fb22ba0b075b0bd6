//! Fuzzes `ward_prompt::Detector::inspect`: any bytes (read as lossy UTF-8)
//! must give a verdict with a score in 0..=1 and short, unique reasons.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use ward_prompt::Detector;

static DETECTOR: OnceLock<Detector> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let detector = DETECTOR.get_or_init(Detector::new);
    let text = String::from_utf8_lossy(data);
    let verdict = detector.inspect(&text);
    assert!((0.0..=1.0).contains(&verdict.score));
    let mut codes: Vec<&str> = verdict.reasons.iter().map(|r| r.code).collect();
    let n = codes.len();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), n);
    assert!(verdict.reasons.iter().all(|r| r.detail.len() <= 84));
});
