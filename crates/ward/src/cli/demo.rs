//! `ward demo`: replays a realistic day of a small company, with planted
//! attacks, into a running Ward through the real ingest API, then waits for
//! the alerts and shows which attack was detected by which rule, and how
//! many alerts the benign traffic raised.
//!
//! The events are generated from a seed (see [`company`]): weekdays of
//! history first, so that the behavioural baselines learn everyone's
//! habits, then the demo day. Timestamps are in the past (the demo day is
//! the last weekday before today unless `--date` says otherwise), and
//! detection runs on event time, so the outcome does not depend on when or
//! how fast the demo runs.

pub mod company;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::Remote;
use super::client::Client;
use company::{Attack, DAY};

/// `ward demo` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub remote: Remote,
    /// The demo day (UTC, YYYY-MM-DD); by default the last weekday before today.
    #[arg(long)]
    pub date: Option<String>,
    /// Seed of the generator: the same seed and date give the same events.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Days of history before the demo day (weekends are quiet).
    #[arg(long, default_value_t = 14)]
    pub history_days: u32,
    /// Seconds to wait for the alerts after the last event was accepted.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
    /// Events per ingest request.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Print the events as NDJSON on stdout instead of sending them.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the demo; exit status 1 when a planted attack raised no alert.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let day = demo_day(args.date.as_deref())?;
    let scenario = company::build(day, args.history_days, args.seed);
    if args.dry_run {
        let mut out = super::out();
        for e in &scenario.events {
            serde_json::to_writer(&mut out, e)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let client = Client::new(&args.remote)?;
    let before = alert_ids(&client)?;
    eprintln!(
        "sending {} events: {} of history ({} days) and {} on {} ...",
        scenario.events.len(),
        scenario.history,
        args.history_days,
        scenario.events.len() - scenario.history,
        company::rfc3339(day).get(..10).unwrap_or_default(),
    );
    let started = Instant::now();
    send(&client, &scenario.events, args.batch.max(1))?;
    eprintln!(
        "sent in {:.1}s; waiting for detection ...",
        started.elapsed().as_secs_f64()
    );
    let alerts = wait_for_alerts(
        &client,
        &scenario.attacks,
        &before,
        Duration::from_secs(args.timeout),
    )?;
    let report = Report::new(&scenario.attacks, &alerts);
    let mut out = super::out();
    out.write_all(report.render().as_bytes())?;
    out.flush()?;
    Ok(if report.missed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The UTC midnight of the demo day.
fn demo_day(date: Option<&str>) -> anyhow::Result<i64> {
    if let Some(d) = date {
        let date: jiff::civil::Date = d
            .parse()
            .with_context(|| format!("--date {d:?} is not a date: write YYYY-MM-DD"))?;
        let ts = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .context("--date is out of range")?
            .timestamp();
        return Ok(ts.as_millisecond());
    }
    let now = jiff::Timestamp::now().as_millisecond();
    let mut day = now.div_euclid(DAY) * DAY - DAY;
    while !company::is_weekday(day) {
        day -= DAY;
    }
    Ok(day)
}

/// Posts the events as NDJSON, in order, honouring back-pressure.
fn send(client: &Client, events: &[Value], batch: usize) -> anyhow::Result<()> {
    for (n, chunk) in events.chunks(batch).enumerate() {
        let mut body = Vec::with_capacity(chunk.len() * 400);
        for e in chunk {
            serde_json::to_writer(&mut body, e)?;
            body.push(b'\n');
        }
        let mut attempts = 0;
        loop {
            let (status, retry, answer) =
                client.post_bytes("/api/v1/ingest", "application/x-ndjson", body.clone())?;
            match status {
                200..=299 => {
                    let rejected = answer
                        .get("rejected")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    if rejected > 0 {
                        bail!("batch {n}: the server rejected {rejected} demo events: {answer}");
                    }
                    break;
                }
                401 | 403 => bail!("the server refused the token (set --token or WARD_TOKEN)"),
                429 | 503 if attempts < 60 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_secs(retry.unwrap_or(1).clamp(1, 10)));
                }
                _ => bail!("/api/v1/ingest answered {status}: {answer}"),
            }
        }
    }
    Ok(())
}

fn fetch_alerts(client: &Client) -> anyhow::Result<Vec<Value>> {
    let v = client.get_json("/api/v1/alerts", &[("limit", "100000".to_owned())])?;
    Ok(match v {
        Value::Array(a) => a,
        Value::Object(mut m) => match m.remove("alerts") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    })
}

fn alert_ids(client: &Client) -> anyhow::Result<Vec<String>> {
    Ok(fetch_alerts(client)?
        .iter()
        .filter_map(|a| a.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

/// Polls until every attack has its alert and the alert list has stopped
/// growing, or the timeout passes. Alerts that existed before are ignored.
fn wait_for_alerts(
    client: &Client,
    attacks: &[Attack],
    before: &[String],
    timeout: Duration,
) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    let mut last_count = usize::MAX;
    let mut stable = 0;
    loop {
        let alerts: Vec<Value> = fetch_alerts(client)?
            .into_iter()
            .filter(|a| {
                !a.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| before.iter().any(|b| b == id))
            })
            .collect();
        let all = attacks
            .iter()
            .all(|at| alerts.iter().any(|a| catches(at, a)));
        stable = if alerts.len() == last_count {
            stable + 1
        } else {
            0
        };
        last_count = alerts.len();
        if (all && stable >= 3) || Instant::now() >= deadline {
            return Ok(alerts);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn text<'a>(alert: &'a Value, key: &str) -> &'a str {
    alert.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The alert's value of `field` in its labels or group key.
fn label<'a>(alert: &'a Value, field: &str) -> Option<&'a str> {
    ["labels", "group_key"]
        .iter()
        .find_map(|k| alert.get(k)?.get(field)?.as_str())
}

/// Whether an alert is the planted attack's: an expected rule, and the
/// attack's marker among its labels.
fn catches(attack: &Attack, alert: &Value) -> bool {
    attack.rules.contains(&text(alert, "rule_title"))
        && label(alert, attack.marker.0).is_some_and(|v| v.split(',').any(|p| p == attack.marker.1))
}

/// Whether an alert concerns an attacked entity at all (then it is not
/// counted as raised by benign traffic).
fn concerns_attack(attacks: &[Attack], alert: &Value) -> bool {
    attacks
        .iter()
        .any(|at| label(alert, at.marker.0).is_some_and(|v| v.split(',').any(|p| p == at.marker.1)))
}

/// What the demo found.
pub struct Report {
    rows: Vec<(String, Option<(String, String)>)>,
    benign: BTreeMap<String, usize>,
    benign_titles: BTreeMap<(String, String), usize>,
}

impl Report {
    fn new(attacks: &[Attack], alerts: &[Value]) -> Report {
        let rows = attacks
            .iter()
            .map(|at| {
                let hit = alerts
                    .iter()
                    .filter(|a| catches(at, a))
                    .max_by_key(|a| severity_rank(text(a, "severity")));
                let found = hit.map(|a| {
                    (
                        text(a, "rule_title").to_owned(),
                        text(a, "severity").to_owned(),
                    )
                });
                (at.name.to_owned(), found)
            })
            .collect();
        let mut benign = BTreeMap::new();
        let mut benign_titles = BTreeMap::new();
        for a in alerts.iter().filter(|a| !concerns_attack(attacks, a)) {
            *benign.entry(text(a, "severity").to_owned()).or_insert(0) += 1;
            *benign_titles
                .entry((
                    text(a, "severity").to_owned(),
                    text(a, "rule_title").to_owned(),
                ))
                .or_insert(0) += 1;
        }
        Report {
            rows,
            benign,
            benign_titles,
        }
    }

    fn missed(&self) -> usize {
        self.rows.iter().filter(|(_, f)| f.is_none()).count()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let w = self
            .rows
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let rw = self
            .rows
            .iter()
            .filter_map(|(_, f)| f.as_ref().map(|(t, _)| t.len()))
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "\n{:<w$}  {:<rw$}  {:<8}  detected\n",
            "attack", "alert", "severity"
        ));
        out.push_str(&format!("{}\n", "-".repeat(w + rw + 22)));
        for (name, found) in &self.rows {
            match found {
                Some((title, sev)) => {
                    out.push_str(&format!("{name:<w$}  {title:<rw$}  {sev:<8}  yes\n"))
                }
                None => out.push_str(&format!("{name:<w$}  {:<rw$}  {:<8}  NO\n", "-", "-")),
            }
        }
        out.push_str(&format!(
            "\n{} of {} planted attacks detected.\n",
            self.rows.len() - self.missed(),
            self.rows.len()
        ));
        let total: usize = self.benign.values().sum();
        out.push_str(&format!("alerts raised by benign traffic: {total}"));
        let mut sevs: Vec<(&String, &usize)> = self.benign.iter().collect();
        sevs.sort_by_key(|(s, _)| std::cmp::Reverse(severity_rank(s)));
        if !sevs.is_empty() {
            let parts: Vec<String> = sevs.iter().map(|(s, n)| format!("{s} {n}")).collect();
            out.push_str(&format!(" ({})", parts.join(", ")));
        }
        out.push('\n');
        for ((sev, title), n) in &self.benign_titles {
            out.push_str(&format!("  {sev:<13} {n:>4}  {title}\n"));
        }
        out
    }
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 5,
        "high" => 4,
        "medium" => 3,
        "low" => 2,
        "informational" => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_is_deterministic_and_time_ordered() {
        let day = demo_day(Some("2026-11-20")).unwrap();
        let a = company::build(day, 14, 7);
        let b = company::build(day, 14, 7);
        assert_eq!(a.events, b.events);
        assert_eq!(a.attacks.len(), 7);
        assert!(a.events.len() > 5000, "{}", a.events.len());
        let times: Vec<&str> = a
            .events
            .iter()
            .map(|e| e["timestamp"].as_str().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(times[0] < "2026-11-20" && times[a.history] >= "2026-11-20");
        assert_ne!(company::build(day, 14, 8).events, a.events);
    }

    #[test]
    fn default_day_is_a_past_weekday() {
        let day = demo_day(None).unwrap();
        assert!(company::is_weekday(day));
        assert!(day < jiff::Timestamp::now().as_millisecond() - DAY + 1);
        assert!(demo_day(Some("yesterday")).is_err());
    }

    #[test]
    fn report_counts_attacks_and_benign_alerts() {
        let day = demo_day(Some("2026-11-20")).unwrap();
        let s = company::build(day, 1, 7);
        let alerts: Vec<Value> = vec![
            serde_json::json!({"id": "1", "rule_title": "Password spraying from one source", "severity": "high",
                               "group_key": {"source.ip": "185.220.101.34"}, "labels": {}}),
            serde_json::json!({"id": "2", "rule_title": "Activity at an unusual hour for this account", "severity": "low",
                               "labels": {"user.name": "alice"}}),
            serde_json::json!({"id": "3", "rule_title": "Activity at an unusual hour for this account", "severity": "low",
                               "labels": {"user.name": "erin"}}),
        ];
        let r = Report::new(&s.attacks, &alerts);
        assert_eq!(r.missed(), 6);
        assert_eq!(r.benign.get("low"), Some(&1));
        let text = r.render();
        assert!(text.contains("credential stuffing"), "{text}");
        assert!(text.contains("1 of 7 planted attacks detected"), "{text}");
    }
}
