//! `ward search QUERY --since 24h --until … --limit N --format table|json|ndjson`

use std::io::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use super::Remote;
use super::client::Client;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    /// The query, e.g. `user.name:alice AND event.outcome:failure | count by source.ip`.
    #[arg(default_value = "")]
    pub query: String,
    /// Start of the time range: a duration ago (24h, 7d), a date or RFC 3339.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// End of the time range (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// Most events to return.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Search the sealed segments every node of the cluster uploaded to
    /// `cluster.segments_bucket` too, merged with this node's results.
    #[arg(long)]
    pub cluster: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.remote)?;
    let mut q = vec![
        ("q", args.query.clone()),
        ("since", args.since.clone()),
        ("limit", args.limit.to_string()),
    ];
    if let Some(u) = &args.until {
        q.push(("until", u.clone()));
    }
    if args.cluster {
        q.push(("cluster", "true".into()));
    }
    let result = client.get_json("/api/v1/events/search", &q)?;
    let mut out = super::out();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?,
        Format::Ndjson => {
            for hit in hits(&result) {
                writeln!(out, "{}", serde_json::to_string(hit)?)?;
            }
            for row in buckets(&result) {
                writeln!(out, "{}", serde_json::to_string(row)?)?;
            }
        }
        Format::Table => out.write_all(table(&result).as_bytes())?,
    }
    out.flush()?;
    // Parts that could not be searched (a damaged block, a segment in the
    // bucket that does not verify) are said, never left out silently.
    for w in result
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        eprintln!(
            "warning: {}",
            super::escape::cell(w.as_str().unwrap_or_default())
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn hits(result: &Value) -> Vec<&Value> {
    result
        .get("hits")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|h| h.get("event").unwrap_or(h)).collect())
        .unwrap_or_default()
}

fn buckets(result: &Value) -> Vec<&Value> {
    result
        .get("aggregation")
        .and_then(|a| a.get("buckets"))
        .and_then(|a| a.get("buckets"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A value as a table cell, terminal controls escaped ([`super::escape`]).
fn cell(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => super::escape::cell(s),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| cell(Some(x)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Null) | None => "-".into(),
        Some(v) => super::escape::cell(&v.to_string()),
    }
}

/// Renders hits or aggregation buckets as an aligned text table.
pub fn table(result: &Value) -> String {
    if let Some(n) = result.get("aggregation").and_then(|a| a.get("count")) {
        return format!("count\n{n}\n");
    }
    let b = buckets(result);
    let (header, rows): (Vec<&str>, Vec<Vec<String>>) = if !b.is_empty() {
        (
            vec!["value", "count"],
            b.iter()
                .map(|r| vec![cell(r.get("value")), cell(r.get("count"))])
                .collect(),
        )
    } else {
        let cols = [
            "@timestamp",
            "event.action",
            "event.outcome",
            "user.name",
            "source.ip",
            "service.name",
            "message",
        ];
        (
            cols.to_vec(),
            hits(result)
                .iter()
                .map(|e| {
                    cols.iter()
                        .map(|c| {
                            let ev = ward_event::Event(e.as_object().cloned().unwrap_or_default());
                            let mut s = cell(ev.get(c));
                            if *c == "user.name" && s == "-" {
                                s = cell(ev.get("user.id"));
                            }
                            if s.chars().count() > 60 {
                                s = s.chars().take(59).collect::<String>() + "…";
                            }
                            s
                        })
                        .collect()
                })
                .collect(),
        )
    };
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out += &line(r);
    }
    let total = result.get("matched").and_then(Value::as_u64);
    if let Some(t) = total {
        out += &format!("({t} matching)\n");
    }
    out
}
