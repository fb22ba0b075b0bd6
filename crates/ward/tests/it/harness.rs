//! Starting and stopping a real `ward serve`, and small clients for it.

use std::io::Write as _;
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// The `ward` binary under test.
pub fn ward_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ward"))
}

/// A free TCP port on loopback that is also free for UDP.
pub fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Runs a node script of the browser tests (`tests/it/browser`) with
/// `args` and returns the one JSON object it prints; on failure, says
/// what the script and `w` logged.
pub fn node_script(w: &Ward, script: &str, args: &[&str]) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/browser");
    let out = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        w.log()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A running `ward serve`.
pub struct Ward {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub http_port: u16,
    pub syslog_port: u16,
    pub extra_env: Vec<(String, String)>,
    pub config: Option<PathBuf>,
    /// An admin API key (every permission, every tenant) for reads.
    pub admin: String,
}

/// Creates an API key in a data directory with `ward apikey create`.
/// Runs a command that must succeed; its standard output, trimmed.
pub fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `ward verify --proof` of the proof text `proof`, checked with the key
/// of `w`'s data directory (files written beside it).
pub fn verify_proof(w: &Ward, proof: &str) -> std::process::Output {
    let key = succeed(
        Command::new(ward_bin())
            .args(["key", "--data-dir"])
            .arg(w.data_dir()),
    );
    let key_file = w.dir.path().join("ward.pub");
    std::fs::write(&key_file, key).unwrap();
    let proof_file = w.dir.path().join("proof.json");
    std::fs::write(&proof_file, proof).unwrap();
    Command::new(ward_bin())
        .args(["verify", "--proof"])
        .arg(&proof_file)
        .arg("--key")
        .arg(&key_file)
        .output()
        .unwrap()
}

pub fn create_key(data_dir: &std::path::Path, name: &str, role: &str, tenant: &str) -> String {
    let out = Command::new(ward_bin())
        .args([
            "apikey", "create", "--name", name, "--role", role, "--tenant", tenant,
        ])
        .env("WARD_DATA_DIR", data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Ward {
    /// Starts Ward with no configuration file, configured by environment.
    pub fn start() -> Ward {
        Ward::start_with(None, &[])
    }

    /// Starts Ward with a configuration file body and extra environment.
    pub fn start_with(config: Option<&str>, env: &[(&str, &str)]) -> Ward {
        Ward::start_on(free_port(), config, env)
    }

    /// Starts Ward listening for HTTP on `http_port` of loopback (for a
    /// configuration that names its own URL).
    pub fn start_on(http_port: u16, config: Option<&str>, env: &[(&str, &str)]) -> Ward {
        let dir = tempfile::tempdir().unwrap();
        let config = config.map(|c| {
            let p = dir.path().join("ward.toml");
            std::fs::write(&p, c).unwrap();
            p
        });
        let mut w = Ward {
            child: None,
            dir,
            http_port,
            syslog_port: free_port(),
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config,
            admin: String::new(),
        };
        w.admin = create_key(&w.data_dir(), "test-admin", "admin", "default");
        w.spawn();
        w
    }

    pub fn data_dir(&self) -> PathBuf {
        self.extra_env
            .iter()
            .find(|(k, _)| k == "WARD_DATA_DIR")
            .map_or_else(|| self.dir.path().join("data"), |(_, v)| PathBuf::from(v))
    }

    /// Starts (or restarts) the process and waits until it answers.
    pub fn spawn(&mut self) {
        let mut cmd = Command::new(ward_bin());
        cmd.arg("serve");
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        cmd.env("WARD_DATA_DIR", self.data_dir())
            .env("WARD_HTTP_ADDR", format!("127.0.0.1:{}", self.http_port))
            .env(
                "WARD_SYSLOG_ADDR",
                format!("127.0.0.1:{}", self.syslog_port),
            )
            .env("WARD_INGEST_TOKEN", TOKEN)
            .env(
                "RUST_LOG",
                std::env::var("WARD_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("ward.log"))
                    .unwrap(),
            ));
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::blocking::get(format!("{}/healthz", self.url()))
                && r.status().is_success()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("ward exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("ward did not become healthy:\n{}", self.log());
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the process with SIGTERM and waits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ward.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    /// POSTs a body to a path with the test token.
    pub fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, Value) {
        self.post_as(TOKEN, path, content_type, body)
    }

    /// POSTs a body to a path with `token`: the status and the answer
    /// (JSON, else its text as a string).
    pub fn post_as(
        &self,
        token: &str,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, Value) {
        let r = Ward::client()
            .post(format!("{}{path}", self.url()))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Searches and returns the matching events (newest first).
    pub fn search(&self, q: &str) -> Vec<Value> {
        let r = Ward::client()
            .get(format!("{}/api/v1/events/search", self.url()))
            .bearer_auth(&self.admin)
            .query(&[("q", q), ("since", "3650d"), ("limit", "1000")])
            .send()
            .unwrap();
        assert!(
            r.status().is_success(),
            "search failed: {}",
            r.text().unwrap()
        );
        let v: Value = r.json().unwrap();
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.get("event").cloned().unwrap_or_else(|| h.clone()))
            .collect()
    }

    /// Events stored per `labels.batch` of one service.
    pub fn batch_counts(&self, service: &str) -> std::collections::BTreeMap<String, u64> {
        self.count_by(&format!("service.name:{service} | count by labels.batch"))
    }

    /// Events per value of a `… | count by FIELD` query.
    pub fn count_by(&self, q: &str) -> std::collections::BTreeMap<String, u64> {
        let r = Ward::client()
            .get(format!("{}/api/v1/events/search", self.url()))
            .bearer_auth(&self.admin)
            .query(&[("q", q), ("since", "3650d"), ("limit", "100000")])
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap();
        r["aggregation"]["buckets"]["buckets"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|b| {
                (
                    b["value"].as_str().unwrap_or_default().to_owned(),
                    b["count"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Stops the process with SIGTERM and returns how it exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("ward is not running");
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        c.wait().unwrap()
    }

    /// Searches until `n` events match or the deadline passes.
    pub fn wait_for(&self, q: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let hits = self.search(q);
            if hits.len() >= n || Instant::now() > deadline {
                return hits;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        Ward::client()
            .get(format!("{}/metrics", self.url()))
            .bearer_auth(&self.admin)
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// Runs a `ward` client command against this server.
    pub fn cli(&self, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
        let mut child = Command::new(ward_bin())
            .args(args)
            .env("WARD_URL", self.url())
            .env(
                "WARD_TOKEN",
                if args.first() == Some(&"send") {
                    TOKEN
                } else {
                    &self.admin
                },
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Ward {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A field by dotted path, nested or literal.
pub fn field<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    let (head, tail) = path.split_once('.')?;
    field(v.get(head)?, tail).or_else(|| {
        // keys with dots further down
        let obj = v.as_object()?;
        obj.iter().find_map(|(k, val)| {
            path.strip_prefix(k.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| field(val, rest))
        })
    })
}

/// The string at a dotted path.
pub fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    field(v, path).and_then(Value::as_str).unwrap_or("")
}

/// Requires a command on PATH: the test command installs it.
pub fn require(cmd: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{cmd}` is missing: run scripts/test.sh, which installs it"
    );
}

/// Runs a Python snippet with arguments; panics with its output on failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed: run scripts/test.sh");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A small tmpfs mounted on a fresh directory (the tests run as root),
/// unmounted on drop; `None`, with a message, where mounting is not
/// permitted.
pub struct Tmpfs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk test did not run"
            );
            return None;
        }
        Some(Tmpfs { path, _dir: dir })
    }

    /// Fills the file system completely with `ballast`, then frees `room`
    /// bytes of it.
    pub fn fill(&self, room: u64) {
        let p = self.path.join("ballast");
        let mut f = std::fs::File::create(&p).unwrap();
        let chunk = vec![0xa5u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&[1u8; 512]).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(room)).unwrap();
    }

    /// Removes the ballast: space returns.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.path.join("ballast"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Files under `dir` whose names end with `suffix`, in sorted order,
/// skipping directories named `skip`.
pub fn files_under(dir: &std::path::Path, suffix: &str, skip: Option<&str>) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        if p.is_dir() {
            if skip.is_none_or(|s| p.file_name().is_some_and(|n| n != s)) {
                out.extend(files_under(&p, suffix, skip));
            }
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out
}

/// Copies a directory tree with `cp -a` (modes and times kept).
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success(), "cp -a {} {}", from.display(), to.display());
}
