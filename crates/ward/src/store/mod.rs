//! The store stage: turns events into `ward-store` records (with the terms
//! its per-block indexes keep) and appends them; the search and proof API
//! glue; the retention task.
//!
//! `ward-store` is blocking by design; every call from async code goes
//! through `spawn_blocking` here, so no other module needs to know.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ward_store::{Record, Store, StoreConfig};

use crate::config::Config;
use crate::model::Event;

pub use ward_store::INDEXED_FIELDS;

/// Categories that hold security events: kept at least 365 days unless
/// `retention.force` says otherwise.
pub fn is_security_category(category: &str) -> bool {
    ward_store::SECURITY_CATEGORIES.contains(&category)
}

/// Opens the store in the configured data directory.
pub fn open(config: &Config) -> anyhow::Result<Store> {
    let dir = config.data_dir.join("events");
    let raw = &config.raw;
    let cfg = StoreConfig {
        dir: dir.clone(),
        segment_max_bytes: raw.store.segment_max_bytes,
        segment_max_age: config.segment_max_age,
        group_commit_max_wait: config.group_commit_max_wait,
        checkpoint_interval: config.checkpoint_interval,
        retention: retention_policy(config),
        ..StoreConfig::default()
    };
    let (store, report) = Store::open(cfg)
        .with_context(|| format!("cannot open the event store in {}", dir.display()))?;
    tracing::info!(report = ?report, "event store opened");
    if report.damaged_records > 0 {
        for d in &report.damaged {
            tracing::error!(
                segment = %d.segment.display(),
                first_offset = d.first_offset,
                records = d.records,
                quarantine = %d.quarantine.display(),
                "damaged records in the event store: later records kept, bytes set aside; `ward verify` names them"
            );
        }
    }
    Ok(store)
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

/// The store record for an event: its JSON, time, categories and index terms.
pub fn record(event: &Event) -> anyhow::Result<Record> {
    let id = event.get_str("event.id").unwrap_or_default().to_owned();
    let time_ms = event
        .get_str("@timestamp")
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
    let category = match event.get("event.category") {
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
    Ok(Record {
        id,
        time_ms,
        category,
        terms,
        body: serde_json::to_vec(event)?,
    })
}

/// Appends events durably (returns after fsync), from async code.
pub async fn append(store: &Arc<Store>, events: &[Event]) -> anyhow::Result<()> {
    let records = events
        .iter()
        .map(record)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || store.append(records))
        .await
        .context("store task failed")?
        .context("cannot append to the event store")?;
    Ok(())
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
