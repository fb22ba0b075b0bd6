//! Loading rules from files, directories and strings into a [`RuleSet`].
//!
//! A bad document is reported with file, line and reason and skipped; every
//! good document still loads. After loading, references are checked: meta
//! filters and correlations must name existing rules, ids must be unique.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::RuleError;
use crate::pipeline::Pipeline;
use crate::rule::{self, Ctx, Rule, RuleBody, RuleKind, RuleMeta};
use crate::yaml;

const MAX_FILES: usize = 100_000;

/// A loaded set of Sigma rules, filters and correlations.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    pipelines: Vec<Pipeline>,
    /// For each rule, the meta filters that apply to it.
    filters: Vec<Vec<usize>>,
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<RuleError>) {
    if path.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => {
                errors.push(RuleError::new(
                    &path.display().to_string(),
                    1,
                    format!("cannot read directory: {e}"),
                ));
                return;
            }
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for c in children {
            if out.len() >= MAX_FILES {
                return;
            }
            if c.is_dir() || c.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                collect_files(&c, out, errors);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
}

impl RuleSet {
    /// Loads rules from `(origin, YAML text)` pairs, such as rule packs
    /// embedded in a binary. Returns the good rules and one error per bad
    /// document.
    pub fn load_sources(
        sources: &[(String, String)],
        pipelines: &[Pipeline],
    ) -> (RuleSet, Vec<RuleError>) {
        let mut set = RuleSet {
            pipelines: pipelines.to_vec(),
            ..RuleSet::default()
        };
        let mut errors = Vec::new();
        for (origin, text) in sources {
            errors.extend(set.add_yaml(text, origin));
        }
        errors.extend(set.link());
        (set, errors)
    }

    /// Loads every `.yml`/`.yaml` file under `paths` (files or directories,
    /// recursively, in name order). Returns the good rules and one error per
    /// bad document.
    pub fn load_paths(paths: &[PathBuf], pipelines: &[Pipeline]) -> (RuleSet, Vec<RuleError>) {
        let mut set = RuleSet {
            pipelines: pipelines.to_vec(),
            ..RuleSet::default()
        };
        let mut errors = Vec::new();
        let mut files = Vec::new();
        for p in paths {
            collect_files(p, &mut files, &mut errors);
        }
        for f in files {
            let origin = f.display().to_string();
            match std::fs::read_to_string(&f) {
                Ok(text) => errors.extend(set.add_yaml(&text, &origin)),
                Err(e) => errors.push(RuleError::new(&origin, 1, format!("cannot read file: {e}"))),
            }
        }
        errors.extend(set.link());
        (set, errors)
    }

    /// Parses rules from a YAML string (one or more documents); `origin`
    /// labels errors. Fails with every error if any document is bad.
    pub fn from_yaml_str(
        yaml: &str,
        origin: &str,
        pipelines: &[Pipeline],
    ) -> Result<RuleSet, Vec<RuleError>> {
        let mut set = RuleSet {
            pipelines: pipelines.to_vec(),
            ..RuleSet::default()
        };
        let mut errors = set.add_yaml(yaml, origin);
        errors.extend(set.link());
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    fn placeholders(&self) -> HashMap<String, Vec<String>> {
        let mut all = HashMap::new();
        for p in &self.pipelines {
            for (k, v) in &p.placeholders {
                all.entry(k.clone())
                    .or_insert_with(Vec::new)
                    .extend(v.iter().cloned());
            }
        }
        all
    }

    fn add_yaml(&mut self, text: &str, origin: &str) -> Vec<RuleError> {
        let docs = match yaml::parse_documents(text) {
            Ok(d) => d,
            Err(e) => {
                return vec![RuleError::new(
                    origin,
                    e.line,
                    format!("invalid YAML: {}", e.message),
                )];
            }
        };
        let placeholders = self.placeholders();
        let ctx = Ctx {
            origin,
            placeholders: &placeholders,
        };
        let mut errors = Vec::new();
        for doc in docs.iter().filter(|d| !d.is_null()) {
            match rule::parse_rule(&ctx, doc) {
                Ok(r) => self.rules.push(r),
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// Resolves references between documents; drops (and reports) the
    /// documents whose references are broken.
    fn link(&mut self) -> Vec<RuleError> {
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        let mut keep = vec![true; self.rules.len()];
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(id) = &r.meta.id
                && !seen.insert(id.clone())
            {
                errors.push(RuleError::new(
                    &r.meta.origin,
                    r.meta.line,
                    format!("duplicate rule id `{id}`"),
                ));
                keep[i] = false;
            }
        }
        let resolves = |name: &str, rules: &[Rule]| {
            rules
                .iter()
                .any(|r| r.meta.id.as_deref() == Some(name) || r.meta.name.as_deref() == Some(name))
        };
        for (i, r) in self.rules.iter().enumerate() {
            let refs: &[String] = match &r.body {
                RuleBody::Correlation(c) => &c.rules,
                _ => continue,
            };
            if let Some(missing) = refs.iter().find(|n| !resolves(n, &self.rules)) {
                errors.push(RuleError::new(
                    &r.meta.origin,
                    r.meta.line,
                    format!("correlation refers to unknown rule `{missing}`"),
                ));
                keep[i] = false;
            }
        }
        let mut k = keep.iter();
        self.rules.retain(|_| *k.next().unwrap_or(&true));
        self.filters = vec![Vec::new(); self.rules.len()];
        for (fi, f) in self.rules.iter().enumerate() {
            let RuleBody::Filter(def) = &f.body else {
                continue;
            };
            for (ri, r) in self.rules.iter().enumerate() {
                if r.meta.kind != RuleKind::Detection {
                    continue;
                }
                let named = def
                    .rules
                    .iter()
                    .any(|n| r.meta.id.as_deref() == Some(n) || r.meta.name.as_deref() == Some(n));
                let applies = if def.rules.is_empty() {
                    f.meta.logsource.applies_to(&r.meta.logsource)
                } else {
                    named
                };
                if applies {
                    self.filters[ri].push(fi);
                }
            }
        }
        errors
    }

    /// Number of documents (detection rules, filters, correlations).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Metadata of every document, in load order.
    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules.iter().map(|r| &r.meta)
    }

    /// A document by index.
    pub fn rule(&self, index: usize) -> Option<&Rule> {
        self.rules.get(index)
    }

    /// The pipelines the set was loaded with.
    pub fn pipelines(&self) -> &[Pipeline] {
        &self.pipelines
    }

    pub(crate) fn filters_of(&self, index: usize) -> &[usize] {
        self.filters.get(index).map_or(&[], Vec::as_slice)
    }

    /// The event fields detection rule `index` can read, as the rule and
    /// the meta filters applied to it write them: each item's field
    /// (`None`: a keyword item, which reads every string of the event) and
    /// each `fieldref` target. Empty for correlations and filters.
    pub fn fields_read(&self, index: usize) -> Vec<Option<&str>> {
        let mut out = Vec::new();
        let Some(RuleBody::Detection(det)) = self.rule(index).map(|r| &r.body) else {
            return out;
        };
        let filters = self
            .filters_of(index)
            .iter()
            .filter_map(|&f| match &self.rule(f)?.body {
                RuleBody::Filter(fd) => Some(&fd.detection),
                _ => None,
            });
        for d in std::iter::once(det).chain(filters) {
            for s in &d.selections {
                selection_fields(s, &mut out);
            }
        }
        out
    }
}

fn selection_fields<'a>(sel: &'a rule::Selection, out: &mut Vec<Option<&'a str>>) {
    match sel {
        rule::Selection::All(leaves) => {
            for leaf in leaves {
                out.push(leaf.field.as_deref());
                for t in &leaf.tests {
                    if let crate::modifier::ValueTest::FieldRef { field, .. } = t {
                        out.push(Some(field.as_str()));
                    }
                }
            }
        }
        rule::Selection::Any(alts) => {
            for a in alts {
                selection_fields(a, out);
            }
        }
    }
}
