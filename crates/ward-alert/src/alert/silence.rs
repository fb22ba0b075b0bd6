//! Silences: matchers with a start and an end, a creator and a comment.
//! While active, a silence mutes every alert whose labels it matches; it
//! expires by itself at `ends_at` (or when expired early, which sets
//! `ends_at` to now). Expired silences are kept for the record.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alert::Muter;
use crate::alert::matcher::{MatchOp, Matcher};
use crate::error::AlertError;

/// Longest silence comment accepted.
pub const MAX_COMMENT: usize = 4096;

/// A silence to create, as the API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Matchers as objects, or as strings in Alertmanager's syntax.
    pub matchers: Vec<MatcherInput>,
    /// Defaults to now.
    #[serde(default)]
    pub starts_at: Option<Timestamp>,
    /// End time, or give `duration` instead.
    #[serde(default)]
    pub ends_at: Option<Timestamp>,
    /// e.g. "2h", counted from `starts_at`.
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub comment: String,
}

/// A matcher given as `"name=~value"` or as an object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MatcherInput {
    Text(String),
    Spec(MatcherSpec),
}

/// A silence with its state, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceView {
    #[serde(flatten)]
    pub silence: Silence,
    pub state: SilenceState,
}

/// Checks a request and builds the silence `id` it creates at `now`.
pub fn create(
    req: NewSilence,
    actor: &str,
    id: String,
    now: Timestamp,
) -> Result<Silence, AlertError> {
    let mut matchers = Vec::new();
    for (i, m) in req.matchers.iter().enumerate() {
        let parsed = match m {
            MatcherInput::Text(t) => Matcher::parse(t),
            MatcherInput::Spec(s) => Matcher::new(&s.name, s.op, &s.value),
        }
        .map_err(|e| AlertError::Invalid(format!("matchers[{i}]: {e}")))?;
        matchers.push(MatcherSpec {
            name: parsed.name.clone(),
            op: parsed.op,
            value: parsed.value.clone(),
        });
    }
    let starts_at = req.starts_at.unwrap_or(now);
    let ends_at = match (req.ends_at, &req.duration) {
        (Some(e), None) => e,
        (None, Some(d)) => {
            let d = crate::config::parse_duration(d)
                .map_err(|e| AlertError::Invalid(format!("duration: {e}")))?;
            crate::time::add(starts_at, d)
        }
        _ => {
            return Err(AlertError::Invalid(
                "give either ends_at or duration".into(),
            ));
        }
    };
    if ends_at <= starts_at || ends_at <= now {
        return Err(AlertError::Invalid(
            "ends_at must be after starts_at and in the future".into(),
        ));
    }
    if req.comment.len() > MAX_COMMENT {
        return Err(AlertError::Invalid(format!(
            "comment is longer than {MAX_COMMENT} bytes"
        )));
    }
    let s = Silence {
        id,
        matchers,
        starts_at,
        ends_at,
        created_by: actor.to_string(),
        comment: req.comment,
        created_at: now,
    };
    s.compile().map_err(AlertError::Invalid)?;
    Ok(s)
}

/// The silence `s` ended at `now`; an expired silence cannot end again.
pub fn expire(s: &Silence, now: Timestamp) -> Result<Silence, AlertError> {
    if s.state(now) == SilenceState::Expired {
        return Err(AlertError::Conflict(format!(
            "silence {} has already expired",
            s.id
        )));
    }
    let mut updated = s.clone();
    updated.ends_at = now;
    if updated.starts_at > now {
        updated.starts_at = now;
    }
    Ok(updated)
}

/// One matcher as stored and shown by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatcherSpec {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

/// A silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<MatcherSpec>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: String,
    pub comment: String,
    pub created_at: Timestamp,
}

/// Where a silence is in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    /// Its state at `now`.
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Compiles the matchers (checked when the silence was created).
    pub fn compile(&self) -> Result<Vec<Matcher>, String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        self.matchers
            .iter()
            .map(|m| Matcher::new(&m.name, m.op, &m.value))
            .collect()
    }
}

/// The silences active at one moment, compiled.
pub struct ActiveSilences(Vec<(String, Vec<Matcher>)>);

impl ActiveSilences {
    /// The silences among `all` that are active at `now`.
    pub fn at<'a>(all: impl IntoIterator<Item = &'a Silence>, now: Timestamp) -> ActiveSilences {
        ActiveSilences(
            all.into_iter()
                .filter(|s| s.state(now) == SilenceState::Active)
                .filter_map(|s| Some((s.id.clone(), s.compile().ok()?)))
                .collect(),
        )
    }

    /// Ids of the silences that match these labels.
    pub fn matching(&self, labels: &BTreeMap<String, String>) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, m)| m.iter().all(|m| m.matches(labels)))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl Muter for ActiveSilences {
    fn mutes(&self, _alert_id: &str, labels: &BTreeMap<String, String>) -> bool {
        self.0
            .iter()
            .any(|(_, m)| m.iter().all(|m| m.matches(labels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutes_only_while_active() {
        let t = |s: &str| -> Timestamp { s.parse().unwrap() };
        let s = Silence {
            id: "s1".into(),
            matchers: vec![MatcherSpec {
                name: "service".into(),
                op: MatchOp::Equal,
                value: "db".into(),
            }],
            starts_at: t("2026-01-01T10:00:00Z"),
            ends_at: t("2026-01-01T11:00:00Z"),
            created_by: "ana".into(),
            comment: "maintenance".into(),
            created_at: t("2026-01-01T09:00:00Z"),
        };
        let labels: BTreeMap<String, String> = [("service".to_string(), "db".to_string())].into();
        for (now, want) in [
            ("2026-01-01T09:59:59Z", false),
            ("2026-01-01T10:30:00Z", true),
            ("2026-01-01T11:00:00Z", false),
        ] {
            assert_eq!(
                ActiveSilences::at([&s], t(now)).mutes("a", &labels),
                want,
                "{now}"
            );
        }
        assert_eq!(s.state(t("2026-01-01T11:00:00Z")), SilenceState::Expired);
        let ended = expire(&s, t("2026-01-01T10:30:00Z")).unwrap();
        assert_eq!(
            ended.state(t("2026-01-01T10:30:00Z")),
            SilenceState::Expired
        );
        assert!(expire(&ended, t("2026-01-01T10:31:00Z")).is_err());
    }

    #[test]
    fn create_checks_the_request() {
        let now: Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
        let req = |m: &str, ends: Option<&str>, dur: Option<&str>| NewSilence {
            matchers: vec![MatcherInput::Text(m.into())],
            starts_at: None,
            ends_at: ends.map(|e| e.parse().unwrap()),
            duration: dur.map(str::to_string),
            comment: String::new(),
        };
        let s = create(req("service=db", None, Some("2h")), "ana", "s1".into(), now).unwrap();
        assert_eq!(s.ends_at.to_string(), "2026-01-01T12:00:00Z");
        assert!(create(req("service=db", None, None), "ana", "s".into(), now).is_err());
        let e = create(req("=x", None, Some("1h")), "ana", "s".into(), now).unwrap_err();
        assert!(e.to_string().starts_with("matchers[0]:"), "{e}");
        let past = Some("2026-01-01T09:00:00Z");
        assert!(create(req("a=b", past, None), "ana", "s".into(), now).is_err());
    }

    proptest::proptest! {
        /// A silence never mutes outside `[starts_at, ends_at)`.
        #[test]
        fn never_mutes_outside_its_window(start in 0i64..1_000_000, len in 1i64..1_000_000, at in -10i64..3_000_000) {
            let base: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
            let t = |s: i64| base + jiff::SignedDuration::from_secs(s);
            let s = Silence {
                id: "s".into(),
                matchers: vec![MatcherSpec { name: "a".into(), op: MatchOp::Equal, value: "b".into() }],
                starts_at: t(start),
                ends_at: t(start + len),
                created_by: "p".into(),
                comment: String::new(),
                created_at: base,
            };
            let labels: BTreeMap<String, String> = [("a".to_string(), "b".to_string())].into();
            let muted = ActiveSilences::at([&s], t(at)).mutes("x", &labels);
            proptest::prop_assert_eq!(muted, at >= start && at < start + len);
        }
    }
}
