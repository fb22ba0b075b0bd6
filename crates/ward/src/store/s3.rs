//! S3-compatible object storage for the archive and the witness: a small
//! blocking client over reqwest with AWS Signature Version 4 in the
//! `Authorization` header (the form every S3 implementation checks), path
//! style for local servers, and Object Lock on every upload.
//!
//! Uploads carry `x-amz-object-lock-mode: COMPLIANCE`,
//! `x-amz-object-lock-retain-until-date` and the `Content-MD5` that Object
//! Lock requires; the signed payload hash (`x-amz-content-sha256`) makes the
//! server refuse a body changed in transit. Errors name what to fix (the
//! endpoint, the credentials, the bucket) and never show the secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use crate::config::S3Config;
use crate::secret::Secret;

/// An `s3://bucket/prefix` destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Bucket name.
    pub bucket: String,
    /// Prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl Location {
    /// Parses `s3://bucket[/prefix]`; `None` for anything else.
    pub fn parse(url: &str) -> Option<Location> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        valid.then(|| Location {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// What went wrong talking to the bucket, for a person to act on.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// A setting is missing or wrong.
    #[error("{0}")]
    Config(String),
    /// No connection (or no answer) from the endpoint.
    #[error(
        "cannot reach the S3 endpoint {endpoint}: {reason} (check archive.s3.endpoint and that the server runs)"
    )]
    Unreachable { endpoint: String, reason: String },
    /// The server refused the access key or the signature.
    #[error(
        "the S3 endpoint {endpoint} refused the credentials ({code}): check the access key id {access_key_id} and the secret from {secret_from}"
    )]
    Credentials {
        endpoint: String,
        code: String,
        access_key_id: String,
        secret_from: String,
    },
    /// The bucket does not exist.
    #[error("the bucket {bucket} does not exist at {endpoint}: create it with Object Lock enabled")]
    NoBucket { bucket: String, endpoint: String },
    /// Any other refusal.
    #[error("{op} {object} was refused with HTTP {status} {code}: {message}")]
    Refused {
        op: &'static str,
        object: String,
        status: u16,
        code: String,
        message: String,
    },
}

/// A connection to one bucket.
#[derive(Debug)]
pub struct S3 {
    http: reqwest::blocking::Client,
    endpoint: url::Url,
    region: String,
    access_key_id: String,
    secret: Secret<String>,
    token: Option<Secret<String>>,
    secret_from: String,
    path_style: bool,
    /// Where the objects go.
    pub location: Location,
}

/// What a ranged GET returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The bytes asked for.
    pub bytes: Vec<u8>,
    /// The whole object's size.
    pub size: u64,
    /// Bytes the server sent (the whole object when it ignored `Range`).
    pub sent: u64,
}

/// An object's ETag and size, from HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// ETag without quotes (the hex MD5 of a single-part upload).
    pub etag: String,
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl S3 {
    /// Connects to `location` with the settings of `[archive.s3]` and the
    /// standard `AWS_*` variables; `env` reads a variable (the process
    /// environment outside tests).
    pub fn new(
        cfg: &S3Config,
        location: Location,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S3, S3Error> {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let region = nonempty(&cfg.region)
            .or_else(|| get("AWS_REGION"))
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint_text = nonempty(&cfg.endpoint)
            .or_else(|| get("AWS_ENDPOINT_URL_S3"))
            .or_else(|| get("AWS_ENDPOINT_URL"));
        let path_style = cfg.path_style.unwrap_or(endpoint_text.is_some());
        let endpoint_text =
            endpoint_text.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = url::Url::parse(&endpoint_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                S3Error::Config(format!(
                    "archive.s3.endpoint {endpoint_text:?} is not an http(s) URL"
                ))
            })?;
        let access_key_id = nonempty(&cfg.access_key_id)
            .or_else(|| get("AWS_ACCESS_KEY_ID"))
            .ok_or_else(|| {
                S3Error::Config(
                    "no S3 access key id: set archive.s3.access_key_id or AWS_ACCESS_KEY_ID".into(),
                )
            })?;
        let (secret, secret_from) = secret(cfg, &get)?;
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| S3Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(S3 {
            http,
            endpoint,
            region,
            access_key_id,
            secret: Secret::new(secret),
            token: get("AWS_SESSION_TOKEN").map(Secret::new),
            secret_from,
            path_style,
            location,
        })
    }

    /// The object name for `rel` under the prefix.
    pub fn key(&self, rel: &str) -> String {
        if self.location.prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.location.prefix)
        }
    }

    /// `s3://bucket/key`, for messages.
    pub fn show(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.location.bucket)
    }

    /// Whether Object Lock is enabled on the bucket (also the first check
    /// of the endpoint, the credentials and the bucket).
    pub fn object_lock_enabled(&self) -> Result<bool, S3Error> {
        match self.send(
            "check Object Lock of",
            "GET",
            None,
            &[("object-lock", "")],
            &[],
            &[],
        ) {
            Ok(r) => Ok(String::from_utf8_lossy(&r.body)
                .contains("<ObjectLockEnabled>Enabled</ObjectLockEnabled>")),
            Err(S3Error::Refused { code, .. })
                if code == "ObjectLockConfigurationNotFoundError" =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The object's ETag, or `None` when there is none.
    pub fn head(&self, key: &str) -> Result<Option<Head>, S3Error> {
        match self.send("read", "HEAD", Some(key), &[], &[], &[]) {
            Ok(r) => Ok(Some(Head {
                etag: r.etag.trim_matches('"').to_owned(),
            })),
            Err(S3Error::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The object's Object Lock retention, from the headers of a HEAD
    /// request (`x-amz-object-lock-mode`, `…-retain-until-date`): its mode
    /// and retain-until (ms), or `None` when it has none.
    pub fn retention(&self, key: &str) -> Result<Option<(String, i64)>, S3Error> {
        let r = self.send("read the retention of", "HEAD", Some(key), &[], &[], &[])?;
        let (mode, until) = r.lock;
        if mode.is_empty() && until.is_empty() {
            return Ok(None);
        }
        let until = until
            .parse::<jiff::Timestamp>()
            .map_or(i64::MIN, jiff::Timestamp::as_millisecond);
        Ok(Some((mode, until)))
    }

    /// Why an object's lock, as [`S3::retention`] read it, does not keep
    /// it until `until_ms` in COMPLIANCE mode; `None` when it does.
    pub fn lock_short(lock: Option<(String, i64)>, until_ms: i64) -> Option<String> {
        let when = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
        };
        match lock {
            None => Some(format!(
                "no Object Lock retention; its retention ends {}",
                when(until_ms)
            )),
            Some((mode, _)) if mode != "COMPLIANCE" => Some(format!(
                "locked in {mode:?} mode, not COMPLIANCE, which whoever may bypass governance can lift; its retention ends {}",
                when(until_ms)
            )),
            Some((_, at)) if at < until_ms => Some(format!(
                "locked only until {}; its retention ends {}",
                when(at),
                when(until_ms)
            )),
            Some(_) => None,
        }
    }

    /// The object's bytes, or `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        match self.send("read", "GET", Some(key), &[], &[], &[]) {
            Ok(r) => Ok(Some(r.body)),
            Err(S3Error::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `len` bytes of the object from `start` (an HTTP `Range` request).
    pub fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Part, S3Error> {
        let last = start + len.max(1) - 1;
        self.ranged(key, &format!("bytes={start}-{last}"), |size| {
            (start.min(size), (start + len).min(size))
        })
    }

    /// The last `len` bytes of the object.
    pub fn get_tail(&self, key: &str, len: u64) -> Result<Part, S3Error> {
        self.ranged(key, &format!("bytes=-{len}"), |size| {
            (size.saturating_sub(len), size)
        })
    }

    /// A ranged GET; `part(size)` is the part asked for, cut out here when
    /// a server ignores `Range` and sends the whole object.
    fn ranged(
        &self,
        key: &str,
        range: &str,
        part: impl Fn(u64) -> (u64, u64),
    ) -> Result<Part, S3Error> {
        let mut r = self.send(
            "read",
            "GET",
            Some(key),
            &[],
            &[("range".into(), range.into())],
            &[],
        )?;
        let sent = r.body.len() as u64;
        if r.content_range.is_empty() {
            let (from, to) = part(sent);
            #[allow(clippy::cast_possible_truncation)]
            let bytes = r.body.drain(from as usize..to as usize).collect();
            return Ok(Part {
                bytes,
                size: sent,
                sent,
            });
        }
        let size = r
            .content_range
            .rsplit('/')
            .next()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(sent);
        Ok(Part {
            bytes: r.body,
            size,
            sent,
        })
    }

    /// Uploads `body`; with `retain_until_ms`, locked in COMPLIANCE mode
    /// until then.
    pub fn put(&self, key: &str, body: &[u8], retain_until_ms: Option<i64>) -> Result<(), S3Error> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
        let mut headers = vec![("content-md5".to_owned(), md5)];
        if let Some(until) = retain_until_ms {
            let until = jiff::Timestamp::from_second(until.div_euclid(1000) + 1)
                .unwrap_or(jiff::Timestamp::MAX)
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            headers.push(("x-amz-object-lock-mode".into(), "COMPLIANCE".into()));
            headers.push(("x-amz-object-lock-retain-until-date".into(), until));
        }
        self.send("upload", "PUT", Some(key), &[], &headers, body)
            .map(|_| ())
    }

    /// Every object name under `prefix`, in order.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(t) = &token {
                q.push(("continuation-token", t));
            }
            let r = self.send("list", "GET", None, &q, &[], &[])?;
            let text = String::from_utf8_lossy(&r.body);
            keys.extend(xml_values(&text, "Key"));
            let truncated =
                xml_values(&text, "IsTruncated").first().map(String::as_str) == Some("true");
            token = xml_values(&text, "NextContinuationToken")
                .into_iter()
                .next();
            if !truncated || token.is_none() {
                break;
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Sends one signed request; a status over 299 is an error.
    fn send(
        &self,
        op: &'static str,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        extra: &[(String, String)],
        body: &[u8],
    ) -> Result<Answer, S3Error> {
        let mut url = self.endpoint.clone();
        let mut path = String::new();
        if self.path_style {
            path.push('/');
            path.push_str(&self.location.bucket);
        } else {
            let host = format!(
                "{}.{}",
                self.location.bucket,
                url.host_str().unwrap_or_default()
            );
            url.set_host(Some(&host))
                .map_err(|e| S3Error::Config(format!("bad bucket host {host}: {e}")))?;
        }
        path.push('/');
        if let Some(k) = key {
            path.push_str(&uri_encode(k, false));
        }
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        q.sort();
        let query_string = q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        url.set_path(&path);
        url.set_query((!query_string.is_empty()).then_some(query_string.as_str()));
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let payload = if body.is_empty() {
            EMPTY_SHA256.to_owned()
        } else {
            hex::encode(Sha256::digest(body))
        };
        let now = jiff::Timestamp::now();
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("x-amz-content-sha256".into(), payload.clone()),
            (
                "x-amz-date".into(),
                now.strftime("%Y%m%dT%H%M%SZ").to_string(),
            ),
        ];
        if let Some(t) = &self.token {
            headers.push(("x-amz-security-token".into(), t.expose().clone()));
        }
        headers.extend(extra.iter().cloned());
        let auth = authorization(
            &Request {
                method,
                path: &path,
                query: &query_string,
                headers: &mut headers,
                payload: &payload,
            },
            &Signer {
                access_key_id: &self.access_key_id,
                secret: self.secret.expose(),
                region: &self.region,
                date: &now.strftime("%Y%m%d").to_string(),
            },
        );
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| S3Error::Config(e.to_string()))?;
        let mut rb = self.http.request(m, url).header("authorization", auth);
        for (k, v) in &headers {
            if k != "host" {
                rb = rb.header(k.as_str(), v.as_str());
            }
        }
        if !body.is_empty() || method == "PUT" {
            rb = rb.body(body.to_vec());
        }
        let object = self.show(key.unwrap_or_default());
        let resp = rb.send().map_err(|e| S3Error::Unreachable {
            endpoint: self.endpoint.to_string(),
            reason: error_chain(&e.without_url()),
        })?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let etag = header("etag");
        let content_range = header("content-range");
        let lock = (
            header("x-amz-object-lock-mode"),
            header("x-amz-object-lock-retain-until-date"),
        );
        let body = resp
            .bytes()
            .map_err(|e| S3Error::Unreachable {
                endpoint: self.endpoint.to_string(),
                reason: error_chain(&e.without_url()),
            })?
            .to_vec();
        if status < 300 {
            return Ok(Answer {
                etag,
                content_range,
                lock,
                body,
            });
        }
        let text = String::from_utf8_lossy(&body);
        let code = xml_values(&text, "Code")
            .into_iter()
            .next()
            .unwrap_or_else(|| {
                match status {
                    404 => "NotFound",
                    403 => "Forbidden",
                    _ => "",
                }
                .to_owned()
            });
        let message: String = xml_values(&text, "Message")
            .into_iter()
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        Err(match code.as_str() {
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidToken"
            | "ExpiredToken"
            | "InvalidSecurity" => S3Error::Credentials {
                endpoint: self.endpoint.to_string(),
                code,
                access_key_id: self.access_key_id.clone(),
                secret_from: self.secret_from.clone(),
            },
            "NoSuchBucket" => S3Error::NoBucket {
                bucket: self.location.bucket.clone(),
                endpoint: self.endpoint.to_string(),
            },
            _ => S3Error::Refused {
                op,
                object,
                status,
                code,
                message,
            },
        })
    }

    /// Downloads every object under the prefix into `dir`, by its name
    /// relative to the prefix; returns how many. Names that would leave
    /// `dir` are refused.
    pub fn download(
        &self,
        dir: &Path,
        only: &dyn Fn(&str) -> bool,
    ) -> Result<usize, anyhow::Error> {
        let base = if self.location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.location.prefix)
        };
        let mut n = 0;
        for key in self.list(&base)? {
            let rel = &key[base.len()..];
            if !only(rel) {
                continue;
            }
            let safe = !rel.is_empty()
                && rel
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'));
            anyhow::ensure!(safe, "refusing the object name {key:?} in the bucket");
            let Some(bytes) = self.get(&key)? else {
                continue;
            };
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes)?;
            n += 1;
        }
        Ok(n)
    }
}

struct Answer {
    etag: String,
    /// `x-amz-object-lock-mode` and `…-retain-until-date` (empty when absent).
    lock: (String, String),
    /// `bytes a-b/size` of a ranged read.
    content_range: String,
    body: Vec<u8>,
}

/// The secret access key and where it came from (for messages).
fn secret(
    cfg: &S3Config,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String), S3Error> {
    if let Some(p) = &cfg.secret_access_key_file {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(p).map_err(|e| {
            S3Error::Config(format!(
                "cannot read archive.s3.secret_access_key_file {}: {e}",
                p.display()
            ))
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(S3Error::Config(format!(
                "archive.s3.secret_access_key_file {} is readable by others: chmod 600 it",
                p.display()
            )));
        }
        let text = std::fs::read_to_string(p).map_err(|e| {
            S3Error::Config(format!(
                "cannot read archive.s3.secret_access_key_file {}: {e}",
                p.display()
            ))
        })?;
        return Ok((text.trim().to_owned(), format!("the file {}", p.display())));
    }
    let var = if cfg.secret_access_key_env.is_empty() {
        "AWS_SECRET_ACCESS_KEY"
    } else {
        cfg.secret_access_key_env.as_str()
    };
    let value = get(var).ok_or_else(|| {
        S3Error::Config(format!(
            "no S3 secret access key: set {var} (or archive.s3.secret_access_key_file)"
        ))
    })?;
    Ok((value, format!("the variable {var}")))
}

/// The text of every `<tag>…</tag>` in an S3 XML answer, unescaped.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(
            rest[..j]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &rest[j + close.len()..];
    }
    out
}

/// S3's URI encoding: unreserved characters as they are, `/` too in paths.
fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (b == b'/' && !encode_slash)
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error and its causes, `: `-joined.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// One request to sign: `path` and `query` already URI-encoded (the query
/// sorted), `headers` lowercase (sorted here).
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a mut Vec<(String, String)>,
    payload: &'a str,
}

struct Signer<'a> {
    access_key_id: &'a str,
    secret: &'a str,
    region: &'a str,
    /// YYYYMMDD of the request's `x-amz-date`.
    date: &'a str,
}

/// The SigV4 `Authorization` header value for `req`.
fn authorization(req: &Request<'_>, s: &Signer<'_>) -> String {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        req.method, req.path, req.query, req.payload
    );
    let amz_date = headers
        .iter()
        .find(|(k, _)| k == "x-amz-date")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let scope = format!("{}/{}/s3/aws4_request", s.date, s.region);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = format!("AWS4{}", s.secret).into_bytes();
    for part in [s.date, s.region, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        s.access_key_id
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// Where verification of a bucket reads the objects: a fresh private
/// directory under the temporary directory, removed when dropped.
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// Creates `$TMPDIR/ward-<what>-<pid>-<nanos>` (mode 0700).
    pub fn new(what: &str) -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt as _;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!("ward-{what}-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&p)?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The archive layout in a bucket: every object written once, locked in
/// COMPLIANCE mode until its retention ends; an object already there with
/// the same content is left alone (checked by its ETag, the MD5 of a
/// single-part upload, or by its bytes when the ETag is not one).
pub struct Target<'a> {
    /// The bucket.
    pub s3: &'a S3,
    /// Send Object Lock headers (off only for a bucket without Object
    /// Lock, when the operator allowed it).
    pub lock: bool,
    /// Earliest retain-until accepted (S3 refuses a date in the past).
    pub min_until_ms: i64,
}

impl ward_store::ArchiveTarget for Target<'_> {
    fn put(
        &mut self,
        rel: &str,
        bytes: &[u8],
        retain_until_ms: i64,
    ) -> Result<bool, ward_store::StoreError> {
        let key = self.s3.key(rel);
        let failed = |e: S3Error| ward_store::StoreError::Failed(e.to_string());
        if let Some(head) = self.s3.head(&key).map_err(failed)? {
            if head.etag == hex::encode(md5::Md5::digest(bytes)) {
                return Ok(false);
            }
            let same = self
                .s3
                .get(&key)
                .map_err(failed)?
                .is_some_and(|old| Sha256::digest(&old) == Sha256::digest(bytes));
            if same {
                return Ok(false);
            }
            return Err(ward_store::StoreError::ArchiveConflict {
                path: PathBuf::from(self.s3.show(&key)),
            });
        }
        let until = self.lock.then_some(retain_until_ms.max(self.min_until_ms));
        self.s3.put(&key, bytes, until).map_err(failed)?;
        Ok(true)
    }

    fn describe(&self) -> String {
        self.s3.location.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of AWS's Signature Version 4 documentation for S3
    /// ("GET Object" with a Range header).
    #[test]
    fn signs_like_the_aws_documentation_example() {
        let mut headers = vec![
            (
                "host".to_owned(),
                "examplebucket.s3.amazonaws.com".to_owned(),
            ),
            ("range".to_owned(), "bytes=0-9".to_owned()),
            ("x-amz-content-sha256".to_owned(), EMPTY_SHA256.to_owned()),
            ("x-amz-date".to_owned(), "20130524T000000Z".to_owned()),
        ];
        let auth = authorization(
            &Request {
                method: "GET",
                path: "/test.txt",
                query: "",
                headers: &mut headers,
                payload: EMPTY_SHA256,
            },
            &Signer {
                access_key_id: "AKIAIOSFODNN7EXAMPLE",
                secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                region: "us-east-1",
                date: "20130524",
            },
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn parses_locations_and_refuses_others() {
        assert_eq!(
            Location::parse("s3://ward-archive/node-a/"),
            Some(Location {
                bucket: "ward-archive".into(),
                prefix: "node-a".into()
            })
        );
        assert_eq!(Location::parse("s3://ab"), None);
        assert_eq!(Location::parse("s3://Bad_Bucket/x"), None);
        assert_eq!(Location::parse("/tmp/dir"), None);
    }

    #[test]
    fn reads_s3_xml_values() {
        let x = "<R><Key>a&amp;b</Key><Key>c</Key><IsTruncated>false</IsTruncated></R>";
        assert_eq!(xml_values(x, "Key"), vec!["a&b", "c"]);
        assert_eq!(uri_encode("a b/c", false), "a%20b/c");
        assert_eq!(uri_encode("a b/c", true), "a%20b%2Fc");
    }

    #[test]
    fn a_secret_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "hunter2\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let cfg = S3Config {
            secret_access_key_file: Some(p.clone()),
            access_key_id: "AK".into(),
            ..S3Config::default()
        };
        let loc = Location::parse("s3://bucket-a").unwrap();
        let err = S3::new(&cfg, loc.clone(), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s3 = S3::new(&cfg, loc, &|_| None).unwrap();
        assert_eq!(s3.secret.expose(), "hunter2");
        assert!(!format!("{s3:?}").contains("hunter2"));
    }
}
