//! Lint checks for `rules check`: problems that do not stop a rule from
//! loading but that a rule author should fix.

use serde::Serialize;

use crate::modifier::ValueTest;
use crate::rule::{Detection, RuleBody, RuleKind, Selection};
use crate::ruleset::RuleSet;

/// One finding of the lint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lint {
    pub origin: String,
    pub line: usize,
    pub rule: String,
    pub message: String,
}

fn leaves(sel: &Selection, out: &mut Vec<(usize, bool, usize, bool)>) {
    match sel {
        Selection::All(ls) => out.extend(ls.iter().map(|l| {
            (
                l.line,
                l.all,
                l.tests.len(),
                l.tests.iter().any(|t| matches!(t, ValueTest::Never)),
            )
        })),
        Selection::Any(alts) => alts.iter().for_each(|a| leaves(a, out)),
    }
}

fn check_detection(det: &Detection, mut push: impl FnMut(usize, String)) {
    for (i, name) in det.names.iter().enumerate() {
        if !det.parsed.iter().any(|c| c.mentions(name)) {
            push(
                0,
                format!("selection `{name}` is not used in the condition"),
            );
        }
        let mut ls = Vec::new();
        if let Some(s) = det.selections.get(i) {
            leaves(s, &mut ls);
        }
        for (line, all, n, never) in ls {
            if all && n < 2 {
                push(line, "`all` on a single value has no effect".into());
            }
            if never {
                push(
                    line,
                    "placeholder has no value in any pipeline: the item never matches".into(),
                );
            }
        }
    }
}

/// Checks every rule of the set.
pub fn check(set: &RuleSet) -> Vec<Lint> {
    let mut out = Vec::new();
    for i in 0..set.len() {
        let Some(rule) = set.rule(i) else { continue };
        let m = &rule.meta;
        let mut push = |line: usize, message: String| {
            out.push(Lint {
                origin: m.origin.clone(),
                line: if line == 0 { m.line } else { line },
                rule: m.key(),
                message,
            });
        };
        if m.id.is_none() {
            push(0, "missing `id`".into());
        }
        if m.kind != RuleKind::Filter && m.level.is_none() {
            push(0, "missing `level`".into());
        }
        if m.kind == RuleKind::Detection && m.status.is_none() {
            push(0, "missing `status`".into());
        }
        if m.description.is_none() {
            push(0, "missing `description`".into());
        }
        match &rule.body {
            RuleBody::Detection(d) => check_detection(d, &mut push),
            RuleBody::Filter(f) => check_detection(&f.detection, &mut push),
            RuleBody::Correlation(_) => {}
        }
    }
    out
}
