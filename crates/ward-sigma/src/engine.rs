//! The compiled matching plan and per-event evaluation.
//!
//! One [`Engine`] holds, per pipeline, the rules whose logsource the
//! pipeline can recognise, compiled against that pipeline's field mapping.
//! Pipelines are tried in precedence order (descending `priority`, a
//! configured pipeline before a built-in one); each pipeline whose
//! `applies_when` holds runs the rules of the logsources it recognises in
//! the event, except rules a more specific pipeline already ran: every rule
//! is evaluated at most once per event, through the most specific pipeline
//! that can see it. Without pipelines, field names are used as written and
//! every rule runs.
//!
//! Invariants: a field is resolved (one trie walk over a JSON event, see
//! [`crate::resolve`]) and lowercased at most once per event; rules are skipped by the literal prefilter
//! ([`crate::prefilter`]) only when they provably cannot match.

use std::borrow::Cow;
use std::cell::OnceCell;

use serde::{Deserialize, Serialize};

use crate::condition::Bound;
use crate::dispatch::Dispatch;
use crate::event::{EventFields, FieldValue};
use crate::modifier::{Leaf, ValueTest};
use crate::pipeline::{FieldMap, Pipeline};
use crate::prefilter::Prefilter;
use crate::resolve::PathTrie;
use crate::rule::{Detection, LogSource, RuleBody, RuleMeta, Selection};
use crate::ruleset::RuleSet;

/// A detection rule that matched an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// Index of the rule in [`RuleSet::rules`] order.
    pub rule: usize,
    /// [`RuleMeta::key`] of the rule (id, else name).
    pub rule_id: String,
    /// Index of the pipeline that evaluated the event (None: no pipelines).
    pub pipeline: Option<usize>,
    /// Items that held, for explaining a match.
    pub fields: Vec<MatchedField>,
}

/// One detection item that held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedField {
    /// Field name as written in the rule (empty for keywords).
    pub field: String,
    /// Event field path that was read.
    pub event_field: String,
    /// The event value that matched (for `rules test` output).
    pub value: String,
}

pub(crate) type SlotId = u32;

#[derive(Debug, Clone)]
pub(crate) struct CLeaf {
    pub field: Option<String>,
    /// `None` for keyword items.
    pub slot: Option<SlotId>,
    pub leaf: Leaf,
    /// Slots of `fieldref` targets, in the order of the leaf's tests.
    pub refs: Vec<SlotId>,
}

#[derive(Debug, Clone)]
pub(crate) enum CSel {
    All(Vec<CLeaf>),
    Any(Vec<CSel>),
}

#[derive(Debug, Clone)]
pub(crate) struct CDetection {
    pub selections: Vec<CSel>,
    pub condition: Bound,
}

#[derive(Debug, Clone)]
pub(crate) struct CRule {
    pub rule: usize,
    pub detection: CDetection,
    /// Meta filters: the rule matches only if none of them holds.
    pub filters: Vec<CDetection>,
}

/// Rules compiled against one field mapping.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub slots: Vec<Vec<String>>,
    /// `slots` as a trie, resolved in one walk over JSON events.
    pub trie: PathTrie,
    pub rules: Vec<CRule>,
    pub prefilter: Prefilter,
}

#[derive(Debug, Clone)]
struct EntryPlan {
    logsource: LogSource,
    when: CSel,
    /// Indices into the plan's rules, sorted.
    rules: Vec<u32>,
    /// The same rules as a bitset.
    bits: Vec<u64>,
    /// Prefilter scanners these rules need.
    scanners: Vec<u32>,
    /// The same rules by global index, as a bitset over all rules: a
    /// later pipeline whose recognised entries select only rules an
    /// earlier pipeline already selected cannot run any rule, and skips
    /// its scans.
    global: Vec<u64>,
}

#[derive(Debug, Clone)]
struct PipelinePlan {
    name: String,
    /// Global rule index -> index in `plan.rules` (NONE: not in this plan).
    local: Vec<u32>,
    /// The slots of the pipeline's own selections (`applies_when`, each
    /// entry's `when`), which address event fields directly.
    when_plan: Plan,
    applies_when: Option<CSel>,
    entries: Vec<EntryPlan>,
    dispatch: Dispatch,
    plan: Plan,
}

const NOT_HERE: u32 = u32::MAX;

/// Which logsources one pipeline recognised in an event
/// ([`Engine::matches_seen`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Index of the pipeline ([`Engine::pipeline_name`]).
    pub pipeline: usize,
    /// Its logsource entries that held ([`Engine::entry_logsource`]).
    pub entries: Vec<u32>,
}

/// The compiled plan of a rule set.
#[derive(Debug, Clone)]
pub struct Engine {
    metas: Vec<RuleMeta>,
    pipelines: Vec<PipelinePlan>,
    mappings: Vec<FieldMap>,
    fallback: Option<Plan>,
}

struct PlanBuilder<'m> {
    map: &'m FieldMap,
    slots: Vec<Vec<String>>,
    slot_names: Vec<String>,
}

impl PlanBuilder<'_> {
    fn slot(&mut self, field: &str) -> SlotId {
        if let Some(i) = self.slot_names.iter().position(|n| n == field) {
            return i as SlotId;
        }
        self.slot_names.push(field.to_string());
        self.slots.push(self.map.resolve(field));
        (self.slots.len() - 1) as SlotId
    }

    fn leaf(&mut self, leaf: &Leaf) -> CLeaf {
        let slot = leaf.field.as_deref().map(|f| self.slot(f));
        let refs = leaf
            .tests
            .iter()
            .filter_map(|t| {
                if let ValueTest::FieldRef { field, .. } = t {
                    Some(self.slot(field))
                } else {
                    None
                }
            })
            .collect();
        CLeaf {
            field: leaf.field.clone(),
            slot,
            leaf: leaf.clone(),
            refs,
        }
    }

    fn selection(&mut self, sel: &Selection) -> CSel {
        match sel {
            Selection::All(leaves) => CSel::All(leaves.iter().map(|l| self.leaf(l)).collect()),
            Selection::Any(alts) => CSel::Any(alts.iter().map(|s| self.selection(s)).collect()),
        }
    }

    fn detection(&mut self, det: &Detection) -> CDetection {
        CDetection {
            selections: det.selections.iter().map(|s| self.selection(s)).collect(),
            condition: det.condition.clone(),
        }
    }

    fn rule(&mut self, set: &RuleSet, index: usize) -> Option<CRule> {
        let RuleBody::Detection(det) = &set.rule(index)?.body else {
            return None;
        };
        let filters = set
            .filters_of(index)
            .iter()
            .filter_map(|&f| match &set.rule(f)?.body {
                RuleBody::Filter(fd) => Some(self.detection(&fd.detection)),
                _ => None,
            })
            .collect();
        Some(CRule {
            rule: index,
            detection: self.detection(det),
            filters,
        })
    }

    fn finish(self, rules: Vec<CRule>) -> Plan {
        let prefilter = Prefilter::build(&rules, self.slots.len());
        Plan {
            trie: PathTrie::build(&self.slots),
            slots: self.slots,
            rules,
            prefilter,
        }
    }
}

impl Engine {
    /// Compiles every detection rule of `set` against the set's pipelines.
    pub fn new(set: &RuleSet) -> Engine {
        Engine::with_rules(set, |_| true)
    }

    /// Compiles only the detection rules of `set` that `keep` accepts (by
    /// index). Rule indices, pipelines and metadata stay those of the whole
    /// set, so the matches of two engines whose rules split `set` are,
    /// together, those of [`Engine::new`]: each rule is judged on its own
    /// (through the first pipeline that selects it), whatever other rules
    /// are compiled beside it.
    pub fn with_rules(set: &RuleSet, keep: impl Fn(usize) -> bool) -> Engine {
        let metas: Vec<RuleMeta> = set.rules().cloned().collect();
        let all_detection: Vec<usize> = (0..set.len())
            .filter(|&i| matches!(set.rule(i).map(|r| &r.body), Some(RuleBody::Detection(_))))
            .collect();
        let kept: Vec<bool> = (0..set.len()).map(&keep).collect();
        let detection_rules: Vec<usize> = all_detection
            .iter()
            .copied()
            .filter(|&i| kept.get(i).copied().unwrap_or(false))
            .collect();
        let pipelines: &[Pipeline] = set.pipelines();
        if pipelines.is_empty() {
            let identity = FieldMap::default();
            let mut b = PlanBuilder {
                map: &identity,
                slots: Vec::new(),
                slot_names: Vec::new(),
            };
            let rules = detection_rules
                .iter()
                .filter_map(|&i| b.rule(set, i))
                .collect();
            return Engine {
                metas,
                pipelines: Vec::new(),
                mappings: Vec::new(),
                fallback: Some(b.finish(rules)),
            };
        }
        let order = crate::pipeline::precedence(pipelines);
        let ordered: Vec<&Pipeline> = order.iter().filter_map(|&i| pipelines.get(i)).collect();
        // Distinct logsources of the detection rules, for pipelines that
        // derive their entries from them: of every detection rule, kept or
        // not, so that an engine over part of a set numbers its logsource
        // entries as the whole set's engine does and sees the same ones
        // ([`Seen`]), whichever rules it holds.
        let mut rule_logsources: Vec<&LogSource> = Vec::new();
        for &i in &all_detection {
            if let Some(meta) = metas.get(i)
                && !rule_logsources.contains(&&meta.logsource)
            {
                rule_logsources.push(&meta.logsource);
            }
        }
        let plans = ordered
            .iter()
            .map(|p| Self::pipeline_plan(set, &metas, (&all_detection, &kept), &rule_logsources, p))
            .collect();
        Engine {
            metas,
            mappings: ordered.iter().map(|p| p.mapping.clone()).collect(),
            pipelines: plans,
            fallback: None,
        }
    }

    /// The plan of pipeline `p` for the detection rules `kept` marks; its
    /// logsource entries are dispatched when any of `detection_rules` (the
    /// set's) applies to them, so that [`Seen`] does not depend on the
    /// rules kept.
    fn pipeline_plan(
        set: &RuleSet,
        metas: &[RuleMeta],
        (detection_rules, kept): (&[usize], &[bool]),
        rule_logsources: &[&LogSource],
        p: &Pipeline,
    ) -> PipelinePlan {
        let mut b = PlanBuilder {
            map: &p.mapping,
            slots: Vec::new(),
            slot_names: Vec::new(),
        };
        // Pipeline selections address event fields directly.
        let direct = FieldMap::default();
        let mut raw = PlanBuilder {
            map: &direct,
            slots: Vec::new(),
            slot_names: Vec::new(),
        };
        let applies_when = p.applies_when.as_ref().map(|s| raw.selection(s));
        let derived = rule_logsources
            .iter()
            .filter_map(|ls| p.derived_entry(ls))
            .collect::<Vec<_>>();
        let mut rules = Vec::new();
        let mut entries: Vec<EntryPlan> = p
            .logsources
            .iter()
            .chain(&derived)
            .map(|e| EntryPlan {
                logsource: e.logsource.clone(),
                when: raw.selection(&e.when),
                rules: Vec::new(),
                bits: Vec::new(),
                scanners: Vec::new(),
                global: vec![0; metas.len().div_ceil(64)],
            })
            .collect();
        let mut local = vec![NOT_HERE; metas.len()];
        // Entries some detection rule of the set applies to, kept or not.
        let mut used = vec![false; entries.len()];
        for &i in detection_rules {
            let Some(meta) = metas.get(i) else { continue };
            let hits: Vec<usize> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| meta.logsource.applies_to(&e.logsource))
                .map(|(k, _)| k)
                .collect();
            for &k in &hits {
                if let Some(u) = used.get_mut(k) {
                    *u = true;
                }
            }
            if hits.is_empty() || !kept.get(i).copied().unwrap_or(false) {
                continue;
            }
            let Some(rule) = b.rule(set, i) else { continue };
            let idx = rules.len() as u32;
            rules.push(rule);
            if let Some(l) = local.get_mut(i) {
                *l = idx;
            }
            for k in hits {
                if let Some(e) = entries.get_mut(k) {
                    e.rules.push(idx);
                    if let Some(w) = e.global.get_mut(i / 64) {
                        *w |= 1 << (i % 64);
                    }
                }
            }
        }
        // The `when` selections were compiled by `raw`; they keep their
        // own slots, evaluated through a separate cache.
        let when_plan = raw.finish(Vec::new());
        let mut plan = b.finish(rules);
        for e in &mut entries {
            e.scanners = plan.prefilter.scanners_for(&e.rules);
            e.bits = plan.prefilter.bitset(&e.rules);
        }
        let whens: Vec<&CSel> = entries.iter().map(|e| &e.when).collect();
        let dispatch = Dispatch::build(&whens, &used);
        PipelinePlan {
            name: p.name.clone(),
            local,
            when_plan,
            applies_when,
            entries,
            dispatch,
            plan,
        }
    }

    /// Name of pipeline `index` (as in [`Match::pipeline`] and [`Seen`]),
    /// in evaluation order.
    pub fn pipeline_name(&self, index: usize) -> Option<&str> {
        self.pipelines.get(index).map(|p| p.name.as_str())
    }

    /// Number of pipelines (indices `0..n` as in [`Seen::pipeline`]).
    pub fn pipeline_count(&self) -> usize {
        self.pipelines.len()
    }

    /// Number of logsource entries of pipeline `pipeline`.
    pub fn entry_count(&self, pipeline: usize) -> usize {
        self.pipelines.get(pipeline).map_or(0, |p| p.entries.len())
    }

    /// The logsource of entry `entry` of pipeline `pipeline` (see [`Seen`]).
    pub fn entry_logsource(&self, pipeline: usize, entry: u32) -> Option<&LogSource> {
        let p = self.pipelines.get(pipeline)?;
        p.entries.get(entry as usize).map(|e| &e.logsource)
    }

    /// Global indices of the rules entry `entry` of pipeline `pipeline`
    /// selects.
    pub fn entry_rules(&self, pipeline: usize, entry: u32) -> Vec<usize> {
        let Some(p) = self.pipelines.get(pipeline) else {
            return Vec::new();
        };
        let Some(e) = p.entries.get(entry as usize) else {
            return Vec::new();
        };
        e.rules
            .iter()
            .filter_map(|&r| p.plan.rules.get(r as usize).map(|c| c.rule))
            .collect()
    }

    /// Metadata of rule `index` (as in [`Match::rule`]).
    pub fn rule(&self, index: usize) -> Option<&RuleMeta> {
        self.metas.get(index)
    }

    /// Number of rules (all kinds) known to the engine.
    pub fn len(&self) -> usize {
        self.metas.len()
    }

    /// Whether the engine has no rules.
    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    pub(crate) fn mappings(&self) -> &[FieldMap] {
        &self.mappings
    }

    /// Every detection rule that matches `event`.
    pub fn matches(&self, event: &impl EventFields) -> Vec<Match> {
        self.evaluate(event, false, &mut None)
    }

    /// Like [`Engine::matches`], and says which pipelines recognised which
    /// logsources in the event (`seen` is cleared first). An event with an
    /// empty `seen` was visible to no rule.
    pub fn matches_seen(&self, event: &impl EventFields, seen: &mut Vec<Seen>) -> Vec<Match> {
        seen.clear();
        let mut out = Some(std::mem::take(seen));
        let found = self.evaluate(event, false, &mut out);
        *seen = out.unwrap_or_default();
        found
    }

    /// Like [`Engine::matches`] but evaluates every rule of the event's
    /// logsources without the literal prefilter: the reference the
    /// prefilter is tested against. Much slower.
    pub fn matches_exhaustive(&self, event: &impl EventFields) -> Vec<Match> {
        self.evaluate(event, true, &mut None)
    }

    // Not inlined: one frame per event for profilers.
    #[inline(never)]
    fn evaluate(
        &self,
        event: &impl EventFields,
        exhaustive: bool,
        seen: &mut Option<Vec<Seen>>,
    ) -> Vec<Match> {
        let mut out = Vec::new();
        if let Some(plan) = &self.fallback {
            let mut ev = Eval::new(event, plan);
            let candidates = plan.prefilter.candidates(&mut ev, None, None, exhaustive);
            for r in candidates {
                ev.run_rule(r, None, &self.metas, &mut out);
            }
            return out;
        }
        // Pipelines that already ran rules on this event, with the rules
        // they selected: a rule runs through the first of them only.
        let mut earlier: Vec<(usize, Cow<'_, [u64]>)> = Vec::new();
        // Global rules some pipeline already selected.
        let mut covered: Vec<u64> = Vec::new();
        let mut ids = Vec::new();
        for (pi, pp) in self.pipelines.iter().enumerate() {
            let mut when = Eval::new(event, &pp.when_plan);
            if let Some(sel) = &pp.applies_when
                && !when.selection(sel, &mut None)
            {
                continue;
            }
            pp.dispatch.entries(
                |slot, visit| {
                    if let Some(v) = when.slot(slot) {
                        v.texts().iter().for_each(|t| visit(t.lower()));
                    }
                },
                &mut ids,
            );
            let mut hits: Vec<u32> = Vec::new();
            for &k in &ids {
                if let Some(e) = pp.entries.get(k as usize)
                    && when.selection(&e.when, &mut None)
                {
                    hits.push(k);
                }
            }
            if hits.is_empty() {
                continue;
            }
            // Rules selected by an earlier pipeline run there only: when
            // every rule of these entries was, this pipeline has nothing
            // to run and its scans are skipped (the ECS pipeline on a
            // native Windows event the logsource pipeline already took).
            let mut new = false;
            for e in hits.iter().filter_map(|&k| pp.entries.get(k as usize)) {
                if covered.len() < e.global.len() {
                    covered.resize(e.global.len(), 0);
                }
                for (c, g) in covered.iter_mut().zip(&e.global) {
                    new |= g & !*c != 0;
                    *c |= g;
                }
            }
            if !new {
                if let Some(seen) = seen {
                    seen.push(Seen {
                        pipeline: pi,
                        entries: hits,
                    });
                }
                continue;
            }
            let (rule_bits, scanners) = match hits.as_slice() {
                [] => continue,
                [one] => match pp.entries.get(*one as usize) {
                    Some(e) => (
                        Cow::Borrowed(e.bits.as_slice()),
                        Cow::Borrowed(e.scanners.as_slice()),
                    ),
                    None => continue,
                },
                many => {
                    let mut bits: Vec<u64> = Vec::new();
                    let mut s: Vec<u32> = Vec::new();
                    for e in many.iter().filter_map(|&k| pp.entries.get(k as usize)) {
                        if bits.len() < e.bits.len() {
                            bits.resize(e.bits.len(), 0);
                        }
                        for (w, x) in bits.iter_mut().zip(&e.bits) {
                            *w |= x;
                        }
                        s.extend_from_slice(&e.scanners);
                    }
                    s.sort_unstable();
                    s.dedup();
                    (Cow::Owned(bits), Cow::Owned(s))
                }
            };
            let mut ev = Eval::new(event, &pp.plan);
            let candidates = pp.plan.prefilter.candidates(
                &mut ev,
                Some(&rule_bits),
                Some(&scanners),
                exhaustive,
            );
            for r in candidates {
                if earlier
                    .iter()
                    .any(|(e, bits)| self.selected(*e, bits, r.rule))
                {
                    continue;
                }
                ev.run_rule(r, Some(pi), &self.metas, &mut out);
            }
            if let Some(seen) = seen {
                seen.push(Seen {
                    pipeline: pi,
                    entries: hits,
                });
            }
            earlier.push((pi, rule_bits));
        }
        out
    }

    /// Whether pipeline `pipeline` selected global rule `rule` in `bits`.
    fn selected(&self, pipeline: usize, bits: &[u64], rule: usize) -> bool {
        let Some(local) = self
            .pipelines
            .get(pipeline)
            .and_then(|p| p.local.get(rule).copied())
            .filter(|&l| l != NOT_HERE)
        else {
            return false;
        };
        bits.get(local as usize / 64)
            .is_some_and(|w| w & (1 << (local % 64)) != 0)
    }
}

/// One text element of a field: the raw text and, computed on first use,
/// its lowercase form (most texts are only scanned raw, never lowercased).
pub(crate) struct Text<'e> {
    pub raw: Cow<'e, str>,
    /// None inside: the raw text is already lowercase.
    lower: OnceCell<Option<Box<str>>>,
}

impl<'e> Text<'e> {
    fn new(raw: Cow<'e, str>) -> Text<'e> {
        Text {
            raw,
            lower: OnceCell::new(),
        }
    }

    /// The lowercase form (Unicode lowercasing, as rule values are).
    pub fn lower(&self) -> &str {
        let raw: &str = &self.raw;
        self.lower
            .get_or_init(|| {
                raw.bytes()
                    .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
                    .then(|| raw.to_lowercase().into_boxed_str())
            })
            .as_deref()
            .unwrap_or(raw)
    }
}

/// The text elements of a field: one for a scalar, any number for a list.
pub(crate) enum Texts<'e> {
    One(Text<'e>),
    Many(Vec<Text<'e>>),
}

impl<'e> Texts<'e> {
    pub fn as_slice(&self) -> &[Text<'e>] {
        match self {
            Texts::One(t) => std::slice::from_ref(t),
            Texts::Many(v) => v,
        }
    }
}

/// A field read once: the value and its text elements.
pub(crate) struct SlotValue<'e> {
    /// Index of the candidate path it was found at.
    pub path: usize,
    pub value: FieldValue<'e>,
    texts: Texts<'e>,
}

impl<'e> SlotValue<'e> {
    fn new(path: usize, value: FieldValue<'e>) -> SlotValue<'e> {
        let texts = match &value {
            FieldValue::Str(Cow::Borrowed(s)) => Texts::One(Text::new(Cow::Borrowed(s))),
            FieldValue::List(items) => {
                let mut out = Vec::new();
                items.iter().for_each(|i| flatten(i, &mut out));
                Texts::Many(out)
            }
            other => match other.as_text() {
                Some(t) => Texts::One(Text::new(Cow::Owned(t.into_owned()))),
                None => Texts::Many(Vec::new()),
            },
        };
        SlotValue { path, value, texts }
    }

    pub fn texts(&self) -> &[Text<'e>] {
        self.texts.as_slice()
    }
}

fn flatten<'e>(v: &FieldValue<'e>, out: &mut Vec<Text<'e>>) {
    match v {
        FieldValue::Str(Cow::Borrowed(s)) => out.push(Text::new(Cow::Borrowed(s))),
        FieldValue::List(items) => items.iter().for_each(|i| flatten(i, out)),
        other => {
            if let Some(t) = other.as_text() {
                out.push(Text::new(Cow::Owned(t.into_owned())));
            }
        }
    }
}

/// Slot id -> position in `Eval::values`: a small open-addressing table,
/// since a plan has thousands of slots and an event reads a few dozen.
/// Linear probing on a multiplicative hash of the dense ids; hashbrown
/// (even with that hash) cost 3% more instructions of all matching.
struct SlotMap {
    /// `(slot + 1) << 32 | position`; 0 is empty.
    table: Vec<u64>,
    len: usize,
}

impl SlotMap {
    fn new() -> SlotMap {
        SlotMap {
            table: Vec::new(),
            len: 0,
        }
    }

    fn home(&self, slot: SlotId) -> usize {
        let bits = self.table.len().trailing_zeros();
        let h = u64::from(slot)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> (64 - bits)) as usize
    }

    fn get(&self, slot: SlotId) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let key = u64::from(slot) + 1;
        let mut i = self.home(slot);
        loop {
            let e = *self.table.get(i)?;
            if e == 0 {
                return None;
            }
            if e >> 32 == key {
                return Some(e as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts or replaces.
    fn set(&mut self, slot: SlotId, at: u32) {
        if (self.len + 1) * 2 > self.table.len() {
            let old = std::mem::take(&mut self.table);
            self.table = vec![0; (old.len() * 2).max(64)];
            self.len = 0;
            for e in old.into_iter().filter(|&e| e != 0) {
                self.set(((e >> 32) - 1) as SlotId, e as u32);
            }
        }
        let mask = self.table.len() - 1;
        let key = u64::from(slot) + 1;
        let mut i = self.home(slot);
        while let Some(e) = self.table.get_mut(i) {
            if *e == 0 {
                *e = key << 32 | u64::from(at);
                self.len += 1;
                return;
            }
            if *e >> 32 == key {
                *e = key << 32 | u64::from(at);
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

/// A slot found by the trie walk is converted on first read.
enum SlotState<'e> {
    Found(usize, &'e serde_json::Value),
    Read(Option<SlotValue<'e>>),
}

/// Per-event evaluation state.
pub(crate) struct Eval<'e, 'p, E: EventFields> {
    pub event: &'e E,
    pub plan: &'p Plan,
    index: SlotMap,
    /// Every slot read or found by the trie walk.
    values: Vec<SlotState<'e>>,
    /// The trie walk ran: a slot not in `index` is absent (None: not tried
    /// yet).
    walked: Option<bool>,
    /// Every string of the event, read on first keyword use.
    keyword_texts: Option<Vec<Text<'e>>>,
}

type Recorder = Option<Vec<MatchedField>>;

impl<'e, 'p, E: EventFields> Eval<'e, 'p, E> {
    pub fn new(event: &'e E, plan: &'p Plan) -> Self {
        Eval {
            event,
            plan,
            index: SlotMap::new(),
            values: Vec::new(),
            walked: None,
            keyword_texts: None,
        }
    }

    /// Resolves every slot of the plan in one walk over a JSON event.
    fn walk(&mut self) {
        let Some(map) = self.event.as_json() else {
            self.walked = Some(false);
            return;
        };
        self.walked = Some(true);
        let (index, values) = (&mut self.index, &mut self.values);
        values.reserve(64);
        self.plan.trie.resolve(map, &mut |slot, rank, v| {
            let rank = rank as usize;
            match index.get(slot) {
                Some(at) => {
                    if let Some(cur) = values.get_mut(at as usize)
                        && matches!(cur, SlotState::Found(r, _) if *r > rank)
                    {
                        *cur = SlotState::Found(rank, v);
                    }
                }
                None => {
                    index.set(slot, values.len() as u32);
                    values.push(SlotState::Found(rank, v));
                }
            }
        });
    }

    pub fn slot(&mut self, id: SlotId) -> Option<&SlotValue<'e>> {
        if self.walked.is_none() {
            self.walk();
        }
        let at = match self.index.get(id) {
            Some(at) => at as usize,
            None if self.walked == Some(true) => return None,
            None => {
                let i = id as usize;
                let paths = self.plan.slots.get(i);
                let mut found = None;
                for (pi, path) in paths.into_iter().flatten().enumerate() {
                    if let Some(value) = self.event.field(path) {
                        found = Some(SlotValue::new(pi, value));
                        break;
                    }
                }
                let at = self.values.len();
                self.values.push(SlotState::Read(found));
                self.index.set(id, at as u32);
                at
            }
        };
        let state = self.values.get_mut(at)?;
        if let SlotState::Found(rank, v) = *state {
            *state = SlotState::Read(Some(SlotValue::new(rank, crate::event::convert(v))));
        }
        match state {
            SlotState::Read(v) => v.as_ref(),
            SlotState::Found(..) => None,
        }
    }

    fn run_rule(
        &mut self,
        r: &CRule,
        pipeline: Option<usize>,
        metas: &[RuleMeta],
        out: &mut Vec<Match>,
    ) {
        if !self.detection(&r.detection, &mut None) {
            return;
        }
        if r.filters.iter().any(|f| self.detection(f, &mut None)) {
            return;
        }
        let mut rec = Some(Vec::new());
        self.detection(&r.detection, &mut rec);
        out.push(Match {
            rule: r.rule,
            rule_id: metas.get(r.rule).map(RuleMeta::key).unwrap_or_default(),
            pipeline,
            fields: rec.unwrap_or_default(),
        });
    }

    fn detection(&mut self, d: &CDetection, rec: &mut Recorder) -> bool {
        d.condition
            .eval(&mut |i| d.selections.get(i).is_some_and(|s| self.selection(s, rec)))
    }

    pub fn selection(&mut self, s: &CSel, rec: &mut Recorder) -> bool {
        match s {
            CSel::All(leaves) => leaves.iter().all(|l| self.leaf(l, rec)),
            CSel::Any(alts) => alts.iter().any(|a| self.selection(a, rec)),
        }
    }

    fn leaf(&mut self, l: &CLeaf, rec: &mut Recorder) -> bool {
        let Some(slot) = l.slot else {
            return self.keywords(l, rec);
        };
        // Field references are rare: read their targets only when present.
        let ref_values: Vec<Option<Vec<(String, String)>>> = if l.refs.is_empty() {
            Vec::new()
        } else {
            let mut refs = l.refs.iter();
            l.leaf
                .tests
                .iter()
                .filter(|t| matches!(t, ValueTest::FieldRef { .. }))
                .map(|_| {
                    let id = refs.next().copied()?;
                    self.slot(id).map(|s| {
                        s.texts()
                            .iter()
                            .map(|t| (t.raw.to_string(), t.lower().to_string()))
                            .collect()
                    })
                })
                .collect()
        };
        let value = self.slot(slot);
        let result = match value {
            None => {
                if l.leaf.negate {
                    return false;
                }
                let t = |t: &ValueTest| matches!(t, ValueTest::Null | ValueTest::Exists(false));
                if l.leaf.all {
                    !l.leaf.tests.is_empty() && l.leaf.tests.iter().all(t)
                } else {
                    l.leaf.tests.iter().any(t)
                }
            }
            Some(v) => {
                let mut refs = ref_values.iter();
                let mut test = |t: &ValueTest| {
                    let r = if matches!(t, ValueTest::FieldRef { .. }) {
                        refs.next().and_then(Option::as_ref)
                    } else {
                        None
                    };
                    crate::value::test_value(t, v, r)
                };
                let hit = if l.leaf.all {
                    !l.leaf.tests.is_empty() && l.leaf.tests.iter().all(&mut test)
                } else {
                    l.leaf.tests.iter().any(&mut test)
                };
                hit != l.leaf.negate
            }
        };
        if result {
            let plan: &'p Plan = self.plan;
            let paths: &'p [Vec<String>] = &plan.slots;
            if let (Some(rec), Some(v)) = (rec.as_mut(), self.slot(slot)) {
                rec.push(MatchedField {
                    field: l.field.clone().unwrap_or_default(),
                    event_field: paths
                        .get(slot as usize)
                        .and_then(|p| p.get(v.path))
                        .cloned()
                        .unwrap_or_default(),
                    value: v
                        .texts()
                        .first()
                        .map(|t| t.raw.to_string())
                        .unwrap_or_default(),
                });
            }
        }
        result
    }

    /// All strings of the event, read once.
    pub fn keyword_texts(&mut self) -> &[Text<'e>] {
        let event = self.event;
        self.keyword_texts.get_or_insert_with(|| {
            let mut all = Vec::new();
            event.keywords(&mut |s| {
                all.push(Text::new(Cow::Owned(s.to_string())));
                false
            });
            all
        })
    }

    fn keywords(&mut self, l: &CLeaf, rec: &mut Recorder) -> bool {
        let mut found = String::new();
        let texts = self.keyword_texts();
        let mut test = |t: &ValueTest| {
            let ValueTest::Str(p) = t else { return false };
            texts.iter().any(|text| {
                let hit = p.matches_text(text);
                if hit && found.is_empty() {
                    found.push_str(&text.raw);
                }
                hit
            })
        };
        let hit = if l.leaf.all {
            l.leaf.tests.iter().all(&mut test)
        } else {
            l.leaf.tests.iter().any(&mut test)
        };
        let result = hit != l.leaf.negate;
        if result && let Some(rec) = rec.as_mut() {
            rec.push(MatchedField {
                field: String::new(),
                event_field: String::new(),
                value: found,
            });
        }
        result
    }
}
