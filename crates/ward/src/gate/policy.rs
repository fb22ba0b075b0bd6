//! `[gate.policy]`: what each gate reason does (fail, warn, off) per
//! deploy environment, what is required (a sign-off, provenance), and the
//! version that every decision names.
//!
//! ```toml
//! [gate.policy]
//! version = "2026-12-06.1"
//! [gate.policy.default]             # every environment
//! max_severity = "high"
//! new_error_finding = "fail"
//! [gate.policy.environments.production]
//! require_signoff = true
//! require_provenance = true
//! [gate.policy.environments.staging]
//! new_error_finding = "warn"
//! ```
//!
//! An environment's settings start from `default`, which starts from the
//! built-in defaults: every reason fails, open alerts of high and above
//! count, and nothing else is required. An environment the policy does not
//! name gets `default`. Unknown keys, reasons and actions are configuration
//! errors, so a typo never loosens the gate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Every reason the gate can give, in the order it checks them.
pub const REASONS: &[&str] = &[
    "open_alert",
    "new_error_finding",
    "unhandled_vulnerability",
    "no_signoff",
    "provenance_missing",
    "provenance_invalid",
    "prompt_injection_test_failed",
    "ai_change_without_signoff",
    "ai_change_without_scan",
    "failing_control",
];

/// What a reason does to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Not checked.
    Off,
    /// Reported; the decision is `warn` unless another reason fails.
    Warn,
    /// The decision is `fail`.
    Fail,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Off => "off",
            Action::Warn => "warn",
            Action::Fail => "fail",
        }
    }
}

/// One section as written: every key optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Section {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signoff: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_provenance: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_alert: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_error_finding: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhandled_vulnerability: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_signoff: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance_missing: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance_invalid: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_injection_test_failed: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_change_without_signoff: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_change_without_scan: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_control: Option<Action>,
    /// Compliance controls (ids) whose failure fails the deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance_controls: Option<Vec<String>>,
    /// Frameworks (catalog ids) whose mapped controls' failure fails the
    /// deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance_frameworks: Option<Vec<String>>,
    /// Whether the controls owned by the service's team count (default
    /// true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance_owner_controls: Option<bool>,
}

/// `[gate.policy]` as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Names this policy in every decision; a change of policy should
    /// change it (the digest changes anyway).
    pub version: Option<String>,
    pub default: Section,
    pub environments: BTreeMap<String, Section>,
    /// Paths that make a change AI-related, besides the built-in ones
    /// ([`super::ai::BUILTIN_PATHS`]): `dir/` (a directory anywhere),
    /// `*.suffix`, or a file name or path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ai_paths: Vec<String>,
}

/// The version of the built-in policy, used when `version` is not set.
pub const BUILTIN_VERSION: &str = "ward-builtin-1";

/// The settings in force for one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effective {
    pub environment: String,
    pub max_severity: ward_alert::Severity,
    pub require_signoff: bool,
    pub require_provenance: bool,
    pub actions: BTreeMap<&'static str, Action>,
    /// Controls and frameworks whose failing controls are a reason.
    pub compliance_controls: Vec<String>,
    pub compliance_frameworks: Vec<String>,
    /// The controls of the team owning the service count too.
    pub compliance_owner_controls: bool,
}

impl Effective {
    /// The action of `reason` (fail for a reason the table misses).
    pub fn action(&self, reason: &str) -> Action {
        self.actions.get(reason).copied().unwrap_or(Action::Fail)
    }
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub version: String,
    /// `sha256:` of the policy's canonical JSON: two decisions with the same
    /// digest were made under the same rules.
    pub digest: String,
    config: PolicyConfig,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new(PolicyConfig::default()).unwrap_or_else(|_| Policy {
            version: BUILTIN_VERSION.into(),
            digest: String::new(),
            config: PolicyConfig::default(),
        })
    }
}

/// A problem: (key, value, what to do).
pub type Problem = (String, String, String);

fn check_severity(where_: &str, s: &Option<String>) -> Result<(), Problem> {
    if let Some(v) = s
        && ward_alert::Severity::parse(v).is_none()
    {
        return Err((
            format!("{where_}.max_severity"),
            v.clone(),
            "use informational, low, medium, high or critical".into(),
        ));
    }
    Ok(())
}

/// Longest environment name and version.
const MAX_NAME: usize = 64;

/// Most entries of a list (controls, frameworks, AI paths).
const MAX_LIST: usize = 200;

/// Checks what one section says beside its actions.
fn check_section(where_: &str, s: &Section, problems: &mut Vec<Problem>) {
    if let Err(e) = check_severity(where_, &s.max_severity) {
        problems.push(e);
    }
    let lists = [
        ("compliance_controls", s.compliance_controls.as_ref()),
        ("compliance_frameworks", s.compliance_frameworks.as_ref()),
    ];
    for (key, list) in lists {
        check_list(&format!("{where_}.{key}"), list, MAX_NAME, problems);
    }
}

/// A list of at most [`MAX_LIST`] entries of 1 to `max` bytes without
/// control characters.
fn check_list(key: &str, list: Option<&Vec<String>>, max: usize, problems: &mut Vec<Problem>) {
    let Some(list) = list else { return };
    if list.len() > MAX_LIST {
        problems.push((
            key.into(),
            format!("{} entries", list.len()),
            format!("at most {MAX_LIST}"),
        ));
    }
    for v in list {
        if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
            problems.push((
                key.into(),
                v.escape_debug().take(max).collect(),
                format!("each entry is 1 to {max} bytes without control characters"),
            ));
        }
    }
}

impl Policy {
    /// Checks a written policy; each problem names its key.
    pub fn new(config: PolicyConfig) -> Result<Policy, Vec<Problem>> {
        let mut problems = Vec::new();
        let version = config
            .version
            .clone()
            .unwrap_or_else(|| BUILTIN_VERSION.into());
        if version.is_empty() || version.len() > MAX_NAME || version.chars().any(char::is_control) {
            problems.push((
                "gate.policy.version".into(),
                version.clone(),
                format!("1 to {MAX_NAME} bytes without control characters"),
            ));
        }
        check_section("gate.policy.default", &config.default, &mut problems);
        check_list(
            "gate.policy.ai_paths",
            Some(&config.ai_paths),
            200,
            &mut problems,
        );
        for (name, s) in &config.environments {
            if name.is_empty()
                || name.len() > MAX_NAME
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                problems.push((
                    "gate.policy.environments".into(),
                    name.clone(),
                    format!(
                        "an environment name is 1 to {MAX_NAME} letters, digits, '-', '_' or '.'"
                    ),
                ));
            }
            check_section(
                &format!("gate.policy.environments.{name}"),
                s,
                &mut problems,
            );
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let canonical = serde_json::to_vec(&config).unwrap_or_default();
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&canonical)));
        Ok(Policy {
            version,
            digest,
            config,
        })
    }

    /// The paths the policy adds to the built-in AI-related ones.
    pub fn ai_paths(&self) -> &[String] {
        &self.config.ai_paths
    }

    /// The environments the policy names.
    pub fn environments(&self) -> impl Iterator<Item = &String> {
        self.config.environments.keys()
    }

    /// The settings for `environment` (`None`: the default section).
    pub fn effective(&self, environment: Option<&str>) -> Effective {
        let env = environment.and_then(|e| self.config.environments.get(e));
        let layers = [Some(&self.config.default), env];
        let mut out = Effective {
            environment: environment.unwrap_or("").into(),
            max_severity: ward_alert::Severity::High,
            require_signoff: false,
            require_provenance: false,
            actions: REASONS.iter().map(|r| (*r, Action::Fail)).collect(),
            compliance_controls: Vec::new(),
            compliance_frameworks: Vec::new(),
            compliance_owner_controls: true,
        };
        for s in layers.into_iter().flatten() {
            if let Some(v) = s
                .max_severity
                .as_deref()
                .and_then(ward_alert::Severity::parse)
            {
                out.max_severity = v;
            }
            if let Some(v) = s.require_signoff {
                out.require_signoff = v;
            }
            if let Some(v) = s.require_provenance {
                out.require_provenance = v;
            }
            if let Some(v) = &s.compliance_controls {
                out.compliance_controls.clone_from(v);
            }
            if let Some(v) = &s.compliance_frameworks {
                out.compliance_frameworks.clone_from(v);
            }
            if let Some(v) = s.compliance_owner_controls {
                out.compliance_owner_controls = v;
            }
            let pairs = [
                ("open_alert", s.open_alert),
                ("new_error_finding", s.new_error_finding),
                ("unhandled_vulnerability", s.unhandled_vulnerability),
                ("no_signoff", s.no_signoff),
                ("provenance_missing", s.provenance_missing),
                ("provenance_invalid", s.provenance_invalid),
                (
                    "prompt_injection_test_failed",
                    s.prompt_injection_test_failed,
                ),
                ("ai_change_without_signoff", s.ai_change_without_signoff),
                ("ai_change_without_scan", s.ai_change_without_scan),
                ("failing_control", s.failing_control),
            ];
            for (k, v) in pairs {
                if let Some(v) = v {
                    out.actions.insert(k, v);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> PolicyConfig {
        toml::from_str(t).unwrap()
    }

    #[test]
    fn built_in_defaults_fail_closed() {
        let p = Policy::default();
        assert_eq!(p.version, BUILTIN_VERSION);
        assert!(p.digest.starts_with("sha256:"));
        let e = p.effective(Some("production"));
        for r in REASONS {
            assert_eq!(e.action(r), Action::Fail, "{r}");
        }
        assert_eq!(e.max_severity, ward_alert::Severity::High);
        assert_eq!(e.action("a_reason_added_later"), Action::Fail);
    }

    #[test]
    fn environments_layer_over_default() {
        let p = Policy::new(parse(
            r#"
            version = "v7"
            [default]
            new_error_finding = "warn"
            max_severity = "critical"
            [environments.production]
            new_error_finding = "fail"
            require_provenance = true
            [environments.dev]
            open_alert = "off"
            "#,
        ))
        .unwrap();
        assert_eq!(p.version, "v7");
        let prod = p.effective(Some("production"));
        assert_eq!(prod.action("new_error_finding"), Action::Fail);
        assert!(prod.require_provenance);
        assert_eq!(prod.max_severity, ward_alert::Severity::Critical);
        let dev = p.effective(Some("dev"));
        assert_eq!(dev.action("open_alert"), Action::Off);
        assert_eq!(dev.action("new_error_finding"), Action::Warn);
        // Unnamed environments get the default section.
        let other = p.effective(Some("qa"));
        assert_eq!(other.action("open_alert"), Action::Fail);
        assert!(!other.require_provenance);
    }

    #[test]
    fn typos_are_errors_not_looser_gates() {
        assert!(toml::from_str::<PolicyConfig>("[default]\nopen_alerts = \"off\"\n").is_err());
        assert!(toml::from_str::<PolicyConfig>("[default]\nopen_alert = \"ignore\"\n").is_err());
        assert!(toml::from_str::<PolicyConfig>("versoin = \"1\"\n").is_err());
        let e = Policy::new(parse("[environments.prod]\nmax_severity = \"hgh\"\n")).unwrap_err();
        assert_eq!(
            e[0].0, "gate.policy.environments.prod.max_severity",
            "{e:?}"
        );
        let e = Policy::new(parse("[environments.\"a b\"]\n")).unwrap_err();
        assert!(e[0].2.contains("environment name"), "{e:?}");
        assert!(
            toml::from_str::<PolicyConfig>("[default]\ncompliance_control = [\"A\"]\n").is_err()
        );
        assert!(
            toml::from_str::<PolicyConfig>("[default]\nfailing_control = \"maybe\"\n").is_err()
        );
        let e = Policy::new(parse(
            "ai_paths = [\"\"]\n[environments.prod]\ncompliance_frameworks = [\"soc\\u0007\"]\n",
        ))
        .unwrap_err();
        let keys: Vec<&str> = e.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "gate.policy.ai_paths",
                "gate.policy.environments.prod.compliance_frameworks"
            ],
            "{e:?}"
        );
        assert_eq!(e[1].1, "soc\\u{7}", "{e:?}");
        let p2 = Policy::new(parse(
            "ai_paths = [\"config/llm/\"]\n[default]\ncompliance_controls = [\"LOG-01\"]\nfailing_control = \"warn\"\n[environments.prod]\ncompliance_owner_controls = false\n",
        ))
        .unwrap();
        assert_eq!(p2.ai_paths(), ["config/llm/".to_owned()]);
        let prod = p2.effective(Some("prod"));
        assert_eq!(prod.compliance_controls, vec!["LOG-01".to_owned()]);
        assert!(!prod.compliance_owner_controls);
        assert_eq!(prod.action("failing_control"), Action::Warn);
        assert!(p2.effective(None).compliance_owner_controls);
    }

    #[test]
    fn the_digest_follows_the_rules() {
        let a = Policy::new(parse("[default]\nopen_alert = \"warn\"\n")).unwrap();
        let b = Policy::new(parse("[default]\nopen_alert = \"fail\"\n")).unwrap();
        assert_eq!(a.version, b.version);
        assert_ne!(a.digest, b.digest);
    }
}
