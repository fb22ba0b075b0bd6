//! The HTTP client of the client commands: base URL, token, JSON answers,
//! and errors that say what the server said.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::Remote;

/// A connection to a Ward server.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for `--url` / `--token`.
    pub fn new(remote: &Remote) -> anyhow::Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client {
            http,
            base: remote.url.trim_end_matches('/').to_owned(),
            token: remote.token.clone(),
        })
    }

    fn auth(&self, rb: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// `GET path?query`, answered with JSON.
    pub fn get_json(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let rb = self.auth(self.http.get(format!("{}{path}", self.base)).query(query));
        self.json(rb, path)
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let rb = self.auth(self.http.post(format!("{}{path}", self.base)).json(body));
        self.json(rb, path)
    }

    /// `POST path` with raw bytes; returns status, `Retry-After` seconds and body.
    pub fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, Option<u64>, Value)> {
        let rb = self.auth(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .body(body),
        );
        let resp = rb.send().map_err(|e| e.without_url()).with_context(|| {
            format!("cannot reach Ward at {} (set --url or WARD_URL)", self.base)
        })?;
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = resp.json().unwrap_or(Value::Null);
        Ok((status, retry, body))
    }

    fn json(&self, rb: reqwest::blocking::RequestBuilder, path: &str) -> anyhow::Result<Value> {
        let resp = rb.send().map_err(|e| e.without_url()).with_context(|| {
            format!("cannot reach Ward at {} (set --url or WARD_URL)", self.base)
        })?;
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if status.as_u16() == 401 {
            bail!("{path}: the server refused the token (set --token or WARD_TOKEN)");
        }
        if !status.is_success() {
            let msg = body
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| body.to_string());
            bail!("{path}: {status}: {msg}");
        }
        Ok(body)
    }
}
