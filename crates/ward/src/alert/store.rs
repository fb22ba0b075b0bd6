//! The alert stage's durable state in `<data_dir>/alerts.sqlite3`: alerts, the findings applied
//! to them, silences, owner registry changes, the notification log (what each
//! group last notified), the outbox and the delivery log; in cluster mode
//! also the version of each replicated record held here (`replica_versions`)
//! and the changes saved here that the brokers have not acknowledged yet
//! (`unpublished`, written in the transaction that saves the change and
//! cleared once the brokers acknowledged it).
//!
//! SQLite in WAL mode with `synchronous=FULL`: a transaction is on disk
//! (fsync) when the call returns, so an alert change or a queued notification
//! survives a crash. Records are JSON in a `body` column beside the columns
//! queries need; `PRAGMA user_version` is the schema version.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use ward_alert::AlertError;
use ward_alert::time::from_millis;

use crate::notify::outbox::{Attempt, OutboxEntry, Queue};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, identity TEXT NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_identity ON alerts(identity);
CREATE TABLE IF NOT EXISTS findings (id TEXT PRIMARY KEY, alert_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS owner_entries (kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT, PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS nflog (group_key TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, integration TEXT NOT NULL, receiver TEXT NOT NULL,
  idempotency_key TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
  next_attempt INTEGER NOT NULL, created INTEGER NOT NULL, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(integration, state, seq);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT, receiver TEXT NOT NULL, integration TEXT NOT NULL, seq INTEGER NOT NULL,
  idempotency_key TEXT NOT NULL, at INTEGER NOT NULL, attempt INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS deliveries_receiver ON deliveries(receiver, id);
CREATE TABLE IF NOT EXISTS replica_versions (key TEXT PRIMARY KEY, version INTEGER NOT NULL, node TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unpublished (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
";

/// Cluster mode: what a save also records, in its transaction: the version
/// of the copy saved under its replication key (an alert's id,
/// `notify/<group key>`), and the change to produce for the other nodes.
#[derive(Debug, Default)]
pub struct Replication {
    pub version: Option<(String, i64, String)>,
    pub publish: Option<String>,
}

impl Replication {
    fn write(&self, tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
        if let Some((key, version, node)) = &self.version {
            tx.execute(
                "INSERT OR REPLACE INTO replica_versions (key, version, node) VALUES (?1, ?2, ?3)",
                params![key, version, node],
            )?;
        }
        if let Some(body) = &self.publish {
            tx.execute("INSERT INTO unpublished (body) VALUES (?1)", [body])?;
        }
        Ok(())
    }
}

/// One delivery attempt, as the delivery log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub receiver: String,
    pub integration: String,
    pub seq: i64,
    pub idempotency_key: String,
    pub at: jiff::Timestamp,
    pub attempt: i64,
    pub outcome: String,
    pub detail: Option<String>,
}

/// The database.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Open for reading only: the disk was full at start.
    degraded: AtomicBool,
    last_reopen: Mutex<std::time::Instant>,
}

/// Free bytes under which an I/O error opening the database is taken for
/// a full disk (SQLite's `-shm` file alone takes 32 KiB).
const ALMOST_FULL: u64 = 1 << 20;

/// How often a read-only database is tried for writing again.
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Opens the database for reading and writing, creating it and its tables.
fn open_writable(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version <= SCHEMA_VERSION {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(conn)
}

/// Opens the database for reading only, creating no file: exclusive
/// locking keeps SQLite's WAL index in memory instead of the `-shm` file
/// (which a full disk cannot hold), so a write-ahead log left by a crash is
/// still read; `query_only` refuses every change. Ward's lock on the data
/// directory already keeps other processes out.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags as F;
    let conn =
        Connection::open_with_flags(path, F::SQLITE_OPEN_READ_WRITE | F::SQLITE_OPEN_NO_MUTEX)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.pragma_update(None, "query_only", true)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Reads the schema now, so that an unreadable database fails here.
    conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?;
    Ok(conn)
}

/// Whether an error opening the database comes from a full disk: SQLite
/// says so itself, or reports an I/O error while the file system holding
/// `dir` has no space left.
fn is_out_of_space(e: &rusqlite::Error, dir: &Path) -> bool {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DiskFull) => true,
        Some(C::SystemIoFailure) => rustix::fs::statvfs(dir)
            .is_ok_and(|s| s.f_bavail.saturating_mul(s.f_frsize) < ALMOST_FULL),
        _ => false,
    }
}

impl Store {
    /// Opens the database; on a full disk, where SQLite cannot create the
    /// files it needs to write (`-wal`, `-shm`), opens it for reading only:
    /// alerts and silences are served, every change is refused with
    /// [`AlertError::NoSpace`], and the first use once space has returned
    /// opens it for writing again.
    pub fn open(dir: &Path) -> Result<Store, AlertError> {
        std::fs::create_dir_all(dir).map_err(|source| AlertError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join("alerts.sqlite3");
        let (conn, degraded) = match open_writable(&path) {
            Ok(conn) => (conn, false),
            Err(e) if path.exists() && is_out_of_space(&e, dir) => {
                let conn = open_read_only(&path).map_err(store_error(&path, true))?;
                tracing::error!(path = %path.display(), error = %e,
                    "no space left for the alert database: alerts are read only until space is freed");
                (conn, true)
            }
            Err(e) => return Err(store_error(&path, false)(e)),
        };
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(store_error(&path, degraded))?;
        if version > SCHEMA_VERSION {
            return Err(AlertError::Corrupt {
                what: path.display().to_string(),
                reason: format!(
                    "schema version {version} is newer than this Ward ({SCHEMA_VERSION})"
                ),
            });
        }
        Ok(Store {
            path,
            conn: Mutex::new(conn),
            degraded: AtomicBool::new(degraded),
            last_reopen: Mutex::new(std::time::Instant::now()),
        })
    }

    /// Whether the database is open for reading only (the disk was full).
    pub fn read_only(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// The connection; while read only, at most every [`REOPEN_EVERY`] an
    /// attempt to open it for writing again first.
    fn lock(&self) -> parking_lot::MutexGuard<'_, Connection> {
        let mut conn = self.conn.lock();
        if self.read_only() {
            let mut last = self.last_reopen.lock();
            if last.elapsed() >= REOPEN_EVERY {
                *last = std::time::Instant::now();
                self.reopen(&mut conn);
            }
        }
        conn
    }

    fn reopen(&self, conn: &mut Connection) {
        // The read-only connection holds the database exclusively: close it
        // before opening for writing.
        let Ok(placeholder) = Connection::open_in_memory() else {
            return;
        };
        drop(std::mem::replace(conn, placeholder));
        match open_writable(&self.path) {
            Ok(c) => {
                *conn = c;
                self.degraded.store(false, Ordering::Relaxed);
                tracing::info!(path = %self.path.display(), "the alert database is writable again");
            }
            Err(_) => match open_read_only(&self.path) {
                Ok(c) => *conn = c,
                Err(e) => tracing::error!(path = %self.path.display(), error = %e,
                    "cannot reopen the alert database; retrying"),
            },
        }
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> AlertError + '_ {
        store_error(&self.path, self.read_only())
    }

    /// Saves an alert, and the finding that changed it when there is one,
    /// in one transaction.
    pub fn put_alert(
        &self,
        alert: &ward_alert::alert::Alert,
        finding: Option<&str>,
        rep: Option<&Replication>,
    ) -> Result<(), AlertError> {
        let findings: Vec<String> = finding.map(str::to_owned).into_iter().collect();
        self.put_alerts(
            &[(alert, &findings)],
            rep.map(std::slice::from_ref).unwrap_or_default(),
        )
    }

    /// Saves several alerts, the findings newly applied to each and, in
    /// cluster mode, the records of their changes, in one transaction.
    pub fn put_alerts(
        &self,
        alerts: &[(&ward_alert::alert::Alert, &[String])],
        reps: &[Replication],
    ) -> Result<(), AlertError> {
        let bodies = alerts
            .iter()
            .map(|(a, _)| to_json(a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.err())?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO alerts (id, identity, status, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(id) DO UPDATE SET status = excluded.status, body = excluded.body",
                )
                .map_err(self.err())?;
            let mut found = tx
                .prepare_cached("INSERT OR IGNORE INTO findings (id, alert_id) VALUES (?1, ?2)")
                .map_err(self.err())?;
            for ((a, findings), body) in alerts.iter().zip(&bodies) {
                put.execute(params![a.id, a.identity, a.status.as_str(), body])
                    .map_err(self.err())?;
                for f in *findings {
                    found.execute(params![f, a.id]).map_err(self.err())?;
                }
            }
        }
        for r in reps {
            r.write(&tx).map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    /// The alert a finding was already applied to.
    pub fn finding_alert(&self, finding_id: &str) -> Result<Option<String>, AlertError> {
        let mut all = self.finding_alerts(&[finding_id])?;
        Ok(all.pop().flatten())
    }

    /// [`Store::finding_alert`] of each finding, under one lock.
    pub fn finding_alerts(&self, finding_ids: &[&str]) -> Result<Vec<Option<String>>, AlertError> {
        let conn = self.conn.lock();
        let mut q = conn
            .prepare_cached("SELECT alert_id FROM findings WHERE id = ?1")
            .map_err(self.err())?;
        finding_ids
            .iter()
            .map(|id| {
                q.query_row([id], |r| r.get(0))
                    .optional()
                    .map_err(self.err())
            })
            .collect()
    }

    pub fn all_alerts<A: DeserializeOwned>(&self) -> Result<Vec<A>, AlertError> {
        self.all_bodies("SELECT id, body FROM alerts")
    }

    pub fn put_silence<S: Serialize>(
        &self,
        id: &str,
        s: &S,
        rep: Option<&Replication>,
    ) -> Result<(), AlertError> {
        let body = to_json(s)?;
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.err())?;
        tx.execute(
            "INSERT OR REPLACE INTO silences (id, body) VALUES (?1, ?2)",
            params![id, body],
        )
        .map_err(self.err())?;
        if let Some(r) = rep {
            r.write(&tx).map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    /// Saves a group's notification log entry as another node wrote it
    /// (cluster mode), with its version.
    pub fn put_nflog(
        &self,
        group_key: &str,
        body: &str,
        rep: &Replication,
    ) -> Result<(), AlertError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.err())?;
        tx.execute(
            "INSERT OR REPLACE INTO nflog (group_key, body) VALUES (?1, ?2)",
            params![group_key, body],
        )
        .map_err(self.err())?;
        rep.write(&tx).map_err(self.err())?;
        tx.commit().map_err(self.err())
    }

    /// Every replicated record's version held here: (key, version, node).
    pub fn replica_versions(&self) -> Result<Vec<(String, i64, String)>, AlertError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT key, version, node FROM replica_versions")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// The oldest `limit` changes not yet acknowledged by the brokers, in
    /// the order saved: (seq, body).
    pub fn unpublished(&self, limit: usize) -> Result<Vec<(i64, String)>, AlertError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT seq, body FROM unpublished ORDER BY seq LIMIT ?1")
            .map_err(self.err())?;
        let rows = st
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// How many changes wait for the brokers.
    pub fn unpublished_count(&self) -> Result<i64, AlertError> {
        self.lock()
            .query_row("SELECT COUNT(*) FROM unpublished", [], |r| r.get(0))
            .map_err(self.err())
    }

    /// Clears the changes up to `seq`: the brokers acknowledged them.
    pub fn published(&self, seq: i64) -> Result<(), AlertError> {
        self.lock()
            .execute("DELETE FROM unpublished WHERE seq <= ?1", [seq])
            .map(|_| ())
            .map_err(self.err())
    }

    pub fn all_silences<S: DeserializeOwned>(&self) -> Result<Vec<S>, AlertError> {
        self.all_bodies("SELECT id, body FROM silences")
    }

    /// Records an owner-registry change made through the API (None deletes).
    pub fn put_owner_entry(
        &self,
        kind: &str,
        key: &str,
        body: Option<&str>,
    ) -> Result<(), AlertError> {
        self.conn
            .lock()
            .execute(
                "INSERT OR REPLACE INTO owner_entries (kind, key, body) VALUES (?1, ?2, ?3)",
                params![kind, key, body],
            )
            .map(|_| ())
            .map_err(self.err())
    }

    pub fn owner_entries(&self) -> Result<Vec<(String, String, Option<String>)>, AlertError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT kind, key, body FROM owner_entries")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    pub fn nflog<T: DeserializeOwned>(&self, group_key: &str) -> Result<Option<T>, AlertError> {
        let body: Option<String> = self
            .conn
            .lock()
            .query_row(
                "SELECT body FROM nflog WHERE group_key = ?1",
                [group_key],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        body.map(|b| from_json(group_key, &b)).transpose()
    }

    /// Every group's notification log entry, keyed by group key.
    pub fn all_nflogs<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, AlertError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT group_key, body FROM nflog")
            .map_err(self.err())?;
        let rows: Vec<(String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(k, b)| from_json(&k, &b).map(|v| (k, v)))
            .collect()
    }

    /// Queues notifications and records what the group notified, atomically:
    /// after a crash either both happened or neither.
    pub fn enqueue(
        &self,
        group_key: Option<(&str, String)>,
        entries: &[(String, String, String, String)],
        now_ms: i64,
        rep: Option<&Replication>,
    ) -> Result<(), AlertError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.err())?;
        for (integration, receiver, key, body) in entries {
            tx.execute(
                "INSERT INTO outbox (integration, receiver, idempotency_key, body, state, attempts, next_attempt, created)
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
                params![integration, receiver, key, body, now_ms],
            )
            .map_err(self.err())?;
        }
        if let Some((gk, body)) = group_key {
            tx.execute(
                "INSERT OR REPLACE INTO nflog (group_key, body) VALUES (?1, ?2)",
                params![gk, body],
            )
            .map_err(self.err())?;
        }
        if let Some(r) = rep {
            r.write(&tx).map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    /// The oldest pending entry of an integration (deliveries are in order).
    pub fn outbox_head(&self, integration: &str) -> Result<Option<OutboxEntry>, AlertError> {
        self.conn
            .lock()
            .query_row(
                "SELECT seq, integration, receiver, idempotency_key, body, state, attempts, next_attempt, created, last_error
                 FROM outbox WHERE integration = ?1 AND state = 'pending' ORDER BY seq LIMIT 1",
                [integration],
                row_entry,
            )
            .optional()
            .map_err(self.err())
    }

    /// Entries of a receiver, newest first.
    pub fn outbox_of(&self, receiver: &str, limit: usize) -> Result<Vec<OutboxEntry>, AlertError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT seq, integration, receiver, idempotency_key, body, state, attempts, next_attempt, created, last_error
                 FROM outbox WHERE receiver = ?1 ORDER BY seq DESC LIMIT ?2",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![receiver, limit as i64], row_entry)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// When the oldest pending notification was queued (ms since the epoch).
    pub fn oldest_pending(&self) -> Result<Option<i64>, AlertError> {
        self.conn
            .lock()
            .query_row(
                "SELECT MIN(created) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// The delivery log of a receiver, newest first.
    pub fn deliveries(&self, receiver: &str, limit: usize) -> Result<Vec<Delivery>, AlertError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT id, receiver, integration, seq, idempotency_key, at, attempt, outcome, detail
                 FROM deliveries WHERE receiver = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![receiver, limit as i64], |r| {
                Ok(Delivery {
                    id: r.get(0)?,
                    receiver: r.get(1)?,
                    integration: r.get(2)?,
                    seq: r.get(3)?,
                    idempotency_key: r.get(4)?,
                    at: from_millis(r.get(5)?),
                    attempt: r.get(6)?,
                    outcome: r.get(7)?,
                    detail: r.get(8)?,
                })
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// Delivery attempts counted by (receiver, integration, outcome).
    pub fn delivery_counts(&self) -> Result<Vec<(String, String, String, i64)>, AlertError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT receiver, integration, outcome, COUNT(*) FROM deliveries GROUP BY receiver, integration, outcome")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// Pending entries per integration (the outbox backlog).
    pub fn pending_counts(&self) -> Result<Vec<(String, String, i64)>, AlertError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT receiver, integration, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY receiver, integration")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    fn all_bodies<T: DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>, AlertError> {
        let conn = self.lock();
        let mut st = conn.prepare(sql).map_err(self.err())?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        rows.iter().map(|(id, body)| from_json(id, body)).collect()
    }
}

impl Queue for Store {
    fn head(&self, integration: &str) -> anyhow::Result<Option<OutboxEntry>> {
        Ok(self.outbox_head(integration)?)
    }

    fn record(&self, e: &OutboxEntry, a: &Attempt<'_>) -> anyhow::Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.err())?;
        tx.execute(
            "UPDATE outbox SET state = ?1, attempts = attempts + 1, next_attempt = ?2, last_error = ?3 WHERE seq = ?4",
            params![a.state, a.next_attempt, a.detail, e.seq],
        )
        .map_err(self.err())?;
        tx.execute(
            "INSERT INTO deliveries (receiver, integration, seq, idempotency_key, at, attempt, outcome, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![e.receiver, e.integration, e.seq, e.idempotency_key, a.at, e.attempts + 1, a.outcome, a.detail],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(())
    }

    fn pending(&self, integration: &str) -> anyhow::Result<i64> {
        let n = self
            .conn
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE integration = ?1 AND state = 'pending'",
                [integration],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        Ok(n)
    }
}

/// Maps SQLite's errors; a full disk, or a change refused while the
/// database is read only, is [`AlertError::NoSpace`].
fn store_error(path: &Path, read_only: bool) -> impl Fn(rusqlite::Error) -> AlertError + '_ {
    move |e| {
        let code = e.sqlite_error_code();
        if code == Some(rusqlite::ErrorCode::DiskFull)
            || (read_only && code == Some(rusqlite::ErrorCode::ReadOnly))
        {
            return AlertError::NoSpace {
                path: path.display().to_string(),
            };
        }
        AlertError::Store {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

fn row_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        seq: r.get(0)?,
        integration: r.get(1)?,
        receiver: r.get(2)?,
        idempotency_key: r.get(3)?,
        body: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt: r.get(7)?,
        created: r.get(8)?,
        last_error: r.get(9)?,
    })
}

pub fn to_json<T: Serialize>(v: &T) -> Result<String, AlertError> {
    serde_json::to_string(v).map_err(|e| AlertError::Corrupt {
        what: "record being written".into(),
        reason: e.to_string(),
    })
}

fn from_json<T: DeserializeOwned>(id: &str, body: &str) -> Result<T, AlertError> {
    serde_json::from_str(body).map_err(|e| AlertError::Corrupt {
        what: id.to_string(),
        reason: e.to_string(),
    })
}
