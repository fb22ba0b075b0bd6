//! Controls and framework catalogs as data: YAML files, the built-in pack
//! (`compliance/` in the repository, embedded in the binary) plus the
//! directories of `[compliance] controls`.
//!
//! A file holds one document per control or catalog; a document with
//! `framework` and `ids` is a catalog, any other a control. Every mapping
//! must name a framework of a loaded catalog and an id that catalog lists,
//! so a typo is a load error, never a control silently missing from a
//! framework. Every problem is reported at once, each naming the file and
//! the field; the controls without problems are loaded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::parse_duration;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_compliance.rs"));
}

/// Most controls loaded in all.
pub const MAX_CONTROLS: usize = 5_000;
/// Most mappings or exceptions on one control.
pub const MAX_LIST: usize = 64;
/// Longest title, paraphrase, reason or query, in bytes.
pub const MAX_TEXT: usize = 2_000;

/// How bad a failing control is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// How a control relates to a framework requirement (NIST IR 8477 set
/// relationships).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relationship {
    Equal,
    Subset,
    Superset,
    Intersects,
}

/// One mapping of a control to a framework requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub framework: String,
    pub id: String,
    pub relationship: Relationship,
}

/// A time-boxed exception: while it runs, a control that does not pass is
/// reported as `excepted` (with its underlying state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub owner: String,
    pub reason: String,
    pub expires: jiff::Timestamp,
}

/// What an event check expects of its query's results.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// At least N matching events in the window.
    AtLeast(u64),
    /// At most N matching events in the window.
    AtMost(u64),
    /// Every value of `field` seen by `population` over
    /// `population_window` is also seen by the query over the window
    /// ("every service sent authentication events in 24 h").
    Every {
        field: String,
        population: String,
        population_window: Duration,
    },
    /// Of the events the query matches, at most `max_ratio` lack one of
    /// `fields`.
    Missing { fields: Vec<String>, max_ratio: f64 },
}

/// A check over stored events, with Ward's own query language.
#[derive(Debug, Clone, PartialEq)]
pub struct EventCheck {
    pub query: String,
    pub window: Duration,
    pub condition: Condition,
    /// When set and nothing in the window matches it, the control does not
    /// apply (for example no admin logins at all).
    pub requires: Option<String>,
}

/// A fact of Ward's own state a control may check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// The shortest retention of the security categories, in days.
    RetentionSecurityDays,
    /// Redaction runs and nothing is configured to be kept unredacted.
    RedactionEnabled,
    /// The last `ward verify` passed and is recent enough.
    VerifyPassed,
    /// High and critical alerts were acknowledged within their SLA.
    AlertsAcknowledgedWithinSla,
    /// Every rule pack loaded without errors.
    RulesLoaded,
}

/// A check over Ward's own state.
#[derive(Debug, Clone, PartialEq)]
pub struct StateCheck {
    pub fact: Fact,
    pub at_least: Option<u64>,
    pub max_age: Option<Duration>,
    pub window: Duration,
}

/// A check over findings ingested from an outside scanner: the latest run
/// in the window must have no failed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannerCheck {
    pub query: String,
    pub window: Duration,
}

/// A control's check.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Events(EventCheck),
    State(StateCheck),
    Scanner(ScannerCheck),
    /// A person attests the result; an attestation lasts at most this long.
    Manual {
        max_validity: Duration,
    },
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Events(_) => "events",
            Check::State(_) => "state",
            Check::Scanner(_) => "scanner",
            Check::Manual { .. } => "manual",
        }
    }
}

/// A loaded control.
#[derive(Debug, Clone)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub severity: Severity,
    pub cadence: Duration,
    pub evidence_lifetime: Duration,
    pub check: Check,
    pub mappings: Vec<Mapping>,
    pub exceptions: Vec<Exception>,
    /// Where it was loaded from (`compliance/controls/LOG-01.yaml`).
    pub file: String,
    /// The definition as written, for evidence.
    pub definition: Value,
}

impl Control {
    /// The exception in force at `now`, if any.
    pub fn exception_at(&self, now: jiff::Timestamp) -> Option<&Exception> {
        self.exceptions.iter().find(|e| e.expires > now)
    }

    pub fn maps_to(&self, framework: &str) -> bool {
        self.mappings.iter().any(|m| m.framework == framework)
    }
}

/// A versioned catalog of one framework's requirement ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub framework: String,
    pub version: String,
    pub title: String,
    /// Requirement id → a short paraphrase of Ward's own.
    pub ids: BTreeMap<String, String>,
}

/// The controls and catalogs loaded, and what could not be.
#[derive(Debug, Clone, Default)]
pub struct Pack {
    pub controls: Vec<Control>,
    pub catalogs: BTreeMap<String, Catalog>,
    /// `file: field: problem`, one per problem.
    pub errors: Vec<String>,
}

impl Pack {
    pub fn control(&self, id: &str) -> Option<&Control> {
        self.controls.iter().find(|c| c.id == id)
    }
}

/// The built-in files: (path in the repository, contents).
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    builtin::BUILTIN_COMPLIANCE
}

/// Loads the built-in pack (when `builtin`) and every `.yaml`/`.yml` file
/// under `dirs`. A user control with the id of a built-in one replaces it.
pub fn load(builtin: bool, dirs: &[PathBuf]) -> Pack {
    let mut files: Vec<(String, String, bool)> = Vec::new();
    let mut errors = Vec::new();
    if builtin {
        files.extend(
            builtin_files()
                .iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned(), true)),
        );
    }
    for dir in dirs {
        let mut found = Vec::new();
        collect(dir, &mut found, &mut errors);
        for p in found {
            match std::fs::read_to_string(&p) {
                Ok(t) => files.push((p.display().to_string(), t, false)),
                Err(e) => errors.push(format!("{}: cannot read: {e}", p.display())),
            }
        }
    }
    load_texts(&files, errors)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            errors.push(format!("{}: cannot read directory: {e}", dir.display()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "tests") {
                collect(&p, out, errors);
            }
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// Loads controls and catalogs from `(file, text, builtin)` triples.
pub fn load_texts(files: &[(String, String, bool)], mut errors: Vec<String>) -> Pack {
    let mut docs = Vec::new();
    let mut catalogs: BTreeMap<String, Catalog> = BTreeMap::new();
    for (file, text, builtin) in files {
        let nodes = match ward_sigma::yaml::parse_documents(text) {
            Ok(n) => n,
            Err(e) => {
                errors.push(format!("{file}:{}: {}", e.line, e.message));
                continue;
            }
        };
        for node in nodes {
            if node.is_null() {
                continue;
            }
            let doc = node.to_json();
            if doc.get("ids").is_some() && doc.get("framework").is_some() {
                match parse_catalog(&doc) {
                    Ok(c) => {
                        if catalogs.contains_key(&c.framework) {
                            errors.push(format!(
                                "{file}: framework: catalog {:?} is defined twice",
                                c.framework
                            ));
                        } else {
                            catalogs.insert(c.framework.clone(), c);
                        }
                    }
                    Err(e) => errors.push(format!("{file}: {e}")),
                }
            } else {
                docs.push((file.clone(), node.line, doc, *builtin));
            }
        }
    }
    let mut controls: Vec<Control> = Vec::new();
    let mut seen: BTreeMap<String, bool> = BTreeMap::new();
    for (file, line, doc, builtin) in docs {
        match parse_control(&doc, &catalogs) {
            Ok(mut c) => {
                c.file = file.clone();
                match seen.get(&c.id) {
                    Some(true) if !builtin => {
                        controls.retain(|x| x.id != c.id);
                    }
                    Some(_) => {
                        errors.push(format!(
                            "{file}:{line}: id: control {:?} is defined twice",
                            c.id
                        ));
                        continue;
                    }
                    None => {}
                }
                if controls.len() >= MAX_CONTROLS {
                    errors.push(format!(
                        "{file}:{line}: more than {MAX_CONTROLS} controls; the rest are not loaded"
                    ));
                    break;
                }
                seen.insert(c.id.clone(), builtin);
                controls.push(c);
            }
            Err(problems) => {
                for p in problems {
                    errors.push(format!("{file}:{line}: {p}"));
                }
            }
        }
    }
    controls.sort_by(|a, b| a.id.cmp(&b.id));
    Pack {
        controls,
        catalogs,
        errors,
    }
}

fn parse_catalog(doc: &Value) -> Result<Catalog, String> {
    let c: Catalog = serde_json::from_value(doc.clone()).map_err(|e| format!("catalog: {e}"))?;
    if !valid_name(&c.framework) {
        return Err(format!(
            "framework: {:?} must be lowercase letters, digits and dashes",
            c.framework
        ));
    }
    for (id, text) in &c.ids {
        if !valid_id(id) {
            return Err(format!("ids.{id}: not a valid requirement id"));
        }
        if text.len() > 200 {
            return Err(format!("ids.{id}: paraphrase longer than 200 bytes"));
        }
    }
    Ok(c)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Control ids and requirement ids: printable ASCII without spaces, quotes
/// or path separators (they name files and URLs).
fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'(' | b')'))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    id: String,
    title: String,
    owner: String,
    severity: Severity,
    cadence: String,
    evidence_lifetime: String,
    #[serde(default)]
    description: Option<String>,
    check: Value,
    mappings: Vec<Value>,
    #[serde(default)]
    exceptions: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    query: String,
    window: String,
    #[serde(default)]
    requires: Option<String>,
    #[serde(default)]
    at_least: Option<u64>,
    #[serde(default)]
    at_most: Option<u64>,
    #[serde(default)]
    every: Option<RawEvery>,
    #[serde(default)]
    missing: Option<RawMissing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvery {
    field: String,
    population: String,
    population_window: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMissing {
    fields: Vec<String>,
    max_ratio: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    fact: Fact,
    #[serde(default)]
    at_least: Option<u64>,
    #[serde(default)]
    max_age: Option<String>,
    #[serde(default)]
    window: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScanner {
    query: String,
    window: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManual {
    max_validity: String,
}

/// Parses one control; every problem as `field: problem`.
fn parse_control(
    doc: &Value,
    catalogs: &BTreeMap<String, Catalog>,
) -> Result<Control, Vec<String>> {
    let raw: RawControl =
        serde_json::from_value(doc.clone()).map_err(|e| vec![format!("control: {e}")])?;
    let mut p = Vec::new();
    if !valid_id(&raw.id) {
        p.push(format!(
            "id: {:?} is not a valid control id (letters, digits, . - _)",
            raw.id
        ));
    }
    for (field, text) in [("title", &raw.title), ("owner", &raw.owner)] {
        if text.trim().is_empty() || text.len() > MAX_TEXT || text.chars().any(char::is_control) {
            p.push(format!(
                "{field}: must be 1 to {MAX_TEXT} bytes without control characters"
            ));
        }
    }
    if raw
        .description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_TEXT * 4)
    {
        p.push("description: too long".into());
    }
    let mut dur = |field: &str, text: &str| match parse_duration(text) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            p.push(format!("{field}: must be more than zero"));
            None
        }
        Err(e) => {
            p.push(format!("{field}: {e}"));
            None
        }
    };
    let cadence = dur("cadence", &raw.cadence);
    let lifetime = dur("evidence_lifetime", &raw.evidence_lifetime);
    let check = parse_check(&raw.check, &mut p);
    if raw.mappings.is_empty() {
        p.push("mappings: a control maps to at least one framework requirement".into());
    }
    if raw.mappings.len() > MAX_LIST || raw.exceptions.len() > MAX_LIST {
        p.push(format!("mappings/exceptions: at most {MAX_LIST} each"));
    }
    let mut mappings = Vec::new();
    let mut pairs = BTreeSet::new();
    for (i, m) in raw.mappings.iter().enumerate() {
        let m: Mapping = match serde_json::from_value(m.clone()) {
            Ok(m) => m,
            Err(e) => {
                p.push(format!("mappings[{i}]: {e}"));
                continue;
            }
        };
        match catalogs.get(&m.framework) {
            None => p.push(format!(
                "mappings[{i}].framework: unknown framework {:?} (catalogs: {})",
                m.framework,
                catalogs.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
            Some(c) if !c.ids.contains_key(&m.id) => p.push(format!(
                "mappings[{i}].id: {:?} is not in the {} {} catalog",
                m.id, c.framework, c.version
            )),
            Some(_) => {
                if !pairs.insert((m.framework.clone(), m.id.clone())) {
                    p.push(format!(
                        "mappings[{i}]: {}:{} is mapped twice",
                        m.framework, m.id
                    ));
                }
                mappings.push(m);
            }
        }
    }
    let mut exceptions = Vec::new();
    for (i, e) in raw.exceptions.iter().enumerate() {
        match serde_json::from_value::<Exception>(e.clone()) {
            Ok(e) if e.owner.trim().is_empty() || e.reason.trim().is_empty() => {
                p.push(format!("exceptions[{i}]: owner and reason are required"));
            }
            Ok(e) => exceptions.push(e),
            Err(err) => p.push(format!("exceptions[{i}]: {err}")),
        }
    }
    match (p.is_empty(), cadence, lifetime, check) {
        (true, Some(cadence), Some(evidence_lifetime), Some(check)) => Ok(Control {
            id: raw.id,
            title: raw.title,
            owner: raw.owner,
            severity: raw.severity,
            cadence,
            evidence_lifetime,
            check,
            mappings,
            exceptions,
            file: String::new(),
            definition: doc.clone(),
        }),
        _ => Err(p),
    }
}

fn parse_check(v: &Value, p: &mut Vec<String>) -> Option<Check> {
    let Some(obj) = v.as_object().filter(|o| o.len() == 1) else {
        p.push("check: must hold exactly one of events, state, scanner, manual".into());
        return None;
    };
    let (kind, body) = obj.iter().next()?;
    let field = |f: &str| format!("check.{kind}.{f}");
    let dur = |f: &str, text: &str, p: &mut Vec<String>| match parse_duration(text) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            p.push(format!("{}: must be more than zero", field(f)));
            None
        }
        Err(e) => {
            p.push(format!("{}: {e}", field(f)));
            None
        }
    };
    let query = |f: &str, q: &str, p: &mut Vec<String>| {
        if q.len() > MAX_TEXT {
            p.push(format!("{}: longer than {MAX_TEXT} bytes", field(f)));
            return;
        }
        match ward_store::query::parse(q) {
            Ok(parsed) if parsed.aggregation.is_some() => {
                p.push(format!(
                    "{}: a control's query has no `|` aggregation",
                    field(f)
                ));
            }
            Ok(_) => {}
            Err(e) => p.push(format!("{}: {e}", field(f))),
        }
    };
    match kind.as_str() {
        "events" => {
            let r: RawEvents = serde_json::from_value(body.clone())
                .map_err(|e| p.push(format!("check.events: {e}")))
                .ok()?;
            query("query", &r.query, p);
            if let Some(q) = &r.requires {
                query("requires", q, p);
            }
            let window = dur("window", &r.window, p);
            let mut conds = Vec::new();
            if let Some(n) = r.at_least {
                conds.push(Condition::AtLeast(n));
            }
            if let Some(n) = r.at_most {
                conds.push(Condition::AtMost(n));
            }
            if let Some(e) = r.every {
                query("every.population", &e.population, p);
                if e.field.is_empty() || e.field.len() > 256 {
                    p.push("check.events.every.field: a field name is required".into());
                }
                if let Some(w) = dur("every.population_window", &e.population_window, p) {
                    conds.push(Condition::Every {
                        field: e.field,
                        population: e.population,
                        population_window: w,
                    });
                }
            }
            if let Some(m) = r.missing {
                if m.fields.is_empty() || m.fields.len() > MAX_LIST {
                    p.push(format!(
                        "check.events.missing.fields: 1 to {MAX_LIST} fields"
                    ));
                }
                if m.fields.iter().any(|f| !valid_field(f)) {
                    p.push(
                        "check.events.missing.fields: field names are letters, digits, @ . _ -"
                            .into(),
                    );
                }
                if !(0.0..=1.0).contains(&m.max_ratio) {
                    p.push("check.events.missing.max_ratio: must be between 0 and 1".into());
                }
                conds.push(Condition::Missing {
                    fields: m.fields,
                    max_ratio: m.max_ratio,
                });
            }
            if conds.len() != 1 {
                p.push(
                    "check.events: exactly one condition of at_least, at_most, every, missing"
                        .into(),
                );
                return None;
            }
            Some(Check::Events(EventCheck {
                query: r.query,
                window: window?,
                condition: conds.pop()?,
                requires: r.requires,
            }))
        }
        "state" => {
            let r: RawState = serde_json::from_value(body.clone())
                .map_err(|e| p.push(format!("check.state: {e}")))
                .ok()?;
            let max_age = match &r.max_age {
                Some(t) => Some(dur("max_age", t, p)?),
                None => None,
            };
            let window = match &r.window {
                Some(t) => dur("window", t, p)?,
                None => Duration::from_secs(30 * 86_400),
            };
            if r.fact == Fact::VerifyPassed && max_age.is_none() {
                p.push("check.state.max_age: verify_passed needs a max_age".into());
            }
            Some(Check::State(StateCheck {
                fact: r.fact,
                at_least: r.at_least,
                max_age,
                window,
            }))
        }
        "scanner" => {
            let r: RawScanner = serde_json::from_value(body.clone())
                .map_err(|e| p.push(format!("check.scanner: {e}")))
                .ok()?;
            query("query", &r.query, p);
            Some(Check::Scanner(ScannerCheck {
                window: dur("window", &r.window, p)?,
                query: r.query,
            }))
        }
        "manual" => {
            let r: RawManual = serde_json::from_value(body.clone())
                .map_err(|e| p.push(format!("check.manual: {e}")))
                .ok()?;
            Some(Check::Manual {
                max_validity: dur("max_validity", &r.max_validity, p)?,
            })
        }
        other => {
            p.push(format!(
                "check.{other}: unknown check kind (events, state, scanner, manual)"
            ));
            None
        }
    }
}

fn valid_field(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 256
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str =
        "framework: demo\nversion: '1'\ntitle: Demo\nids:\n  X-1: one\n  X-2: two\n";

    fn load_one(control: &str) -> Pack {
        load_texts(
            &[
                ("cat.yaml".into(), CATALOG.into(), false),
                ("c.yaml".into(), control.into(), false),
            ],
            Vec::new(),
        )
    }

    const GOOD: &str = "id: T-1\ntitle: t\nowner: team\nseverity: high\ncadence: 1m\nevidence_lifetime: 1h\ncheck:\n  events:\n    query: 'event.category:authentication'\n    window: 1h\n    at_least: 1\nmappings:\n  - {framework: demo, id: X-1, relationship: equal}\n";

    #[test]
    fn the_builtin_pack_loads_without_errors() {
        let pack = load(true, &[]);
        assert!(pack.errors.is_empty(), "{:#?}", pack.errors);
        assert!(pack.controls.len() >= 18, "{}", pack.controls.len());
        assert!(pack.catalogs.len() >= 8);
    }

    #[test]
    fn a_good_control_loads() {
        let pack = load_one(GOOD);
        assert!(pack.errors.is_empty(), "{:?}", pack.errors);
        assert_eq!(pack.controls[0].id, "T-1");
    }

    #[test]
    fn unknown_framework_ids_and_bad_fields_name_file_and_field() {
        let cases = [
            (
                GOOD.replace("id: X-1", "id: X-9"),
                "c.yaml:1: mappings[0].id",
            ),
            (
                GOOD.replace("framework: demo", "framework: nope"),
                "c.yaml:1: mappings[0].framework",
            ),
            (
                GOOD.replace("relationship: equal", "relationship: same"),
                "c.yaml:1: mappings[0]: unknown variant `same`",
            ),
            (
                GOOD.replace("cadence: 1m", "cadence: 1y"),
                "c.yaml:1: cadence",
            ),
            (
                GOOD.replace("event.category:authentication", "event.category:(a"),
                "c.yaml:1: check.events.query",
            ),
            (
                GOOD.replace("at_least: 1", "at_least: 1\n    at_most: 2"),
                "check.events: exactly one",
            ),
            (
                GOOD.replace("severity: high", "severity: dire"),
                "c.yaml:1: control: unknown variant `dire`",
            ),
            (
                GOOD.replace("owner: team", "owner: team\ncolour: red"),
                "unknown field `colour`",
            ),
            (
                GOOD.replace("events:", "dreams:"),
                "check.dreams: unknown check kind",
            ),
        ];
        for (text, want) in cases {
            let pack = load_one(&text);
            assert!(pack.controls.is_empty(), "{want}");
            assert!(
                pack.errors.iter().any(|e| e.contains(want)),
                "want {want:?} in {:?}",
                pack.errors
            );
        }
    }

    #[test]
    fn a_user_control_replaces_a_builtin_one_and_duplicates_are_refused() {
        let files = vec![
            ("cat.yaml".into(), CATALOG.into(), true),
            ("b.yaml".into(), GOOD.into(), true),
            (
                "u.yaml".into(),
                GOOD.replace("title: t", "title: mine"),
                false,
            ),
        ];
        let pack = load_texts(&files, Vec::new());
        assert!(pack.errors.is_empty(), "{:?}", pack.errors);
        assert_eq!(pack.controls.len(), 1);
        assert_eq!(pack.controls[0].title, "mine");
        let twice = vec![
            ("cat.yaml".into(), CATALOG.into(), false),
            ("a.yaml".into(), GOOD.into(), false),
            ("b.yaml".into(), GOOD.into(), false),
        ];
        let pack = load_texts(&twice, Vec::new());
        assert!(
            pack.errors.iter().any(|e| e.contains("defined twice")),
            "{:?}",
            pack.errors
        );
    }
}
