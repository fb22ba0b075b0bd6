//! Field-mapping pipelines: data files that say which events a pipeline
//! applies to, how a rule's `logsource` is recognised in such an event, and
//! how rule field names map to event field paths.
//!
//! ```yaml
//! name: ward-ecs
//! priority: 0                   # higher is more specific: evaluated first
//! applies_when:                 # a Sigma selection over the event
//!   event.category|exists: true
//! logsources:
//!   - category: process_creation
//!     product: windows          # the keys a rule's logsource must equal
//!     when:                     # a Sigma selection: the event is of this kind
//!       event.category: process
//!       event.type: start
//! fieldmappings:
//!   Image: process.executable   # or a list of alternatives, first present wins
//! field_prefixes: []            # unmapped fields: try each prefix + name, then the name
//! placeholders:                 # values for `|expand` `%name%`
//!   Admins: [admin, root]
//! logsource_fields:             # the event states its log source itself
//!   product: ward.logsource.product
//!   service: ward.logsource.service
//!   category: ward.logsource.category
//! ```
//!
//! With `logsource_fields`, every rule's logsource is recognised in an
//! event whose fields are equal to the logsource's keys (see
//! [`Pipeline::derived_entry`]); `logsources` entries then only add
//! aliases, and may omit `when` to mean the same equality.
//!
//! Precedence (see `docs/pipelines.md`): pipelines are tried by descending
//! `priority`, a configured pipeline before a built-in one of the same
//! priority; each rule is evaluated through the first pipeline that applies
//! to the event and recognises the rule's logsource in it.
//!
//! Invariant: a pipeline that loads compiled all its selections; unknown
//! keys are errors, so a typo never silently disables a mapping.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{RuleError, SigmaError};
use crate::rule::{Ctx, LogSource, Selection};
use crate::yaml::{self, Node};

/// A logsource recognised in events by a selection.
#[derive(Debug, Clone)]
pub struct LogSourceEntry {
    pub logsource: LogSource,
    pub when: Selection,
    pub line: usize,
}

/// A field-mapping pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub origin: String,
    pub applies_when: Option<Selection>,
    pub logsources: Vec<LogSourceEntry>,
    pub mapping: FieldMap,
    pub placeholders: HashMap<String, Vec<String>>,
    /// Higher is more specific: tried first.
    pub priority: i64,
    /// Shipped with Ward (set by the loader, not the file); a configured
    /// pipeline goes before a built-in one of the same priority.
    pub builtin: bool,
    /// Event fields that state the event's log source, when it does.
    pub logsource_fields: Option<LogSourceFields>,
}

/// The event fields holding an event's own log source (as stamped by
/// source recognition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSourceFields {
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
}

/// How Sigma field names become event field paths; plain data so the
/// correlator can keep a copy in its checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FieldMap {
    pub fields: BTreeMap<String, Vec<String>>,
    pub prefixes: Vec<String>,
}

impl FieldMap {
    /// Candidate event paths for a rule field, in order of preference.
    pub fn resolve(&self, field: &str) -> Vec<String> {
        if let Some(paths) = self.fields.get(field) {
            return paths.clone();
        }
        let mut out: Vec<String> = self
            .prefixes
            .iter()
            .map(|p| format!("{p}{field}"))
            .collect();
        out.push(field.to_string());
        out
    }
}

const PIPELINE_KEYS: &[&str] = &[
    "name",
    "description",
    "applies_when",
    "logsources",
    "fieldmappings",
    "field_prefixes",
    "placeholders",
    "priority",
    "logsource_fields",
];

impl Pipeline {
    /// Reads a pipeline file.
    pub fn load(path: &Path) -> Result<Pipeline, SigmaError> {
        let text = std::fs::read_to_string(path).map_err(|source| SigmaError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Pipeline::from_yaml_str(&text, &path.display().to_string())?)
    }

    /// Parses a pipeline; `origin` labels errors.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Pipeline, RuleError> {
        let docs =
            yaml::parse_documents(text).map_err(|e| RuleError::new(origin, e.line, e.message))?;
        let [doc] = docs.as_slice() else {
            return Err(RuleError::new(
                origin,
                1,
                "a pipeline file holds exactly one YAML document",
            ));
        };
        let no_placeholders = HashMap::new();
        let ctx = Ctx {
            origin,
            placeholders: &no_placeholders,
        };
        let Some(entries) = doc.as_map() else {
            return Err(ctx.err(doc.line, "a pipeline must be a mapping"));
        };
        for (k, _) in entries {
            let key = k.scalar_text().unwrap_or_default();
            if !PIPELINE_KEYS.contains(&key.as_str()) {
                return Err(ctx.err(
                    k.line,
                    format!(
                        "unknown pipeline key `{key}` (expected one of {})",
                        PIPELINE_KEYS.join(", ")
                    ),
                ));
            }
        }
        let name = doc
            .get("name")
            .and_then(Node::scalar_text)
            .ok_or_else(|| ctx.err(doc.line, "missing `name`"))?;
        let applies_when = doc
            .get("applies_when")
            .map(|n| selection(&ctx, n))
            .transpose()?;
        let priority = match doc.get("priority") {
            None => 0,
            Some(n) => n
                .scalar_text()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| ctx.err(n.line, "`priority` must be an integer"))?,
        };
        let logsource_fields = match doc.get("logsource_fields") {
            None => None,
            Some(n) => Some(logsource_fields(&ctx, n)?),
        };
        let mut logsources = Vec::new();
        if let Some(list) = doc.get("logsources") {
            let crate::yaml::NodeKind::Seq(items) = &list.kind else {
                return Err(ctx.err(list.line, "`logsources` must be a list"));
            };
            for item in items {
                let get = |k: &str| {
                    item.get(k)
                        .and_then(Node::scalar_text)
                        .map(|s| s.to_lowercase())
                };
                let logsource = LogSource {
                    product: get("product"),
                    category: get("category"),
                    service: get("service"),
                };
                let when = match (item.get("when"), &logsource_fields) {
                    (Some(when), _) => selection(&ctx, when)?,
                    (None, Some(fields)) => equality(&ctx, item.line, &fields.pairs(&logsource))?
                        .ok_or_else(|| {
                        ctx.err(item.line, "a logsource without `when` needs a key")
                    })?,
                    (None, None) => {
                        return Err(ctx.err(
                            item.line,
                            "a logsource needs `when` (or the pipeline `logsource_fields`)",
                        ));
                    }
                };
                logsources.push(LogSourceEntry {
                    logsource,
                    when,
                    line: item.line,
                });
            }
        }
        let mut mapping = FieldMap::default();
        if let Some(m) = doc.get("fieldmappings") {
            let Some(pairs) = m.as_map() else {
                return Err(ctx.err(m.line, "`fieldmappings` must be a mapping"));
            };
            for (k, v) in pairs {
                let key = k.scalar_text().unwrap_or_default();
                let targets = v.string_list().filter(|t| !t.is_empty()).ok_or_else(|| {
                    ctx.err(
                        v.line,
                        format!("mapping of `{key}` must be a field name or a list of them"),
                    )
                })?;
                mapping.fields.insert(key, targets);
            }
        }
        if let Some(p) = doc.get("field_prefixes") {
            mapping.prefixes = p
                .string_list()
                .ok_or_else(|| ctx.err(p.line, "`field_prefixes` must be a list"))?;
        }
        let mut placeholders = HashMap::new();
        if let Some(p) = doc.get("placeholders") {
            let Some(pairs) = p.as_map() else {
                return Err(ctx.err(p.line, "`placeholders` must be a mapping"));
            };
            for (k, v) in pairs {
                let key = k.scalar_text().unwrap_or_default();
                let values = v.string_list().ok_or_else(|| {
                    ctx.err(
                        v.line,
                        format!("placeholder `{key}` must be a list of values"),
                    )
                })?;
                placeholders.insert(key, values);
            }
        }
        Ok(Pipeline {
            name,
            origin: origin.to_string(),
            applies_when,
            logsources,
            mapping,
            placeholders,
            priority,
            builtin: false,
            logsource_fields,
        })
    }

    /// For a pipeline with `logsource_fields`: the entry recognising
    /// `logsource` in events whose log source fields are equal to its keys.
    /// None for other pipelines, and for a logsource without keys (whose
    /// rules every entry selects anyway).
    pub fn derived_entry(&self, logsource: &LogSource) -> Option<LogSourceEntry> {
        let fields = self.logsource_fields.as_ref()?;
        let no_placeholders = HashMap::new();
        let ctx = Ctx {
            origin: &self.origin,
            placeholders: &no_placeholders,
        };
        let when = equality(&ctx, 0, &fields.pairs(logsource)).ok()??;
        Some(LogSourceEntry {
            logsource: logsource.clone(),
            when,
            line: 0,
        })
    }
}

impl LogSourceFields {
    /// (event field, value) for each key `logsource` sets and this names.
    fn pairs(&self, logsource: &LogSource) -> Vec<(String, String)> {
        [
            (&self.product, &logsource.product),
            (&self.service, &logsource.service),
            (&self.category, &logsource.category),
        ]
        .into_iter()
        .filter_map(|(field, value)| Some((field.clone()?, value.clone()?)))
        .collect()
    }
}

fn logsource_fields(ctx: &Ctx, node: &Node) -> Result<LogSourceFields, RuleError> {
    let Some(pairs) = node.as_map() else {
        return Err(ctx.err(node.line, "`logsource_fields` must be a mapping"));
    };
    let mut out = LogSourceFields::default();
    for (k, v) in pairs {
        let key = k.scalar_text().unwrap_or_default();
        let field = v
            .scalar_text()
            .filter(|f| !f.is_empty())
            .ok_or_else(|| ctx.err(v.line, format!("`{key}` must name an event field")))?;
        match key.as_str() {
            "product" => out.product = Some(field),
            "service" => out.service = Some(field),
            "category" => out.category = Some(field),
            _ => {
                return Err(ctx.err(
                    k.line,
                    format!("unknown `logsource_fields` key `{key}` (product, service, category)"),
                ));
            }
        }
    }
    Ok(out)
}

/// A selection requiring each field to equal its value; None without pairs.
fn equality(
    ctx: &Ctx,
    line: usize,
    pairs: &[(String, String)],
) -> Result<Option<Selection>, RuleError> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let node = Node {
        kind: crate::yaml::NodeKind::Map(
            pairs
                .iter()
                .map(|(f, v)| (scalar_node(f, line), scalar_node(v, line)))
                .collect(),
        ),
        line,
    };
    selection(ctx, &node).map(Some)
}

/// Pipelines in evaluation order: descending priority, configured before
/// built-in, then as given.
pub(crate) fn precedence(pipelines: &[Pipeline]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pipelines.len()).collect();
    order.sort_by_key(|&i| {
        let p = &pipelines[i];
        (std::cmp::Reverse(p.priority), p.builtin)
    });
    order
}

fn selection(ctx: &Ctx, node: &Node) -> Result<Selection, RuleError> {
    // Reuse the detection parser: a one-selection detection.
    let wrapped = Node {
        kind: crate::yaml::NodeKind::Map(vec![
            (scalar("sel", node.line), node.clone()),
            (
                scalar("condition", node.line),
                scalar_node("sel", node.line),
            ),
        ]),
        line: node.line,
    };
    let mut det = crate::rule::parse_detection(ctx, &wrapped)?;
    det.selections
        .pop()
        .ok_or_else(|| ctx.err(node.line, "empty selection"))
}

fn scalar(s: &str, line: usize) -> Node {
    scalar_node(s, line)
}

fn scalar_node(s: &str, line: usize) -> Node {
    Node {
        kind: crate::yaml::NodeKind::Scalar(crate::yaml::Scalar::Str(s.to_string())),
        line,
    }
}

impl LogSource {
    /// Whether a rule with logsource `self` applies to events recognised as
    /// `event_ls`: every key the rule sets must be equal.
    pub fn applies_to(&self, event_ls: &LogSource) -> bool {
        let eq = |rule: &Option<String>, ev: &Option<String>| rule.is_none() || rule == ev;
        eq(&self.product, &event_ls.product)
            && eq(&self.category, &event_ls.category)
            && eq(&self.service, &event_ls.service)
    }
}
