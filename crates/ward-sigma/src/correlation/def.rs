//! Correlation rule definitions: the `correlation` section parsed into a
//! [`CorrelationDef`], with its type, member rules, grouping, timespan,
//! condition and aliases. Invariant: a definition that parsed has a
//! positive timespan and every part its type requires.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::RuleError;
use crate::rule::Ctx;
use crate::yaml::{Node, NodeKind, Scalar};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl Cmp {
    pub(crate) fn test(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Gte => a >= b,
            Cmp::Lt => a < b,
            Cmp::Lte => a <= b,
            Cmp::Eq => a == b,
            Cmp::Neq => a != b,
        }
    }
}

/// A parsed `correlation` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorrelationDef {
    pub kind: CorrelationType,
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    /// All must hold. Empty for temporal types: all rules must be seen.
    pub condition: Vec<(Cmp, f64)>,
    /// Field(s) for value_* types.
    pub field: Vec<String>,
    /// alias -> (rule name or id -> field)
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    pub generate: bool,
}

/// Parses `1h`, `30s`, `5m`, `2d`, `1w` into milliseconds.
pub fn parse_timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 604_800_000,
        _ => return None,
    };
    (n > 0).then(|| n.checked_mul(ms)).flatten()
}

pub(crate) fn parse_def(ctx: &Ctx, c: &Node, generate: bool) -> Result<CorrelationDef, RuleError> {
    let kind_text = c
        .get("type")
        .and_then(Node::scalar_text)
        .ok_or_else(|| ctx.err(c.line, "correlation needs `type`"))?;
    let kind = match kind_text.as_str() {
        "event_count" => CorrelationType::EventCount,
        "value_count" => CorrelationType::ValueCount,
        "temporal" => CorrelationType::Temporal,
        "temporal_ordered" => CorrelationType::TemporalOrdered,
        "value_sum" => CorrelationType::ValueSum,
        "value_avg" => CorrelationType::ValueAvg,
        "value_percentile" => CorrelationType::ValuePercentile,
        other => {
            return Err(ctx.err(
                c.get("type").map_or(c.line, |n| n.line),
                format!("unknown correlation type `{other}`"),
            ));
        }
    };
    let rules = c
        .get("rules")
        .and_then(Node::string_list)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ctx.err(
                c.line,
                "correlation needs `rules`: a list of rule ids or names",
            )
        })?;
    let group_by = match c.get("group-by") {
        None => Vec::new(),
        Some(g) => g
            .string_list()
            .ok_or_else(|| ctx.err(g.line, "`group-by` must be a list of fields"))?,
    };
    let ts_node = c
        .get("timespan")
        .or_else(|| c.get("timeframe"))
        .ok_or_else(|| ctx.err(c.line, "correlation needs `timespan`"))?;
    let timespan_ms = ts_node
        .scalar_text()
        .as_deref()
        .and_then(parse_timespan)
        .ok_or_else(|| {
            ctx.err(
                ts_node.line,
                "`timespan` must be a number and a unit s, m, h, d or w (e.g. 5m)",
            )
        })?;
    let mut condition = Vec::new();
    let mut field = Vec::new();
    if let Some(cond) = c.get("condition") {
        let Some(pairs) = cond.as_map() else {
            return Err(ctx.err(
                cond.line,
                "correlation `condition` must be a mapping like `gte: 10`",
            ));
        };
        for (k, v) in pairs {
            let key = k.scalar_text().unwrap_or_default();
            if key == "field" {
                field = v
                    .string_list()
                    .ok_or_else(|| ctx.err(v.line, "`field` must be a field name or list"))?;
                continue;
            }
            let cmp = match key.as_str() {
                "gt" => Cmp::Gt,
                "gte" => Cmp::Gte,
                "lt" => Cmp::Lt,
                "lte" => Cmp::Lte,
                "eq" => Cmp::Eq,
                "neq" => Cmp::Neq,
                other => {
                    return Err(ctx.err(k.line, format!("unknown correlation condition `{other}`")));
                }
            };
            let n = match &v.kind {
                NodeKind::Scalar(Scalar::Int(i)) => *i as f64,
                NodeKind::Scalar(Scalar::Float(f)) => *f,
                _ => return Err(ctx.err(v.line, format!("`{key}` needs a number"))),
            };
            condition.push((cmp, n));
        }
    }
    let temporal = matches!(
        kind,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    if condition.is_empty() && !temporal {
        return Err(ctx.err(c.line, format!("`{kind_text}` needs a `condition`")));
    }
    let needs_field = matches!(
        kind,
        CorrelationType::ValueCount
            | CorrelationType::ValueSum
            | CorrelationType::ValueAvg
            | CorrelationType::ValuePercentile
    );
    if needs_field && field.is_empty() {
        return Err(ctx.err(c.line, format!("`{kind_text}` needs `condition.field`")));
    }
    let mut aliases = BTreeMap::new();
    if let Some(a) = c.get("aliases") {
        let Some(pairs) = a.as_map() else {
            return Err(ctx.err(a.line, "`aliases` must be a mapping"));
        };
        for (k, v) in pairs {
            let mut per_rule = BTreeMap::new();
            for (rk, rv) in v
                .as_map()
                .ok_or_else(|| ctx.err(v.line, "an alias maps rule names to fields"))?
            {
                per_rule.insert(
                    rk.scalar_text().unwrap_or_default(),
                    rv.scalar_text().unwrap_or_default(),
                );
            }
            aliases.insert(k.scalar_text().unwrap_or_default(), per_rule);
        }
    }
    Ok(CorrelationDef {
        kind,
        rules,
        group_by,
        timespan_ms,
        condition,
        field,
        aliases,
        generate,
    })
}
