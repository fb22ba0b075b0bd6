//! THE one place where Ward's stages are built and connected, and where
//! they are stopped in order.
//!
//! ```text
//!  HTTP ingest ─┐                       ┌─ ingest workers ─────────────────────────┐
//!  syslog UDP  ─┤  SourceContext        │  redact ─► enrich ─► store.append (fsync) │─► ack
//!  syslog TCP  ─┼──► [ingest queue] ───►│                         └─► Appended ───┐ │
//!  Kafka       ─┤   (bounded)           └───────────────────────────────────────┘ │
//!  audit trail ─┘                                                                 ▼
//!        ▲                        detection thread: log tail ─► Evaluator ─► [findings] ─► alert stage ─► outbox ─► receivers
//!        └────────────────────────────────────────────── audit events (people's actions) ◄──┘
//! ```
//!
//! A graceful stop (SIGTERM, SIGINT) drains in this order, all within
//! `server.drain_timeout`: stop accepting (listeners, Kafka, HTTP);
//! finish in-flight batches (the queue refuses new ones, workers finish
//! the queued ones); sign a checkpoint over every stored record; let
//! detection read to the end of the log and write its checkpoint; let the
//! outbox deliver what it can; close the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use ward_store::Store;

use crate::alert::Alerts;
use crate::config::Config;
use crate::detect::recent::{self, Recent};
use crate::detect::{Detector, FindingSink, Handover, Progress, Settings, Stop};
use crate::metrics::Metrics;
use crate::model::{Ack, Batch};
use crate::pipeline::{Pipeline, Step, StepError};
use crate::source::{HttpSources, SourceContext, Tokens};
use crate::store::AppendError;

/// Findings waiting between detection and the alert stage.
const FINDINGS_CAPACITY: usize = 16;

/// One stage or channel of the running topology, for `describe` and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Stage(&'static str),
    /// A connection: from, to, and the bound of its queue (0: a call).
    Channel(&'static str, &'static str, usize),
}

/// Ward, built and running.
pub struct Topology {
    /// Addresses actually bound (ports may be 0 in the configuration).
    pub http_addr: SocketAddr,
    pub syslog: Vec<String>,
    pub kafka: Vec<String>,
    /// The ingest token generated at first start, if any.
    pub generated_token: Option<crate::secret::Secret<String>>,
    parts: Vec<Part>,
    drain_timeout: Duration,
    accepting: CancellationToken,
    http: tokio::task::JoinHandle<()>,
    sources: JoinSet<()>,
    queue: CancellationToken,
    workers: JoinSet<()>,
    store: Arc<Store>,
    detect: std::thread::JoinHandle<()>,
    detect_stop: Stop,
    alerts: Arc<Alerts>,
    alert_feed: tokio::task::JoinHandle<()>,
    /// Cluster mode: the producer of this node's alert changes.
    alert_publisher: Option<crate::cluster::alerts::Publisher>,
    background: CancellationToken,
    retention: tokio::task::JoinHandle<()>,
    /// Uploads of sealed segments (`cluster.segments_bucket`).
    segments: Option<tokio::task::JoinHandle<()>>,
    /// The reader of every node's segment records.
    segments_follower: Option<std::thread::JoinHandle<()>>,
    /// Cluster mode: the publisher of this node's coverage counts and the
    /// reader of every other node's.
    coverage_publisher: Option<tokio::task::JoinHandle<()>>,
    coverage_follower: Option<std::thread::JoinHandle<()>>,
    /// Raises the alert when the store cannot write.
    store_watch: tokio::task::JoinHandle<()>,
    compliance: Option<tokio::task::JoinHandle<()>>,
}

/// Builds every stage from the validated configuration and starts it.
pub async fn build(config: Config) -> anyhow::Result<Topology> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create data directory {} (set server.data_dir or WARD_DATA_DIR)",
            config.data_dir.display()
        )
    })?;
    let mut g = Graph::default();
    let metrics = Arc::new(Metrics::default());
    let cap = config.raw.limits.queue_capacity;

    // The store, and the ingest queue whose workers redact, enrich, append.
    let (store, opened) = crate::store::open(&config)?;
    crate::store::damage_metrics(&metrics, &store, &opened);
    let store = Arc::new(store);
    // Cluster mode: ingest goes to the brokers, this node stores and
    // evaluates the partitions it is given.
    let cluster = match &config.cluster {
        Some(s) => {
            crate::cluster::ensure_topics(s).await?;
            Some(Cluster {
                settings: Arc::clone(s),
                producer: Arc::new(s.producer()?),
                owned: Arc::default(),
            })
        }
        None => None,
    };
    let sink = match &cluster {
        Some(c) => Sink::Cluster(Arc::clone(&c.producer), Arc::clone(&c.settings)),
        None => Sink::Store(Arc::clone(&store), Arc::new(Recent::new(recent::CAPACITY))),
    };
    let recent = match &sink {
        Sink::Store(_, r) => Some(Arc::clone(r)),
        Sink::Cluster(..) => None,
    };
    let step = ingest_step(&config, sink, &metrics)?;
    let queue = CancellationToken::new();
    let (pipeline, workers) = Pipeline::start(
        step,
        Arc::clone(&metrics),
        cap,
        config.ingest_workers,
        queue.clone(),
    );
    g.stages(&["store", "redact", "enrich", "ingest queue"])
        .connect("ingest queue", "redact", 0)
        .connect("redact", "enrich", 0)
        .connect("enrich", "store", 0);

    // Alerting, fed by detection; people's actions come back as audit events.
    let (alerts, audit) = Alerts::start(&config, Arc::clone(&metrics))
        .await
        .with_context(|| {
            if crate::store::disk_full(&store) {
                format!(
                    "the disk holding {} is full: free space (or move server.data_dir) and start Ward again",
                    config.data_dir.display()
                )
            } else {
                "cannot start alerting".to_owned()
            }
        })?;
    let alerts = Arc::new(alerts);
    let alert_publisher = match &cluster {
        Some(c) => Some(crate::cluster::alerts::start(
            &c.settings,
            &c.producer,
            &c.owned,
            alerts.engine(),
            &metrics,
        )?),
        None => None,
    };
    let (findings_tx, findings_rx) = mpsc::channel::<Handover>(FINDINGS_CAPACITY);
    let alert_feed = tokio::spawn(feed_alerts(findings_rx, Arc::clone(&alerts)));
    g.stages(&["alert", "notify"]).connect("alert", "notify", 0);

    // Detection tails the log on its own thread.
    let sink = FindingSink(findings_tx);
    let (detect, detect_stop, progress, consumed) = start_detection(
        &config,
        &store,
        &pipeline,
        recent.clone(),
        sink,
        &metrics,
        cluster.as_ref(),
    )?;
    g.stages(&["detect"]).connect("store", "detect", 0).connect(
        "detect",
        "alert",
        FINDINGS_CAPACITY,
    );
    if recent.is_some() {
        // The events just appended, bounded by events held.
        g.connect("enrich", "detect", recent::CAPACITY);
    }

    // The inputs: Ward's audit trail, syslog, Kafka, then HTTP with the API.
    let accepting = CancellationToken::new();
    let ctx = SourceContext {
        pipeline,
        limits: crate::normalize::limits(&config.raw.limits),
        max_records_per_request: config.raw.limits.max_records_per_request,
        metrics: Arc::clone(&metrics),
        stop: accepting.clone(),
    };
    let mut sources = JoinSet::new();
    sources.spawn(crate::source::audit::run(
        ctx.clone(),
        audit,
        crate::store::damage_events(&store, &opened),
    ));
    let (access_tx, access_rx) = tokio::sync::mpsc::channel(4096);
    sources.spawn(crate::source::audit::run_access(ctx.clone(), access_rx));
    let audit_trail = Arc::new(crate::access::audit::AuditTrail::new(
        access_tx,
        Arc::clone(&metrics),
    ));
    g.stages(&["audit trail"])
        .connect("alert", "audit trail", 0);
    let syslog = start_syslog(&config, &ctx, &mut sources).await?;
    for s in &syslog {
        g.stages(&[if s.starts_with("udp") {
            "syslog udp"
        } else {
            "syslog tcp"
        }]);
    }
    let mut kafka = Vec::new();
    for k in &config.raw.kafka {
        let source = crate::source::kafka::KafkaSource::new(k)?;
        kafka.push(source.describe());
        sources.spawn(source.run(ctx.clone()));
    }
    if !kafka.is_empty() {
        g.stages(&["kafka"]);
    }
    if let Some(c) = &cluster {
        let events = crate::cluster::events::EventsConsumer::new(
            Arc::clone(&c.settings),
            Arc::clone(&store),
            Arc::clone(&c.producer),
            Arc::clone(&metrics),
            Arc::clone(&c.owned),
            config.max_future_skew,
            consumed,
        )?;
        sources.spawn(events.run(accepting.clone()));
        sources.spawn(crate::cluster::alerts::apply(
            Arc::clone(&c.settings),
            Arc::clone(alerts.engine()),
            Arc::clone(&c.owned),
            Arc::clone(&metrics),
            accepting.clone(),
        ));
        g.stages(&["cluster events"])
            .connect("enrich", "cluster events", 0)
            .connect("cluster events", "store", 0)
            .connect("cluster events", "detect", 0);
        g.stages(&["cluster alerts"])
            .connect("alert", "cluster alerts", 0)
            .connect("cluster alerts", "alert", 0);
    }
    // Sealed segments to the bucket, and the record of every node's.
    let background = CancellationToken::new();
    let mut segments = None;
    let mut segments_follower = None;
    let mut remote = None;
    if let Some(c) = cluster.as_ref().filter(|c| c.settings.segments.is_some()) {
        let catalog = Arc::new(crate::cluster::segments::Catalog::default());
        let follower = crate::cluster::segments::follow(
            &c.settings,
            Arc::clone(&catalog),
            Arc::clone(&metrics),
        )?;
        let stop = background.clone();
        segments_follower = Some(
            std::thread::Builder::new()
                .name("cluster-segments".into())
                .spawn(move || follower.run(&stop))?,
        );
        let uploader = crate::cluster::segments::Uploader {
            settings: Arc::clone(&c.settings),
            s3: config.raw.archive.s3.clone(),
            store_dir: config.data_dir.join("events"),
            policy: crate::store::retention_policy(&config),
            producer: Arc::clone(&c.producer),
            metrics: Arc::clone(&metrics),
            owned: Arc::clone(&c.owned),
        };
        segments = Some(tokio::spawn(uploader.run(background.clone())));
        remote = c.settings.segments.as_ref().map(|s| {
            Arc::new(crate::cluster::search::Remote {
                location: s.location.clone(),
                s3: config.raw.archive.s3.clone(),
                catalog,
                metrics: Arc::clone(&metrics),
            })
        });
        g.stages(&["cluster segments"])
            .connect("store", "cluster segments", 0);
    }
    // Coverage: every node's counts to every node.
    let (mut coverage_publisher, mut coverage_follower) = (None, None);
    if let Some(c) = cluster.as_ref() {
        let follower = crate::cluster::coverage::follow(
            &c.settings,
            Arc::clone(&progress),
            Arc::clone(&metrics),
        )?;
        let stop = background.clone();
        coverage_follower = Some(
            std::thread::Builder::new()
                .name("cluster-coverage".into())
                .spawn(move || follower.run(&stop))?,
        );
        coverage_publisher = Some(tokio::spawn(crate::cluster::coverage::publish(
            Arc::clone(&c.settings),
            Arc::clone(&c.producer),
            Arc::clone(&progress),
            Arc::clone(&metrics),
            background.clone(),
        )));
        g.stages(&["cluster coverage"])
            .connect("cluster events", "cluster coverage", 0);
    }
    let (tokens, generated_token) = Tokens::from_config(&config)?;
    // The hash that unknown user names are checked against, made before
    // the first login so that it does not take longer than the others.
    tokio::task::spawn_blocking(crate::access::users::dummy_hash);
    let access = Arc::new(crate::access::Access {
        tokens,
        keys: crate::access::apikey::KeyStore::open(&config.data_dir)?,
        roles: config.roles.clone(),
        users: crate::access::users::UserStore::open(&config.data_dir)?,
        sessions: crate::access::session::Sessions::persistent(
            config.sessions.clone(),
            &config.data_dir,
        )?,
    });
    let ingest = HttpSources {
        ctx,
        webhooks: Arc::new(crate::source::webhook::Webhooks::from_config(
            &config.raw.webhooks,
        )),
        seen: Arc::new(crate::source::webhook::RecentIds::default()),
        audit: audit_trail,
    };
    let live = start_compliance(&config, &store, &metrics, &alerts, &mut g);
    let mut state = api_state(ingest, access, &store, &metrics, progress, &alerts, &config)?;
    state.events.remote = remote.clone();
    state.console.events.remote = remote;
    state.compliance = crate::api::compliance::ComplianceState(live.clone());
    state.gate.compliance = state.compliance.clone();
    state.console.compliance = state.compliance.clone();
    let (http, http_addr) = start_http(&config, state, &alerts, accepting.clone()).await?;
    g.stages(&["http"])
        .connect("http", "alert", 0)
        .connect("http", "store", 0);
    for input in ["audit trail", "syslog udp", "syslog tcp", "kafka", "http"] {
        if g.has(input) {
            g.connect(input, "ingest queue", cap);
        }
    }

    let retention = tokio::spawn(crate::store::retention_task(
        Arc::clone(&store),
        config.retention_interval,
        background.clone(),
    ));
    g.stages(&["retention"]).connect("retention", "store", 0);
    let store_watch = tokio::spawn(crate::store::write_failure_alerts(
        Arc::clone(&store),
        Arc::clone(&alerts),
        config.data_dir.join("events").display().to_string(),
        background.clone(),
    ));
    g.stages(&["store watch"])
        .connect("store watch", "store", 0)
        .connect("store watch", "alert", 0);
    let compliance = live.map(|l| tokio::spawn(l.run(config.compliance_tick, background.clone())));

    Ok(Topology {
        http_addr,
        syslog,
        kafka,
        generated_token,
        parts: g.0,
        drain_timeout: config.drain_timeout,
        accepting,
        http,
        sources,
        queue,
        workers,
        store,
        detect,
        detect_stop,
        alerts,
        alert_feed,
        alert_publisher,
        background,
        retention,
        segments,
        segments_follower,
        coverage_publisher,
        coverage_follower,
        store_watch,
        compliance,
    })
}

/// Gap findings waiting between compliance and the alert stage.
const GAPS_CAPACITY: usize = 64;

/// Loads the compliance controls and connects their evaluation to the
/// store (read), Ward's facts and the alert stage (gap findings). None
/// when `compliance.enabled` is false.
fn start_compliance(
    config: &Arc<Config>,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    alerts: &Arc<Alerts>,
    g: &mut Graph,
) -> Option<crate::compliance::Live> {
    let c = &config.raw.compliance;
    if !c.enabled {
        return None;
    }
    let pack = crate::compliance::control::load(c.builtin_controls, &c.controls);
    for e in &pack.errors {
        tracing::warn!(error = %e, "compliance control not loaded");
    }
    metrics.set("ward_compliance_load_errors", &[], pack.errors.len() as f64);
    let compliance = Arc::new(crate::compliance::Compliance::new(
        pack,
        &config.data_dir,
        config.compliance_damping,
    ));
    let (tx, mut rx) = mpsc::channel(GAPS_CAPACITY);
    let feed = Arc::clone(alerts);
    tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            if let Err(e) = feed.on_finding(f).await {
                tracing::error!(error = %format!("{e:#}"), "compliance gap alert not recorded");
            }
        }
    });
    let facts = {
        let (config, metrics, alerts) =
            (Arc::clone(config), Arc::clone(metrics), Arc::clone(alerts));
        Arc::new(move || {
            let now = jiff::Timestamp::now();
            let all = alerts.engine().alerts(&ward_alert::AlertFilter::default());
            let window = std::time::Duration::from_secs(30 * 86_400);
            let rules = match (
                metrics.gauge("ward_detect_rules", &[]),
                metrics.gauge("ward_detect_rule_errors", &[]),
            ) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                (Some(loaded), Some(errors)) => Some(crate::compliance::evaluate::RuleFacts {
                    loaded: loaded as u64,
                    errors: errors as u64,
                }),
                _ => None,
            };
            crate::compliance::facts::gather(
                &config,
                &config.data_dir,
                Some(crate::compliance::facts::alert_facts(&all, now, window)),
                rules,
            )
        }) as crate::compliance::live::FactSource
    };
    g.stages(&["compliance"])
        .connect("store", "compliance", 0)
        .connect("compliance", "alert", GAPS_CAPACITY);
    Some(crate::compliance::Live {
        compliance,
        store: Arc::clone(store),
        facts,
        gaps: tx,
        metrics: Arc::clone(metrics),
    })
}

/// The stages and channels as they are built, for [`Topology::describe`].
#[derive(Default)]
struct Graph(Vec<Part>);

impl Graph {
    fn stages(&mut self, names: &[&'static str]) -> &mut Self {
        self.0.extend(names.iter().map(|n| Part::Stage(n)));
        self
    }

    fn connect(&mut self, from: &'static str, to: &'static str, bound: usize) -> &mut Self {
        self.0.push(Part::Channel(from, to, bound));
        self
    }

    fn has(&self, stage: &str) -> bool {
        self.0
            .iter()
            .any(|p| matches!(p, Part::Stage(s) if *s == stage))
    }
}

/// What the routes reach: each group only its own part.
fn api_state(
    ingest: HttpSources,
    access: Arc<crate::access::Access>,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    progress: Arc<Progress>,
    alerts: &Arc<Alerts>,
    config: &Config,
) -> anyhow::Result<crate::api::ApiState> {
    let audit = Arc::clone(&ingest.audit);
    let health = crate::api::health::Health {
        store: Arc::clone(store),
        metrics: Arc::clone(metrics),
        detect: progress,
        alerts: Arc::clone(alerts),
    };
    Ok(crate::api::ApiState {
        console: crate::console::ConsoleState {
            alerts: crate::api::alerts::AlertApi {
                engine: Arc::clone(alerts.engine()),
                silence_limits: config.silence_limits,
            },
            events: crate::api::EventsState {
                store: Arc::clone(store),
                remote: None,
            },
            health: health.clone(),
            prefs: crate::console::prefs::Prefs::open(&config.data_dir)?,
            compliance: crate::api::compliance::ComplianceState::default(),
        },
        gate: crate::api::gate::GateState {
            sources: ingest.clone(),
            alerts: Arc::clone(alerts),
            data_dir: config.data_dir.clone(),
            lock: Arc::default(),
            osv_dir: config.raw.gate.osv_dir.clone(),
            policy: Arc::clone(&config.gate_policy),
            keys: Arc::clone(&config.gate_keys),
            store: Arc::clone(store),
            compliance: crate::api::compliance::ComplianceState::default(),
        },
        ingest,
        events: crate::api::EventsState {
            store: Arc::clone(store),
            remote: None,
        },
        access,
        audit,
        oidc: config.oidc.as_ref().and_then(|s| {
            crate::access::oidc::Oidc::new(Arc::clone(s))
                .map_err(|e| tracing::error!(error = %e, "single sign-on is off: cannot make its HTTP client"))
                .ok()
                .map(Arc::new)
        }),
        data_dir: config.data_dir.clone(),
        compliance: crate::api::compliance::ComplianceState::default(),
        health,
    })
}

/// The cluster parts of a node.
struct Cluster {
    settings: Arc<crate::cluster::Settings>,
    producer: Arc<crate::cluster::Producer>,
    owned: Arc<crate::cluster::Owned>,
}

/// Where the ingest step puts a batch: the local store (one node), or the
/// cluster's events topic (acknowledged by the brokers).
#[derive(Clone)]
enum Sink {
    /// The store, and the queue of appended events detection takes
    /// instead of parsing their records back.
    Store(Arc<Store>, Arc<Recent>),
    Cluster(Arc<crate::cluster::Producer>, Arc<crate::cluster::Settings>),
}

/// What an ingest worker does with a batch: redact, score prompts, append
/// durably (fsync) or produce to the cluster, count.
fn ingest_step(config: &Config, sink: Sink, metrics: &Arc<Metrics>) -> anyhow::Result<Step> {
    let redact = Arc::new(crate::redact::Stage::new(
        &config.raw.redact,
        &config.data_dir,
    )?);
    let prompt = Arc::new(ward_prompt::Detector::new());
    let metrics = Arc::clone(metrics);
    let skew = config.max_future_skew;
    Ok(Arc::new(move |batch: Batch| {
        let (redact, prompt) = (Arc::clone(&redact), Arc::clone(&prompt));
        let (sink, metrics) = (sink.clone(), Arc::clone(&metrics));
        Box::pin(async move { ingest(batch, redact, prompt, sink, metrics, skew).await })
    }))
}

async fn ingest(
    mut batch: Batch,
    redact: Arc<crate::redact::Stage>,
    prompt: Arc<ward_prompt::Detector>,
    sink: Sink,
    metrics: Arc<Metrics>,
    max_future_skew: Duration,
) -> Result<Ack, StepError> {
    let events = std::mem::take(&mut batch.events);
    let labels = [
        ("input", batch.input.as_str()),
        ("source", batch.source.as_str()),
    ];
    let (ids, dead) = match sink {
        Sink::Store(store, recent) => {
            // One hand-off to a blocking thread per batch: redaction,
            // records, the durable append, and the events offered to
            // detection, in turn on that thread.
            let stage = Arc::clone(&metrics);
            let done = tokio::task::spawn_blocking(move || {
                let keep = recent.has_room(events.len());
                let p = prepare(events, &redact, &prompt, max_future_skew, &stage, keep)?;
                let n = p.records.len() as u64;
                let offsets = crate::store::append_blocking(&store, p.records, &stage)?;
                offer(&recent, &offsets, p.kept);
                Ok::<_, StepError>((p.ids, p.dead, n))
            })
            .await
            .map_err(|e| StepError::Failed(format!("ingest task failed: {e}")))?;
            let (ids, dead, n) = done?;
            metrics.add("ward_store_events_total", &labels, n);
            (ids, dead)
        }
        Sink::Cluster(producer, settings) => {
            let stage = Arc::clone(&metrics);
            let prepared = tokio::task::spawn_blocking(move || {
                prepare(events, &redact, &prompt, max_future_skew, &stage, false)
            })
            .await
            .map_err(|e| StepError::Failed(format!("redaction task failed: {e}")))?;
            let Prepared {
                ids, records, dead, ..
            } = prepared?;
            let n = records.len() as u64;
            // Acknowledged once the brokers have every event (acks=all):
            // a broker that is down is a 503 to the sender, never a loss.
            let topic = settings.events_topic();
            let key = crate::cluster::events_key(&batch.tenant, &batch.source);
            let out: Vec<crate::cluster::Outgoing<'_>> = records
                .iter()
                .map(|r| crate::cluster::Outgoing {
                    topic: &topic,
                    partition: None,
                    key: key.as_bytes(),
                    payload: &r.body,
                })
                .collect();
            producer.send_all(&out).await.map_err(StepError::Failed)?;
            metrics.add("ward_cluster_produced_total", &labels, n);
            (ids, dead)
        }
    };
    if dead > 0 {
        metrics.add("ward_store_dead_letters_total", &labels, dead as u64);
    }
    metrics.observe(
        "ward_pipeline_latency_seconds",
        &[("input", batch.input.as_str())],
        batch.received.elapsed(),
    );
    Ok(Ack { ids })
}

impl From<AppendError> for StepError {
    fn from(e: AppendError) -> StepError {
        match e {
            AppendError::Invalid(m) => StepError::Invalid(m),
            AppendError::NoSpace(m) => StepError::NoSpace(m),
            AppendError::Failed(m) => StepError::Failed(m),
        }
    }
}

/// A batch made ready for the store: each event's id (for the sender's
/// acknowledgement), its record, and how many became dead letters.
struct Prepared {
    ids: Vec<String>,
    records: Vec<ward_store::Record>,
    dead: usize,
    /// When asked and no event became a dead letter: the events, each
    /// exactly as serialized into its record.
    kept: Vec<ward_event::Event>,
}

/// Offers the events just stored at `offsets` to detection; freed here
/// when they do not all line up with their records (a dead letter stood
/// in for one) or the queue is full.
fn offer(recent: &Recent, offsets: &[ward_store::Offset], kept: Vec<ward_event::Event>) {
    let Some(first) = offsets.first() else {
        return;
    };
    let in_line = kept.len() == offsets.len()
        && offsets
            .iter()
            .zip(first.0..)
            .all(|(o, expected)| o.0 == expected);
    if in_line {
        let _ = recent.offer(first.0, kept);
    }
}

/// Events per chunk of [`prepare`]: small enough that a chunk's events
/// (a few KiB of small allocations each) stay in the core's cache between
/// redaction and serialization.
const PREPARE_CHUNK: usize = 64;

/// Redacts, scores prompts and turns into store records, chunk by chunk:
/// each event is redacted and serialized while it is still in the cache,
/// where whole-batch passes read every event back from memory once per
/// stage. With `keep` the events are kept, as serialized, for detection
/// ([`Recent`]); without, each is freed right after. CPU is counted per
/// stage ("redact", "record") per chunk.
fn prepare(
    events: Vec<ward_event::Event>,
    redact: &crate::redact::Stage,
    prompt: &ward_prompt::Detector,
    max_future_skew: Duration,
    metrics: &Metrics,
    keep: bool,
) -> Result<Prepared, AppendError> {
    let mut out = Prepared {
        ids: Vec::with_capacity(events.len()),
        records: Vec::with_capacity(events.len()),
        dead: 0,
        kept: Vec::with_capacity(if keep { events.len() } else { 0 }),
    };
    let mut keep = keep;
    let (mut redact_cpu, mut record_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut events = events.into_iter();
    let mut chunk = Vec::with_capacity(PREPARE_CHUNK);
    loop {
        chunk.extend(events.by_ref().take(PREPARE_CHUNK));
        if chunk.is_empty() {
            break;
        }
        let t0 = crate::metrics::thread_cpu();
        for e in &mut chunk {
            redact.redact_event(e);
            crate::detect::enrich::prompt_injection(prompt, e);
        }
        let t1 = crate::metrics::thread_cpu();
        for mut e in chunk.drain(..) {
            out.ids
                .push(e.get_str("event.id").unwrap_or_default().to_owned());
            let (record, dead) = crate::store::record_or_dead_letter(&mut e, max_future_skew)?;
            out.records.push(record);
            out.dead += usize::from(dead);
            if dead && keep {
                // The record is the dead letter's, not this event's:
                // detection reads this batch from the store.
                keep = false;
                out.kept = Vec::new();
            }
            if keep {
                out.kept.push(e);
            }
        }
        let t2 = crate::metrics::thread_cpu();
        redact_cpu += t1.saturating_sub(t0);
        record_cpu += t2.saturating_sub(t1);
    }
    metrics.add_cpu("redact", redact_cpu);
    metrics.add_cpu("record", record_cpu);
    Ok(out)
}

/// Takes findings from detection to the alert stage until detection stops.
async fn feed_alerts(mut rx: mpsc::Receiver<Handover>, alerts: Arc<Alerts>) {
    while let Some((findings, reply)) = rx.recv().await {
        let _ = reply.send(alerts.on_findings(findings).await);
    }
}

/// The detection thread, its stop, its progress and, in cluster mode, the
/// rules this node's `<prefix>events` consumer matches.
type Detection = (
    std::thread::JoinHandle<()>,
    Stop,
    Arc<Progress>,
    Option<Arc<crate::cluster::split::AtConsumer>>,
);

fn start_detection(
    config: &Config,
    store: &Arc<Store>,
    pipeline: &Pipeline,
    recent: Option<Arc<Recent>>,
    sink: FindingSink,
    metrics: &Arc<Metrics>,
    cluster: Option<&Cluster>,
) -> anyhow::Result<Detection> {
    let d = &config.raw.detect;
    let settings = Settings {
        builtin_rules: d.builtin_rules,
        rules: d.rules.clone(),
        pipelines: d.pipelines.clone(),
        hot_reload: d.hot_reload,
        workers: d.workers,
        baseline: d.baseline.clone(),
        checkpoint: config.data_dir.join("detect").join("checkpoint.json"),
    };
    let progress = Arc::new(Progress::default());
    let stop = Stop {
        token: CancellationToken::new(),
        deadline: Default::default(),
    };
    let thread_stop = Stop {
        token: stop.token.clone(),
        deadline: Arc::clone(&stop.deadline),
    };
    if let Some(c) = cluster {
        // Detection runs on the correlation partitions this node owns.
        let worker = crate::cluster::corr::CorrWorker::new(
            Arc::clone(&c.settings),
            &settings,
            Arc::clone(metrics),
            Arc::clone(&progress),
            Arc::clone(store),
            Arc::clone(&c.owned),
        )?;
        let consumed = worker.consumed();
        let handle = std::thread::Builder::new()
            .name("ward-detect".into())
            .spawn(move || worker.run(&sink, &thread_stop))?;
        return Ok((handle, stop, progress, consumed));
    }
    let detector = Detector::new(settings, Arc::clone(metrics), Arc::clone(&progress));
    let store = Arc::clone(store);
    let appended = Arc::clone(&pipeline.appended);
    let handle = std::thread::Builder::new()
        .name("ward-detect".into())
        .spawn(move || detector.run(&store, recent.as_deref(), &appended, &sink, &thread_stop))?;
    Ok((handle, stop, progress, None))
}

async fn start_syslog(
    config: &Config,
    ctx: &SourceContext,
    sources: &mut JoinSet<()>,
) -> anyhow::Result<Vec<String>> {
    let who = crate::source::syslog::Attribution {
        source: config.raw.syslog.source.clone(),
        tenant: config.raw.syslog.tenant.clone(),
        recognizer: config.raw.syslog.recognizer.clone(),
    };
    let cannot = |proto: &str| {
        format!(
            "cannot listen for syslog on {proto} {} (syslog.addr / WARD_SYSLOG_ADDR)",
            config.syslog_addr
        )
    };
    let mut out = Vec::new();
    if config.raw.syslog.udp {
        let sock = UdpSocket::bind(config.syslog_addr)
            .await
            .with_context(|| cannot("udp"))?;
        out.push(format!("udp {}", sock.local_addr()?));
        sources.spawn(crate::source::syslog::serve_udp(
            ctx.clone(),
            sock,
            who.clone(),
        ));
    }
    if config.raw.syslog.tcp {
        let l = TcpListener::bind(config.syslog_addr)
            .await
            .with_context(|| cannot("tcp"))?;
        out.push(format!("tcp {}", l.local_addr()?));
        sources.spawn(crate::source::syslog::serve_tcp(
            ctx.clone(),
            l,
            who,
            crate::source::syslog::TcpLimits {
                max_connections: config.raw.syslog.max_connections,
                max_per_address: config.raw.syslog.max_connections_per_address,
                idle_timeout: config.syslog_idle_timeout,
            },
        ));
    }
    Ok(out)
}

async fn start_http(
    config: &Config,
    state: crate::api::ApiState,
    alerts: &Alerts,
    stop: CancellationToken,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, SocketAddr)> {
    let alert_routes = alerts.routes(config.silence_limits);
    let http = TcpListener::bind(config.http_addr).await.with_context(|| {
        format!(
            "cannot listen for HTTP on {} (server.http_addr / WARD_HTTP_ADDR)",
            config.http_addr
        )
    })?;
    let addr = http.local_addr()?;
    let app = crate::api::router(state, alert_routes);
    let timeouts = HttpTimeouts {
        header: config.http_header_timeout,
        body: config.http_body_timeout,
    };
    let handle = tokio::spawn(serve_http(http, app, timeouts, stop));
    Ok((handle, addr))
}

/// The slow-client bounds of the HTTP server.
#[derive(Clone, Copy)]
struct HttpTimeouts {
    /// Headers, and idle time between kept-alive requests.
    header: Duration,
    /// A whole request body.
    body: Duration,
}

/// Serves HTTP/1 until `stop`, then lets open connections finish their
/// request. Unlike `axum::serve`, every connection has a header-read
/// timeout, which in hyper also bounds how long a kept-alive connection may
/// wait idle for its next request, and every request body a deadline: a
/// client that trickles its headers or body (slowloris) or never sends
/// anything is disconnected, so it cannot hold file descriptors that
/// senders need.
async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    timeouts: HttpTimeouts,
    stop: CancellationToken,
) {
    use tower::ServiceExt as _;
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stop.cancelled() => break,
        };
        let (sock, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, typically: wait for some to close.
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let (app, stop) = (app.clone(), stop.clone());
        connections.spawn(async move {
            let service = hyper::service::service_fn(
                move |req: axum::http::Request<hyper::body::Incoming>| {
                    let mut req = req.map(|body| BodyDeadline::new(body, timeouts.body));
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    app.clone().oneshot(req)
                },
            );
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(timeouts.header);
            let conn = builder
                .serve_connection(hyper_util::rt::TokioIo::new(sock), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// A request body that fails once its deadline passes, so that a handler
/// reading it gives up on a client that sends its body a byte at a time.
struct BodyDeadline {
    inner: hyper::body::Incoming,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl BodyDeadline {
    fn new(inner: hyper::body::Incoming, limit: Duration) -> BodyDeadline {
        BodyDeadline {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl http_body::Body for BodyDeadline {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::future::Future as _;
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "request body not received within {:?} (server.http_body_timeout)",
                    this.limit
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Topology {
    /// Every stage and channel, as built.
    pub fn describe(&self) -> &[Part] {
        &self.parts
    }

    /// Resolves when the HTTP server stops on its own (a failure).
    pub async fn http_stopped(&mut self) {
        let _ = (&mut self.http).await;
    }

    /// The graceful stop, in the order the module documentation gives,
    /// within the drain deadline. Undelivered notifications stay in the
    /// durable outbox.
    pub async fn drain(mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.drain_timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        tracing::info!(deadline = ?self.drain_timeout, "stopping: no longer accepting");
        self.accepting.cancel();
        // Compliance only reads: stopped first, so that no gap finding
        // reaches an alert stage that is shutting down.
        if let Some(c) = self.compliance.take() {
            c.abort();
        }
        let stop_http = async {
            let _ = (&mut self.http).await;
            while self.sources.join_next().await.is_some() {}
        };
        if tokio::time::timeout(left(), stop_http).await.is_err() {
            tracing::warn!("inputs still open at the drain deadline: closing them");
            self.http.abort();
            self.sources.abort_all();
        }
        tracing::info!("finishing in-flight batches");
        self.queue.cancel();
        let workers = async { while self.workers.join_next().await.is_some() {} };
        if tokio::time::timeout(left(), workers).await.is_err() {
            tracing::warn!("batches still in flight at the drain deadline: not acknowledged");
            self.workers.abort_all();
        }
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || store.checkpoint_now()).await {
            Ok(Ok(())) => tracing::info!("store checkpoint signed"),
            Ok(Err(e)) => tracing::error!(error = %e, "final store checkpoint failed"),
            Err(e) => tracing::error!(error = %e, "final store checkpoint task failed"),
        }
        *self.detect_stop.deadline.lock() = Some(deadline);
        self.detect_stop.token.cancel();
        let detect = self.detect;
        match tokio::task::spawn_blocking(move || detect.join()).await {
            Ok(Ok(())) => {}
            _ => tracing::error!("detection thread ended abnormally"),
        }
        let _ = self.alert_feed.await;
        self.alerts.shutdown(left()).await;
        if let Some(mut p) = self.alert_publisher.take() {
            p.stop.cancel();
            if tokio::time::timeout(left(), &mut p.task).await.is_err() {
                tracing::warn!(
                    "alert changes not produced by the drain deadline: the other nodes do not see them"
                );
                p.task.abort();
            }
        }
        self.background.cancel();
        let _ = tokio::time::timeout(left(), &mut self.retention).await;
        self.retention.abort();
        if let Some(mut s) = self.segments.take() {
            let _ = tokio::time::timeout(left(), &mut s).await;
            s.abort();
        }
        if let Some(f) = self.segments_follower.take() {
            // Stopped by `background`; it polls at most 200 ms at a time.
            let join = tokio::task::spawn_blocking(move || f.join());
            if tokio::time::timeout(left(), join).await.is_err() {
                tracing::warn!("the segment record reader did not stop by the drain deadline");
            }
        }
        if let Some(mut p) = self.coverage_publisher.take() {
            // Publishes the last counts once more, then ends.
            let _ = tokio::time::timeout(left(), &mut p).await;
            p.abort();
        }
        if let Some(f) = self.coverage_follower.take() {
            let join = tokio::task::spawn_blocking(move || f.join());
            if tokio::time::timeout(left(), join).await.is_err() {
                tracing::warn!("the coverage reader did not stop by the drain deadline");
            }
        }
        let _ = tokio::time::timeout(left(), &mut self.store_watch).await;
        self.store_watch.abort();
        close_store(self.store).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Closes the store once nothing else holds it (stops its background
/// thread; the checkpoint was signed earlier in the drain).
async fn close_store(store: Arc<Store>) {
    match Arc::try_unwrap(store) {
        Ok(store) => {
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.close()).await {
                tracing::error!(error = %e, "closing the store failed");
            }
        }
        Err(store) => {
            tracing::warn!(
                holders = Arc::strong_count(&store),
                "store still in use at exit; its checkpoint is already signed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(i: usize, id: String) -> ward_event::Event {
        let mut e = ward_event::Event::default();
        e.set("@timestamp", json!("2026-11-01T10:00:00Z"));
        e.set("event.id", json!(id));
        e.set("event.category", json!(["authentication"]));
        e.set("user.name", json!(format!("u{i}")));
        e.set(
            "message",
            json!(format!("login password=hunter{i}x token {i}")),
        );
        e
    }

    /// The events kept for detection are, one for one, those whose
    /// serialization is each record's body (after redaction and the
    /// store's own changes); a batch with a dead letter keeps none.
    #[test]
    fn kept_events_are_exactly_what_the_records_hold() {
        let dir = tempfile::tempdir().unwrap();
        let redact =
            crate::redact::Stage::new(&ward_redact::RedactConfig::default(), dir.path()).unwrap();
        let prompt = ward_prompt::Detector::new();
        let metrics = Metrics::default();
        let skew = Duration::from_secs(300);
        let events: Vec<_> = (0..150).map(|i| event(i, format!("e{i}"))).collect();
        let p = prepare(events, &redact, &prompt, skew, &metrics, true).unwrap();
        assert_eq!((p.kept.len(), p.records.len(), p.dead), (150, 150, 0));
        for (e, r) in p.kept.iter().zip(&p.records) {
            assert_eq!(serde_json::to_vec(e).unwrap(), r.body);
            let stored: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&r.body).unwrap();
            assert_eq!(stored, e.0);
        }
        assert!(
            !String::from_utf8_lossy(&p.records[3].body).contains("hunter3x"),
            "redacted before it is kept or stored"
        );

        // Event 100 is larger than a record may be: its record is a dead
        // letter, so the batch goes to detection through the store.
        let mut events: Vec<_> = (0..150).map(|i| event(i, format!("e{i}"))).collect();
        events[100].set("message", json!("y ".repeat(5 << 20)));
        let p = prepare(events, &redact, &prompt, skew, &metrics, true).unwrap();
        assert_eq!((p.records.len(), p.dead), (150, 1));
        assert!(p.kept.is_empty());

        let p = prepare(
            vec![event(1, "e1".into())],
            &redact,
            &prompt,
            skew,
            &metrics,
            false,
        )
        .unwrap();
        assert!(p.kept.is_empty(), "nothing kept unless asked");
    }

    /// A batch is offered only when its events line up with the offsets
    /// their records were stored at.
    #[test]
    fn only_batches_in_line_with_their_offsets_are_offered() {
        use ward_store::Offset;
        let recent = Recent::new(100);
        let kept = |n: usize| {
            (0..n)
                .map(|i| event(i, format!("e{i}")))
                .collect::<Vec<_>>()
        };
        offer(&recent, &[Offset(0), Offset(1), Offset(3)], kept(3));
        offer(&recent, &[Offset(0), Offset(1)], kept(3));
        offer(&recent, &[Offset(0), Offset(1)], Vec::new());
        assert_eq!(recent.held(), 0);
        offer(&recent, &[Offset(0), Offset(1), Offset(2)], kept(3));
        assert_eq!(recent.held(), 3);
    }
}
