//! Field resolution in one walk: every event path a plan can read, in a
//! trie of path segments; one walk over a JSON event finds all of them.
//!
//! A plan reads hundreds of fields and a pipeline gives each up to four
//! candidate paths (`Event.EventData.X`, `Event.UserData.*.X`, ...); most of
//! them are absent from any given event. Looking each one up costs a few map
//! probes per candidate, misses included. Walking the event instead visits
//! each of its keys once and probes the trie with it, so absent fields cost
//! nothing and present ones one hash probe.
//!
//! Semantics are those of [`crate::event::lookup`]: nested objects, keys with
//! literal dots (`{"process.executable": ..}` is found as
//! `process.executable`), a `*` segment (not last) matching any key, no
//! descent into arrays. When one path is present in several forms (a literal
//! dotted key and a nested object, or under several `*` keys), the first in
//! key order wins. A slot takes its lowest-ranked (most preferred) candidate
//! path that is present.

use hashbrown::HashMap;
use serde_json::{Map, Value};

use crate::engine::SlotId;

const NONE: u32 = u32::MAX;
const MAX_DEPTH: usize = 32;

/// Children of a trie node by key segment: compared one by one when few
/// (most nodes; cheaper than hashing the key), hashed when many.
#[derive(Debug, Clone)]
enum Children {
    Few(Vec<(Box<str>, u32)>),
    Many(HashMap<Box<str>, u32>),
}

const FEW: usize = 8;

impl Children {
    fn get(&self, key: &str) -> Option<u32> {
        match self {
            Children::Few(v) => v.iter().find(|(k, _)| **k == *key).map(|(_, c)| *c),
            Children::Many(m) => m.get(key).copied(),
        }
    }

    fn insert(&mut self, key: &str, node: u32) {
        match self {
            Children::Few(v) if v.len() < FEW => v.push((key.into(), node)),
            Children::Few(v) => {
                let mut m: HashMap<Box<str>, u32> = std::mem::take(v).into_iter().collect();
                m.insert(key.into(), node);
                *self = Children::Many(m);
            }
            Children::Many(m) => {
                m.insert(key.into(), node);
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Children::Few(v) => v.is_empty(),
            Children::Many(m) => m.is_empty(),
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    children: Children,
    /// The `*` child, or NONE.
    star: u32,
    /// (slot, rank): a value at this node is candidate `rank` of `slot`.
    terminals: Vec<(SlotId, u32)>,
}

impl Node {
    fn new() -> Node {
        Node {
            children: Children::Few(Vec::new()),
            star: NONE,
            terminals: Vec::new(),
        }
    }
}

/// The candidate paths of every slot of a plan, as a trie.
#[derive(Debug, Clone)]
pub(crate) struct PathTrie {
    nodes: Vec<Node>,
}

impl PathTrie {
    /// `slots[i]` lists the candidate paths of slot `i`, best first.
    pub fn build(slots: &[Vec<String>]) -> PathTrie {
        let mut t = PathTrie {
            nodes: vec![Node::new()],
        };
        for (slot, paths) in slots.iter().enumerate() {
            for (rank, path) in paths.iter().enumerate() {
                let node = t.insert(path);
                if let Some(n) = t.nodes.get_mut(node) {
                    n.terminals.push((slot as SlotId, rank as u32));
                }
            }
        }
        t
    }

    fn push(&mut self) -> u32 {
        self.nodes.push(Node::new());
        (self.nodes.len() - 1) as u32
    }

    fn insert(&mut self, path: &str) -> usize {
        let mut at = 0usize;
        let mut segments = path.split('.').peekable();
        while let Some(seg) = segments.next() {
            let last = segments.peek().is_none();
            let existing = match self.nodes.get(at) {
                Some(n) if seg == "*" && !last => n.star,
                Some(n) => n.children.get(seg).unwrap_or(NONE),
                None => return at,
            };
            let next = if existing == NONE {
                let new = self.push();
                if let Some(n) = self.nodes.get_mut(at) {
                    if seg == "*" && !last {
                        n.star = new;
                    } else {
                        n.children.insert(seg, new);
                    }
                }
                new
            } else {
                existing
            };
            at = next as usize;
        }
        at
    }

    /// Calls `found(slot, rank, value)` for every candidate path present in
    /// `map`.
    pub fn resolve<'e>(
        &self,
        map: &'e Map<String, Value>,
        found: &mut impl FnMut(SlotId, u32, &'e Value),
    ) {
        self.walk(0, map, 0, found);
    }

    fn walk<'e>(
        &self,
        node: usize,
        map: &'e Map<String, Value>,
        depth: usize,
        found: &mut impl FnMut(SlotId, u32, &'e Value),
    ) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        if depth > MAX_DEPTH || (n.children.is_empty() && n.star == NONE) {
            return;
        }
        for (k, v) in map {
            if let Some(c) = n.children.get(k.as_str()) {
                self.visit(c as usize, v, depth, found);
            } else if k.as_bytes().contains(&b'.') {
                // A key with literal dots: its segments, through the trie.
                let mut at = node;
                let mut ok = true;
                for seg in k.split('.') {
                    match self.nodes.get(at).and_then(|x| x.children.get(seg)) {
                        Some(c) => at = c as usize,
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok {
                    self.visit(at, v, depth, found);
                }
            }
            if n.star != NONE {
                self.visit(n.star as usize, v, depth, found);
            }
        }
    }

    fn visit<'e>(
        &self,
        node: usize,
        v: &'e Value,
        depth: usize,
        found: &mut impl FnMut(SlotId, u32, &'e Value),
    ) {
        let Some(n) = self.nodes.get(node) else {
            return;
        };
        for &(slot, rank) in &n.terminals {
            found(slot, rank, v);
        }
        if let Value::Object(inner) = v {
            self.walk(node, inner, depth + 1, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::lookup;
    use serde_json::json;

    /// For each slot, the value the trie resolves (best rank).
    fn resolved<'e>(t: &PathTrie, slots: usize, ev: &'e Value) -> Vec<Option<&'e Value>> {
        let mut best: Vec<Option<(u32, &Value)>> = vec![None; slots];
        if let Value::Object(m) = ev {
            t.resolve(m, &mut |s, r, v| {
                let b = &mut best[s as usize];
                if b.is_none_or(|(br, _)| r < br) {
                    *b = Some((r, v));
                }
            });
        }
        best.into_iter().map(|b| b.map(|(_, v)| v)).collect()
    }

    fn by_lookup<'e>(slots: &[Vec<String>], ev: &'e Value) -> Vec<Option<&'e Value>> {
        slots
            .iter()
            .map(|paths| {
                paths
                    .iter()
                    .find_map(|p| ev.as_object().and_then(|m| lookup(m, p)))
            })
            .collect()
    }

    #[test]
    fn same_as_lookup() {
        let slots: Vec<Vec<String>> = [
            vec!["Event.EventData.Image", "Event.UserData.*.Image", "Image"],
            vec!["process.executable"],
            vec!["a.b.c"],
            vec!["Event.System.EventID", "EventID"],
            vec!["missing.field", "also.missing"],
            vec!["x"],
            vec!["Event.UserData.*.Operation"],
            vec!["list"],
            vec!["obj"],
        ]
        .iter()
        .map(|v| v.iter().map(|s| s.to_string()).collect())
        .collect();
        let t = PathTrie::build(&slots);
        let events = [
            json!({"Event": {"EventData": {"Image": "a.exe"}, "System": {"EventID": 1}}}),
            json!({"Event": {"UserData": {"Rm": {"Image": "b.exe", "Operation": "op"}}}}),
            json!({"Image": "c.exe", "process.executable": "/bin/sh", "a": {"b.c": 3}}),
            json!({"process": {"executable": "/bin/ls"}, "x": null, "list": [1, "a"], "obj": {"k": 1}}),
            json!({"a.b": {"c": true}, "EventID": 4, "Event": {"System": {"EventID": 5}}}),
            json!({"Event": "not an object", "a": [{"b": {"c": 1}}]}),
        ];
        for ev in &events {
            assert_eq!(resolved(&t, slots.len(), ev), by_lookup(&slots, ev), "{ev}");
        }
    }

    /// A JSON value over a small key alphabet, nested up to three levels.
    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i8>().prop_map(|n| json!(n)),
            "[ab]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::btree_map("[ab]", inner.clone(), 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                proptest::collection::vec(inner, 0..3).prop_map(Value::Array),
            ]
        })
    }

    proptest::proptest! {
        /// Without literal dots in keys (where the precedence between a
        /// dotted key and a nested object is a documented difference), the
        /// trie finds exactly what `lookup` finds, `*` segments and ranks
        /// included.
        #[test]
        fn trie_equals_lookup(
            ev in json_value(),
            slots in proptest::collection::vec(
                proptest::collection::vec("([ab]|\\*)(\\.([ab]|\\*)){0,3}", 1..4),
                1..6,
            ),
        ) {
            let t = PathTrie::build(&slots);
            proptest::prop_assert_eq!(resolved(&t, slots.len(), &ev), by_lookup(&slots, &ev));
        }
    }

    #[test]
    fn rank_decides() {
        let slots = vec![vec!["Event.EventData.Id".to_string(), "Id".to_string()]];
        let t = PathTrie::build(&slots);
        let ev = json!({"Id": 1, "Event": {"EventData": {"Id": 2}}});
        assert_eq!(resolved(&t, 1, &ev), vec![Some(&json!(2))]);
    }
}
