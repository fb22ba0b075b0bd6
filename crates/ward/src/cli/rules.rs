//! `ward rules check` validates and lints rule files (`file:line: reason`,
//! exit 1 on errors); `ward rules test` shows which rules match which
//! events of a file, and the fields that matched.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::detect::{self, Hunt, Prepare};

/// `ward rules …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate and lint Sigma and Ward metric rules: prints `file:line: reason`
    /// for every problem and exits 1 if any rule cannot load.
    Check(CheckArgs),
    /// Run rules over a file of events and show which rules match which
    /// events, with the fields that matched.
    Test(TestArgs),
    /// What the running server's detection could see: log sources with
    /// events, rules that could not have fired, events no rule could see,
    /// ATT&CK coverage.
    Coverage(super::coverage::Args),
}

/// Arguments of `ward rules check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Extra field-mapping pipeline files (the built-in ones always load).
    #[arg(long = "pipeline")]
    pub pipelines: Vec<PathBuf>,
    /// Treat lint warnings as errors (exit 1).
    #[arg(long)]
    pub strict: bool,
}

/// Arguments of `ward rules test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Rule files or directories.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// Events: NDJSON, a JSON array, or evtx_dump JSON.
    #[arg(long, short = 'e')]
    pub events: PathBuf,
    /// Extra field-mapping pipeline files.
    #[arg(long = "pipeline")]
    pub pipelines: Vec<PathBuf>,
    /// Match the events as they are (no normalization, redaction, scoring).
    #[arg(long)]
    pub raw: bool,
    /// One JSON object per match instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `ward rules …`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Check(a) => check(a),
        Command::Test(a) => test(a),
        Command::Coverage(a) => super::coverage::show(a),
    }
}

const ATTACK_EXEMPT_LEVELS: &[&str] = &["informational", "low"];

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    for p in &args.paths {
        if !p.exists() {
            anyhow::bail!("{} does not exist", p.display());
        }
    }
    let (loaded, errors) = detect::load_rules(false, &args.paths, &args.pipelines);
    let hunt = Hunt::new(loaded);
    let mut out = super::out();
    for e in &errors {
        writeln!(out, "{}", with_severity(e, "error"))?;
    }
    let mut warnings = Vec::new();
    for l in ward_sigma::lint::check(&hunt.loaded().set) {
        warnings.push(format!(
            "{}:{}: warning: {} ({})",
            l.origin, l.line, l.message, l.rule
        ));
    }
    for m in hunt.loaded().set.rules() {
        if m.kind == ward_sigma::RuleKind::Filter
            || (m.kind == ward_sigma::RuleKind::Detection && hunt.is_building_block(&m.key()))
        {
            continue;
        }
        let level = m.level.as_deref().unwrap_or("medium");
        let at = format!("{}:{}", m.origin, m.line);
        if !m.custom.contains_key("runbook") {
            warnings.push(format!(
                "{at}: warning: no `runbook`: say what the responder does first ({})",
                m.key()
            ));
        }
        if m.falsepositives.is_empty() {
            warnings.push(format!("{at}: warning: no `falsepositives` ({})", m.key()));
        }
        if !ATTACK_EXEMPT_LEVELS.contains(&level)
            && !m.tags.iter().any(|t| t.starts_with("attack."))
        {
            warnings.push(format!(
                "{at}: warning: no ATT&CK `tags` on a {level} rule ({})",
                m.key()
            ));
        }
    }
    for w in &warnings {
        writeln!(out, "{w}")?;
    }
    out.flush()?;
    let rules = hunt.loaded().set.len() + hunt.loaded().metric.len();
    eprintln!(
        "{rules} rules loaded, {} errors, {} warnings",
        errors.len(),
        warnings.len()
    );
    let failed = !errors.is_empty() || (args.strict && !warnings.is_empty());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `origin:line: reason` becomes `origin:line: error: reason`.
fn with_severity(message: &str, severity: &str) -> String {
    let mut parts = message.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(file), Some(line), Some(rest))
            if line.chars().all(|c| c.is_ascii_digit()) && !line.is_empty() =>
        {
            format!("{file}:{line}: {severity}:{rest}")
        }
        _ => format!("{severity}: {message}"),
    }
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let (loaded, errors) = detect::load_rules(false, &args.rules, &args.pipelines);
    for e in &errors {
        eprintln!("{}", with_severity(e, "error"));
    }
    let mut hunt = Hunt::new(loaded);
    hunt.show_building_blocks = true;
    let (raws, input_errors) = detect::read_all(&args.events);
    for e in &input_errors {
        eprintln!("{e}");
    }
    let prepare = if args.raw {
        None
    } else {
        Some(Prepare::new(None)?)
    };
    let mut out = super::out();
    let (mut events, mut matched, mut bad_events) = (0u64, 0u64, 0usize);
    for raw in raws {
        events += 1;
        let position = raw.position.clone();
        let mut event = match Prepare::prepare(prepare.as_ref(), raw, None) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{e}");
                bad_events += 1;
                continue;
            }
        };
        let hits = hunt.feed(&mut event, &position);
        if !args.json {
            writeln!(
                out,
                "{position}: log source {} -> {}",
                detect::logsource_label(&event),
                hunt.describe_seen()
            )?;
        }
        if !hits.is_empty() {
            matched += 1;
        }
        for h in hits {
            let role = if hunt.is_building_block(&h.rule_id) {
                " (building block)"
            } else {
                ""
            };
            if args.json {
                let line = json!({
                    "position": h.position,
                    "event.id": h.event_id,
                    "rule.id": h.rule_id,
                    "rule.title": h.title,
                    "rule.level": h.level,
                    "rule.kind": h.kind,
                    "building_block": !role.is_empty(),
                    "fields": detect::fields_json(&h.fields),
                    "group": h.group,
                    "value": h.value,
                });
                writeln!(out, "{line}")?;
                continue;
            }
            writeln!(
                out,
                "{}: {} [{}] {}{role} ({})",
                h.position, h.kind, h.level, h.title, h.rule_id
            )?;
            for f in &h.fields {
                let name = if f.event_field.is_empty() {
                    "keyword"
                } else {
                    &f.event_field
                };
                writeln!(out, "    {name} = {}", quote(&f.value))?;
            }
            if !h.group.is_empty() {
                let g: Vec<String> = h
                    .group
                    .iter()
                    .map(|(k, v)| format!("{k}={}", quote(v)))
                    .collect();
                writeln!(
                    out,
                    "    group {} value {}",
                    g.join(" "),
                    h.value.map(|v| v.to_string()).unwrap_or_default()
                )?;
            }
        }
    }
    out.flush()?;
    eprintln!("{matched} of {events} events matched");
    let failed = !errors.is_empty() || !input_errors.is_empty() || bad_events > 0;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A value for display: quoted, long values shortened.
fn quote(v: &str) -> String {
    let short: String = v.chars().take(120).collect();
    if short.len() < v.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_goes_after_the_position() {
        assert_eq!(
            with_severity("r.yml:12: unknown level", "error"),
            "r.yml:12: error: unknown level"
        );
        assert_eq!(
            with_severity("pipelines:0: bad", "error"),
            "pipelines:0: error: bad"
        );
        assert_eq!(with_severity("no position", "error"), "error: no position");
    }
}
