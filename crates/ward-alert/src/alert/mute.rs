//! Time intervals (Alertmanager's `time_intervals`): named sets of times of
//! day, weekdays, days of the month, months and years in a time zone. A
//! route with `mute_time_intervals` sends nothing while one of them is
//! active; one with `active_time_intervals` sends only while one is active.
//! Alerts stay grouped meanwhile and are notified when the mute ends.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::{Problems, TimeIntervalConfig, TimeIntervalSpec};

/// An inclusive range of integers.
type Range = (i32, i32);

/// One compiled time range.
#[derive(Debug, Clone)]
struct Spec {
    /// Minutes of the day, start inclusive, end exclusive.
    times: Vec<(i32, i32)>,
    /// 1 = Monday … 7 = Sunday.
    weekdays: Vec<Range>,
    /// Negative counts from the end of the month.
    days_of_month: Vec<Range>,
    months: Vec<Range>,
    years: Vec<Range>,
    tz: TimeZone,
}

/// A named, compiled time interval.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    specs: Vec<Spec>,
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl TimeInterval {
    /// Compiles every interval, recording problems under their keys.
    pub(crate) fn compile_all(
        cfgs: &[TimeIntervalConfig],
        problems: &mut Problems,
    ) -> BTreeMap<String, TimeInterval> {
        let mut out = BTreeMap::new();
        for (i, c) in cfgs.iter().enumerate() {
            let key = format!("time_intervals[{i}]");
            if c.name.is_empty() {
                problems.push(format!("{key}.name"), "", "give the time interval a name");
            }
            let specs = c
                .time_intervals
                .iter()
                .enumerate()
                .map(|(j, s)| compile_spec(s, &format!("{key}.time_intervals[{j}]"), problems))
                .collect();
            if out.insert(c.name.clone(), TimeInterval { specs }).is_some() {
                problems.push(
                    format!("{key}.name"),
                    &c.name,
                    "another time interval has this name",
                );
            }
        }
        out
    }

    /// Whether `now` falls in the interval.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.specs.iter().any(|s| s.contains(now))
    }
}

impl Spec {
    fn contains(&self, now: Timestamp) -> bool {
        let z = now.to_zoned(self.tz.clone());
        let minute = i32::from(z.hour()) * 60 + i32::from(z.minute());
        let in_ranges = |ranges: &[Range], v: i32| {
            ranges.is_empty() || ranges.iter().any(|(a, b)| *a <= v && v <= *b)
        };
        let days_in_month = i32::from(z.date().days_in_month());
        let day = i32::from(z.day());
        let dom_ok = self.days_of_month.is_empty()
            || self.days_of_month.iter().any(|(a, b)| {
                let abs = |d: i32| if d < 0 { days_in_month + d + 1 } else { d };
                abs(*a) <= day && day <= abs(*b)
            });
        (self.times.is_empty() || self.times.iter().any(|(a, b)| *a <= minute && minute < *b))
            && in_ranges(
                &self.weekdays,
                i32::from(z.weekday().to_monday_one_offset()),
            )
            && dom_ok
            && in_ranges(&self.months, i32::from(z.month()))
            && in_ranges(&self.years, i32::from(z.year()))
    }
}

fn compile_spec(s: &TimeIntervalSpec, key: &str, problems: &mut Problems) -> Spec {
    let mut times = Vec::new();
    for (i, t) in s.times.iter().enumerate() {
        let k = format!("{key}.times[{i}]");
        match (clock_minutes(&t.start_time), clock_minutes(&t.end_time)) {
            (Some(a), Some(b)) if a < b => times.push((a, b)),
            _ => problems.push(
                k,
                format!("{}-{}", t.start_time, t.end_time),
                "write start_time and end_time as HH:MM (00:00 to 24:00), start before end",
            ),
        }
    }
    let tz = match &s.location {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).unwrap_or_else(|_| {
            problems.push(
                format!("{key}.location"),
                name,
                "unknown time zone: use an IANA name such as Europe/Berlin",
            );
            TimeZone::UTC
        }),
    };
    Spec {
        times,
        weekdays: ranges(
            &s.weekdays,
            &format!("{key}.weekdays"),
            problems,
            |v| named(v, &WEEKDAYS),
            (1, 7),
        ),
        days_of_month: ranges(
            &s.days_of_month,
            &format!("{key}.days_of_month"),
            problems,
            |v| v.parse().ok(),
            (-31, 31),
        ),
        months: ranges(
            &s.months,
            &format!("{key}.months"),
            problems,
            |v| named(v, &MONTHS).or_else(|| v.parse().ok()),
            (1, 12),
        ),
        years: ranges(
            &s.years,
            &format!("{key}.years"),
            problems,
            |v| v.parse().ok(),
            (1970, 9999),
        ),
        tz,
    }
}

fn named(v: &str, names: &[&str]) -> Option<i32> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(v))
        .and_then(|p| i32::try_from(p + 1).ok())
}

fn ranges(
    list: &[String],
    key: &str,
    problems: &mut Problems,
    parse: impl Fn(&str) -> Option<i32>,
    bounds: Range,
) -> Vec<Range> {
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let (a, b) = item.split_once(':').unwrap_or((item, item));
        let ok = |v: Option<i32>| v.filter(|v| *v >= bounds.0 && *v <= bounds.1 && *v != 0);
        match (ok(parse(a.trim())), ok(parse(b.trim()))) {
            // Mixed signs (`-3:5`) are allowed for days of the month and
            // resolved per month; otherwise a range must go forwards.
            (Some(a), Some(b)) if a <= b || (a < 0) != (b < 0) => out.push((a, b)),
            _ => problems.push(
                format!("{key}[{i}]"),
                item,
                format!(
                    "write a value or a range start:end within {}..{}",
                    bounds.0, bounds.1
                ),
            ),
        }
    }
    out
}

fn clock_minutes(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    ((0..=23).contains(&h) || total == 1440).then_some(())?;
    ((0..60).contains(&m) && total <= 1440).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TimeRangeConfig;

    fn interval(spec: TimeIntervalSpec) -> TimeInterval {
        let mut p = Problems::default();
        let all = TimeInterval::compile_all(
            &[TimeIntervalConfig {
                name: "x".into(),
                time_intervals: vec![spec],
            }],
            &mut p,
        );
        assert!(p.0.is_empty(), "{:?}", p.0);
        all["x"].clone()
    }

    #[test]
    fn weekday_hours_in_a_time_zone() {
        let i = interval(TimeIntervalSpec {
            times: vec![TimeRangeConfig {
                start_time: "09:00".into(),
                end_time: "17:00".into(),
            }],
            weekdays: vec!["monday:friday".into()],
            location: Some("Europe/Berlin".into()),
            ..Default::default()
        });
        // 2026-01-05 is a Monday; Berlin is UTC+1 in January.
        assert!(i.contains("2026-01-05T08:00:00Z".parse().unwrap()));
        assert!(!i.contains("2026-01-05T07:59:00Z".parse().unwrap()));
        assert!(!i.contains("2026-01-05T16:00:00Z".parse().unwrap()));
        assert!(
            !i.contains("2026-01-10T10:00:00Z".parse().unwrap()),
            "saturday"
        );
    }

    #[test]
    fn last_day_of_month_and_months() {
        let i = interval(TimeIntervalSpec {
            days_of_month: vec!["-1".into()],
            months: vec!["february".into()],
            ..Default::default()
        });
        assert!(i.contains("2028-02-29T12:00:00Z".parse().unwrap()));
        assert!(!i.contains("2028-02-28T12:00:00Z".parse().unwrap()));
        assert!(!i.contains("2028-03-31T12:00:00Z".parse().unwrap()));
    }

    #[test]
    fn bad_parts_are_reported() {
        let mut p = Problems::default();
        TimeInterval::compile_all(
            &[TimeIntervalConfig {
                name: "x".into(),
                time_intervals: vec![TimeIntervalSpec {
                    times: vec![TimeRangeConfig {
                        start_time: "18:00".into(),
                        end_time: "09:00".into(),
                    }],
                    weekdays: vec!["funday".into()],
                    location: Some("Mars/Olympus".into()),
                    ..Default::default()
                }],
            }],
            &mut p,
        );
        let keys: Vec<_> = p.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "time_intervals[0].time_intervals[0].times[0]",
                "time_intervals[0].time_intervals[0].location",
                "time_intervals[0].time_intervals[0].weekdays[0]"
            ]
        );
    }
}
