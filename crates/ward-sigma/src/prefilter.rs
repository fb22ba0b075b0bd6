//! Rule prefilter: one literal automaton per field decides which rules can
//! possibly match an event, so most rules are never evaluated.
//!
//! For each rule we derive a *trigger*: a set of (field, literal, position)
//! such that the rule can only match if at least one of them occurs in the
//! event (e.g. `Image|endswith: '\x.exe'` gives "`\x.exe` at the end of
//! Image"). `and` picks the most selective side, `or` needs every side to
//! have a trigger, `not` has none. Rules without a trigger always run.
//!
//! Per event, each field used by a trigger is read once and scanned (raw
//! when ASCII, else lowercased) by an overlapping `Standard` automaton that
//! reports every literal with its position; for up to 100 needles a
//! `LeftmostFirst` DFA's `is_match` first rejects the common no-hit case.
//! Keyword literals are scanned over all strings of the event, joined and
//! lowercased, by a scanner narrowed to the rules of the event's logsources.
//! Invariant: the prefilter never drops a rule that could match (it is only
//! a necessary condition); candidates keep rule order.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::condition::{Bound, Quantifier};
use crate::engine::{CDetection, CLeaf, CRule, CSel, Eval, SlotId};
use crate::event::EventFields;
use crate::modifier::ValueTest;
use crate::pattern::StrKind;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Literal {
    slot: SlotId,
    needle: String,
    kind: StrKind,
}

/// Literals of which at least one must occur.
type Clause = Vec<Literal>;

/// Necessary conditions of a rule: every clause must have a literal in the
/// event (1 or [`MAX_CLAUSES`] clauses, best first). Two clauses from
/// different `and` members (`Image|endswith` and `CommandLine|contains`)
/// make a rule a candidate only when both fields have a hit.
type Trigger = Vec<Clause>;

const MAX_CLAUSES: usize = 2;

#[derive(Debug, Clone)]
struct SlotScanner {
    slot: SlotId,
    /// For DFA-sized needle sets, a leftmost automaton for a first
    /// `is_match` pass: most texts have no literal, and rejecting them this
    /// way costs half the instructions of an overlapping scan. Not kept for
    /// NFA-sized sets, where it saved nothing measurable and doubled memory.
    quick: Option<AhoCorasick>,
    full: AhoCorasick,
    /// Every needle is ASCII: the automata match ASCII case-insensitively,
    /// so an ASCII field value is scanned as is, without lowercasing.
    ascii: bool,
    /// Some needle contains NUL, the separator of joined keyword scans.
    has_nul: bool,
    /// Pattern index -> (literal index, kind).
    literals: Vec<(usize, StrKind)>,
}

/// The crate builds a DFA up to this many needles, a contiguous NFA above.
const DFA_MAX_NEEDLES: usize = 100;

/// An automaton of the crate's choosing: a DFA for up to 100 needles, a
/// contiguous NFA above. A DFA of thousands of needles (the `CommandLine`
/// literals of all rules) takes tens of megabytes; every byte scanned is
/// then a cache and TLB miss, and the NFA, a few megabytes, is faster on
/// real hardware even though it executes more instructions.
fn automaton(
    needles: &[&str],
    kind: MatchKind,
    ascii: bool,
) -> Result<AhoCorasick, aho_corasick::BuildError> {
    AhoCorasickBuilder::new()
        .match_kind(kind)
        .ascii_case_insensitive(ascii)
        .build(needles)
}

impl SlotScanner {
    /// A scanner for the literals `lits` (indices into `literals`, all of
    /// `slot`); None when an automaton cannot be built. Keyword scanners
    /// match case-sensitively on lowercased text: without ASCII case
    /// folding, a few dozen needles are found by a SIMD prefilter.
    fn build(slot: SlotId, lits: &[usize], literals: &[Literal]) -> Option<SlotScanner> {
        let needles: Vec<&str> = lits
            .iter()
            .filter_map(|&i| literals.get(i).map(|l| l.needle.as_str()))
            .collect();
        let ascii = slot != KEYWORD_SLOT && needles.iter().all(|n| n.is_ascii());
        let has_nul = needles.iter().any(|n| n.contains('\0'));
        let quick = if needles.len() <= DFA_MAX_NEEDLES {
            Some(automaton(&needles, MatchKind::LeftmostFirst, ascii).ok()?)
        } else {
            None
        };
        let full = automaton(&needles, MatchKind::Standard, ascii);
        Some(SlotScanner {
            slot,
            quick,
            full: full.ok()?,
            ascii,
            has_nul,
            literals: lits
                .iter()
                .filter_map(|&i| literals.get(i).map(|l| (i, l.kind)))
                .collect(),
        })
    }

    /// Marks the rules of every literal found (at a valid position) in
    /// `text`, which is lowercase unless `ascii` and `text` is ASCII.
    /// With `joined`, `text` is several values separated by NUL bytes and
    /// positions are checked against the value they fall in.
    fn scan(&self, text: &[u8], joined: bool, literal_rules: &[Vec<u32>], hit: &mut [u64]) {
        if self.quick.as_ref().is_some_and(|q| !q.is_match(text)) {
            return;
        }
        for m in self.full.find_overlapping_iter(text) {
            let Some(&(li, kind)) = self.literals.get(m.pattern().as_usize()) else {
                continue;
            };
            let bytes = text;
            let starts = m.start() == 0 || (joined && bytes.get(m.start() - 1) == Some(&0));
            let ends = m.end() == text.len() || (joined && bytes.get(m.end()) == Some(&0));
            let ok = match kind {
                StrKind::Exact => starts && ends,
                StrKind::Prefix => starts,
                StrKind::Suffix => ends,
                StrKind::Contains | StrKind::Any => true,
            };
            if ok {
                // `hit` holds one bitset per clause, `words` long each.
                let words = hit.len() / MAX_CLAUSES;
                for &e in literal_rules.get(li).map_or(&[][..], Vec::as_slice) {
                    let (r, clause) = ((e >> 1) as usize, (e & 1) as usize);
                    if let Some(w) = hit.get_mut(clause * words + r / 64) {
                        *w |= 1 << (r % 64);
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Prefilter {
    scanners: Vec<SlotScanner>,
    literals: Vec<Literal>,
    /// Scanners built for a subset of a slot's literals (the keyword
    /// literals of one logsource's rules), by literal indices.
    subsets: HashMap<Vec<usize>, u32>,
    /// Scanners before the subset ones (one per slot).
    base: usize,
    /// Literal index -> (rule << 1 | clause) entries it satisfies.
    literal_rules: Vec<Vec<u32>>,
    /// Bitset of the rules without a trigger (always evaluated).
    always: Vec<u64>,
    /// Bitset of the rules whose trigger has one clause (the second clause
    /// counts as satisfied).
    single: Vec<u64>,
    rules: usize,
}

/// Appends ASCII `text` lowercased, eight bytes at a time.
fn push_ascii_lowercase(out: &mut Vec<u8>, text: &[u8]) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let start = out.len();
    out.extend_from_slice(text);
    let Some(new) = out.get_mut(start..) else {
        return;
    };
    let mut chunks = new.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        // Every byte is below 0x80, so these sums never carry across bytes:
        // the high bit is set where a byte is >= b'A', resp. > b'Z'.
        let ge_a = x.wrapping_add(ONES * (0x80 - u64::from(b'A')));
        let gt_z = x.wrapping_add(ONES * (0x7f - u64::from(b'Z')));
        let upper = ge_a & !gt_z & (ONES * 0x80);
        c.copy_from_slice(&(x | (upper >> 2)).to_le_bytes());
    }
    chunks.into_remainder().make_ascii_lowercase();
}

/// The pseudo-slot of keyword literals: scanned over every event string.
const KEYWORD_SLOT: SlotId = SlotId::MAX;

fn leaf_trigger(l: &CLeaf) -> Option<Trigger> {
    let slot = l.slot.unwrap_or(KEYWORD_SLOT);
    if l.leaf.negate || l.leaf.tests.is_empty() {
        return None;
    }
    let lit = |t: &ValueTest| -> Option<Clause> {
        if let ValueTest::Regex(_, Some(lits)) = t {
            return Some(
                lits.iter()
                    .map(|n| Literal {
                        slot,
                        needle: n.clone(),
                        kind: StrKind::Contains,
                    })
                    .collect(),
            );
        }
        let ValueTest::Str(p) = t else { return None };
        if p.cased || p.needle.is_empty() || p.kind == StrKind::Any {
            return None;
        }
        let kind = if p.glob.is_some() {
            StrKind::Contains
        } else {
            p.kind
        };
        Some(vec![Literal {
            slot,
            needle: p.needle.clone(),
            kind,
        }])
    };
    if l.leaf.all {
        // Every value must occur: each is a clause of its own.
        best(l.leaf.tests.iter().map(|t| lit(t).map(|c| vec![c])))
    } else {
        let mut clause = Vec::new();
        for t in &l.leaf.tests {
            clause.extend(lit(t)?);
        }
        (!clause.is_empty()).then(|| vec![clause])
    }
}

/// Selectivity of a clause: its shortest literal is long (rare), then it
/// has few literals.
fn score(c: &Clause) -> (usize, usize) {
    (
        c.iter().map(|l| l.needle.len()).min().unwrap_or(0).min(8),
        usize::MAX - c.len(),
    )
}

/// `and`: every clause of every member is necessary; keep the best ones.
fn best(candidates: impl Iterator<Item = Option<Trigger>>) -> Option<Trigger> {
    let mut clauses: Vec<Clause> = candidates.flatten().flatten().collect();
    for c in &mut clauses {
        c.sort();
        c.dedup();
    }
    clauses.sort_by_key(|c| std::cmp::Reverse(score(c)));
    let mut out: Trigger = Vec::new();
    for c in clauses {
        if out.len() < MAX_CLAUSES && !out.contains(&c) {
            out.push(c);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `or`: every side needs a trigger; clause k of the result is the union
/// of the sides' clause k (a side with fewer clauses repeats its last),
/// which each side implies.
fn union(parts: impl Iterator<Item = Option<Trigger>>) -> Option<Trigger> {
    let parts: Vec<Trigger> = parts.collect::<Option<Vec<Trigger>>>()?;
    let n = parts.iter().map(Vec::len).max()?;
    let mut out: Trigger = vec![Vec::new(); n];
    for t in &parts {
        for (k, clause) in out.iter_mut().enumerate() {
            clause.extend(t.get(k).or(t.last()).into_iter().flatten().cloned());
        }
    }
    for c in &mut out {
        c.sort();
        c.dedup();
    }
    (out.iter().all(|c| !c.is_empty())).then_some(out)
}

fn sel_trigger(s: &CSel) -> Option<Trigger> {
    match s {
        CSel::All(leaves) => best(leaves.iter().map(leaf_trigger)),
        CSel::Any(alts) => union(alts.iter().map(sel_trigger)),
    }
}

fn cond_trigger(b: &Bound, sels: &[Option<Trigger>]) -> Option<Trigger> {
    match b {
        Bound::Sel(i) => sels.get(*i).cloned().flatten(),
        Bound::Not(_) | Bound::Const(_) => None,
        Bound::And(cs) => best(cs.iter().map(|c| cond_trigger(c, sels))),
        Bound::Or(cs) => union(cs.iter().map(|c| cond_trigger(c, sels))),
        Bound::Of(Quantifier::All, ids) => {
            best(ids.iter().map(|i| sels.get(*i).cloned().flatten()))
        }
        Bound::Of(Quantifier::AtLeast(0), _) => None,
        Bound::Of(Quantifier::AtLeast(_), ids) => {
            union(ids.iter().map(|i| sels.get(*i).cloned().flatten()))
        }
    }
}

fn detection_trigger(d: &CDetection) -> Option<Trigger> {
    let sels: Vec<Option<Trigger>> = d.selections.iter().map(sel_trigger).collect();
    cond_trigger(&d.condition, &sels)
}

impl Prefilter {
    pub fn build(rules: &[CRule], _slots: usize) -> Prefilter {
        let mut literals: Vec<Literal> = Vec::new();
        let mut index = HashMap::new();
        let mut literal_rules: Vec<Vec<u32>> = Vec::new();
        let mut always_rules: Vec<u32> = Vec::new();
        let mut single_rules: Vec<u32> = Vec::new();
        for (ri, r) in rules.iter().enumerate() {
            match detection_trigger(&r.detection) {
                None => always_rules.push(ri as u32),
                Some(t) => {
                    if t.len() < MAX_CLAUSES {
                        single_rules.push(ri as u32);
                    }
                    for (ci, clause) in t.into_iter().enumerate() {
                        let entry = (ri as u32) << 1 | ci as u32;
                        for lit in clause {
                            let li = *index.entry(lit.clone()).or_insert_with(|| {
                                literals.push(lit);
                                literal_rules.push(Vec::new());
                                literals.len() - 1
                            });
                            if literal_rules[li].last() != Some(&entry) {
                                literal_rules[li].push(entry);
                            }
                        }
                    }
                }
            }
        }
        let mut slots: Vec<SlotId> = literals.iter().map(|l| l.slot).collect();
        slots.sort_unstable();
        slots.dedup();
        let mut scanners = Vec::new();
        for slot in slots {
            let lits: Vec<usize> = (0..literals.len())
                .filter(|&i| literals[i].slot == slot)
                .collect();
            match SlotScanner::build(slot, &lits, &literals) {
                Some(sc) => scanners.push(sc),
                // An automaton too large to build: its rules run unfiltered.
                None => {
                    for i in &lits {
                        always_rules.extend(literal_rules[*i].iter().map(|e| e >> 1));
                    }
                }
            }
        }
        let mut pf = Prefilter {
            scanners,
            literals,
            subsets: HashMap::new(),
            base: 0,
            literal_rules,
            always: Vec::new(),
            single: Vec::new(),
            rules: rules.len(),
        };
        pf.base = pf.scanners.len();
        pf.always = pf.bitset(&always_rules);
        pf.single = pf.bitset(&single_rules);
        pf
    }

    /// Indices of the scanners that the given rules' triggers use, so an
    /// event of one logsource reads only the fields its rules need. The
    /// keyword scanner (all strings of the event) is narrowed to the
    /// literals of these rules when that makes it smaller: a few dozen
    /// needles are found by a SIMD prefilter instead of a byte-by-byte
    /// automaton walk over the whole event.
    pub fn scanners_for(&mut self, rules: &[u32]) -> Vec<u32> {
        let wanted: Vec<bool> = self
            .literal_rules
            .iter()
            .map(|rs| rs.iter().any(|e| rules.binary_search(&(e >> 1)).is_ok()))
            .collect();
        let mut out = Vec::new();
        for si in 0..self.base {
            let Some(sc) = self.scanners.get(si) else {
                continue;
            };
            let subset: Vec<usize> = sc
                .literals
                .iter()
                .map(|(li, _)| *li)
                .filter(|li| wanted.get(*li).copied().unwrap_or(false))
                .collect();
            if subset.is_empty() {
                continue;
            }
            if sc.slot != KEYWORD_SLOT || subset.len() == sc.literals.len() {
                out.push(si as u32);
                continue;
            }
            let slot = sc.slot;
            if let Some(&k) = self.subsets.get(&subset) {
                out.push(k);
            } else if let Some(narrow) = SlotScanner::build(slot, &subset, &self.literals) {
                let k = self.scanners.len() as u32;
                self.scanners.push(narrow);
                self.subsets.insert(subset, k);
                out.push(k);
            } else {
                out.push(si as u32);
            }
        }
        out
    }

    /// A bitset over this plan's rules with `rules` set.
    pub fn bitset(&self, rules: &[u32]) -> Vec<u64> {
        let mut bits = vec![0u64; self.rules.div_ceil(64)];
        for &r in rules {
            if let Some(w) = bits.get_mut(r as usize / 64) {
                *w |= 1 << (r % 64);
            }
        }
        bits
    }

    /// Rules worth evaluating, in order; `allowed` (a bitset) restricts
    /// them to the logsources recognised in the event, `scanners` to the
    /// fields those rules use (all scanners when None).
    pub fn candidates<'p, E: EventFields>(
        &self,
        ev: &mut Eval<'_, 'p, E>,
        allowed: Option<&[u64]>,
        scanners: Option<&[u32]>,
        exhaustive: bool,
    ) -> Vec<&'p CRule> {
        let plan = ev.plan;
        let words = self.rules.div_ceil(64);
        let mut hit = vec![if exhaustive { u64::MAX } else { 0 }; words * MAX_CLAUSES];
        let all: Vec<u32>;
        let scanners = match scanners {
            Some(s) => s,
            None => {
                all = (0..self.scanners.len() as u32).collect();
                &all
            }
        };
        let mut joined: Option<Vec<u8>> = None;
        if !exhaustive && allowed.is_none_or(|a| a.iter().any(|w| *w != 0)) {
            for sc in scanners
                .iter()
                .filter_map(|&i| self.scanners.get(i as usize))
            {
                if sc.slot == KEYWORD_SLOT && !sc.has_nul {
                    // All strings of the event, lowercased, in one buffer,
                    // built once and scanned by each keyword scanner.
                    let joined = joined.get_or_insert_with(|| {
                        let mut joined: Vec<u8> = Vec::with_capacity(4096);
                        ev.event.keywords(&mut |text| {
                            if text.is_ascii() {
                                push_ascii_lowercase(&mut joined, text.as_bytes());
                            } else {
                                joined.extend_from_slice(text.to_lowercase().as_bytes());
                            }
                            joined.push(0);
                            false
                        });
                        joined
                    });
                    sc.scan(joined, true, &self.literal_rules, &mut hit);
                } else if sc.slot == KEYWORD_SLOT {
                    let mut lower = String::new();
                    ev.event.keywords(&mut |text| {
                        lower.clear();
                        lower.push_str(text);
                        if text.is_ascii() {
                            lower.make_ascii_lowercase();
                        } else {
                            lower = lower.to_lowercase();
                        }
                        sc.scan(lower.as_bytes(), false, &self.literal_rules, &mut hit);
                        false
                    });
                } else if let Some(value) = ev.slot(sc.slot) {
                    for t in value.texts() {
                        let text = if sc.ascii && t.raw.is_ascii() {
                            t.raw.as_ref()
                        } else {
                            t.lower()
                        };
                        sc.scan(text.as_bytes(), false, &self.literal_rules, &mut hit);
                    }
                }
            }
        }
        let mut out = Vec::new();
        let (first, second) = hit.split_at(words);
        for (wi, (h1, h2)) in first.iter().zip(second).enumerate() {
            let both = h1 & (h2 | self.single.get(wi).copied().unwrap_or(0));
            let mut word = (both | self.always.get(wi).copied().unwrap_or(0))
                & allowed.map_or(u64::MAX, |a| a.get(wi).copied().unwrap_or(0));
            while word != 0 {
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                if let Some(r) = plan.rules.get(wi * 64 + bit) {
                    out.push(r);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_lowercase_in_words() {
        let all: Vec<u8> = (0u8..0x80)
            .chain(b"HeLLo WORLD @[`{ AZaz".iter().copied())
            .collect();
        for len in 0..all.len() {
            let mut out = vec![b'x'];
            push_ascii_lowercase(&mut out, &all[..len]);
            let mut want = vec![b'x'];
            want.extend(all[..len].iter().map(u8::to_ascii_lowercase));
            assert_eq!(out, want);
        }
    }
}
