//! `ward evidence export` (from a running server) and `ward evidence
//! verify` (offline, with only the store's public key).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::client::Client;
use super::escape::cell;

/// `ward evidence`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export a signed evidence bundle: per control its definition,
    /// results over time, exact queries, population with inclusion
    /// proofs, and OSCAL assessment results.
    Export {
        #[command(flatten)]
        remote: super::Remote,
        /// A new (or empty) directory.
        #[arg(long)]
        out: PathBuf,
        /// Only controls mapped to this framework.
        #[arg(long)]
        framework: Option<String>,
        /// Start of the period: a duration ago (90d) or a date.
        #[arg(long, default_value = "90d")]
        since: String,
    },
    /// Check a bundle offline; names every file that does not match.
    Verify {
        dir: PathBuf,
        /// The store's public key (`ward key`), as text or a file.
        #[arg(long)]
        key: String,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let mut out = super::out();
    let code = match cmd {
        Command::Export {
            remote,
            out: dir,
            framework,
            since,
        } => {
            let client = Client::new(&remote)?;
            let mut q = vec![("since", since)];
            if let Some(f) = framework {
                q.push(("framework", f));
            }
            let v = client.get_json("/api/v1/evidence/export", &q)?;
            let files = v["files"]
                .as_object()
                .context("the server answered without files")?;
            let files = files
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().unwrap_or_default().as_bytes().to_vec(),
                    )
                })
                .collect();
            crate::compliance::evidence::write(&dir, &files)?;
            writeln!(out, "wrote {} files to {}", files.len(), dir.display())?;
            ExitCode::SUCCESS
        }
        Command::Verify { dir, key } => {
            let key = super::store::key_text(&key)?;
            let problems = crate::compliance::evidence::verify(&dir, &key);
            for p in &problems {
                writeln!(out, "FAILED: {}", cell(p))?;
            }
            if problems.is_empty() {
                writeln!(
                    out,
                    "ok: every file matches the signed manifest and every proof verifies"
                )?;
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    };
    out.flush()?;
    Ok(code)
}
