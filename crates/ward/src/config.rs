//! Configuration: one TOML file, one serde struct per component with
//! `deny_unknown_fields`, defaults in code, and [`RawConfig::validate`] that
//! reports every problem at once, each naming the key, the value and the fix.
//!
//! Environment variables (`WARD_DATA_DIR`, `WARD_HTTP_ADDR`,
//! `WARD_SYSLOG_ADDR`, `WARD_INGEST_TOKEN`, `WARD_ALERT_WEBHOOK_URL`) override
//! the file so that scripts, containers and tests need no file at all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

mod validate;

/// The whole configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// Where Ward keeps its data and listens for HTTP.
    pub server: ServerConfig,
    /// The syslog listeners (UDP and TCP on one address).
    pub syslog: SyslogConfig,
    /// Size limits for every input.
    pub limits: LimitsConfig,
    /// Ingest sources: each has a token that names the source and its tenant.
    pub sources: Vec<SourceConfig>,
    /// Kafka topics to consume (`[[kafka]]`, one consumer each).
    pub kafka: Vec<KafkaConfig>,
    /// Webhook inputs with their own credentials: GitHub, Kubernetes audit.
    pub webhooks: WebhooksConfig,
    /// The event store: segments, group commit, checkpoints.
    pub store: StoreSection,
    /// How long events are kept.
    pub retention: RetentionConfig,
    /// Where `ward archive` (and an `s3://` witness) writes off the machine.
    pub archive: ArchiveConfig,
    /// Redaction of secrets and personal data before anything is stored.
    pub redact: ward_redact::RedactConfig,
    /// Detection: rule and pipeline paths.
    pub detect: DetectConfig,
    /// Alerting: owners, routes, receivers, SLAs.
    pub alerting: ward_alert::AlertingConfig,
    /// Who may do what: custom roles, silence limits.
    pub access: AccessConfig,
    /// Compliance controls: which packs, how often, alert damping.
    pub compliance: crate::compliance::ComplianceConfig,
    /// The deploy gate: where the OSV records for SBOM imports are.
    pub gate: GateConfig,
    /// Several nodes sharing a Kafka backbone (`[cluster]`, off by default).
    pub cluster: ClusterConfig,
}

/// `[cluster]`: Ward nodes that share their inputs through Kafka. Off by
/// default; a single node needs no broker.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Turns cluster mode on.
    pub enabled: bool,
    /// This node's name, unique in the cluster (letters, digits, `.`, `_`, `-`).
    pub node_id: String,
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Prefix of the cluster's topics (`<prefix>events`, `<prefix>corr`…).
    pub topic_prefix: String,
    /// Partitions of `<prefix>events`, when Ward creates it.
    pub events_partitions: i32,
    /// Partitions of `<prefix>corr`: fixed, since correlation state is
    /// kept per partition (changing it is a migration, see the README).
    pub corr_partitions: i32,
    /// Longest wait for the brokers to acknowledge a batch before the
    /// sender is answered 503, e.g. "10s".
    pub produce_timeout: String,
    /// How often an owned correlation partition's state is snapshotted.
    pub snapshot_interval: String,
    /// A node silent this long leaves the consumer groups; its partitions move.
    pub session_timeout: String,
    /// Most messages per batch read from a cluster topic.
    pub batch_max: usize,
    /// Match the Sigma rules that need no state where events are consumed
    /// (every node, on its share of `<prefix>events`), so that the owner
    /// of a tenant's correlation partition runs only baselines, the rules
    /// that read them, correlations and metric rules. Off: this node's
    /// consumer leaves all matching to the owners (as an owner it still
    /// uses what other nodes' consumers matched).
    pub match_where_consumed: bool,
    /// More librdkafka properties for every cluster client.
    pub options: BTreeMap<String, Secret<String>>,
    /// "s3://bucket/prefix": every node uploads its sealed segments with
    /// their signatures and checkpoints under `<prefix>/<node_id>/` (Object
    /// Lock COMPLIANCE, retained as `[retention]` says; credentials and
    /// endpoint from `[archive.s3]`), records each in `<prefix>segments`,
    /// and any node searches them (`ward search --cluster`). Empty: off.
    pub segments_bucket: String,
    /// How often newly sealed segments are looked for and uploaded.
    pub segments_interval: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            node_id: String::new(),
            brokers: String::new(),
            topic_prefix: "ward.".into(),
            events_partitions: 12,
            corr_partitions: 12,
            produce_timeout: "10s".into(),
            snapshot_interval: "5s".into(),
            session_timeout: "10s".into(),
            batch_max: 1000,
            match_where_consumed: true,
            options: BTreeMap::new(),
            segments_bucket: String::new(),
            segments_interval: "30s".into(),
        }
    }
}

/// `[gate]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// A directory of OSV records (`ward osv sync` fills it); SBOM imports
    /// are refused while it is unset.
    pub osv_dir: Option<PathBuf>,
    /// Public keys provenance attestations are verified with
    /// (`[[gate.keys]]`: `id` and `pem` or `path`).
    pub keys: Vec<crate::gate::provenance::KeyConfig>,
    /// What each gate reason does per environment, and what is required.
    pub policy: crate::gate::policy::PolicyConfig,
}

/// `[access]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Custom roles beside the built-in ones (viewer, analyst, engineer,
    /// auditor, admin, ingest): `[access.roles.<name>] permissions = [...]`.
    pub roles: BTreeMap<String, crate::access::RoleConfig>,
    /// Longest a silence may last from its creation, e.g. "30d".
    pub max_silence_duration: String,
    /// Most silences pending or active per tenant.
    pub max_silences_per_tenant: usize,
    /// Browser sessions of local users (`ward users`).
    pub sessions: SessionsConfig,
    /// Single sign-on with an OpenID Connect provider.
    pub oidc: Option<crate::access::oidc::OidcConfig>,
}

/// `[access.sessions]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// A session ends after this long without a request, e.g. "30m".
    pub idle_timeout: String,
    /// A session ends this long after its login in any case, e.g. "12h".
    pub absolute_timeout: String,
    /// Failed logins for one user name, or from one address (IPv6: one
    /// /64), before logins for it are refused for `lockout`.
    pub max_failed_logins: u32,
    /// How long failures count, and how long a lockout lasts, e.g. "15m".
    pub lockout: String,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            idle_timeout: "30m".into(),
            absolute_timeout: "12h".into(),
            max_failed_logins: 5,
            lockout: "15m".into(),
        }
    }
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            roles: BTreeMap::new(),
            max_silence_duration: "30d".into(),
            max_silences_per_tenant: 100,
            sessions: SessionsConfig::default(),
            oidc: None,
        }
    }
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Data directory (events, keys, state). Env: `WARD_DATA_DIR`.
    pub data_dir: PathBuf,
    /// HTTP listen address for the API, ingest endpoints and UI. Env: `WARD_HTTP_ADDR`.
    pub http_addr: String,
    /// The URL people use to reach this Ward, for links in notifications.
    pub public_url: Option<String>,
    /// Ingest workers (redact, enrich, append) sharing the store's group
    /// commit; 0 derives it from the cores (4 per core, at least 4).
    pub ingest_workers: usize,
    /// Longest a graceful stop (SIGTERM, SIGINT) waits for in-flight
    /// batches, detection and the notification outbox, e.g. "10s". A second
    /// signal stops at once.
    pub drain_timeout: String,
    /// Longest an HTTP client may take to send a request's headers, and
    /// longest a kept-alive connection may sit idle, e.g. "10s": a client
    /// that sends headers a byte at a time cannot hold a connection.
    pub http_header_timeout: String,
    /// Longest an HTTP client may take to send a request's body, e.g.
    /// "2m": a client that trickles its body cannot hold a connection.
    pub http_body_timeout: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: PathBuf::from("./ward-data"),
            http_addr: "127.0.0.1:8080".into(),
            public_url: None,
            ingest_workers: 0,
            drain_timeout: "10s".into(),
            http_header_timeout: "10s".into(),
            http_body_timeout: "2m".into(),
        }
    }
}

/// `[syslog]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// Listen address for both UDP and TCP; loopback by default. Env: `WARD_SYSLOG_ADDR`.
    pub addr: String,
    /// Listen on UDP.
    pub udp: bool,
    /// Listen on TCP (LF or octet-counted framing, RFC 6587).
    pub tcp: bool,
    /// Source name given to syslog events.
    pub source: String,
    /// Tenant given to syslog events.
    pub tenant: String,
    /// The recognizer syslog events are read with, whatever their shape
    /// (as `[[sources]] recognizer`). Unset: recognized by shape.
    pub recognizer: Option<String>,
    /// Maximum concurrent TCP connections.
    pub max_connections: usize,
    /// Maximum concurrent TCP connections from one IP address, so that one
    /// host cannot take every connection.
    pub max_connections_per_address: usize,
    /// A TCP connection that sends nothing for this long is closed, e.g. "5m".
    pub idle_timeout: String,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            addr: "127.0.0.1:5514".into(),
            udp: true,
            tcp: true,
            source: "syslog".into(),
            tenant: "default".into(),
            recognizer: None,
            max_connections: 1024,
            max_connections_per_address: 64,
            idle_timeout: "5m".into(),
        }
    }
}

/// `[limits]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest accepted NDJSON or text line, in bytes.
    pub max_line_bytes: usize,
    /// Longest accepted syslog frame, in bytes.
    pub max_frame_bytes: usize,
    /// Largest accepted HTTP request body after decompression, in bytes.
    pub max_request_bytes: usize,
    /// Deepest accepted JSON nesting.
    pub max_json_depth: usize,
    /// Batches that may wait in the pipeline before senders get 429.
    pub queue_capacity: usize,
    /// Most records (lines, bulk items, log records) in one request; more
    /// is refused whole with 413.
    pub max_records_per_request: usize,
    /// Most records one envelope (a CloudTrail `{"Records":[…]}` file, an
    /// Azure Event Hubs `{"records":[…]}` batch, a Kubernetes `EventList`)
    /// may carry; a larger one is refused alone (dead-lettered), the other
    /// records of the request are kept.
    pub max_envelope_records: usize,
    /// Event times further ahead of the receive time than this are set to
    /// the receive time (the sent value is kept in
    /// `event.original_timestamp`), e.g. "1h".
    pub max_future_skew: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_line_bytes: 1 << 20,
            max_frame_bytes: 256 << 10,
            max_request_bytes: 16 << 20,
            max_json_depth: 64,
            queue_capacity: 256,
            max_records_per_request: 100_000,
            max_envelope_records: 10_000,
            max_future_skew: "1h".into(),
        }
    }
}

/// One `[[sources]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Source name recorded in `ward.source`.
    pub name: String,
    /// Tenant recorded in `tenant.id`.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The token senders present as `Authorization: Bearer <token>`,
    /// `Splunk <token>` or `ApiKey <token>` (also base64 of `id:token`).
    pub token: Secret<String>,
    /// The recognizer this source's events are read with, whatever their
    /// shape (`aws.cloudtrail`, `linux.sshd`, ...: the names are
    /// listed in the README and in the error for an unknown one). Unset: each record is recognized by its shape.
    #[serde(default)]
    pub recognizer: Option<String>,
}

/// `[webhooks]`: inputs whose senders cannot present an ingest token.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// `POST /api/v1/ingest/github`: GitHub webhook deliveries, checked
    /// against `X-Hub-Signature-256`.
    pub github: Option<GithubWebhookConfig>,
    /// `POST /api/v1/ingest/k8s-audit`: the Kubernetes API server's audit
    /// webhook (`EventList` bodies).
    pub k8s_audit: Option<K8sAuditConfig>,
}

/// `[webhooks.github]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubWebhookConfig {
    /// The webhook's secret, as entered in GitHub's webhook settings: each
    /// delivery's HMAC-SHA256 (`X-Hub-Signature-256`) must match it.
    pub secret: Secret<String>,
    /// Source name recorded in `ward.source`.
    #[serde(default = "default_github_source")]
    pub source: String,
    /// Tenant recorded in `tenant.id`.
    #[serde(default = "default_tenant")]
    pub tenant: String,
}

/// `[webhooks.k8s_audit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sAuditConfig {
    /// The bearer token the API server presents (the `token` of the user in
    /// its audit webhook kubeconfig). Only this token is accepted there.
    pub token: Secret<String>,
    /// Source name recorded in `ward.source`.
    #[serde(default = "default_k8s_source")]
    pub source: String,
    /// Tenant recorded in `tenant.id`.
    #[serde(default = "default_tenant")]
    pub tenant: String,
}

fn default_github_source() -> String {
    "github".into()
}

fn default_k8s_source() -> String {
    "kubernetes".into()
}

fn default_tenant() -> String {
    "default".into()
}

/// One `[[kafka]]` entry: a consumer group reading topics into the pipeline.
/// Offsets are committed only after the events are durably stored, so a
/// restart or crash re-reads (at least once) and never skips.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Consumer group id; offsets are committed under it.
    #[serde(default = "default_kafka_group")]
    pub group_id: String,
    /// Source name recorded in `ward.source`.
    #[serde(default = "default_kafka_source")]
    pub source: String,
    /// Tenant recorded in `tenant.id`.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The recognizer the topics' events are read with, whatever their
    /// shape (as `[[sources]] recognizer`). Unset: recognized by shape.
    #[serde(default)]
    pub recognizer: Option<String>,
    /// How a message is read: `auto` (JSON lines when it starts with `{`,
    /// syslog when it starts with `<`, text otherwise), `json`, `syslog`, `text`.
    #[serde(default = "default_kafka_format")]
    pub format: String,
    /// Where a new group starts: `earliest` or `latest`.
    #[serde(default = "default_kafka_start")]
    pub start: String,
    /// Most messages per batch handed to the pipeline.
    #[serde(default = "default_kafka_batch")]
    pub batch_max: usize,
    /// Longest wait to fill a batch, e.g. "200ms".
    #[serde(default = "default_kafka_wait")]
    pub batch_wait: String,
    /// More librdkafka properties (e.g. `"client.id" = "ward"`).
    #[serde(default)]
    pub options: BTreeMap<String, Secret<String>>,
}

fn default_kafka_group() -> String {
    "ward".into()
}
fn default_kafka_source() -> String {
    "kafka".into()
}
fn default_kafka_format() -> String {
    "auto".into()
}
fn default_kafka_start() -> String {
    "earliest".into()
}
fn default_kafka_batch() -> usize {
    1000
}
fn default_kafka_wait() -> String {
    "200ms".into()
}

/// `[store]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// A segment is sealed when it reaches this size, e.g. "256MiB".
    pub segment_max_bytes: u64,
    /// A segment is sealed when it is this old, e.g. "1h".
    pub segment_max_age: String,
    /// Longest time a write waits for others to share its fsync, e.g. "2ms".
    pub group_commit_max_wait: String,
    /// Interval between signed checkpoints while records arrive, e.g. "1s"
    /// (none while the log does not grow; one more at a clean stop).
    pub checkpoint_interval: String,
    /// A directory on other storage (a mounted share, a separate disk, a
    /// write-once volume) that receives a copy of every signed checkpoint;
    /// `ward verify --witness DIR` then catches a data directory rolled
    /// back or rewritten with its own key. Also `s3://bucket/prefix` (a
    /// bucket with Object Lock) or `https://host/path` (a witness service,
    /// see [`crate::store::witness_http`]). Empty: no witness.
    pub witness: String,
    /// An `https://` witness: a file (mode 0600) holding the bearer token
    /// sent with every request.
    pub witness_token_file: Option<std::path::PathBuf>,
    /// An `https://` witness: the variable holding the bearer token
    /// (instead of a file).
    pub witness_token_env: String,
    /// An `http(s)://` witness may be on a private, loopback or link-local
    /// address (refused otherwise, like every outgoing request).
    pub witness_allow_private: bool,
    /// An `http://` witness that is not on loopback (the token and the
    /// checkpoints then cross the network in clear).
    pub witness_allow_http: bool,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            segment_max_bytes: 256 << 20,
            segment_max_age: "1h".into(),
            group_commit_max_wait: "2ms".into(),
            checkpoint_interval: "1s".into(),
            witness: String::new(),
            witness_token_file: None,
            witness_token_env: String::new(),
            witness_allow_private: false,
            witness_allow_http: false,
        }
    }
}

/// `[archive]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// An S3-compatible bucket with Object Lock: the destination of `ward
    /// archive` when `--to` is not given, and the credentials of an
    /// `s3://` destination or `store.witness`.
    pub s3: S3Config,
}

/// `[archive.s3]`. Unset values come from the standard `AWS_*` variables
/// (`AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL, e.g. "https://s3.eu-west-1.amazonaws.com" or
    /// "http://127.0.0.1:9000"; empty: AWS for the region.
    pub endpoint: String,
    /// Region the requests are signed for; empty: `AWS_REGION` or us-east-1.
    pub region: String,
    /// Bucket (created with Object Lock enabled).
    pub bucket: String,
    /// Prefix of every object name, e.g. "ward/node-a".
    pub prefix: String,
    /// Access key id; empty: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// Name of the environment variable holding the secret access key;
    /// empty: `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key_env: String,
    /// A file holding the secret access key (mode 0600 or stricter); wins
    /// over the environment.
    pub secret_access_key_file: Option<PathBuf>,
    /// Path-style URLs (`endpoint/bucket/key`), as local servers need;
    /// unset: path style when `endpoint` is set, virtual-hosted otherwise.
    pub path_style: Option<bool>,
    /// Archive to a bucket without Object Lock (objects could then be
    /// deleted or overwritten by anyone holding the bucket's credentials).
    pub allow_without_object_lock: bool,
}

/// `[retention]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days an event is kept unless its category says otherwise.
    pub default_days: u32,
    /// Days per `event.category`, e.g. `{ authentication = 730 }`.
    pub categories: BTreeMap<String, u32>,
    /// Allow less than 365 days for security categories.
    pub force: bool,
    /// A legal hold on everything: nothing is deleted while true.
    pub legal_hold: bool,
    /// Legal holds on event-time ranges: segments holding such events are kept.
    pub holds: Vec<HoldConfig>,
    /// How often the retention task runs, e.g. "1h".
    pub interval: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            default_days: 400,
            categories: BTreeMap::new(),
            force: false,
            legal_hold: false,
            holds: Vec::new(),
            interval: "1h".into(),
        }
    }
}

/// One `[[retention.holds]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldConfig {
    /// Why (a case reference).
    pub reason: String,
    /// Start of the held event-time range: a date or RFC 3339 time.
    pub from: String,
    /// End of the held range.
    pub until: String,
}

/// `[detect]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Load the built-in rule pack.
    pub builtin_rules: bool,
    /// More rule files or directories (Sigma YAML).
    pub rules: Vec<PathBuf>,
    /// More field-mapping pipelines (YAML).
    pub pipelines: Vec<PathBuf>,
    /// Watch rule paths and reload on change.
    pub hot_reload: bool,
    /// Threads that parse stored events and match Sigma rules (the
    /// stateless part of detection), kept for the server's life; 0 (the
    /// default): one per CPU core; 1 takes each event through every step
    /// at once.
    pub workers: usize,
    /// Behavioural baselines: learning period, thresholds.
    pub baseline: crate::detect::baseline::BaselineConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            builtin_rules: true,
            rules: Vec::new(),
            pipelines: Vec::new(),
            hot_reload: true,
            workers: 0,
            baseline: Default::default(),
        }
    }
}

/// One configuration problem: the key, the value found and the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub key: String,
    pub value: String,
    pub fix: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}: {}", self.key, self.value, self.fix)
    }
}

/// All problems found, printed one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct Invalid(pub Vec<Problem>);

/// Parses a duration like `500ms`, `30s`, `5m`, `2h`, `400d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{t}' has no unit: write e.g. 30s, 5m, 2h or 7d"))?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{t}' does not start with a number: write e.g. 30s"))?;
    let secs = |mult: u64| Duration::from_secs(n.saturating_mul(mult));
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(secs(1)),
        "m" | "min" => Ok(secs(60)),
        "h" => Ok(secs(3600)),
        "d" => Ok(secs(86_400)),
        u => Err(format!("unknown unit '{u}' in '{t}': use ms, s, m, h or d")),
    }
}

/// The validated configuration the program runs with.
#[derive(Debug)]
pub struct Config {
    pub raw: RawConfig,
    pub data_dir: PathBuf,
    pub http_addr: SocketAddr,
    pub syslog_addr: SocketAddr,
    pub segment_max_age: Duration,
    pub group_commit_max_wait: Duration,
    pub checkpoint_interval: Duration,
    pub retention_interval: Duration,
    /// Ingest workers, derived from the cores when not configured.
    pub ingest_workers: usize,
    /// How long a graceful stop may take.
    pub drain_timeout: Duration,
    /// HTTP header-read and keep-alive idle timeout.
    pub http_header_timeout: Duration,
    /// Longest an HTTP request body may take to arrive.
    pub http_body_timeout: Duration,
    /// Syslog TCP idle timeout.
    pub syslog_idle_timeout: Duration,
    /// Event times further ahead than this are clamped.
    pub max_future_skew: Duration,
    /// How often compliance looks for controls due.
    pub compliance_tick: Duration,
    /// Gap alerts of one control closer than this are damped.
    pub compliance_damping: Duration,
    /// Token from `WARD_INGEST_TOKEN`, accepted for the default source and tenant.
    pub env_token: Option<Secret<String>>,
    /// Webhook from `WARD_ALERT_WEBHOOK_URL` or `--alert-webhook`.
    pub alert_webhook: Option<Secret<String>>,
    /// The built-in and custom roles.
    pub roles: crate::access::Roles,
    /// `[access]` silence limits.
    pub silence_limits: crate::api::silences::SilenceLimits,
    /// `[access.sessions]` and the cookie that `server.public_url` calls for.
    pub sessions: crate::access::session::SessionSettings,
    /// `[access.oidc]`, validated.
    pub oidc: Option<std::sync::Arc<crate::access::oidc::Settings>>,
    /// `[gate.policy]`, checked.
    pub gate_policy: std::sync::Arc<crate::gate::policy::Policy>,
    /// `[[gate.keys]]`, read.
    pub gate_keys: std::sync::Arc<Vec<crate::gate::provenance::TrustedKey>>,
    /// `[cluster]`, validated; `None` for a single node.
    pub cluster: Option<std::sync::Arc<crate::cluster::Settings>>,
}

/// Reads the file (if any), applies environment overrides, validates.
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    use anyhow::Context as _;
    let mut raw: RawConfig = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read configuration file {}", p.display()))?;
            toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {}", p.display(), e.to_string().trim_end()))?
        }
        None => RawConfig::default(),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(v) = env("WARD_DATA_DIR") {
        raw.server.data_dir = v.into();
    }
    if let Some(v) = env("WARD_HTTP_ADDR") {
        raw.server.http_addr = v;
    }
    if let Some(v) = env("WARD_SYSLOG_ADDR") {
        raw.syslog.addr = v;
    }
    let env_token = env("WARD_INGEST_TOKEN").map(Secret::new);
    let alert_webhook = env("WARD_ALERT_WEBHOOK_URL").map(Secret::new);
    Ok(raw.validate(env_token, alert_webhook)?)
}

/// Ingest workers when `server.ingest_workers` is 0: four per core, so that
/// several batches share each fsync of the group commit.
pub fn default_ingest_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from) * 4
}

/// The fully commented example configuration printed by `ward config example`.
pub const EXAMPLE: &str = include_str!("config_example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_validates() {
        let raw: RawConfig = toml::from_str(EXAMPLE).unwrap();
        raw.validate(None, None).unwrap();
    }

    #[test]
    fn every_problem_is_reported_with_key_and_fix() {
        let raw: RawConfig = toml::from_str(
            r#"
            [server]
            http_addr = "localhost"
            [store]
            group_commit_max_wait = "5 parsecs"
            [retention]
            categories = { authentication = 30 }
            "#,
        )
        .unwrap();
        let err = raw.validate(None, None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("server.http_addr = localhost"), "{text}");
        assert!(
            text.contains("store.group_commit_max_wait = 5 parsecs"),
            "{text}"
        );
        assert!(
            text.contains("retention.categories.authentication = 30"),
            "{text}"
        );
        assert_eq!(err.0.len(), 3);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<RawConfig>("[server]\nhttp_adr = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("http_adr"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("7y").is_err());
    }
}
