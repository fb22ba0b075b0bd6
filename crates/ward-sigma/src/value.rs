//! Testing one field value against one compiled value test.
//!
//! A list-valued field satisfies a test when any element does; `null`
//! satisfies only the null test; numbers compare numerically for the
//! numeric modifiers and as text for string patterns.

use crate::engine::SlotValue;
use crate::event::FieldValue;
use crate::modifier::{NumOp, TimePart, ValueTest};
use crate::pattern::StrKind;

fn any_value(v: &FieldValue<'_>, f: &mut impl FnMut(&FieldValue<'_>) -> bool) -> bool {
    match v {
        FieldValue::List(items) => items.iter().any(|i| any_value(i, f)),
        other => f(other),
    }
}

/// Tests a present field; `refs` holds (raw, lowercase) texts of the
/// `fieldref` target when `t` is a field reference.
pub(crate) fn test_value(
    t: &ValueTest,
    v: &SlotValue<'_>,
    refs: Option<&Vec<(String, String)>>,
) -> bool {
    match t {
        ValueTest::Str(p) => v.texts().iter().any(|t| p.matches_text(t)),
        ValueTest::Regex(re, _) => v.texts().iter().any(|t| re.is_match(&t.raw)),
        ValueTest::Null => matches!(v.value, FieldValue::Null),
        ValueTest::Exists(b) => *b,
        ValueTest::Num(op, n) => any_value(&v.value, &mut |x| {
            x.as_f64().is_some_and(|x| op.test(x, *n))
        }),
        ValueTest::Cidr(net) => v.texts().iter().any(|t| {
            t.raw
                .trim()
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| net.contains(&ip))
        }),
        ValueTest::FieldRef { kind, cased, .. } => {
            let Some(other) = refs else { return false };
            v.texts().iter().any(|t| {
                other.iter().any(|(oraw, olower)| {
                    let (hay, needle) = if *cased {
                        (t.raw.as_ref(), oraw.as_str())
                    } else {
                        (t.lower(), olower.as_str())
                    };
                    match kind {
                        StrKind::Exact | StrKind::Any => hay == needle,
                        StrKind::Prefix => hay.starts_with(needle),
                        StrKind::Suffix => hay.ends_with(needle),
                        StrKind::Contains => hay.contains(needle),
                    }
                })
            })
        }
        ValueTest::Time(part, op, n) => v
            .texts()
            .iter()
            .any(|t| time_part(&t.raw, *part).is_some_and(|x| op.test(x as f64, *n as f64))),
        ValueTest::Never => false,
    }
}

/// Extracts a part of a timestamp (`2024-05-01T10:20:30Z`, with a space or
/// `T`, optional fraction and offset; also epoch milliseconds).
fn time_part(text: &str, part: TimePart) -> Option<i64> {
    let text = text.trim();
    let dt: jiff::civil::DateTime = if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        ts.to_zoned(jiff::tz::TimeZone::UTC).datetime()
    } else if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        dt
    } else if let Ok(ms) = text.parse::<i64>() {
        jiff::Timestamp::from_millisecond(ms)
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .datetime()
    } else {
        return None;
    };
    Some(match part {
        TimePart::Minute => i64::from(dt.minute()),
        TimePart::Hour => i64::from(dt.hour()),
        TimePart::Day => i64::from(dt.day()),
        TimePart::Week => i64::from(dt.date().iso_week_date().week()),
        TimePart::Month => i64::from(dt.month()),
        TimePart::Year => i64::from(dt.year()),
    })
}

impl NumOp {
    /// Name as written in rules.
    pub fn name(self) -> &'static str {
        match self {
            NumOp::Eq => "eq",
            NumOp::Lt => "lt",
            NumOp::Lte => "lte",
            NumOp::Gt => "gt",
            NumOp::Gte => "gte",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_parts() {
        assert_eq!(time_part("2024-05-01T10:20:30Z", TimePart::Hour), Some(10));
        assert_eq!(
            time_part("2024-05-01 10:20:30.123", TimePart::Minute),
            Some(20)
        );
        assert_eq!(time_part("2024-01-03T00:00:00Z", TimePart::Week), Some(1));
        assert_eq!(time_part("nope", TimePart::Year), None);
    }
}
