//! Permissions (`resource:action`), the set a role grants, and the roles:
//! six built in, more in the configuration (`[access.roles.<name>]`).
//!
//! Invariant: only the built-in `admin` role holds [`Permission::TenantsAll`]
//! (crossing tenants); a custom role that lists it is refused when the
//! configuration is loaded, so no role, custom or combined, can widen a
//! caller's tenant.

use std::collections::BTreeMap;
use std::fmt;

/// One thing a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Search and read events.
    EventsRead,
    /// Inclusion and consistency proofs, signed checkpoints.
    EvidenceRead,
    /// List and read alerts and their response figures.
    AlertsRead,
    /// Acknowledge, resolve, assign and comment on alerts.
    AlertsRespond,
    SilencesRead,
    /// Create and expire silences.
    SilencesWrite,
    /// Owner registry and receivers, with their delivery logs.
    RoutingRead,
    /// Change the owner registry (who gets paged).
    RoutingWrite,
    RulesRead,
    RulesWrite,
    /// Send events (to the credential's own tenant and source).
    IngestWrite,
    /// `/metrics` and the reasons behind `/readyz`.
    MetricsRead,
    /// Ward's own audit trail.
    AuditRead,
    /// The compliance posture: controls, states, scores.
    ComplianceRead,
    /// Attest manual compliance controls.
    ComplianceAttest,
    /// Give the security sign-off a deploy gate can require.
    GateSignoff,
    /// Override a failing deploy gate decision (break-glass, with a reason).
    GateOverride,
    /// Manage API keys and users.
    Admin,
    /// See and act on every tenant, not only the credential's own.
    TenantsAll,
}

impl Permission {
    /// Every permission, in a stable order.
    pub const ALL: [Permission; 19] = [
        Permission::EventsRead,
        Permission::EvidenceRead,
        Permission::AlertsRead,
        Permission::AlertsRespond,
        Permission::SilencesRead,
        Permission::SilencesWrite,
        Permission::RoutingRead,
        Permission::RoutingWrite,
        Permission::RulesRead,
        Permission::RulesWrite,
        Permission::IngestWrite,
        Permission::MetricsRead,
        Permission::AuditRead,
        Permission::ComplianceRead,
        Permission::ComplianceAttest,
        Permission::GateSignoff,
        Permission::GateOverride,
        Permission::Admin,
        Permission::TenantsAll,
    ];

    /// The `resource:action` name used in configuration and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::EventsRead => "events:read",
            Permission::EvidenceRead => "evidence:read",
            Permission::AlertsRead => "alerts:read",
            Permission::AlertsRespond => "alerts:respond",
            Permission::SilencesRead => "silences:read",
            Permission::SilencesWrite => "silences:write",
            Permission::RoutingRead => "routing:read",
            Permission::RoutingWrite => "routing:write",
            Permission::RulesRead => "rules:read",
            Permission::RulesWrite => "rules:write",
            Permission::IngestWrite => "ingest:write",
            Permission::MetricsRead => "metrics:read",
            Permission::AuditRead => "audit:read",
            Permission::ComplianceRead => "compliance:read",
            Permission::ComplianceAttest => "compliance:attest",
            Permission::GateSignoff => "gate:signoff",
            Permission::GateOverride => "gate:override",
            Permission::Admin => "admin",
            Permission::TenantsAll => "tenants:all",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions (a bit set: checking one is one AND).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PermSet(u32);

impl PermSet {
    pub fn of(perms: &[Permission]) -> PermSet {
        PermSet(perms.iter().fold(0, |acc, p| acc | p.bit()))
    }

    pub fn has(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether every permission of `other` is also in `self`.
    pub fn covers(self, other: PermSet) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.has(*p))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

use Permission as P;

const VIEWER: &[Permission] = &[
    P::EventsRead,
    P::AlertsRead,
    P::SilencesRead,
    P::RoutingRead,
    P::ComplianceRead,
];

/// The built-in roles and what each grants.
pub fn builtin_roles() -> BTreeMap<&'static str, PermSet> {
    let mut viewer = VIEWER.to_vec();
    let mut roles = BTreeMap::new();
    roles.insert("viewer", PermSet::of(&viewer));
    viewer.extend([P::AlertsRespond, P::RulesRead]);
    roles.insert("analyst", PermSet::of(&viewer));
    let mut engineer = VIEWER.to_vec();
    engineer.extend([
        P::AlertsRespond,
        P::SilencesWrite,
        P::RoutingWrite,
        P::RulesRead,
        P::RulesWrite,
        P::MetricsRead,
        P::ComplianceAttest,
        P::GateSignoff,
    ]);
    roles.insert("engineer", PermSet::of(&engineer));
    let mut auditor = VIEWER.to_vec();
    auditor.extend([P::EvidenceRead, P::AuditRead, P::RulesRead, P::MetricsRead]);
    roles.insert("auditor", PermSet::of(&auditor));
    roles.insert("admin", PermSet::of(&Permission::ALL));
    roles.insert("ingest", PermSet::of(&[P::IngestWrite]));
    roles
}

/// The roles in force: the built-in ones plus those of the configuration.
#[derive(Debug, Clone)]
pub struct Roles(BTreeMap<String, PermSet>);

/// `[access.roles.<name>]`: a custom role.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Permissions by name (`events:read`, `alerts:respond`, …).
    /// `tenants:all` is reserved to the built-in admin role.
    pub permissions: Vec<String>,
}

impl Default for Roles {
    fn default() -> Self {
        Roles(
            builtin_roles()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

impl Roles {
    /// The built-in roles plus `custom`; every problem at once.
    pub fn new(custom: &BTreeMap<String, RoleConfig>) -> Result<Roles, Vec<String>> {
        let mut roles = Roles::default();
        let mut errors = Vec::new();
        for (name, rc) in custom {
            if roles.0.contains_key(name) {
                errors.push(format!(
                    "access.roles.{name}: the built-in role {name:?} cannot be redefined"
                ));
                continue;
            }
            let mut perms = Vec::new();
            for p in &rc.permissions {
                match Permission::parse(p) {
                    Some(Permission::TenantsAll) => errors.push(format!(
                        "access.roles.{name}: tenants:all belongs to the built-in admin role only"
                    )),
                    Some(p) => perms.push(p),
                    None => errors.push(format!(
                        "access.roles.{name}: unknown permission {p:?} (known: {})",
                        Permission::ALL.map(Permission::as_str).join(", ")
                    )),
                }
            }
            roles.0.insert(name.clone(), PermSet::of(&perms));
        }
        if errors.is_empty() {
            Ok(roles)
        } else {
            Err(errors)
        }
    }

    pub fn get(&self, name: &str) -> Option<PermSet> {
        self.0.get(name).copied()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bits_are_distinct() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        let all = PermSet::of(&Permission::ALL);
        assert_eq!(all.iter().count(), Permission::ALL.len());
    }

    #[test]
    fn ingest_can_only_ingest_and_only_admin_crosses_tenants() {
        let roles = builtin_roles();
        assert_eq!(roles["ingest"].names(), vec!["ingest:write"]);
        for (name, set) in &roles {
            assert_eq!(set.has(Permission::TenantsAll), *name == "admin", "{name}");
        }
        assert!(roles["auditor"].has(Permission::EvidenceRead));
        assert!(!roles["viewer"].has(Permission::AlertsRespond));
        assert!(roles["engineer"].has(Permission::SilencesWrite));
        assert!(!roles["analyst"].has(Permission::SilencesWrite));
        assert!(roles["viewer"].has(Permission::ComplianceRead));
        assert!(!roles["viewer"].has(Permission::ComplianceAttest));
        assert!(!roles["analyst"].has(Permission::ComplianceAttest));
        assert!(roles["engineer"].has(Permission::ComplianceAttest));
        assert!(roles["admin"].has(Permission::ComplianceAttest));
    }

    #[test]
    fn custom_roles_are_checked() {
        let mut custom = BTreeMap::new();
        custom.insert(
            "triage".to_owned(),
            RoleConfig {
                permissions: vec!["alerts:read".into(), "alerts:respond".into()],
            },
        );
        let r = Roles::new(&custom).unwrap();
        assert!(r.get("triage").unwrap().has(Permission::AlertsRespond));
        custom.insert(
            "sneaky".to_owned(),
            RoleConfig {
                permissions: vec!["tenants:all".into(), "events:write".into()],
            },
        );
        custom.insert("admin".to_owned(), RoleConfig::default());
        let errs = Roles::new(&custom).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    proptest::proptest! {
        /// No custom role, whatever it lists, crosses tenants.
        #[test]
        fn no_custom_role_widens_the_tenant(picks in proptest::collection::vec(0usize..Permission::ALL.len(), 0..15)) {
            let perms: Vec<String> = picks.iter().map(|i| Permission::ALL[*i].as_str().to_owned()).collect();
            let mut custom = BTreeMap::new();
            custom.insert("r".to_owned(), RoleConfig { permissions: perms });
            match Roles::new(&custom) {
                Ok(r) => proptest::prop_assert!(!r.get("r").unwrap().has(Permission::TenantsAll)),
                Err(_) => proptest::prop_assert!(picks.iter().any(|i| Permission::ALL[*i] == Permission::TenantsAll)),
            }
        }
    }
}
