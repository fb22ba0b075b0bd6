//! People's login: `GET /login` (a server-rendered form, no script, no
//! external asset, a strict Content-Security-Policy), `POST /api/v1/login`
//! (JSON `{"name", "password"}` or the form's fields) and
//! `POST /api/v1/logout`. Sessions, cookies and the failed-login throttle
//! are [`crate::access::session`]'s; this file speaks HTTP.
//!
//! Every login answer takes one Argon2id verification: an unknown or
//! malformed user name is checked against a hash of a random password
//! ([`users::dummy_hash`]), and a disabled user's password is checked
//! before the refusal, so the time of the answer does not tell which names
//! exist. Every refusal has the same words.

use std::net::SocketAddr;
use std::sync::LazyLock;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::ApiState;
use crate::access::audit::LOGIN_ROUTE;
use crate::access::guard::Denied;
use crate::access::{Caller, users};

/// Largest login request body.
const MAX_LOGIN_BODY: usize = 16 * 1024;
/// What every refused login hears.
const REFUSED: &str = "wrong user name or password";

/// The credentials of a login.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    #[serde(alias = "username", alias = "user")]
    name: String,
    password: String,
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn parse(form: bool, body: &[u8]) -> Result<LoginBody, String> {
    if !form {
        return serde_json::from_slice(body).map_err(|e| {
            format!("the login body must be JSON {{\"name\": ..., \"password\": ...}}: {e}")
        });
    }
    let (mut name, mut password) = (None, None);
    for (k, v) in url::form_urlencoded::parse(body) {
        let slot = match k.as_ref() {
            "name" | "username" | "user" => &mut name,
            "password" => &mut password,
            _ => return Err("the login form has a field other than name and password".into()),
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err("the login form repeats a field".into());
        }
    }
    match (name, password) {
        (Some(name), Some(password)) => Ok(LoginBody { name, password }),
        _ => Err("the login form needs a name and a password".into()),
    }
}

/// A refusal: JSON for API clients, the form again for a browser's post.
fn refuse(form: bool, status: StatusCode, message: &str) -> Response {
    refuse_with(form, status, message, None)
}

fn refuse_with(form: bool, status: StatusCode, message: &str, sso: Option<&str>) -> Response {
    if form {
        return page(status, Some(message), sso);
    }
    let mut resp = (status, Json(json!({ "error": message }))).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /api/v1/login`
pub async fn login(State(st): State<ApiState>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = req.headers().clone();
    let form = is_form(&headers);
    let sessions = &st.access.sessions;
    // A login from another site would log the browser into someone else's
    // account (login CSRF).
    if let Some(why) = sessions.cross_site(&headers) {
        return refuse(form, StatusCode::FORBIDDEN, &format!("forbidden: {why}"));
    }
    let Ok(body) = axum::body::to_bytes(req.into_body(), MAX_LOGIN_BODY).await else {
        return refuse(
            form,
            StatusCode::PAYLOAD_TOO_LARGE,
            "the login request is larger than 16 KiB or was cut off",
        );
    };
    let creds = match parse(form, &body) {
        Ok(c) => c,
        Err(why) => return refuse(form, StatusCode::BAD_REQUEST, &why),
    };
    let name_ok = users::valid_name(&creds.name);
    // The lockout is checked once a verification slot is ours, so that
    // guesses sent at once cannot all pass it before the first failure
    // counts: at most one per slot gets through beyond the limit.
    let Ok(_permit) = sessions.verifying.acquire().await else {
        return refuse(form, StatusCode::SERVICE_UNAVAILABLE, "ward is stopping");
    };
    if let Some(wait) = sessions.locked(&creds.name, peer) {
        st.audit.denied(Denied {
            peer,
            route: LOGIN_ROUTE.into(),
            presented: true,
        });
        let mut resp = refuse(
            form,
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins: try again later",
        );
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let user = if name_ok {
        st.access.users.get_now(&creds.name)
    } else {
        None
    };
    let phc = user
        .as_ref()
        .map_or_else(|| users::dummy_hash().to_owned(), |u| u.password.clone());
    let password = creds.password;
    let matches = tokio::task::spawn_blocking(move || users::verify_password(&phc, &password))
        .await
        .unwrap_or(false);
    let Some((user, principal, opened)) = user.filter(|u| matches && u.active()).and_then(|u| {
        let opened = sessions.open(&u);
        match st.access.user_principal(&u, opened.id.clone()) {
            Some(p) => Some((u, p, opened)),
            None => {
                sessions.revoke(&opened.token);
                None
            }
        }
    }) else {
        sessions.failed(name_ok.then_some(creds.name.as_str()), peer);
        st.audit.denied(Denied {
            peer,
            route: LOGIN_ROUTE.into(),
            presented: true,
        });
        let sso = st.oidc.as_ref().map(|o| o.settings.display_name.as_str());
        return refuse_with(form, StatusCode::UNAUTHORIZED, REFUSED, sso);
    };
    sessions.succeeded(&user.name);
    // A new id at every login: the session the browser came with ends.
    if let Some(old) = sessions.cookie(&headers) {
        sessions.revoke(old);
    }
    st.audit.session("login", &principal, peer);
    let mut resp = if form {
        let mut r = StatusCode::SEE_OTHER.into_response();
        r.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/"));
        r
    } else {
        Json(json!({
            "name": user.name,
            "role": user.role,
            "tenant": user.tenant,
            "csrf_token": opened.csrf.as_ref(),
            "idle_timeout_seconds": sessions.settings().idle_timeout.as_secs(),
            "absolute_timeout_seconds": sessions.settings().absolute_timeout.as_secs(),
        }))
        .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::SET_COOKIE, sessions.set_cookie(&opened.token));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /api/v1/logout`: ends the caller's browser session.
pub async fn logout(State(st): State<ApiState>, caller: Caller, req: Request) -> Response {
    if caller.kind != "session" {
        return refuse(
            false,
            StatusCode::BAD_REQUEST,
            "logout ends a browser session; an API key is revoked with `ward apikey revoke`",
        );
    }
    let sessions = &st.access.sessions;
    if let Some(token) = sessions.cookie(req.headers()) {
        sessions.revoke(token);
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    st.audit.session("logout", &caller, peer);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, sessions.clear_cookie());
    resp
}

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;background:#f6f7f9;color:#1d2330;display:flex;justify-content:center;margin-top:12vh}\
form{background:#fff;padding:24px 28px;border:1px solid #e3e6eb;display:flex;flex-direction:column;gap:10px;min-width:280px}\
h1{font-size:20px;margin:0 0 6px}input,button{font:inherit;padding:7px 9px}.err{color:#b00020;margin:0}\
.sso{display:block;text-align:center;padding:7px 9px;border:1px solid #1d2330;color:#1d2330;text-decoration:none;margin-top:6px}";

/// The page's Content-Security-Policy: nothing but its own inline style
/// (by hash) and posting the form to this server.
static CSP: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The login form, with a message when a login was refused, and the
/// single sign-on button when a provider is configured.
fn page(status: StatusCode, message: Option<&str>, sso: Option<&str>) -> Response {
    let message = message
        .map(|m| format!("<p class=\"err\" role=\"alert\">{}</p>", html_escape(m)))
        .unwrap_or_default();
    let sso = sso
        .map(|name| {
            format!(
                "<a class=\"sso\" id=\"sso\" href=\"{}\">Sign in with {}</a>",
                crate::access::oidc::LOGIN_ROUTE,
                html_escape(name)
            )
        })
        .unwrap_or_default();
    html(
        status,
        "log in",
        &format!(
            "<form method=\"post\" action=\"/api/v1/login\"><h1>Ward</h1>{message}\
         <label>User name<br><input name=\"name\" autocomplete=\"username\" required maxlength=\"64\" autofocus></label>\
         <label>Password<br><input name=\"password\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"1024\"></label>\
         <button type=\"submit\">Log in</button>{sso}</form>"
        ),
        None,
    )
}

/// A page of this module: `body` inside the page's frame, with its strict
/// headers; `refresh` sends the browser on to that path.
pub(super) fn html(status: StatusCode, title: &str, body: &str, refresh: Option<&str>) -> Response {
    let refresh = refresh
        .map(|to| {
            format!(
                "<meta http-equiv=\"refresh\" content=\"0;url={}\">",
                html_escape(to)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ward: {}</title>{refresh}\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head>\
         <body>{body}</body></html>\n",
        html_escape(title)
    );
    let mut resp = (status, axum::response::Html(body)).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: with it, browsers send `Origin: null` on the
    // form's post, which the cross-site check refuses.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub(super) fn escape(s: &str) -> String {
    html_escape(s)
}

/// `GET /login`
pub async fn login_page(State(st): State<ApiState>) -> Response {
    let sso = st.oidc.as_ref().map(|o| o.settings.display_name.as_str());
    page(StatusCode::OK, None, sso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_as_json_or_form_and_nothing_else() {
        let j = parse(false, br#"{"name":"ana","password":"p w"}"#).unwrap();
        assert_eq!((j.name.as_str(), j.password.as_str()), ("ana", "p w"));
        assert!(parse(false, br#"{"name":"ana","password":"x","role":"admin"}"#).is_err());
        let f = parse(true, b"name=ana&password=a%26b+c").unwrap();
        assert_eq!(f.password, "a&b c");
        assert!(parse(true, b"name=ana&name=bob&password=x").is_err());
        assert!(parse(true, b"name=ana").is_err());
        assert!(parse(true, b"name=ana&password=x&role=admin").is_err());
    }

    #[test]
    fn the_page_allows_only_its_own_style_and_form() {
        let resp = page(
            StatusCode::UNAUTHORIZED,
            Some("<b>x</b>"),
            Some("<i>Acme</i>"),
        );
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.contains("form-action 'self'"));
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
}
