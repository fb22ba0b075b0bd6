//! Single sign-on with an OpenID Connect provider (`[access.oidc]`).
//!
//! The authorization code flow with PKCE (S256). A login
//! (`GET /api/v1/oidc/login`) makes a random `state`, `nonce` and PKCE
//! verifier, keeps them server-side for ten minutes, binds the `state` to
//! the browser with a short-lived cookie, and sends the browser to the
//! provider. The callback (`GET /api/v1/oidc/callback`) accepts a `state`
//! only from the browser it was given to, and only once; it exchanges the
//! code (with the verifier) at the token endpoint and validates the ID
//! token: signature by a key of the provider's JWKS with an algorithm of
//! the allow-list, issuer, audience (and `azp`), expiry, and the nonce of
//! this login. The provider is found by discovery from the issuer, whose
//! document must name the same issuer.
//!
//! Every call to the provider goes through Ward's outbound policy: global
//! unicast addresses only, checked after name resolution on every
//! connection, no redirect followed. Loopback is allowed only with
//! `allow_local_provider = true` (a provider on the same host), and then
//! plain http too.
//!
//! Claims of the ID token decide who the person is in Ward: a user name
//! (`username_claim`), one role (`[[access.oidc.roles]]`, the first entry
//! whose value the role claim has), and one tenant (`tenant_claim` mapped
//! by `[[access.oidc.tenants]]`, else `default_tenant`). A person whose
//! claims map to no role, or to no tenant, gets no session.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::notify::destination::is_public;

/// How long a started login may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Started logins kept at most (the oldest go first beyond).
const MAX_PENDING: usize = 10_000;
/// How long discovery (metadata and keys) is trusted before it is fetched
/// again.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// Longest wait for the provider.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `[access.oidc]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL; discovery reads
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Name of the environment variable that holds the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File (first line) that holds the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back; default
    /// `<server.public_url>/api/v1/oidc/callback`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Scopes asked for (`openid` is always asked).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// What the login page's button says: "Sign in with <display_name>".
    #[serde(default = "default_display_name")]
    pub display_name: String,
    /// The claim that names the person in Ward.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim (a string or a list of strings) mapped to a role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim value → role; the first entry whose value the claim has wins.
    #[serde(default)]
    pub roles: Vec<ClaimMap<RoleTarget>>,
    /// The claim mapped to a tenant; without it every person of the
    /// provider acts for `default_tenant`.
    #[serde(default)]
    pub tenant_claim: Option<String>,
    /// Claim value → tenant; the first entry whose value the claim has wins.
    #[serde(default)]
    pub tenants: Vec<ClaimMap<TenantTarget>>,
    #[serde(default = "default_tenant")]
    pub default_tenant: String,
    /// Signing algorithms accepted for ID tokens.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Allow a provider on this host (loopback, and then plain http).
    #[serde(default)]
    pub allow_local_provider: bool,
}

/// One entry of a claim mapping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMap<T> {
    /// The claim's value (or one of its values, for a list).
    pub value: String,
    #[serde(flatten)]
    pub target: T,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleTarget {
    pub role: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantTarget {
    pub tenant: String,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_display_name() -> String {
    "single sign-on".into()
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_role_claim() -> String {
    "groups".into()
}
fn default_tenant() -> String {
    "default".into()
}
fn default_algorithms() -> Vec<String> {
    vec![
        "RS256".into(),
        "PS256".into(),
        "ES256".into(),
        "EdDSA".into(),
    ]
}

/// `[access.oidc]`, validated.
#[derive(Debug)]
pub struct Settings {
    pub issuer: IssuerUrl,
    pub client_id: ClientId,
    pub client_secret: Option<ClientSecret>,
    pub redirect_url: RedirectUrl,
    pub scopes: Vec<String>,
    pub display_name: String,
    pub username_claim: String,
    pub role_claim: String,
    pub roles: Vec<(String, String)>,
    pub tenant_claim: Option<String>,
    pub tenants: Vec<(String, String)>,
    pub default_tenant: String,
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
    pub allow_local_provider: bool,
}

/// The path of the callback.
pub const CALLBACK_ROUTE: &str = "/api/v1/oidc/callback";
/// The path that starts a login.
pub const LOGIN_ROUTE: &str = "/api/v1/oidc/login";

impl Settings {
    /// Checks `[access.oidc]`; every problem is `(key, value, fix)`.
    pub fn from_config(
        c: &OidcConfig,
        public_url: Option<&str>,
        roles: &super::Roles,
    ) -> Result<Settings, Vec<(String, String, String)>> {
        let mut bad = Vec::new();
        let mut problem = |k: &str, v: &str, fix: &str| {
            bad.push((format!("access.oidc.{k}"), v.to_owned(), fix.to_owned()));
        };
        let local_ok = c.allow_local_provider;
        let url_ok = |u: &str| match url::Url::parse(u) {
            Ok(u) if u.scheme() == "https" => true,
            Ok(u) if u.scheme() == "http" && local_ok => true,
            _ => false,
        };
        if !url_ok(&c.issuer) {
            problem(
                "issuer",
                &c.issuer,
                "write the provider's https issuer URL (http only with allow_local_provider = true)",
            );
        }
        let issuer = IssuerUrl::new(c.issuer.trim_end_matches('/').to_owned())
            .unwrap_or_else(|_| IssuerUrl::from_url(fallback_url()));
        if c.client_id.is_empty() || c.client_id.len() > 1024 {
            problem(
                "client_id",
                &c.client_id,
                "give the client id registered at the provider",
            );
        }
        let client_secret = match (&c.client_secret_env, &c.client_secret_file) {
            (Some(_), Some(_)) => {
                problem(
                    "client_secret_file",
                    "",
                    "set client_secret_env or client_secret_file, not both",
                );
                None
            }
            (Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
                _ => {
                    problem(
                        "client_secret_env",
                        var,
                        "set this environment variable to the client secret",
                    );
                    None
                }
            },
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(text) if !text.trim().is_empty() => {
                    Some(text.lines().next().unwrap_or("").trim().to_owned())
                }
                Ok(_) => {
                    problem(
                        "client_secret_file",
                        &path.display().to_string(),
                        "the file is empty",
                    );
                    None
                }
                Err(e) => {
                    problem(
                        "client_secret_file",
                        &path.display().to_string(),
                        &format!("cannot read it: {e}"),
                    );
                    None
                }
            },
            (None, None) => None,
        }
        .map(ClientSecret::new);
        let redirect = match (&c.redirect_url, public_url) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(p)) => Some(format!("{}{CALLBACK_ROUTE}", p.trim_end_matches('/'))),
            (None, None) => None,
        };
        let redirect_url = match redirect {
            Some(u) if url::Url::parse(&u).is_ok_and(|p| p.path() == CALLBACK_ROUTE) => {
                RedirectUrl::new(u).unwrap_or_else(|_| RedirectUrl::from_url(fallback_url()))
            }
            other => {
                problem(
                    "redirect_url",
                    other.as_deref().unwrap_or(""),
                    &format!(
                        "give Ward's URL ending in {CALLBACK_ROUTE} (or set server.public_url)"
                    ),
                );
                RedirectUrl::from_url(fallback_url())
            }
        };
        let mut scopes: Vec<String> = c
            .scopes
            .iter()
            .filter(|s| *s != "openid")
            .cloned()
            .collect();
        scopes.dedup();
        if c.roles.is_empty() {
            problem(
                "roles",
                "[]",
                "map at least one claim value to a role: [[access.oidc.roles]] value = \"...\" role = \"analyst\"",
            );
        }
        let mut role_map = Vec::new();
        for m in &c.roles {
            if roles.get(&m.target.role).is_none() || m.target.role == "ingest" {
                problem(
                    "roles",
                    &m.target.role,
                    "use a role of people (viewer, analyst, engineer, auditor, admin or a custom role)",
                );
            }
            role_map.push((m.value.clone(), m.target.role.clone()));
        }
        let mut tenant_map = Vec::new();
        for m in &c.tenants {
            if !super::valid_tenant(&m.target.tenant) {
                problem("tenants", &m.target.tenant, super::TENANT_RULE);
            }
            tenant_map.push((m.value.clone(), m.target.tenant.clone()));
        }
        if !c.tenants.is_empty() && c.tenant_claim.is_none() {
            problem(
                "tenant_claim",
                "",
                "name the claim that [[access.oidc.tenants]] maps",
            );
        }
        if !super::valid_tenant(&c.default_tenant) {
            problem("default_tenant", &c.default_tenant, super::TENANT_RULE);
        }
        let mut algorithms = Vec::new();
        for a in &c.algorithms {
            match serde_json::from_value::<CoreJwsSigningAlgorithm>(Value::String(a.clone())) {
                Ok(alg) if !a.starts_with("HS") && a != "none" => algorithms.push(alg),
                _ => problem(
                    "algorithms",
                    a,
                    "use asymmetric algorithms: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
                ),
            }
        }
        if algorithms.is_empty() {
            problem(
                "algorithms",
                "[]",
                "allow at least one algorithm, e.g. RS256",
            );
        }
        if !bad.is_empty() {
            return Err(bad);
        }
        Ok(Settings {
            issuer,
            client_id: ClientId::new(c.client_id.clone()),
            client_secret,
            redirect_url,
            scopes,
            display_name: c.display_name.clone(),
            username_claim: c.username_claim.clone(),
            role_claim: c.role_claim.clone(),
            roles: role_map,
            tenant_claim: c.tenant_claim.clone(),
            tenants: tenant_map,
            default_tenant: c.default_tenant.clone(),
            algorithms,
            allow_local_provider: c.allow_local_provider,
        })
    }
}

fn fallback_url() -> url::Url {
    url::Url::parse("https://invalid.invalid/").unwrap_or_else(|_| std::process::abort())
}

/// The outbound policy for the provider: global unicast only, loopback
/// too with `allow_local_provider`.
#[derive(Clone, Copy)]
struct ProviderGuard {
    allow_local: bool,
}

impl ProviderGuard {
    fn allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        is_public(ip) || (self.allow_local && ip.is_loopback())
    }

    fn check(&self, addrs: &[SocketAddr]) -> Result<(), String> {
        if addrs.is_empty() {
            return Err("the provider's host has no address".into());
        }
        if let Some(a) = addrs.iter().find(|a| !self.allowed(a.ip())) {
            return Err(format!(
                "the provider's address {} is not global unicast (a provider on this host needs \
                 access.oidc.allow_local_provider = true)",
                a.ip()
            ));
        }
        Ok(())
    }

    fn check_url(&self, url: &url::Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_local => {}
            s => return Err(format!("the provider's URL {url} is {s}, not https")),
        }
        let host = url.host_str().ok_or("the provider's URL has no host")?;
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => self.check(&[SocketAddr::new(ip, 0)]),
            Err(_) => Ok(()),
        }
    }
}

impl reqwest::dns::Resolve for ProviderGuard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = *self;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            guard
                .check(&addrs)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// A login started and not finished.
struct Pending {
    nonce: Nonce,
    verifier: String,
    started: Instant,
}

/// The person a successful login names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub role: String,
    pub tenant: String,
    /// The ID token's `sub`.
    pub subject: String,
}

/// Why a login failed: said to the person (`public`) and logged (`detail`).
#[derive(Debug)]
pub struct Failure {
    pub status: u16,
    pub public: String,
    pub detail: String,
}

fn fail(status: u16, public: &str, detail: impl std::fmt::Display) -> Failure {
    Failure {
        status,
        public: public.to_owned(),
        detail: detail.to_string(),
    }
}

/// The configured provider, its discovery cache and the logins under way.
pub struct Oidc {
    pub settings: Arc<Settings>,
    guard: ProviderGuard,
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// A login to start: where to send the browser, and the `state` to bind to
/// it.
pub struct Start {
    pub url: url::Url,
    pub state: String,
}

impl Oidc {
    pub fn new(settings: Arc<Settings>) -> anyhow::Result<Oidc> {
        let guard = ProviderGuard {
            allow_local: settings.allow_local_provider,
        };
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(guard))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("ward/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Oidc {
            settings,
            guard,
            http,
            discovered: tokio::sync::Mutex::new(None),
            pending: Mutex::default(),
        })
    }

    /// The provider's metadata and keys, from discovery (cached).
    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, Failure> {
        let mut cached = self.discovered.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && !fresh
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(m.clone());
        }
        let unavailable = "the identity provider cannot be reached or answered wrongly";
        let issuer_url = url::Url::parse(self.settings.issuer.as_str())
            .map_err(|e| fail(502, unavailable, e))?;
        self.guard
            .check_url(&issuer_url)
            .map_err(|e| fail(502, unavailable, e))?;
        let m = CoreProviderMetadata::discover_async(self.settings.issuer.clone(), &self.http)
            .await
            .map_err(|e| fail(502, unavailable, format!("discovery: {}", chain(&e))))?;
        for u in [
            Some(m.authorization_endpoint().url()),
            m.token_endpoint().map(|t| t.url()),
            Some(m.jwks_uri().url()),
        ]
        .into_iter()
        .flatten()
        {
            self.guard
                .check_url(u)
                .map_err(|e| fail(502, unavailable, e))?;
        }
        *cached = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    fn client(
        &self,
        m: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            m,
            self.settings.client_id.clone(),
            self.settings.client_secret.clone(),
        )
        .set_redirect_uri(self.settings.redirect_url.clone())
    }

    /// Starts a login: a new state, nonce and PKCE verifier.
    pub async fn start(&self) -> Result<Start, Failure> {
        let m = self.metadata(false).await?;
        let client = self.client(m);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &self.settings.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        let now = Instant::now();
        let mut pending = self.pending.lock();
        pending.retain(|_, p| now.duration_since(p.started) < PENDING_TTL);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                nonce,
                verifier: verifier.secret().clone(),
                started: now,
            },
        );
        Ok(Start {
            url,
            state: state.secret().clone(),
        })
    }

    /// Ends a started login without finishing it.
    pub fn forget(&self, state: &str) {
        self.pending.lock().remove(state);
    }

    /// Finishes a login: `state` (the query's, already checked against the
    /// browser's cookie) is used up whatever happens next.
    pub async fn finish(&self, state: &str, code: &str) -> Result<Person, Failure> {
        let refused = "the login at the identity provider could not be checked: start again";
        let pending = self
            .pending
            .lock()
            .remove(state)
            .filter(|p| p.started.elapsed() < PENDING_TTL)
            .ok_or_else(|| {
                fail(
                    401,
                    "this sign-in was not started in this browser, or has expired: start again",
                    "unknown, used or expired state",
                )
            })?;
        let client = self.client(self.metadata(false).await?);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| fail(502, refused, e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| fail(401, refused, format!("token request: {}", chain(&e))))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| fail(401, refused, "the token response has no ID token"))?;
        let verify = |client: &CoreClient<_, _, _, _, _, _>| {
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(self.settings.algorithms.iter().cloned());
            id_token
                .claims(&verifier, &pending.nonce)
                .map(|c| c.subject().as_str().to_owned())
        };
        let subject = match verify(&client) {
            Ok(s) => s,
            // A key the cached set does not have: the provider may have
            // rotated its keys. The code is used up, so the same token is
            // checked again with keys fetched anew.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                verify(&self.client(self.metadata(true).await?))
                    .map_err(|e| fail(401, refused, format!("ID token: {}", chain(&e))))?
            }
            Err(e) => return Err(fail(401, refused, format!("ID token: {}", chain(&e)))),
        };
        let raw = payload(&id_token.to_string())
            .ok_or_else(|| fail(401, refused, "the ID token's claims are not JSON"))?;
        self.person(&raw, subject)
    }

    /// The person that verified claims name, or why there is none.
    pub fn person(&self, claims: &Value, subject: String) -> Result<Person, Failure> {
        let s = &self.settings;
        let name = claims
            .get(&s.username_claim)
            .and_then(Value::as_str)
            .filter(|n| super::users::valid_name(n))
            .ok_or_else(|| {
                fail(
                    403,
                    &format!(
                        "your account at {} has no usable user name (claim {}): ask an administrator",
                        s.display_name, s.username_claim
                    ),
                    format!("claim {} missing or not a valid user name", s.username_claim),
                )
            })?
            .to_owned();
        let values = |claim: &str| -> Vec<String> {
            match claims.get(claim) {
                Some(Value::String(v)) => vec![v.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let has = values(&s.role_claim);
        let role = s
            .roles
            .iter()
            .find(|(v, _)| has.contains(v))
            .map(|(_, r)| r.clone())
            .ok_or_else(|| {
                fail(
                    403,
                    &format!(
                        "{name}: your account at {} is given no role in Ward: ask an administrator for access",
                        s.display_name
                    ),
                    format!("no role for {name}: claim {} is {has:?}", s.role_claim),
                )
            })?;
        let tenant = match &s.tenant_claim {
            None => s.default_tenant.clone(),
            Some(claim) => {
                let has = values(claim);
                s.tenants
                    .iter()
                    .find(|(v, _)| has.contains(v))
                    .map(|(_, t)| t.clone())
                    .ok_or_else(|| {
                        fail(
                            403,
                            &format!(
                                "{name}: your account at {} is given no tenant in Ward: ask an administrator for access",
                                s.display_name
                            ),
                            format!("no tenant for {name}: claim {claim} is {has:?}"),
                        )
                    })?
            }
        };
        Ok(Person {
            name,
            role,
            tenant,
            subject,
        })
    }
}

/// The JSON claims of a compact JWS (its signature checked before).
fn payload(jwt: &str) -> Option<Value> {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// An error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> OidcConfig {
        toml::from_str(&format!(
            "issuer = \"https://idp.example.com\"\nclient_id = \"ward\"\n\
             redirect_url = \"https://ward.example.com/api/v1/oidc/callback\"\n{extra}"
        ))
        .unwrap()
    }

    fn settings(extra: &str) -> Result<Settings, Vec<(String, String, String)>> {
        Settings::from_config(&config(extra), None, &super::super::Roles::default())
    }

    const MAP: &str = "tenant_claim = \"org\"\n\
        [[roles]]\nvalue = \"sec-admins\"\nrole = \"admin\"\n\
        [[roles]]\nvalue = \"soc\"\nrole = \"analyst\"\n\
        [[tenants]]\nvalue = \"Acme Corp\"\ntenant = \"acme\"\n";

    #[test]
    fn claims_map_to_the_first_role_and_tenant_listed() {
        let o = Oidc::new(Arc::new(settings(MAP).unwrap())).unwrap();
        let p = o
            .person(
                &serde_json::json!({"preferred_username": "ana", "groups": ["soc", "sec-admins"], "org": "Acme Corp"}),
                "s1".into(),
            )
            .unwrap();
        assert_eq!((p.role.as_str(), p.tenant.as_str()), ("admin", "acme"));
        let p = o
            .person(
                &serde_json::json!({"preferred_username": "bo", "groups": "soc", "org": ["x", "Acme Corp"]}),
                "s2".into(),
            )
            .unwrap();
        assert_eq!(p.role, "analyst");
        for claims in [
            serde_json::json!({"preferred_username": "cy", "groups": ["other"], "org": "Acme Corp"}),
            serde_json::json!({"preferred_username": "cy", "org": "Acme Corp"}),
            serde_json::json!({"preferred_username": "cy", "groups": ["soc"], "org": "Globex"}),
            serde_json::json!({"preferred_username": "cy", "groups": ["soc"]}),
            serde_json::json!({"groups": ["soc"], "org": "Acme Corp"}),
            serde_json::json!({"preferred_username": "a\nb", "groups": ["soc"], "org": "Acme Corp"}),
        ] {
            let e = o.person(&claims, "s".into()).unwrap_err();
            assert_eq!(e.status, 403, "{claims}: {e:?}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let keys = |r: Result<Settings, Vec<(String, String, String)>>| {
            r.err()
                .unwrap()
                .into_iter()
                .map(|(k, _, _)| k)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(settings("")), ["access.oidc.roles"]);
        assert_eq!(
            keys(settings(&format!(
                "algorithms = [\"HS256\", \"none\"]\n{MAP}"
            ))),
            [
                "access.oidc.algorithms",
                "access.oidc.algorithms",
                "access.oidc.algorithms"
            ]
        );
        assert_eq!(
            keys(settings("[[roles]]\nvalue = \"x\"\nrole = \"ingest\"\n")),
            ["access.oidc.roles"]
        );
        let plain = Settings::from_config(
            &toml::from_str(&format!(
                "issuer = \"http://127.0.0.1:9\"\nclient_id = \"ward\"\n{MAP}"
            ))
            .unwrap(),
            Some("http://127.0.0.1:8080/"),
            &super::super::Roles::default(),
        );
        assert_eq!(keys(plain), ["access.oidc.issuer"]);
    }

    #[test]
    fn the_provider_guard_allows_loopback_only_when_told() {
        let strict = ProviderGuard { allow_local: false };
        let local = ProviderGuard { allow_local: true };
        for a in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(!strict.allowed(ip), "{a}");
            assert!(local.allowed(ip), "{a}");
        }
        for a in [
            "10.0.0.1",
            "169.254.169.254",
            "192.168.1.1",
            "fd00::1",
            "::ffff:0:7f00:1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(!strict.allowed(ip) && !local.allowed(ip), "{a}");
        }
        assert!(strict.allowed("8.8.8.8".parse().unwrap()));
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(strict.check_url(&u("http://idp.example.com/")).is_err());
        assert!(local.check_url(&u("http://127.0.0.1:9/")).is_ok());
        assert!(local.check_url(&u("http://10.0.0.1/")).is_err());
    }
}
