//! The AI attribution of a change, as the gate decides it from the events
//! Ward holds about the commit:
//!
//! - an event naming the commit (`commit`) with `event.action`
//!   `ai.commit_attributed`, `ai.code_generated` or `code_generated`, unless
//!   its `code.origin` says otherwise (`ai_generated: false`);
//! - a change set CI sends with `ward send` (`event.action: vcs.change`,
//!   `commit`, `commits[]` with `id`, `message` or `trailers`, and
//!   `git_ai_note`, and `changed_files`), or a GitHub `push` webhook
//!   delivery whose `after` is the commit (`commits[]` with `message`,
//!   `added`, `modified`, `removed`): a commit is AI-generated when a
//!   trailer of its message names a known agent (`Co-authored-by:`) or
//!   says so (`Generated-by:`, `Assisted-by:`), or git-ai left an
//!   authorship note for it;
//! - a changed path is AI-related when it is an AI tool's instructions,
//!   prompts, model or MCP configuration ([`BUILTIN_PATHS`], and the
//!   policy's `ai_paths`).
//!
//! Signals only ever add: no event can make a change less AI than another
//! event says it is.

use serde_json::Value;

/// The actions of events that attribute the commit they name (`commit`):
/// CI change sets, attributions, AI code generation.
pub const ACTIONS: &[&str] = &[
    "vcs.change",
    "ai.commit_attributed",
    "ai.code_generated",
    "code_generated",
];

/// Known AI agents as a `Co-authored-by:` value names them (lower-case
/// substrings), and the tool recorded.
const AGENTS: &[(&str, &str)] = &[
    ("copilot", "copilot"),
    ("claude", "claude"),
    ("anthropic", "claude"),
    ("cursor", "cursor"),
    ("devin", "devin"),
    ("codex", "codex"),
    ("chatgpt", "codex"),
    ("openai", "codex"),
    ("jules", "jules"),
    ("gemini", "gemini"),
    ("aider", "aider"),
    ("openhands", "openhands"),
    ("amazon q", "amazon-q"),
    ("amazonq", "amazon-q"),
];

/// AI-related paths: `dir/` is a directory anywhere in the path, `*.x` a
/// suffix, anything else a file name (or a whole path when it has a `/`).
pub const BUILTIN_PATHS: &[&str] = &[
    "AGENTS.md",
    "CLAUDE.md",
    "GEMINI.md",
    "copilot-instructions.md",
    ".cursorrules",
    ".windsurfrules",
    ".clinerules",
    ".mcp.json",
    "mcp.json",
    "claude_desktop_config.json",
    ".aider.conf.yml",
    ".cursor/",
    ".claude/",
    ".continue/",
    ".windsurf/",
    ".github/instructions/",
    ".github/prompts/",
    ".github/chatmodes/",
    "prompts/",
    "*.prompt.md",
    "*.prompt.yml",
    "*.prompt.yaml",
    "*.instructions.md",
    "*.chatmode.md",
    "*.prompty",
];

/// Most commits and paths read from one event.
const MAX_ITEMS: usize = 2000;

/// Whether `path` matches `pattern` (see [`BUILTIN_PATHS`]).
fn path_matches(pattern: &str, path: &str) -> bool {
    let path = path.trim_start_matches("./");
    if let Some(suffix) = pattern.strip_prefix('*') {
        return path.len() > suffix.len()
            && path
                .get(path.len() - suffix.len()..)
                .is_some_and(|s| s.eq_ignore_ascii_case(suffix));
    }
    if let Some(dir) = pattern.strip_suffix('/') {
        let mut segments: Vec<&str> = path.split('/').collect();
        segments.pop();
        let want: Vec<&str> = dir.split('/').collect();
        return segments
            .windows(want.len())
            .any(|w| w.iter().zip(&want).all(|(a, b)| a.eq_ignore_ascii_case(b)));
    }
    if pattern.contains('/') {
        return path.eq_ignore_ascii_case(pattern);
    }
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.eq_ignore_ascii_case(pattern))
}

/// Whether a changed path is AI-related under the built-in list and
/// `extra`.
pub fn ai_related_path(path: &str, extra: &[String]) -> bool {
    BUILTIN_PATHS
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .any(|p| path_matches(p, path))
}

/// The AI tool a trailer (`Key: value`) names, if it attributes the commit
/// to AI.
pub fn trailer_tool(line: &str) -> Option<String> {
    let (key, value) = line.split_once(':')?;
    let key = key.trim().to_ascii_lowercase();
    let value = value.trim().to_ascii_lowercase();
    match key.as_str() {
        "co-authored-by" => AGENTS
            .iter()
            .find(|(needle, _)| value.contains(needle))
            .map(|(_, tool)| (*tool).to_owned()),
        "generated-by" | "assisted-by" if !value.is_empty() => Some(
            AGENTS
                .iter()
                .find(|(needle, _)| value.contains(needle))
                .map(|(_, tool)| (*tool).to_owned())
                .unwrap_or_else(|| first_word(&value)),
        ),
        _ => None,
    }
}

/// The first word of a value, as a tool name.
fn first_word(v: &str) -> String {
    let w: String = v
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .find(|w| !w.is_empty())
        .unwrap_or("unknown")
        .chars()
        .take(40)
        .collect();
    w
}

/// The trailers of a commit message: the lines of its last paragraph.
fn message_trailers(message: &str) -> Vec<&str> {
    let message = message.trim_end();
    let last = message.rsplit("\n\n").next().unwrap_or("");
    // The subject alone is no trailer block.
    if last.len() == message.len() {
        return Vec::new();
    }
    last.lines().collect()
}

/// One reason a commit is AI-generated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Generated {
    pub commit: String,
    pub tool: String,
    /// `trailer`, `git-ai note` or `event`.
    pub how: &'static str,
    pub event_id: String,
}

/// One AI-related path of the change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Path {
    pub path: String,
    pub event_id: String,
}

/// What the gate knows of a change's AI attribution.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Attribution {
    pub generated: Vec<Generated>,
    pub paths: Vec<Path>,
    /// The files the AI-generated commits changed (as far as the events
    /// list them per commit): SARIF findings in them are marked.
    #[serde(skip)]
    pub ai_files: Vec<String>,
}

impl Attribution {
    /// AI-generated or AI-related.
    pub fn related(&self) -> bool {
        !self.generated.is_empty() || !self.paths.is_empty()
    }

    /// The AI tools named, each once.
    pub fn tools(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self.generated.iter().map(|g| g.tool.as_str()).collect();
        t.sort_unstable();
        t.dedup();
        t
    }

    fn add(&mut self, g: Generated) {
        if !self
            .generated
            .iter()
            .any(|x| x.commit == g.commit && x.tool == g.tool)
        {
            self.generated.push(g);
        }
    }

    fn add_path(&mut self, path: &str, event_id: &str, extra: &[String]) {
        if ai_related_path(path, extra) && !self.paths.iter().any(|p| p.path == path) {
            self.paths.push(Path {
                path: path.chars().take(300).collect(),
                event_id: event_id.into(),
            });
        }
    }
}

fn get<'a>(e: &'a Value, path: &str) -> Option<&'a Value> {
    // A flattened key (`"code.origin": …`) or a nested one.
    if let Some(v) = e.get(path) {
        return Some(v);
    }
    let mut cur = e;
    for k in path.split('.') {
        cur = cur.get(k)?;
    }
    Some(cur)
}

fn text<'a>(e: &'a Value, path: &str) -> Option<&'a str> {
    get(e, path).and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_ITEMS)
        .filter_map(Value::as_str)
}

/// The attribution of `commit` from the events found for it (in any
/// order; events about other commits are ignored).
pub fn attribute(events: &[Value], commit: &str, extra_paths: &[String]) -> Attribution {
    let mut out = Attribution::default();
    let same = |v: Option<&str>| v.is_some_and(|c| c.eq_ignore_ascii_case(commit));
    for e in events {
        let id = text(e, "event.id").unwrap_or_default();
        let action = text(e, "event.action").unwrap_or_default();
        let is_push = text(e, "github.webhook.event") == Some("push") && same(text(e, "after"));
        let is_change = action == "vcs.change" && same(text(e, "commit"));
        // An attribution or code-generation event, unless it says the
        // code is not from AI (`ai_generated: false`).
        if same(text(e, "commit"))
            && action != "vcs.change"
            && ACTIONS.contains(&action)
            && text(e, "code.origin").is_none_or(|o| o == "ai")
        {
            out.add(Generated {
                commit: commit.into(),
                tool: text(e, "ai.tool.name")
                    .map(|t| first_word(&t.to_ascii_lowercase()))
                    .unwrap_or_else(|| "unknown".into()),
                how: "event",
                event_id: id.into(),
            });
        }
        if !(is_push || is_change) {
            continue;
        }
        let commits = get(e, "commits").and_then(Value::as_array);
        for c in commits.into_iter().flatten().take(MAX_ITEMS) {
            let sha = c
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or(commit)
                .chars()
                .take(64)
                .collect::<String>();
            let mut lines: Vec<&str> = c
                .get("message")
                .and_then(Value::as_str)
                .map(message_trailers)
                .unwrap_or_default();
            lines.extend(strings(c.get("trailers")));
            for tool in lines.into_iter().filter_map(trailer_tool) {
                out.add(Generated {
                    commit: sha.clone(),
                    tool,
                    how: "trailer",
                    event_id: id.into(),
                });
            }
            if c.get("git_ai_note")
                .is_some_and(|v| v == &Value::Bool(true))
            {
                out.add(Generated {
                    commit: sha.clone(),
                    tool: "git-ai".into(),
                    how: "git-ai note",
                    event_id: id.into(),
                });
            }
            let by_ai = out.generated.iter().any(|g| g.commit == sha);
            for list in ["added", "modified", "removed", "files"] {
                for p in strings(c.get(list)) {
                    out.add_path(p, id, extra_paths);
                    let p = p.trim_start_matches("./");
                    if by_ai
                        && list != "removed"
                        && out.ai_files.len() < MAX_ITEMS
                        && !out.ai_files.iter().any(|f| f == p)
                    {
                        out.ai_files.push(p.to_owned());
                    }
                }
            }
        }
        for key in ["changed_files", "github.push.files"] {
            for p in strings(get(e, key)) {
                out.add_path(p, id, extra_paths);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trailers_name_the_agent() {
        let t = |l: &str| trailer_tool(l);
        assert_eq!(
            t("Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>").as_deref(),
            Some("copilot")
        );
        assert_eq!(
            t("Co-Authored-By: Claude <noreply@anthropic.com>").as_deref(),
            Some("claude")
        );
        assert_eq!(t("Generated-by: Aider 0.86").as_deref(), Some("aider"));
        assert_eq!(t("Assisted-by: SomeBot v2").as_deref(), Some("somebot"));
        // A person co-authoring is no AI; other trailers neither.
        assert_eq!(t("Co-authored-by: Jane Doe <jane@example.com>"), None);
        assert_eq!(t("Signed-off-by: Copilot fan <x@example.com>"), None);
        assert_eq!(t("Generated-by:   "), None);
        assert_eq!(t("no trailer"), None);
    }

    #[test]
    fn only_the_last_paragraph_holds_trailers() {
        assert!(message_trailers("Generated-by: x").is_empty());
        assert_eq!(
            message_trailers("Fix\n\nGenerated-by: aider was mentioned\n\nSigned-off-by: a"),
            vec!["Signed-off-by: a"]
        );
    }

    #[test]
    fn ai_related_paths() {
        let extra = vec!["config/llm/".to_owned(), "*.modelfile".to_owned()];
        for p in [
            "AGENTS.md",
            "svc/AGENTS.md",
            ".github/copilot-instructions.md",
            ".cursor/rules/python.mdc",
            ".vscode/mcp.json",
            ".github/prompts/review.prompt.md",
            "app/prompts/system.txt",
            "config/llm/settings.toml",
            "ollama/Custom.Modelfile",
        ] {
            assert!(ai_related_path(p, &extra), "{p}");
        }
        for p in [
            "src/app.py",
            "docs/agents.md.bak",
            "prompts",
            "src/prompts.py",
            "README.md",
            "mcp.json.txt",
        ] {
            assert!(!ai_related_path(p, &extra), "{p}");
        }
    }

    #[test]
    fn events_of_the_commit_attribute_it() {
        let c = "a1b2c3";
        let events = vec![
            json!({"event": {"id": "e1", "action": "vcs.change"}, "commit": c,
                   "commits": [
                       {"id": "aaa", "message": "Retry\n\nCo-authored-by: Copilot <x@users.noreply.github.com>",
                        "files": ["./src/retry.py"]},
                       {"id": "eee", "files": ["src/human.py"]},
                       {"id": "bbb", "trailers": ["Generated-by: Aider 0.86"]},
                       {"id": "ccc", "git_ai_note": true},
                       {"id": "ddd", "message": "plain"}],
                   "changed_files": ["src/app.py", "AGENTS.md"]}),
            json!({"event": {"id": "e2", "action": "push"}, "github": {"webhook": {"event": "push"}},
                   "after": c, "commits": [{"id": c, "message": "x", "modified": [".cursor/rules/a.mdc"]}]}),
            json!({"event": {"id": "e3", "action": "ai.code_generated"}, "code": {"origin": "ai"},
                   "ai": {"tool": {"name": "Cursor"}}, "commit": c}),
            // Another commit's events count for nothing.
            json!({"event": {"id": "e4", "action": "vcs.change"}, "commit": "other",
                   "commits": [{"id": "x", "message": "m\n\nGenerated-by: y"}], "changed_files": ["CLAUDE.md"]}),
            json!({"event": {"id": "e5", "action": "deploy"}, "commit": c}),
            json!({"event": {"id": "e6", "action": "ai.commit_attributed"}, "code": {"origin": "human"},
                   "ai": {"tool": {"name": "devin"}}, "commit": c}),
        ];
        let a = attribute(&events, c, &[]);
        assert_eq!(a.tools(), vec!["aider", "copilot", "cursor", "git-ai"]);
        assert_eq!(
            a.paths.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
            vec!["AGENTS.md", ".cursor/rules/a.mdc"]
        );
        assert!(a.related());
        assert!(!attribute(&events[4..], c, &[]).related());
        assert!(!a.tools().contains(&"devin"));
        // Files of AI commits, as far as listed per commit.
        assert_eq!(a.ai_files, vec!["src/retry.py".to_owned()]);
        assert!(!attribute(&events, "zzz", &[]).related());
    }
}
