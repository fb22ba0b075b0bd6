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
const GLOBEX: &str = "globex-ingest-token-0123456789";

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
    ci_command(w, key, repo, &script, args, &[])
}

/// Runs `script` with bash in `repo` with Ward's binary on the path and
/// `env` set.
fn ci_command(
    w: &Ward,
    key: &str,
    repo: &Path,
    script: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String) {
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
        .envs(env.iter().copied())
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

/// A control owned by the team of service `web`: no `forbidden_change`
/// event in the last hour.
fn web_control() -> String {
    crate::compliance::CONTROL
        .replace("T-GAP", "T-WEB")
        .replace("owner: secops", "owner: web-team")
}

/// The reason `code` of a decision.
fn reason<'a>(v: &'a Value, code: &str) -> &'a Value {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {v}"))
}

/// `ward gate check --format json` for `web` at `commit`.
fn gate_json(w: &Ward, key: &str, commit: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--service", "web", "--commit", commit];
    args.extend_from_slice(extra);
    crate::gate::gate(w, key, &args)
}

/// The reason codes `ward-gate.sh` printed (the script asks the gate in
/// table format: `  fail CODE: detail`).
fn printed_codes(out: &str) -> BTreeSet<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(head, _)| head.split_whitespace().nth(1))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_gate_decides_ai_attribution_and_compliance_from_a_real_repository() {
    crate::harness::require("git");
    let controls = tempfile::tempdir().unwrap();
    std::fs::write(controls.path().join("t-web.yaml"), web_control()).unwrap();
    let config = format!(
        "[webhooks.github]\nsecret = \"{SECRET}\"\n\
         [[sources]]\nname = \"globex-app\"\ntenant = \"globex\"\ntoken = \"{GLOBEX}\"\n\
         [alerting.owners.teams.web-team]\ncontacts = [\"platform@example.com\"]\n\
         [alerting.owners.services]\nweb = \"web-team\"\n\
         [compliance]\ntick = \"1s\"\ncontrols = [{:?}]\n\
         [gate.policy]\nversion = \"ai-1\"\n\
         [gate.policy.environments.staging]\nfailing_control = \"warn\"\nai_change_without_scan = \"off\"\n",
        controls.path().display().to_string()
    );
    let w = Ward::start_with(Some(&config), &[]);
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
    // A person mentioning a trailer in the body, not as a trailer, and
    // co-authoring with a person: no AI.
    let mention = commit(
        repo,
        "src/notes.py",
        "Explain trailers\n\nGenerated-by: lines mark AI commits.\n\nCo-authored-by: Jane Doe <jane@example.com>",
    );

    // A human commit alone: no AI signal, no sign-off needed, allowed.
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &human]);
    assert_eq!(code, 0, "{out}");
    let (code, v) = gate_json(&w, &viewer, &human, &[]);
    assert_eq!((code, crate::gate::codes(&v)), (0, vec![]), "{v}");
    assert_eq!(v["ai"]["generated"], json!([]), "{v}");
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &mention]);
    assert_eq!(code, 0, "{out}");

    // Each AI-generated commit needs a scan and a sign-off; the gate
    // decides it from the change set the script sent.
    for (sha, tool) in [
        (&copilot, "copilot"),
        (&generated, "aider"),
        (&noted, "git-ai"),
    ] {
        let (code, out) = ci_gate(&w, &viewer, repo, &["web", sha]);
        assert_eq!(code, 1, "{sha}: {out}");
        assert_eq!(
            printed_codes(&out),
            ["ai_change_without_scan", "ai_change_without_signoff"]
                .map(String::from)
                .into(),
            "{out}"
        );
        let (code, v) = gate_json(&w, &viewer, sha, &[]);
        assert_eq!(code, 1, "{v}");
        assert_eq!(v["ai"]["generated"][0]["tool"], tool, "{v}");
        assert_eq!(v["ai"]["generated"][0]["commit"], sha.as_str(), "{v}");
        // The evidence is the change-set event in the log.
        let evidence = reason(&v, "ai_change_without_signoff")["evidence"]
            .as_str()
            .unwrap()
            .to_owned();
        let event = w.search(&format!("event.id:\"{evidence}\""));
        assert_eq!(event.len(), 1, "{evidence}: {v}");
        assert_eq!(s(&event[0], "event.action"), "vcs.change");
        assert_eq!(s(&event[0], "commit"), sha.as_str());
        assert_eq!(reason(&v, "ai_change_without_scan")["evidence"], evidence);
        assert!(
            reason(&v, "ai_change_without_signoff")["detail"]
                .as_str()
                .unwrap()
                .contains(tool),
            "{v}"
        );
    }
    // Agent instructions changed by a person: a sign-off, no scan.
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &instructions]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        printed_codes(&out),
        ["ai_change_without_signoff".to_owned()].into(),
        "{out}"
    );
    assert!(out.contains("AI-related files: AGENTS.md"), "{out}");
    // A range without AI commits passes; the AI commits inside a range
    // count, and a narrower range sent later takes none of them away.
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &plain, &generated]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &plain, &human]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("by aider") && out.contains("by copilot"),
        "{out}"
    );
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &plain, &generated]);
    assert_eq!(code, 1, "{out}");

    // An AI commit with a clean scan and a person's sign-off passes.
    let sarif = tmp.path().join("clean.sarif");
    std::fs::write(
        &sarif,
        json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "semgrep"}}, "results": [
            {"ruleId": "retry-without-backoff", "level": "warning", "message": {"text": "retry loop"},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/app.py"}, "region": {"startLine": 1}}}]},
            {"ruleId": "retry-without-backoff", "level": "warning", "message": {"text": "retry loop"},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/util.py"}, "region": {"startLine": 1}}}]}
        ]}]})
        .to_string(),
    )
    .unwrap();
    let script = |args: &[&str], env: &[(&str, &str)]| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ci/ward-gate.sh");
        ci_command(&w, &viewer, repo, &script, args, env)
    };
    let (code, out) = script(
        &["web", &copilot],
        &[("WARD_SARIF", sarif.to_str().unwrap())],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        printed_codes(&out),
        ["ai_change_without_signoff".to_owned()].into(),
        "{out}"
    );
    // The finding in the file the Copilot commit changed is marked AI; the
    // other is not.
    let marked = w.wait_for("ward.scan.ai_generated:true", 1);
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(s(&marked[0], "file.path"), "src/app.py");
    assert_eq!(s(&marked[0], "code.origin"), "ai");
    assert_eq!(w.search("event.action:scan_finding").len(), 2);
    crate::gate::signoff(&w, &engineer, "web", &copilot, "retry logic reviewed");
    let (code, out) = ci_gate(&w, &viewer, repo, &["web", &copilot]);
    assert_eq!(code, 0, "{out}");
    let (code, v) = gate_json(&w, &viewer, &copilot, &[]);
    assert_eq!((code, v["decision"].clone()), (0, json!("pass")), "{v}");
    assert_eq!(v["policy"]["version"], "ai-1");
    // A sign-off without a scan is not enough for an AI-generated commit;
    // the staging policy turns the scan reason off.
    crate::gate::signoff(&w, &engineer, "web", &generated, "pool reviewed");
    let (code, v) = gate_json(&w, &viewer, &generated, &[]);
    assert_eq!(
        (code, crate::gate::codes(&v)),
        (1, vec!["ai_change_without_scan".to_owned()]),
        "{v}"
    );
    let (code, v) = gate_json(&w, &viewer, &generated, &["--environment", "staging"]);
    assert_eq!((code, crate::gate::codes(&v)), (0, vec![]), "{v}");

    // A GitHub push ending at a commit attributes it too, and an AI
    // code-generation event sent with `ward send`.
    let pushed = "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";
    let push = json!({
        "ref": "refs/heads/main", "before": human, "after": pushed,
        "repository": {"name": "web", "full_name": "acme/web"},
        "sender": {"login": "dev", "type": "User"},
        "commits": [{"id": pushed, "message": "Harden input\n\nCo-Authored-By: Claude <noreply@anthropic.com>",
                     "added": [], "removed": [], "modified": ["src/app.py", ".vscode/mcp.json"]}],
    });
    let body = serde_json::to_vec(&push).unwrap();
    let (status, answer) = deliver(&w, "push", &body, Some(&sign(SECRET, &body)));
    assert_eq!(status, 200, "{answer}");
    w.wait_for(&format!("after:\"{pushed}\""), 1);
    let (code, v) = gate_json(&w, &viewer, pushed, &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["ai"]["generated"][0]["tool"], "claude", "{v}");
    assert_eq!(v["ai"]["paths"][0]["path"], ".vscode/mcp.json", "{v}");
    let generated_event = json!({"action": "ai.code_generated", "ai_tool": "cursor", "service": "web",
        "generated_code": "def f(): pass", "commit": "c0ffee0000000000000000000000000000000001"});
    let out = w.cli(&["send"], Some(format!("{generated_event}\n").as_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    w.wait_for("event.action:\"ai.code_generated\"", 1);
    let (code, v) = gate_json(&w, &viewer, "c0ffee0000000000000000000000000000000001", &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["ai"]["generated"][0]["tool"], "cursor", "{v}");
    // Another tenant's attribution of the same commit never counts.
    let theirs = json!({"action": "ai.commit_attributed", "ai_tool": "copilot", "ai_generated": true,
        "service": "web", "commit": human});
    let (status, a) = w.post_as(
        GLOBEX,
        "/api/v1/ingest",
        "application/x-ndjson",
        format!("{theirs}\n").into_bytes(),
    );
    assert_eq!(status, 200, "{a}");
    w.wait_for(
        "tenant.id:globex AND event.action:\"ai.commit_attributed\"",
        1,
    );
    let (code, v) = gate_json(&w, &viewer, &human, &[]);
    assert_eq!((code, crate::gate::codes(&v)), (0, vec![]), "{v}");

    // Every decision names the AI tools it saw.
    let decided = w.wait_for(
        "event.action:gate_decision AND ward.gate.ai.tools:copilot",
        1,
    );
    assert_eq!(s(&decided[0], "ward.gate.policy.version"), "ai-1");

    // A failing control owned by the service's team fails the deploy
    // (warns in staging); the human commit passed before.
    let bad = json!({"event.action": "forbidden_change", "event.category": "configuration", "service.name": "web"});
    let (status, a) = w.post("/api/v1/ingest", "application/x-ndjson", format!("{bad}\n"));
    assert_eq!(status, 200, "{a}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let (code, v) = gate_json(&w, &viewer, &human, &[]);
        if code == 1 {
            break v;
        }
        assert!(Instant::now() < deadline, "the control never failed: {v}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(crate::gate::codes(&v), vec!["failing_control"], "{v}");
    let r = reason(&v, "failing_control");
    assert_eq!(r["evidence"], "control:T-WEB", "{v}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .contains("owned by web-team, the service's team"),
        "{v}"
    );
    let (code, v) = gate_json(&w, &viewer, &human, &["--environment", "staging"]);
    assert_eq!((code, v["decision"].clone()), (0, json!("warn")), "{v}");

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
