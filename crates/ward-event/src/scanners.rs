//! Results of outside scanners, one event per check, so that compliance
//! controls of kind `scanner` and Sigma rules can use them:
//!
//! - **Lynis** `lynis-report.dat` (`key=value` lines): every test in
//!   `tests_executed`, failed when a `warning[]` names it;
//! - **Prowler** JSON-OCSF output (`-M json-ocsf`, an array of detection
//!   findings): `status_code` PASS, FAIL or MANUAL;
//! - **Wazuh SCA** checks as the Wazuh API answers them
//!   (`GET /sca/{agent}/checks/{policy}`): `result` passed, failed or not
//!   applicable;
//! - **OpenSSF Scorecard** JSON (`scorecard --format json`): each check's
//!   score 0–10, failed below the request's `min_score` (8 by default),
//!   unknown when the check could not tell (-1).
//!
//! Every event:
//!
//! ```text
//! event.module lynis | prowler | wazuh | scorecard · event.dataset <module>.<what>
//! event.kind state · event.category [configuration] · event.action scanner_check_evaluated
//! event.outcome success | failure | unknown · rule.id · rule.name · rule.severity (when given)
//! labels.scan_id: the run the result belongs to (letters, digits, - _ . : only)
//! <module>.*: the scanner's own result fields · @timestamp: the run's time
//! ```
//!
//! Bounded: the document is at most [`Limits::max_request_bytes`] (checked
//! by the caller), at most [`MAX_RESULTS`] results, each kept value at most
//! [`MAX_VALUE`] bytes (longer ones are cut at a character boundary).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::{Event, Limits, RecordError};

/// Most results one document may carry.
pub const MAX_RESULTS: usize = 50_000;
/// Longest kept text value, in bytes.
pub const MAX_VALUE: usize = 2048;

/// The scanners whose results Ward reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Lynis,
    Prowler,
    WazuhSca,
    Scorecard,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Lynis,
        Format::Prowler,
        Format::WazuhSca,
        Format::Scorecard,
    ];

    /// The name in the route (`/api/v1/ingest/scan/{name}`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Lynis => "lynis",
            Format::Prowler => "prowler",
            Format::WazuhSca => "wazuh-sca",
            Format::Scorecard => "scorecard",
        }
    }

    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What a request adds to its document.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// When the document carries no time of its own (Wazuh SCA): the
    /// receipt time (RFC 3339).
    pub received: String,
    /// Scorecard: the lowest score that passes (0–10).
    pub min_score: Option<f64>,
    /// Wazuh SCA: the agent the checks are of.
    pub agent: Option<String>,
}

fn err(reason: impl Into<String>) -> RecordError {
    RecordError {
        record: 1,
        reason: reason.into(),
        span: None,
    }
}

/// `s` cut to [`MAX_VALUE`] bytes at a character boundary.
fn cut(s: &str) -> String {
    if s.len() <= MAX_VALUE {
        return s.to_owned();
    }
    let mut end = MAX_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// A run id made of the allowed characters only.
fn scan_id(parts: &[&str]) -> String {
    let id: String = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(":")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    id.chars().take(128).collect()
}

/// One check's result.
struct Check<'a> {
    module: &'static str,
    dataset: &'static str,
    id: String,
    name: String,
    severity: Option<String>,
    outcome: &'static str,
    scan_id: &'a str,
    time: &'a str,
}

impl<'a> Check<'a> {
    fn new(module: &'static str, dataset: &'static str, scan_id: &'a str, time: &'a str) -> Self {
        Check {
            module,
            dataset,
            id: String::new(),
            name: String::new(),
            severity: None,
            outcome: "unknown",
            scan_id,
            time,
        }
    }

    fn id(mut self, id: String) -> Self {
        self.id = id;
        self
    }

    fn named(mut self, name: String) -> Self {
        self.name = name;
        self
    }

    fn severity(mut self, s: Option<String>) -> Self {
        self.severity = s;
        self
    }

    fn outcome(mut self, o: &'static str) -> Self {
        self.outcome = o;
        self
    }

    /// The event, with the scanner's own fields under `<module>` and
    /// `extra` at the top.
    fn event(self, own: Map<String, Value>, extra: Map<String, Value>) -> Event {
        let mut v = json!({
            "event": {
                "module": self.module,
                "dataset": self.dataset,
                "kind": "state",
                "category": ["configuration"],
                "type": ["info"],
                "action": "scanner_check_evaluated",
                "outcome": self.outcome,
            },
            "rule": {"id": cut(&self.id), "name": cut(&self.name)},
            "labels": {"scan_id": self.scan_id},
            "service": {"name": self.module},
            "message": format!("{} check {} evaluated: {}", self.module, cut(&self.id), self.outcome),
        });
        if !self.time.is_empty() {
            v["@timestamp"] = Value::String(self.time.to_owned());
        }
        if let Some(s) = self.severity {
            v["rule"]["severity"] = Value::String(cut(&s.to_ascii_lowercase()));
        }
        v[self.module] = Value::Object(own);
        let Value::Object(mut m) = v else {
            return Event::default();
        };
        for (k, x) in extra {
            m.insert(k, x);
        }
        Event(m)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => cut(s),
        Value::Null => String::new(),
        other => cut(&other.to_string()),
    }
}

/// Reads `body` as `format`'s results.
///
/// # Errors
/// A document that is not of the format, holds no result, or more than
/// [`MAX_RESULTS`]; the reason names what and where.
pub fn decode(
    format: Format,
    body: &[u8],
    limits: &Limits,
    opts: &Options,
) -> Result<Vec<Event>, RecordError> {
    if body.len() > limits.max_request_bytes {
        return Err(err(format!(
            "{} bytes (at most {})",
            body.len(),
            limits.max_request_bytes
        )));
    }
    let events = match format {
        Format::Lynis => lynis(body)?,
        Format::Prowler => prowler(&json_of(body, limits)?)?,
        Format::WazuhSca => wazuh_sca(&json_of(body, limits)?, opts)?,
        Format::Scorecard => scorecard(&json_of(body, limits)?, opts)?,
    };
    if events.is_empty() {
        return Err(err(format!("no {} results in the document", format.name())));
    }
    Ok(events)
}

fn json_of(body: &[u8], limits: &Limits) -> Result<Value, RecordError> {
    crate::json::check_depth(body, limits.max_depth).map_err(err)?;
    serde_json::from_slice(body).map_err(|e| {
        err(format!(
            "not JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })
}

/// The error of result `i` (0-based); `{i}` in `reason` is replaced by it.
fn bad(i: usize, reason: &str) -> RecordError {
    RecordError {
        record: i + 1,
        reason: reason.replace("{i}", &i.to_string()),
        span: None,
    }
}

/// `event.outcome` of a scanner's result word.
fn outcome_of(result: &str, pass: &str, fail: &str) -> &'static str {
    if result == pass {
        "success"
    } else if result == fail {
        "failure"
    } else {
        "unknown"
    }
}

fn too_many(n: usize) -> Result<(), RecordError> {
    if n > MAX_RESULTS {
        return Err(err(format!("{n} results (at most {MAX_RESULTS})")));
    }
    Ok(())
}

/// A time with or without a zone (Prowler writes both), as RFC 3339; a
/// time without a zone is read as UTC.
fn utc(s: &str) -> String {
    if s.parse::<jiff::Timestamp>().is_ok() {
        return s.to_owned();
    }
    s.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or_else(String::new, |z| z.timestamp().to_string())
}

/// `2024-05-01 10:00:00` (Lynis, local time without a zone) as RFC 3339,
/// read as UTC.
fn lynis_time(s: &str) -> String {
    let s = s.trim();
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s)
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or_else(String::new, |z| z.timestamp().to_string())
}

fn lynis(body: &[u8]) -> Result<Vec<Event>, RecordError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        err(format!(
            "a Lynis report is text; byte {} is not UTF-8",
            e.valid_up_to()
        ))
    })?;
    let mut executed = Vec::new();
    let mut warnings: Vec<(String, String, String)> = Vec::new();
    let mut suggestions: Vec<(String, String)> = Vec::new();
    let (mut host, mut start, mut end, mut version, mut hardening) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    let mut recognised = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(RecordError {
                record: n + 1,
                reason: format!("line {} of the Lynis report is not key=value", n + 1),
                span: None,
            });
        };
        match key {
            "report_version_major" | "lynis_version" => {
                recognised = true;
                if key == "lynis_version" {
                    version = cut(value);
                }
            }
            "hostname" => host = cut(value),
            "report_datetime_start" => start = lynis_time(value),
            "report_datetime_end" => end = lynis_time(value),
            "hardening_index" => hardening = cut(value),
            "tests_executed" => executed.extend(
                value
                    .split('|')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            ),
            "warning[]" | "suggestion[]" => {
                let mut parts = value.split('|');
                let test = parts.next().unwrap_or_default().to_owned();
                let message = cut(parts.next().unwrap_or_default());
                let details = cut(parts.next().unwrap_or_default());
                if key == "warning[]" {
                    warnings.push((test, message, details));
                } else {
                    suggestions.push((test, message));
                }
            }
            _ => {}
        }
        too_many(executed.len() + warnings.len() + suggestions.len())?;
    }
    if !recognised {
        return Err(err(
            "not a Lynis report: no report_version_major or lynis_version line",
        ));
    }
    let time = if end.is_empty() { start.clone() } else { end };
    let run = scan_id(&["lynis", &host, &start]);
    // Tests that warned but are not listed as executed still count.
    let mut listed: HashSet<String> = executed.iter().cloned().collect();
    for (t, _, _) in &warnings {
        if listed.insert(t.clone()) {
            executed.push(t.clone());
        }
    }
    // Each test's warnings and suggestions, grouped once (a report may
    // hold tens of thousands of lines).
    let mut warned_by: HashMap<&str, Vec<&(String, String, String)>> = HashMap::new();
    for w in &warnings {
        warned_by.entry(w.0.as_str()).or_default().push(w);
    }
    let mut suggested_by: HashMap<&str, Vec<&str>> = HashMap::new();
    for (t, m) in &suggestions {
        suggested_by.entry(t.as_str()).or_default().push(m.as_str());
    }
    Ok(executed
        .iter()
        .map(|test| {
            let warned = warned_by.get(test.as_str()).cloned().unwrap_or_default();
            let suggested = suggested_by.get(test.as_str()).cloned().unwrap_or_default();
            let mut own = Map::new();
            own.insert("version".into(), json!(version));
            own.insert("hardening_index".into(), json!(hardening));
            if !warned.is_empty() {
                own.insert(
                    "warnings".into(),
                    json!(
                        warned
                            .iter()
                            .map(|w| json!({"message": w.1, "details": w.2}))
                            .collect::<Vec<_>>()
                    ),
                );
            }
            if !suggested.is_empty() {
                own.insert("suggestions".into(), json!(suggested));
            }
            let mut extra = Map::new();
            if !host.is_empty() {
                extra.insert("host".into(), json!({"name": host}));
            }
            Check::new("lynis", "lynis.report", &run, &time)
                .id(test.clone())
                .named(warned.first().map_or_else(|| test.clone(), |w| w.1.clone()))
                .outcome(if warned.is_empty() {
                    "success"
                } else {
                    "failure"
                })
                .event(own, extra)
        })
        .collect())
}

fn prowler(doc: &Value) -> Result<Vec<Event>, RecordError> {
    let Some(items) = doc.as_array() else {
        return Err(err(
            "Prowler JSON-OCSF output is an array of findings; this is not an array",
        ));
    };
    too_many(items.len())?;
    // One output file is one run: its id is the account and the first
    // finding's time.
    let first = items.first().unwrap_or(&Value::Null);
    let run = scan_id(&[
        "prowler",
        &text(&first["cloud"]["account"]["uid"]),
        &text(if first["time_dt"].is_null() {
            &first["event_time"]
        } else {
            &first["time_dt"]
        }),
    ]);
    items
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let code = f["metadata"]["event_code"].as_str().unwrap_or_default();
            let status = f["status_code"].as_str().unwrap_or_default();
            if code.is_empty() || status.is_empty() {
                return Err(bad(
                    i,
                    "finding {i} has no metadata.event_code or status_code: not Prowler JSON-OCSF",
                ));
            }
            let outcome = outcome_of(status, "PASS", "FAIL");
            let mut own = Map::new();
            own.insert("status".into(), json!(cut(status)));
            own.insert("status_detail".into(), json!(text(&f["status_detail"])));
            own.insert("finding_uid".into(), json!(text(&f["finding_info"]["uid"])));
            if let Some(r) = f["resources"].as_array().and_then(|r| r.first()) {
                own.insert("resource".into(), json!({"uid": text(&r["uid"]), "type": text(&r["type"]), "region": text(&r["region"])}));
            }
            let mut extra = Map::new();
            let account = text(&f["cloud"]["account"]["uid"]);
            if !account.is_empty() {
                extra.insert(
                    "cloud".into(),
                    json!({"account": {"id": account}, "provider": text(&f["cloud"]["provider"])}),
                );
            }
            let time = utc(&text(if f["time_dt"].is_null() {
                &f["event_time"]
            } else {
                &f["time_dt"]
            }));
            Ok(Check::new("prowler", "prowler.finding", &run, &time)
                .id(code.to_owned())
                .named(text(&f["finding_info"]["title"]))
                .severity(f["severity"].as_str().map(str::to_owned))
                .outcome(outcome)
                .event(own, extra))
        })
        .collect()
}

fn wazuh_sca(doc: &Value, opts: &Options) -> Result<Vec<Event>, RecordError> {
    let data = &doc["data"];
    let Some(items) = data["affected_items"]
        .as_array()
        .or_else(|| data["items"].as_array())
    else {
        return Err(err(
            "not a Wazuh API SCA answer: no data.affected_items (or data.items)",
        ));
    };
    too_many(items.len())?;
    let agent = opts.agent.as_deref().unwrap_or_default();
    let policy = items
        .first()
        .map(|c| text(&c["policy_id"]))
        .unwrap_or_default();
    let run = scan_id(&["wazuh-sca", agent, &policy, &opts.received]);
    items
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let result = c["result"].as_str().unwrap_or_default();
            if c["id"].is_null() || result.is_empty() {
                return Err(bad(
                    i,
                    "check {i} has no id or result: not a Wazuh SCA check",
                ));
            }
            let outcome = outcome_of(result, "passed", "failed");
            let mut own = Map::new();
            own.insert("policy_id".into(), json!(text(&c["policy_id"])));
            own.insert("result".into(), json!(cut(result)));
            if let Some(comp) = c["compliance"].as_array() {
                own.insert(
                    "compliance".into(),
                    Value::Array(
                        comp.iter()
                            .take(64)
                            .map(|x| json!({"key": text(&x["key"]), "value": text(&x["value"])}))
                            .collect(),
                    ),
                );
            }
            if !c["reason"].is_null() {
                own.insert("reason".into(), json!(text(&c["reason"])));
            }
            let mut extra = Map::new();
            if !agent.is_empty() {
                extra.insert("agent".into(), json!({"id": cut(agent)}));
            }
            Ok(Check::new("wazuh", "wazuh.sca", &run, &opts.received)
                .id(text(&c["id"]))
                .named(text(&c["title"]))
                .outcome(outcome)
                .event(own, extra))
        })
        .collect()
}

fn scorecard(doc: &Value, opts: &Options) -> Result<Vec<Event>, RecordError> {
    let Some(checks) = doc["checks"].as_array() else {
        return Err(err("not OpenSSF Scorecard JSON: no checks array"));
    };
    let repo = text(&doc["repo"]["name"]);
    if repo.is_empty() {
        return Err(err("not OpenSSF Scorecard JSON: no repo.name"));
    }
    too_many(checks.len())?;
    let min = opts.min_score.unwrap_or(8.0);
    let commit = text(&doc["repo"]["commit"]);
    let date = text(&doc["date"]);
    let run = scan_id(&["scorecard", &repo, &commit, &date]);
    let time = if date.len() == 10 {
        format!("{date}T00:00:00Z")
    } else {
        date.clone()
    };
    checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = c["name"].as_str().unwrap_or_default();
            let Some(score) = c["score"].as_f64() else {
                return Err(bad(
                    i,
                    &format!("check {{i}} ({name:?}) has no numeric score"),
                ));
            };
            let outcome = if score < 0.0 {
                "unknown"
            } else if score >= min {
                "success"
            } else {
                "failure"
            };
            let mut own = Map::new();
            own.insert("score".into(), json!(score));
            own.insert("min_score".into(), json!(min));
            own.insert("reason".into(), json!(text(&c["reason"])));
            own.insert("aggregate_score".into(), json!(doc["score"].as_f64()));
            own.insert(
                "documentation".into(),
                json!(text(&c["documentation"]["url"])),
            );
            let mut extra = Map::new();
            extra.insert("repository".into(), json!({"name": repo, "commit": commit}));
            Ok(Check::new("scorecard", "scorecard.check", &run, &time)
                .id(name.to_owned())
                .named(text(&c["documentation"]["short"]))
                .outcome(outcome)
                .event(own, extra))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scanners");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
    }

    fn opts() -> Options {
        Options {
            received: "2024-12-06T22:00:00Z".into(),
            min_score: None,
            agent: Some("001".into()),
        }
    }

    fn get<'a>(e: &'a Event, path: &str) -> &'a Value {
        let mut v =
            e.0.get(path.split('.').next().unwrap())
                .unwrap_or(&Value::Null);
        for p in path.split('.').skip(1) {
            v = &v[p];
        }
        v
    }

    /// (rule.id, event.outcome) of every event, and the one run id.
    fn outcomes(events: &[Event]) -> (Vec<(String, String)>, String) {
        let runs: std::collections::BTreeSet<String> = events
            .iter()
            .map(|e| get(e, "labels.scan_id").as_str().unwrap().to_owned())
            .collect();
        assert_eq!(runs.len(), 1, "one run: {runs:?}");
        let run = runs.into_iter().next().unwrap();
        assert!(
            run.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)),
            "{run}"
        );
        for e in events {
            assert_eq!(get(e, "event.action"), "scanner_check_evaluated");
            assert_eq!(get(e, "event.category"), &json!(["configuration"]));
            assert!(
                get(e, "@timestamp")
                    .as_str()
                    .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
                "{e:?}"
            );
        }
        (
            events
                .iter()
                .map(|e| {
                    (
                        get(e, "rule.id").as_str().unwrap().to_owned(),
                        get(e, "event.outcome").as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
            run,
        )
    }

    fn decoded(f: Format, name: &str) -> Vec<Event> {
        decode(f, &fixture(name), &Limits::default(), &opts()).unwrap()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn prowler_ocsf_findings_become_one_event_each() {
        let ev = decoded(Format::Prowler, "prowler.ocsf.json");
        let (got, run) = outcomes(&ev);
        assert_eq!(
            got,
            pairs(&[
                ("cloudtrail_multi_region_enabled", "success"),
                ("cloudtrail_log_file_validation_enabled", "failure"),
                (
                    "cloudwatch_log_group_retention_policy_specific_days_enabled",
                    "success"
                ),
                ("guardduty_is_enabled", "unknown"),
            ])
        );
        assert!(run.starts_with("prowler:210987654321:"), "{run}");
        assert_eq!(get(&ev[1], "rule.severity"), "medium");
        assert_eq!(get(&ev[1], "cloud.account.id"), "210987654321");
        assert_eq!(get(&ev[1], "@timestamp"), "2024-12-06T21:20:00.102538Z");
        assert!(
            get(&ev[1], "prowler.status_detail")
                .as_str()
                .unwrap()
                .contains("validation is disabled")
        );
    }

    #[test]
    fn wazuh_sca_checks_become_one_event_each() {
        let ev = decoded(Format::WazuhSca, "wazuh-sca.json");
        let (got, run) = outcomes(&ev);
        assert_eq!(
            got,
            pairs(&[
                ("28500", "success"),
                ("28512", "failure"),
                ("28530", "success"),
                ("28540", "unknown")
            ])
        );
        assert_eq!(run, "wazuh-sca:001:cis_debian12:2024-12-06T22:00:00Z");
        assert_eq!(get(&ev[1], "agent.id"), "001");
        assert_eq!(
            get(&ev[1], "wazuh.compliance")[3],
            json!({"key": "nist_sp_800-53", "value": "AC-6(2)"})
        );
        assert!(
            get(&ev[3], "wazuh.reason")
                .as_str()
                .unwrap()
                .contains("journal-upload")
        );
    }

    #[test]
    fn scorecard_checks_pass_from_the_minimum_score_and_minus_one_is_unknown() {
        let body = fixture("scorecard.json");
        let ev = decode(Format::Scorecard, &body, &Limits::default(), &opts()).unwrap();
        let (got, run) = outcomes(&ev);
        assert_eq!(
            got,
            pairs(&[
                ("Binary-Artifacts", "success"),
                ("Branch-Protection", "failure"),
                ("Dangerous-Workflow", "success"),
                ("Signed-Releases", "unknown"),
                ("Token-Permissions", "failure"),
                ("Vulnerabilities", "success"),
            ])
        );
        assert!(
            run.starts_with("scorecard:github.com_example-org_payments-api:3f9e6c1d"),
            "{run}"
        );
        assert_eq!(
            get(&ev[0], "repository.name"),
            "github.com/example-org/payments-api"
        );
        let strict = Options {
            min_score: Some(9.0),
            ..opts()
        };
        let ev = decode(Format::Scorecard, &body, &Limits::default(), &strict).unwrap();
        assert_eq!(get(&ev[5], "event.outcome"), "failure");
    }

    #[test]
    fn a_real_lynis_report_gives_every_executed_test_and_fails_those_that_warned() {
        let body = fixture("lynis-report.dat");
        let ev = decode(Format::Lynis, &body, &Limits::default(), &opts()).unwrap();
        let (got, run) = outcomes(&ev);
        let text = String::from_utf8(body).unwrap();
        let executed: Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("tests_executed="))
            .unwrap()
            .split('|')
            .filter(|t| !t.is_empty())
            .collect();
        let warned: std::collections::BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("warning[]="))
            .map(|w| w.split('|').next().unwrap())
            .collect();
        assert!(executed.len() > 30, "{}", executed.len());
        assert!(!warned.is_empty());
        assert!(got.len() >= executed.len());
        for (id, outcome) in &got {
            let want = if warned.contains(id.as_str()) {
                "failure"
            } else {
                "success"
            };
            assert_eq!(outcome, want, "{id}");
        }
        assert!(run.starts_with("lynis:"), "{run}");
    }

    #[test]
    fn a_document_of_another_kind_or_broken_is_refused_naming_why() {
        let l = Limits::default();
        let o = opts();
        let scorecard = fixture("scorecard.json");
        for (f, body, want) in [
            (Format::Prowler, scorecard.clone(), "not an array"),
            (Format::WazuhSca, scorecard.clone(), "data.affected_items"),
            (
                Format::Scorecard,
                fixture("wazuh-sca.json"),
                "no checks array",
            ),
            (Format::Lynis, scorecard.clone(), "not key=value"),
            (
                Format::Lynis,
                b"hostname=x\n".to_vec(),
                "not a Lynis report",
            ),
            (
                Format::Lynis,
                b"lynis_version=3\n\xff\xfe".to_vec(),
                "not UTF-8",
            ),
            (
                Format::Prowler,
                b"[{\"status_code\":\"FAIL\"}]".to_vec(),
                "finding 0 has no metadata.event_code",
            ),
            (Format::Prowler, b"[]".to_vec(), "no prowler results"),
            (
                Format::Scorecard,
                b"{\"repo\":{\"name\":\"r\"},\"checks\":[{\"name\":\"X\",\"score\":\"high\"}]}"
                    .to_vec(),
                "no numeric score",
            ),
            (Format::Prowler, br#"[{"a":"#.to_vec(), "not JSON at line 1"),
            (
                Format::Prowler,
                "[".repeat(100).into_bytes(),
                "nesting depth",
            ),
        ] {
            let e = decode(f, &body, &l, &o).unwrap_err();
            assert!(e.reason.contains(want), "{f:?}: {}", e.reason);
        }
        let many = format!(
            "[{}]",
            vec![r#"{"metadata":{"event_code":"x"},"status_code":"PASS"}"#; MAX_RESULTS + 1]
                .join(",")
        );
        let e = decode(
            Format::Prowler,
            many.as_bytes(),
            &Limits {
                max_request_bytes: 64 << 20,
                ..l.clone()
            },
            &o,
        )
        .unwrap_err();
        assert!(e.reason.contains("at most"), "{}", e.reason);
        let small = Limits {
            max_request_bytes: 10,
            ..l
        };
        assert!(
            decode(Format::Scorecard, &scorecard, &small, &o)
                .unwrap_err()
                .reason
                .contains("at most 10")
        );
    }

    #[test]
    fn forged_run_ids_and_long_values_are_tamed() {
        let long = "é".repeat(3000);
        let body = json!({
            "date": "2024-12-02",
            "repo": {"name": "github.com/x/y\n OR labels.scan_id:*", "commit": long},
            "checks": [{"name": long, "score": 2, "reason": "r"}]
        });
        let ev = decode(
            Format::Scorecard,
            body.to_string().as_bytes(),
            &Limits::default(),
            &opts(),
        )
        .unwrap();
        let run = get(&ev[0], "labels.scan_id").as_str().unwrap();
        assert!(run.len() <= 128 && !run.contains([' ', '\n', '*']), "{run}");
        let id = get(&ev[0], "rule.id").as_str().unwrap();
        assert!(id.len() <= MAX_VALUE && id.chars().all(|c| c == 'é'));
        assert_eq!(get(&ev[0], "@timestamp"), "2024-12-02T00:00:00Z");
    }
}
