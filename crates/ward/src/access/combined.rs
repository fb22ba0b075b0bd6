//! No combination of roles widens a tenant or a filter. Whatever custom
//! roles the configuration defines, whatever roles and tenants the single
//! sign-on claims map to (a person in many groups and organisations),
//! whatever credentials one request carries, and whatever key a person
//! asks for:
//!
//! - a caller holds the permissions of exactly one role, never a union;
//! - only the built-in admin role crosses tenants;
//! - a caller bound to a tenant finds no other tenant's event through any
//!   query, sees no other tenant's silence, and can make no key wider than
//!   itself in permissions or tenant.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use proptest::prelude::*;
use serde_json::json;
use ward_alert::alert::matcher::MatchOp;
use ward_alert::alert::silence::{MatcherSpec, Silence};

use super::{Access, Permission, Principal, RoleConfig, Roles};
use crate::secret::Secret;

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
const PEOPLE_ROLES: [&str; 5] = ["viewer", "analyst", "engineer", "auditor", "admin"];
const CUSTOM: [&str; 4] = ["c0", "c1", "c2", "c3"];

/// Queries a person might type to reach past the tenant filter.
const QUERIES: [&str; 10] = [
    "",
    "*",
    "tenant.id:globex",
    "NOT tenant.id:acme",
    "tenant.id:acme OR tenant.id:globex OR tenant.id:initech",
    "message:m* OR NOT message:m*",
    "tenant.id:* AND message:*",
    "ward.sender.tenant.id:globex",
    "(tenant.id:initech) OR (NOT (tenant.id:initech))",
    "message:\"x\" OR *",
];

fn perms_of(mask: u32) -> Vec<Permission> {
    Permission::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, p)| p)
        .collect()
}

fn custom_roles(masks: &[u32]) -> BTreeMap<String, RoleConfig> {
    masks
        .iter()
        .zip(CUSTOM)
        .map(|(m, name)| {
            let permissions = perms_of(*m)
                .into_iter()
                .map(|p| p.as_str().to_owned())
                .collect();
            (name.to_owned(), RoleConfig { permissions })
        })
        .collect()
}

fn access(roles: Roles, tokens: &[(String, Principal)]) -> Access {
    let mut t = crate::source::Tokens::default();
    for (token, p) in tokens {
        t.insert_principal(&Secret::new(token.clone()), p.clone());
    }
    Access {
        tokens: t,
        keys: super::apikey::KeyStore::open(std::path::Path::new("/nonexistent-ward-keys"))
            .unwrap(),
        roles,
        users: super::users::UserStore::open(std::path::Path::new("/nonexistent-ward-users"))
            .unwrap(),
        sessions: super::session::Sessions::new(Default::default()),
    }
}

/// What a caller bound to a tenant must never see past, checked for `p`.
fn check_bounds(p: &Principal, roles: &Roles) -> Result<(), TestCaseError> {
    let admin = p.role == "admin";
    prop_assert_eq!(p.can(Permission::TenantsAll), admin, "{:?}", p);
    if admin {
        prop_assert_eq!(p.tenant_scope(), None);
        return Ok(());
    }
    prop_assert_eq!(p.tenant_scope(), Some(p.tenant.as_str()));
    for t in TENANTS {
        prop_assert_eq!(p.sees(t), t == p.tenant, "{} sees {}", p.name, t);
    }
    // Search: no query finds another tenant's event.
    for q in QUERIES {
        let parsed = ward_store::query::parse(q).unwrap();
        let scoped = crate::api::events::scoped(p, parsed);
        for t in TENANTS {
            let body = json!({"tenant": {"id": t}, "message": "m1",
                "ward": {"sender": {"tenant.id": p.tenant}}})
            .to_string();
            let found = scoped
                .expr
                .matches(&ward_store::query::Doc::new(body.as_bytes(), 0));
            prop_assert!(
                !found || t == p.tenant,
                "{} ({}) found {}'s event with {:?}",
                p.name,
                p.tenant,
                t,
                q
            );
        }
    }
    // Silences: another tenant's, or one bound to no tenant, is hidden.
    for t in TENANTS.iter().map(|t| Some(*t)).chain([None]) {
        let mut matchers = vec![MatcherSpec {
            name: "alertname".into(),
            op: MatchOp::Regex,
            value: ".+".into(),
        }];
        if let Some(t) = t {
            matchers.push(MatcherSpec {
                name: "tenant".into(),
                op: MatchOp::Equal,
                value: t.into(),
            });
        }
        let s = Silence {
            id: "s".into(),
            matchers,
            starts_at: jiff::Timestamp::UNIX_EPOCH,
            ends_at: jiff::Timestamp::MAX,
            created_by: "x".into(),
            comment: String::new(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
        };
        prop_assert_eq!(
            crate::api::silences::visible(p, &s),
            t == Some(p.tenant.as_str())
        );
    }
    // Keys: whatever role and tenant are asked, none wider than the caller.
    for role in roles.names() {
        let perms = roles.get(role).unwrap();
        for t in TENANTS {
            if p.may_delegate(role, perms, t).is_ok() {
                prop_assert!(p.perms.covers(perms), "{} gave {}", p.name, role);
                prop_assert!(!perms.has(Permission::TenantsAll));
                prop_assert_eq!(t, p.tenant.as_str());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A person of the single sign-on provider in many groups and
    /// organisations gets the first mapped role and tenant, never the union
    /// of what the claims map to; only admin crosses tenants.
    #[test]
    fn no_combination_of_roles_widens_a_tenant_or_a_filter(
        masks in proptest::collection::vec(any::<u32>(), 0..4),
        role_map in proptest::collection::vec((0usize..6, 0usize..9), 1..7),
        tenant_map in proptest::collection::vec((0usize..4, 0usize..3), 1..5),
        groups in proptest::collection::vec(0usize..6, 0..6),
        orgs in proptest::collection::vec(0usize..4, 0..4),
    ) {
        let tenants_all = Permission::TenantsAll as u32;
        let custom = custom_roles(&masks);
        let refused = masks.iter().any(|m| m & (1 << tenants_all) != 0);
        prop_assert_eq!(Roles::new(&custom).is_err(), refused, "tenants:all in a custom role is refused");
        let masks: Vec<u32> = masks.iter().map(|m| m & !(1 << tenants_all)).collect();
        let roles = Roles::new(&custom_roles(&masks)).unwrap();
        let role_names: Vec<&str> = PEOPLE_ROLES
            .iter()
            .copied()
            .chain(CUSTOM.iter().copied().take(masks.len()))
            .collect();

        let mut toml = String::from(
            "issuer = \"https://idp.example.com\"\nclient_id = \"ward\"\n\
             redirect_url = \"https://ward.example.com/api/v1/oidc/callback\"\n\
             tenant_claim = \"org\"\n",
        );
        let role_map: Vec<(String, &str)> = role_map
            .iter()
            .map(|(v, r)| (format!("g{v}"), role_names[r % role_names.len()]))
            .collect();
        for (v, r) in &role_map {
            toml.push_str(&format!("[[roles]]\nvalue = \"{v}\"\nrole = \"{r}\"\n"));
        }
        let tenant_map: Vec<(String, &str)> = tenant_map
            .iter()
            .map(|(v, t)| (format!("o{v}"), TENANTS[*t]))
            .collect();
        for (v, t) in &tenant_map {
            toml.push_str(&format!("[[tenants]]\nvalue = \"{v}\"\ntenant = \"{t}\"\n"));
        }
        let config: super::oidc::OidcConfig = toml::from_str(&toml).unwrap();
        let settings = super::oidc::Settings::from_config(&config, None, &roles).unwrap();
        let oidc = super::oidc::Oidc::new(Arc::new(settings)).unwrap();
        let groups: Vec<String> = groups.iter().map(|g| format!("g{g}")).collect();
        let orgs: Vec<String> = orgs.iter().map(|o| format!("o{o}")).collect();
        let claims = json!({"preferred_username": "pat", "groups": groups, "org": orgs});
        let want_role = role_map.iter().find(|(v, _)| groups.contains(v)).map(|(_, r)| *r);
        let want_tenant = tenant_map.iter().find(|(v, _)| orgs.contains(v)).map(|(_, t)| *t);
        let person = oidc.person(&claims, "sub".into());
        let (Some(role), Some(tenant)) = (want_role, want_tenant) else {
            prop_assert!(person.is_err(), "no role or no tenant: no session");
            return Ok(());
        };
        let person = person.unwrap();
        prop_assert_eq!(person.role.as_str(), role);
        prop_assert_eq!(person.tenant.as_str(), tenant);
        let a = access(roles.clone(), &[]);
        let p = a.person(&person.name, &person.role, &person.tenant, "s".into()).unwrap();
        prop_assert_eq!(p.perms, roles.get(role).unwrap(), "one role's permissions, not a union");
        check_bounds(&p, &roles)?;
    }

    /// A request with several credentials acts as one of them, with that
    /// one's role and tenant, never a mix.
    #[test]
    fn several_credentials_in_one_request_never_mix(
        masks in proptest::collection::vec(any::<u32>(), 0..4),
        holders in proptest::collection::vec((0usize..10, 0usize..3), 1..5),
        sent in proptest::collection::vec(0usize..6, 1..5),
    ) {
        let tenants_all = Permission::TenantsAll as u32;
        let masks: Vec<u32> = masks.iter().map(|m| m & !(1 << tenants_all)).collect();
        let roles = Roles::new(&custom_roles(&masks)).unwrap();
        let names: Vec<String> = roles.names().map(str::to_owned).collect();
        let tokens: Vec<(String, Principal)> = holders
            .iter()
            .enumerate()
            .map(|(i, (r, t))| {
                let role = &names[r % names.len()];
                (
                    format!("token-{i}-0123456789abcdef"),
                    Principal {
                        kind: "token",
                        id: format!("h{i}"),
                        name: format!("h{i}"),
                        role: role.clone(),
                        tenant: TENANTS[*t].into(),
                        perms: roles.get(role).unwrap(),
                        recognizer: None,
                    },
                )
            })
            .collect();
        let a = access(roles.clone(), &tokens);
        let mut headers = HeaderMap::new();
        for i in &sent {
            // Index past the holders: an unknown token.
            let token = format!("token-{i}-0123456789abcdef");
            headers.append(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        let first_valid = sent.iter().find_map(|i| tokens.get(*i).map(|(_, p)| p));
        match (a.authenticate(&headers), first_valid) {
            (None, None) => {}
            (Some(got), Some(want)) => {
                prop_assert_eq!(&*got, want, "the first valid credential, unchanged");
                check_bounds(&got, &roles)?;
            }
            (got, want) => prop_assert!(false, "authenticated {:?}, expected {:?}", got, want),
        }
    }
}
