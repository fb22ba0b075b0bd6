//! `ward compliance …`: the posture from a running server
//! (`GET /api/v1/compliance`), one control, attestations, and `diff`
//! against a baseline for CI. Exit codes: 0 done (and, for `diff`, no
//! regression), 1 a regression or a refusal, 2 the server could not be
//! reached (an error).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::{Value, json};

use super::alerts::Format;
use super::client::Client;
use super::escape::cell;

/// `ward compliance`.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Every control with its state and mapped framework ids, and the
    /// score and coverage of each framework.
    Status {
        /// Only this framework (e.g. pci-dss, soc2, nist-800-53).
        #[arg(long)]
        framework: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// One control: state, reason, definition, requirements, history.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Compare the posture with a baseline (`status --format json` saved
    /// earlier); exit 1 when a control that passed no longer does or a
    /// framework's score went down.
    Diff {
        #[arg(long)]
        baseline: PathBuf,
        #[arg(long)]
        framework: Option<String>,
    },
    /// Attest a manual control.
    Attest {
        id: String,
        /// pass or fail.
        #[arg(long, default_value = "pass")]
        result: String,
        /// What was checked, by whom, where the record is.
        #[arg(long)]
        note: String,
        /// How long the attestation holds (at most the control's
        /// max_validity, the default), e.g. 90d.
        #[arg(long)]
        expires_in: Option<String>,
    },
}

/// Runs a `ward compliance` command against `remote`.
pub fn run(cmd: Command, remote: &super::Remote) -> anyhow::Result<ExitCode> {
    let client = Client::new(remote)?;
    let mut out = super::out();
    let code = match cmd {
        Command::Status { framework, format } => {
            let v = status(&client, framework.as_deref())?;
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?,
                Format::Table => write!(out, "{}", table(&v))?,
            }
            ExitCode::SUCCESS
        }
        Command::Show { id, format } => {
            let v = client.get_json(&format!("/api/v1/compliance/{}", path_segment(&id)), &[])?;
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?,
                Format::Table => write!(out, "{}", details(&v))?,
            }
            ExitCode::SUCCESS
        }
        Command::Diff {
            baseline,
            framework,
        } => {
            let text = std::fs::read_to_string(&baseline)
                .with_context(|| format!("cannot read the baseline {}", baseline.display()))?;
            let base: Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a posture (save one with ward compliance status --format json)",
                    baseline.display()
                )
            })?;
            let now = status(&client, framework.as_deref())?;
            let regressions = diff(&base, &now);
            for r in &regressions {
                writeln!(out, "REGRESSION: {r}")?;
            }
            if regressions.is_empty() {
                writeln!(out, "ok: no control or framework regressed")?;
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Attest {
            id,
            result,
            note,
            expires_in,
        } => {
            let mut body = json!({"result": result, "note": note});
            if let Some(e) = expires_in {
                body["expires_in"] = json!(e);
            }
            let v = client.post_json(
                &format!("/api/v1/compliance/{}/attest", path_segment(&id)),
                &body,
            )?;
            let c = &v["control"];
            writeln!(
                out,
                "{}: {} ({})",
                cell(c["id"].as_str().unwrap_or("")),
                cell(c["state"].as_str().unwrap_or("")),
                cell(c["reason"].as_str().unwrap_or(""))
            )?;
            ExitCode::SUCCESS
        }
    };
    out.flush()?;
    Ok(code)
}

fn status(client: &Client, framework: Option<&str>) -> anyhow::Result<Value> {
    let q: Vec<(&str, String)> = framework
        .map(|f| vec![("framework", f.to_owned())])
        .unwrap_or_default();
    client.get_json("/api/v1/compliance", &q)
}

/// A control id as one URL path segment.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_()".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn score_text(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "n/a".to_owned(), |s| format!("{:.0}%", s * 100.0))
}

/// The posture as two tables: frameworks, then controls.
pub fn table(v: &Value) -> String {
    let mut s = String::new();
    let empty = Vec::new();
    s += &format!(
        "{:<16} {:>6} {:>9} {:>5} {:>5} {:>5} {:>5} {:>7}\n",
        "FRAMEWORK", "SCORE", "COVERAGE", "PASS", "FAIL", "ERROR", "UNKN", "CONTROLS"
    );
    for f in v["frameworks"].as_array().unwrap_or(&empty) {
        let n = |k: &str| f["states"][k].as_u64().unwrap_or(0);
        s += &format!(
            "{:<16} {:>6} {:>8.0}% {:>5} {:>5} {:>5} {:>5} {:>7}\n",
            cell(f["framework"].as_str().unwrap_or("")),
            score_text(&f["score"]),
            f["coverage"].as_f64().unwrap_or(0.0) * 100.0,
            n("pass"),
            n("fail"),
            n("error"),
            n("unknown"),
            f["controls"].as_u64().unwrap_or(0)
        );
    }
    s += "\n";
    s += &format!(
        "{:<8} {:<14} {:<8} {:<20} {}\n",
        "CONTROL", "STATE", "SEVERITY", "OWNER", "MAPPED TO"
    );
    for c in v["controls"].as_array().unwrap_or(&empty) {
        let maps: Vec<String> = c["mappings"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|m| {
                format!(
                    "{}:{}",
                    m["framework"].as_str().unwrap_or(""),
                    m["id"].as_str().unwrap_or("")
                )
            })
            .collect();
        s += &format!(
            "{:<8} {:<14} {:<8} {:<20} {}\n",
            cell(c["id"].as_str().unwrap_or("")),
            cell(c["state"].as_str().unwrap_or("")),
            cell(c["severity"].as_str().unwrap_or("")),
            cell(c["owner"].as_str().unwrap_or("")),
            cell(&maps.join(" "))
        );
    }
    for e in v["load_errors"].as_array().unwrap_or(&empty) {
        s += &format!("load error: {}\n", cell(e.as_str().unwrap_or("")));
    }
    s
}

fn details(v: &Value) -> String {
    let c = &v["control"];
    let t = |x: &Value| cell(x.as_str().unwrap_or(""));
    let mut s = format!(
        "{}  {}\nstate:     {}\nreason:    {}\nowner:     {}\nseverity:  {}\ncheck:     {}\nevaluated: {}\n",
        t(&c["id"]),
        t(&c["title"]),
        t(&c["state"]),
        t(&c["reason"]),
        t(&c["owner"]),
        t(&c["severity"]),
        t(&c["check"]),
        t(&c["evaluated_at"]),
    );
    let empty = Vec::new();
    s += "requirements:\n";
    for r in v["requirements"].as_array().unwrap_or(&empty) {
        s += &format!(
            "  {} {} {} ({}): {}\n",
            t(&r["framework"]),
            t(&r["version"]),
            t(&r["id"]),
            t(&r["relationship"]),
            t(&r["summary"])
        );
    }
    for q in c["queries"].as_array().unwrap_or(&empty) {
        s += &format!(
            "query:     {}  [{} .. {}]\n",
            t(&q["query"]),
            t(&q["since"]),
            t(&q["until"])
        );
    }
    s += "history (newest last):\n";
    let hist = v["history"].as_array().unwrap_or(&empty);
    for h in hist.iter().rev().take(20).rev() {
        s += &format!(
            "  {}  {:<14} {}\n",
            t(&h["time"]),
            t(&h["state"]),
            t(&h["reason"])
        );
    }
    s
}

/// What regressed from `base` to `now`: controls that passed and no longer
/// do (or disappeared), and frameworks whose score went down or that lost
/// their score.
pub fn diff(base: &Value, now: &Value) -> Vec<String> {
    let empty = Vec::new();
    let states = |v: &Value| -> std::collections::BTreeMap<String, String> {
        v["controls"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(|c| {
                Some((
                    c["id"].as_str()?.to_owned(),
                    c["state"].as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    let (b, n) = (states(base), states(now));
    let mut out = Vec::new();
    for (id, st) in &b {
        if st != "pass" {
            continue;
        }
        match n.get(id) {
            Some(s) if s == "pass" => {}
            Some(s) => out.push(format!("control {} was pass, is {}", cell(id), cell(s))),
            None => out.push(format!(
                "control {} was pass, is no longer evaluated",
                cell(id)
            )),
        }
    }
    let scores = |v: &Value| -> std::collections::BTreeMap<String, Option<f64>> {
        v["frameworks"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(|f| Some((f["framework"].as_str()?.to_owned(), f["score"].as_f64())))
            .collect()
    };
    let (bs, ns) = (scores(base), scores(now));
    for (fw, before) in &bs {
        let Some(before) = before else { continue };
        match ns.get(fw).copied().flatten() {
            Some(after) if after + 1e-9 >= *before => {}
            Some(after) => out.push(format!(
                "framework {} score {:.0}% -> {:.0}%",
                cell(fw),
                before * 100.0,
                after * 100.0
            )),
            None => out.push(format!("framework {} has no score any more", cell(fw))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posture(states: &[(&str, &str)], score: Option<f64>) -> Value {
        json!({
            "frameworks": [{"framework": "soc2", "score": score, "coverage": 1.0, "states": {}, "controls": 2}],
            "controls": states.iter().map(|(id, s)| json!({"id": id, "state": s})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn a_control_leaving_pass_or_a_lower_score_is_a_regression() {
        let base = posture(&[("A", "pass"), ("B", "fail")], Some(0.5));
        assert!(diff(&base, &base).is_empty());
        let better = posture(&[("A", "pass"), ("B", "pass")], Some(1.0));
        assert!(diff(&base, &better).is_empty());
        let worse = posture(&[("A", "unknown"), ("B", "fail")], Some(0.0));
        let r = diff(&base, &worse);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[0].contains("A was pass, is unknown"));
        let gone = posture(&[("B", "fail")], None);
        let r = diff(&base, &gone);
        assert!(r.iter().any(|x| x.contains("no longer evaluated")), "{r:?}");
        assert!(r.iter().any(|x| x.contains("no score")), "{r:?}");
    }

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(path_segment("LOG-01"), "LOG-01");
        assert_eq!(path_segment("../x y"), "%2E%2E%2Fx%20y");
    }
}
