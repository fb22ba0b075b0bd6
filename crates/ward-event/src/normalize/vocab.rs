//! The fixed vocabularies: log levels and outcomes, read from the many
//! spellings senders use.

use serde_json::Value;

/// The five log levels of the logging standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail for development.
    Debug,
    /// Normal operation.
    Info,
    /// A potential issue.
    Warn,
    /// A failure that needs attention.
    Error,
    /// A severe failure that needs immediate action.
    Critical,
}

impl Level {
    /// The canonical spelling stored in `log.level`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// The `event.severity` (0–100) given to an event of this level when the
    /// sender gave none.
    pub fn severity(self) -> u64 {
        match self {
            Level::Debug => 10,
            Level::Info => 20,
            Level::Warn => 40,
            Level::Error => 70,
            Level::Critical => 90,
        }
    }

    /// The level of a 0–100 `event.severity`.
    pub fn from_severity(severity: u64) -> Level {
        match severity {
            0..20 => Level::Debug,
            20..40 => Level::Info,
            40..70 => Level::Warn,
            70..90 => Level::Error,
            _ => Level::Critical,
        }
    }

    /// The level of a syslog severity (0 emergency … 7 debug).
    pub fn from_syslog(severity: u8) -> Level {
        match severity {
            0..=2 => Level::Critical,
            3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// The level of an OpenTelemetry `SeverityNumber` (1–24).
    pub fn from_otel(number: i64) -> Option<Level> {
        Some(match number {
            1..=8 => Level::Debug,
            9..=12 => Level::Info,
            13..=16 => Level::Warn,
            17..=20 => Level::Error,
            21..=24 => Level::Critical,
            _ => return None,
        })
    }

    /// A numeric level: syslog severities 0–7, or the 10…60 steps of
    /// bunyan/pino.
    pub fn from_number(n: i64) -> Option<Level> {
        Some(match n {
            0..=7 => Level::from_syslog(n as u8),
            10 | 20 => Level::Debug,
            30 => Level::Info,
            40 => Level::Warn,
            50 => Level::Error,
            60 => Level::Critical,
            _ => return None,
        })
    }

    /// Reads any common spelling, case-insensitively: `warning`, `err`,
    /// `fatal`, `crit`, `emerg`, `notice`, `trace`, `Information`, numeric
    /// strings, `low`/`medium`/`high` and so on.
    ///
    /// ```
    /// use ward_event::Level;
    /// assert_eq!(Level::parse("Warning"), Some(Level::Warn));
    /// assert_eq!(Level::parse("emerg"), Some(Level::Critical));
    /// assert_eq!(Level::parse("3"), Some(Level::Error));
    /// ```
    pub fn parse(s: &str) -> Option<Level> {
        let s = s.trim();
        if let Ok(n) = s.parse::<i64>() {
            return Level::from_number(n);
        }
        let mut buf = [0u8; 16];
        let lower = lowercase(s, &mut buf)?;
        Some(match lower {
            "trace" | "debug" | "dbg" | "verbose" | "fine" | "finer" | "finest" | "d" | "t"
            | "all" => Level::Debug,
            "info" | "information" | "informational" | "notice" | "note" | "i" | "n" | "log"
            | "low" | "ok" => Level::Info,
            "warn" | "warning" | "wrn" | "w" | "medium" | "moderate" => Level::Warn,
            "error" | "err" | "eror" | "e" | "severe" | "high" => Level::Error,
            "critical"
            | "crit"
            | "fatal"
            | "f"
            | "c"
            | "emerg"
            | "emergency"
            | "alert"
            | "panic"
            | "very_high"
            | "very high"
            | "severity_number_fatal" => Level::Critical,
            _ => return None,
        })
    }

    /// Reads a level from a JSON string or number.
    pub fn from_value(v: &Value) -> Option<Level> {
        match v {
            Value::String(s) => Level::parse(s),
            Value::Number(n) => n.as_i64().and_then(Level::from_number),
            _ => None,
        }
    }
}

/// Lowercases a short ASCII string into `buf`; `None` when it does not fit
/// (no level or outcome word is that long).
pub(crate) fn lowercase<'a>(s: &str, buf: &'a mut [u8; 16]) -> Option<&'a str> {
    let bytes = s.as_bytes();
    let dst = buf.get_mut(..bytes.len())?;
    for (d, b) in dst.iter_mut().zip(bytes) {
        *d = b.to_ascii_lowercase();
    }
    std::str::from_utf8(dst).ok()
}

/// The ECS outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `success`
    Success,
    /// `failure`
    Failure,
    /// `unknown`
    Unknown,
}

impl Outcome {
    /// The ECS spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }

    /// Reads any common spelling of an outcome.
    pub fn parse(s: &str) -> Option<Outcome> {
        let mut buf = [0u8; 16];
        let lower = lowercase(s.trim(), &mut buf)?;
        Some(match lower {
            "success" | "succeeded" | "successful" | "succeed" | "ok" | "true" | "pass"
            | "passed" | "allow" | "allowed" | "granted" | "accepted" | "approved" | "permit"
            | "permitted" | "yes" | "done" | "completed" | "complete" => Outcome::Success,
            "failure" | "fail" | "failed" | "fails" | "error" | "denied" | "deny" | "rejected"
            | "reject" | "blocked" | "block" | "false" | "invalid" | "unauthorized"
            | "forbidden" | "no" | "refused" | "dropped" => Outcome::Failure,
            "unknown" | "n/a" | "na" | "none" | "-" | "" => Outcome::Unknown,
            _ => return None,
        })
    }

    /// Reads an outcome from a JSON string or boolean.
    pub fn from_value(v: &Value) -> Option<Outcome> {
        match v {
            Value::String(s) => Outcome::parse(s),
            Value::Bool(true) => Some(Outcome::Success),
            Value::Bool(false) => Some(Outcome::Failure),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn level_spellings() {
        let cases = [
            ("DEBUG", Level::Debug),
            ("trace", Level::Debug),
            ("Info", Level::Info),
            ("notice", Level::Info),
            ("warning", Level::Warn),
            ("WARN", Level::Warn),
            ("err", Level::Error),
            ("Error", Level::Error),
            ("fatal", Level::Critical),
            ("crit", Level::Critical),
            ("emerg", Level::Critical),
            ("alert", Level::Critical),
            ("0", Level::Critical),
            ("4", Level::Warn),
            ("7", Level::Debug),
        ];
        for (s, want) in cases {
            assert_eq!(Level::parse(s), Some(want), "{s}");
        }
        assert_eq!(Level::parse("loud"), None);
        assert_eq!(Level::parse("a-very-long-level-name-indeed"), None);
        assert_eq!(Level::from_value(&json!(50)), Some(Level::Error));
        assert_eq!(Level::from_value(&json!(30)), Some(Level::Info));
        assert_eq!(Level::from_value(&json!(99)), None);
        assert_eq!(Level::from_otel(9), Some(Level::Info));
        assert_eq!(Level::from_otel(21), Some(Level::Critical));
        assert_eq!(Level::from_severity(73), Level::Error);
    }

    #[test]
    fn outcome_spellings() {
        for s in ["success", "SUCCEEDED", "ok", "allowed", "granted"] {
            assert_eq!(Outcome::parse(s), Some(Outcome::Success), "{s}");
        }
        for s in ["failure", "FAILED", "denied", "blocked", "unauthorized"] {
            assert_eq!(Outcome::parse(s), Some(Outcome::Failure), "{s}");
        }
        assert_eq!(Outcome::parse("n/a"), Some(Outcome::Unknown));
        assert_eq!(Outcome::parse("maybe"), None);
        assert_eq!(Outcome::from_value(&json!(false)), Some(Outcome::Failure));
    }
}
