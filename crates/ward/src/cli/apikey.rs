//! `ward apikey create|list|revoke`: API keys in the data directory,
//! whether or not the server runs (it sees changes within a second).
//! `create` prints the key, alone, on standard output; it is shown only
//! this once and only its hash is kept.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use super::store::DataDir;
use crate::access::apikey::{self, NewKey};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key and print it (only this once).
    Create {
        #[command(flatten)]
        data: DataDir,
        /// What the key is for (shown in `list` and in the audit trail).
        #[arg(long)]
        name: String,
        /// viewer, analyst, engineer, auditor, admin, ingest, or a custom role.
        #[arg(long)]
        role: String,
        /// The one tenant the key acts for.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Lifetime, e.g. 90d, 12h; `never` for a key that does not expire.
        #[arg(long, default_value = "90d")]
        expires: String,
        /// Configuration file with custom roles (`[access.roles]`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List keys (never the keys themselves).
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a key by id (or by name when unique).
    Revoke {
        #[command(flatten)]
        data: DataDir,
        id: String,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let mut out = super::out();
    match cmd {
        Command::Create {
            data,
            name,
            role,
            tenant,
            expires,
            config,
        } => {
            let roles = match &config {
                Some(p) => crate::config::load(Some(p))?.roles,
                None => crate::access::Roles::default(),
            };
            if roles.get(&role).is_none() {
                bail!(
                    "unknown role {role:?}: use one of {}",
                    roles.names().collect::<Vec<_>>().join(", ")
                );
            }
            if !crate::access::valid_tenant(&tenant) {
                bail!("--tenant: {}", crate::access::TENANT_RULE);
            }
            let expires = match expires.as_str() {
                "never" => None,
                e => Some(
                    crate::config::parse_duration(e)
                        .map_err(|why| anyhow::anyhow!("--expires: {why}"))?,
                ),
            };
            let created_by = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            let (key, rec) = apikey::create(
                &data.data_dir,
                &NewKey {
                    name: &name,
                    role: &role,
                    tenant: &tenant,
                    created_by: &created_by,
                    expires,
                },
            )?;
            writeln!(out, "{key}")?;
            let until = rec
                .expires_at
                .map_or_else(|| "never".to_owned(), |t| t.to_string());
            eprintln!(
                "created API key {} ({name}, role {role}, tenant {tenant}, expires {until}); it is shown only now",
                rec.id
            );
        }
        Command::List { data } => {
            let now = jiff::Timestamp::now();
            let keys = apikey::read(&data.data_dir)?;
            writeln!(
                out,
                "{:<16}  {:<20}  {:<10}  {:<16}  {:<8}  EXPIRES",
                "ID", "NAME", "ROLE", "TENANT", "STATE"
            )?;
            for k in keys {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.active(now) {
                    "active"
                } else {
                    "expired"
                };
                let until = k
                    .expires_at
                    .map_or_else(|| "never".to_owned(), |t| t.to_string());
                writeln!(
                    out,
                    "{:<16}  {:<20}  {:<10}  {:<16}  {:<8}  {}",
                    k.id,
                    super::escape::cell(&k.name),
                    super::escape::cell(&k.role),
                    super::escape::cell(&k.tenant),
                    state,
                    until
                )?;
            }
        }
        Command::Revoke { data, id } => {
            let rec = apikey::revoke(&data.data_dir, &id)?;
            writeln!(
                out,
                "revoked {} ({})",
                rec.id,
                super::escape::cell(&rec.name)
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
