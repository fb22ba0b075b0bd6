//! The Rust feature extraction must match the training script's: the
//! probabilities it computed with the exported model
//! (`tests/data/model_parity.jsonl`, written by `scripts/prompt_train.py`)
//! are reproduced here.

use ward_prompt::Detector;

#[test]
fn classifier_matches_the_training_script() {
    let d = Detector::new();
    let rows = crate::jsonl("model_parity.jsonl");
    assert!(rows.len() >= 100);
    for row in rows {
        let text = row["text"].as_str().unwrap();
        let expected = row["p"].as_f64().unwrap() as f32;
        let got = d.classifier_probability(text).unwrap();
        assert!(
            (got - expected).abs() < 2e-3,
            "p = {got}, script says {expected}: {text}"
        );
    }
}

#[test]
fn a_corrupt_model_is_rejected_with_a_reason() {
    let err = Detector::with_model(b"WPM1\x03\x00\x00\x00").unwrap_err();
    assert!(err.to_string().contains("power of two"), "{err}");
}
