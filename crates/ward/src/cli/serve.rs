//! `ward serve`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML); without it every setting has its default.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Send every alert to this webhook (also WARD_ALERT_WEBHOOK_URL).
    #[arg(long, env = "WARD_ALERT_WEBHOOK_URL", hide_env_values = true)]
    pub alert_webhook: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::init_logging()?;
    let mut config = crate::config::load(args.config.as_deref())?;
    if let Some(url) = args.alert_webhook {
        config.alert_webhook = Some(crate::secret::Secret::new(url));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(crate::serve::run(config))?;
    Ok(ExitCode::SUCCESS)
}
