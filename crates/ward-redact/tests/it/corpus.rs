//! The quality gate: generates the labelled corpus with
//! `scripts/redact_corpus.py` (needs `python3`), redacts every line, and
//! asserts recall >= 99 % for every kind and at most 1 false positive per
//! 10,000 benign lines. A planted value counts as found when it no longer
//! appears in the output (as text, and as an event for JSON lines).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use ward_redact::{RedactConfig, Redactor};

#[test]
fn corpus_recall_and_false_positives() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/redact_corpus.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--out", dir.path().to_str().unwrap(), "--seed", "7"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is required to generate the redaction corpus (apt-get install python3): {e}"));
    assert!(
        out.status.success(),
        "redact_corpus.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let corpus = std::fs::read_to_string(dir.path().join("corpus.jsonl")).unwrap();

    let r = Redactor::new(&RedactConfig::default()).unwrap();
    let key = b"corpus-test-key";
    let mut per_kind: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut misses: Vec<String> = Vec::new();
    let (mut benign, mut fps) = (0u32, Vec::new());
    // The benign lines, read in order as one stream, must not open a key
    // block: a block masks up to 1000 lines after it.
    let mut stream = ward_redact::BlockTracker::default();
    let now = std::time::Instant::now();
    for line in corpus.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let text = rec["text"].as_str().unwrap();
        let labels = rec["labels"].as_array().unwrap();
        let (red, _) = r.redact_text(text, key);
        let as_event = serde_json::from_str::<serde_json::Map<String, Value>>(text)
            .ok()
            .map(|mut ev| {
                r.redact_event(&mut ev, key);
                Value::Object(ev).to_string()
            });
        if labels.is_empty() {
            benign += 1;
            if !stream.feed(text, now).is_empty() {
                fps.push(format!("  key block opened by: {text}"));
            }
            let event_changed = serde_json::from_str::<serde_json::Map<String, Value>>(text)
                .ok()
                .is_some_and(|mut ev| !r.redact_event(&mut ev, key).is_empty());
            if red != text || event_changed {
                fps.push(format!("  {text}\n  -> {red}"));
            }
            continue;
        }
        for l in labels {
            let kind = l["kind"].as_str().unwrap().to_string();
            let value = l["value"].as_str().unwrap();
            let escaped = serde_json::to_string(value).unwrap();
            let found = survives(text, &red, value) == 0
                && as_event.as_ref().is_none_or(|e| {
                    survives(text, e, value) == 0
                        && survives(text, e, &escaped[1..escaped.len() - 1]) == 0
                });
            let e = per_kind.entry(kind.clone()).or_default();
            e.0 += 1;
            if found {
                e.1 += 1;
            } else if misses.len() < 40 {
                misses.push(format!("  [{kind}] {text}\n  -> {red}"));
            }
        }
    }
    println!(
        "{:<20} {:>7} {:>7} {:>8}",
        "kind", "planted", "found", "recall"
    );
    let mut failing = Vec::new();
    for (kind, (planted, found)) in &per_kind {
        let recall = f64::from(*found) / f64::from(*planted);
        println!(
            "{kind:<20} {planted:>7} {found:>7} {:>7.2}%",
            recall * 100.0
        );
        if recall < 0.99 {
            failing.push(kind.clone());
        }
    }
    let fp_per_10k = fps.len() as f64 * 10_000.0 / f64::from(benign);
    println!(
        "benign lines: {benign}, false positives: {} ({fp_per_10k:.2} per 10k)",
        fps.len()
    );
    assert!(
        per_kind.len() >= 37,
        "every kind must be planted, got {}",
        per_kind.len()
    );
    assert!(
        fp_per_10k <= 1.0,
        "{} false positives:\n{}",
        fps.len(),
        fps.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(
        failing.is_empty(),
        "recall below 99% for {failing:?}; misses:\n{}",
        misses.join("\n")
    );
    assert!(benign >= 10_000);
}

/// How many planted copies of `value` survive in `out`. Short values (a CVV)
/// may also occur by chance elsewhere in the line, so for them a drop in the
/// number of occurrences is what counts.
fn survives(original: &str, out: &str, value: &str) -> usize {
    if value.len() >= 8 {
        out.matches(value).count()
    } else {
        let before = original.matches(value).count();
        let after = out.matches(value).count();
        usize::from(after >= before)
    }
}
