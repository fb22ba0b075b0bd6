//! Inhibition: while an alert matching a rule's source matchers fires, alerts
//! matching its target matchers, with the same values for the `equal` labels,
//! are muted (a "database down" alert mutes "query errors" on that database).
//! An alert never inhibits itself, as in Alertmanager.

use std::collections::BTreeMap;

use crate::alert::Muter;
use crate::alert::matcher::{Matcher, all_match};
use crate::config::{InhibitRuleConfig, Problems};

/// A compiled inhibition rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

impl InhibitRule {
    pub(crate) fn compile(
        cfg: &InhibitRuleConfig,
        key: &str,
        problems: &mut Problems,
    ) -> InhibitRule {
        let mut parse = |list: &[String], field: &str| {
            let mut out = Vec::new();
            for (i, m) in list.iter().enumerate() {
                match Matcher::parse(m) {
                    Ok(m) => out.push(m),
                    Err(e) => problems.push(format!("{key}.{field}[{i}]"), m, e),
                }
            }
            out
        };
        let source = parse(&cfg.source_matchers, "source_matchers");
        let target = parse(&cfg.target_matchers, "target_matchers");
        if cfg.source_matchers.is_empty() || cfg.target_matchers.is_empty() {
            problems.push(
                key,
                "",
                "an inhibit rule needs source_matchers and target_matchers, or it would mute everything",
            );
        }
        InhibitRule {
            source,
            target,
            equal: cfg.equal.clone(),
        }
    }
}

/// Inhibition rules applied to a snapshot of the firing alerts.
pub struct Inhibitor<'a> {
    rules: &'a [InhibitRule],
    /// (alert id, labels) of every firing, unsilenced alert.
    firing: Vec<(&'a str, &'a BTreeMap<String, String>)>,
}

impl<'a> Inhibitor<'a> {
    pub fn new(
        rules: &'a [InhibitRule],
        firing: Vec<(&'a str, &'a BTreeMap<String, String>)>,
    ) -> Self {
        Inhibitor { rules, firing }
    }
}

impl Muter for Inhibitor<'_> {
    fn mutes(&self, alert_id: &str, labels: &BTreeMap<String, String>) -> bool {
        self.rules.iter().any(|rule| {
            all_match(&rule.target, labels)
                && self.firing.iter().any(|(id, src)| {
                    *id != alert_id
                        && all_match(&rule.source, src)
                        && rule.equal.iter().all(|l| src.get(l) == labels.get(l))
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_mutes_target_with_equal_labels() {
        let cfg = InhibitRuleConfig {
            source_matchers: vec!["alertname=\"DatabaseDown\"".into()],
            target_matchers: vec!["severity!=\"critical\"".into()],
            equal: vec!["host".into()],
        };
        let mut p = Problems::default();
        let rules = vec![InhibitRule::compile(&cfg, "inhibit_rules[0]", &mut p)];
        assert!(p.0.is_empty());
        let l = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let src = l(&[
            ("alertname", "DatabaseDown"),
            ("host", "db1"),
            ("severity", "critical"),
        ]);
        let inh = Inhibitor::new(&rules, vec![("src", &src)]);
        assert!(inh.mutes(
            "t",
            &l(&[
                ("alertname", "QueryErrors"),
                ("host", "db1"),
                ("severity", "high")
            ])
        ));
        assert!(!inh.mutes(
            "t",
            &l(&[
                ("alertname", "QueryErrors"),
                ("host", "db2"),
                ("severity", "high")
            ])
        ));
        assert!(!inh.mutes(
            "t",
            &l(&[
                ("alertname", "X"),
                ("host", "db1"),
                ("severity", "critical")
            ])
        ));
    }
}
