//! What is learned about one entity: its events by hour of week (usual
//! hours and rate), the values it was seen with (first-seen), and the
//! volume it accessed per interval. Each `check_*` reads the state as it is
//! before the current event; [`Entity::update`] then adds the event.
//!
//! All arithmetic uses event time in milliseconds since the epoch, so the
//! same events in the same order always give the same state.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub(crate) const HOUR_MS: i64 = 3_600_000;
const WEEK_MS: i64 = 7 * 24 * HOUR_MS;
const HOURS_PER_WEEK: usize = 168;
/// Pseudo-count added to every hour of the day, so that an hour never
/// seen has a small probability rather than zero.
const HOUR_PRIOR: f64 = 0.5;

/// One entity's learned state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Entity {
    /// Event time of the first and the latest event seen.
    pub first_ms: i64,
    pub last_ms: i64,
    pub events: u64,
    /// Events per hour of the week (0 = Monday 00:00 UTC), over all time.
    pub week: Vec<u32>,
    /// The current hour (hours since the epoch) and its events so far.
    pub hour: i64,
    pub hour_count: u32,
    /// Whether a rate spike was already reported for the current hour.
    pub hour_flagged: bool,
    /// Remembered values per first-seen field: value hash -> last seen.
    pub seen: HashMap<String, HashMap<u64, i64>>,
    pub volume: Volume,
}

/// Volume per interval: the current interval and Welford statistics of
/// the completed active ones (intervals in which the entity accessed
/// something).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Volume {
    pub interval: i64,
    pub sum: f64,
    pub flagged: bool,
    pub n: u64,
    pub mean: f64,
    pub m2: f64,
    /// The largest completed interval.
    pub max: f64,
}

/// Result of the usual-hours check.
pub(crate) struct HourCheck {
    pub probability: f64,
    pub unusual: bool,
}

/// Result of the rate check.
pub(crate) struct RateCheck {
    pub zscore: f64,
    pub count: u32,
    pub expected: f64,
    pub spike: bool,
}

/// Result of the volume check.
pub(crate) struct VolumeCheck {
    pub zscore: f64,
    pub sum: f64,
    pub mean: f64,
    pub bulk: bool,
}

impl Entity {
    pub(crate) fn new(time_ms: i64) -> Entity {
        Entity {
            first_ms: time_ms,
            last_ms: time_ms,
            week: vec![0; HOURS_PER_WEEK],
            hour: time_ms.div_euclid(HOUR_MS),
            ..Entity::default()
        }
    }

    /// Whether the entity has enough history for its deviations to count.
    pub(crate) fn learned(&self, time_ms: i64, learning_ms: i64, min_events: u64) -> bool {
        self.events >= min_events && time_ms.saturating_sub(self.first_ms) >= learning_ms
    }

    /// The smoothed probability of this hour of the day for the entity:
    /// each past event counts half for its own hour and a quarter for each
    /// neighbour (people start a little early or late), plus a small prior.
    pub(crate) fn check_hour(&self, time_ms: i64, threshold: f64) -> HourCheck {
        let mut day = [0f64; 24];
        for (slot, &c) in self.week.iter().enumerate() {
            day[slot % 24] += f64::from(c);
        }
        let total: f64 = day.iter().sum();
        let h = hour_of_day(time_ms);
        let smoothed = 0.5 * day[h] + 0.25 * day[(h + 23) % 24] + 0.25 * day[(h + 1) % 24];
        let probability = (smoothed + HOUR_PRIOR) / (total + 24.0 * HOUR_PRIOR);
        HourCheck {
            probability,
            unusual: probability < threshold,
        }
    }

    /// The events of the current hour (this one included) against the
    /// entity's usual count for this hour of the week: a Poisson z-score.
    /// `None` for an event older than the current hour.
    pub(crate) fn check_rate(
        &self,
        time_ms: i64,
        min_zscore: f64,
        min_events: u64,
        min_ratio: f64,
    ) -> Option<RateCheck> {
        let hour = time_ms.div_euclid(HOUR_MS);
        if hour < self.hour {
            return None;
        }
        let slot = hour_of_week(time_ms);
        let (count, in_bucket) = if hour == self.hour {
            (self.hour_count + 1, self.hour_count)
        } else {
            (1, 0)
        };
        // The week histogram holds the current hour's events too: take them
        // out, the expectation is about past weeks only.
        let past = f64::from(self.week.get(slot).copied().unwrap_or(0))
            - if hour_of_week(self.hour * HOUR_MS) == slot {
                f64::from(in_bucket)
            } else {
                0.0
            };
        let weeks = ((hour * HOUR_MS - self.first_ms) as f64 / WEEK_MS as f64).max(1.0);
        let expected = (past.max(0.0) / weeks).max(1.0);
        let zscore = (f64::from(count) - expected) / expected.sqrt();
        let spike = !self.hour_flagged_for(hour)
            && zscore >= min_zscore
            && u64::from(count) >= min_events
            && f64::from(count) >= min_ratio * expected;
        Some(RateCheck {
            zscore,
            count,
            expected,
            spike,
        })
    }

    fn hour_flagged_for(&self, hour: i64) -> bool {
        hour == self.hour && self.hour_flagged
    }

    /// Whether a value of a first-seen field was never seen before.
    pub(crate) fn is_new(&self, field: &str, value: &str) -> bool {
        self.seen
            .get(field)
            .is_none_or(|m| !m.contains_key(&value_hash(value)))
    }

    /// The volume of the current interval (this event included) against
    /// the entity's past active intervals. `None` when the event carries no
    /// volume or belongs to an interval already closed.
    pub(crate) fn check_volume(
        &self,
        time_ms: i64,
        amount: f64,
        interval_ms: i64,
        cfg: &super::BaselineConfig,
    ) -> Option<VolumeCheck> {
        if amount <= 0.0 {
            return None;
        }
        let v = &self.volume;
        let interval = time_ms.div_euclid(interval_ms);
        if interval < v.interval {
            return None;
        }
        let (sum, flagged) = if interval == v.interval {
            (v.sum + amount, v.flagged)
        } else {
            (amount, false)
        };
        // The completed current interval joins the statistics when the
        // next one starts; until then compare with the past ones only.
        let (n, mean, m2) = (v.n, v.mean, v.m2);
        let var = if n > 1 { m2 / (n - 1) as f64 } else { 0.0 };
        // A floor on the spread: an entity with very regular volume must
        // not turn a small excess into a huge z-score.
        let sd = var.sqrt().max(1.0).max(0.1 * mean);
        let zscore = (sum - mean) / sd;
        // The z-score alone trusts a normal shape that volumes rarely have
        // (a few big reports among many small reads): bulk access must also
        // be well beyond the largest interval the entity ever had.
        let bulk = !flagged
            && n >= cfg.volume_min_intervals
            && zscore >= cfg.volume_zscore
            && sum >= cfg.volume_min_items
            && sum > cfg.volume_max_ratio * v.max;
        Some(VolumeCheck {
            zscore,
            sum,
            mean,
            bulk,
        })
    }

    /// Adds the event to the state. `values` are (field, value) of the
    /// first-seen fields present; `amount` the volume accessed.
    pub(crate) fn update(
        &mut self,
        time_ms: i64,
        values: &[(&str, String)],
        amount: f64,
        flags: Flags,
        cfg: &super::BaselineConfig,
    ) {
        self.events += 1;
        self.last_ms = self.last_ms.max(time_ms);
        self.first_ms = self.first_ms.min(time_ms);
        if self.week.len() != HOURS_PER_WEEK {
            self.week = vec![0; HOURS_PER_WEEK];
        }
        if let Some(c) = self.week.get_mut(hour_of_week(time_ms)) {
            *c = c.saturating_add(1);
        }
        let hour = time_ms.div_euclid(HOUR_MS);
        if hour > self.hour {
            self.hour = hour;
            self.hour_count = 0;
            self.hour_flagged = false;
        }
        if hour == self.hour {
            self.hour_count = self.hour_count.saturating_add(1);
            self.hour_flagged |= flags.rate_spike;
        }
        for (field, value) in values {
            let map = self.seen.entry((*field).to_owned()).or_default();
            map.insert(value_hash(value), time_ms);
            if map.len() > cfg.max_values {
                forget_oldest(map, cfg.max_values);
            }
        }
        if amount > 0.0 {
            let interval = time_ms.div_euclid(cfg.volume_interval_ms());
            let v = &mut self.volume;
            if interval > v.interval {
                if v.sum > 0.0 {
                    // Welford's update with the interval just completed.
                    v.n += 1;
                    let delta = v.sum - v.mean;
                    v.mean += delta / v.n as f64;
                    v.m2 += delta * (v.sum - v.mean);
                    v.max = v.max.max(v.sum);
                }
                v.interval = interval;
                v.sum = 0.0;
                v.flagged = false;
            }
            if interval == v.interval {
                v.sum += amount;
                v.flagged |= flags.bulk;
            }
        }
    }
}

/// Which deviations were reported for the event, so that each is reported
/// once per hour or interval.
#[derive(Clone, Copy, Default)]
pub(crate) struct Flags {
    pub rate_spike: bool,
    pub bulk: bool,
}

/// Keeps the `keep * 9 / 10` most recently seen values (ties by hash), so
/// that eviction is deterministic and amortised.
fn forget_oldest(map: &mut HashMap<u64, i64>, keep: usize) {
    let mut by_age: Vec<(i64, u64)> = map.iter().map(|(h, t)| (*t, *h)).collect();
    by_age.sort_unstable();
    let target = (keep * 9 / 10).max(1);
    let drop = map.len().saturating_sub(target);
    for (_, h) in by_age.into_iter().take(drop) {
        map.remove(&h);
    }
}

/// FNV-1a: stable across processes and versions (the state is persisted),
/// unlike the standard library's hasher.
pub(crate) fn value_hash(value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in value.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hour of the UTC day, 0–23.
pub(crate) fn hour_of_day(time_ms: i64) -> usize {
    usize::try_from(time_ms.div_euclid(HOUR_MS).rem_euclid(24)).unwrap_or(0)
}

/// Hour of the UTC week, 0–167, Monday 00:00 = 0 (1970-01-01 was a Thursday).
pub(crate) fn hour_of_week(time_ms: i64) -> usize {
    let hours = time_ms.div_euclid(HOUR_MS) + 3 * 24;
    usize::try_from(hours.rem_euclid(HOURS_PER_WEEK as i64)).unwrap_or(0)
}
