//! Never silently blind: which log sources live detection has seen, per
//! tenant, and so which loaded rules could have fired and which could not.
//!
//! The detection thread records, for every event, the log sources the
//! engine recognized it as (the `product/service/category` of each
//! pipeline entry that held, as in [`ward_sigma::Seen`]) or that no loaded
//! rule could see it, with a few examples of such events (their field
//! names, never their values). A report for a time window says which log
//! sources got events in it, which detection rules had none of theirs
//! (they could not have fired), and an ATT&CK coverage table from the
//! rules' tags. Counts are since the process started; `last_seen` decides
//! the window. Served as `GET /api/v1/rules/coverage`, `ward rules
//! coverage` and two gauges in `/metrics`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::rules::Loaded;
use crate::model::Event;

/// Examples kept per tenant of events no rule could see.
const EXAMPLES: usize = 5;
/// At most one new example per tenant in this many milliseconds.
const EXAMPLE_EVERY_MS: i64 = 10_000;
/// Field names kept per example.
const EXAMPLE_FIELDS: usize = 24;
/// Characters kept of each field name.
const MAX_FIELD_NAME: usize = 128;
/// Tenants tracked; events of further tenants count under `other`.
const MAX_TENANTS: usize = 10_000;
/// (tenant, log source) counts a node shares with the cluster, the newest
/// first, and tenants with events no rule could see: bounds that keep a
/// share well inside a broker's message size.
pub const MAX_SHARED_COUNTS: usize = 5_000;
pub const MAX_SHARED_UNSEEN: usize = 500;
/// Longest tenant, log source or example string taken from another node.
const MAX_SHARED_NAME: usize = 512;
/// Nodes whose shares are kept.
const MAX_PEERS: usize = 1_000;

/// The ATT&CK enterprise tactics, in kill-chain order, as Sigma tags name
/// them (`attack.<tactic>`).
pub const TACTICS: [&str; 14] = [
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// Shared between the detection thread (which records) and the API
/// (which reports).
#[derive(Debug, Default)]
pub struct Coverage {
    state: Mutex<State>,
    /// When counting began: the first rule load.
    started_ms: std::sync::atomic::AtomicI64,
}

#[derive(Debug, Default)]
struct State {
    /// Interned `product/service/category` labels (kept across reloads, so
    /// counts survive them).
    labels: Vec<String>,
    label_ix: HashMap<String, usize>,
    tenants: Vec<String>,
    tenant_ix: HashMap<String, usize>,
    /// `[pipeline][entry]` -> label, for the rules loaded now.
    entry_label: Vec<Vec<usize>>,
    /// The detection rules loaded now.
    rules: Vec<RuleInfo>,
    /// Every rule loaded now (detections and correlations), in load order.
    catalog: Vec<RuleEntry>,
    /// What the last load reported wrong.
    errors: Vec<LoadError>,
    /// (tenant, label) -> events and when the last came.
    seen: HashMap<(usize, usize), Count>,
    /// tenant -> events no rule could see.
    unseen: HashMap<usize, Unseen>,
    /// Cluster mode: the newest counts of every other node (by node id),
    /// their names interned once, when the share came.
    peers: BTreeMap<String, Peer>,
}

/// Another node's share, by this process's tenant and label indices.
#[derive(Debug, Default)]
struct Peer {
    started_ms: i64,
    seen: Vec<((usize, usize), Count)>,
    unseen: Vec<(usize, Unseen)>,
}

/// What one node of a cluster counted (its share of every node's
/// ingest), as it publishes it to `<prefix>coverage` for the others: by
/// names, not by this process's indices.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Share {
    pub node: String,
    /// When the node began counting.
    pub started_ms: i64,
    pub seen: Vec<SharedCount>,
    pub unseen: Vec<SharedUnseen>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SharedCount {
    pub tenant: String,
    /// `product/service/category`.
    pub logsource: String,
    pub events: u64,
    pub last_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SharedUnseen {
    pub tenant: String,
    pub events: u64,
    pub last_ms: i64,
    pub examples: Vec<Example>,
}

/// Counts by (tenant, label), events no rule could see by tenant, and
/// when the first peer began counting (0: none).
type Merged = (HashMap<(usize, usize), Count>, HashMap<usize, Unseen>, i64);

#[derive(Debug, Default, Clone, Copy)]
struct Count {
    events: u64,
    last_ms: i64,
}

#[derive(Debug, Default, Clone)]
struct Unseen {
    count: Count,
    examples: VecDeque<Example>,
    last_example_ms: i64,
}

#[derive(Debug, Clone)]
struct RuleInfo {
    id: String,
    title: String,
    level: String,
    logsource: String,
    /// Labels of the pipeline entries that select this rule.
    labels: Vec<usize>,
    tactics: Vec<&'static str>,
    techniques: Vec<String>,
}

/// A loaded rule as the rules view lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEntry {
    pub id: String,
    pub title: String,
    /// `detection` or `correlation`.
    pub kind: &'static str,
    /// The rule's `status` (`stable`, `test`, …), empty when unset.
    pub status: String,
    pub level: String,
    /// The file (or built-in origin) and the line its document starts at.
    pub origin: String,
    pub line: usize,
    /// `product/service/category`.
    pub logsource: String,
}

/// A rule, pipeline or file that did not load, where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub origin: String,
    /// 0 when no line applies.
    pub line: usize,
    pub reason: String,
}

/// The loaded rules, which detection rules saw data of their log source in
/// a window, and the load errors.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Each rule and, for a detection rule, whether an event of its log
    /// source came in the window (None for correlations).
    pub rules: Vec<(RuleEntry, Option<bool>)>,
    pub errors: Vec<LoadError>,
}

/// An event no loaded rule could see: enough to write a pipeline or find
/// the sender, nothing of its content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Example {
    pub event_id: String,
    /// Its recognized log source, or `unrecognized`.
    pub logsource: String,
    pub dataset: Option<String>,
    /// The input source it came through (`ward.source`).
    pub source: Option<String>,
    /// Its top-level field names.
    pub fields: Vec<String>,
    pub seen_at: String,
}

/// The coverage of the loaded rules over a time window.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The window, e.g. `24h`.
    pub window: String,
    /// When counting began (the process start).
    pub counting_since: String,
    pub detection_rules: usize,
    /// Detection rules with at least one event of their log source in the
    /// window.
    pub rules_with_data: usize,
    /// Log sources with events in the window (or ever, with `events_total`).
    pub sources: Vec<SourceRow>,
    /// Rules that could not have fired: no event of their log source in the
    /// window.
    pub blind_rules: Vec<BlindRule>,
    pub unseen_events_total: u64,
    /// When the last event no rule could see came.
    pub unseen_last: Option<String>,
    pub unseen_examples: Vec<Example>,
    pub attack: Vec<TacticRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SourceRow {
    /// `product/service/category`.
    pub logsource: String,
    pub events_total: u64,
    pub last_seen: String,
    pub in_window: bool,
    /// Detection rules of this log source.
    pub rules: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BlindRule {
    pub id: String,
    pub title: String,
    pub level: String,
    pub logsource: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TacticRow {
    pub tactic: String,
    pub rules: usize,
    pub rules_with_data: usize,
    pub techniques: usize,
    pub techniques_with_data: usize,
}

fn label(ls: &ward_sigma::LogSource) -> String {
    let part = |v: &Option<String>| v.as_deref().unwrap_or("-").to_owned();
    format!(
        "{}/{}/{}",
        part(&ls.product),
        part(&ls.service),
        part(&ls.category)
    )
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

impl State {
    /// Events per label of the tenants a caller of `tenant` sees, in
    /// `seen` (this node's counts, or the cluster's from [`State::merged`]).
    fn by_label(
        &self,
        seen: &HashMap<(usize, usize), Count>,
        tenant: Option<&str>,
    ) -> BTreeMap<usize, Count> {
        let mut out: BTreeMap<usize, Count> = BTreeMap::new();
        for (&(t, l), c) in seen {
            if tenant.is_none_or(|name| self.tenants.get(t).is_some_and(|x| x == name)) {
                let e = out.entry(l).or_default();
                e.events = e.events.saturating_add(c.events);
                e.last_ms = e.last_ms.max(c.last_ms);
            }
        }
        out
    }

    /// This node's counts plus every peer's (cluster mode): by (tenant,
    /// label), and by tenant for events no rule could see; and when the
    /// first node began counting (0: this node's time).
    fn merged(&self) -> Merged {
        let mut seen = self.seen.clone();
        let mut unseen = self.unseen.clone();
        let mut started = 0i64;
        for peer in self.peers.values() {
            if peer.started_ms > 0 {
                started = if started == 0 {
                    peer.started_ms
                } else {
                    started.min(peer.started_ms)
                };
            }
            for (key, c) in &peer.seen {
                let e = seen.entry(*key).or_default();
                e.events = e.events.saturating_add(c.events);
                e.last_ms = e.last_ms.max(c.last_ms);
            }
            for (t, u) in &peer.unseen {
                let e = unseen.entry(*t).or_default();
                e.count.events = e.count.events.saturating_add(u.count.events);
                e.count.last_ms = e.count.last_ms.max(u.count.last_ms);
                e.examples.extend(u.examples.iter().cloned());
            }
        }
        (seen, unseen, started)
    }

    /// A share by this process's indices (interning its names).
    fn peer(&mut self, share: Share) -> Peer {
        let seen = share
            .seen
            .into_iter()
            .map(|c| {
                let key = (self.tenant(&c.tenant), self.intern_label(c.logsource));
                let count = Count {
                    events: c.events,
                    last_ms: c.last_ms,
                };
                (key, count)
            })
            .collect();
        let unseen = share
            .unseen
            .into_iter()
            .map(|u| {
                let t = self.tenant(&u.tenant);
                let count = Count {
                    events: u.events,
                    last_ms: u.last_ms,
                };
                let unseen = Unseen {
                    count,
                    examples: u.examples.into_iter().collect(),
                    last_example_ms: 0,
                };
                (t, unseen)
            })
            .collect();
        Peer {
            started_ms: share.started_ms,
            seen,
            unseen,
        }
    }

    fn intern_label(&mut self, l: String) -> usize {
        if let Some(&i) = self.label_ix.get(&l) {
            return i;
        }
        self.labels.push(l.clone());
        self.label_ix.insert(l, self.labels.len() - 1);
        self.labels.len() - 1
    }

    fn tenant(&mut self, t: &str) -> usize {
        if let Some(&i) = self.tenant_ix.get(t) {
            return i;
        }
        let t = if self.tenants.len() >= MAX_TENANTS {
            "other"
        } else {
            t
        };
        if let Some(&i) = self.tenant_ix.get(t) {
            return i;
        }
        self.tenants.push(t.to_owned());
        self.tenant_ix.insert(t.to_owned(), self.tenants.len() - 1);
        self.tenants.len() - 1
    }
}

/// The labels with an event at or after `cutoff`.
fn live_labels(by_label: &BTreeMap<usize, Count>, cutoff: i64) -> BTreeSet<usize> {
    by_label
        .iter()
        .filter(|(_, c)| c.last_ms >= cutoff)
        .map(|(l, _)| *l)
        .collect()
}

impl Coverage {
    /// The loaded rules, each detection rule with whether a caller of
    /// `tenant` (None: every tenant) sent an event of its log source in the
    /// `window_ms` before `now_ms`, and what did not load.
    pub fn catalog(&self, tenant: Option<&str>, window_ms: i64, now_ms: i64) -> Catalog {
        let st = self.state.lock();
        let (seen, _, _) = st.merged();
        let live = live_labels(
            &st.by_label(&seen, tenant),
            now_ms.saturating_sub(window_ms),
        );
        let data: HashMap<&str, bool> = st
            .rules
            .iter()
            .map(|r| (r.id.as_str(), r.labels.iter().any(|l| live.contains(l))))
            .collect();
        let rules = st
            .catalog
            .iter()
            .map(|e| {
                let seen = (e.kind == "detection").then(|| data.get(e.id.as_str()) == Some(&true));
                (e.clone(), seen)
            })
            .collect();
        Catalog {
            rules,
            errors: st.errors.clone(),
        }
    }

    /// Takes the rules now loaded (at start and at every reload).
    pub fn set_rules(&self, loaded: &Loaded) {
        let _ = self.started_ms.compare_exchange(
            0,
            jiff::Timestamp::now().as_millisecond(),
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
        let engine = &loaded.engine;
        let mut st = self.state.lock();
        let mut entry_label = Vec::with_capacity(engine.pipeline_count());
        let mut rule_labels: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); engine.len()];
        for p in 0..engine.pipeline_count() {
            let mut row = Vec::with_capacity(engine.entry_count(p));
            for e in 0..engine.entry_count(p) {
                let Ok(e32) = u32::try_from(e) else { break };
                let l = engine
                    .entry_logsource(p, e32)
                    .map_or_else(|| "-/-/-".to_owned(), label);
                let ix = st.intern_label(l);
                row.push(ix);
                for r in engine.entry_rules(p, e32) {
                    if let Some(set) = rule_labels.get_mut(r) {
                        set.insert(ix);
                    }
                }
            }
            entry_label.push(row);
        }
        let mut rules = Vec::new();
        let mut catalog = Vec::new();
        for (i, meta) in loaded.set.rules().enumerate() {
            let kind = match meta.kind {
                ward_sigma::RuleKind::Detection => "detection",
                ward_sigma::RuleKind::Correlation => "correlation",
                ward_sigma::RuleKind::Filter => continue,
            };
            catalog.push(RuleEntry {
                id: meta.key(),
                title: meta.title.clone(),
                kind,
                status: meta.status.clone().unwrap_or_default(),
                level: meta.level.clone().unwrap_or_default(),
                origin: meta.origin.clone(),
                line: meta.line,
                logsource: label(&meta.logsource),
            });
            let detection = matches!(
                loaded.set.rule(i).map(|r| &r.body),
                Some(ward_sigma::RuleBody::Detection(_))
            );
            if !detection {
                continue;
            }
            let mut tactics = Vec::new();
            let mut techniques = Vec::new();
            for t in &meta.tags {
                let Some(rest) = t
                    .to_ascii_lowercase()
                    .strip_prefix("attack.")
                    .map(str::to_owned)
                else {
                    continue;
                };
                let rest = rest.replace('_', "-");
                if let Some(tac) = TACTICS.iter().find(|x| **x == rest) {
                    tactics.push(*tac);
                } else if rest.len() > 1
                    && rest.starts_with('t')
                    && rest[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
                {
                    techniques.push(rest.to_ascii_uppercase());
                }
            }
            rules.push(RuleInfo {
                id: meta.key(),
                title: meta.title.clone(),
                level: meta.level.clone().unwrap_or_default(),
                logsource: label(&meta.logsource),
                labels: rule_labels
                    .get(i)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default(),
                tactics,
                techniques,
            });
        }
        st.entry_label = entry_label;
        st.rules = rules;
        st.catalog = catalog;
        st.errors = loaded
            .errors
            .iter()
            .map(|e| LoadError {
                origin: e.origin.clone(),
                line: e.line,
                reason: e.reason.clone(),
            })
            .chain(loaded.metric_errors.iter().map(|e| LoadError {
                origin: "metric rules".to_owned(),
                line: 0,
                reason: e.clone(),
            }))
            .collect();
    }

    /// Records one evaluated event: `seen` is what the engine recognized.
    pub fn record(&self, event: &Event, seen: &[ward_sigma::Seen], now_ms: i64) {
        let tenant = event.get_str("tenant.id").unwrap_or("default");
        let mut st = self.state.lock();
        let t = st.tenant(tenant);
        if seen.is_empty() {
            let u = st.unseen.entry(t).or_default();
            u.count.events += 1;
            u.count.last_ms = now_ms;
            let due = u.examples.len() < EXAMPLES || now_ms - u.last_example_ms >= EXAMPLE_EVERY_MS;
            if due {
                u.last_example_ms = now_ms;
                if u.examples.len() >= EXAMPLES {
                    u.examples.pop_front();
                }
                u.examples.push_back(example(event, now_ms));
            }
            return;
        }
        for s in seen {
            for &e in &s.entries {
                let Some(&l) = st
                    .entry_label
                    .get(s.pipeline)
                    .and_then(|row| row.get(e as usize))
                else {
                    continue;
                };
                let c = st.seen.entry((t, l)).or_default();
                c.events += 1;
                c.last_ms = now_ms;
            }
        }
    }

    /// What this node counted, for the other nodes of a cluster: the
    /// newest [`MAX_SHARED_COUNTS`] (tenant, log source) counts and
    /// [`MAX_SHARED_UNSEEN`] tenants' events no rule could see.
    pub fn share(&self, node: &str) -> Share {
        let st = self.state.lock();
        let name = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_default();
        let mut seen: Vec<SharedCount> = st
            .seen
            .iter()
            .map(|(&(t, l), c)| SharedCount {
                tenant: name(&st.tenants, t),
                logsource: name(&st.labels, l),
                events: c.events,
                last_ms: c.last_ms,
            })
            .collect();
        seen.sort_by(|a, b| {
            b.last_ms
                .cmp(&a.last_ms)
                .then_with(|| (&a.tenant, &a.logsource).cmp(&(&b.tenant, &b.logsource)))
        });
        seen.truncate(MAX_SHARED_COUNTS);
        let mut unseen: Vec<SharedUnseen> = st
            .unseen
            .iter()
            .map(|(&t, u)| SharedUnseen {
                tenant: name(&st.tenants, t),
                events: u.count.events,
                last_ms: u.count.last_ms,
                examples: u.examples.iter().cloned().collect(),
            })
            .collect();
        unseen.sort_by(|a, b| {
            b.last_ms
                .cmp(&a.last_ms)
                .then_with(|| a.tenant.cmp(&b.tenant))
        });
        unseen.truncate(MAX_SHARED_UNSEEN);
        Share {
            node: node.to_owned(),
            started_ms: self.started_ms.load(std::sync::atomic::Ordering::Relaxed),
            seen,
            unseen,
        }
    }

    /// Takes another node's newest share (cluster mode), which reports
    /// then add to this node's counts. A share over the bounds a node
    /// sends is refused, as is one from beyond [`MAX_PEERS`] nodes.
    pub fn set_peer(&self, share: Share) -> Result<(), String> {
        if share.seen.len() > MAX_SHARED_COUNTS || share.unseen.len() > MAX_SHARED_UNSEEN {
            return Err(format!(
                "{} counts and {} tenants' unseen events, more than a node shares",
                share.seen.len(),
                share.unseen.len()
            ));
        }
        if share.unseen.iter().any(|u| u.examples.len() > EXAMPLES) {
            return Err(format!("more than {EXAMPLES} examples for a tenant"));
        }
        // Names as this node would have kept them: nothing longer.
        let long = |t: &str, max: usize| t.chars().count() > max;
        let bad_example = |e: &Example| {
            e.fields.len() > EXAMPLE_FIELDS
                || e.fields.iter().any(|f| long(f, MAX_FIELD_NAME))
                || [
                    Some(&e.event_id),
                    Some(&e.logsource),
                    e.dataset.as_ref(),
                    e.source.as_ref(),
                ]
                .into_iter()
                .flatten()
                .any(|t| long(t, MAX_SHARED_NAME))
        };
        if share
            .seen
            .iter()
            .any(|c| long(&c.tenant, MAX_SHARED_NAME) || long(&c.logsource, MAX_SHARED_NAME))
            || share
                .unseen
                .iter()
                .any(|u| long(&u.tenant, MAX_SHARED_NAME) || u.examples.iter().any(bad_example))
        {
            return Err(format!(
                "a name over {MAX_SHARED_NAME} characters, or an example with more or longer field names than a node keeps"
            ));
        }
        let mut st = self.state.lock();
        if !st.peers.contains_key(&share.node) && st.peers.len() >= MAX_PEERS {
            return Err(format!("more than {MAX_PEERS} nodes"));
        }
        let node = share.node.clone();
        let peer = st.peer(share);
        st.peers.insert(node, peer);
        Ok(())
    }

    /// The coverage seen by a caller of `tenant` (None: every tenant) over
    /// the `window_ms` before `now_ms`.
    pub fn report(
        &self,
        tenant: Option<&str>,
        window: &str,
        window_ms: i64,
        now_ms: i64,
    ) -> Report {
        let mut started_ms = self.started_ms.load(std::sync::atomic::Ordering::Relaxed);
        let st = self.state.lock();
        let (seen, unseen_by_tenant, peers_started) = st.merged();
        if peers_started > 0 && (started_ms == 0 || peers_started < started_ms) {
            started_ms = peers_started;
        }
        let cutoff = now_ms.saturating_sub(window_ms);
        let visible =
            |t: usize| tenant.is_none_or(|name| st.tenants.get(t).is_some_and(|x| x == name));
        let by_label = st.by_label(&seen, tenant);
        let live = live_labels(&by_label, cutoff);
        let with_data = |r: &RuleInfo| r.labels.iter().any(|l| live.contains(l));
        let mut rules_per_label: HashMap<usize, usize> = HashMap::new();
        for r in &st.rules {
            for l in &r.labels {
                *rules_per_label.entry(*l).or_default() += 1;
            }
        }
        let mut sources: Vec<SourceRow> = by_label
            .iter()
            .map(|(l, c)| SourceRow {
                logsource: st.labels.get(*l).cloned().unwrap_or_default(),
                events_total: c.events,
                last_seen: rfc3339(c.last_ms),
                in_window: c.last_ms >= cutoff,
                rules: rules_per_label.get(l).copied().unwrap_or(0),
            })
            .collect();
        sources.sort_by_key(|s| std::cmp::Reverse(s.events_total));
        let mut blind: Vec<BlindRule> = st
            .rules
            .iter()
            .filter(|r| !with_data(r))
            .map(|r| BlindRule {
                id: r.id.clone(),
                title: r.title.clone(),
                level: r.level.clone(),
                logsource: r.logsource.clone(),
            })
            .collect();
        blind.sort_by(|a, b| a.logsource.cmp(&b.logsource).then(a.title.cmp(&b.title)));
        let mut unseen = Count::default();
        let mut examples = Vec::new();
        for (&t, u) in &unseen_by_tenant {
            if visible(t) {
                unseen.events = unseen.events.saturating_add(u.count.events);
                unseen.last_ms = unseen.last_ms.max(u.count.last_ms);
                examples.extend(u.examples.iter().cloned());
            }
        }
        examples.sort_by(|a, b| b.seen_at.cmp(&a.seen_at));
        examples.truncate(EXAMPLES * 2);
        let attack = TACTICS
            .iter()
            .map(|tac| {
                let rs: Vec<&RuleInfo> = st
                    .rules
                    .iter()
                    .filter(|r| r.tactics.contains(tac))
                    .collect();
                let techs: BTreeSet<&str> = rs
                    .iter()
                    .flat_map(|r| r.techniques.iter().map(String::as_str))
                    .collect();
                let techs_live: BTreeSet<&str> = rs
                    .iter()
                    .filter(|r| with_data(r))
                    .flat_map(|r| r.techniques.iter().map(String::as_str))
                    .collect();
                TacticRow {
                    tactic: (*tac).to_owned(),
                    rules: rs.len(),
                    rules_with_data: rs.iter().filter(|r| with_data(r)).count(),
                    techniques: techs.len(),
                    techniques_with_data: techs_live.len(),
                }
            })
            .collect();
        Report {
            window: window.to_owned(),
            counting_since: rfc3339(started_ms),
            detection_rules: st.rules.len(),
            rules_with_data: st.rules.len() - blind.len(),
            sources,
            blind_rules: blind,
            unseen_events_total: unseen.events,
            unseen_last: (unseen.events > 0).then(|| rfc3339(unseen.last_ms)),
            unseen_examples: examples,
            attack,
        }
    }
}

fn example(event: &Event, now_ms: i64) -> Example {
    let logsource = match event.get_str("ward.logsource.product") {
        None => "unrecognized".to_owned(),
        Some(p) => {
            let part = |k: &str| event.get_str(k).unwrap_or("-");
            format!(
                "{p}/{}/{}",
                part("ward.logsource.service"),
                part("ward.logsource.category")
            )
        }
    };
    let mut fields: Vec<String> = event
        .0
        .keys()
        .filter(|k| k.as_str() != "ward")
        .take(EXAMPLE_FIELDS)
        // A sender chooses its field names: keep each short.
        .map(|k| k.chars().take(MAX_FIELD_NAME).collect())
        .collect();
    fields.sort();
    Example {
        event_id: event.get_str("event.id").unwrap_or_default().to_owned(),
        logsource,
        dataset: event.get_str("event.dataset").map(str::to_owned),
        source: event.get_str("ward.source").map(str::to_owned),
        fields,
        seen_at: rfc3339(now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn loaded() -> Loaded {
        super::super::rules::load(true, &[], &[])
    }

    fn object(v: serde_json::Value) -> Event {
        Event(v.as_object().cloned().unwrap_or_default())
    }

    fn failed_login() -> Event {
        object(
            json!({"event": {"category": ["authentication"], "action": "login", "outcome": "failure"},
                   "user": {"name": "bob"}, "tenant": {"id": "acme"}}),
        )
    }

    /// An event of acme's that no log source recognizes.
    fn odd_event() -> Event {
        object(json!({"weird": 1, "tenant": {"id": "acme"}, "event": {"id": "e2"}}))
    }

    #[test]
    fn the_builtin_pack_starts_blind_and_sees_what_arrives() {
        let l = loaded();
        let cov = Coverage::default();
        cov.set_rules(&l);
        let r = cov.report(None, "24h", 86_400_000, 1_000_000);
        assert!(r.detection_rules > 10, "{}", r.detection_rules);
        assert_eq!(r.rules_with_data, 0);
        assert_eq!(r.blind_rules.len(), r.detection_rules);
        assert!(r.attack.iter().any(|t| t.rules > 0));

        let mut ev = crate::detect::Evaluator::new(l, None);
        let mut login = failed_login();
        ev.evaluate(&mut login, "e1");
        assert!(
            !ev.seen.is_empty(),
            "an authentication event has a log source"
        );
        cov.record(&login, &ev.seen, 1_000_000);
        let mut odd = odd_event();
        ev.evaluate(&mut odd, "e2");
        cov.record(&odd, &ev.seen, 1_000_000);

        let r = cov.report(None, "24h", 86_400_000, 1_000_000);
        assert!(r.rules_with_data > 0);
        assert!(r.blind_rules.len() < r.detection_rules);
        assert!(
            r.sources
                .iter()
                .any(|s| s.logsource.contains("authentication") && s.in_window),
            "{:?}",
            r.sources
        );
        assert_eq!(r.unseen_events_total, u64::from(ev.seen.is_empty()));
        // Another tenant sees none of it.
        let other = cov.report(Some("globex"), "24h", 86_400_000, 1_000_000);
        assert_eq!(other.rules_with_data, 0);
        assert!(other.sources.is_empty());
        assert_eq!(other.unseen_events_total, 0);
        // Outside the window the data no longer counts.
        let later = cov.report(None, "1h", 3_600_000, 1_000_000 + 7_200_000);
        assert_eq!(later.rules_with_data, 0);
        assert!(later.sources.iter().all(|s| !s.in_window));
    }

    #[test]
    fn examples_keep_field_names_never_values() {
        let cov = Coverage::default();
        let ev = Event(
            json!({"password_hint": "hunter2", "event": {"id": "x1"}, "tenant": {"id": "t"}})
                .as_object()
                .unwrap()
                .clone(),
        );
        cov.record(&ev, &[], 5);
        let r = cov.report(None, "24h", 86_400_000, 10);
        assert_eq!(r.unseen_events_total, 1);
        let text = serde_json::to_string(&r.unseen_examples).unwrap();
        assert!(text.contains("password_hint"));
        assert!(!text.contains("hunter2"), "{text}");
        let long = Event(
            json!({"x".repeat(10_000): 1, "tenant": {"id": "t"}})
                .as_object()
                .unwrap()
                .clone(),
        );
        cov.record(&long, &[], 6);
        let r = cov.report(None, "24h", 86_400_000, 10);
        assert!(
            r.unseen_examples
                .iter()
                .all(|e| e.fields.iter().all(|f| f.chars().count() <= 128))
        );
    }

    #[test]
    fn a_cluster_report_adds_every_other_node_s_share() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.yml");
        std::fs::write(
            &path,
            "title: Failed login\nid: r1\nlogsource: { category: authentication }\n\
             detection: { sel: { event.outcome: failure }, condition: sel }\n---\n\
             title: Process\nid: r2\nlogsource: { category: process_creation, product: windows }\n\
             detection: { sel: { Image|endswith: x.exe }, condition: sel }\n",
        )
        .unwrap();
        let l = super::super::rules::load(false, &[path], &[]);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        let (a, b) = (Coverage::default(), Coverage::default());
        a.set_rules(&l);
        b.set_rules(&l);
        let mut ev = crate::detect::Evaluator::new(l, None);
        let mut login = failed_login();
        ev.evaluate(&mut login, "e1");
        b.record(&login, &ev.seen, 1_000_000);
        let mut odd = odd_event();
        ev.evaluate(&mut odd, "e2");
        b.record(&odd, &ev.seen, 1_000_000);
        let report = |c: &Coverage, t: Option<&str>| c.report(t, "24h", 86_400_000, 1_000_000);
        assert_eq!(report(&a, None).rules_with_data, 0);
        let share = b.share("b");
        // What a node publishes reads back as it was written.
        let text = serde_json::to_string(&share).unwrap();
        assert_eq!(serde_json::from_str::<Share>(&text).unwrap(), share);
        assert!(!text.contains("bob"), "counts and field names only: {text}");
        a.set_peer(share.clone()).unwrap();
        let (got, want) = (report(&a, None), report(&b, None));
        assert_eq!(got.rules_with_data, want.rules_with_data);
        assert_eq!(got.sources, want.sources);
        assert_eq!(want.unseen_events_total, 1, "{want:?}");
        assert_eq!((want.rules_with_data, want.detection_rules), (1, 2));
        assert_eq!(got.unseen_events_total, 1);
        assert_eq!(got.unseen_examples, want.unseen_examples);
        // A caller sees its own tenant's data only, peers' included.
        assert_eq!(
            report(&a, Some("acme")).rules_with_data,
            want.rules_with_data
        );
        assert_eq!(report(&a, Some("other")).rules_with_data, 0);
        assert_eq!(report(&a, Some("other")).unseen_events_total, 0);
        // A newer share replaces the node's last one; it does not add.
        a.set_peer(share.clone()).unwrap();
        assert_eq!(report(&a, None).sources, want.sources);
        // And this node's own counts add to the peers'.
        ev.evaluate(&mut login, "e3");
        a.record(&login, &ev.seen, 1_000_000);
        let twice = report(&a, None);
        let events = |r: &Report| r.sources.iter().map(|s| s.events_total).sum::<u64>();
        assert_eq!(events(&twice), 2 * events(&want));
        // Shares over the bounds a node sends are refused.
        let mut big = share.clone();
        big.node = "c".into();
        big.seen = vec![share.seen[0].clone(); MAX_SHARED_COUNTS + 1];
        assert!(
            a.set_peer(big)
                .unwrap_err()
                .contains("more than a node shares")
        );
        let mut many = share;
        many.node = "d".into();
        many.unseen[0].examples = vec![many.unseen[0].examples[0].clone(); EXAMPLES + 1];
        assert!(a.set_peer(many.clone()).unwrap_err().contains("examples"));
        let mut long = many;
        long.unseen[0].examples.truncate(1);
        long.seen[0].tenant = "t".repeat(MAX_SHARED_NAME + 1);
        assert!(a.set_peer(long.clone()).unwrap_err().contains("characters"));
        long.seen[0].tenant = "acme".into();
        long.unseen[0].examples[0].fields = vec!["f".repeat(MAX_FIELD_NAME + 1)];
        assert!(a.set_peer(long).unwrap_err().contains("field names"));
    }
}
