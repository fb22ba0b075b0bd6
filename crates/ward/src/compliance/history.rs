//! The files under `<data>/compliance/`, all append-only NDJSON except the
//! last verify result:
//!
//! - `history/<CONTROL>.ndjson`: one line per evaluation of the control
//!   ([`Entry`]);
//! - `attestations.ndjson`: every attestation, the newest per control in
//!   force;
//! - `last-verify.json`: the result of the last `ward verify`.
//!
//! A torn last line (a crash mid-write) is skipped when read; reading is
//! bounded by [`MAX_READ`].

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::evaluate::{Attestation, State, VerifyRecord};

/// Most bytes read from the end of a history file.
pub const MAX_READ: u64 = 4 << 20;

/// One evaluation of a control, as kept in its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub time: jiff::Timestamp,
    pub state: State,
    pub reason: String,
    #[serde(default)]
    pub observed: serde_json::Value,
}

/// The compliance directory of a data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("compliance")
}

fn history_path(data_dir: &Path, control: &str) -> PathBuf {
    dir(data_dir)
        .join("history")
        .join(format!("{control}.ndjson"))
}

fn append_line(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    if ends_torn(&mut f)? {
        // A crash cut the last line: end it so this one stays readable.
        line.insert(0, b'\n');
    }
    f.write_all(&line)?;
    f.sync_data()
}

fn ends_torn(f: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Appends an evaluation to a control's history.
pub fn append(data_dir: &Path, control: &str, entry: &Entry) -> std::io::Result<()> {
    append_line(&history_path(data_dir, control), entry)
}

/// The lines of an NDJSON file that parse, oldest first, reading at most
/// the last [`MAX_READ`] bytes.
fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> std::io::Result<Vec<T>> {
    use std::io::{Seek as _, SeekFrom};
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let skip_first = len > MAX_READ;
    if skip_first {
        f.seek(SeekFrom::Start(len - MAX_READ))?;
    }
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).split(b'\n').enumerate() {
        let line = line?;
        if i == 0 && skip_first {
            continue;
        }
        if let Ok(v) = serde_json::from_slice(&line) {
            out.push(v);
        }
    }
    Ok(out)
}

/// A control's history, oldest first, from `since` on.
pub fn read(
    data_dir: &Path,
    control: &str,
    since: Option<jiff::Timestamp>,
) -> std::io::Result<Vec<Entry>> {
    let mut all: Vec<Entry> = read_lines(&history_path(data_dir, control))?;
    if let Some(s) = since {
        all.retain(|e| e.time >= s);
    }
    Ok(all)
}

/// Records an attestation.
pub fn attest(data_dir: &Path, a: &Attestation) -> std::io::Result<()> {
    append_line(&dir(data_dir).join("attestations.ndjson"), a)
}

/// The newest attestation of each control.
pub fn attestations(
    data_dir: &Path,
) -> std::io::Result<std::collections::BTreeMap<String, Attestation>> {
    let all: Vec<Attestation> = read_lines(&dir(data_dir).join("attestations.ndjson"))?;
    Ok(all.into_iter().map(|a| (a.control.clone(), a)).collect())
}

/// Records the result of `ward verify` (written whole, then renamed).
pub fn record_verify(data_dir: &Path, v: &VerifyRecord) -> std::io::Result<()> {
    let d = dir(data_dir);
    std::fs::create_dir_all(&d)?;
    let tmp = d.join("last-verify.json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(v).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, d.join("last-verify.json"))
}

/// The last `ward verify` result, if any (an unreadable file is none).
pub fn last_verify(data_dir: &Path) -> Option<VerifyRecord> {
    let bytes = std::fs::read(dir(data_dir).join("last-verify.json")).ok()?;
    if bytes.len() > 64 << 10 {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_appends_and_skips_a_torn_line() {
        let d = tempfile::tempdir().unwrap();
        let e = |s| Entry {
            time: jiff::Timestamp::now(),
            state: s,
            reason: "r".into(),
            observed: serde_json::Value::Null,
        };
        append(d.path(), "C-1", &e(State::Pass)).unwrap();
        append(d.path(), "C-1", &e(State::Fail)).unwrap();
        let p = history_path(d.path(), "C-1");
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"time\":\"20").unwrap();
        append(d.path(), "C-1", &e(State::Unknown)).unwrap();
        let got = read(d.path(), "C-1", None).unwrap();
        assert_eq!(
            got.iter().map(|e| e.state).collect::<Vec<_>>(),
            vec![State::Pass, State::Fail, State::Unknown]
        );
        assert!(read(d.path(), "C-2", None).unwrap().is_empty());
    }
}
