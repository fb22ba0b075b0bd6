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
    /// Verify an archive directory (made by `ward archive`) instead.
    #[arg(long, conflicts_with = "proof")]
    pub archive: Option<PathBuf>,
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
    #[arg(long, conflicts_with_all = ["proof", "consistency"])]
    pub witness: Option<PathBuf>,
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

/// Verifies the store (or an archive) and prints the report.
fn verify_store(out: &mut super::Out, a: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let dir = a.archive.clone().unwrap_or_else(|| a.data.events());
    let key = match &a.key {
        Some(k) => key_text(k)?,
        None => {
            let p = dir.join("key").join("verifier.pub");
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = ward_store::verify_with_witness(&dir, &key, threads, a.witness.as_deref())
        .with_context(|| format!("cannot verify {}", dir.display()))?;
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
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(
            out,
            "{}: {} segments, {} records, {} bytes, {} checkpoints ({} verified), {} lawful deletions ({} records)",
            dir.display(),
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
                report.witness_checkpoints,
                w.display()
            )?;
        }
        writeln!(
            out,
            "{} records not covered by a signed checkpoint",
            report.uncovered_records
        )?;
        for w in &report.warnings {
            writeln!(out, "warning: {}", describe(w))?;
        }
        for p in &report.problems {
            writeln!(out, "PROBLEM: {}", describe(p))?;
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
    /// Destination directory, laid out for write-once object storage.
    #[arg(long)]
    pub dest: PathBuf,
}

pub fn archive(a: ArchiveArgs) -> anyhow::Result<ExitCode> {
    let r = ward_store::archive(&a.data.events(), &a.dest)
        .with_context(|| format!("cannot archive to {}", a.dest.display()))?;
    let mut out = super::out();
    writeln!(
        out,
        "{}: {} objects written, {} already present; {} segments, {} checkpoints, {} deletion records",
        r.dest.display(),
        r.written,
        r.already_present,
        r.segments,
        r.checkpoints,
        r.deletions
    )?;
    if r.segments == 0 {
        writeln!(
            out,
            "nothing is sealed yet, so no events are archived: only sealed segments are; \
             the write-ahead segment is sealed when it reaches store.segment_max_bytes or \
             store.segment_max_age (see the configuration)"
        )?;
    }
    writeln!(
        out,
        "verify it with: ward verify --archive {}",
        r.dest.display()
    )?;
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
