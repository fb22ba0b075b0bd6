//! Sigma documents: detection rules, correlation rules and filters, parsed
//! from YAML nodes into metadata plus a compiled detection.
//!
//! Invariant: a [`Rule`] that exists is valid — every selection compiled,
//! every condition bound. Errors carry the line of the offending node.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::condition::{Bound, Condition};
use crate::correlation::CorrelationDef;
use crate::error::RuleError;
use crate::modifier::{self, Leaf, Modifier};
use crate::yaml::{Node, NodeKind, Scalar};

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Detection,
    Correlation,
    Filter,
}

/// The `logsource` of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

/// Everything about a rule except its detection logic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleMeta {
    pub kind: RuleKind,
    pub id: Option<String>,
    /// The `name` correlations refer to.
    pub name: Option<String>,
    pub title: String,
    pub status: Option<String>,
    pub level: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub modified: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub fields: Vec<String>,
    pub logsource: LogSource,
    /// Attributes outside the specification (`runbook`, `owner`, ...).
    pub custom: BTreeMap<String, serde_json::Value>,
    /// File path or origin label, and the line where the document starts.
    pub origin: String,
    pub line: usize,
}

impl RuleMeta {
    /// `id`, else `name`, else `origin:line`: how other rules and findings
    /// refer to this one.
    pub fn key(&self) -> String {
        self.id
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| format!("{}:{}", self.origin, self.line))
    }
}

/// A selection: a map (all items hold) or a list (any element holds).
#[derive(Debug, Clone)]
pub enum Selection {
    All(Vec<Leaf>),
    Any(Vec<Selection>),
}

/// A compiled `detection` section.
#[derive(Debug, Clone)]
pub struct Detection {
    pub names: Vec<String>,
    pub selections: Vec<Selection>,
    pub condition: Bound,
    pub(crate) parsed: Vec<Condition>,
}

/// A `filter` document (meta filter) applied to other rules.
#[derive(Debug, Clone)]
pub struct FilterDef {
    pub rules: Vec<String>,
    pub detection: Detection,
}

#[derive(Debug, Clone)]
pub enum RuleBody {
    Detection(Detection),
    Correlation(CorrelationDef),
    Filter(FilterDef),
}

/// A parsed Sigma document.
#[derive(Debug, Clone)]
pub struct Rule {
    pub meta: RuleMeta,
    pub body: RuleBody,
}

const KNOWN_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "related",
    "taxonomy",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "logsource",
    "detection",
    "fields",
    "falsepositives",
    "level",
    "tags",
    "scope",
    "correlation",
    "filter",
    "generate",
];
const LEVELS: &[&str] = &["informational", "low", "medium", "high", "critical"];
const STATUSES: &[&str] = &[
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];

pub(crate) struct Ctx<'a> {
    pub origin: &'a str,
    pub placeholders: &'a HashMap<String, Vec<String>>,
}

impl Ctx<'_> {
    pub fn err(&self, line: usize, reason: impl Into<String>) -> RuleError {
        RuleError::new(self.origin, line, reason)
    }
}

fn opt_string(node: &Node, key: &str) -> Option<String> {
    node.get(key)
        .and_then(Node::scalar_text)
        .filter(|s| !s.is_empty())
}

fn string_list(ctx: &Ctx, node: &Node, key: &str) -> Result<Vec<String>, RuleError> {
    match node.get(key) {
        None => Ok(Vec::new()),
        Some(v) => v.string_list().ok_or_else(|| {
            ctx.err(
                v.line,
                format!("`{key}` must be a string or a list of strings"),
            )
        }),
    }
}

/// Parses one YAML document.
pub(crate) fn parse_rule(ctx: &Ctx, doc: &Node) -> Result<Rule, RuleError> {
    let Some(entries) = doc.as_map() else {
        return Err(ctx.err(doc.line, "a Sigma document must be a mapping"));
    };
    let kind = if doc.get("correlation").is_some() {
        RuleKind::Correlation
    } else if doc.get("filter").is_some() {
        RuleKind::Filter
    } else if doc.get("detection").is_some() {
        RuleKind::Detection
    } else {
        return Err(ctx.err(
            doc.line,
            "document has none of `detection`, `correlation` or `filter`",
        ));
    };
    let title = opt_string(doc, "title").ok_or_else(|| ctx.err(doc.line, "missing `title`"))?;
    if title.chars().count() > 256 {
        return Err(ctx.err(doc.line, "`title` is longer than 256 characters"));
    }
    let level = opt_string(doc, "level").map(|l| l.to_lowercase());
    if let Some(l) = &level
        && !LEVELS.contains(&l.as_str())
    {
        let line = doc.get("level").map_or(doc.line, |n| n.line);
        return Err(ctx.err(
            line,
            format!(
                "unknown level `{l}` (expected one of {})",
                LEVELS.join(", ")
            ),
        ));
    }
    let status = opt_string(doc, "status");
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        let line = doc.get("status").map_or(doc.line, |n| n.line);
        return Err(ctx.err(line, format!("unknown status `{s}`")));
    }
    let logsource = match doc.get("logsource") {
        None if kind == RuleKind::Correlation => LogSource::default(),
        None => return Err(ctx.err(doc.line, "missing `logsource`")),
        Some(ls) => {
            if ls.as_map().is_none() {
                return Err(ctx.err(ls.line, "`logsource` must be a mapping"));
            }
            LogSource {
                product: opt_string(ls, "product").map(|s| s.to_lowercase()),
                category: opt_string(ls, "category").map(|s| s.to_lowercase()),
                service: opt_string(ls, "service").map(|s| s.to_lowercase()),
            }
        }
    };
    let custom = entries
        .iter()
        .filter_map(|(k, v)| {
            let key = k.scalar_text()?;
            (!KNOWN_KEYS.contains(&key.as_str())).then(|| (key, v.to_json()))
        })
        .collect();
    let meta = RuleMeta {
        kind,
        id: opt_string(doc, "id"),
        name: opt_string(doc, "name"),
        title,
        status,
        level,
        description: opt_string(doc, "description"),
        author: opt_string(doc, "author"),
        date: opt_string(doc, "date"),
        modified: opt_string(doc, "modified"),
        references: string_list(ctx, doc, "references")?,
        tags: string_list(ctx, doc, "tags")?,
        falsepositives: string_list(ctx, doc, "falsepositives")?,
        fields: string_list(ctx, doc, "fields")?,
        logsource,
        custom,
        origin: ctx.origin.to_string(),
        line: doc.line,
    };
    let body = match kind {
        RuleKind::Detection => {
            let det = doc
                .get("detection")
                .ok_or_else(|| ctx.err(doc.line, "missing `detection`"))?;
            RuleBody::Detection(parse_detection(ctx, det)?)
        }
        RuleKind::Filter => {
            let f = doc
                .get("filter")
                .ok_or_else(|| ctx.err(doc.line, "missing `filter`"))?;
            let rules = match f.get("rules") {
                None => Vec::new(),
                Some(r) => r.string_list().ok_or_else(|| {
                    ctx.err(r.line, "`filter.rules` must be a list of rule ids or names")
                })?,
            };
            RuleBody::Filter(FilterDef {
                rules,
                detection: parse_detection(ctx, f)?,
            })
        }
        RuleKind::Correlation => {
            let c = doc
                .get("correlation")
                .ok_or_else(|| ctx.err(doc.line, "missing `correlation`"))?;
            let generate = matches!(
                doc.get("generate").map(|n| &n.kind),
                Some(NodeKind::Scalar(Scalar::Bool(true)))
            );
            RuleBody::Correlation(crate::correlation::parse_def(ctx, c, generate)?)
        }
    };
    Ok(Rule { meta, body })
}

/// Parses a `detection` mapping (also the body of a filter).
pub(crate) fn parse_detection(ctx: &Ctx, det: &Node) -> Result<Detection, RuleError> {
    let Some(entries) = det.as_map() else {
        return Err(ctx.err(det.line, "`detection` must be a mapping"));
    };
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut conditions = Vec::new();
    let mut cond_line = det.line;
    for (key, value) in entries {
        let Some(name) = key.scalar_text() else {
            return Err(ctx.err(key.line, "selection names must be strings"));
        };
        if name == "condition" {
            cond_line = value.line;
            match &value.kind {
                NodeKind::Scalar(Scalar::Str(s)) => conditions.push(s.clone()),
                NodeKind::Seq(items) => {
                    for i in items {
                        conditions.push(
                            i.as_str()
                                .ok_or_else(|| ctx.err(i.line, "a condition must be a string"))?
                                .to_string(),
                        );
                    }
                }
                _ => return Err(ctx.err(value.line, "`condition` must be a string")),
            }
            continue;
        }
        if name == "timeframe" || name == "rules" {
            continue;
        }
        selections.push(parse_selection(ctx, value, 0)?);
        names.push(name);
    }
    if conditions.is_empty() {
        return Err(ctx.err(det.line, "detection has no `condition`"));
    }
    let mut parsed = Vec::new();
    let mut bound = Vec::new();
    for c in &conditions {
        let cond =
            Condition::parse(c).map_err(|e| ctx.err(cond_line, format!("bad condition: {e}")))?;
        bound.push(cond.resolve(&names).map_err(|e| ctx.err(cond_line, e))?);
        parsed.push(cond);
    }
    // A list of conditions is an `or` of them (older rule style).
    let condition = if bound.len() == 1 {
        bound.remove(0)
    } else {
        Bound::Or(bound)
    };
    Ok(Detection {
        names,
        selections,
        condition,
        parsed,
    })
}

fn parse_selection(ctx: &Ctx, node: &Node, depth: usize) -> Result<Selection, RuleError> {
    if depth > 8 {
        return Err(ctx.err(node.line, "selection nests too deeply"));
    }
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut leaves = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let key = k
                    .scalar_text()
                    .ok_or_else(|| ctx.err(k.line, "field names must be strings"))?;
                leaves.push(parse_item(ctx, &key, v)?);
            }
            Ok(Selection::All(leaves))
        }
        NodeKind::Seq(items) => {
            if items.iter().all(|i| matches!(i.kind, NodeKind::Scalar(_))) {
                // A list of plain values: keywords searched in the whole event.
                return Ok(Selection::All(vec![parse_item(ctx, "", node)?]));
            }
            let mut alts = Vec::new();
            for i in items {
                alts.push(match &i.kind {
                    NodeKind::Scalar(_) => Selection::All(vec![parse_item(ctx, "", i)?]),
                    _ => parse_selection(ctx, i, depth + 1)?,
                });
            }
            Ok(Selection::Any(alts))
        }
        NodeKind::Scalar(_) => Ok(Selection::All(vec![parse_item(ctx, "", node)?])),
    }
}

fn parse_item(ctx: &Ctx, key: &str, value: &Node) -> Result<Leaf, RuleError> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    let mut modifiers = Vec::new();
    for m in parts {
        modifiers
            .push(Modifier::parse(m).ok_or_else(|| {
                ctx.err(value.line, format!("unknown modifier `{m}` on `{key}`"))
            })?);
    }
    let values: Vec<Scalar> = match &value.kind {
        NodeKind::Scalar(s) => vec![s.clone()],
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                match &i.kind {
                    NodeKind::Scalar(s) => out.push(s.clone()),
                    _ => return Err(ctx.err(i.line, format!("values of `{key}` must be scalars"))),
                }
            }
            out
        }
        NodeKind::Map(_) => {
            return Err(ctx.err(
                value.line,
                format!("value of `{key}` must be a scalar or a list"),
            ));
        }
    };
    let field = (!field.is_empty()).then_some(field);
    // Keywords are searched anywhere in the event's strings.
    if field.is_none()
        && !modifiers.iter().any(|m| {
            matches!(
                m,
                Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::Re
            )
        })
    {
        modifiers.push(Modifier::Contains);
    }
    modifier::compile_leaf(field, &modifiers, &values, ctx.placeholders, value.line)
        .map_err(|e| ctx.err(value.line, format!("`{key}`: {e}")))
}
