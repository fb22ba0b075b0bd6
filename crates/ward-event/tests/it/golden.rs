//! Data-driven cases: `tests/golden/<case>/input.<kind>` is decoded and
//! finalized with a fixed context, and the results must equal
//! `expected.json` (an array of events, or `{"error": ...}` for a record
//! that failed). The decoder is chosen by the input's extension: `ndjson`,
//! `txt`, `syslog` (one message per line), `bulk`, `hec`, `otlp.json`.
//!
//! Set `WARD_GOLDEN_BLESS=1` to write `expected.json` from the current
//! output (then review the diff).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use ward_event::{
    Context, Event, Limits, RecordError, bulk, finalize, hec, ndjson, otlp, syslog, text,
};

fn context() -> Context {
    Context {
        input: "test".into(),
        source: "127.0.0.1".into(),
        tenant: "acme".into(),
        received: "2024-10-12T00:00:00Z".parse().unwrap(),
        declared: None,
    }
}

fn render(results: Vec<Result<Event, RecordError>>) -> Vec<Value> {
    let ctx = context();
    results
        .into_iter()
        .map(|r| match r {
            Ok(mut e) => {
                finalize(&mut e, &ctx);
                // The ingest time is the fixed receive time, so events are
                // reproducible.
                Value::Object(e.0)
            }
            Err(e) => json!({"error": {"record": e.record, "reason": e.reason}}),
        })
        .collect()
}

fn decode(input: &Path) -> Vec<Value> {
    let body = std::fs::read(input).unwrap();
    let limits = Limits::default();
    let name = input.file_name().unwrap().to_string_lossy().into_owned();
    if name.ends_with(".otlp.json") {
        return render(otlp::decode_json(&body, &limits).unwrap());
    }
    match input.extension().and_then(|e| e.to_str()) {
        Some("ndjson") => render(ndjson::decode(&body, &limits)),
        Some("txt") => render(text::decode(&body, &limits)),
        Some("hec") => render(hec::decode_event(&body, &limits)),
        Some("syslog") => render(
            body.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .enumerate()
                .map(|(i, l)| {
                    syslog::parse(l, context().received)
                        .map_err(|reason| RecordError::new(i + 1, reason))
                })
                .collect(),
        ),
        Some("bulk") => bulk::decode(&body, &limits)
            .into_iter()
            .map(|item| {
                let meta = json!({"action": item.action, "index": item.index, "id": item.id});
                let doc = render(vec![item.doc]).remove(0);
                json!({"item": meta, "doc": doc})
            })
            .collect(),
        other => panic!("{}: unknown input kind {other:?}", input.display()),
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("WARD_GOLDEN_BLESS").is_some();
    let dirs = cases();
    assert!(dirs.len() >= 8, "golden cases are missing");
    let mut failures = Vec::new();
    for dir in dirs {
        let input = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("input.")
            })
            .unwrap_or_else(|| panic!("{}: no input.* file", dir.display()));
        let got = Value::Array(decode(&input));
        let expected_path = dir.join("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{}\n--- got\n{}",
                dir.display(),
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(&got).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
