//! `ward alerts …` and `ward silences …`: a blocking client of the server's
//! API, with `--format table` (default, for people) or `json` (for scripts).
//! Exit codes: 0 done, 1 the server refused (the message says why), 2 the
//! server could not be reached (returned as an error).

use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// `ward alerts`.
#[derive(Debug, Clone, Subcommand)]
pub enum AlertsCommand {
    /// List alerts, newest first.
    List {
        /// open, acknowledged, resolved or firing (open + acknowledged).
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        /// Owning team (`none` for alerts without one).
        #[arg(long)]
        owner: Option<String>,
        /// Rule id or title.
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one alert with its history.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Acknowledge an alert.
    Ack {
        id: String,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Resolve an alert.
    Resolve {
        id: String,
        /// true_positive, false_positive or benign.
        #[arg(long)]
        resolution: String,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Assign an alert (an empty name clears the assignee).
    Assign {
        id: String,
        assignee: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Comment on an alert.
    Comment {
        id: String,
        text: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// `ward silences`.
#[derive(Debug, Clone, Subcommand)]
pub enum SilencesCommand {
    /// List silences.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Add a silence: `ward silences add 'service="db"' --duration 2h --comment maintenance`.
    Add {
        /// Matchers in Alertmanager's syntax, e.g. `severity=~"low|medium"`.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 2h (default 1h).
        #[arg(long, default_value = "1h")]
        duration: String,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// End a silence now.
    Expire {
        id: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(url: &str, token: Option<&str>) -> anyhow::Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.without_url())
            .context("cannot build the HTTP client")?;
        Ok(Client {
            http,
            base: url.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
        })
    }

    /// Sends a request; Ok(Err(message)) when the server refused it.
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Result<Value, String>> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().map_err(|e| e.without_url()).with_context(|| {
            format!(
                "cannot reach the Ward server at {} (is `ward serve` running?)",
                self.base
            )
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .map_err(|e| e.without_url())
            .context("cannot read the server's answer")?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            Ok(Ok(v))
        } else {
            let msg = v
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            Ok(Err(format!("{} ({})", msg, status.as_u16())))
        }
    }
}

fn finish(
    result: Result<Value, String>,
    format: Format,
    table: impl Fn(&Value) -> String,
) -> anyhow::Result<ExitCode> {
    match result {
        Ok(v) => {
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                Format::Table => print!("{}", table(&v)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(msg) => {
            eprintln!("error: {msg}");
            Ok(ExitCode::from(1))
        }
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("-")
}

/// Renders alerts as a table.
pub fn alerts_table(v: &Value) -> String {
    let empty = Vec::new();
    let alerts = v.get("alerts").and_then(Value::as_array).unwrap_or(&empty);
    let rows: Vec<[String; 7]> = alerts
        .iter()
        .map(|a| {
            [
                s(a, "id").to_string(),
                s(a, "status").to_string(),
                s(a, "severity").to_string(),
                a.get("owner")
                    .and_then(Value::as_str)
                    .unwrap_or("none")
                    .to_string(),
                a.get("count").map(|c| c.to_string()).unwrap_or_default(),
                s(a, "last_seen").to_string(),
                s(a, "rule_title").to_string(),
            ]
        })
        .collect();
    table(
        [
            "ID",
            "STATUS",
            "SEVERITY",
            "OWNER",
            "COUNT",
            "LAST SEEN",
            "RULE",
        ],
        &rows,
    )
}

/// Renders one alert with its history.
pub fn alert_detail(a: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}", esc(s(a, "id")), esc(s(a, "rule_title")));
    for key in [
        "status",
        "resolution",
        "severity",
        "owner",
        "assignee",
        "first_seen",
        "last_seen",
        "count",
    ] {
        let val = match a.get(key) {
            Some(Value::String(x)) => x.clone(),
            Some(Value::Null) | None => "-".into(),
            Some(other) => other.to_string(),
        };
        let _ = writeln!(out, "  {key:<11} {}", esc(&val));
    }
    if let Some(d) = a
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        let _ = writeln!(out, "  {:<11} {}", "description", esc(d));
    }
    let empty = Vec::new();
    let strings = |key: &str| -> Vec<String> {
        a.get(key)
            .and_then(Value::as_array)
            .unwrap_or(&empty)
            .iter()
            .filter_map(Value::as_str)
            .map(esc)
            .collect()
    };
    let _ = writeln!(out, "  {:<11} {}", "rule_id", esc(s(a, "rule_id")));
    let tags = strings("tags");
    if !tags.is_empty() {
        let _ = writeln!(out, "  {:<11} {}", "tags", tags.join(", "));
    }
    // The entity: what the alert is grouped by, and where it came from.
    let mut entity: Vec<String> = a
        .get("group_key")
        .and_then(Value::as_object)
        .map(|g| {
            g.iter()
                .map(|(k, v)| format!("{}={}", esc(k), esc(v.as_str().unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default();
    for key in ["source.ip", "tenant.id"] {
        if let Some(v) = a.pointer(&format!("/labels/{key}")).and_then(Value::as_str)
            && !entity.iter().any(|e| e.starts_with(&format!("{key}=")))
        {
            entity.push(format!("{key}={}", esc(v)));
        }
    }
    if !entity.is_empty() {
        let _ = writeln!(out, "  {:<11} {}", "entity", entity.join(" "));
    }
    for (key, label) in [
        ("ack_deadline", "ack due"),
        ("resolve_deadline", "resolve due"),
    ] {
        if let Some(v) = a.get(key).and_then(Value::as_str) {
            let _ = writeln!(out, "  {label:<11} {}", esc(v));
        }
    }
    let breaches = strings("sla_breaches");
    if !breaches.is_empty() {
        let _ = writeln!(out, "  {:<11} {}", "sla breach", breaches.join(", "));
    }
    if let Some(r) = a
        .get("runbook")
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty())
    {
        let _ = writeln!(out, "Runbook:");
        for line in r.lines() {
            let _ = writeln!(out, "  {}", esc(line));
        }
    }
    let evidence = strings("evidence");
    if !evidence.is_empty() {
        let _ = writeln!(out, "Evidence ({}):", evidence.len());
        for id in &evidence {
            let _ = writeln!(out, "  {id}");
        }
    }
    let _ = writeln!(out, "History:");
    for c in a.get("history").and_then(Value::as_array).unwrap_or(&empty) {
        let _ = writeln!(
            out,
            "  {}  {:<20} {}",
            esc(s(c, "at")),
            esc(s(c, "action")),
            esc(s(c, "actor"))
        );
    }
    for c in a
        .get("comments")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
    {
        let _ = writeln!(
            out,
            "  comment by {} at {}: {}",
            esc(s(c, "author")),
            esc(s(c, "at")),
            esc(s(c, "text"))
        );
    }
    out
}

/// Renders silences as a table.
pub fn silences_table(v: &Value) -> String {
    let empty = Vec::new();
    let list = v
        .get("silences")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|x| {
            let matchers = x
                .get("matchers")
                .and_then(Value::as_array)
                .map(|ms| {
                    ms.iter()
                        .map(|m| format!("{}{}{:?}", s(m, "name"), s(m, "op"), s(m, "value")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            [
                s(x, "id").to_string(),
                s(x, "state").to_string(),
                s(x, "ends_at").to_string(),
                s(x, "created_by").to_string(),
                matchers,
                s(x, "comment").to_string(),
            ]
        })
        .collect();
    table(
        [
            "ID",
            "STATE",
            "ENDS AT",
            "CREATED BY",
            "MATCHERS",
            "COMMENT",
        ],
        &rows,
    )
}

/// Escapes terminal controls in text from alerts, comments and labels.
fn esc(s: &str) -> String {
    super::escape::cell(s)
}

fn table<const N: usize>(head: [&str; N], rows: &[[String; N]]) -> String {
    let rows: Vec<[String; N]> = rows.iter().map(|r| r.clone().map(|c| esc(&c))).collect();
    let rows = rows.as_slice();
    let mut width: [usize; N] = head.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(head.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// Runs a `ward alerts` command against the server at `url`.
pub fn run_alerts(cmd: AlertsCommand, url: &str, token: Option<&str>) -> anyhow::Result<ExitCode> {
    let c = Client::new(url, token)?;
    use reqwest::Method;
    match cmd {
        AlertsCommand::List {
            status,
            severity,
            owner,
            rule,
            limit,
            format,
        } => {
            let mut q = format!("?limit={limit}");
            for (k, v) in [
                ("status", status),
                ("severity", severity),
                ("owner", owner),
                ("rule", rule),
            ] {
                if let Some(v) = v {
                    let _ = write!(q, "&{k}={}", enc(&v));
                }
            }
            finish(
                c.call(Method::GET, &format!("/api/v1/alerts{q}"), None)?,
                format,
                alerts_table,
            )
        }
        AlertsCommand::Show { id, format } => finish(
            c.call(Method::GET, &format!("/api/v1/alerts/{}", enc(&id)), None)?,
            format,
            alert_detail,
        ),
        AlertsCommand::Ack {
            id,
            comment,
            format,
        } => {
            let r = c.call(
                Method::POST,
                &format!("/api/v1/alerts/{}/ack", enc(&id)),
                Some(json!({ "comment": comment })),
            )?;
            finish(r, format, alert_detail)
        }
        AlertsCommand::Resolve {
            id,
            resolution,
            comment,
            format,
        } => {
            if !matches!(
                resolution.as_str(),
                "true_positive" | "false_positive" | "benign"
            ) {
                bail!("--resolution must be true_positive, false_positive or benign");
            }
            let r = c.call(
                Method::POST,
                &format!("/api/v1/alerts/{}/resolve", enc(&id)),
                Some(json!({ "resolution": resolution, "comment": comment })),
            )?;
            finish(r, format, alert_detail)
        }
        AlertsCommand::Assign {
            id,
            assignee,
            format,
        } => {
            let r = c.call(
                Method::POST,
                &format!("/api/v1/alerts/{}/assign", enc(&id)),
                Some(json!({ "assignee": assignee })),
            )?;
            finish(r, format, alert_detail)
        }
        AlertsCommand::Comment { id, text, format } => {
            let r = c.call(
                Method::POST,
                &format!("/api/v1/alerts/{}/comment", enc(&id)),
                Some(json!({ "text": text })),
            )?;
            finish(r, format, alert_detail)
        }
    }
}

/// Runs a `ward silences` command against the server at `url`.
pub fn run_silences(
    cmd: SilencesCommand,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let c = Client::new(url, token)?;
    use reqwest::Method;
    match cmd {
        SilencesCommand::List { format } => finish(
            c.call(Method::GET, "/api/v1/silences", None)?,
            format,
            silences_table,
        ),
        SilencesCommand::Add {
            matchers,
            duration,
            comment,
            format,
        } => {
            let r = c.call(
                Method::POST,
                "/api/v1/silences",
                Some(json!({ "matchers": matchers, "duration": duration, "comment": comment })),
            )?;
            finish(r, format, |v| format!("{}\n", s(v, "id")))
        }
        SilencesCommand::Expire { id, format } => {
            let r = c.call(
                Method::POST,
                &format!("/api/v1/silences/{}/expire", enc(&id)),
                None,
            )?;
            finish(r, format, |v| format!("{} expired\n", s(v, "id")))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::alert_detail;

    #[test]
    fn the_detail_names_entity_deadlines_runbook_and_evidence_escaped() {
        let a = json!({
            "id": "7bb3", "rule_title": "Audit logging disabled", "rule_id": "b003",
            "status": "open", "severity": "high", "count": 2,
            "tags": ["attack.t1562"],
            "group_key": {"user.name": "mallory", "host.name": "build-1"},
            "labels": {"source.ip": "203.0.113.9", "tenant.id": "acme", "user.name": "mallory"},
            "ack_deadline": "2026-12-06T05:18:14Z", "resolve_deadline": "2026-12-07T04:18:14Z",
            "sla_breaches": ["ack"],
            "runbook": "1. Re-enable logging.\n2. Ask \u{1b}[2Jwho.",
            "evidence": ["e1", "e2\u{1b}[31m"],
            "history": [], "comments": [],
        });
        let out = alert_detail(&a);
        for want in [
            "rule_id     b003",
            "tags        attack.t1562",
            "entity      ",
            "host.name=build-1",
            "user.name=mallory",
            " source.ip=203.0.113.9 tenant.id=acme\n",
            "ack due     2026-12-06T05:18:14Z",
            "resolve due 2026-12-07T04:18:14Z",
            "sla breach  ack",
            "Runbook:\n  1. Re-enable logging.\n  2. Ask ",
            "Evidence (2):\n  e1\n  e2",
        ] {
            assert!(out.contains(want), "{want:?} missing from\n{out}");
        }
        assert!(!out.contains('\u{1b}'), "{out}");
    }
}
