//! Reading Ward metric-rule documents (`ward_rule: flatline | ratio`) from
//! YAML, with `origin:line: reason` errors.
//!
//! Documents are split at `---` lines and parsed one by one with
//! `yaml-rust2` (the parser `ward-sigma` uses), so one bad document does not
//! hide the others. `yaml-rust2`'s tree has no positions; the line of a
//! top-level key is found in the document text, which is exact for the
//! block style every rule file uses. The `detection` and `population`
//! sections are Sigma detections: their text is handed to `ward-sigma`
//! padded with blank lines, so its errors point at the right line too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yaml_rust2::{Yaml, YamlLoader};

/// Largest metric-rule file accepted, in bytes.
const MAX_FILE_BYTES: usize = 1024 * 1024;

const KNOWN_KEYS: &[&str] = &[
    "ward_rule",
    "title",
    "id",
    "name",
    "status",
    "description",
    "author",
    "date",
    "modified",
    "references",
    "tags",
    "falsepositives",
    "level",
    "fields",
    "runbook",
    "logsource",
    "detection",
    "population",
    "group-by",
    "timespan",
    "condition",
    "min_events",
    "answer",
    "answer-group-by",
    "grace",
];
const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];
const STATUSES: &[&str] = &[
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];

/// What a metric rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A group that has sent events stops for longer than the timespan.
    Flatline,
    /// The share of matching events among a group's events in a sliding
    /// window reaches a threshold.
    Ratio,
    /// An event (`detection`) that no `answer` event of its group came
    /// within `timespan` before it, nor within `grace` after it.
    Unanswered,
}

/// A parsed metric rule: plain data, kept in the checkpoint with its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDef {
    pub kind: MetricKind,
    pub id: String,
    pub title: String,
    pub level: String,
    pub description: String,
    pub tags: Vec<String>,
    pub runbook: Option<String>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    /// Events a group must have sent (flatline: ever; ratio: in the window)
    /// before the rule judges it.
    pub min_events: u64,
    /// Ratio: the share (0..=1) that fires, and whether equality is enough.
    pub threshold: f64,
    pub inclusive: bool,
    /// Sigma text of `detection` / `population`, padded to their file lines.
    pub detection: Option<String>,
    pub population: Option<String>,
    /// Unanswered: the Sigma text of `answer`, the fields that group it
    /// (in the order of `group-by`), and how long after the event an
    /// answer may still come.
    #[serde(default)]
    pub answer: Option<String>,
    #[serde(default)]
    pub answer_group_by: Vec<String>,
    #[serde(default)]
    pub grace_ms: i64,
    pub origin: String,
    pub line: usize,
}

/// Whether a rule file holds Ward metric rules rather than Sigma rules: it
/// has a top-level `ward_rule:` key.
pub fn is_metric_rule(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("ward_rule:"))
}

/// One YAML document of a file: its text and first line (1-based).
fn documents(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            if !current.trim().is_empty() {
                out.push((std::mem::take(&mut current), start));
            }
            current.clear();
            start = i + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        out.push((current, start));
    }
    out
}

/// A document being read: its text, where it starts, and error helpers.
struct Doc<'a> {
    origin: &'a str,
    text: &'a str,
    start: usize,
    yaml: &'a Yaml,
}

impl Doc<'_> {
    /// File line of a top-level key, else of the document.
    fn line_of(&self, key: &str) -> usize {
        let prefix = format!("{key}:");
        self.text
            .lines()
            .position(|l| l.starts_with(&prefix))
            .map_or(self.start, |i| self.start + i)
    }

    fn err(&self, key: &str, reason: impl std::fmt::Display) -> String {
        format!("{}:{}: {reason}", self.origin, self.line_of(key))
    }

    fn get(&self, key: &str) -> Option<&Yaml> {
        match &self.yaml[key] {
            Yaml::BadValue | Yaml::Null => None,
            v => Some(v),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .map(Some)
                .ok_or_else(|| self.err(key, format!("`{key}` must be a string"))),
        }
    }

    fn string_list(&self, key: &str) -> Result<Vec<String>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Yaml::Array(items)) => items
                .iter()
                .map(|i| {
                    scalar_text(i)
                        .ok_or_else(|| self.err(key, format!("`{key}` must be a list of strings")))
                })
                .collect(),
            Some(v) => scalar_text(v)
                .map(|s| vec![s])
                .ok_or_else(|| self.err(key, format!("`{key}` must be a list of strings"))),
        }
    }

    /// The text of a top-level block (`detection:` and its indented lines),
    /// preceded by blank lines so that it keeps its file line numbers.
    fn block(&self, key: &str) -> Option<String> {
        let prefix = format!("{key}:");
        let lines: Vec<&str> = self.text.lines().collect();
        let first = lines.iter().position(|l| l.starts_with(&prefix))?;
        let mut end = first + 1;
        while let Some(l) = lines.get(end) {
            let top_level =
                !l.is_empty() && !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with('\t');
            if top_level {
                break;
            }
            end += 1;
        }
        let mut out = "\n".repeat(self.start + first - 1);
        for l in &lines[first..end] {
            out.push_str(l);
            out.push('\n');
        }
        Some(out)
    }
}

fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &Yaml) -> Option<f64> {
    match v {
        Yaml::Integer(i) => Some(*i as f64),
        Yaml::Real(s) => s.parse().ok(),
        _ => None,
    }
}

/// Parses every document of one file; good documents are returned even when
/// others fail.
pub fn parse_file(origin: &str, text: &str) -> (Vec<MetricDef>, Vec<String>) {
    let mut defs = Vec::new();
    let mut errors = Vec::new();
    if text.len() > MAX_FILE_BYTES {
        errors.push(format!(
            "{origin}:1: file is larger than {MAX_FILE_BYTES} bytes"
        ));
        return (defs, errors);
    }
    for (doc_text, start) in documents(text) {
        let parsed = match YamlLoader::load_from_str(&doc_text) {
            Ok(p) => p,
            Err(e) => {
                let line = start + e.marker().line().saturating_sub(1);
                errors.push(format!("{origin}:{line}: invalid YAML: {}", e.info()));
                continue;
            }
        };
        for yaml in parsed.iter().filter(|y| !matches!(y, Yaml::Null)) {
            let doc = Doc {
                origin,
                text: &doc_text,
                start,
                yaml,
            };
            match parse_doc(&doc) {
                Ok(d) => defs.push(d),
                Err(e) => errors.push(e),
            }
        }
    }
    (defs, errors)
}

fn parse_doc(doc: &Doc) -> Result<MetricDef, String> {
    let Yaml::Hash(map) = doc.yaml else {
        return Err(format!(
            "{}:{}: a metric rule must be a mapping",
            doc.origin, doc.start
        ));
    };
    for k in map.keys() {
        let key = scalar_text(k).unwrap_or_default();
        if !KNOWN_KEYS.contains(&key.as_str()) {
            return Err(doc.err(
                &key,
                format!(
                    "unknown key `{key}` in a Ward metric rule (expected one of {})",
                    KNOWN_KEYS.join(", ")
                ),
            ));
        }
    }
    let kind = match doc.string("ward_rule")?.as_deref() {
        Some("flatline") => MetricKind::Flatline,
        Some("ratio") => MetricKind::Ratio,
        Some("unanswered") => MetricKind::Unanswered,
        Some(other) => {
            return Err(doc.err(
                "ward_rule",
                format!(
                    "unknown Ward rule kind `{other}` (expected flatline, ratio or unanswered)"
                ),
            ));
        }
        None => {
            return Err(doc.err(
                "ward_rule",
                "missing `ward_rule` (flatline, ratio or unanswered)",
            ));
        }
    };
    let id = doc
        .string("id")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| doc.err("id", "missing `id`"))?;
    let title = doc
        .string("title")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| doc.err("title", "missing `title`"))?;
    let level = doc
        .string("level")?
        .ok_or_else(|| doc.err("level", "missing `level`"))?
        .to_lowercase();
    if !LEVELS.contains(&level.as_str()) {
        return Err(doc.err(
            "level",
            format!(
                "unknown level `{level}` (expected one of {})",
                LEVELS.join(", ")
            ),
        ));
    }
    if let Some(s) = doc.string("status")?
        && !STATUSES.contains(&s.as_str())
    {
        return Err(doc.err("status", format!("unknown status `{s}`")));
    }
    let ts = doc
        .string("timespan")?
        .ok_or_else(|| doc.err("timespan", "missing `timespan` (e.g. 15m)"))?;
    let timespan_ms = ward_sigma::parse_timespan(&ts).ok_or_else(|| {
        doc.err(
            "timespan",
            "`timespan` must be a number and a unit s, m, h, d or w (e.g. 15m)",
        )
    })?;
    let group_by = doc.string_list("group-by")?;
    if kind != MetricKind::Ratio && group_by.is_empty() {
        return Err(doc.err(
            "group-by",
            "a flatline or unanswered rule needs `group-by`: the fields that name a source (e.g. service.name)",
        ));
    }
    let min_events = match doc.get("min_events") {
        None => 1,
        Some(Yaml::Integer(n)) if *n >= 1 => *n as u64,
        Some(_) => {
            return Err(doc.err(
                "min_events",
                "`min_events` must be a whole number of at least 1",
            ));
        }
    };
    let detection = check_detection(doc, "detection")?;
    let population = check_detection(doc, "population")?;
    let answer = check_detection(doc, "answer")?;
    let mut answer_group_by = doc.string_list("answer-group-by")?;
    let mut grace_ms = 0;
    let (mut threshold, mut inclusive) = (0.0, true);
    if kind != MetricKind::Unanswered
        && (answer.is_some() || !answer_group_by.is_empty() || doc.get("grace").is_some())
    {
        return Err(doc.err(
            "answer",
            "`answer`, `answer-group-by` and `grace` belong to unanswered rules",
        ));
    }
    match kind {
        MetricKind::Unanswered => {
            if detection.is_none() || answer.is_none() {
                return Err(doc.err(
                    "answer",
                    "an unanswered rule needs `detection` (the event) and `answer` (what must come with it)",
                ));
            }
            if doc.get("condition").is_some() || population.is_some() {
                return Err(doc.err(
                    "condition",
                    "an unanswered rule takes no `condition` or `population`",
                ));
            }
            if answer_group_by.is_empty() {
                answer_group_by = group_by.clone();
            }
            if answer_group_by.len() != group_by.len() {
                return Err(doc.err(
                    "answer-group-by",
                    "`answer-group-by` names one field for each field of `group-by`, in the same order",
                ));
            }
            if let Some(g) = doc.string("grace")? {
                grace_ms = ward_sigma::parse_timespan(&g).ok_or_else(|| {
                    doc.err(
                        "grace",
                        "`grace` must be a number and a unit s, m, h, d or w",
                    )
                })?;
            }
        }
        MetricKind::Ratio => {
            if detection.is_none() {
                return Err(doc.err(
                    "detection",
                    "a ratio rule needs `detection`: the events counted against the population",
                ));
            }
            let Some(Yaml::Hash(cond)) = doc.get("condition") else {
                return Err(doc.err(
                    "condition",
                    "a ratio rule needs `condition` with `gte` or `gt` and a share between 0 and 1",
                ));
            };
            let mut found = None;
            for (k, v) in cond {
                let key = scalar_text(k).unwrap_or_default();
                let inc = match key.as_str() {
                    "gte" => true,
                    "gt" => false,
                    other => {
                        return Err(doc.err(
                            "condition",
                            format!("unknown ratio condition `{other}` (expected gte or gt)"),
                        ));
                    }
                };
                let n = number(v)
                    .filter(|n| (0.0..=1.0).contains(n))
                    .ok_or_else(|| {
                        doc.err(
                            "condition",
                            format!("`{key}` needs a share between 0 and 1 (0.2 for 20%)"),
                        )
                    })?;
                found = Some((n, inc));
            }
            (threshold, inclusive) =
                found.ok_or_else(|| doc.err("condition", "`condition` needs `gte` or `gt`"))?;
        }
        MetricKind::Flatline => {
            if doc.get("condition").is_some() || population.is_some() {
                return Err(doc.err(
                    "condition",
                    "a flatline rule takes no `condition` or `population`",
                ));
            }
        }
    }
    Ok(MetricDef {
        kind,
        id,
        title,
        level,
        description: doc.string("description")?.unwrap_or_default(),
        tags: doc.string_list("tags")?,
        runbook: doc.string("runbook")?,
        group_by,
        timespan_ms,
        min_events,
        threshold,
        inclusive,
        detection,
        population,
        answer,
        answer_group_by,
        grace_ms,
        origin: doc.origin.to_owned(),
        line: doc.start,
    })
}

/// Checks that a `detection`-like block compiles as Sigma; returns its
/// padded text.
fn check_detection(doc: &Doc, key: &str) -> Result<Option<String>, String> {
    if doc.get(key).is_none() {
        return Ok(None);
    }
    let block = doc
        .block(key)
        .ok_or_else(|| doc.err(key, format!("`{key}` must be written in block style")))?;
    let text = sigma_text(&block, key);
    ward_sigma::RuleSet::from_yaml_str(&text, doc.origin, &[]).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(Some(block))
}

/// A Sigma document around a metric rule's detection block. The block is
/// renamed to `detection` and the header goes after it, so lines stay put.
pub(super) fn sigma_text(block: &str, key: &str) -> String {
    sigma_doc(block, key, key)
}

/// [`sigma_text`] with the document's `id` given, so that the selections
/// of several rules can share one rule set.
pub(super) fn sigma_doc(block: &str, key: &str, id: &str) -> String {
    let renamed = if key == "detection" {
        block.to_owned()
    } else {
        block.replacen(&format!("{key}:"), "detection:", 1)
    };
    format!("{renamed}title: {key}\nid: {id}\nlogsource:\n  product: ward\n")
}

/// Group key text and values of an event for `group_by`; `None` when a
/// field is missing (such events are not tracked).
pub(super) fn group_of(
    event: &ward_event::Event,
    group_by: &[String],
) -> Option<(String, BTreeMap<String, String>)> {
    group_as(event, group_by, group_by)
}

/// [`group_of`] reading the values of `fields` and naming them `names`, so
/// that two kinds of event with differently named fields share keys.
pub(super) fn group_as(
    event: &ward_event::Event,
    fields: &[String],
    names: &[String],
) -> Option<(String, BTreeMap<String, String>)> {
    let mut group = BTreeMap::new();
    for (f, name) in fields.iter().zip(names) {
        let v = match event.get(f)? {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        group.insert(name.clone(), v);
    }
    // Another tenant's sources and ratios are its own; the default
    // tenant's groups keep the keys they had before tenants were apart.
    let tenant = crate::detect::evaluate::TENANT_FIELD;
    if let Some(t) = event.get_str(tenant).filter(|t| *t != "default") {
        group
            .entry(tenant.to_owned())
            .or_insert_with(|| t.to_owned());
    }
    let key = group
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\u{1f}");
    Some((key, group))
}
