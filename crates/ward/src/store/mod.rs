//! The store stage: turns events into `ward-store` records (with the terms
//! its per-block indexes keep) and appends them; the search and proof API
//! glue; the retention task.
//!
//! `ward-store` is blocking by design; every call from async code goes
//! through `spawn_blocking` here, so no other module needs to know.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ward_store::{OpenReport, Record, Store, StoreConfig};

use crate::config::Config;
use crate::model::Event;

pub use ward_store::INDEXED_FIELDS;

pub mod s3;
pub mod witness;
pub mod witness_http;

/// Categories that hold security events: kept at least 365 days unless
/// `retention.force` says otherwise.
pub fn is_security_category(category: &str) -> bool {
    ward_store::SECURITY_CATEGORIES.contains(&category)
}

/// Whether the event store's disk is full, for start-up messages of the
/// stages that need to write beside it.
pub fn disk_full(store: &Store) -> bool {
    store
        .write_failure()
        .is_some_and(|f| f.class == ward_store::ErrorClass::NoSpace)
}

/// Opens the store in the configured data directory.
pub fn open(config: &Config) -> anyhow::Result<(Store, OpenReport)> {
    let dir = config.data_dir.join("events");
    let raw = &config.raw;
    let cfg = StoreConfig {
        dir: dir.clone(),
        segment_max_bytes: raw.store.segment_max_bytes,
        segment_max_age: config.segment_max_age,
        group_commit_max_wait: config.group_commit_max_wait,
        checkpoint_interval: config.checkpoint_interval,
        retention: retention_policy(config),
        witness: witness::from_config(config)?,
        ..StoreConfig::default()
    };
    let (store, report) = Store::open(cfg)
        .with_context(|| format!("cannot open the event store in {}", dir.display()))?;
    tracing::info!(report = ?report, "event store opened");
    store.check_space();
    if let Some(f) = store.write_failure() {
        tracing::error!(reason = %f.reason, dir = %dir.display(),
            "the disk holding the event store is full: search works, ingest answers 507 until space is freed");
    }
    if report.damaged_records > 0 {
        for d in &report.damaged {
            if let Some(a) = store.damage_acknowledgement(d) {
                tracing::warn!(
                    segment = %d.segment.display(),
                    first_offset = d.first_offset,
                    records = d.records,
                    by = %a.by,
                    reason = %a.reason,
                    "damaged records in the event store, acknowledged"
                );
                continue;
            }
            tracing::error!(
                segment = %d.segment.display(),
                first_offset = d.first_offset,
                records = d.records,
                quarantine = %d.quarantine.display(),
                "damaged records in the event store: later records kept, bytes set aside; `ward verify` names them"
            );
        }
    }
    for r in &report.index_rebuilt {
        tracing::error!(
            segment = %r.segment.display(),
            reason = %r.reason,
            "a sealed segment's index is not the signed one: rebuilt from its records and used instead; `ward verify` names the block"
        );
    }
    Ok((store, report))
}

/// `ward_store_damaged_records{acknowledged}`: damaged write-ahead
/// records start-up set aside (quarantined), by whether an operator
/// acknowledged them (`ward acknowledge-damage`).
pub fn damage_metrics(m: &crate::metrics::Metrics, store: &Store, report: &OpenReport) {
    m.describe(
        "ward_store_damaged_records",
        "damaged records set aside at start-up (ward verify names them), by whether an operator acknowledged them",
    );
    let (mut acknowledged, mut open) = (0u64, 0u64);
    for d in &report.damaged {
        if store.damage_acknowledgement(d).is_some() {
            acknowledged += d.records;
        } else {
            open += d.records;
        }
    }
    m.set(
        "ward_store_damaged_records",
        &[("acknowledged", "true")],
        acknowledged as f64,
    );
    m.set(
        "ward_store_damaged_records",
        &[("acknowledged", "false")],
        open as f64,
    );
}

/// Ward's own events for the damage start-up found in the store (damaged
/// write-ahead records, untrusted segment indexes): stored like any event,
/// so that the built-in rule "Event store damage found" alerts on them.
/// Damage an operator acknowledged (`ward acknowledge-damage`) alerts no
/// more.
pub fn damage_events(store: &Store, report: &OpenReport) -> Vec<serde_json::Value> {
    let event = |kind: &str, file: &std::path::Path, reason: String, records: u64| {
        serde_json::json!({
            "service": {"name": "ward"},
            "event": {
                "action": "store_damage_found",
                "category": ["database"],
                "kind": "alert",
                "outcome": "failure",
                "reason": reason,
                "type": [kind],
            },
            "log": {"level": "critical"},
            "file": {"path": file.display().to_string()},
            "labels": {"damaged_records": records.to_string()},
            "message": format!("event store damage found at start-up in {}", file.display()),
        })
    };
    let mut out: Vec<serde_json::Value> = report
        .damaged
        .iter()
        .filter(|d| store.damage_acknowledgement(d).is_none())
        .map(|d| {
            event(
                "error",
                &d.segment,
                format!(
                    "{} damaged records from offset {}, bytes set aside in {}",
                    d.records,
                    d.first_offset,
                    d.quarantine.display()
                ),
                d.records,
            )
        })
        .collect();
    out.extend(
        report
            .index_rebuilt
            .iter()
            .map(|r| event("change", &r.segment, r.reason.clone(), 0)),
    );
    out
}

/// The retention policy from `[retention]`.
pub fn retention_policy(config: &Config) -> ward_store::RetentionPolicy {
    let r = &config.raw.retention;
    let now = jiff::Timestamp::now();
    ward_store::RetentionPolicy {
        default_days: r.default_days,
        categories: r.categories.clone(),
        force: r.force,
        legal_hold: r.legal_hold,
        // Validated at start-up; an unparsable bound holds everything.
        holds: r
            .holds
            .iter()
            .map(|h| ward_store::LegalHold {
                reason: h.reason.clone(),
                from_ms: parse_time_bound(&h.from, now).unwrap_or(i64::MIN),
                until_ms: parse_time_bound(&h.until, now).unwrap_or(i64::MAX),
            })
            .collect(),
    }
}

/// The store record for an event: its JSON, time, categories and index
/// terms. Index metadata beyond the store's limits (a 5,000-character
/// `user.name`, 40 categories) is fitted, never refused: the event is kept
/// whole and flagged with the fields whose index entry was cut in
/// `ward.index.truncated` (see [`ward_store::fit_index`]).
///
/// An event time more than `max_future_skew` ahead of the receive time
/// (`event.ingested`) is set to the receive time, the sent value kept in
/// `event.original_timestamp` and `timestamp_in_future` added to
/// `ward.flags`: a sender cannot pin events to the top of every search.
pub fn record(event: &mut Event, max_future_skew: Duration) -> Result<Record, String> {
    let id = event.get_str("event.id").unwrap_or_default().to_owned();
    let received = event
        .get_str("event.ingested")
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let mut time_ms = event
        .get_str("@timestamp")
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or_else(|| received.as_millisecond(), |t| t.as_millisecond());
    let skew = i64::try_from(max_future_skew.as_millis()).unwrap_or(i64::MAX);
    if time_ms > received.as_millisecond().saturating_add(skew) {
        clamp_to_received(event, received);
        time_ms = received.as_millisecond();
    }
    let mut category = match event.get("event.category") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let mut terms = Vec::new();
    for f in INDEXED_FIELDS.iter() {
        match event.get(f) {
            Some(serde_json::Value::String(s)) => terms.push(((*f).to_owned(), s.to_lowercase())),
            Some(serde_json::Value::Array(a)) => {
                for v in a.iter().filter_map(|v| v.as_str()) {
                    terms.push(((*f).to_owned(), v.to_lowercase()));
                }
            }
            Some(v @ serde_json::Value::Number(_)) => terms.push(((*f).to_owned(), v.to_string())),
            _ => {}
        }
    }
    let cut = ward_store::fit_index(&mut category, &mut terms);
    if !cut.is_empty() {
        event.set("ward.index.truncated", serde_json::json!(cut));
    }
    let body = serde_json::to_vec(event).map_err(|e| format!("event is not serializable: {e}"))?;
    let record = Record {
        id,
        time_ms,
        category,
        terms,
        body,
    };
    ward_store::check_record(&record)?;
    Ok(record)
}

/// Sets `@timestamp` to the receive time, keeping the sent value.
fn clamp_to_received(event: &mut Event, received: jiff::Timestamp) {
    if let Some(sent) = event.get("@timestamp").cloned() {
        event.set("event.original_timestamp", sent);
    }
    event.0.insert(
        "@timestamp".into(),
        ward_event::time::format_rfc3339(received).into(),
    );
    let mut flags = match event.get("ward.flags") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    flags.push("timestamp_in_future".into());
    event.set("ward.flags", flags.into());
}

/// Bytes of a refused event kept in its dead letter (`event.original`).
const DEAD_LETTER_KEEP: usize = 64 << 10;

/// The dead letter standing in for an event the store cannot take: the
/// same id, time and attribution (so the sender's acknowledgement names
/// it), the reason, and the start of the (already redacted) event.
fn dead_letter(event: &Event, reason: &str) -> Event {
    let mut dl = Event::default();
    for f in [
        "@timestamp",
        "event.id",
        "event.ingested",
        "tenant.id",
        "ward.input",
        "ward.source",
    ] {
        if let Some(v) = event.get(f) {
            dl.set(f, v.clone());
        }
    }
    let raw = serde_json::to_vec(event).unwrap_or_default();
    let mut end = raw.len().min(DEAD_LETTER_KEEP);
    while end > 0 && std::str::from_utf8(&raw[..end]).is_err() {
        end -= 1;
    }
    dl.set("event.kind", "pipeline_error".into());
    dl.set(
        "error.message",
        format!("the event store cannot take this event: {reason}").into(),
    );
    dl.set(
        "event.original",
        String::from_utf8_lossy(&raw[..end]).into_owned().into(),
    );
    dl.set("ward.dead_letter", true.into());
    dl.set("ward.original.bytes", raw.len().into());
    if end < raw.len() {
        dl.set("ward.original.truncated", true.into());
    }
    dl
}

/// Why a batch was not appended, by what its sender should do.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The batch cannot be stored as it is (should not happen: events the
    /// store refuses become dead letters first).
    #[error("the batch cannot be stored: {0}")]
    Invalid(String),
    /// The store's disk is full; retry once space is freed.
    #[error("{0}")]
    NoSpace(String),
    /// Anything else.
    #[error("cannot append to the event store: {0}")]
    Failed(String),
}

/// The store record for `event` ([`record`]), or, when the store cannot
/// take the event, the record of its dead letter (then `true`): one poison
/// event never fails its batch.
///
/// # Errors
/// Only when even the dead letter cannot be stored (it should always be).
pub fn record_or_dead_letter(
    event: &mut Event,
    max_future_skew: Duration,
) -> Result<(Record, bool), AppendError> {
    match record(event, max_future_skew) {
        Ok(r) => Ok((r, false)),
        Err(reason) => {
            tracing::warn!(
                event_id = event.get_str("event.id").unwrap_or_default(),
                %reason,
                "event refused by the store; kept as a dead letter"
            );
            let mut dl = dead_letter(event, &reason);
            let r = record(&mut dl, max_future_skew).map_err(AppendError::Invalid)?;
            Ok((r, true))
        }
    }
}

/// Appends records durably (returns after fsync), from async code; the
/// offsets the records were stored at, in order.
pub async fn append(
    store: &Arc<Store>,
    records: Vec<Record>,
    metrics: &Arc<crate::metrics::Metrics>,
) -> Result<Vec<ward_store::Offset>, AppendError> {
    let (store, metrics) = (Arc::clone(store), Arc::clone(metrics));
    tokio::task::spawn_blocking(move || append_blocking(&store, records, &metrics))
        .await
        .map_err(|e| AppendError::Failed(format!("store task failed: {e}")))?
}

/// [`append`] on the calling (blocking) thread.
pub fn append_blocking(
    store: &Store,
    records: Vec<Record>,
    metrics: &crate::metrics::Metrics,
) -> Result<Vec<ward_store::Offset>, AppendError> {
    let cpu = crate::metrics::thread_cpu();
    let appended = store.append(records);
    metrics.stage_cpu("append", cpu);
    appended.map_err(|e| match e.class() {
        ward_store::ErrorClass::InvalidRecord => AppendError::Invalid(e.to_string()),
        ward_store::ErrorClass::NoSpace => AppendError::NoSpace(e.to_string()),
        ward_store::ErrorClass::Unavailable => AppendError::Failed(e.to_string()),
    })
}

/// Runs retention at each interval until `stop`; a run in progress
/// finishes first.
pub async fn retention_task(
    store: Arc<Store>,
    interval: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let s = Arc::clone(&store);
        let now = jiff::Timestamp::now().as_millisecond();
        match tokio::task::spawn_blocking(move || s.apply_retention(now, false)).await {
            Ok(Ok(actions)) if !actions.is_empty() => {
                tracing::info!(deleted = actions.len(), "retention applied")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
    }
}

/// Raises an alert when the store (in `dir`) stops taking appends (a full
/// disk, or a write error that needs a restart), once per episode, checked
/// four times a second (and by the count of failed writes, for an episode
/// shorter than that). The alert goes straight to the alert stage (the store that
/// would hold an event is the thing that fails); when the alert database
/// cannot be written either (the same full disk), it is retried at every
/// check and recorded as soon as it can be.
pub async fn write_failure_alerts(
    store: Arc<Store>,
    alerts: Arc<crate::alert::Alerts>,
    dir: String,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    // Whether an episode is under way, and its alert while not recorded
    // (kept when the episode ends first: a short one is reported too).
    let (mut failing, mut pending) = (false, None);
    let mut warned = false;
    let mut failures = store.stats().write_failures;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        // An episode shorter than a tick still counts a failed write.
        let counted = store.stats().write_failures;
        let missed = counted > failures && !failing;
        failures = counted;
        match store.write_failure() {
            Some(f) if !failing => {
                failing = true;
                pending = Some(write_failure_finding(
                    Some(&f),
                    jiff::Timestamp::now(),
                    &dir,
                ));
            }
            Some(_) => {}
            None if missed => {
                pending = Some(write_failure_finding(None, jiff::Timestamp::now(), &dir));
            }
            None => failing = false,
        }
        let Some(finding) = pending.clone() else {
            continue;
        };
        match alerts.on_finding(finding).await {
            Ok(()) => (pending, warned) = (None, false),
            // Said once, not at every retry.
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(error = %e, "the alert that the store cannot write is not recorded yet; retrying");
            }
            Err(_) => {}
        }
    }
}

/// The alert of a store that refuses appends (`None`: it did, briefly,
/// between two checks).
fn write_failure_finding(
    f: Option<&ward_store::WriteFailure>,
    since: jiff::Timestamp,
    dir: &str,
) -> crate::model::Finding {
    let (what, fix, reason) = match f {
        Some(f) if f.class == ward_store::ErrorClass::NoSpace => (
            "the disk is full",
            "free space on that disk: ingest resumes by itself within seconds, senders get 507 and TCP senders are held meanwhile",
            f.reason.as_str(),
        ),
        Some(f) => (
            "writes fail",
            "check the disk and restart Ward: ingest answers 503 until then",
            f.reason.as_str(),
        ),
        None => (
            "writes failed briefly",
            "check free space and the disk's health: appends work again, the refused senders were told to retry",
            "appends failed between two checks a quarter second apart",
        ),
    };
    let since_ms = since.as_millisecond();
    let since = since.to_string();
    let mut group_key = std::collections::BTreeMap::new();
    group_key.insert("ward.store".to_owned(), dir.to_owned());
    crate::model::Finding {
        id: format!("ward:store-write:{since_ms}"),
        rule_id: "ward:store_write_failing".into(),
        rule_title: format!("Event store cannot write: {what}"),
        level: "critical".into(),
        tags: Vec::new(),
        description: format!("{reason} ({dir}): {what}; {fix}"),
        group_key,
        evidence: Vec::new(),
        first_seen: since.clone(),
        last_seen: since,
        labels: std::collections::BTreeMap::new(),
        runbook: None,
        value: None,
    }
}

/// A time bound as people write it: relative (`24h`, `7d`, meaning that long
/// ago), `now`, or absolute RFC 3339 / date (`2026-01-31`).
pub fn parse_time_bound(text: &str, now: jiff::Timestamp) -> Result<i64, String> {
    let t = text.trim();
    if t == "now" {
        return Ok(now.as_millisecond());
    }
    if let Ok(d) = crate::config::parse_duration(t) {
        return Ok(now.as_millisecond() - d.as_millis() as i64);
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    if let Ok(date) = t.parse::<jiff::civil::Date>()
        && let Ok(z) = date.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(z.timestamp().as_millisecond());
    }
    Err(format!(
        "'{t}' is not a time: write a duration ago (24h, 7d), now, a date (2026-01-31) or RFC 3339 (2026-01-31T12:00:00Z)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poison_event_is_fitted_and_flagged_not_refused() {
        let mut e = Event::default();
        e.set("event.id", "e1".into());
        e.set("user.name", "A".repeat(5000).into());
        let cats: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        e.set("event.category", serde_json::json!(cats));
        let r = record(&mut e, Duration::from_secs(3600)).unwrap();
        assert_eq!(r.category.len(), ward_store::format::MAX_CATEGORIES);
        assert_eq!(
            e.get("ward.index.truncated"),
            Some(&serde_json::json!(["event.category", "user.name"]))
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["user"]["name"].as_str().map(str::len), Some(5000));
        assert_eq!(body["event"]["category"].as_array().map(Vec::len), Some(40));
    }

    #[test]
    fn a_far_future_time_is_clamped_to_receipt_and_kept() {
        let mut e = Event::default();
        e.0.insert("@timestamp".into(), "5138-11-16T09:46:40Z".into());
        e.set("event.ingested", "2026-12-01T10:00:00.000Z".into());
        let r = record(&mut e, Duration::from_secs(3600)).unwrap();
        assert_eq!(r.time_ms, 1_796_119_200_000);
        assert_eq!(e.get_str("@timestamp"), Some("2026-12-01T10:00:00.000Z"));
        assert_eq!(
            e.get_str("event.original_timestamp"),
            Some("5138-11-16T09:46:40Z")
        );
        assert_eq!(
            e.get("ward.flags"),
            Some(&serde_json::json!(["timestamp_in_future"]))
        );
        // Within the skew: left alone.
        let mut ok = Event::default();
        ok.0.insert("@timestamp".into(), "2026-12-01T10:30:00Z".into());
        ok.set("event.ingested", "2026-12-01T10:00:00.000Z".into());
        record(&mut ok, Duration::from_secs(3600)).unwrap();
        assert!(ok.get("event.original_timestamp").is_none());
    }

    #[test]
    fn a_dead_letter_keeps_id_and_reason() {
        let mut e = Event::default();
        e.set("event.id", "e2".into());
        e.set("tenant.id", "acme".into());
        e.set("message", "x".repeat(100_000).into());
        let mut dl = dead_letter(&e, "body is too large");
        let r = record(&mut dl, Duration::from_secs(3600)).unwrap();
        assert_eq!(r.id, "e2");
        assert_eq!(dl.get_str("tenant.id"), Some("acme"));
        assert_eq!(
            dl.get("ward.original.truncated"),
            Some(&serde_json::json!(true))
        );
        assert!(dl.get_str("error.message").unwrap().contains("too large"));
    }

    #[test]
    fn time_bounds() {
        let now: jiff::Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let h = parse_time_bound("24h", now).unwrap();
        assert_eq!(now.as_millisecond() - h, 86_400_000);
        let d = parse_time_bound("2026-11-01", now).unwrap();
        assert_eq!(
            d,
            "2026-11-01T00:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_millisecond()
        );
        assert!(parse_time_bound("yesterday-ish", now).is_err());
    }
}
