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
    /// Changes the number of correlation partitions, with every node
    /// stopped: deletes `<prefix>corr`, `<prefix>corr-state` and the
    /// group's offsets and creates them with the new count (open windows
    /// start empty). Then set `cluster.corr_partitions` to the new count on
    /// every node and start them.
    Repartition {
        /// The configuration with `[cluster]` (brokers, topic prefix).
        #[arg(long, env = "WARD_CONFIG")]
        config: PathBuf,
        /// The new number of `<prefix>corr` partitions.
        #[arg(long)]
        corr_partitions: i32,
        /// Go on although copies in `<prefix>corr` were not evaluated yet
        /// (their events stay stored; rules do not see them).
        #[arg(long)]
        discard_unevaluated: bool,
    },
}

fn settings(config: &std::path::Path) -> anyhow::Result<std::sync::Arc<crate::cluster::Settings>> {
    let cfg = crate::config::load(Some(config))?;
    cfg.cluster.with_context(|| {
        format!(
            "{}: cluster mode is off ([cluster] enabled = true)",
            config.display()
        )
    })
}

pub fn run(c: Command) -> anyhow::Result<std::process::ExitCode> {
    let (config, json) = match c {
        Command::Status { config, json } => (config, json),
        Command::Repartition {
            config,
            corr_partitions,
            discard_unevaluated,
        } => return repartition(&config, corr_partitions, discard_unevaluated),
    };
    let settings = settings(&config)?;
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

fn repartition(
    config: &std::path::Path,
    to: i32,
    discard_unevaluated: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let settings = settings(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = rt.block_on(crate::cluster::repartition::run(
        &settings,
        to,
        discard_unevaluated,
    ))?;
    let mut out = super::out();
    use std::io::Write as _;
    writeln!(
        out,
        "{} and {}: {} partitions, now {}; {} unevaluated copies dropped. \
         Set cluster.corr_partitions = {} on every node, then start them: open \
         correlation windows, metric rules and baselines start empty.",
        settings.corr_topic(),
        settings.state_topic(),
        done.from,
        done.to,
        done.discarded,
        done.to
    )?;
    out.flush()?;
    Ok(std::process::ExitCode::SUCCESS)
}
