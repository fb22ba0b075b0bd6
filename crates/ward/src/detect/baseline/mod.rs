//! Behavioural baselines: what is usual for each entity (user, service
//! account, AI tool, source IP, service), learned from the events
//! themselves, and the deviations of each event from it, written as
//! `ward.baseline.*` fields so that plain Sigma rules can alert on them.
//!
//! Invariants:
//!
//! - Pure: no I/O and no wall clock. Everything is driven by the event's
//!   `@timestamp`, so replaying the log from a checkpoint (offset plus this
//!   state, saved together) gives the same fields and the same state.
//! - An event is judged against the baseline as it was before the event,
//!   then added to it.
//! - Nothing is reported for an entity until it has been seen for the
//!   learning period (event time) and has the minimum number of events.
//! - Bounded: at most `max_entities` entities, `max_values` remembered
//!   values per entity and field, and `max_endpoints` endpoints and
//!   services; the least recently seen are forgotten first (ties broken by
//!   key, so eviction is deterministic too).
//! - Fields named `ward.baseline` sent by a client are removed first: only
//!   Ward writes them.
//!
//! The fields written (see `docs/baselines.md`):
//!
//! | field | meaning |
//! |---|---|
//! | `ward.baseline.entity` | primary entity of the event, `field=value` |
//! | `ward.baseline.learning` | `true` while the primary entity is still learning |
//! | `ward.baseline.hour_probability` | how usual this hour of the day is for the entity |
//! | `ward.baseline.unusual_hour` | probability below `unusual_hour_probability` |
//! | `ward.baseline.first_seen` | fields whose value the entity never had (`source.network`, `repository.name`…) |
//! | `ward.baseline.first_seen_by` | kinds of the entities for which they are new (`user`, `ai_tool`) |
//! | `ward.baseline.rate.{zscore,count,expected,entity}` | events this hour against the usual count for this hour of the week |
//! | `ward.baseline.rate.spike` | `true` on the event that made the hour a spike |
//! | `ward.baseline.volume.{zscore,sum,mean,entity}` | volume accessed this interval against past intervals |
//! | `ward.baseline.bulk_access` | `true` on the event that made the interval bulk access |
//! | `ward.baseline.ai_error_rate.{p_value,ai_rate,human_rate,ai_requests,human_requests,test,endpoint}` | AI-generated endpoint against the service's human-written code |
//! | `ward.baseline.ai_error_rate.significant` | `true` on the event where the difference became significant |

mod config;
mod entity;
pub(crate) use entity::value_hash;
mod error_rate;
#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::{BaselineConfig, EntityConfig};
use entity::{Entity, Flags};
use error_rate::{ErrorRates, Request};

use crate::model::Event;

/// The learned state of every entity and endpoint; persisted in the
/// detection checkpoint with the log offset it reflects.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Baselines {
    entities: HashMap<String, Entity>,
    error_rates: ErrorRates,
}

/// The pseudo-field for the network of `source.ip`.
const SOURCE_NETWORK: &str = "source.network";

impl Baselines {
    /// Number of entities currently learned.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether nothing has been learned yet.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty() && self.error_rates.endpoints.is_empty()
    }

    /// Writes the event's deviations from the baselines learned so far
    /// into `ward.baseline.*`, then learns from the event.
    pub fn observe(&mut self, cfg: &BaselineConfig, event: &mut Event) {
        event.remove("ward.baseline");
        if !cfg.enabled {
            return;
        }
        let Some(time_ms) = event_time_ms(event) else {
            return;
        };
        let learning_ms = cfg.learning_ms();
        let interval_ms = cfg.volume_interval_ms();
        let amount = volume_of(event, &cfg.volume_fields);
        let mut out = Deviations::default();
        let mut updates = Vec::new();
        for ec in &cfg.entities {
            let Some((field, value)) = identify(event, &ec.fields) else {
                continue;
            };
            let key = scoped(tenant_of(event), &format!("{}\u{1f}{value}", ec.kind));
            let label = format!("{field}={value}");
            let values: Vec<(&str, String)> = ec
                .first_seen
                .iter()
                .filter(|f| !ec.fields.contains(f))
                .filter_map(|f| first_seen_value(event, f).map(|v| (f.as_str(), v)))
                .collect();
            let mut flags = Flags::default();
            let state = self.entities.get(&key);
            let learned = state.is_some_and(|s| s.learned(time_ms, learning_ms, cfg.min_events));
            if out.entity.is_none() {
                out.entity = Some(label.clone());
                out.learning = !learned;
            }
            if let (Some(s), true) = (state, learned) {
                if ec.hours {
                    let h = s.check_hour(time_ms, cfg.unusual_hour_probability);
                    if out.hour.as_ref().is_none_or(|(p, _)| h.probability < *p) {
                        out.hour = Some((h.probability, h.unusual));
                    }
                }
                if ec.rate
                    && let Some(r) = s.check_rate(
                        time_ms,
                        cfg.rate_zscore,
                        cfg.rate_min_events,
                        cfg.rate_min_ratio,
                    )
                {
                    flags.rate_spike = r.spike;
                    out.spike |= r.spike;
                    if out.rate.as_ref().is_none_or(|(z, ..)| r.zscore > *z) {
                        out.rate = Some((r.zscore, r.count, r.expected, label.clone()));
                    }
                }
                for (f, v) in &values {
                    if s.is_new(f, v) {
                        out.first_seen.push((*f).to_owned());
                        out.first_seen_by.push(ec.kind.clone());
                    }
                }
                if ec.volume
                    && let Some(v) = s.check_volume(time_ms, amount, interval_ms, cfg)
                {
                    flags.bulk = v.bulk;
                    out.bulk |= v.bulk;
                    if out.volume.as_ref().is_none_or(|(z, ..)| v.zscore > *z) {
                        out.volume = Some((v.zscore, v.sum, v.mean, label.clone()));
                    }
                }
            }
            updates.push((key, values, flags, ec.volume));
        }
        for (key, values, flags, volume) in updates {
            let state = self
                .entities
                .entry(key)
                .or_insert_with(|| Entity::new(time_ms));
            let amount = if volume { amount } else { 0.0 };
            state.update(time_ms, &values, amount, flags, cfg);
        }
        if self.entities.len() > cfg.max_entities {
            self.forget_entities(cfg.max_entities);
        }
        if let Some(req) = http_request(event, time_ms) {
            let endpoint = format!("{} {}", req.service, req.endpoint);
            if let Some(v) = self.error_rates.observe(&req, cfg) {
                out.error_rate = Some((v, endpoint));
            }
        }
        out.write(event);
    }

    /// Keeps the 90 % most recently seen entities (ties by key).
    fn forget_entities(&mut self, max: usize) {
        let drop = self.entities.len().saturating_sub((max * 9 / 10).max(1));
        if drop == 0 {
            return;
        }
        // The `drop` oldest are those up to the drop-th smallest (time,
        // key): keys are unique, so the order is total and the set the
        // same a sort would give; found by selection, without a copy of
        // every key.
        let mut by_age: Vec<(i64, &str)> = self
            .entities
            .iter()
            .map(|(k, e)| (e.last_ms, k.as_str()))
            .collect();
        let (_, cut, _) = by_age.select_nth_unstable(drop - 1);
        let (cut_ms, cut_key) = (cut.0, cut.1.to_owned());
        self.entities
            .retain(|k, e| (e.last_ms, k.as_str()) > (cut_ms, cut_key.as_str()));
    }
}

/// The deviations found for one event, before they are written.
#[derive(Default)]
struct Deviations {
    entity: Option<String>,
    learning: bool,
    hour: Option<(f64, bool)>,
    first_seen: Vec<String>,
    first_seen_by: Vec<String>,
    rate: Option<(f64, u32, f64, String)>,
    spike: bool,
    volume: Option<(f64, f64, f64, String)>,
    bulk: bool,
    error_rate: Option<(error_rate::Verdict, String)>,
}

impl Deviations {
    fn write(mut self, event: &mut Event) {
        let Some(entity) = self.entity.take() else {
            if let Some((v, endpoint)) = self.error_rate.take() {
                write_error_rate(event, &v, endpoint);
            }
            return;
        };
        event.set("ward.baseline.entity", json!(entity));
        if self.learning {
            event.set("ward.baseline.learning", json!(true));
        }
        if let Some((p, unusual)) = self.hour {
            event.set("ward.baseline.hour_probability", json!(round(p, 5)));
            event.set("ward.baseline.unusual_hour", json!(unusual));
        }
        if !self.first_seen.is_empty() {
            for list in [&mut self.first_seen, &mut self.first_seen_by] {
                list.sort();
                list.dedup();
            }
            event.set("ward.baseline.first_seen", json!(self.first_seen));
            event.set("ward.baseline.first_seen_by", json!(self.first_seen_by));
        }
        if let Some((z, count, expected, entity)) = self.rate {
            event.set("ward.baseline.rate.zscore", json!(round(z, 2)));
            event.set("ward.baseline.rate.count", json!(count));
            event.set("ward.baseline.rate.expected", json!(round(expected, 2)));
            event.set("ward.baseline.rate.entity", json!(entity));
            if self.spike {
                event.set("ward.baseline.rate.spike", json!(true));
            }
        }
        if let Some((z, sum, mean, entity)) = self.volume {
            event.set("ward.baseline.volume.zscore", json!(round(z, 2)));
            event.set("ward.baseline.volume.sum", json!(round(sum, 2)));
            event.set("ward.baseline.volume.mean", json!(round(mean, 2)));
            event.set("ward.baseline.volume.entity", json!(entity));
            if self.bulk {
                event.set("ward.baseline.bulk_access", json!(true));
            }
        }
        if let Some((v, endpoint)) = self.error_rate.take() {
            write_error_rate(event, &v, endpoint);
        }
    }
}

fn write_error_rate(event: &mut Event, v: &error_rate::Verdict, endpoint: String) {
    let base = "ward.baseline.ai_error_rate";
    event.set(&format!("{base}.endpoint"), json!(endpoint));
    event.set(
        &format!("{base}.p_value"),
        json!(significant_digits(v.p_value)),
    );
    event.set(&format!("{base}.ai_rate"), json!(round(v.ai_rate, 4)));
    event.set(&format!("{base}.human_rate"), json!(round(v.human_rate, 4)));
    event.set(&format!("{base}.ai_requests"), json!(v.ai_requests));
    event.set(&format!("{base}.human_requests"), json!(v.human_requests));
    event.set(&format!("{base}.test"), json!(v.test));
    if v.significant {
        event.set(&format!("{base}.significant"), json!(true));
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// Keeps four significant digits, so that tiny p-values stay readable.
fn significant_digits(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x.max(0.0);
    }
    let digits = 3 - x.log10().floor() as i32;
    round(x, digits.clamp(0, 300))
}

/// The event time in milliseconds, from `@timestamp`.
fn event_time_ms(event: &Event) -> Option<i64> {
    event
        .get_str("@timestamp")?
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// The first of `fields` present with a non-empty scalar value.
fn identify<'a>(event: &Event, fields: &'a [String]) -> Option<(&'a str, String)> {
    fields.iter().find_map(|f| {
        let v = scalar(event.get(f)?)?;
        Some((f.as_str(), v))
    })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value remembered for a first-seen field; `source.network` is
/// derived from `source.ip`.
fn first_seen_value(event: &Event, field: &str) -> Option<String> {
    if field == SOURCE_NETWORK && event.get(SOURCE_NETWORK).is_none() {
        return event.get_str("source.ip").and_then(network_of);
    }
    scalar(event.get(field)?)
}

/// The /24 of an IPv4 address or the /48 of an IPv6 address.
pub(crate) fn network_of(ip: &str) -> Option<String> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

/// The event's tenant, `default` when it names none.
fn tenant_of(event: &Event) -> &str {
    event
        .get_str(crate::detect::evaluate::TENANT_FIELD)
        .unwrap_or("default")
}

/// A state key kept apart per tenant: two tenants' users, AI tools or
/// services of one name never share a baseline. The default tenant's keys
/// are unprefixed, as before tenants were kept apart.
pub(crate) fn scoped(tenant: &str, key: &str) -> String {
    if tenant == "default" {
        key.to_owned()
    } else {
        format!("{tenant}\u{1e}{key}")
    }
}

/// The volume an event accessed: items of array fields plus values of
/// numeric fields.
fn volume_of(event: &Event, fields: &[String]) -> f64 {
    fields
        .iter()
        .filter_map(|f| match event.get(f)? {
            Value::Array(a) => Some(a.len() as f64),
            Value::Number(n) => n.as_f64().filter(|x| x.is_finite() && *x > 0.0),
            _ => None,
        })
        .sum()
}

/// An HTTP request with a status code and a code origin, for the
/// error-rate test.
fn http_request(event: &Event, time_ms: i64) -> Option<Request<'_>> {
    let status = match event.get("http.response.status_code")? {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    let ai = match event.get_str("code.origin")? {
        "ai" => true,
        "human" => false,
        _ => return None,
    };
    let endpoint = event
        .get_str("http.route")
        .or_else(|| event.get_str("url.path"))
        .filter(|s| !s.is_empty())?;
    Some(Request {
        tenant: tenant_of(event),
        service: event.get_str("service.name").unwrap_or(""),
        endpoint,
        ai,
        error: status >= 500,
        time_ms,
    })
}
