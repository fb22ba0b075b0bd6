//! Timestamps in any common form, read as UTC instants and written as
//! RFC 3339 UTC with milliseconds (`2024-01-26T10:00:00.000Z`).
//!
//! Accepted forms: RFC 3339 / ISO 8601 with any offset, without offset (read
//! as UTC), with a space instead of `T`, with fractional seconds; epoch
//! seconds, milliseconds, microseconds or nanoseconds as a number or a string
//! (the unit is chosen by magnitude); RFC 2822; Apache common log format
//! (`10/Oct/2000:13:55:36 -0700`); BSD syslog (`Oct 11 22:14:15`, with an
//! optional year), whose year is taken from the receive time, so that a
//! December message received in January belongs to the previous year.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// Epoch values below this are seconds (up to the year 5138).
const SECONDS_BELOW: f64 = 1e11;
/// Below this (and above seconds) they are milliseconds.
const MILLIS_BELOW: f64 = 1e14;
/// Below this (and above milliseconds) they are microseconds; above, nanos.
const MICROS_BELOW: f64 = 1e17;

/// Reads a JSON value (string or number) as an instant. `received` is the
/// receive time, used only for formats without a year.
///
/// ```
/// use ward_event::time::{format_rfc3339, parse_value};
/// let received = "2024-01-02T00:00:00Z".parse().unwrap();
/// let ts = parse_value(&serde_json::json!(1706263200123u64), received).unwrap();
/// assert_eq!(format_rfc3339(ts), "2024-01-26T10:00:00.123Z");
/// ```
pub fn parse_value(value: &Value, received: Timestamp) -> Option<Timestamp> {
    match value {
        Value::String(s) => parse_str(s, received),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                from_epoch_int(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                from_epoch_int(i128::from(u))
            } else {
                n.as_f64().and_then(from_epoch_float)
            }
        }
        _ => None,
    }
}

/// Reads a string as an instant; see the module documentation for the forms.
pub fn parse_str(s: &str, received: Timestamp) -> Option<Timestamp> {
    let s = s.trim();
    let bytes = s.as_bytes();
    let first = *bytes.first()?;
    if first == b'[' {
        return parse_str(s.trim_start_matches('[').trim_end_matches(']'), received);
    }
    if first.is_ascii_digit() || first == b'-' {
        if let Some(ts) = parse_epoch_str(s) {
            return Some(ts);
        }
        if bytes.len() >= 10 && bytes[4] == b'-' {
            return parse_iso(s);
        }
        if bytes.len() >= 20 && bytes[2] == b'/' {
            return parse_clf(s);
        }
        return parse_rfc2822(s);
    }
    if let Some(ts) = parse_bsd(s, received) {
        return Some(ts);
    }
    parse_rfc2822(s)
}

/// An integer epoch value, unit chosen by magnitude.
pub fn from_epoch_int(v: i128) -> Option<Timestamp> {
    let abs = v.unsigned_abs() as f64;
    let nanos = if abs < SECONDS_BELOW {
        v.checked_mul(1_000_000_000)?
    } else if abs < MILLIS_BELOW {
        v.checked_mul(1_000_000)?
    } else if abs < MICROS_BELOW {
        v.checked_mul(1_000)?
    } else {
        v
    };
    Timestamp::from_nanosecond(nanos).ok()
}

/// A fractional epoch value, unit chosen by magnitude.
pub fn from_epoch_float(v: f64) -> Option<Timestamp> {
    if !v.is_finite() {
        return None;
    }
    let abs = v.abs();
    let scale: i128 = if abs < SECONDS_BELOW {
        1_000_000_000
    } else if abs < MILLIS_BELOW {
        1_000_000
    } else if abs < MICROS_BELOW {
        1_000
    } else {
        1
    };
    if abs > 1e30 {
        return None;
    }
    // Whole units and the fraction apart, so that 1706263200.25 keeps its
    // exact quarter second instead of the rounding error of v * 1e9.
    let whole = v.trunc();
    let frac = ((v - whole) * scale as f64).round() as i128;
    let nanos = (whole as i128).checked_mul(scale)?.checked_add(frac)?;
    Timestamp::from_nanosecond(nanos).ok()
}

fn parse_epoch_str(s: &str) -> Option<Timestamp> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    if let Some((int, frac)) = s.split_once('.') {
        // Decimal fraction read exactly: the unit comes from the integer part.
        if frac.contains('.') {
            return None;
        }
        let whole = int.parse::<i128>().ok()?;
        let base = from_epoch_int(whole)?;
        let unit_nanos = epoch_unit_nanos(whole);
        let frac_digits = &frac[..frac.len().min(18)];
        if frac_digits.is_empty() {
            return Some(base);
        }
        let num = frac_digits.parse::<i128>().ok()?;
        let den = 10i128.pow(frac_digits.len() as u32);
        let extra = num * unit_nanos / den;
        let extra = if whole < 0 || int.starts_with('-') {
            -extra
        } else {
            extra
        };
        Timestamp::from_nanosecond(base.as_nanosecond() + extra).ok()
    } else {
        s.parse::<i128>().ok().and_then(from_epoch_int)
    }
}

/// Nanoseconds per unit of an integer epoch value of this magnitude.
fn epoch_unit_nanos(v: i128) -> i128 {
    let abs = v.unsigned_abs() as f64;
    if abs < SECONDS_BELOW {
        1_000_000_000
    } else if abs < MILLIS_BELOW {
        1_000_000
    } else if abs < MICROS_BELOW {
        1_000
    } else {
        1
    }
}

fn parse_iso(s: &str) -> Option<Timestamp> {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts);
    }
    // `+0200` and `+02` offsets, which the RFC 3339 grammar lacks.
    if let Some(ts) = parse_iso_compact_offset(s) {
        return Some(ts);
    }
    let dt = s.parse::<DateTime>().ok()?;
    Offset::UTC.to_timestamp(dt).ok()
}

fn parse_iso_compact_offset(s: &str) -> Option<Timestamp> {
    let sign_at = s.rfind(['+', '-'])?;
    if sign_at < 11 {
        return None;
    }
    let (dt, off) = s.split_at(sign_at);
    let digits = &off[1..];
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    let secs = (h * 3600 + m * 60) * if off.starts_with('-') { -1 } else { 1 };
    let offset = Offset::from_seconds(secs).ok()?;
    let dt = dt.trim_end().parse::<DateTime>().ok()?;
    offset.to_timestamp(dt).ok()
}

fn parse_rfc2822(s: &str) -> Option<Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(s)
        .ok()
}

fn parse_clf(s: &str) -> Option<Timestamp> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    jiff::fmt::strtime::parse("%d/%b/%Y:%H:%M:%S %z", s)
        .ok()?
        .to_timestamp()
        .ok()
}

fn month_from_abbrev(m: &[u8]) -> Option<i8> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let pos = MONTHS.iter().position(|c| c.eq_ignore_ascii_case(m))?;
    i8::try_from(pos + 1).ok()
}

/// Parses the BSD syslog form and returns it with the number of bytes it
/// used, so that the syslog parser can continue after it.
pub(crate) fn parse_bsd_prefix(s: &str, received: Timestamp) -> Option<(Timestamp, usize)> {
    let b = s.as_bytes();
    let month = month_from_abbrev(b.get(..3)?)?;
    let mut i = 3;
    let skip_spaces = |i: &mut usize| {
        let start = *i;
        while b.get(*i) == Some(&b' ') {
            *i += 1;
        }
        *i > start
    };
    let number = |i: &mut usize, max: usize| -> Option<i32> {
        let start = *i;
        while *i - start < max && b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        s[start..*i].parse().ok()
    };
    if !skip_spaces(&mut i) {
        return None;
    }
    let day = number(&mut i, 2)?;
    if !skip_spaces(&mut i) {
        return None;
    }
    let mut year = None;
    let save = i;
    if let Some(y) = number(&mut i, 4)
        && i - save == 4
        && b.get(i) == Some(&b' ')
    {
        year = Some(y);
        i += 1;
    } else {
        i = save;
    }
    let hour = number(&mut i, 2)?;
    (b.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    let minute = number(&mut i, 2)?;
    (b.get(i) == Some(&b':')).then_some(())?;
    i += 1;
    let second = number(&mut i, 2)?;
    let mut nanos = 0i32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = &s[start..i.min(start + 9)];
        if frac.is_empty() {
            return None;
        }
        nanos = frac.parse::<i32>().ok()? * 10i32.pow(9 - frac.len() as u32);
    }
    let time = Time::new(
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    let day = i8::try_from(day).ok()?;
    let ts = match year {
        Some(y) => {
            let date = Date::new(i16::try_from(y).ok()?, month, day).ok()?;
            Offset::UTC.to_timestamp(date.to_datetime(time)).ok()?
        }
        None => infer_year(month, day, time, received)?,
    };
    Some((ts, i))
}

fn parse_bsd(s: &str, received: Timestamp) -> Option<Timestamp> {
    let (ts, used) = parse_bsd_prefix(s, received)?;
    s[used..].trim().is_empty().then_some(ts)
}

/// Picks the year that puts a yearless date closest to the receive time: a
/// message more than a day in the future belongs to last year (sent on
/// 31 December, received on 1 January), one more than eleven months in the
/// past to next year (a sender whose clock runs ahead across new year).
fn infer_year(month: i8, day: i8, time: Time, received: Timestamp) -> Option<Timestamp> {
    let year = Offset::UTC.to_datetime(received).year();
    let at = |y: i16| -> Option<Timestamp> {
        let date = Date::new(y, month, day).ok()?;
        Offset::UTC.to_timestamp(date.to_datetime(time)).ok()
    };
    let this = match at(year) {
        Some(ts) => ts,
        // 29 February in a non-leap receive year: the previous leap year.
        None => return at(year - 1).or_else(|| at(year - 4)),
    };
    let ahead = this.duration_since(received);
    if ahead > SignedDuration::from_hours(24) {
        return at(year - 1).or(Some(this));
    }
    if ahead < SignedDuration::from_hours(-24 * 335) {
        return at(year + 1).or(Some(this));
    }
    Some(this)
}

/// Writes an instant as RFC 3339 UTC with milliseconds and `Z`.
///
/// ```
/// let ts: jiff::Timestamp = "2024-01-26T12:00:00.123456+02:00".parse().unwrap();
/// assert_eq!(ward_event::time::format_rfc3339(ts), "2024-01-26T10:00:00.123Z");
/// ```
pub fn format_rfc3339(ts: Timestamp) -> String {
    let dt = Offset::UTC.to_datetime(ts);
    let mut out = String::with_capacity(24);
    let year = dt.year();
    if !(0..=9999).contains(&year) {
        return ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    }
    push_digits(&mut out, u32::from(year.unsigned_abs()), 4);
    out.push('-');
    push_digits(&mut out, u32::from(dt.month().unsigned_abs()), 2);
    out.push('-');
    push_digits(&mut out, u32::from(dt.day().unsigned_abs()), 2);
    out.push('T');
    push_digits(&mut out, u32::from(dt.hour().unsigned_abs()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(dt.minute().unsigned_abs()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(dt.second().unsigned_abs()), 2);
    out.push('.');
    push_digits(
        &mut out,
        dt.subsec_nanosecond().unsigned_abs() / 1_000_000,
        3,
    );
    out.push('Z');
    out
}

fn push_digits(out: &mut String, mut v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut i = buf.len();
    while v > 0 && i > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = (buf.len() - width).min(i);
    for &d in &buf[start..] {
        out.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recv() -> Timestamp {
        "2024-03-10T12:00:00Z".parse().unwrap()
    }

    fn p(s: &str) -> String {
        format_rfc3339(parse_str(s, recv()).unwrap_or_else(|| panic!("unparsed: {s}")))
    }

    #[test]
    fn iso_forms() {
        assert_eq!(p("2024-01-26T10:00:00Z"), "2024-01-26T10:00:00.000Z");
        assert_eq!(p("2024-01-26T12:30:00+02:30"), "2024-01-26T10:00:00.000Z");
        assert_eq!(p("2024-01-26T05:00:00-05:00"), "2024-01-26T10:00:00.000Z");
        assert_eq!(p("2024-01-26T10:00:00"), "2024-01-26T10:00:00.000Z");
        assert_eq!(p("2024-01-26 10:00:00"), "2024-01-26T10:00:00.000Z");
        assert_eq!(p("2024-01-26 10:00:00.987654Z"), "2024-01-26T10:00:00.987Z");
        assert_eq!(p("2024-01-26T11:00:00.5+0100"), "2024-01-26T10:00:00.500Z");
        assert_eq!(p("2024-01-26T11:00:00+01"), "2024-01-26T10:00:00.000Z");
        assert_eq!(p("2024-01-26T10:00:00,250Z"), "2024-01-26T10:00:00.250Z");
    }

    #[test]
    fn epoch_by_magnitude() {
        assert_eq!(p("1706263200"), "2024-01-26T10:00:00.000Z");
        assert_eq!(p("1706263200.25"), "2024-01-26T10:00:00.250Z");
        assert_eq!(p("1706263200123"), "2024-01-26T10:00:00.123Z");
        assert_eq!(p("1706263200123456"), "2024-01-26T10:00:00.123Z");
        assert_eq!(p("1706263200123456789"), "2024-01-26T10:00:00.123Z");
        let r = recv();
        let f = |v: Value| format_rfc3339(parse_value(&v, r).unwrap());
        assert_eq!(f(json!(1706263200)), "2024-01-26T10:00:00.000Z");
        assert_eq!(f(json!(1706263200.5)), "2024-01-26T10:00:00.500Z");
        assert_eq!(f(json!(1706263200123u64)), "2024-01-26T10:00:00.123Z");
        assert_eq!(f(json!(1706263200123456u64)), "2024-01-26T10:00:00.123Z");
        assert_eq!(f(json!(1706263200123456789u64)), "2024-01-26T10:00:00.123Z");
        assert_eq!(f(json!(0)), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc2822_clf_and_bsd() {
        assert_eq!(
            p("Fri, 26 Jan 2024 11:00:00 +0100"),
            "2024-01-26T10:00:00.000Z"
        );
        assert_eq!(p("10/Oct/2000:13:55:36 -0700"), "2000-10-10T20:55:36.000Z");
        assert_eq!(
            p("[10/Oct/2000:13:55:36 +0000]"),
            "2000-10-10T13:55:36.000Z"
        );
        assert_eq!(p("Mar  9 22:14:15"), "2024-03-09T22:14:15.000Z");
        assert_eq!(p("Mar 9 22:14:15.120"), "2024-03-09T22:14:15.120Z");
        assert_eq!(p("Oct 11 2022 22:14:15"), "2022-10-11T22:14:15.000Z");
    }

    #[test]
    fn bsd_year_crosses_new_year() {
        let jan1: Timestamp = "2025-01-01T00:00:30Z".parse().unwrap();
        let ts = parse_str("Dec 31 23:59:58", jan1).unwrap();
        assert_eq!(format_rfc3339(ts), "2024-12-31T23:59:58.000Z");
        let dec31: Timestamp = "2024-12-31T23:59:50Z".parse().unwrap();
        let ts = parse_str("Jan  1 00:00:05", dec31).unwrap();
        assert_eq!(format_rfc3339(ts), "2025-01-01T00:00:05.000Z");
        let ts = parse_str("Jan  1 00:00:05", jan1).unwrap();
        assert_eq!(format_rfc3339(ts), "2025-01-01T00:00:05.000Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2024-13-45T99:00:00Z",
            "Foo 11 22:14:15",
            "12ab",
            "--",
        ] {
            assert_eq!(parse_str(s, recv()), None, "{s}");
        }
        assert_eq!(parse_value(&json!(true), recv()), None);
        assert_eq!(parse_value(&json!(1e300), recv()), None);
    }

    #[test]
    fn formats_with_milliseconds() {
        let ts = Timestamp::from_millisecond(5).unwrap();
        assert_eq!(format_rfc3339(ts), "1970-01-01T00:00:00.005Z");
    }
}
