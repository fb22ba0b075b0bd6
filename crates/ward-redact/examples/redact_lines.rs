//! Redacts stdin line by line to stdout, with a per-kind summary on stderr.
//!
//! `--mode text` (default): each line is plain text.
//! `--mode json-string`: each line is a JSON string (text with escaped newlines).
//! `--mode event`: each line is a JSON object, redacted as an event.
//!
//! `cargo run --release -p ward-redact --example redact_lines -- --mode json-string < lines`

use std::io::{BufRead, BufWriter, Write};

use ward_redact::{RedactConfig, Redactor, Summary};

fn main() -> std::process::ExitCode {
    let mode = std::env::args()
        .skip_while(|a| a != "--mode")
        .nth(1)
        .unwrap_or_else(|| "text".into());
    let Ok(redactor) = Redactor::new(&RedactConfig::default()) else {
        eprintln!("error: the default configuration did not compile");
        return std::process::ExitCode::FAILURE;
    };
    let key = b"redact_lines example key";
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut summary = Summary::default();
    let started = std::time::Instant::now();
    let mut bytes = 0usize;
    for (n, line) in stdin.lines().enumerate() {
        let Ok(line) = line else {
            eprintln!("error: line {}: not UTF-8 or unreadable", n + 1);
            return std::process::ExitCode::FAILURE;
        };
        bytes += line.len() + 1;
        let written = match mode.as_str() {
            "event" => {
                match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line) {
                    Ok(mut ev) => {
                        summary.add(&redactor.redact_event(&mut ev, key));
                        writeln!(out, "{}", serde_json::Value::Object(ev))
                    }
                    Err(e) => {
                        eprintln!(
                            "error: line {}: not a JSON object (column {})",
                            n + 1,
                            e.column()
                        );
                        return std::process::ExitCode::FAILURE;
                    }
                }
            }
            "json-string" => match serde_json::from_str::<String>(&line) {
                Ok(text) => {
                    let (red, report) = redactor.redact_text(&text, key);
                    summary.add(&report);
                    writeln!(out, "{}", serde_json::Value::String(red))
                }
                Err(e) => {
                    eprintln!(
                        "error: line {}: not a JSON string (column {})",
                        n + 1,
                        e.column()
                    );
                    return std::process::ExitCode::FAILURE;
                }
            },
            _ => {
                let (red, report) = redactor.redact_text(&line, key);
                summary.add(&report);
                writeln!(out, "{red}")
            }
        };
        if written.is_err() {
            return std::process::ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return std::process::ExitCode::FAILURE;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{summary}");
    eprintln!(
        "{bytes} bytes in {secs:.3} s: {:.1} MB/s",
        bytes as f64 / secs / 1e6
    );
    std::process::ExitCode::SUCCESS
}
