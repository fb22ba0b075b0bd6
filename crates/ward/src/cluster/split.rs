//! Sigma matching split in two, so that the costly part of detection
//! spreads over every node instead of running where a tenant's state is.
//!
//! A Sigma detection rule is a test on one event: it needs no state unless
//! it reads what the state writes, the behavioural-baseline fields
//! (`ward.baseline.*`, written on the owner of the tenant's `<prefix>corr`
//! partition just before the rules run). So:
//!
//! ```text
//! <prefix>events consumer (every node, its share):   rules that need no state ─► matches
//!      └─► copy to <prefix>corr, matches in the `ward-matches` header
//! <prefix>corr owner (one node per tenant):  baselines ─► rules that read them ─► + the
//!      header's matches ─► single-event findings, correlations, metric rules
//! ```
//!
//! A rule needs the state when an item (or a meta filter applied to it)
//! names a `ward.baseline` field, as written or through a pipeline's
//! mapping, or is a keyword item (keywords read every string of the event,
//! the baseline fields included). [`ward_sigma::Engine::with_rules`] keeps
//! each rule's verdict whatever rules are compiled beside it, so the two
//! halves find together what one engine finds.
//!
//! The owner uses a header only when it was made with the same rule
//! documents and pipelines (their digest travels with it) and every match
//! names a rule of the consumer's half by its index and key; otherwise it
//! matches every rule itself (a node started with other rules, a copy made
//! by an older node), which gives the same findings, at the owner's cost.

use ward_sigma::{Engine, Match, RuleSet};

use crate::detect::rules::Loaded;
use crate::model::Event;

/// The record header that carries the consumer's matches.
pub const HEADER: &str = "ward-matches";

/// Largest header read (matches carry the matched values, each cut by the
/// engine; more than this is not a header Ward wrote).
const MAX_HEADER: usize = 4 << 20;

/// Largest header sent; larger matches are left to the owner.
pub const MAX_SENT: usize = 1 << 20;

/// The fields the state writes.
const STATE_FIELD: &str = "ward.baseline";

/// What one header says.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    /// [`Loaded::source_digest`] of the rules the matches were found with.
    rules: String,
    matches: Vec<Match>,
}

/// Whether rule `index` of `set` reads what detection state writes (see
/// the module documentation).
pub fn needs_state(set: &RuleSet, index: usize) -> bool {
    let state = |path: &str| {
        path == STATE_FIELD
            || path
                .strip_prefix(STATE_FIELD)
                .is_some_and(|rest| rest.starts_with('.'))
    };
    set.fields_read(index).into_iter().any(|f| match f {
        None => true,
        Some(f) => {
            state(f)
                || set
                    .pipelines()
                    .iter()
                    .any(|p| p.mapping.resolve(f).iter().any(|path| state(path)))
        }
    })
}

/// Which rules of a loaded set need the state, by index.
pub fn stateful_rules(loaded: &Loaded) -> Vec<bool> {
    (0..loaded.set.len())
        .map(|i| needs_state(&loaded.set, i))
        .collect()
}

/// The consumer's half: every rule that needs no state.
pub struct Consumed {
    engine: Engine,
    digest: String,
}

impl Consumed {
    /// Compiles the rules of `loaded` that need no state.
    pub fn new(loaded: &Loaded, stateful: &[bool]) -> Consumed {
        Consumed {
            engine: Engine::with_rules(&loaded.set, |i| !stateful.get(i).copied().unwrap_or(true)),
            digest: loaded.source_digest.clone(),
        }
    }

    /// The header value for one event: its matches, with the digest.
    ///
    /// `None` when the matches would make a header over [`MAX_SENT`]
    /// bytes (many rules matching one large event): the copy then goes
    /// without one and the owner matches it itself, so the copy stays
    /// well inside the broker's message size.
    pub fn header(&self, event: &Event) -> Option<Vec<u8>> {
        let h = Header {
            rules: self.digest.clone(),
            matches: self.engine.matches(&event.0),
        };
        serde_json::to_vec(&h).ok().filter(|h| h.len() <= MAX_SENT)
    }
}

/// The owner's half: the rules that need the state.
pub fn owner_engine(loaded: &Loaded, stateful: &[bool]) -> Engine {
    Engine::with_rules(&loaded.set, |i| stateful.get(i).copied().unwrap_or(false))
}

/// The matches a header carries, when they were found with the rules
/// `loaded` holds (`stateful` from [`stateful_rules`]); otherwise why not.
pub fn read(header: &[u8], loaded: &Loaded, stateful: &[bool]) -> Result<Vec<Match>, String> {
    if header.len() > MAX_HEADER {
        return Err(format!(
            "{} bytes, more than the {MAX_HEADER} a header may have",
            header.len()
        ));
    }
    let h: Header = serde_json::from_slice(header).map_err(|e| format!("not matches: {e}"))?;
    if h.rules != loaded.source_digest {
        return Err("found with other rules or pipelines".into());
    }
    let engine = &loaded.engine;
    for m in &h.matches {
        let Some(meta) = engine.rule(m.rule) else {
            return Err(format!("rule index {} out of range", m.rule));
        };
        if meta.key() != m.rule_id {
            return Err(format!("rule index {} is not {:?}", m.rule, m.rule_id));
        }
        if stateful.get(m.rule).copied().unwrap_or(true) {
            return Err(format!("rule {:?} is matched by the owner", m.rule_id));
        }
        if m.pipeline.is_some_and(|p| p >= engine.pipeline_count()) {
            return Err("pipeline index out of range".into());
        }
    }
    Ok(h.matches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: &str = r#"
title: Failed login
id: r-failed
logsource: { category: authentication }
detection:
  sel: { event.outcome: failure }
  condition: sel
---
title: Failed login at an unusual hour
id: r-unusual
logsource: { category: authentication }
detection:
  sel:
    event.outcome: failure
    ward.baseline.unusual_hour: true
  condition: sel
---
title: Keyword
id: r-keyword
logsource: { category: authentication }
detection:
  kw: [mimikatz]
  condition: kw
---
title: Several failures
id: r-several
correlation:
  type: event_count
  rules: [r-failed]
  group-by: [user.name]
  timespan: 5m
  condition: { gte: 3 }
"#;

    fn loaded() -> Loaded {
        loaded_from(RULES)
    }

    fn loaded_from(rules: &str) -> Loaded {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yml");
        std::fs::write(&path, rules).unwrap();
        let loaded = crate::detect::rules::load(false, &[path], &[]);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        loaded
    }

    fn event() -> Event {
        let mut e = Event::default();
        e.set("@timestamp", json!("2026-11-01T03:00:00Z"));
        e.set("event.category", json!(["authentication"]));
        e.set("event.outcome", json!("failure"));
        e.set("user.name", json!("bob"));
        e.set("message", json!("mimikatz sekurlsa"));
        e
    }

    #[test]
    fn baseline_readers_and_keywords_stay_with_the_owner() {
        let l = loaded();
        let stateful = stateful_rules(&l);
        let by_id = |id: &str| {
            let i = l.set.rules().position(|m| m.key() == id).unwrap();
            stateful[i]
        };
        assert!(!by_id("r-failed"));
        assert!(by_id("r-unusual"));
        assert!(by_id("r-keyword"));
        assert!(!by_id("r-several"), "a correlation is not a detection rule");
    }

    #[test]
    fn the_halves_find_what_the_whole_set_finds() {
        let l = loaded();
        let stateful = stateful_rules(&l);
        let consumed = Consumed::new(&l, &stateful);
        let owner = owner_engine(&l, &stateful);
        let mut e = event();
        e.set("ward.baseline.unusual_hour", json!(true));
        let mut got = read(&consumed.header(&e).unwrap(), &l, &stateful).unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        got.extend(owner.matches(&e.0));
        let mut got: Vec<String> = got.into_iter().map(|m| m.rule_id).collect();
        got.sort();
        let mut want: Vec<String> = l
            .engine
            .matches(&e.0)
            .into_iter()
            .map(|m| m.rule_id)
            .collect();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(want, ["r-failed", "r-keyword", "r-unusual"]);
    }

    #[test]
    fn a_header_of_other_rules_or_forged_is_refused() {
        let l = loaded();
        let stateful = stateful_rules(&l);
        let consumed = Consumed::new(&l, &stateful);
        let good = consumed.header(&event()).unwrap();
        assert!(read(&good, &l, &stateful).is_ok());
        let mut h: serde_json::Value = serde_json::from_slice(&good).unwrap();
        let forge = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = h.clone();
            f(&mut v);
            read(&serde_json::to_vec(&v).unwrap(), &l, &stateful)
        };
        let e = forge(&|v| v["rules"] = json!("0000"));
        assert!(e.unwrap_err().contains("other rules"));
        let e = forge(&|v| v["matches"][0]["rule"] = json!(999));
        assert!(e.unwrap_err().contains("out of range"));
        let unusual = l.set.rules().position(|m| m.key() == "r-unusual").unwrap();
        let e = forge(&|v| {
            v["matches"][0]["rule"] = json!(unusual);
            v["matches"][0]["rule_id"] = json!("r-unusual");
        });
        assert!(e.unwrap_err().contains("matched by the owner"));
        let e = forge(&|v| v["matches"][0]["rule_id"] = json!("r-other"));
        assert!(e.unwrap_err().contains("is not"));
        let e = forge(&|v| v["matches"][0]["pipeline"] = json!(7));
        assert!(e.unwrap_err().contains("pipeline"));
        h["extra"] = json!(1);
        assert!(read(&serde_json::to_vec(&h).unwrap(), &l, &stateful).is_err());
        assert!(read(b"\xff\x00", &l, &stateful).is_err());
        assert!(read(&vec![b' '; MAX_HEADER + 1], &l, &stateful).is_err());
    }

    /// Every matching rule copies the value it matched: on a large event
    /// the header could outgrow the broker's message size and wedge the
    /// copy; it is left out instead, and the owner matches.
    #[test]
    fn matches_too_large_to_send_are_left_to_the_owner() {
        let rules: String = (0..3)
            .map(|i| {
                format!(
                    "title: Big {i}\nid: r-big-{i}\nlogsource: {{ category: authentication }}\n\
                     detection:\n  sel: {{ message|contains: mimikatz }}\n  condition: sel\n---\n"
                )
            })
            .collect();
        let l = loaded_from(&rules);
        let stateful = stateful_rules(&l);
        let consumed = Consumed::new(&l, &stateful);
        let mut e = event();
        let small = consumed.header(&e).unwrap();
        assert_eq!(read(&small, &l, &stateful).unwrap().len(), 3);
        e.set(
            "message",
            json!(format!("mimikatz {}", "a".repeat(MAX_SENT / 2))),
        );
        assert!(consumed.header(&e).is_none());
    }
}
