//! `ward redact`: redacts a file or stdin offline (NDJSON events or plain
//! text lines, line by line), writes the result to stdout or `--output`, and
//! prints a summary per kind on stderr. Exit status 1 when anything was
//! found, so that it can gate a CI pipeline.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file; stdin when absent.
    pub file: Option<PathBuf>,
    /// Output file; stdout when absent.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Configuration file whose `[redact]` section applies.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Key for keyed hashes (`[HASH:…]`); a fixed key gives the same
    /// pseudonyms across runs. Default: a random key per run.
    #[arg(long, env = "WARD_REDACT_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Only report: write nothing but the summary.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = match &args.config {
        Some(p) => crate::config::load(Some(p))?.raw.redact,
        None => ward_redact::RedactConfig::default(),
    };
    let redactor = ward_redact::Redactor::new(&cfg).context("invalid redaction settings")?;
    let key: Vec<u8> = match &args.key {
        Some(k) => k.as_bytes().to_vec(),
        None => rand::random::<[u8; 32]>().to_vec(),
    };
    let input: Box<dyn Read> = match &args.file {
        Some(p) => Box::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        ),
        None => Box::new(std::io::stdin()),
    };
    let mut out: Box<dyn Write> = match (&args.output, args.check) {
        (_, true) => Box::new(std::io::sink()),
        (Some(p), false) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        (None, false) => Box::new(super::out()),
    };
    let mut summary = ward_redact::Summary::default();
    // The input is one stream: a private key split over lines is masked
    // from its BEGIN line (or first body line) to its END line.
    let mut keys = ward_redact::BlockTracker::default();
    for line in BufReader::new(input).split(b'\n') {
        let line = line.context("cannot read input")?;
        let text = String::from_utf8_lossy(&line);
        let trimmed = text.trim_start();
        let parsed = trimmed
            .starts_with('{')
            .then(|| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text).ok())
            .flatten();
        let now = std::time::Instant::now();
        let (report, key_lines) = match parsed {
            Some(mut map) => {
                let masked = match map.get("message") {
                    Some(serde_json::Value::String(m)) => match keys.redact_line(m, now) {
                        Cow::Owned(m) => Some(m),
                        Cow::Borrowed(_) => None,
                    },
                    _ => None,
                };
                let key_lines = masked.is_some();
                if let Some(m) = masked {
                    map.insert("message".into(), m.into());
                }
                let report = redactor.redact_event(&mut map, &key);
                serde_json::to_writer(&mut out, &map)?;
                (report, key_lines)
            }
            None => {
                let masked = keys.redact_line(&text, now);
                let key_lines = matches!(masked, Cow::Owned(_));
                let (clean, report) = redactor.redact_text(&masked, &key);
                out.write_all(clean.as_bytes())?;
                (report, key_lines)
            }
        };
        summary.add(&report);
        if key_lines {
            if report.redactions.is_empty() {
                summary.records_redacted += 1;
            }
            *summary
                .redacted
                .entry(ward_redact::Kind::PrivateKey)
                .or_default() += 1;
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "records: {}, with findings: {}",
        summary.records, summary.records_redacted
    )?;
    for (kind, n) in &summary.redacted {
        writeln!(err, "  {:<24} {n}", kind.name())?;
    }
    for (kind, n) in &summary.leaks {
        writeln!(
            err,
            "  leak: {:<18} {n}",
            format!("{kind:?}").to_lowercase()
        )?;
    }
    Ok(if summary.records_redacted > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
