//! The one permission check. Routes are added only through [`Routes`],
//! which makes every route declare what it needs ([`Need`]) and keeps the
//! list ([`RouteSpec`]); [`check`] runs on every matched route before its
//! handler (so before the body is read), looks the route up in that list,
//! authenticates the caller and answers 401 or 403, or hands the handler a
//! [`Caller`]. A route added around [`Routes`] is in no list and is refused
//! to everyone: forgetting a permission fails closed.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{
    ConnectInfo, FromRequestParts, MatchedPath, OptionalFromRequestParts, Request, State,
};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use serde_json::json;

use super::audit::{Action, AuditTrail};
use super::{Access, Permission, Principal};
use crate::api::ApiError;

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, without a credential (health probes, `/`, the login form,
    /// the console's static files).
    Public,
    /// Any valid credential (`/api/v1/me`).
    Authenticated,
    /// A credential of the route's own, checked by its handler (the
    /// webhook inputs: a GitHub HMAC signature, the Kubernetes audit
    /// token). Ward's tokens and API keys do not open such a route.
    OwnCredential,
    /// A credential whose role grants this permission.
    Perm(Permission),
}

impl Need {
    pub fn describe(self) -> &'static str {
        match self {
            Need::Public => "public",
            Need::Authenticated => "authenticated",
            Need::OwnCredential => "own credential",
            Need::Perm(p) => p.as_str(),
        }
    }

    /// Whether `caller` may use a route with this need.
    pub fn allows(self, caller: Option<&Principal>) -> Result<(), StatusCode> {
        match (self, caller) {
            (Need::Public | Need::OwnCredential, _) => Ok(()),
            (_, None) => Err(StatusCode::UNAUTHORIZED),
            (Need::Authenticated, Some(_)) => Ok(()),
            (Need::Perm(p), Some(c)) if c.can(p) => Ok(()),
            (Need::Perm(_), Some(_)) => Err(StatusCode::FORBIDDEN),
        }
    }
}

/// One declared route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub need: Need,
}

/// A router under construction whose every route declares its [`Need`].
pub struct Routes<S> {
    by_path: BTreeMap<&'static str, MethodRouter<S>>,
    specs: Vec<RouteSpec>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes {
            by_path: BTreeMap::new(),
            specs: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    fn add(mut self, method: Method, path: &'static str, need: Need, mr: MethodRouter<S>) -> Self {
        let merged = match self.by_path.remove(path) {
            Some(existing) => existing.merge(mr),
            None => mr,
        };
        self.by_path.insert(path, merged);
        self.specs.push(RouteSpec { method, path, need });
        self
    }

    pub fn get<H: Handler<T, S>, T: 'static>(self, path: &'static str, need: Need, h: H) -> Self {
        self.add(Method::GET, path, need, get(h))
    }

    pub fn post<H: Handler<T, S>, T: 'static>(self, path: &'static str, need: Need, h: H) -> Self {
        self.add(Method::POST, path, need, post(h))
    }

    pub fn put<H: Handler<T, S>, T: 'static>(self, path: &'static str, need: Need, h: H) -> Self {
        self.add(Method::PUT, path, need, put(h))
    }

    pub fn delete<H: Handler<T, S>, T: 'static>(
        self,
        path: &'static str,
        need: Need,
        h: H,
    ) -> Self {
        self.add(Method::DELETE, path, need, delete(h))
    }

    /// The routes and their declarations.
    pub fn build(self) -> (Router<S>, Vec<RouteSpec>) {
        let mut router = Router::new();
        for (path, mr) in self.by_path {
            router = router.route(path, mr);
        }
        (router, self.specs)
    }
}

/// A refused attempt, for the audit trail.
#[derive(Debug, Clone)]
pub struct Denied {
    pub peer: Option<IpAddr>,
    pub route: String,
    /// Whether a credential was presented (and was wrong).
    pub presented: bool,
}

/// What [`check`] needs: the credentials, the declared routes, and where
/// refused attempts are reported.
#[derive(Clone)]
pub struct Guard {
    access: Arc<Access>,
    table: Arc<HashMap<&'static str, Vec<(Method, Need)>>>,
    refusal: Refusal,
    audit: Arc<AuditTrail>,
}

/// Builds a 401/403 answer for a route path (its clients may expect their
/// own error shape).
pub type Refusal = fn(&str, StatusCode, String) -> Response;

impl Guard {
    pub fn new(
        access: Arc<Access>,
        specs: &[RouteSpec],
        refusal: Refusal,
        audit: Arc<AuditTrail>,
    ) -> Guard {
        let mut table: HashMap<&'static str, Vec<(Method, Need)>> = HashMap::new();
        for s in specs {
            table
                .entry(s.path)
                .or_default()
                .push((s.method.clone(), s.need));
        }
        Guard {
            access,
            table: Arc::new(table),
            refusal,
            audit,
        }
    }

    /// The declared need of a matched route; HEAD is GET without a body.
    fn need(&self, path: &str, method: &Method) -> Option<Result<Need, ()>> {
        let methods = self.table.get(path)?;
        let want = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        Some(
            methods
                .iter()
                .find(|(m, _)| m == method || m == want)
                .map(|(_, n)| *n)
                .ok_or(()),
        )
    }
}

/// The authenticated caller of a route, put there by [`check`].
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Principal>);

impl std::ops::Deref for Caller {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Option<Caller>, std::convert::Infallible> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

/// A refusal as the JSON API answers it.
pub fn json_refusal(status: StatusCode, message: String) -> Response {
    let mut resp = (status, Json(json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

/// The middleware: declared need, credential, permission; then the handler.
pub async fn check(State(g): State<Guard>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let need = match g.need(&path, req.method()) {
        Some(Ok(n)) => n,
        Some(Err(())) => {
            return json_refusal(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into());
        }
        None => {
            tracing::error!(route = %path, "route declares no permission; refused");
            return json_refusal(
                StatusCode::FORBIDDEN,
                "this route declares no permission".into(),
            );
        }
    };
    if need == Need::OwnCredential {
        // The handler checks the route's own credential, refuses and
        // reports; a Ward credential names no caller here.
        return next.run(req).await;
    }
    let identified = g.access.identify(req.headers());
    let caller = identified.as_ref().map(|i| Arc::clone(&i.principal));
    if let Err(status) = need.allows(caller.as_deref()) {
        if status == StatusCode::UNAUTHORIZED {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            let resp = (g.refusal)(&path, status, "missing or invalid token".into());
            g.audit.denied(Denied {
                peer,
                route: path,
                presented: req
                    .headers()
                    .contains_key(axum::http::header::AUTHORIZATION)
                    || crate::source::auth::has_token_header(req.headers()),
            });
            return resp;
        }
        return (g.refusal)(
            &path,
            status,
            format!("forbidden: this needs {}", need.describe()),
        );
    }
    let Some(caller) = caller else {
        return next.run(req).await;
    };
    if let Some(csrf) = identified.and_then(|i| i.csrf) {
        // Public routes need no credential, so a forged request gains
        // nothing from the cookie (the login checks its origin itself).
        if need != Need::Public
            && let Some(why) = cross_site_refusal(&g.access, &req, &csrf)
        {
            g.audit.acted(&Action {
                caller: &caller,
                method: req.method().as_str(),
                route: &path,
                path: req.uri().path(),
                query: req.uri().query(),
                status: StatusCode::FORBIDDEN.as_u16(),
            });
            return (g.refusal)(&path, StatusCode::FORBIDDEN, format!("forbidden: {why}"));
        }
        req.extensions_mut().insert(SessionCsrf(csrf));
    }
    req.extensions_mut().insert(Caller(Arc::clone(&caller)));
    if !audited(req.method(), need) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let uri = req.uri().clone();
    let resp = next.run(req).await;
    g.audit.acted(&Action {
        caller: &caller,
        method: method.as_str(),
        route: &path,
        path: uri.path(),
        query: uri.query(),
        status: resp.status().as_u16(),
    });
    resp
}

/// The CSRF token of the caller's browser session, for `GET /api/v1/me`.
#[derive(Debug, Clone)]
pub struct SessionCsrf(pub Arc<str>);

/// Why a request authenticated by a session cookie is refused as a
/// cross-site request forgery, if it is: a state-changing method that
/// comes from another site, or lacks the session's `X-CSRF-Token`. Reads
/// are let through (SameSite=Strict keeps the cookie off other sites'
/// requests, and a read changes nothing).
fn cross_site_refusal(access: &Access, req: &Request, csrf: &str) -> Option<&'static str> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if let Some(why) = access.sessions.cross_site(req.headers()) {
        return Some(why);
    }
    (!super::session::csrf_matches(req.headers(), csrf))
        .then_some("a missing or wrong X-CSRF-Token (GET /api/v1/me gives it)")
}

/// Whether a call goes to the audit trail: every change (but sending
/// events, which the log itself records), and every read of events,
/// evidence or the audit trail (searches and exports).
pub fn audited(method: &Method, need: Need) -> bool {
    use Permission as P;
    match need {
        Need::Perm(P::IngestWrite) | Need::OwnCredential => false,
        Need::Perm(P::EventsRead | P::EvidenceRead | P::AuditRead) => true,
        _ => method != Method::GET && method != Method::HEAD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{PermSet, Roles, apikey::KeyStore};
    use crate::secret::Secret;
    use tower::ServiceExt as _;

    fn admin_access() -> Arc<Access> {
        let mut tokens = crate::source::Tokens::default();
        tokens.insert_principal(
            &Secret::new("admin-token".into()),
            Principal {
                kind: "apikey",
                id: "a".into(),
                name: "a".into(),
                role: "admin".into(),
                tenant: "default".into(),
                perms: PermSet::of(&Permission::ALL),
                recognizer: None,
            },
        );
        Arc::new(Access {
            tokens,
            keys: KeyStore::open(std::path::Path::new("/nonexistent-ward-keys")).unwrap(),
            roles: Roles::default(),
            users: crate::access::users::UserStore::open(std::path::Path::new(
                "/nonexistent-ward-users",
            ))
            .unwrap(),
            sessions: crate::access::session::Sessions::new(Default::default()),
        })
    }

    async fn status(app: &Router, path: &str) -> u16 {
        let req = axum::http::Request::get(path)
            .header("authorization", "Bearer admin-token")
            .body(axum::body::Body::empty())
            .unwrap();
        app.clone().oneshot(req).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn a_route_without_a_declared_permission_is_refused_to_everyone() {
        let (declared, specs) = Routes::<()>::default()
            .get("/declared", Need::Perm(Permission::EventsRead), || async {
                "ok"
            })
            .build();
        let app = declared.route("/raw", get(|| async { "leak" }));
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        let audit = Arc::new(AuditTrail::new(tx, Arc::default()));
        let app = crate::api::protect(app, &specs, admin_access(), audit);
        assert_eq!(status(&app, "/declared").await, 200);
        assert_eq!(status(&app, "/raw").await, 403, "even for an admin");
        assert_eq!(status(&app, "/nowhere").await, 404);
    }

    /// Routes are added only through [`Routes`], which requires a [`Need`]:
    /// a plain axum `.route("/path", …)` anywhere else in the application
    /// fails this test.
    #[test]
    fn no_route_is_added_around_the_declarations() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![src.clone()];
        let mut offenders = Vec::new();
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs")
                    && !p.ends_with("access/guard.rs")
                    && std::fs::read_to_string(&p).unwrap().contains(".route(\"")
                {
                    offenders.push(p.display().to_string());
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "routes without a declared permission: {offenders:?}"
        );
    }
}
