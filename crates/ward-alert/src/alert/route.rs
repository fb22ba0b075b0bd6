//! The routing tree, with Alertmanager's semantics: an alert enters at the
//! root; children are tried in order; a matching child takes the alert and
//! stops the search unless it has `continue = true`; when no child matches,
//! the node itself takes it. Unset options inherit from the parent.
//!
//! Ward adds one rule for ownership: when only the root takes an alert and
//! the owning team has a receiver, the team's receiver is used, so that an
//! alert reaches its owners without a route per team.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::alert::matcher::{Matcher, all_match};
use crate::config::{Problems, RouteConfig};

/// How alerts are split into groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `...`: every label, so each distinct alert is its own group.
    All,
    /// These labels.
    Labels(Vec<String>),
}

/// The options a route applies (after inheritance).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteOpts {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

/// A compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Position in the tree (`route`, `route.routes[1]`...), part of group keys.
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub continue_matching: bool,
    pub opts: Arc<RouteOpts>,
    pub routes: Vec<Route>,
}

/// Where an alert goes: a route's id and options.
#[derive(Debug, Clone)]
pub struct Target {
    pub route_id: String,
    pub opts: Arc<RouteOpts>,
}

impl Route {
    /// Compiles the tree, recording every problem under its key.
    pub(crate) fn compile(
        cfg: &RouteConfig,
        default_receiver: &str,
        receivers: &BTreeSet<String>,
        intervals: &BTreeSet<String>,
        problems: &mut Problems,
    ) -> Route {
        let root = RouteOpts {
            receiver: default_receiver.to_string(),
            group_by: GroupBy::Labels(vec!["alertname".into(), "owner".into()]),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        };
        let ctx = Ctx {
            receivers,
            intervals,
        };
        if !cfg.matchers.is_empty() {
            problems.push(
                "route.matchers",
                cfg.matchers.join(", "),
                "the root route takes every alert: move the matchers to a child route",
            );
        }
        ctx.compile(cfg, &root, "route".into(), problems)
    }

    /// The routes that take an alert with these labels.
    pub fn match_labels(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        if !all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let found = child.match_labels(labels);
            let matched = !found.is_empty();
            all.extend(found);
            if matched && !child.continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// The targets of an alert; `team_receiver` replaces the root's receiver
    /// when nothing more specific matched.
    pub fn targets(
        &self,
        labels: &BTreeMap<String, String>,
        team_receiver: Option<&str>,
    ) -> Vec<Target> {
        self.match_labels(labels)
            .into_iter()
            .map(|r| match team_receiver {
                Some(team) if std::ptr::eq(r, self) => Target {
                    route_id: format!("{}/team", r.id),
                    opts: Arc::new(RouteOpts {
                        receiver: team.to_string(),
                        ..(*r.opts).clone()
                    }),
                },
                _ => Target {
                    route_id: r.id.clone(),
                    opts: r.opts.clone(),
                },
            })
            .collect()
    }

    /// Every receiver name the tree uses.
    pub fn receivers(&self, out: &mut BTreeSet<String>) {
        out.insert(self.opts.receiver.clone());
        for r in &self.routes {
            r.receivers(out);
        }
    }
}

struct Ctx<'a> {
    receivers: &'a BTreeSet<String>,
    intervals: &'a BTreeSet<String>,
}

impl Ctx<'_> {
    fn compile(
        &self,
        cfg: &RouteConfig,
        parent: &RouteOpts,
        key: String,
        problems: &mut Problems,
    ) -> Route {
        let mut opts = parent.clone();
        if let Some(r) = &cfg.receiver {
            if !self.receivers.contains(r) {
                problems.push(
                    format!("{key}.receiver"),
                    r,
                    format!(
                        "no receiver has this name; define it under [[alerting.receivers]] (known: {})",
                        self.receivers.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            opts.receiver = r.clone();
        }
        if let Some(g) = &cfg.group_by {
            opts.group_by = if g.iter().any(|l| l == "...") {
                if g.len() > 1 {
                    problems.push(
                        format!("{key}.group_by"),
                        g.join(", "),
                        "\"...\" groups by every label and cannot be combined with other labels",
                    );
                }
                GroupBy::All
            } else {
                GroupBy::Labels(g.clone())
            };
        }
        for (field, value, slot) in [
            ("group_wait", &cfg.group_wait, &mut opts.group_wait),
            (
                "group_interval",
                &cfg.group_interval,
                &mut opts.group_interval,
            ),
            (
                "repeat_interval",
                &cfg.repeat_interval,
                &mut opts.repeat_interval,
            ),
        ] {
            if let Some(v) = value
                && let Some(d) = problems.duration(&format!("{key}.{field}"), v)
            {
                *slot = d;
            }
        }
        if cfg.group_interval.is_some() && opts.group_interval.is_zero() {
            problems.push(
                format!("{key}.group_interval"),
                "0",
                "group_interval must be longer than zero",
            );
        }
        for (field, names, slot) in [
            (
                "mute_time_intervals",
                &cfg.mute_time_intervals,
                &mut opts.mute_time_intervals,
            ),
            (
                "active_time_intervals",
                &cfg.active_time_intervals,
                &mut opts.active_time_intervals,
            ),
        ] {
            for (i, n) in names.iter().enumerate() {
                if !self.intervals.contains(n) {
                    problems.push(
                        format!("{key}.{field}[{i}]"),
                        n,
                        "no time interval has this name; define it under [[alerting.time_intervals]]",
                    );
                }
            }
            if !names.is_empty() {
                *slot = names.clone();
            }
        }
        let mut matchers = Vec::new();
        for (i, m) in cfg.matchers.iter().enumerate() {
            match Matcher::parse(m) {
                Ok(m) => matchers.push(m),
                Err(e) => problems.push(format!("{key}.matchers[{i}]"), m, e),
            }
        }
        let routes = cfg
            .routes
            .iter()
            .enumerate()
            .map(|(i, c)| self.compile(c, &opts, format!("{key}.routes[{i}]"), problems))
            .collect();
        Route {
            id: key,
            matchers,
            continue_matching: cfg.continue_matching,
            opts: Arc::new(opts),
            routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(toml_src: &str) -> (Route, Vec<crate::config::Problem>) {
        let cfg: RouteConfig = toml::from_str(toml_src).unwrap();
        let receivers = ["default", "pager", "slack", "db"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let intervals = ["weekends".to_string()].into_iter().collect();
        let mut p = Problems::default();
        let r = Route::compile(&cfg, "default", &receivers, &intervals, &mut p);
        (r, p.0)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const TREE: &str = r#"
        group_wait = "10s"
        [[routes]]
        receiver = "pager"
        matchers = ['severity=~"high|critical"']
        continue = true
        group_wait = "0s"
        [[routes]]
        receiver = "db"
        matchers = ['service="db"']
        [[routes]]
        receiver = "slack"
        matchers = ['service=~"db|web"']
    "#;

    #[test]
    fn first_match_wins_unless_continue() {
        let (r, problems) = tree(TREE);
        assert!(problems.is_empty(), "{problems:?}");
        let got = |l: &[(&str, &str)]| {
            r.targets(&labels(l), None)
                .into_iter()
                .map(|t| t.opts.receiver.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            got(&[("severity", "critical"), ("service", "db")]),
            ["pager", "db"]
        );
        assert_eq!(got(&[("severity", "low"), ("service", "db")]), ["db"]);
        assert_eq!(got(&[("severity", "low"), ("service", "web")]), ["slack"]);
        assert_eq!(got(&[("severity", "low")]), ["default"]);
        // As in Alertmanager: a match with `continue` still counts, so the root does not take it.
        assert_eq!(got(&[("severity", "critical")]), ["pager"]);
    }

    #[test]
    fn children_inherit_and_override() {
        let (r, _) = tree(TREE);
        assert_eq!(r.routes[0].opts.group_wait, Duration::ZERO);
        assert_eq!(r.routes[1].opts.group_wait, Duration::from_secs(10));
        assert_eq!(
            r.routes[1].opts.repeat_interval,
            Duration::from_secs(4 * 3600)
        );
    }

    #[test]
    fn team_receiver_replaces_only_the_root() {
        let (r, _) = tree(TREE);
        let t = r.targets(&labels(&[("severity", "low")]), Some("team-rx"));
        assert_eq!(t[0].opts.receiver, "team-rx");
        let t = r.targets(&labels(&[("service", "db")]), Some("team-rx"));
        assert_eq!(t[0].opts.receiver, "db");
    }

    #[test]
    fn problems_name_the_route() {
        let (_, problems) = tree(
            r#"
            [[routes]]
            receiver = "nope"
            matchers = ['severity=~"(high"']
            group_wait = "soon"
            mute_time_intervals = ["holidays"]
        "#,
        );
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "route.routes[0].receiver",
                "route.routes[0].group_wait",
                "route.routes[0].mute_time_intervals[0]",
                "route.routes[0].matchers[0]"
            ]
        );
    }
}
