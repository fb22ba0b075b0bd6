//! The HTTP witness (`store.witness = "http(s)://…"`) against a real
//! witness service on 127.0.0.1 (`fixtures/witness_server.py`, write-once):
//! checkpoints reach it, `ward verify --witness` catches a data directory
//! put back, a log forked from the old copy is refused by the witness and
//! reported, and a wrong token or a redirect is a clear error.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::{Ward, copy_tree, free_port, require, ward_bin};

const TOKEN: &str = "witness-token-5b1f0c";

/// The witness service on a free port, killed on drop.
struct WitnessServer {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl WitnessServer {
    fn start(extra: &[&str]) -> WitnessServer {
        require("python3");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/witness_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .arg(TOKEN)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        WitnessServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration naming the witness, with the token in a 0600 file.
fn config(dir: &Path, witness: &str, token: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let token_file = dir.join("witness.token");
    std::fs::write(&token_file, token).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = dir.join("verify.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nwitness = \"{witness}\"\nwitness_token_file = \"{}\"\nwitness_allow_private = true\n",
            token_file.display()
        ),
    )
    .unwrap();
    path
}

fn ingest(w: &Ward, tag: &str, n: usize) {
    let body: String = (0..n)
        .map(|i| format!("{{\"message\":\"{tag} event {i}\",\"event\":{{\"category\":\"authentication\"}}}}\n"))
        .collect();
    let (status, v) = w.post("/api/v1/ingest", "application/x-ndjson", body.into_bytes());
    assert_eq!(status, 200, "{v}");
}

/// `ward verify --data-dir d --witness url -c config`: success and output.
fn verify(d: &Path, witness: Option<&str>, config: &Path) -> (bool, String) {
    let mut cmd = Command::new(ward_bin());
    cmd.arg("verify").arg("--data-dir").arg(d);
    if let Some(w) = witness {
        cmd.args(["--witness", w]).arg("-c").arg(config);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains(TOKEN), "the token was shown: {text}");
    (out.status.success(), text)
}

#[test]
fn http_witness_catches_a_data_directory_put_back_and_a_fork() {
    let server = WitnessServer::start(&[]);
    let wit = format!("{}/ward/node-a", server.url);
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = config(conf_dir.path(), &wit, TOKEN);
    let text = std::fs::read_to_string(&conf).unwrap();
    let mut w = Ward::start_with(Some(&text), &[]);
    ingest(&w, "first", 40);
    assert!(w.terminate().success(), "{}", w.log());
    let data = w.data_dir();
    let outside = tempfile::tempdir().unwrap();
    let old = outside.path().join("old-copy");
    copy_tree(&data, &old);
    w.spawn();
    ingest(&w, "second", 60);
    assert!(w.terminate().success(), "{}", w.log());
    // The service holds the clean stop's checkpoint of all 100 records.
    let held = server
        .dir
        .path()
        .join("ward/node-a/00000000000000000100.cp");
    assert!(held.is_file(), "{}", w.log());

    let (ok, text) = verify(&data, Some(&wit), &conf);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("witnessed checkpoints read from {wit}")),
        "{text}"
    );
    assert!(!text.contains(" 0 witnessed"), "{text}");

    // A wrong token and a redirect are named, never followed.
    let bad = config(conf_dir.path(), &wit, "not-the-token");
    let (ok, text) = verify(&data, Some(&wit), &bad);
    assert!(
        !ok && text.contains("refused the token (HTTP 401)"),
        "{text}"
    );
    let moved = WitnessServer::start(&["--redirect", &format!("{wit}/")]);
    let moved_url = format!("{}/ward/node-a", moved.url);
    let redirecting = config(conf_dir.path(), &moved_url, TOKEN);
    let (ok, text) = verify(&data, Some(&moved_url), &redirecting);
    assert!(!ok && text.contains("redirects are not followed"), "{text}");

    // The data directory put back from the older copy: a plain verify
    // passes, the witness catches it.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::rename(&old, &data).unwrap();
    let (ok, text) = verify(&data, None, &conf);
    assert!(ok, "{text}");
    let (ok, text) = verify(&data, Some(&wit), &conf);
    assert!(!ok, "{text}");
    assert!(text.contains("are missing"), "{text}");
    assert!(text.contains(&format!("witness:{wit}/")), "{text}");

    // Other records on the old copy make another tree of 100 records: the
    // write-once witness keeps its note, and Ward reports the fork.
    let before = std::fs::read(&held).unwrap();
    w.spawn();
    ingest(&w, "forked", 60);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !w.log().contains("different signed tree of 100 records") {
        assert!(
            std::time::Instant::now() < deadline,
            "no fork reported:\n{}",
            w.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let metrics = w.metrics();
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("ward_store_witness_failures_total"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        !failures.is_empty() && !failures.ends_with(" 0"),
        "{failures}\n{metrics}"
    );
    w.kill();
    assert_eq!(std::fs::read(&held).unwrap(), before);
}
