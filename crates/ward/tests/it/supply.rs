//! Supply-chain detection through the live GitHub webhook input, with
//! GitHub's own example payloads (the npm package
//! `@octokit/webhooks-examples`, pinned in `tests/it/webhooks`, installed
//! by scripts/test.sh): deliveries with a bad signature are refused and
//! stored nowhere; every signed example is stored, recognized as a GitHub
//! webhook event, and judged by the built-in rules, which fire on the
//! examples they are about and on no other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{Ward, s};
use crate::sources::fired;

const SECRET: &str = "octokit-examples-secret-0123456789";

fn examples_index() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/webhooks");
    let index = dir.join("node_modules/@octokit/webhooks-examples/api.github.com/index.json");
    assert!(
        index.is_file(),
        "run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    index
}

/// Every example as (`X-GitHub-Event`, payload).
fn examples() -> Vec<(String, Value)> {
    let index: Value = serde_json::from_slice(&std::fs::read(examples_index()).unwrap()).unwrap();
    let mut out = Vec::new();
    for family in index.as_array().unwrap() {
        let name = family["name"].as_str().unwrap();
        for example in family["examples"].as_array().unwrap() {
            out.push((name.to_owned(), example.clone()));
        }
    }
    out
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A fresh `X-GitHub-Delivery` GUID.
fn delivery_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("72d3162e-cc78-11e3-81ab-{n:012x}")
}

fn deliver(w: &Ward, event: &str, body: &[u8], signature: Option<&str>) -> (u16, Value) {
    let mut r = Ward::client()
        .post(format!("{}/api/v1/ingest/github", w.url()))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery_id());
    if let Some(sig) = signature {
        r = r.header("x-hub-signature-256", sig);
    }
    let resp = r.body(body.to_vec()).send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The rule of each built-in rule file (its last document's `id`) under
/// `rules/<area>`, by file name.
fn rule_ids(area: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rules")
        .join(area);
    crate::harness::files_under(&dir, ".yml", None)
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let id = text
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("id: "))
                .unwrap()
                .trim()
                .to_owned();
            (f.file_stem().unwrap().to_string_lossy().into_owned(), id)
        })
        .collect()
}

/// A real push example changed the way an agent's push would be.
fn agent_push(push: &Value, sender: &str, files: &[&str], message: &str) -> Value {
    let mut p = push.clone();
    p["sender"]["login"] = json!(sender);
    p["sender"]["type"] = json!("Bot");
    p["ref"] = json!("refs/heads/copilot/fix-build");
    p["commits"] = json!([{
        "id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "message": message,
        "added": [],
        "removed": [],
        "modified": files,
    }]);
    p
}

#[test]
fn octokit_webhook_examples_are_stored_recognized_and_judged_by_the_rules() {
    let examples = examples();
    assert!(examples.len() >= 300, "only {} examples", examples.len());
    let config = format!("[webhooks.github]\nsecret = \"{SECRET}\"\n");
    let w = Ward::start_with(Some(&config), &[]);

    // Refused: another secret's signature, a body changed after signing,
    // no signature. Nothing of these is stored.
    let mut refused = 0;
    let mut seen = BTreeSet::new();
    for (event, payload) in &examples {
        if !seen.insert(event.clone()) {
            continue;
        }
        let body = serde_json::to_vec(payload).unwrap();
        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        let good = sign(SECRET, &body);
        for (body, sig) in [
            (&body, Some(sign("another-secret-0123456789", &body))),
            (&tampered, Some(good.clone())),
            (&body, None),
        ] {
            let (status, answer) = deliver(&w, event, body, sig.as_deref());
            assert_eq!(status, 401, "{event}: {answer}");
            refused += 1;
        }
    }
    assert!(refused >= 150, "{refused}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        w.search("ward.recognizer:github.webhook").is_empty(),
        "a refused delivery was stored"
    );

    // Accepted: every example, signed, plus two agent pushes derived from
    // the real push example.
    let push = &examples
        .iter()
        .find(|(e, p)| e == "push" && p["commits"].as_array().is_some_and(|c| !c.is_empty()))
        .unwrap()
        .1;
    let derived = [
        (
            "push".to_owned(),
            agent_push(
                push,
                "Copilot",
                &[".github/workflows/ci.yml"],
                "Speed up CI\n\nCo-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
            ),
        ),
        (
            "push".to_owned(),
            agent_push(
                push,
                "octo-helper[bot]",
                &[".github/copilot-instructions.md", ".vscode/mcp.json"],
                "Tune agent instructions",
            ),
        ),
    ];
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for (event, payload) in examples.iter().chain(derived.iter()) {
        let body = serde_json::to_vec(payload).unwrap();
        let (status, answer) = deliver(&w, event, &body, Some(&sign(SECRET, &body)));
        assert_eq!(
            (status, &answer["accepted"]),
            (200, &json!(1)),
            "{event}: {answer}"
        );
        *by_kind.entry(event.clone()).or_default() += 1;
    }
    let total = examples.len() + derived.len();
    let stored = w.wait_for("ward.recognizer:github.webhook", total);
    assert_eq!(stored.len(), total, "{}", w.log());
    for e in &stored {
        assert_eq!(s(e, "ward.logsource.product"), "github");
        assert_eq!(s(e, "ward.logsource.service"), "webhook");
        assert_eq!(s(e, "event.dataset"), "github.webhook");
        let kind = s(e, "github.webhook.event");
        assert!(s(e, "event.action").starts_with(kind), "{e}");
        assert!(!s(e, "github.webhook.delivery").is_empty());
    }
    let mut stored_kinds = std::collections::BTreeMap::<String, usize>::new();
    for e in &stored {
        *stored_kinds
            .entry(s(e, "github.webhook.event").to_owned())
            .or_default() += 1;
    }
    assert_eq!(stored_kinds, by_kind);
    // The payload's names are kept beside their ECS copies.
    let agent = w.search("sender.login:Copilot");
    assert_eq!(agent.len(), 1, "{agent:?}");
    assert_eq!(s(&agent[0], "user.name"), "Copilot");
    assert_eq!(s(&agent[0], "sender.login"), "Copilot");
    assert_eq!(
        s(&agent[0], "github.repo"),
        s(&agent[0], "repository.full_name")
    );

    // The rules about these examples fire; no other GitHub or GitLab rule
    // does.
    let ids: std::collections::BTreeMap<String, String> = rule_ids("github")
        .into_iter()
        .chain(rule_ids("gitlab"))
        .collect();
    let expected: BTreeSet<String> = [
        "repository_publicized",          // repository.publicized
        "branch_protection_rule_deleted", // branch_protection_rule.deleted
        "deploy_key_created",             // deploy_key.created
        "workflow_file_changed",          // the Copilot push too
        "agent_edited_ci_workflow",       // the Copilot push
        "ai_instruction_files_changed",   // the instructions push
    ]
    .iter()
    .map(|n| ids.get(*n).unwrap_or_else(|| panic!("no rule {n}")).clone())
    .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut now = fired(&w);
    while !expected.is_subset(&now) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        now = fired(&w);
    }
    std::thread::sleep(Duration::from_secs(1));
    let ours: BTreeSet<String> = fired(&w)
        .into_iter()
        .filter(|id| ids.values().any(|v| v == id))
        .collect();
    let name = |id: &String| {
        ids.iter()
            .find(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .unwrap()
    };
    assert_eq!(
        ours.iter().map(name).collect::<BTreeSet<_>>(),
        expected.iter().map(name).collect::<BTreeSet<_>>(),
        "{}",
        w.log()
    );
}

fn git(dir: &Path, args: &[&str]) -> String {
    crate::harness::succeed(
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "Dev")
            .env("GIT_AUTHOR_EMAIL", "dev@example.com")
            .env("GIT_COMMITTER_NAME", "Dev")
            .env("GIT_COMMITTER_EMAIL", "dev@example.com"),
    )
}

fn commit(dir: &Path, file: &str, message: &str) -> String {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("{message}\n")).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// Runs `examples/ci/ward-gate.sh` in `repo` as a CI job would: its exit
/// status and what it printed.
fn ci_gate(w: &Ward, key: &str, repo: &Path, args: &[&str]) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci/ward-gate.sh");
    let bin_dir = crate::harness::ward_bin().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .current_dir(repo)
        .env("PATH", path)
        .env("WARD_URL", w.url())
        .env("WARD_TOKEN", key)
        .env("WARD_INGEST_TOKEN", crate::harness::TOKEN)
        .env("WARD_REPOSITORY", "acme/web")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_ci_gate_script_asks_a_signoff_for_ai_trailer_commits_in_a_real_repository() {
    crate::harness::require("git");
    let w = Ward::start();
    let engineer = crate::harness::create_key(&w.data_dir(), "sec-eng", "engineer", "default");
    let viewer = crate::harness::create_key(&w.data_dir(), "ci", "viewer", "default");
    for k in [&engineer, &viewer] {
        crate::gate::wait_key(&w, k);
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    git(repo, &["init", "-q", "-b", "main"]);
    let human = commit(repo, "src/app.py", "Initial service");
    let copilot = commit(
        repo,
        "src/app.py",
        "Add retries\n\nCo-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
    );
    let generated = commit(
        repo,
        "src/db.py",
        "Pool connections\n\nGenerated-by: Aider 0.86",
    );
    let plain = commit(repo, "src/util.py", "Tidy helpers");
    let instructions = commit(repo, "AGENTS.md", "Document the build for agents");
    // A note of git-ai on a commit with no trailer.
    let noted = commit(repo, "src/cache.py", "Cache results");
    git(
        repo,
        &[
            "notes",
            "--ref=ai",
            "add",
            "-m",
            "{\"schema_version\":\"authorship/3.0.0\"}",
            &noted,
        ],
    );

    // A human commit alone: no sign-off needed, allowed.
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &human]);
    assert_eq!(code, 0, "{out}");
    // Each AI-attributed commit, and a change to agent instructions, needs
    // a sign-off; a plain commit after the human one does not.
    for sha in [&copilot, &generated, &instructions, &noted] {
        let (code, out) = ci_gate(&w, &viewer, repo, &["web", sha]);
        assert_eq!(code, 1, "{sha}: {out}");
        assert!(out.contains("no_signoff"), "{out}");
    }
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &plain, &generated]);
    assert_eq!(code, 0, "{out}");
    // A range: the AI commits inside it count.
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &plain, &human]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("2 AI-generated commit(s)"), "{out}");

    // The attribution reached Ward as events, one per commit and run.
    let events = w.wait_for("event.action:\"ai.commit_attributed\"", 6);
    let tools: BTreeSet<(String, String)> = events
        .iter()
        .map(|e| (s(e, "commit").to_owned(), s(e, "ai.tool.name").to_owned()))
        .collect();
    assert_eq!(
        tools,
        [
            (copilot.clone(), "copilot".to_owned()),
            (generated.clone(), "aider".to_owned()),
            (noted.clone(), "git-ai".to_owned()),
        ]
        .into_iter()
        .collect(),
        "{events:?}"
    );

    // A security engineer's sign-off lets the Copilot commit through.
    crate::gate::signoff(&w, &engineer, "web", &copilot, "retry logic reviewed");
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &copilot]);
    assert_eq!(code, 0, "{out}");

    // Bad use is an error: exit 2.
    for args in [
        vec!["web"],
        vec!["web", "no-such-commit"],
        vec!["we\"b", &human],
    ] {
        let (code, out) = ci_gate(&w, &viewer, repo, &args);
        assert_eq!(code, 2, "{args:?}: {out}");
    }
}
