//! `ward audit [QUERY] --since 24h --limit N`: Ward's own audit trail (who
//! did what, refused credentials), newest first, through
//! `GET /api/v1/audit` (needs `audit:read`).

use std::io::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use super::Remote;
use super::client::Client;
use super::escape::cell;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    /// Narrow down, e.g. `event.outcome:failure`.
    #[arg(default_value = "")]
    pub query: String,
    /// Start of the time range: a duration ago (24h, 7d), a date or RFC 3339.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// Most records to show.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Print the records as JSON lines.
    #[arg(long)]
    pub json: bool,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("-")
}

pub fn show(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.remote)?;
    let q = [
        ("q", args.query.clone()),
        ("since", args.since.clone()),
        ("limit", args.limit.to_string()),
    ];
    let result = client.get_json("/api/v1/audit", &q)?;
    let mut out = super::out();
    let hits = result["hits"].as_array().cloned().unwrap_or_default();
    if !args.json {
        writeln!(
            out,
            "{:<24}  {:<24}  {:<8}  {:<8}  {:<40}  URL",
            "TIME", "WHO", "TENANT", "OUTCOME", "ACTION"
        )?;
    }
    for h in &hits {
        let e = h.get("event").unwrap_or(h);
        if args.json {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
            continue;
        }
        writeln!(
            out,
            "{:<24}  {:<24}  {:<8}  {:<8}  {:<40}  {}",
            cell(text(e, &["@timestamp"])),
            cell(text(e, &["user", "name"])),
            cell(text(e, &["tenant", "id"])),
            cell(text(e, &["event", "outcome"])),
            cell(text(e, &["event", "action"])),
            cell(text(e, &["url", "path"])),
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
