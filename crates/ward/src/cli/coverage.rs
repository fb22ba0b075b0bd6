//! `ward rules coverage [--window 24h] [--json]`: which log sources the
//! running server's detection saw, which rules could not have fired, events
//! no rule could see, and ATT&CK coverage, through
//! `GET /api/v1/rules/coverage` (needs `rules:read`).

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
    /// How far back a log source counts as seen, e.g. 1h, 24h, 7d.
    #[arg(long, default_value = "24h")]
    pub window: String,
    /// Most blind rules to list (all are counted).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print the whole report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(x) => x.to_string(),
    }
}

fn items<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub fn show(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.remote)?;
    let r = client.get_json("/api/v1/rules/coverage", &[("window", args.window.clone())])?;
    let mut out = super::out();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{} of {} detection rules had events of their log source in the last {} (counting since {})",
        s(&r, "rules_with_data"),
        s(&r, "detection_rules"),
        cell(&s(&r, "window")),
        s(&r, "counting_since"),
    )?;
    writeln!(
        out,
        "\nLOG SOURCE (product/service/category)        EVENTS  RULES  LAST SEEN"
    )?;
    for row in items(&r, "sources") {
        let mark = if row["in_window"].as_bool() == Some(true) {
            " "
        } else {
            "*"
        };
        writeln!(
            out,
            "{:<44} {:>7}  {:>5}  {}{mark}",
            cell(&s(row, "logsource")),
            s(row, "events_total"),
            s(row, "rules"),
            s(row, "last_seen"),
        )?;
    }
    writeln!(out, "(* = nothing in the window)")?;
    writeln!(
        out,
        "\n{} events no rule could see (no loaded rule has their log source); last {}",
        s(&r, "unseen_events_total"),
        s(&r, "unseen_last"),
    )?;
    for e in items(&r, "unseen_examples") {
        let fields: Vec<String> = items(e, "fields")
            .iter()
            .filter_map(Value::as_str)
            .map(cell)
            .collect();
        writeln!(
            out,
            "  {} {} via {}: fields {}",
            cell(&s(e, "event_id")),
            cell(&s(e, "logsource")),
            cell(&s(e, "source")),
            fields.join(", ")
        )?;
    }
    let blind = items(&r, "blind_rules");
    writeln!(
        out,
        "\n{} rules could not have fired (no event of their log source in the window):",
        blind.len()
    )?;
    for b in blind.iter().take(args.limit) {
        writeln!(
            out,
            "  {:<8} {:<40} {}  {}",
            cell(&s(b, "level")),
            cell(&s(b, "logsource")),
            cell(&s(b, "title")),
            cell(&s(b, "id")),
        )?;
    }
    if blind.len() > args.limit {
        writeln!(
            out,
            "  … and {} more (--limit, --json)",
            blind.len() - args.limit
        )?;
    }
    writeln!(
        out,
        "\nATT&CK TACTIC          RULES  WITH DATA  TECHNIQUES  WITH DATA"
    )?;
    for t in items(&r, "attack") {
        writeln!(
            out,
            "{:<22} {:>5}  {:>9}  {:>10}  {:>9}",
            s(t, "tactic"),
            s(t, "rules"),
            s(t, "rules_with_data"),
            s(t, "techniques"),
            s(t, "techniques_with_data"),
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
