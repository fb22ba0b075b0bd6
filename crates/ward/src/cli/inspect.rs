//! `ward inspect prompt`: one prompt per line on stdin, one JSON line per
//! prompt on stdout with `score`, `injection` and `reasons`, for scripts and
//! evaluation.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::json;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Score prompts for prompt injection (stdin, one per line).
    Prompt {
        /// Exit with status 1 if any prompt scores at or above the threshold.
        #[arg(long)]
        fail_on_injection: bool,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let Command::Prompt { fail_on_injection } = cmd;
    let detector = ward_prompt::Detector::new();
    let stdin = std::io::stdin();
    let mut out = super::out();
    let mut any = false;
    for line in stdin.lock().split(b'\n') {
        let line = line.context("cannot read stdin")?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        let v = detector.inspect(text);
        let injection = v.score >= ward_prompt::THRESHOLD;
        any |= injection;
        let reasons: Vec<_> = v
            .reasons
            .iter()
            .map(|r| {
                let weight = (f64::from(r.weight) * 1000.0).round() / 1000.0;
                json!({"code": r.code, "detail": r.detail, "weight": weight})
            })
            .collect();
        let score = (f64::from(v.score) * 1000.0).round() / 1000.0;
        serde_json::to_writer(
            &mut out,
            &json!({"score": score, "injection": injection, "reasons": reasons}),
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(if fail_on_injection && any {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
