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

use std::sync::Arc;

use ward_sigma::{Correlator, Engine, Match, RuleSet};

use crate::detect::evaluate::WindowScope;
use crate::detect::rules::Loaded;
use crate::model::Event;

/// The record header that carries the consumer's matches.
pub const HEADER: &str = "ward-matches";

/// The record header that says how a copy's correlation windows are kept
/// (`routed:<digest>` on the tenant's copy, `only:<digest>` on a copy
/// for the windows of one partition): see [`Consumed::examine`].
pub const WINDOWS_HEADER: &str = "ward-windows";

/// Largest header read (matches carry the matched values, each cut by the
/// engine; more than this is not a header Ward wrote).
const MAX_HEADER: usize = 4 << 20;

/// Largest header sent; larger matches are left to the owner.
pub const MAX_SENT: usize = 1 << 20;

/// The fields the state writes.
const STATE_FIELD: &str = "ward.baseline";

/// What one header says.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    /// [`Loaded::source_digest`] of the rules the matches were found with.
    rules: String,
    matches: Vec<Match>,
}

/// Whether rule `index` of `set` reads what detection state writes (see
/// the module documentation).
pub fn needs_state(set: &RuleSet, index: usize) -> bool {
    set.fields_read(index).into_iter().any(|f| match f {
        None => true,
        Some(f) => state_field(set, f),
    })
}

/// Whether field `f` is one the state writes, as named or through one of
/// the set's pipelines.
fn state_field(set: &RuleSet, f: &str) -> bool {
    let state = |path: &str| {
        path == STATE_FIELD
            || path
                .strip_prefix(STATE_FIELD)
                .is_some_and(|rest| rest.starts_with('.'))
    };
    state(f)
        || set
            .pipelines()
            .iter()
            .any(|p| p.mapping.resolve(f).iter().any(|path| state(path)))
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

    /// The matches of the rules that need no state (their log sources in
    /// `seen`), and their header value.
    ///
    /// The header is `None` when the matches would make it over
    /// [`MAX_SENT`] bytes (many rules matching one large event): the copy
    /// then goes without one and the owner matches it itself, so the copy
    /// stays well inside the broker's message size.
    pub fn examine(
        &self,
        event: &Event,
        seen: &mut Vec<ward_sigma::Seen>,
    ) -> (Vec<Match>, Option<Vec<u8>>) {
        let matches = self.engine.matches_seen(&event.0, seen);
        let header = self.encode(&matches);
        (matches, header)
    }

    fn encode(&self, matches: &[Match]) -> Option<Vec<u8>> {
        #[derive(serde::Serialize)]
        struct HeaderRef<'a> {
            rules: &'a str,
            matches: &'a [Match],
        }
        let h = HeaderRef {
            rules: &self.digest,
            matches,
        };
        serde_json::to_vec(&h).ok().filter(|h| h.len() <= MAX_SENT)
    }
}

/// What a node's `<prefix>events` consumer does to each event before it
/// copies it to `<prefix>corr`: route its correlation windows, and, with
/// `cluster.match_where_consumed`, match the rules that need no state.
pub struct AtConsumer {
    pub consumed: Option<Consumed>,
    pub router: Router,
    /// Where the log sources of the events consumed here are counted
    /// (this node's share of the cluster's coverage).
    pub progress: Arc<crate::detect::Progress>,
}

/// Where the correlation windows an event feeds are kept: every
/// `<prefix>events` consumer routes, whether it matches the other rules
/// or not, so that all the events of a window reach the same partition.
pub struct Router {
    /// The member rules of the separable correlations, for a consumer
    /// that matches nothing else.
    engine: Engine,
    /// An empty correlator of the set, to find the windows of matches.
    correlator: Correlator,
    scope: WindowScope,
    digest: String,
}

impl Router {
    /// `correlator` is the set's (as the owners build it), `partitions`
    /// the count of `<prefix>corr` partitions.
    pub fn new(
        loaded: &Loaded,
        stateful: &[bool],
        correlator: &Correlator,
        partitions: i32,
    ) -> Router {
        let scope = window_scope(&loaded.set, correlator, stateful, partitions);
        let mut members = vec![false; loaded.set.len()];
        for ci in (0..correlator.len()).filter(|ci| scope.separable.get(*ci) == Some(&true)) {
            for r in correlator.member_rules(ci) {
                if let Some(m) = members.get_mut(r) {
                    *m = true;
                }
            }
        }
        Router {
            engine: Engine::with_rules(&loaded.set, |i| members.get(i).copied().unwrap_or(false)),
            correlator: correlator.clone(),
            scope,
            digest: loaded.source_digest.clone(),
        }
    }

    /// The partitions (sorted, distinct) of the windows of separable
    /// correlations that the event feeds, from `matches` (those of every
    /// rule that needs no state) or, without them, by matching the
    /// correlations' rules here, which also sets `seen` (the log sources
    /// the whole set sees the event as). The event is copied to each
    /// besides its tenant's partition, so one tenant's windows spread by
    /// group key.
    pub fn windows(
        &self,
        event: &Event,
        matches: Option<&[Match]>,
        seen: &mut Vec<ward_sigma::Seen>,
    ) -> Vec<i32> {
        let own;
        let matches = match matches {
            Some(m) => m,
            None => {
                own = self.engine.matches_seen(&event.0, seen);
                &own
            }
        };
        let mut out: Vec<i32> = self
            .correlator
            .windows_fed(&event.0, matches)
            .into_iter()
            .filter_map(|(ci, key)| self.scope.partition_of(ci, &key))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The `ward-windows` header value of a copy: the tenant's (`whole`)
    /// or one for the windows of its partition only.
    pub fn mark(&self, whole: bool) -> Vec<u8> {
        format!("{}:{}", if whole { "routed" } else { "only" }, self.digest).into_bytes()
    }
}

/// Which correlations of a set keep their windows by group key in a
/// cluster: those over rules that need no state (their matches are found
/// where events are consumed) and in no chain ([`Correlator::separable`]).
pub fn window_scope(
    set: &RuleSet,
    correlator: &Correlator,
    stateful: &[bool],
    partitions: i32,
) -> WindowScope {
    WindowScope {
        // A window grouped by (or counting) what the state writes is
        // keyed only after the tenant's owner enriched the event.
        separable: Arc::new(correlator.separable(
            |r| !stateful.get(r).copied().unwrap_or(true),
            |f| !state_field(set, f),
        )),
        rule_ids: Arc::new(
            (0..correlator.len())
                .map(|i| correlator.rule_id(i).unwrap_or_default().to_owned())
                .collect(),
        ),
        partitions,
        here: 0,
        whole: true,
    }
}

/// What a copy is, by its `ward-windows` header and the owner's rules
/// digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    /// The tenant's copy, every window kept here: no header, or one made
    /// with other rules (whose routing this node cannot know).
    Tenant,
    /// The tenant's copy of an event whose separable windows went to
    /// their partitions.
    Routed,
    /// A copy for this partition's windows only.
    Windows,
    /// A copy for windows only, routed with other rules: the windows it
    /// feeds may be kept elsewhere, so it is not used (a rule change
    /// reaches every node at once, see the README).
    Foreign,
}

/// The kind of a copy from its `ward-windows` header.
pub fn windows_kind(header: Option<&[u8]>, digest: &str) -> CopyKind {
    let Some(text) = header.and_then(|h| std::str::from_utf8(h).ok()) else {
        return CopyKind::Tenant;
    };
    match text.split_once(':') {
        Some(("routed", d)) if d == digest => CopyKind::Routed,
        Some(("only", d)) if d == digest => CopyKind::Windows,
        Some(("only", _)) => CopyKind::Foreign,
        _ => CopyKind::Tenant,
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

    fn router(l: &Loaded, stateful: &[bool]) -> Router {
        let c = Correlator::new(&l.set, &l.engine)
            .partitioned_by(crate::detect::evaluate::TENANT_FIELD);
        Router::new(l, stateful, &c, 12)
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
    fn windows_go_to_the_partition_of_their_group() {
        let l = loaded();
        let stateful = stateful_rules(&l);
        let c = Consumed::new(&l, &stateful);
        let r = router(&l, &stateful);
        // The failed login feeds one window of "Several failures", by user.
        let mut parts = std::collections::BTreeSet::new();
        for i in 0..60 {
            let mut e = event();
            e.set("user.name", json!(format!("user-{i}")));
            let (mut seen, mut seen_router) = (Vec::new(), Vec::new());
            let (matches, _) = c.examine(&e, &mut seen);
            let windows = r.windows(&e, Some(&matches), &mut Vec::new());
            assert_eq!(windows.len(), 1, "{windows:?}");
            assert!((0..12).contains(&windows[0]));
            // The same user's window is always on the same partition, and
            // a consumer that matches nothing else routes it alike.
            assert_eq!(r.windows(&e, None, &mut seen_router), windows);
            // Both see the log sources the whole set sees.
            assert!(!seen.is_empty());
            assert_eq!(seen_router, seen);
            parts.extend(windows);
        }
        assert!(parts.len() >= 8, "60 users' windows spread: {parts:?}");
        // A success feeds no window.
        let mut e = event();
        e.set("event.outcome", json!("success"));
        assert!(r.windows(&e, None, &mut Vec::new()).is_empty());
        // Without any correlation the router matches no rule, and still
        // sees the log sources, for the node's coverage.
        let plain = loaded_from(RULES.split("---\ntitle: Several").next().unwrap());
        let plain_stateful = stateful_rules(&plain);
        let (mut want, mut got) = (Vec::new(), Vec::new());
        let _ = Consumed::new(&plain, &plain_stateful).examine(&event(), &mut want);
        assert!(
            router(&plain, &plain_stateful)
                .windows(&event(), None, &mut got)
                .is_empty()
        );
        assert!(!want.is_empty());
        assert_eq!(got, want);
        // The marks: a tenant's copy is trusted only with the owner's rules.
        let routed = r.mark(true);
        let only = r.mark(false);
        let d = &l.source_digest;
        assert_eq!(windows_kind(Some(&routed), d), CopyKind::Routed);
        assert_eq!(windows_kind(Some(&routed), "other rules"), CopyKind::Tenant);
        assert_eq!(windows_kind(Some(&only), d), CopyKind::Windows);
        assert_eq!(windows_kind(Some(&only), "other rules"), CopyKind::Foreign);
        assert_eq!(windows_kind(Some(b"routed"), d), CopyKind::Tenant);
        assert_eq!(windows_kind(Some(b"\xff:x"), d), CopyKind::Tenant);
        assert_eq!(windows_kind(None, d), CopyKind::Tenant);
    }

    #[test]
    fn a_correlation_over_a_baseline_reader_stays_with_the_tenant() {
        let rules = format!(
            "{RULES}---\ntitle: Unusual failures\nid: r-unusual-several\ncorrelation:\n  type: event_count\n  \
             rules: [r-unusual]\n  group-by: [user.name]\n  timespan: 5m\n  condition: {{ gte: 2 }}\n\
             ---\ntitle: Failures by hour kind\nid: r-by-hour\ncorrelation:\n  type: event_count\n  \
             rules: [r-failed]\n  group-by: [ward.baseline.unusual_hour]\n  timespan: 5m\n  condition: {{ gte: 2 }}\n"
        );
        let l = loaded_from(&rules);
        let stateful = stateful_rules(&l);
        let c = Correlator::new(&l.set, &l.engine);
        let scope = window_scope(&l.set, &c, &stateful, 12);
        let separable: Vec<(&str, bool)> = scope
            .rule_ids
            .iter()
            .map(String::as_str)
            .zip(scope.separable.iter().copied())
            .collect();
        assert_eq!(
            separable,
            [
                ("r-several", true),
                ("r-unusual-several", false),
                ("r-by-hour", false)
            ]
        );
        assert!(scope.keeps(1, "any group"), "kept on the tenant's copy");
        let only = WindowScope {
            whole: false,
            ..scope.clone()
        };
        assert!(!only.keeps(1, "any group"));
        let p = scope.partition_of(0, "g").unwrap();
        let here = WindowScope { here: p, ..only };
        assert!(here.keeps(0, "g"));
    }

    #[test]
    fn the_halves_find_what_the_whole_set_finds() {
        let l = loaded();
        let stateful = stateful_rules(&l);
        let consumed = Consumed::new(&l, &stateful);
        let owner = owner_engine(&l, &stateful);
        let mut e = event();
        e.set("ward.baseline.unusual_hour", json!(true));
        let mut got = read(
            &consumed.examine(&e, &mut Vec::new()).1.unwrap(),
            &l,
            &stateful,
        )
        .unwrap();
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
        let good = consumed.examine(&event(), &mut Vec::new()).1.unwrap();
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
        let small = consumed.examine(&e, &mut Vec::new()).1.unwrap();
        assert_eq!(read(&small, &l, &stateful).unwrap().len(), 3);
        e.set(
            "message",
            json!(format!("mimikatz {}", "a".repeat(MAX_SENT / 2))),
        );
        assert!(consumed.examine(&e, &mut Vec::new()).1.is_none());
    }
}
