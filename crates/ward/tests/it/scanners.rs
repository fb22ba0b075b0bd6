//! SARIF from the real scanners, semgrep (local rules only, metrics and
//! version checks off, no network) and bandit, over a small git repository
//! with planted vulnerabilities, imported into a real `ward serve` and
//! gating the deploy: the first release is clean, the second plants an
//! `eval` and a `shell=True` command that both tools flag as errors (new,
//! so the gate fails, and only warns where the policy says so), the third
//! fixes them (fixed, the gate passes). Lines move between releases; the
//! findings that stay keep their identity. Each tool's findings are tracked
//! on their own, so importing one never reports the other's as fixed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::gate::wait_key;
use crate::harness::{Ward, create_key};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/scanners")
}

/// The scanners' directory: `WARD_SCANNERS` (scripts/test.sh installs them
/// into a virtual environment of their own: semgrep pins OpenTelemetry
/// versions that other test tools cannot share).
fn scanner(name: &str) -> PathBuf {
    let dir = std::env::var_os("WARD_SCANNERS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/scanners/bin"),
        PathBuf::from,
    );
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/test.sh, which installs semgrep and bandit",
        p.display()
    );
    p
}

fn git(repo: &Path, args: &[&str]) -> String {
    crate::harness::succeed(
        Command::new("git")
            .args(args)
            .current_dir(repo)
            .env("GIT_AUTHOR_NAME", "dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com"),
    )
}

/// Puts release `v` in the repository, commits it, scans it with both
/// tools; the commit and the two SARIF files.
fn release(tmp: &Path, repo: &Path, v: &str) -> (String, PathBuf, PathBuf) {
    std::fs::copy(fixtures().join(v).join("app.py"), repo.join("app.py")).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", &format!("release {v}")]);
    let commit = git(repo, &["rev-parse", "HEAD"]);
    let semgrep = tmp.join(format!("semgrep-{v}.sarif"));
    let bandit = tmp.join(format!("bandit-{v}.sarif"));
    let home = tmp.join("home");
    let out = Command::new(scanner("semgrep"))
        .args(["scan", "--config"])
        .arg(fixtures().join("semgrep.yml"))
        .args([
            "--metrics=off",
            "--disable-version-check",
            "--quiet",
            "--sarif",
            "--output",
        ])
        .arg(&semgrep)
        .arg(".")
        .current_dir(repo)
        .env("HOME", &home)
        .env("SEMGREP_ENABLE_VERSION_CHECK", "0")
        .env("SEMGREP_SEND_METRICS", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "semgrep: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // bandit exits 1 when it finds something.
    let out = Command::new(scanner("bandit"))
        .args(["-r", ".", "-q", "-f", "sarif", "-o"])
        .arg(&bandit)
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1) && bandit.exists(),
        "bandit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (commit, semgrep, bandit)
}

fn import(w: &Ward, file: &Path, commit: &str) -> String {
    let o = w.cli(
        &[
            "import",
            "sarif",
            file.to_str().unwrap(),
            "--service",
            "shop",
            "--commit",
            commit,
            "--repository",
            "acme/shop",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn check(w: &Ward, key: &str, commit: &str, env: &str) -> (i32, Value) {
    crate::gate::gate(
        w,
        key,
        &[
            "--service",
            "shop",
            "--commit",
            commit,
            "--environment",
            env,
        ],
    )
}

#[test]
fn semgrep_and_bandit_findings_gate_the_deploy() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let w = Ward::start_with(
        Some(
            "[gate.policy]\nversion = \"scanners-1\"\n[gate.policy.environments.staging]\nnew_error_finding = \"warn\"\n",
        ),
        &[],
    );
    let ci = create_key(&w.data_dir(), "ci", "viewer", "default");
    wait_key(&w, &ci);

    // Release 1: notes and a warning only. Nothing error-level: pass.
    let (c1, s1, b1) = release(tmp.path(), &repo, "v1");
    assert_eq!(
        import(&w, &s1, &c1),
        "1 results: 1 new, 0 unchanged, 0 fixed"
    );
    assert_eq!(
        import(&w, &b1, &c1),
        "2 results: 2 new, 0 unchanged, 0 fixed"
    );
    let (code, v) = check(&w, &ci, &c1, "production");
    assert_eq!((code, v["decision"].as_str()), (0, Some("pass")), "{v}");

    // Release 2: both planted vulnerabilities flagged as errors by both
    // tools where they can (bandit rates eval a warning); lines moved.
    let (c2, s2, b2) = release(tmp.path(), &repo, "v2");
    assert_eq!(
        import(&w, &s2, &c2),
        "3 results: 2 new, 1 unchanged, 0 fixed"
    );
    assert_eq!(
        import(&w, &b2, &c2),
        "4 results: 2 new, 2 unchanged, 0 fixed"
    );
    let (code, v) = check(&w, &ci, &c2, "production");
    assert_eq!(code, 1, "{v}");
    let reasons = v["reasons"].as_array().unwrap();
    let rules: Vec<String> = reasons
        .iter()
        .map(|r| r["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons.len(), 3, "{rules:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r["code"] == "new_error_finding" && r["action"] == "fail")
    );
    for want in [
        "python-eval in app.py:20",
        "subprocess-shell-true in app.py:24",
        "B602 in app.py:24",
    ] {
        assert!(rules.iter().any(|r| r.contains(want)), "{want}: {rules:?}");
    }
    assert!(rules.iter().any(|r| r.starts_with("Semgrep")), "{rules:?}");
    assert!(rules.iter().any(|r| r.starts_with("Bandit")), "{rules:?}");
    // Staging only warns on new findings: the deploy goes ahead, saying why.
    let (code, v) = check(&w, &ci, &c2, "staging");
    assert_eq!((code, v["decision"].as_str()), (0, Some("warn")), "{v}");
    assert_eq!(v["policy"]["version"], "scanners-1");

    // Release 3 fixes both: fixed, and the gate passes.
    let (c3, s3, b3) = release(tmp.path(), &repo, "v3");
    assert_eq!(
        import(&w, &s3, &c3),
        "1 results: 0 new, 1 unchanged, 2 fixed"
    );
    let said = import(&w, &b3, &c3);
    assert!(said.contains("2 fixed"), "{said}");
    let (code, v) = check(&w, &ci, &c3, "production");
    assert_eq!((code, v["decision"].as_str()), (0, Some("pass")), "{v}");

    // The findings are events, with the tool that found them.
    let fixed = w.wait_for("ward.scan.state:fixed", 4);
    assert_eq!(fixed.len(), 4, "{fixed:?}");
    let tools: std::collections::BTreeSet<&str> = fixed
        .iter()
        .map(|e| crate::harness::s(e, "ward.scan.tool"))
        .collect();
    assert_eq!(tools.len(), 2, "{tools:?}");
}
