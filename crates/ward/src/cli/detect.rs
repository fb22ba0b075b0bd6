//! `ward detect --rules DIR FILE…`: offline hunting. Events are read from
//! NDJSON, JSON-array or `evtx_dump` JSON files, prepared the way live
//! ingest prepares them (normalized to ECS, redacted, scored for prompt
//! injection; `--raw` skips this), and run through Sigma rules,
//! correlations and Ward metric rules. Prints a summary table per rule, or
//! one finding per line with `--format ndjson`. Output never contains event
//! field values, only rule metadata and event positions.

mod input;

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Map, Value, json};
use ward_sigma::{MatchedField, Seen};

use crate::detect::Evaluator;
use crate::detect::evaluate::{Detection, Kind};
use crate::detect::rules::Loaded;
use crate::model::Event;

pub use input::{Body, Item, RawEvent, read_all, read_bytes, read_file};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A summary table per rule.
    Text,
    /// One finding per line (JSON), then the summary on stderr.
    Ndjson,
}

/// Arguments of `ward detect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files or directories (Sigma and Ward metric rules); repeatable.
    #[arg(long = "rules", short = 'r', required_unless_present = "builtin")]
    pub rules: Vec<PathBuf>,
    /// Also run Ward's built-in rule pack.
    #[arg(long)]
    pub builtin: bool,
    /// Extra field-mapping pipeline files (the built-in ones always load).
    #[arg(long = "pipeline")]
    pub pipelines: Vec<PathBuf>,
    /// Match events as they are in the files: no ECS normalization,
    /// redaction or prompt-injection scoring (the log source is still
    /// recognized, which only adds fields).
    #[arg(long)]
    pub raw: bool,
    /// Learn behavioural baselines over the files, as live detection does,
    /// and let baseline rules judge the deviations (otherwise the events'
    /// own `ward.baseline.*` fields, if any, are used as they are).
    #[arg(long)]
    pub baselines: bool,
    /// Read every event with this recognizer, whatever its shape, as an
    /// ingest source declaring it does (`aws.cloudtrail`, `linux.sshd`, ...).
    #[arg(long, value_parser = recognizer_name)]
    pub recognizer: Option<String>,
    /// Threads that prepare events and match the Sigma rules (0: one per
    /// core this process may use). Findings, correlations and their order
    /// are those of one thread; with `--baselines` events go one by one.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Hide the progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Event files: NDJSON, a JSON array, or evtx_dump JSON/JSONL.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// A recognizer Ward has, for `--recognizer`.
fn recognizer_name(name: &str) -> Result<String, String> {
    if ward_event::recognize::names().any(|n| n == name) {
        Ok(name.to_owned())
    } else {
        let known: Vec<&str> = ward_event::recognize::names().collect();
        Err(format!(
            "no recognizer is called {name:?}; use one of {}",
            known.join(", ")
        ))
    }
}

/// The receive context [`ward_event::finalize`] stamps, kept as exported.
const RECEIVE_CONTEXT: [&str; 3] = ["ward.input", "ward.source", "tenant.id"];

/// Turns raw objects into events as live ingest does.
pub struct Prepare {
    redactor: ward_redact::Redactor,
    detector: ward_prompt::Detector,
    key: [u8; 32],
    ctx: ward_event::Context,
}

impl Prepare {
    /// Default redaction settings, a fresh hashing key, receive time now;
    /// `declared` names the recognizer for every event (`--recognizer`).
    pub fn new(declared: Option<String>) -> anyhow::Result<Prepare> {
        let redactor = ward_redact::Redactor::new(&ward_redact::RedactConfig::default())?;
        Ok(Prepare {
            redactor,
            detector: ward_prompt::Detector::new(),
            key: rand::random(),
            ctx: ward_event::Context {
                input: "file".into(),
                source: "ward-detect".into(),
                tenant: "default".into(),
                received: jiff::Timestamp::now(),
                declared,
            },
        })
    }

    /// Normalizes, redacts and enriches one object; its reserved fields
    /// (`ward.*`, `event.id`…) are kept. The event's position
    /// becomes its `event.id` when it has none. An object the decoder
    /// rejects (too deep, too large) is an error naming its position.
    pub fn event(&self, raw: RawEvent) -> Result<Event, String> {
        let position = raw.position.clone();
        let line = raw.into_json()?;
        let mut event = match ward_event::ndjson::decode(&line, &ward_event::Limits::default())
            .into_iter()
            .next()
        {
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                return Err(format!("{position}: cannot be normalized: {}", e.reason));
            }
            None => return Err(format!("{position}: empty event")),
        };
        // The analyst's own files (often events exported from Ward): their
        // Ward fields are kept as written, unlike a network sender's.
        ward_event::restore_quarantined(&mut event);
        if event.get("event.id").is_none() {
            event.set("event.id", json!(position));
        }
        // An exported event keeps where it was received, so rules about
        // Ward's own events (`ward.input: ward`) judge it as live did.
        let received: Vec<(&str, Value)> = RECEIVE_CONTEXT
            .iter()
            .filter_map(|f| {
                event
                    .get(f)
                    .filter(|v| v.is_string())
                    .map(|v| (*f, v.clone()))
            })
            .collect();
        ward_event::finalize(&mut event, &self.ctx);
        for (field, value) in received {
            event.set(field, value);
        }
        self.redactor.redact_event(&mut event.0, &self.key);
        crate::detect::enrich::prompt_injection(&self.detector, &mut event);
        Ok(event)
    }

    /// The event of `raw` as live ingest prepares it, or (without `self`,
    /// `--raw`) as it is in the file with its log source recognized.
    /// `declared` is the recognizer named for the raw case.
    pub fn prepare(
        this: Option<&Prepare>,
        raw: RawEvent,
        declared: Option<&str>,
    ) -> Result<Event, String> {
        match this {
            Some(p) => p.event(raw),
            None => raw_event(raw, declared),
        }
    }
}

/// An event as it is in the file, with its position as `event.id` if it has
/// none, and its log source recognized (which only adds fields).
pub fn raw_event(raw: RawEvent, declared: Option<&str>) -> Result<Event, String> {
    let position = raw.position.clone();
    let mut event = Event(raw.into_object()?);
    ward_event::recognize::recognize(&mut event, declared);
    if event.get("event.id").is_none() && event.get("Event.System.EventRecordID").is_none() {
        event.set("event.id", json!(position));
    }
    Ok(event)
}

pub use crate::detect::evaluate::event_time_ms;

/// One thing a rule found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    #[serde(rename = "rule.id")]
    pub rule_id: String,
    #[serde(rename = "rule.title")]
    pub title: String,
    #[serde(rename = "rule.level")]
    pub level: String,
    /// detection, correlation or metric.
    #[serde(rename = "rule.kind")]
    pub kind: &'static str,
    /// Where the (last) event is: `file:line` or `file[index]`.
    pub position: String,
    #[serde(rename = "event.id")]
    pub event_id: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub group: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// Fields that matched (detections only; not serialized).
    #[serde(skip)]
    pub fields: Vec<MatchedField>,
    /// The event's recognized log source (`product/service/category`).
    #[serde(rename = "ward.logsource", skip_serializing_if = "Option::is_none")]
    pub logsource: Option<String>,
    /// The pipelines and log sources the event got.
    #[serde(rename = "ward.pipelines", skip_serializing_if = "Option::is_none")]
    pub pipelines: Option<String>,
}

/// The offline side of the one evaluation path
/// ([`crate::detect::Evaluator`]): findings as hits with the event's
/// position.
pub struct Hunt {
    pub evaluator: Evaluator,
    /// Whether building-block matches are reported too (`rules test`).
    pub show_building_blocks: bool,
}

impl Hunt {
    /// Builds the state for a loaded rule set, without baselines.
    pub fn new(loaded: Loaded) -> Hunt {
        Hunt {
            evaluator: Evaluator::new(loaded, None),
            show_building_blocks: false,
        }
    }

    /// The loaded rules.
    pub fn loaded(&self) -> &Loaded {
        &self.evaluator.loaded
    }

    /// Whether a rule only feeds correlations.
    pub fn is_building_block(&self, rule_id: &str) -> bool {
        self.evaluator.loaded.building_blocks.contains(rule_id)
    }

    /// Runs every rule on one event (enriching it with baselines when they
    /// are on).
    pub fn feed(&mut self, event: &mut Event, position: &str) -> Vec<Hit> {
        let event_id = hunt_event_id(event, position);
        let found = self.evaluator.evaluate(event, &event_id);
        self.hits(found, position, &event_id)
    }

    /// [`Hunt::feed`] for an event whose Sigma matches were found on
    /// another thread (only without baselines: see
    /// [`Evaluator::matches_apart`]).
    pub fn feed_matched(
        &mut self,
        event: &mut Event,
        position: &str,
        matches: &[ward_sigma::Match],
        seen: Vec<Seen>,
    ) -> Vec<Hit> {
        let event_id = hunt_event_id(event, position);
        let found = self
            .evaluator
            .evaluate_matched(event, &event_id, matches, seen);
        self.hits(found, position, &event_id)
    }

    /// Which pipelines and log sources the last fed event got.
    pub fn last_seen(&self) -> &[Seen] {
        &self.evaluator.seen
    }

    /// `pipeline: product/service/category, ...` for the last fed event,
    /// or `no pipeline` when no rule could see it.
    pub fn describe_seen(&self) -> String {
        let engine = &self.evaluator.loaded.engine;
        let parts: Vec<String> = self
            .last_seen()
            .iter()
            .map(|s| {
                let name = engine.pipeline_name(s.pipeline).unwrap_or("?");
                let ls: Vec<String> = s
                    .entries
                    .iter()
                    .filter_map(|&e| engine.entry_logsource(s.pipeline, e))
                    .map(|l| {
                        let part = |v: &Option<String>| v.as_deref().unwrap_or("-").to_owned();
                        format!(
                            "{}/{}/{}",
                            part(&l.product),
                            part(&l.service),
                            part(&l.category)
                        )
                    })
                    .collect();
                format!("{name}: {}", ls.join(", "))
            })
            .collect();
        if parts.is_empty() {
            "no pipeline (no loaded rule has this log source)".to_owned()
        } else {
            parts.join("; ")
        }
    }

    fn hits(&self, found: Vec<Detection>, position: &str, event_id: &str) -> Vec<Hit> {
        found
            .into_iter()
            .filter(|d| self.show_building_blocks || !d.building_block)
            .map(|d| {
                let f = d.finding;
                let derived = d.kind != Kind::Detection;
                Hit {
                    rule_id: f.rule_id,
                    title: f.rule_title,
                    level: f.level,
                    kind: d.kind.as_str(),
                    position: position.to_owned(),
                    event_id: event_id.to_owned(),
                    group: if derived {
                        f.group_key
                    } else {
                        BTreeMap::new()
                    },
                    value: f.value,
                    evidence: if derived { f.evidence } else { Vec::new() },
                    fields: d.fields,
                    logsource: None,
                    pipelines: None,
                }
            })
            .collect()
    }
}

/// An event prepared (and matched, on a worker) with its position, or an
/// error and whether it counts as a read event.
type Prepared = Result<(String, Event, Vec<ward_sigma::Match>, Vec<Seen>), (bool, String)>;

/// Events per batch a worker takes.
const BATCH: usize = 256;

/// How findings name an event: its `event.id`, else its Windows record
/// id, else its position in the file.
fn hunt_event_id(event: &Event, position: &str) -> String {
    event
        .get_str("event.id")
        .map(str::to_owned)
        .or_else(|| {
            event
                .get("Event.System.EventRecordID")
                .map(|v| v.to_string().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| position.to_owned())
}

/// Loads rules for the offline commands: configured paths (and the
/// built-in pack if asked), built-in plus extra pipelines. Returns the
/// loaded set and every loading error as text.
pub fn load_rules(
    builtin: bool,
    paths: &[PathBuf],
    pipelines: &[PathBuf],
) -> (Loaded, Vec<String>) {
    let loaded = crate::detect::rules::load(builtin, paths, pipelines);
    let mut errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    errors.extend(loaded.metric_errors.iter().cloned());
    (loaded, errors)
}

/// Rank of a Sigma level, for sorting (critical first).
pub fn level_rank(level: &str) -> u8 {
    match level {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        _ => 4,
    }
}

/// Reads, prepares and (with `engine`) matches one input item.
fn prepare_one(
    prepare: Option<&Prepare>,
    declared: Option<&str>,
    item: Item,
    engine: Option<&ward_sigma::Engine>,
) -> Prepared {
    let raw = item.map_err(|e| (false, e))?;
    let position = raw.position.clone();
    let event = Prepare::prepare(prepare, raw, declared).map_err(|e| (true, e))?;
    let mut seen = Vec::new();
    let matches = engine
        .map(|e| e.matches_seen(&event.0, &mut seen))
        .unwrap_or_default();
    Ok((position, event, matches, seen))
}

/// Runs `ward detect`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (loaded, errors) = load_rules(args.builtin, &args.rules, &args.pipelines);
    for e in &errors {
        eprintln!("{e}");
    }
    if loaded.set.is_empty() && loaded.metric.is_empty() {
        anyhow::bail!(
            "no rule loaded from {:?}: check the paths and the errors above",
            args.rules
        );
    }
    let mut hunt = Hunt::new(loaded);
    if args.baselines {
        hunt.evaluator.baselines = Some(Default::default());
    }
    let prepare = if args.raw {
        None
    } else {
        Some(std::sync::Arc::new(Prepare::new(args.recognizer.clone())?))
    };
    let total: u64 = args
        .files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bar:30} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut out = super::out();
    let mut tally = Tally::default();
    let mut failed: Option<anyhow::Error> = None;
    let workers = match args.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let apart = workers > 1 && hunt.evaluator.matches_apart();
    // The workers' own copy of the compiled rules (its automata are
    // shared), so that the one thread concluding in log order may change
    // the correlation state meanwhile.
    let engine = apart.then(|| hunt.evaluator.loaded.engine.clone());
    let declared = args.recognizer.as_deref();
    let mut conclude = |p: Prepared, tally: &mut Tally, failed: &mut Option<anyhow::Error>| {
        if failed.is_some() {
            return;
        }
        let (position, mut event, matches, seen) = match p {
            Ok(p) => p,
            Err((read, e)) => {
                tally.events += u64::from(read);
                tally.input_errors += 1;
                bar.suspend(|| eprintln!("{e}"));
                return;
            }
        };
        tally.events += 1;
        let hits = if apart {
            hunt.feed_matched(&mut event, &position, &matches, seen)
        } else {
            hunt.feed(&mut event, &position)
        };
        tally.saw(&event, hunt.last_seen());
        let (logsource, pipelines) = if hits.is_empty() {
            (None, None)
        } else {
            (Some(logsource_label(&event)), Some(hunt.describe_seen()))
        };
        for mut h in hits {
            h.logsource.clone_from(&logsource);
            h.pipelines.clone_from(&pipelines);
            if args.format == Format::Ndjson {
                let line = serde_json::to_writer(&mut out, &h)
                    .map_err(anyhow::Error::from)
                    .and_then(|()| out.write_all(b"\n").map_err(anyhow::Error::from));
                if let Err(e) = line {
                    *failed = Some(e);
                }
            }
            tally.hit(&h);
        }
    };
    match &engine {
        // One event at a time through every step while it is in the cache.
        None => {
            for file in &args.files {
                bar.set_message(file.display().to_string());
                read_file(file, &mut |item| {
                    let p = prepare_one(prepare.as_deref(), declared, item, None);
                    conclude(p, &mut tally, &mut failed);
                });
                bar.inc(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
            }
        }
        // Workers that live for the whole run (their caches stay warm)
        // prepare and match batches; this thread reads, and concludes the
        // results in log order as they come back.
        Some(engine) => {
            let pool = crate::detect::workers::Workers::new(workers + 1);
            let f: std::sync::Arc<dyn Fn(Item) -> Prepared + Send + Sync> = {
                let (prepare, declared, engine) =
                    (prepare.clone(), args.recognizer.clone(), engine.clone());
                std::sync::Arc::new(move |item| {
                    prepare_one(prepare.as_deref(), declared.as_deref(), item, Some(&engine))
                })
            };
            let mut in_flight = std::collections::VecDeque::new();
            let mut sent = 0usize;
            let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
            for file in &args.files {
                bar.set_message(file.display().to_string());
                read_file(file, &mut |item| {
                    batch.push(item);
                    if batch.len() < BATCH || failed.is_some() {
                        return;
                    }
                    in_flight.push_back(pool.start(sent, std::mem::take(&mut batch), f.clone()));
                    sent += 1;
                    while in_flight.len() > workers * 2
                        && let Some(oldest) = in_flight.pop_front()
                    {
                        for p in oldest.wait() {
                            conclude(p, &mut tally, &mut failed);
                        }
                    }
                });
                bar.inc(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
            }
            if !batch.is_empty() && failed.is_none() {
                in_flight.push_back(pool.start(sent, batch, f.clone()));
            }
            for pending in in_flight {
                for p in pending.wait() {
                    conclude(p, &mut tally, &mut failed);
                }
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    bar.finish_and_clear();
    let table = tally.report(hunt.loaded(), args.files.len());
    if args.format == Format::Ndjson {
        out.flush()?;
        eprint!("{table}");
    } else {
        out.write_all(table.as_bytes())?;
        out.flush()?;
    }
    Ok(if tally.input_errors > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// What a hunt saw: findings per rule, events per recognized log source,
/// events no rule could see, and which rules' log sources got events.
#[derive(Default)]
pub struct Tally {
    pub events: u64,
    pub input_errors: usize,
    findings: HashMap<String, (String, String, u64)>,
    /// `product/service/category` (or `unrecognized`) -> events.
    logsources: BTreeMap<String, u64>,
    pub unseen: u64,
    /// (pipeline, logsource entry) pairs that some event got.
    entries: std::collections::HashSet<(usize, u32)>,
}

impl Tally {
    /// Counts one evaluated event (`seen`: what the engine recognized).
    pub fn saw(&mut self, event: &Event, seen: &[Seen]) {
        *self.logsources.entry(logsource_label(event)).or_default() += 1;
        if seen.is_empty() {
            self.unseen += 1;
        }
        for s in seen {
            for &e in &s.entries {
                self.entries.insert((s.pipeline, e));
            }
        }
    }

    /// Detection rules no event of whose log source came: (title, id,
    /// logsource).
    pub fn blind_rules(&self, loaded: &Loaded) -> Vec<(String, String, String)> {
        let engine = &loaded.engine;
        let mut covered = vec![false; engine.len()];
        for &(p, e) in &self.entries {
            for r in engine.entry_rules(p, e) {
                if let Some(c) = covered.get_mut(r) {
                    *c = true;
                }
            }
        }
        let mut out = Vec::new();
        for (i, meta) in loaded.set.rules().enumerate() {
            let detection = matches!(
                loaded.set.rule(i).map(|r| &r.body),
                Some(ward_sigma::RuleBody::Detection(_))
            );
            if detection && !covered.get(i).copied().unwrap_or(true) {
                let ls = &meta.logsource;
                let part = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                out.push((
                    meta.title.clone(),
                    meta.key(),
                    format!(
                        "{}/{}/{}",
                        part(&ls.product),
                        part(&ls.service),
                        part(&ls.category)
                    ),
                ));
            }
        }
        out
    }

    fn hit(&mut self, h: &Hit) {
        self.findings
            .entry(h.rule_id.clone())
            .or_insert_with(|| (h.title.clone(), h.level.clone(), 0))
            .2 += 1;
    }

    /// The summary: findings per rule, then rules loaded, events per log
    /// source, events no rule could see, rules without events.
    pub fn report(&self, loaded: &Loaded, files: usize) -> String {
        let mut rows: Vec<(String, String, String, u64)> = self
            .findings
            .iter()
            .map(|(id, (t, l, n))| (id.clone(), t.clone(), l.clone(), *n))
            .collect();
        rows.sort_by(|a, b| {
            level_rank(&a.2)
                .cmp(&level_rank(&b.2))
                .then(b.3.cmp(&a.3))
                .then(a.1.cmp(&b.1))
        });
        let mut s = summary_table(&rows, self.events, files);
        let rules = loaded.set.len() + loaded.metric.len();
        s.push_str(&format!("{rules} rules loaded\n"));
        s.push_str("events by log source (product/service/category):\n");
        for (ls, n) in &self.logsources {
            s.push_str(&format!("  {n:>10}  {ls}\n"));
        }
        s.push_str(&format!(
            "{} events no rule could see (no loaded rule has their log source)\n",
            self.unseen
        ));
        let blind = self.blind_rules(loaded);
        let mut by_ls: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, _, ls) in &blind {
            *by_ls.entry(ls.as_str()).or_default() += 1;
        }
        s.push_str(&format!(
            "{} rules had no event of their log source (they could not fire):\n",
            blind.len()
        ));
        for (ls, n) in by_ls.iter().take(20) {
            s.push_str(&format!("  {n:>10}  {ls}\n"));
        }
        if by_ls.len() > 20 {
            s.push_str(&format!("  … and {} more log sources\n", by_ls.len() - 20));
        }
        s
    }
}

/// `product/service/category` of an event's recognized log source.
pub fn logsource_label(event: &Event) -> String {
    match event.get_str("ward.logsource.product") {
        None => "unrecognized".to_owned(),
        Some(p) => {
            let part = |k: &str| event.get_str(k).unwrap_or("-");
            format!(
                "{p}/{}/{}",
                part("ward.logsource.service"),
                part("ward.logsource.category")
            )
        }
    }
}

/// The per-rule summary: level, count, title, id.
pub fn summary_table(rows: &[(String, String, String, u64)], events: u64, files: usize) -> String {
    let mut s = String::new();
    let title_w = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 70);
    s.push_str(&format!(
        "{:<13} {:>8}  {:<title_w$}  {}\n",
        "LEVEL", "FINDINGS", "TITLE", "RULE ID"
    ));
    for (id, title, level, n) in rows {
        let title: String = title.chars().take(title_w).collect();
        s.push_str(&format!("{level:<13} {n:>8}  {title:<title_w$}  {id}\n"));
    }
    let findings: u64 = rows.iter().map(|r| r.3).sum();
    s.push_str(&format!(
        "{findings} findings from {} rules over {events} events in {files} files\n",
        rows.len()
    ));
    s
}

/// Serializes a value map for `rules test --format json`.
pub fn fields_json(fields: &[MatchedField]) -> Value {
    let mut m = Map::new();
    for f in fields {
        let key = if f.event_field.is_empty() {
            "keyword".to_owned()
        } else {
            f.event_field.clone()
        };
        m.insert(key, json!(f.value));
    }
    Value::Object(m)
}
