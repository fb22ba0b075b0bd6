//! `ward users add|list|disable|enable|passwd|remove`: local users in the
//! data directory, whether or not the server runs (it sees changes within
//! a second). A password is read from the terminal without echo, or with
//! `--password-stdin` as the first line of standard input; it is never
//! printed. Disabling, removing or changing the password of a user ends
//! their browser sessions.

use std::io::{BufRead as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::store::DataDir;
use crate::access::session;
use crate::access::users::{self, NewUser};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a user (asks for the password).
    Add {
        #[command(flatten)]
        data: DataDir,
        /// The user name people log in with.
        name: String,
        /// viewer, analyst, engineer, auditor, admin, or a custom role.
        #[arg(long)]
        role: String,
        /// The one tenant the user acts for.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Configuration file with custom roles (`[access.roles]`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List users (never their passwords).
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Disable a user: they cannot log in, their sessions end.
    Disable {
        #[command(flatten)]
        data: DataDir,
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[command(flatten)]
        data: DataDir,
        name: String,
    },
    /// Set a user's password (their sessions end).
    Passwd {
        #[command(flatten)]
        data: DataDir,
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user (their sessions end).
    Remove {
        #[command(flatten)]
        data: DataDir,
        name: String,
    },
    /// List browser sessions (local and single sign-on), oldest first.
    Sessions {
        #[command(flatten)]
        data: DataDir,
        /// Only this person's sessions.
        #[arg(long)]
        user: Option<String>,
    },
    /// End a session by the id `sessions` shows, or every session of a
    /// person with --user.
    RevokeSession {
        #[command(flatten)]
        data: DataDir,
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<String>,
        #[arg(long)]
        user: Option<String>,
    },
}

/// Ends every stored session of `name` (disabling, removing or a new
/// password ends them at the next request in any case).
fn end_sessions(data_dir: &std::path::Path, name: &str) -> anyhow::Result<usize> {
    let conn = session::open_db(data_dir)?;
    session::revoke_where(&conn, None, Some(name))
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    let mut out = super::out();
    match cmd {
        Command::Add {
            data,
            name,
            role,
            tenant,
            password_stdin,
            config,
        } => {
            let roles = match &config {
                Some(p) => crate::config::load(Some(p))?.roles,
                None => crate::access::Roles::default(),
            };
            if roles.get(&role).is_none() || role == "ingest" {
                bail!(
                    "--role {role:?}: use one of {} (ingest is for shippers, not people)",
                    roles
                        .names()
                        .filter(|r| *r != "ingest")
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !users::valid_name(&name) {
                bail!("{}", users::NAME_RULE);
            }
            if !crate::access::valid_tenant(&tenant) {
                bail!("--tenant: {}", crate::access::TENANT_RULE);
            }
            let password = new_password(password_stdin)?;
            let created_by = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            let rec = users::add(
                &data.data_dir,
                &NewUser {
                    name: &name,
                    role: &role,
                    tenant: &tenant,
                    password: &password,
                    created_by: &created_by,
                },
            )?;
            writeln!(
                out,
                "added user {} (role {}, tenant {})",
                rec.name, rec.role, rec.tenant
            )?;
        }
        Command::List { data } => {
            writeln!(
                out,
                "{:<24}  {:<10}  {:<16}  {:<8}  CHANGED",
                "NAME", "ROLE", "TENANT", "STATE"
            )?;
            for u in users::read(&data.data_dir)? {
                writeln!(
                    out,
                    "{:<24}  {:<10}  {:<16}  {:<8}  {}",
                    super::escape::cell(&u.name),
                    super::escape::cell(&u.role),
                    super::escape::cell(&u.tenant),
                    if u.active() { "active" } else { "disabled" },
                    u.changed_at
                )?;
            }
        }
        Command::Disable { data, name } => {
            let u = users::set_disabled(&data.data_dir, &name, true)?;
            end_sessions(&data.data_dir, &u.name)?;
            writeln!(out, "disabled {}; their sessions end", u.name)?;
        }
        Command::Enable { data, name } => {
            let u = users::set_disabled(&data.data_dir, &name, false)?;
            writeln!(out, "enabled {}", u.name)?;
        }
        Command::Passwd {
            data,
            name,
            password_stdin,
        } => {
            if !users::read(&data.data_dir)?.iter().any(|u| u.name == name) {
                bail!("no user is named {name:?} (see `ward users list`)");
            }
            let password = new_password(password_stdin)?;
            let u = users::set_password(&data.data_dir, &name, &password)?;
            end_sessions(&data.data_dir, &u.name)?;
            writeln!(
                out,
                "changed the password of {}; their sessions end",
                u.name
            )?;
        }
        Command::Remove { data, name } => {
            let u = users::remove(&data.data_dir, &name)?;
            end_sessions(&data.data_dir, &u.name)?;
            writeln!(out, "removed {}; their sessions end", u.name)?;
        }
        Command::Sessions { data, user } => {
            let conn = session::open_db(&data.data_dir)?;
            writeln!(
                out,
                "{:<16}  {:<24}  {:<5}  {:<10}  {:<16}  {:<20}  LAST SEEN",
                "ID", "USER", "VIA", "ROLE", "TENANT", "LOGGED IN"
            )?;
            let second = |t: jiff::Timestamp| t.round(jiff::Unit::Second).unwrap_or(t);
            for s in session::list(&conn, user.as_deref())? {
                writeln!(
                    out,
                    "{:<16}  {:<24}  {:<5}  {:<10}  {:<16}  {:<20}  {}",
                    s.id,
                    super::escape::cell(&s.user),
                    s.via,
                    super::escape::cell(&s.role),
                    super::escape::cell(&s.tenant),
                    second(s.created_at),
                    second(s.last_seen_at)
                )?;
            }
        }
        Command::RevokeSession { data, id, user } => {
            let conn = session::open_db(&data.data_dir)?;
            let n = session::revoke_where(&conn, id.as_deref(), user.as_deref())?;
            if n == 0 {
                bail!("no session has that id or user (see `ward users sessions`)");
            }
            writeln!(out, "ended {n} session{}", if n == 1 { "" } else { "s" })?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A new password: the first line of standard input, or typed twice at
/// the terminal without echo. Its length is checked before anything else.
fn new_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take(users::MAX_PASSWORD as u64 + 2)
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        line.strip_suffix('\r').unwrap_or(line).to_owned()
    } else {
        let first = read_hidden("Password: ")?;
        users::check_password(&first)?;
        let again = read_hidden("Again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    };
    users::check_password(&password)?;
    Ok(password)
}

/// Reads a line from the controlling terminal with echo off.
fn read_hidden(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("no terminal to read the password from: pipe it with --password-stdin")?;
    let before = tcgetattr(&tty).context("cannot read the terminal's settings")?;
    let mut quiet = before.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&tty, OptionalActions::Flush, &quiet).context("cannot turn the echo off")?;
    /// Turns the echo back on however the read ends.
    struct Restore<'a>(&'a std::fs::File, rustix::termios::Termios);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = tcsetattr(self.0, OptionalActions::Now, &self.1);
        }
    }
    let _restore = Restore(&tty, before);
    (&tty).write_all(prompt.as_bytes())?;
    let mut line = String::new();
    std::io::BufReader::new(&tty)
        .take(users::MAX_PASSWORD as u64 + 2)
        .read_line(&mut line)
        .context("cannot read the password from the terminal")?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_owned())
}
