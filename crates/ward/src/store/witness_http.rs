//! The HTTP witness: `store.witness = "https://host/path"` sends every
//! signed checkpoint to a witness service, and `ward verify --witness
//! https://host/path` reads them back. The protocol, for anyone writing
//! such a service (`tests/it/witness_server.py` is a complete one):
//!
//! - `PUT <base>/<size:020>.cp` with the signed note as the body
//!   (`text/plain; charset=utf-8`, at most [`MAX_NOTE`] bytes),
//!   `Authorization: Bearer <token>` and `If-None-Match: *`. The service
//!   stores it and answers 2xx, or, when it already holds a note of that
//!   name, keeps the old one and answers 412 (write-once; the same bytes
//!   again may be answered 2xx). Ward then reads the held note: the same
//!   tree signed at another time is fine, another tree of the same size is
//!   reported as a forked or rewritten log.
//! - `GET <base>/<size:020>.cp`: the note (200) or 404.
//! - `GET <base>/?after=<name>`: up to 1,000 names of held notes after
//!   `<name>` (empty: from the start), sorted, one per line; an empty
//!   answer ends the listing.
//!
//! Requests go through Ward's outbound guard ([`crate::notify::destination`]):
//! every address a name resolves to must be global unicast unless
//! `store.witness_allow_private`; plain `http://` is refused except on
//! loopback unless `store.witness_allow_http`; redirects are never
//! followed; answers are read up to a size limit.

use std::io::Read as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use ward_store::{Checkpoint, Witness};

use super::witness::note_name;
use crate::config::StoreSection;
use crate::notify::destination::Guard;
use crate::secret::Secret;

/// The longest note Ward sends or reads back (a note is a few hundred bytes).
pub const MAX_NOTE: usize = 64 << 10;
/// The longest page of a listing Ward reads.
const MAX_PAGE: usize = 1 << 20;
/// Names per listing page the protocol allows.
const PAGE_NAMES: usize = 1000;

/// Where an `http(s)://` witness is and how to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The base URL, without a trailing `/`.
    base: url::Url,
    guard: Guard,
}

impl Target {
    /// Checks `store.witness` and the settings that go with it; the error
    /// says what to change.
    pub fn parse(store: &StoreSection) -> Result<Target, String> {
        let text = &store.witness;
        let mut base = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err("use https://host/path".into());
        }
        let Some(host) = base.host_str().map(str::to_owned) else {
            return Err("the URL has no host".into());
        };
        if !base.username().is_empty() || base.password().is_some() {
            return Err(
                "put no credentials in the URL: the token goes in store.witness_token_file or store.witness_token_env"
                    .into(),
            );
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err("use a URL without ?query or #fragment".into());
        }
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let loopback = host == "localhost" || ip.is_some_and(|ip| ip.is_loopback());
        if base.scheme() == "http" && !loopback && !store.witness_allow_http {
            return Err(
                "use https:// (plain http:// sends the token and the checkpoints in clear; only loopback, or set store.witness_allow_http = true)"
                    .into(),
            );
        }
        let guard = Guard {
            allow_private: store.witness_allow_private,
        };
        if let Some(ip) = ip
            && guard.check(&[std::net::SocketAddr::new(ip, 0)]).is_err()
        {
            return Err(format!(
                "{ip} is a private, loopback or link-local address: set store.witness_allow_private = true if the witness really is there"
            ));
        }
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        Ok(Target { base, guard })
    }

    /// The URL of `name` under the base.
    fn url(&self, name: &str) -> url::Url {
        let mut u = self.base.clone();
        u.set_path(&format!(
            "{}/{name}",
            self.base.path().trim_end_matches('/')
        ));
        u
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.base.as_str().trim_end_matches('/'))
    }
}

/// The bearer token of `store.witness_token_file` or `store.witness_token_env`
/// (none when neither is set).
fn token(store: &StoreSection) -> Result<Option<Secret<String>>, String> {
    let (value, from) = match (&store.witness_token_file, store.witness_token_env.as_str()) {
        (Some(_), v) if !v.is_empty() => {
            return Err(
                "set only one of store.witness_token_file and store.witness_token_env".into(),
            );
        }
        (Some(p), _) => {
            use std::os::unix::fs::PermissionsExt as _;
            let from = format!("store.witness_token_file {}", p.display());
            let meta = std::fs::metadata(p).map_err(|e| format!("cannot read {from}: {e}"))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(format!("{from} is readable by others: chmod 600 it"));
            }
            let mut text = String::new();
            std::fs::File::open(p)
                .and_then(|f| f.take(4096).read_to_string(&mut text))
                .map_err(|e| format!("cannot read {from}: {e}"))?;
            (text.trim().to_owned(), from)
        }
        (None, "") => return Ok(None),
        (None, var) => {
            let from = format!("the variable {var} (store.witness_token_env)");
            let v = std::env::var(var).map_err(|_| format!("{from} is not set"))?;
            (v.trim().to_owned(), from)
        }
    };
    if value.is_empty() || value.len() > 1024 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the witness token from {from} must be 1 to 1,024 printable characters without spaces"
        ));
    }
    Ok(Some(Secret::new(value)))
}

/// A connection to a witness service (see the module docs).
#[derive(Debug)]
pub struct HttpWitness {
    target: Target,
    token: Option<Secret<String>>,
    /// Made on first use, on the thread that uses it (a blocking client
    /// must not be made inside the async runtime).
    http: OnceLock<Result<reqwest::blocking::Client, String>>,
}

/// A witness answer: status and the body, read up to a limit.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl HttpWitness {
    /// The witness the `[store]` settings name; the error says what to fix.
    pub fn new(store: &StoreSection) -> Result<HttpWitness, String> {
        Ok(HttpWitness {
            target: Target::parse(store)
                .map_err(|e| format!("store.witness {}: {e}", store.witness))?,
            token: token(store)?,
            http: OnceLock::new(),
        })
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, String> {
        self.http
            .get_or_init(|| {
                crate::notify::destination::blocking_http_client(
                    self.target.guard,
                    Duration::from_secs(30),
                )
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Sends one request and reads at most `limit` bytes of the answer.
    fn send(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<&[u8]>,
        limit: usize,
    ) -> Result<Answer, String> {
        let shown = url.to_string();
        self.target.guard.check_url(&url)?;
        let mut rb = self.client()?.request(method.clone(), url);
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t.expose());
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "text/plain; charset=utf-8")
                .header("if-none-match", "*")
                .body(b.to_vec());
        }
        let resp = rb.send().map_err(|e| {
            format!(
                "cannot reach the witness {shown}: {}",
                crate::store::s3::error_chain(&e.without_url())
            )
        })?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let to = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(|l| clean(l.as_bytes()))
                .unwrap_or_default();
            return Err(format!(
                "{method} {shown} answered HTTP {status} (a redirect to {to:?}): redirects are not followed; set store.witness to the final URL"
            ));
        }
        let mut body = Vec::new();
        resp.take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("cannot read the answer of {shown}: {e}"))?;
        if body.len() > limit {
            return Err(format!(
                "{method} {shown}: the answer is larger than {limit} bytes"
            ));
        }
        match status {
            401 | 403 => Err(format!(
                "the witness {shown} refused the token (HTTP {status}): check store.witness_token_file or store.witness_token_env"
            )),
            _ => Ok(Answer { status, body }),
        }
    }

    /// The note the witness holds under `name`, if any.
    fn get(&self, name: &str) -> Result<Option<String>, String> {
        let url = self.target.url(name);
        let a = self.send(reqwest::Method::GET, url.clone(), None, MAX_NOTE)?;
        match a.status {
            200 => String::from_utf8(a.body)
                .map(Some)
                .map_err(|_| format!("the note at {url} is not UTF-8")),
            404 => Ok(None),
            s => Err(refused("GET", &url, s, &a.body)),
        }
    }

    /// The names of the notes the witness holds, in order.
    fn list(&self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = Vec::new();
        loop {
            let mut url = self.target.url("");
            if let Some(last) = names.last() {
                url.query_pairs_mut().append_pair("after", last);
            }
            let a = self.send(reqwest::Method::GET, url.clone(), None, MAX_PAGE)?;
            if a.status != 200 {
                return Err(refused("GET", &url, a.status, &a.body));
            }
            let text = String::from_utf8_lossy(&a.body);
            let page: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if page.is_empty() {
                return Ok(names);
            }
            if page.len() > PAGE_NAMES {
                return Err(format!(
                    "the listing {url} has {} names (the protocol allows {PAGE_NAMES} per page)",
                    page.len()
                ));
            }
            for n in page {
                if !is_note_name(n) {
                    return Err(format!(
                        "the listing {url} names {:?}, not a note (<20 digits>.cp)",
                        clean(n.as_bytes())
                    ));
                }
                if names.last().is_some_and(|l| l.as_str() >= n) {
                    return Err(format!(
                        "the listing {url} is not in ascending order after {:?}: stopped",
                        names.last().map(String::as_str).unwrap_or_default()
                    ));
                }
                names.push(n.to_owned());
            }
        }
    }
}

impl Witness for HttpWitness {
    fn publish(&self, cp: &Checkpoint) -> Result<(), String> {
        let name = note_name(cp.size);
        let url = self.target.url(&name);
        let a = self.send(
            reqwest::Method::PUT,
            url.clone(),
            Some(cp.note.as_bytes()),
            MAX_NOTE,
        )?;
        match a.status {
            200..=299 => Ok(()),
            412 => {
                let old = self
                    .get(&name)?
                    .ok_or_else(|| format!("{url} answered 412 to the upload, then 404"))?;
                ward_store::witness::same_tree(&old, cp, url.as_str())
            }
            s => Err(refused("PUT", &url, s, &a.body)),
        }
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }
}

fn is_note_name(n: &str) -> bool {
    n.len() == 23 && n.ends_with(".cp") && n[..20].bytes().all(|b| b.is_ascii_digit())
}

/// A refusal: status and the start of the answer, without control characters.
fn refused(method: &str, url: &url::Url, status: u16, body: &[u8]) -> String {
    format!(
        "{method} {url} was refused with HTTP {status}: {}",
        clean(&body[..body.len().min(300)])
    )
}

fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Copies the notes the witness at `store.witness`-style settings holds
/// into `dir`, for [`ward_store::verify_with_witness`]; returns how many.
pub fn fetch(store: &StoreSection, dir: &Path) -> anyhow::Result<usize> {
    let w = HttpWitness::new(store).map_err(anyhow::Error::msg)?;
    let names = w.list().map_err(anyhow::Error::msg)?;
    let mut n = 0;
    for name in names {
        let Some(note) = w.get(&name).map_err(anyhow::Error::msg)? else {
            continue;
        };
        std::fs::write(dir.join(&name), note)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(url: &str) -> StoreSection {
        StoreSection {
            witness: url.into(),
            ..StoreSection::default()
        }
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        let ok = Target::parse(&store("https://w.example.com/ward/node-a/")).unwrap();
        assert_eq!(ok.to_string(), "https://w.example.com/ward/node-a");
        assert_eq!(
            ok.url(&note_name(7)).as_str(),
            "https://w.example.com/ward/node-a/00000000000000000007.cp"
        );
        for (url, says) in [
            ("http://w.example.com/x", "https://"),
            ("https://user:pw@w.example.com/x", "no credentials"),
            ("https://w.example.com/x?a=1", "query"),
            ("ftp://w.example.com/x", "https://host/path"),
            ("https://10.1.2.3/x", "witness_allow_private"),
            ("https://169.254.169.254/x", "witness_allow_private"),
            ("http://127.0.0.1:9/x", "witness_allow_private"),
            ("https://[::ffff:127.0.0.1]/x", "witness_allow_private"),
        ] {
            let e = Target::parse(&store(url)).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
        let private = StoreSection {
            witness_allow_private: true,
            ..store("http://127.0.0.1:9/x")
        };
        assert!(Target::parse(&private).is_ok());
        let clear = StoreSection {
            witness_allow_http: true,
            ..store("http://w.example.com/x")
        };
        assert!(Target::parse(&clear).is_ok());
    }

    #[test]
    fn the_token_comes_from_a_private_file_or_a_variable() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "s3cr3t-token\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut s = StoreSection {
            witness_token_file: Some(p.clone()),
            ..store("https://w.example.com/x")
        };
        let e = token(&s).unwrap_err();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(token(&s).unwrap().unwrap().expose(), "s3cr3t-token");
        std::fs::write(&p, "two words").unwrap();
        let e = token(&s).unwrap_err();
        assert!(e.contains("printable") && !e.contains("two words"), "{e}");
        s.witness_token_env = "WARD_TEST_NO_SUCH_VARIABLE".into();
        assert!(token(&s).unwrap_err().contains("only one"));
        s.witness_token_file = None;
        let e = token(&s).unwrap_err();
        assert!(e.contains("WARD_TEST_NO_SUCH_VARIABLE"), "{e}");
    }

    /// The witness through the real client and resolver, inside a network
    /// namespace with only loopback (`unshare -n`, as root), so a guard bug
    /// cannot send a packet anywhere: without `witness_allow_private` no
    /// form of a loopback or private address reaches the listener; with it,
    /// the same listener takes the checkpoint (so the test can fail).
    #[test]
    fn ssrf_refused_in_a_loopback_only_namespace() {
        crate::notify::destination::netns::run_inside("store::witness_http::tests::ssrf_inner");
    }

    #[test]
    #[ignore = "run by ssrf_refused_in_a_loopback_only_namespace inside unshare -n"]
    fn ssrf_inner() {
        use std::io::Write as _;
        use std::sync::atomic::{AtomicUsize, Ordering};
        crate::notify::destination::netns::loopback_only();
        // Private addresses on loopback too, so that reaching them would
        // be seen.
        for a in ["10.1.2.3/32", "169.254.169.254/32", "192.168.7.7/32"] {
            let ok = std::process::Command::new("ip")
                .args(["addr", "add", a, "dev", "lo"])
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = accepted.clone();
        std::thread::spawn(move || {
            for mut c in listener.incoming().flatten() {
                seen.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = std::io::Read::read(&mut c, &mut buf);
                let _ = c.write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let cp = Checkpoint {
            origin: "ward".into(),
            size: 3,
            root: "07".repeat(32),
            time_ms: 1_700_000_000_000,
            note: "ward\n3\nBwcH\n\n— ward sig\n".into(),
        };
        let witness = |url: &str, allow_private: bool| {
            HttpWitness::new(&StoreSection {
                witness: url.into(),
                witness_allow_private: allow_private,
                witness_allow_http: true,
                ..StoreSection::default()
            })
        };
        for host in [
            "127.0.0.1",
            "localhost",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0.0.0.0",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.7.7",
            "[::ffff:127.0.0.1]",
            "[::ffff:10.1.2.3]",
            "[::1]",
        ] {
            let url = format!("http://{host}:{port}/w");
            // Refused when the URL is read, or (a name) when it resolves.
            if let Ok(w) = witness(&url, false) {
                let e = w.publish(&cp).unwrap_err();
                assert!(e.contains("private"), "{host}: {e}");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            0,
            "a refused form reached the listener"
        );
        let open = witness(&format!("http://10.1.2.3:{port}/w"), true).unwrap();
        open.publish(&cp).unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
