//! Logsource dispatch: which of a pipeline's logsource entries can hold for
//! an event, without evaluating every entry's `when` selection.
//!
//! Most entries require a field to equal one of a few values
//! (`Event.System.Channel: Security`, `Event.System.EventID: 1`). Such an
//! entry is filed under one of those (slot, lowercase value) keys, the key
//! shared by the fewest entries; per event, the key slots are read once and
//! only the entries filed under the event's values (plus the entries without
//! a key) have their `when` evaluated in full.
//!
//! Invariant: an entry is skipped only when its key leaf is false for the
//! event (the key leaf is an `and` member of the entry's selection, a plain
//! case-insensitive exact comparison), so dispatch never changes which
//! entries hold.

use std::collections::HashMap;

use crate::engine::{CLeaf, CSel, SlotId};
use crate::modifier::ValueTest;
use crate::pattern::StrKind;

#[derive(Debug, Clone, Default)]
pub(crate) struct Dispatch {
    /// Per key slot: lowercase value -> entries (indices) filed under it.
    keyed: Vec<(SlotId, HashMap<String, Vec<u32>>)>,
    /// Entries without a key: their `when` is always evaluated.
    unkeyed: Vec<u32>,
}

/// The (slot, lowercase values) of a leaf that holds only when the field's
/// text equals one of the values, case-insensitively.
fn key_of(l: &CLeaf) -> Option<(SlotId, Vec<&str>)> {
    let slot = l.slot?;
    if l.leaf.negate || l.leaf.all || l.leaf.tests.is_empty() {
        return None;
    }
    let values = l
        .leaf
        .tests
        .iter()
        .map(|t| match t {
            ValueTest::Str(p) if !p.cased && p.glob.is_none() && p.kind == StrKind::Exact => {
                Some(p.needle.as_str())
            }
            _ => None,
        })
        .collect::<Option<Vec<&str>>>()?;
    Some((slot, values))
}

fn key_leaves(when: &CSel) -> Vec<(SlotId, Vec<&str>)> {
    match when {
        CSel::All(leaves) => leaves.iter().filter_map(key_of).collect(),
        CSel::Any(_) => Vec::new(),
    }
}

impl Dispatch {
    /// Files each entry (`whens[i]`, used only when `used[i]`) under its
    /// most selective key.
    pub fn build(whens: &[&CSel], used: &[bool]) -> Dispatch {
        let candidates: Vec<Vec<(SlotId, Vec<&str>)>> =
            whens.iter().map(|w| key_leaves(w)).collect();
        // How many entries could be filed under each (slot, value).
        let mut share: HashMap<(SlotId, &str), usize> = HashMap::new();
        for keys in &candidates {
            for (slot, values) in keys {
                for v in values {
                    *share.entry((*slot, v)).or_default() += 1;
                }
            }
        }
        let mut d = Dispatch::default();
        for (i, keys) in candidates.iter().enumerate() {
            if !used.get(i).copied().unwrap_or(false) {
                continue;
            }
            let cost = |(slot, values): &(SlotId, Vec<&str>)| -> usize {
                values
                    .iter()
                    .map(|v| share.get(&(*slot, *v)).copied().unwrap_or(0))
                    .sum()
            };
            let Some((slot, values)) = keys.iter().min_by_key(|k| cost(k)) else {
                d.unkeyed.push(i as u32);
                continue;
            };
            let at = match d.keyed.iter().position(|(s, _)| s == slot) {
                Some(at) => at,
                None => {
                    d.keyed.push((*slot, HashMap::new()));
                    d.keyed.len() - 1
                }
            };
            if let Some((_, map)) = d.keyed.get_mut(at) {
                for v in values {
                    let list = map.entry((*v).to_string()).or_default();
                    if list.last() != Some(&(i as u32)) {
                        list.push(i as u32);
                    }
                }
            }
        }
        d
    }

    /// Entries whose `when` may hold, given the lowercase texts of each key
    /// slot (`texts(slot)`), sorted and without duplicates.
    pub fn entries(&self, mut texts: impl FnMut(SlotId, &mut dyn FnMut(&str)), out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.unkeyed);
        for (slot, map) in &self.keyed {
            texts(*slot, &mut |lower| {
                if let Some(list) = map.get(lower) {
                    out.extend_from_slice(list);
                }
            });
        }
        out.sort_unstable();
        out.dedup();
    }
}
