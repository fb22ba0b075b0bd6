//! Commands on the store files themselves (no server needed):
//! `ward verify`, `ward archive`, `ward retention`, `ward key`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

/// Where the data directory is.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDir {
    /// Data directory of the Ward whose store to use.
    #[arg(long, env = "WARD_DATA_DIR", default_value = "./ward-data")]
    pub data_dir: PathBuf,
}

impl DataDir {
    /// The store's own directory.
    pub fn events(&self) -> PathBuf {
        self.data_dir.join("events")
    }
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Verify an archive (made by `ward archive`) instead: a directory or
    /// `s3://bucket/prefix` (credentials from `[archive.s3]` of `--config`
    /// and the `AWS_*` variables).
    #[arg(long, conflicts_with = "proof")]
    pub archive: Option<String>,
    /// Configuration file whose `[archive.s3]` holds the S3 credentials
    /// (and `[store]` the token of an HTTP witness).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Check one inclusion proof offline (from `GET /api/v1/events/{id}/proof`).
    #[arg(long, requires = "key")]
    pub proof: Option<PathBuf>,
    /// Check a consistency proof offline (from `GET /api/v1/store/consistency`).
    #[arg(long, requires = "key", conflicts_with = "proof")]
    pub consistency: Option<PathBuf>,
    /// Public key (the text, or a file holding it) for offline checks.
    #[arg(long)]
    pub key: Option<String>,
    /// Also check the checkpoints a witness holds (`store.witness`): a
    /// store rolled back or rewritten since they were copied fails.
    /// A directory, `s3://bucket/prefix` or `https://host/path` (token
    /// and allowed addresses from `[store]` of `--config`).
    #[arg(long, conflicts_with_all = ["proof", "consistency"])]
    pub witness: Option<String>,
    /// Print the full report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn key_text(k: &str) -> anyhow::Result<String> {
    if Path::new(k).is_file() {
        Ok(std::fs::read_to_string(k)
            .with_context(|| format!("cannot read key file {k}"))?
            .trim()
            .to_owned())
    } else {
        Ok(k.trim().to_owned())
    }
}

pub fn verify(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut out = super::out();
    let code = if let Some(p) = &a.proof {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        let proof: ward_store::InclusionProof = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an inclusion proof", p.display()))?;
        let key = key_text(a.key.as_deref().unwrap_or_default())?;
        let checked = ward_store::verify_inclusion(&proof, &key);
        if !proof.duplicate_offsets.is_empty() {
            writeln!(
                out,
                "warning: {} other stored record(s) carry event id {:?} (offsets {:?}); this proof is for the one at offset {}",
                proof.duplicate_offsets.len(),
                proof.event_id,
                proof.duplicate_offsets,
                proof.leaf_index
            )?;
        }
        outcome(&mut out, checked, "the event is included in the signed log")?
    } else if let Some(p) = &a.consistency {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        let proof: ward_store::ConsistencyProof = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a consistency proof", p.display()))?;
        let key = key_text(a.key.as_deref().unwrap_or_default())?;
        let checked = ward_store::verify_consistency(&proof, &key);
        outcome(
            &mut out,
            checked,
            "the newer checkpoint extends the older one",
        )?
    } else {
        verify_store(&mut out, &a)?
    };
    out.flush()?;
    Ok(code)
}

/// Prints the outcome of an offline proof check.
fn outcome(
    out: &mut super::Out,
    checked: Result<(), ward_store::ProofError>,
    ok: &str,
) -> anyhow::Result<ExitCode> {
    Ok(match checked {
        Ok(()) => {
            writeln!(out, "ok: {ok}")?;
            ExitCode::SUCCESS
        }
        Err(e) => {
            writeln!(out, "FAILED: {e}")?;
            ExitCode::from(1)
        }
    })
}

/// The `[archive.s3]` settings of `--config` (defaults without one).
fn s3_settings(config: Option<&Path>) -> anyhow::Result<crate::config::S3Config> {
    Ok(match config {
        Some(p) => crate::config::load(Some(p))?.raw.archive.s3,
        None => crate::config::S3Config::default(),
    })
}

/// The `[store]` witness settings of `--config` (token, allowed
/// destinations) for reading the `http(s)://` witness `url`.
fn http_witness_settings(
    config: Option<&Path>,
    url: &str,
) -> anyhow::Result<crate::config::StoreSection> {
    let mut store = match config {
        Some(p) => crate::config::load(Some(p))?.raw.store,
        None => crate::config::StoreSection::default(),
    };
    store.witness = url.to_owned();
    Ok(store)
}

/// Verifies the store (or an archive) and prints the report.
fn verify_store(out: &mut super::Out, a: &VerifyArgs) -> anyhow::Result<ExitCode> {
    // A bucket is read into a private scratch directory first; problems
    // are then named by their object.
    let mut scratch = Vec::new();
    let mut shown: Vec<(String, String)> = Vec::new();
    let s3 = if a.archive.as_deref().is_some_and(|x| x.starts_with("s3://"))
        || a.witness.as_deref().is_some_and(|x| x.starts_with("s3://"))
    {
        Some(s3_settings(a.config.as_deref())?)
    } else {
        None
    };
    let mut archive_client = None;
    let dir = match a.archive.as_deref() {
        Some(url) if url.starts_with("s3://") => {
            let loc = crate::store::s3::Location::parse(url)
                .with_context(|| format!("{url} is not s3://bucket/prefix"))?;
            let tmp = crate::store::s3::Scratch::new("archive")?;
            let client = crate::store::s3::S3::new(
                s3.as_ref().unwrap_or(&crate::config::S3Config::default()),
                loc.clone(),
                &|k| std::env::var(k).ok(),
            )?;
            client
                .download(&tmp.0, &|_| true)
                .with_context(|| format!("cannot read {loc}"))?;
            let d = tmp.0.clone();
            shown.push((format!("{}/", d.display()), format!("{loc}/")));
            scratch.push(tmp);
            archive_client = Some(client);
            d
        }
        Some(d) => PathBuf::from(d),
        None => a.data.events(),
    };
    let witness = match a.witness.as_deref() {
        Some(url) if url.contains("://") => {
            let tmp = crate::store::s3::Scratch::new("witness")?;
            let name = if url.starts_with("s3://") {
                let loc = crate::store::s3::Location::parse(url)
                    .with_context(|| format!("{url} is not s3://bucket/prefix"))?;
                crate::store::witness::fetch(
                    s3.as_ref().unwrap_or(&crate::config::S3Config::default()),
                    loc.clone(),
                    &tmp.0,
                )
                .with_context(|| format!("cannot read the witness {loc}"))?;
                loc.to_string()
            } else {
                let settings = http_witness_settings(a.config.as_deref(), url)?;
                crate::store::witness_http::fetch(&settings, &tmp.0)
                    .with_context(|| format!("cannot read the witness {url}"))?;
                url.trim_end_matches('/').to_owned()
            };
            let d = tmp.0.clone();
            shown.push((format!("{}/", d.display()), format!("{name}/")));
            scratch.push(tmp);
            Some(d)
        }
        Some(d) => Some(PathBuf::from(d)),
        None => None,
    };
    let show = |text: &str| {
        shown.iter().fold(text.to_owned(), |t, (from, to)| {
            t.replace(from.as_str(), to)
        })
    };
    let key = match &a.key {
        Some(k) => key_text(k)?,
        None => {
            let p = dir.join("key").join("verifier.pub");
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut report = ward_store::verify_with_witness(&dir, &key, threads, witness.as_deref())
        .with_context(|| format!("cannot verify {}", show(&dir.display().to_string())))?;
    if let Some(client) = &archive_client {
        check_locks(client, &dir, &key, a.config.as_deref(), &mut report)?;
    }
    let shown_dir = a
        .archive
        .clone()
        .unwrap_or_else(|| dir.display().to_string());
    if a.archive.is_none() {
        // The store's own verification is evidence for compliance (STO-02).
        let record = crate::compliance::evaluate::VerifyRecord {
            time: jiff::Timestamp::now(),
            ok: report.ok(),
            problems: report.problems.len(),
            records: report.records,
        };
        if let Err(e) = crate::compliance::history::record_verify(&a.data.data_dir, &record) {
            eprintln!("warning: cannot record the verify result for compliance: {e}");
        }
    }
    if a.json {
        writeln!(out, "{}", show(&serde_json::to_string_pretty(&report)?))?;
    } else {
        writeln!(
            out,
            "{}: {} segments, {} records, {} bytes, {} checkpoints ({} verified), {} lawful deletions ({} records)",
            shown_dir,
            report.segments,
            report.records,
            report.bytes,
            report.checkpoints,
            report.checkpoints_verified,
            report.deletions,
            report.deleted_records
        )?;
        if a.archive.is_some() && report.records == 0 {
            writeln!(
                out,
                "the archive holds no events (nothing was sealed when it was made)"
            )?;
        }
        writeln!(out, "tree size {} root {}", report.tree_size, report.root)?;
        if let Some(w) = &a.witness {
            writeln!(
                out,
                "{} witnessed checkpoints read from {}",
                report.witness_checkpoints, w
            )?;
        }
        writeln!(
            out,
            "{} records not covered by a signed checkpoint",
            report.uncovered_records
        )?;
        let prefix = if a.archive.as_deref().is_some_and(|x| x.starts_with("s3://")) {
            format!("{}/", shown_dir.trim_end_matches('/'))
        } else {
            String::new()
        };
        let named = |p: &ward_store::Problem| {
            let mut p = p.clone();
            p.file = format!("{prefix}{}", p.file);
            show(&describe(&p))
        };
        for w in &report.warnings {
            writeln!(out, "warning: {}", named(w))?;
        }
        for p in &report.problems {
            writeln!(out, "PROBLEM: {}", named(p))?;
        }
        if report.ok() {
            writeln!(out, "ok: the store is intact")?;
        }
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Checks that every segment of an archive in a bucket is still locked
/// (COMPLIANCE mode) until its retention ends, under the `[retention]` of
/// `config` (Ward's defaults without one), as `ward archive` locked it. A
/// server that lets COMPLIANCE retention be shortened, or an account
/// allowed to, would otherwise let a segment be deleted early unnoticed.
/// A bucket without Object Lock gets one warning.
fn check_locks(
    client: &crate::store::s3::S3,
    dir: &Path,
    key: &str,
    config: Option<&Path>,
    report: &mut ward_store::VerifyReport,
) -> anyhow::Result<()> {
    let problem = |kind, file: String, detail: String| ward_store::Problem {
        kind,
        file,
        first_offset: None,
        last_offset: None,
        byte: None,
        detail,
    };
    if !client.object_lock_enabled()? {
        report.warnings.push(problem(
            ward_store::ProblemKind::RetentionShortened,
            String::new(),
            "the bucket does not have Object Lock enabled: its objects can be deleted or overwritten".into(),
        ));
        return Ok(());
    }
    let policy = crate::store::retention_policy(&crate::config::load(config)?);
    for p in ward_store::sealed_segments(dir) {
        let Ok(rel) = p.strip_prefix(dir) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        // A segment that does not read is already a problem of the report.
        let Ok(Some((_, ends))) = ward_store::segment_retention(key, &p, &policy) else {
            continue;
        };
        let lock = client.retention(&client.key(&rel)).with_context(|| {
            format!(
                "cannot read the retention of {}",
                client.show(&client.key(&rel))
            )
        })?;
        let detail = crate::store::s3::S3::lock_short(lock, ends);
        if let Some(detail) = detail {
            report.problems.push(problem(
                ward_store::ProblemKind::RetentionShortened,
                rel,
                detail,
            ));
        }
    }
    Ok(())
}

fn describe(p: &ward_store::Problem) -> String {
    let mut s = format!("{:?} in {}", p.kind, p.file);
    match (p.first_offset, p.last_offset) {
        (Some(a), Some(b)) if a != b => s += &format!(", records {a}..={b}"),
        (Some(a), _) => s += &format!(", record {a}"),
        _ => {}
    }
    if let Some(b) = p.byte {
        s += &format!(", byte {b}");
    }
    format!("{s}: {}", p.detail)
}

#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Destination: a directory laid out for write-once object storage, or
    /// `s3://bucket/prefix` (a bucket with Object Lock). Default:
    /// `[archive.s3]` of `--config`.
    #[arg(long, alias = "dest")]
    pub to: Option<String>,
    /// Configuration file: `[retention]` sets each segment's retain-until,
    /// `[archive.s3]` the S3 endpoint and credentials, `server.data_dir`
    /// the store.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Archive to a bucket without Object Lock (its objects could then be
    /// deleted or overwritten).
    #[arg(long)]
    pub allow_without_object_lock: bool,
}

pub fn archive(a: ArchiveArgs) -> anyhow::Result<ExitCode> {
    let config = a
        .config
        .as_deref()
        .map(|p| crate::config::load(Some(p)))
        .transpose()?;
    let store_dir = config
        .as_ref()
        .map_or_else(|| a.data.events(), |c| c.data_dir.join("events"));
    let s3cfg = config
        .as_ref()
        .map(|c| c.raw.archive.s3.clone())
        .unwrap_or_default();
    let dest = match (&a.to, s3cfg.bucket.is_empty()) {
        (Some(d), _) => d.clone(),
        (None, false) => format!("s3://{}/{}", s3cfg.bucket, s3cfg.prefix.trim_matches('/')),
        (None, true) => anyhow::bail!(
            "no destination: pass --to DIR or --to s3://bucket/prefix, or set archive.s3.bucket"
        ),
    };
    let now = jiff::Timestamp::now().as_millisecond();
    let r = if dest.starts_with("s3://") {
        let loc = crate::store::s3::Location::parse(&dest).with_context(|| {
            format!("{dest} is not s3://bucket/prefix with a valid bucket name")
        })?;
        let s3 = crate::store::s3::S3::new(&s3cfg, loc.clone(), &|k| std::env::var(k).ok())?;
        let locked = s3
            .object_lock_enabled()
            .with_context(|| format!("cannot archive to {loc}"))?;
        let allowed = a.allow_without_object_lock || s3cfg.allow_without_object_lock;
        if !locked && !allowed {
            anyhow::bail!(
                "the bucket {} does not have Object Lock enabled: anyone with its credentials could \
                 delete or overwrite the archive. Use a bucket created with Object Lock, or pass \
                 --allow-without-object-lock (archive.s3.allow_without_object_lock) to archive without it",
                loc.bucket
            );
        }
        let policy = config
            .as_ref()
            .map(crate::store::retention_policy)
            .unwrap_or_default();
        let mut target = crate::store::s3::Target {
            s3: &s3,
            lock: locked,
            min_until_ms: now + 86_400_000,
        };
        ward_store::archive_to(&store_dir, &mut target, &policy, now)
            .with_context(|| format!("cannot archive to {loc}"))?
    } else {
        let policy = config
            .as_ref()
            .map(crate::store::retention_policy)
            .unwrap_or_default();
        let mut target = ward_store::DirTarget::new(&dest);
        ward_store::archive_to(&store_dir, &mut target, &policy, now)
            .with_context(|| format!("cannot archive to {dest}"))?
    };
    let mut out = super::out();
    writeln!(
        out,
        "{}: {} objects written ({} bytes), {} already present; {} segments, {} checkpoints, {} deletion records",
        dest, r.written, r.bytes_written, r.already_present, r.segments, r.checkpoints, r.deletions
    )?;
    if r.segments == 0 {
        writeln!(
            out,
            "nothing is sealed yet, so no events are archived: only sealed segments are; \
             the write-ahead segment is sealed when it reaches store.segment_max_bytes or \
             store.segment_max_age (see the configuration)"
        )?;
    }
    writeln!(out, "verify it with: ward verify --archive {dest}")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// Configuration file whose `[retention]` applies.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Show what would be deleted and why, without deleting.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn retention(a: RetentionArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(a.config.as_deref())?;
    let now = jiff::Timestamp::now().as_millisecond();
    // A dry run reads the sealed segments without opening the store: it
    // changes nothing and works while the server runs.
    let (actions, store) = if a.dry_run {
        let dir = config.data_dir.join("events");
        let policy = crate::store::retention_policy(&config);
        let plan = ward_store::retention_plan(&dir, &policy, now)
            .with_context(|| format!("cannot read the event store in {}", dir.display()))?;
        (plan, None)
    } else {
        let (store, _) = crate::store::open(&config)?;
        (store.apply_retention(now, false)?, Some(store))
    };
    let mut out = super::out();
    if actions.is_empty() {
        writeln!(
            out,
            "no sealed segment has reached the end of its retention"
        )?;
    }
    for act in &actions {
        writeln!(
            out,
            "{} {} (records {}..={}, {} records, {} bytes): {}",
            if a.dry_run { "would delete" } else { "deleted" },
            act.segment,
            act.first_offset,
            act.last_offset,
            act.records,
            act.bytes,
            act.reason
        )?;
    }
    if let Some(store) = store {
        store.close()?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn key(d: DataDir) -> anyhow::Result<ExitCode> {
    let path = d.events().join("key").join("verifier.pub");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (start ward serve once to create the key)",
            path.display()
        )
    })?;
    let mut out = super::out();
    writeln!(out, "{}", text.trim())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct AckArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// The quarantine file `ward verify` named
    /// (`events/segments/<first>.wal.<byte>.quarantine`).
    pub quarantine: PathBuf,
    /// Who acknowledges it (a person, recorded in the signed record).
    #[arg(long)]
    pub by: String,
    /// Why the damage is accepted (a disk fault, restored from the archive, ...).
    #[arg(long)]
    pub reason: String,
}

/// `ward acknowledge-damage`: a signed record that an operator looked at a
/// damaged range; `ward verify` then reports it as a warning.
pub fn acknowledge_damage(a: AckArgs) -> anyhow::Result<ExitCode> {
    let dir = a.data.events();
    let now = jiff::Timestamp::now().as_millisecond();
    let (path, ack) = ward_store::acknowledge(&dir, &a.quarantine, &a.by, &a.reason, now)
        .with_context(|| format!("cannot acknowledge {}", a.quarantine.display()))?;
    let mut out = super::out();
    writeln!(
        out,
        "acknowledged: {} records from offset {} of {} (bytes {}..{}), by {}; signed record {}",
        ack.damage.count,
        ack.damage.first_offset,
        ack.segment,
        ack.damage.pos,
        ack.damage.end,
        super::escape::cell(&ack.by),
        path.display()
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
