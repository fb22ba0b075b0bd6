//! Measures the detector on a split written by `scripts/prompt_dataset.py`.
//!
//! Reads JSON lines `{"text", "label", "source"}` (label 1 = injection) and
//! prints recall on injections and false-positive rate on benign texts for
//! the rules alone, the classifier alone and the combined detector, overall
//! and per source. `--errors` lists misses and false positives; `--sweep`
//! shows other solo weights of the classifier (its weight when no rule fired);
//! `--errors-json` writes each error whole, with its verdict, as a JSON line
//! on standard error. Errors of the blind corpora (`bastion/`, `aib/`) are
//! never printed.
//!
//! ```text
//! cargo run --release -p ward-prompt --example prompt_eval -- target/prompt-data/heldout.jsonl
//! ```

use std::collections::BTreeMap;
use std::io::BufRead;

use ward_prompt::{Detector, THRESHOLD};

/// Held-out corpora kept blind: added after the rules were last changed,
/// measured in aggregate only.
const BLIND: &[&str] = &["bastion/", "aib/"];

#[derive(Default)]
struct Tally {
    pos: usize,
    tp: usize,
    neg: usize,
    fp: usize,
}

impl Tally {
    fn add(&mut self, label: bool, flagged: bool) {
        if label {
            self.pos += 1;
            self.tp += usize::from(flagged);
        } else {
            self.neg += 1;
            self.fp += usize::from(flagged);
        }
    }
    fn line(&self) -> String {
        let pct = |a: usize, b: usize| {
            if b == 0 {
                f64::NAN
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        format!(
            "recall {:6.2}% ({}/{})  FPR {:5.2}% ({}/{})",
            pct(self.tp, self.pos),
            self.tp,
            self.pos,
            pct(self.fp, self.neg),
            self.fp,
            self.neg
        )
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        return Err("usage: prompt_eval SPLIT.jsonl [--errors] [--errors-json] [--sweep]".into());
    };
    let show_errors = args.iter().any(|a| a == "--errors");
    let full_errors = args.iter().any(|a| a == "--errors-json");
    let sweep = args.iter().any(|a| a == "--sweep");
    let mut sweeps: BTreeMap<String, Tally> = BTreeMap::new();
    let full = Detector::new();
    let rules = Detector::rules_only();
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut totals: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_source: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_lang: BTreeMap<String, Tally> = BTreeMap::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let text = v["text"]
            .as_str()
            .ok_or(format!("{path}:{}: no text", n + 1))?;
        let label = v["label"].as_i64() == Some(1);
        let source = v["source"].as_str().unwrap_or("?").to_owned();
        let verdict = full.inspect(text);
        let flagged = verdict.score >= THRESHOLD;
        let rule_score = rules.inspect(text).score;
        let model_p = full.classifier_probability(text).unwrap_or(0.0);
        if sweep {
            // Other weights of the classifier when no rule fired (the
            // shipped one is ward_prompt::CLASSIFIER_SOLO_WEIGHT).
            for solo in [0.5f32, 0.6, 0.7, 0.8, 0.9] {
                let w = if rule_score >= ward_prompt::RULE_SUPPORT_MIN {
                    ward_prompt::CLASSIFIER_WEIGHT
                } else {
                    solo
                };
                let e = ward_prompt::classifier_evidence(model_p, w, ward_prompt::CLASSIFIER_FLOOR);
                let s = 1.0 - (1.0 - rule_score) * (1.0 - e);
                sweeps
                    .entry(format!("solo weight {solo:.1}"))
                    .or_default()
                    .add(label, s >= THRESHOLD);
            }
        }
        totals.entry("combined").or_default().add(label, flagged);
        totals
            .entry("rules only")
            .or_default()
            .add(label, rule_score >= THRESHOLD);
        totals
            .entry("classifier only")
            .or_default()
            .add(label, model_p >= THRESHOLD);
        by_source
            .entry(source.clone())
            .or_default()
            .add(label, flagged);
        if let Some(lang) = v["lang"].as_str() {
            by_lang
                .entry(lang.to_owned())
                .or_default()
                .add(label, flagged);
        }
        // The blind corpora's errors are never printed: only their
        // aggregate figures may be looked at (see the crate README).
        let blind = BLIND.iter().any(|b| source.starts_with(b));
        if full_errors && flagged != label && !blind {
            // The whole text and the verdict, as JSON on stderr.
            eprintln!(
                "{}",
                serde_json::json!({"source": source, "label": label, "verdict": verdict, "text": text})
            );
        }
        if show_errors && flagged != label && !blind {
            let short: String = text
                .chars()
                .take(160)
                .collect::<String>()
                .replace('\n', " ");
            let codes: Vec<String> = verdict
                .reasons
                .iter()
                .map(|r| format!("{}:{:.2}:{}", r.code, r.weight, r.detail))
                .collect();
            println!(
                "{} {source} score={:.2} [{}] {short}",
                if label { "MISS" } else { "FP  " },
                verdict.score,
                codes.join(" ")
            );
        }
    }
    println!("{path} (threshold {THRESHOLD})");
    for (k, t) in &totals {
        println!("  {k:<16} {}", t.line());
    }
    for (k, t) in &sweeps {
        println!("  sweep {k:<18} {}", t.line());
    }
    println!("  by source (combined):");
    for (k, t) in &by_source {
        println!("    {k:<30} {}", t.line());
    }
    if !by_lang.is_empty() {
        println!("  by language (combined; \"zu+de\": isiZulu wrapper, German instruction):");
        for (k, t) in &by_lang {
            println!("    {k:<30} {}", t.line());
        }
    }
    Ok(())
}
