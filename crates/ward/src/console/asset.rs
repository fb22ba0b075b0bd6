//! The console's static files, embedded in the binary and served under
//! names that change with their content, so browsers may cache them for a
//! year: htmx (vendored from its npm package `htmx.org`, see
//! `static/htmx-LICENSE.txt`), Ward's own script and style sheet.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

/// The vendored htmx release (npm `htmx.org`).
pub const HTMX_VERSION: &str = "2.0.11";
const HTMX: &[u8] = include_bytes!("static/htmx-2.0.11.min.js");
const SCRIPT: &[u8] = include_bytes!("static/console.js");
const STYLE: &[u8] = include_bytes!("static/console.css");

struct Asset {
    path: String,
    body: &'static [u8],
    content_type: &'static str,
}

fn hashed(stem: &str, ext: &str, body: &'static [u8], content_type: &'static str) -> Asset {
    let digest = hex::encode(&Sha256::digest(body)[..6]);
    Asset {
        path: format!("/console/assets/{stem}-{digest}.{ext}"),
        body,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        Asset {
            path: format!("/console/assets/htmx-{HTMX_VERSION}.min.js"),
            body: HTMX,
            content_type: "text/javascript; charset=utf-8",
        },
        hashed("console", "js", SCRIPT, "text/javascript; charset=utf-8"),
        hashed("console", "css", STYLE, "text/css; charset=utf-8"),
    ]
});

pub fn htmx_path() -> &'static str {
    &ASSETS[0].path
}

pub fn js_path() -> &'static str {
    &ASSETS[1].path
}

pub fn css_path() -> &'static str {
    &ASSETS[2].path
}

/// `GET /console/assets/{name}`
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(a) = ASSETS
        .iter()
        .find(|a| a.path.rsplit('/').next() == Some(name.as_str()))
    else {
        return super::refusal(StatusCode::NOT_FOUND, "no such file");
    };
    let mut resp = a.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    super::secure(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_change_with_their_content() {
        assert!(js_path().starts_with("/console/assets/console-"));
        assert!(css_path().ends_with(".css"));
        let js = hashed("console", "js", b"a", "");
        let js2 = hashed("console", "js", b"b", "");
        assert_ne!(js.path, js2.path);
        assert!(HTMX.starts_with(b"var htmx"), "the vendored file is htmx");
    }
}
