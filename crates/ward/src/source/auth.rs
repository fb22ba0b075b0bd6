//! Ingest tokens: a token names the source and the tenant, and grants the
//! ingest role only (see [`crate::access`]). Credentials arrive as `Authorization: Bearer <t>`, `Splunk <t>`, `ApiKey <t>` (or
//! base64 of `id:<t>`, as Elasticsearch clients send), or `Basic` with the
//! token as password (rsyslog, syslog-ng).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::http::HeaderMap;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::access::Principal;
use crate::config::Config;
use crate::secret::Secret;

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub source: String,
    pub tenant: String,
    /// The recognizer declared for the source's events, if any.
    pub recognizer: Option<String>,
}

/// The accepted ingest tokens, kept as SHA-256 digests.
#[derive(Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], Arc<Principal>>,
}

/// The token generated at first start, returned only by the start that
/// created it (so that it is printed once).
pub type GeneratedToken = Option<Secret<String>>;

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Tokens {
    /// Adds a token.
    pub fn insert(&mut self, token: &Secret<String>, identity: Identity) {
        self.by_digest.insert(
            digest(token.expose()),
            Arc::new(Principal {
                recognizer: identity.recognizer,
                ..Principal::ingest(&identity.source, &identity.tenant)
            }),
        );
    }

    /// Adds a token that stands for any principal (tests, benchmarks).
    pub fn insert_principal(&mut self, token: &Secret<String>, principal: Principal) {
        self.by_digest
            .insert(digest(token.expose()), Arc::new(principal));
    }

    /// The principal of a token.
    pub fn get(&self, token: &str) -> Option<Arc<Principal>> {
        self.by_digest.get(&digest(token)).cloned()
    }

    /// Tokens from the configuration and the environment, plus the
    /// generated default token when nothing else is configured. Returns the
    /// generated token when this call created it, so that `ward serve`
    /// prints it once.
    pub fn from_config(config: &Config) -> anyhow::Result<(Tokens, GeneratedToken)> {
        let mut t = Tokens::default();
        for s in &config.raw.sources {
            t.insert(
                &s.token,
                Identity {
                    source: s.name.clone(),
                    tenant: s.tenant.clone(),
                    recognizer: s.recognizer.clone(),
                },
            );
        }
        let default_identity = Identity {
            source: "default".into(),
            tenant: "default".into(),
            recognizer: None,
        };
        if let Some(tok) = &config.env_token {
            t.insert(tok, default_identity.clone());
        }
        let mut generated = None;
        if t.by_digest.is_empty() {
            let (tok, created) = default_token(&config.data_dir)?;
            t.insert(&tok, default_identity);
            if created {
                generated = Some(tok);
            }
        }
        Ok((t, generated))
    }

    /// The principal for the request's credentials, if any token is valid.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<Arc<Principal>> {
        candidates(headers).iter().find_map(|c| self.get(c))
    }
}

/// Whether the request carries a token in a header other than
/// `Authorization`.
pub fn has_token_header(headers: &HeaderMap) -> bool {
    TOKEN_HEADERS.iter().any(|h| headers.contains_key(*h))
}

const TOKEN_HEADERS: [&str; 2] = ["x-ward-token", "x-splunk-request-channel-token"];

/// The token in `<data>/ingest.token`, created on first start; true when
/// this call created it.
fn default_token(data_dir: &Path) -> anyhow::Result<(Secret<String>, bool)> {
    let path = data_dir.join("ingest.token");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let t = text.trim().to_owned();
        if !t.is_empty() {
            return Ok((Secret::new(t), false));
        }
    }
    crate::access::private_dir(data_dir)?;
    let token = format!("ward_{}", hex::encode(rand::random::<[u8; 20]>()));
    let _ = std::fs::remove_file(&path);
    crate::redact::write_private(&path, format!("{token}\n").as_bytes())
        .context("cannot save the generated ingest token")?;
    Ok((Secret::new(token), true))
}

/// Every string in the request that could be the token.
pub fn candidates(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    for v in headers.get_all(axum::http::header::AUTHORIZATION) {
        let Ok(v) = v.to_str() else { continue };
        let Some((scheme, rest)) = v.trim().split_once(' ') else {
            continue;
        };
        let rest = rest.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" | "splunk" => out.push(rest.to_owned()),
            "apikey" => {
                out.push(rest.to_owned());
                if let Some((_, key)) = b64
                    .decode(rest)
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok())
                    .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
                {
                    out.push(key);
                }
            }
            "basic" => {
                if let Some(pw) = b64
                    .decode(rest)
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok())
                    .and_then(|s| s.split_once(':').map(|(_, p)| p.to_owned()))
                {
                    out.push(pw);
                }
            }
            _ => {}
        }
    }
    for name in TOKEN_HEADERS {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            out.push(v.trim().to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn tokens() -> Tokens {
        let mut t = Tokens::default();
        t.insert(
            &Secret::new("s3cret-token-0123456789".into()),
            Identity {
                source: "web".into(),
                tenant: "acme".into(),
                recognizer: None,
            },
        );
        t
    }

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accepts_every_scheme() {
        let t = tokens();
        let b64 = base64::engine::general_purpose::STANDARD;
        for h in [
            "Bearer s3cret-token-0123456789".to_owned(),
            "Splunk s3cret-token-0123456789".to_owned(),
            "ApiKey s3cret-token-0123456789".to_owned(),
            format!("ApiKey {}", b64.encode("id1:s3cret-token-0123456789")),
            format!("Basic {}", b64.encode("elastic:s3cret-token-0123456789")),
        ] {
            let id = t
                .authenticate(&with_auth(&h))
                .unwrap_or_else(|| panic!("{h}"));
            assert_eq!(id.tenant, "acme");
        }
    }

    #[test]
    fn refuses_wrong_or_missing_tokens() {
        let t = tokens();
        assert!(t.authenticate(&with_auth("Bearer nope")).is_none());
        assert!(t.authenticate(&HeaderMap::new()).is_none());
        assert!(t.authenticate(&with_auth("Bearer")).is_none());
    }
}
