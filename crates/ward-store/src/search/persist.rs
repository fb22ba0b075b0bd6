//! Kept aggregates on disk, so that the first pass after a restart reads
//! what changed rather than every block again.
//!
//! A sealed segment's aggregates (of the whole segment and of its blocks)
//! are written beside it as `<first:020>.seg.agg`: a signed note, then the
//! aggregates as JSON.
//!
//! ```text
//! ward-segment-aggregates v1
//! <origin>
//! first <first offset>
//! index <hex SHA-256 of the segment's index, as its .seg.sig signs it>
//! format <the build's matching rules>
//! payload <bytes> <hex SHA-256 of the JSON that follows>
//!
//! — <origin> <signature>
//! [{"query": …, "block": null | n, "partial": {…}}, …]
//! ```
//!
//! Invariant: a file is used only when its signature verifies with the
//! store key, it names the segment's first offset and the digest of an
//! index whose own signature checks, it was written by a build with the
//! same matching rules, its payload has the signed length and hash, and
//! every aggregate in it fits the segment (a block that exists, no more
//! records than the unit holds). Anything else is ignored, said in the
//! log, removed, and counted again on the next pass, which writes the file
//! anew. A changed segment never meets its former aggregates.

use super::partials::{MAX_CACHED_VALUES, OfSegment, Partial, Partials, Unit};
use crate::checkpoint::{StoreKey, VerifierKey};
use crate::error::StoreError;
use crate::segment::SealedSegment;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const HEADER: &str = "ward-segment-aggregates v1";
/// What a kept aggregate means depends on how this build matches queries
/// (and files them, by the parsed query's debug form): a file written by
/// another version is not used.
const FORMAT: &str = concat!("ward-store/", env!("CARGO_PKG_VERSION"), "/1");
/// Largest file read.
const MAX_FILE: u64 = 256 << 20;
/// Largest note in a file.
const MAX_NOTE: usize = 4096;

/// The aggregates file of the sealed segment at `segment`.
pub(crate) fn path_for(segment: &Path) -> PathBuf {
    let mut name = segment.file_name().unwrap_or_default().to_os_string();
    name.push(".agg");
    segment.with_file_name(name)
}

/// One kept aggregate in a file: the whole segment (`block` none) or one
/// of its blocks.
#[derive(Serialize, Deserialize)]
struct Saved<P> {
    query: String,
    block: Option<usize>,
    partial: P,
}

fn body(origin: &str, first: u64, index: &str, len: usize, hash: &str) -> String {
    format!(
        "{HEADER}\n{origin}\nfirst {first}\nindex {index}\nformat {FORMAT}\npayload {len} {hash}\n"
    )
}

/// Writes every aggregate of `seg` that `kept` holds, replacing the file.
pub(crate) fn save(key: &StoreKey, seg: &SealedSegment, kept: OfSegment) -> Result<(), StoreError> {
    static TMP: AtomicU64 = AtomicU64::new(0);
    let path = path_for(&seg.path);
    let saved: Vec<Saved<&Partial>> = kept
        .iter()
        .map(|(query, block, p)| Saved {
            query: query.clone(),
            block: *block,
            partial: &**p,
        })
        .collect();
    let payload = serde_json::to_vec(&saved)
        .map_err(|e| StoreError::Failed(format!("encoding {}: {e}", path.display())))?;
    let note = key.sign_note(&body(
        &key.origin,
        seg.header.first_offset,
        &hex::encode(seg.digest()),
        payload.len(),
        &hex::encode(Sha256::digest(&payload)),
    ));
    let mut bytes = note.into_bytes();
    bytes.extend_from_slice(&payload);
    // Two passes may save the same segment at once: each its own
    // temporary file; the rename is atomic and either content is whole.
    let tmp = path.with_extension(format!(
        "agg.{}.{}.tmp",
        std::process::id(),
        TMP.fetch_add(1, Ordering::Relaxed)
    ));
    // Not synced: a torn or lost file fails its checks and is counted again.
    std::fs::write(&tmp, &bytes).map_err(|e| StoreError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        StoreError::io("rename", &path, e)
    })
}

/// The aggregates kept for `seg`: none when there is no file; why not when
/// the file cannot be trusted.
pub(crate) fn load(
    vk: &VerifierKey,
    seg: &SealedSegment,
) -> Result<Vec<(String, Unit, Partial)>, String> {
    let path = path_for(&seg.path);
    let first = seg.header.first_offset;
    let bytes = match std::fs::File::open(&path) {
        Ok(f) => {
            // Read through the handle opened, one byte past the limit.
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_FILE + 1), &mut bytes)
                .map_err(|e| format!("cannot read it: {e}"))?;
            if bytes.len() as u64 > MAX_FILE {
                return Err(format!("over {MAX_FILE} bytes"));
            }
            bytes
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot open it: {e}")),
    };
    // The note ends with the line after its first blank line.
    let note_end = bytes[..bytes.len().min(MAX_NOTE)]
        .windows(2)
        .position(|w| w == b"\n\n")
        .and_then(|blank| {
            bytes[blank + 2..bytes.len().min(MAX_NOTE)]
                .iter()
                .position(|&b| b == b'\n')
                .map(|end| blank + 2 + end + 1)
        })
        .ok_or("no signed note at its start")?;
    let (note, payload) = bytes.split_at(note_end);
    let note = std::str::from_utf8(note).map_err(|_| "its note is not UTF-8")?;
    let signed = vk
        .open_note(note)
        .map_err(|e| format!("its signature does not verify: {e}"))?;
    if crate::index::signature::check(vk, &seg.path, first, &seg.index)
        != crate::index::signature::Trust::Signed
    {
        return Err("the segment's index is not the signed one".into());
    }
    let want = body(
        &vk.name,
        first,
        &hex::encode(seg.digest()),
        payload.len(),
        &hex::encode(Sha256::digest(payload)),
    );
    if signed != want {
        let line = |text: &str, key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let differs = ["first ", "index ", "format ", "payload "]
            .into_iter()
            .find(|k| line(signed, k) != line(&want, k))
            .unwrap_or("header");
        return Err(format!(
            "it was signed for another {}",
            match differs.trim() {
                "first" => "segment",
                "index" => "index of this segment (the segment changed)",
                "format" => "version of Ward",
                "payload" => "content (its aggregates were changed or cut short)",
                _ => "header",
            }
        ));
    }
    let saved: Vec<Saved<Partial>> =
        serde_json::from_slice(payload).map_err(|e| format!("its aggregates do not parse: {e}"))?;
    let blocks = &seg.index.blocks;
    let digest = seg.digest();
    saved
        .into_iter()
        .map(|s| {
            let (unit, records, most_blocks) = match s.block {
                None => (
                    Unit::Segment { first, digest },
                    seg.index.count,
                    blocks.len(),
                ),
                Some(b) => {
                    let block = blocks.get(b).ok_or_else(|| {
                        format!("an aggregate of block {b}, which does not exist")
                    })?;
                    (
                        Unit::SealedBlock {
                            first,
                            digest,
                            block: b,
                        },
                        u64::from(block.count),
                        1,
                    )
                }
            };
            let p = &s.partial;
            let fits = p.scanned <= records
                && p.matched <= p.scanned
                && p.missing <= p.matched
                && p.unparsable <= p.scanned
                && p.blocks <= most_blocks as u64
                && p.counts.len() <= MAX_CACHED_VALUES;
            if !fits {
                return Err(format!(
                    "an aggregate of {} does not fit the segment",
                    s.block
                        .map_or("the segment".to_owned(), |b| format!("block {b}"))
                ));
            }
            Ok((s.query, unit, s.partial))
        })
        .collect()
}

/// Reads the files of every segment in `segments` into `kept`. A file
/// that cannot be trusted is named in the log and removed; files of
/// segments no longer in the store are removed.
pub(crate) fn load_all(
    vk: &VerifierKey,
    seg_dir: &Path,
    segments: &[&SealedSegment],
    kept: &mut Partials,
) {
    for seg in segments {
        match load(vk, seg) {
            Ok(entries) => {
                for (query, unit, partial) in entries {
                    kept.put(&query, unit, Arc::new(partial));
                }
            }
            Err(why) => {
                let path = path_for(&seg.path);
                tracing::warn!(file = %path.display(), %why, "kept aggregates not used; counting the segment again");
                kept.rejected.push(format!("{}: {why}", path.display()));
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(seg_dir) else {
        return;
    };
    let known: std::collections::HashSet<PathBuf> =
        segments.iter().map(|s| path_for(&s.path)).collect();
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if (name.ends_with(".seg.agg") && !known.contains(&p))
            || (name.contains(".seg.agg.") && name.ends_with(".tmp"))
        {
            let _ = std::fs::remove_file(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;
    use crate::segment::Segment;
    use crate::testing::{config, records};
    use crate::{SearchOptions, Store};

    fn asked() -> Vec<(crate::query::Query, SearchOptions)> {
        [
            "* | count",
            "* | count by user.name",
            "user.name:user1 | count",
        ]
        .iter()
        .map(|q| (parse(q).unwrap(), SearchOptions::default()))
        .collect()
    }

    /// The aggregations of `asked()`, as a full scan gives them.
    fn scanned(store: &Store) -> Vec<Option<crate::AggregationResult>> {
        asked()
            .iter()
            .map(|(q, o)| store.search(q, o).unwrap().aggregation)
            .collect()
    }

    fn pass(store: &Store) -> Vec<Option<crate::AggregationResult>> {
        let got = store.aggregate_many(&asked()).unwrap();
        got.into_iter()
            .map(|r| {
                assert!(r.warnings.is_empty(), "{:?}", r.warnings);
                r.aggregation
            })
            .collect()
    }

    /// (units counted whole, files rejected) since the store opened.
    fn counted(store: &Store) -> (u64, Vec<String>) {
        let k = store.inner.partials.lock();
        (k.counted, k.rejected.clone())
    }

    fn sealed_paths(store: &Store) -> Vec<PathBuf> {
        store
            .inner
            .catalog
            .read()
            .segments
            .iter()
            .filter_map(|s| match &**s {
                Segment::Sealed(s) => Some(s.path.clone()),
                _ => None,
            })
            .collect()
    }

    /// Rewrites the note of an aggregates file with `change` applied to
    /// its body, signed with `key`, the payload unchanged.
    fn resign(path: &Path, key: &StoreKey, change: &dyn Fn(&str) -> String) {
        let bytes = std::fs::read(path).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let blank = text.find("\n\n").unwrap();
        let end = blank + 2 + text[blank + 2..].find('\n').unwrap() + 1;
        let body = &text[..=blank];
        let note = key.sign_note(&change(body));
        std::fs::write(path, format!("{note}{}", &text[end..])).unwrap();
    }

    #[test]
    fn a_restart_reuses_kept_aggregates_and_an_untrusted_file_is_counted_again() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(config(dir.path())).unwrap().0;
        let store = open();
        for from in (0..3000).step_by(100) {
            store.append(records(from..from + 100)).unwrap();
        }
        store.seal_now().unwrap();
        let full = scanned(&store);
        assert_eq!(pass(&store), full);
        let (first_counted, _) = counted(&store);
        let segs = sealed_paths(&store);
        assert!(segs.len() >= 3, "{segs:?}");
        for s in &segs {
            assert!(path_for(s).exists(), "{} has its aggregates", s.display());
        }
        store.close().unwrap();

        // After a restart, nothing is counted again, and the answers agree.
        let store = open();
        assert_eq!(pass(&store), full);
        assert_eq!(
            counted(&store),
            (0, Vec::new()),
            "first pass after a restart"
        );
        let key = StoreKey::load_or_create(dir.path()).unwrap();
        store.close().unwrap();

        // Each way a file can be wrong, on its own segment: the file is
        // named and not used, that segment alone is counted again, the
        // answers are those of a full scan, and the file is written anew.
        let other = tempfile::tempdir().unwrap();
        let other_key = StoreKey::load_or_create(other.path()).unwrap();
        let agg = |i: usize| path_for(&segs[i]);
        type Spoil<'a> = Box<dyn Fn() + 'a>;
        let spoils: Vec<(&str, Spoil<'_>)> = vec![
            (
                "content",
                Box::new(|| {
                    // A count lowered, the JSON still valid.
                    let t = std::fs::read_to_string(agg(0)).unwrap();
                    let at = t.find("\"matched\":").unwrap() + "\"matched\":".len();
                    let mut b = t.into_bytes();
                    b[at] = if b[at] == b'1' { b'2' } else { b'1' };
                    std::fs::write(agg(0), b).unwrap();
                }),
            ),
            (
                "content",
                Box::new(|| {
                    let b = std::fs::read(agg(0)).unwrap();
                    std::fs::write(agg(0), &b[..b.len() - 7]).unwrap();
                }),
            ),
            (
                "signature",
                Box::new(|| resign(&agg(1), &other_key, &|b| b.to_owned())),
            ),
            (
                "another segment",
                Box::new(|| std::fs::copy(agg(2), agg(1)).map(drop).unwrap()),
            ),
            (
                "the segment changed",
                Box::new(|| {
                    resign(&agg(0), &key, &|b| {
                        b.lines()
                            .map(|l| match l.strip_prefix("index ") {
                                Some(h) => format!("index {}\n", h.replace(['0', '1'], "2")),
                                None => format!("{l}\n"),
                            })
                            .collect()
                    });
                }),
            ),
            (
                "version of Ward",
                Box::new(|| resign(&agg(2), &key, &|b| b.replace(FORMAT, "ward-store/0.0.0/1"))),
            ),
            (
                "no signed note",
                Box::new(|| std::fs::write(agg(1), b"[]").unwrap()),
            ),
        ];
        for (why, spoil) in spoils {
            spoil();
            let store = open();
            assert_eq!(pass(&store), full, "{why}");
            let (n, rejected) = counted(&store);
            assert_eq!(rejected.len(), 1, "{why}: {rejected:?}");
            assert!(rejected[0].contains(why), "{why}: {rejected:?}");
            assert!(
                n > 0 && n < first_counted,
                "{why}: {n} of {first_counted} counted again"
            );
            store.close().unwrap();
            let store = open();
            assert_eq!(pass(&store), full, "{why}: the file written anew");
            assert_eq!(counted(&store), (0, Vec::new()), "{why}: written anew");
            store.close().unwrap();
        }

        // A file of a segment that is no longer there is removed.
        let stray = dir
            .path()
            .join("segments")
            .join("00000000000099999999.seg.agg");
        std::fs::copy(agg(0), &stray).unwrap();
        let store = open();
        pass(&store);
        assert!(!stray.exists());
        store.close().unwrap();
    }
}
