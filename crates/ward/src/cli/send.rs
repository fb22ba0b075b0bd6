//! `ward send`: NDJSON or plain lines from stdin or files to a Ward server,
//! in batches, retrying when the server says it is busy; a progress bar on
//! files. A binary `.evtx` file is sent as one JSON line per record (the
//! `evtx_dump` shape, which the server recognizes as Windows events); a
//! damaged chunk or record is reported and the others are sent. Exit status
//! 1 if any line was rejected or record unreadable.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::Remote;
use super::client::Client;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// NDJSON if the first non-empty line starts with `{`, else text.
    Auto,
    Ndjson,
    Text,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    /// Files to send; stdin when none.
    pub files: Vec<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,
    /// Lines per request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

struct Totals {
    accepted: u64,
    rejected: Vec<(String, u64, String)>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.remote)?;
    let mut totals = Totals {
        accepted: 0,
        rejected: Vec::new(),
    };
    if args.files.is_empty() {
        let stdin = std::io::stdin();
        send_reader("stdin", stdin.lock(), None, &client, &args, &mut totals)?;
    } else {
        for f in &args.files {
            if is_evtx(f) {
                send_evtx(f, &client, &args, &mut totals)?;
                continue;
            }
            let file =
                std::fs::File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
            let len = file.metadata().map(|m| m.len()).ok();
            let bar = (!args.quiet).then(|| progress(len.unwrap_or(0), f));
            let reader = BufReader::new(Progress {
                inner: file,
                bar: bar.clone(),
            });
            send_reader(
                &f.display().to_string(),
                reader,
                bar.as_ref(),
                &client,
                &args,
                &mut totals,
            )?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        }
    }
    eprintln!(
        "sent: {} accepted, {} rejected",
        totals.accepted,
        totals.rejected.len()
    );
    for (name, line, reason) in totals.rejected.iter().take(20) {
        eprintln!("  {name}:{line}: {reason}");
    }
    Ok(if totals.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn is_evtx(path: &std::path::Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| ward_event::evtx::is_evtx(&head))
}

/// Sends an evtx file's records as NDJSON, `args.batch` records a request.
fn send_evtx(
    path: &std::path::Path,
    client: &Client,
    args: &Args,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
    let mut buf = Vec::new();
    let (mut in_buf, mut first, mut n) = (0usize, 1u64, 0u64);
    let mut failed: Option<anyhow::Error> = None;
    let done = ward_event::evtx::read(BufReader::new(file), |r| {
        if failed.is_some() {
            return;
        }
        n += 1;
        match r {
            Ok(r) => {
                if serde_json::to_writer(&mut buf, &r.object).is_ok() {
                    buf.push(b'\n');
                    in_buf += 1;
                }
            }
            Err(e) => totals.rejected.push((name.clone(), n, e)),
        }
        if in_buf >= args.batch || buf.len() >= 4 << 20 {
            let body = std::mem::take(&mut buf);
            if let Err(e) = post(client, &name, Format::Ndjson, body, first, totals, None) {
                failed = Some(e);
            }
            in_buf = 0;
            first = n + 1;
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    done.with_context(|| format!("cannot read {name}"))?;
    if in_buf > 0 {
        post(client, &name, Format::Ndjson, buf, first, totals, None)?;
    }
    Ok(())
}

fn progress(len: u64, f: &std::path::Path) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(f.display().to_string());
    bar
}

struct Progress<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

fn send_reader(
    name: &str,
    reader: impl BufRead,
    bar: Option<&indicatif::ProgressBar>,
    client: &Client,
    args: &Args,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    let mut format = args.format;
    let mut buf = Vec::new();
    let mut lines_in_buf = 0usize;
    let mut first_line = 1u64;
    let mut line_no = 0u64;
    // A private key split over lines stays in one request: the server
    // follows key blocks per request body, so a block cut between two
    // requests would leave the second part unrecognised.
    let mut keys = ward_redact::BlockTracker::default();
    for line in reader.split(b'\n') {
        let line = line.with_context(|| format!("cannot read {name}"))?;
        line_no += 1;
        if format == Format::Auto {
            let t = line.iter().position(|b| !b.is_ascii_whitespace());
            match t {
                None => {}
                Some(i) if line[i] == b'{' => format = Format::Ndjson,
                Some(_) => format = Format::Text,
            }
        }
        buf.extend_from_slice(&line);
        buf.push(b'\n');
        lines_in_buf += 1;
        keys.feed(&String::from_utf8_lossy(&line), std::time::Instant::now());
        if (lines_in_buf >= args.batch && !keys.in_block()) || buf.len() >= 4 << 20 {
            post(
                client,
                name,
                format,
                std::mem::take(&mut buf),
                first_line,
                totals,
                bar,
            )?;
            lines_in_buf = 0;
            first_line = line_no + 1;
        }
    }
    if lines_in_buf > 0 {
        post(client, name, format, buf, first_line, totals, bar)?;
    }
    Ok(())
}

fn post(
    client: &Client,
    name: &str,
    format: Format,
    body: Vec<u8>,
    first_line: u64,
    totals: &mut Totals,
    bar: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<()> {
    let ct = if format == Format::Text {
        "text/plain"
    } else {
        "application/x-ndjson"
    };
    let mut wait = Duration::from_millis(200);
    for _ in 0..30 {
        let (status, retry, answer) = client.post_bytes("/api/v1/ingest", ct, body.clone())?;
        match status {
            200 => {
                totals.accepted += answer.get("accepted").and_then(Value::as_u64).unwrap_or(0);
                for r in answer
                    .get("rejected")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let line = r.get("line").and_then(Value::as_u64).unwrap_or(0);
                    let reason = r
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    totals
                        .rejected
                        .push((name.to_owned(), first_line + line - 1, reason));
                }
                return Ok(());
            }
            429 | 503 => {
                let pause = retry.map(Duration::from_secs).unwrap_or(wait);
                if let Some(b) = bar {
                    b.set_message(format!("{name} (server busy, retrying)"));
                }
                std::thread::sleep(pause);
                wait = (wait * 2).min(Duration::from_secs(10));
            }
            401 => bail!("the server refused the token (set --token or WARD_TOKEN)"),
            s => {
                let msg = answer.get("error").and_then(Value::as_str).unwrap_or("");
                bail!("{name}: the server answered {s}: {msg}");
            }
        }
    }
    bail!("{name}: the server stayed busy; giving up after 30 tries")
}
