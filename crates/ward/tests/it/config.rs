//! Start-up configuration: a bad setting stops start-up with a message that
//! names the key, the value and the fix; `ward config example` is valid.

use std::process::Command;

use crate::harness::*;

#[test]
fn bad_settings_stop_startup_naming_key_value_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ward.toml");
    std::fs::write(
        &cfg,
        "[server]\nhttp_addr = \"nonsense\"\n[retention]\ndefault_days = 30\n",
    )
    .unwrap();
    let out = Command::new(ward_bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("WARD_DATA_DIR", dir.path().join("d"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.http_addr = nonsense"), "{err}");
    assert!(err.contains("127.0.0.1:8080"), "{err}");
    assert!(err.contains("retention.default_days = 30"), "{err}");
    assert!(err.contains("365"), "{err}");
}

#[test]
fn unknown_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ward.toml");
    std::fs::write(&cfg, "[syslog]\nadress = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(ward_bin())
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("adress"), "{err}");
}

#[test]
fn example_configuration_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(ward_bin())
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[server]") && text.contains("# "));
    let cfg = dir.path().join("ward.toml");
    std::fs::write(&cfg, &text).unwrap();
    let out = Command::new(ward_bin())
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Standard error of `child` as it comes, until `marker` appeared and half
/// a second more (so that what follows it is seen too), or 60 s; then the
/// child is killed.
fn stderr_until(child: &mut std::process::Child, marker: &str) -> String {
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        use std::io::Read as _;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut marked: Option<std::time::Instant> = None;
    while std::time::Instant::now() < deadline
        && marked.is_none_or(|t| t.elapsed() < std::time::Duration::from_millis(500))
    {
        if let Ok(chunk) = rx.recv_timeout(std::time::Duration::from_millis(50)) {
            seen.extend(chunk);
        }
        if marked.is_none() && String::from_utf8_lossy(&seen).contains(marker) {
            marked = Some(std::time::Instant::now());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    seen.extend(rx.try_iter().flatten());
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn first_start_without_configuration_prints_and_keeps_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(ward_bin())
        .arg("serve")
        .current_dir(dir.path())
        .env("WARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("WARD_SYSLOG_ADDR", format!("127.0.0.1:{}", free_port()))
        .env_remove("WARD_DATA_DIR")
        .env_remove("WARD_INGEST_TOKEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let token_file = dir.path().join("ward-data/ingest.token");
    // The token is printed once the whole topology is built.
    let err = stderr_until(&mut child, "ingest token (saved");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(
        err.matches(token.trim()).count(),
        1,
        "token printed once: {err}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "token file must be private");
    let data_mode = std::fs::metadata(dir.path().join("ward-data"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(data_mode & 0o077, 0, "data directory must be private");
    // A later start does not print it again.
    let mut child = Command::new(ward_bin())
        .arg("serve")
        .current_dir(dir.path())
        .env("WARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("WARD_SYSLOG_ADDR", format!("127.0.0.1:{}", free_port()))
        .env_remove("WARD_DATA_DIR")
        .env_remove("WARD_INGEST_TOKEN")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = stderr_until(&mut child, "ward is listening");
    assert!(err.contains("ward is listening"), "second start: {err}");
    assert!(!err.contains(token.trim()), "printed again: {err}");
    let mut files = vec![dir.path().join("ward-data")];
    while let Some(p) = files.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o077,
            0,
            "{} is not private",
            p.display()
        );
        if meta.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
}
