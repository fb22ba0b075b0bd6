//! What every console page shares: the frame around it ([`Chrome`]), the
//! security headers ([`secure`]) and the error page ([`Failure`]).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::asset;
use crate::access::Principal;
use crate::access::guard::SessionCsrf;
use crate::api::ApiError;

/// The console's Content-Security-Policy: scripts, styles and requests of
/// this server only, no inline code, no framing, no foreign form targets.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the console's security headers to an answer. Pages are never
/// cached (they hold the session's CSRF token and tenant data).
pub fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, as on the login form: with `no-referrer` a browser
    // may send `Origin: null`, which the cross-site check refuses.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The frame of every page: who is logged in, the CSRF token for the
/// script, the asset paths and the current section.
pub struct Chrome {
    pub who: String,
    pub csrf: String,
    pub session: bool,
    pub section: &'static str,
    pub css: &'static str,
    pub js: &'static str,
    pub htmx: &'static str,
    /// `system`, `light` or `dark`: the person's choice, kept on the server.
    pub theme: &'static str,
    /// `comfortable` or `compact`.
    pub density: &'static str,
}

impl Chrome {
    pub fn new(
        st: &super::ConsoleState,
        caller: &Principal,
        csrf: Option<&SessionCsrf>,
        section: &'static str,
    ) -> Chrome {
        let prefs = st.prefs.get(caller);
        Chrome {
            theme: prefs.theme(),
            density: prefs.density(),
            who: format!("{} ({}, {})", caller.name, caller.role, caller.tenant),
            csrf: csrf.map(|c| c.0.to_string()).unwrap_or_default(),
            session: csrf.is_some(),
            section,
            ..Chrome::anonymous()
        }
    }

    fn anonymous() -> Chrome {
        Chrome {
            who: String::new(),
            csrf: String::new(),
            session: false,
            section: "",
            css: asset::css_path(),
            js: asset::js_path(),
            htmx: asset::htmx_path(),
            theme: "system",
            density: "comfortable",
        }
    }
}

/// Renders a page with the security headers.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => secure((status, Html(body)).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "console page failed to render");
            secure((StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    message: &'a str,
}

/// A refusal or failure as a page; 401 sends the browser to `/login`.
pub fn refusal(status: StatusCode, message: &str) -> Response {
    if status == StatusCode::UNAUTHORIZED {
        let mut resp = StatusCode::SEE_OTHER.into_response();
        resp.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/login"));
        return secure(resp);
    }
    render(
        status,
        &ErrorPage {
            chrome: Chrome::anonymous(),
            status: status.as_u16(),
            message,
        },
    )
}

/// A page's status: 200, or 400 when its input was refused (`error`).
pub fn status_for(error: &str) -> StatusCode {
    if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// An [`ApiError`] answered as a console page.
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

impl From<ward_alert::AlertError> for Failure {
    fn from(e: ward_alert::AlertError) -> Self {
        Failure(e.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let message = self.0.to_string();
        // The API's own answer decides the status (and logs internal errors).
        let status = self.0.into_response().status();
        refusal(status, &message)
    }
}

/// One choice of a `<select>`.
pub struct Opt {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// A `<select>` of a form, with the current value chosen.
pub struct Select {
    pub name: &'static str,
    pub label: &'static str,
    pub options: Vec<Opt>,
}

impl Select {
    pub fn new(
        name: &'static str,
        label: &'static str,
        choices: &[(&'static str, &'static str)],
        current: &str,
    ) -> Select {
        Select {
            name,
            label,
            options: choices
                .iter()
                .map(|&(value, label)| Opt {
                    value,
                    label,
                    selected: value == current,
                })
                .collect(),
        }
    }
}

/// A time as pages show it: to the second, UTC.
pub fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}
