//! Who may do what. A request's credential (an ingest token of the
//! configuration or environment, an API key of `ward apikey`, or the
//! session cookie of a local user of `ward users`) becomes a
//! [`Principal`]: a name, a role, a tenant and the role's permissions.
//! Every route declares the permission it needs ([`guard::Routes`]); one
//! middleware checks it before the handler runs, so before the body is
//! read. Tenant-scoped data is filtered by [`Principal::tenant_scope`]:
//! only a principal with `tenants:all` (the built-in admin role) sees
//! other tenants.

pub mod apikey;
pub mod audit;
pub mod guard;
pub mod oidc;
pub mod permission;
pub mod session;
pub mod users;

#[cfg(test)]
mod combined;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::http::HeaderMap;

pub use guard::{Caller, Need, RouteSpec, Routes};
pub use permission::{PermSet, Permission, RoleConfig, Roles};

use crate::source::Tokens;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `apikey`, `session` or `token`.
    pub kind: &'static str,
    /// The key's id, the session's public id, or the token's source name.
    pub id: String,
    /// The key's name, the user's name, or the token's source name: the
    /// source of events it sends.
    pub name: String,
    pub role: String,
    pub tenant: String,
    pub perms: PermSet,
    /// For an ingest token: the recognizer its `[[sources]]` entry declares
    /// for the events it sends (`recognizer = "aws.cloudtrail"`).
    pub recognizer: Option<String>,
}

impl Principal {
    pub fn can(&self, p: Permission) -> bool {
        self.perms.has(p)
    }

    /// The one tenant this caller sees, or None for every tenant.
    pub fn tenant_scope(&self) -> Option<&str> {
        (!self.can(Permission::TenantsAll)).then_some(self.tenant.as_str())
    }

    /// Whether data of `tenant` is visible to this caller.
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenant_scope().is_none_or(|t| t == tenant)
    }

    /// Whether this caller may hand out a credential of `role` (with
    /// `perms`) for `tenant`, such as an API key: never wider than itself,
    /// in permissions or in tenant. The error says why not.
    pub fn may_delegate(&self, role: &str, perms: PermSet, tenant: &str) -> Result<(), String> {
        if !self.perms.covers(perms) {
            return Err(format!(
                "a key is never wider than its owner: role {role} has permissions that {} ({}) does not",
                self.name, self.role
            ));
        }
        if !self.sees(tenant) {
            return Err(format!(
                "a key is never wider than its owner: {} acts for tenant {}, not {tenant}",
                self.name, self.tenant
            ));
        }
        Ok(())
    }

    /// How actions of this caller are recorded: the user's or the key's
    /// name (a person or a script), or `source@tenant` for an ingest token.
    pub fn actor(&self) -> String {
        if self.kind == "token" {
            format!("{}@{}", self.name, self.tenant)
        } else {
            self.name.clone()
        }
    }

    /// The principal of an ingest token: role ingest, its source and tenant.
    pub fn ingest(source: &str, tenant: &str) -> Principal {
        Principal {
            kind: "token",
            id: source.to_owned(),
            name: source.to_owned(),
            role: "ingest".into(),
            tenant: tenant.to_owned(),
            perms: PermSet::of(&[Permission::IngestWrite]),
            recognizer: None,
        }
    }
}

/// Every credential Ward accepts.
pub struct Access {
    pub tokens: Tokens,
    pub keys: apikey::KeyStore,
    pub roles: Roles,
    pub users: users::UserStore,
    pub sessions: session::Sessions,
}

/// A caller and, when it came with a session cookie, the session's CSRF
/// token.
pub struct Identified {
    pub principal: Arc<Principal>,
    pub csrf: Option<Arc<str>>,
}

impl Access {
    /// The caller named by the request's credentials, if any is valid.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<Arc<Principal>> {
        self.identify(headers).map(|i| i.principal)
    }

    /// The caller of a request: a token or API key in the headers first
    /// (a script's credential is never mistaken for a browser's), then the
    /// session cookie.
    pub fn identify(&self, headers: &HeaderMap) -> Option<Identified> {
        for c in crate::source::auth::candidates(headers) {
            let principal = if apikey::is_api_key(&c) {
                self.keys
                    .verify(&c)
                    .and_then(|r| self.key_principal(&r))
                    .map(Arc::new)
            } else {
                self.tokens.get(&c)
            };
            if let Some(principal) = principal {
                return Some(Identified {
                    principal,
                    csrf: None,
                });
            }
        }
        let token = self.sessions.cookie(headers)?;
        let found = self.sessions.find(token, &self.users)?;
        let principal = self.person(&found.name, &found.role, &found.tenant, found.id)?;
        Some(Identified {
            principal: Arc::new(principal),
            csrf: Some(found.csrf),
        })
    }

    /// The principal of a user's session; None when its role no longer
    /// exists.
    pub fn user_principal(&self, u: &users::UserRecord, session_id: String) -> Option<Principal> {
        self.person(&u.name, &u.role, &u.tenant, session_id)
    }

    /// The principal of a person's session (a local user or a person of
    /// the OIDC provider); None when the role no longer exists.
    pub fn person(
        &self,
        name: &str,
        role: &str,
        tenant: &str,
        session_id: String,
    ) -> Option<Principal> {
        let perms = self.roles.get(role)?;
        Some(Principal {
            kind: "session",
            id: session_id,
            name: name.to_owned(),
            role: role.to_owned(),
            tenant: tenant.to_owned(),
            perms,
            recognizer: None,
        })
    }

    /// The principal of a key record; None when its role no longer exists.
    fn key_principal(&self, r: &apikey::KeyRecord) -> Option<Principal> {
        let perms = self.roles.get(&r.role)?;
        Some(Principal {
            kind: "apikey",
            id: r.id.clone(),
            name: r.name.clone(),
            role: r.role.clone(),
            tenant: r.tenant.clone(),
            perms,
            recognizer: None,
        })
    }
}

/// What a tenant name may be, as said to people.
pub const TENANT_RULE: &str = "a tenant is 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit";

/// Whether `t` is a valid tenant name ([`TENANT_RULE`]): lowercase only,
/// since searches match `tenant.id` without regard to case.
pub fn valid_tenant(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Makes everything Ward creates from now on private to its user (umask
/// 077: directories 0700, files 0600), makes the data directory 0700, and
/// takes group and other access away from what an earlier version left
/// readable inside it (store files, `alerts.sqlite3`, keys).
pub fn private_data(dir: &Path) -> anyhow::Result<()> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    private_dir(dir)?;
    tighten(dir, 0)
}

fn tighten(dir: &Path, depth: usize) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if depth > 8 {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let mode = meta.permissions().mode();
        if meta.is_dir() {
            if mode & 0o077 != 0 {
                std::fs::set_permissions(
                    entry.path(),
                    std::fs::Permissions::from_mode(mode & 0o700),
                )?;
            }
            tighten(&entry.path(), depth + 1)?;
        } else if meta.is_file() && mode & 0o077 != 0 {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode & 0o700))
                .with_context(|| format!("cannot make {} private", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Replaces `<data_dir>/<name>` with `bytes` at once: a private temporary
/// file, synced, then renamed over it, so a reader sees the old or the new
/// file, never a part.
pub fn replace_file(data_dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    private_dir(data_dir)?;
    let path = data_dir.join(name);
    let tmp = data_dir.join(format!("{name}.tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    crate::redact::write_private(&tmp, bytes)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))
}

/// A file's modification time, if it can be read.
pub fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Creates `dir` (and parents) if needed and makes it private (0700).
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private (0700)", dir.display()))
}
