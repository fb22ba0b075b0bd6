//! Single sign-on over HTTP: `GET /api/v1/oidc/login` sends the browser to
//! the provider, `GET /api/v1/oidc/callback` takes it back and opens a
//! session. The protocol is [`crate::access::oidc`]'s; this file speaks
//! HTTP: the cookie that binds a login's `state` to the browser that
//! started it, the pages a person sees, the audit trail.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use super::ApiState;
use super::login::{escape, html};
use crate::access::guard::Denied;
use crate::access::oidc::{CALLBACK_ROUTE, PENDING_TTL};
use crate::access::session::Via;

/// Longest `code` or `state` accepted from the provider.
const MAX_PARAM: usize = 4096;

/// The cookie that holds the `state` of the login this browser started:
/// `SameSite=Lax`, since the provider sends the browser back with a
/// cross-site navigation, and only for the callback's path.
fn state_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Secure-ward_oidc_state"
    } else {
        "ward_oidc_state"
    }
}

fn state_cookie(secure: bool, state: &str, max_age: u64) -> HeaderValue {
    let value = format!(
        "{}={state}; Path={CALLBACK_ROUTE}; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        state_cookie_name(secure),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

fn peer_of(req: &Request) -> Option<std::net::IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// A page that says why the sign-in failed, with a way back.
fn failed(status: StatusCode, message: &str) -> Response {
    html(
        status,
        "sign-in failed",
        &format!(
            "<form><h1>Ward</h1><p class=\"err\" role=\"alert\" id=\"why\">{}</p>\
             <a class=\"sso\" href=\"/login\">Back to the login page</a></form>",
            escape(message)
        ),
        None,
    )
}

/// `GET /api/v1/oidc/login`
pub async fn start(State(st): State<ApiState>) -> Response {
    let Some(oidc) = &st.oidc else {
        return failed(
            StatusCode::NOT_FOUND,
            "single sign-on is not configured ([access.oidc])",
        );
    };
    match oidc.start().await {
        Ok(s) => {
            let secure = st.access.sessions.settings().secure_cookie;
            let mut resp = StatusCode::SEE_OTHER.into_response();
            let h = resp.headers_mut();
            if let Ok(v) = HeaderValue::from_str(s.url.as_str()) {
                h.insert(header::LOCATION, v);
            }
            h.insert(
                header::SET_COOKIE,
                state_cookie(secure, &s.state, PENDING_TTL.as_secs()),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(f) => {
            tracing::warn!(reason = %f.detail, "single sign-on cannot start");
            failed(
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY),
                &f.public,
            )
        }
    }
}

/// `GET /api/v1/oidc/callback?code=...&state=...`
pub async fn callback(State(st): State<ApiState>, req: Request) -> Response {
    let peer = peer_of(&req);
    let Some(oidc) = st.oidc.clone() else {
        return failed(
            StatusCode::NOT_FOUND,
            "single sign-on is not configured ([access.oidc])",
        );
    };
    let sessions = &st.access.sessions;
    let secure = sessions.settings().secure_cookie;
    let refuse = |status: StatusCode, public: &str, detail: &str| {
        tracing::warn!(peer = ?peer, reason = %detail, "single sign-on refused");
        st.audit.denied(Denied {
            peer,
            route: CALLBACK_ROUTE.into(),
            presented: true,
        });
        let mut resp = failed(status, public);
        resp.headers_mut()
            .insert(header::SET_COOKIE, state_cookie(secure, "", 0));
        resp
    };
    let (mut code, mut state, mut error) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            _ => continue,
        };
        if v.len() > MAX_PARAM || slot.replace(v.into_owned()).is_some() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "the answer of the identity provider is malformed: start again",
                "a parameter is repeated or too long",
            );
        }
    }
    let start_again = "this sign-in was not started in this browser, or has expired: start again";
    let Some(state) = state else {
        return refuse(StatusCode::BAD_REQUEST, start_again, "no state");
    };
    let bound = crate::access::session::cookie_value(req.headers(), state_cookie_name(secure))
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(state.as_bytes())));
    if !bound {
        // Used up all the same: a state seen by someone else is worthless.
        // The browser's own cookie is left alone: its login may go on.
        oidc.forget(&state);
        let mut resp = refuse(
            StatusCode::UNAUTHORIZED,
            start_again,
            "state does not match this browser's cookie",
        );
        resp.headers_mut().remove(header::SET_COOKIE);
        return resp;
    }
    if let Some(e) = error {
        oidc.forget(&state);
        return refuse(
            StatusCode::UNAUTHORIZED,
            &format!("the identity provider refused the sign-in: {e}"),
            &format!("provider error {e}"),
        );
    }
    let Some(code) = code else {
        oidc.forget(&state);
        return refuse(StatusCode::BAD_REQUEST, start_again, "no code");
    };
    let person = match oidc.finish(&state, &code).await {
        Ok(p) => p,
        Err(f) => {
            return refuse(
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::UNAUTHORIZED),
                &f.public,
                &f.detail,
            );
        }
    };
    let opened = sessions.open_for(
        &person.name,
        &Via::Oidc {
            role: person.role.clone(),
            tenant: person.tenant.clone(),
        },
    );
    let Some(principal) = st.access.person(
        &person.name,
        &person.role,
        &person.tenant,
        opened.id.clone(),
    ) else {
        sessions.revoke(&opened.token);
        return refuse(
            StatusCode::FORBIDDEN,
            "your role no longer exists in Ward: ask an administrator",
            "mapped role unknown",
        );
    };
    // A new id at every login: the session the browser came with ends.
    if let Some(old) = sessions.cookie(req.headers()) {
        sessions.revoke(old);
    }
    st.audit
        .session_at("login", &principal, peer, CALLBACK_ROUTE);
    // A page that moves on to `/` rather than a redirect: the browser
    // arrived here through the provider (a cross-site navigation), and a
    // `SameSite=Strict` cookie is sent only once the navigation starts
    // from Ward's own page.
    let mut resp = html(
        StatusCode::OK,
        "signed in",
        &format!(
            "<form><h1>Ward</h1><p>Signed in as {} ({}, {}).</p><a class=\"sso\" href=\"/\">Continue</a></form>",
            escape(&person.name),
            escape(&person.role),
            escape(&person.tenant)
        ),
        Some("/"),
    );
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, sessions.set_cookie(&opened.token));
    h.append(header::SET_COOKIE, state_cookie(secure, "", 0));
    resp
}
