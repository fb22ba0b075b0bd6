//! Silences: matchers with a start and an end, a creator and a comment.
//! While active, a silence mutes every alert whose labels it matches; it
//! expires by itself at `ends_at` (or when expired early, which sets
//! `ends_at` to now). Expired silences are kept for the record.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alert::Muter;
use crate::alert::matcher::{MatchOp, Matcher};

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
    }
}
