//! [`RawConfig::validate`]: every section checked by its own phase, every
//! problem collected (never only the first), then the runtime [`Config`].

use std::net::SocketAddr;
use std::time::Duration;

use super::{
    Config, Invalid, KafkaConfig, LimitsConfig, Problem, RawConfig, RetentionConfig, SourceConfig,
    WebhooksConfig, default_ingest_workers, parse_duration,
};
use crate::secret::Secret;

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn bad(&mut self, key: &str, value: &str, fix: &str) {
        self.0.push(Problem {
            key: key.into(),
            value: value.into(),
            fix: fix.into(),
        });
    }
}

/// The parsed durations of the configuration.
struct Durations {
    segment_max_age: Duration,
    group_commit_max_wait: Duration,
    checkpoint_interval: Duration,
    retention_interval: Duration,
    drain_timeout: Duration,
    http_header_timeout: Duration,
    http_body_timeout: Duration,
    syslog_idle_timeout: Duration,
    max_future_skew: Duration,
    compliance_tick: Duration,
    compliance_damping: Duration,
}

impl RawConfig {
    /// Checks every setting and returns every problem at once.
    pub fn validate(
        self,
        env_token: Option<Secret<String>>,
        alert_webhook: Option<Secret<String>>,
    ) -> Result<Config, Invalid> {
        let mut problems = Problems::default();
        let (http_addr, syslog_addr) = self.addresses(&mut problems);
        let durations = self.durations(&mut problems);
        self.check_sizes(&mut problems);
        check_limits(&self.limits, &mut problems);
        check_sources(&self.sources, &mut problems);
        check_webhooks(&self.webhooks, &self.sources, &mut problems);
        for (i, k) in self.kafka.iter().enumerate() {
            check_kafka(i, k, &mut problems);
        }
        let declared = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("sources[{i}].recognizer"), &s.recognizer))
            .chain(
                self.kafka
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (format!("kafka[{i}].recognizer"), &k.recognizer)),
            )
            .chain([("syslog.recognizer".to_owned(), &self.syslog.recognizer)]);
        for (key, name) in declared {
            check_recognizer(&key, name.as_deref(), &mut problems);
        }
        check_retention(&self.retention, jiff::Timestamp::now(), &mut problems);
        self.check_sections(&mut problems);
        if durations.compliance_tick.is_zero() {
            problems.bad(
                "compliance.tick",
                &self.compliance.tick,
                "must be more than zero, e.g. \"15s\"",
            );
        }
        let (roles, silence_limits) = self.access_settings(&mut problems);
        let sessions = self.session_settings(&mut problems);
        let oidc = self.access.oidc.as_ref().and_then(|c| {
            crate::access::oidc::Settings::from_config(c, self.server.public_url.as_deref(), &roles)
                .map_err(|bad| {
                    for (k, v, fix) in bad {
                        problems.bad(&k, &v, &fix);
                    }
                })
                .ok()
                .map(std::sync::Arc::new)
        });
        let gate_policy = match crate::gate::policy::Policy::new(self.gate.policy.clone()) {
            Ok(p) => p,
            Err(list) => {
                for (key, value, fix) in list {
                    problems.bad(&key, &value, &fix);
                }
                crate::gate::policy::Policy::default()
            }
        };
        let gate_keys = crate::gate::provenance::load_keys(&self.gate.keys).unwrap_or_else(|e| {
            problems.bad("gate.keys", "", &format!("{e:#}"));
            Vec::new()
        });
        let cluster = check_cluster(&self.cluster, &mut problems);
        if !problems.0.is_empty() {
            return Err(Invalid(problems.0));
        }
        Ok(Config {
            data_dir: self.server.data_dir.clone(),
            http_addr,
            syslog_addr,
            segment_max_age: durations.segment_max_age,
            group_commit_max_wait: durations.group_commit_max_wait,
            checkpoint_interval: durations.checkpoint_interval,
            retention_interval: durations.retention_interval,
            ingest_workers: match self.server.ingest_workers {
                0 => default_ingest_workers(),
                n => n,
            },
            drain_timeout: durations.drain_timeout,
            http_header_timeout: durations.http_header_timeout,
            http_body_timeout: durations.http_body_timeout,
            syslog_idle_timeout: durations.syslog_idle_timeout,
            max_future_skew: durations.max_future_skew,
            compliance_tick: durations.compliance_tick,
            compliance_damping: durations.compliance_damping,
            env_token,
            alert_webhook,
            roles,
            silence_limits,
            sessions,
            oidc,
            gate_policy: std::sync::Arc::new(gate_policy),
            gate_keys: std::sync::Arc::new(gate_keys),
            cluster,
            raw: self,
        })
    }

    /// The HTTP and syslog listen addresses (defaults where unparsable).
    fn addresses(&self, problems: &mut Problems) -> (SocketAddr, SocketAddr) {
        let mut addr = |key: &str, text: &str, example: &str, default: SocketAddr| {
            text.parse::<SocketAddr>().unwrap_or_else(|_| {
                let fix = format!("write an IP address and port, e.g. \"{example}\"");
                problems.bad(key, text, &fix);
                default
            })
        };
        let http = addr(
            "server.http_addr",
            &self.server.http_addr,
            "127.0.0.1:8080",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
        );
        let syslog = addr(
            "syslog.addr",
            &self.syslog.addr,
            "127.0.0.1:5514",
            SocketAddr::from(([127, 0, 0, 1], 5514)),
        );
        (http, syslog)
    }

    /// Every duration setting (one second where unparsable).
    fn durations(&self, problems: &mut Problems) -> Durations {
        let mut dur = |key: &str, v: &str| -> Duration {
            parse_duration(v).unwrap_or_else(|e| {
                problems.bad(key, v, &e);
                Duration::from_secs(1)
            })
        };
        let store = &self.store;
        Durations {
            segment_max_age: dur("store.segment_max_age", &store.segment_max_age),
            group_commit_max_wait: dur("store.group_commit_max_wait", &store.group_commit_max_wait),
            checkpoint_interval: dur("store.checkpoint_interval", &store.checkpoint_interval),
            retention_interval: dur("retention.interval", &self.retention.interval),
            drain_timeout: dur("server.drain_timeout", &self.server.drain_timeout),
            http_header_timeout: dur(
                "server.http_header_timeout",
                &self.server.http_header_timeout,
            ),
            http_body_timeout: dur("server.http_body_timeout", &self.server.http_body_timeout),
            syslog_idle_timeout: dur("syslog.idle_timeout", &self.syslog.idle_timeout),
            max_future_skew: dur("limits.max_future_skew", &self.limits.max_future_skew),
            compliance_tick: dur("compliance.tick", &self.compliance.tick),
            compliance_damping: dur("compliance.alert_damping", &self.compliance.alert_damping),
        }
    }

    /// Segment size and worker count bounds.
    fn check_sizes(&self, problems: &mut Problems) {
        if self.store.segment_max_bytes < 1 << 16 {
            problems.bad(
                "store.segment_max_bytes",
                &self.store.segment_max_bytes.to_string(),
                "use at least 65536 bytes",
            );
        }
        let syslog = &self.syslog;
        if syslog.max_connections_per_address == 0
            || syslog.max_connections_per_address > syslog.max_connections.max(1)
        {
            problems.bad(
                "syslog.max_connections_per_address",
                &syslog.max_connections_per_address.to_string(),
                "use at least 1 and at most syslog.max_connections",
            );
        }
        let witness = &self.store.witness;
        if witness.starts_with("s3://") {
            if crate::store::s3::Location::parse(witness).is_none() {
                problems.bad(
                    "store.witness",
                    witness,
                    "use s3://bucket/prefix with a valid bucket name (3 to 63 lowercase letters, digits, '-' or '.')",
                );
            }
        } else if witness.starts_with("http://") || witness.starts_with("https://") {
            if let Err(fix) = crate::store::witness_http::Target::parse(&self.store) {
                problems.bad("store.witness", witness, &fix);
            }
            if self.store.witness_token_file.is_some() && !self.store.witness_token_env.is_empty() {
                problems.bad(
                    "store.witness_token_env",
                    &self.store.witness_token_env,
                    "set only one of store.witness_token_file and store.witness_token_env",
                );
            }
        } else if !witness.is_empty() {
            let w = std::path::Path::new(witness);
            if !w.is_absolute() {
                problems.bad(
                    "store.witness",
                    witness,
                    "use an absolute directory path, s3://bucket/prefix or https://host/path",
                );
            } else if w.starts_with(&self.server.data_dir)
                || (self.server.data_dir.is_absolute() && self.server.data_dir.starts_with(w))
            {
                problems.bad(
                    "store.witness",
                    witness,
                    "use a directory outside the data directory (ideally on other storage): a witness beside the data proves nothing",
                );
            }
        }
        if self.server.ingest_workers > 1024 {
            problems.bad(
                "server.ingest_workers",
                &self.server.ingest_workers.to_string(),
                "use 0 (derived from the cores) or at most 1024",
            );
        }
        if self.detect.workers > 1024 {
            problems.bad(
                "detect.workers",
                &self.detect.workers.to_string(),
                "use 0 (one per core) or at most 1024",
            );
        }
    }

    /// The sections that validate themselves: redaction, baselines, alerting.
    fn check_sections(&self, problems: &mut Problems) {
        if let Err(list) = self.redact.validate() {
            for p in list {
                problems.bad(&format!("redact.{}", p.key), &p.value, &p.fix);
            }
        }
        // A rule path that does not exist would leave detection silently
        // blind to what it was meant to catch.
        let detect = &self.detect;
        for (key, paths) in [
            ("detect.rules", &detect.rules),
            ("detect.pipelines", &detect.pipelines),
        ] {
            for path in paths.iter().filter(|p| !p.exists()) {
                problems.bad(
                    key,
                    &path.display().to_string(),
                    "no such file or directory: fix the path (relative paths start at the working directory)",
                );
            }
        }
        if let Some(d) = &self.gate.osv_dir
            && !d.is_dir()
        {
            problems.bad(
                "gate.osv_dir",
                &d.display().to_string(),
                "no such directory: create it with `ward osv sync --from MIRROR --into DIR`, or fix the path",
            );
        }
        for p in self.detect.baseline.validate() {
            problems.bad(&format!("detect.baseline.{}", p.key), &p.value, &p.fix);
        }
        for p in self.alerting.validate() {
            problems.bad(&format!("alerting.{}", p.key), &p.value, &p.fix);
        }
    }
}

impl RawConfig {
    /// `[access]`: the roles and the silence limits.
    fn access_settings(
        &self,
        problems: &mut Problems,
    ) -> (crate::access::Roles, crate::api::silences::SilenceLimits) {
        let roles = crate::access::Roles::new(&self.access.roles).unwrap_or_else(|errors| {
            for e in errors {
                problems.bad("access.roles", "", &e);
            }
            crate::access::Roles::default()
        });
        let mut limits = crate::api::silences::SilenceLimits::default();
        match parse_duration(&self.access.max_silence_duration) {
            Ok(d) if d > Duration::ZERO => limits.max_duration = d,
            Ok(_) => problems.bad(
                "access.max_silence_duration",
                &self.access.max_silence_duration,
                "give a positive duration, e.g. 30d",
            ),
            Err(e) => problems.bad(
                "access.max_silence_duration",
                &self.access.max_silence_duration,
                &e,
            ),
        }
        if self.access.max_silences_per_tenant == 0 {
            problems.bad(
                "access.max_silences_per_tenant",
                "0",
                "allow at least 1 silence per tenant",
            );
        }
        limits.max_per_tenant = self.access.max_silences_per_tenant;
        (roles, limits)
    }
}

impl RawConfig {
    /// `[access.sessions]`, and the cookie and origin of `server.public_url`.
    fn session_settings(&self, problems: &mut Problems) -> crate::access::session::SessionSettings {
        use crate::access::session::{SessionSettings, origin_of};
        let c = &self.access.sessions;
        let mut s = SessionSettings::default();
        for (key, text, slot) in [
            (
                "access.sessions.idle_timeout",
                &c.idle_timeout,
                &mut s.idle_timeout,
            ),
            (
                "access.sessions.absolute_timeout",
                &c.absolute_timeout,
                &mut s.absolute_timeout,
            ),
            ("access.sessions.lockout", &c.lockout, &mut s.lockout),
        ] {
            match parse_duration(text) {
                Ok(d) if d > Duration::ZERO => *slot = d,
                Ok(_) => problems.bad(key, text, "give a positive duration, e.g. 30m"),
                Err(e) => problems.bad(key, text, &e),
            }
        }
        if s.idle_timeout > s.absolute_timeout {
            problems.bad(
                "access.sessions.idle_timeout",
                &c.idle_timeout,
                "make it no longer than access.sessions.absolute_timeout",
            );
        }
        if c.max_failed_logins == 0 {
            problems.bad(
                "access.sessions.max_failed_logins",
                "0",
                "allow at least 1 failed login before a lockout",
            );
        }
        s.max_failures = c.max_failed_logins;
        if let Some(url) = &self.server.public_url {
            match origin_of(url) {
                Some(origin) => {
                    s.secure_cookie = origin.starts_with("https://");
                    s.origin = Some(origin);
                }
                None => problems.bad(
                    "server.public_url",
                    url,
                    "write an http or https URL, e.g. \"https://ward.example.com\"",
                ),
            }
        }
        s
    }
}

/// `[limits]`: floors, and a ceiling on JSON depth.
fn check_limits(l: &LimitsConfig, problems: &mut Problems) {
    for (key, v, min) in [
        ("limits.max_line_bytes", l.max_line_bytes, 256),
        ("limits.max_frame_bytes", l.max_frame_bytes, 256),
        ("limits.max_request_bytes", l.max_request_bytes, 1024),
        ("limits.max_json_depth", l.max_json_depth, 2),
        ("limits.queue_capacity", l.queue_capacity, 1),
        (
            "limits.max_records_per_request",
            l.max_records_per_request,
            1,
        ),
        ("limits.max_envelope_records", l.max_envelope_records, 1),
    ] {
        if v < min {
            problems.bad(key, &v.to_string(), &format!("use at least {min}"));
        }
    }
    if l.max_json_depth > 1000 {
        problems.bad(
            "limits.max_json_depth",
            &l.max_json_depth.to_string(),
            "use at most 1000",
        );
    }
}

/// `[[sources]]`: a name, and a long token of its own (never printed).
fn check_sources(sources: &[SourceConfig], problems: &mut Problems) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in sources.iter().enumerate() {
        if s.name.trim().is_empty() {
            problems.bad(
                &format!("sources[{i}].name"),
                "\"\"",
                "give the source a name",
            );
        }
        if !crate::access::valid_tenant(&s.tenant) {
            problems.bad(
                &format!("sources[{i}].tenant"),
                &s.tenant,
                crate::access::TENANT_RULE,
            );
        }
        if s.token.expose().len() < 16 {
            problems.bad(
                &format!("sources[{i}].token"),
                "[secret]",
                "use a token of at least 16 characters (e.g. `openssl rand -hex 24`)",
            );
        }
        if !seen.insert(s.token.expose().clone()) {
            problems.bad(
                &format!("sources[{i}].token"),
                "[secret]",
                "each source needs its own token: this one is used twice",
            );
        }
    }
}

/// `[webhooks]`: long credentials, and a Kubernetes token that is no
/// ingest source's token (it would name two senders).
fn check_webhooks(w: &WebhooksConfig, sources: &[SourceConfig], problems: &mut Problems) {
    if let Some(g) = &w.github
        && g.secret.expose().len() < 16
    {
        problems.bad(
            "webhooks.github.secret",
            "[secret]",
            "use a secret of at least 16 characters (e.g. `openssl rand -hex 24`), and the same in GitHub's webhook settings",
        );
    }
    if let Some(k) = &w.k8s_audit {
        if k.token.expose().len() < 16 {
            problems.bad(
                "webhooks.k8s_audit.token",
                "[secret]",
                "use a token of at least 16 characters (e.g. `openssl rand -hex 24`)",
            );
        }
        if sources.iter().any(|s| s.token.expose() == k.token.expose()) {
            problems.bad(
                "webhooks.k8s_audit.token",
                "[secret]",
                "the audit webhook needs its own token: this one is also a [[sources]] token",
            );
        }
    }
}

/// One `[[kafka]]` entry.
/// A declared recognizer must be one Ward has.
fn check_recognizer(key: &str, name: Option<&str>, problems: &mut Problems) {
    let Some(name) = name else { return };
    if !ward_event::recognize::names().any(|n| n == name) {
        let known: Vec<&str> = ward_event::recognize::names().collect();
        problems.bad(
            key,
            name,
            &format!(
                "use one of {}, or leave it out to recognize records by their shape",
                known.join(", ")
            ),
        );
    }
}

fn check_kafka(i: usize, k: &KafkaConfig, problems: &mut Problems) {
    let key = |f: &str| format!("kafka[{i}].{f}");
    if k.brokers.trim().is_empty() {
        let fix = "name at least one broker, e.g. \"127.0.0.1:9092\"";
        problems.bad(&key("brokers"), "\"\"", fix);
    }
    if k.topics.is_empty() || k.topics.iter().any(|t| t.trim().is_empty()) {
        let fix = "list the topics to read, e.g. [\"app-logs\"]";
        problems.bad(&key("topics"), &format!("{:?}", k.topics), fix);
    }
    if k.group_id.trim().is_empty() {
        problems.bad(&key("group_id"), "\"\"", "give the consumer group a name");
    }
    if !matches!(k.format.as_str(), "auto" | "json" | "syslog" | "text") {
        problems.bad(&key("format"), &k.format, "use auto, json, syslog or text");
    }
    if !matches!(k.start.as_str(), "earliest" | "latest") {
        problems.bad(&key("start"), &k.start, "use earliest or latest");
    }
    if !(1..=100_000).contains(&k.batch_max) {
        problems.bad(
            &key("batch_max"),
            &k.batch_max.to_string(),
            "use 1 to 100000",
        );
    }
    if let Err(e) = parse_duration(&k.batch_wait) {
        problems.bad(&key("batch_wait"), &k.batch_wait, &e);
    }
    for name in k.options.keys() {
        if matches!(
            name.as_str(),
            "bootstrap.servers"
                | "group.id"
                | "enable.auto.commit"
                | "enable.auto.offset.store"
                | "auto.offset.reset"
        ) {
            problems.bad(
                &key(&format!("options.\"{name}\"")),
                "[set]",
                "Ward sets this itself: use the kafka keys brokers, group_id or start",
            );
        }
    }
}

/// `[cluster]`, when enabled: a node name, brokers, topic names Kafka
/// accepts, partition counts and durations.
fn check_cluster(
    c: &super::ClusterConfig,
    problems: &mut Problems,
) -> Option<std::sync::Arc<crate::cluster::Settings>> {
    if !c.enabled {
        return None;
    }
    let before = problems.0.len();
    let name_ok = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if !name_ok(&c.node_id, 64) {
        problems.bad(
            "cluster.node_id",
            &format!("{:?}", c.node_id),
            "name this node, unique in the cluster: 1 to 64 letters, digits, '.', '_' or '-'",
        );
    }
    if c.brokers.trim().is_empty() {
        problems.bad(
            "cluster.brokers",
            "\"\"",
            "cluster mode needs Kafka: name at least one broker, e.g. \"127.0.0.1:9092\"",
        );
    }
    if !c.topic_prefix.is_empty() && !name_ok(&c.topic_prefix, 200) {
        problems.bad(
            "cluster.topic_prefix",
            &format!("{:?}", c.topic_prefix),
            "use up to 200 letters, digits, '.', '_' or '-' (Kafka topic names)",
        );
    }
    for (key, n) in [
        ("cluster.events_partitions", c.events_partitions),
        ("cluster.corr_partitions", c.corr_partitions),
    ] {
        if !(1..=crate::cluster::MAX_PARTITIONS).contains(&n) {
            let max = crate::cluster::MAX_PARTITIONS;
            problems.bad(key, &n.to_string(), &format!("use 1 to {max}"));
        }
    }
    if !(1..=100_000).contains(&c.batch_max) {
        problems.bad(
            "cluster.batch_max",
            &c.batch_max.to_string(),
            "use 1 to 100000",
        );
    }
    let mut duration = |key: &str, text: &str, min: Duration| match parse_duration(text) {
        Ok(d) if d >= min => d,
        Ok(_) => {
            problems.bad(key, text, &format!("must be at least {min:?}"));
            min
        }
        Err(e) => {
            problems.bad(key, text, &e);
            min
        }
    };
    let produce_timeout = duration(
        "cluster.produce_timeout",
        &c.produce_timeout,
        Duration::from_secs(1),
    );
    let snapshot_interval = duration(
        "cluster.snapshot_interval",
        &c.snapshot_interval,
        Duration::from_millis(100),
    );
    let session_timeout = duration(
        "cluster.session_timeout",
        &c.session_timeout,
        Duration::from_secs(6),
    );
    let segments_interval = duration(
        "cluster.segments_interval",
        &c.segments_interval,
        Duration::from_millis(100),
    );
    let segments_bucket = if c.segments_bucket.is_empty() {
        None
    } else {
        let loc = crate::store::s3::Location::parse(&c.segments_bucket);
        if loc.is_none() {
            problems.bad(
                "cluster.segments_bucket",
                &format!("{:?}", c.segments_bucket),
                "use s3://bucket/prefix with a bucket created with Object Lock (3 to 63 lowercase letters, digits, '-' or '.')",
            );
        }
        loc
    };
    for name in c.options.keys() {
        if matches!(
            name.as_str(),
            "bootstrap.servers"
                | "group.id"
                | "client.id"
                | "enable.auto.commit"
                | "enable.auto.offset.store"
                | "auto.offset.reset"
                | "acks"
                | "enable.idempotence"
                | "session.timeout.ms"
                | "message.timeout.ms"
        ) {
            problems.bad(
                &format!("cluster.options.\"{name}\""),
                "[set]",
                "Ward sets this itself for the cluster's guarantees",
            );
        }
    }
    if problems.0.len() > before {
        return None;
    }
    Some(std::sync::Arc::new(crate::cluster::Settings {
        node_id: c.node_id.clone(),
        brokers: c.brokers.trim().to_owned(),
        prefix: c.topic_prefix.clone(),
        events_partitions: c.events_partitions,
        corr_partitions: c.corr_partitions,
        produce_timeout,
        snapshot_interval,
        session_timeout,
        batch_max: c.batch_max,
        match_where_consumed: c.match_where_consumed,
        segments: segments_bucket.map(|location| crate::cluster::SegmentsSettings {
            location,
            interval: segments_interval,
        }),
        options: c
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }))
}

/// `[retention]`: the security floor and parsable hold bounds.
fn check_retention(r: &RetentionConfig, now: jiff::Timestamp, problems: &mut Problems) {
    for (cat, days) in &r.categories {
        if crate::store::is_security_category(cat) && *days < 365 && !r.force {
            problems.bad(
                &format!("retention.categories.{cat}"),
                &days.to_string(),
                "security events are kept at least 365 days; raise it or set retention.force = true",
            );
        }
    }
    for (i, h) in r.holds.iter().enumerate() {
        for (k, v) in [("from", &h.from), ("until", &h.until)] {
            if crate::store::parse_time_bound(v, now).is_err() {
                problems.bad(
                    &format!("retention.holds[{i}].{k}"),
                    v,
                    "write a date (2026-01-31) or an RFC 3339 time",
                );
            }
        }
    }
    if r.default_days < 365 && !r.force {
        problems.bad(
            "retention.default_days",
            &r.default_days.to_string(),
            "keep events at least 365 days, or set retention.force = true",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HoldConfig, RawConfig};

    fn keys(p: &Problems) -> Vec<&str> {
        p.0.iter().map(|p| p.key.as_str()).collect()
    }

    fn raw(toml_text: &str) -> RawConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn addresses_fall_back_and_report() {
        let mut p = Problems::default();
        let c = raw("[server]\nhttp_addr = \"nowhere\"\n[syslog]\naddr = \"0.0.0.0:1514\"\n");
        let (http, syslog) = c.addresses(&mut p);
        assert_eq!(http.port(), 8080);
        assert_eq!(syslog.port(), 1514);
        assert_eq!(keys(&p), vec!["server.http_addr"]);
    }

    #[test]
    fn durations_parse_each_setting() {
        let mut p = Problems::default();
        let c = raw("[store]\ncheckpoint_interval = \"250ms\"\nsegment_max_age = \"soon\"\n");
        let d = c.durations(&mut p);
        assert_eq!(d.checkpoint_interval, Duration::from_millis(250));
        assert_eq!(d.segment_max_age, Duration::from_secs(1));
        assert_eq!(keys(&p), vec!["store.segment_max_age"]);
    }

    #[test]
    fn checkpoint_interval_defaults_to_one_second() {
        let d = RawConfig::default().durations(&mut Problems::default());
        assert_eq!(d.checkpoint_interval, Duration::from_secs(1));
    }

    #[test]
    fn check_sizes_bounds_segments_and_workers() {
        let mut p = Problems::default();
        let c = raw(
            "[store]\nsegment_max_bytes = 100\n[server]\ningest_workers = 5000\n[detect]\nworkers = 5000\n",
        );
        c.check_sizes(&mut p);
        assert_eq!(
            keys(&p),
            vec![
                "store.segment_max_bytes",
                "server.ingest_workers",
                "detect.workers"
            ]
        );
    }

    #[test]
    fn rule_and_pipeline_paths_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let there = dir.path().display();
        let mut p = Problems::default();
        let c = raw(&format!(
            "[detect]\nrules = [\"{there}\", \"{there}/missing\"]\npipelines = [\"/nonexistent.yml\"]\n"
        ));
        c.check_sections(&mut p);
        assert_eq!(keys(&p), vec!["detect.rules", "detect.pipelines"]);
    }

    #[test]
    fn check_limits_has_floors_and_a_depth_ceiling() {
        let mut p = Problems::default();
        let l = raw("[limits]\nmax_line_bytes = 10\nmax_json_depth = 5000\n").limits;
        check_limits(&l, &mut p);
        assert_eq!(
            keys(&p),
            vec!["limits.max_line_bytes", "limits.max_json_depth"]
        );
    }

    #[test]
    fn check_sources_wants_names_and_distinct_long_tokens() {
        let mut p = Problems::default();
        let s = raw("[[sources]]\nname = \"\"\ntoken = \"0123456789abcdef\"\n\
             [[sources]]\nname = \"b\"\ntoken = \"0123456789abcdef\"\n\
             [[sources]]\nname = \"c\"\ntoken = \"short\"\n")
        .sources;
        check_sources(&s, &mut p);
        assert_eq!(
            keys(&p),
            vec!["sources[0].name", "sources[1].token", "sources[2].token"]
        );
        assert!(
            p.0.iter().all(|x| x.value != "0123456789abcdef"),
            "tokens never printed"
        );
    }

    #[test]
    fn a_declared_recognizer_must_exist() {
        let mut p = Problems::default();
        check_recognizer("sources[0].recognizer", Some("aws.cloudtrail"), &mut p);
        check_recognizer("sources[1].recognizer", None, &mut p);
        check_recognizer("syslog.recognizer", Some("cloudtrail"), &mut p);
        assert_eq!(keys(&p), vec!["syslog.recognizer"]);
        assert!(p.0[0].fix.contains("aws.cloudtrail"), "{}", p.0[0].fix);
    }

    #[test]
    fn check_kafka_names_each_bad_key() {
        let mut p = Problems::default();
        let k = raw(
            "[[kafka]]\nbrokers = \"\"\ntopics = []\nformat = \"xml\"\nbatch_max = 0\n\
             options = { \"group.id\" = \"x\" }\n",
        )
        .kafka;
        check_kafka(3, &k[0], &mut p);
        assert_eq!(
            keys(&p),
            vec![
                "kafka[3].brokers",
                "kafka[3].topics",
                "kafka[3].format",
                "kafka[3].batch_max",
                "kafka[3].options.\"group.id\""
            ]
        );
    }

    #[test]
    fn check_cluster_is_off_by_default_and_names_each_bad_key() {
        let mut p = Problems::default();
        assert!(check_cluster(&raw("").cluster, &mut p).is_none());
        assert!(p.0.is_empty(), "a single node needs no broker");
        let c = raw(
            "[cluster]\nenabled = true\nnode_id = \"a b\"\ntopic_prefix = \"ward/\"\n\
             corr_partitions = 0\nproduce_timeout = \"soon\"\n\
             segments_bucket = \"https://bucket\"\nsegments_interval = \"0s\"\n\
             options = { \"acks\" = \"1\" }\n",
        )
        .cluster;
        assert!(check_cluster(&c, &mut p).is_none());
        assert_eq!(
            keys(&p),
            vec![
                "cluster.node_id",
                "cluster.brokers",
                "cluster.topic_prefix",
                "cluster.corr_partitions",
                "cluster.produce_timeout",
                "cluster.segments_interval",
                "cluster.segments_bucket",
                "cluster.options.\"acks\""
            ]
        );
        let mut p = Problems::default();
        let c = raw("[cluster]\nenabled = true\nnode_id = \"n1\"\nbrokers = \"127.0.0.1:9092\"\n")
            .cluster;
        let s = check_cluster(&c, &mut p).unwrap();
        assert_eq!(s.events_topic(), "ward.events");
        assert_eq!(s.corr_partitions, 12);
        assert!(
            s.segments.is_none(),
            "uploads are off unless a bucket is named"
        );
        let c = raw(
            "[cluster]\nenabled = true\nnode_id = \"n1\"\nbrokers = \"127.0.0.1:9092\"\n\
             segments_bucket = \"s3://ward-segs/c1\"\n",
        )
        .cluster;
        let seg = check_cluster(&c, &mut p).unwrap().segments.clone().unwrap();
        assert_eq!(seg.location.prefix, "c1");
        assert_eq!(seg.interval, Duration::from_secs(30));
        assert!(toml::from_str::<RawConfig>("[cluster]\nnode = \"x\"\n").is_err());
    }

    #[test]
    fn check_retention_keeps_the_security_floor_unless_forced() {
        let mut r =
            raw("[retention]\ndefault_days = 30\ncategories = { iam = 10, web = 5 }\n").retention;
        r.holds.push(HoldConfig {
            reason: "case".into(),
            from: "yesterday-ish".into(),
            until: "2026-01-31".into(),
        });
        let mut p = Problems::default();
        check_retention(&r, jiff::Timestamp::now(), &mut p);
        assert_eq!(
            keys(&p),
            vec![
                "retention.categories.iam",
                "retention.holds[0].from",
                "retention.default_days"
            ]
        );
        r.force = true;
        let mut p = Problems::default();
        check_retention(&r, jiff::Timestamp::now(), &mut p);
        assert_eq!(keys(&p), vec!["retention.holds[0].from"]);
    }

    #[test]
    fn check_sections_prefixes_the_section_keys() {
        let mut p = Problems::default();
        let c = raw("[detect.baseline]\nlearning_period = \"never\"\n");
        c.check_sections(&mut p);
        assert!(
            p.0.iter().all(|x| x.key.starts_with("detect.baseline.")) && !p.0.is_empty(),
            "{:?}",
            keys(&p)
        );
    }
}
