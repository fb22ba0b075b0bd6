//! Browser sessions of local users ([`crate::access::users`]).
//!
//! A session id is 32 bytes from the operating system's CSPRNG, sent to
//! the browser once in a cookie and kept server-side only as its SHA-256
//! (a copy of the table, or of memory, does not give a usable cookie). A
//! login always makes a new id (and ends the session the browser came
//! with), so an id planted before login is worthless. A session ends after
//! `idle_timeout` without a request, after `absolute_timeout` in any case,
//! at logout, and as soon as its user is disabled, removed, or changes
//! password, role or tenant (the user's `changed_at` moves). Sessions are
//! kept in `<data>/sessions.sqlite3` (0600; ids only as their SHA-256), so
//! they outlive a restart, and `ward users sessions` lists and ends them
//! whether or not the server runs (every request reads its session's row).
//!
//! The cookie is `__Host-ward_session` with `Secure; Path=/; HttpOnly;
//! SameSite=Strict` when `server.public_url` is https: the `__Host-` prefix
//! makes the browser refuse it unless it is Secure, host-only and for the
//! whole path, so a sibling subdomain cannot plant or shadow it. Browsers
//! neither keep nor send a `Secure` cookie over plain http (but for
//! localhost), so without an https public URL the cookie is `ward_session`
//! without `Secure`: still HttpOnly and SameSite=Strict, for loopback and
//! test use behind no TLS.
//!
//! Each session has a CSRF token of its own, returned by the login and by
//! `GET /api/v1/me`; a state-changing request authenticated by the cookie
//! must carry it in `X-CSRF-Token`, and must not come from another site
//! (`Sec-Fetch-Site`, `Origin`): see [`Sessions::cross_site`].
//!
//! Failed logins are throttled per user name and per source address
//! (IPv6 by /64): after `max_failures` failures within `lockout`, logins
//! for that name or from that address are refused for `lockout`, even with
//! the right password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use parking_lot::Mutex;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
// Tokio's clock, so that tests move time instead of sleeping.
use tokio::time::Instant;

use super::users::{UserRecord, UserStore};

/// Sessions kept at most (the oldest idle ones go first beyond).
pub const MAX_SESSIONS: usize = 100_000;
/// Sessions of one user at most: a new login ends the oldest beyond.
pub const MAX_PER_USER: usize = 32;
/// User names and addresses whose failures are tracked at most.
const MAX_TRACKED: usize = 100_000;

/// `[access.sessions]`, validated.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    pub max_failures: u32,
    pub lockout: Duration,
    /// `server.public_url` is https: `__Host-` cookie with `Secure`.
    pub secure_cookie: bool,
    /// The origin (`scheme://host[:port]`) of `server.public_url`, if set.
    pub origin: Option<String>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            secure_cookie: false,
            origin: None,
        }
    }
}

/// Where a session's person comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A local user of `ward users`, as recorded when the session opened
    /// (their `changed_at`): any change to the user ends the session.
    Local { changed_at: jiff::Timestamp },
    /// A person of the OIDC provider, with the role and tenant that their
    /// claims mapped to at login.
    Oidc { role: String, tenant: String },
}

/// A session just opened: the cookie value (shown once) and its CSRF token.
pub struct Opened {
    pub token: String,
    pub csrf: Arc<str>,
    /// Short public id (the first 8 bytes of the id's hash, in hex), for
    /// the audit trail, `ward users sessions` and revocation.
    pub id: String,
}

/// A live session found by its cookie: the person's name, role and tenant
/// as they are now.
pub struct Found {
    pub name: String,
    pub role: String,
    pub tenant: String,
    pub csrf: Arc<str>,
    pub id: String,
    /// `local` or `oidc`.
    pub via: &'static str,
}

/// A session as `ward users sessions` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub id: String,
    pub user: String,
    pub via: String,
    pub role: String,
    pub tenant: String,
    pub created_at: jiff::Timestamp,
    pub last_seen_at: jiff::Timestamp,
}

#[derive(Clone, Copy)]
struct Strikes {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

#[derive(Default)]
struct Throttle {
    by_user: HashMap<String, Strikes>,
    by_addr: HashMap<IpAddr, Strikes>,
}

/// The sessions file in the data directory.
pub const FILE: &str = "sessions.sqlite3";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sessions (
    hash BLOB PRIMARY KEY NOT NULL,
    public_id TEXT NOT NULL,
    user TEXT NOT NULL,
    via TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_public_id ON sessions(public_id);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);";

/// Opens (creating if needed, 0600) the sessions database of a data
/// directory.
pub fn open_db(data_dir: &std::path::Path) -> anyhow::Result<rusqlite::Connection> {
    use anyhow::Context as _;
    use std::os::unix::fs::PermissionsExt as _;
    super::private_dir(data_dir)?;
    let path = data_dir.join(FILE);
    if !path.exists() {
        crate::redact::write_private(&path, b"")?;
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private (0600)", path.display()))?;
    let conn = rusqlite::Connection::open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    init(&conn).with_context(|| format!("cannot use {}", path.display()))?;
    Ok(conn)
}

fn init(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)
}

/// Sessions of a data directory as `ward users sessions` shows them, oldest
/// login first (ended ones included until the server prunes them).
pub fn list(conn: &rusqlite::Connection, user: Option<&str>) -> anyhow::Result<Vec<Listed>> {
    let mut stmt = conn.prepare(
        "SELECT public_id, user, via, role, tenant, created_ms, seen_ms FROM sessions
         WHERE ?1 IS NULL OR user = ?1 ORDER BY created_ms",
    )?;
    let ts = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap_or_default();
    let rows = stmt.query_map([user], |r| {
        Ok(Listed {
            id: r.get(0)?,
            user: r.get(1)?,
            via: r.get(2)?,
            role: r.get(3)?,
            tenant: r.get(4)?,
            created_at: ts(r.get(5)?),
            last_seen_at: ts(r.get(6)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ends sessions by public id or of a user; how many ended.
pub fn revoke_where(
    conn: &rusqlite::Connection,
    id: Option<&str>,
    user: Option<&str>,
) -> anyhow::Result<usize> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE (?1 IS NOT NULL AND public_id = lower(?1))
                                  OR (?2 IS NOT NULL AND user = ?2)",
        rusqlite::params![id, user],
    )?)
}

/// Open sessions and the failed-login throttle.
pub struct Sessions {
    settings: SessionSettings,
    db: Mutex<rusqlite::Connection>,
    /// Wall-clock time at `start`: session times are stored as wall-clock
    /// milliseconds, derived from the monotonic clock (tokio's, so that
    /// tests move time instead of sleeping).
    epoch: (Instant, i64),
    throttle: Mutex<Throttle>,
    /// Argon2id verifications running at once: each takes 19 MiB and a
    /// core for tens of milliseconds.
    pub verifying: tokio::sync::Semaphore,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn public_id(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

/// The address a throttle counts: IPv6 by its /64, which one host
/// usually holds whole.
fn throttle_addr(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
            }
        },
        v4 => v4,
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Sessions {
    /// Sessions kept in memory only (tests, benchmarks).
    pub fn new(settings: SessionSettings) -> Sessions {
        let conn = rusqlite::Connection::open_in_memory()
            .and_then(|c| init(&c).map(|()| c))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot open an in-memory session table");
                rusqlite::Connection::open_in_memory().unwrap_or_else(|_| std::process::abort())
            });
        Sessions::with_db(settings, conn)
    }

    /// Sessions kept in `<data_dir>/sessions.sqlite3` (0600), so that they
    /// outlive a restart; only the SHA-256 of each id is stored.
    pub fn persistent(
        settings: SessionSettings,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Sessions> {
        Ok(Sessions::with_db(settings, open_db(data_dir)?))
    }

    fn with_db(settings: SessionSettings, conn: rusqlite::Connection) -> Sessions {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Sessions {
            settings,
            db: Mutex::new(conn),
            epoch: (Instant::now(), jiff::Timestamp::now().as_millisecond()),
            throttle: Mutex::default(),
            verifying: tokio::sync::Semaphore::new(cores),
        }
    }

    /// Now, in wall-clock milliseconds.
    fn now_ms(&self) -> i64 {
        self.epoch.1 + ms(Instant::now().duration_since(self.epoch.0))
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// The cookie's name: see the module documentation.
    pub fn cookie_name(&self) -> &'static str {
        if self.settings.secure_cookie {
            "__Host-ward_session"
        } else {
            "ward_session"
        }
    }

    /// The session cookie of a request, if it has one of the right name
    /// and shape.
    pub fn cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        cookie_value(headers, self.cookie_name()).filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    }

    /// The `Set-Cookie` value that gives the browser `token`.
    pub fn set_cookie(&self, token: &str) -> HeaderValue {
        let secure = if self.settings.secure_cookie {
            "; Secure"
        } else {
            ""
        };
        let value = format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.cookie_name(),
            self.settings.absolute_timeout.as_secs()
        );
        HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
    }

    /// The `Set-Cookie` value that makes the browser forget the cookie.
    pub fn clear_cookie(&self) -> HeaderValue {
        if self.settings.secure_cookie {
            HeaderValue::from_static(
                "__Host-ward_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
            )
        } else {
            HeaderValue::from_static("ward_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
        }
    }

    /// Opens a session for a local user: a new random id, a new CSRF token.
    pub fn open(&self, user: &UserRecord) -> Opened {
        self.insert(
            &user.name,
            ("local", &user.role, &user.tenant),
            &user.changed_at.to_string(),
        )
    }

    /// Opens a session for `name`, a local user or a person of the OIDC
    /// provider.
    pub fn open_for(&self, name: &str, via: &Via) -> Opened {
        match via {
            Via::Local { changed_at } => {
                self.insert(name, ("local", "", ""), &changed_at.to_string())
            }
            Via::Oidc { role, tenant } => self.insert(name, ("oidc", role, tenant), ""),
        }
    }

    /// Stores a new session: `who` is (via, role, tenant); the role and
    /// tenant of a local user's session are informational (the users file
    /// decides).
    fn insert(&self, name: &str, who: (&str, &str, &str), changed_at: &str) -> Opened {
        let (kind, role, tenant) = who;
        let mut id = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let mut csrf = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut csrf);
        use base64::Engine as _;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id);
        let csrf: Arc<str> = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(csrf)
            .into();
        let hash = digest(&token);
        let now = self.now_ms();
        let db = self.db.lock();
        let done = self.prune(&db, now).and_then(|()| {
            // A new login beyond the per-user limit ends the oldest.
            db.execute(
                "DELETE FROM sessions WHERE hash IN (SELECT hash FROM sessions WHERE user = ?1
                 ORDER BY created_ms DESC LIMIT -1 OFFSET ?2)",
                rusqlite::params![name, (MAX_PER_USER - 1) as i64],
            )?;
            db.execute(
                "INSERT INTO sessions (hash, public_id, user, via, role, tenant, changed_at, csrf,
                 created_ms, seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                rusqlite::params![
                    &hash[..],
                    public_id(&hash),
                    name,
                    kind,
                    role,
                    tenant,
                    changed_at,
                    csrf.as_ref(),
                    now
                ],
            )
        });
        if let Err(e) = done {
            // The cookie given will not be found: the person logs in again.
            tracing::error!(error = %e, "cannot store a new session");
        }
        Opened {
            token,
            csrf,
            id: public_id(&hash),
        }
    }

    /// Drops ended sessions; beyond [`MAX_SESSIONS`], the longest idle.
    fn prune(&self, db: &rusqlite::Connection, now: i64) -> rusqlite::Result<()> {
        db.execute(
            "DELETE FROM sessions WHERE seen_ms <= ?1 OR created_ms <= ?2",
            rusqlite::params![
                now - ms(self.settings.idle_timeout),
                now - ms(self.settings.absolute_timeout)
            ],
        )?;
        db.execute(
            "DELETE FROM sessions WHERE hash IN (SELECT hash FROM sessions
             ORDER BY seen_ms DESC LIMIT -1 OFFSET ?1)",
            [(MAX_SESSIONS - 1) as i64],
        )?;
        Ok(())
    }

    /// The live session of a cookie value: not idle too long, not too old,
    /// its user active and unchanged. Touches it (the idle time restarts;
    /// written at most every `idle_timeout / 30`).
    pub fn find(&self, token: &str, users: &UserStore) -> Option<Found> {
        let hash = digest(token);
        let now = self.now_ms();
        type Row = (String, String, String, String, String, String, i64, i64);
        let db = self.db.lock();
        let row: Option<Row> = db
            .query_row(
                "SELECT user, via, role, tenant, changed_at, csrf, created_ms, seen_ms
                 FROM sessions WHERE hash = ?1",
                [&hash[..]],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .map_err(|e| {
                if !matches!(e, rusqlite::Error::QueryReturnedNoRows) {
                    tracing::error!(error = %e, "cannot read the session table");
                }
            })
            .ok();
        let (name, via, role, tenant, changed_at, csrf, created, seen) = row?;
        let end = || {
            let _ = db.execute("DELETE FROM sessions WHERE hash = ?1", [&hash[..]]);
        };
        if now - seen >= ms(self.settings.idle_timeout)
            || now - created >= ms(self.settings.absolute_timeout)
        {
            end();
            return None;
        }
        let (role, tenant, via) = if via == "local" {
            let user = changed_at
                .parse()
                .ok()
                .and_then(|at| users.still(&name, at));
            let Some(user) = user else {
                end();
                return None;
            };
            (user.role, user.tenant, "local")
        } else {
            (role, tenant, "oidc")
        };
        if now - seen >= ms(self.settings.idle_timeout / 30) {
            let _ = db.execute(
                "UPDATE sessions SET seen_ms = ?2 WHERE hash = ?1",
                rusqlite::params![&hash[..], now],
            );
        }
        Some(Found {
            name,
            role,
            tenant,
            csrf: csrf.into(),
            id: public_id(&hash),
            via,
        })
    }

    /// Ends the session of a cookie value; whether there was one.
    pub fn revoke(&self, token: &str) -> bool {
        self.db
            .lock()
            .execute("DELETE FROM sessions WHERE hash = ?1", [&digest(token)[..]])
            .is_ok_and(|n| n > 0)
    }

    /// Sessions stored now (ended ones may still be counted until pruned).
    pub fn len(&self) -> usize {
        self.db
            .lock()
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| usize::try_from(n).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long logins for `user` or from `peer` are still refused.
    pub fn locked(&self, user: &str, peer: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let t = self.throttle.lock();
        let until = |s: Option<&Strikes>| s.and_then(|s| s.locked_until).filter(|u| *u > now);
        let by_user = until(t.by_user.get(user));
        let by_addr = peer.and_then(|p| until(t.by_addr.get(&throttle_addr(p))));
        by_user.max(by_addr).map(|u| u - now)
    }

    /// Counts a failed login for `user` (a valid name, known or not) and
    /// `peer`.
    pub fn failed(&self, user: Option<&str>, peer: Option<IpAddr>) {
        let now = Instant::now();
        let (max, window) = (self.settings.max_failures.max(1), self.settings.lockout);
        let strike = |s: &mut Strikes| {
            if now.duration_since(s.since) > window {
                *s = Strikes {
                    count: 0,
                    since: now,
                    locked_until: s.locked_until,
                };
            }
            s.count += 1;
            if s.count >= max {
                s.locked_until = Some(now + window);
                s.count = 0;
                s.since = now;
            }
        };
        let fresh = Strikes {
            count: 0,
            since: now,
            locked_until: None,
        };
        let stale = |s: &Strikes| {
            now.duration_since(s.since) > window && s.locked_until.is_none_or(|u| u <= now)
        };
        let mut t = self.throttle.lock();
        if let Some(u) = user {
            if t.by_user.len() >= MAX_TRACKED {
                t.by_user.retain(|_, s| !stale(s));
            }
            if t.by_user.len() < MAX_TRACKED || t.by_user.contains_key(u) {
                strike(t.by_user.entry(u.to_owned()).or_insert(fresh));
            }
        }
        if let Some(p) = peer.map(throttle_addr) {
            if t.by_addr.len() >= MAX_TRACKED {
                t.by_addr.retain(|_, s| !stale(s));
            }
            if t.by_addr.len() < MAX_TRACKED || t.by_addr.contains_key(&p) {
                strike(t.by_addr.entry(p).or_insert(fresh));
            }
        }
    }

    /// Forgets the failures of `user` after a successful login (those of
    /// the address stay: one good account must not reset a guesser).
    pub fn succeeded(&self, user: &str) {
        self.throttle.lock().by_user.remove(user);
    }

    /// Why a state-changing, cookie-authenticated request is refused as
    /// cross-site, if it is: a `Sec-Fetch-Site` other than `same-origin`
    /// (or `none`, a user's own navigation), or an `Origin` other than
    /// Ward's (`server.public_url`, else the request's `Host`).
    pub fn cross_site(&self, headers: &HeaderMap) -> Option<&'static str> {
        let text = |h: header::HeaderName| headers.get(h).map(|v| v.to_str().unwrap_or("\u{0}"));
        if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
            && site != "same-origin"
            && site != "none"
        {
            return Some("the request comes from another site (Sec-Fetch-Site)");
        }
        if let Some(origin) = text(header::ORIGIN) {
            let same = match &self.settings.origin {
                Some(o) => origin.eq_ignore_ascii_case(o),
                None => text(header::HOST).is_some_and(|host| {
                    origin
                        .strip_prefix("http://")
                        .or_else(|| origin.strip_prefix("https://"))
                        .is_some_and(|o| o.eq_ignore_ascii_case(host))
                }),
            };
            if !same {
                return Some("the request's Origin is not this server");
            }
        }
        None
    }
}

/// The value of the request's cookie `name`, if it has one.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the `X-CSRF-Token` of a request is the session's token.
pub fn csrf_matches(headers: &HeaderMap, csrf: &str) -> bool {
    headers
        .get("x-csrf-token")
        .is_some_and(|v| bool::from(v.as_bytes().ct_eq(csrf.as_bytes())))
}

/// The origin of a URL (`scheme://host[:port]`, default port left out),
/// as browsers send it in `Origin`.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    let origin = u.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::users::{self, NewUser};

    fn user(dir: &std::path::Path) -> (UserStore, UserRecord) {
        let rec = users::add(
            dir,
            &NewUser {
                name: "ana",
                role: "analyst",
                tenant: "acme",
                password: "long enough password",
                created_by: "test",
            },
        )
        .unwrap();
        (UserStore::open(dir).unwrap(), rec)
    }

    fn with_cookie(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {name}={value}; x=y")).unwrap(),
        );
        h
    }

    #[test]
    fn sessions_open_find_rotate_and_end() {
        let dir = tempfile::tempdir().unwrap();
        let (store, rec) = user(dir.path());
        let s = Sessions::new(SessionSettings::default());
        let a = s.open(&rec);
        let b = s.open(&rec);
        assert_ne!(a.token, b.token);
        assert_ne!(a.csrf, b.csrf);
        let h = with_cookie("ward_session", &a.token);
        assert_eq!(s.cookie(&h), Some(a.token.as_str()));
        assert!(
            s.cookie(&with_cookie("__Host-ward_session", &a.token))
                .is_none()
        );
        assert_eq!(s.find(&a.token, &store).unwrap().name, "ana");
        assert!(s.revoke(&a.token));
        assert!(s.find(&a.token, &store).is_none());
        assert!(s.find(&b.token, &store).is_some());
        assert!(s.find("not-a-session", &store).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_and_absolute_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let (store, rec) = user(dir.path());
        let s = Sessions::new(SessionSettings {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            ..SessionSettings::default()
        });
        let idle = s.open(&rec);
        tokio::time::advance(Duration::from_secs(29 * 60)).await;
        assert!(s.find(&idle.token, &store).is_some());
        tokio::time::advance(Duration::from_secs(29 * 60)).await;
        assert!(
            s.find(&idle.token, &store).is_some(),
            "a request restarts the idle time"
        );
        tokio::time::advance(Duration::from_secs(30 * 60)).await;
        assert!(s.find(&idle.token, &store).is_none(), "idle for 30 minutes");
        let busy = s.open(&rec);
        for _ in 0..(12 * 60 / 20 - 1) {
            tokio::time::advance(Duration::from_secs(20 * 60)).await;
            assert!(s.find(&busy.token, &store).is_some());
        }
        tokio::time::advance(Duration::from_secs(20 * 60)).await;
        assert!(
            s.find(&busy.token, &store).is_none(),
            "12 hours after login"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lockout_ends_and_old_failures_are_forgotten() {
        let s = Sessions::new(SessionSettings {
            max_failures: 2,
            ..SessionSettings::default()
        });
        s.failed(Some("ana"), None);
        tokio::time::advance(Duration::from_secs(16 * 60)).await;
        s.failed(Some("ana"), None);
        assert!(
            s.locked("ana", None).is_none(),
            "the first failure is too old"
        );
        s.failed(Some("ana"), None);
        let wait = s.locked("ana", None).unwrap();
        assert_eq!(wait, Duration::from_secs(15 * 60));
        tokio::time::advance(Duration::from_secs(15 * 60)).await;
        assert!(s.locked("ana", None).is_none());
    }

    #[test]
    fn lockout_after_failures_per_user_and_per_address() {
        let s = Sessions::new(SessionSettings {
            max_failures: 3,
            ..SessionSettings::default()
        });
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8::2".parse().unwrap();
        for _ in 0..2 {
            s.failed(Some("ana"), Some(ip));
        }
        assert!(s.locked("ana", Some(ip)).is_none());
        s.failed(Some("ana"), Some(ip));
        assert!(s.locked("ana", None).is_some(), "the name is locked");
        assert!(
            s.locked("bob", Some(neighbour)).is_some(),
            "the /64 is locked"
        );
        assert!(
            s.locked("bob", Some("192.0.2.1".parse().unwrap()))
                .is_none()
        );
        s.succeeded("ana");
        assert!(s.locked("ana", None).is_none());
    }

    #[test]
    fn cross_site_requests_are_recognized() {
        let s = Sessions::new(SessionSettings {
            origin: origin_of("https://ward.example.com/"),
            ..SessionSettings::default()
        });
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            m
        };
        assert!(s.cross_site(&h(&[])).is_none());
        assert!(
            s.cross_site(&h(&[("origin", "https://ward.example.com")]))
                .is_none()
        );
        assert!(
            s.cross_site(&h(&[("sec-fetch-site", "same-origin")]))
                .is_none()
        );
        assert!(
            s.cross_site(&h(&[("sec-fetch-site", "cross-site")]))
                .is_some()
        );
        assert!(
            s.cross_site(&h(&[("sec-fetch-site", "same-site")]))
                .is_some()
        );
        assert!(
            s.cross_site(&h(&[("origin", "https://evil.example")]))
                .is_some()
        );
        assert!(s.cross_site(&h(&[("origin", "null")])).is_some());
        let by_host = Sessions::new(SessionSettings::default());
        let m = h(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(by_host.cross_site(&m).is_none());
        let m = h(&[
            ("origin", "http://127.0.0.1:9999"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(by_host.cross_site(&m).is_some());
        assert_eq!(
            origin_of("https://ward.example.com:443/x").unwrap(),
            "https://ward.example.com"
        );
    }
}
