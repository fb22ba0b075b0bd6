//! `ward cluster status`: the nodes of a cluster, the partitions each
//! owns, how far behind each is, read from the brokers.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

/// `ward cluster …`
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Nodes, partitions owned, lag and snapshot age, from their heartbeats.
    Status {
        /// The configuration with `[cluster]` (brokers, topic prefix).
        #[arg(long, env = "WARD_CONFIG")]
        config: PathBuf,
        /// Print the heartbeats as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(c: Command) -> anyhow::Result<std::process::ExitCode> {
    let Command::Status { config, json } = c;
    let cfg = crate::config::load(Some(&config))?;
    let settings = cfg.cluster.with_context(|| {
        format!(
            "{}: cluster mode is off ([cluster] enabled = true)",
            config.display()
        )
    })?;
    let nodes = crate::cluster::status::read(&settings, Duration::from_secs(15))?;
    let mut out = super::out();
    use std::io::Write as _;
    if json {
        serde_json::to_writer_pretty(&mut out, &nodes)?;
        writeln!(out)?;
    } else if nodes.is_empty() {
        writeln!(
            out,
            "no node has reported to {} yet",
            settings.nodes_topic()
        )?;
    } else {
        let now = jiff::Timestamp::now().as_millisecond();
        write!(out, "{}", crate::cluster::status::render(&nodes, now))?;
    }
    out.flush()?;
    Ok(std::process::ExitCode::SUCCESS)
}
