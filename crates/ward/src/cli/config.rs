//! `ward config example|check`

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a fully commented configuration file.
    Example,
    /// Check a configuration file and print every problem.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let mut out = super::out();
    match cmd {
        Command::Example => out.write_all(crate::config::EXAMPLE.as_bytes())?,
        Command::Check { file } => {
            crate::config::load(Some(&file))?;
            writeln!(out, "{}: ok", file.display())?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
