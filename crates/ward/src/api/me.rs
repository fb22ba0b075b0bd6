//! `GET /api/v1/me`: who the caller is and what it may do (and, for a
//! browser session, its CSRF token);
//! `GET /api/v1/routes`: every route with the permission it needs.

use std::sync::Arc;

use axum::{Extension, Json};
use serde_json::{Value, json};

use crate::access::guard::SessionCsrf;
use crate::access::{Caller, RouteSpec};

/// The declared routes, as built.
#[derive(Clone)]
pub struct RouteTable(pub Arc<Vec<RouteSpec>>);

/// `GET /api/v1/me`
pub async fn me(caller: Caller, csrf: Option<Extension<SessionCsrf>>) -> Json<Value> {
    let mut me = json!({
        "kind": caller.kind,
        "id": caller.id,
        "name": caller.name,
        "role": caller.role,
        "tenant": caller.tenant,
        "tenants": match caller.tenant_scope() {
            Some(t) => json!([t]),
            None => json!("all"),
        },
        "permissions": caller.perms.names(),
    });
    if let (Some(Extension(SessionCsrf(token))), Some(obj)) = (csrf, me.as_object_mut()) {
        obj.insert("csrf_token".into(), json!(token.as_ref()));
    }
    Json(me)
}

/// `GET /api/v1/routes`
pub async fn routes(Extension(RouteTable(specs)): Extension<RouteTable>) -> Json<Value> {
    let routes: Vec<Value> = specs
        .iter()
        .map(|s| json!({ "method": s.method.as_str(), "path": s.path, "needs": s.need.describe() }))
        .collect();
    Json(json!({ "routes": routes }))
}
