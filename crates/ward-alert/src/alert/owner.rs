//! The ownership registry: which team owns a service, repository, host or
//! tenant, and how to reach it. Entries come from the configuration and can
//! be changed through the API (those changes are persisted and win over the
//! configuration). Lookup order is the most specific first: service,
//! repository, host, tenant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{OwnersConfig, TeamConfig};
use crate::error::AlertError;

/// What an owner mapping keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnedKind {
    Services,
    Repositories,
    Hosts,
    Tenants,
}

impl OwnedKind {
    /// The kinds in lookup order, with the label each one reads.
    pub const LOOKUP: [(OwnedKind, &'static str); 4] = [
        (OwnedKind::Services, "service.name"),
        (OwnedKind::Repositories, "repository.name"),
        (OwnedKind::Hosts, "host.name"),
        (OwnedKind::Tenants, "tenant.id"),
    ];

    pub fn parse(s: &str) -> Option<OwnedKind> {
        match s {
            "services" => Some(OwnedKind::Services),
            "repositories" => Some(OwnedKind::Repositories),
            "hosts" => Some(OwnedKind::Hosts),
            "tenants" => Some(OwnedKind::Tenants),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OwnedKind::Services => "services",
            OwnedKind::Repositories => "repositories",
            OwnedKind::Hosts => "hosts",
            OwnedKind::Tenants => "tenants",
        }
    }
}

/// The registry (same shape as `[alerting.owners]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry(pub OwnersConfig);

impl Registry {
    /// The owning team of an alert with these finding labels, if any.
    pub fn owner_of(&self, labels: &BTreeMap<String, String>) -> Option<String> {
        OwnedKind::LOOKUP.iter().find_map(|(kind, label)| {
            let key = labels.get(*label)?;
            self.map(*kind).get(key).cloned()
        })
    }

    /// A team's entry.
    pub fn team(&self, name: &str) -> Option<&TeamConfig> {
        self.0.teams.get(name)
    }

    pub fn map(&self, kind: OwnedKind) -> &BTreeMap<String, String> {
        match kind {
            OwnedKind::Services => &self.0.services,
            OwnedKind::Repositories => &self.0.repositories,
            OwnedKind::Hosts => &self.0.hosts,
            OwnedKind::Tenants => &self.0.tenants,
        }
    }

    /// Applies one stored registry change: `kind` is `teams` or an
    /// [`OwnedKind`], `body` the JSON entry (a team, or a team name), None
    /// to delete.
    pub fn apply_entry(
        &mut self,
        kind: &str,
        key: String,
        body: Option<&str>,
    ) -> Result<(), AlertError> {
        let bad = |e: serde_json::Error| AlertError::Corrupt {
            what: format!("owner entry {kind}/{key}"),
            reason: e.to_string(),
        };
        if kind == "teams" {
            match body {
                Some(b) => {
                    let team = serde_json::from_str(b).map_err(bad)?;
                    self.0.teams.insert(key, team);
                }
                None => {
                    self.0.teams.remove(&key);
                }
            }
        } else if let Some(k) = OwnedKind::parse(kind) {
            match body {
                Some(b) => {
                    let team = serde_json::from_str(b).map_err(bad)?;
                    self.map_mut(k).insert(key, team);
                }
                None => {
                    self.map_mut(k).remove(&key);
                }
            }
        }
        Ok(())
    }

    pub fn map_mut(&mut self, kind: OwnedKind) -> &mut BTreeMap<String, String> {
        match kind {
            OwnedKind::Services => &mut self.0.services,
            OwnedKind::Repositories => &mut self.0.repositories,
            OwnedKind::Hosts => &mut self.0.hosts,
            OwnedKind::Tenants => &mut self.0.tenants,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_mapping_wins() {
        let mut r = Registry::default();
        r.map_mut(OwnedKind::Tenants)
            .insert("acme".into(), "acme-sec".into());
        r.map_mut(OwnedKind::Services)
            .insert("checkout".into(), "payments".into());
        let labels: BTreeMap<String, String> =
            [("tenant.id", "acme"), ("service.name", "checkout")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(r.owner_of(&labels).as_deref(), Some("payments"));
        let only_tenant: BTreeMap<String, String> = [("tenant.id".to_string(), "acme".to_string())]
            .into_iter()
            .collect();
        assert_eq!(r.owner_of(&only_tenant).as_deref(), Some("acme-sec"));
        assert_eq!(r.owner_of(&BTreeMap::new()), None);
        r.apply_entry("services", "checkout".into(), None).unwrap();
        assert_eq!(r.owner_of(&labels).as_deref(), Some("acme-sec"));
        r.apply_entry("hosts", "web-1".into(), Some("\"ops\""))
            .unwrap();
        assert_eq!(r.map(OwnedKind::Hosts)["web-1"], "ops");
        assert!(r.apply_entry("teams", "x".into(), Some("[")).is_err());
    }
}
