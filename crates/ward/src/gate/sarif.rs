//! SARIF 2.1.0 in: a log is read into Ward's own minimal serde structures
//! (only the fields Ward uses; unknown fields are ignored, as SARIF
//! allows), every result checked on its own so an error names its run and
//! result index, within GitHub's code-scanning limits.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Most runs in one log (GitHub's code-scanning limit).
pub const MAX_RUNS: usize = 20;
/// Most results in one run (GitHub's code-scanning limit).
pub const MAX_RESULTS_PER_RUN: usize = 25_000;
/// Longest kept tool, rule, path or message, in bytes.
pub const MAX_TEXT: usize = 4096;

/// One result of a log, as Ward keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub tool: String,
    pub rule: String,
    /// `error`, `warning`, `note` or `none`.
    pub level: String,
    /// The primary location's file, normalized (`src/a.py`), or empty.
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
    /// Ward's own identity of the finding: see [`fingerprint`].
    pub fingerprint: String,
    pub run: usize,
    pub index: usize,
}

#[derive(Deserialize)]
struct Log {
    version: Option<Value>,
    runs: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Run {
    tool: Tool,
    #[serde(default)]
    results: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Tool {
    driver: Driver,
}

#[derive(Deserialize)]
struct Driver {
    name: String,
    #[serde(default)]
    rules: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(default)]
    id: String,
    #[serde(default, rename = "defaultConfiguration")]
    default_configuration: Option<Configuration>,
}

#[derive(Deserialize)]
struct Configuration {
    level: Option<String>,
}

#[derive(Deserialize)]
struct SarifResult {
    #[serde(rename = "ruleId")]
    rule_id: Option<String>,
    #[serde(rename = "ruleIndex")]
    rule_index: Option<usize>,
    rule: Option<RuleRef>,
    level: Option<String>,
    message: Message,
    #[serde(default)]
    locations: Vec<Location>,
    #[serde(default, rename = "partialFingerprints")]
    partial_fingerprints: std::collections::BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RuleRef {
    id: Option<String>,
    index: Option<usize>,
}

#[derive(Deserialize)]
struct Message {
    text: Option<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(rename = "physicalLocation")]
    physical: Option<Physical>,
}

#[derive(Deserialize)]
struct Physical {
    #[serde(rename = "artifactLocation")]
    artifact: Option<Artifact>,
    region: Option<Region>,
}

#[derive(Deserialize)]
struct Artifact {
    uri: Option<String>,
}

#[derive(Deserialize)]
struct Region {
    #[serde(rename = "startLine")]
    start_line: Option<u64>,
    snippet: Option<Snippet>,
}

#[derive(Deserialize)]
struct Snippet {
    text: Option<String>,
}

/// Reads a SARIF 2.1.0 log into its findings, or says what is wrong and
/// where (`runs[2].results[17]: …`). Nothing partial is returned.
pub fn parse(body: &[u8]) -> Result<Vec<Finding>, String> {
    parse_log(body).map(|(_, f)| f)
}

/// [`parse`], with the tools of every run (one with no result included:
/// its earlier findings are then fixed).
pub fn parse_log(body: &[u8]) -> Result<(Vec<String>, Vec<Finding>), String> {
    let log: Log = serde_json::from_slice(body).map_err(|e| format!("not a SARIF log: {e}"))?;
    match log.version.as_ref().and_then(Value::as_str) {
        Some("2.1.0") => {}
        Some(v) => {
            return Err(format!(
                "version: SARIF {:?} is not accepted; only 2.1.0",
                clip(v, 32)
            ));
        }
        None => {
            return Err("version: missing; a SARIF 2.1.0 log says \"version\": \"2.1.0\"".into());
        }
    }
    let runs = log
        .runs
        .ok_or("runs: missing; a SARIF log holds an array of runs")?;
    if runs.len() > MAX_RUNS {
        return Err(format!(
            "runs: {} runs; at most {MAX_RUNS} are accepted",
            runs.len()
        ));
    }
    let mut out = Vec::new();
    let mut tools: Vec<String> = Vec::new();
    for (ri, run) in runs.into_iter().enumerate() {
        let run: Run = serde_json::from_value(run).map_err(|e| format!("runs[{ri}]: {e}"))?;
        let results = run.results.unwrap_or_default();
        if results.len() > MAX_RESULTS_PER_RUN {
            return Err(format!(
                "runs[{ri}].results: {} results; at most {MAX_RESULTS_PER_RUN} per run are accepted",
                results.len()
            ));
        }
        let tool = text(&run.tool.driver.name, "tool.driver.name")
            .map_err(|e| format!("runs[{ri}].{e}"))?;
        if !tools.contains(&tool) {
            tools.push(tool.clone());
        }
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (i, r) in results.into_iter().enumerate() {
            let at = format!("runs[{ri}].results[{i}]");
            let r: SarifResult = serde_json::from_value(r).map_err(|e| format!("{at}: {e}"))?;
            let f = finding(&tool, &run.tool.driver.rules, r, ri, i, &mut seen)
                .map_err(|e| format!("{at}.{e}"))?;
            out.push(f);
        }
    }
    Ok((tools, out))
}

fn finding(
    tool: &str,
    rules: &[Descriptor],
    r: SarifResult,
    run: usize,
    index: usize,
    seen: &mut std::collections::HashMap<String, usize>,
) -> Result<Finding, String> {
    let rule_index = r.rule_index.or(r.rule.as_ref().and_then(|x| x.index));
    let descriptor = match rule_index {
        Some(n) => Some(rules.get(n).ok_or_else(|| {
            format!(
                "ruleIndex: {n}, but the tool declares {} rules",
                rules.len()
            )
        })?),
        None => None,
    };
    let rule = r
        .rule_id
        .or(r.rule.and_then(|x| x.id))
        .or(descriptor.map(|d| d.id.clone()))
        .filter(|s| !s.is_empty())
        .ok_or("ruleId: missing (neither ruleId, rule.id nor ruleIndex names the rule)")?;
    let rule = text(&rule, "ruleId")?;
    let descriptor = descriptor.or_else(|| rules.iter().find(|d| d.id == rule));
    let level = r
        .level
        .or(descriptor
            .and_then(|d| d.default_configuration.as_ref())
            .and_then(|c| c.level.clone()))
        .unwrap_or_else(|| "warning".into());
    if !matches!(level.as_str(), "error" | "warning" | "note" | "none") {
        return Err(format!(
            "level: {:?} is not a SARIF level (error, warning, note, none)",
            clip(&level, 32)
        ));
    }
    let message = r.message.text.or(r.message.id).unwrap_or_default();
    let message = clip(&message, MAX_TEXT);
    let physical = r.locations.into_iter().find_map(|l| l.physical);
    let (file, line, snippet) = match physical {
        Some(p) => (
            p.artifact
                .and_then(|a| a.uri)
                .map(|u| normalize_path(&u))
                .unwrap_or_default(),
            p.region.as_ref().and_then(|g| g.start_line),
            p.region.and_then(|g| g.snippet).and_then(|s| s.text),
        ),
        None => (String::new(), None, None),
    };
    let file = text(&file, "locations[0].physicalLocation.artifactLocation.uri")?;
    // What stays put when lines move: the code itself, else the tool's own
    // line hash (CodeQL's hashes the line's content, not its number), else
    // the message with its numbers blanked.
    let content = match (
        snippet,
        r.partial_fingerprints.get("primaryLocationLineHash"),
    ) {
        (Some(s), _) if !s.trim().is_empty() => normalize_code(&s),
        (_, Some(Value::String(h))) => format!("lh:{}", h.split(':').next().unwrap_or(h)),
        _ => format!("m:{}", normalize_message(&message)),
    };
    let base = fingerprint(tool, &rule, &file, &content);
    let n = seen.entry(base.clone()).or_default();
    *n += 1;
    let fingerprint = if *n == 1 {
        base
    } else {
        // The same code twice in one file: told apart by order.
        fingerprint(tool, &rule, &file, &format!("{content}\u{0}{n}"))
    };
    Ok(Finding {
        tool: tool.to_owned(),
        rule,
        level,
        file,
        line,
        message,
        fingerprint,
        run,
        index,
    })
}

/// Ward's identity of a finding: SHA-256 over tool, rule, file and the
/// normalized code or message, never the line number.
pub fn fingerprint(tool: &str, rule: &str, file: &str, content: &str) -> String {
    let mut h = Sha256::new();
    for part in [tool, rule, file, content] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// `file:///src/./a.py`, `.\src\a.py` → `src/a.py`.
pub fn normalize_path(uri: &str) -> String {
    let mut s = uri.replace('\\', "/");
    if let Some(rest) = s.strip_prefix("file://") {
        s = rest.to_owned();
    }
    let parts: Vec<&str> = s
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

/// Code with its whitespace collapsed.
fn normalize_code(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A message with whitespace collapsed and digit runs blanked (messages
/// often quote line numbers).
fn normalize_message(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut digits = false;
    for c in normalize_code(s).chars() {
        if c.is_ascii_digit() {
            if !digits {
                out.push('#');
            }
            digits = true;
        } else {
            digits = false;
            out.push(c);
        }
    }
    out
}

fn text(s: &str, what: &str) -> Result<String, String> {
    if s.len() > MAX_TEXT {
        return Err(format!("{what}: longer than {MAX_TEXT} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{what}: holds control characters"));
    }
    Ok(s.to_owned())
}

fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log(results: Value) -> Vec<u8> {
        json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t", "rules": [
            {"id": "r1", "defaultConfiguration": {"level": "error"}}]}}, "results": results}]})
        .to_string()
        .into_bytes()
    }

    fn res(line: u64, snippet: &str) -> Value {
        json!({"ruleId": "r1", "message": {"text": format!("bad at line {line}")},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": "./src/a.py"},
                "region": {"startLine": line, "snippet": {"text": snippet}}}}]})
    }

    #[test]
    fn identity_survives_moved_lines_and_level_comes_from_the_rule() {
        let a = parse(&log(json!([res(3, "eval(x)"), res(9, "eval( y )")]))).unwrap();
        let b = parse(&log(json!([res(30, "eval(x)  "), res(90, "eval( y )")]))).unwrap();
        assert_eq!(a[0].fingerprint, b[0].fingerprint);
        assert_eq!(a[1].fingerprint, b[1].fingerprint);
        assert_ne!(a[0].fingerprint, a[1].fingerprint);
        assert_eq!(a[0].level, "error");
        assert_eq!(a[0].file, "src/a.py");
        // The same code twice in a file: two findings.
        let c = parse(&log(json!([res(3, "eval(x)"), res(9, "eval(x)")]))).unwrap();
        assert_ne!(c[0].fingerprint, c[1].fingerprint);
    }

    #[test]
    fn errors_name_the_run_and_result() {
        let e = parse(&log(json!([res(1, "a"), {"ruleId": "r1"}]))).unwrap_err();
        assert!(e.starts_with("runs[0].results[1]"), "{e}");
        let e = parse(&log(
            json!([{"ruleId": "r1", "level": "fatal", "message": {"text": "x"}}]),
        ))
        .unwrap_err();
        assert!(e.contains("results[0].level"), "{e}");
        let e = parse(br#"{"version": "2.0.0", "runs": []}"#).unwrap_err();
        assert!(e.starts_with("version"), "{e}");
        assert!(parse(br#"{"version": "2.1.0", "runs": [{"#).is_err());
    }
}
